//! The SQLite backend: one file (WAL, busy timeout), schema from `migrations/sqlite/`; the
//! queries are the shared ones of [`super::sql`].
//!
//! The rest of the crate is synchronous (rayon, candle), so the backend owns a small tokio
//! runtime and blocks on each query.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::path::Path;
use std::time::Duration;

pub type SqliteStore = SqlStore<sqlx::Sqlite>;

/// One statement takes the next free cell: SQLite runs it under one write lock, so no two
/// workers can both see a cell as free and take it.
const CLAIM: &str = "UPDATE cells SET status = 'running', worker = $1, lease_until = $2,
        attempts = attempts + 1, updated_at = $3
     WHERE id = (SELECT id FROM cells WHERE sweep = $4
                   AND (status = 'queued' OR (status = 'running' AND lease_until < $5))
                 ORDER BY priority, number LIMIT 1)
     RETURNING *";

/// Models in the order their first epoch was recorded: SQLite's rowid keeps that order.
const EPOCH_MODELS: &str =
    "SELECT model FROM epochs WHERE run_id = $1 GROUP BY model ORDER BY MIN(rowid)";

super::sql::sql_backend!(sqlx::Sqlite, claim = CLAIM, epoch_models = EPOCH_MODELS);

/// Open (creating if needed) the store at `path` and bring its schema up to date.
pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
    open_with(path, SqliteJournalMode::Wal)
}

/// A sweep cell's bundle on a shared file system: rollback journaling, which needs only
/// file locks, where WAL needs memory shared between the processes that open it.
pub fn open_bundle(path: &Path) -> Result<SqliteStore, StoreError> {
    open_with(path, SqliteJournalMode::Delete)
}

fn open_with(path: &Path, journal: SqliteJournalMode) -> Result<SqliteStore, StoreError> {
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
        .journal_mode(journal)
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
                rt.block_on(sqlx::migrate!("./migrations/sqlite").run(&pool))
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
    Ok(SqlStore {
        rt,
        pool,
        location: path.display().to_string(),
        // A busy database waits on the busy timeout; nothing else is worth repeating.
        transient: |_| false,
    })
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
