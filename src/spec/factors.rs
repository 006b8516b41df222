//! `[[factors]]`: one Artist Group Factor each (features → K-Means dictionary → artist bags
//! → LDA topics).
//!
//! The K-Means and LDA keys a spec leaves out are filled with the defaults `factors` owns
//! (the resolved spec writes them out), so this module only says what may be written.

use serde::{Deserialize, Serialize};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KMeansAlgorithm {
    /// Full passes over every vector until the centres settle.
    Lloyd,
    /// Random mini-batches (the authors' MiniBatchKMeans).
    MiniBatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LdaMethod {
    /// Every iteration E-steps all documents, then sets the topics (scikit-learn's default).
    Batch,
    /// Mini-batches of documents, each moving the topics by a decaying step.
    Online,
}

/// The K-Means dictionary of one factor. Omitted keys take `factors::kmeans`' defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KMeansSpec {
    pub algorithm: Option<KMeansAlgorithm>,
    pub n_init: Option<usize>,
    /// Lloyd iterations, or mini-batch passes over the data.
    pub max_iter: Option<usize>,
    /// Relative tolerance on the centre shift (0 = off).
    pub tol: Option<f64>,
    pub batch_size: Option<usize>,
    /// Rows drawn for k-means++ (omitted: chosen from the row count and algorithm).
    pub init_size: Option<usize>,
    pub reassignment_ratio: Option<f64>,
    pub max_no_improvement: Option<usize>,
    /// Standardise each feature (over the fitted tracks) before clustering; the authors did
    /// not, so large-valued features dominate the distances unless this is set.
    pub scale: bool,
}

/// The LDA of one factor. Omitted keys take `factors::lda`'s defaults (scikit-learn's of
/// 2018; the priors 1/topics).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdaSpec {
    pub method: Option<LdaMethod>,
    /// α.
    pub doc_topic_prior: Option<f64>,
    /// η.
    pub topic_word_prior: Option<f64>,
    pub max_iter: Option<usize>,
    /// Documents per online update.
    pub batch_size: Option<usize>,
    pub learning_decay: Option<f64>,
    pub learning_offset: Option<f64>,
    pub mean_change_tol: Option<f64>,
    pub max_doc_update_iter: Option<usize>,
    /// Record the perplexity every this many iterations and stop when it moves less than
    /// `perp_tol`; 0 = never during the fit (the final perplexity is always recorded).
    pub evaluate_every: Option<usize>,
    pub perp_tol: Option<f64>,
}

/// One Artist Group Factor: features → dictionary → artist bags → LDA topics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorSpec {
    /// Names the factor in the store, the cache and exported files (letters, digits, `_`, `-`).
    pub name: String,
    pub features: FactorFeature,
    /// Dictionary size (ignored for `subgenre`, whose words are genre ids).
    #[serde(default)]
    pub clusters: Option<usize>,
    #[serde(default)]
    pub topics: Option<usize>,
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

fn default_bag_norm() -> BagNorm {
    BagNorm::PerTrack
}
