//! What the SQL backends share: the store's handle on a connection pool, the retry of work
//! that met a dropped connection, and every query, written once in SQL that SQLite and
//! PostgreSQL both read (`$N` placeholders, `ON CONFLICT … DO UPDATE` upserts, `CASE` sums).
//! [`sql_backend!`] expands the one [`super::Backend`] implementation for each database;
//! a backend passes in the few statements that differ (how a cell is claimed, how recording
//! order is kept), so nothing specific to one database lives outside its backend's module.

use super::StoreError;
use crate::record::RunId;
use std::future::Future;
use std::time::{Duration, Instant};

/// A run store on one SQL database.
pub struct SqlStore<DB: sqlx::Database> {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) pool: sqlx::Pool<DB>,
    /// Where the store is, for messages: never a password.
    pub(super) location: String,
    /// Whether an error is worth trying again (a dropped connection, a restarting server).
    pub(super) transient: fn(&sqlx::Error) -> bool,
}

/// How long one piece of work is tried again while its failures are transient: long enough
/// for a database server to restart.
const RETRY_FOR: Duration = Duration::from_secs(180);

pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A finite value, or NULL.
pub(super) fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl<DB: sqlx::Database> SqlStore<DB> {
    /// Run `work` (one statement or one transaction) to its end, again with growing pauses
    /// while it fails for a transient reason. Work is written to be safe to repeat: a
    /// transaction whose commit was lost either happened whole or not at all, and every
    /// write of a result is an upsert.
    pub(super) fn run<T, F, Fut>(&self, what: &'static str, work: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            match self.rt.block_on(work()) {
                Ok(v) => return Ok(v),
                Err(e) if (self.transient)(&e) && started.elapsed() < RETRY_FOR => {
                    tracing::warn!(
                        "run store {}: {what} failed ({e}); trying again in {:.1} s",
                        self.location,
                        pause.as_secs_f64()
                    );
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(source) => {
                    return Err(StoreError::Query {
                        location: self.location.clone(),
                        what,
                        source,
                    })
                }
            }
        }
    }

    pub(super) fn no_such_run(&self, run: RunId) -> StoreError {
        StoreError::NoSuchRun {
            location: self.location.clone(),
            run,
        }
    }
}

/// A stored JSON column that did not parse, as the error sqlx gives for undecodable values.
pub(super) fn decode_error(e: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

/// The one implementation of [`super::Backend`] for `SqlStore<$db>`. `claim` is the
/// statement that takes the next free cell (`$1` worker, `$2` lease end, `$3` time, `$4`
/// sweep, `$5` now in ms; returning the cell); `epoch_models` lists a run's models with
/// epochs in the order they were first recorded (`$1` run).
macro_rules! sql_backend {
    ($db:ty, claim = $claim:expr, epoch_models = $epoch_models:expr $(,)?) => {
        use $crate::eval::Evaluation;
        use $crate::record::{
            metric, AlbumId, ArtistId, Epoch, ModelName, Prediction, RunId, RunTrack, SplitKey,
            TrackId,
        };
        use $crate::store::sql::{decode_error, finite, now, SqlStore};
        use $crate::store::{
            Backend, Cell, CellEnd, CellId, CellStatus, FactorRow, MetricRow, NewCell, NewRun,
            NewSweep, RunEnd, RunStatus, RunSummary, StoreError, StoredConfusion, StoredRun,
            SweepSummary,
        };

        type Insert<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

        /// Run `sql` once per row inside `tx`.
        async fn insert_each<'q, T>(
            tx: &mut sqlx::Transaction<'_, $db>,
            sql: &'q str,
            rows: impl IntoIterator<Item = T>,
            bind: impl Fn(Insert<'q>, T) -> Insert<'q>,
        ) -> Result<(), sqlx::Error> {
            for row in rows {
                bind(sqlx::query(sql), row).execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Run `sql` once per row, all in one transaction: a killed process leaves every
        /// row or none.
        fn insert_rows<'q, T, I>(
            store: &SqlStore<$db>,
            what: &'static str,
            sql: &'q str,
            rows: I,
            bind: impl Fn(Insert<'q>, T) -> Insert<'q> + Copy,
        ) -> Result<(), StoreError>
        where
            I: IntoIterator<Item = T> + Clone,
        {
            store.run(what, || {
                let rows = rows.clone();
                async move {
                    let mut tx = store.pool.begin().await?;
                    insert_each(&mut tx, sql, rows, bind).await?;
                    tx.commit().await
                }
            })
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

        /// One metric row; the metrics table is written by evaluations and by plain
        /// measurements.
        const METRIC_ROW: &str = "INSERT INTO metrics (run_id, model, split, name, value)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (run_id, model, split, name) DO UPDATE SET value = excluded.value";

        /// One per-class score of an evaluation.
        const CLASS_METRIC_ROW: &str = "INSERT INTO class_metrics
             (run_id, model, split, class_index, precision, recall, f1, support)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (run_id, model, split, class_index) DO UPDATE SET
                 precision = excluded.precision, recall = excluded.recall,
                 f1 = excluded.f1, support = excluded.support";

        /// One non-zero cell of a confusion matrix.
        const CONFUSION_ROW: &str = "INSERT INTO confusion
             (run_id, model, split, true_index, predicted_index, count)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (run_id, model, split, true_index, predicted_index)
             DO UPDATE SET count = excluded.count";

        impl Backend for SqlStore<$db> {
            fn location(&self) -> String {
                self.location.clone()
            }

            fn start_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
                self.run("starting a run", || async move {
                    let mut tx = self.pool.begin().await?;
                    let started = now();
                    let id: RunId = sqlx::query_scalar(
                        "INSERT INTO runs (name, status, spec_toml, spec_hash, seed, git_commit,
                             git_dirty, crate_version, host, device, headline_model, started_at,
                             heartbeat_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                         RETURNING id",
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
                    .await?;
                    insert_each(
                        &mut tx,
                        "INSERT INTO params (run_id, key, value) VALUES ($1, $2, $3)",
                        &run.params,
                        |q, (k, v)| q.bind(id).bind(k).bind(v),
                    )
                    .await?;
                    if let Some(cell) = run.cell {
                        sqlx::query("UPDATE cells SET run_id = $1 WHERE id = $2")
                            .bind(id)
                            .bind(cell)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(id)
                })
            }

            fn reopen_run(&self, run: RunId) -> Result<(), StoreError> {
                self.run("reopening a run", || async move {
                    sqlx::query(
                        "UPDATE runs SET status = $1, ended_at = NULL, error = NULL,
                             heartbeat_at = $2
                         WHERE id = $3",
                    )
                    .bind(RunStatus::Running.as_str())
                    .bind(now())
                    .bind(run)
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
                })
            }

            fn finish_run(&self, run: RunId, end: RunEnd) -> Result<(), StoreError> {
                let (status, error) = match end {
                    RunEnd::Done => (RunStatus::Done, None),
                    RunEnd::Failed(why) => (RunStatus::Failed, Some(why)),
                };
                self.run("finishing a run", || async move {
                    let t = now();
                    let mut tx = self.pool.begin().await?;
                    sqlx::query(
                        "UPDATE runs SET status = $1, ended_at = $2, heartbeat_at = $3,
                             error = $4
                         WHERE id = $5",
                    )
                    .bind(status.as_str())
                    .bind(&t)
                    .bind(&t)
                    .bind(error)
                    .bind(run)
                    .execute(&mut *tx)
                    .await?;
                    // A sweep cell's run that is done makes the cell done in the same
                    // transaction: no moment has a finished run under an unfinished cell.
                    if status == RunStatus::Done {
                        sqlx::query(
                            "UPDATE cells SET status = 'done', error = NULL, lease_until = NULL,
                                 updated_at = $1
                             WHERE run_id = $2 AND status = 'running'",
                        )
                        .bind(&t)
                        .bind(run)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await
                })
            }

            fn record_classes(&self, run: RunId, names: &[String]) -> Result<(), StoreError> {
                insert_rows(
                    self,
                    "recording classes",
                    "INSERT INTO classes (run_id, class_index, name) VALUES ($1, $2, $3)
                     ON CONFLICT (run_id, class_index) DO UPDATE SET name = excluded.name",
                    names.iter().enumerate(),
                    move |q, (i, name)| q.bind(run).bind(i as i64).bind(name),
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
                let model = model.as_str();
                insert_rows(self, "recording metrics", METRIC_ROW, values, move |q, (name, value)| {
                    q.bind(run)
                        .bind(model)
                        .bind(split.as_str())
                        .bind(*name)
                        .bind(finite(*value))
                })
            }

            fn record_facts(&self, run: RunId, facts: &[(&str, String)]) -> Result<(), StoreError> {
                insert_rows(
                    self,
                    "recording facts",
                    "INSERT INTO facts (run_id, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                    facts,
                    move |q, (k, v)| q.bind(run).bind(*k).bind(v),
                )
            }

            fn record_skipped(
                &self,
                run: RunId,
                skipped: &[(TrackId, String)],
            ) -> Result<(), StoreError> {
                insert_rows(
                    self,
                    "recording skipped tracks",
                    "INSERT INTO skipped_tracks (run_id, track_id, reason) VALUES ($1, $2, $3)
                     ON CONFLICT (run_id, track_id) DO UPDATE SET reason = excluded.reason",
                    skipped,
                    move |q, (track, reason)| q.bind(run).bind(track.0 as i64).bind(reason),
                )
            }

            fn record_flips(
                &self,
                run: RunId,
                flips: &[(TrackId, SplitKey, usize, usize)],
            ) -> Result<(), StoreError> {
                insert_rows(
                    self,
                    "recording label flips",
                    "INSERT INTO label_flips (run_id, track_id, split, from_class, to_class)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (run_id, track_id) DO UPDATE SET split = excluded.split,
                         from_class = excluded.from_class, to_class = excluded.to_class",
                    flips,
                    move |q, (track, split, from, to)| {
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
                let cells: Vec<(usize, usize, usize)> = e
                    .confusion
                    .iter()
                    .enumerate()
                    .flat_map(|(t, row)| {
                        row.iter()
                            .enumerate()
                            .filter(|(_, c)| **c > 0)
                            .map(move |(p, c)| (t, p, *c))
                    })
                    .collect();
                let model = model.to_string();
                let (model, split, cells) = (model.as_str(), split.as_str(), &cells);
                self.run("recording an evaluation", || async move {
                    let mut tx = self.pool.begin().await?;
                    insert_each(&mut tx, METRIC_ROW, scalars, |q, (name, value)| {
                        q.bind(run)
                            .bind(model)
                            .bind(split)
                            .bind(name)
                            .bind(finite(value))
                    })
                    .await?;
                    insert_each(
                        &mut tx,
                        CLASS_METRIC_ROW,
                        e.per_class.iter().enumerate(),
                        |q, (c, m)| {
                            q.bind(run)
                                .bind(model)
                                .bind(split)
                                .bind(c as i64)
                                .bind(m.precision)
                                .bind(m.recall)
                                .bind(m.f1)
                                .bind(m.support as i64)
                        },
                    )
                    .await?;
                    // A confusion matrix is replaced whole: a cell that is zero now has no row.
                    sqlx::query("DELETE FROM confusion WHERE run_id = $1 AND model = $2 AND split = $3")
                        .bind(run)
                        .bind(model)
                        .bind(split)
                        .execute(&mut *tx)
                        .await?;
                    insert_each(
                        &mut tx,
                        CONFUSION_ROW,
                        cells,
                        |q, &(t, p, count)| {
                            q.bind(run)
                                .bind(model)
                                .bind(split)
                                .bind(t as i64)
                                .bind(p as i64)
                                .bind(count as i64)
                        },
                    )
                    .await?;
                    tx.commit().await
                })
            }

            fn record_epoch(&self, run: RunId, model: &ModelName, e: &Epoch) -> Result<(), StoreError> {
                let model = model.to_string();
                let model = model.as_str();
                self.run("recording an epoch", || async move {
                    let mut tx = self.pool.begin().await?;
                    sqlx::query(
                        "INSERT INTO epochs
                            (run_id, model, epoch, train_loss, validation_loss, learning_rate, task)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (run_id, model, epoch) DO UPDATE SET
                             train_loss = excluded.train_loss,
                             validation_loss = excluded.validation_loss,
                             learning_rate = excluded.learning_rate, task = excluded.task",
                    )
                    .bind(run)
                    .bind(model)
                    .bind(e.epoch as i64)
                    .bind(finite(e.train_loss))
                    .bind(finite(e.validation_loss))
                    .bind(e.learning_rate)
                    .bind(&e.task)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE runs SET heartbeat_at = $1 WHERE id = $2")
                        .bind(now())
                        .bind(run)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await
                })
            }

            fn record_predictions(
                &self,
                run: RunId,
                model: &ModelName,
                rows: &[Prediction],
            ) -> Result<(), StoreError> {
                let model = model.to_string();
                let model = model.as_str();
                insert_rows(
                    self,
                    "recording predictions",
                    "INSERT INTO predictions
                     (run_id, model, track_id, split, label, true_label, predicted, probabilities)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (run_id, model, track_id) DO UPDATE SET split = excluded.split,
                         label = excluded.label, true_label = excluded.true_label,
                         predicted = excluded.predicted, probabilities = excluded.probabilities",
                    rows,
                    move |q, p| {
                        q.bind(run)
                            .bind(model)
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
                insert_rows(
                    self,
                    "recording the run's tracks",
                    "INSERT INTO tracks
                     (run_id, track_id, artist_id, album_id, split, published, true_label)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (run_id, track_id) DO UPDATE SET artist_id = excluded.artist_id,
                         album_id = excluded.album_id, split = excluded.split,
                         published = excluded.published, true_label = excluded.true_label",
                    rows,
                    move |q, t| {
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
                let rows: Vec<TrackRow> = self.run("reading the run's tracks", || async move {
                    sqlx::query_as(
                        "SELECT track_id, artist_id, album_id, split, published, true_label
                         FROM tracks WHERE run_id = $1 ORDER BY track_id",
                    )
                    .bind(run)
                    .fetch_all(&self.pool)
                    .await
                })?;
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
            }

            fn predictions(
                &self,
                run: RunId,
                model: &ModelName,
            ) -> Result<Vec<Prediction>, StoreError> {
                let model = model.to_string();
                let model = model.as_str();
                self.run("reading predictions", || async move {
                    let rows: Vec<PredictionRow> = sqlx::query_as(
                        "SELECT track_id, split, label, true_label, probabilities FROM predictions
                         WHERE run_id = $1 AND model = $2 ORDER BY track_id",
                    )
                    .bind(run)
                    .bind(model)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|r| {
                            Ok(Prediction {
                                track: TrackId(r.track_id as u32),
                                split: r.split,
                                label: r.label as usize,
                                true_label: r.true_label.map(|l| l as usize),
                                probabilities: serde_json::from_str(&r.probabilities)
                                    .map_err(decode_error)?,
                            })
                        })
                        .collect()
                })
            }

            fn written_runs(&self) -> Result<Vec<RunSummary>, StoreError> {
                self.run("listing runs", || async move {
                    sqlx::query_as(
                        "SELECT r.id, r.name, r.status, r.started_at, r.ended_at, r.spec_hash,
                                r.device, r.headline_model, r.error,
                                (SELECT value FROM metrics m WHERE m.run_id = r.id
                                   AND m.model = r.headline_model AND m.split = $1
                                   AND m.name = $2) AS log_loss,
                                (SELECT value FROM metrics m WHERE m.run_id = r.id
                                   AND m.model = r.headline_model AND m.split = $1
                                   AND m.name = $3) AS macro_f1,
                                (SELECT value FROM metrics m WHERE m.run_id = r.id
                                   AND m.model = r.headline_model AND m.split = $1
                                   AND m.name = $4) AS accuracy
                         FROM runs r ORDER BY r.id",
                    )
                    .bind(SplitKey::Test.as_str())
                    .bind(metric::LOG_LOSS)
                    .bind(metric::MACRO_F1)
                    .bind(metric::ACCURACY)
                    .fetch_all(&self.pool)
                    .await
                })
            }

            fn written_run(&self, run: RunId) -> Result<StoredRun, StoreError> {
                self.run("reading a run", || async move {
                    sqlx::query_as(
                        "SELECT id, name, status, spec_toml, spec_hash, error FROM runs
                         WHERE id = $1",
                    )
                    .bind(run)
                    .fetch_optional(&self.pool)
                    .await
                })?
                .ok_or_else(|| self.no_such_run(run))
            }

            fn params(&self, run: RunId) -> Result<Vec<(String, String)>, StoreError> {
                self.run("reading parameters", || async move {
                    sqlx::query_as("SELECT key, value FROM params WHERE run_id = $1 ORDER BY key")
                        .bind(run)
                        .fetch_all(&self.pool)
                        .await
                })
            }

            fn every_param(&self) -> Result<Vec<(RunId, String, String)>, StoreError> {
                self.run("reading parameters", || async move {
                    sqlx::query_as("SELECT run_id, key, value FROM params ORDER BY run_id, key")
                        .fetch_all(&self.pool)
                        .await
                })
            }

            fn every_metric(&self, split: SplitKey) -> Result<Vec<(RunId, MetricRow)>, StoreError> {
                #[derive(sqlx::FromRow)]
                struct Row {
                    run_id: RunId,
                    #[sqlx(flatten)]
                    metric: MetricRow,
                }
                let rows: Vec<Row> = self.run("reading metrics", || async move {
                    sqlx::query_as(
                        "SELECT run_id, model, split, name, value FROM metrics WHERE split = $1
                         ORDER BY run_id, model, name",
                    )
                    .bind(split.as_str())
                    .fetch_all(&self.pool)
                    .await
                })?;
                Ok(rows.into_iter().map(|r| (r.run_id, r.metric)).collect())
            }

            fn metrics(&self, run: RunId) -> Result<Vec<MetricRow>, StoreError> {
                self.run("reading metrics", || async move {
                    sqlx::query_as(
                        "SELECT model, split, name, value FROM metrics WHERE run_id = $1
                         ORDER BY model, split, name",
                    )
                    .bind(run)
                    .fetch_all(&self.pool)
                    .await
                })
            }

            fn metric(
                &self,
                run: RunId,
                model: &ModelName,
                split: SplitKey,
                name: &str,
            ) -> Result<Option<f64>, StoreError> {
                let model = model.to_string();
                let model = model.as_str();
                let value: Option<Option<f64>> = self.run("reading a metric", || async move {
                    sqlx::query_scalar(
                        "SELECT value FROM metrics
                         WHERE run_id = $1 AND model = $2 AND split = $3 AND name = $4",
                    )
                    .bind(run)
                    .bind(model)
                    .bind(split.as_str())
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                })?;
                Ok(value.flatten())
            }

            fn facts(&self, run: RunId) -> Result<Vec<(String, String)>, StoreError> {
                self.run("reading facts", || async move {
                    sqlx::query_as("SELECT key, value FROM facts WHERE run_id = $1 ORDER BY key")
                        .bind(run)
                        .fetch_all(&self.pool)
                        .await
                })
            }

            fn classes(&self, run: RunId) -> Result<Vec<String>, StoreError> {
                self.run("reading classes", || async move {
                    sqlx::query_scalar(
                        "SELECT name FROM classes WHERE run_id = $1 ORDER BY class_index",
                    )
                    .bind(run)
                    .fetch_all(&self.pool)
                    .await
                })
            }

            fn skipped(&self, run: RunId) -> Result<Vec<(TrackId, String)>, StoreError> {
                let rows: Vec<(i64, String)> = self.run("reading skipped tracks", || async move {
                    sqlx::query_as(
                        "SELECT track_id, reason FROM skipped_tracks WHERE run_id = $1
                         ORDER BY track_id",
                    )
                    .bind(run)
                    .fetch_all(&self.pool)
                    .await
                })?;
                Ok(rows
                    .into_iter()
                    .map(|(t, r)| (TrackId(t as u32), r))
                    .collect())
            }

            fn flips(&self, run: RunId) -> Result<Vec<(TrackId, SplitKey, usize, usize)>, StoreError> {
                let rows: Vec<(i64, String, i64, i64)> =
                    self.run("reading label flips", || async move {
                        sqlx::query_as(
                            "SELECT track_id, split, from_class, to_class FROM label_flips
                             WHERE run_id = $1 ORDER BY track_id",
                        )
                        .bind(run)
                        .fetch_all(&self.pool)
                        .await
                    })?;
                rows.into_iter()
                    .map(|(t, s, from, to)| {
                        let split = SplitKey::try_from(s).map_err(|e| StoreError::Query {
                            location: self.location.clone(),
                            what: "reading label flips",
                            source: sqlx::Error::Decode(Box::new(e)),
                        })?;
                        Ok((TrackId(t as u32), split, from as usize, to as usize))
                    })
                    .collect()
            }

            fn epoch_models(&self, run: RunId) -> Result<Vec<ModelName>, StoreError> {
                let names: Vec<String> = self.run("reading epochs", || async move {
                    sqlx::query_scalar($epoch_models)
                        .bind(run)
                        .fetch_all(&self.pool)
                        .await
                })?;
                Ok(names.iter().filter_map(|m| ModelName::parse(m)).collect())
            }

            fn epochs(&self, run: RunId, model: &ModelName) -> Result<Vec<Epoch>, StoreError> {
                let model = model.to_string();
                let model = model.as_str();
                let rows: Vec<EpochRow> = self.run("reading epochs", || async move {
                    sqlx::query_as(
                        "SELECT epoch, train_loss, validation_loss, learning_rate, task
                         FROM epochs WHERE run_id = $1 AND model = $2 ORDER BY epoch",
                    )
                    .bind(run)
                    .bind(model)
                    .fetch_all(&self.pool)
                    .await
                })?;
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
            }

            fn class_metrics(
                &self,
                run: RunId,
            ) -> Result<Vec<$crate::store::ClassMetricRow>, StoreError> {
                self.run("reading class metrics", || async move {
                    sqlx::query_as(
                        "SELECT model, split, class_index, precision, recall, f1, support
                         FROM class_metrics WHERE run_id = $1
                         ORDER BY model, split, class_index",
                    )
                    .bind(run)
                    .fetch_all(&self.pool)
                    .await
                })
            }

            fn confusion_cells(
                &self,
                run: RunId,
            ) -> Result<Vec<$crate::store::ConfusionRow>, StoreError> {
                self.run("reading confusion matrices", || async move {
                    sqlx::query_as(
                        "SELECT model, split, true_index, predicted_index, count
                         FROM confusion WHERE run_id = $1
                         ORDER BY model, split, true_index, predicted_index",
                    )
                    .bind(run)
                    .fetch_all(&self.pool)
                    .await
                })
            }

            fn confusion_matrix(
                &self,
                run: RunId,
                model: &ModelName,
                split: SplitKey,
                classes: usize,
            ) -> Result<Vec<Vec<usize>>, StoreError> {
                let model = model.to_string();
                let model = model.as_str();
                let cells: Vec<ConfusionCell> =
                    self.run("reading a confusion matrix", || async move {
                        sqlx::query_as(
                            "SELECT true_index, predicted_index, count FROM confusion
                             WHERE run_id = $1 AND model = $2 AND split = $3",
                        )
                        .bind(run)
                        .bind(model)
                        .bind(split.as_str())
                        .fetch_all(&self.pool)
                        .await
                    })?;
                let mut matrix = vec![vec![0usize; classes]; classes];
                for c in cells {
                    let (t, p) = (c.true_index as usize, c.predicted_index as usize);
                    if t < classes && p < classes {
                        matrix[t][p] = c.count as usize;
                    }
                }
                Ok(matrix)
            }

            fn confusion(&self, run: Option<RunId>) -> Result<Option<StoredConfusion>, StoreError> {
                let row: Option<(RunId, Option<String>)> = match run {
                    Some(id) => Some(
                        self.run("finding a run", || async move {
                            sqlx::query_as("SELECT id, headline_model FROM runs WHERE id = $1")
                                .bind(id)
                                .fetch_optional(&self.pool)
                                .await
                        })?
                        .ok_or_else(|| self.no_such_run(id))?,
                    ),
                    None => self.run("finding the newest run", || async move {
                        sqlx::query_as(
                            "SELECT id, headline_model FROM runs WHERE status = $1
                             ORDER BY id DESC LIMIT 1",
                        )
                        .bind(RunStatus::Done.as_str())
                        .fetch_optional(&self.pool)
                        .await
                    })?,
                };
                let Some((id, Some(model))) = row else {
                    return Ok(None);
                };
                let Some(model_name) = ModelName::parse(&model) else {
                    return Ok(None);
                };
                let classes = self.classes(id)?;
                let matrix =
                    self.confusion_matrix(id, &model_name, SplitKey::Test, classes.len())?;
                Ok(Some(StoredConfusion {
                    run: id,
                    model: model_name,
                    split: SplitKey::Test,
                    classes,
                    matrix,
                }))
            }

            fn factor_rows(&self) -> Result<Vec<FactorRow>, StoreError> {
                let rows: Vec<FactorMetrics> = self.run("reading factor summaries", || async move {
                    sqlx::query_as(
                        "SELECT run_id, model,
                                max(CASE WHEN name = $1 THEN value END) AS perplexity,
                                max(CASE WHEN name = $2 THEN value END) AS held_out_perplexity,
                                max(CASE WHEN name = $3 THEN value END) AS nmi_artist_group,
                                max(CASE WHEN name = $4 THEN value END) AS vocabulary,
                                max(CASE WHEN name = $5 THEN value END) AS topics
                         FROM metrics WHERE split = $6
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
                })?;
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
            }

            fn sync_sweep(
                &self,
                sweep: &NewSweep,
                cells: &[NewCell],
                max_failures: i64,
            ) -> Result<Vec<Cell>, StoreError> {
                self.run("recording a sweep", || async move {
                    let mut tx = self.pool.begin().await?;
                    let t = now();
                    sqlx::query(
                        "INSERT INTO sweeps (name, spec_path, spec_text, baseline, created_at,
                             updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6)
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
                    .await?;
                    let t = t.as_str();
                    insert_each(
                        &mut tx,
                        "INSERT INTO cells (sweep, number, spec_hash, spec_toml, arm, seed,
                                            priority, status, max_failures, updated_at)
                         SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4, $5, $6, 'queued',
                                $7, $8
                         FROM cells WHERE sweep = $1
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
                                .bind(t)
                        },
                    )
                    .await?;
                    tx.commit().await
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
                self.run("claiming a cell", || async move {
                    sqlx::query_as($claim)
                        .bind(worker)
                        .bind(lease_until)
                        .bind(now())
                        .bind(sweep)
                        .bind(now_ms)
                        .fetch_optional(&self.pool)
                        .await
                })
            }

            fn renew_lease(
                &self,
                cell: CellId,
                worker: &str,
                lease_until: i64,
            ) -> Result<bool, StoreError> {
                // A worker that released its claim to a live holder takes it back on renewal.
                let done = self.run("renewing a lease", || async move {
                    sqlx::query(
                        "UPDATE cells SET lease_until = $1, worker = $3
                         WHERE id = $2 AND (worker = $3 OR worker IS NULL)
                           AND status = 'running'",
                    )
                    .bind(lease_until)
                    .bind(cell)
                    .bind(worker)
                    .execute(&self.pool)
                    .await
                })?;
                Ok(done.rows_affected() == 1)
            }

            fn expire_lease(&self, cell: CellId) -> Result<(), StoreError> {
                self.run("expiring a lease", || async move {
                    sqlx::query(
                        "UPDATE cells SET lease_until = 0 WHERE id = $1 AND status = 'running'",
                    )
                    .bind(cell)
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
                })
            }

            fn finish_cell(&self, cell: CellId, worker: &str, end: CellEnd) -> Result<(), StoreError> {
                self.run("finishing a cell", || async move {
                    let q = match end {
                        // A done run is done whoever holds the claim now.
                        CellEnd::Done => sqlx::query(
                            "UPDATE cells SET status = 'done', error = NULL, lease_until = NULL,
                                    worker = $3, updated_at = $1 WHERE id = $2",
                        )
                        .bind(now())
                        .bind(cell)
                        .bind(worker),
                        CellEnd::Held { until } => sqlx::query(
                            "UPDATE cells SET worker = NULL, lease_until = $1, updated_at = $2
                             WHERE id = $3 AND worker = $4 AND status = 'running'",
                        )
                        .bind(until)
                        .bind(now())
                        .bind(cell)
                        .bind(worker),
                        CellEnd::Failed(why) => sqlx::query(
                            "UPDATE cells SET failures = failures + 1, error = $1,
                                    lease_until = NULL,
                                    status = CASE WHEN failures + 1 >= max_failures
                                                  THEN 'failed' ELSE 'queued' END,
                                    updated_at = $2
                             WHERE id = $3 AND worker = $4",
                        )
                        .bind(why)
                        .bind(now())
                        .bind(cell)
                        .bind(worker),
                    };
                    q.execute(&self.pool).await.map(|_| ())
                })
            }

            fn cells(&self, sweep: &str) -> Result<Vec<Cell>, StoreError> {
                self.run("reading cells", || async move {
                    sqlx::query_as("SELECT * FROM cells WHERE sweep = $1 ORDER BY number")
                        .bind(sweep)
                        .fetch_all(&self.pool)
                        .await
                })
            }

            fn sweep(&self, name: &str) -> Result<Option<NewSweep>, StoreError> {
                let row: Option<(String, String, String, String)> =
                    self.run("reading a sweep", || async move {
                        sqlx::query_as(
                            "SELECT name, spec_path, spec_text, baseline FROM sweeps
                             WHERE name = $1",
                        )
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                    })?;
                Ok(row.map(|(name, spec_path, spec_text, baseline)| NewSweep {
                    name,
                    spec_path,
                    spec_text,
                    baseline,
                }))
            }

            fn sweeps(&self) -> Result<Vec<SweepSummary>, StoreError> {
                self.run("listing sweeps", || async move {
                    sqlx::query_as(
                        "SELECT s.name, s.spec_path, s.baseline, s.updated_at,
                                COUNT(c.id) AS cells,
                                COALESCE(SUM(CASE WHEN c.status = 'queued' THEN 1 ELSE 0 END), 0)
                                    AS queued,
                                COALESCE(SUM(CASE WHEN c.status = 'running' THEN 1 ELSE 0 END), 0)
                                    AS running,
                                COALESCE(SUM(CASE WHEN c.status = 'done' THEN 1 ELSE 0 END), 0)
                                    AS done,
                                COALESCE(SUM(CASE WHEN c.status = 'failed' THEN 1 ELSE 0 END), 0)
                                    AS failed
                         FROM sweeps s LEFT JOIN cells c ON c.sweep = s.name
                         GROUP BY s.name ORDER BY s.name",
                    )
                    .fetch_all(&self.pool)
                    .await
                })
            }

            fn retry_failed(&self, sweep: &str) -> Result<u64, StoreError> {
                let done = self.run("retrying failed cells", || async move {
                    sqlx::query(
                        "UPDATE cells SET status = $1, failures = 0, updated_at = $2
                         WHERE sweep = $3 AND status = $4",
                    )
                    .bind(CellStatus::Queued.as_str())
                    .bind(now())
                    .bind(sweep)
                    .bind(CellStatus::Failed.as_str())
                    .execute(&self.pool)
                    .await
                })?;
                Ok(done.rows_affected())
            }

            fn run_record(&self, run: RunId) -> Result<$crate::store::RunRecord, StoreError> {
                self.run("reading a run", || async move {
                    sqlx::query_as(
                        "SELECT name, status, spec_toml, spec_hash, seed, git_commit, git_dirty,
                                crate_version, host, device, headline_model, started_at,
                                ended_at, heartbeat_at, error
                         FROM runs WHERE id = $1",
                    )
                    .bind(run)
                    .fetch_optional(&self.pool)
                    .await
                })?
                .ok_or_else(|| self.no_such_run(run))
            }

            fn import_run(
                &self,
                r: &$crate::store::RunRecord,
                params: &[(String, String)],
                cell: Option<(&str, &str)>,
            ) -> Result<RunId, StoreError> {
                self.run("copying a run in", || async move {
                    let mut tx = self.pool.begin().await?;
                    let id: RunId = sqlx::query_scalar(
                        "INSERT INTO runs (name, status, spec_toml, spec_hash, seed, git_commit,
                             git_dirty, crate_version, host, device, headline_model, started_at,
                             ended_at, heartbeat_at, error)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                         RETURNING id",
                    )
                    .bind(&r.name)
                    .bind(RunStatus::Queued.as_str())
                    .bind(&r.spec_toml)
                    .bind(&r.spec_hash)
                    .bind(r.seed)
                    .bind(&r.git_commit)
                    .bind(r.git_dirty)
                    .bind(&r.crate_version)
                    .bind(&r.host)
                    .bind(&r.device)
                    .bind(&r.headline_model)
                    .bind(&r.started_at)
                    .bind(&r.ended_at)
                    .bind(&r.heartbeat_at)
                    .bind(&r.error)
                    .fetch_one(&mut *tx)
                    .await?;
                    insert_each(
                        &mut tx,
                        "INSERT INTO params (run_id, key, value) VALUES ($1, $2, $3)",
                        params,
                        |q, (k, v)| q.bind(id).bind(k).bind(v),
                    )
                    .await?;
                    if let Some((sweep, spec_hash)) = cell {
                        sqlx::query("UPDATE cells SET run_id = $1 WHERE sweep = $2 AND spec_hash = $3")
                            .bind(id)
                            .bind(sweep)
                            .bind(spec_hash)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(id)
                })
            }

            fn set_run_status(&self, run: RunId, status: &str) -> Result<(), StoreError> {
                self.run("copying a run in", || async move {
                    sqlx::query("UPDATE runs SET status = $1 WHERE id = $2")
                        .bind(status)
                        .bind(run)
                        .execute(&self.pool)
                        .await
                        .map(|_| ())
                })
            }

            fn delete_run(&self, run: RunId) -> Result<(), StoreError> {
                self.run("removing a run", || async move {
                    let mut tx = self.pool.begin().await?;
                    sqlx::query("UPDATE cells SET run_id = NULL WHERE run_id = $1")
                        .bind(run)
                        .execute(&mut *tx)
                        .await?;
                    for table in [
                        "params", "metrics", "classes", "class_metrics", "confusion", "epochs",
                        "facts", "skipped_tracks", "label_flips", "predictions", "tracks",
                    ] {
                        sqlx::query(&format!("DELETE FROM {table} WHERE run_id = $1"))
                            .bind(run)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query("DELETE FROM runs WHERE id = $1")
                        .bind(run)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await
                })
            }

            fn find_run(&self, r: &$crate::store::RunRecord) -> Result<Option<RunId>, StoreError> {
                self.run("finding a run", || async move {
                    sqlx::query_scalar(
                        "SELECT id FROM runs WHERE spec_hash = $1 AND started_at = $2
                             AND host = $3 AND name = $4
                         ORDER BY id LIMIT 1",
                    )
                    .bind(&r.spec_hash)
                    .bind(&r.started_at)
                    .bind(&r.host)
                    .bind(&r.name)
                    .fetch_optional(&self.pool)
                    .await
                })
            }

            fn record_class_metrics(
                &self,
                run: RunId,
                rows: &[$crate::store::ClassMetricRow],
            ) -> Result<(), StoreError> {
                insert_rows(
                    self,
                    "recording class metrics",
                    CLASS_METRIC_ROW,
                    rows,
                    move |q, m| {
                        q.bind(run)
                            .bind(&m.model)
                            .bind(&m.split)
                            .bind(m.class_index)
                            .bind(m.precision)
                            .bind(m.recall)
                            .bind(m.f1)
                            .bind(m.support)
                    },
                )
            }

            fn record_confusion_cells(
                &self,
                run: RunId,
                rows: &[$crate::store::ConfusionRow],
            ) -> Result<(), StoreError> {
                insert_rows(
                    self,
                    "recording confusion matrices",
                    CONFUSION_ROW,
                    rows,
                    move |q, c| {
                        q.bind(run)
                            .bind(&c.model)
                            .bind(&c.split)
                            .bind(c.true_index)
                            .bind(c.predicted_index)
                            .bind(c.count)
                    },
                )
            }

            fn set_cell(
                &self,
                cell: CellId,
                status: CellStatus,
                error: Option<&str>,
            ) -> Result<(), StoreError> {
                self.run("settling a cell", || async move {
                    sqlx::query(
                        "UPDATE cells SET status = $1, error = $2, lease_until = NULL,
                                worker = NULL, updated_at = $3,
                                failures = failures + CASE WHEN $2 IS NULL THEN 0 ELSE 1 END
                         WHERE id = $4",
                    )
                    .bind(status.as_str())
                    .bind(error)
                    .bind(now())
                    .bind(cell)
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
                })
            }

            fn copy_cells(&self, sweep: &str, cells: &[Cell]) -> Result<(), StoreError> {
                insert_rows(
                    self,
                    "copying cells in",
                    "INSERT INTO cells (sweep, number, spec_hash, spec_toml, arm, seed, priority,
                                        status, attempts, failures, max_failures, error,
                                        updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     ON CONFLICT DO NOTHING",
                    cells,
                    move |q, c| {
                        q.bind(sweep)
                            .bind(c.number)
                            .bind(&c.spec_hash)
                            .bind(&c.spec_toml)
                            .bind(&c.arm)
                            .bind(c.seed)
                            .bind(c.priority)
                            .bind(c.status.as_str())
                            .bind(c.attempts)
                            .bind(c.failures)
                            .bind(c.max_failures)
                            .bind(&c.error)
                            .bind(&c.updated_at)
                    },
                )
            }
        }
    };
}

pub(super) use sql_backend;
