//! The stages of a run, one file each: [`data`] (dataset, split, injected noise),
//! [`features`] (track-level vectors and log-mels), [`frames`] (frame-level factor inputs),
//! [`factors`] (the Artist Group Factors), [`baseline`] (the classical model) and [`nets`]
//! (the CNNs and the transfer model); [`resolve`] turns a spec into each stage's parameters,
//! [`scoring`] scores a genre model the same way for every stage that trains one, and
//! [`lock`] makes one process compute an entry while others wait for it.
//!
//! A stage takes resolved parameters and what earlier stages returned, returns its output
//! (from the stage cache when its key is there), and reports what it measured through a
//! [`Recorder`] the caller passes in. Stages know nothing of SQL, run ids or HTML: the
//! pipeline decides which stages a run needs, runs each once, and records through the store.

pub mod baseline;
pub mod data;
pub mod factors;
pub mod features;
pub mod frames;
pub mod lock;
pub mod nets;
pub mod oof;
pub mod recipe;
pub mod resolve;
pub mod scoring;

use crate::data::TrackId;
use crate::eval::Evaluation;
use crate::record::{Epoch, ModelName, Prediction, RunTrack, SplitKey};
use std::path::{Path, PathBuf};

pub use resolve::{load_spec, parse_spec};

/// Where a stage's measurements go. The pipeline's recorder writes them to the store and
/// the run's folder.
pub trait Recorder {
    /// The class names, in class-index order.
    fn classes(&mut self, names: &[String]) -> Result<(), RecordError>;
    /// Scalar results of one model (or the dataset, or a factor) on one split.
    fn metrics(
        &mut self,
        model: &ModelName,
        split: SplitKey,
        values: &[(&str, f64)],
    ) -> Result<(), RecordError>;
    /// Textual facts about the run (its dataset, its split's hash, where files went).
    fn facts(&mut self, facts: &[(&str, String)]) -> Result<(), RecordError>;
    /// Tracks left out of the run, and why.
    fn skipped(&mut self, tracks: &[(TrackId, String)]) -> Result<(), RecordError>;
    /// Injected label flips: (track, its split, from class, to class).
    fn flips(&mut self, flips: &[(TrackId, SplitKey, usize, usize)]) -> Result<(), RecordError>;
    /// One epoch of a model, as it ends.
    fn epoch(&mut self, model: &ModelName, epoch: &Epoch) -> Result<(), RecordError>;
    /// A genre model scored on one split.
    fn evaluation(
        &mut self,
        model: &ModelName,
        split: SplitKey,
        evaluation: &Evaluation,
    ) -> Result<(), RecordError>;
    /// The tracks the run uses.
    fn tracks(&mut self, rows: &[RunTrack]) -> Result<(), RecordError>;
    /// A model's per-track predictions.
    fn predictions(&mut self, model: &ModelName, rows: &[Prediction]) -> Result<(), RecordError>;
    /// A file of the run's own (predictions, factor tables), by its path inside the run's
    /// folder; returns where it was written.
    fn file(&mut self, relative: &Path, bytes: &[u8]) -> Result<PathBuf, RecordError>;
}

/// A recorder that could not record; the cause is the recorder's own error.
#[derive(Debug, thiserror::Error)]
#[error("cannot record the run's results")]
pub struct RecordError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Why a stage failed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Fma(#[from] crate::data::fma::FmaError),
    #[error(transparent)]
    Split(#[from] crate::data::split::SplitError),
    #[error(transparent)]
    Noise(#[from] crate::data::noise::NoiseError),
    #[error("{0}; the run needs its audio")]
    AudioUnavailable(String),
    #[error("the {split} split has no usable track; {why}")]
    EmptySplit { split: &'static str, why: String },
    #[error("factor {name:?} failed")]
    Factor {
        name: String,
        #[source]
        source: crate::factors::FactorError,
    },
    #[error("training {model} failed")]
    Training {
        model: ModelName,
        #[source]
        source: crate::nn::TrainError,
    },
    #[error("the label audit: {reason}")]
    Audit { reason: String },
}

/// Skipped tracks in the log: the first few by name, then how many more, so that a folder
/// of missing files is not a screen of lines (the store lists them all).
pub(crate) fn log_skipped(stage: &str, skipped: &[(TrackId, String)]) {
    const NAMED: usize = 5;
    for (track, why) in skipped.iter().take(NAMED) {
        tracing::warn!("{stage}: track {track} skipped: {why}");
    }
    if skipped.len() > NAMED {
        tracing::warn!(
            "{stage}: … and {} more tracks skipped",
            skipped.len() - NAMED
        );
    }
}

/// Each epoch of a model to the recorder (as it happens) and to a progress bar; the first
/// recording error is kept and returned when training ends, so a training loop never has to
/// know about recording.
pub(crate) struct EpochLog<'a> {
    recorder: &'a mut dyn Recorder,
    model: ModelName,
    bar: indicatif::ProgressBar,
    error: Option<RecordError>,
}

impl<'a> EpochLog<'a> {
    pub(crate) fn new(recorder: &'a mut dyn Recorder, model: ModelName, epochs: usize) -> Self {
        let bar = crate::progress::bar(epochs as u64, &model.to_string());
        EpochLog {
            recorder,
            model,
            bar,
            error: None,
        }
    }

    pub(crate) fn record(&mut self, e: &Epoch) {
        self.bar.inc(1);
        self.bar
            .set_message(format!("{} {:.4}", self.model, e.validation_loss));
        if self.error.is_none() {
            self.error = self.recorder.epoch(&self.model, e).err();
        }
    }

    pub(crate) fn finish(self) -> Result<(), RecordError> {
        self.bar.finish_and_clear();
        self.error.map_or(Ok(()), Err)
    }
}
