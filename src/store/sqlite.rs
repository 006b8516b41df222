//! The SQLite backend: one file (WAL, busy timeout), schema from `migrations/`.
//!
//! The rest of the crate is synchronous (rayon, candle), so the backend owns a small tokio
//! runtime and blocks on each query.

use super::{
    Backend, Cell, CellEnd, CellId, CellStatus, FactorRow, MetricRow, NewCell, NewRun, NewSweep,
    RunEnd, RunStatus, RunSummary, StoreError, StoredConfusion, StoredRun, SweepSummary,
};
use crate::eval::Evaluation;
use crate::record::{
    metric, AlbumId, ArtistId, Epoch, ModelName, Prediction, RunId, RunTrack, SplitKey, TrackId,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

type Insert<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

pub struct SqliteStore {
    rt: tokio::runtime::Runtime,
    pool: SqlitePool,
    path: PathBuf,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A stored epoch as the table holds it.
#[derive(sqlx::FromRow)]
struct EpochRow {
    epoch: i64,
    train_loss: Option<f64>,
    validation_loss: Option<f64>,
    learning_rate: Option<f64>,
    task: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PredictionRow {
    track_id: i64,
    #[sqlx(try_from = "String")]
    split: SplitKey,
    label: i64,
    true_label: Option<i64>,
    probabilities: String,
}

#[derive(sqlx::FromRow)]
struct TrackRow {
    track_id: i64,
    artist_id: i64,
    album_id: i64,
    #[sqlx(try_from = "String")]
    split: SplitKey,
    published: i64,
    true_label: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct FactorMetrics {
    run_id: RunId,
    model: String,
    perplexity: Option<f64>,
    held_out_perplexity: Option<f64>,
    nmi_artist_group: Option<f64>,
    vocabulary: Option<f64>,
    topics: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct ConfusionCell {
    true_index: i64,
    predicted_index: i64,
    count: i64,
}

/// A finite value, or NULL.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl SqliteStore {
    /// Open (creating if needed) the store at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
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
        let location = path.display().to_string();
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
                    location: location.clone(),
                    source,
                })
                .and_then(|pool| {
                    rt.block_on(sqlx::migrate!("./migrations").run(&pool))
                        .map(|_| pool)
                        .map_err(|source| StoreError::Migrate {
                            location: location.clone(),
                            source,
                        })
                });
            match result {
                Ok(pool) => break pool,
                Err(e) if attempt < 40 && locked(&e) => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(25 * attempt as u64));
                }
                Err(e) => return Err(e),
            }
        };
        Ok(SqliteStore {
            rt,
            pool,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
        move |source| StoreError::Query {
            location: self.location(),
            what,
            source,
        }
    }

    /// Run `sql` once per row, binding each with `bind`, all in one transaction: a killed
    /// process leaves every row or none.
    fn insert_rows<'q, T>(
        &self,
        what: &'static str,
        sql: &'q str,
        rows: impl IntoIterator<Item = T>,
        bind: impl Fn(Insert<'q>, T) -> Insert<'q>,
    ) -> Result<(), StoreError> {
        self.rt.block_on(async {
            let mut tx = self.pool.begin().await.map_err(self.err(what))?;
            insert_each(&mut tx, sql, rows, bind)
                .await
                .map_err(self.err(what))?;
            tx.commit().await.map_err(self.err(what))
        })
    }

    fn no_such_run(&self, run: RunId) -> StoreError {
        StoreError::NoSuchRun {
            location: self.location(),
            run,
        }
    }
}

/// One metric row; the metrics table is written by evaluations and by plain measurements.
const METRIC_ROW: &str =
    "INSERT OR REPLACE INTO metrics (run_id, model, split, name, value) VALUES (?, ?, ?, ?, ?)";

/// Run `sql` once per row inside `tx`.
async fn insert_each<'q, T>(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    sql: &'q str,
    rows: impl IntoIterator<Item = T>,
    bind: impl Fn(Insert<'q>, T) -> Insert<'q>,
) -> Result<(), sqlx::Error> {
    for row in rows {
        bind(sqlx::query(sql), row).execute(&mut **tx).await?;
    }
    Ok(())
}

/// SQLite's "database is locked", wherever in the chain it is.
fn locked(e: &StoreError) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        if c.to_string().contains("database is locked") {
            return true;
        }
        cause = c.source();
    }
    false
}

impl Backend for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn start_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
        self.rt.block_on(async {
            let what = "starting a run";
            let mut tx = self.pool.begin().await.map_err(self.err(what))?;
            let started = now();
            let id: RunId = sqlx::query_scalar(
                "INSERT INTO runs (name, status, spec_toml, spec_hash, seed, git_commit, git_dirty,
                                   crate_version, host, device, headline_model, started_at, heartbeat_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&run.name)
            .bind(RunStatus::Running.as_str())
            .bind(&run.spec_toml)
            .bind(&run.spec_hash)
            .bind(run.seed as i64)
            .bind(&run.git_commit)
            .bind(run.git_dirty)
            .bind(&run.crate_version)
            .bind(&run.host)
            .bind(&run.device)
            .bind(run.headline_model.to_string())
            .bind(&started)
            .bind(&started)
            .fetch_one(&mut *tx)
            .await
            .map_err(self.err(what))?;
            insert_each(
                &mut tx,
                "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)",
                &run.params,
                |q, (k, v)| q.bind(id).bind(k).bind(v),
            )
            .await
            .map_err(self.err("recording parameters"))?;
            if let Some(cell) = run.cell {
                sqlx::query("UPDATE cells SET run_id = ? WHERE id = ?")
                    .bind(id)
                    .bind(cell)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err(what))?;
            }
            tx.commit().await.map_err(self.err(what))?;
            Ok(id)
        })
    }

    fn reopen_run(&self, run: RunId) -> Result<(), StoreError> {
        self.rt.block_on(async {
            sqlx::query(
                "UPDATE runs SET status = ?, ended_at = NULL, error = NULL, heartbeat_at = ?
                 WHERE id = ?",
            )
            .bind(RunStatus::Running.as_str())
            .bind(now())
            .bind(run)
            .execute(&self.pool)
            .await
            .map_err(self.err("reopening a run"))?;
            Ok(())
        })
    }

    fn finish_run(&self, run: RunId, end: RunEnd) -> Result<(), StoreError> {
        let (status, error) = match end {
            RunEnd::Done => (RunStatus::Done, None),
            RunEnd::Failed(why) => (RunStatus::Failed, Some(why)),
        };
        self.rt.block_on(async {
            let t = now();
            sqlx::query(
                "UPDATE runs SET status = ?, ended_at = ?, heartbeat_at = ?, error = ? WHERE id = ?",
            )
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

    fn record_classes(&self, run: RunId, names: &[String]) -> Result<(), StoreError> {
        self.insert_rows(
            "recording classes",
            "INSERT OR REPLACE INTO classes (run_id, class_index, name) VALUES (?, ?, ?)",
            names.iter().enumerate(),
            |q, (i, name)| q.bind(run).bind(i as i64).bind(name),
        )
    }

    fn record_metrics(
        &self,
        run: RunId,
        model: &ModelName,
        split: SplitKey,
        values: &[(&str, f64)],
    ) -> Result<(), StoreError> {
        let model = model.to_string();
        self.insert_rows(
            "recording metrics",
            METRIC_ROW,
            values,
            |q, (name, value)| {
                q.bind(run)
                    .bind(model.clone())
                    .bind(split.as_str())
                    .bind(*name)
                    .bind(finite(*value))
            },
        )
    }

    fn record_facts(&self, run: RunId, facts: &[(&str, String)]) -> Result<(), StoreError> {
        self.insert_rows(
            "recording facts",
            "INSERT OR REPLACE INTO facts (run_id, key, value) VALUES (?, ?, ?)",
            facts,
            |q, (k, v)| q.bind(run).bind(*k).bind(v),
        )
    }

    fn record_skipped(&self, run: RunId, skipped: &[(TrackId, String)]) -> Result<(), StoreError> {
        self.insert_rows(
            "recording skipped tracks",
            "INSERT OR REPLACE INTO skipped_tracks (run_id, track_id, reason) VALUES (?, ?, ?)",
            skipped,
            |q, (track, reason)| q.bind(run).bind(track.0 as i64).bind(reason),
        )
    }

    fn record_flips(
        &self,
        run: RunId,
        flips: &[(TrackId, SplitKey, usize, usize)],
    ) -> Result<(), StoreError> {
        self.insert_rows(
            "recording label flips",
            "INSERT OR REPLACE INTO label_flips (run_id, track_id, split, from_class, to_class)
             VALUES (?, ?, ?, ?, ?)",
            flips,
            |q, (track, split, from, to)| {
                q.bind(run)
                    .bind(track.0 as i64)
                    .bind(split.as_str())
                    .bind(*from as i64)
                    .bind(*to as i64)
            },
        )
    }

    fn record_evaluation(
        &self,
        run: RunId,
        model: &ModelName,
        split: SplitKey,
        e: &Evaluation,
    ) -> Result<(), StoreError> {
        let scalars = [
            (metric::LOG_LOSS, e.log_loss),
            (metric::LOG_LOSS_CLIP, e.log_loss_clip),
            (metric::MACRO_F1, e.macro_f1),
            (metric::ACCURACY, e.accuracy),
            (metric::N_TRACKS, e.n as f64),
        ];
        let cells = e.confusion.iter().enumerate().flat_map(|(t, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(move |(p, c)| (t, p, *c))
        });
        let (model, split) = (model.to_string(), split.as_str());
        let what = "recording an evaluation";
        self.rt.block_on(async {
            let mut tx = self.pool.begin().await.map_err(self.err(what))?;
            insert_each(&mut tx, METRIC_ROW, scalars, |q, (name, value)| {
                q.bind(run)
                    .bind(model.clone())
                    .bind(split)
                    .bind(name)
                    .bind(finite(value))
            })
            .await
            .map_err(self.err(what))?;
            insert_each(
                &mut tx,
                "INSERT OR REPLACE INTO class_metrics
                 (run_id, model, split, class_index, precision, recall, f1, support)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                e.per_class.iter().enumerate(),
                |q, (c, m)| {
                    q.bind(run)
                        .bind(model.clone())
                        .bind(split)
                        .bind(c as i64)
                        .bind(m.precision)
                        .bind(m.recall)
                        .bind(m.f1)
                        .bind(m.support as i64)
                },
            )
            .await
            .map_err(self.err(what))?;
            insert_each(
                &mut tx,
                "INSERT OR REPLACE INTO confusion
                 (run_id, model, split, true_index, predicted_index, count)
                 VALUES (?, ?, ?, ?, ?, ?)",
                cells,
                |q, (t, p, count)| {
                    q.bind(run)
                        .bind(model.clone())
                        .bind(split)
                        .bind(t as i64)
                        .bind(p as i64)
                        .bind(count as i64)
                },
            )
            .await
            .map_err(self.err(what))?;
            tx.commit().await.map_err(self.err(what))
        })
    }

    fn record_epoch(&self, run: RunId, model: &ModelName, e: &Epoch) -> Result<(), StoreError> {
        self.rt.block_on(async {
            let what = "recording an epoch";
            let mut tx = self.pool.begin().await.map_err(self.err(what))?;
            sqlx::query(
                "INSERT OR REPLACE INTO epochs
                    (run_id, model, epoch, train_loss, validation_loss, learning_rate, task)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(run)
            .bind(model.to_string())
            .bind(e.epoch as i64)
            .bind(finite(e.train_loss))
            .bind(finite(e.validation_loss))
            .bind(e.learning_rate)
            .bind(&e.task)
            .execute(&mut *tx)
            .await
            .map_err(self.err(what))?;
            sqlx::query("UPDATE runs SET heartbeat_at = ? WHERE id = ?")
                .bind(now())
                .bind(run)
                .execute(&mut *tx)
                .await
                .map_err(self.err(what))?;
            tx.commit().await.map_err(self.err(what))
        })
    }

    fn record_predictions(
        &self,
        run: RunId,
        model: &ModelName,
        rows: &[Prediction],
    ) -> Result<(), StoreError> {
        let model = model.to_string();
        self.insert_rows(
            "recording predictions",
            "INSERT OR REPLACE INTO predictions
             (run_id, model, track_id, split, label, true_label, predicted, probabilities)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
            |q, p| {
                q.bind(run)
                    .bind(model.clone())
                    .bind(p.track.0 as i64)
                    .bind(p.split.as_str())
                    .bind(p.label as i64)
                    .bind(p.true_label.map(|l| l as i64))
                    .bind(p.predicted() as i64)
                    // Shortest round-trip decimals: read back, every f32 is the same bits.
                    .bind(serde_json::to_string(&p.probabilities).expect("floats serialise"))
            },
        )
    }

    fn record_tracks(&self, run: RunId, rows: &[RunTrack]) -> Result<(), StoreError> {
        self.insert_rows(
            "recording the run's tracks",
            "INSERT OR REPLACE INTO tracks
             (run_id, track_id, artist_id, album_id, split, published, true_label)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
            |q, t| {
                q.bind(run)
                    .bind(t.track.0 as i64)
                    .bind(t.artist.0 as i64)
                    .bind(t.album.0 as i64)
                    .bind(t.split.as_str())
                    .bind(t.published as i64)
                    .bind(t.true_label.map(|l| l as i64))
            },
        )
    }

    fn tracks(&self, run: RunId) -> Result<Vec<RunTrack>, StoreError> {
        self.rt.block_on(async {
            let rows: Vec<TrackRow> = sqlx::query_as(
                "SELECT track_id, artist_id, album_id, split, published, true_label FROM tracks
                 WHERE run_id = ? ORDER BY track_id",
            )
            .bind(run)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading the run's tracks"))?;
            Ok(rows
                .into_iter()
                .map(|r| RunTrack {
                    track: TrackId(r.track_id as u32),
                    artist: ArtistId(r.artist_id as u32),
                    album: AlbumId(r.album_id as u32),
                    split: r.split,
                    published: r.published as usize,
                    true_label: r.true_label.map(|l| l as usize),
                })
                .collect())
        })
    }

    fn predictions(&self, run: RunId, model: &ModelName) -> Result<Vec<Prediction>, StoreError> {
        self.rt.block_on(async {
            let rows: Vec<PredictionRow> = sqlx::query_as(
                "SELECT track_id, split, label, true_label, probabilities FROM predictions
                 WHERE run_id = ? AND model = ? ORDER BY track_id",
            )
            .bind(run)
            .bind(model.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading predictions"))?;
            rows.into_iter()
                .map(|r| {
                    let probabilities = serde_json::from_str(&r.probabilities).map_err(|e| {
                        self.err("reading predictions")(sqlx::Error::Decode(Box::new(e)))
                    })?;
                    Ok(Prediction {
                        track: TrackId(r.track_id as u32),
                        split: r.split,
                        label: r.label as usize,
                        true_label: r.true_label.map(|l| l as usize),
                        probabilities,
                    })
                })
                .collect()
        })
    }

    fn written_runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        self.rt.block_on(async {
            sqlx::query_as(
                "SELECT r.id, r.name, r.status, r.started_at, r.ended_at, r.spec_hash, r.device,
                        r.headline_model, r.error,
                        (SELECT value FROM metrics m WHERE m.run_id = r.id
                           AND m.model = r.headline_model AND m.split = ? AND m.name = ?) AS log_loss,
                        (SELECT value FROM metrics m WHERE m.run_id = r.id
                           AND m.model = r.headline_model AND m.split = ? AND m.name = ?) AS macro_f1,
                        (SELECT value FROM metrics m WHERE m.run_id = r.id
                           AND m.model = r.headline_model AND m.split = ? AND m.name = ?) AS accuracy
                 FROM runs r ORDER BY r.id",
            )
            .bind(SplitKey::Test.as_str())
            .bind(metric::LOG_LOSS)
            .bind(SplitKey::Test.as_str())
            .bind(metric::MACRO_F1)
            .bind(SplitKey::Test.as_str())
            .bind(metric::ACCURACY)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("listing runs"))
        })
    }

    fn written_run(&self, run: RunId) -> Result<StoredRun, StoreError> {
        self.rt.block_on(async {
            sqlx::query_as(
                "SELECT id, name, status, spec_toml, spec_hash, error FROM runs WHERE id = ?",
            )
            .bind(run)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("reading a run"))?
            .ok_or_else(|| self.no_such_run(run))
        })
    }

    fn params(&self, run: RunId) -> Result<Vec<(String, String)>, StoreError> {
        self.rt.block_on(async {
            sqlx::query_as("SELECT key, value FROM params WHERE run_id = ? ORDER BY key")
                .bind(run)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("reading parameters"))
        })
    }

    fn every_param(&self) -> Result<Vec<(RunId, String, String)>, StoreError> {
        self.rt.block_on(async {
            sqlx::query_as("SELECT run_id, key, value FROM params ORDER BY run_id, key")
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("reading parameters"))
        })
    }

    fn every_metric(&self, split: SplitKey) -> Result<Vec<(RunId, MetricRow)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            run_id: RunId,
            #[sqlx(flatten)]
            metric: MetricRow,
        }
        self.rt.block_on(async {
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT run_id, model, split, name, value FROM metrics WHERE split = ?
                 ORDER BY run_id, model, name",
            )
            .bind(split.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading metrics"))?;
            Ok(rows.into_iter().map(|r| (r.run_id, r.metric)).collect())
        })
    }

    fn metrics(&self, run: RunId) -> Result<Vec<MetricRow>, StoreError> {
        self.rt.block_on(async {
            sqlx::query_as(
                "SELECT model, split, name, value FROM metrics WHERE run_id = ?
                 ORDER BY model, split, name",
            )
            .bind(run)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading metrics"))
        })
    }

    fn metric(
        &self,
        run: RunId,
        model: &ModelName,
        split: SplitKey,
        name: &str,
    ) -> Result<Option<f64>, StoreError> {
        self.rt.block_on(async {
            let value: Option<Option<f64>> = sqlx::query_scalar(
                "SELECT value FROM metrics WHERE run_id = ? AND model = ? AND split = ? AND name = ?",
            )
            .bind(run)
            .bind(model.to_string())
            .bind(split.as_str())
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("reading a metric"))?;
            Ok(value.flatten())
        })
    }

    fn facts(&self, run: RunId) -> Result<Vec<(String, String)>, StoreError> {
        self.rt.block_on(async {
            sqlx::query_as("SELECT key, value FROM facts WHERE run_id = ? ORDER BY key")
                .bind(run)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("reading facts"))
        })
    }

    fn classes(&self, run: RunId) -> Result<Vec<String>, StoreError> {
        self.rt.block_on(async {
            sqlx::query_scalar("SELECT name FROM classes WHERE run_id = ? ORDER BY class_index")
                .bind(run)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("reading classes"))
        })
    }

    fn skipped(&self, run: RunId) -> Result<Vec<(TrackId, String)>, StoreError> {
        self.rt.block_on(async {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT track_id, reason FROM skipped_tracks WHERE run_id = ? ORDER BY track_id",
            )
            .bind(run)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading skipped tracks"))?;
            Ok(rows
                .into_iter()
                .map(|(t, r)| (TrackId(t as u32), r))
                .collect())
        })
    }

    fn epoch_models(&self, run: RunId) -> Result<Vec<ModelName>, StoreError> {
        self.rt.block_on(async {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT model FROM epochs WHERE run_id = ? GROUP BY model ORDER BY MIN(rowid)",
            )
            .bind(run)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading epochs"))?;
            Ok(names.iter().filter_map(|m| ModelName::parse(m)).collect())
        })
    }

    fn epochs(&self, run: RunId, model: &ModelName) -> Result<Vec<Epoch>, StoreError> {
        self.rt.block_on(async {
            let rows: Vec<EpochRow> = sqlx::query_as(
                "SELECT epoch, train_loss, validation_loss, learning_rate, task FROM epochs
                 WHERE run_id = ? AND model = ? ORDER BY epoch",
            )
            .bind(run)
            .bind(model.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading epochs"))?;
            Ok(rows
                .into_iter()
                .map(|r| Epoch {
                    epoch: r.epoch as usize,
                    train_loss: r.train_loss.unwrap_or(f64::NAN),
                    validation_loss: r.validation_loss.unwrap_or(f64::NAN),
                    learning_rate: r.learning_rate,
                    task: r.task,
                })
                .collect())
        })
    }

    fn confusion_matrix(
        &self,
        run: RunId,
        model: &ModelName,
        split: SplitKey,
        classes: usize,
    ) -> Result<Vec<Vec<usize>>, StoreError> {
        self.rt.block_on(async {
            let cells: Vec<ConfusionCell> = sqlx::query_as(
                "SELECT true_index, predicted_index, count FROM confusion
                 WHERE run_id = ? AND model = ? AND split = ?",
            )
            .bind(run)
            .bind(model.to_string())
            .bind(split.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading a confusion matrix"))?;
            let mut matrix = vec![vec![0usize; classes]; classes];
            for c in cells {
                let (t, p) = (c.true_index as usize, c.predicted_index as usize);
                if t < classes && p < classes {
                    matrix[t][p] = c.count as usize;
                }
            }
            Ok(matrix)
        })
    }

    fn confusion(&self, run: Option<RunId>) -> Result<Option<StoredConfusion>, StoreError> {
        self.rt.block_on(async {
            let row: Option<(RunId, Option<String>)> = match run {
                Some(id) => Some(
                    sqlx::query_as("SELECT id, headline_model FROM runs WHERE id = ?")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(self.err("finding a run"))?
                        .ok_or_else(|| self.no_such_run(id))?,
                ),
                None => sqlx::query_as(
                    "SELECT id, headline_model FROM runs WHERE status = ? ORDER BY id DESC LIMIT 1",
                )
                .bind(RunStatus::Done.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(self.err("finding the newest run"))?,
            };
            let Some((id, Some(model))) = row else {
                return Ok(None);
            };
            let Some(model_name) = ModelName::parse(&model) else {
                return Ok(None);
            };
            let classes: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM classes WHERE run_id = ? ORDER BY class_index",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading classes"))?;
            let n = classes.len();
            let mut matrix = vec![vec![0usize; n]; n];
            let cells: Vec<ConfusionCell> = sqlx::query_as(
                "SELECT true_index, predicted_index, count FROM confusion
                 WHERE run_id = ? AND model = ? AND split = ?",
            )
            .bind(id)
            .bind(&model)
            .bind(SplitKey::Test.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading a confusion matrix"))?;
            for c in cells {
                let (t, p) = (c.true_index as usize, c.predicted_index as usize);
                if t < n && p < n {
                    matrix[t][p] = c.count as usize;
                }
            }
            Ok(Some(StoredConfusion {
                run: id,
                model: model_name,
                split: SplitKey::Test,
                classes,
                matrix,
            }))
        })
    }

    fn factor_rows(&self) -> Result<Vec<FactorRow>, StoreError> {
        self.rt.block_on(async {
            let rows: Vec<FactorMetrics> = sqlx::query_as(
                "SELECT run_id, model,
                        max(CASE WHEN name = ? THEN value END) AS perplexity,
                        max(CASE WHEN name = ? THEN value END) AS held_out_perplexity,
                        max(CASE WHEN name = ? THEN value END) AS nmi_artist_group,
                        max(CASE WHEN name = ? THEN value END) AS vocabulary,
                        max(CASE WHEN name = ? THEN value END) AS topics
                 FROM metrics WHERE split = ?
                 GROUP BY run_id, model ORDER BY run_id DESC, model",
            )
            .bind(metric::PERPLEXITY)
            .bind(metric::HELD_OUT_PERPLEXITY)
            .bind(metric::NMI_ARTIST_GROUP)
            .bind(metric::VOCABULARY)
            .bind(metric::TOPICS)
            .bind(SplitKey::All.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("reading factor summaries"))?;
            Ok(rows
                .into_iter()
                .filter_map(|r| {
                    let factor = ModelName::parse(&r.model)?.factor()?.to_string();
                    Some(FactorRow {
                        run: r.run_id,
                        factor,
                        perplexity: r.perplexity,
                        held_out_perplexity: r.held_out_perplexity,
                        nmi_artist_group: r.nmi_artist_group,
                        vocabulary: r.vocabulary.map(|v| v as usize),
                        topics: r.topics.map(|v| v as usize),
                    })
                })
                .collect())
        })
    }

    fn sync_sweep(
        &self,
        sweep: &NewSweep,
        cells: &[NewCell],
        max_failures: i64,
    ) -> Result<Vec<Cell>, StoreError> {
        let what = "recording a sweep";
        self.rt.block_on(async {
            let mut tx = self.pool.begin().await.map_err(self.err(what))?;
            let t = now();
            sqlx::query(
                "INSERT INTO sweeps (name, spec_path, spec_text, baseline, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET spec_path = excluded.spec_path,
                     spec_text = excluded.spec_text, baseline = excluded.baseline,
                     updated_at = excluded.updated_at",
            )
            .bind(&sweep.name)
            .bind(&sweep.spec_path)
            .bind(&sweep.spec_text)
            .bind(&sweep.baseline)
            .bind(&t)
            .bind(&t)
            .execute(&mut *tx)
            .await
            .map_err(self.err(what))?;
            insert_each(
                &mut tx,
                "INSERT INTO cells (sweep, number, spec_hash, spec_toml, arm, seed, priority,
                                    status, max_failures, updated_at)
                 SELECT ?1, COALESCE(MAX(number), 0) + 1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8
                 FROM cells WHERE sweep = ?1
                 ON CONFLICT (sweep, spec_hash) DO UPDATE SET priority = excluded.priority,
                     max_failures = excluded.max_failures",
                cells,
                |q, c| {
                    q.bind(&sweep.name)
                        .bind(&c.spec_hash)
                        .bind(&c.spec_toml)
                        .bind(&c.arm)
                        .bind(c.seed.map(|s| s as i64))
                        .bind(c.priority)
                        .bind(max_failures)
                        .bind(t.clone())
                },
            )
            .await
            .map_err(self.err(what))?;
            tx.commit().await.map_err(self.err(what))
        })?;
        self.cells(&sweep.name)
    }

    fn claim_cell(
        &self,
        sweep: &str,
        worker: &str,
        now_ms: i64,
        lease_until: i64,
    ) -> Result<Option<Cell>, StoreError> {
        // One statement: SQLite runs it under one write lock, so no two workers can both
        // see a cell as free and take it.
        self.rt.block_on(async {
            sqlx::query_as(
                "UPDATE cells SET status = 'running', worker = ?1, lease_until = ?2,
                        attempts = attempts + 1, updated_at = ?3
                 WHERE id = (SELECT id FROM cells WHERE sweep = ?4
                               AND (status = 'queued'
                                    OR (status = 'running' AND lease_until < ?5))
                             ORDER BY priority, number LIMIT 1)
                 RETURNING *",
            )
            .bind(worker)
            .bind(lease_until)
            .bind(now())
            .bind(sweep)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err("claiming a cell"))
        })
    }

    fn renew_lease(
        &self,
        cell: CellId,
        worker: &str,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        self.rt.block_on(async {
            // A worker that released its claim to a live holder takes it back on renewal.
            let done = sqlx::query(
                "UPDATE cells SET lease_until = ?1, worker = ?3
                 WHERE id = ?2 AND (worker = ?3 OR worker IS NULL) AND status = 'running'",
            )
            .bind(lease_until)
            .bind(cell)
            .bind(worker)
            .execute(&self.pool)
            .await
            .map_err(self.err("renewing a lease"))?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn expire_lease(&self, cell: CellId) -> Result<(), StoreError> {
        self.rt.block_on(async {
            sqlx::query("UPDATE cells SET lease_until = 0 WHERE id = ? AND status = 'running'")
                .bind(cell)
                .execute(&self.pool)
                .await
                .map_err(self.err("expiring a lease"))?;
            Ok(())
        })
    }

    fn finish_cell(&self, cell: CellId, worker: &str, end: CellEnd) -> Result<(), StoreError> {
        self.rt.block_on(async {
            let q = match end {
                // A done run is done whoever holds the claim now.
                CellEnd::Done => sqlx::query(
                    "UPDATE cells SET status = 'done', error = NULL, lease_until = NULL,
                            worker = ?3, updated_at = ?1 WHERE id = ?2",
                )
                .bind(now())
                .bind(cell)
                .bind(worker),
                CellEnd::Held { until } => sqlx::query(
                    "UPDATE cells SET worker = NULL, lease_until = ?1, updated_at = ?2
                     WHERE id = ?3 AND worker = ?4 AND status = 'running'",
                )
                .bind(until)
                .bind(now())
                .bind(cell)
                .bind(worker),
                CellEnd::Failed(why) => sqlx::query(
                    "UPDATE cells SET failures = failures + 1, error = ?1, lease_until = NULL,
                            status = CASE WHEN failures + 1 >= max_failures
                                          THEN 'failed' ELSE 'queued' END,
                            updated_at = ?2
                     WHERE id = ?3 AND worker = ?4",
                )
                .bind(why)
                .bind(now())
                .bind(cell)
                .bind(worker),
            };
            q.execute(&self.pool)
                .await
                .map_err(self.err("finishing a cell"))?;
            Ok(())
        })
    }

    fn cells(&self, sweep: &str) -> Result<Vec<Cell>, StoreError> {
        self.rt.block_on(async {
            sqlx::query_as("SELECT * FROM cells WHERE sweep = ? ORDER BY number")
                .bind(sweep)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err("reading cells"))
        })
    }

    fn sweeps(&self) -> Result<Vec<SweepSummary>, StoreError> {
        self.rt.block_on(async {
            sqlx::query_as(
                "SELECT s.name, s.spec_path, s.baseline, s.updated_at,
                        COUNT(c.id) AS cells,
                        COALESCE(SUM(c.status = 'queued'), 0) AS queued,
                        COALESCE(SUM(c.status = 'running'), 0) AS running,
                        COALESCE(SUM(c.status = 'done'), 0) AS done,
                        COALESCE(SUM(c.status = 'failed'), 0) AS failed
                 FROM sweeps s LEFT JOIN cells c ON c.sweep = s.name
                 GROUP BY s.name ORDER BY s.name",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(self.err("listing sweeps"))
        })
    }

    fn retry_failed(&self, sweep: &str) -> Result<u64, StoreError> {
        self.rt.block_on(async {
            let done = sqlx::query(
                "UPDATE cells SET status = ?, failures = 0, updated_at = ?
                 WHERE sweep = ? AND status = ?",
            )
            .bind(CellStatus::Queued.as_str())
            .bind(now())
            .bind(sweep)
            .bind(CellStatus::Failed.as_str())
            .execute(&self.pool)
            .await
            .map_err(self.err("retrying failed cells"))?;
            Ok(done.rows_affected())
        })
    }
}
