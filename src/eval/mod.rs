//! Evaluation: classification metrics from predicted probabilities and labels.
//! Knows nothing of training or storage.

pub mod clustering;
pub mod metrics;

pub use metrics::{ClassMetrics, Evaluation};
