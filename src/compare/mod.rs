//! Comparisons read from the store: a sweep's arms over seeds (means, bootstrap intervals,
//! paired differences to the baseline arm, exact signed-rank tests with Holm's correction),
//! a run's test-set uncertainty from a bootstrap over its artists, two runs side by side,
//! and runs filtered and grouped by their parameters. The numbers only: the command line
//! prints them and [`crate::report`] draws them.

pub mod arm;
pub mod card;
pub mod design;
pub mod runs;
pub mod sweep;
pub mod verdict;

use crate::record::{metric, SplitKey};
use crate::store::StoreError;

pub use arm::Arm;

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no sweep named {name:?} in the store (`agf sweeps` lists them)")]
    NoSuchSweep { name: String },
    #[error("`--where {given}`: expected key=value, e.g. split.strategy=artist")]
    Filter { given: String },
}

/// A test score of a genre model, and which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Score {
    pub split: SplitKey,
    pub name: &'static str,
    /// For people: `test log loss`, `clean macro-F1`.
    pub label: &'static str,
    pub lower_is_better: bool,
}

impl Score {
    /// Whether `a` is a better score than `b`.
    pub fn better(&self, a: f64, b: f64) -> bool {
        if self.lower_is_better {
            a < b
        } else {
            a > b
        }
    }

    /// `a − b` turned so that a positive number is an improvement.
    pub fn gain(&self, a: f64, b: f64) -> f64 {
        if self.lower_is_better {
            b - a
        } else {
            a - b
        }
    }
}

/// The scores a comparison reports, published test labels first, then (on generated worlds)
/// the same predictions against the true genres.
pub const SCORES: [Score; 6] = [
    Score {
        split: SplitKey::Test,
        name: metric::LOG_LOSS,
        label: "test log loss",
        lower_is_better: true,
    },
    Score {
        split: SplitKey::Test,
        name: metric::MACRO_F1,
        label: "test macro-F1",
        lower_is_better: false,
    },
    Score {
        split: SplitKey::Test,
        name: metric::ACCURACY,
        label: "test accuracy",
        lower_is_better: false,
    },
    Score {
        split: SplitKey::TestClean,
        name: metric::LOG_LOSS,
        label: "clean log loss",
        lower_is_better: true,
    },
    Score {
        split: SplitKey::TestClean,
        name: metric::MACRO_F1,
        label: "clean macro-F1",
        lower_is_better: false,
    },
    Score {
        split: SplitKey::TestClean,
        name: metric::ACCURACY,
        label: "clean accuracy",
        lower_is_better: false,
    },
];

pub use crate::eval::bootstrap::BOOTSTRAP_SEED;
