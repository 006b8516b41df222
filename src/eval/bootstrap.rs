//! Percentile bootstrap intervals, as `scipy.stats.bootstrap(method="percentile")` gives
//! them: resample the observations with replacement, compute the statistic on each
//! resample, and take the `(1 − level)/2` and `(1 + level)/2` quantiles of those values
//! with linear interpolation (numpy's and scipy's default quantile).
//!
//! Two kinds of observation are resampled here: seeds (one score per run of an arm, or one
//! paired difference per shared seed) and artists (a run's test tracks, one artist's tracks
//! drawn together because they are not independent of each other).

use crate::rng::Rng;
use serde::Serialize;

/// Resamples per interval unless told otherwise.
pub const RESAMPLES: usize = 10_000;
/// Confidence level of every interval unless told otherwise.
pub const LEVEL: f64 = 0.95;
/// Where every resampling stream is derived from, so that the same numbers always get the
/// same interval (each interval derives its own stream from what it is about).
pub const BOOTSTRAP_SEED: u64 = 20_180_423;

/// A two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    pub fn half_width(&self) -> f64 {
        (self.high - self.low) / 2.0
    }
}

/// The `p` quantile (0 ≤ p ≤ 1) of ascending `sorted` values, linearly interpolated between
/// the two nearest order statistics at position `p·(n − 1)` (Hyndman and Fan's 7th, written
/// as `scipy.stats.quantile` computes it, so that intervals agree to the last bits).
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "the quantile of no values");
    let n = sorted.len();
    let p = p.clamp(0.0, 1.0);
    let jg = p * n as f64 + (1.0 - p);
    let jp1 = jg.floor();
    let g = jg - jp1;
    let at = |k: f64| sorted[(k.max(0.0) as usize).min(n - 1)];
    (1.0 - g) * at(jp1 - 1.0) + g * at(jp1)
}

/// The percentile interval of a bootstrap distribution (sorted in place).
pub fn percentile_interval(distribution: &mut [f64], level: f64) -> Interval {
    distribution.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Interval {
        low: quantile(distribution, alpha),
        high: quantile(distribution, 1.0 - alpha),
    }
}

/// Draws `n` indices in `0..n` with replacement, `resamples` times, from `rng`.
pub struct Resamples {
    rng: Rng,
    n: usize,
    left: usize,
    buf: Vec<usize>,
}

impl Resamples {
    pub fn new(n: usize, resamples: usize, rng: Rng) -> Resamples {
        Resamples {
            rng,
            n,
            left: resamples,
            buf: vec![0; n],
        }
    }

    /// The next resample's indices, or `None` when all are drawn.
    pub fn next_indices(&mut self) -> Option<&[usize]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        for i in 0..self.n {
            self.buf[i] = self.rng.index(self.n);
        }
        Some(&self.buf)
    }
}

/// The bootstrap distribution of `statistic` over resamples of `n` observations, drawn by
/// `resamples`; `statistic` receives each resample's indices.
pub fn distribution(
    mut resamples: Resamples,
    mut statistic: impl FnMut(&[usize]) -> f64,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(resamples.left);
    while let Some(idx) = resamples.next_indices() {
        out.push(statistic(idx));
    }
    out
}

/// The percentile interval of the mean of `values` (`None` for fewer than two values, whose
/// resamples cannot vary).
pub fn mean_interval(values: &[f64], resamples: usize, level: f64, seed: u64) -> Option<Interval> {
    if values.len() < 2 {
        return None;
    }
    let draws = Resamples::new(
        values.len(),
        resamples,
        Rng::derive(seed, "bootstrap.mean", 0),
    );
    let mut dist = distribution(draws, |idx| {
        idx.iter().map(|&i| values[i]).sum::<f64>() / idx.len() as f64
    });
    Some(percentile_interval(&mut dist, level))
}

/// A statistic of a resample's summed vector.
pub type Statistic<'a> = dyn Fn(&[f64]) -> f64 + 'a;

/// Observations grouped into clusters that are resampled whole (a test set's artists):
/// each cluster contributes a vector of sums (a log-loss total and a track count, or a
/// confusion matrix), a resample adds its clusters' vectors and a statistic reads the total.
#[derive(Debug, Clone)]
pub struct Clusters {
    sums: Vec<Vec<f64>>,
}

impl Clusters {
    /// `sums[c]` is cluster `c`'s vector; all have one length.
    pub fn new(sums: Vec<Vec<f64>>) -> Clusters {
        debug_assert!(sums.windows(2).all(|w| w[0].len() == w[1].len()));
        Clusters { sums }
    }

    pub fn len(&self) -> usize {
        self.sums.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }

    /// The bootstrap distributions of `statistics` over one set of resamples of whole
    /// clusters (empty with fewer than two clusters).
    pub fn distributions(
        &self,
        resamples: usize,
        rng: Rng,
        statistics: &[&Statistic<'_>],
    ) -> Vec<Vec<f64>> {
        if self.sums.len() < 2 {
            return vec![Vec::new(); statistics.len()];
        }
        let mut total = vec![0.0; self.sums[0].len()];
        let mut dists: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); statistics.len()];
        let mut draws = Resamples::new(self.sums.len(), resamples, rng);
        while let Some(idx) = draws.next_indices() {
            total.iter_mut().for_each(|t| *t = 0.0);
            for &c in idx {
                for (t, v) in total.iter_mut().zip(&self.sums[c]) {
                    *t += v;
                }
            }
            for (d, s) in dists.iter_mut().zip(statistics) {
                d.push(s(&total));
            }
        }
        dists
    }

    /// The percentile intervals of `statistics` over one set of resamples of whole clusters
    /// (each `None` with fewer than two clusters, or when no resample defines it).
    pub fn intervals(
        &self,
        resamples: usize,
        level: f64,
        rng: Rng,
        statistics: &[&Statistic<'_>],
    ) -> Vec<Option<Interval>> {
        self.distributions(resamples, rng, statistics)
            .into_iter()
            .map(|mut d| {
                // A resample without a track a statistic needs leaves it undefined: such
                // draws say nothing about it and are dropped.
                d.retain(|x| x.is_finite());
                (!d.is_empty()).then(|| percentile_interval(&mut d, level))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        let x = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile(&x, 0.0), 1.0);
        assert_eq!(quantile(&x, 1.0), 8.0);
        // Position 0.5 · 3 = 1.5: halfway from 2 to 4.
        assert_eq!(quantile(&x, 0.5), 3.0);
        assert!((quantile(&x, 0.025) - 1.075).abs() < 1e-15);
    }

    #[test]
    fn a_mean_interval_covers_the_mean_and_shrinks_with_more_data() {
        let few: Vec<f64> = (0..5).map(|i| i as f64).collect();
        let many: Vec<f64> = (0..500).map(|i| (i % 5) as f64).collect();
        let a = mean_interval(&few, RESAMPLES, LEVEL, 1).unwrap();
        let b = mean_interval(&many, RESAMPLES, LEVEL, 1).unwrap();
        assert!(a.contains(2.0) && b.contains(2.0), "{a:?} {b:?}");
        assert!(b.half_width() < a.half_width() / 5.0, "{a:?} {b:?}");
        // Seeded: the same interval again.
        assert_eq!(a, mean_interval(&few, RESAMPLES, LEVEL, 1).unwrap());
        assert_eq!(mean_interval(&[3.0], RESAMPLES, LEVEL, 1), None);
    }

    #[test]
    fn clusters_are_drawn_whole() {
        // Two clusters of a hundred observations with means 0 and 1: a resample holds 0, 1
        // or 2 copies of the first, so its mean is 1, 0.5 or 0 and nothing else.
        let c = Clusters::new(vec![vec![0.0, 100.0], vec![100.0, 100.0]]);
        let mean = |t: &[f64]| t[0] / t[1];
        let d = &c.distributions(1000, Rng::new(3), &[&mean])[0];
        let seen: std::collections::BTreeSet<i64> =
            d.iter().map(|m| (m * 2.0).round() as i64).collect();
        assert!(d.iter().all(|m| [0.0, 0.5, 1.0].contains(m)));
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [0, 1, 2]);
        let i = c.intervals(1000, 0.95, Rng::new(3), &[&mean])[0].unwrap();
        assert_eq!((i.low, i.high), (0.0, 1.0));
        assert_eq!(
            Clusters::new(vec![vec![1.0, 1.0]]).intervals(10, 0.95, Rng::new(3), &[&mean]),
            [None]
        );
    }
}
