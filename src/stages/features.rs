//! The feature stage: every track's track-level vectors (MFCC statistics, the descriptor
//! set) and log-mel spectrogram, in parallel, through the stage cache.
//!
//! Per track the cache holds the vectors (`track/<key>.vec`, the entry's completion marker)
//! and the log-mel (`logmel/<key>.lm`, f16, memory-mapped by the nets). A track's key is its
//! audio's identity, the front end's parameters and the kernel build. A track whose audio
//! cannot be had is skipped, counted and named; the rest go on. A worker holds one clip at a
//! time, and only the small vectors are kept.

use super::{RecordError, Recorder};
use crate::audio::load::AudioLoader;
use crate::cache::{decode_vectors, encode_logmel, encode_vectors, CacheKey, StageCache};
use crate::data::{Dataset, Track, TrackId};
use crate::features::{names, FeatureExtractor, TrackTable, TrackVectors};
use crate::record::{ModelName, SplitKey};
use crate::spec::TrackFeatureSet;
use rayon::prelude::*;
use std::path::PathBuf;

/// Bumped whenever this stage's output changes for the same inputs.
pub const STAGE_VERSION: u32 = 3;
pub const STAGE: &str = "track";
pub const LOGMEL_STAGE: &str = "logmel";

/// Every track's features, in dataset order (`None` for skipped tracks).
pub struct TrackFeatures {
    pub vectors: Vec<Option<TrackVectors>>,
    /// Each track's cached log-mel entry (for the nets), where there is one.
    pub logmels: Vec<Option<PathBuf>>,
    pub skipped: Vec<(TrackId, String)>,
    /// Seconds of audio analysed (0 for tracks served from the cache).
    pub audio_seconds: f64,
    /// Tracks served from the cache, and tracks computed.
    pub cache_hits: usize,
    pub computed: usize,
    n_mfcc: usize,
}

impl TrackFeatures {
    /// The rows a feature set reads.
    pub fn table(&self, set: TrackFeatureSet) -> TrackTable {
        let names = names(set, self.n_mfcc);
        TrackTable {
            dim: names.len(),
            names,
            rows: self
                .vectors
                .iter()
                .map(|v| v.as_ref().map(|v| v.select(set)))
                .collect(),
            skipped: self.skipped.clone(),
        }
    }
}

/// One track computed, or served from the cache.
struct Extracted {
    vectors: TrackVectors,
    seconds: f64,
    logmel: Option<PathBuf>,
    hit: bool,
}

/// What identifies a whole-dataset pass of a stage (for its lock): the dataset's tracks and
/// audio, how they are loaded, and the front end's parameters.
pub(crate) fn pass_key(
    stage: &str,
    dataset: &Dataset,
    loader: &AudioLoader,
    extractor: &FeatureExtractor,
) -> String {
    let mut text = format!(
        "{stage}\n{}\n{}\n{:?}\n{}\n",
        dataset.name,
        dataset.audio.describe(),
        loader,
        extractor.params_text()
    );
    for t in &dataset.tracks {
        text.push_str(&format!("{},", t.id));
    }
    crate::digest::sha256_hex(text.as_bytes())
}

/// Run the stage over every track of `dataset`, through `cache` when given (where another
/// process computing the same pass is waited for).
pub fn run(
    dataset: &Dataset,
    loader: &AudioLoader,
    extractor: &FeatureExtractor,
    cache: Option<&StageCache>,
) -> TrackFeatures {
    let _lock = cache.map(|c| {
        super::lock::StageLock::acquire(c, STAGE, &pass_key(STAGE, dataset, loader, extractor))
    });
    let pb = crate::progress::bar(dataset.tracks.len() as u64, "features");
    let results: Vec<Result<Extracted, String>> = dataset
        .tracks
        .par_iter()
        .map(|track| {
            let r = one(dataset, track, loader, extractor, cache);
            pb.inc(1);
            r
        })
        .collect();
    pb.finish_and_clear();
    let mut out = TrackFeatures {
        vectors: Vec::with_capacity(results.len()),
        logmels: Vec::with_capacity(results.len()),
        skipped: Vec::new(),
        audio_seconds: 0.0,
        cache_hits: 0,
        computed: 0,
        n_mfcc: extractor.frontend().n_mfcc,
    };
    for (track, r) in dataset.tracks.iter().zip(results) {
        match r {
            Ok(e) => {
                out.audio_seconds += e.seconds;
                if e.hit {
                    out.cache_hits += 1;
                } else {
                    out.computed += 1;
                }
                out.vectors.push(Some(e.vectors));
                out.logmels.push(e.logmel);
            }
            Err(reason) => {
                out.skipped.push((track.id, reason));
                out.vectors.push(None);
                out.logmels.push(None);
            }
        }
    }
    super::log_skipped("features", &out.skipped);
    if cache.is_some() {
        tracing::info!(
            "feature cache: {} of {} tracks served from the cache, {} computed",
            out.cache_hits,
            out.cache_hits + out.computed,
            out.computed
        );
    }
    out
}

fn key(extractor: &FeatureExtractor, identity: &str) -> CacheKey {
    CacheKey::new(
        STAGE,
        STAGE_VERSION,
        &[
            identity.as_bytes(),
            extractor.params_text().as_bytes(),
            crate::simd::kernel_tag(),
        ],
    )
}

fn one(
    dataset: &Dataset,
    track: &Track,
    loader: &AudioLoader,
    extractor: &FeatureExtractor,
    cache: Option<&StageCache>,
) -> Result<Extracted, String> {
    let audio = dataset
        .audio
        .locate(track)
        .map_err(|crate::data::AudioError::Unavailable { reason, .. }| reason)?;
    let key = match cache {
        Some(_) => Some(key(extractor, &loader.identity(&audio)?)),
        None => None,
    };
    if let (Some(c), Some(k)) = (cache, &key) {
        if let Some(v) = c
            .read(STAGE, k, "vec")
            .and_then(|b| decode_vectors(&b))
            .filter(|v| v.len() == 2)
        {
            let mut it = v.into_iter();
            return Ok(Extracted {
                vectors: TrackVectors {
                    mfcc_stats: it.next().expect("two vectors"),
                    descriptors: it.next().expect("two vectors"),
                },
                seconds: 0.0,
                logmel: Some(c.path(LOGMEL_STAGE, k, "lm")),
                hit: true,
            });
        }
    }
    let samples = loader.load(audio)?;
    extractor.check(&samples)?;
    let (vectors, log_mel) = extractor.compute(&samples);
    let mut logmel = None;
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
                    &encode_vectors(&[&vectors.mfcc_stats, &vectors.descriptors]),
                )
            });
        match written {
            Ok(_) => logmel = Some(c.path(LOGMEL_STAGE, k, "lm")),
            // A full disk must not fail the run: the features are in hand.
            Err(err) => tracing::warn!(
                "cannot write the feature cache under {}: {err}",
                c.root().display()
            ),
        }
    }
    Ok(Extracted {
        vectors,
        seconds: extractor.seconds(&samples),
        logmel,
        hit: false,
    })
}

/// Record the rows a model reads: the tracks they leave out, their width, and what computing
/// them took (`computed` None when they were read ready-made, as FMA's `features.csv`).
pub fn record(
    rows: &TrackTable,
    computed: Option<&TrackFeatures>,
    rec: &mut dyn Recorder,
) -> Result<(), RecordError> {
    rec.skipped(&rows.skipped)?;
    let with_rows = rows.rows.iter().filter(|r| r.is_some()).count();
    let (seconds, hits, computed) = match computed {
        Some(t) => (t.audio_seconds, t.cache_hits, t.computed),
        None => (0.0, 0, with_rows),
    };
    rec.metrics(
        &ModelName::Dataset,
        SplitKey::All,
        &[
            ("skipped_tracks", rows.skipped.len() as f64),
            ("audio_seconds", seconds),
            ("feature_dim", rows.dim as f64),
            ("feature_cache_hits", hits as f64),
            ("feature_tracks_computed", computed as f64),
        ],
    )?;
    if !rows.skipped.is_empty() {
        tracing::warn!(
            "{} tracks skipped; `agf runs` and the store's skipped_tracks table list them",
            rows.skipped.len()
        );
    }
    Ok(())
}
