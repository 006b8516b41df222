//! The run store: one [`Backend`] trait for every place results are kept, and the
//! [`Store`] handle the rest of the crate uses. The backends are the only modules that write
//! SQL: [`sqlite`] is the default (one file, WAL), [`postgres`] the store many hosts share;
//! both run the queries of [`sql`], and only what differs lives in each.
//!
//! The store knows rows, not models: names come from [`crate::record`], evaluations from
//! `eval`. A run's status is written by the process that runs it; a run whose process was
//! killed still reads `running`, so [`Store`] derives `interrupted` in one place, from a
//! [`Liveness`] the caller passes in (the pipeline's run-folder locks), and every reader
//! (`agf runs`, reports, resume) sees the same status.

pub mod copy;
pub mod postgres;
pub mod sql;
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

    // What copying a run between stores reads and writes ([`copy`]).
    /// A run's row as stored.
    fn run_record(&self, run: RunId) -> Result<RunRecord, StoreError>;
    /// The run recorded with the same spec, start, host and name, if there is one.
    fn find_run(&self, run: &RunRecord) -> Result<Option<RunId>, StoreError>;
    /// Insert a run's row and parameters under a new id, its status `queued` until
    /// [`Backend::set_run_status`] gives it the copied one; attached to the cell of
    /// `(sweep, spec hash)`.
    fn import_run(
        &self,
        run: &RunRecord,
        params: &[(String, String)],
        cell: Option<(&str, &str)>,
    ) -> Result<RunId, StoreError>;
    fn set_run_status(&self, run: RunId, status: &str) -> Result<(), StoreError>;
    /// Remove a run and everything recorded for it (a copy that did not finish).
    fn delete_run(&self, run: RunId) -> Result<(), StoreError>;
    fn flips(&self, run: RunId) -> Result<Vec<(TrackId, SplitKey, usize, usize)>, StoreError>;
    fn class_metrics(&self, run: RunId) -> Result<Vec<ClassMetricRow>, StoreError>;
    fn record_class_metrics(&self, run: RunId, rows: &[ClassMetricRow]) -> Result<(), StoreError>;
    fn confusion_cells(&self, run: RunId) -> Result<Vec<ConfusionRow>, StoreError>;
    fn record_confusion_cells(&self, run: RunId, rows: &[ConfusionRow]) -> Result<(), StoreError>;
    /// A sweep's row, if there is one.
    fn sweep(&self, name: &str) -> Result<Option<NewSweep>, StoreError>;
    /// Insert cells as they are, without their runs; a cell whose hash or number the sweep
    /// has already is kept as it is there.
    fn copy_cells(&self, sweep: &str, cells: &[Cell]) -> Result<(), StoreError>;
    /// Settle a cell whose run ran elsewhere (a Slurm bundle): its status and, for a
    /// failure (counted), its error; no claim.
    fn set_cell(
        &self,
        cell: CellId,
        status: CellStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
}

/// A run's row, every column, as a copy between stores carries it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunRecord {
    pub name: String,
    pub status: String,
    pub spec_toml: String,
    pub spec_hash: String,
    pub seed: i64,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub crate_version: String,
    pub host: String,
    pub device: String,
    pub headline_model: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub error: Option<String>,
}

/// One stored per-class score.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClassMetricRow {
    pub model: String,
    pub split: String,
    pub class_index: i64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: i64,
}

/// One stored non-zero confusion cell.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConfusionRow {
    pub model: String,
    pub split: String,
    pub true_index: i64,
    pub predicted_index: i64,
    pub count: i64,
}

/// Where the store is.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgUrl),
}

impl StoreLocation {
    /// What `--db` or `AGF_DB` names: a `postgres://` (or `postgresql://`) URL, else a
    /// SQLite file path.
    pub fn parse(s: &str) -> StoreLocation {
        match PgUrl::parse(s) {
            Some(url) => StoreLocation::Postgres(url),
            None => StoreLocation::Sqlite(PathBuf::from(s)),
        }
    }

    /// Whether a store is there already (a database server is asked when it is opened).
    pub fn exists(&self) -> bool {
        match self {
            StoreLocation::Sqlite(path) => path.is_file(),
            StoreLocation::Postgres(_) => true,
        }
    }

    /// The text to hand a child process (as `AGF_DB`, never on its command line, where
    /// any user of the host could read a password).
    pub fn secret(&self) -> String {
        match self {
            StoreLocation::Sqlite(p) => p.display().to_string(),
            StoreLocation::Postgres(url) => url.secret().to_string(),
        }
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(p) => write!(f, "{}", p.display()),
            StoreLocation::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// A PostgreSQL connection URL. It may hold a password, so it shows itself (Display and
/// Debug alike) with the password replaced by `***`; only [`PgUrl::secret`] gives the text
/// the driver connects with.
#[derive(Clone, PartialEq)]
pub struct PgUrl(String);

impl PgUrl {
    pub fn parse(s: &str) -> Option<PgUrl> {
        (s.starts_with("postgres://") || s.starts_with("postgresql://"))
            .then(|| PgUrl(s.to_string()))
    }

    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The URL without secrets: the userinfo's password and any query parameter whose name
    /// mentions a password (libpq reads `?password=` too).
    fn redacted(&self) -> String {
        let s = &self.0;
        let Some(scheme_end) = s.find("://").map(|i| i + 3) else {
            return "postgres://***".into();
        };
        let rest = &s[scheme_end..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let authority = match authority.rfind('@') {
            Some(at) => {
                let (userinfo, host) = authority.split_at(at);
                match userinfo.find(':') {
                    Some(colon) => format!("{}:***{host}", &userinfo[..colon]),
                    None => format!("{userinfo}{host}"),
                }
            }
            None => authority.to_string(),
        };
        let tail = match tail.find('?') {
            Some(q) => {
                let (path, query) = tail.split_at(q + 1);
                let (query, fragment) = query.split_at(query.find('#').unwrap_or(query.len()));
                let query: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((k, _)) if k.to_ascii_lowercase().contains("password") => {
                            format!("{k}=***")
                        }
                        _ => pair.to_string(),
                    })
                    .collect();
                format!("{path}{}{fragment}", query.join("&"))
            }
            None => tail.to_string(),
        };
        format!("{}{authority}{tail}", &s[..scheme_end])
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({})", self.redacted())
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

    /// A sweep cell's bundle: a SQLite store of its own with rollback journaling (it lies
    /// on a shared file system; [`sqlite::open_bundle`]).
    pub fn open_bundle(
        path: &std::path::Path,
        liveness: Box<dyn Liveness>,
    ) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Box::new(sqlite::open_bundle(path)?),
            liveness,
        })
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
            StoreLocation::Sqlite(path) => Box::new(sqlite::open(path)?),
            StoreLocation::Postgres(url) => Box::new(postgres::open(url)?),
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
    use super::PgUrl;

    #[test]
    fn a_postgres_url_shows_no_password() {
        for (url, shown) in [
            (
                "postgres://agf:s3cret@db.example:5432/runs",
                "postgres://agf:***@db.example:5432/runs",
            ),
            (
                "postgresql://agf@db/runs?sslmode=require&password=s3cret",
                "postgresql://agf@db/runs?sslmode=require&password=***",
            ),
            ("postgres://a:b:c@h/d", "postgres://a:***@h/d"),
            ("postgres://h/d", "postgres://h/d"),
            ("postgres://u:p@h", "postgres://u:***@h"),
        ] {
            let u = PgUrl::parse(url).unwrap();
            assert_eq!(u.to_string(), shown);
            assert!(!format!("{u:?}").contains("s3cret"));
            assert_eq!(u.secret(), url);
        }
        assert!(PgUrl::parse("runs/agf.sqlite").is_none());
    }
}
