//! K-Means dictionaries: k-means++ initialisation (scikit-learn's greedy variant), full Lloyd
//! iterations and mini-batch updates (Sculley 2010, with scikit-learn's centre reassignment
//! and early stopping), best of `n_init` runs.
//!
//! The costly step, nearest centres for a block of rows, runs on candle tensors on a CUDA
//! device and in a fused kernel on the CPU ([`super::nearest`]). Rows are read from a [`Vectors`] in blocks, so Lloyd streams over memory-mapped frame
//! caches of any size; centre updates are small and stay on the host. Block results are
//! combined in block order, so a fit does not depend on the thread count.

use super::nearest::{sq_norm, Nearest};
use super::FactorError;
use crate::rng::Rng;
pub use crate::spec::KMeansAlgorithm;
use crate::vectors::Vectors;
use candle_core::{Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Everything that shapes a fit. [`KMeansParams::new`] gives scikit-learn's defaults
/// (`KMeans`, `MiniBatchKMeans`) except the number of mini-batch passes: one, as in the
/// authors' AGF extractor (scikit-learn's is 100).
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    pub clusters: usize,
    pub algorithm: KMeansAlgorithm,
    /// Independent runs; the one with the lowest inertia is kept.
    pub n_init: usize,
    /// Lloyd: iterations; mini-batch: passes over the data (steps = passes·n/batch).
    pub max_iter: usize,
    /// Lloyd: stop when the squared centre shift falls below tol × mean feature variance
    /// (scikit-learn's relative tolerance). Mini-batch: the same on one step's shift, 0 = off.
    pub tol: f64,
    pub batch_size: usize,
    /// Rows sampled for k-means++: `None` = all rows up to [`INIT_SAMPLE_CAP`] (Lloyd) or
    /// 3·batch_size (mini-batch, as scikit-learn), at least 3·clusters.
    pub init_size: Option<usize>,
    /// Mini-batch: centres used less than this fraction of the busiest one are moved to
    /// random batch rows.
    pub reassignment_ratio: f64,
    /// Mini-batch: stop after this many steps without a better smoothed batch inertia.
    pub max_no_improvement: usize,
    pub seed: u64,
}

impl KMeansParams {
    /// The authors' dictionary: scikit-learn's `MiniBatchKMeans`.
    pub const DEFAULT_ALGORITHM: KMeansAlgorithm = KMeansAlgorithm::MiniBatch;

    pub fn new(clusters: usize, algorithm: KMeansAlgorithm, seed: u64) -> Self {
        KMeansParams {
            clusters,
            algorithm,
            n_init: 1,
            max_iter: match algorithm {
                KMeansAlgorithm::Lloyd => 300,
                KMeansAlgorithm::MiniBatch => 1,
            },
            tol: match algorithm {
                KMeansAlgorithm::Lloyd => 1e-4,
                KMeansAlgorithm::MiniBatch => 0.0,
            },
            batch_size: 1024,
            init_size: None,
            reassignment_ratio: 0.01,
            max_no_improvement: 10,
            seed,
        }
    }
}

/// A fitted dictionary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    pub clusters: usize,
    pub dim: usize,
    /// `clusters × dim`, row-major.
    pub centroids: Vec<f32>,
}

/// How a fit went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeansFit {
    /// Sum of squared distances of the fitted rows to their centres.
    pub inertia: f64,
    /// Lloyd iterations, or mini-batch steps, of the kept run.
    pub iterations: usize,
    pub converged: bool,
    pub rows: usize,
}

/// Rows per block: on a device, the block's distance matrix stays near 16 MB whatever the
/// cluster count; the CPU kernel needs no matrix.
fn block_rows(clusters: usize, device: &Device) -> usize {
    match device {
        Device::Cpu => 4096,
        _ => ((1usize << 22) / clusters.max(1)).clamp(256, 1 << 16),
    }
}

/// One full pass: every row's label, plus (if asked) per-cluster sums and counts.
struct Pass {
    labels: Vec<u32>,
    inertia: f64,
    sums: Vec<f64>,
    counts: Vec<f64>,
}

/// A block's rows, labels and squared distances.
type BlockResult = (Vec<f32>, Vec<u32>, Vec<f32>);

fn full_pass(
    data: &dyn Vectors,
    centroids: &[f32],
    device: &Device,
    with_sums: bool,
) -> Result<Pass, FactorError> {
    let d = data.dim();
    let k = centroids.len() / d;
    let nearest = Nearest::new(centroids, d, device)?;
    let block = block_rows(k, device);
    let n = data.len();
    let blocks: Vec<usize> = (0..n).step_by(block).collect();
    let mut pass = Pass {
        labels: Vec::with_capacity(n),
        inertia: 0.0,
        sums: vec![0.0; if with_sums { k * d } else { 0 }],
        counts: vec![0.0; if with_sums { k } else { 0 }],
    };
    // A window of blocks at a time in parallel, folded in order: bounded memory, and the
    // same sums whatever the thread count.
    let window = 2 * rayon::current_num_threads().max(1);
    for group in blocks.chunks(window) {
        let results: Vec<candle_core::Result<BlockResult>> = group
            .par_iter()
            .map(|&start| {
                let rows_n = block.min(n - start);
                let mut rows = vec![0f32; rows_n * d];
                data.copy_rows(start, &mut rows);
                let (labels, dist) = nearest.assign(&rows)?;
                Ok((rows, labels, dist))
            })
            .collect();
        for r in results {
            let (rows, labels, dist) = r?;
            pass.inertia += dist.iter().map(|&x| x as f64).sum::<f64>();
            if with_sums {
                for (row, &l) in rows.chunks_exact(d).zip(&labels) {
                    let l = l as usize;
                    pass.counts[l] += 1.0;
                    for (s, x) in pass.sums[l * d..(l + 1) * d].iter_mut().zip(row) {
                        *s += *x as f64;
                    }
                }
            }
            pass.labels.extend(labels);
        }
    }
    Ok(pass)
}

/// Greedy k-means++ over `sample` (row-major, `dim` wide): each new centre is the best of
/// 2 + ln k candidates drawn proportionally to the squared distance.
fn kmeans_plus_plus(
    sample: &[f32],
    dim: usize,
    k: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<Vec<f32>, FactorError> {
    let m = sample.len() / dim;
    let trials = 2 + (k as f64).ln() as usize;
    let row = |i: usize| &sample[i * dim..(i + 1) * dim];
    let dist_to = |c: &[f32]| -> Vec<f64> {
        sample
            .chunks_exact(dim)
            .map(|r| {
                r.iter()
                    .zip(c)
                    .map(|(a, b)| ((a - b) * (a - b)) as f64)
                    .sum()
            })
            .collect()
    };
    let x = Tensor::from_slice(sample, (m, dim), device)?;
    let x_sq: Vec<f32> = sample.chunks_exact(dim).map(sq_norm).collect();
    let mut centres = Vec::with_capacity(k * dim);
    let first = rng.index(m);
    centres.extend_from_slice(row(first));
    let mut closest = dist_to(row(first));
    for _ in 1..k {
        let mut cum = Vec::with_capacity(m);
        let mut acc = 0.0;
        for v in &closest {
            acc += v;
            cum.push(acc);
        }
        let cands: Vec<usize> = (0..trials)
            .map(|_| {
                let r = rng.uniform() * acc;
                cum.partition_point(|&c| c < r).min(m - 1)
            })
            .collect();
        let cand_rows: Vec<f32> = cands.iter().flat_map(|&c| row(c).to_vec()).collect();
        let cand_sq: Vec<f32> = cand_rows.chunks_exact(dim).map(sq_norm).collect();
        let ct = Tensor::from_slice(&cand_rows, (trials, dim), device)?.t()?;
        // m × trials dot products, row-major.
        let dots = x.matmul(&ct)?.flatten_all()?.to_vec1::<f32>()?;
        let dist = |i: usize, j: usize| {
            (x_sq[i] + cand_sq[j] - 2.0 * dots[i * trials + j]).max(0.0) as f64
        };
        // The potential each candidate would leave, summed in fixed chunks (thread-count
        // independent).
        let partial: Vec<Vec<f64>> = (0..m)
            .into_par_iter()
            .chunks(4096)
            .map(|idx| {
                let mut p = vec![0f64; trials];
                for i in idx {
                    for (j, pj) in p.iter_mut().enumerate() {
                        *pj += dist(i, j).min(closest[i]);
                    }
                }
                p
            })
            .collect();
        let mut pots = vec![0f64; trials];
        for p in &partial {
            for (a, b) in pots.iter_mut().zip(p) {
                *a += b;
            }
        }
        let j = (0..trials)
            .min_by(|&a, &b| pots[a].total_cmp(&pots[b]).then(a.cmp(&b)))
            .expect("at least two trials");
        closest
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, c)| *c = c.min(dist(i, j)));
        centres.extend_from_slice(row(cands[j]));
    }
    Ok(centres)
}

/// The largest k-means++ sample drawn when `init_size` is not given (Lloyd).
pub const INIT_SAMPLE_CAP: usize = 1 << 18;

/// Rows drawn (with replacement) for initialisation, or all rows in order when there are
/// no more than `size`.
fn init_sample(data: &dyn Vectors, size: Option<usize>, rng: &mut Rng) -> Vec<f32> {
    let d = data.dim();
    let n = data.len();
    match size.filter(|&s| s < n) {
        None => {
            let mut all = vec![0f32; n * d];
            data.copy_rows(0, &mut all);
            all
        }
        Some(s) => {
            let mut out = vec![0f32; s * d];
            for r in out.chunks_exact_mut(d) {
                data.copy_rows(rng.index(n), r);
            }
            out
        }
    }
}

/// One pass over the rows: refuse a NaN or infinity (it would silently become distance 0 and
/// poison a centre) and return the mean over features of the per-feature variance (the scale
/// of scikit-learn's `tol`).
pub(crate) fn scan(data: &dyn Vectors) -> Result<f64, FactorError> {
    let d = data.dim();
    let n = data.len();
    let (mut sum, mut sq) = (vec![0f64; d], vec![0f64; d]);
    let block = 1 << 14;
    let mut rows = Vec::new();
    for start in (0..n).step_by(block) {
        rows.resize(block.min(n - start) * d, 0.0);
        data.copy_rows(start, &mut rows);
        if let Some(i) = rows.iter().position(|x| !x.is_finite()) {
            return Err(FactorError::Invalid(format!(
                "vector {} (value {}) is not a finite number ({}); K-Means needs finite features",
                start + i / d,
                i % d,
                rows[i]
            )));
        }
        for r in rows.chunks_exact(d) {
            for j in 0..d {
                sum[j] += r[j] as f64;
                sq[j] += (r[j] as f64).powi(2);
            }
        }
    }
    let n = n.max(1) as f64;
    Ok((0..d)
        .map(|j| sq[j] / n - (sum[j] / n).powi(2))
        .sum::<f64>()
        / d.max(1) as f64)
}

/// The fitted dictionary and its inertia over every row.
fn finish(
    data: &dyn Vectors,
    centres: Vec<f32>,
    iterations: usize,
    converged: bool,
    device: &Device,
) -> Result<(KMeans, KMeansFit), FactorError> {
    let last = full_pass(data, &centres, device, false)?;
    Ok((
        KMeans {
            clusters: centres.len() / data.dim(),
            dim: data.dim(),
            centroids: centres,
        },
        KMeansFit {
            inertia: last.inertia,
            iterations,
            converged,
            rows: data.len(),
        },
    ))
}

impl KMeans {
    /// Fit a dictionary of `p.clusters` centres to `data` on `device`.
    pub fn fit(
        data: &dyn Vectors,
        p: &KMeansParams,
        device: &Device,
    ) -> Result<(KMeans, KMeansFit), FactorError> {
        let n = data.len();
        if p.clusters == 0 {
            return Err(FactorError::Invalid(
                "K-Means needs at least one cluster".into(),
            ));
        }
        if p.clusters > n {
            return Err(FactorError::Invalid(format!(
                "K-Means was asked for {} clusters but has only {n} vectors to cluster; \
                 lower `clusters` to at most {n}",
                p.clusters
            )));
        }
        let variance = scan(data)?;
        let mut best: Option<(KMeans, KMeansFit)> = None;
        for init in 0..p.n_init.max(1) {
            let mut rng = Rng::derive(p.seed, "kmeans.init", init as u64);
            let fit = match p.algorithm {
                KMeansAlgorithm::Lloyd => lloyd(data, p, variance, &mut rng, device)?,
                KMeansAlgorithm::MiniBatch => mini_batch(data, p, variance, &mut rng, device)?,
            };
            tracing::debug!(init, inertia = fit.1.inertia, "K-Means run");
            if best.as_ref().is_none_or(|b| fit.1.inertia < b.1.inertia) {
                best = Some(fit);
            }
        }
        Ok(best.expect("at least one run"))
    }

    /// The nearest centre of every row, and the total squared distance.
    pub fn assign(
        &self,
        data: &dyn Vectors,
        device: &Device,
    ) -> Result<(Vec<u32>, f64), FactorError> {
        if data.dim() != self.dim {
            return Err(FactorError::Invalid(format!(
                "vectors have {} values, the dictionary {}",
                data.dim(),
                self.dim
            )));
        }
        let pass = full_pass(data, &self.centroids, device, false)?;
        Ok((pass.labels, pass.inertia))
    }
}

fn lloyd(
    data: &dyn Vectors,
    p: &KMeansParams,
    variance: f64,
    rng: &mut Rng,
    device: &Device,
) -> Result<(KMeans, KMeansFit), FactorError> {
    let d = data.dim();
    let k = p.clusters;
    let tol = p.tol * variance;
    // k-means++ needs its sample in memory: beyond 2¹⁸ rows, a sample of that size (at
    // least 3 per centre), so that frame sets of any size stream.
    let size = Some(p.init_size.unwrap_or(INIT_SAMPLE_CAP).max(3 * k));
    let started = std::time::Instant::now();
    let sample = init_sample(data, size, rng);
    let mut centres = kmeans_plus_plus(&sample, d, k, rng, device)?;
    drop(sample);
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "k-means++");
    let mut labels: Vec<u32> = Vec::new();
    let mut iterations = 0;
    let mut converged = false;
    for it in 0..p.max_iter {
        let pass = full_pass(data, &centres, device, true)?;
        iterations = it + 1;
        if pass.labels == labels {
            // Assignments did not move: the centres are a fixed point.
            converged = true;
            break;
        }
        let mut next = centres.clone();
        let empty: Vec<usize> = (0..k).filter(|&c| pass.counts[c] == 0.0).collect();
        for c in 0..k {
            if pass.counts[c] > 0.0 {
                for j in 0..d {
                    next[c * d + j] = (pass.sums[c * d + j] / pass.counts[c]) as f32;
                }
            }
        }
        if !empty.is_empty() {
            relocate_empty(data, &pass, &centres, &empty, &mut next);
        }
        let shift: f64 = centres
            .iter()
            .zip(&next)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        centres = next;
        labels = pass.labels;
        if shift <= tol {
            converged = true;
            break;
        }
    }
    finish(data, centres, iterations, converged, device)
}

/// Empty clusters take the rows farthest from their centres, and those rows leave their
/// old clusters (scikit-learn's rule); nothing moves when every row sits on its centre.
fn relocate_empty(
    data: &dyn Vectors,
    pass: &Pass,
    centres: &[f32],
    empty: &[usize],
    next: &mut [f32],
) {
    use std::cmp::Reverse;
    let d = data.dim();
    let mut row = vec![0f32; d];
    // Only the farthest few are kept while scanning: a bounded heap of (distance, row).
    let m = empty.len();
    let mut far: std::collections::BinaryHeap<Reverse<(OrdF32, Reverse<usize>)>> =
        Default::default();
    for (i, &l) in pass.labels.iter().enumerate() {
        data.copy_rows(i, &mut row);
        let c = &centres[l as usize * d..(l as usize + 1) * d];
        let dist: f32 = row.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum();
        far.push(Reverse((OrdF32(dist), Reverse(i))));
        if far.len() > m {
            far.pop();
        }
    }
    let mut far: Vec<(f32, usize)> = far
        .into_iter()
        .map(|Reverse((OrdF32(x), Reverse(i)))| (x, i))
        .collect();
    far.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    if far.first().is_none_or(|f| f.0 <= 0.0) {
        return;
    }
    tracing::debug!(
        empty = m,
        "K-Means: empty clusters moved to the farthest rows"
    );
    let mut sums = pass.sums.clone();
    let mut counts = pass.counts.clone();
    for (&c, &(_, i)) in empty.iter().zip(&far) {
        data.copy_rows(i, &mut row);
        next[c * d..(c + 1) * d].copy_from_slice(&row);
        let old = pass.labels[i] as usize;
        if counts[old] > 1.0 {
            counts[old] -= 1.0;
            for j in 0..d {
                sums[old * d + j] -= row[j] as f64;
                next[old * d + j] = (sums[old * d + j] / counts[old]) as f32;
            }
        }
    }
}

/// f32 ordered by `total_cmp`, for the heap above.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF32(f32);

impl Eq for OrdF32 {}

impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdF32 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn mini_batch(
    data: &dyn Vectors,
    p: &KMeansParams,
    variance: f64,
    rng: &mut Rng,
    device: &Device,
) -> Result<(KMeans, KMeansFit), FactorError> {
    let d = data.dim();
    let k = p.clusters;
    let n = data.len();
    let batch = p.batch_size.clamp(1, n);
    // scikit-learn: 3 × batch, raised to 3 × k only when that is fewer than k rows.
    let mut init = p.init_size.unwrap_or(3 * batch);
    if init < k {
        init = 3 * k;
    }
    let sample = init_sample(data, Some(init), rng);
    let mut centres = kmeans_plus_plus(&sample, d, k, rng, device)?;
    drop(sample);
    let tol = p.tol.max(0.0) * variance;
    let mut weights = vec![0f64; k];
    let steps = ((p.max_iter * n) / batch).max(1);
    let mut rows = vec![0f32; batch * d];
    let (mut ewa, mut ewa_min, mut no_improvement) = (None::<f64>, f64::INFINITY, 0usize);
    let mut since_reassign = 0usize;
    let mut iterations = 0;
    let mut converged = false;
    for step in 0..steps {
        for r in rows.chunks_exact_mut(d) {
            data.copy_rows(rng.index(n), r);
        }
        // scikit-learn decides on reassignment before the update, from the counts so far.
        since_reassign += batch;
        let reassign_now =
            p.reassignment_ratio > 0.0 && (weights.contains(&0.0) || since_reassign >= 10 * k);
        let (labels, dist) = Nearest::new(&centres, d, device)?.assign(&rows)?;
        let batch_inertia: f64 = dist.iter().map(|&x| x as f64).sum::<f64>() / batch as f64;
        // Streaming means: each centre moves towards its batch rows by their share of all
        // rows it has seen.
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0f64; k];
        for (r, &l) in rows.chunks_exact(d).zip(&labels) {
            let l = l as usize;
            counts[l] += 1.0;
            for (s, x) in sums[l * d..(l + 1) * d].iter_mut().zip(r) {
                *s += *x as f64;
            }
        }
        let old = centres.clone();
        for c in 0..k {
            if counts[c] > 0.0 {
                let w = weights[c] + counts[c];
                for j in 0..d {
                    let v = &mut centres[c * d + j];
                    *v = ((*v as f64 * weights[c] + sums[c * d + j]) / w) as f32;
                }
                weights[c] = w;
            }
        }
        if reassign_now {
            since_reassign = 0;
            reassign(
                &mut centres,
                &mut weights,
                &rows,
                d,
                p.reassignment_ratio,
                rng,
            );
        }
        iterations = step + 1;
        if step == 0 {
            continue;
        }
        if tol > 0.0 {
            let shift: f64 = old
                .iter()
                .zip(&centres)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum();
            if shift <= tol {
                converged = true;
                break;
            }
        }
        // scikit-learn's early stop: a smoothed batch inertia that stops improving.
        let alpha = (batch as f64 * 2.0 / (n as f64 + 1.0)).min(1.0);
        let e = match ewa {
            None => batch_inertia,
            Some(e) => e * (1.0 - alpha) + batch_inertia * alpha,
        };
        ewa = Some(e);
        if e < ewa_min {
            ewa_min = e;
            no_improvement = 0;
        } else {
            no_improvement += 1;
        }
        if p.max_no_improvement > 0 && no_improvement >= p.max_no_improvement {
            converged = true;
            break;
        }
    }
    finish(data, centres, iterations, converged, device)
}

/// Move rarely used centres onto random rows of the batch (at most half the batch).
fn reassign(
    centres: &mut [f32],
    weights: &mut [f64],
    rows: &[f32],
    d: usize,
    ratio: f64,
    rng: &mut Rng,
) {
    let batch = rows.len() / d;
    let max = weights.iter().cloned().fold(0.0, f64::max);
    let mut low: Vec<usize> = (0..weights.len())
        .filter(|&c| weights[c] < ratio * max)
        .collect();
    if low.is_empty() {
        return;
    }
    if low.len() > batch / 2 {
        low.sort_by(|&a, &b| weights[a].total_cmp(&weights[b]).then(a.cmp(&b)));
        low.truncate(batch / 2);
    }
    let mut pick: Vec<usize> = (0..batch).collect();
    // A partial shuffle draws distinct rows.
    for i in 0..low.len() {
        let j = i + rng.index(batch - i);
        pick.swap(i, j);
    }
    let kept_min = (0..weights.len())
        .filter(|c| !low.contains(c))
        .map(|c| weights[c])
        .fold(f64::INFINITY, f64::min);
    for (&c, &r) in low.iter().zip(&pick) {
        centres[c * d..(c + 1) * d].copy_from_slice(&rows[r * d..(r + 1) * d]);
        weights[c] = if kept_min.is_finite() { kept_min } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::DenseVectors;

    /// `k` tight blobs far apart, `per` rows each; returns the rows and blob of each row.
    fn blobs(k: usize, per: usize, dim: usize, seed: u64) -> (DenseVectors, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let centres: Vec<Vec<f32>> = (0..k)
            .map(|_| (0..dim).map(|_| rng.range(-50.0, 50.0) as f32).collect())
            .collect();
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for i in 0..k * per {
            let b = i % k;
            data.extend(centres[b].iter().map(|c| c + 0.5 * rng.normal() as f32));
            truth.push(b);
        }
        (DenseVectors::new(dim, data), truth)
    }

    fn agreement(labels: &[u32], truth: &[usize], k: usize) -> f64 {
        // Rows of one blob share one label, and no label spans two blobs.
        let mut map = vec![None; k];
        let mut ok = 0;
        for (l, &t) in labels.iter().zip(truth) {
            match map[t] {
                None => {
                    map[t] = Some(*l);
                    ok += 1;
                }
                Some(m) if m == *l => ok += 1,
                _ => {}
            }
        }
        let distinct: std::collections::BTreeSet<_> = map.iter().flatten().collect();
        assert_eq!(distinct.len(), k, "two blobs share one centre");
        ok as f64 / truth.len() as f64
    }

    #[test]
    fn both_algorithms_find_separated_blobs() {
        let (data, truth) = blobs(6, 200, 5, 1);
        for algo in [KMeansAlgorithm::Lloyd, KMeansAlgorithm::MiniBatch] {
            let mut p = KMeansParams::new(6, algo, 3);
            p.max_iter = p.max_iter.max(100);
            p.batch_size = 64;
            p.n_init = 2;
            let (km, fit) = KMeans::fit(&data, &p, &Device::Cpu).unwrap();
            let (labels, inertia) = km.assign(&data, &Device::Cpu).unwrap();
            assert!((inertia - fit.inertia).abs() < 1e-3 * inertia.max(1.0));
            assert_eq!(agreement(&labels, &truth, 6), 1.0, "{algo:?}");
            // Noise of σ = 0.5 in 5 dimensions: inertia ≈ n · 5 · 0.25.
            let expected = 1200.0 * 5.0 * 0.25;
            assert!(
                fit.inertia < 1.2 * expected,
                "{algo:?}: inertia {}",
                fit.inertia
            );
        }
    }

    #[test]
    fn lloyd_matches_a_hand_computed_fixed_point() {
        // Two pairs on a line: centres at their means, inertia 4 × 1².
        let data = DenseVectors::new(1, vec![0.0, 2.0, 10.0, 12.0]);
        let (km, fit) = KMeans::fit(
            &data,
            &KMeansParams::new(2, KMeansAlgorithm::Lloyd, 0),
            &Device::Cpu,
        )
        .unwrap();
        let mut c = km.centroids.clone();
        c.sort_by(f32::total_cmp);
        assert_eq!(c, vec![1.0, 11.0]);
        assert!((fit.inertia - 4.0).abs() < 1e-6);
        assert!(fit.converged);
    }

    #[test]
    fn deterministic_and_refuses_too_many_clusters() {
        let (data, _) = blobs(3, 50, 4, 2);
        let p = KMeansParams::new(3, KMeansAlgorithm::MiniBatch, 11);
        let a = KMeans::fit(&data, &p, &Device::Cpu).unwrap();
        let b = KMeans::fit(&data, &p, &Device::Cpu).unwrap();
        assert_eq!(a, b);
        let err = KMeans::fit(
            &data,
            &KMeansParams::new(151, KMeansAlgorithm::Lloyd, 0),
            &Device::Cpu,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("151 clusters") && err.contains("only 150 vectors"),
            "{err}"
        );
    }
}
