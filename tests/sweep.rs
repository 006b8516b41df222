//! Sweeps as a user drives them: cells from `[sweep]` and the command line, validated before
//! anything runs; workers that share every stage; a second `sweep run` that does nothing;
//! an edited sweep that only adds cells; and the reliability test: workers killed with
//! SIGKILL at random moments, several times, then the sweep run again — every cell done
//! once, no corrupt cache entry, and the metrics of an uninterrupted sweep.

mod common;

use agf::record::RunId;
use agf::rng::Rng;
use agf::store::{CellStatus, MetricRow, Store};
use common::{agf, agf_cmd, open_store, stderr, stdout, write};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Four cells: two topic counts × two seeds, on one world (`dataset.seed` is fixed, so the
/// features are shared by every cell), with small nets so that a cell takes seconds.
const SPEC: &str = r#"
name = "sweepy"
seed = 1
device = "cpu"
[dataset]
source = "synthetic"
seed = 7
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
epochs = 3
batch_size = 16
patch_frames = 16
window_hop = 8
[transfer]
hidden = 16
epochs = 2

[sweep]
seeds = [1, 2]
baseline = { "factors.tags.topics" = 3 }
[sweep.grid]
"factors.tags.topics" = [3, 4]
"#;

/// Bookkeeping that differs by design between a cell computed and one served by the cache.
const BOOKKEEPING: [&str; 5] = [
    "seconds",
    "cache_hit",
    "feature_cache_hits",
    "feature_tracks_computed",
    "audio_seconds",
];

/// Every cell's metrics, by cell spec hash (bookkeeping left out).
fn metrics_by_cell(store: &Store, sweep: &str) -> BTreeMap<String, Vec<MetricRow>> {
    store
        .cells(sweep)
        .unwrap()
        .into_iter()
        .map(|c| {
            let run = c.run_id.expect("a done cell has its run");
            let m = store
                .metrics(run)
                .unwrap()
                .into_iter()
                .filter(|m| !BOOKKEEPING.contains(&m.name.as_str()))
                .collect();
            (c.spec_hash, m)
        })
        .collect()
}

#[test]
fn a_sweep_runs_each_cell_once_shares_its_stages_and_reruns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let spec = write(dir.path(), "s.toml", SPEC);
    let o = agf(&db, &["sweep", "plan", spec.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = stdout(&o);
    // One features pass for four cells; two factors per seed are one per (seed, topics).
    assert!(plan.contains("sweep \"sweepy\""), "{plan}");
    assert!(plan.contains("features          1       0"), "{plan}");
    assert!(!db.exists(), "planning records nothing");

    let o = agf(
        &db,
        &["sweep", "run", spec.to_str().unwrap(), "--workers", "2"],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("sweep \"sweepy\": 4 cells, 4 done"),
        "{}",
        stdout(&o)
    );
    let store = open_store(&db);
    let cells = store.cells("sweepy").unwrap();
    assert_eq!(cells.len(), 4);
    assert!(cells.iter().all(|c| c.status == CellStatus::Done));
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 4, "one run per cell");
    // The features of the one world were computed once, whichever worker came first.
    let computed: f64 = runs
        .iter()
        .map(|r| {
            store
                .metric(
                    r.id,
                    &agf::record::ModelName::Dataset,
                    agf::record::SplitKey::All,
                    "feature_tracks_computed",
                )
                .unwrap()
                .unwrap()
        })
        .sum();
    let tracks = store
        .metric(
            runs[0].id,
            &agf::record::ModelName::Dataset,
            agf::record::SplitKey::All,
            "tracks",
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        computed, tracks,
        "every track's features computed once in all"
    );
    // The genre net of a seed does not depend on the topics: two cells share it.
    let genre_hits: f64 = runs
        .iter()
        .map(|r| {
            store
                .metric(
                    r.id,
                    &agf::record::ModelName::net("genre"),
                    agf::record::SplitKey::Validation,
                    "cache_hit",
                )
                .unwrap()
                .unwrap()
        })
        .sum();
    assert_eq!(genre_hits, 2.0);

    // Again: nothing to do, no new run.
    let o = agf(&db, &["sweep", "run", spec.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("4 cells, 4 done, 0 failed, 0 to run"),
        "{}",
        stdout(&o)
    );
    assert_eq!(store.runs().unwrap().len(), 4);
    // A value added on the command line adds its cells, numbered after the others.
    let o = agf(
        &db,
        &[
            "sweep",
            "run",
            spec.to_str().unwrap(),
            "factors.tags.topics=3,4,5",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let cells = store.cells("sweepy").unwrap();
    assert_eq!(cells.len(), 6);
    assert_eq!(
        cells.iter().map(|c| c.number).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert!(cells[4..].iter().all(|c| c.arm.contains("5")));
    assert_eq!(store.runs().unwrap().len(), 6);
    // Every run's params hold the factor under its name, as the axis addresses it.
    let status = stdout(&agf(&db, &["sweep", "status", "sweepy"]));
    assert!(status.contains("factors.tags.topics=5"), "{status}");
    let sweeps = stdout(&agf(&db, &["sweeps"]));
    assert!(
        sweeps.contains("sweepy") && sweeps.contains("     6      6"),
        "{sweeps}"
    );
}

#[test]
fn a_bad_axis_names_its_key_and_line_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let bad = write(
        dir.path(),
        "bad.toml",
        &SPEC.replace(
            "\"factors.tags.topics\" = [3, 4]",
            "\"factors.tags.topics\" = [3, 0]",
        ),
    );
    let o = agf(&db, &["sweep", "run", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let line = SPEC
        .lines()
        .position(|l| l.starts_with("\"factors.tags.topics\""))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "{}:{line}:1: sweep axis factors.tags.topics=0: factors.tags.topics: expected at \
             least 1 topic",
            bad.display()
        )),
        "{err}"
    );
    let typo = write(
        dir.path(),
        "typo.toml",
        &SPEC.replace(
            "\"factors.tags.topics\" = [3, 4]",
            "\"factors.tag.topics\" = [3, 4]",
        ),
    );
    let err = stderr(&agf(&db, &["sweep", "run", typo.to_str().unwrap()]));
    assert!(
        err.contains("`factors.tag.topics`: no [[factors]] entry is named `tag` (names: tags)"),
        "{err}"
    );
    assert!(!db.exists(), "nothing ran");
    // `agf run` takes single overrides, and refuses a spec that declares a sweep.
    let good = write(dir.path(), "good.toml", SPEC);
    let o = agf(&db, &["run", good.to_str().unwrap()]);
    assert!(stderr(&o).contains("declares a [sweep]"), "{}", stderr(&o));
}

#[test]
fn run_takes_overrides_prints_its_id_first_and_resumes_or_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let plain = SPEC
        .split("[sweep]")
        .next()
        .unwrap()
        .replace("[cnn]", "[cnnx]");
    let plain = plain.split("[cnnx]").next().unwrap().to_string();
    let spec = write(dir.path(), "p.toml", &plain);
    let o = agf(
        &db,
        &[
            "run",
            spec.to_str().unwrap(),
            "factors.tags.topics=5",
            "seed=3",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let first = stdout(&o).lines().next().unwrap().to_string();
    assert_eq!(
        first,
        format!("run 1 in {}", dir.path().join("1").display())
    );
    let store = open_store(&db);
    let params = store.metrics(RunId(1)).unwrap();
    assert!(!params.is_empty());
    let spec_text = store.run(RunId(1)).unwrap().spec_toml;
    assert!(spec_text.contains("topics = 5") && spec_text.contains("seed = 3"));
    // Nothing unfinished: --resume-or-run starts a new run.
    let o = agf(
        &db,
        &[
            "run",
            spec.to_str().unwrap(),
            "--resume-or-run",
            "factors.tags.topics=5",
            "seed=3",
        ],
    );
    assert!(stdout(&o).starts_with("run 2 in"), "{}", stdout(&o));
}

/// Every cache entry reads back whole.
fn check_cache(root: &Path) -> usize {
    let mut checked = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // a temporary file of a killed writer, never read
            }
            let bytes = std::fs::read(&p).unwrap();
            let ok = match p.extension().and_then(|x| x.to_str()) {
                Some("vec") => agf::cache::decode_vectors(&bytes).is_some(),
                Some("lm") => agf::cache::LogMelView::open(&p).is_ok(),
                Some("fr") => agf::cache::frame_parts(&bytes).is_some(),
                Some("json") => serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
                Some("safetensors") => {
                    candle_core::safetensors::load(&p, &candle_core::Device::Cpu).is_ok()
                }
                _ => true,
            };
            assert!(ok, "corrupt cache entry {}", p.display());
            checked += 1;
        }
    }
    checked
}

#[test]
fn workers_killed_at_random_moments_leave_a_sweep_that_finishes_with_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "s.toml", SPEC);

    // The reference: the same sweep, uninterrupted, in a store and cache of its own.
    let calm_db = dir.path().join("calm/agf.sqlite");
    let o = agf(&calm_db, &["sweep", "run", spec.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let calm = metrics_by_cell(&open_store(&calm_db), "sweepy");

    // Record the sweep, then let workers at it and kill them at random moments.
    let db = dir.path().join("killed/agf.sqlite");
    {
        let store = open_store(&db);
        let sweep = agf::sweep::Sweep::load(&spec, &[]).unwrap();
        let cache = agf::cache::StageCache::new(dir.path().join("killed/cache"));
        agf::sweep::launch::record(&sweep, &store, &cache, 1).unwrap();
    }
    let worker = || {
        agf_cmd(&db)
            .args(["sweep", "worker", "sweepy", "--lease", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut rng = Rng::new(17);
    let mut kills = 0;
    for _ in 0..4 {
        let mut workers = vec![worker(), worker()];
        std::thread::sleep(Duration::from_millis(300 + rng.index(2500) as u64));
        for w in &mut workers {
            if w.try_wait().unwrap().is_none() {
                w.kill().unwrap();
                kills += 1;
            }
            w.wait().unwrap();
        }
    }
    assert!(
        kills > 0,
        "no worker was killed: the cells are too quick for the test"
    );

    // Run what is left: it finishes, resuming what the killed workers left.
    let o = agf(
        &db,
        &[
            "sweep",
            "run",
            spec.to_str().unwrap(),
            "--workers",
            "2",
            "--lease",
            "2",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let store = open_store(&db);
    let cells = store.cells("sweepy").unwrap();
    assert!(
        cells.iter().all(|c| c.status == CellStatus::Done),
        "{cells:?}"
    );
    assert!(
        cells.iter().any(|c| c.attempts > 1),
        "some cell was claimed again after its worker died: {cells:?}"
    );
    // Done exactly once: one run per cell, every run done, none orphaned.
    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), cells.len(), "{runs:?}");
    assert!(runs.iter().all(|r| r.status == agf::store::RunStatus::Done));
    let mut attached: Vec<RunId> = cells.iter().filter_map(|c| c.run_id).collect();
    attached.sort();
    attached.dedup();
    assert_eq!(attached.len(), cells.len());
    assert!(check_cache(&dir.path().join("killed/cache")) > 0);
    assert_eq!(
        metrics_by_cell(&store, "sweepy"),
        calm,
        "the metrics of the calm sweep"
    );
}
