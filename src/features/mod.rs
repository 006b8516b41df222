//! Features of one clip: the log-mel spectrogram, MFCC, dMFCC, delta and chroma frames, and
//! the track-level vectors (MFCC statistics and the descriptor set) classical models and
//! track-level factors read; plus `agf extract`, which writes them for every track.
//!
//! Computing them over a dataset, in parallel and through the stage cache, is the job of
//! `stages::features` and `stages::frames`.

use crate::audio::chroma::ChromaFilterbank;
use crate::audio::delta::{delta, first_difference};
use crate::audio::descriptors::{DescriptorExtractor, DescriptorParams};
use crate::audio::load::AudioLoader;
use crate::audio::npy::encode_f32;
use crate::audio::stft::Stft;
use crate::audio::{summary, FrontEnd, Spectrogram};
use crate::data::{Dataset, TrackId};
use crate::spec::{DescriptorSpec, FrontendSpec, TrackFeatureSet};
use rayon::prelude::*;
use std::collections::HashMap;

/// The track-level vectors of one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackVectors {
    pub mfcc_stats: Vec<f32>,
    pub descriptors: Vec<f32>,
}

impl TrackVectors {
    /// The vector a feature set reads.
    pub fn select(&self, set: TrackFeatureSet) -> Vec<f32> {
        let mut v = Vec::new();
        if matches!(set, TrackFeatureSet::MfccStats | TrackFeatureSet::All) {
            v.extend_from_slice(&self.mfcc_stats);
        }
        if matches!(set, TrackFeatureSet::Descriptors | TrackFeatureSet::All) {
            v.extend_from_slice(&self.descriptors);
        }
        v
    }
}

/// Track-level feature vectors in dataset order (`None` for tracks without features).
#[derive(Debug, Clone)]
pub struct TrackTable {
    pub dim: usize,
    pub names: Vec<String>,
    pub rows: Vec<Option<Vec<f32>>>,
    /// Tracks without a row, and why.
    pub skipped: Vec<(TrackId, String)>,
}

/// Frame-level features of one clip (frame-major matrices).
pub struct FrameFeatures {
    pub log_mel: Spectrogram,
    pub mfcc: Spectrogram,
    /// `mfcc[1:] − mfcc[:-1]`, the authors' dmfcc.
    pub dmfcc: Spectrogram,
    /// librosa's delta (width 9); `None` for clips of fewer than 9 frames.
    pub delta: Option<Spectrogram>,
    pub chroma: Spectrogram,
}

/// A front end and a descriptor set, resolved once, applied to clip after clip.
pub struct FeatureExtractor {
    front: FrontEnd,
    chroma: ChromaFilterbank,
    power_stft: Stft,
    descriptors: DescriptorExtractor,
    frontend: FrontendSpec,
    params_text: String,
}

impl FeatureExtractor {
    pub fn new(frontend: &FrontendSpec, descriptors: &DescriptorSpec) -> Self {
        let params_text = format!(
            "{}\n{}",
            toml::to_string(frontend).expect("front-end params serialise"),
            toml::to_string(descriptors).expect("descriptor params serialise")
        );
        FeatureExtractor {
            front: FrontEnd::new(frontend),
            chroma: ChromaFilterbank::new(
                frontend.sample_rate as f64,
                frontend.n_fft,
                12,
                descriptors.chroma_tuning,
            ),
            power_stft: Stft::new(
                frontend.n_fft,
                frontend.hop_length,
                frontend.window,
                frontend.center,
                frontend.pad_mode,
            ),
            descriptors: DescriptorExtractor::new(&DescriptorParams {
                sample_rate: frontend.sample_rate,
                n_fft: descriptors.n_fft,
                hop_length: descriptors.hop_length,
                chroma_tuning: descriptors.chroma_tuning,
            }),
            frontend: frontend.clone(),
            params_text,
        }
    }

    pub fn frontend(&self) -> &FrontendSpec {
        &self.frontend
    }

    /// Every parameter that shapes the output, as text: part of every cache key.
    pub fn params_text(&self) -> &str {
        &self.params_text
    }

    /// Every frame-level feature of a clip.
    pub fn frames(&self, samples: &[f32]) -> FrameFeatures {
        // Chroma needs the power spectrogram; with power 2 the log-mel comes from it too,
        // one STFT instead of two (same STFT settings, same values).
        let power = self.power_stft.spectrogram(samples, 2.0);
        let log_mel = if self.front.power() == 2.0 {
            self.front.log_mel_of(&power)
        } else {
            self.front.log_mel(samples)
        };
        let mfcc = self.front.mfcc(&log_mel);
        FrameFeatures {
            dmfcc: first_difference(&mfcc),
            delta: delta(&mfcc, 9),
            chroma: self.chroma.apply(&power),
            log_mel,
            mfcc,
        }
    }

    /// The track-level vectors and the log-mel frames (frames × bands).
    pub fn compute(&self, samples: &[f32]) -> (TrackVectors, Spectrogram) {
        let log_mel = self.front.log_mel(samples);
        let mfcc = self.front.mfcc(&log_mel);
        (self.track_vectors(&mfcc, samples), log_mel)
    }

    /// The track-level vectors, from MFCC frames already computed and the samples.
    pub fn track_vectors(&self, mfcc: &Spectrogram, samples: &[f32]) -> TrackVectors {
        TrackVectors {
            mfcc_stats: summary::mfcc_statistics(mfcc),
            descriptors: self.descriptors.summarise(samples),
        }
    }

    /// Whether the front end can analyse `samples`, and why not.
    pub fn check(&self, samples: &[f32]) -> Result<(), String> {
        if samples.is_empty() {
            return Err("no audio samples".into());
        }
        if samples.len() < self.frontend.n_fft && !self.frontend.center {
            return Err(format!(
                "{} samples is shorter than one analysis frame ({} samples)",
                samples.len(),
                self.frontend.n_fft
            ));
        }
        Ok(())
    }

    /// Seconds of audio in `samples`.
    pub fn seconds(&self, samples: &[f32]) -> f64 {
        samples.len() as f64 / self.frontend.sample_rate as f64
    }
}

/// Names of the features in `set`, in vector order.
pub fn names(set: TrackFeatureSet, n_mfcc: usize) -> Vec<String> {
    let mut names = Vec::new();
    if matches!(set, TrackFeatureSet::MfccStats | TrackFeatureSet::All) {
        names.extend(summary::mfcc_stat_names(n_mfcc));
    }
    if matches!(set, TrackFeatureSet::Descriptors | TrackFeatureSet::All) {
        names.extend(DescriptorExtractor::names());
    }
    names
}

/// Track features from a ready table (FMA's `features.csv`): tracks missing from it are
/// skipped with that reason.
pub fn from_table(
    dataset: &Dataset,
    names: Vec<String>,
    table: &HashMap<TrackId, Vec<f32>>,
) -> TrackTable {
    let mut rows = Vec::with_capacity(dataset.tracks.len());
    let mut skipped = Vec::new();
    for t in &dataset.tracks {
        match table.get(&t.id) {
            Some(v) => rows.push(Some(v.clone())),
            None => {
                skipped.push((t.id, "not in features.csv".to_string()));
                rows.push(None);
            }
        }
    }
    TrackTable {
        dim: names.len(),
        names,
        rows,
        skipped,
    }
}

/// What `agf extract` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    pub tracks: usize,
    pub skipped: Vec<(u32, String)>,
    pub audio_seconds: f64,
    pub wall_seconds: f64,
}

/// Write every track's features as `.npy` under `out/NNNNNN/`: `logmel`, `mfcc`, `dmfcc`,
/// `delta`, `chroma` (frames × bins) and `mfcc_stats`, `descriptors` (vectors), with
/// `features.json` naming the vector entries and the parameters used.
pub fn export(
    dataset: &Dataset,
    loader: &AudioLoader,
    stage: &FeatureExtractor,
    out: &std::path::Path,
) -> std::io::Result<ExportSummary> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(out)?;
    let pb = crate::progress::bar(dataset.tracks.len() as u64, "extract");
    let results: Vec<Result<f64, (u32, String)>> = dataset
        .tracks
        .par_iter()
        .map(|t| {
            let r = (|| {
                let samples = loader.track(dataset, t)?;
                stage.check(&samples)?;
                let f = stage.frames(&samples);
                let e = stage.track_vectors(&f.mfcc, &samples);
                let dir = out.join(format!("{:06}", t.id.0));
                let mut files: Vec<(&str, Vec<u8>)> = vec![
                    (
                        "logmel",
                        encode_f32(&f.log_mel.data, &[f.log_mel.frames, f.log_mel.bins]),
                    ),
                    (
                        "mfcc",
                        encode_f32(&f.mfcc.data, &[f.mfcc.frames, f.mfcc.bins]),
                    ),
                    (
                        "dmfcc",
                        encode_f32(&f.dmfcc.data, &[f.dmfcc.frames, f.dmfcc.bins]),
                    ),
                    (
                        "chroma",
                        encode_f32(&f.chroma.data, &[f.chroma.frames, f.chroma.bins]),
                    ),
                    (
                        "mfcc_stats",
                        encode_f32(&e.mfcc_stats, &[e.mfcc_stats.len()]),
                    ),
                    (
                        "descriptors",
                        encode_f32(&e.descriptors, &[e.descriptors.len()]),
                    ),
                ];
                if let Some(d) = &f.delta {
                    files.push(("delta", encode_f32(&d.data, &[d.frames, d.bins])));
                }
                for (name, bytes) in files {
                    crate::fsutil::write_atomic(&dir.join(format!("{name}.npy")), &bytes)
                        .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
                }
                Ok(stage.seconds(&samples))
            })();
            pb.inc(1);
            r.map_err(|reason| (t.id.0, reason))
        })
        .collect();
    pb.finish_and_clear();
    let mut summary = ExportSummary {
        tracks: 0,
        skipped: Vec::new(),
        audio_seconds: 0.0,
        wall_seconds: 0.0,
    };
    for r in results {
        match r {
            Ok(s) => {
                summary.tracks += 1;
                summary.audio_seconds += s;
            }
            Err(skip) => summary.skipped.push(skip),
        }
    }
    let manifest = serde_json::json!({
        "frontend": stage.frontend,
        "mfcc_stats": summary::mfcc_stat_names(stage.frontend.n_mfcc),
        "descriptors": DescriptorExtractor::names(),
        "layout": "NNNNNN/<name>.npy; frame-level arrays are frames × bins (float32, C order)",
        "skipped": summary.skipped,
    });
    crate::fsutil::write_atomic(
        &out.join("features.json"),
        serde_json::to_string_pretty(&manifest)
            .expect("json")
            .as_bytes(),
    )?;
    summary.wall_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
