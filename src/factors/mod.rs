//! Artist Group Factors: a K-Means dictionary over track features, one bag of words per
//! artist, LDA over the bags; each artist's topic vector is its AGF, the training target
//! of every one of its tracks (`../shared/docs/AGF-METHOD.md` §1–2).
//!
//! [`kmeans`] and [`lda`] are general and own their parameters' defaults; [`bags`] turns
//! words into artist documents; [`fit`] goes from tracks' words to every artist's topics;
//! [`table`] is a factor's output. Running a `[[factors]]` entry over a dataset, through the
//! cache, is `stages::factors`.

pub mod bags;
pub mod fit;
pub mod kmeans;
pub mod lda;
pub mod nearest;
pub mod special;
pub mod table;

pub use table::{FactorSummary, FactorTable};

/// The authors' dictionary size (AGF-METHOD.md §2).
pub const AUTHORS_CLUSTERS: usize = 2048;
/// The authors' number of topics, one AGF's width.
pub const AUTHORS_TOPICS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    #[error("{0}")]
    Invalid(String),
    #[error("tensor computation failed")]
    Candle(#[from] candle_core::Error),
}
