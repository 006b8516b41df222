//! Artist Group Factors: a K-Means dictionary over track features, one bag of words per
//! artist, LDA over the bags; each artist's topic vector is its AGF, the training target
//! of every one of its tracks (`../shared/docs/AGF-METHOD.md` §1–2).
//!
//! [`kmeans`] and [`lda`] are general; [`bags`] turns words into artist documents;
//! [`stage`] runs one `[[factors]]` entry over a dataset through the cache; [`table`] is
//! its output.

pub mod bags;
pub mod kmeans;
pub mod lda;
pub mod nearest;
pub mod special;
pub mod stage;
pub mod table;
pub mod vectors;

pub use stage::{run_factor, FactorInputs, FactorOutcome};
pub use table::{FactorSummary, FactorTable};

#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    #[error("{0}")]
    Invalid(String),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("cannot write {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}
