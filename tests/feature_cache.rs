//! The stage cache seen from the command line: a second run is served from the cache (the
//! log says so, the store records it, the numbers are the same), two processes filling one
//! cache at once both finish and leave valid entries, and `agf extract` skips a corrupt file
//! in the middle of a dataset while writing the rest.

mod common;

use agf::record::{ModelName, RunId, SplitKey};
use agf::store::RunStatus;
use common::{agf_cmd, open_store};
use std::path::{Path, PathBuf};
use std::process::Output;

const SPEC: &str = r#"
name = "cache"
seed = 5
[dataset]
source = "synthetic"
[dataset.synthetic]
genres = 4
groups = 5
artists = 16
albums_per_artist = [1, 2]
tracks_per_album = [3, 4]
clip_seconds = 1.5
sample_rate = 16000
[frontend]
sample_rate = 16000
n_fft = 512
hop_length = 256
n_mels = 40
n_mfcc = 13
[split]
strategy = "artist"
[model]
kind = "logreg"
features = "all"
epochs = 60
"#;

/// `agf` with its info log, which says how the cache served the run.
fn agf(db: &Path, args: &[&str]) -> Output {
    agf_cmd(db)
        .env("RUST_LOG", "agf=info")
        .args(args)
        .output()
        .unwrap()
}

fn spec_file(dir: &Path) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(&p, SPEC).unwrap();
    p
}

#[test]
fn a_second_run_is_served_from_the_cache_with_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let spec = spec_file(dir.path());
    let first = agf(&db, &["run", spec.to_str().unwrap()]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let log = String::from_utf8_lossy(&first.stderr);
    let n: usize = log
        .split("feature cache: 0 of ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("first run computes every track");
    assert!(
        log.contains(&format!(
            "feature cache: 0 of {n} tracks served from the cache, {n} computed"
        )),
        "{log}"
    );
    let second = agf(&db, &["run", spec.to_str().unwrap()]);
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(
        log.contains(&format!(
            "feature cache: {n} of {n} tracks served from the cache, 0 computed"
        )),
        "{log}"
    );

    let store = open_store(&db);
    let runs = store.runs().unwrap();
    let m = |run: RunId, name: &str| {
        store
            .metric(run, &ModelName::Dataset, SplitKey::All, name)
            .unwrap()
    };
    assert_eq!(m(runs[1].id, "feature_tracks_computed"), Some(0.0));
    assert_eq!(m(runs[1].id, "feature_cache_hits"), Some(n as f64));
    assert_eq!(
        m(runs[1].id, "audio_seconds"),
        Some(0.0),
        "no audio was rendered or read again"
    );
    assert_eq!(runs[0].log_loss, runs[1].log_loss);
    assert_eq!(runs[0].macro_f1, runs[1].macro_f1);
    // Every entry has its log-mel beside it.
    let count = |stage: &str| walk(&dir.path().join("cache").join(stage)).len();
    assert_eq!((count("track"), count("logmel")), (n, n));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn two_processes_filling_one_cache_both_finish_and_leave_valid_entries() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let spec = spec_file(dir.path());
    let spawn = || {
        agf_cmd(&db)
            .args(["run", spec.to_str().unwrap()])
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let third = agf(&db, &["run", spec.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&third.stderr).contains(" computed"),
        "cache log line"
    );
    assert!(
        String::from_utf8_lossy(&third.stderr).contains(", 0 computed"),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    let runs = open_store(&db).runs().unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs
        .iter()
        .all(|r| r.status == RunStatus::Done && r.log_loss == runs[0].log_loss));
    let leftovers: Vec<_> = walk(&dir.path().join("cache"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn extract_skips_a_corrupt_file_in_the_middle_and_writes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mini = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fma_mini");
    let spec = dir.path().join("fma.toml");
    std::fs::write(&spec, format!("name = \"x\"\n[dataset]\nsource = \"fma\"\n[dataset.fma]\nroot = \"{}\"\nsubset = \"large\"\naudio_dir = \"fma_small\"\n[split]\nstrategy = \"official\"\n[model]\nkind = \"logreg\"\n", mini.display())).unwrap();
    let out = dir.path().join("features");
    let o = agf(
        &dir.path().join("agf.sqlite"),
        &[
            "extract",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.starts_with("wrote features of 6 tracks"), "{stdout}");
    assert!(stdout.contains("3 skipped"), "{stdout}");
    assert!(
        stdout.contains("skipped track 10: ") && stdout.contains("truncated"),
        "{stdout}"
    );
    for id in ["000002", "000003", "000020", "000046", "000048", "000134"] {
        let (logmel, shape) = agf::audio::npy::read_f32(&out.join(id).join("logmel.npy")).unwrap();
        assert_eq!(shape[1], 64, "the default front end has 64 mel bands");
        assert!(
            shape[0] > 80 && logmel.iter().all(|v| v.is_finite()),
            "{id}: {shape:?}"
        );
    }
    assert!(!out.join("000010").exists() && !out.join("000005").exists());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("features.json")).unwrap()).unwrap();
    assert_eq!(manifest["descriptors"].as_array().unwrap().len(), 183);
}
