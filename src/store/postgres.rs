//! The PostgreSQL backend: a store that workers on many hosts share, schema from
//! `migrations/postgres/`; the queries are the shared ones of [`super::sql`].
//!
//! Cells are claimed with `FOR UPDATE SKIP LOCKED`, so concurrent workers never wait on
//! each other's claims nor take the same cell. A dropped connection or a restarting server
//! makes the work in hand wait and try again (with growing pauses, up to three minutes)
//! rather than fail a run. Credentials come as libpq users expect (a password in the URL,
//! `PGPASSWORD`, `~/.pgpass` or `PGPASSFILE`) and never reach a message: the store's
//! location is the URL without its password.

use super::PgUrl;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::Connection;
use std::str::FromStr;
use std::time::{Duration, Instant};

pub type PgStore = SqlStore<sqlx::Postgres>;

/// The next free cell, its row locked; rows other workers hold locked are skipped rather
/// than waited for.
const CLAIM: &str = "UPDATE cells SET status = 'running', worker = $1, lease_until = $2,
        attempts = attempts + 1, updated_at = $3
     WHERE id = (SELECT id FROM cells WHERE sweep = $4
                   AND (status = 'queued' OR (status = 'running' AND lease_until < $5))
                 ORDER BY priority, number LIMIT 1
                 FOR UPDATE SKIP LOCKED)
     RETURNING *";

/// Models in the order their first epoch was recorded (the `seq` column keeps it).
const EPOCH_MODELS: &str =
    "SELECT model FROM epochs WHERE run_id = $1 GROUP BY model ORDER BY MIN(seq)";

super::sql::sql_backend!(sqlx::Postgres, claim = CLAIM, epoch_models = EPOCH_MODELS);

/// How long opening waits for a server that is not accepting connections (one restarting
/// takes a second or two); short, so that a mistyped host or port is reported soon. Work
/// under way waits longer ([`super::sql`]).
const OPEN_FOR: Duration = Duration::from_secs(15);

/// Whether an error comes from a lost connection or a server that is going down, starting
/// or asked to retry, rather than from the work itself.
fn transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            // Connection exceptions; shutting down, crashed, starting; serialisation and
            // deadlock failures, which PostgreSQL asks the client to retry.
            c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        }),
        _ => false,
    }
}

/// Connect to the store at `url` and bring its schema up to date (many workers opening it
/// at once are serialised by the migrator's advisory lock).
pub fn open(url: &PgUrl) -> Result<PgStore, StoreError> {
    let location = url.to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StoreError::Runtime)?;
    // The URL's own parser never echoes the URL; its errors say what is wrong with it.
    let options = PgConnectOptions::from_str(url.secret()).map_err(|source| StoreError::Open {
        location: location.clone(),
        source,
    })?;
    // One connection first, with its own error: a pool that cannot connect reports only
    // that it timed out, not why.
    let started = Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        match rt.block_on(PgConnection::connect_with(&options)) {
            Ok(c) => {
                let _ = rt.block_on(c.close());
                break;
            }
            Err(e) if transient(&e) && started.elapsed() < OPEN_FOR => {
                tracing::warn!("run store {location}: cannot connect yet ({e}); trying again");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(source) => return Err(StoreError::Open { location, source }),
        }
    }
    let pool = {
        // Entering the runtime: a lazy pool starts its reaper task there.
        let _rt = rt.enter();
        PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(60))
            .connect_lazy_with(options)
    };
    rt.block_on(sqlx::migrate!("./migrations/postgres").run(&pool))
        .map_err(|source| StoreError::Migrate {
            location: location.clone(),
            source,
        })?;
    Ok(SqlStore {
        rt,
        pool,
        location,
        transient,
    })
}
