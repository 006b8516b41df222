//! The run store: SQLite through sqlx, schema from `migrations/`. The only module that
//! writes SQL.
//!
//! The rest of the crate is synchronous (rayon, candle), so [`Store`] owns a small tokio
//! runtime and offers blocking methods; every multi-row write happens in one transaction,
//! so a killed process leaves either all of a result or none of it.

use crate::eval::Evaluation;
use crate::models::EpochReport;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A run's id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, sqlx::Type)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Done,
    Failed,
    Interrupted,
}

impl RunStatus {
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the run store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create or lock {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot migrate the run store {} (was it written by a newer agf?): {source}", path.display())]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("run store {} failed while {what}: {source}", path.display())]
    Query {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot start the store's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("no run {run} in {}; `agf runs` lists the runs there", path.display())]
    NoSuchRun { path: PathBuf, run: RunId },
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
    pub device: String,
    pub headline_model: String,
    pub params: Vec<(String, String)>,
}

/// One line of `agf runs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: RunId,
    pub name: String,
    pub status: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub spec_hash: String,
    /// Test log loss of the headline model.
    pub log_loss: Option<f64>,
    /// Test macro-F1 of the headline model.
    pub macro_f1: Option<f64>,
}

/// What some models add to an epoch's losses.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EpochDetail<'a> {
    pub learning_rate: Option<f64>,
    /// The task a multi-task net trained on in the epoch.
    pub task: Option<&'a str>,
}

/// One stored epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochRow {
    pub epoch: usize,
    pub train_loss: Option<f64>,
    pub validation_loss: Option<f64>,
    pub learning_rate: Option<f64>,
    pub task: Option<String>,
}

/// One stored scalar metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub model: String,
    pub split: String,
    pub name: String,
    /// NULL when the value was not finite.
    pub value: Option<f64>,
}

/// What resuming a run reads back: the resolved spec it was started with.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub id: RunId,
    pub name: String,
    pub status: String,
    pub spec_toml: String,
    pub spec_hash: String,
}

/// A stored confusion matrix with its class names.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConfusion {
    pub run: RunId,
    pub model: String,
    pub split: String,
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

pub struct Store {
    rt: tokio::runtime::Runtime,
    pool: SqlitePool,
    path: PathBuf,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Store {
    /// Open (creating if needed) the store at `path` and bring its schema up to date.
    /// Where a run's files go (checkpoints, predictions, factor tables): `<db dir>/<run id>/`.
    pub fn run_dir(&self, run: RunId) -> PathBuf {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(run.0.to_string())
    }

    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StoreError::Runtime)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        // Two processes opening a new store at once would both apply the migrations (sqlx
        // does not lock SQLite for that); an exclusive lock on a sidecar file serialises the
        // open-and-migrate step across processes. It is released when `_guard` drops.
        let lock_path = path.with_extension("sqlite.lock");
        let _guard = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .and_then(|f| f.lock().map(|_| f))
            .map_err(|source| StoreError::Folder {
                path: lock_path.clone(),
                source,
            })?;
        // The switch to WAL can still meet a connection of a process that is mid-run;
        // SQLite reports that as "database is locked" without waiting on the busy timeout.
        let mut attempt = 0u32;
        let pool = loop {
            let result = rt
                .block_on(
                    SqlitePoolOptions::new()
                        .max_connections(2)
                        .connect_with(options.clone()),
                )
                .map_err(|source| StoreError::Open {
                    path: path.to_path_buf(),
                    source,
                })
                .and_then(|pool| {
                    rt.block_on(sqlx::migrate!("./migrations").run(&pool))
                        .map(|_| pool)
                        .map_err(|source| StoreError::Migrate {
                            path: path.to_path_buf(),
                            source,
                        })
                });
            match result {
                Ok(pool) => break pool,
                Err(e) if attempt < 40 && e.to_string().contains("database is locked") => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(25 * attempt as u64));
                }
                Err(e) => return Err(e),
            }
        };
        Ok(Store {
            rt,
            pool,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
        move |source| StoreError::Query {
            path: self.path.clone(),
            what,
            source,
        }
    }

    /// Record a new run (status `running`) with its parameters, in one transaction.
    pub fn start_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
        self.rt.block_on(async {
            let mut tx = self.pool.begin().await.map_err(self.err("starting a run"))?;
            let started = now();
            let id: i64 = sqlx::query(
                "INSERT INTO runs (name, status, spec_toml, spec_hash, seed, git_commit, git_dirty,
                                   crate_version, host, device, headline_model, started_at, heartbeat_at)
                 VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&run.name)
            .bind(&run.spec_toml)
            .bind(&run.spec_hash)
            .bind(run.seed as i64)
            .bind(&run.git_commit)
            .bind(run.git_dirty)
            .bind(&run.crate_version)
            .bind(&run.host)
            .bind(&run.device)
            .bind(&run.headline_model)
            .bind(&started)
            .bind(&started)
            .fetch_one(&mut *tx)
            .await
            .map_err(self.err("starting a run"))?
            .get(0);
            for (k, v) in &run.params {
                sqlx::query("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)")
                    .bind(id)
                    .bind(k)
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err("recording parameters"))?;
            }
            tx.commit().await.map_err(self.err("starting a run"))?;
            Ok(RunId(id))
        })
    }

    /// Record scalar metrics (name → value) of one model on one split, in one transaction.
    pub fn record_metrics(
        &self,
        run: RunId,
        model: &str,
        split: &str,
        values: &[(&str, f64)],
    ) -> Result<(), StoreError> {
        self.rt.block_on(async {
            let mut tx = self.pool.begin().await.map_err(self.err("recording metrics"))?;
            for (name, value) in values {
                sqlx::query(
                    "INSERT OR REPLACE INTO metrics (run_id, model, split, name, value) VALUES (?, ?, ?, ?, ?)",
                )
                .bind(run)
                .bind(model)
                .bind(split)
                .bind(*name)
                .bind(value.is_finite().then_some(*value))
                .execute(&mut *tx)
                .await
                .map_err(self.err("recording metrics"))?;
            }
            tx.commit().await.map_err(self.err("recording metrics"))
        })
    }

    pub fn record_classes(&self, run: RunId, names: &[String]) -> Result<(), StoreError> {
        self.rt.block_on(async {
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(self.err("recording classes"))?;
            for (i, name) in names.iter().enumerate() {
                sqlx::query(
                    "INSERT OR REPLACE INTO classes (run_id, class_index, name) VALUES (?, ?, ?)",
                )
                .bind(run)
                .bind(i as i64)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(self.err("recording classes"))?;
            }
            tx.commit().await.map_err(self.err("recording classes"))
        })
    }

    /// Textual facts of a run (split hash, dataset description …), in one transaction.
    pub fn record_facts(&self, run: RunId, facts: &[(&str, String)]) -> Result<(), StoreError> {
        self.rt.block_on(async {
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(self.err("recording facts"))?;
            for (k, v) in facts {
                sqlx::query("INSERT OR REPLACE INTO facts (run_id, key, value) VALUES (?, ?, ?)")
                    .bind(run)
                    .bind(*k)
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err("recording facts"))?;
            }
            tx.commit().await.map_err(self.err("recording facts"))
        })
    }

    /// Tracks left out of the run and why (missing, empty, truncated, undecodable audio …).
    pub fn record_skipped(&self, run: RunId, skipped: &[(u32, String)]) -> Result<(), StoreError> {
        self.rt.block_on(async {
            let mut tx = self.pool.begin().await.map_err(self.err("recording skipped tracks"))?;
            for (track, reason) in skipped {
                sqlx::query("INSERT OR REPLACE INTO skipped_tracks (run_id, track_id, reason) VALUES (?, ?, ?)")
                    .bind(run)
                    .bind(*track as i64)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err("recording skipped tracks"))?;
            }
            tx.commit().await.map_err(self.err("recording skipped tracks"))
        })
    }

    /// Injected label flips: (track, split, from class, to class).
    pub fn record_flips(
        &self,
        run: RunId,
        flips: &[(u32, &str, usize, usize)],
    ) -> Result<(), StoreError> {
        self.rt.block_on(async {
            let mut tx = self.pool.begin().await.map_err(self.err("recording label flips"))?;
            for (track, split, from, to) in flips {
                sqlx::query("INSERT OR REPLACE INTO label_flips (run_id, track_id, split, from_class, to_class) VALUES (?, ?, ?, ?, ?)")
                    .bind(run)
                    .bind(*track as i64)
                    .bind(*split)
                    .bind(*from as i64)
                    .bind(*to as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err("recording label flips"))?;
            }
            tx.commit().await.map_err(self.err("recording label flips"))
        })
    }

    /// Skipped tracks of a run, by track id.
    pub fn skipped(&self, run: RunId) -> Result<Vec<(u32, String)>, StoreError> {
        self.rt.block_on(async {
            let rows = sqlx::query(
                "SELECT track_id, reason FROM skipped_tracks WHERE run_id = ? ORDER BY track_id",
            )
            .bind(run)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading skipped tracks"))?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get::<i64, _>(0) as u32, r.get(1)))
                .collect())
        })
    }

    /// One scalar metric, if recorded.
    pub fn metric(
        &self,
        run: RunId,
        model: &str,
        split: &str,
        name: &str,
    ) -> Result<Option<f64>, StoreError> {
        self.rt.block_on(async {
            let row = sqlx::query("SELECT value FROM metrics WHERE run_id = ? AND model = ? AND split = ? AND name = ?")
                .bind(run)
                .bind(model)
                .bind(split)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err("reading a metric"))?;
            Ok(row.and_then(|r| r.get::<Option<f64>, _>(0)))
        })
    }

    /// Every factor's headline numbers: (run, factor name, perplexity, held-out perplexity,
    /// NMI with the latent groups), newest run first.
    pub fn factor_summaries(&self) -> Result<Vec<FactorRow>, StoreError> {
        self.rt.block_on(async {
            let rows = sqlx::query(
                "SELECT run_id, substr(model, 5) AS factor,
                        max(CASE WHEN name = 'perplexity' THEN value END),
                        max(CASE WHEN name = 'held_out_perplexity' THEN value END),
                        max(CASE WHEN name = 'nmi_artist_group' THEN value END),
                        max(CASE WHEN name = 'vocabulary' THEN value END),
                        max(CASE WHEN name = 'topics' THEN value END)
                 FROM metrics WHERE model LIKE 'agf.%' AND split = 'all'
                 GROUP BY run_id, model ORDER BY run_id DESC, model",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading factor summaries"))?;
            Ok(rows
                .iter()
                .map(|r| FactorRow {
                    run: r.get(0),
                    factor: r.get(1),
                    perplexity: r.get(2),
                    held_out_perplexity: r.get(3),
                    nmi_artist_group: r.get(4),
                    vocabulary: r.get::<Option<f64>, _>(5).map(|v| v as usize),
                    topics: r.get::<Option<f64>, _>(6).map(|v| v as usize),
                })
                .collect())
        })
    }

    /// Everything an evaluation holds: scalars, per-class metrics and the confusion matrix.
    pub fn record_evaluation(
        &self,
        run: RunId,
        model: &str,
        split: &str,
        e: &Evaluation,
    ) -> Result<(), StoreError> {
        let scalars = [
            ("log_loss", e.log_loss),
            ("log_loss_clip", e.log_loss_clip),
            ("macro_f1", e.macro_f1),
            ("accuracy", e.accuracy),
            ("n_tracks", e.n as f64),
        ];
        // Scalars, per-class metrics and confusion cells in one transaction: a killed
        // process leaves all of an evaluation or none of it.
        self.rt.block_on(async {
            let mut tx = self.pool.begin().await.map_err(self.err("recording an evaluation"))?;
            for (name, value) in scalars {
                sqlx::query("INSERT OR REPLACE INTO metrics (run_id, model, split, name, value) VALUES (?, ?, ?, ?, ?)")
                    .bind(run)
                    .bind(model)
                    .bind(split)
                    .bind(name)
                    .bind(value.is_finite().then_some(value))
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err("recording metrics"))?;
            }
            for (c, m) in e.per_class.iter().enumerate() {
                sqlx::query(
                    "INSERT OR REPLACE INTO class_metrics
                     (run_id, model, split, class_index, precision, recall, f1, support)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(run)
                .bind(model)
                .bind(split)
                .bind(c as i64)
                .bind(m.precision)
                .bind(m.recall)
                .bind(m.f1)
                .bind(m.support as i64)
                .execute(&mut *tx)
                .await
                .map_err(self.err("recording per-class metrics"))?;
            }
            for (t, row) in e.confusion.iter().enumerate() {
                for (p, &count) in row.iter().enumerate().filter(|(_, c)| **c > 0) {
                    sqlx::query(
                        "INSERT OR REPLACE INTO confusion
                         (run_id, model, split, true_index, predicted_index, count)
                         VALUES (?, ?, ?, ?, ?, ?)",
                    )
                    .bind(run)
                    .bind(model)
                    .bind(split)
                    .bind(t as i64)
                    .bind(p as i64)
                    .bind(count as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err("recording a confusion matrix"))?;
                }
            }
            tx.commit()
                .await
                .map_err(self.err("recording an evaluation"))
        })
    }

    /// Append one epoch's losses (with the learning rate and task where the model has
    /// them) and refresh the run's heartbeat.
    pub fn record_epoch(
        &self,
        run: RunId,
        model: &str,
        e: &EpochReport,
        detail: EpochDetail,
    ) -> Result<(), StoreError> {
        self.rt.block_on(async {
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(self.err("recording an epoch"))?;
            sqlx::query(
                "INSERT OR REPLACE INTO epochs
                    (run_id, model, epoch, train_loss, validation_loss, learning_rate, task)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(run)
            .bind(model)
            .bind(e.epoch as i64)
            .bind(e.train_loss.is_finite().then_some(e.train_loss))
            .bind(e.validation_loss.is_finite().then_some(e.validation_loss))
            .bind(detail.learning_rate)
            .bind(detail.task)
            .execute(&mut *tx)
            .await
            .map_err(self.err("recording an epoch"))?;
            sqlx::query("UPDATE runs SET heartbeat_at = ? WHERE id = ?")
                .bind(now())
                .bind(run)
                .execute(&mut *tx)
                .await
                .map_err(self.err("recording an epoch"))?;
            tx.commit().await.map_err(self.err("recording an epoch"))
        })
    }

    /// The run's status and resolved spec.
    pub fn stored_run(&self, run: RunId) -> Result<StoredRun, StoreError> {
        self.rt.block_on(async {
            let row =
                sqlx::query("SELECT id, name, status, spec_toml, spec_hash FROM runs WHERE id = ?")
                    .bind(run)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(self.err("reading a run"))?
                    .ok_or_else(|| StoreError::NoSuchRun {
                        path: self.path.clone(),
                        run,
                    })?;
            Ok(StoredRun {
                id: RunId(row.get(0)),
                name: row.get(1),
                status: row.get(2),
                spec_toml: row.get(3),
                spec_hash: row.get(4),
            })
        })
    }

    /// Mark a run `running` again (it is being resumed): its end and error are cleared.
    pub fn reopen_run(&self, run: RunId) -> Result<(), StoreError> {
        self.rt.block_on(async {
            sqlx::query(
                "UPDATE runs SET status = 'running', ended_at = NULL, error = NULL, heartbeat_at = ?
                 WHERE id = ?",
            )
            .bind(now())
            .bind(run)
            .execute(&self.pool)
            .await
            .map_err(self.err("reopening a run"))?;
            Ok(())
        })
    }

    pub fn finish_run(
        &self,
        run: RunId,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.rt.block_on(async {
            let t = now();
            sqlx::query("UPDATE runs SET status = ?, ended_at = ?, heartbeat_at = ?, error = ? WHERE id = ?")
                .bind(status.as_str())
                .bind(&t)
                .bind(&t)
                .bind(error)
                .bind(run)
                .execute(&self.pool)
                .await
                .map_err(self.err("finishing a run"))?;
            Ok(())
        })
    }

    /// Every run, oldest first, with its headline test metrics.
    pub fn list_runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        self.rt.block_on(async {
            let rows = sqlx::query(
                "SELECT r.id, r.name, r.status, r.started_at, r.ended_at, r.spec_hash,
                        (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.model = r.headline_model
                           AND m.split = 'test' AND m.name = 'log_loss') AS log_loss,
                        (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.model = r.headline_model
                           AND m.split = 'test' AND m.name = 'macro_f1') AS macro_f1
                 FROM runs r ORDER BY r.id",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("listing runs"))?;
            Ok(rows
                .into_iter()
                .map(|r| RunSummary {
                    id: RunId(r.get(0)),
                    name: r.get(1),
                    status: r.get(2),
                    started_at: r.get(3),
                    ended_at: r.get(4),
                    spec_hash: r.get(5),
                    log_loss: r.get(6),
                    macro_f1: r.get(7),
                })
                .collect())
        })
    }

    /// The headline model's test confusion matrix of `run`, or of the newest finished run.
    pub fn confusion(&self, run: Option<RunId>) -> Result<Option<StoredConfusion>, StoreError> {
        self.rt.block_on(async {
            let row = match run {
                Some(id) => sqlx::query("SELECT id, headline_model FROM runs WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(self.err("finding a run"))?
                    .ok_or(StoreError::NoSuchRun { path: self.path.clone(), run: id })
                    .map(Some)?,
                None => sqlx::query(
                    "SELECT id, headline_model FROM runs WHERE status = 'done' ORDER BY id DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err("finding the newest run"))?,
            };
            let Some(row) = row else { return Ok(None) };
            let id = RunId(row.get(0));
            let model: Option<String> = row.get(1);
            let model = model.unwrap_or_default();
            let classes: Vec<String> = sqlx::query("SELECT name FROM classes WHERE run_id = ? ORDER BY class_index")
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("reading classes"))?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            let n = classes.len();
            let mut matrix = vec![vec![0usize; n]; n];
            let cells = sqlx::query(
                "SELECT true_index, predicted_index, count FROM confusion
                 WHERE run_id = ? AND model = ? AND split = 'test'",
            )
            .bind(id)
            .bind(&model)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading a confusion matrix"))?;
            for c in cells {
                let (t, p, k): (i64, i64, i64) = (c.get(0), c.get(1), c.get(2));
                if (t as usize) < n && (p as usize) < n {
                    matrix[t as usize][p as usize] = k as usize;
                }
            }
            Ok(Some(StoredConfusion { run: id, model, split: "test".into(), classes, matrix }))
        })
    }

    /// Per-epoch losses of a run's model.
    /// Every scalar metric of a run, ordered by model, split and name.
    pub fn metrics(&self, run: RunId) -> Result<Vec<MetricRow>, StoreError> {
        self.rt.block_on(async {
            let rows = sqlx::query(
                "SELECT model, split, name, value FROM metrics WHERE run_id = ?
                 ORDER BY model, split, name",
            )
            .bind(run)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading metrics"))?;
            Ok(rows
                .into_iter()
                .map(|r| MetricRow {
                    model: r.get(0),
                    split: r.get(1),
                    name: r.get(2),
                    value: r.get(3),
                })
                .collect())
        })
    }

    /// The models with stored epochs in a run, in the order they were first recorded.
    pub fn epoch_models(&self, run: RunId) -> Result<Vec<String>, StoreError> {
        self.rt.block_on(async {
            let rows = sqlx::query(
                "SELECT model FROM epochs WHERE run_id = ? GROUP BY model ORDER BY MIN(rowid)",
            )
            .bind(run)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading epochs"))?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })
    }

    /// A model's epochs with the learning rate and task where it has them.
    pub fn epoch_rows(&self, run: RunId, model: &str) -> Result<Vec<EpochRow>, StoreError> {
        self.rt.block_on(async {
            let rows = sqlx::query(
                "SELECT epoch, train_loss, validation_loss, learning_rate, task FROM epochs
                 WHERE run_id = ? AND model = ? ORDER BY epoch",
            )
            .bind(run)
            .bind(model)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading epochs"))?;
            Ok(rows
                .into_iter()
                .map(|r| EpochRow {
                    epoch: r.get::<i64, _>(0) as usize,
                    train_loss: r.get(1),
                    validation_loss: r.get(2),
                    learning_rate: r.get(3),
                    task: r.get(4),
                })
                .collect())
        })
    }

    pub fn epochs(&self, run: RunId, model: &str) -> Result<Vec<EpochReport>, StoreError> {
        Ok(self
            .epoch_rows(run, model)?
            .into_iter()
            .map(|r| EpochReport {
                epoch: r.epoch,
                train_loss: r.train_loss.unwrap_or(f64::NAN),
                validation_loss: r.validation_loss.unwrap_or(f64::NAN),
            })
            .collect())
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
            headline_model: "logreg".into(),
            params: vec![("seed".into(), "7".into())],
        }
    }

    #[test]
    fn a_run_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sub/agf.sqlite")).unwrap();
        let a = store.start_run(&new_run("first")).unwrap();
        let b = store.start_run(&new_run("second")).unwrap();
        assert_eq!((a, b), (RunId(1), RunId(2)));
        store.record_classes(a, &["x".into(), "y".into()]).unwrap();
        let e = evaluate(&[0.9, 0.1, 0.2, 0.8, 0.6, 0.4], &[0, 1, 1], 2, 1e-8);
        store.record_evaluation(a, "logreg", "test", &e).unwrap();
        store
            .record_epoch(
                a,
                "logreg",
                &EpochReport {
                    epoch: 1,
                    train_loss: 0.5,
                    validation_loss: 0.6,
                },
                EpochDetail::default(),
            )
            .unwrap();
        store.finish_run(a, RunStatus::Done, None).unwrap();
        store
            .finish_run(b, RunStatus::Failed, Some("boom"))
            .unwrap();

        let runs = store.list_runs().unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].status, "done");
        assert!((runs[0].log_loss.unwrap() - e.log_loss).abs() < 1e-12);
        assert_eq!(runs[0].macro_f1, Some(e.macro_f1));
        assert_eq!(runs[1].log_loss, None);

        let cm = store.confusion(None).unwrap().unwrap();
        assert_eq!(cm.run, a);
        assert_eq!(cm.matrix, vec![vec![1, 0], vec![1, 1]]);
        assert_eq!(store.epochs(a, "logreg").unwrap().len(), 1);
        assert!(matches!(
            store.confusion(Some(RunId(9))),
            Err(StoreError::NoSuchRun { .. })
        ));
        // Reopening applies no migration twice and keeps the data.
        drop(store);
        let store = Store::open(&dir.path().join("sub/agf.sqlite")).unwrap();
        assert_eq!(store.list_runs().unwrap().len(), 2);
    }
}
