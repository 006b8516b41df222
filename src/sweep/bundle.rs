//! Bundle mode of a Slurm sweep (no shared database): array task N runs cell N into a
//! bundle of its own, and `agf sweep collect` merges finished bundles into the user's store.
//!
//! A bundle (`runs/sweeps/<name>/cells/<N>/`) holds the cell's spec, a SQLite store of its
//! own (rollback journaling: it lies on the shared file system) and the run's folder. A task
//! that is killed leaves its run `running` there; the next task for the cell resumes it
//! from its checkpoints.

use super::slurm;
use super::SweepError;
use crate::cache::StageCache;
use crate::pipeline::{self, RunFolders, Workspace};
use crate::record::RunId;
use crate::store::{CellStatus, RunStatus, Store};
use std::path::Path;

/// Run (or resume, or recognise as done) cell `number` of `sweep` in its bundle.
pub fn run_cell(
    runs: &Path,
    cache: &StageCache,
    sweep: &str,
    number: i64,
) -> Result<RunId, SweepError> {
    let dir = slurm::bundle(runs, sweep, number);
    let spec_path = dir.join("spec.toml");
    let text = std::fs::read_to_string(&spec_path).map_err(|e| {
        SweepError::Slurm(format!(
            "cell {number} of {sweep} has no spec at {} ({e}); `agf sweep run --slurm` writes it",
            spec_path.display()
        ))
    })?;
    let spec = crate::stages::parse_spec(&text, &spec_path)?;
    let folders = RunFolders::new(&dir);
    let store = Store::open_bundle(&dir.join("agf.sqlite"), Box::new(folders.clone()))?;
    let ws = Workspace {
        store: &store,
        cache,
        folders: &folders,
    };
    let last = store.runs()?.into_iter().last();
    let outcome = match last {
        Some(r) if r.status == RunStatus::Done => return Ok(r.id),
        Some(r) => pipeline::resume(ws, r.id),
        None => pipeline::prepare(&spec).and_then(|p| pipeline::run(&spec, p, ws)),
    };
    outcome.map(|o| o.run).map_err(|e| SweepError::Cell {
        number,
        reason: crate::errors::one_line(&e),
    })
}

/// What collecting found.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub done: usize,
    pub failed: usize,
    /// Cells whose task was killed mid-run or never ran.
    pub unfinished: Vec<i64>,
    /// Cells done before (collected already or run elsewhere).
    pub already: usize,
}

/// Merge the bundles of `sweep`'s unsettled cells into `store`, idempotently: a done run is
/// copied in (once) and its cell marked done; a failed one copied with its error and the
/// cell failed; one still running or killed is left for `agf sweep retry --slurm`.
pub fn collect(store: &Store, runs: &Path, sweep: &str) -> Result<Collected, SweepError> {
    let cells = store.cells(sweep)?;
    if cells.is_empty() {
        return Err(SweepError::NoSuchSweep { name: sweep.into() });
    }
    let mut c = Collected::default();
    for cell in cells {
        if cell.status == CellStatus::Done {
            c.already += 1;
            continue;
        }
        let dir = slurm::bundle(runs, sweep, cell.number);
        let db = dir.join("agf.sqlite");
        if !db.is_file() {
            c.unfinished.push(cell.number);
            continue;
        }
        let bundle = Store::open_bundle(&db, Box::new(RunFolders::new(&dir)))?;
        let Some(run) = bundle.runs()?.into_iter().last() else {
            c.unfinished.push(cell.number);
            continue;
        };
        match run.status {
            RunStatus::Done | RunStatus::Failed => {
                let at = Some((sweep, cell.spec_hash.as_str()));
                let (_, copied) = crate::store::copy::copy_run(&bundle, run.id, store, at)?;
                if !copied && run.status == RunStatus::Failed {
                    // Collected before: its failure is counted already.
                    continue;
                }
                if run.status == RunStatus::Done {
                    store.set_cell(cell.id, CellStatus::Done, None)?;
                    c.done += 1;
                } else {
                    let why = run.error.as_deref().unwrap_or("the run failed");
                    let settled = if cell.failures + 1 >= cell.max_failures {
                        CellStatus::Failed
                    } else {
                        CellStatus::Queued
                    };
                    store.set_cell(cell.id, settled, Some(why))?;
                    c.failed += 1;
                }
            }
            _ => c.unfinished.push(cell.number),
        }
    }
    Ok(c)
}
