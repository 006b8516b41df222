//! `agf bench report`: a store of many runs, shaped like real ones (a resolved spec's ~200
//! parameter rows, three genre models scored on every split with their confusion matrices
//! and test-set intervals, two factors, every epoch, the tracks and the test predictions),
//! a fifth of them in sweeps of 4 arms × 6 seeds; then the report written over it from
//! nothing and again with every run page kept. Printed, never asserted.

use crate::eval::metrics::evaluate;
use crate::record::{
    metric, AlbumId, ArtistId, Epoch, ModelName, Prediction, RunId, RunTrack, SplitKey, TrackId,
};
use crate::rng::Rng;
use crate::store::{CellEnd, NewCell, NewRun, NewSweep, RunEnd, Store, StoreLocation};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

const SPEC: &str = r#"
name = "bench-report"
seed = 1
[dataset]
source = "synthetic"
[split]
strategy = "artist"
[model]
kind = "logreg"
[[factors]]
name = "mfcc"
features = "mfcc"
[[factors]]
name = "subgenre"
features = "subgenre"
[cnn]
preset = "small"
targets = ["genre", "mfcc"]
"#;

const CLASSES: usize = 8;
const ARMS: usize = 4;
const SEEDS: usize = 6;

/// Every run is alive as far as this benchmark is concerned (none is interrupted).
struct Alive;

impl crate::store::Liveness for Alive {
    fn is_alive(&self, _: RunId) -> bool {
        true
    }
}

/// Probabilities that are right about `skill` of the time, for `labels`.
fn predictions(rng: &mut Rng, labels: &[usize], skill: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(labels.len() * CLASSES);
    for &y in labels {
        let pick = if rng.bernoulli(skill) {
            y
        } else {
            rng.index(CLASSES)
        };
        let mut row: Vec<f32> = (0..CLASSES).map(|_| rng.uniform() as f32 * 0.3).collect();
        row[pick] += 1.0;
        let sum: f32 = row.iter().sum();
        out.extend(row.iter().map(|p| p / sum));
    }
    out
}

/// One run's records, as a finished run leaves them.
fn fake_run(
    store: &Store,
    k: usize,
    cell: Option<(crate::store::CellId, &str)>,
) -> Result<(), String> {
    let e = |e: crate::store::StoreError| e.to_string();
    let spec = crate::stages::parse_spec(
        &SPEC.replace("seed = 1", &format!("seed = {}", k % 97 + 1)),
        Path::new("bench.toml"),
    )
    .map_err(|e| e.to_string())?;
    let mut rng = Rng::derive(7, "bench.report", k as u64);
    let run = store
        .start_run(&NewRun {
            name: format!("bench-{}", k % 13),
            spec_toml: spec.canonical_toml(),
            spec_hash: spec.hash(),
            seed: spec.seed,
            git_commit: None,
            git_dirty: None,
            crate_version: env!("CARGO_PKG_VERSION").into(),
            host: "bench".into(),
            device: "cpu".into(),
            headline_model: ModelName::Transfer,
            params: spec.flat_params(),
            cell: cell.map(|c| c.0),
        })
        .map_err(e)?;
    let names: Vec<String> = (0..CLASSES).map(|c| format!("Genre {c}")).collect();
    store.record_classes(run, &names).map_err(e)?;
    // 400 tracks of 60 artists, split 280 / 60 / 60.
    let tracks: Vec<RunTrack> = (0..400)
        .map(|i| RunTrack {
            track: TrackId(i),
            artist: ArtistId(i / 7),
            album: AlbumId(i / 3),
            split: match i % 20 {
                0..=13 => SplitKey::Train,
                14..=16 => SplitKey::Validation,
                _ => SplitKey::Test,
            },
            published: rng.index(CLASSES),
            true_label: Some(rng.index(CLASSES)),
        })
        .collect();
    store.record_tracks(run, &tracks).map_err(e)?;
    let mut data: Vec<(String, f64)> = vec![
        ("tracks".into(), 400.0),
        ("artists".into(), 58.0),
        ("albums".into(), 134.0),
    ];
    for s in ["train", "validation", "test"] {
        for c in &names {
            data.push((format!("{s}.tracks.{c}"), rng.index(40) as f64));
        }
    }
    let pairs: Vec<(&str, f64)> = data.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    store
        .record_metrics(run, &ModelName::Dataset, SplitKey::All, &pairs)
        .map_err(e)?;
    for (model, epochs, skill) in [
        (ModelName::Baseline, 60, 0.5),
        (ModelName::net("genre"), 10, 0.3 + 0.1 * (k % 3) as f64),
        (ModelName::net("mfcc"), 10, 0.0),
        (ModelName::Transfer, 15, 0.55 + 0.05 * (k % 4) as f64),
    ] {
        for epoch in 1..=epochs {
            let t = epoch as f64;
            store
                .record_epoch(
                    run,
                    &model,
                    &Epoch {
                        epoch,
                        train_loss: 2.0 / t.sqrt(),
                        validation_loss: 1.2 + 0.8 / t + rng.uniform() * 0.05,
                        learning_rate: None,
                        task: None,
                    },
                )
                .map_err(e)?;
        }
        if skill == 0.0 {
            continue;
        }
        let mut rows = Vec::new();
        for split in [SplitKey::Train, SplitKey::Validation, SplitKey::Test] {
            let on: Vec<&RunTrack> = tracks.iter().filter(|t| t.split == split).collect();
            let labels: Vec<usize> = on.iter().map(|t| t.published).collect();
            let probs = predictions(&mut rng, &labels, skill);
            store
                .record_evaluation(
                    run,
                    &model,
                    split,
                    &evaluate(&probs, &labels, CLASSES, 1e-8),
                )
                .map_err(e)?;
            if split == SplitKey::Test {
                let clean: Vec<usize> = on.iter().filter_map(|t| t.true_label).collect();
                store
                    .record_evaluation(
                        run,
                        &model,
                        SplitKey::TestClean,
                        &evaluate(&probs, &clean, CLASSES, 1e-8),
                    )
                    .map_err(e)?;
                let mut bounds: Vec<(String, f64)> = Vec::new();
                for name in [metric::LOG_LOSS, metric::MACRO_F1, metric::ACCURACY] {
                    let [low, high] = metric::artist_interval(name);
                    bounds.push((low, 0.5 + rng.uniform() * 0.1));
                    bounds.push((high, 0.7 + rng.uniform() * 0.1));
                }
                let pairs: Vec<(&str, f64)> =
                    bounds.iter().map(|(k, v)| (k.as_str(), *v)).collect();
                store
                    .record_metrics(run, &model, split, &pairs)
                    .map_err(e)?;
                for (t, p) in on.iter().zip(probs.chunks(CLASSES)) {
                    rows.push(Prediction {
                        track: t.track,
                        split,
                        label: t.published,
                        true_label: t.true_label,
                        probabilities: p.to_vec(),
                    });
                }
            }
        }
        store.record_predictions(run, &model, &rows).map_err(e)?;
    }
    for f in ["mfcc", "subgenre"] {
        let values = [
            (metric::PERPLEXITY, 150.0 + rng.uniform() * 50.0),
            (metric::HELD_OUT_PERPLEXITY, 250.0 + rng.uniform() * 50.0),
            (metric::NMI_ARTIST_GROUP, 0.5 + rng.uniform() * 0.3),
            (metric::VOCABULARY, 256.0),
            (metric::TOPICS, 12.0),
        ];
        store
            .record_metrics(run, &ModelName::Factor(f.into()), SplitKey::All, &values)
            .map_err(e)?;
    }
    store.finish_run(run, RunEnd::Done).map_err(e)?;
    if let Some((id, worker)) = cell {
        store.finish_cell(id, worker, CellEnd::Done).map_err(e)?;
    }
    Ok(())
}

/// Make a store of `runs` runs under `dir`, then time the report over it.
pub fn report(dir: &Path, runs: usize, repeats: usize) -> Result<String, String> {
    let db = dir.join("agf.sqlite");
    let store = Store::open(&StoreLocation::Sqlite(db.clone()), Box::new(Alive))
        .map_err(|e| e.to_string())?;
    let made = Instant::now();
    let in_sweeps = (runs / 5) / (ARMS * SEEDS);
    let mut k = 0;
    for s in 0..in_sweeps {
        let name = format!("bench-sweep-{s}");
        let cells: Vec<NewCell> = (0..ARMS * SEEDS)
            .map(|c| NewCell {
                spec_hash: format!("{s}-{c}"),
                spec_toml: String::new(),
                arm: format!("{{\"factors.mfcc.topics\":{}}}", 6 * (c / SEEDS + 1)),
                seed: Some((c % SEEDS + 1) as u64),
                priority: c as i64,
            })
            .collect();
        store
            .sync_sweep(
                &NewSweep {
                    name: name.clone(),
                    spec_path: "bench.toml".into(),
                    spec_text: String::new(),
                    baseline: "{\"factors.mfcc.topics\":6}".into(),
                },
                &cells,
                2,
            )
            .map_err(|e| e.to_string())?;
        while let Some(cell) = store
            .claim_cell(&name, "bench", 0, i64::MAX)
            .map_err(|e| e.to_string())?
        {
            fake_run(&store, k, Some((cell.id, "bench")))?;
            k += 1;
        }
    }
    while k < runs {
        fake_run(&store, k, None)?;
        k += 1;
    }
    let made = made.elapsed().as_secs_f64();
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "store: {runs} runs ({} in {in_sweeps} sweeps of {} cells), {:.0} MB, made in {made:.1} s",
        in_sweeps * ARMS * SEEDS,
        ARMS * SEEDS,
        size as f64 / 1e6
    );
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let pages = dir.join("report");
    for _ in 0..repeats.max(1) {
        let _ = std::fs::remove_dir_all(&pages);
        let t = Instant::now();
        crate::report::write_report(&store, &pages).map_err(|e| crate::errors::one_line(&e))?;
        cold.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        crate::report::write_report(&store, &pages).map_err(|e| crate::errors::one_line(&e))?;
        warm.push(t.elapsed().as_secs_f64());
    }
    let index = std::fs::metadata(pages.join("index.html"))
        .map(|m| m.len())
        .unwrap_or(0);
    let folder: u64 = walk_size(&pages);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let _ = writeln!(
        out,
        "report from nothing (index, {runs} run pages, {in_sweeps} sweep pages): {:.2} s median of {}",
        median(&mut cold),
        cold.len()
    );
    let _ = writeln!(
        out,
        "report again, run pages kept (index and sweep pages): {:.2} s median of {}",
        median(&mut warm),
        warm.len()
    );
    let _ = writeln!(
        out,
        "index.html {:.1} MB, the whole report {:.0} MB",
        index as f64 / 1e6,
        folder as f64 / 1e6
    );
    Ok(out)
}

fn walk_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk_size(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
