//! Intervals whose coverage holds at a handful of seeds.
//!
//! A percentile bootstrap of a mean over three seeds can only return values between the
//! seeds' minimum and maximum, so its "95%" interval covers far less than 95% (the unit test
//! below measures it). Student's t interval is exact for normal scores at any n ≥ 2 and is
//! the interval for an arm's mean and for a paired difference up to [`BCA_FROM`] values;
//! from there on the bias-corrected and accelerated bootstrap (as
//! `scipy.stats.bootstrap(method="BCa")`) is used, which follows skewed scores that the t
//! interval assumes away. Every interval says which it is.

use super::bootstrap::{quantile, Interval, Resamples};
use super::dist::{normal_cdf, normal_quantile, t_quantile, t_two_sided};
use super::summary::Spread;
use crate::rng::Rng;
use serde::Serialize;

/// From this many values on, intervals are BCa bootstraps.
pub const BCA_FROM: usize = 20;

/// How an interval was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Student's t on the values (exact for normal values at any n).
    T,
    /// The bias-corrected and accelerated bootstrap.
    Bca,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::T => "t",
            Method::Bca => "BCa",
        }
    }
}

/// An interval of a mean with the method that made it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanInterval {
    pub low: f64,
    pub high: f64,
    pub method: Method,
}

impl MeanInterval {
    pub fn interval(&self) -> Interval {
        Interval {
            low: self.low,
            high: self.high,
        }
    }

    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// Student's t interval of the mean of `values` at `level` (`None` below two values):
/// mean ± t₍₁₊ₗ₎/₂,ₙ₋₁ · s/√n, as `scipy.stats.ttest_1samp(x, 0).confidence_interval(level)`.
pub fn t_interval(values: &[f64], level: f64) -> Option<Interval> {
    let s = Spread::of(values)?;
    let sd = s.sd?;
    let se = sd / (s.n as f64).sqrt();
    let t = t_quantile(0.5 + level / 2.0, (s.n - 1) as f64);
    Some(Interval {
        low: s.mean - t * se,
        high: s.mean + t * se,
    })
}

/// The two-sided one-sample t-test of mean zero (`None` below two values; 1 when every
/// value is zero, NaN-free when they are all equal and non-zero: p = 0).
pub fn t_test(values: &[f64]) -> Option<f64> {
    let s = Spread::of(values)?;
    let sd = s.sd?;
    if sd == 0.0 {
        return Some(if s.mean == 0.0 { 1.0 } else { 0.0 });
    }
    let t = s.mean / (sd / (s.n as f64).sqrt());
    Some(t_two_sided(t, (s.n - 1) as f64))
}

/// The interval of the mean this module stands for: t below [`BCA_FROM`] values, BCa from
/// there (with `resamples` draws from the stream `seed`).
pub fn mean_interval(
    values: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Option<MeanInterval> {
    if values.len() < BCA_FROM {
        let i = t_interval(values, level)?;
        return Some(MeanInterval {
            low: i.low,
            high: i.high,
            method: Method::T,
        });
    }
    let mut draws = Resamples::new(values.len(), resamples, Rng::derive(seed, "bca.mean", 0));
    let mut idx = Vec::with_capacity(resamples);
    while let Some(i) = draws.next_indices() {
        idx.push(i.to_vec());
    }
    let i = bca_mean(values, &idx, level)?;
    Some(MeanInterval {
        low: i.low,
        high: i.high,
        method: Method::Bca,
    })
}

fn mean(x: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = x.len() as f64;
    x.sum::<f64>() / n
}

/// The BCa interval of the mean of `values` from the given resamples (each a list of
/// indices into `values`), scipy's way: z₀ = Φ⁻¹(share of resampled means below the
/// observed one, ties counted half); the acceleration from the jackknife,
/// â = Σ(θ̄ − θᵢ)³ / (6 (Σ(θ̄ − θᵢ)²)^{3/2}); the percentiles
/// α₁,₂ = Φ(z₀ + (z₀ + z)/(1 − â(z₀ + z))) for z = Φ⁻¹((1 ∓ level)/2), read off the
/// resampled means with linear interpolation.
pub fn bca_mean(values: &[f64], resamples: &[Vec<usize>], level: f64) -> Option<Interval> {
    let n = values.len();
    if n < 2 || resamples.is_empty() {
        return None;
    }
    let observed = mean(values.iter().copied());
    let mut dist: Vec<f64> = resamples
        .iter()
        .map(|idx| mean(idx.iter().map(|&i| values[i])))
        .collect();
    let below = dist.iter().filter(|&&t| t < observed).count() as f64;
    let at_or_below = dist.iter().filter(|&&t| t <= observed).count() as f64;
    let z0 = normal_quantile((below + at_or_below) / (2.0 * dist.len() as f64));
    let jack: Vec<f64> = (0..n)
        .map(|leave| {
            let rest: Vec<f64> = values
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != leave)
                .map(|(_, v)| *v)
                .collect();
            mean(rest.into_iter())
        })
        .collect();
    let jack_mean = mean(jack.iter().copied());
    let num: f64 = jack.iter().map(|t| (jack_mean - t).powi(3)).sum();
    let den = 6.0
        * jack
            .iter()
            .map(|t| (jack_mean - t).powi(2))
            .sum::<f64>()
            .powf(1.5);
    let accel = num / den;
    let alpha = (1.0 - level) / 2.0;
    let adjusted = |z: f64| normal_cdf(z0 + (z0 + z) / (1.0 - accel * (z0 + z)));
    let (a1, a2) = (
        adjusted(normal_quantile(alpha)),
        adjusted(normal_quantile(1.0 - alpha)),
    );
    if !(a1.is_finite() && a2.is_finite()) {
        return None;
    }
    dist.sort_by(f64::total_cmp);
    Some(Interval {
        low: quantile(&dist, a1),
        high: quantile(&dist, a2),
    })
}

#[cfg(test)]
mod tests {
    use super::super::bootstrap;
    use super::*;

    /// Of `sweeps` simulated sweeps of `n` paired seeds whose differences are drawn from
    /// N(Δ, σ²), the share whose interval covers Δ.
    fn coverage(n: usize, sweeps: usize, interval: impl Fn(&[f64], u64) -> Interval) -> f64 {
        let (delta, sigma) = (-0.3, 0.25);
        let mut rng = Rng::new(2026);
        let mut covered = 0;
        for s in 0..sweeps {
            let d: Vec<f64> = (0..n).map(|_| delta + sigma * rng.normal()).collect();
            if interval(&d, s as u64).contains(delta) {
                covered += 1;
            }
        }
        covered as f64 / sweeps as f64
    }

    #[test]
    fn the_t_interval_covers_at_three_and_ten_seeds_and_the_percentile_bootstrap_does_not() {
        for n in [3, 10] {
            let c = coverage(n, 2_000, |d, _| t_interval(d, 0.95).unwrap());
            assert!(
                (c - 0.95).abs() <= 0.02,
                "t interval at n = {n}: coverage {c}"
            );
        }
        // The finding that replaced it: at three seeds the percentile bootstrap of the mean
        // lies between the seeds' minimum and maximum, and three normal draws straddle their
        // mean only 75% of the time (1 − 2·(½)³), so its "95%" interval covers about 73%
        // (measured here: below 0.8 with 2,000 sweeps and 2,000 resamples each).
        let c = coverage(3, 2_000, |d, s| {
            bootstrap::mean_interval(d, 2_000, 0.95, s).unwrap()
        });
        assert!(c < 0.8, "percentile bootstrap at n = 3: coverage {c}");
    }

    #[test]
    fn from_twenty_values_the_interval_is_bca_and_still_covers() {
        let c = coverage(BCA_FROM, 400, |d, s| {
            let i = mean_interval(d, 0.95, 2_000, s).unwrap();
            assert_eq!(i.method, Method::Bca);
            i.interval()
        });
        assert!(
            (c - 0.95).abs() <= 0.04,
            "BCa at n = {BCA_FROM}: coverage {c}"
        );
        let i = mean_interval(&[1.0, 2.0, 4.0], 0.95, 2_000, 1).unwrap();
        assert_eq!(i.method, Method::T);
    }

    #[test]
    fn t_tests_by_hand() {
        // Mean 1, SD 1, n = 4: t = 2 on 3 degrees of freedom.
        let p = t_test(&[0.0, 1.0, 1.0, 2.0].map(|x| x + 0.0)).unwrap();
        let sd = (2.0f64 / 3.0).sqrt();
        let t = 1.0 / (sd / 2.0);
        assert!((p - t_two_sided(t, 3.0)).abs() < 1e-15);
        assert_eq!(t_test(&[0.0, 0.0]), Some(1.0));
        assert_eq!(t_test(&[0.5, 0.5]), Some(0.0));
        assert_eq!(t_test(&[0.5]), None);
    }
}
