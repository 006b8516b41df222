//! What `agf` prints: a finished run's numbers, the list of runs, a dataset summary, and
//! the one-line reports of the writing commands. Tables for people, JSON and CSV for scripts.

use super::args::Format;
use agf::data::synth::fma_layout::WriteSummary;
use agf::features::ExportSummary;
use agf::pipeline::RunOutcome;
use agf::record::{ModelName, SplitKey};
use agf::stages::data::DataSummary;
use agf::store::{CellStatus, RunStatus, RunSummary};
use anyhow::Result;

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into())
}

/// A finished (or resumed) run.
pub fn outcome(o: &RunOutcome, store: &str) {
    println!(
        "run {} \"{}\" done in {:.1} s (spec {})",
        o.run,
        o.name,
        o.seconds,
        &o.spec_hash[..12]
    );
    println!(
        "dataset {}: {} tracks, {} artists, {} albums, {} genres; {} tracks skipped",
        o.dataset,
        o.tracks,
        o.artists,
        o.albums,
        o.classes.len(),
        o.skipped.len()
    );
    for (track, reason) in o.skipped.iter().take(10) {
        println!("  skipped track {track}: {reason}");
    }
    if o.skipped.len() > 10 {
        println!(
            "  … and {} more (table skipped_tracks)",
            o.skipped.len() - 10
        );
    }
    let b = &o.baseline;
    println!(
        "split: train {} / validation {} / test {}; test tracks whose artist is in training: {}, whose album is: {}",
        b.split_sizes[0],
        b.split_sizes[1],
        b.split_sizes[2],
        o.leakage.test_tracks_with_train_artist,
        o.leakage.test_tracks_with_train_album
    );
    if o.injected_flips > 0 {
        println!(
            "injected label noise: {} training labels flipped (table label_flips)",
            o.injected_flips
        );
    }
    for w in &o.warnings {
        println!("warning: {w}");
    }
    println!(
        "model {} (the baseline): {} epochs, best at {} (validation log loss {:.4})",
        ModelName::Baseline,
        b.train.epochs_run,
        b.train.best_epoch,
        b.train.best_validation_loss
    );
    println!();
    println!("{} by split:", ModelName::Baseline);
    println!(
        "{:<11} {:>7} {:>9} {:>9} {:>9}",
        "split", "tracks", "log loss", "macro-F1", "accuracy"
    );
    for (s, e) in &b.evaluations {
        let note = match s {
            SplitKey::TestClean => "   (test, scored against the true genres)",
            _ => "",
        };
        println!(
            "{:<11} {:>7} {:>9.4} {:>9.4} {:>9.4}{note}",
            s.as_str(),
            e.n,
            e.log_loss,
            e.macro_f1,
            e.accuracy
        );
    }
    let c = o.classes.len();
    if !o.nets.is_empty() {
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
        let baseline = (
            ModelName::Baseline,
            b.train.best_epoch,
            b.train.best_validation_loss,
            &b.evaluations,
            0,
            false,
        );
        let nets = o.nets.iter().map(|n| {
            (
                n.model.clone(),
                n.best_epoch,
                n.best_validation_loss,
                &n.evaluations,
                n.resumed_epochs,
                n.cached,
            )
        });
        for (model, best_epoch, best_loss, evaluations, resumed, cached) in
            std::iter::once(baseline).chain(nets)
        {
            let get = |s: SplitKey| evaluations.iter().find(|(k, _)| *k == s).map(|(_, e)| e);
            println!(
                "{:<18} {:>5} {:>9.4}  {:>9} {:>9} {:>9}  {:>10} {:>9}{}",
                model.to_string(),
                best_epoch,
                best_loss,
                num(get(SplitKey::Test).map(|e| e.log_loss)),
                num(get(SplitKey::Test).map(|e| e.macro_f1)),
                num(get(SplitKey::Test).map(|e| e.accuracy)),
                num(get(SplitKey::TestClean).map(|e| e.log_loss)),
                num(get(SplitKey::TestClean).map(|e| e.macro_f1)),
                match (resumed, cached) {
                    (_, true) => "  (cached)".to_string(),
                    (0, false) => String::new(),
                    (r, false) => format!("  (resumed after epoch {r})"),
                }
            );
        }
        println!(
            "(trained on {}; factor nets' losses are cross-entropies against their artists' topic vectors)",
            o.device
        );
    }
    if !o.factors.is_empty() {
        println!();
        println!(
            "{:<14} {:>6} {:>6} {:>8} {:>11} {:>10} {:>7}  tables",
            "factor", "words", "topics", "artists", "perplexity", "held-out", "NMI"
        );
        for f in &o.factors {
            let s = &f.table.summary;
            println!(
                "{:<14} {:>6} {:>6} {:>8} {:>11.2} {:>10} {:>7}  {}{}",
                s.name,
                s.vocabulary,
                s.topics,
                s.artists,
                s.lda.perplexity,
                s.held_out_perplexity
                    .map(|p| format!("{p:.2}"))
                    .unwrap_or("-".into()),
                f.nmi_artist_group
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or("-".into()),
                f.dir.display(),
                if f.cache_hit { " (cached)" } else { "" }
            );
        }
        println!();
    }
    println!(
        "chance: log loss ln({c}) = {:.4}, accuracy 1/{c} = {:.4}",
        (c as f64).ln(),
        1.0 / c as f64
    );
    if let Some((_, test)) = b.evaluations.iter().find(|(s, _)| *s == SplitKey::Test) {
        println!("log loss clipped at {:e}", test.log_loss_clip);
    }
    println!();
    println!(
        "stored in {store}, files in {}; `agf report` writes reports/latest/index.html",
        o.dir.display()
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
                "log_loss",
                "macro_f1",
                "spec_hash",
            ])?;
            let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
            for r in runs {
                w.write_record([
                    r.id.to_string(),
                    r.name.clone(),
                    r.status.to_string(),
                    r.started_at.clone(),
                    opt(r.log_loss),
                    opt(r.macro_f1),
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
        "{:>4}  {:<name_w$}  {:<11}  {:<24}  {:>9}  {:>9}",
        "id", "name", "status", "started", "log loss", "macro-F1"
    );
    for r in runs {
        println!(
            "{:>4}  {:<name_w$}  {:<11}  {:<24}  {:>9}  {:>9}",
            r.id.0,
            r.name,
            r.status.as_str(),
            r.started_at,
            num(r.log_loss),
            num(r.macro_f1)
        );
    }
    if runs.is_empty() {
        println!("(no runs yet: `agf run experiments/quickstart.toml` makes one)");
    }
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
    println!("wrote {} ({} runs)", r.index.display(), r.runs);
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
