//! A run killed in the middle of training (SIGKILL, mid-epoch) and resumed with `agf resume`
//! ends with exactly the metrics and epoch history of the same spec run without interruption.

mod common;

use agf::record::{ModelName, RunId, SplitKey};
use agf::store::{MetricRow, RunStatus};
use common::open_store;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = r#"
name = "resume"
seed = 5
device = "cpu"
[dataset]
source = "synthetic"
[dataset.synthetic]
genres = 4
artists = 30
albums_per_artist = [1, 2]
tracks_per_album = [3, 5]
clip_seconds = 2.0
sample_rate = 22050
[frontend]
n_mels = 32
[split]
strategy = "artist"
[model]
kind = "logreg"
epochs = 20
[[factors]]
name = "tags"
features = "subgenre"
topics = 4
[cnn]
preset = "small"
epochs = 20
patience = 20
batch_size = 8
patch_frames = 16
window_hop = 8
[transfer]
hidden = 16
epochs = 3
"#;

fn agf(db: &Path) -> Command {
    let mut c = common::agf_cmd(db);
    c.env("RUST_LOG", "info");
    c
}

fn everything(db: &Path) -> (Vec<MetricRow>, Vec<(String, String)>) {
    let store = open_store(db);
    let run = RunId(1);
    // Bookkeeping differs by design (a resumed run finds its features in the cache).
    let bookkeeping = [
        "seconds",
        "cache_hit",
        "feature_cache_hits",
        "feature_tracks_computed",
        "audio_seconds",
    ];
    let metrics: Vec<_> = store
        .metrics(run)
        .unwrap()
        .into_iter()
        .filter(|m| !bookkeeping.contains(&m.name.as_str()))
        .collect();
    let mut epochs = Vec::new();
    for model in store.epoch_models(run).unwrap() {
        for e in store.epochs(run, &model).unwrap() {
            epochs.push((model.to_string(), format!("{e:?}")));
        }
    }
    // Models in name order: a resumed run re-records the models it recomputes.
    epochs.sort();
    (metrics, epochs)
}

#[test]
fn a_run_killed_mid_epoch_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("resume.toml");
    std::fs::write(&spec, SPEC).unwrap();

    // Interrupted: killed once the genre net has checkpointed its first epoch, i.e. while
    // it is inside its second (or, on a fast machine, in a later epoch or net).
    let killed_db = dir.path().join("killed/agf.sqlite");
    let mut child = agf(&killed_db)
        .arg("run")
        .arg(&spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = dir.path().join("killed/1/checkpoints/genre/last.json");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !checkpoint.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        assert!(Instant::now() < deadline, "no checkpoint after 5 minutes");
        std::thread::sleep(Duration::from_millis(10));
    }
    // While it runs, it cannot be resumed from elsewhere.
    let live = agf(&killed_db).arg("resume").arg("1").output().unwrap();
    assert!(!live.status.success());
    assert!(
        String::from_utf8_lossy(&live.stderr).contains("still running"),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended too soon"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let store = open_store(&killed_db);
    assert_eq!(
        store.written_run(RunId(1)).unwrap().status,
        RunStatus::Running,
        "killed runs stay marked running"
    );
    drop(store);
    // … but `agf runs` and the report see that no process holds the run and say so.
    let listed = agf(&killed_db).arg("runs").output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("interrupted") && listed.contains("agf resume 1"),
        "{listed}"
    );
    let report_dir = dir.path().join("report");
    let report = agf(&killed_db)
        .args(["report", "--out", report_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(report.status.success());
    let html = std::fs::read_to_string(report_dir.join("index.html")).unwrap();
    assert!(
        html.contains("<td class=\"l\">interrupted</td>"),
        "the report shows the killed run as interrupted"
    );

    let resumed = agf(&killed_db).arg("resume").arg("1").output().unwrap();
    let log = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{log}");
    assert!(
        log.contains("resuming from"),
        "the genre net continued from its checkpoint: {log}"
    );
    // A finished run is not resumed twice.
    let again = agf(&killed_db).arg("resume").arg("1").output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("it is done"));

    // Uninterrupted, in a store of its own.
    let whole_db = dir.path().join("whole/agf.sqlite");
    let whole = agf(&whole_db).arg("run").arg(&spec).output().unwrap();
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );

    let (m1, e1) = everything(&killed_db);
    let (m2, e2) = everything(&whole_db);
    assert!(
        m1.iter().any(|m| m.model == ModelName::Transfer
            && m.split == SplitKey::Test
            && m.name == "log_loss"),
        "{m1:?}"
    );
    assert!(e1.iter().any(|(m, _)| m == "cnn.genre"));
    assert_eq!(m1, m2, "same metrics, to the last bit");
    assert_eq!(e1, e2, "same epoch history");
    let p1 = std::fs::read(dir.path().join("killed/1/predictions/transfer.csv")).unwrap();
    let p2 = std::fs::read(dir.path().join("whole/1/predictions/transfer.csv")).unwrap();
    assert_eq!(p1, p2, "same per-track predictions");
}
