//! Evaluation: classification metrics from predicted probabilities and labels, and the
//! statistics that compare them across seeds and test sets: intervals valid at a handful of
//! seeds (Student's t, BCa), percentile bootstraps over a test set's artists, the exact
//! signed-rank test, Holm's correction, rliable's robust aggregates (IQM, probability of
//! improvement, performance profiles with stratified bootstrap intervals), the Friedman
//! test for ranking arms, variance split by its sources and factorial effects. Knows
//! nothing of training or storage.

pub mod bootstrap;
pub mod by_artist;
pub mod clustering;
pub mod dist;
pub mod factorial;
pub mod friedman;
pub mod holm;
pub mod metrics;
pub mod robust;
pub mod small_n;
pub mod special;
pub mod summary;
pub mod variance;
pub mod wilcoxon;

pub use metrics::{ClassMetrics, Evaluation};
