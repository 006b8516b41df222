//! The experiment spec: the TOML schema, parsing with file/line/column errors, validation,
//! defaults filled in one place, and the canonical text whose hash identifies a run.
//!
//! Parsing is pure: this module reads text and returns values or errors. It knows nothing of
//! datasets, audio or the store.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// A complete experiment: every stage's parameters, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Human-readable run name, shown by `agf runs` and in reports.
    pub name: String,
    /// Master seed; every random draw of the run derives from it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub dataset: DatasetSpec,
    #[serde(default)]
    pub frontend: FrontendSpec,
    #[serde(default)]
    pub descriptors: DescriptorSpec,
    pub split: SplitSpec,
    pub model: ModelSpec,
    #[serde(default)]
    pub noise: NoiseSpec,
    #[serde(default)]
    pub metrics: MetricsSpec,
    /// Front end of the frame-level factor words (mfcc, dmfcc, chroma).
    #[serde(
        default = "authors_factor_frontend",
        deserialize_with = "factor_frontend"
    )]
    pub factor_frontend: FrontendSpec,
    /// The Artist Group Factors, one `[[factors]]` entry each.
    #[serde(default)]
    pub factors: Vec<FactorSpec>,
    /// CNNs on log-mel patches (none when omitted).
    #[serde(default)]
    pub cnn: Option<CnnSpec>,
    /// The transfer MLP over the CNNs' taps (trained when `[cnn]` is there).
    #[serde(default)]
    pub transfer: TransferSpec,
    /// "auto" (CUDA when built with it and present, else CPU), "cpu" or "cuda:N".
    #[serde(default = "default_device")]
    pub device: String,
}

fn default_device() -> String {
    "auto".into()
}

fn default_seed() -> u64 {
    0
}

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
#[serde(rename_all = "kebab-case")]
pub enum WindowKind {
    Hann,
    SqrtHann,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PadMode {
    /// Zero padding (librosa ≥ 0.10 default).
    Constant,
    /// Mirror padding without repeating the edge sample (numpy's `reflect`).
    Reflect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelScale {
    Slaney,
    Htk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelNorm {
    /// Each triangle divided by its width in Hz (area normalisation), librosa's `norm="slaney"`.
    Slaney,
    /// Peak-1 triangles.
    None,
}

/// The audio front end: STFT, mel filterbank, dB scaling and MFCC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrontendSpec {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop_length: usize,
    pub window: WindowKind,
    pub center: bool,
    pub pad_mode: PadMode,
    pub n_mels: usize,
    pub fmin: f64,
    /// Upper mel edge in Hz; filled with `sample_rate / 2` when omitted.
    pub fmax: Option<f64>,
    pub mel_scale: MelScale,
    pub mel_norm: MelNorm,
    /// Exponent of the magnitude spectrogram fed to the filterbank: 1 magnitude, 2 power.
    pub power: f64,
    pub amin: f64,
    /// dB reference: 0 dB is this value (librosa's `ref`, a fixed value here).
    pub reference: f64,
    pub top_db: Option<f64>,
    pub n_mfcc: usize,
}

impl Default for FrontendSpec {
    fn default() -> Self {
        FrontendSpec {
            sample_rate: 22050,
            n_fft: 1024,
            hop_length: 512,
            window: WindowKind::Hann,
            center: true,
            pad_mode: PadMode::Constant,
            n_mels: 64,
            fmin: 0.0,
            fmax: None,
            mel_scale: MelScale::Slaney,
            mel_norm: MelNorm::Slaney,
            power: 2.0,
            amin: 1e-10,
            reference: 1.0,
            top_db: Some(80.0),
            n_mfcc: 20,
        }
    }
}

/// The track-level descriptor set (librosa's defaults; chroma tuning fixed, not estimated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DescriptorSpec {
    pub n_fft: usize,
    pub hop_length: usize,
    pub chroma_tuning: f64,
}

impl Default for DescriptorSpec {
    fn default() -> Self {
        DescriptorSpec {
            n_fft: 2048,
            hop_length: 512,
            chroma_tuning: 0.0,
        }
    }
}

/// What an AGF's words are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorFeature {
    /// MFCC frames of `[factor_frontend]`, clustered frame by frame.
    Mfcc,
    /// First differences of those MFCC frames (`m[1:] − m[:-1]`, the authors' dmfcc).
    Dmfcc,
    /// Chroma frames (power STFT of `[factor_frontend]`).
    Chroma,
    /// The track-level descriptor set, one vector (one word) per track.
    Descriptors,
    /// FMA's `features.csv` (518 statistics), one vector per track.
    FmaFeatures,
    /// The track's own genre ids (`track.genres`) as words; no K-Means.
    Subgenre,
}

impl FactorFeature {
    /// Clustered frame by frame (as opposed to one vector per track, or tags).
    pub fn is_frame_level(self) -> bool {
        matches!(
            self,
            FactorFeature::Mfcc | FactorFeature::Dmfcc | FactorFeature::Chroma
        )
    }
}

/// Which tracks the dictionary and the topics are fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FitOn {
    /// Training tracks only: no validation or test audio shapes the targets.
    #[default]
    Train,
    /// Every track, validation and test included (what the authors did).
    All,
}

/// How an artist's word counts are scaled before LDA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BagNorm {
    /// Counts divided by the artist's number of tracks (the authors' choice): prolific
    /// artists do not outweigh the others.
    PerTrack,
    /// Raw counts.
    Counts,
    /// 1 for every word the artist uses, whatever how often.
    Presence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KMeansAlgorithm {
    /// Full passes over every vector until the centres settle.
    Lloyd,
    /// Random mini-batches (the authors' MiniBatchKMeans).
    MiniBatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LdaMethod {
    /// Every iteration E-steps all documents, then sets the topics (scikit-learn's default).
    Batch,
    /// Mini-batches of documents, each moving the topics by a decaying step.
    Online,
}

/// The K-Means dictionary of one factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KMeansSpec {
    pub algorithm: KMeansAlgorithm,
    pub n_init: usize,
    /// Lloyd iterations, or mini-batch passes over the data; filled in when omitted (Lloyd
    /// 300, mini-batch 1: the authors' single pass).
    pub max_iter: Option<usize>,
    /// Relative tolerance on the centre shift; filled in when omitted (Lloyd 1e-4, mini-batch
    /// 0 = off).
    pub tol: Option<f64>,
    pub batch_size: usize,
    /// Rows drawn for k-means++ (omitted: all rows up to 262,144 for Lloyd, 3 × batch_size
    /// for mini-batch).
    pub init_size: Option<usize>,
    pub reassignment_ratio: f64,
    pub max_no_improvement: usize,
    /// Standardise each feature (over the fitted tracks) before clustering; the authors did
    /// not, so large-valued features dominate the distances unless this is set.
    pub scale: bool,
}

impl Default for KMeansSpec {
    fn default() -> Self {
        KMeansSpec {
            algorithm: KMeansAlgorithm::MiniBatch,
            n_init: 1,
            max_iter: None,
            tol: None,
            batch_size: 1024,
            init_size: None,
            reassignment_ratio: 0.01,
            max_no_improvement: 10,
            scale: false,
        }
    }
}

/// The LDA of one factor (scikit-learn's defaults of 2018).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdaSpec {
    pub method: LdaMethod,
    /// α; filled with 1/topics when omitted.
    pub doc_topic_prior: Option<f64>,
    /// η; filled with 1/topics when omitted.
    pub topic_word_prior: Option<f64>,
    pub max_iter: usize,
    /// Documents per online update.
    pub batch_size: usize,
    pub learning_decay: f64,
    pub learning_offset: f64,
    pub mean_change_tol: f64,
    pub max_doc_update_iter: usize,
    /// Record perplexity every this many iterations and stop when it moves less than
    /// `perp_tol`; 0 = only at the end.
    pub evaluate_every: usize,
    pub perp_tol: f64,
}

impl Default for LdaSpec {
    fn default() -> Self {
        LdaSpec {
            method: LdaMethod::Batch,
            doc_topic_prior: None,
            topic_word_prior: None,
            max_iter: 10,
            batch_size: 128,
            learning_decay: 0.7,
            learning_offset: 10.0,
            mean_change_tol: 1e-3,
            max_doc_update_iter: 100,
            evaluate_every: 0,
            perp_tol: 0.1,
        }
    }
}

/// One Artist Group Factor: features → dictionary → artist bags → LDA topics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorSpec {
    /// Names the factor in the store, the cache and exported files (letters, digits, `_`, `-`).
    pub name: String,
    pub features: FactorFeature,
    /// Dictionary size (ignored for `subgenre`, whose words are genre ids).
    #[serde(default = "default_clusters")]
    pub clusters: usize,
    #[serde(default = "default_topics")]
    pub topics: usize,
    #[serde(default)]
    pub fit_on: FitOn,
    #[serde(default = "default_bag_norm")]
    pub normalize: BagNorm,
    /// Seed of this factor's draws; filled with the run's seed when omitted.
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub kmeans: KMeansSpec,
    #[serde(default)]
    pub lda: LdaSpec,
}

fn default_clusters() -> usize {
    2048
}
fn default_topics() -> usize {
    40
}
fn default_bag_norm() -> BagNorm {
    BagNorm::PerTrack
}

/// The front end of frame-level factor words: the authors' AGF extractor (librosa 0.6 of
/// 2018: 13 MFCC from 40 mel bands, n_fft 2048, hop 1024, reflect padding). Keys given in
/// `[factor_frontend]` replace these one by one.
pub fn authors_factor_frontend() -> FrontendSpec {
    FrontendSpec {
        n_fft: 2048,
        hop_length: 1024,
        pad_mode: PadMode::Reflect,
        n_mels: 40,
        n_mfcc: 13,
        ..FrontendSpec::default()
    }
}

fn factor_frontend<'de, D: serde::Deserializer<'de>>(d: D) -> Result<FrontendSpec, D::Error> {
    use serde::de::Error;
    let given = toml::Table::deserialize(d)?;
    let mut merged = toml::Table::try_from(authors_factor_frontend()).map_err(D::Error::custom)?;
    merged.extend(given);
    merged.try_into().map_err(D::Error::custom)
}

/// The CNN preset a `[cnn]` section starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CnnPreset {
    /// The winning submission's net (AGF-METHOD.md §4).
    Won2018,
    /// A small net of the same shape, for CPU quickstarts and tests.
    Small,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with the L2 penalty in the loss (the authors').
    Adam,
    /// AdamW: decoupled weight decay.
    Adamw,
}

/// Whether the targets get a net each or share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CnnMode {
    /// One net per target (the winning submission).
    #[default]
    Separate,
    /// One trunk with a head per target; each epoch trains one target, drawn with
    /// `task_probabilities` (the authors' multi-task alternative).
    Multitask,
}

/// The CNNs on log-mel patches: one per target (genre and every factor), all alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CnnSpec {
    pub preset: CnnPreset,
    /// Conv blocks replacing the preset's (`[[cnn.blocks]]`); omitted = the preset's.
    pub blocks: Option<Vec<crate::nn::cnn::ConvBlock>>,
    pub tap: Option<usize>,
    pub tap_dropout: Option<f64>,
    pub activation: Option<crate::nn::cnn::Activation>,
    pub bn_momentum: Option<f64>,
    /// Which nets to train: "genre" and factor names; omitted = genre and every factor.
    pub targets: Option<Vec<String>>,
    pub mode: CnnMode,
    /// Multi-task only: the chance an epoch trains each target (summing to 1); omitted =
    /// 0.5 for genre and the rest shared equally by the factors (the authors' p = 0.5).
    pub task_probabilities: Option<std::collections::BTreeMap<String, f64>>,
    /// `{ kind = "constant" | "step" | "cosine" | "plateau", … }`.
    pub lr_schedule: crate::nn::schedule::LrSchedule,
    pub batch_size: usize,
    pub epochs: usize,
    pub patience: usize,
    pub patch_frames: usize,
    pub window_hop: usize,
    pub optimizer: OptimizerKind,
    pub learning_rate: f64,
    /// L2 weight on every conv and dense kernel (in the loss).
    pub l2: f64,
    /// AdamW's decoupled decay.
    pub weight_decay: f64,
}

impl Default for CnnSpec {
    fn default() -> Self {
        CnnSpec {
            preset: CnnPreset::Won2018,
            blocks: None,
            tap: None,
            tap_dropout: None,
            activation: None,
            bn_momentum: None,
            targets: None,
            mode: CnnMode::Separate,
            task_probabilities: None,
            lr_schedule: crate::nn::schedule::LrSchedule::Constant,
            batch_size: 64,
            epochs: 400,
            patience: 20,
            patch_frames: 43,
            window_hop: 10,
            optimizer: OptimizerKind::Adam,
            learning_rate: 1e-3,
            l2: 1e-5,
            weight_decay: 0.0,
        }
    }
}

impl CnnSpec {
    /// The net this section describes: the preset with the given fields replaced.
    pub fn config(&self) -> crate::nn::CnnConfig {
        let mut c = match self.preset {
            CnnPreset::Won2018 => crate::nn::CnnConfig::won2018(),
            CnnPreset::Small => crate::nn::CnnConfig::small(),
        };
        if let Some(b) = &self.blocks {
            c.blocks = b.clone();
        }
        if let Some(t) = self.tap {
            c.tap = t;
        }
        if let Some(d) = self.tap_dropout {
            c.tap_dropout = d;
        }
        if let Some(a) = self.activation {
            c.activation = a;
        }
        if let Some(m) = self.bn_momentum {
            c.bn_momentum = m;
        }
        c
    }
}

/// The transfer MLP over the frozen nets' taps (AGF-METHOD.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferSpec {
    pub hidden: usize,
    pub dropout: f64,
    pub epochs: usize,
    pub patience: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub l2: f64,
}

impl Default for TransferSpec {
    fn default() -> Self {
        TransferSpec {
            hidden: 1024,
            dropout: 0.5,
            epochs: 200,
            patience: 20,
            batch_size: 64,
            learning_rate: 1e-3,
            l2: 1e-5,
        }
    }
}

/// Which track-level features a classical model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackFeatureSet {
    /// Mean and std of MFCC and first-difference MFCC frames.
    MfccStats,
    /// The descriptor set (seven statistics of spectral descriptors, chroma, onsets; tempo).
    Descriptors,
    /// Both, concatenated.
    All,
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
    #[serde(default = "default_train")]
    pub train: f64,
    #[serde(default = "default_held_out")]
    pub validation: f64,
    #[serde(default = "default_held_out")]
    pub test: f64,
    /// Seed of the split; the run's seed when omitted.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_train() -> f64 {
    0.7
}
fn default_held_out() -> f64 {
    0.15
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Multinomial logistic regression on standardised MFCC statistics.
    Logreg,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub kind: ModelKind,
    /// Track-level features the model reads (ignored when dataset.fma.features_csv is set).
    #[serde(default = "default_feature_set")]
    pub features: TrackFeatureSet,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    /// L2 penalty on the weights (not the biases), added to the mean loss as `l2/2·‖W‖²`.
    #[serde(default = "default_l2")]
    pub l2: f64,
    /// Stop after this many epochs without a better validation log loss.
    #[serde(default = "default_patience")]
    pub patience: usize,
}

fn default_feature_set() -> TrackFeatureSet {
    TrackFeatureSet::MfccStats
}

fn default_epochs() -> usize {
    400
}
fn default_lr() -> f64 {
    0.05
}
fn default_l2() -> f64 {
    1e-2
}
fn default_patience() -> usize {
    50
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSpec {
    /// Probabilities are clipped to [clip, 1 − clip] before the log (the challenge used 1e-8).
    pub log_loss_clip: f64,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        MetricsSpec {
            log_loss_clip: 1e-8,
        }
    }
}

/// Why a spec could not be used. Every variant names the file; parse and validation errors
/// also give the line and column.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}\n{snippet}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        snippet: String,
    },
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One semantic problem with a key of an otherwise well-formed spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted key, e.g. `split.train`.
    pub key: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = format!("{} is not a valid experiment spec:", path.display());
    for p in problems {
        out.push('\n');
        match (p.line, p.column) {
            (Some(l), Some(c)) => out.push_str(&format!("  {}:{l}:{c}: ", path.display())),
            _ => out.push_str(&format!("  {}: ", path.display())),
        }
        out.push_str(&format!("{}: {}", p.key, p.message));
    }
    out
}

impl ExperimentSpec {
    /// Read and validate a spec file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse and validate spec text; `path` is used for messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SpecError> {
        let mut spec: ExperimentSpec = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((1, 1));
            SpecError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
                snippet: snippet(text, line, column),
            }
        })?;
        spec.resolve(text);
        let problems = spec.problems(text);
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(SpecError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Fill every default that depends on other fields, so that the canonical text shows the
    /// values actually used.
    fn resolve(&mut self, text: &str) {
        if self.frontend.fmax.is_none() {
            self.frontend.fmax = Some(self.frontend.sample_rate as f64 / 2.0);
        }
        // Audio is decoded once, at the front end's rate; the factor front end reads it too.
        if !key_written(text, "factor_frontend.sample_rate") {
            self.factor_frontend.sample_rate = self.frontend.sample_rate;
        }
        if self.factor_frontend.fmax.is_none() {
            self.factor_frontend.fmax = Some(self.factor_frontend.sample_rate as f64 / 2.0);
        }
        for f in &mut self.factors {
            f.seed.get_or_insert(self.seed);
            let minibatch = f.kmeans.algorithm == KMeansAlgorithm::MiniBatch;
            f.kmeans
                .max_iter
                .get_or_insert(if minibatch { 1 } else { 300 });
            f.kmeans
                .tol
                .get_or_insert(if minibatch { 0.0 } else { 1e-4 });
            let prior = 1.0 / f.topics.max(1) as f64;
            f.lda.doc_topic_prior.get_or_insert(prior);
            f.lda.topic_word_prior.get_or_insert(prior);
        }
        if self.split.seed.is_none() {
            self.split.seed = Some(self.seed);
        }
        if self.noise.seed.is_none() {
            self.noise.seed = Some(self.seed);
        }
    }

    /// Every semantic problem at once, located in `text` where the key appears.
    fn problems(&self, text: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |key: &str, message: String| {
            let loc = locate_key(text, key);
            out.push(Problem {
                key: key.to_string(),
                line: loc.map(|l| l.0),
                column: loc.map(|l| l.1),
                message,
            });
        };
        // TOML accepts nan and inf; no parameter here means anything with them.
        let fe = &self.frontend;
        let finite: [(&str, Option<f64>); 12] = [
            (
                "dataset.synthetic.clip_seconds",
                Some(self.dataset.synthetic.clip_seconds),
            ),
            ("frontend.fmin", Some(fe.fmin)),
            ("frontend.fmax", fe.fmax),
            ("frontend.power", Some(fe.power)),
            ("frontend.amin", Some(fe.amin)),
            ("frontend.reference", Some(fe.reference)),
            ("frontend.top_db", fe.top_db),
            (
                "descriptors.chroma_tuning",
                Some(self.descriptors.chroma_tuning),
            ),
            ("model.learning_rate", Some(self.model.learning_rate)),
            ("model.l2", Some(self.model.l2)),
            ("noise.rate", Some(self.noise.rate)),
            ("metrics.log_loss_clip", Some(self.metrics.log_loss_clip)),
        ];
        for (key, v) in finite {
            if let Some(v) = v.filter(|v| !v.is_finite()) {
                bad(key, format!("expected a finite number, got {v}"));
            }
        }
        if self.name.trim().is_empty() {
            bad("name", "expected a non-empty run name".into());
        }
        if self.seed > i64::MAX as u64 {
            bad("seed", format!("expected a seed ≤ {}", i64::MAX));
        }
        let s = &self.dataset.synthetic;
        if s.genres < 2 {
            bad(
                "dataset.synthetic.genres",
                format!("expected at least 2 genres, got {}", s.genres),
            );
        }
        if s.artists < 3 {
            bad(
                "dataset.synthetic.artists",
                format!(
                    "expected at least 3 artists (one per split), got {}",
                    s.artists
                ),
            );
        }
        if s.groups < 1 {
            bad(
                "dataset.synthetic.groups",
                "expected at least 1 artist group, got 0".into(),
            );
        }
        for (key, v) in [
            ("dataset.synthetic.album_coherence", s.album_coherence),
            ("dataset.synthetic.label_noise", s.label_noise),
            ("dataset.synthetic.related_noise", s.related_noise),
        ] {
            if !(0.0..=1.0).contains(&v) {
                bad(key, format!("expected a probability in [0, 1], got {v}"));
            }
        }
        for (key, [lo, hi]) in [
            (
                "dataset.synthetic.subgenres_per_genre",
                s.subgenres_per_genre,
            ),
            ("dataset.synthetic.albums_per_artist", s.albums_per_artist),
            ("dataset.synthetic.tracks_per_album", s.tracks_per_album),
        ] {
            if lo == 0 || lo > hi {
                bad(
                    key,
                    format!("expected [min, max] with 1 ≤ min ≤ max, got [{lo}, {hi}]"),
                );
            }
        }
        if !(s.clip_seconds > 0.0 && s.clip_seconds <= 600.0) {
            bad(
                "dataset.synthetic.clip_seconds",
                format!(
                    "expected a length in (0, 600] seconds, got {}",
                    s.clip_seconds
                ),
            );
        }
        if s.sample_rate < 8000 {
            bad(
                "dataset.synthetic.sample_rate",
                format!("expected at least 8000 Hz, got {}", s.sample_rate),
            );
        }
        let f = &self.frontend;
        check_frontend("frontend", f, &mut bad);
        if self.dataset.source == DataSource::Synthetic && f.sample_rate != s.sample_rate {
            bad(
                "frontend.sample_rate",
                format!(
                    "expected the synthetic world's rate {} Hz (resampling arrives with the audio front end), got {}",
                    s.sample_rate, f.sample_rate
                ),
            );
        }
        let d = &self.descriptors;
        if d.n_fft < 16 || !d.n_fft.is_multiple_of(2) {
            bad(
                "descriptors.n_fft",
                format!("expected an even FFT size ≥ 16, got {}", d.n_fft),
            );
        }
        if d.hop_length < 32 {
            bad("descriptors.hop_length", format!("expected a hop of at least 32 samples (the tempo estimate autocorrelates 8 s of frames), got {}", d.hop_length));
        }
        // Spectral contrast's lowest band is 0–200 Hz and needs two FFT bins in it; its top
        // band edge, 6.4 kHz, must lie below Nyquist.
        if (d.n_fft as f64) < f.sample_rate as f64 / 100.0 {
            bad("descriptors.n_fft", format!("expected at least sample_rate/100 = {} so that 0–200 Hz holds two FFT bins, got {}", f.sample_rate / 100, d.n_fft));
        }
        if f.sample_rate <= 12_800 {
            bad("frontend.sample_rate", format!("expected more than 12,800 Hz: the descriptor set's spectral contrast has a band edge at 6.4 kHz, got {}", f.sample_rate));
        }
        if self.dataset.source == DataSource::Fma {
            match &self.dataset.fma {
                None => bad("dataset.fma", "expected a [dataset.fma] section with `root` and `subset` when source = \"fma\"".into()),
                Some(fma) => {
                    if fma.min_seconds.is_nan() || fma.min_seconds < 0.0 {
                        bad("dataset.fma.min_seconds", format!("expected seconds ≥ 0, got {}", fma.min_seconds));
                    }
                }
            }
        }
        let n = &self.noise;
        if !(0.0..=1.0).contains(&n.rate) {
            bad(
                "noise.rate",
                format!("expected a probability in [0, 1], got {}", n.rate),
            );
        }
        if n.kind == NoiseKind::Pairwise && n.pairs.is_empty() {
            bad(
                "noise.pairs",
                "expected at least one [from, to] genre pair for kind = \"pairwise\"".into(),
            );
        }
        if n.kind != NoiseKind::None && n.rate == 0.0 {
            bad(
                "noise.rate",
                format!(
                    "noise kind {:?} with rate 0 injects nothing; set a rate or kind = \"none\"",
                    n.kind
                )
                .to_lowercase(),
            );
        }
        let sp = &self.split;
        for (key, v) in [
            ("split.train", sp.train),
            ("split.validation", sp.validation),
            ("split.test", sp.test),
        ] {
            if !(v > 0.0 && v < 1.0) {
                bad(key, format!("expected a fraction in (0, 1), got {v}"));
            }
        }
        let total = sp.train + sp.validation + sp.test;
        if (total - 1.0).abs() > 1e-6 {
            bad(
                "split",
                format!("expected train + validation + test = 1, got {total}"),
            );
        }
        let m = &self.model;
        if m.epochs == 0 {
            bad("model.epochs", "expected at least 1 epoch".into());
        }
        if m.learning_rate.is_nan() || m.learning_rate <= 0.0 {
            bad(
                "model.learning_rate",
                format!("expected a learning rate > 0, got {}", m.learning_rate),
            );
        }
        if m.l2 < 0.0 {
            bad("model.l2", format!("expected l2 ≥ 0, got {}", m.l2));
        }
        self.factor_problems(&mut bad);
        self.cnn_problems(&mut bad);
        let c = self.metrics.log_loss_clip;
        if !(c > 0.0 && c < 0.5) {
            bad(
                "metrics.log_loss_clip",
                format!("expected a clip in (0, 0.5), got {c}"),
            );
        }
        out
    }

    /// Problems of `[cnn]`, `[transfer]` and `device`.
    fn cnn_problems(&self, bad: &mut dyn FnMut(&str, String)) {
        let d = self.device.as_str();
        let cuda_ok = d
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<usize>().is_ok());
        if !(d == "auto" || d == "cpu" || cuda_ok) {
            bad(
                "device",
                format!("expected \"auto\", \"cpu\" or \"cuda:N\", got {d:?}"),
            );
        }
        let Some(c) = &self.cnn else {
            return;
        };
        for (key, v) in [
            ("cnn.batch_size", c.batch_size),
            ("cnn.epochs", c.epochs),
            ("cnn.patch_frames", c.patch_frames),
            ("cnn.window_hop", c.window_hop),
        ] {
            if v == 0 {
                bad(key, "expected at least 1, got 0".into());
            }
        }
        if !(c.learning_rate.is_finite() && c.learning_rate > 0.0) {
            bad(
                "cnn.learning_rate",
                format!("expected a learning rate > 0, got {}", c.learning_rate),
            );
        }
        for (key, v) in [("cnn.l2", c.l2), ("cnn.weight_decay", c.weight_decay)] {
            if !(v.is_finite() && v >= 0.0) {
                bad(key, format!("expected a finite value ≥ 0, got {v}"));
            }
        }
        let cfg = c.config();
        if cfg.blocks.is_empty() {
            bad("cnn.blocks", "expected at least one conv block".into());
        }
        for (i, b) in cfg.blocks.iter().enumerate() {
            if b.channels == 0 || b.kernel.iter().any(|k| k % 2 == 0) {
                bad(&format!("cnn.blocks[{i}]"), format!("expected channels ≥ 1 and odd kernel sizes ('same' padding), got {} channels, kernel {:?}", b.channels, b.kernel));
            }
            if !(0.0..1.0).contains(&b.dropout) {
                bad(
                    &format!("cnn.blocks[{i}].dropout"),
                    format!("expected a rate in [0, 1), got {}", b.dropout),
                );
            }
        }
        // The pools must leave at least one cell of the patch.
        let (mut h, mut w) = (self.frontend.n_mels, c.patch_frames);
        for b in &cfg.blocks {
            if let Some([ph, pw]) = b.pool {
                h /= ph.max(1);
                w /= pw.max(1);
            }
        }
        if h == 0 || w == 0 {
            bad("cnn.patch_frames", format!("the pools shrink a {} mel × {} frame patch to nothing; use more frames or fewer pools", self.frontend.n_mels, c.patch_frames));
        }
        let names: std::collections::HashSet<&str> =
            self.factors.iter().map(|f| f.name.as_str()).collect();
        for t in c.targets.iter().flatten() {
            if t != "genre" && !names.contains(t.as_str()) {
                bad(
                    "cnn.targets",
                    format!("{t:?} is neither \"genre\" nor a factor name"),
                );
            }
        }
        if let Some((field, problem)) = c.lr_schedule.problem() {
            bad(&format!("cnn.lr_schedule.{field}"), problem);
        }
        let targets = self.cnn_targets();
        match (c.mode, &c.task_probabilities) {
            (CnnMode::Separate, Some(_)) => bad(
                "cnn.task_probabilities",
                "applies only with mode = \"multitask\"".into(),
            ),
            (CnnMode::Multitask, _) if targets.len() < 2 => bad(
                "cnn.mode",
                format!("a multi-task net needs at least two targets, got {targets:?}"),
            ),
            (CnnMode::Multitask, Some(p)) => {
                let keys: Vec<&String> = p.keys().collect();
                let mut want: Vec<&String> = targets.iter().collect();
                want.sort();
                if keys != want {
                    bad(
                        "cnn.task_probabilities",
                        format!("expected one probability per target {targets:?}, got {keys:?}"),
                    );
                } else if p.values().any(|v| !(v.is_finite() && *v > 0.0))
                    || (p.values().sum::<f64>() - 1.0).abs() > 1e-6
                {
                    bad(
                        "cnn.task_probabilities",
                        format!(
                            "expected probabilities > 0 summing to 1, got a sum of {}",
                            p.values().sum::<f64>()
                        ),
                    );
                }
            }
            _ => {}
        }
        let t = &self.transfer;
        if t.hidden == 0 || t.epochs == 0 || t.batch_size == 0 {
            bad(
                "transfer",
                "expected hidden, epochs and batch_size ≥ 1".into(),
            );
        }
        if !(0.0..1.0).contains(&t.dropout) {
            bad(
                "transfer.dropout",
                format!("expected a rate in [0, 1), got {}", t.dropout),
            );
        }
        if !(t.learning_rate.is_finite() && t.learning_rate > 0.0) {
            bad(
                "transfer.learning_rate",
                format!("expected a learning rate > 0, got {}", t.learning_rate),
            );
        }
    }

    /// Multi-task: each target's chance of being an epoch's task, in `cnn_targets` order.
    pub fn task_probabilities(&self) -> Vec<f64> {
        let targets = self.cnn_targets();
        if let Some(p) = self
            .cnn
            .as_ref()
            .and_then(|c| c.task_probabilities.as_ref())
        {
            return targets
                .iter()
                .map(|t| p.get(t).copied().unwrap_or(0.0))
                .collect();
        }
        let has_genre = targets.iter().any(|t| t == "genre");
        let others = targets.len() - usize::from(has_genre);
        targets
            .iter()
            .map(|t| match (t == "genre", has_genre) {
                (true, _) => 0.5,
                (false, true) => 0.5 / others.max(1) as f64,
                (false, false) => 1.0 / targets.len() as f64,
            })
            .collect()
    }

    /// The nets `[cnn]` trains, in order: "genre" first, then factors.
    pub fn cnn_targets(&self) -> Vec<String> {
        match self.cnn.as_ref().and_then(|c| c.targets.clone()) {
            Some(t) => t,
            None => std::iter::once("genre".to_string())
                .chain(self.factors.iter().map(|f| f.name.clone()))
                .collect(),
        }
    }

    /// Problems of `[factor_frontend]` and the `[[factors]]` entries.
    fn factor_problems(&self, bad: &mut dyn FnMut(&str, String)) {
        let mut names = std::collections::HashSet::new();
        for (i, f) in self.factors.iter().enumerate() {
            let key = |k: &str| format!("factors[{i}].{k}");
            let valid_name = !f.name.is_empty()
                && f.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                bad(&key("name"), format!("expected a name of letters, digits, `_` or `-` (it names files and metrics), got {:?}", f.name));
            }
            if !names.insert(f.name.as_str()) {
                bad(
                    &key("name"),
                    format!(
                        "the factor name {:?} is used twice; names must be unique",
                        f.name
                    ),
                );
            }
            if f.features != FactorFeature::Subgenre && f.clusters == 0 {
                bad(&key("clusters"), "expected at least 1 cluster".into());
            }
            if f.topics == 0 {
                bad(&key("topics"), "expected at least 1 topic".into());
            }
            if f.features == FactorFeature::FmaFeatures && self.dataset.source != DataSource::Fma {
                bad(&key("features"), "features = \"fma_features\" reads FMA's features.csv; it needs dataset.source = \"fma\"".into());
            }
            let k = &f.kmeans;
            for (name, v) in [
                ("kmeans.n_init", k.n_init),
                ("kmeans.batch_size", k.batch_size),
                ("kmeans.max_iter", k.max_iter.unwrap_or(1)),
            ] {
                if v == 0 {
                    bad(&key(name), "expected at least 1, got 0".into());
                }
            }
            if let Some(t) = k.tol.filter(|t| !(t.is_finite() && *t >= 0.0)) {
                bad(
                    &key("kmeans.tol"),
                    format!("expected a tolerance ≥ 0, got {t}"),
                );
            }
            if !(0.0..=1.0).contains(&k.reassignment_ratio) {
                bad(
                    &key("kmeans.reassignment_ratio"),
                    format!(
                        "expected a fraction in [0, 1], got {}",
                        k.reassignment_ratio
                    ),
                );
            }
            let l = &f.lda;
            for (name, v) in [
                ("lda.doc_topic_prior", l.doc_topic_prior),
                ("lda.topic_word_prior", l.topic_word_prior),
            ] {
                if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
                    bad(&key(name), format!("expected a prior > 0, got {v}"));
                }
            }
            for (name, v) in [
                ("lda.max_iter", l.max_iter),
                ("lda.batch_size", l.batch_size),
                ("lda.max_doc_update_iter", l.max_doc_update_iter),
            ] {
                if v == 0 {
                    bad(&key(name), "expected at least 1, got 0".into());
                }
            }
            if !(l.learning_decay > 0.0 && l.learning_decay <= 1.0) {
                bad(
                    &key("lda.learning_decay"),
                    format!("expected a decay in (0, 1], got {}", l.learning_decay),
                );
            }
            for (name, v) in [
                ("lda.learning_offset", l.learning_offset),
                ("lda.mean_change_tol", l.mean_change_tol),
                ("lda.perp_tol", l.perp_tol),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    bad(&key(name), format!("expected a finite value ≥ 0, got {v}"));
                }
            }
        }
        if self.factors.iter().any(|f| f.features.is_frame_level()) {
            let ff = &self.factor_frontend;
            for (name, v) in [
                ("fmin", Some(ff.fmin)),
                ("fmax", ff.fmax),
                ("power", Some(ff.power)),
                ("amin", Some(ff.amin)),
                ("reference", Some(ff.reference)),
                ("top_db", ff.top_db),
            ] {
                if let Some(v) = v.filter(|v| !v.is_finite()) {
                    bad(
                        &format!("factor_frontend.{name}"),
                        format!("expected a finite number, got {v}"),
                    );
                }
            }
            check_frontend("factor_frontend", ff, bad);
            if ff.sample_rate != self.frontend.sample_rate {
                bad("factor_frontend.sample_rate", format!("expected the front end's rate {} Hz (audio is decoded once, at that rate), got {}", self.frontend.sample_rate, ff.sample_rate));
            }
        }
    }

    /// The resolved spec as TOML: every default written out. Its hash identifies the spec.
    pub fn canonical_toml(&self) -> String {
        toml::to_string(self).expect("a resolved spec always serialises to TOML")
    }

    /// SHA-256 of the canonical text, hex.
    pub fn hash(&self) -> String {
        hex(&Sha256::digest(self.canonical_toml().as_bytes()))
    }

    /// The resolved spec as dotted `key = value` pairs, in canonical order, for the store.
    pub fn flat_params(&self) -> Vec<(String, String)> {
        let value = toml::Value::try_from(self).expect("a resolved spec converts to a TOML value");
        let mut out = Vec::new();
        flatten("", &value, &mut out);
        out
    }

    /// Noise seed after resolution.
    pub fn noise_seed(&self) -> u64 {
        self.noise.seed.unwrap_or(self.seed)
    }

    /// Split seed after resolution.
    pub fn split_seed(&self) -> u64 {
        self.split.seed.unwrap_or(self.seed)
    }
}

/// The checks every front end gets (`[frontend]` and `[factor_frontend]`).
fn check_frontend(prefix: &str, f: &FrontendSpec, bad: &mut dyn FnMut(&str, String)) {
    if f.sample_rate < 8000 {
        bad(
            &format!("{prefix}.sample_rate"),
            format!("expected at least 8000 Hz, got {}", f.sample_rate),
        );
    }
    if f.n_fft < 16 || !f.n_fft.is_multiple_of(2) {
        bad(
            &format!("{prefix}.n_fft"),
            format!("expected an even FFT size ≥ 16, got {}", f.n_fft),
        );
    }
    if f.hop_length == 0 {
        bad(
            &format!("{prefix}.hop_length"),
            "expected a hop of at least 1 sample, got 0".into(),
        );
    }
    if f.n_mels == 0 || f.n_mels > f.n_fft / 2 + 1 {
        bad(
            &format!("{prefix}.n_mels"),
            format!(
                "expected 1 ≤ n_mels ≤ n_fft/2+1 = {}, got {}",
                f.n_fft / 2 + 1,
                f.n_mels
            ),
        );
    }
    let nyquist = f.sample_rate as f64 / 2.0;
    let fmax = f.fmax.unwrap_or(nyquist);
    if fmax > nyquist || fmax <= f.fmin || f.fmin < 0.0 {
        bad(
            &format!("{prefix}.fmax"),
            format!(
                "expected 0 ≤ fmin < fmax ≤ Nyquist ({nyquist} Hz), got fmin {} and fmax {fmax}",
                f.fmin
            ),
        );
    }
    if !(f.power == 1.0 || f.power == 2.0) {
        bad(
            &format!("{prefix}.power"),
            format!("expected 1 (magnitude) or 2 (power), got {}", f.power),
        );
    }
    if f.reference.is_nan() || f.reference <= 0.0 {
        bad(
            &format!("{prefix}.reference"),
            format!("expected a dB reference > 0, got {}", f.reference),
        );
    }
    if f.amin <= 0.0 {
        bad(
            &format!("{prefix}.amin"),
            format!("expected amin > 0, got {}", f.amin),
        );
    }
    if let Some(t) = f.top_db {
        if t <= 0.0 {
            bad(
                &format!("{prefix}.top_db"),
                format!("expected top_db > 0, got {t}"),
            );
        }
    }
    if f.n_mfcc == 0 || f.n_mfcc > f.n_mels {
        bad(
            &format!("{prefix}.n_mfcc"),
            format!(
                "expected 1 ≤ n_mfcc ≤ n_mels = {}, got {}",
                f.n_mels, f.n_mfcc
            ),
        );
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

fn snippet(text: &str, line: usize, column: usize) -> String {
    let src = text.lines().nth(line - 1).unwrap_or("");
    let gutter = line.to_string();
    format!(
        "{pad} |\n{gutter} | {src}\n{pad} | {caret:>width$}",
        pad = " ".repeat(gutter.len()),
        caret = "^",
        width = column
    )
}

/// Where a dotted key is written in the TOML text: the line and column of `key =` inside its
/// table, or of the table header for a whole section. A best-effort textual scan, good for
/// the ordinary hand-written spec; `None` when the key is absent (a default was used).
pub fn locate_key(text: &str, dotted: &str) -> Option<(usize, usize)> {
    let (exact, headers) = scan_keys(text, dotted);
    if exact.is_some() {
        return exact;
    }
    // The key itself is not written (a default, or an inline table): point at the closest
    // enclosing table that is.
    let mut path = dotted;
    loop {
        if let Some(at) = headers.get(path) {
            return Some(*at);
        }
        path = path.rsplit_once('.')?.0;
    }
}

/// Whether `dotted` is written in `text` as a `key = value` line.
fn key_written(text: &str, dotted: &str) -> bool {
    scan_keys(text, dotted).0.is_some()
}

type Headers = std::collections::HashMap<String, (usize, usize)>;

/// Where `dotted` is written as `key =`, and where every table header is.
fn scan_keys(text: &str, dotted: &str) -> (Option<(usize, usize)>, Headers) {
    let (table, leaf) = match dotted.rsplit_once('.') {
        Some((t, l)) => (t, l),
        None => ("", dotted),
    };
    let mut current = String::new();
    // Where each table's header is; entries of arrays of tables are `name[i]`.
    let mut headers = Headers::default();
    let mut arrays: std::collections::HashMap<String, usize> = Default::default();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        let indent = raw.len() - trimmed.len();
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            current = if rest.starts_with('[') {
                let n = arrays.entry(name.to_string()).or_insert(0);
                *n += 1;
                format!("{name}[{}]", *n - 1)
            } else {
                // `[factors.kmeans]` after `[[factors]]` belongs to the latest entry.
                match name.split_once('.') {
                    Some((head, tail)) if arrays.contains_key(head) => {
                        format!("{head}[{}].{tail}", arrays[head] - 1)
                    }
                    _ => name.to_string(),
                }
            };
            headers
                .entry(current.clone())
                .or_insert((i + 1, indent + 1));
            continue;
        }
        if current == table {
            if let Some((k, _)) = trimmed.split_once('=') {
                if k.trim().trim_matches('"') == leaf {
                    return (Some((i + 1, indent + 1)), headers);
                }
            }
        }
    }
    (None, headers)
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
seed = 3

[dataset]
source = "synthetic"

[split]
strategy = "artist"

[model]
kind = "logreg"
"#;

    fn parse(text: &str) -> Result<ExperimentSpec, SpecError> {
        ExperimentSpec::parse(text, Path::new("exp.toml"))
    }

    #[test]
    fn defaults_are_resolved_and_printed_back() {
        let spec = parse(GOOD).unwrap();
        assert_eq!(spec.frontend.fmax, Some(11025.0));
        assert_eq!(spec.split_seed(), 3);
        let text = spec.canonical_toml();
        assert!(text.contains("fmax = 11025.0"), "{text}");
        // The canonical text is a fixed point: parsing it gives the same spec and hash.
        let again = parse(&text).unwrap();
        assert_eq!(again, spec);
        assert_eq!(again.hash(), spec.hash());
        let other = parse(&GOOD.replace("seed = 3", "seed = 4")).unwrap();
        assert_ne!(other.hash(), spec.hash());
    }

    #[test]
    fn unknown_key_names_file_line_column_and_expected_keys() {
        let text = GOOD.replace("kind = \"logreg\"", "kind = \"logreg\"\nepoch = 3");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.starts_with("exp.toml:13:1: unknown field `epoch`, expected one of"),
            "{err}"
        );
        assert!(err.contains("`epochs`"), "{err}");
    }

    #[test]
    fn wrong_type_and_missing_section() {
        let err = parse(&GOOD.replace("seed = 3", "seed = \"three\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("exp.toml:3:8: invalid type: string \"three\", expected u64"),
            "{err}"
        );
        let err = parse(&GOOD.replace("[model]\nkind = \"logreg\"", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `model`"), "{err}");
        assert!(err.starts_with("exp.toml:"), "{err}");
    }

    #[test]
    fn semantic_problems_are_all_reported_with_lines() {
        let text = GOOD.replace(
            "strategy = \"artist\"",
            "strategy = \"artist\"\ntrain = 0.9",
        ) + "\n[frontend]\nhop_length = 0\nn_mels = 4000\n";
        let err = parse(&text).unwrap_err();
        let SpecError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["frontend.hop_length", "frontend.n_mels", "split"]);
        assert_eq!(problems[0].line, Some(16));
        let msg = err.to_string();
        assert!(
            msg.contains(
                "exp.toml:16:1: frontend.hop_length: expected a hop of at least 1 sample, got 0"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("expected train + validation + test = 1, got 1.2"),
            "{msg}"
        );
    }

    #[test]
    fn non_finite_and_degenerate_parameters_are_refused() {
        let text = GOOD.to_string() + "\n[frontend]\nfmin = nan\n\n[descriptors]\nhop_length = 8\n";
        let err = parse(&text).unwrap_err();
        let SpecError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"frontend.fmin"), "{keys:?}");
        assert!(keys.contains(&"descriptors.hop_length"), "{keys:?}");
        assert!(
            err.to_string()
                .contains("frontend.fmin: expected a finite number, got NaN"),
            "{err}"
        );
    }

    #[test]
    fn flat_params_cover_every_leaf() {
        let spec = parse(GOOD).unwrap();
        let params = spec.flat_params();
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("split.strategy").as_deref(), Some("artist"));
        assert_eq!(get("frontend.n_mels").as_deref(), Some("64"));
        assert_eq!(
            get("dataset.synthetic.albums_per_artist").as_deref(),
            Some("[1, 4]")
        );
    }
}
