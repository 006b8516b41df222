//! Ranking arms over blocks (Demšar 2006): the Friedman test of "all arms rank alike", the
//! arms' average ranks, and each arm against a control arm by the rank z-test with Holm's
//! correction, the numbers a critical-difference diagram draws.
//!
//! The Friedman statistic is scipy's `friedmanchisquare`: ranks within each block (ties
//! share their average rank), χ² = (12/(nk(k+1)) Σⱼ Rⱼ² − 3n(k+1)) / C with Rⱼ the rank
//! sums and C = 1 − Σ(t³ − t)/(n(k³ − k)) over the blocks' tie groups, on k − 1 degrees of
//! freedom. Against the control: z = (R̄ⱼ − R̄₀)/√(k(k+1)/(6n)), two-sided normal p.

use super::dist::{chi2_sf, normal_sf};
use super::holm;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Friedman {
    /// Blocks (rows) and arms.
    pub blocks: usize,
    pub arms: usize,
    pub statistic: f64,
    pub p_value: f64,
    /// Each arm's average rank, 1 the best.
    pub ranks: Vec<f64>,
}

/// Ranks 1..=n of `row`, lowest value first, ties given their average rank; with the tie
/// groups' sizes.
fn rank_row(row: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
    let mut ranks = vec![0.0; row.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && row[order[j + 1]] == row[order[i]] {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = average;
        }
        if j > i {
            ties.push(j - i + 1);
        }
        i = j + 1;
    }
    (ranks, ties)
}

/// The Friedman test of `blocks` (each a row of the arms' scores, lower ranked first: pass
/// negated scores where higher is better). `None` below 2 blocks or 3 arms, or when every
/// block is one tie.
pub fn friedman(blocks: &[Vec<f64>]) -> Option<Friedman> {
    let n = blocks.len();
    let k = blocks.first()?.len();
    if n < 2 || k < 3 || blocks.iter().any(|b| b.len() != k) {
        return None;
    }
    let mut sums = vec![0.0; k];
    let mut tie_term = 0.0;
    for row in blocks {
        let (r, ties) = rank_row(row);
        for (s, x) in sums.iter_mut().zip(r) {
            *s += x;
        }
        tie_term += ties.iter().map(|&t| (t * t * t - t) as f64).sum::<f64>();
    }
    let (nf, kf) = (n as f64, k as f64);
    let correction = 1.0 - tie_term / (nf * (kf * kf * kf - kf));
    if correction <= 0.0 {
        return None;
    }
    let ssbn: f64 = sums.iter().map(|s| s * s).sum();
    let statistic = (12.0 / (kf * nf * (kf + 1.0)) * ssbn - 3.0 * nf * (kf + 1.0)) / correction;
    Some(Friedman {
        blocks: n,
        arms: k,
        statistic,
        p_value: chi2_sf(statistic, kf - 1.0),
        ranks: sums.iter().map(|s| s / nf).collect(),
    })
}

/// One arm against the control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VersusControl {
    pub arm: usize,
    pub z: f64,
    pub p_value: f64,
    /// After Holm's correction across the arms compared with the control.
    pub p_holm: f64,
}

impl Friedman {
    /// Every other arm against `control` by average rank.
    pub fn versus(&self, control: usize) -> Vec<VersusControl> {
        let (n, k) = (self.blocks as f64, self.arms as f64);
        let se = (k * (k + 1.0) / (6.0 * n)).sqrt();
        let mut out: Vec<VersusControl> = (0..self.arms)
            .filter(|&j| j != control)
            .map(|j| {
                let z = (self.ranks[j] - self.ranks[control]) / se;
                VersusControl {
                    arm: j,
                    z,
                    p_value: (2.0 * normal_sf(z.abs())).min(1.0),
                    p_holm: 1.0,
                }
            })
            .collect();
        let adjusted = holm::adjust(&out.iter().map(|v| v.p_value).collect::<Vec<_>>());
        for (v, p) in out.iter_mut().zip(adjusted) {
            v.p_holm = p;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_with_ties() {
        let (r, t) = rank_row(&[3.0, 1.0, 3.0, 2.0]);
        assert_eq!(r, [3.5, 1.0, 3.5, 2.0]);
        assert_eq!(t, [2]);
    }

    #[test]
    fn a_consistent_order_is_found() {
        // Arm 0 best in every block of six, arm 2 worst.
        let blocks: Vec<Vec<f64>> = (0..6).map(|b| vec![0.1, 0.5 + b as f64, 9.0]).collect();
        let f = friedman(&blocks).unwrap();
        assert_eq!(f.ranks, [1.0, 2.0, 3.0]);
        // Rank sums 6, 12, 18: (12/72 · 504 − 72) = 12.
        assert!((f.statistic - 12.0).abs() < 1e-12);
        assert!(f.p_value < 0.01);
        let v = f.versus(0);
        assert!(v[1].z > v[0].z && v[1].p_holm < v[0].p_holm.max(0.05));
        assert!(friedman(&blocks[..1]).is_none());
    }
}
