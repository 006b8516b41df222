//! `agf bench store`: how many cells per second workers claim from a sweep's queue when the
//! cells themselves take no time (claim, then finish), on SQLite and, given a server, on
//! PostgreSQL: the ceiling the store puts on a sweep of many short cells. Each worker is a
//! thread with its own connection, as a worker process would have; medians of repeats.

use super::median;
use crate::record::RunId;
use crate::store::{CellEnd, Liveness, NewCell, NewSweep, Store, StoreLocation};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

struct Alive;

impl Liveness for Alive {
    fn is_alive(&self, _: RunId) -> bool {
        true
    }
}

/// Claim and finish every cell of a fresh `cells`-cell sweep with `workers` threads;
/// returns (seconds, cells claimed).
fn drain(at: &StoreLocation, workers: usize, cells: usize) -> Result<(f64, usize), String> {
    let one_line = |e: crate::store::StoreError| crate::errors::one_line(&e);
    let store = Store::open(at, Box::new(Alive)).map_err(one_line)?;
    let new: Vec<NewCell> = (0..cells)
        .map(|i| NewCell {
            spec_hash: format!("{i:08}"),
            spec_toml: String::new(),
            arm: "{}".into(),
            seed: None,
            priority: 0,
        })
        .collect();
    let sweep = NewSweep {
        name: "bench".into(),
        spec_path: String::new(),
        spec_text: String::new(),
        baseline: "{}".into(),
    };
    store.sync_sweep(&sweep, &new, 1).map_err(one_line)?;
    // Connections are opened before the clock starts: a worker connects once per life.
    let stores: Vec<Store> = (0..workers)
        .map(|_| Store::open(at, Box::new(Alive)).map_err(one_line))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let claimed: Vec<Result<usize, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(w, store)| {
                s.spawn(move || {
                    let me = format!("bench:{w}");
                    let mut n = 0;
                    while let Some(c) = store
                        .claim_cell("bench", &me, 0, i64::MAX)
                        .map_err(one_line)?
                    {
                        store
                            .finish_cell(c.id, &me, CellEnd::Done)
                            .map_err(one_line)?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker thread"))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let total = claimed.into_iter().sum::<Result<usize, String>>()?;
    Ok((seconds, total))
}

/// A fresh database on the server of `url` for one repeat, dropped afterwards.
struct Scratch {
    rt: tokio::runtime::Runtime,
    admin: String,
    name: String,
    url: String,
}

impl Scratch {
    fn new(url: &str, n: usize) -> Result<Scratch, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let name = format!("agf_bench_{}_{n}", std::process::id());
        let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
        let scratch = Scratch {
            rt,
            admin: url.to_string(),
            url: format!("{base}/{name}"),
            name,
        };
        scratch.sql(&format!("CREATE DATABASE {}", scratch.name))?;
        Ok(scratch)
    }

    fn sql(&self, statement: &str) -> Result<(), String> {
        use sqlx::Connection;
        self.rt
            .block_on(async {
                let mut c = sqlx::PgConnection::connect(&self.admin).await?;
                sqlx::query(statement).execute(&mut c).await.map(|_| ())
            })
            .map_err(|e| {
                format!(
                    "{}: {}",
                    crate::store::PgUrl::parse(&self.admin)
                        .map_or(String::new(), |u| u.to_string()),
                    crate::errors::one_line(&e)
                )
            })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

pub fn store(
    dir: &Path,
    workers: usize,
    cells: usize,
    repeats: usize,
    postgres: Option<&str>,
) -> Result<String, String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{cells} cells claimed and finished by {workers} workers (threads, a connection each), \
         no work per cell; median of {repeats}"
    );
    let mut rates: Vec<(String, f64)> = Vec::new();
    let mut measure =
        |name: String,
         make: &mut dyn FnMut(usize) -> Result<(StoreLocation, Option<Scratch>), String>|
         -> Result<(), String> {
            let mut per_second = Vec::new();
            for r in 0..repeats {
                let (at, _scratch) = make(r)?;
                let (seconds, claimed) = drain(&at, workers, cells)?;
                if claimed != cells {
                    return Err(format!("{name}: {claimed} of {cells} cells claimed"));
                }
                per_second.push(claimed as f64 / seconds);
            }
            let rate = median(&mut per_second);
            let _ = writeln!(out, "{name:<44} {rate:>9.0} cells/s");
            rates.push((name, rate));
            Ok(())
        };
    measure("SQLite (WAL, local disk)".into(), &mut |r| {
        let path = dir.join(format!("bench-{r}.sqlite"));
        Ok((StoreLocation::Sqlite(path), None))
    })?;
    match postgres {
        Some(url) => {
            let shown = crate::store::PgUrl::parse(url)
                .ok_or("--postgres takes a postgres:// URL")?
                .to_string();
            measure(format!("PostgreSQL ({shown})"), &mut |r| {
                let scratch = Scratch::new(url, r)?;
                Ok((StoreLocation::parse(&scratch.url), Some(scratch)))
            })?;
            let _ = writeln!(out, "PostgreSQL / SQLite: {:.2}×", rates[1].1 / rates[0].1);
        }
        None => {
            let _ = writeln!(
                out,
                "(PostgreSQL: give --postgres URL of a server where the role may create databases)"
            );
        }
    }
    Ok(out)
}
