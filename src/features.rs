//! The feature stage: audio → log-mel → MFCC → per-track statistics, in parallel over
//! tracks. A track whose audio cannot be had is skipped, counted and named; the rest go on.

use crate::audio::{summary, FrontEnd};
use crate::data::{Dataset, TrackId};
use crate::spec::FrontendSpec;
use rayon::prelude::*;

/// Track-level feature vectors in dataset order (`None` for skipped tracks).
pub struct TrackFeatures {
    pub dim: usize,
    pub names: Vec<String>,
    pub rows: Vec<Option<Vec<f32>>>,
    pub skipped: Vec<(TrackId, String)>,
    /// Total seconds of audio processed.
    pub audio_seconds: f64,
    /// Log-mel frames computed over all tracks.
    pub frames: usize,
}

/// One track's result before skipped tracks are sorted out.
struct Extracted {
    stats: Vec<f32>,
    seconds: f64,
    frames: usize,
}

/// Track features from a ready table (FMA's `features.csv`): tracks missing from it are
/// skipped with that reason.
pub fn from_table(
    dataset: &Dataset,
    names: Vec<String>,
    table: &std::collections::HashMap<TrackId, Vec<f32>>,
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
    TrackFeatures {
        dim: names.len(),
        names,
        rows,
        skipped,
        audio_seconds: 0.0,
        frames: 0,
    }
}

pub fn extract(dataset: &Dataset, spec: &FrontendSpec) -> TrackFeatures {
    let front = FrontEnd::new(spec);
    let pb = crate::progress::bar(dataset.tracks.len() as u64, "features");
    let results: Vec<Result<Extracted, String>> = dataset
        .tracks
        .par_iter()
        .map(|track| {
            let out = dataset
                .audio
                .load(track)
                .map_err(|e| e.to_string())
                .and_then(|clip| {
                    if clip.sample_rate != spec.sample_rate {
                        return Err(format!(
                            "track {}: audio is {} Hz but the front end expects {} Hz",
                            track.id, clip.sample_rate, spec.sample_rate
                        ));
                    }
                    if clip.samples.is_empty() {
                        return Err("no audio samples".to_string());
                    }
                    let log_mel = front.log_mel(&clip.samples);
                    let mfcc = front.mfcc(&log_mel);
                    Ok(Extracted {
                        stats: summary::mfcc_statistics(&mfcc),
                        seconds: clip.samples.len() as f64 / clip.sample_rate as f64,
                        frames: log_mel.frames,
                    })
                });
            pb.inc(1);
            out
        })
        .collect();
    pb.finish_and_clear();
    let mut rows = Vec::with_capacity(results.len());
    let mut skipped = Vec::new();
    let (mut seconds, mut frames) = (0.0, 0);
    for (track, r) in dataset.tracks.iter().zip(results) {
        match r {
            Ok(e) => {
                seconds += e.seconds;
                frames += e.frames;
                rows.push(Some(e.stats));
            }
            Err(reason) => {
                tracing::warn!(track = %track.id, "skipping: {reason}");
                skipped.push((track.id, reason));
                rows.push(None);
            }
        }
    }
    TrackFeatures {
        dim: 4 * spec.n_mfcc,
        names: summary::mfcc_stat_names(spec.n_mfcc),
        rows,
        skipped,
        audio_seconds: seconds,
        frames,
    }
}
