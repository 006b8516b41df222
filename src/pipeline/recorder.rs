//! The stages' [`Recorder`] for a run: measurements go to the store under the run's id,
//! files into the run's folder, each written atomically.

use crate::data::TrackId;
use crate::eval::Evaluation;
use crate::record::{Epoch, ModelName, Prediction, RunId, RunTrack, SplitKey};
use crate::stages::{RecordError, Recorder};
use crate::store::Store;
use std::path::{Path, PathBuf};

pub struct StoreRecorder<'a> {
    pub store: &'a Store,
    pub run: RunId,
    pub dir: PathBuf,
}

fn boxed(e: impl std::error::Error + Send + Sync + 'static) -> RecordError {
    RecordError(Box::new(e))
}

impl Recorder for StoreRecorder<'_> {
    fn classes(&mut self, names: &[String]) -> Result<(), RecordError> {
        self.store.record_classes(self.run, names).map_err(boxed)
    }

    fn metrics(
        &mut self,
        model: &ModelName,
        split: SplitKey,
        values: &[(&str, f64)],
    ) -> Result<(), RecordError> {
        self.store
            .record_metrics(self.run, model, split, values)
            .map_err(boxed)
    }

    fn facts(&mut self, facts: &[(&str, String)]) -> Result<(), RecordError> {
        self.store.record_facts(self.run, facts).map_err(boxed)
    }

    fn skipped(&mut self, tracks: &[(TrackId, String)]) -> Result<(), RecordError> {
        self.store.record_skipped(self.run, tracks).map_err(boxed)
    }

    fn flips(&mut self, flips: &[(TrackId, SplitKey, usize, usize)]) -> Result<(), RecordError> {
        self.store.record_flips(self.run, flips).map_err(boxed)
    }

    fn epoch(&mut self, model: &ModelName, epoch: &Epoch) -> Result<(), RecordError> {
        self.store
            .record_epoch(self.run, model, epoch)
            .map_err(boxed)
    }

    fn evaluation(
        &mut self,
        model: &ModelName,
        split: SplitKey,
        evaluation: &Evaluation,
    ) -> Result<(), RecordError> {
        self.store
            .record_evaluation(self.run, model, split, evaluation)
            .map_err(boxed)
    }

    fn tracks(&mut self, rows: &[RunTrack]) -> Result<(), RecordError> {
        self.store.record_tracks(self.run, rows).map_err(boxed)
    }

    fn predictions(&mut self, model: &ModelName, rows: &[Prediction]) -> Result<(), RecordError> {
        self.store
            .record_predictions(self.run, model, rows)
            .map_err(boxed)
    }

    fn file(&mut self, relative: &Path, bytes: &[u8]) -> Result<PathBuf, RecordError> {
        let path = self.dir.join(relative);
        crate::fsutil::write_atomic(&path, bytes).map_err(|source| {
            boxed(FileError {
                path: path.clone(),
                source,
            })
        })?;
        Ok(path)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
struct FileError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}
