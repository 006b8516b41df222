//! What `agf` prints: a finished run's numbers, the list of runs, a dataset summary, and
//! the one-line reports of the writing commands. Tables for people, JSON and CSV for scripts.

use super::args::Format;
use agf::data::synth::fma_layout::WriteSummary;
use agf::features::ExportSummary;
use agf::pipeline::RunOutcome;
use agf::record::{ModelName, SplitKey};
use agf::stages::data::DataSummary;
use agf::store::{RunStatus, RunSummary};
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
        );
        let nets = o.nets.iter().map(|n| {
            (
                n.model.clone(),
                n.best_epoch,
                n.best_validation_loss,
                &n.evaluations,
                n.resumed_epochs,
            )
        });
        for (model, best_epoch, best_loss, evaluations, resumed) in
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
                if resumed > 0 {
                    format!("  (resumed after epoch {resumed})")
                } else {
                    String::new()
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
