//! Evaluation: classification metrics from predicted probabilities and labels, and the
//! statistics that compare them across seeds and test sets (bootstrap intervals, the exact
//! signed-rank test, Holm's correction). Knows nothing of training or storage.

pub mod bootstrap;
pub mod by_artist;
pub mod clustering;
pub mod holm;
pub mod metrics;
pub mod summary;
pub mod wilcoxon;

pub use metrics::{ClassMetrics, Evaluation};
