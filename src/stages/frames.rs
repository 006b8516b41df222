//! The frame stage: the factors' frame-level inputs, each track's MFCC, dMFCC and chroma
//! frames under the factor front end, in the stage cache as one f32 entry per track
//! (`frames/<key>.fr`), read back memory-mapped so that K-Means streams over any number of
//! frames.

use crate::audio::load::AudioLoader;
use crate::cache::{encode_frames, frame_parts, CacheKey, EntryBytes, StageCache};
use crate::data::{Dataset, TrackId};
use crate::features::FeatureExtractor;
use crate::vectors::{decode_f32, BlockVectors, ByteBlock};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub const FRAMES_STAGE: &str = "frames";
/// Bumped whenever the stored frames change for the same inputs.
pub const FRAMES_VERSION: u32 = 2;

/// The matrices of a frames entry, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Mfcc = 0,
    Dmfcc = 1,
    Chroma = 2,
}

/// Entries mapped at most at once: Linux allows a process 65,530 maps by default and FMA's
/// full set has 106,574 tracks; entries past the budget are read from their files on demand.
const MAP_BUDGET: usize = 40_000;

/// Shared bytes of one entry, read by [`BlockVectors`].
#[derive(Clone)]
pub struct SharedBytes(Arc<EntryBytes>);

impl ByteBlock for SharedBytes {
    fn read_f32(&self, offset: usize, out: &mut [f32]) {
        self.0
            .read(offset, 4 * out.len(), &mut |b| decode_f32(b, out));
    }
}

/// One track's frame matrices.
pub struct TrackFrames {
    bytes: SharedBytes,
    parts: Vec<(usize, usize, Range<usize>)>,
    /// The cache key: what the frames were computed from.
    pub key: CacheKey,
}

/// Frame matrices of every track of a dataset (`None` for skipped tracks).
pub struct FrameSet {
    pub tracks: Vec<Option<TrackFrames>>,
    pub skipped: Vec<(TrackId, String)>,
    pub cache_hits: usize,
    pub computed: usize,
}

impl FrameSet {
    /// Width of `kind`'s frames (`None` when no track has frames).
    pub fn bins(&self, kind: FrameKind) -> Option<usize> {
        self.tracks
            .iter()
            .flatten()
            .next()
            .map(|t| t.parts[kind as usize].1)
    }

    /// The frames of `kind` of the given dataset positions (skipped ones contribute no
    /// block), as one row set; block `i` is the `i`-th track that has frames.
    pub fn vectors(&self, kind: FrameKind, tracks: &[usize]) -> BlockVectors<SharedBytes> {
        let dim = self.bins(kind).unwrap_or(1);
        let blocks = tracks
            .iter()
            .filter_map(|&i| self.tracks[i].as_ref())
            .map(|t| (t.bytes.clone(), t.parts[kind as usize].2.clone()))
            .collect();
        BlockVectors::new(dim, blocks)
    }
}

/// Compute (or read from `cache`) the frames of every track, in parallel.
pub fn run(
    dataset: &Dataset,
    loader: &AudioLoader,
    extractor: &FeatureExtractor,
    cache: &StageCache,
) -> FrameSet {
    let _lock = super::lock::StageLock::acquire(
        cache,
        FRAMES_STAGE,
        &super::features::pass_key(FRAMES_STAGE, dataset, loader, extractor),
    );
    let pb = crate::progress::bar(dataset.tracks.len() as u64, "frames");
    let hits = AtomicUsize::new(0);
    let maps = AtomicUsize::new(0);
    // A mapped entry (`map`, once mapped) within the budget, else one read on demand.
    let keep = |key: &CacheKey, map: memmap2::Mmap| -> EntryBytes {
        if maps.fetch_add(1, Ordering::Relaxed) < MAP_BUDGET {
            EntryBytes::Mapped(map)
        } else {
            EntryBytes::File(cache.path(FRAMES_STAGE, key, "fr"))
        }
    };
    let results: Vec<Result<TrackFrames, String>> = dataset
        .tracks
        .par_iter()
        .map(|track| {
            let r = (|| {
                let audio = dataset
                    .audio
                    .locate(track)
                    .map_err(|crate::data::AudioError::Unavailable { reason, .. }| reason)?;
                let key = CacheKey::new(
                    FRAMES_STAGE,
                    FRAMES_VERSION,
                    &[
                        loader.identity(&audio)?.as_bytes(),
                        extractor.params_text().as_bytes(),
                        crate::simd::kernel_tag(),
                    ],
                );
                if let Some(map) = cache.map(FRAMES_STAGE, &key, "fr") {
                    if let Some(parts) = frame_parts(&map).filter(|p| p.len() == 3) {
                        hits.fetch_add(1, Ordering::Relaxed);
                        return Ok(TrackFrames {
                            bytes: SharedBytes(Arc::new(keep(&key, map))),
                            parts,
                            key,
                        });
                    }
                }
                let samples = loader.load(audio)?;
                extractor.check(&samples)?;
                let f = extractor.frames(&samples);
                let bytes = encode_frames(&[
                    (f.mfcc.frames, f.mfcc.bins, &f.mfcc.data),
                    (f.dmfcc.frames, f.dmfcc.bins, &f.dmfcc.data),
                    (f.chroma.frames, f.chroma.bins, &f.chroma.data),
                ]);
                let parts = frame_parts(&bytes).expect("entries we encode parse");
                // Served mapped from the cache when it can be written; else kept in hand.
                let stored = cache
                    .write(FRAMES_STAGE, &key, "fr", &bytes)
                    .map_err(|e| {
                        tracing::warn!(
                            "cannot write the frame cache under {}: {e}",
                            cache.root().display()
                        )
                    })
                    .ok()
                    .and_then(|_| cache.map(FRAMES_STAGE, &key, "fr"))
                    .map(|map| keep(&key, map));
                let bytes = stored.unwrap_or(EntryBytes::Owned(bytes));
                Ok(TrackFrames {
                    bytes: SharedBytes(Arc::new(bytes)),
                    parts,
                    key,
                })
            })();
            pb.inc(1);
            r
        })
        .collect();
    pb.finish_and_clear();
    let mut set = FrameSet {
        tracks: Vec::with_capacity(results.len()),
        skipped: Vec::new(),
        cache_hits: hits.into_inner(),
        computed: 0,
    };
    for (track, r) in dataset.tracks.iter().zip(results) {
        match r {
            Ok(t) => set.tracks.push(Some(t)),
            Err(reason) => {
                set.skipped.push((track.id, reason));
                set.tracks.push(None);
            }
        }
    }
    super::log_skipped("frames", &set.skipped);
    set.computed = set.tracks.iter().flatten().count() - set.cache_hits;
    tracing::info!(
        "frame cache: {} of {} tracks served from the cache, {} computed",
        set.cache_hits,
        set.cache_hits + set.computed,
        set.computed
    );
    set
}
