//! The run store: one [`Backend`] trait for every place results are kept, and the
//! [`Store`] handle the rest of the crate uses. The backends are the only modules that write
//! SQL; [`sqlite`] is the default (one file, WAL).
//!
//! The store knows rows, not models: names come from [`crate::record`], evaluations from
//! `eval`. A run's status is written by the process that runs it; a run whose process was
//! killed still reads `running`, so [`Store`] derives `interrupted` in one place, from a
//! [`Liveness`] the caller passes in (the pipeline's run-folder locks), and every reader
//! (`agf runs`, reports, resume) sees the same status.

pub mod sqlite;

use crate::eval::Evaluation;
use crate::record::{Epoch, ModelName, Prediction, RunId, RunTrack, SplitKey, TrackId};
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Done,
    Failed,
    /// Marked running, but no process works on it any more (it was killed): `agf resume`
    /// finishes it.
    Interrupted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Done,
        RunStatus::Failed,
        RunStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status no version of agf writes.
#[derive(Debug, thiserror::Error)]
#[error("unknown run status {0:?}")]
pub struct UnknownStatus(String);

impl TryFrom<String> for RunStatus {
    type Error = UnknownStatus;
    fn try_from(s: String) -> Result<Self, UnknownStatus> {
        RunStatus::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownStatus(s))
    }
}

/// How a run ended, as its process records it (a killed process records nothing: the
/// store derives `interrupted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd<'a> {
    Done,
    /// With the reason, one line.
    Failed(&'a str),
}

/// Tells whether a run marked `running` still has a process working on it.
pub trait Liveness: Send + Sync {
    fn is_alive(&self, run: RunId) -> bool;
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the run store {location}")]
    Open {
        location: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create or lock {}", path.display())]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot migrate the run store {location} (was it written by a newer agf?)")]
    Migrate {
        location: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("run store {location} failed while {what}")]
    Query {
        location: String,
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot start the store's runtime")]
    Runtime(#[source] std::io::Error),
    #[error("no run {run} in {location}; `agf runs` lists the runs there")]
    NoSuchRun { location: String, run: RunId },
    #[error(
        "there is no run store at {location}; `agf run SPEC` creates one there, or --db (AGF_DB) \
         names another"
    )]
    Missing { location: String },
}

/// What a new run records before any work starts.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub name: String,
    pub spec_toml: String,
    pub spec_hash: String,
    pub seed: u64,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub crate_version: String,
    pub host: String,
    /// The device the run's nets run on (`cpu`, `cuda:0`).
    pub device: String,
    /// The model whose test metrics summarise the run.
    pub headline_model: ModelName,
    /// The resolved spec, one dotted key per row.
    pub params: Vec<(String, String)>,
    /// The sweep cell the run is for, attached in the same transaction that records the
    /// run, so a cell never loses track of its run.
    pub cell: Option<CellId>,
}

/// A sweep cell's id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, sqlx::Type)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct CellId(pub i64);

impl fmt::Display for CellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a cell is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    Queued,
    Running,
    Done,
    Failed,
}

impl CellStatus {
    pub const ALL: [CellStatus; 4] = [
        CellStatus::Queued,
        CellStatus::Running,
        CellStatus::Done,
        CellStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Queued => "queued",
            CellStatus::Running => "running",
            CellStatus::Done => "done",
            CellStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for CellStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for CellStatus {
    type Error = UnknownStatus;
    fn try_from(s: String) -> Result<Self, UnknownStatus> {
        CellStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownStatus(s))
    }
}

/// A sweep as `agf sweep run` records it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSweep {
    pub name: String,
    pub spec_path: String,
    pub spec_text: String,
    /// JSON object of the pairs that pick out the baseline arm.
    pub baseline: String,
}

/// A cell to add (or, when its hash is there already, to keep).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCell {
    pub spec_hash: String,
    pub spec_toml: String,
    /// JSON object of the axis values without the seed.
    pub arm: String,
    pub seed: Option<u64>,
    /// Claim order (lower first).
    pub priority: i64,
}

/// One cell of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Cell {
    pub id: CellId,
    pub sweep: String,
    pub number: i64,
    pub spec_hash: String,
    pub spec_toml: String,
    pub arm: String,
    pub seed: Option<i64>,
    pub priority: i64,
    #[sqlx(try_from = "String")]
    pub status: CellStatus,
    pub attempts: i64,
    pub failures: i64,
    pub max_failures: i64,
    pub run_id: Option<RunId>,
    pub worker: Option<String>,
    /// Unix milliseconds.
    pub lease_until: Option<i64>,
    pub error: Option<String>,
    pub updated_at: String,
}

/// A sweep as `agf sweeps` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SweepSummary {
    pub name: String,
    pub spec_path: String,
    pub baseline: String,
    pub cells: i64,
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
    pub updated_at: String,
}

/// How a cell's attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellEnd<'a> {
    Done,
    /// Another live process turned out to be working on the cell's run: the claim is given
    /// up, not failed, and the cell is left to that process until `until` (Unix ms).
    Held {
        until: i64,
    },
    /// With the reason; the cell goes back to the queue while it has failures to spare.
    Failed(&'a str),
}

/// One line of `agf runs`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RunSummary {
    pub id: RunId,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub spec_hash: String,
    pub device: String,
    /// The model whose test scores summarise the run (the transfer model where nets are
    /// trained, else the baseline).
    pub headline_model: Option<String>,
    /// Why the run failed, for failed runs.
    pub error: Option<String>,
    /// Test log loss of the headline model.
    pub log_loss: Option<f64>,
    /// Test macro-F1 of the headline model.
    pub macro_f1: Option<f64>,
    /// Test accuracy of the headline model.
    pub accuracy: Option<f64>,
}

/// What resuming a run reads back: the resolved spec it was started with.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredRun {
    pub id: RunId,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    pub spec_toml: String,
    pub spec_hash: String,
    pub error: Option<String>,
}

/// One stored scalar metric.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct MetricRow {
    #[sqlx(try_from = "String")]
    pub model: ModelName,
    #[sqlx(try_from = "String")]
    pub split: SplitKey,
    pub name: String,
    /// NULL when the value was not finite.
    pub value: Option<f64>,
}

/// A stored confusion matrix with its class names.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConfusion {
    pub run: RunId,
    pub model: ModelName,
    pub split: SplitKey,
    pub classes: Vec<String>,
    pub matrix: Vec<Vec<usize>>,
}

/// One factor of one run, as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorRow {
    pub run: RunId,
    pub factor: String,
    pub perplexity: Option<f64>,
    pub held_out_perplexity: Option<f64>,
    pub nmi_artist_group: Option<f64>,
    pub vocabulary: Option<usize>,
    pub topics: Option<usize>,
}

/// A place runs are kept. Statuses read through a backend are as written; [`Store`] derives
/// the observed ones. Every multi-row write is one transaction: a killed process leaves all
/// of a result or none of it.
pub trait Backend: Send + Sync {
    /// Where the store is, for messages (never a password).
    fn location(&self) -> String;

    /// Record a new run (status `running`) with its parameters.
    fn start_run(&self, run: &NewRun) -> Result<RunId, StoreError>;
    /// Mark a run `running` again (it is being resumed): its end and error are cleared.
    fn reopen_run(&self, run: RunId) -> Result<(), StoreError>;
    /// Record how a run ended.
    fn finish_run(&self, run: RunId, end: RunEnd) -> Result<(), StoreError>;

    fn record_classes(&self, run: RunId, names: &[String]) -> Result<(), StoreError>;
    /// Scalar metrics (name → value) of one model on one split.
    fn record_metrics(
        &self,
        run: RunId,
        model: &ModelName,
        split: SplitKey,
        values: &[(&str, f64)],
    ) -> Result<(), StoreError>;
    /// Textual facts of a run (split hash, dataset description …).
    fn record_facts(&self, run: RunId, facts: &[(&str, String)]) -> Result<(), StoreError>;
    /// Tracks left out of the run and why.
    fn record_skipped(&self, run: RunId, skipped: &[(TrackId, String)]) -> Result<(), StoreError>;
    /// Injected label flips: (track, split, from class, to class).
    fn record_flips(
        &self,
        run: RunId,
        flips: &[(TrackId, SplitKey, usize, usize)],
    ) -> Result<(), StoreError>;
    /// Everything an evaluation holds: scalars, per-class metrics and the confusion matrix.
    fn record_evaluation(
        &self,
        run: RunId,
        model: &ModelName,
        split: SplitKey,
        e: &Evaluation,
    ) -> Result<(), StoreError>;
    /// Append one epoch of a model and refresh the run's heartbeat.
    fn record_epoch(&self, run: RunId, model: &ModelName, e: &Epoch) -> Result<(), StoreError>;
    /// Every scored track's probabilities from one model.
    fn record_predictions(
        &self,
        run: RunId,
        model: &ModelName,
        rows: &[Prediction],
    ) -> Result<(), StoreError>;

    /// The tracks a run used, with their artists, albums, splits and labels.
    fn record_tracks(&self, run: RunId, rows: &[RunTrack]) -> Result<(), StoreError>;

    /// Every run, oldest first, with its headline test metrics; statuses as written, which
    /// [`Store::runs`] turns into what a reader should see.
    fn written_runs(&self) -> Result<Vec<RunSummary>, StoreError>;
    /// One run's spec and status as written ([`Store::run`] observes it).
    fn written_run(&self, run: RunId) -> Result<StoredRun, StoreError>;
    /// A run's resolved spec as dotted `key`/`value` rows, by key.
    fn params(&self, run: RunId) -> Result<Vec<(String, String)>, StoreError>;
    /// Every run's parameter rows, by run and key (one query for thousands of runs).
    fn every_param(&self) -> Result<Vec<(RunId, String, String)>, StoreError>;
    /// Every run's metric rows on `split`, by run, model and name.
    fn every_metric(&self, split: SplitKey) -> Result<Vec<(RunId, MetricRow)>, StoreError>;
    /// Every scalar metric of a run, ordered by model, split and name.
    fn metrics(&self, run: RunId) -> Result<Vec<MetricRow>, StoreError>;
    /// One scalar metric, if recorded (and finite).
    fn metric(
        &self,
        run: RunId,
        model: &ModelName,
        split: SplitKey,
        name: &str,
    ) -> Result<Option<f64>, StoreError>;
    /// A run's textual facts, by key.
    fn facts(&self, run: RunId) -> Result<Vec<(String, String)>, StoreError>;
    /// A run's class names, in class-index order.
    fn classes(&self, run: RunId) -> Result<Vec<String>, StoreError>;
    /// Skipped tracks of a run, by track id.
    fn skipped(&self, run: RunId) -> Result<Vec<(TrackId, String)>, StoreError>;
    /// The models with stored epochs in a run, in the order they were first recorded.
    fn epoch_models(&self, run: RunId) -> Result<Vec<ModelName>, StoreError>;
    /// A model's epochs, in order.
    fn epochs(&self, run: RunId, model: &ModelName) -> Result<Vec<Epoch>, StoreError>;
    /// A model's per-track predictions, by track id.
    fn predictions(&self, run: RunId, model: &ModelName) -> Result<Vec<Prediction>, StoreError>;
    /// The tracks a run used, by track id (empty for runs recorded before tracks were).
    fn tracks(&self, run: RunId) -> Result<Vec<RunTrack>, StoreError>;
    /// A model's confusion matrix on a split (`classes` × `classes`, zeros when none was
    /// recorded), rows the labels scored against.
    fn confusion_matrix(
        &self,
        run: RunId,
        model: &ModelName,
        split: SplitKey,
        classes: usize,
    ) -> Result<Vec<Vec<usize>>, StoreError>;
    /// The headline model's test confusion matrix of `run`, or of the newest finished run.
    fn confusion(&self, run: Option<RunId>) -> Result<Option<StoredConfusion>, StoreError>;
    /// Every factor's headline numbers, newest run first.
    fn factor_rows(&self) -> Result<Vec<FactorRow>, StoreError>;

    /// Record a sweep and add the cells it does not have yet (numbered after its others);
    /// cells it has keep their number, status and run, and take the new priority and
    /// failure allowance. Returns every cell of the sweep, by number.
    fn sync_sweep(
        &self,
        sweep: &NewSweep,
        cells: &[NewCell],
        max_failures: i64,
    ) -> Result<Vec<Cell>, StoreError>;
    /// Claim the next cell (queued, or running under an expired lease), atomically: two
    /// workers never get the same cell. `now` and `lease_until` are Unix milliseconds.
    fn claim_cell(
        &self,
        sweep: &str,
        worker: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<Cell>, StoreError>;
    /// Extend `worker`'s lease on a cell; false when the worker no longer holds it.
    fn renew_lease(&self, cell: CellId, worker: &str, lease_until: i64)
        -> Result<bool, StoreError>;
    /// Give up a running cell's lease at once (its worker is known to be dead).
    fn expire_lease(&self, cell: CellId) -> Result<(), StoreError>;
    /// Record how `worker`'s attempt at a cell ended; a failure with failures to spare puts
    /// the cell back in the queue.
    fn finish_cell(&self, cell: CellId, worker: &str, end: CellEnd) -> Result<(), StoreError>;
    /// The cells of a sweep, by number.
    fn cells(&self, sweep: &str) -> Result<Vec<Cell>, StoreError>;
    /// Every sweep with its counts, by name.
    fn sweeps(&self) -> Result<Vec<SweepSummary>, StoreError>;
    /// Put a sweep's failed cells back in the queue with their failures forgiven; how many.
    fn retry_failed(&self, sweep: &str) -> Result<u64, StoreError>;
}

/// Where the store is.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
}

impl StoreLocation {
    /// What `--db` or `AGF_DB` names: for now, always a SQLite file path.
    pub fn parse(s: &str) -> StoreLocation {
        StoreLocation::Sqlite(PathBuf::from(s))
    }

    /// Whether a store is there already.
    pub fn exists(&self) -> bool {
        match self {
            StoreLocation::Sqlite(path) => path.is_file(),
        }
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The run store as the crate uses it: a backend, and how to tell a live run from a killed
/// one.
pub struct Store {
    backend: Box<dyn Backend>,
    liveness: Box<dyn Liveness>,
}

impl Store {
    /// Open the store at `location`, which must exist: reading commands create nothing, so a
    /// mistyped path is an error rather than an empty store.
    pub fn open_existing(
        location: &StoreLocation,
        liveness: Box<dyn Liveness>,
    ) -> Result<Store, StoreError> {
        if !location.exists() {
            return Err(StoreError::Missing {
                location: location.to_string(),
            });
        }
        Store::open(location, liveness)
    }

    /// Open (creating if needed) the store at `location`, its schema brought up to date.
    pub fn open(
        location: &StoreLocation,
        liveness: Box<dyn Liveness>,
    ) -> Result<Store, StoreError> {
        if !location.exists() {
            tracing::info!("creating a new run store at {location}");
        }
        let backend: Box<dyn Backend> = match location {
            StoreLocation::Sqlite(path) => Box::new(sqlite::SqliteStore::open(path)?),
        };
        Ok(Store { backend, liveness })
    }

    /// The status a reader should see: `running` becomes `interrupted` once no process
    /// holds the run.
    pub fn observed(&self, run: RunId, written: RunStatus) -> RunStatus {
        match written {
            RunStatus::Running if !self.liveness.is_alive(run) => RunStatus::Interrupted,
            s => s,
        }
    }

    /// Every run, oldest first, with its headline test metrics and observed status.
    pub fn runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        let mut runs = self.backend.written_runs()?;
        for r in &mut runs {
            r.status = self.observed(r.id, r.status);
        }
        Ok(runs)
    }

    /// One run's spec and observed status.
    pub fn run(&self, run: RunId) -> Result<StoredRun, StoreError> {
        let mut r = self.backend.written_run(run)?;
        r.status = self.observed(r.id, r.status);
        Ok(r)
    }
}

/// Everything else is the backend's.
impl std::ops::Deref for Store {
    type Target = dyn Backend;
    fn deref(&self) -> &(dyn Backend + 'static) {
        self.backend.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::evaluate;

    fn new_run(name: &str) -> NewRun {
        NewRun {
            name: name.into(),
            spec_toml: "name = \"x\"\n".into(),
            spec_hash: "abc".into(),
            seed: 7,
            git_commit: None,
            git_dirty: None,
            crate_version: "0.1.0".into(),
            host: "h".into(),
            device: "cpu".into(),
            headline_model: ModelName::Baseline,
            params: vec![("seed".into(), "7".into())],
            cell: None,
        }
    }

    /// Run 2 has no process: it was killed.
    struct OnlyFirstAlive;

    impl Liveness for OnlyFirstAlive {
        fn is_alive(&self, run: RunId) -> bool {
            run == RunId(1)
        }
    }

    #[test]
    fn a_run_round_trips_and_a_dead_running_run_reads_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let at = StoreLocation::Sqlite(dir.path().join("sub/agf.sqlite"));
        let store = Store::open(&at, Box::new(OnlyFirstAlive)).unwrap();
        let a = store.start_run(&new_run("first")).unwrap();
        let b = store.start_run(&new_run("second")).unwrap();
        let c = store.start_run(&new_run("third")).unwrap();
        assert_eq!((a, b, c), (RunId(1), RunId(2), RunId(3)));
        store.record_classes(a, &["x".into(), "y".into()]).unwrap();
        let e = evaluate(&[0.9, 0.1, 0.2, 0.8, 0.6, 0.4], &[0, 1, 1], 2, 1e-8);
        store
            .record_evaluation(a, &ModelName::Baseline, SplitKey::Test, &e)
            .unwrap();
        let epoch = Epoch {
            epoch: 1,
            train_loss: 0.5,
            validation_loss: f64::NAN,
            learning_rate: Some(0.1),
            task: Some("genre".into()),
        };
        store.record_epoch(a, &ModelName::Baseline, &epoch).unwrap();
        store.finish_run(a, RunEnd::Done).unwrap();
        store.finish_run(c, RunEnd::Failed("boom")).unwrap();

        let runs = store.runs().unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].status, RunStatus::Done);
        assert_eq!(runs[1].status, RunStatus::Interrupted);
        assert_eq!(runs[2].status, RunStatus::Failed);
        assert_eq!(store.written_run(b).unwrap().status, RunStatus::Running);
        assert_eq!(store.run(b).unwrap().status, RunStatus::Interrupted);
        assert_eq!(store.run(c).unwrap().error.as_deref(), Some("boom"));
        assert!((runs[0].log_loss.unwrap() - e.log_loss).abs() < 1e-12);
        assert_eq!(runs[0].macro_f1, Some(e.macro_f1));
        assert_eq!(runs[2].log_loss, None);

        let cm = store.confusion(None).unwrap().unwrap();
        assert_eq!(cm.run, a);
        assert_eq!(cm.model, ModelName::Baseline);
        assert_eq!(cm.matrix, vec![vec![1, 0], vec![1, 1]]);
        let back = store.epochs(a, &ModelName::Baseline).unwrap();
        assert_eq!(back.len(), 1);
        assert!(back[0].validation_loss.is_nan());
        assert_eq!((back[0].epoch, back[0].task.as_deref()), (1, Some("genre")));
        assert_eq!(store.epoch_models(a).unwrap(), vec![ModelName::Baseline]);
        assert!(matches!(
            store.confusion(Some(RunId(9))),
            Err(StoreError::NoSuchRun { .. })
        ));
        // Reopening applies no migration twice and keeps the data.
        drop(store);
        let store = Store::open(&at, Box::new(OnlyFirstAlive)).unwrap();
        assert_eq!(store.runs().unwrap().len(), 3);
    }
}
