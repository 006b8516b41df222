//! What `agf` prints: a finished run's numbers, the list of runs, a dataset summary, and
//! the one-line reports of the writing commands. Tables for people, JSON and CSV for scripts.

use super::args::Format;
use agf::compare::card::RunCard;
use agf::data::synth::fma_layout::WriteSummary;
use agf::features::ExportSummary;
use agf::record::{ModelName, SplitKey};
use agf::stages::data::DataSummary;
use agf::store::{CellStatus, RunStatus, RunSummary};
use anyhow::Result;

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into())
}

/// Counts (tracks, epochs, flags) as whole numbers, anything else to four decimals.
fn num_or_count(v: Option<f64>) -> String {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e12 => format!("{x:.0}"),
        _ => num(v),
    }
}

fn count(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into())
}

/// A run's summary as the store holds it: what `agf run` prints at its end and `agf show`
/// prints again.
pub fn card(c: &RunCard, store: &str, dir: &std::path::Path) {
    let took = c
        .seconds
        .map(|s| format!(" in {s:.1} s"))
        .unwrap_or_default();
    println!(
        "run {} \"{}\" {}{took} (spec {})",
        c.run,
        c.name,
        c.status,
        &c.spec_hash[..c.spec_hash.len().min(12)]
    );
    if let Some(e) = &c.error {
        println!("error: {e}");
    }
    println!(
        "dataset {}: {} tracks, {} artists, {} albums, {} genres; {} tracks skipped",
        c.dataset.as_deref().unwrap_or("?"),
        count(c.tracks),
        count(c.artists),
        count(c.albums),
        c.classes.len(),
        c.skipped.len()
    );
    for (track, reason) in c.skipped.iter().take(10) {
        println!("  skipped track {track}: {reason}");
    }
    if c.skipped.len() > 10 {
        println!(
            "  … and {} more (table skipped_tracks)",
            c.skipped.len() - 10
        );
    }
    println!(
        "split: train {} / validation {} / test {}; test tracks whose artist is in training: {}, whose album is: {}",
        count(c.split_tracks[0]),
        count(c.split_tracks[1]),
        count(c.split_tracks[2]),
        count(c.test_with_train_artist),
        count(c.test_with_train_album)
    );
    if c.injected_flips.is_some_and(|n| n > 0.0) {
        println!(
            "injected label noise: {} training labels flipped (table label_flips)",
            count(c.injected_flips)
        );
    }
    for w in &c.warnings {
        println!("warning: {w}");
    }
    if let Some(b) = c.baseline() {
        println!(
            "model {} (the baseline): {} epochs, best at {} (validation log loss {})",
            ModelName::Baseline,
            b.epochs_run,
            b.best_epoch.map(|e| e.to_string()).unwrap_or("-".into()),
            num(b.best_validation_loss)
        );
        println!();
        println!("{} by split:", ModelName::Baseline);
        println!(
            "{:<11} {:>7} {:>9} {:>9} {:>9}",
            "split", "tracks", "log loss", "macro-F1", "accuracy"
        );
        for s in &b.scores {
            let note = match s.split {
                SplitKey::TestClean => "   (test, scored against the true genres)",
                _ => "",
            };
            println!(
                "{:<11} {:>7} {:>9} {:>9} {:>9}{note}",
                s.split.as_str(),
                count(s.tracks),
                num(s.log_loss),
                num(s.macro_f1),
                num(s.accuracy)
            );
        }
    }
    let n = c.classes.len();
    if c.models.iter().any(|m| m.model != ModelName::Baseline) {
        println!();
        println!(
            "{:<18} {:>5} {:>9}  {:>9} {:>9} {:>9}  {:>10} {:>9}",
            "model",
            "best",
            "val loss",
            "test loss",
            "macro-F1",
            "accuracy",
            "clean loss",
            "clean F1"
        );
        for m in &c.models {
            let on = |s: SplitKey| m.on(s);
            println!(
                "{:<18} {:>5} {:>9}  {:>9} {:>9} {:>9}  {:>10} {:>9}{}",
                m.model.to_string(),
                m.best_epoch.map(|e| e.to_string()).unwrap_or("-".into()),
                num(m.best_validation_loss),
                num(on(SplitKey::Test).and_then(|e| e.log_loss)),
                num(on(SplitKey::Test).and_then(|e| e.macro_f1)),
                num(on(SplitKey::Test).and_then(|e| e.accuracy)),
                num(on(SplitKey::TestClean).and_then(|e| e.log_loss)),
                num(on(SplitKey::TestClean).and_then(|e| e.macro_f1)),
                if m.cached { "  (cached)" } else { "" }
            );
        }
        println!(
            "(trained on {}; factor nets' losses are cross-entropies against their artists' topic vectors)",
            c.device
        );
    }
    if !c.factors.is_empty() {
        println!();
        println!(
            "{:<14} {:>6} {:>6} {:>8} {:>11} {:>10} {:>7}  tables",
            "factor", "words", "topics", "artists", "perplexity", "held-out", "NMI"
        );
        let fixed = |v: Option<f64>, d: usize| v.map(|x| format!("{x:.d$}")).unwrap_or("-".into());
        for f in &c.factors {
            println!(
                "{:<14} {:>6} {:>6} {:>8} {:>11} {:>10} {:>7}  {}{}",
                f.name,
                count(f.vocabulary),
                count(f.topics),
                count(f.artists),
                fixed(f.perplexity, 2),
                fixed(f.held_out_perplexity, 2),
                fixed(f.nmi_artist_group, 3),
                f.dir.as_deref().unwrap_or("-"),
                if f.cached { " (cached)" } else { "" }
            );
        }
        println!();
    }
    if !c.audit.is_empty() {
        let a = |k: &str| c.audit.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let fixed = |v: Option<f64>, d: usize| v.map_or("-".into(), |x| format!("{x:.d$}"));
        println!(
            "label audit: {} of {} training labels flagged, {} out of {} artist-grouped folds \
             (num_label_issues {}, health score {})",
            count(a("flagged")),
            count(a("tracks")),
            c.audit_model.as_deref().unwrap_or("baseline"),
            count(a("folds")),
            count(a("num_label_issues")),
            fixed(a("health_score"), 3)
        );
        if a("wrong_labels").is_some() {
            println!(
                "  against the true labels: tracks precision {} recall {} ({} wrong), albums precision {} recall {} ({} wrong); files in audit/",
                fixed(a("track_precision"), 3),
                fixed(a("track_recall"), 3),
                count(a("wrong_labels")),
                fixed(a("album_precision"), 3),
                fixed(a("album_recall"), 3),
                count(a("wrong_albums"))
            );
        }
        if c.models
            .iter()
            .any(|m| matches!(m.model, ModelName::BaselineOn(_)))
        {
            println!("  logreg.cleaned: the baseline on the audit's cleaned labels; logreg.true: on the true labels");
        }
        println!();
    }
    if n > 0 {
        println!(
            "chance: log loss ln({n}) = {:.4}, accuracy 1/{n} = {:.4}",
            (n as f64).ln(),
            1.0 / n as f64
        );
    }
    if let Some(clip) = c
        .baseline()
        .and_then(|b| b.on(SplitKey::Test))
        .and_then(|s| s.clip)
    {
        println!("log loss clipped at {clip:e}");
    }
    println!();
    println!(
        "stored in {store}, files in {}; `agf report` writes reports/latest/index.html",
        dir.display()
    );
}

/// The runs of a store.
pub fn runs(runs: &[RunSummary], format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(runs)?),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "id",
                "name",
                "status",
                "started_at",
                "headline_model",
                "log_loss",
                "macro_f1",
                "accuracy",
                "spec_hash",
            ])?;
            let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
            for r in runs {
                w.write_record([
                    r.id.to_string(),
                    r.name.clone(),
                    r.status.to_string(),
                    r.started_at.clone(),
                    r.headline_model.clone().unwrap_or_default(),
                    opt(r.log_loss),
                    opt(r.macro_f1),
                    opt(r.accuracy),
                    r.spec_hash.clone(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            runs_table(runs);
            for r in runs.iter().filter(|r| r.status == RunStatus::Interrupted) {
                println!(
                    "run {} was interrupted: `agf resume {}` finishes it",
                    r.id, r.id
                );
            }
        }
    }
    Ok(())
}

fn runs_table(runs: &[RunSummary]) {
    let name_w = runs
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:>4}  {:<name_w$}  {:<11}  {:<24}  {:<9}  {:>9}  {:>9}",
        "id", "name", "status", "started", "model", "log loss", "macro-F1"
    );
    for r in runs {
        println!(
            "{:>4}  {:<name_w$}  {:<11}  {:<24}  {:<9}  {:>9}  {:>9}",
            r.id.0,
            r.name,
            r.status.as_str(),
            r.started_at,
            r.headline_model.as_deref().unwrap_or("-"),
            num(r.log_loss),
            num(r.macro_f1)
        );
    }
    if runs.is_empty() {
        println!("(no runs yet: `agf run experiments/quickstart.toml` makes one)");
    } else {
        println!("(test scores of each run's headline model)");
    }
}

fn spread(s: &Option<agf::eval::summary::Spread>) -> String {
    match s {
        Some(agf::eval::summary::Spread {
            mean, sd: Some(sd), ..
        }) => {
            format!("{mean:.4} ± {sd:.4}")
        }
        Some(s) => format!("{:.4}", s.mean),
        None => "-".into(),
    }
}

/// `agf runs --group-by`: one row per group.
pub fn groups(groups: &[agf::compare::runs::Group], by: &[String], format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(groups)?),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let mut header: Vec<String> = by.to_vec();
            header.extend(
                [
                    "model",
                    "runs",
                    "log_loss_mean",
                    "log_loss_sd",
                    "macro_f1_mean",
                    "macro_f1_sd",
                    "accuracy_mean",
                    "accuracy_sd",
                ]
                .map(String::from),
            );
            w.write_record(&header)?;
            let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
            for g in groups {
                let mut row: Vec<String> = g
                    .keys
                    .iter()
                    .map(|(_, v)| v.clone().unwrap_or_default())
                    .collect();
                row.push(g.model.clone().unwrap_or_default());
                row.push(g.runs.len().to_string());
                for s in [&g.log_loss, &g.macro_f1, &g.accuracy] {
                    row.push(opt(s.map(|s| s.mean)));
                    row.push(opt(s.and_then(|s| s.sd)));
                }
                w.write_record(&row)?;
            }
            w.flush()?;
        }
        Format::Table => {
            let key_w: Vec<usize> = by
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    groups
                        .iter()
                        .map(|g| g.keys[i].1.as_deref().unwrap_or("-").chars().count())
                        .max()
                        .unwrap_or(0)
                        .max(k.chars().count())
                })
                .collect();
            let mut line = String::new();
            for (k, w) in by.iter().zip(&key_w) {
                line.push_str(&format!("{k:<w$}  "));
            }
            println!(
                "{line}{:<9} {:>4}  {:>17}  {:>17}  {:>17}",
                "model", "runs", "test log loss", "test macro-F1", "test accuracy"
            );
            for g in groups {
                let mut line = String::new();
                for ((_, v), w) in g.keys.iter().zip(&key_w) {
                    line.push_str(&format!("{:<w$}  ", v.as_deref().unwrap_or("-")));
                }
                println!(
                    "{line}{:<9} {:>4}  {:>17}  {:>17}  {:>17}",
                    g.model.as_deref().unwrap_or("-"),
                    g.runs.len(),
                    spread(&g.log_loss),
                    spread(&g.macro_f1),
                    spread(&g.accuracy)
                );
            }
            if groups.is_empty() {
                println!("(no run passes the filters)");
            } else {
                println!("(mean ± sample SD over each group's runs, of their headline model's test scores)");
            }
        }
    }
    Ok(())
}

/// `agf compare A B`.
/// The parameters two runs do not share, one a line.
fn params_that_differ(d: &agf::compare::runs::RunDiff) {
    if d.params.is_empty() {
        println!("parameters: all {} the same", d.same);
        return;
    }
    println!(
        "parameters that differ ({} of {}):",
        d.params.len(),
        d.params.len() + d.same
    );
    let kw = d.params.iter().map(|p| p.key.len()).max().unwrap_or(3);
    for p in &d.params {
        println!(
            "  {:<kw$}  {}  →  {}",
            p.key,
            p.a.as_deref().unwrap_or("(absent)"),
            p.b.as_deref().unwrap_or("(absent)")
        );
    }
}

/// `agf compare A B`: the parameters that differ, each genre model's headline scores with
/// their difference and each run's test-set interval, and leakage; nothing internal.
fn compare_summary(d: &agf::compare::runs::RunDiff) {
    let (a, b) = (d.a.id, d.b.id);
    println!(
        "run {a} \"{}\" ({}) against run {b} \"{}\" ({})",
        d.a.name, d.a.status, d.b.name, d.b.status
    );
    params_that_differ(d);
    let pct = |l: Option<agf::compare::verdict::Leakage>| {
        l.map(|l| {
            format!(
                "{:.0}% artist, {:.0}% album",
                l.artist * 100.0,
                l.album * 100.0
            )
        })
        .unwrap_or_else(|| "unknown".into())
    };
    println!(
        "leakage (test tracks whose artist / album is in training): run {a} {}; run {b} {}",
        pct(d.leakage[0]),
        pct(d.leakage[1])
    );
    if let Some(note) = d.leakage_note() {
        println!("  {note}");
    }
    println!();
    let mw = d
        .scores
        .iter()
        .map(|s| s.model.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:<mw$}  {:<15}  {:>17}  {:>17}  {:>9}",
        "model",
        "score",
        format!("run {a}"),
        format!("run {b}"),
        "Δ"
    );
    let cell = |v: Option<f64>, h: Option<f64>| match (v, h) {
        (Some(v), Some(h)) => format!("{v:.4} ± {h:.4}"),
        (Some(v), None) => format!("{v:.4}"),
        _ => "-".into(),
    };
    for sc in &d.scores {
        println!(
            "{:<mw$}  {:<15}  {:>17}  {:>17}  {:>9}",
            sc.model,
            sc.label,
            cell(sc.a, sc.a_test_set),
            cell(sc.b, sc.b_test_set),
            sc.difference()
                .map(|x| format!("{x:+.4}"))
                .unwrap_or_else(|| "-".into())
        );
    }
    println!();
    println!(
        "± is each run's 95% interval over its test set's artists. One run each: a difference \
         between two runs is not told apart from seed noise (run the arms over seeds with \
         `agf sweep run`). `--all` lists every stored metric."
    );
}

pub fn compare(d: &agf::compare::runs::RunDiff, format: Format, all: bool) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(d)?),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(["kind", "model", "split", "name", "a", "b", "difference"])?;
            let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
            for p in &d.params {
                w.write_record([
                    "param",
                    "",
                    "",
                    &p.key,
                    p.a.as_deref().unwrap_or(""),
                    p.b.as_deref().unwrap_or(""),
                    "",
                ])?;
            }
            for m in &d.metrics {
                w.write_record([
                    "metric".to_string(),
                    m.model.clone(),
                    m.split.clone(),
                    m.name.clone(),
                    opt(m.a),
                    opt(m.b),
                    opt(m.difference()),
                ])?;
            }
            w.flush()?;
        }
        Format::Table if !all => compare_summary(d),
        Format::Table => {
            let (a, b) = (d.a.id, d.b.id);
            println!(
                "run {a} \"{}\" ({}) against run {b} \"{}\" ({})",
                d.a.name, d.a.status, d.b.name, d.b.status
            );
            println!();
            params_that_differ(d);
            println!();
            let mw = d
                .metrics
                .iter()
                .map(|m| m.model.len() + m.split.len() + m.name.len() + 2)
                .max()
                .unwrap_or(6)
                .max(6);
            println!(
                "{:<mw$}  {:>12}  {:>12}  {:>11}",
                "metric",
                format!("run {a}"),
                format!("run {b}"),
                "difference"
            );
            for m in &d.metrics {
                println!(
                    "{:<mw$}  {:>12}  {:>12}  {:>11}",
                    format!("{} {} {}", m.model, m.split, m.name),
                    num_or_count(m.a),
                    num_or_count(m.b),
                    match (m.difference(), num_or_count(m.a).contains('.')) {
                        (Some(x), false) if x.fract() == 0.0 => format!("{x:+.0}"),
                        (Some(x), _) => format!("{x:+.4}"),
                        (None, _) => "-".into(),
                    }
                );
            }
        }
    }
    Ok(())
}

/// `agf data`.
pub fn data(s: &DataSummary, format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(s)?),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let mut header = vec![
                "split".to_string(),
                "tracks".into(),
                "artists".into(),
                "albums".into(),
            ];
            header.extend(s.genres.iter().cloned());
            w.write_record(&header)?;
            for c in &s.splits {
                let mut row = vec![
                    c.split.as_str().to_string(),
                    c.tracks.to_string(),
                    c.artists.to_string(),
                    c.albums.to_string(),
                ];
                row.extend(c.per_genre.iter().map(|n| n.to_string()));
                w.write_record(&row)?;
            }
            w.flush()?;
        }
        Format::Table => data_table(s),
    }
    Ok(())
}

fn data_table(s: &DataSummary) {
    println!("dataset   {}", s.dataset);
    println!("audio     {}", s.audio);
    println!(
        "tracks    {} ({} artists, {} albums, {} genres)",
        s.tracks,
        s.artists,
        s.albums,
        s.genres.len()
    );
    if let Some(l) = &s.load {
        println!(
            "metadata  {} rows, {} in the subset, {} left out without genre_top",
            l.rows, l.in_subset, l.without_genre_top
        );
    }
    println!(
        "split     {} (hash {})",
        s.split_strategy,
        &s.split_hash[..12]
    );
    println!();
    let w = s
        .genres
        .iter()
        .map(|g| g.chars().count())
        .max()
        .unwrap_or(5)
        .max(10);
    print!("{:<w$}", "genre");
    for c in &s.splits {
        print!(" {:>16}", c.split.as_str());
    }
    println!();
    for (g, name) in s.genres.iter().enumerate() {
        print!("{name:<w$}");
        for c in &s.splits {
            let share = 100.0 * c.per_genre[g] as f64 / c.tracks.max(1) as f64;
            print!(" {:>8} ({:>4.1}%)", c.per_genre[g], share);
        }
        println!();
    }
    for (label, counts) in [
        (
            "tracks",
            s.splits.iter().map(|c| c.tracks).collect::<Vec<_>>(),
        ),
        ("artists", s.splits.iter().map(|c| c.artists).collect()),
    ] {
        print!("{label:<w$}");
        for n in counts {
            print!(" {n:>16}");
        }
        println!();
    }
    println!();
    println!(
        "leakage   test tracks whose artist is in training: {}; whose album is: {}; validation tracks whose artist is: {}",
        s.leakage.test_tracks_with_train_artist,
        s.leakage.test_tracks_with_train_album,
        s.leakage.validation_tracks_with_train_artist
    );
    println!("noise     {} injected label flips", s.injected_flips);
    for w in &s.warnings {
        println!("warning   {w}");
    }
    match &s.skipped {
        None => println!("audio     not checked (--check-audio decodes every file)"),
        Some(list) => {
            println!("audio     {} unreadable files", list.len());
            for (t, r) in list {
                println!("  track {t}: {r}");
            }
        }
    }
}

/// `agf report`.
pub fn report(r: &agf::report::ReportOutput) {
    println!(
        "wrote {} ({} run{}: {} run pages written, {} kept from before)",
        r.index.display(),
        r.runs,
        if r.runs == 1 { "" } else { "s" },
        r.run_pages_written,
        r.runs - r.run_pages_written
    );
    for (name, path) in &r.sweeps {
        println!("sweep {name}: {}", path.display());
    }
}

/// `agf synth`.
pub fn synth(w: &WriteSummary) {
    println!(
        "wrote {} tracks ({:.0} s of audio) to {} in {:.1} s: {:.0} s of audio per second",
        w.tracks,
        w.audio_seconds,
        w.root.display(),
        w.wall_seconds,
        w.audio_seconds / w.wall_seconds.max(1e-9)
    );
}

/// `agf extract`.
pub fn extract(s: &ExportSummary, out: &std::path::Path) {
    println!(
        "wrote features of {} tracks ({:.0} s of audio) to {} in {:.1} s; {} skipped",
        s.tracks,
        s.audio_seconds,
        out.display(),
        s.wall_seconds,
        s.skipped.len()
    );
    for (t, r) in &s.skipped {
        println!("  skipped track {t}: {r}");
    }
}

/// The first line `agf run` prints: scripts and schedulers find the run by it.
pub fn started(run: agf::record::RunId, dir: &std::path::Path) {
    use std::io::Write;
    println!("run {run} in {}", dir.display());
    let _ = std::io::stdout().flush();
}

/// An arm (a JSON object of axis values) as `key=value key=value`.
fn arm_text(json: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return json.to_string();
    };
    if map.is_empty() {
        return "(base)".into();
    }
    map.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `agf sweep plan`.
pub fn plan(
    sweep: &agf::sweep::Sweep,
    plan: &agf::sweep::plan::Plan,
    recorded: &[agf::store::Cell],
) {
    let in_store = |hash: &str| recorded.iter().find(|c| c.spec_hash == hash);
    let arms: std::collections::BTreeSet<String> = sweep
        .cells
        .iter()
        .map(|c| agf::spec::sweep::describe(&c.arm()))
        .collect();
    let seeds = sweep.file.sweep.seeds.len().max(1);
    let finished = sweep
        .cells
        .iter()
        .filter(|c| in_store(&c.spec.hash()).is_some_and(|r| r.status == CellStatus::Done))
        .count();
    println!(
        "sweep {:?} from {}: {} cells ({} arms × {} seeds), {} done",
        sweep.name,
        sweep.file.path.display(),
        sweep.cells.len(),
        arms.len(),
        seeds,
        finished
    );
    if !sweep.baseline.is_empty() {
        println!(
            "baseline arm: {}",
            agf::spec::sweep::describe(&sweep.baseline)
        );
    }
    println!();
    println!("{:<10} {:>8} {:>7}", "stage", "distinct", "cached");
    for s in &plan.stages {
        println!("{:<10} {:>8} {:>7}", s.stage, s.distinct, s.cached);
    }
    let total: usize = plan.stages.iter().map(|s| s.distinct).sum();
    let cached: usize = plan.stages.iter().map(|s| s.cached).sum();
    let needed: usize = plan.recipes.iter().map(Vec::len).sum();
    println!(
        "{:<10} {:>8} {:>7}   ({needed} if every cell computed its own)",
        "all", total, cached
    );
    println!();
    println!("order (cells that unblock the most others first):");
    println!("{:>5} {:>9}  {:<7} arm", "cell", "unblocks", "status");
    for &i in &plan.order {
        let c = &sweep.cells[i];
        let arm = agf::spec::sweep::describe(&c.arm());
        let stored = in_store(&c.spec.hash());
        println!(
            "{:>5} {:>9}  {:<7} {}{}",
            stored.map_or("new".into(), |r| r.number.to_string()),
            plan.unblocks[i],
            stored.map_or("to run", |r| r.status.as_str()),
            if arm.is_empty() { "(base)".into() } else { arm },
            c.seed.map(|s| format!(" seed={s}")).unwrap_or_default()
        );
    }
}

/// What `agf sweep run` found in the store before starting workers.
pub fn sweep_header(sweep: &agf::sweep::Sweep, cells: &[agf::store::Cell]) {
    let counts = agf::sweep::launch::Counts::of(cells);
    let current: std::collections::BTreeSet<String> =
        sweep.cells.iter().map(|c| c.spec.hash()).collect();
    let extra = cells
        .iter()
        .filter(|c| !current.contains(&c.spec_hash))
        .count();
    println!(
        "sweep {:?}: {} cells, {} done, {} failed, {} to run{}",
        sweep.name,
        counts.cells,
        counts.done,
        counts.failed,
        counts.queued + counts.running,
        if extra > 0 {
            format!(" ({extra} from an earlier version of the sweep)")
        } else {
            String::new()
        }
    );
}

/// A cell as `agf sweep status` shows it: with its run's headline test scores when done.
#[derive(serde::Serialize)]
struct CellRow<'a> {
    #[serde(flatten)]
    cell: &'a agf::store::Cell,
    test_log_loss: Option<f64>,
    test_macro_f1: Option<f64>,
}

/// `agf sweep status`: every cell, and the headline model's test scores of those done.
pub fn sweep_status(
    name: &str,
    cells: &[agf::store::Cell],
    runs: &[RunSummary],
    format: Format,
) -> Result<()> {
    let rows: Vec<CellRow> = cells
        .iter()
        .map(|cell| {
            let run = runs.iter().find(|r| Some(r.id) == cell.run_id);
            let done = cell.status == agf::store::CellStatus::Done;
            CellRow {
                cell,
                test_log_loss: run.and_then(|r| r.log_loss).filter(|_| done),
                test_macro_f1: run.and_then(|r| r.macro_f1).filter(|_| done),
            }
        })
        .collect();
    let score = |x: Option<f64>| x.map(|v| format!("{v:.4}"));
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "cell",
                "status",
                "attempts",
                "failures",
                "run",
                "seed",
                "test_log_loss",
                "test_macro_f1",
                "arm",
                "error",
            ])?;
            for r in &rows {
                let c = r.cell;
                w.write_record([
                    c.number.to_string(),
                    c.status.to_string(),
                    c.attempts.to_string(),
                    c.failures.to_string(),
                    c.run_id.map(|r| r.to_string()).unwrap_or_default(),
                    c.seed.map(|s| s.to_string()).unwrap_or_default(),
                    score(r.test_log_loss).unwrap_or_default(),
                    score(r.test_macro_f1).unwrap_or_default(),
                    arm_text(&c.arm),
                    c.error.clone().unwrap_or_default(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let counts = agf::sweep::launch::Counts::of(cells);
            println!(
                "sweep {name:?}: {} cells, {} done, {} running, {} failed, {} queued",
                counts.cells, counts.done, counts.running, counts.failed, counts.queued
            );
            println!(
                "{:>5}  {:<8} {:>8} {:>5} {:>5}  {:>9} {:>8}  arm",
                "cell", "status", "attempts", "run", "seed", "test loss", "macro-F1"
            );
            let dash = || "-".to_string();
            for r in &rows {
                let c = r.cell;
                println!(
                    "{:>5}  {:<8} {:>8} {:>5} {:>5}  {:>9} {:>8}  {}",
                    c.number,
                    c.status.as_str(),
                    c.attempts,
                    c.run_id.map(|r| r.to_string()).unwrap_or_else(dash),
                    c.seed.map(|s| s.to_string()).unwrap_or_else(dash),
                    score(r.test_log_loss).unwrap_or_else(dash),
                    score(r.test_macro_f1).unwrap_or_else(dash),
                    arm_text(&c.arm)
                );
                if let (Some(e), true) = (&c.error, c.status != agf::store::CellStatus::Done) {
                    println!("{:>5}  error: {e}", "");
                }
            }
            println!("(test scores of each run's headline model: the transfer model where nets are trained, else the baseline)");
        }
    }
    Ok(())
}

/// `agf sweeps`.
pub fn sweeps(list: &[agf::store::SweepSummary], format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(list)?),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "name", "cells", "done", "running", "failed", "queued", "spec",
            ])?;
            for s in list {
                w.write_record([
                    s.name.clone(),
                    s.cells.to_string(),
                    s.done.to_string(),
                    s.running.to_string(),
                    s.failed.to_string(),
                    s.queued.to_string(),
                    s.spec_path.clone(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            println!(
                "{:<24} {:>6} {:>6} {:>8} {:>7} {:>7}  spec",
                "sweep", "cells", "done", "running", "failed", "queued"
            );
            for s in list {
                println!(
                    "{:<24} {:>6} {:>6} {:>8} {:>7} {:>7}  {}",
                    s.name, s.cells, s.done, s.running, s.failed, s.queued, s.spec_path
                );
            }
            if list.is_empty() {
                println!("(no sweeps yet: `agf sweep run SPEC` makes one)");
            }
        }
    }
    Ok(())
}

/// `agf audit`.
pub fn audit(
    r: &agf::audit::file::Report,
    source: &str,
    top: usize,
    written: &[std::path::PathBuf],
    format: Format,
) -> Result<()> {
    let p = &r.predictions;
    let a = &r.audit;
    if let Format::Json | Format::Csv = format {
        let flagged: Vec<serde_json::Value> = r
            .ranked
            .iter()
            .map(|&i| {
                serde_json::json!({
                    "track_id": p.tracks[i],
                    "label": p.classes[p.labels[i]],
                    "score": r.scores[i],
                })
            })
            .collect();
        let v = serde_json::json!({
            "source": source,
            "tracks": p.tracks.len(),
            "classes": p.classes,
            "filter_by": a.filter_by.as_str(),
            "rank_by": r.rank_by.as_str(),
            "flagged": flagged,
            "num_label_issues": a.num_label_issues,
            "health": r.health,
            "confident_joint": a.confident_joint.counts,
            "calibrated_joint": a.calibrated,
            "noise_matrix": a.latent.noise_matrix,
            "albums": r.albums,
            "truth": r.truth,
        });
        match format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
            _ => print!("{}", agf::audit::file::issues_csv(r)),
        }
        return Ok(());
    }
    let k = p.classes.len();
    let flagged = r.ranked.len();
    println!(
        "audited {} tracks of {k} classes from {} (filter {}): {flagged} labels flagged ({:.1}%); \
         num_label_issues {}, health score {:.3}",
        p.tracks.len(),
        source,
        a.filter_by.as_str(),
        100.0 * flagged as f64 / p.tracks.len() as f64,
        a.num_label_issues,
        r.health.score
    );
    let w = p.classes.iter().map(|c| c.len()).max().unwrap_or(5).max(5);
    let counts = {
        let mut c = vec![0usize; k];
        for &l in &p.labels {
            c[l] += 1;
        }
        c
    };
    println!();
    println!(
        "{:<w$}  {:>8}  {:>7}  {:>11}  {:>13}  {:>7}",
        "class", "labelled", "flagged", "label noise", "inverse noise", "quality"
    );
    let mut per_class = vec![0usize; k];
    for &i in &r.ranked {
        per_class[p.labels[i]] += 1;
    }
    for c in &r.health.classes {
        println!(
            "{:<w$}  {:>8}  {:>7}  {:>11.3}  {:>13.3}  {:>7.3}",
            p.classes[c.class],
            counts[c.class],
            per_class[c.class],
            c.label_noise,
            c.inverse_label_noise,
            c.label_quality
        );
    }
    println!("(label noise: estimated P(true ≠ k | labelled k); inverse: P(labelled ≠ k | true k); lowest quality first)");
    println!();
    println!("estimated noise matrix P(labelled row | true column), from the calibrated confident joint:");
    print_matrix(&p.classes, &a.latent.noise_matrix, w);
    if let Some(t) = &r.truth {
        println!();
        println!("true noise matrix P(labelled row | true column), counted from the true labels:");
        print_matrix(&p.classes, &t.noise_matrix, w);
    }
    if let Some(albums) = &r.albums {
        println!();
        println!(
            "albums, likeliest mislabelled first ({} of {}; flagged when half its tracks are: {}):",
            top.min(albums.len()),
            albums.len(),
            albums
                .iter()
                .filter(|a| agf::audit::albums::is_flagged(a))
                .count()
        );
        let aw = albums
            .iter()
            .take(top)
            .map(|a| a.album.len())
            .max()
            .unwrap_or(5)
            .max(5);
        println!(
            "{:<aw$}  {:>6}  {:>7}  {:>10}  {:<w$}  {:<w$}",
            "album", "tracks", "flagged", "self-conf", "labelled", "model believes"
        );
        for al in albums.iter().take(top) {
            println!(
                "{:<aw$}  {:>6}  {:>7}  {:>10.3}  {:<w$}  {:<w$} ({:.2})",
                al.album,
                al.tracks,
                al.flagged,
                al.mean_self_confidence,
                p.classes[al.label],
                p.classes[al.believed],
                al.believed_probability
            );
        }
    }
    println!();
    println!(
        "tracks flagged, worst first by {} ({} of {flagged}):",
        r.rank_by.as_str(),
        top.min(flagged)
    );
    let tw = r
        .ranked
        .iter()
        .take(top)
        .map(|&i| p.tracks[i].len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:<tw$}  {:<w$}  {:>9}  {:<w$}",
        "track", "labelled", "score", "model believes"
    );
    for &i in r.ranked.iter().take(top) {
        let row = &p.probs[i * k..(i + 1) * k];
        let best = agf::audit::confident::argmax(row);
        println!(
            "{:<tw$}  {:<w$}  {:>9.4}  {:<w$} ({:.2})",
            p.tracks[i], p.classes[p.labels[i]], r.scores[i], p.classes[best], row[best]
        );
    }
    if let Some(t) = &r.truth {
        println!();
        let pr = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
        println!(
            "against the true labels: tracks precision {} recall {} ({} of {} flagged are wrong; {} wrong in all)",
            pr(t.tracks.precision),
            pr(t.tracks.recall),
            t.tracks.hits,
            t.tracks.flagged,
            t.tracks.wrong
        );
        if let Some(al) = &t.albums {
            println!(
                "                         albums precision {} recall {} ({} of {} flagged are mislabelled; {} mislabelled in all)",
                pr(al.precision),
                pr(al.recall),
                al.hits,
                al.flagged,
                al.wrong
            );
        }
    }
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn print_matrix(classes: &[String], m: &[Vec<f64>], w: usize) {
    let cw = classes
        .iter()
        .map(|c| c.len().min(10))
        .max()
        .unwrap_or(5)
        .max(5);
    print!("{:<w$}", "");
    for c in classes {
        print!("  {:>cw$}", &c[..c.len().min(cw)]);
    }
    println!();
    for (c, row) in classes.iter().zip(m) {
        print!("{c:<w$}");
        for v in row {
            print!("  {v:>cw$.3}");
        }
        println!();
    }
}

/// A sweep's Slurm jobs with each task's state and, for cells not done, the task that ran
/// them with the tail of its log.
pub fn slurm_status(runs: &std::path::Path, name: &str, cells: &[agf::store::Cell]) {
    use agf::sweep::slurm;
    let jobs = slurm::jobs(runs, name);
    if jobs.is_empty() {
        return;
    }
    println!();
    println!(
        "Slurm jobs (scripts and logs in {}):",
        slurm::folder(runs, name).display()
    );
    // Each cell's task: in bundle mode task N of the newest array holding N, in shared
    // mode the task its worker named.
    let mut task_of: std::collections::BTreeMap<i64, (String, String)> = Default::default();
    for job in &jobs {
        let states = slurm::states(&job.id);
        let summary = if states.is_empty() {
            "finished (Slurm no longer lists it)".to_string()
        } else {
            let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
            for s in states.values() {
                *counts.entry(s.as_str()).or_default() += 1;
            }
            counts
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  {:<10} {:<7} {:<12} {summary}",
            job.id,
            job.kind,
            job.array.as_deref().unwrap_or("-")
        );
        if job.kind == "array" && job.mode == slurm::Mode::Bundles {
            for (task, state) in &states {
                if let Ok(n) = task.parse::<i64>() {
                    task_of.insert(n, (format!("{}_{task}", job.id), state.clone()));
                }
            }
            // Tasks Slurm forgot still name their logs.
            for c in cells {
                task_of
                    .entry(c.number)
                    .or_insert_with(|| (format!("{}_{}", job.id, c.number), "-".into()));
            }
        }
    }
    for c in cells.iter().filter(|c| c.status != CellStatus::Done) {
        let task = c
            .worker
            .as_deref()
            .and_then(|w| w.split_once(" slurm:"))
            .map(|(_, t)| (t.to_string(), String::new()))
            .or_else(|| task_of.get(&c.number).cloned());
        let Some((task, state)) = task else {
            continue;
        };
        let (job, index) = task.split_once('_').unwrap_or((&task, ""));
        let log = slurm::task_log(runs, name, job, index);
        let went_wrong = c.status == CellStatus::Failed
            || c.error.is_some()
            || [
                "FAILED",
                "CANCELLED",
                "TIMEOUT",
                "OUT_OF_MEMORY",
                "NODE_FAIL",
                "PREEMPTED",
            ]
            .iter()
            .any(|s| state.starts_with(s));
        let shown = match state.as_str() {
            "" | "-" => String::new(),
            s => format!(" {s}"),
        };
        let error = c
            .error
            .as_deref()
            .map(|e| format!("; {e}"))
            .unwrap_or_default();
        println!(
            "cell {} ({}): Slurm task {task}{shown}{error}",
            c.number, c.status
        );
        if !went_wrong {
            continue;
        }
        match slurm::tail(&log, 5) {
            Some(t) if !t.is_empty() => {
                println!("  {}:", log.display());
                for line in t.lines() {
                    println!("  | {line}");
                }
            }
            _ => println!("  (no log at {})", log.display()),
        }
    }
}
