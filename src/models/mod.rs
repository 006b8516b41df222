//! Models trained by the pipeline. Training loops report each epoch through a caller's
//! callback, so this module never learns about storage or progress bars.

pub mod logreg;
pub mod standardize;

pub use logreg::{LogisticRegression, TrainSummary};
pub use standardize::Standardizer;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("cannot train on an empty {0} set")]
    Empty(&'static str),
    #[error("training diverged at epoch {epoch}: loss is {loss}; lower model.learning_rate")]
    Diverged { epoch: usize, loss: f64 },
}

/// One epoch as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
}
