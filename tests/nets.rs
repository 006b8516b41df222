//! The CNN stage end to end on a tiny synthetic world: a genre net, a factor net and the
//! transfer model are trained, scored and their per-track predictions written.

mod common;

use agf::record::{ModelName, SplitKey};
use common::run_in_temp_store;
use std::path::Path;

/// A tiny synthetic world with one factor; `[cnn]` comes from each test.
const WORLD: &str = r#"
name = "nets"
seed = 2
device = "cpu"
[dataset]
source = "synthetic"
[dataset.synthetic]
artists = 24
albums_per_artist = [1, 2]
tracks_per_album = [3, 4]
clip_seconds = 1.5
sample_rate = 22050
[frontend]
n_mels = 32
[split]
strategy = "artist"
[model]
kind = "logreg"
epochs = 5
[[factors]]
name = "tags"
features = "subgenre"
topics = 4
"#;

#[test]
fn genre_and_factor_nets_and_transfer_run_and_are_recorded() {
    let text = format!(
        "{WORLD}{}",
        r#"
[cnn]
preset = "small"
epochs = 2
batch_size = 16
patch_frames = 16
window_hop = 8
[transfer]
hidden = 16
epochs = 2
"#
    );
    let (dir, store, out) = run_in_temp_store(&text, "nets.toml");
    let models: Vec<String> = out.nets.iter().map(|n| n.model.to_string()).collect();
    assert_eq!(models, ["cnn.genre", "cnn.tags", "transfer"]);
    for n in &out.nets {
        assert!(
            n.best_validation_loss.is_finite() && n.best_epoch >= 1,
            "{n:?}"
        );
        let epochs = store.epochs(out.run, &n.model).unwrap();
        assert_eq!(epochs.len(), 2, "{}", n.model);
    }
    // The headline model is the transfer model; its test log loss is what `agf runs` shows.
    let runs = store.runs().unwrap();
    // The run records the device its nets ran on.
    assert_eq!(
        (runs[0].device.as_str(), out.device.as_str()),
        ("cpu", "cpu")
    );
    let transfer_test = out.nets[2]
        .evaluations
        .iter()
        .find(|(s, _)| *s == SplitKey::Test)
        .unwrap()
        .1
        .log_loss;
    assert_eq!(runs[0].log_loss, Some(transfer_test));
    // Per-track probabilities for every split, each row a distribution.
    let csv = std::fs::read_to_string(out.dir.join("predictions/transfer.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), out.tracks);
    for r in rows {
        let p: f32 = r
            .split(',')
            .skip(3)
            .map(|v| v.parse::<f32>().unwrap())
            .sum();
        assert!((p - 1.0).abs() < 1e-4, "{r}");
    }
    // The report puts every genre model of the run side by side and draws each model's
    // validation curve.
    let report = agf::report::write_report(&store, &dir.path().join("report")).unwrap();
    let html = std::fs::read_to_string(
        report
            .index
            .with_file_name(format!("runs/{}.html", out.run.0)),
    )
    .unwrap();
    let section = &html[html.find("Genre models").expect("a models section")..];
    for model in ["cnn.genre", "cnn.tags", "logreg", "transfer"] {
        assert!(section.contains(&format!(">{model}</td>")), "{model}");
    }
    // One panel per kind of target, each with its chance line: genre nets and the transfer
    // model against ln of the genres, the factor's net against ln of its topics.
    let training = &html[html.find("<h2>Training</h2>").expect("a training section")..];
    for (panel, model, chance) in [
        ("genre nets: genre cross-entropy", "cnn.genre", "chance ln "),
        (
            "factor nets: cross-entropy against",
            "cnn.tags",
            "chance ln ",
        ),
        (
            "transfer model: genre cross-entropy",
            "transfer",
            "chance ln ",
        ),
    ] {
        let at = training
            .find(&format!("Run {}: {panel}", out.run.0))
            .unwrap_or_else(|| panic!("{panel} is drawn"));
        let svg = &training[at..];
        let svg = &svg[..svg.find("</svg>").unwrap()];
        assert!(svg.contains(model), "{model} has a curve");
        assert!(svg.contains(chance), "{panel} has its chance line");
    }
    // Checkpoints of every net are on disk: the JSON names its epoch's tensors.
    for t in ["genre", "tags"] {
        let dir = out.dir.join("checkpoints").join(t);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("last.json")).unwrap()).unwrap();
        let tensors = json["tensors"].as_str().unwrap();
        assert_eq!(tensors, "last-e00002.safetensors");
        assert!(dir.join(tensors).exists());
        assert!(
            !dir.join("last-e00001.safetensors").exists(),
            "older epochs go"
        );
    }
}

#[test]
fn the_multi_task_net_shares_a_trunk_follows_its_schedule_and_feeds_the_transfer_model() {
    let text = format!(
        "{WORLD}{}",
        r#"
[cnn]
preset = "small"
mode = "multitask"
task_probabilities = { genre = 0.5, tags = 0.5 }
lr_schedule = { kind = "step", every = 2, gamma = 0.5 }
learning_rate = 0.002
epochs = 6
patience = 10
batch_size = 16
patch_frames = 16
window_hop = 8
[transfer]
hidden = 16
epochs = 2
"#
    );
    let (_dir, store, out) = run_in_temp_store(&text, "mtl.toml");
    let models: Vec<String> = out.nets.iter().map(|n| n.model.to_string()).collect();
    assert_eq!(models, ["cnn.multitask", "transfer"]);
    // The genre head is scored like a genre net.
    assert!(out.nets[0]
        .evaluations
        .iter()
        .any(|(s, _)| *s == SplitKey::Test));
    let rows = store.epochs(out.run, &ModelName::net("multitask")).unwrap();
    assert_eq!(rows.len(), 6);
    for r in &rows {
        let want = 0.002 * 0.5f64.powi(((r.epoch - 1) / 2) as i32);
        assert!((r.learning_rate.unwrap() - want).abs() < 1e-12, "{r:?}");
        assert!(matches!(r.task.as_deref(), Some("genre" | "tags")), "{r:?}");
    }
    // One net, two heads, one checkpoint folder.
    assert!(out
        .dir
        .join("checkpoints/multitask/last-e00006.safetensors")
        .exists());

    // Probabilities must cover the targets and sum to 1; the error names the field.
    let bad = text.replace("tags = 0.5 }", "tags = 0.4 }");
    let err = agf::stages::parse_spec(&bad, Path::new("mtl.toml"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cnn.task_probabilities") && err.contains("summing to 1"),
        "{err}"
    );
    let bad = text.replace("gamma = 0.5", "gamma = 1.5");
    let err = agf::stages::parse_spec(&bad, Path::new("mtl.toml"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cnn.lr_schedule.gamma"), "{err}");
}

/// `[audit] model = "transfer"`: per fold only the genre net is trained again (the factor
/// net learns artists' topic vectors, never a genre label, and serves every fold), the MLP
/// over the fold's nets predicts the fold's tracks, whole artists per fold. The result is
/// recorded, re-audited by `agf audit RUN` from the store, and read from the stage cache by
/// the next run of the same spec with identical probabilities.
#[test]
fn a_transfer_audit_retrains_only_the_genre_net_per_fold_and_is_cached() {
    let text = format!(
        "{WORLD}{}",
        r#"
[cnn]
preset = "small"
epochs = 2
batch_size = 16
patch_frames = 16
window_hop = 8
[transfer]
hidden = 16
epochs = 2
[audit]
model = "transfer"
folds = 3
"#
    );
    let spec = common::spec(&text, "audited_nets.toml");
    let dir = tempfile::tempdir().unwrap();
    let (store, out) = common::run_in(&spec, dir.path());
    let audit = |run, name: &str| {
        store
            .metric(run, &ModelName::Audit, SplitKey::Train, name)
            .unwrap()
            .unwrap_or_else(|| panic!("audit {name}"))
    };
    let tracks = audit(out.run, "tracks");
    let train_tracks = store
        .metric(
            out.run,
            &ModelName::net("genre"),
            SplitKey::Train,
            "n_tracks",
        )
        .unwrap()
        .unwrap();
    assert_eq!(tracks, train_tracks, "every training track the nets read");
    assert_eq!(audit(out.run, "cache_hit"), 0.0);
    for f in 0..3 {
        assert!(audit(out.run, &format!("fold{f}.best_validation_loss")).is_finite());
        let fold = out.dir.join(format!("checkpoints/audit/fold{f}"));
        assert!(fold.join("genre").is_dir(), "fold {f}'s genre net");
        assert!(!fold.join("tags").exists(), "fold {f} keeps the factor net");
    }
    let first = store.predictions(out.run, &ModelName::Audit).unwrap();
    assert_eq!(first.len() as f64, tracks);
    for p in &first {
        let sum: f32 = p.probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "{p:?}");
    }
    let facts = store.facts(out.run).unwrap();
    assert!(facts.contains(&("audit.model".to_string(), "transfer".to_string())));

    // Each artist in one fold, three folds used.
    let oof = std::fs::read_to_string(out.dir.join("audit/oof.csv")).unwrap();
    let mut fold_of: std::collections::HashMap<String, String> = Default::default();
    let mut folds = std::collections::BTreeSet::new();
    for line in oof.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let (fold, artist) = (cells[1].to_string(), cells[3].to_string());
        folds.insert(fold.clone());
        let seen = fold_of.entry(artist.clone()).or_insert(fold.clone());
        assert_eq!(*seen, fold, "artist {artist} in two folds");
    }
    assert_eq!(folds.len(), 3);

    // `agf audit RUN` audits the stored transfer probabilities again: the same flags.
    let db = dir.path().join("agf.sqlite");
    let a = common::agf(&db, &["audit", "1", "--format", "json"]);
    assert!(a.status.success(), "{}", common::stderr(&a));
    let v: serde_json::Value = serde_json::from_str(&common::stdout(&a)).unwrap();
    assert_eq!(
        v["flagged"].as_array().unwrap().len() as f64,
        audit(out.run, "flagged")
    );
    let other = common::agf(&db, &["audit", "1", "--model", "genre_cnn"]);
    assert!(!other.status.success());
    assert!(
        common::stderr(&other).contains("[audit] model = \"genre_cnn\""),
        "{}",
        common::stderr(&other)
    );

    // The same spec again: the out-of-fold probabilities come from the stage cache.
    let (store, again) = common::run_in(&spec, dir.path());
    assert_eq!(audit(again.run, "cache_hit"), 1.0);
    let second = store.predictions(again.run, &ModelName::Audit).unwrap();
    assert_eq!(first.len(), second.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!((a.track, &a.probabilities), (b.track, &b.probabilities));
    }
    assert_eq!(audit(again.run, "flagged"), audit(out.run, "flagged"));

    // An audit of a net the spec does not train is refused before anything runs.
    let bad = common::write(
        dir.path(),
        "bad.toml",
        &format!("{WORLD}\n[audit]\nmodel = \"genre_cnn\"\n"),
    );
    let o = common::agf(&db, &["run", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = common::stderr(&o);
    assert!(
        err.contains("audit.model") && err.contains("needs [cnn]"),
        "{err}"
    );
}
