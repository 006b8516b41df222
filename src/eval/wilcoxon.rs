//! The exact Wilcoxon signed-rank test of paired differences, two-sided, as
//! `scipy.stats.wilcoxon(d, method="exact")` computes it with its default
//! `zero_method="wilcox"`: zero differences are dropped, the others ranked by absolute value
//! (ties share their average rank), `R+` is the sum of the positive differences' ranks, and
//! the p-value is twice the smaller tail of `R+`'s null distribution (every sign pattern
//! equally likely), capped at 1. With ties `R+` can be a half-integer; it is rounded up for
//! the lower tail and down for the upper, which keeps the test conservative.

use serde::Serialize;

/// Below this many paired seeds the report gives no p-value: with five pairs the smallest
/// two-sided exact p-value is 2/2⁵ = 0.0625, so no difference could ever be significant.
pub const MIN_PAIRS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SignedRank {
    /// `min(R+, R−)`, scipy's reported statistic.
    pub statistic: f64,
    pub r_plus: f64,
    /// Non-zero differences: the sample size the null distribution is for.
    pub n: usize,
    pub p_value: f64,
}

/// Probabilities of `R+ = 0 ..= n(n+1)/2` when each of the ranks 1..=n is positive with
/// probability ½ independently.
fn null_distribution(n: usize) -> Vec<f64> {
    let mut c = vec![1.0];
    for k in 1..=n {
        let mut next = vec![0.0; k * (k + 1) / 2 + 1];
        let shift = next.len() - c.len();
        for (i, p) in c.iter().enumerate() {
            next[i] += p * 0.5;
            next[shift + i] += p * 0.5;
        }
        c = next;
    }
    c
}

/// Average ranks (1-based) of `values`, ties sharing the mean of the ranks they span.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// The two-sided exact test of `differences` (arm minus baseline, one per shared seed).
pub fn signed_rank(differences: &[f64]) -> SignedRank {
    let d: Vec<f64> = differences.iter().copied().filter(|x| *x != 0.0).collect();
    let n = d.len();
    let abs: Vec<f64> = d.iter().map(|x| x.abs()).collect();
    let ranks = average_ranks(&abs);
    let r_plus: f64 = d
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    let r_minus: f64 = d
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x < 0.0)
        .map(|(_, r)| r)
        .sum();
    let pmf = null_distribution(n);
    let mean = (n * (n + 1)) as f64 / 4.0;
    // The smaller tail is summed directly and the other taken as its complement, as scipy
    // does, so that both agree with it in the last bits.
    let sum = |range: std::ops::Range<usize>| -> f64 { pmf[range].iter().sum() };
    let cdf = |k: f64| -> f64 {
        if k < 0.0 {
            0.0
        } else if k <= mean {
            sum(0..(k as usize + 1).min(pmf.len()))
        } else {
            1.0 - sum((k as usize + 1).min(pmf.len())..pmf.len())
        }
    };
    let sf = |k: f64| -> f64 {
        if k <= mean {
            sum((k.max(0.0) as usize).min(pmf.len())..pmf.len())
        } else {
            1.0 - sum(0..(k as usize).min(pmf.len()))
        }
    };
    let p = 2.0 * sf(r_plus.floor()).min(cdf(r_plus.ceil()));
    SignedRank {
        statistic: r_plus.min(r_minus),
        r_plus,
        n,
        p_value: p.clamp(0.0, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_null_distribution_is_symmetric_and_sums_to_one() {
        let p = null_distribution(6);
        assert_eq!(p.len(), 22);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        for k in 0..p.len() {
            assert_eq!(p[k], p[p.len() - 1 - k]);
        }
        // R+ = 0 only when every sign is negative.
        assert_eq!(p[0], 1.0 / 64.0);
    }

    #[test]
    fn six_pairs_all_one_way_give_the_smallest_p_value() {
        let r = signed_rank(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
        assert_eq!(r.r_plus, 21.0);
        assert_eq!(r.statistic, 0.0);
        assert!((r.p_value - 2.0 / 64.0).abs() < 1e-15);
        // Zeros are dropped: the same as five pairs.
        let z = signed_rank(&[0.0, 0.2, 0.3, 0.4, 0.5, 0.6]);
        assert_eq!(z.n, 5);
        assert!((z.p_value - 2.0 / 32.0).abs() < 1e-15);
        assert_eq!(signed_rank(&[0.0, 0.0]).p_value, 1.0);
    }

    #[test]
    fn ties_share_their_average_rank() {
        assert_eq!(average_ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
    }
}
