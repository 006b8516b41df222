//! `agf bench factors`: our K-Means and LDA next to scikit-learn's on the same data, in the
//! same invocation. K-Means clusters MFCC frames of the synthetic world (the authors' AGF
//! front end); LDA fits documents drawn from a planted topic model.

use super::peak_rss_mb;
use crate::audio::npy::encode_f32;
use crate::data::synth::SyntheticWorld;
use crate::errors::one_line;
use crate::factors::kmeans::{KMeans, KMeansAlgorithm, KMeansParams};
use crate::factors::lda::{Corpus, Doc, Lda, LdaMethod, LdaParams};
use crate::factors::special::gamma;
use crate::features::FeatureExtractor;
use crate::rng::Rng;
use crate::spec::{authors_factor_frontend, DescriptorSpec, SyntheticSpec};
use crate::vectors::DenseVectors;
use candle_core::Device;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// scikit-learn's side; prints one JSON line.
const SKLEARN_SCRIPT: &str = r#"
import json, sys, time
import numpy as np, scipy.sparse as sp, sklearn
from sklearn.cluster import KMeans
from sklearn.decomposition import LatentDirichletAllocation
d, k, seeds, topics, lda_iter, method = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
X = np.load(d + "/frames.npy")
out = {"sklearn": sklearn.__version__, "kmeans": []}
for s in range(seeds):
    t = time.perf_counter()
    km = KMeans(n_clusters=k, init="k-means++", n_init=1, algorithm="lloyd", max_iter=300, tol=1e-4, random_state=s).fit(X)
    out["kmeans"].append({"seconds": time.perf_counter() - t, "inertia": float(km.inertia_), "iterations": int(km.n_iter_)})
ids, counts, ptr = np.load(d + "/lda_ids.npy"), np.load(d + "/lda_counts.npy"), np.load(d + "/lda_indptr.npy")
vocab = int(np.load(d + "/lda_vocab.npy")[0])
C = sp.csr_matrix((counts.astype(np.float64), ids, ptr), shape=(len(ptr) - 1, vocab))
out["lda"] = []
for s in range(seeds):
    t = time.perf_counter()
    lda = LatentDirichletAllocation(n_components=topics, learning_method=method, max_iter=lda_iter, random_state=s).fit(C)
    out["lda"].append({"seconds": time.perf_counter() - t, "perplexity": float(lda.bound_)})
print(json.dumps(out))
"#;

/// Bench settings.
pub struct FactorBench {
    pub rows: usize,
    pub clusters: usize,
    pub seeds: usize,
    pub docs: usize,
    pub vocab: usize,
    pub topics: usize,
    pub lda_iter: usize,
    pub online: bool,
    pub sklearn: bool,
}

/// MFCC frames (13 per frame, the authors' front end) of synthetic clips, about `rows`.
fn frames(rows: usize) -> Vec<f32> {
    let fe = authors_factor_frontend();
    let frames_per_clip = (10.0 * fe.sample_rate as f64 / fe.hop_length as f64) as usize + 1;
    let spec = SyntheticSpec {
        artists: (rows / frames_per_clip / 11).max(3),
        clip_seconds: 10.0,
        ..SyntheticSpec::default()
    };
    let world = SyntheticWorld::generate(&spec, 5);
    let d = world.dataset();
    let stage = FeatureExtractor::new(&fe, &DescriptorSpec::default());
    let per_track: Vec<Vec<f32>> = d
        .tracks
        .par_iter()
        .filter_map(|t| world.render(t).ok())
        .map(|c| stage.frames(&c.samples).mfcc.data)
        .collect();
    let mut all: Vec<f32> = per_track.concat();
    all.truncate(rows * fe.n_mfcc);
    all
}

/// Documents from a planted LDA model: θ ~ Dir(0.1), β ~ Dir(0.05), 100–500 words each.
fn corpus(docs: usize, vocab: usize, topics: usize) -> Corpus {
    let mut rng = Rng::new(17);
    // Gamma(a < 1) by boosting: Gamma(a) = Gamma(a + 1) · U^(1/a).
    let dirichlet = |a: f64, n: usize, rng: &mut Rng| -> Vec<f64> {
        let g: Vec<f64> = (0..n)
            .map(|_| gamma(rng, a + 1.0, 1.0) * (1.0 - rng.uniform()).powf(1.0 / a))
            .collect();
        let s: f64 = g.iter().sum();
        g.into_iter().map(|x| x / s).collect()
    };
    let beta: Vec<Vec<f64>> = (0..topics)
        .map(|_| dirichlet(0.05, vocab, &mut rng))
        .collect();
    let out = (0..docs)
        .map(|_| {
            let theta = dirichlet(0.1, topics, &mut rng);
            let len = 100 + rng.index(401);
            let mut counts = std::collections::BTreeMap::<u32, f64>::new();
            for _ in 0..len {
                let z = rng.categorical(&theta);
                *counts.entry(rng.categorical(&beta[z]) as u32).or_default() += 1.0;
            }
            let (ids, counts) = counts.into_iter().unzip();
            Doc { ids, counts }
        })
        .collect();
    Corpus { vocab, docs: out }
}

fn write_i64(path: &Path, v: &[i64]) -> std::io::Result<()> {
    let mut header = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        v.len()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(path, bytes)
}

/// Run the benchmark, agf's K-Means on `device`.
pub fn factors(dir: &Path, b: &FactorBench, device: &Device) -> Result<String, String> {
    let io = |e: std::io::Error| e.to_string();
    let mut out = String::new();
    let cores = rayon::current_num_threads();
    let data = frames(b.rows);
    let dim = authors_factor_frontend().n_mfcc;
    let n = data.len() / dim;
    std::fs::write(dir.join("frames.npy"), encode_f32(&data, &[n, dim])).map_err(io)?;
    let vectors = DenseVectors::new(dim, data);
    let corpus = corpus(b.docs, b.vocab, b.topics);
    let mut ptr = vec![0i64];
    let (mut ids, mut counts) = (Vec::new(), Vec::new());
    for d in &corpus.docs {
        ids.extend(d.ids.iter().map(|&i| i as i64));
        counts.extend(d.counts.iter().map(|&c| c as i64));
        ptr.push(ids.len() as i64);
    }
    write_i64(&dir.join("lda_ids.npy"), &ids).map_err(io)?;
    write_i64(&dir.join("lda_counts.npy"), &counts).map_err(io)?;
    write_i64(&dir.join("lda_indptr.npy"), &ptr).map_err(io)?;
    write_i64(&dir.join("lda_vocab.npy"), &[b.vocab as i64]).map_err(io)?;
    let words: f64 = corpus.docs.iter().map(Doc::total).sum();

    let _ = writeln!(
        out,
        "K-Means: {n} MFCC frames × {dim} (synthetic world, AGF front end), {} clusters, Lloyd, k-means++, one init, tol 1e-4; {} seeds; {cores} threads; agf on {}",
        b.clusters, b.seeds, crate::nn::device_name(device)
    );
    let mut ours = Vec::new();
    for s in 0..b.seeds {
        let mut p = KMeansParams::new(b.clusters, KMeansAlgorithm::Lloyd, s as u64);
        p.max_iter = 300;
        let t = Instant::now();
        let (_, fit) = KMeans::fit(&vectors, &p, device).map_err(|e| one_line(&e))?;
        ours.push((t.elapsed().as_secs_f64(), fit.inertia, fit.iterations));
    }
    let summarise = |v: &[(f64, f64, usize)]| {
        let m = v.len() as f64;
        (
            v.iter().map(|x| x.0).sum::<f64>() / m,
            v.iter().map(|x| x.1).sum::<f64>() / m,
            v.iter().map(|x| x.1).fold(f64::INFINITY, f64::min),
            v.iter().map(|x| x.2 as f64).sum::<f64>() / m,
        )
    };
    let (ot, oi, ob, oit) = summarise(&ours);
    let _ = writeln!(
        out,
        "agf     K-Means: {ot:>7.2} s per fit ({:.0} frames/s per iteration), inertia mean {oi:.6e} best {ob:.6e}, {oit:.0} iterations",
        n as f64 * oit / ot
    );

    let method = if b.online { "online" } else { "batch" };
    let _ = writeln!(
        out,
        "LDA: {} documents, {} words in all, vocabulary {}, {} topics, {method} VB, {} iterations, priors 1/topics",
        b.docs, words, b.vocab, b.topics, b.lda_iter
    );
    let mut lp = LdaParams::new(b.topics, 0);
    lp.max_iter = b.lda_iter;
    lp.method = if b.online {
        LdaMethod::Online
    } else {
        LdaMethod::Batch
    };
    // Every seed on all threads; seed 0 also on one thread, for the per-core figure.
    let mut lda_runs = Vec::new();
    for seed in 0..b.seeds {
        lp.seed = seed as u64;
        let t = Instant::now();
        let (_, fit) = Lda::fit(&corpus, &lp).map_err(|e| one_line(&e))?;
        lda_runs.push((t.elapsed().as_secs_f64(), fit.perplexity));
    }
    lp.seed = 0;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    pool.install(|| Lda::fit(&corpus, &lp))
        .map_err(|e| one_line(&e))?;
    let one_thread = t.elapsed().as_secs_f64();
    let mean =
        |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
    let (lt, lpp) = (mean(&lda_runs, |x| x.0), mean(&lda_runs, |x| x.1));
    let spread = |v: &[(f64, f64)]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x.1), b.max(x.1))
            });
        format!("{lo:.2}–{hi:.2}")
    };
    let _ = writeln!(
        out,
        "agf     LDA: {lt:>7.2} s per fit on {cores} threads, {one_thread:.2} s on one; perplexity mean {lpp:.2} (seeds: {})",
        spread(&lda_runs)
    );
    let _ = writeln!(
        out,
        "agf peak memory (whole benchmark process): {:.0} MB",
        peak_rss_mb().unwrap_or(f64::NAN)
    );
    if !b.sklearn {
        return Ok(out);
    }
    let script = dir.join("sklearn_bench.py");
    std::fs::write(&script, SKLEARN_SCRIPT).map_err(io)?;
    let run = std::process::Command::new("python3")
        .arg(&script)
        .arg(dir)
        .args([
            b.clusters.to_string(),
            b.seeds.to_string(),
            b.topics.to_string(),
            b.lda_iter.to_string(),
            method.to_string(),
        ])
        .output();
    let parsed: Option<serde_json::Value> = run
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok());
    let Some(sk) = parsed else {
        let _ = writeln!(
            out,
            "scikit-learn: not run (python3 with scikit-learn and scipy not found: pip install scikit-learn)"
        );
        return Ok(out);
    };
    let theirs: Vec<(f64, f64, usize)> = sk["kmeans"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["seconds"].as_f64().unwrap_or(f64::NAN),
                        r["inertia"].as_f64().unwrap_or(f64::NAN),
                        r["iterations"].as_u64().unwrap_or(0) as usize,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let (st, si, sb, sit) = summarise(&theirs);
    let _ = writeln!(
        out,
        "sklearn K-Means: {st:>7.2} s per fit ({:.0} frames/s per iteration), inertia mean {si:.6e} best {sb:.6e}, {sit:.0} iterations",
        n as f64 * sit / st
    );
    let _ = writeln!(
        out,
        "ratio K-Means (agf / scikit-learn {}): {:.2}× faster per fit, {:.2}× per iteration; mean inertia {:+.3}%",
        sk["sklearn"].as_str().unwrap_or("?"),
        st / ot,
        (n as f64 * oit / ot) / (n as f64 * sit / st),
        100.0 * (oi - si) / si
    );
    let theirs_lda: Vec<(f64, f64)> = sk["lda"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["seconds"].as_f64().unwrap_or(f64::NAN),
                        r["perplexity"].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let (st, spp) = (mean(&theirs_lda, |x| x.0), mean(&theirs_lda, |x| x.1));
    let _ = writeln!(
        out,
        "sklearn LDA: {st:>7.2} s per fit (n_jobs=None: one process), perplexity mean {spp:.2} (seeds: {})",
        spread(&theirs_lda)
    );
    let _ = writeln!(
        out,
        "ratio LDA (agf / scikit-learn): {:.1}× faster on {cores} threads, {:.1}× on one; mean perplexity {:+.2}%",
        st / lt,
        st / one_thread,
        100.0 * (lpp - spp) / spp
    );
    Ok(out)
}
