//! Variance by its sources: how much of a score's spread over runs comes from the world
//! (`dataset.seed`), from the split drawn in it (`split.seed`) and from training
//! (`train_seed`), after Bouthillier et al. (2021).
//!
//! The design is nested: split seed 1 in one world and split seed 1 in another are unrelated
//! splits, and so are training seeds under different splits. For a balanced nested design
//! (a worlds, b splits in each, c trainings in each split, one score per training) the
//! estimator is the classical analysis of variance with expected mean squares (method of
//! moments):
//!
//! - MS_A = bc Σ(ȳᵢ·· − ȳ)²/(a − 1), MS_B(A) = c ΣΣ(ȳᵢⱼ· − ȳᵢ··)²/(a(b − 1)),
//!   MS_C(B) = ΣΣΣ(yᵢⱼₖ − ȳᵢⱼ·)²/(ab(c − 1));
//! - σ²_train = MS_C(B), σ²_split = (MS_B(A) − MS_C(B))/c, σ²_world = (MS_A − MS_B(A))/(bc).
//!
//! These are unbiased but can come out negative when a source contributes nothing beyond
//! the noise below it; the report shows such an estimate as 0 and says so. For a balanced
//! design they equal REML's estimates whenever those are positive.

use serde::Serialize;

/// The three sources, outermost first.
pub const SOURCES: [&str; 3] = [
    "world (dataset.seed)",
    "split (split.seed)",
    "training (train_seed)",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Components {
    /// Levels per source: worlds, splits per world, trainings per split.
    pub levels: [usize; 3],
    /// Mean squares and their degrees of freedom, outermost first.
    pub mean_squares: [f64; 3],
    pub df: [usize; 3],
    /// The unbiased estimates, possibly negative.
    pub raw: [f64; 3],
}

impl Components {
    /// The estimates with negatives set to zero.
    pub fn truncated(&self) -> [f64; 3] {
        self.raw.map(|v| v.max(0.0))
    }

    /// Each source's share of the (truncated) total.
    pub fn shares(&self) -> [f64; 3] {
        let t = self.truncated();
        let total: f64 = t.iter().sum();
        if total > 0.0 {
            t.map(|v| v / total)
        } else {
            [0.0; 3]
        }
    }
}

/// The components of `y[world][split][training]`, balanced (every world the same number of
/// splits, every split the same number of trainings); `None` otherwise, or when no source
/// has two levels. A source with one level gets zero degrees of freedom and no estimate
/// (reported as 0).
pub fn nested(y: &[Vec<Vec<f64>>]) -> Option<Components> {
    let a = y.len();
    let b = y.first()?.len();
    let c = y.first()?.first()?.len();
    if a == 0 || b == 0 || c == 0 {
        return None;
    }
    if y.iter()
        .any(|w| w.len() != b || w.iter().any(|s| s.len() != c))
    {
        return None;
    }
    if a < 2 && b < 2 && c < 2 {
        return None;
    }
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let split_means: Vec<Vec<f64>> = y
        .iter()
        .map(|w| w.iter().map(|s| mean(s)).collect())
        .collect();
    let world_means: Vec<f64> = split_means.iter().map(|w| mean(w)).collect();
    let grand = mean(&world_means);
    let (bf, cf) = (b as f64, c as f64);
    let ss_a: f64 = bf * cf * world_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let ss_b: f64 = cf
        * split_means
            .iter()
            .zip(&world_means)
            .map(|(w, m)| w.iter().map(|s| (s - m).powi(2)).sum::<f64>())
            .sum::<f64>();
    let ss_c: f64 = y
        .iter()
        .zip(&split_means)
        .map(|(w, ms)| {
            w.iter()
                .zip(ms)
                .map(|(s, m)| s.iter().map(|v| (v - m).powi(2)).sum::<f64>())
                .sum::<f64>()
        })
        .sum();
    let df = [a - 1, a * (b - 1), a * b * (c - 1)];
    let ms = |ss: f64, d: usize| if d > 0 { ss / d as f64 } else { 0.0 };
    let mean_squares = [ms(ss_a, df[0]), ms(ss_b, df[1]), ms(ss_c, df[2])];
    let train = if df[2] > 0 { mean_squares[2] } else { 0.0 };
    let split = if df[1] > 0 {
        (mean_squares[1] - train) / cf
    } else {
        0.0
    };
    let world = if df[0] > 0 {
        (mean_squares[0] - if df[1] > 0 { mean_squares[1] } else { train }) / (bf * cf)
    } else {
        0.0
    };
    Some(Components {
        levels: [a, b, c],
        mean_squares,
        df,
        raw: [world, split, train],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_training_noise_is_found_as_such() {
        // Every world and split alike; trainings differ by ±1: σ²_train = 2 (n − 1 = 1 per
        // split, deviations ±1 → SS 2 per split), σ²_split = (0 − 2)/2 < 0, shown as 0.
        let y = vec![vec![vec![-1.0, 1.0]; 3]; 2];
        let c = nested(&y).unwrap();
        assert_eq!(c.df, [1, 4, 6]);
        assert!((c.raw[2] - 2.0).abs() < 1e-12);
        assert!(c.raw[1] < 0.0 && c.truncated()[1] == 0.0);
        assert_eq!(c.shares()[2], 1.0);
        assert!(nested(&[vec![vec![1.0, 2.0]], vec![vec![1.0]]]).is_none());
    }
}
