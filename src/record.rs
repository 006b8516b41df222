//! The vocabulary results are recorded in: run ids, the names of models, of the splits they
//! are scored on and of the metrics, and the one epoch record that goes from a training loop
//! to the store and back to a report.
//!
//! Stages produce these, the store keeps them and the report reads them; living here, below
//! all three, each name is written once and no layer has to import another's to agree on it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A run's id in the store.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A numbered id (FMA's track, artist, album and genre numbers), its own type.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}
pub(crate) use id_type;

id_type!(
    /// A track, as FMA numbers them.
    TrackId
);
id_type!(
    /// An artist.
    ArtistId
);
id_type!(
    /// An album (FMA uses −1 for "no album"; such tracks get an album of their own).
    AlbumId
);

/// What a row of results belongs to: a trained model, a factor's fit, or the run's data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelName {
    /// Counts and facts about the run's dataset and split (`dataset`).
    Dataset,
    /// The classical baseline on track-level features (`logreg`).
    Baseline,
    /// A CNN, named after what it learns: `cnn.genre`, `cnn.<factor>`, or `cnn.multitask`
    /// for the one trunk with a head per target.
    Net(String),
    /// The MLP over the frozen nets' taps (`transfer`).
    Transfer,
    /// One Artist Group Factor's fit (`agf.<name>`).
    Factor(String),
    /// The label-noise audit's counts and truth scores (`audit`).
    Audit,
    /// The baseline trained again on other training labels: `logreg.cleaned` (the audit's
    /// cleaned labels) or `logreg.true` (the true genres, generated worlds only).
    BaselineOn(String),
}

impl ModelName {
    const NET: &'static str = "cnn.";
    const FACTOR: &'static str = "agf.";
    const BASELINE_ON: &'static str = "logreg.";

    /// The net a spec target trains ("genre" or a factor name).
    pub fn net(target: &str) -> ModelName {
        ModelName::Net(target.to_string())
    }

    /// Read a stored name back; `None` for names no version of agf writes.
    pub fn parse(s: &str) -> Option<ModelName> {
        match s {
            "dataset" => Some(ModelName::Dataset),
            "logreg" => Some(ModelName::Baseline),
            "transfer" => Some(ModelName::Transfer),
            "audit" => Some(ModelName::Audit),
            _ => {
                if let Some(l) = s.strip_prefix(Self::BASELINE_ON).filter(|l| !l.is_empty()) {
                    return Some(ModelName::BaselineOn(l.to_string()));
                }
                if let Some(t) = s.strip_prefix(Self::NET).filter(|t| !t.is_empty()) {
                    Some(ModelName::Net(t.to_string()))
                } else {
                    s.strip_prefix(Self::FACTOR)
                        .filter(|t| !t.is_empty())
                        .map(|t| ModelName::Factor(t.to_string()))
                }
            }
        }
    }

    /// The factor's name, for a factor's row.
    pub fn factor(&self) -> Option<&str> {
        match self {
            ModelName::Factor(f) => Some(f),
            _ => None,
        }
    }
}

/// A stored name no version of agf writes.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {name:?}")]
pub struct UnknownName {
    what: &'static str,
    name: String,
}

impl TryFrom<String> for ModelName {
    type Error = UnknownName;
    fn try_from(name: String) -> Result<Self, UnknownName> {
        ModelName::parse(&name).ok_or(UnknownName {
            what: "model",
            name,
        })
    }
}

impl Serialize for ModelName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelName::Dataset => f.write_str("dataset"),
            ModelName::Baseline => f.write_str("logreg"),
            ModelName::Transfer => f.write_str("transfer"),
            ModelName::Net(t) => write!(f, "{}{t}", Self::NET),
            ModelName::Factor(n) => write!(f, "{}{n}", Self::FACTOR),
            ModelName::Audit => f.write_str("audit"),
            ModelName::BaselineOn(l) => write!(f, "{}{l}", Self::BASELINE_ON),
        }
    }
}

/// Which tracks (and which labels) a row of results is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitKey {
    Train,
    Validation,
    Test,
    /// The test predictions scored against the true genres (generated worlds only), so that
    /// label noise can be told apart from model error.
    TestClean,
    /// Not about one split: a factor's fit, the dataset as a whole.
    All,
}

impl SplitKey {
    pub const SCORED: [SplitKey; 4] = [
        SplitKey::Train,
        SplitKey::Validation,
        SplitKey::Test,
        SplitKey::TestClean,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SplitKey::Train => "train",
            SplitKey::Validation => "validation",
            SplitKey::Test => "test",
            SplitKey::TestClean => "test_clean",
            SplitKey::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<SplitKey> {
        [
            SplitKey::Train,
            SplitKey::Validation,
            SplitKey::Test,
            SplitKey::TestClean,
            SplitKey::All,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl TryFrom<String> for SplitKey {
    type Error = UnknownName;
    fn try_from(name: String) -> Result<Self, UnknownName> {
        SplitKey::parse(&name).ok_or(UnknownName {
            what: "split",
            name,
        })
    }
}

impl fmt::Display for SplitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names of the metrics that more than one layer reads or writes.
pub mod metric {
    /// The label audit's estimated noise matrix, `audit_noise.<given>.<true>` (model `audit`).
    pub const AUDIT_NOISE: &str = "audit_noise";
    /// The true noise matrix where known, `audit_true_noise.<given>.<true>`.
    pub const AUDIT_TRUE_NOISE: &str = "audit_true_noise";
    /// The fact holding the albums likeliest mislabelled, as JSON.
    pub const AUDIT_ALBUMS_FACT: &str = "audit.albums";
    /// The fact naming the model whose out-of-fold probabilities the audit read
    /// (`baseline`, `genre_cnn`, `transfer`).
    pub const AUDIT_MODEL_FACT: &str = "audit.model";
    pub const LOG_LOSS: &str = "log_loss";
    pub const LOG_LOSS_CLIP: &str = "log_loss_clip";
    pub const MACRO_F1: &str = "macro_f1";
    pub const ACCURACY: &str = "accuracy";
    pub const N_TRACKS: &str = "n_tracks";
    pub const BEST_EPOCH: &str = "best_epoch";
    pub const BEST_VALIDATION_LOSS: &str = "best_validation_loss";
    pub const EPOCHS_RUN: &str = "epochs_run";
    pub const PERPLEXITY: &str = "perplexity";
    pub const HELD_OUT_PERPLEXITY: &str = "held_out_perplexity";
    pub const NMI_ARTIST_GROUP: &str = "nmi_artist_group";
    pub const VOCABULARY: &str = "vocabulary";
    pub const TOPICS: &str = "topics";
    /// Artists among the scored tracks (the test split's, for the bootstrap below).
    pub const N_ARTISTS: &str = "n_artists";

    /// The names of a score's 95% interval from a bootstrap over the test set's artists:
    /// `log_loss.artist_low`, `log_loss.artist_high`.
    pub fn artist_interval(score: &str) -> [String; 2] {
        [
            format!("{score}.artist_low"),
            format!("{score}.artist_high"),
        ]
    }
}

/// One training epoch, as a training loop reports it, the store keeps it and a report reads
/// it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean loss over the epoch's training batches (NaN when unknown).
    pub train_loss: f64,
    /// Loss on the validation tracks after the epoch (NaN when unknown).
    pub validation_loss: f64,
    /// The rate the epoch ran at, for models with a schedule.
    #[serde(default)]
    pub learning_rate: Option<f64>,
    /// The target a multi-task net trained on in this epoch.
    #[serde(default)]
    pub task: Option<String>,
}

/// One track of a run, as its data stage saw it: the artist and album that a bootstrap over
/// artists and the label-noise audit group by, the split it went to, its published label
/// and, on generated worlds, its true genre.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunTrack {
    pub track: TrackId,
    pub artist: ArtistId,
    pub album: AlbumId,
    pub split: SplitKey,
    /// Class index of the label as published (before injected noise).
    pub published: usize,
    pub true_label: Option<usize>,
}

/// One track's predicted class probabilities from one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub track: TrackId,
    pub split: SplitKey,
    /// The label it is scored against: the training labels (injected noise included) on
    /// the training and validation splits, the published one on test.
    pub label: usize,
    /// The true genre, where the dataset knows it (generated worlds).
    pub true_label: Option<usize>,
    /// In class-index order.
    pub probabilities: Vec<f32>,
}

impl Prediction {
    /// The most probable class (the first on ties).
    pub fn predicted(&self) -> usize {
        let mut best = 0;
        for (i, p) in self.probabilities.iter().enumerate() {
            if *p > self.probabilities[best] {
                best = i;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in [
            ModelName::Dataset,
            ModelName::Baseline,
            ModelName::Transfer,
            ModelName::net("genre"),
            ModelName::net("multitask"),
            ModelName::Factor("mfcc".into()),
        ] {
            assert_eq!(ModelName::parse(&m.to_string()), Some(m));
        }
        assert_eq!(ModelName::Factor("x".into()).to_string(), "agf.x");
        assert_eq!(ModelName::parse("cnn."), None);
        for s in SplitKey::SCORED {
            assert_eq!(SplitKey::parse(s.as_str()), Some(s));
        }
    }
}
