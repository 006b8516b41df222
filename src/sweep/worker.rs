//! A sweep worker: claim a cell, keep its lease alive while running it, record how it ended,
//! and claim the next, until none is left.
//!
//! A cell's run is attached to it as the run is recorded, so a cell whose worker died is
//! resumed (the same run, from its checkpoints), never started twice. On one host a dead
//! worker is seen at once (its run's folder lock is free); elsewhere its lease expires.

use super::SweepError;
use crate::pipeline::{self, Workspace};
use crate::record::RunId;
use crate::stages;
use crate::store::{Cell, CellEnd, RunStatus, Store, StoreLocation};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a worker keeps its claims.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How long a claim lasts without a heartbeat; heartbeats come three times as often.
    pub lease: Duration,
    /// Where the store is, for the heartbeat's own connection.
    pub store: StoreLocation,
}

/// What a worker did.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    pub done: usize,
    pub failed: usize,
}

/// This process's name in claims: host and process id, and under Slurm the array task
/// (`slurm:<job>_<task>`), which `agf sweep status` shows beside the cell.
pub fn worker_id() -> String {
    let mut id = format!(
        "{}:{}",
        gethostname::gethostname().to_string_lossy(),
        std::process::id()
    );
    if let (Ok(job), Ok(task)) = (
        std::env::var("SLURM_ARRAY_JOB_ID"),
        std::env::var("SLURM_ARRAY_TASK_ID"),
    ) {
        id.push_str(&format!(" slurm:{job}_{task}"));
    }
    id
}

/// Set by SIGTERM: the scheduler is ending this worker (time limit, preemption, scancel).
static TERMINATING: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
extern "C" fn on_sigterm(_: libc::c_int) {
    // Only an atomic store: all a signal handler may safely do.
    TERMINATING.store(true, Ordering::SeqCst);
}

/// On SIGTERM the heartbeat hands the cell back at once (its lease expired, so another
/// worker resumes it from its checkpoints without waiting out the lease) and the process
/// exits; Slurm's SIGKILL would otherwise come after its KillWait with the lease still held.
fn hand_back_on_sigterm() {
    #[cfg(unix)]
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_sigterm as *const () as libc::sighandler_t);
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Claim and run cells of `sweep` until none is left.
pub fn work(sweep: &str, ws: Workspace, cfg: &WorkerConfig) -> Result<WorkerReport, SweepError> {
    let me = worker_id();
    let lease = cfg.lease.as_millis() as i64;
    let mut report = WorkerReport::default();
    hand_back_on_sigterm();
    loop {
        if TERMINATING.load(Ordering::SeqCst) {
            tracing::warn!("{me}: terminated between cells");
            std::process::exit(143);
        }
        reclaim_dead(ws.store, sweep)?;
        let Some(cell) = ws
            .store
            .claim_cell(sweep, &me, now_ms(), now_ms() + lease)?
        else {
            break;
        };
        tracing::info!(
            "cell {} of sweep {sweep} claimed by {me} (attempt {})",
            cell.number,
            cell.attempts
        );
        let beat = Heartbeat::start(cfg, &cell, &me);
        let result = run_cell(&cell, ws);
        beat.stop();
        match result {
            Err(pipeline::PipelineError::Busy { run, .. }) => {
                tracing::info!(
                    "cell {}: another process is running its run {run}; leaving it to that",
                    cell.number
                );
                ws.store.finish_cell(
                    cell.id,
                    &me,
                    CellEnd::Held {
                        until: now_ms() + lease,
                    },
                )?;
            }
            Ok(run) => {
                ws.store.finish_cell(cell.id, &me, CellEnd::Done)?;
                tracing::info!("cell {} done (run {run})", cell.number);
                report.done += 1;
            }
            Err(e) => {
                let why = crate::errors::one_line(&e);
                tracing::warn!("cell {} failed: {why}", cell.number);
                ws.store.finish_cell(cell.id, &me, CellEnd::Failed(&why))?;
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// Give up the leases of running cells whose run no process holds: their workers died on
/// this host, and the cells can be resumed at once.
fn reclaim_dead(store: &Store, sweep: &str) -> Result<(), SweepError> {
    for cell in store.cells(sweep)? {
        if cell.status != crate::store::CellStatus::Running {
            continue;
        }
        if let Some(run) = cell.run_id {
            if store.run(run)?.status == RunStatus::Interrupted {
                tracing::info!(
                    "cell {}: its worker died; it goes back to the queue",
                    cell.number
                );
                store.expire_lease(cell.id)?;
            }
        }
    }
    Ok(())
}

/// Run (or resume, or recognise as finished) a claimed cell's run.
fn run_cell(cell: &Cell, ws: Workspace) -> Result<RunId, pipeline::PipelineError> {
    if let Some(run) = cell.run_id {
        return match ws.store.run(run)?.status {
            RunStatus::Done => Ok(run),
            _ => pipeline::resume(ws, run).map(|o| o.run),
        };
    }
    let label = format!("<sweep {} cell {}>", cell.sweep, cell.number);
    let spec = stages::parse_spec(&cell.spec_toml, std::path::Path::new(&label)).map_err(|e| {
        pipeline::PipelineError::Resume {
            run: RunId(0),
            reason: format!("cell {}'s spec no longer parses: {e}", cell.number),
        }
    })?;
    let prepared = pipeline::prepare(&spec)?;
    pipeline::run_with(&spec, prepared, ws, Some(cell.id), &mut |run, dir| {
        tracing::info!("cell {}: run {run} in {}", cell.number, dir.display());
    })
    .map(|o| o.run)
}

/// A thread that renews a claim's lease until stopped.
struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(cfg: &WorkerConfig, cell: &Cell, me: &str) -> Heartbeat {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, location, id, me) = (
            Arc::clone(&stop),
            cfg.store.clone(),
            cell.id,
            me.to_string(),
        );
        let lease = cfg.lease;
        let thread = std::thread::spawn(move || {
            // A connection of its own: the worker's is busy running the cell.
            let store = match Store::open_existing(&location, Box::new(Alive)) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("heartbeat: {}", crate::errors::one_line(&e));
                    return;
                }
            };
            let step = lease / 3;
            let mut waited = Duration::ZERO;
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                if TERMINATING.load(Ordering::SeqCst) {
                    tracing::warn!("cell {id}: terminated; handing the cell back");
                    if let Err(e) = store.expire_lease(id) {
                        tracing::warn!("heartbeat: {}", crate::errors::one_line(&e));
                    }
                    std::process::exit(143);
                }
                waited += Duration::from_millis(100);
                if waited < step {
                    continue;
                }
                waited = Duration::ZERO;
                let until = now_ms() + lease.as_millis() as i64;
                match store.renew_lease(id, &me, until) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!("cell {id}: the lease was lost (another worker took it)")
                    }
                    Err(e) => tracing::warn!("heartbeat: {}", crate::errors::one_line(&e)),
                }
            }
        });
        Heartbeat {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The heartbeat reads no statuses.
struct Alive;

impl crate::store::Liveness for Alive {
    fn is_alive(&self, _: RunId) -> bool {
        true
    }
}
