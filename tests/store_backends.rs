//! The same store tests against both backends: SQLite (a file) and PostgreSQL (a real
//! server, `scripts/pg-test-server.sh`; CI requires it, elsewhere the PostgreSQL half says it
//! was skipped). Records round-trip, statuses, the sweep queue (no cell claimed twice by
//! eight racing threads, leases that lapse, failures counted, a done run making its cell
//! done in the same transaction), and `agf store copy` from each store to the other and
//! back, losing nothing.

mod common;

use agf::eval::metrics::evaluate;
use agf::record::{
    AlbumId, ArtistId, Epoch, ModelName, Prediction, RunId, RunTrack, SplitKey, TrackId,
};
use agf::store::{
    CellEnd, CellStatus, Liveness, NewCell, NewRun, NewSweep, RunEnd, RunStatus, Store,
    StoreLocation,
};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Run 2 has no process: it was killed.
struct OnlyFirstAlive;

impl Liveness for OnlyFirstAlive {
    fn is_alive(&self, run: RunId) -> bool {
        run == RunId(1)
    }
}

fn new_run(name: &str, cell: Option<agf::store::CellId>) -> NewRun {
    NewRun {
        name: name.into(),
        spec_toml: "name = \"x\"\n".into(),
        spec_hash: format!("hash-{name}"),
        seed: 7,
        git_commit: Some("abc123".into()),
        git_dirty: Some(true),
        crate_version: "0.1.0".into(),
        host: "h".into(),
        device: "cpu".into(),
        headline_model: ModelName::Baseline,
        params: vec![
            ("seed".into(), "7".into()),
            ("split.strategy".into(), "artist".into()),
        ],
        cell,
    }
}

/// Records of every kind round-trip; a dead running run reads interrupted.
fn records_round_trip(at: &StoreLocation) {
    let store = Store::open(at, Box::new(OnlyFirstAlive)).unwrap();
    let a = store.start_run(&new_run("first", None)).unwrap();
    let b = store.start_run(&new_run("second", None)).unwrap();
    let c = store.start_run(&new_run("third", None)).unwrap();
    assert_eq!((a, b, c), (RunId(1), RunId(2), RunId(3)));
    store.record_classes(a, &["x".into(), "y".into()]).unwrap();
    let e = evaluate(&[0.9, 0.1, 0.2, 0.8, 0.6, 0.4], &[0, 1, 1], 2, 1e-8);
    store
        .record_evaluation(a, &ModelName::Baseline, SplitKey::Test, &e)
        .unwrap();
    store
        .record_metrics(
            a,
            &ModelName::Audit,
            SplitKey::Train,
            &[("flagged", 3.0), ("nan", f64::NAN)],
        )
        .unwrap();
    // Recording again replaces.
    store
        .record_metrics(a, &ModelName::Audit, SplitKey::Train, &[("flagged", 4.0)])
        .unwrap();
    for (i, task) in [(1, "genre"), (2, "mfcc")] {
        let epoch = Epoch {
            epoch: i,
            train_loss: 0.5 / i as f64,
            validation_loss: if i == 1 { f64::NAN } else { 0.25 },
            learning_rate: Some(0.1),
            task: Some(task.into()),
        };
        store
            .record_epoch(a, &ModelName::net("genre"), &epoch)
            .unwrap();
    }
    store
        .record_epoch(
            a,
            &ModelName::Baseline,
            &Epoch {
                epoch: 1,
                train_loss: 1.0,
                validation_loss: 1.0,
                learning_rate: None,
                task: None,
            },
        )
        .unwrap();
    store
        .record_facts(
            a,
            &[
                ("dataset", "synthetic".into()),
                ("audit.model", "baseline".into()),
            ],
        )
        .unwrap();
    store
        .record_skipped(a, &[(TrackId(9), "unreadable: bad header".into())])
        .unwrap();
    store
        .record_flips(a, &[(TrackId(4), SplitKey::Train, 0, 1)])
        .unwrap();
    let tracks = vec![
        RunTrack {
            track: TrackId(4),
            artist: ArtistId(1),
            album: AlbumId(2),
            split: SplitKey::Train,
            published: 0,
            true_label: Some(0),
        },
        RunTrack {
            track: TrackId(5),
            artist: ArtistId(1),
            album: AlbumId(3),
            split: SplitKey::Test,
            published: 1,
            true_label: None,
        },
    ];
    store.record_tracks(a, &tracks).unwrap();
    let predictions = vec![Prediction {
        track: TrackId(4),
        split: SplitKey::Train,
        label: 1,
        true_label: Some(0),
        probabilities: vec![0.1 + 0.2, 0.7, f32::MIN_POSITIVE],
    }];
    store
        .record_predictions(a, &ModelName::Audit, &predictions)
        .unwrap();
    store.finish_run(a, RunEnd::Done).unwrap();
    store.finish_run(c, RunEnd::Failed("boom")).unwrap();

    let runs = store.runs().unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0].status, RunStatus::Done);
    assert_eq!(runs[1].status, RunStatus::Interrupted);
    assert_eq!(runs[2].status, RunStatus::Failed);
    assert_eq!(store.written_run(b).unwrap().status, RunStatus::Running);
    assert_eq!(store.run(c).unwrap().error.as_deref(), Some("boom"));
    assert_eq!(runs[0].log_loss, Some(e.log_loss));
    assert_eq!(runs[0].macro_f1, Some(e.macro_f1));
    assert_eq!(runs[2].log_loss, None);
    assert_eq!(
        store.params(a).unwrap(),
        [
            ("seed".to_string(), "7".to_string()),
            ("split.strategy".into(), "artist".into())
        ]
    );
    let audit = |n| {
        store
            .metric(a, &ModelName::Audit, SplitKey::Train, n)
            .unwrap()
    };
    assert_eq!((audit("flagged"), audit("nan")), (Some(4.0), None));
    let cm = store.confusion(None).unwrap().unwrap();
    assert_eq!((cm.run, &cm.model), (a, &ModelName::Baseline));
    assert_eq!(cm.matrix, vec![vec![1, 0], vec![1, 1]]);
    assert_eq!(store.class_metrics(a).unwrap().len(), 2);
    let back = store.epochs(a, &ModelName::net("genre")).unwrap();
    assert_eq!(back.len(), 2);
    assert!(back[0].validation_loss.is_nan());
    assert_eq!(back[1].task.as_deref(), Some("mfcc"));
    assert_eq!(
        store.epoch_models(a).unwrap(),
        vec![ModelName::net("genre"), ModelName::Baseline],
        "in the order first recorded"
    );
    assert_eq!(store.facts(a).unwrap().len(), 2);
    assert_eq!(store.skipped(a).unwrap()[0].1, "unreadable: bad header");
    assert_eq!(
        store.flips(a).unwrap(),
        [(TrackId(4), SplitKey::Train, 0, 1)]
    );
    assert_eq!(store.tracks(a).unwrap(), tracks);
    assert_eq!(
        store.predictions(a, &ModelName::Audit).unwrap(),
        predictions,
        "every f32 bit for bit"
    );
    assert!(matches!(
        store.confusion(Some(RunId(9))),
        Err(agf::store::StoreError::NoSuchRun { .. })
    ));
    // Reopening applies no migration twice and keeps the data.
    drop(store);
    let store = Store::open(at, Box::new(OnlyFirstAlive)).unwrap();
    assert_eq!(store.runs().unwrap().len(), 3);
}

fn cells(n: usize) -> Vec<NewCell> {
    (0..n)
        .map(|i| NewCell {
            spec_hash: format!("cell-{i}"),
            spec_toml: format!("seed = {i}\n"),
            arm: "{}".into(),
            seed: Some(i as u64),
            // Claim order is by priority, then number.
            priority: (i % 3) as i64,
        })
        .collect()
}

fn sweep(name: &str) -> NewSweep {
    NewSweep {
        name: name.into(),
        spec_path: "s.toml".into(),
        spec_text: "name = \"s\"\n".into(),
        baseline: "{}".into(),
    }
}

/// The queue: eight threads, each with its own connection, claim 120 cells at once; each
/// cell is claimed exactly once, in priority order per thread. Leases lapse, failures count.
fn the_queue_hands_out_each_cell_once(at: &StoreLocation) {
    let store = Store::open(at, Box::new(OnlyFirstAlive)).unwrap();
    let made = store.sync_sweep(&sweep("q"), &cells(120), 2).unwrap();
    assert_eq!(made.len(), 120);
    // Syncing again adds nothing.
    assert_eq!(
        store.sync_sweep(&sweep("q"), &cells(120), 2).unwrap().len(),
        120
    );
    let at = Arc::new(at.clone());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let at = Arc::clone(&at);
            std::thread::spawn(move || {
                let store = Store::open(&at, Box::new(OnlyFirstAlive)).unwrap();
                let mut mine = Vec::new();
                while let Some(c) = store
                    .claim_cell("q", &format!("w{t}"), 0, i64::MAX)
                    .unwrap()
                {
                    mine.push((c.priority, c.number));
                }
                mine
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for t in threads {
        let mine = t.join().unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] <= w[1]),
            "claim order {mine:?}"
        );
        for c in mine {
            assert!(all.insert(c), "cell {c:?} claimed twice");
        }
    }
    assert_eq!(all.len(), 120);
    let cells_now = store.cells("q").unwrap();
    assert!(cells_now
        .iter()
        .all(|c| c.status == CellStatus::Running && c.attempts == 1));

    // A lapsed lease goes back to the queue; a live one does not.
    store.sync_sweep(&sweep("l"), &cells(2), 2).unwrap();
    let first = store.claim_cell("l", "a", 1_000, 2_000).unwrap().unwrap();
    let second = store.claim_cell("l", "a", 1_000, 10_000).unwrap().unwrap();
    assert!(store.claim_cell("l", "b", 1_500, 9_000).unwrap().is_none());
    let again = store.claim_cell("l", "b", 3_000, 9_000).unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (first.id, 2));
    // The old holder cannot renew what it lost; the new one can.
    assert!(!store.renew_lease(first.id, "a", 20_000).unwrap());
    assert!(store.renew_lease(first.id, "b", 20_000).unwrap());
    // A failure with failures to spare requeues; the last one fails the cell.
    store
        .finish_cell(second.id, "a", CellEnd::Failed("x"))
        .unwrap();
    let c = store.claim_cell("l", "c", 3_000, 9_000).unwrap().unwrap();
    assert_eq!(c.id, second.id);
    store.finish_cell(c.id, "c", CellEnd::Failed("y")).unwrap();
    let failed = store.cells("l").unwrap();
    let failed = failed.iter().find(|x| x.id == second.id).unwrap();
    assert_eq!(
        (failed.status, failed.failures, failed.error.as_deref()),
        (CellStatus::Failed, 2, Some("y"))
    );
    assert_eq!(store.retry_failed("l").unwrap(), 1);
    // A run that finishes makes its cell done in the same transaction.
    let run = store
        .start_run(&new_run("cell run", Some(first.id)))
        .unwrap();
    store.finish_run(run, RunEnd::Done).unwrap();
    let done = store.cells("l").unwrap();
    let done = done.iter().find(|x| x.id == first.id).unwrap();
    assert_eq!((done.status, done.run_id), (CellStatus::Done, Some(run)));
    let summary = store.sweeps().unwrap();
    let l = summary.iter().find(|s| s.name == "l").unwrap();
    assert_eq!((l.cells, l.done, l.queued), (2, 1, 1));
}

/// Every row of the store's finished runs and its sweeps, as comparable text (ids and
/// heartbeats aside, which a copy does not keep).
fn dump(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for r in store.runs().unwrap() {
        if matches!(r.status, RunStatus::Running | RunStatus::Interrupted) {
            continue;
        }
        let id = r.id;
        let mut record = store.run_record(id).unwrap();
        record.heartbeat_at = None;
        out.push(format!("{record:?}"));
        out.push(format!("{:?}", store.params(id).unwrap()));
        out.push(format!("{:?}", store.metrics(id).unwrap()));
        out.push(format!("{:?}", store.facts(id).unwrap()));
        out.push(format!("{:?}", store.classes(id).unwrap()));
        out.push(format!("{:?}", store.class_metrics(id).unwrap()));
        out.push(format!("{:?}", store.confusion_cells(id).unwrap()));
        out.push(format!("{:?}", store.skipped(id).unwrap()));
        out.push(format!("{:?}", store.flips(id).unwrap()));
        out.push(format!("{:?}", store.tracks(id).unwrap()));
        for m in store.epoch_models(id).unwrap() {
            out.push(format!("{m} {:?}", store.epochs(id, &m).unwrap()));
        }
        out.push(format!(
            "{:?}",
            store.predictions(id, &ModelName::Audit).unwrap()
        ));
    }
    for s in store.sweeps().unwrap() {
        out.push(format!("{:?}", store.sweep(&s.name).unwrap()));
        for c in store.cells(&s.name).unwrap() {
            let run = c.run_id.map(|r| store.run_record(r).unwrap().name);
            out.push(format!(
                "{} {} {} {:?} {run:?}",
                c.number, c.spec_hash, c.status, c.error
            ));
        }
    }
    out
}

/// `agf store copy` from `a` to `b` and back to a third store: the same rows everywhere, and
/// copying again copies nothing.
fn copy_round_trip(a: &StoreLocation, b: &StoreLocation, c: &StoreLocation) {
    let from = Store::open(a, Box::new(OnlyFirstAlive)).unwrap();
    let want = dump(&from);
    let to = Store::open(b, Box::new(OnlyFirstAlive)).unwrap();
    let copied = agf::store::copy::copy(&from, &to).unwrap();
    // Run 2 was killed: it stays behind until it is resumed.
    assert_eq!((copied.runs, copied.running), (3, 1), "{copied:?}");
    let again = agf::store::copy::copy(&from, &to).unwrap();
    assert_eq!((again.runs, again.present), (0, 3));
    let back = Store::open(c, Box::new(OnlyFirstAlive)).unwrap();
    agf::store::copy::copy(&to, &back).unwrap();
    assert_eq!(dump(&to), want);
    assert_eq!(dump(&back), want);
    assert!(want.len() > 30, "the dump holds rows: {}", want.len());
}

fn locations(dir: &std::path::Path, test: &str) -> Vec<(&'static str, StoreLocation)> {
    let mut out = vec![(
        "sqlite",
        StoreLocation::parse(dir.join(format!("{test}.sqlite")).to_str().unwrap()),
    )];
    if let Some(url) = common::pg_database(test) {
        out.push(("postgres", StoreLocation::parse(&url)));
    }
    out
}

#[test]
fn both_backends_pass_the_same_store_tests() {
    let dir = tempfile::tempdir().unwrap();
    for (name, at) in locations(dir.path(), "records") {
        eprintln!("records on {name}");
        records_round_trip(&at);
    }
    for (name, at) in locations(dir.path(), "queue") {
        eprintln!("queue on {name}");
        the_queue_hands_out_each_cell_once(&at);
    }
}

#[test]
fn store_copy_goes_both_ways_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |n: &str| StoreLocation::parse(dir.path().join(n).to_str().unwrap());
    let source = sqlite("source.sqlite");
    records_round_trip(&source);
    {
        let store = Store::open(&source, Box::new(OnlyFirstAlive)).unwrap();
        store.sync_sweep(&sweep("s"), &cells(3), 2).unwrap();
        let c = store.claim_cell("s", "w", 0, i64::MAX).unwrap().unwrap();
        let run = store.start_run(&new_run("swept", Some(c.id))).unwrap();
        store.record_classes(run, &["x".into()]).unwrap();
        store.finish_run(run, RunEnd::Done).unwrap();
    }
    let middle = match common::pg_database("copy") {
        Some(url) => StoreLocation::parse(&url),
        None => sqlite("middle.sqlite"),
    };
    copy_round_trip(&source, &middle, &sqlite("back.sqlite"));
}
