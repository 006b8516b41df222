//! `[dataset]`, `[split]` and `[noise]`: which tracks, how they are split, and what label
//! noise is injected into the training labels.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// The embedded synthetic music world (no files needed).
    Synthetic,
    /// The Free Music Archive on disk (`[dataset.fma]`).
    Fma,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub source: DataSource,
    /// Seed of the generated world (synthetic data only); the spec's `seed` when omitted,
    /// so a sweep can hold the data fixed while it varies training, or the reverse.
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub synthetic: SyntheticSpec,
    /// Required when `source = "fma"`.
    #[serde(default)]
    pub fma: Option<FmaSpec>,
}

/// FMA's subsets; they nest (small ⊂ medium ⊂ large), and `full` is every track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FmaSubset {
    Small,
    Medium,
    Large,
    Full,
}

impl FmaSubset {
    pub fn as_str(self) -> &'static str {
        match self {
            FmaSubset::Small => "small",
            FmaSubset::Medium => "medium",
            FmaSubset::Large => "large",
            FmaSubset::Full => "full",
        }
    }
}

/// Where FMA lives and which part of it to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FmaSpec {
    /// Folder holding `fma_metadata/` and the audio folders (relative to the working directory).
    pub root: PathBuf,
    pub subset: FmaSubset,
    /// Audio folder under `root`; `fma_<subset>` when omitted.
    #[serde(default)]
    pub audio_dir: Option<String>,
    /// Audio file extension; when omitted, mp3, wav, flac and ogg are tried in that order.
    #[serde(default)]
    pub audio_ext: Option<String>,
    /// Use `fma_metadata/features.csv` (518 librosa statistics) as the track-level features
    /// instead of computing MFCC statistics from audio.
    #[serde(default)]
    pub features_csv: bool,
    /// Clips shorter than this after decoding are skipped and counted.
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f64,
}

fn default_min_seconds() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseKind {
    /// No injected noise.
    None,
    /// Each label flips, with probability `rate`, to a uniformly drawn other genre.
    Symmetric,
    /// Each label of `pairs[i][0]` flips to `pairs[i][1]` with probability `rate`.
    Pairwise,
    /// Each album, with probability `rate`, is relabelled whole to one other genre.
    Album,
}

/// Label noise injected into training (and optionally validation) labels; every flip is
/// recorded so that an audit can be scored against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseSpec {
    pub kind: NoiseKind,
    pub rate: f64,
    pub include_validation: bool,
    /// Genre titles `[from, to]` for `pairwise`.
    pub pairs: Vec<[String; 2]>,
    /// Seed of the injection; the run's seed when omitted.
    pub seed: Option<u64>,
}

impl Default for NoiseSpec {
    fn default() -> Self {
        NoiseSpec {
            kind: NoiseKind::None,
            rate: 0.0,
            include_validation: false,
            pairs: Vec::new(),
            seed: None,
        }
    }
}

/// Size and shape of the synthetic world; every count and rate of its generative model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticSpec {
    /// Number of top-level genres (the classes).
    pub genres: usize,
    /// Inclusive range of sub-genres per top-level genre.
    pub subgenres_per_genre: [usize; 2],
    /// Number of latent artist groups (each a mixture over sub-genres plus a sound).
    pub groups: usize,
    /// Number of artists.
    pub artists: usize,
    /// Inclusive range of albums per artist.
    pub albums_per_artist: [usize; 2],
    /// Inclusive range of tracks per album.
    pub tracks_per_album: [usize; 2],
    /// Probability that a track is in its album's main sub-genre (else drawn from the artist).
    pub album_coherence: f64,
    /// Share of albums the uploader labels wrongly (the whole album is relabelled).
    pub label_noise: f64,
    /// Share of those errors that go to the most similar genre rather than a random one.
    pub related_noise: f64,
    /// Clip length in seconds.
    pub clip_seconds: f64,
    /// Sample rate of the generated audio in Hz.
    pub sample_rate: u32,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            genres: 8,
            subgenres_per_genre: [2, 4],
            groups: 12,
            artists: 150,
            albums_per_artist: [1, 4],
            tracks_per_album: [3, 12],
            album_coherence: 0.85,
            label_noise: 0.1,
            related_noise: 0.7,
            clip_seconds: 10.0,
            sample_rate: 22050,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitStrategy {
    /// The dataset's own split (FMA's `set.split`; for generated worlds, the split that
    /// `agf synth` writes). Ratios are ignored.
    Official,
    /// Tracks shuffled and cut: artists and albums leak across splits.
    Random,
    /// Per genre, tracks shuffled and cut: genre shares exact, artists leak.
    Stratified,
    /// Artist-disjoint and genre-stratified as far as artists allow (FMA's method).
    Artist,
    /// Album-disjoint and genre-stratified as far as albums allow; artists may leak.
    Album,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    pub strategy: SplitStrategy,
    /// Shares of the tracks; filled with [`SplitSpec::DEFAULT_RATIOS`] when omitted, and
    /// refused with `official` (the dataset's own split decides there).
    #[serde(default)]
    pub train: Option<f64>,
    #[serde(default)]
    pub validation: Option<f64>,
    #[serde(default)]
    pub test: Option<f64>,
    /// A split holding fewer tracks of a genre than this is warned about (a per-class score
    /// over a handful of tracks says little).
    #[serde(default = "default_min_genre_tracks")]
    pub min_genre_tracks: usize,
    /// Seed of the split; the run's seed when omitted.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_min_genre_tracks() -> usize {
    5
}

impl SplitSpec {
    /// Train, validation and test shares when a spec gives none.
    pub const DEFAULT_RATIOS: [f64; 3] = [0.7, 0.15, 0.15];

    /// The shares in use (train, validation, test); the defaults where none are written.
    pub fn ratios(&self) -> [f64; 3] {
        let d = Self::DEFAULT_RATIOS;
        [
            self.train.unwrap_or(d[0]),
            self.validation.unwrap_or(d[1]),
            self.test.unwrap_or(d[2]),
        ]
    }
}
