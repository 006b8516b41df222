//! What a first run on real recordings used to trip over, on small FMA-layout fixtures: a
//! genre carried by two artists (it must reach a held-out split, and what cannot is said), a
//! subset whose rows all sit in one official split, an audio folder that is not there, an
//! unreadable file, and the checks that must come before a run is recorded.

mod common;

use agf::record::{ModelName, SplitKey};
use common::{agf, fma_spec, open_store, stderr, stdout, write, write_fma, FixtureTrack};
use std::path::Path;

/// Four genres: Blues from two artists, Classical from three, Folk and Rock from eight each;
/// every artist has one album of `per_artist` tracks. Official split: every row "test".
fn fixture(root: &Path, per_artist: u32, audio: Option<&str>) -> Vec<FixtureTrack> {
    let mut tracks = Vec::new();
    let mut artist = 0;
    for (genre, artists) in [("Blues", 2), ("Classical", 3), ("Folk", 8), ("Rock", 8)] {
        for _ in 0..artists {
            artist += 1;
            for _ in 0..per_artist {
                tracks.push(FixtureTrack {
                    id: tracks.len() as u32 + 1,
                    artist,
                    album: artist,
                    genre,
                    split: "test",
                });
            }
        }
    }
    write_fma(root, &tracks, audio);
    tracks
}

#[test]
fn a_genre_of_two_artists_reaches_test_and_the_split_that_lacks_it_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), 4, Some("fma_medium"));
    let spec = write(
        dir.path(),
        "s.toml",
        &fma_spec(dir.path(), "strategy = \"artist\"", ""),
    );
    let db = dir.path().join("agf.sqlite");
    for seed in 1..=5 {
        let text = std::fs::read_to_string(&spec)
            .unwrap()
            .replace("seed = 3", &format!("seed = {seed}"));
        let s = write(dir.path(), "seeded.toml", &text);
        let o = agf(&db, &["data", s.to_str().unwrap(), "--format", "json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let genres: Vec<&str> = v["genres"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        let blues = genres.iter().position(|g| *g == "Blues").unwrap();
        let classical = genres.iter().position(|g| *g == "Classical").unwrap();
        let per = |split: usize, g: usize| v["splits"][split]["per_genre"][g].as_u64().unwrap();
        assert!(per(0, blues) > 0 && per(2, blues) > 0, "seed {seed}: {v}");
        for split in 0..3 {
            assert!(per(split, classical) > 0, "seed {seed}: {v}");
        }
        let warnings = v["warnings"].as_array().unwrap();
        assert!(
            warnings.iter().any(|w| w.as_str().unwrap()
                == "validation has no Blues track (2 artists carry the genre; whole artists \
                    cannot cover three splits)"),
            "seed {seed}: {warnings:?}"
        );
    }
    // The table says it too, and a run records it as a fact and logs it.
    let table = stdout(&agf(&db, &["data", spec.to_str().unwrap()]));
    assert!(
        table.contains("warning   validation has no Blues track"),
        "{table}"
    );
    let o = agf(&db, &["run", spec.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("warning: validation has no Blues track"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("split: validation has no Blues track"),
        "{}",
        stderr(&o)
    );
    let store = open_store(&db);
    let run = store.runs().unwrap()[0].id;
    assert!(store
        .facts(run)
        .unwrap()
        .iter()
        .any(|(k, v)| k.starts_with("warning.split.") && v.starts_with("validation has no Blues")));
    // … and the report shows it beside the split's counts.
    let out = dir.path().join("report");
    let r = agf(&db, &["report", "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    let html = std::fs::read_to_string(out.join(format!("runs/{}.html", run.0))).unwrap();
    assert!(
        html.contains("<h2>Split</h2>") && html.contains("Warning: validation has no Blues track"),
        "the report shows the split's warning"
    );
    // Every model's per-track predictions are in the store, the baseline's included.
    let predictions = store.predictions(run, &ModelName::Baseline).unwrap();
    let scored: u64 = [SplitKey::Train, SplitKey::Validation, SplitKey::Test]
        .iter()
        .map(|s| {
            store
                .metric(run, &ModelName::Baseline, *s, "n_tracks")
                .unwrap()
                .unwrap() as u64
        })
        .sum();
    assert_eq!(predictions.len() as u64, scored);
    for p in &predictions {
        assert!((p.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let file = std::fs::read_to_string(dir.path().join("1/predictions/logreg.csv")).unwrap();
    assert_eq!(file.lines().count() - 1, predictions.len());
}

#[test]
fn an_official_split_with_every_row_in_test_names_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), 2, Some("fma_medium"));
    let db = dir.path().join("agf.sqlite");
    let spec = write(
        dir.path(),
        "s.toml",
        &fma_spec(dir.path(), "strategy = \"official\"", ""),
    );
    for command in ["data", "run"] {
        let o = agf(&db, &[command, spec.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{command}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(
            err.contains("puts none of its 42 tracks in train (train 0, validation 0, test 42)")
                && err.contains("strategy = \"artist\""),
            "{command}: {err}"
        );
    }
    assert!(!db.exists(), "a run that cannot work is not recorded");
    // Ratios do not apply to the official split: said where they are written.
    let ratios = write(
        dir.path(),
        "r.toml",
        &fma_spec(dir.path(), "strategy = \"official\"\ntrain = 0.8", ""),
    );
    let o = agf(&db, &["data", ratios.to_str().unwrap()]);
    assert!(
        stderr(&o).contains(&format!(
            "{}:16:1: split.train: does not apply with strategy = \"official\"",
            ratios.display()
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_audio_folder_is_one_line_and_fails_before_the_run_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), 2, None);
    let db = dir.path().join("agf.sqlite");
    let spec = write(
        dir.path(),
        "s.toml",
        &fma_spec(dir.path(), "strategy = \"artist\"", ""),
    );
    let folder = dir.path().join("fma_medium");
    let o = agf(&db, &["data", spec.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "the summary needs no audio: {}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains(&format!(
            "warning   the audio folder {} does not exist; it would hold the audio of 42 tracks",
            folder.display()
        )),
        "{}",
        stdout(&o)
    );
    let o = agf(&db, &["run", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(
        err.matches("does not exist").count(),
        1,
        "one line, not one per track: {err}"
    );
    assert!(err.contains("the run needs its audio"), "{err}");
    assert!(!db.exists(), "nothing recorded");
}

#[test]
fn check_audio_fails_on_an_unreadable_file_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let tracks = fixture(dir.path(), 2, Some("fma_medium"));
    let broken = agf::data::fma::audio_path(
        &dir.path().join("fma_medium"),
        agf::data::TrackId(tracks[5].id),
        "wav",
    );
    std::fs::write(&broken, b"RIFF but not really a wave file at all").unwrap();
    let db = dir.path().join("agf.sqlite");
    let spec = write(
        dir.path(),
        "s.toml",
        &fma_spec(dir.path(), "strategy = \"artist\"", ""),
    );
    let o = agf(&db, &["data", spec.to_str().unwrap(), "--check-audio"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("audio     1 unreadable files"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(
            "1 of 42 audio files cannot be read (listed above); --allow-unreadable accepts that"
        ),
        "{}",
        stderr(&o)
    );
    let o = agf(
        &db,
        &[
            "data",
            spec.to_str().unwrap(),
            "--check-audio",
            "--allow-unreadable",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn what_can_be_checked_is_checked_before_a_run_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), 2, Some("fma_medium"));
    let db = dir.path().join("agf.sqlite");
    // A genre the data does not have, in the noise pairs.
    let spec = write(
        dir.path(),
        "n.toml",
        &fma_spec(
            dir.path(),
            "strategy = \"artist\"",
            "[noise]\nkind = \"pairwise\"\nrate = 0.3\npairs = [[\"Rock\", \"Jaz\"]]\n",
        ),
    );
    let o = agf(&db, &["run", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`Jaz` is not a genre of this dataset"),
        "{}",
        stderr(&o)
    );
    // A CUDA device on a build without it.
    if cfg!(not(feature = "cuda")) {
        let spec = write(
            dir.path(),
            "d.toml",
            &format!(
                "device = \"cuda:0\"\n{}",
                fma_spec(
                    dir.path(),
                    "strategy = \"artist\"",
                    "[cnn]\npreset = \"small\"\nepochs = 1\n"
                )
            ),
        );
        let o = agf(&db, &["run", spec.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            stderr(&o).contains("device \"cuda:0\" cannot be opened"),
            "{}",
            stderr(&o)
        );
    }
    assert!(!db.exists(), "no failed run left behind");
    // Reading commands on a store that is not there say so and create nothing.
    for args in [vec!["runs"], vec!["report"], vec!["resume", "1"]] {
        let o = agf(&dir.path().join("typo/agf.sqlite"), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).contains("there is no run store at"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert!(!dir.path().join("typo").exists());
}
