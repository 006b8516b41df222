//! The feature stage: audio → log-mel → MFCC statistics and the descriptor set, per track,
//! in parallel, through the stage cache.
//!
//! For every track the cache holds the track-level vectors (`track/<key>.vec`, the entry's
//! completion marker) and the log-mel spectrogram (`logmel/<key>.lm`, f16, memory-mappable
//! for the CNN loader). A track whose audio cannot be had is skipped, counted and named;
//! the rest go on. Memory stays bounded: a worker holds one clip at a time, and only the
//! small track vectors are kept.

pub mod frames;

use crate::audio::chroma::ChromaFilterbank;
use crate::audio::delta::{delta, first_difference};
use crate::audio::descriptors::{DescriptorExtractor, DescriptorParams};
use crate::audio::npy::encode_f32;
use crate::audio::stft::Stft;
use crate::audio::{summary, FrontEnd, Spectrogram};
use crate::cache::{decode_vectors, encode_logmel, encode_vectors, CacheKey, StageCache};
use crate::data::{AudioError, Dataset, Track, TrackId};
use crate::spec::{DescriptorSpec, FrontendSpec, TrackFeatureSet};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bumped whenever this stage's output changes for the same inputs.
pub const STAGE_VERSION: u32 = 3;
pub const STAGE: &str = "track";
pub const LOGMEL_STAGE: &str = "logmel";

/// Track-level feature vectors in dataset order (`None` for skipped tracks).
pub struct TrackFeatures {
    pub dim: usize,
    pub names: Vec<String>,
    pub rows: Vec<Option<Vec<f32>>>,
    /// Each track's cached log-mel entry (for the CNNs), where there is one.
    pub logmels: Vec<Option<std::path::PathBuf>>,
    pub skipped: Vec<(TrackId, String)>,
    /// Total seconds of audio processed (0 for tracks served from the cache).
    pub audio_seconds: f64,
    /// Tracks served from the cache, and tracks computed.
    pub cache_hits: usize,
    pub computed: usize,
}

/// Everything the stage computes for one track.
pub struct Extracted {
    pub mfcc_stats: Vec<f32>,
    pub descriptors: Vec<f32>,
    pub seconds: f64,
    /// The cached log-mel entry, when the cache holds it.
    pub logmel: Option<std::path::PathBuf>,
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

/// The stage's settings, resolved once.
pub struct FeatureStage {
    front: FrontEnd,
    chroma: ChromaFilterbank,
    power_stft: Stft,
    descriptors: DescriptorExtractor,
    frontend: FrontendSpec,
    params_text: String,
}

impl FeatureStage {
    pub fn new(frontend: &FrontendSpec, descriptors: &DescriptorSpec) -> Self {
        let params_text = format!(
            "{}\n{}",
            toml::to_string(frontend).expect("front-end params serialise"),
            toml::to_string(descriptors).expect("descriptor params serialise")
        );
        FeatureStage {
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

    pub fn key(&self, identity: &str) -> CacheKey {
        self.stage_key(STAGE, STAGE_VERSION, identity)
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

    /// Compute from samples: (track vectors, log-mel frames × bands).
    pub fn compute(&self, samples: &[f32]) -> (Extracted, crate::audio::Spectrogram) {
        let log_mel = self.front.log_mel(samples);
        let mfcc = self.front.mfcc(&log_mel);
        (self.track_vectors(&mfcc, samples), log_mel)
    }

    /// The track-level vectors, from MFCC frames already computed and the samples.
    fn track_vectors(&self, mfcc: &Spectrogram, samples: &[f32]) -> Extracted {
        Extracted {
            mfcc_stats: summary::mfcc_statistics(mfcc),
            descriptors: self.descriptors.summarise(samples),
            seconds: samples.len() as f64 / self.frontend.sample_rate as f64,
            logmel: None,
        }
    }

    /// A track's samples at the front end's rate, or why there are none to analyse.
    pub fn samples(&self, dataset: &Dataset, track: &Track) -> Result<Vec<f32>, String> {
        let clip = dataset
            .audio
            .load(track)
            .map_err(|AudioError::Unavailable { reason, .. }| reason)?;
        if clip.sample_rate != self.frontend.sample_rate {
            return Err(format!(
                "audio is {} Hz but the front end expects {} Hz",
                clip.sample_rate, self.frontend.sample_rate
            ));
        }
        if clip.samples.is_empty() {
            return Err("no audio samples".into());
        }
        if clip.samples.len() < self.frontend.n_fft && !self.frontend.center {
            return Err(format!(
                "{} samples is shorter than one analysis frame ({} samples)",
                clip.samples.len(),
                self.frontend.n_fft
            ));
        }
        Ok(clip.samples)
    }

    /// The cache key of `identity` in another stage computed from these settings.
    pub fn stage_key(&self, stage: &str, version: u32, identity: &str) -> CacheKey {
        CacheKey::new(
            stage,
            version,
            &[
                identity.as_bytes(),
                self.params_text.as_bytes(),
                crate::simd::kernel_tag(),
            ],
        )
    }

    fn one(
        &self,
        dataset: &Dataset,
        track: &Track,
        cache: Option<&StageCache>,
    ) -> Result<(Extracted, bool), String> {
        let reason = |e: AudioError| match e {
            AudioError::Unavailable { reason, .. } => reason,
        };
        let key = match cache {
            Some(_) => Some(self.key(&dataset.audio.identity(track).map_err(reason)?)),
            None => None,
        };
        if let (Some(c), Some(k)) = (cache, &key) {
            if let Some(v) = c
                .read(STAGE, k, "vec")
                .and_then(|b| decode_vectors(&b))
                .filter(|v| v.len() == 2)
            {
                let mut it = v.into_iter();
                let mfcc_stats = it.next().expect("two vectors");
                let descriptors = it.next().expect("two vectors");
                return Ok((
                    Extracted {
                        mfcc_stats,
                        descriptors,
                        seconds: 0.0,
                        logmel: Some(c.path(LOGMEL_STAGE, k, "lm")),
                    },
                    true,
                ));
            }
        }
        let samples = self.samples(dataset, track)?;
        let (mut e, log_mel) = self.compute(&samples);
        if let (Some(c), Some(k)) = (cache, &key) {
            // The log-mel first, the vectors last: the vectors mark the entry complete.
            let written = c
                .write(
                    LOGMEL_STAGE,
                    k,
                    "lm",
                    &encode_logmel(log_mel.frames, log_mel.bins, &log_mel.data),
                )
                .and_then(|_| {
                    c.write(
                        STAGE,
                        k,
                        "vec",
                        &encode_vectors(&[&e.mfcc_stats, &e.descriptors]),
                    )
                });
            match written {
                Ok(_) => e.logmel = Some(c.path(LOGMEL_STAGE, k, "lm")),
                // A full disk must not fail the run: the features are in hand.
                Err(err) => tracing::warn!(
                    "cannot write the feature cache under {}: {err}",
                    c.root().display()
                ),
            }
        }
        Ok((e, false))
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

/// Run the stage over every track of `dataset`, through `cache` when given.
pub fn extract(
    dataset: &Dataset,
    stage: &FeatureStage,
    set: TrackFeatureSet,
    cache: Option<&StageCache>,
) -> TrackFeatures {
    let pb = crate::progress::bar(dataset.tracks.len() as u64, "features");
    let hits = AtomicUsize::new(0);
    let results: Vec<Result<Extracted, String>> = dataset
        .tracks
        .par_iter()
        .map(|track| {
            let r = stage.one(dataset, track, cache).map(|(e, hit)| {
                if hit {
                    hits.fetch_add(1, Ordering::Relaxed);
                }
                e
            });
            pb.inc(1);
            r
        })
        .collect();
    pb.finish_and_clear();
    let names = names(set, stage.frontend.n_mfcc);
    let mut rows = Vec::with_capacity(results.len());
    let mut logmels = Vec::with_capacity(results.len());
    let mut skipped = Vec::new();
    let mut seconds = 0.0;
    for (track, r) in dataset.tracks.iter().zip(results) {
        logmels.push(r.as_ref().ok().and_then(|e| e.logmel.clone()));
        match r {
            Ok(e) => {
                seconds += e.seconds;
                let mut v = Vec::with_capacity(names.len());
                if matches!(set, TrackFeatureSet::MfccStats | TrackFeatureSet::All) {
                    v.extend_from_slice(&e.mfcc_stats);
                }
                if matches!(set, TrackFeatureSet::Descriptors | TrackFeatureSet::All) {
                    v.extend_from_slice(&e.descriptors);
                }
                rows.push(Some(v));
            }
            Err(reason) => {
                tracing::warn!(track = %track.id, "skipping: {reason}");
                skipped.push((track.id, reason));
                rows.push(None);
            }
        }
    }
    let hits = hits.into_inner();
    let ok = rows.iter().filter(|r| r.is_some()).count();
    if cache.is_some() {
        tracing::info!(
            "feature cache: {hits} of {ok} tracks served from the cache, {} computed",
            ok - hits
        );
    }
    TrackFeatures {
        dim: names.len(),
        names,
        rows,
        logmels,
        skipped,
        audio_seconds: seconds,
        cache_hits: hits,
        computed: ok - hits,
    }
}

/// Track features from a ready table (FMA's `features.csv`): tracks missing from it are
/// skipped with that reason.
pub fn from_table(
    dataset: &Dataset,
    names: Vec<String>,
    table: &HashMap<TrackId, Vec<f32>>,
) -> TrackFeatures {
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
    let n = rows.len() - skipped.len();
    TrackFeatures {
        dim: names.len(),
        names,
        logmels: vec![None; rows.len()],
        rows,
        skipped,
        audio_seconds: 0.0,
        cache_hits: 0,
        computed: n,
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
    stage: &FeatureStage,
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
                let samples = stage.samples(dataset, t)?;
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
                Ok(e.seconds)
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

/// Per-band mean and standard deviation of log-mel frames, fitted on training tracks only
/// (the CNN's input standardisation: statistics of held-out tracks must not leak in).
#[derive(Debug, Clone, PartialEq)]
pub struct BandStandardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl BandStandardizer {
    /// Fit over every frame of every given spectrogram (frame-major, `bands` wide), streaming:
    /// only per-band sums are held.
    pub fn fit<S: AsRef<[f32]>>(bands: usize, spectrograms: impl IntoIterator<Item = S>) -> Self {
        let (mut sum, mut sq, mut n) = (vec![0f64; bands], vec![0f64; bands], 0usize);
        for s in spectrograms {
            for frame in s.as_ref().chunks_exact(bands) {
                for (b, v) in frame.iter().enumerate() {
                    sum[b] += *v as f64;
                    sq[b] += (*v as f64) * (*v as f64);
                }
                n += 1;
            }
        }
        let n = n.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| {
                let sd = (q / n - m * m).max(0.0).sqrt();
                if sd > 1e-8 {
                    sd as f32
                } else {
                    1.0
                }
            })
            .collect();
        BandStandardizer {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    pub fn apply(&self, frames: &mut [f32]) {
        let bands = self.mean.len();
        for frame in frames.chunks_exact_mut(bands) {
            for ((v, m), s) in frame.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_standardizer_by_hand() {
        // Two tracks, two bands: band 0 sees 1, 3, 5, 7 (mean 4, std √5); band 1 is constant.
        let a = [1.0, 2.0, 3.0, 2.0];
        let b = [5.0, 2.0, 7.0, 2.0];
        let s = BandStandardizer::fit(2, [&a[..], &b[..]]);
        assert_eq!(s.mean, vec![4.0, 2.0]);
        assert!((s.std[0] - 5f32.sqrt()).abs() < 1e-6);
        assert_eq!(s.std[1], 1.0);
        let mut x = [4.0, 3.0];
        s.apply(&mut x);
        assert_eq!(x, [0.0, 1.0]);
    }
}
