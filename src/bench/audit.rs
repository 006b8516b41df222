//! `agf bench audit`: confident learning on N × K probabilities (50,000 × 10 by default)
//! against cleanlab's `find_label_issues` on the same arrays, in one run, medians of
//! repeats, as a ratio; the flagged sets are compared too. Printed, never asserted.

use crate::audit::confident::{self, Examples, FilterBy};
use crate::rng::Rng;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

const SCRIPT: &str = r#"
import json, sys, time
import numpy as np
from cleanlab.filter import find_label_issues
d, n, k, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
probs = np.fromfile(d + "/probs.f64", dtype="<f8").reshape(n, k)
labels = np.fromfile(d + "/labels.u32", dtype="<u4").astype(np.int64)
ours = np.fromfile(d + "/agf_mask.u8", dtype=np.uint8).astype(bool)
out = {}
for jobs in [1, None]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        mask = find_label_issues(labels, probs, n_jobs=jobs)
        times.append(time.perf_counter() - t)
    out["1" if jobs == 1 else "default"] = {"median_s": sorted(times)[len(times) // 2],
                                           "flagged": int(mask.sum()),
                                           "same": bool((mask == ours).all())}
print(json.dumps(out))
"#;

pub fn audit(dir: &Path, n: usize, k: usize, repeats: usize) -> Result<String, String> {
    let mut rng = Rng::new(2018);
    let mut labels = Vec::with_capacity(n);
    let mut probs = Vec::with_capacity(n * k);
    let mut flipped = 0;
    for _ in 0..n {
        let truth = rng.index(k);
        let boost = rng.range(0.5, 3.0);
        let logits: Vec<f64> = (0..k)
            .map(|c| rng.normal() + if c == truth { boost } else { 0.0 })
            .collect();
        let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
        let s: f64 = e.iter().sum();
        probs.extend(e.iter().map(|x| x / s));
        let label = if rng.bernoulli(0.2) {
            flipped += 1;
            rng.index(k)
        } else {
            truth
        };
        labels.push(label);
    }
    let ex = Examples::new(&labels, &probs, k).map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut flagged = Vec::new();
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let a = confident::audit(&ex, FilterBy::PruneByNoiseRate);
        times.push(t.elapsed().as_secs_f64());
        flagged = a.issues;
    }
    times.sort_by(f64::total_cmp);
    let ours = times[times.len() / 2];
    let mut out = String::new();
    let count = flagged.iter().filter(|&&f| f).count();
    let _ = writeln!(
        out,
        "{n} examples × {k} classes, {flipped} labels flipped at random; filter prune_by_noise_rate; {} repeats",
        times.len()
    );
    let _ = writeln!(
        out,
        "{:<44} {ours:>8.4} s (median), {count} flagged",
        "agf (one thread)"
    );
    let write = |name: &str, bytes: Vec<u8>| {
        std::fs::write(dir.join(name), bytes).map_err(|e| format!("writing {name}: {e}"))
    };
    write(
        "probs.f64",
        probs.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )?;
    write(
        "labels.u32",
        labels
            .iter()
            .flat_map(|&l| (l as u32).to_le_bytes())
            .collect(),
    )?;
    write(
        "agf_mask.u8",
        flagged.iter().map(|&f| u8::from(f)).collect(),
    )?;
    let script = dir.join("cleanlab_bench.py");
    std::fs::write(&script, SCRIPT).map_err(|e| e.to_string())?;
    let run = std::process::Command::new("python3")
        .arg(&script)
        .arg(dir)
        .arg(n.to_string())
        .arg(k.to_string())
        .arg(times.len().to_string())
        .output();
    let parsed: Option<serde_json::Value> = run
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok());
    let Some(cl) = parsed else {
        let _ = writeln!(
            out,
            "cleanlab: not run (python3 with cleanlab not found: pip install cleanlab==2.7.1)"
        );
        return Ok(out);
    };
    for (key, what) in [
        ("1", "cleanlab find_label_issues, n_jobs=1"),
        ("default", "cleanlab find_label_issues, n_jobs default"),
    ] {
        let s = cl[key]["median_s"].as_f64().unwrap_or(f64::NAN);
        let _ =
            writeln!(
            out,
            "{what:<44} {s:>8.4} s (median), {} flagged, same set as agf: {}; agf {:.1}× faster",
            cl[key]["flagged"],
            if cl[key]["same"].as_bool() == Some(true) { "yes" } else { "no" },
            s / ours
        );
    }
    Ok(out)
}
