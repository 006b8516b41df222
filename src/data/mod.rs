//! Datasets as the pipeline sees them: tracks, artists, albums and genre labels, plus the
//! audio behind each track. Ground truth (for generated worlds) lives apart, in
//! [`synth::GroundTruth`], and is handed out only by an explicit call.
//!
//! This module knows nothing of audio maths (decoding and resampling live in `audio`) or
//! models.

pub mod fma;
pub mod noise;
pub mod pylist;
pub mod split;
pub mod synth;

use serde::Serialize;
use std::fmt;

use crate::record::id_type;

/// Tracks, artists and albums as FMA numbers them (defined with the results' vocabulary,
/// which names them in per-track predictions and a run's track list).
pub use crate::record::{AlbumId, ArtistId, TrackId};

id_type!(
    /// A genre of the genre tree.
    GenreId
);

/// A genre the pipeline can predict (a top-level genre); its position in
/// [`Dataset::genres`] is its class index in models and metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Genre {
    pub id: GenreId,
    pub title: String,
}

/// A node of the genre tree, as a row of FMA's `genres.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenreNode {
    pub id: GenreId,
    /// `None` for a top-level genre (FMA writes parent 0).
    pub parent: Option<GenreId>,
    pub title: String,
    pub top_level: GenreId,
}

/// One track as the pipeline sees it: the label is what the uploader set, noise and all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Track {
    pub id: TrackId,
    pub artist: ArtistId,
    pub album: AlbumId,
    /// Class index into [`Dataset::genres`] of the label as published (`genre_top`).
    pub genre: usize,
    /// Genre ids as published (FMA's `track.genres`, usually sub-genres).
    pub genres: Vec<GenreId>,
    pub title: String,
    /// The dataset's own split, where it has one (FMA's `set.split`).
    pub official_split: Option<split::SplitName>,
}

/// Mono audio samples in [-1, 1] at a known rate.
#[derive(Debug, Clone)]
pub struct Clip {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

/// Why a track's audio could not be had.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("track {track}: {reason}")]
    Unavailable { track: TrackId, reason: String },
}

/// Where a track's audio comes from. Finding it is cheap (no decoding, no rendering), so the
/// stage cache can be asked first; `audio` decodes, renders and resamples.
pub enum TrackAudio {
    /// A file to decode, as datasets on disk have.
    File(std::path::PathBuf),
    /// Samples a generator makes on demand, and what identifies them (equal identities mean
    /// equal samples).
    Generated {
        identity: String,
        render: Box<dyn FnOnce() -> Clip + Send>,
    },
}

/// Where every track's audio is. Asked track by track, so memory stays bounded whatever the
/// dataset size.
pub trait AudioSource: Send + Sync {
    fn locate(&self, track: &Track) -> Result<TrackAudio, AudioError>;
    /// A short description for logs and run records.
    fn describe(&self) -> String;
    /// What keeps every track of the source from being read (a missing folder, say), in one
    /// line, so that it is said once rather than once per track.
    fn unavailable(&self, tracks: usize) -> Option<String> {
        let _ = tracks;
        None
    }
}

/// Tracks with labels and the audio behind them.
pub struct Dataset {
    pub name: String,
    /// The label classes, in class-index order.
    pub genres: Vec<Genre>,
    /// The whole genre tree (top-level genres and their sub-genres).
    pub genre_tree: Vec<GenreNode>,
    pub tracks: Vec<Track>,
    pub audio: Box<dyn AudioSource>,
}

impl Dataset {
    pub fn genre_titles(&self) -> Vec<String> {
        self.genres.iter().map(|g| g.title.clone()).collect()
    }

    pub fn artist_count(&self) -> usize {
        let mut a: Vec<ArtistId> = self.tracks.iter().map(|t| t.artist).collect();
        a.sort();
        a.dedup();
        a.len()
    }

    pub fn album_count(&self) -> usize {
        let mut a: Vec<AlbumId> = self.tracks.iter().map(|t| t.album).collect();
        a.sort();
        a.dedup();
        a.len()
    }
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("name", &self.name)
            .field("genres", &self.genres.len())
            .field("tracks", &self.tracks.len())
            .field("audio", &self.audio.describe())
            .finish()
    }
}
