//! Sweeps through a real Slurm (a single-node cluster `.ci/run` starts with
//! `scripts/slurm-test-cluster.sh`; without `AGF_TEST_SLURM` these tests say they were
//! skipped, unless `AGF_REQUIRE_SLURM=1`): a 6-cell sweep submitted as a job array reaches
//! the metrics of the same sweep run locally, in both store modes (PostgreSQL workers, and
//! SQLite bundles merged by the chained report job); an array task cancelled mid-cell with
//! `scancel` is finished by `agf sweep retry --slurm`, resuming its run; a task that fails is
//! reported with its Slurm job id and its log's tail.

mod common;

use agf::store::{CellStatus, Store};
use common::{agf_cmd, stderr, stdout, write};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn slurm_here(test: &str) -> bool {
    if std::env::var("AGF_TEST_SLURM").is_ok() {
        return true;
    }
    if std::env::var("AGF_REQUIRE_SLURM").as_deref() == Ok("1") {
        panic!("AGF_REQUIRE_SLURM=1 but AGF_TEST_SLURM is not set");
    }
    eprintln!(
        "{test}: skipped: no Slurm cluster (AGF_TEST_SLURM unset; \
         `eval \"$(scripts/slurm-test-cluster.sh start /tmp/agf-slurm)\"` starts one)"
    );
    false
}

/// Six quick cells: three seeds (three worlds) × two l2 strengths, the baseline only.
const QUICK: &str = r#"
name = "quick"
seed = 2
[dataset]
source = "synthetic"
[dataset.synthetic]
genres = 4
artists = 16
albums_per_artist = [1, 2]
tracks_per_album = [3, 4]
clip_seconds = 1.0
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
epochs = 30
[sweep]
seeds = [1, 2, 3]
[sweep.grid]
"model.l2" = [0.0, 0.1]
"#;

/// Each done cell's spec hash → the headline model's test log loss and macro-F1.
fn metrics(store: &Store, sweep: &str) -> BTreeMap<String, (f64, f64)> {
    let runs = store.runs().unwrap();
    store
        .cells(sweep)
        .unwrap()
        .into_iter()
        .filter(|c| c.status == CellStatus::Done)
        .map(|c| {
            let r = runs.iter().find(|r| Some(r.id) == c.run_id).unwrap();
            (c.spec_hash, (r.log_loss.unwrap(), r.macro_f1.unwrap()))
        })
        .collect()
}

/// Wait until Slurm runs nothing of job `id` any more.
fn wait_for(id: &str) {
    let started = Instant::now();
    loop {
        let o = Command::new("squeue")
            .args(["-h", "-j", id, "-o", "%i %T"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&o.stdout).trim().is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "job {id} still in the queue"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn jobs(runs: &Path, sweep: &str) -> (String, String) {
    let jobs = agf::sweep::slurm::jobs(runs, sweep);
    let last = |kind: &str| {
        jobs.iter()
            .rev()
            .find(|j| j.kind == kind)
            .unwrap()
            .id
            .clone()
    };
    (last("array"), last("report"))
}

/// Run the sweep locally into a fresh SQLite store: the reference.
fn local_reference(dir: &Path, spec: &Path, sweep: &str) -> BTreeMap<String, (f64, f64)> {
    let db = dir.join("local/agf.sqlite");
    let _ = agf_cmd(&db)
        .args(["sweep", "run", spec.to_str().unwrap(), "--workers", "2"])
        .output()
        .unwrap();
    metrics(&common::open_store(&db), sweep)
}

#[test]
fn a_sweep_through_slurm_matches_the_local_sweep_in_both_store_modes() {
    if !slurm_here("slurm") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "quick.toml", QUICK);
    let reference = local_reference(dir.path(), &spec, "quick");
    assert_eq!(reference.len(), 6);

    let mut modes = vec![(
        "bundles",
        dir.path().join("a/agf.sqlite").display().to_string(),
    )];
    if let Some(url) = common::pg_database("slurm") {
        modes.push(("postgres", url));
    }
    for (mode, db) in modes {
        let base = dir.path().join(mode);
        let runs = base.join("runs");
        let report = base.join("report");
        let o = agf_cmd(Path::new(&db))
            .args(["--runs", runs.to_str().unwrap()])
            .args(["--cache", base.join("cache").to_str().unwrap()])
            .args([
                "sweep",
                "run",
                spec.to_str().unwrap(),
                "--slurm",
                "--max-parallel",
                "2",
            ])
            .args(["--report", report.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        assert!(stdout(&o).contains("submitted Slurm job"), "{}", stdout(&o));
        let script = std::fs::read_to_string(runs.join("sweeps/quick/slurm.sbatch")).unwrap();
        assert!(
            script.contains("#SBATCH --array=") && script.contains("%2"),
            "{script}"
        );
        let (array, report_job) = jobs(&runs, "quick");
        wait_for(&array);
        wait_for(&report_job);
        let store = common::open_at(&db, &runs);
        assert_eq!(metrics(&store, "quick"), reference, "{mode}");
        // The chained report job wrote the sweep's page.
        assert!(
            report.join("sweeps/quick.html").is_file(),
            "{mode}: no report"
        );
        let status = agf_cmd(Path::new(&db))
            .args(["--runs", runs.to_str().unwrap(), "sweep", "status", "quick"])
            .output()
            .unwrap();
        let text = stdout(&status);
        assert!(
            text.contains(&format!("{array} ")) && text.contains("COMPLETED"),
            "{text}"
        );
        eprintln!("{mode}:\n{text}");
        // Collecting again changes nothing.
        if mode == "bundles" {
            let o = agf_cmd(Path::new(&db))
                .args([
                    "--runs",
                    runs.to_str().unwrap(),
                    "sweep",
                    "collect",
                    "quick",
                ])
                .output()
                .unwrap();
            assert!(
                stdout(&o).contains("0 cells done, 0 failed, 6 done before"),
                "{}",
                stdout(&o)
            );
            assert_eq!(store.runs().unwrap().len(), 6);
        }
    }
}

/// Cells with small nets (seconds each, checkpointed every epoch); the 3-artist world fails
/// at run time (its validation split is empty).
const SLOW: &str = r#"
name = "slow"
seed = 1
device = "cpu"
[dataset]
source = "synthetic"
[dataset.synthetic]
genres = 4
groups = 4
artists = 20
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
epochs = 20
[[factors]]
name = "tags"
features = "subgenre"
topics = 3
[cnn]
preset = "small"
epochs = 8
patience = 8
batch_size = 16
patch_frames = 16
window_hop = 8
[transfer]
hidden = 16
epochs = 2
[sweep]
seeds = [1, 2]
[sweep.grid]
"dataset.synthetic.artists" = [20, 3]
"#;

#[test]
fn a_cancelled_task_is_retried_and_a_failing_task_shows_its_job_and_log() {
    if !slurm_here("slurm retry") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "slow.toml", SLOW);
    let reference = local_reference(dir.path(), &spec, "slow");
    assert_eq!(reference.len(), 2, "the two 20-artist cells");
    let db = dir.path().join("s/agf.sqlite");
    let runs = dir.path().join("s");
    let agf = |args: &[&str]| agf_cmd(&db).args(args).output().unwrap();
    let o = agf(&[
        "sweep",
        "run",
        spec.to_str().unwrap(),
        "--slurm",
        "--max-parallel",
        "2",
        "--retries",
        "0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (array, report_job) = jobs(&runs, "slow");
    // Cell 1 (20 artists, seed 1): cancel its task once its run is under way.
    let store = common::open_store(&db);
    let cell = store
        .cells("slow")
        .unwrap()
        .into_iter()
        .find(|c| c.number == 1)
        .unwrap();
    assert!(
        cell.spec_toml.contains("artists = 20"),
        "{}",
        cell.spec_toml
    );
    let bundle = agf::sweep::slurm::bundle(&runs, "slow", 1);
    let started = Instant::now();
    while !bundle.join("1/checkpoints").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "cell 1 never started training"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = Command::new("scancel")
        .arg(format!("{array}_1"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    wait_for(&array);
    wait_for(&report_job);

    let status = stdout(&agf(&["sweep", "status", "slow"]));
    eprintln!("{status}");
    // The failing cells: failed, their Slurm task and the tail of its log.
    let failing: Vec<_> = store
        .cells("slow")
        .unwrap()
        .into_iter()
        .filter(|c| c.spec_toml.contains("artists = 3"))
        .collect();
    assert_eq!(failing.len(), 2);
    for c in &failing {
        assert_eq!(c.status, CellStatus::Failed, "{c:?}");
        assert!(
            status.contains(&format!(
                "cell {} (failed): Slurm task {array}_{}",
                c.number, c.number
            )),
            "{status}"
        );
        assert!(
            c.error.as_deref().unwrap().contains("no usable track"),
            "{c:?}"
        );
    }
    assert!(
        status.contains(&format!("slurm/{array}_{}.log:", failing[0].number)),
        "{status}"
    );
    assert!(
        status.contains("| ") && status.contains("no usable track"),
        "{status}"
    );
    // The cancelled cell: not done, its task CANCELLED.
    let cell = store
        .cells("slow")
        .unwrap()
        .into_iter()
        .find(|c| c.number == 1)
        .unwrap();
    assert_ne!(cell.status, CellStatus::Done);
    assert!(
        status.contains(&format!("Slurm task {array}_1 CANCELLED")),
        "{status}"
    );

    // Retry: the cancelled cell and the failed ones are submitted again, the done one not;
    // the cancelled cell resumes its run and finishes, the failing ones fail again.
    let o = agf_cmd(&db)
        .env("RUST_LOG", "info")
        .args(["sweep", "retry", "slow", "--slurm"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("2 failed cells of slow back in the queue"),
        "{text}"
    );
    let resubmitted: Vec<String> = failing.iter().map(|c| c.number.to_string()).collect();
    assert!(
        text.contains(&format!("(array 1,{}, 3 tasks", resubmitted.join(","))),
        "{text}"
    );
    let (again, report_again) = jobs(&runs, "slow");
    assert_ne!(again, array);
    wait_for(&again);
    wait_for(&report_again);
    let log =
        std::fs::read_to_string(runs.join(format!("sweeps/slow/slurm/{again}_1.log"))).unwrap();
    assert!(
        log.contains("run 1 \"slow\" resumed"),
        "the run resumed:\n{log}"
    );
    let in_bundle = Store::open_bundle(
        &bundle.join("agf.sqlite"),
        Box::new(agf::pipeline::RunFolders::new(&bundle)),
    )
    .unwrap();
    assert_eq!(
        in_bundle.runs().unwrap().len(),
        1,
        "the same run, not a second"
    );
    let got = metrics(&store, "slow");
    assert_eq!(got, reference);
    let status = stdout(&agf(&["sweep", "status", "slow"]));
    assert!(
        status.contains("2 done") && status.contains("2 failed"),
        "{status}"
    );
}

/// With a shared store, a worker that Slurm ends (SIGTERM) hands its cell back at once:
/// the array's next task takes the cell up again and resumes its run, without waiting out
/// the lease, and the sweep finishes with the metrics of the local one.
#[test]
fn a_shared_store_worker_ended_by_slurm_hands_its_cell_back() {
    if !slurm_here("slurm sigterm") {
        return;
    }
    let Some(url) = common::pg_database("sigterm") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let text = SLOW.replace("[20, 3]", "[20]");
    let spec = write(dir.path(), "slow.toml", &text);
    let reference = local_reference(dir.path(), &spec, "slow");
    assert_eq!(reference.len(), 2);
    let runs = dir.path().join("runs");
    let cmd = |args: &[&str]| {
        agf_cmd(Path::new(&url))
            .env("RUST_LOG", "info")
            .args(["--runs", runs.to_str().unwrap()])
            .args(["--cache", dir.path().join("cache").to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    // One task at a time; the lease (10 minutes) outlasts the test unless handed back.
    let o = cmd(&[
        "sweep",
        "run",
        spec.to_str().unwrap(),
        "--slurm",
        "--max-parallel",
        "1",
        "--lease",
        "600",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (array, report_job) = jobs(&runs, "slow");
    let store = common::open_at(&url, &runs);
    let started = Instant::now();
    loop {
        let cell = store
            .cells("slow")
            .unwrap()
            .into_iter()
            .find(|c| c.number == 1)
            .unwrap();
        let training = cell
            .run_id
            .map(|r| runs.join(format!("{}/checkpoints", r.0)).exists())
            .unwrap_or(false);
        if training {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "cell 1 never started training"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = Command::new("scancel")
        .arg(format!("{array}_1"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    wait_for(&array);
    wait_for(&report_job);
    let log =
        std::fs::read_to_string(runs.join(format!("sweeps/slow/slurm/{array}_1.log"))).unwrap();
    assert!(log.contains("handing the cell back"), "{log}");
    let cells = store.cells("slow").unwrap();
    assert!(
        cells.iter().all(|c| c.status == CellStatus::Done),
        "{cells:?}"
    );
    let cell1 = cells.iter().find(|c| c.number == 1).unwrap();
    assert_eq!(cell1.attempts, 2, "taken up again by the next task");
    assert_eq!(
        store.runs().unwrap().len(),
        2,
        "cell 1's run resumed, not started again"
    );
    assert_eq!(metrics(&store, "slow"), reference);
}
