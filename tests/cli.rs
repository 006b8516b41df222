//! End to end through the real binary: spec → run → store → `agf runs` → `agf report`,
//! and the errors a user sees for bad specs.

mod common;

use common::{agf, stderr, stdout, write};
use std::path::Path;

const SMALL: &str = r#"
name = "small"
seed = 11

[dataset]
source = "synthetic"

[dataset.synthetic]
genres = 4
groups = 6
artists = 40
albums_per_artist = [1, 2]
tracks_per_album = [3, 5]
label_noise = 0.0
clip_seconds = 2.0
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
epochs = 150
"#;

#[test]
fn run_list_report_and_determinism() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store/agf.sqlite");
    let spec = write(dir.path(), "small.toml", SMALL);

    let first = agf(&db, &["run", spec.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    let out = stdout(&first);
    let folder = db.parent().unwrap().join("1");
    assert!(
        out.starts_with(&format!(
            "run 1 in {}\nrun 1 \"small\" done in",
            folder.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("test tracks whose artist is in training: 0"),
        "{out}"
    );

    let second = agf(&db, &["run", spec.to_str().unwrap()]);
    assert!(second.status.success(), "{}", stderr(&second));

    let listed = agf(&db, &["runs", "--format", "json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let runs: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let ll = |i: usize| runs[i]["log_loss"].as_f64().unwrap();
    let f1 = |i: usize| runs[i]["macro_f1"].as_f64().unwrap();
    // Same spec and seed on CPU: the same numbers, to the last bit.
    assert_eq!(ll(0), ll(1));
    assert_eq!(f1(0), f1(1));
    assert_eq!(runs[0]["spec_hash"], runs[1]["spec_hash"]);
    // Learned something on an artist-disjoint split: below the uniform guess of 4 genres.
    assert!(ll(0) < (4f64).ln(), "test log loss {}", ll(0));
    assert!(f1(0) > 0.4, "test macro-F1 {}", f1(0));

    let csv = agf(&db, &["runs", "--format", "csv"]);
    let text = stdout(&csv);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("id,name,status,started_at,headline_model,log_loss,macro_f1,accuracy,spec_hash")
    );
    assert!(lines.next().unwrap().starts_with("1,small,done,"));

    let table = stdout(&agf(&db, &["runs"]));
    assert!(table.lines().nth(1).unwrap().contains("small"), "{table}");

    let out_dir = dir.path().join("report");
    let rep = agf(&db, &["report", "--out", out_dir.to_str().unwrap()]);
    assert!(rep.status.success(), "{}", stderr(&rep));
    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "log loss and macro-F1 of every run"
    );
    // Every run has its own page, linked from the index, with its confusion matrices.
    for id in [1, 2] {
        assert!(html.contains(&format!("href=\"runs/{id}.html\"")), "{html}");
        let page = std::fs::read_to_string(out_dir.join(format!("runs/{id}.html"))).unwrap();
        assert!(
            page.contains("Confusion matrices") && page.contains("on test, rows: published label"),
            "run {id}"
        );
    }
    // No temporary files are left behind by the atomic writes.
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn run_folders_go_where_runs_says() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store/agf.sqlite");
    let elsewhere = dir.path().join("elsewhere");
    let spec = write(
        dir.path(),
        "tags.toml",
        &format!("{SMALL}\n[[factors]]\nname = \"tags\"\nfeatures = \"subgenre\"\ntopics = 3\n"),
    );
    let o = agf(
        &db,
        &[
            "--runs",
            elsewhere.to_str().unwrap(),
            "run",
            spec.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let tables = elsewhere.join("1/factors/tags/artists.csv");
    assert!(tables.exists(), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("files in {}", elsewhere.join("1").display())),
        "{}",
        stdout(&o)
    );
    assert!(
        !dir.path().join("store/1").exists(),
        "nothing beside the store"
    );
    // The run is done, so the folders' locks say nothing is running there.
    let listed = agf(&db, &["--runs", elsewhere.to_str().unwrap(), "runs"]);
    assert!(stdout(&listed).contains(" done "), "{}", stdout(&listed));
}

fn expect_error(dir: &Path, text: &str, want: &str) {
    let spec = write(dir, "bad.toml", text);
    let o = agf(&dir.join("agf.sqlite"), &["run", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let want = want.replace("FILE", spec.to_str().unwrap());
    assert!(err.contains(&want), "expected {want:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_specs_name_file_line_column_and_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    expect_error(
        d,
        &SMALL.replace("epochs = 150", "epochs = 150\nepocs = 3"),
        "FILE:31:1: unknown field `epocs`, expected one of `kind`, `features`, `epochs`",
    );
    expect_error(
        d,
        &SMALL.replace("seed = 11", "seed = \"eleven\""),
        "FILE:3:8: invalid type: string \"eleven\", expected a whole number ≥ 0",
    );
    expect_error(
        d,
        &SMALL.replace("[model]\nkind = \"logreg\"\nepochs = 150\n", ""),
        "missing field `model`",
    );
    expect_error(
        d,
        &SMALL.replace("hop_length = 256", "hop_length = 0"),
        "FILE:21:1: frontend.hop_length: expected a hop of at least 1 sample, got 0",
    );
    expect_error(
        d,
        &SMALL.replace("source = \"synthetic\"", "source = \"fmaa\""),
        "FILE:6:10: unknown variant `fmaa`, expected `synthetic`",
    );
    expect_error(d, "name = [", "FILE:1:9:");
    let o = agf(
        &d.join("agf.sqlite"),
        &["run", d.join("missing.toml").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read spec"), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.toml"), "{}", stderr(&o));
}

#[test]
fn data_summarises_counts_and_leakage_per_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    for (strategy, leaks) in [("artist", false), ("random", true)] {
        let spec = write(
            dir.path(),
            "d.toml",
            &SMALL.replace(
                "strategy = \"artist\"",
                &format!("strategy = \"{strategy}\""),
            ),
        );
        let o = agf(&db, &["data", spec.to_str().unwrap(), "--format", "json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let s: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let tracks = s["tracks"].as_u64().unwrap();
        let splits = s["splits"].as_array().unwrap();
        let total: u64 = splits.iter().map(|c| c["tracks"].as_u64().unwrap()).sum();
        assert_eq!(total, tracks, "every track is in exactly one split");
        for c in splits {
            let per_genre: u64 = c["per_genre"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(per_genre, c["tracks"].as_u64().unwrap());
        }
        let leaked = s["leakage"]["test_tracks_with_train_artist"]
            .as_u64()
            .unwrap();
        assert_eq!(
            leaked > 0,
            leaks,
            "{strategy}: {leaked} test tracks share an artist with training"
        );
        assert!(
            s["skipped"].is_null(),
            "audio is not read without --check-audio"
        );
    }
    let table = stdout(&agf(
        &db,
        &["data", write(dir.path(), "t.toml", SMALL).to_str().unwrap()],
    ));
    assert!(
        table.contains("leakage   test tracks whose artist is in training: 0"),
        "{table}"
    );
    // Nothing was run: data summaries do not touch the store.
    assert!(!db.exists());
}

#[test]
fn every_shipped_experiment_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let (mut specs, mut ablations) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        // A spec without [sweep] is a sweep of one cell: every file loads as a sweep.
        let sweep =
            agf::sweep::Sweep::load(&p, &[]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let first = &sweep.cells[0].spec;
        // The paper spec trains genre plus its four factors: five nets.
        if first.name == "paper-won2018" {
            assert_eq!(first.cnn_targets().len(), 5);
        }
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        if stem.starts_with("ablation_") {
            // Every shipped ablation pairs its arms over at least three seeds and names the
            // arm the others are compared with.
            let seeds: std::collections::BTreeSet<_> =
                sweep.cells.iter().filter_map(|c| c.seed).collect();
            assert!(seeds.len() >= 3, "{stem}: seeds {seeds:?}");
            assert!(!sweep.baseline.is_empty(), "{stem} names no baseline");
            assert!(
                sweep.cells.len() > seeds.len(),
                "{stem}: one arm only ({} cells)",
                sweep.cells.len()
            );
            ablations += 1;
        }
        specs += 1;
    }
    assert!(specs >= 10, "{specs} specs");
    assert_eq!(ablations, 4);
}
