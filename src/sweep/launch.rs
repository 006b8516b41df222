//! Running a sweep on this machine: record its cells in the store (in plan order), start
//! worker processes (`agf sweep worker NAME`), replace those that die while cells are left,
//! and show the sweep's progress: cells done, running, failed and left, failures as they
//! happen, and an estimate of the time left.

use super::plan::plan;
use super::{pairs_json, Sweep, SweepError};
use crate::cache::StageCache;
use crate::store::{Cell, CellStatus, NewCell, NewSweep, Store};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Record the sweep and its cells (new cells numbered after the old; claim order from the
/// plan), each allowed `1 + retries` failures.
pub fn record(
    sweep: &Sweep,
    store: &Store,
    cache: &StageCache,
    retries: u32,
) -> Result<Vec<Cell>, SweepError> {
    let priorities = plan(sweep, cache).priorities();
    let cells: Vec<NewCell> = sweep
        .cells
        .iter()
        .zip(priorities)
        .map(|(c, priority)| NewCell {
            spec_hash: c.spec.hash(),
            spec_toml: c.spec.canonical_toml(),
            arm: pairs_json(&c.arm()),
            seed: c.seed,
            priority,
        })
        .collect();
    let new = NewSweep {
        name: sweep.name.clone(),
        spec_path: sweep.file.path.display().to_string(),
        spec_text: sweep.file.text.clone(),
        baseline: pairs_json(&sweep.baseline),
    };
    Ok(store.sync_sweep(&new, &cells, 1 + i64::from(retries))?)
}

/// How to start local workers.
#[derive(Debug, Clone)]
pub struct Local {
    pub workers: usize,
    pub lease: Duration,
    /// The `agf` binary.
    pub exe: PathBuf,
    /// Global arguments every worker gets (`--runs`, `--cache`).
    pub args: Vec<String>,
    /// Environment every worker gets (`AGF_DB`: a store URL may hold a password).
    pub env: Vec<(String, String)>,
    /// Where each worker's log goes (`worker-N.log`).
    pub logs: PathBuf,
}

/// How a sweep's cells stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub cells: usize,
    pub queued: usize,
    pub running: usize,
    pub done: usize,
    pub failed: usize,
}

impl Counts {
    pub fn of(cells: &[Cell]) -> Counts {
        let n = |s: CellStatus| cells.iter().filter(|c| c.status == s).count();
        Counts {
            cells: cells.len(),
            queued: n(CellStatus::Queued),
            running: n(CellStatus::Running),
            done: n(CellStatus::Done),
            failed: n(CellStatus::Failed),
        }
    }
}

/// Run the sweep's remaining cells with local workers; returns the final counts.
pub fn run_local(name: &str, store: &Store, local: &Local) -> Result<Counts, SweepError> {
    std::fs::create_dir_all(&local.logs).map_err(SweepError::Spawn)?;
    let started = Instant::now();
    let first = Counts::of(&store.cells(name)?);
    let mut children: Vec<Child> = Vec::new();
    let mut spawned = 0usize;
    // A worker that keeps dying must not be replaced for ever.
    let spawn_limit = local.workers * 4 + first.queued + first.running;
    let mut last_line = String::new();
    let mut seen_failures: BTreeSet<(i64, i64)> = BTreeSet::new();
    loop {
        children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        let cells = store.cells(name)?;
        let counts = Counts::of(&cells);
        for c in cells.iter().filter(|c| c.error.is_some() && c.failures > 0) {
            if seen_failures.insert((c.id.0, c.failures)) {
                let verdict = match c.status {
                    CellStatus::Failed => "failed for good".to_string(),
                    _ => format!(
                        "failed ({} of {} failures allowed)",
                        c.failures, c.max_failures
                    ),
                };
                println!(
                    "cell {} {verdict}: {}",
                    c.number,
                    c.error.as_deref().unwrap_or("")
                );
            }
        }
        let line = progress_line(&counts, &first, started.elapsed());
        if line != last_line {
            println!("{line}");
            last_line = line;
        }
        if counts.queued + counts.running == 0 {
            break;
        }
        // Cells a new worker could take now: queued, or running under a lapsed lease.
        let now = chrono::Utc::now().timestamp_millis();
        let claimable = counts.queued
            + cells
                .iter()
                .filter(|c| {
                    c.status == CellStatus::Running && c.lease_until.is_some_and(|l| l < now)
                })
                .count();
        let wanted = local.workers.min(claimable);
        while children.len() < wanted && spawned < spawn_limit {
            spawned += 1;
            children.push(spawn(name, local, spawned)?);
        }
        if children.is_empty() && claimable > 0 && spawned >= spawn_limit {
            tracing::warn!("workers keep dying; {claimable} cells are left");
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for mut c in children {
        let _ = c.wait();
    }
    Ok(Counts::of(&store.cells(name)?))
}

fn spawn(name: &str, local: &Local, n: usize) -> Result<Child, SweepError> {
    let log = std::fs::File::create(local.logs.join(format!("worker-{n}.log")))
        .map_err(SweepError::Spawn)?;
    let err = log.try_clone().map_err(SweepError::Spawn)?;
    Command::new(&local.exe)
        .args(&local.args)
        .envs(local.env.iter().map(|(k, v)| (k, v)))
        .args(["sweep", "worker", name, "--lease"])
        .arg(local.lease.as_secs_f64().to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(SweepError::Spawn)
}

/// `done 3/12 · running 2 · failed 0 · left 7 · about 4 min left`.
fn progress_line(c: &Counts, first: &Counts, elapsed: Duration) -> String {
    let finished_here = (c.done + c.failed).saturating_sub(first.done + first.failed);
    let left = c.queued + c.running;
    let eta = if finished_here > 0 && left > 0 {
        // Wall time per finished cell already counts the workers running side by side.
        let per_cell = elapsed.as_secs_f64() / finished_here as f64;
        format!(" · about {} left", human(per_cell * left as f64))
    } else {
        String::new()
    };
    format!(
        "done {}/{} · running {} · failed {} · left {}{eta}",
        c.done, c.cells, c.running, c.failed, c.queued
    )
}

fn human(secs: f64) -> String {
    if secs < 90.0 {
        format!("{secs:.0} s")
    } else if secs < 5400.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}
