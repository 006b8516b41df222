//! Sweeps on a Slurm cluster: a job array is the launcher, no scheduler of agf's own.
//!
//! Two store modes. With a shared store (PostgreSQL) every array task is an
//! `agf sweep worker`: it claims cells from the store until none is left. Without one (a
//! SQLite store, which cannot be shared across hosts), array task N runs cell N into a
//! *bundle* of its own on the shared file system (`runs/sweeps/<name>/cells/<N>/`: a small
//! SQLite store written with rollback journaling, and the run's folder), and
//! `agf sweep collect` merges the bundles into the user's store. Either way a report job,
//! chained with `--dependency=afterany`, writes the sweep's report when the array ends.
//!
//! The scripts are written into the sweep's folder, to be read and reused; they hold no
//! secret: a store password reaches the tasks through the environment sbatch exports, or
//! `~/.pgpass`. Jobs are listed in `slurm.json` beside them, for `agf sweep status`,
//! `cancel` and `retry`.

use super::SweepError;
use crate::store::{Cell, StoreLocation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What the array's tasks ask of Slurm.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub partition: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub time: Option<String>,
    /// The array's `%P` throttle: tasks running at once.
    pub max_parallel: Option<u32>,
    /// Anything else, one `#SBATCH` line each (`--account=x`, `--qos=y`).
    pub sbatch_args: Vec<String>,
}

/// Where the tasks find agf, the store, the runs and the cache (paths every node sees).
#[derive(Debug, Clone)]
pub struct Places {
    pub exe: PathBuf,
    pub store: StoreLocation,
    pub runs: PathBuf,
    pub cache: PathBuf,
    /// Where the report job writes the sweep's report.
    pub report: PathBuf,
    /// Seconds a worker's claim lasts without a heartbeat (shared store).
    pub lease: Duration,
}

/// How the tasks reach the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Workers claim cells from a shared (PostgreSQL) store.
    Shared,
    /// Task N runs cell N into a bundle; `agf sweep collect` merges them.
    Bundles,
}

impl Mode {
    pub fn of(store: &StoreLocation) -> Mode {
        match store {
            StoreLocation::Postgres(_) => Mode::Shared,
            StoreLocation::Sqlite(_) => Mode::Bundles,
        }
    }
}

/// One submitted job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    /// `array` or `report`.
    pub kind: String,
    pub mode: Mode,
    /// The array's task ids (cell numbers in bundle mode), as sbatch's `--array` takes them.
    pub array: Option<String>,
    pub script: PathBuf,
    pub submitted_at: String,
}

/// The sweep's folder: scripts, logs, bundles, `slurm.json`.
pub fn folder(runs: &Path, sweep: &str) -> PathBuf {
    runs.join("sweeps").join(sweep)
}

/// A cell's bundle folder (bundle mode).
pub fn bundle(runs: &Path, sweep: &str, cell: i64) -> PathBuf {
    folder(runs, sweep).join("cells").join(cell.to_string())
}

/// The log of array task `task` of job `job`.
pub fn task_log(runs: &Path, sweep: &str, job: &str, task: &str) -> PathBuf {
    folder(runs, sweep)
        .join("slurm")
        .join(format!("{job}_{task}.log"))
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn path(p: &Path) -> String {
    quote(
        &std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string(),
    )
}

/// `1-6` for a run of numbers, `1,3,5` otherwise; `%P` appended.
fn array_spec(tasks: &[i64], max_parallel: Option<u32>) -> String {
    let contiguous = tasks.windows(2).all(|w| w[1] == w[0] + 1);
    let mut s = match (tasks.first(), tasks.last()) {
        (Some(a), Some(b)) if contiguous && a != b => format!("{a}-{b}"),
        _ => tasks
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(","),
    };
    if let Some(p) = max_parallel {
        let _ = write!(s, "%{p}");
    }
    s
}

/// The array script for `tasks`.
fn array_script(sweep: &str, mode: Mode, tasks: &[i64], r: &Resources, p: &Places) -> String {
    let logs = folder(&p.runs, sweep).join("slurm");
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "# agf sweep {sweep:?} on Slurm, written by `agf sweep run --slurm`."
    );
    let _ = writeln!(s, "#SBATCH --job-name=agf-{sweep}");
    let _ = writeln!(s, "#SBATCH --array={}", array_spec(tasks, r.max_parallel));
    let _ = writeln!(s, "#SBATCH --output={}/%A_%a.log", path(&logs));
    // Slurm sends SIGTERM, then SIGKILL after its KillWait: agf keeps every result it has
    // written, and the cell resumes from its checkpoints.
    if let Some(v) = &r.partition {
        let _ = writeln!(s, "#SBATCH --partition={v}");
    }
    if let Some(v) = r.gpus_per_task {
        let _ = writeln!(s, "#SBATCH --gpus-per-task={v}");
    }
    if let Some(v) = r.cpus_per_task {
        let _ = writeln!(s, "#SBATCH --cpus-per-task={v}");
    }
    if let Some(v) = &r.mem {
        let _ = writeln!(s, "#SBATCH --mem={v}");
    }
    if let Some(v) = &r.time {
        let _ = writeln!(s, "#SBATCH --time={v}");
    }
    for a in &r.sbatch_args {
        let _ = writeln!(s, "#SBATCH {a}");
    }
    s.push_str("set -euo pipefail\n");
    let exe = path(&p.exe);
    let places = format!("--runs {} --cache {}", path(&p.runs), path(&p.cache));
    match mode {
        Mode::Shared => {
            let _ = writeln!(
                s,
                "# The store: AGF_DB from the environment sbatch exports ({}), its password\n\
                 # from that URL, PGPASSWORD or ~/.pgpass; none is written here.\n\
                 : \"${{AGF_DB:?set AGF_DB to the store URL}}\"",
                p.store
            );
            let _ = writeln!(
                s,
                "exec {exe} {places} sweep worker {} --lease {}",
                quote(sweep),
                p.lease.as_secs_f64()
            );
        }
        Mode::Bundles => {
            s.push_str("# Task N runs cell N into its bundle; `agf sweep collect` merges them.\n");
            let _ = writeln!(
                s,
                "exec {exe} {places} sweep cell {} \"$SLURM_ARRAY_TASK_ID\"",
                quote(sweep)
            );
        }
    }
    s
}

/// The report job's script: (bundles merged, then) the sweep's report.
fn report_script(sweep: &str, mode: Mode, p: &Places) -> String {
    let logs = folder(&p.runs, sweep).join("slurm");
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "# agf sweep {sweep:?}: its report once the array has ended."
    );
    let _ = writeln!(s, "#SBATCH --job-name=agf-{sweep}-report");
    let _ = writeln!(s, "#SBATCH --output={}/report-%j.log", path(&logs));
    s.push_str("set -euo pipefail\n");
    let exe = path(&p.exe);
    let places = format!("--runs {} --cache {}", path(&p.runs), path(&p.cache));
    let db = match mode {
        Mode::Shared => String::new(),
        // A SQLite store is named here: its path is no secret.
        Mode::Bundles => format!(" --db {}", path(&PathBuf::from(p.store.secret()))),
    };
    if mode == Mode::Bundles {
        let _ = writeln!(s, "{exe}{db} {places} sweep collect {}", quote(sweep));
    }
    let _ = writeln!(
        s,
        "exec {exe}{db} {places} report --sweep {} --out {}",
        quote(sweep),
        path(&p.report)
    );
    s
}

fn sbatch(script: &Path, extra: &[String], store: &StoreLocation) -> Result<String, SweepError> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(extra)
        .arg(script)
        // The store reaches the tasks through the environment sbatch exports.
        .env("AGF_DB", store.secret())
        .output()
        .map_err(|e| SweepError::Slurm(format!("cannot run sbatch: {e}")))?;
    if !out.status.success() {
        return Err(SweepError::Slurm(format!(
            "sbatch {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() {
        return Err(SweepError::Slurm(format!(
            "sbatch printed no job id: {text:?}"
        )));
    }
    Ok(id)
}

/// The jobs submitted for `sweep`, oldest first.
pub fn jobs(runs: &Path, sweep: &str) -> Vec<Job> {
    std::fs::read(folder(runs, sweep).join("slurm.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_jobs(runs: &Path, sweep: &str, jobs: &[Job]) -> Result<(), SweepError> {
    let json = serde_json::to_vec_pretty(jobs).expect("jobs serialise");
    crate::fsutil::write_atomic(&folder(runs, sweep).join("slurm.json"), &json)
        .map_err(SweepError::Spawn)
}

/// What a submission did.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub array: Job,
    pub report: Job,
    pub tasks: usize,
}

/// Submit an array for `cells` (those not done) and the chained report job.
pub fn submit(
    sweep: &str,
    cells: &[Cell],
    r: &Resources,
    p: &Places,
) -> Result<Submitted, SweepError> {
    let mode = Mode::of(&p.store);
    let dir = folder(&p.runs, sweep);
    std::fs::create_dir_all(dir.join("slurm")).map_err(SweepError::Spawn)?;
    let tasks: Vec<i64> = match mode {
        // Task N runs cell N; its spec goes into its bundle first.
        Mode::Bundles => {
            for c in cells {
                let b = bundle(&p.runs, sweep, c.number);
                crate::fsutil::write_atomic(&b.join("spec.toml"), c.spec_toml.as_bytes())
                    .map_err(SweepError::Spawn)?;
            }
            cells.iter().map(|c| c.number).collect()
        }
        // As many workers as cells left; the throttle bounds how many run at once.
        Mode::Shared => (1..=cells.len() as i64).collect(),
    };
    if tasks.is_empty() {
        return Err(SweepError::Slurm(format!(
            "sweep {sweep} has no cell left to run"
        )));
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let script = dir.join("slurm.sbatch");
    crate::fsutil::write_atomic(&script, array_script(sweep, mode, &tasks, r, p).as_bytes())
        .map_err(SweepError::Spawn)?;
    let id = sbatch(&script, &[], &p.store)?;
    let array = Job {
        id: id.clone(),
        kind: "array".into(),
        mode,
        array: Some(array_spec(&tasks, r.max_parallel)),
        script: script.clone(),
        submitted_at: now.clone(),
    };
    let report_path = dir.join("slurm-report.sbatch");
    crate::fsutil::write_atomic(&report_path, report_script(sweep, mode, p).as_bytes())
        .map_err(SweepError::Spawn)?;
    let report_id = sbatch(
        &report_path,
        &[format!("--dependency=afterany:{id}")],
        &p.store,
    )?;
    let report = Job {
        id: report_id,
        kind: "report".into(),
        mode,
        array: None,
        script: report_path,
        submitted_at: now,
    };
    let mut all = jobs(&p.runs, sweep);
    all.push(array.clone());
    all.push(report.clone());
    save_jobs(&p.runs, sweep, &all)?;
    Ok(Submitted {
        array,
        report,
        tasks: tasks.len(),
    })
}

/// Each task's state of job `id` (the task id, or the job id for a job that is no array):
/// from sacct where accounting is on, else from slurmctld's memory (`scontrol`), which
/// forgets finished jobs after MinJobAge. Pending array tasks read as one `N-M` entry.
pub fn states(id: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(o) = Command::new("sacct")
        .args(["-n", "-P", "-X", "-j", id, "-o", "JobID,State"])
        .output()
    {
        if o.status.success() {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                if let Some((job, state)) = line.split_once('|') {
                    let task = job.split_once('_').map_or(job, |(_, t)| t);
                    let state = state.split_whitespace().next().unwrap_or(state);
                    out.insert(task.to_string(), state.to_string());
                }
            }
            if !out.is_empty() {
                return out;
            }
        }
    }
    if let Ok(o) = Command::new("scontrol")
        .args(["-o", "show", "job", id])
        .output()
    {
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let field = |k: &str| {
                line.split_whitespace()
                    .find_map(|f| f.strip_prefix(k).map(str::to_string))
            };
            let task = field("ArrayTaskId=").or_else(|| field("JobId="));
            if let (Some(task), Some(state)) = (task, field("JobState=")) {
                out.insert(task, state);
            }
        }
    }
    out
}

/// `scancel` every job of the sweep that Slurm still runs or holds.
pub fn cancel(runs: &Path, sweep: &str) -> Result<Vec<String>, SweepError> {
    let ids: Vec<String> = jobs(runs, sweep).into_iter().map(|j| j.id).collect();
    if ids.is_empty() {
        return Err(SweepError::Slurm(format!(
            "sweep {sweep} has no Slurm jobs ({} has no slurm.json)",
            folder(runs, sweep).display()
        )));
    }
    let o = Command::new("scancel")
        .args(&ids)
        .output()
        .map_err(|e| SweepError::Slurm(format!("cannot run scancel: {e}")))?;
    if !o.status.success() {
        return Err(SweepError::Slurm(format!(
            "scancel failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    Ok(ids)
}

/// The last `n` lines of a file, if it can be read.
pub fn tail(path: &Path, n: usize) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    Some(lines[lines.len().saturating_sub(n)..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_ranges_or_lists_with_a_throttle() {
        assert_eq!(array_spec(&[1, 2, 3, 4], Some(2)), "1-4%2");
        assert_eq!(array_spec(&[2, 5, 6], None), "2,5,6");
        assert_eq!(array_spec(&[7], Some(3)), "7%3");
    }

    #[test]
    fn a_shared_store_script_names_no_password() {
        let p = Places {
            exe: "/opt/agf".into(),
            store: StoreLocation::parse("postgres://agf:hunter2@db/agf"),
            runs: "/shared/runs".into(),
            cache: "/shared/cache".into(),
            report: "/shared/report".into(),
            lease: Duration::from_secs(60),
        };
        let r = Resources {
            gpus_per_task: Some(1),
            max_parallel: Some(4),
            sbatch_args: vec!["--account=mir".into()],
            ..Default::default()
        };
        let s = array_script("noise", Mode::Shared, &[1, 2, 3], &r, &p);
        assert!(!s.contains("hunter2"), "{s}");
        for want in [
            "#SBATCH --array=1-3%4",
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --account=mir",
            "postgres://agf:***@db/agf",
            "sweep worker noise --lease 60",
        ] {
            assert!(s.contains(want), "{want} in\n{s}");
        }
        let s = report_script("noise", Mode::Shared, &p);
        assert!(
            !s.contains("hunter2") && s.contains("report --sweep noise"),
            "{s}"
        );
    }
}
