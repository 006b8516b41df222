//! Comparisons as a user reads them: a label-noise sweep whose noisy arm is worse on every
//! seed ends in a report that says so with the exact paired test; `agf show` prints what
//! `agf run` printed; `agf compare` lists what differs; `agf runs --where --group-by`
//! filters and averages; every string from the user is escaped in the pages.

mod common;

use agf::compare::sweep::compare;
use agf::record::{metric, ModelName, RunId, SplitKey};
use common::{agf, open_store, stdout, write};

/// A small world with clean published labels, the baseline only ([`common::SMALL_NOISE_SPEC`]);
/// six seeds, so that the exact signed-rank test can reach p < 0.05.
const SPEC: &str = common::SMALL_NOISE_SPEC;

const SWEEP: &str = r#"
[sweep]
seeds = [1, 2, 3, 4, 5, 6]
baseline = { "noise.rate" = 0.0 }
[sweep.grid]
"noise.rate" = [0.0, 0.7]
"#;

#[test]
fn a_noise_sweep_reports_the_noisy_arm_worse_on_every_seed_with_its_exact_p_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let spec = write(dir.path(), "noisy.toml", &format!("{SPEC}{SWEEP}"));
    let report = dir.path().join("report");
    let o = agf(
        &db,
        &[
            "sweep",
            "run",
            spec.to_str().unwrap(),
            "--workers",
            "2",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let page = report.join("sweeps/noisy.html");
    assert!(
        stdout(&o).contains(&format!("comparison report: {}", page.display())),
        "{}",
        stdout(&o)
    );

    let store = open_store(&db);
    let c = compare(&store, "noisy", None).unwrap();
    assert_eq!(c.arms.len(), 2);
    assert_eq!(c.seeds, [1, 2, 3, 4, 5, 6]);
    let logreg = c
        .model(&ModelName::Baseline)
        .expect("the baseline is compared");
    let table = logreg
        .tables
        .iter()
        .find(|t| t.score.split == SplitKey::TestClean && t.score.name == metric::LOG_LOSS)
        .expect("scored against the true genres");
    let noisy = table
        .rows
        .iter()
        .find(|r| !c.arms[r.arm].is_baseline)
        .unwrap();
    let clean = table
        .rows
        .iter()
        .find(|r| c.arms[r.arm].is_baseline)
        .unwrap();
    // The numbers are the store's: each seed's clean log loss, their mean.
    for (seed, run, v) in &noisy.values {
        let stored = store
            .metric(
                *run,
                &ModelName::Baseline,
                SplitKey::TestClean,
                metric::LOG_LOSS,
            )
            .unwrap()
            .unwrap();
        assert_eq!(*v, stored, "seed {seed:?}");
    }
    let mean = noisy.values.iter().map(|v| v.2).sum::<f64>() / 6.0;
    assert!((noisy.spread.mean - mean).abs() < 1e-12);
    assert!(noisy.interval.unwrap().contains(mean));
    // Seven labels in ten relabelled at random: worse on every seed, so every sign agrees
    // and the exact two-sided p-value is 2/2⁶; one comparison, so Holm leaves it.
    let v = noisy.versus.as_ref().expect("compared with the clean arm");
    assert_eq!(
        (v.wins, v.pairs),
        (0, 6),
        "{:?} vs {:?}",
        noisy.values,
        clean.values
    );
    assert!(v.mean > 0.0 && v.interval.unwrap().low > 0.0, "{v:?}");
    assert_eq!(v.test.unwrap().p_value, 2.0 / 64.0);
    assert_eq!(v.p_holm, Some(2.0 / 64.0));
    assert!(table.note.is_none());
    // Six paired seeds reach the verdict's minimum of five: the planted effect is called,
    // by the paired t-test (one comparison, so Holm leaves its p-value).
    assert_eq!(v.verdict, agf::compare::verdict::Verdict::Worse, "{v:?}");
    assert!(v.p_t_holm.unwrap() < 0.05 && v.p_t_holm == v.p_t);
    assert_eq!(v.interval.unwrap().method.as_str(), "t");
    // A run of the noisy arm never beats one of the clean arm.
    assert_eq!(v.improvement.unwrap().value, 0.0);
    // Each run's test set was bootstrapped over its artists when it was scored.
    assert!(noisy.test_set.is_some_and(|w| w > 0.0));

    // The page says it, with the arms' charts, and the index links to it.
    let html = std::fs::read_to_string(&page).unwrap();
    for want in [
        "noise.rate=0.7",
        "0 of 6",
        "0.0312",
        "<strong class=\"worse\">worse</strong>",
        "Score against noise rate",
        "<svg",
    ] {
        assert!(html.contains(want), "{want:?} not in the sweep page");
    }
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(index.contains("href=\"sweeps/noisy.html\""));
    // Every cell's run has its page.
    for cell in store.cells("noisy").unwrap() {
        let run = cell.run_id.unwrap();
        assert!(report.join(format!("runs/{}.html", run.0)).is_file());
    }
}

#[test]
fn show_compare_and_grouped_runs_read_the_store_and_pages_escape_what_users_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let spec = write(dir.path(), "one.toml", SPEC);
    let s = spec.to_str().unwrap();
    let first = agf(&db, &["run", s, "seed=1"]);
    assert!(first.status.success(), "{}", common::stderr(&first));
    let tricky = "a<b>&\"c\"";
    let name = format!("name={tricky}");
    for args in [
        vec!["run", s, "seed=2", &name],
        vec!["run", s, "seed=3", &name],
    ] {
        assert!(agf(&db, &args).status.success());
    }

    // `agf show` prints what `agf run` printed after its first line.
    let shown = agf(&db, &["show", "1"]);
    let printed = stdout(&first);
    let after_first_line = printed.split_once('\n').unwrap().1;
    assert_eq!(stdout(&shown), after_first_line);

    // `agf compare` names the seed as the one parameter that differs (besides the name) and
    // puts every metric side by side with its difference.
    let store = open_store(&db);
    let d = agf::compare::runs::diff(&store, RunId(1), RunId(2)).unwrap();
    let keys: Vec<&str> = d.params.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"seed"), "{keys:?}");
    let ll = |run| {
        store
            .metric(
                RunId(run),
                &ModelName::Baseline,
                SplitKey::Test,
                metric::LOG_LOSS,
            )
            .unwrap()
            .unwrap()
    };
    let row = d
        .metrics
        .iter()
        .find(|m| m.model == "logreg" && m.split == "test" && m.name == "log_loss")
        .unwrap();
    assert_eq!(row.difference(), Some(ll(2) - ll(1)));
    let o = agf(
        &db,
        &[
            "compare",
            "1",
            "2",
            "--html",
            dir.path().join("c.html").to_str().unwrap(),
        ],
    );
    assert!(o.status.success());
    assert!(stdout(&o).contains("seed  1  →  2"), "{}", stdout(&o));
    let html = std::fs::read_to_string(dir.path().join("c.html")).unwrap();
    assert!(html.contains("a&lt;b&gt;&amp;&quot;c&quot;") && !html.contains(tricky));

    // Filtered and grouped: runs 2 and 3 share the name; their group's mean is theirs.
    let o = agf(&db, &["runs", "--where", "seed=2", "--format", "csv"]);
    let ids: Vec<String> = stdout(&o)
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["2"]);
    let o = agf(&db, &["runs", "--group-by", "name", "--format", "json"]);
    let groups: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let g = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["runs"].as_array().unwrap().len() == 2)
        .expect("runs 2 and 3 form a group");
    let mean = g["log_loss"]["mean"].as_f64().unwrap();
    assert!((mean - (ll(2) + ll(3)) / 2.0).abs() < 1e-12);

    // The report escapes the name on the index and on the run's own page.
    let out = dir.path().join("report");
    assert!(agf(&db, &["report", "--out", out.to_str().unwrap()])
        .status
        .success());
    for page in ["index.html", "runs/2.html"] {
        let html = std::fs::read_to_string(out.join(page)).unwrap();
        assert!(
            html.contains("a&lt;b&gt;&amp;&quot;c&quot;") && !html.contains(tricky),
            "{page}"
        );
    }
    // A second report keeps the finished runs' pages.
    let o = agf(&db, &["report", "--out", out.to_str().unwrap()]);
    assert!(stdout(&o).contains("0 run pages written"), "{}", stdout(&o));
}
