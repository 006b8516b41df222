//! Verdicts a reviewer would sign, as a user meets them: the shipped split ablation at three
//! seeds calls nothing better and names the random split's leakage; `agf compare` of two
//! quickstart runs shows the parameter that differs and the headline scores on one screen;
//! an override the user typed is the one blamed for its error; `agf sweep status` finds the
//! only sweep by itself.

mod common;

use agf::compare::sweep::compare;
use agf::compare::verdict::Verdict;
use agf::record::{metric, SplitKey};
use common::{agf, open_store, stderr, stdout, write};
use std::path::Path;

/// `agf sweep run SPEC --workers 2 --report REPORT`, which must succeed.
fn sweep_run(db: &Path, spec: &str, report: &Path) {
    let o = agf(
        db,
        &[
            "sweep",
            "run",
            spec,
            "--workers",
            "2",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

#[test]
fn the_split_ablation_at_three_seeds_calls_nothing_better_and_names_the_leakage() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let report = dir.path().join("report");
    sweep_run(&db, &repo("experiments/ablation_split.toml"), &report);
    let store = open_store(&db);
    let c = compare(&store, "ablation-split", None).unwrap();
    assert_eq!(c.settings.min_pairs, 5);
    let random = c
        .arms
        .iter()
        .position(|a| a.arm.label() == "split.strategy=random")
        .unwrap();
    let artist = c
        .arms
        .iter()
        .position(|a| a.arm.label() == "split.strategy=artist")
        .unwrap();
    // Every test track of a random split has its artist in training; none of the artist
    // split's does.
    assert!(c.arms[random].leakage.unwrap().artist > 0.9);
    assert_eq!(c.arms[artist].leakage.unwrap().artist, 0.0);
    for m in &c.models {
        for t in &m.tables {
            for r in &t.rows {
                let Some(v) = &r.versus else { continue };
                assert_eq!(v.pairs, 3);
                assert!(
                    !matches!(v.verdict, Verdict::Better | Verdict::Worse),
                    "{} {}: {:?} called at 3 seeds",
                    m.model,
                    t.label,
                    v.verdict
                );
                // The interval is Student's t over three differences, wider than their range.
                let i = v.interval.unwrap();
                assert_eq!(i.method.as_str(), "t");
                if r.arm == random && t.score.split == SplitKey::Test {
                    let gain = t.score.gain(v.mean, 0.0);
                    if gain > 0.0 {
                        assert!(
                            matches!(v.verdict, Verdict::OptimisticByLeakage { artist, .. } if artist > 0.9),
                            "{:?}",
                            v.verdict
                        );
                    }
                }
            }
        }
    }
    let headline = &c.models[0];
    let loss = headline
        .tables
        .iter()
        .find(|t| t.score.split == SplitKey::Test && t.score.name == metric::LOG_LOSS)
        .unwrap();
    assert!(loss.note.as_deref().unwrap().contains("needs 5"));
    let page = std::fs::read_to_string(report.join("sweeps/ablation-split.html")).unwrap();
    assert!(page.contains("optimistic by leakage"));
    assert!(
        page.contains("99% of test tracks have their artist in training")
            || page.contains("100% of test tracks have their artist in training")
    );
    // The verdict never prints a called difference; the leakage column marks the arm.
    assert!(
        !page.contains("<strong class=\"better\">"),
        "a verdict called better"
    );
    assert!(page.contains("⚠ leaks"));
}

#[test]
fn compare_shows_the_parameter_that_differs_and_the_headline_scores_on_one_screen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let quick = repo("experiments/quickstart.toml");
    for extra in [None, Some("transfer.hidden=128")] {
        let mut args = vec!["run", quick.as_str(), "cnn.epochs=1", "transfer.epochs=1"];
        args.extend(extra);
        let o = agf(&db, &args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = agf(&db, &["compare", "1", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 40, "{} lines:\n{text}", lines.len());
    assert!(text.contains("parameters that differ (1 of"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.trim_start().starts_with("transfer.hidden") && l.contains("256  →  128")),
        "{text}"
    );
    for want in [
        "transfer   test log loss",
        "logreg     clean macro-F1",
        "leakage",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    // Nothing internal by default: counters, cached-stage artefacts, raw key suffixes.
    for never in [
        "audio_seconds",
        "feature_cache_hits",
        "artist_low",
        "seconds",
        "epochs_run",
    ] {
        assert!(!text.contains(never), "{never:?} in\n{text}");
    }
    // `--all` keeps the full listing.
    let all = stdout(&agf(&db, &["compare", "1", "2", "--all"]));
    assert!(all.contains("audio_seconds") && all.lines().count() > 100);
    // The HTML page puts the same summary first.
    let html = dir.path().join("c.html");
    agf(
        &db,
        &["compare", "1", "2", "--html", html.to_str().unwrap()],
    );
    let page = std::fs::read_to_string(&html).unwrap();
    let summary = page.find("Headline scores").unwrap();
    let full = page.find("Every stored metric").unwrap();
    assert!(summary < full);
    assert!(!page[..full].contains("audio_seconds"));
}

#[test]
fn an_override_error_names_the_override_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let quick = repo("experiments/quickstart.toml");
    let err = |args: &[&str]| {
        let o = agf(&db, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        stderr(&o)
    };
    let e = err(&["run", &quick, "cnn.epochz=2"]);
    assert!(
        e.contains("`cnn.epochz=2`: unknown key `epochz` in [cnn]; did you mean `epochs`?"),
        "{e}"
    );
    assert!(
        !e.contains("not a valid sweep") && !e.contains("quickstart.toml:"),
        "{e}"
    );
    let e = err(&["run", &quick, "cnn.epochs=2,3"]);
    assert!(
        e.contains("`cnn.epochs=2,3`: a comma list makes a sweep: use `agf sweep run`"),
        "{e}"
    );
    let e = err(&["sweep", "plan", &quick, "cnn.epochs=-1"]);
    assert!(e.contains("`cnn.epochs=-1`:") && e.contains("-1"), "{e}");
    let e = err(&["sweep", "plan", &quick, "split.train=nan"]);
    assert!(e.contains("`split.train=nan`:"), "{e}");
    assert!(!e.contains("quickstart.toml:34"), "{e}");
    assert!(!db.exists(), "nothing ran");
}

#[test]
fn sweep_status_without_a_name_shows_the_only_sweep_or_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let base = r#"
name = "tiny"
seed = 1
[dataset]
source = "synthetic"
seed = 5
[dataset.synthetic]
genres = 3
groups = 3
artists = 18
albums_per_artist = [1, 1]
tracks_per_album = [3, 3]
clip_seconds = 1.0
sample_rate = 16000
[frontend]
sample_rate = 16000
n_fft = 512
hop_length = 256
n_mels = 16
n_mfcc = 8
[split]
strategy = "artist"
[model]
kind = "logreg"
epochs = 5
"#;
    let a = write(
        dir.path(),
        "a.toml",
        &format!("{base}[sweep]\nname = \"first\"\nseeds = [1]\n"),
    );
    let b = write(
        dir.path(),
        "b.toml",
        &format!("{base}[sweep]\nname = \"second\"\nseeds = [2]\n"),
    );
    assert!(agf(&db, &["sweep", "run", a.to_str().unwrap()])
        .status
        .success());
    let one = stdout(&agf(&db, &["sweep", "status"]));
    assert!(one.contains("sweep \"first\""), "{one}");
    assert!(agf(&db, &["sweep", "run", b.to_str().unwrap()])
        .status
        .success());
    let o = agf(&db, &["sweep", "status"]);
    assert!(o.status.success());
    let two = stdout(&o);
    assert!(
        two.contains("2 sweeps") && two.contains("first") && two.contains("second"),
        "{two}"
    );
}

/// A 2 × 2 grid with two planted effects (half the training labels flipped; a heavy L2
/// penalty), six seeds: every arm is called worse than the baseline, the ranking puts the
/// baseline first, both main effects leave out zero, and the page shows all of it.
#[test]
fn a_planted_grid_gets_its_verdicts_ranking_and_factorial_effects() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let spec = write(
        dir.path(),
        "grid.toml",
        &format!(
            "{}{}",
            common::SMALL_NOISE_SPEC.replace("name = \"noisy\"", "name = \"grid\""),
            r#"
[sweep]
seeds = [1, 2, 3, 4, 5, 6]
min_pairs = 6
baseline = { "noise.rate" = 0.0, "model.l2" = 0.01 }
[sweep.grid]
"noise.rate" = [0.0, 0.5]
"model.l2" = [0.01, 1.0]
"#
        ),
    );
    let report = dir.path().join("report");
    sweep_run(&db, spec.to_str().unwrap(), &report);
    let store = open_store(&db);
    let c = compare(&store, "grid", None).unwrap();
    assert_eq!(c.settings.min_pairs, 6, "read from the spec's [sweep]");
    let t = c.models[0]
        .tables
        .iter()
        .find(|t| t.score.split == SplitKey::Test && t.score.name == metric::LOG_LOSS)
        .unwrap();
    for r in &t.rows {
        assert!(r.iqm.is_some(), "six runs have an IQM");
        if let Some(v) = &r.versus {
            assert_eq!(v.verdict, Verdict::Worse, "{}", c.arms[r.arm].arm.label());
        }
    }
    let ranking = agf::compare::design::ranking(&c, t).expect("4 arms over 6 shared seeds");
    let control = ranking.control.unwrap();
    assert_eq!(ranking.friedman.ranks[control], 1.0, "{ranking:?}");
    assert!(ranking.friedman.p_value < 0.05);
    let f = agf::compare::design::factorial(&c, t).expect("a full 2 × 2 grid");
    assert_eq!(f.axes, ["model.l2", "noise.rate"]);
    for e in &f.effects.main {
        let i = e.interval.unwrap();
        assert!(!i.contains(0.0), "{e:?}");
    }
    // More noise and more penalty both raise the loss.
    assert!(f.effects.main[1].mean > 0.0 && f.effects.main[3].mean > 0.0);
    assert!(agf::compare::design::variance_sources(&c, t).is_empty());
    let page = std::fs::read_to_string(report.join("sweeps/grid.html")).unwrap();
    for want in [
        "Ranking the arms",
        "Friedman test",
        "Factorial effects",
        "IQM",
        "profiles",
        "6 paired seeds or more (`min_pairs` of",
    ] {
        assert!(page.contains(want), "{want:?} not in the sweep page");
    }
}

/// The shipped variance sweep's design is recognised: three nested seed sources.
#[test]
fn the_variance_sweep_crosses_three_seed_sources() {
    let sweep = agf::sweep::Sweep::load(Path::new(&repo("experiments/variance_sources.toml")), &[])
        .unwrap();
    let seeds: std::collections::BTreeSet<(u64, u64, u64)> = sweep
        .cells
        .iter()
        .map(|c| {
            (
                c.spec.world_seed(),
                c.spec.split_seed(),
                c.spec.training_seed(),
            )
        })
        .collect();
    assert_eq!(seeds.len(), 18);
}
