//! The shared store under fire: four `agf sweep worker` processes run a 40-cell sweep on one
//! PostgreSQL store while the driver kills workers (SIGKILL) at random moments, starts new
//! ones, and once restarts the database server under them. Afterwards every cell is done
//! exactly once (one run per cell, no run started twice) with the metrics of the same sweep
//! run without interruption on SQLite.

mod common;

use agf::record::{ModelName, SplitKey};
use agf::rng::Rng;
use agf::store::{CellStatus, RunStatus, Store};
use common::{agf_cmd, open_at, stderr, write};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// 40 cells: ten seeds × four l2 strengths; each seed is its own small world, so a cell
/// generates audio and features (about a second) and kills land in the middle of runs.
const SPEC: &str = r#"
name = "fire"
seed = 1
[dataset]
source = "synthetic"
[dataset.synthetic]
genres = 4
groups = 4
artists = 16
albums_per_artist = [1, 2]
tracks_per_album = [3, 4]
clip_seconds = 1.5
sample_rate = 16000
[frontend]
sample_rate = 16000
n_fft = 512
hop_length = 256
n_mels = 32
n_mfcc = 13
[split]
strategy = "artist"
[model]
kind = "logreg"
epochs = 200
patience = 200

[sweep]
seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]

[sweep.grid]
"model.l2" = [0.0, 0.001, 0.01, 0.1]
"#;

/// Each cell's spec hash → the baseline's test log loss and macro-F1.
fn metrics_by_cell(store: &Store) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    for c in store.cells("fire").unwrap() {
        let run = c.run_id.expect("a done cell has its run");
        let m = |name| {
            store
                .metric(run, &ModelName::Baseline, SplitKey::Test, name)
                .unwrap()
                .unwrap()
        };
        out.insert(c.spec_hash, (m("log_loss"), m("macro_f1")));
    }
    out
}

fn worker(db: &str, dir: &Path, n: usize) -> Child {
    let log = std::fs::File::create(dir.join(format!("worker-{n}.log"))).unwrap();
    agf_cmd(Path::new(db))
        .env("RUST_LOG", "info")
        .args(["--runs", dir.join("runs").to_str().unwrap()])
        .args(["--cache", dir.join("cache").to_str().unwrap()])
        .args(["sweep", "worker", "fire", "--lease", "3"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

#[test]
fn killed_workers_and_a_restarted_server_lose_nothing() {
    let Some(url) = common::pg_database("reliability") else {
        return;
    };
    let server_dir = std::env::var("AGF_TEST_POSTGRES_DIR").ok();
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "fire.toml", SPEC);

    // The reference: the same sweep, uninterrupted, on SQLite.
    let reference_db = dir.path().join("reference/agf.sqlite");
    let o = agf_cmd(&reference_db)
        .args(["sweep", "run", spec.to_str().unwrap(), "--workers", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let reference = metrics_by_cell(&common::open_store(&reference_db));
    assert_eq!(reference.len(), 40);

    // The sweep recorded in the PostgreSQL store, then workers under fire.
    let work = dir.path().join("pg");
    std::fs::create_dir_all(&work).unwrap();
    let store = open_at(&url, &work.join("runs"));
    let sweep = agf::sweep::Sweep::load(&spec, &[]).unwrap();
    let cache = agf::cache::StageCache::new(work.join("cache"));
    agf::sweep::launch::record(&sweep, &store, &cache, 3).unwrap();
    let mut rng = Rng::new(11);
    let mut spawned = 0;
    let mut workers: Vec<Child> = (0..4)
        .map(|_| {
            spawned += 1;
            worker(&url, &work, spawned)
        })
        .collect();
    let started = Instant::now();
    let (mut kills, mut restarted) = (0, false);
    loop {
        let cells = store.cells("fire").unwrap();
        if cells.iter().all(|c| c.status == CellStatus::Done) {
            break;
        }
        assert!(
            cells.iter().all(|c| c.status != CellStatus::Failed),
            "a cell failed: {:?}",
            cells.iter().find(|c| c.status == CellStatus::Failed)
        );
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the sweep did not finish; worker logs in {}",
            work.display()
        );
        std::thread::sleep(Duration::from_millis(300 + rng.index(1200) as u64));
        let done = cells
            .iter()
            .filter(|c| c.status == CellStatus::Done)
            .count();
        if !restarted && done >= 10 {
            if let Some(server) = &server_dir {
                let script =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-test-server.sh");
                let o = std::process::Command::new(script)
                    .args(["restart", server])
                    .output()
                    .unwrap();
                assert!(o.status.success(), "restarting the server: {}", stderr(&o));
                eprintln!("server restarted with {done} cells done");
            } else {
                eprintln!("AGF_TEST_POSTGRES_DIR unset: the server restart is skipped");
            }
            restarted = true;
        } else if kills < 12 && !workers.is_empty() {
            let victim = rng.index(workers.len());
            let mut w = workers.swap_remove(victim);
            w.kill().unwrap();
            w.wait().unwrap();
            kills += 1;
        }
        // Workers that finished (no free cell) or were killed are replaced while work is left.
        workers.retain_mut(|w| matches!(w.try_wait(), Ok(None)));
        while workers.len() < 4 {
            spawned += 1;
            workers.push(worker(&url, &work, spawned));
        }
    }
    for mut w in workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    assert!(kills >= 8, "the driver killed {kills} workers");

    let cells = store.cells("fire").unwrap();
    let runs = store.runs().unwrap();
    // Exactly once: one run per cell, every run a cell's, each done.
    assert_eq!(runs.len(), 40, "runs: {}", runs.len());
    assert!(runs.iter().all(|r| r.status == RunStatus::Done));
    let mut attached: Vec<_> = cells.iter().map(|c| c.run_id.unwrap()).collect();
    attached.sort();
    attached.dedup();
    assert_eq!(attached.len(), 40);
    let retried: usize = (1..=spawned)
        .map(|n| {
            let log =
                std::fs::read_to_string(work.join(format!("worker-{n}.log"))).unwrap_or_default();
            log.matches("trying again").count()
        })
        .sum();
    eprintln!("workers waited out the lost server {retried} times");
    let interrupted = cells.iter().filter(|c| c.attempts > 1).count();
    eprintln!(
        "{kills} workers killed, {spawned} started; {interrupted} cells claimed more than once"
    );
    assert!(
        interrupted > 0,
        "some cells were interrupted and taken up again"
    );
    assert_eq!(metrics_by_cell(&store), reference);
}
