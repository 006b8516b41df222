//! Confident learning (Northcutt, Jiang & Chuang, JAIR 2021) computed as cleanlab 2.x computes
//! it, so that a flagged set found here is the one `cleanlab.filter.find_label_issues` finds
//! on the same probabilities: per-class thresholds, the confident joint, its calibration, the
//! five `filter_by` rules, the count of issues, label-quality scores and the health summary.
//!
//! Where cleanlab's result depends on floating-point order it is followed too: a class's
//! threshold is numpy's pairwise-summed mean, and rounding is numpy's half-to-even. Ties in
//! probabilities are broken by index (a stable sort); cleanlab's `np.argsort` leaves their
//! order to numpy's sorting kernel, so only tied probabilities can be ordered differently.

use thiserror::Error;

/// cleanlab's `FLOATING_POINT_COMPARISON`.
const FLOATING_POINT_COMPARISON: f64 = 1e-6;
/// cleanlab's `CONFIDENT_THRESHOLDS_LOWER_BOUND`.
const THRESHOLD_LOWER_BOUND: f64 = 2.0 * FLOATING_POINT_COMPARISON;
/// The threshold of a class no example is labelled with: no probability reaches it.
const ABSENT_CLASS_THRESHOLD: f64 = 2.0;
/// cleanlab's `TINY_VALUE`, which keeps divisions by empty rows finite.
const TINY_VALUE: f64 = 1e-100;
/// cleanlab's `CLIPPING_LOWER_BOUND`.
const CLIPPING_LOWER_BOUND: f64 = 1e-6;
/// cleanlab's `EPSILON` in the per-class health table.
const EPSILON: f64 = 1e-6;

#[derive(Debug, Error, PartialEq)]
pub enum AuditInputError {
    #[error("no examples to audit")]
    Empty,
    #[error("probabilities have {got} values, expected {n} examples × {k} classes")]
    Shape { got: usize, n: usize, k: usize },
    #[error("example {index}: label {label} is not one of the {k} classes")]
    Label {
        index: usize,
        label: usize,
        k: usize,
    },
    #[error("example {index}: probability {value} of class {class} is not in [0, 1]")]
    Probability {
        index: usize,
        class: usize,
        value: f64,
    },
    #[error("at least two classes are needed, got {k}")]
    Classes { k: usize },
}

/// Out-of-sample predicted probabilities (`n` rows of `k`, row-major) with each example's
/// given label: what confident learning reads.
#[derive(Debug, Clone)]
pub struct Examples<'a> {
    labels: &'a [usize],
    probs: &'a [f64],
    k: usize,
}

impl<'a> Examples<'a> {
    pub fn new(labels: &'a [usize], probs: &'a [f64], k: usize) -> Result<Self, AuditInputError> {
        let n = labels.len();
        if n == 0 {
            return Err(AuditInputError::Empty);
        }
        if k < 2 {
            return Err(AuditInputError::Classes { k });
        }
        if probs.len() != n * k {
            return Err(AuditInputError::Shape {
                got: probs.len(),
                n,
                k,
            });
        }
        if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= k) {
            return Err(AuditInputError::Label { index, label, k });
        }
        if let Some(i) = probs.iter().position(|p| !(0.0..=1.0).contains(p)) {
            return Err(AuditInputError::Probability {
                index: i / k,
                class: i % k,
                value: probs[i],
            });
        }
        Ok(Self { labels, probs, k })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn classes(&self) -> usize {
        self.k
    }

    pub fn labels(&self) -> &[usize] {
        self.labels
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.probs[i * self.k..(i + 1) * self.k]
    }

    /// How many examples carry each label.
    pub fn label_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.k];
        for &l in self.labels {
            c[l] += 1;
        }
        c
    }
}

/// The first largest entry, as numpy's `argmax`.
pub fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (j, &p) in row.iter().enumerate() {
        if p > row[best] {
            best = j;
        }
    }
    best
}

/// numpy's pairwise summation of a contiguous float64 array (`pairwise_sum_DOUBLE`): eight
/// accumulators over blocks of up to 128, halves above that. `np.mean` is this sum over n.
pub fn numpy_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        numpy_sum(&a[..n2]) + numpy_sum(&a[n2..])
    }
}

/// A column's sum as numpy's `sum(axis=0)` takes it: row after row.
fn column_sum(m: &[Vec<f64>], j: usize) -> f64 {
    let mut s = 0.0;
    for row in m {
        s += row[j];
    }
    s
}

/// Round half to even, as numpy's `round`.
fn round_even(x: f64) -> f64 {
    x.round_ties_even()
}

/// Per class, the mean probability of that class over the examples labelled with it (the
/// expected self-confidence), clipped below at 2e-6; 2 for a class no example carries, so
/// that nothing is ever confidently in it.
pub fn thresholds(ex: &Examples) -> Vec<f64> {
    let mut by_class: Vec<Vec<f64>> = vec![Vec::new(); ex.k];
    for (i, &l) in ex.labels.iter().enumerate() {
        by_class[l].push(ex.row(i)[l]);
    }
    by_class
        .iter()
        .map(|v| {
            let t = if v.is_empty() {
                ABSENT_CLASS_THRESHOLD
            } else {
                numpy_sum(v) / v.len() as f64
            };
            t.max(THRESHOLD_LOWER_BOUND)
        })
        .collect()
}

/// A K × K matrix of counts, `[given label][true label]`.
pub type Counts = Vec<Vec<i64>>;

/// The confident joint before calibration, and the examples confidently in a class other
/// than their label (in index order).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfidentJoint {
    pub counts: Counts,
    pub off_diagonal: Vec<usize>,
}

/// Each example whose probability of some class reaches that class's threshold (less 1e-6)
/// is counted at (its label, that class); with several such classes, its argmax over all
/// classes. Diagonal cells are at least 1.
pub fn confident_joint(ex: &Examples, thresholds: &[f64]) -> ConfidentJoint {
    let k = ex.k;
    let mut counts = vec![vec![0i64; k]; k];
    let mut off_diagonal = Vec::new();
    for i in 0..ex.len() {
        let row = ex.row(i);
        let confident: Vec<usize> = (0..k).filter(|&j| row[j] >= thresholds[j] - 1e-6).collect();
        let guess = match confident.len() {
            0 => continue,
            1 => confident[0],
            _ => argmax(row),
        };
        let given = ex.labels[i];
        counts[given][guess] += 1;
        if guess != given {
            off_diagonal.push(i);
        }
    }
    for (j, row) in counts.iter_mut().enumerate() {
        row[j] = row[j].max(1);
    }
    ConfidentJoint {
        counts,
        off_diagonal,
    }
}

/// Integers that keep the rounded sum of `floats`: numpy-rounded, then the entries furthest
/// from their rounding moved by one until the sums agree (cleanlab's `round_preserving_sum`).
pub fn round_preserving_sum(floats: &[f64]) -> Vec<i64> {
    let mut ints: Vec<f64> = floats.iter().map(|&x| round_even(x)).collect();
    let orig = round_even(numpy_sum(floats));
    let mut sum = round_even(numpy_sum(&ints));
    while (sum - orig).abs() > FLOATING_POINT_COMPARISON {
        let diff = round_even(orig - sum);
        let increment = if diff < 0.0 { -1.0 } else { 1.0 };
        let changes = (diff.abs() as usize).min(floats.len());
        let mut order: Vec<usize> = (0..floats.len()).collect();
        let gap: Vec<f64> = floats.iter().zip(&ints).map(|(f, i)| f - i).collect();
        order.sort_by(|&a, &b| gap[a].total_cmp(&gap[b]));
        if increment > 0.0 {
            order.reverse();
        }
        for &i in order.iter().take(changes) {
            ints[i] += increment;
        }
        sum = round_even(numpy_sum(&ints));
    }
    ints.iter().map(|&x| x as i64).collect()
}

/// Each row of `m` rounded with its total kept.
fn round_rows(m: &[Vec<f64>]) -> Counts {
    m.iter().map(|r| round_preserving_sum(r)).collect()
}

/// Calibrate the confident joint: each row scaled to its label's count, the whole to the
/// number of examples, then rounded keeping row totals.
pub fn calibrate(counts: &Counts, label_counts: &[usize]) -> Counts {
    let k = counts.len();
    let mut m: Vec<Vec<f64>> = counts
        .iter()
        .zip(label_counts)
        .map(|(row, &c)| {
            let total = (row.iter().sum::<i64>() as f64).max(TINY_VALUE);
            row.iter().map(|&x| x as f64 / total * c as f64).collect()
        })
        .collect();
    // cleanlab's array here is a transposed view: numpy sums it pairwise in memory order,
    // which is column after column.
    let flat: Vec<f64> = (0..k).flat_map(|j| m.iter().map(move |r| r[j])).collect();
    let total = numpy_sum(&flat).max(TINY_VALUE);
    let n: usize = label_counts.iter().sum();
    for row in m.iter_mut() {
        for x in row.iter_mut() {
            *x = *x / total * n as f64;
        }
    }
    round_rows(&m)
}

/// The joint distribution of given and true labels: the calibrated joint over its sum.
pub fn joint(calibrated: &Counts) -> Vec<Vec<f64>> {
    let flat: Vec<f64> = calibrated.iter().flatten().map(|&x| x as f64).collect();
    let total = numpy_sum(&flat).max(TINY_VALUE);
    calibrated
        .iter()
        .map(|r| r.iter().map(|&x| x as f64 / total).collect())
        .collect()
}

/// The latent estimates from a (calibrated) confident joint: the prior of the true labels,
/// the noise matrix P(given = i | true = j) and its inverse P(true = j | given = i), each
/// column summing to 1 with off-diagonal rates clipped below 1 (cleanlab's
/// `estimate_latent` with `py_method = "cnt"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Latent {
    pub py: Vec<f64>,
    /// `[given][true]`.
    pub noise_matrix: Vec<Vec<f64>>,
    /// `[true][given]`.
    pub inverse_noise_matrix: Vec<Vec<f64>>,
}

fn clip_noise_rates(m: &mut [Vec<f64>]) {
    let k = m.len();
    for (i, row) in m.iter_mut().enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            if i != j {
                *x = x.clamp(0.0, 0.9999);
            }
        }
    }
    for j in 0..k {
        let s = column_sum(m, j).max(TINY_VALUE);
        for row in m.iter_mut() {
            row[j] /= s;
        }
    }
}

pub fn latent(calibrated: &Counts, label_counts: &[usize]) -> Latent {
    let k = calibrated.len();
    let n: usize = label_counts.iter().sum();
    let ps: Vec<f64> = label_counts.iter().map(|&c| c as f64 / n as f64).collect();
    let row_sums: Vec<f64> = calibrated
        .iter()
        .map(|r| r.iter().sum::<i64>() as f64)
        .collect();
    let col_sums: Vec<f64> = (0..k)
        .map(|j| calibrated.iter().map(|r| r[j]).sum::<i64>() as f64)
        .collect();
    let mut noise: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            (0..k)
                .map(|j| calibrated[i][j] as f64 / col_sums[j].max(TINY_VALUE))
                .collect()
        })
        .collect();
    let mut inverse: Vec<Vec<f64>> = (0..k)
        .map(|j| {
            (0..k)
                .map(|i| calibrated[i][j] as f64 / row_sums[i].max(TINY_VALUE))
                .collect()
        })
        .collect();
    // No class has prior 0: clipped to [1e-6, 1] and renormalised (cleanlab's `clip_values`).
    let py: Vec<f64> = (0..k)
        .map(|j| {
            (inverse[j][j] / noise[j][j].max(TINY_VALUE) * ps[j]).clamp(CLIPPING_LOWER_BOUND, 1.0)
        })
        .collect();
    let total = numpy_sum(&py).max(TINY_VALUE);
    let py = py.iter().map(|&x| x * 1.0 / total).collect();
    clip_noise_rates(&mut noise);
    clip_noise_rates(&mut inverse);
    Latent {
        py,
        noise_matrix: noise,
        inverse_noise_matrix: inverse,
    }
}

/// Which examples confident learning flags (cleanlab's `filter_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterBy {
    /// For each off-diagonal cell (label i, true j) of the calibrated joint, the cell's count
    /// of examples labelled i with the largest margin p(j) − p(i).
    #[default]
    PruneByNoiseRate,
    /// For each label, as many of its examples with the lowest self-confidence as the
    /// calibrated joint says are mislabelled.
    PruneByClass,
    /// Flagged by both rules.
    Both,
    /// The off-diagonal examples of the confident joint.
    ConfidentLearning,
    /// Examples whose argmax is not their label.
    PredictedNeqGiven,
}

impl FilterBy {
    pub const ALL: [FilterBy; 5] = [
        FilterBy::PruneByNoiseRate,
        FilterBy::PruneByClass,
        FilterBy::Both,
        FilterBy::ConfidentLearning,
        FilterBy::PredictedNeqGiven,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FilterBy::PruneByNoiseRate => "prune_by_noise_rate",
            FilterBy::PruneByClass => "prune_by_class",
            FilterBy::Both => "both",
            FilterBy::ConfidentLearning => "confident_learning",
            FilterBy::PredictedNeqGiven => "predicted_neq_given",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// The calibrated joint transposed (`[true][given]`), each diagonal raised to at least
/// `min_per_class` with the rise taken evenly from the column's non-zero noise cells, then
/// truncated to whole examples (cleanlab's `_keep_at_least_n_per_class` at `frac_noise = 1`).
fn prune_counts(calibrated: &Counts, min_per_class: usize) -> Counts {
    let k = calibrated.len();
    let t: Vec<Vec<f64>> = (0..k)
        .map(|i| (0..k).map(|j| calibrated[j][i] as f64).collect())
        .collect();
    let mut out = vec![vec![0i64; k]; k];
    for col in 0..k {
        let diagonal = t[col][col];
        let raised = diagonal.max(min_per_class as f64);
        let rise = raised - diagonal;
        let nonzero = (0..k).filter(|&r| t[r][col] != 0.0).count() as f64;
        let share = rise / (nonzero - 1.0).max(1.0);
        for row in 0..k {
            let v = if row == col {
                raised
            } else {
                (t[row][col] - share).max(0.0)
            };
            // numpy's astype(int) truncates toward zero.
            out[row][col] = v.trunc() as i64;
        }
    }
    out
}

/// Indices of `idx` sorted by `key` ascending, ties by position (stable).
fn sorted_by(idx: &[usize], key: impl Fn(usize) -> f64) -> Vec<usize> {
    let mut order: Vec<usize> = idx.to_vec();
    order.sort_by(|&a, &b| key(a).total_cmp(&key(b)));
    order
}

/// Examples flagged by the class rule: for each label with more than `min_per_class`
/// examples, its lowest-self-confidence ones, as many as the label's count less the kept
/// diagonal.
fn by_class(ex: &Examples, prune: &Counts, min_per_class: usize) -> Vec<bool> {
    let mut mask = vec![false; ex.len()];
    for (k, row) in prune.iter().enumerate() {
        let members: Vec<usize> = (0..ex.len()).filter(|&i| ex.labels[i] == k).collect();
        if members.len() <= min_per_class {
            continue;
        }
        let issues = members.len() as i64 - row[k];
        if issues >= 1 {
            for &i in sorted_by(&members, |i| ex.row(i)[k])
                .iter()
                .take(issues as usize)
            {
                mask[i] = true;
            }
        }
    }
    mask
}

/// Examples flagged by the noise-rate rule: for each label k and each other class j, the
/// `prune[j][k]` examples labelled k with the largest p(j) − p(k).
fn by_noise_rate(ex: &Examples, prune: &Counts, min_per_class: usize) -> Vec<bool> {
    let mut mask = vec![false; ex.len()];
    for k in 0..ex.k {
        let members: Vec<usize> = (0..ex.len()).filter(|&i| ex.labels[i] == k).collect();
        if members.len() <= min_per_class {
            continue;
        }
        for j in 0..ex.k {
            let count = prune[j][k];
            if j == k || count <= 0 {
                continue;
            }
            let order = sorted_by(&members, |i| {
                let row = ex.row(i);
                -(row[j] - row[k])
            });
            for &i in order.iter().take(count as usize) {
                mask[i] = true;
            }
        }
    }
    mask
}

/// Examples whose given label is their argmax once it gets 1e-6 more: never flagged.
fn label_is_argmax(ex: &Examples) -> Vec<bool> {
    (0..ex.len())
        .map(|i| {
            let mut row = ex.row(i).to_vec();
            let l = ex.labels[i];
            row[l] += FLOATING_POINT_COMPARISON;
            argmax(&row) == l
        })
        .collect()
}

/// Everything confident learning estimates from one set of examples.
#[derive(Debug, Clone)]
pub struct Audit {
    pub thresholds: Vec<f64>,
    /// Before calibration.
    pub confident_joint: ConfidentJoint,
    pub calibrated: Counts,
    pub joint: Vec<Vec<f64>>,
    pub latent: Latent,
    pub filter_by: FilterBy,
    /// Per example, whether its label is flagged.
    pub issues: Vec<bool>,
    /// cleanlab's `num_label_issues` (the off-diagonal count, argmax-agreeing examples left
    /// out).
    pub num_label_issues: usize,
}

/// Run confident learning over `ex` (cleanlab's `find_label_issues` with
/// `min_examples_per_class = 1` and `frac_noise = 1`, and the estimates around it).
pub fn audit(ex: &Examples, filter_by: FilterBy) -> Audit {
    const MIN_PER_CLASS: usize = 1;
    let thresholds = thresholds(ex);
    let cj = confident_joint(ex, &thresholds);
    let label_counts = ex.label_counts();
    let calibrated = calibrate(&cj.counts, &label_counts);
    let joint = joint(&calibrated);
    let latent = latent(&calibrated, &label_counts);
    let keep = label_is_argmax(ex);

    let mut issues = match filter_by {
        FilterBy::PruneByNoiseRate | FilterBy::PruneByClass | FilterBy::Both => {
            let prune = prune_counts(&calibrated, MIN_PER_CLASS);
            match filter_by {
                FilterBy::PruneByNoiseRate => by_noise_rate(ex, &prune, MIN_PER_CLASS),
                FilterBy::PruneByClass => by_class(ex, &prune, MIN_PER_CLASS),
                _ => by_noise_rate(ex, &prune, MIN_PER_CLASS)
                    .into_iter()
                    .zip(by_class(ex, &prune, MIN_PER_CLASS))
                    .map(|(a, b)| a && b)
                    .collect(),
            }
        }
        FilterBy::ConfidentLearning => {
            let mut m = vec![false; ex.len()];
            for &i in &cj.off_diagonal {
                m[i] = true;
            }
            m
        }
        FilterBy::PredictedNeqGiven => (0..ex.len())
            .map(|i| argmax(ex.row(i)) != ex.labels[i])
            .collect(),
    };
    for (flag, keep) in issues.iter_mut().zip(&keep) {
        if *keep {
            *flag = false;
        }
    }
    let num_label_issues = cj.off_diagonal.iter().filter(|&&i| !keep[i]).count();
    Audit {
        thresholds,
        confident_joint: cj,
        calibrated,
        joint,
        latent,
        filter_by,
        issues,
        num_label_issues,
    }
}

/// A label-quality score per example; lower is more likely mislabelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityScore {
    /// p(given label).
    #[default]
    SelfConfidence,
    /// (p(given) − max p(other) + 1) / 2.
    NormalizedMargin,
    /// log(1 + H/p(given)) / max(H/p(given), 1e-6), H the entropy over log K.
    ConfidenceWeightedEntropy,
}

impl QualityScore {
    pub const ALL: [QualityScore; 3] = [
        QualityScore::SelfConfidence,
        QualityScore::NormalizedMargin,
        QualityScore::ConfidenceWeightedEntropy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QualityScore::SelfConfidence => "self_confidence",
            QualityScore::NormalizedMargin => "normalized_margin",
            QualityScore::ConfidenceWeightedEntropy => "confidence_weighted_entropy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// scipy's `xlogy`: 0 where x is 0.
fn xlogy(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x * x.ln()
    }
}

/// cleanlab's `get_label_quality_scores` (without adjusting the probabilities).
pub fn quality_scores(ex: &Examples, score: QualityScore) -> Vec<f64> {
    let k = ex.k;
    (0..ex.len())
        .map(|i| {
            let row = ex.row(i);
            let l = ex.labels[i];
            let own = row[l];
            match score {
                QualityScore::SelfConfidence => own,
                QualityScore::NormalizedMargin => {
                    let other = row
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != l)
                        .map(|(_, &p)| p)
                        .fold(f64::NEG_INFINITY, f64::max);
                    (own - other + 1.0) / 2.0
                }
                QualityScore::ConfidenceWeightedEntropy => {
                    let terms: Vec<f64> = row.iter().map(|&p| xlogy(p)).collect();
                    let entropy = -numpy_sum(&terms) / (k as f64).ln();
                    let s = entropy / own.max(CLIPPING_LOWER_BOUND);
                    (s + 1.0).ln() / s.max(CLIPPING_LOWER_BOUND)
                }
            }
        })
        .collect()
}

/// Flagged examples ordered by `score`, worst first (cleanlab's `order_label_issues`).
pub fn ranked(issues: &[bool], scores: &[f64]) -> Vec<usize> {
    let flagged: Vec<usize> = (0..issues.len()).filter(|&i| issues[i]).collect();
    sorted_by(&flagged, |i| scores[i])
}

/// One class in the health summary (cleanlab's `rank_classes_by_label_quality`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClassHealth {
    pub class: usize,
    /// Examples labelled with the class whose true label is another, estimated.
    pub label_issues: i64,
    /// Examples of the class labelled as another, estimated.
    pub inverse_label_issues: i64,
    /// P(true ≠ k | given = k).
    pub label_noise: f64,
    /// P(given ≠ k | true = k).
    pub inverse_label_noise: f64,
    /// 1 − label noise.
    pub label_quality: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Health {
    /// Classes from the lowest label quality up (ties by class).
    pub classes: Vec<ClassHealth>,
    /// 1 − num_label_issues / N.
    pub score: f64,
    pub num_label_issues: usize,
}

pub fn health(ex: &Examples, a: &Audit) -> Health {
    let k = ex.k;
    let n = ex.len() as f64;
    let j = &a.joint;
    let mut classes: Vec<ClassHealth> = (0..k)
        .map(|c| {
            let row: f64 = numpy_sum(&j[c]);
            let col = column_sum(j, c);
            let given = row - j[c][c];
            let truth = col - j[c][c];
            let label_noise = given / row.max(EPSILON);
            ClassHealth {
                class: c,
                label_issues: round_even(given * n) as i64,
                inverse_label_issues: round_even(truth * n) as i64,
                label_noise,
                inverse_label_noise: truth / col.max(EPSILON),
                label_quality: 1.0 - label_noise,
            }
        })
        .collect();
    classes.sort_by(|x, y| x.label_quality.total_cmp(&y.label_quality));
    Health {
        classes,
        score: 1.0 - a.num_label_issues as f64 / n,
        num_label_issues: a.num_label_issues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_the_sum_and_moves_the_largest_remainders() {
        // Ties go to the later index, as the reversed ascending order has them.
        assert_eq!(round_preserving_sum(&[0.4, 0.4, 0.2]), [0, 1, 0]);
        assert_eq!(round_preserving_sum(&[2.5, 2.5, 1.0]), [2, 3, 1]);
        let r = round_preserving_sum(&[1.3, 2.3, 3.4]);
        assert_eq!(r.iter().sum::<i64>(), 7);
    }

    #[test]
    fn inputs_are_checked() {
        assert_eq!(
            Examples::new(&[0, 3], &[0.5; 4], 2).unwrap_err(),
            AuditInputError::Label {
                index: 1,
                label: 3,
                k: 2
            }
        );
        assert!(Examples::new(&[0], &[0.5, 0.5, 0.1], 2).is_err());
        assert!(Examples::new(&[0], &[1.5, -0.5], 2).is_err());
    }

    #[test]
    fn a_confidently_other_example_is_flagged_and_a_clean_one_is_not() {
        // Three clear examples per class and one labelled 0 that looks like class 1.
        let labels = [0, 0, 0, 1, 1, 1, 0];
        let probs = [
            0.9, 0.1, 0.8, 0.2, 0.85, 0.15, 0.1, 0.9, 0.2, 0.8, 0.15, 0.85, 0.05, 0.95,
        ];
        let ex = Examples::new(&labels, &probs, 2).unwrap();
        for f in FilterBy::ALL {
            let a = audit(&ex, f);
            assert_eq!(
                a.issues,
                [false, false, false, false, false, false, true],
                "{f:?}"
            );
        }
    }
}
