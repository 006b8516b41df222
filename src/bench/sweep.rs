//! `agf bench sweep`: a 12-cell sweep (3 topic counts × 2 split strategies × 2 seeds) on the
//! synthetic world run by `agf sweep run`, against the same 12 specs run one after another,
//! each on an empty cache, as a multirun that shares nothing (Hydra's `--multirun`) would.
//! Both wall times, their ratio, and the stage computations each did.

use super::median;
use crate::stages::recipe::recipes;
use crate::sweep::Sweep;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SPEC: &str = r#"
name = "bench-sweep"
seed = 1
device = "cpu"
[dataset]
source = "synthetic"
seed = 1
[dataset.synthetic]
genres = 6
groups = 8
artists = 40
albums_per_artist = [1, 2]
tracks_per_album = [3, 5]
clip_seconds = 3.0
sample_rate = 22050
[frontend]
n_mels = 48
[split]
strategy = "artist"
[model]
kind = "logreg"
epochs = 100
[[factors]]
name = "mfcc"
features = "mfcc"
clusters = 64
topics = 6
[[factors]]
name = "tags"
features = "subgenre"
topics = 6
[cnn]
preset = "small"
epochs = 4
batch_size = 32
patch_frames = 32
window_hop = 16
[transfer]
hidden = 64
epochs = 6

[sweep]
seeds = [1, 2]
[sweep.grid]
"factors.mfcc.topics" = [4, 6, 8]
"split.strategy" = ["artist", "album"]
"#;

/// Run both ways `repeats` times with the `agf` binary `exe`, `workers` sweep workers, in
/// `dir`; medians, since these machines are shared and noisy.
pub fn sweep(exe: &Path, dir: &Path, workers: usize, repeats: usize) -> Result<String, String> {
    let spec = dir.join("sweep.toml");
    std::fs::write(&spec, SPEC).map_err(|e| e.to_string())?;
    let sweep = Sweep::load(&spec, &[]).map_err(|e| crate::errors::one_line(&e))?;
    let mut out = String::new();
    let run = |args: &[&str], db: &Path| -> Result<f64, String> {
        let started = Instant::now();
        let o = Command::new(exe)
            .arg("--db")
            .arg(db)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(format!(
                "agf {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok(started.elapsed().as_secs_f64())
    };
    let _ = writeln!(
        out,
        "{} cells: factors.mfcc.topics × split.strategy × 2 seeds on one world of 40 artists \
         (two factors, two small nets and the transfer model per cell); {repeats} repeats",
        sweep.cells.len()
    );
    let (mut together, mut apart) = (Vec::new(), Vec::new());
    let (mut shared, mut alone) = (0, 0);
    for r in 0..repeats.max(1) {
        let base = dir.join(format!("repeat-{r}"));
        together.push(run(
            &[
                "sweep",
                "run",
                spec.to_str().unwrap_or_default(),
                "--workers",
                &workers.to_string(),
            ],
            &base.join("sweep/agf.sqlite"),
        )?);
        shared = count_markers(&base.join("sweep/cache/recipes"));
        let mut seconds = 0.0;
        alone = 0;
        for (i, cell) in sweep.cells.iter().enumerate() {
            let file = dir.join(format!("cell-{i}.toml"));
            std::fs::write(&file, cell.spec.canonical_toml()).map_err(|e| e.to_string())?;
            let own = base.join(format!("apart-{i}"));
            seconds += run(
                &[
                    "--cache",
                    own.join("cache").to_str().unwrap_or_default(),
                    "run",
                    file.to_str().unwrap_or_default(),
                ],
                &own.join("agf.sqlite"),
            )?;
            alone += recipes(&cell.spec).len();
        }
        apart.push(seconds);
        let _ = writeln!(
            out,
            "repeat {}: sweep {:.1} s, one after another {:.1} s",
            r + 1,
            together[r],
            seconds
        );
    }
    let (together, apart) = (median(&mut together), median(&mut apart));
    for (how, seconds, computations) in [
        (
            format!("agf sweep run, {workers} workers, one cache"),
            together,
            shared,
        ),
        (
            "one run after another, each on an empty cache".to_string(),
            apart,
            alone,
        ),
    ] {
        let _ = writeln!(
            out,
            "{how:<48} {seconds:>7.1} s (median), {computations:>3} stage computations"
        );
    }
    let _ = writeln!(
        out,
        "ratio: {:.2}× faster, {:.2}× fewer computations",
        apart / together,
        alone as f64 / shared.max(1) as f64
    );
    Ok(out)
}

/// Stage computations done: the recipe markers the runs left.
fn count_markers(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|stages| {
            stages
                .flatten()
                .map(|s| std::fs::read_dir(s.path()).map_or(0, |e| e.count()))
                .sum()
        })
        .unwrap_or(0)
}
