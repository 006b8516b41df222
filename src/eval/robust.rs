//! The aggregates of Agarwal et al. (2021), with `rliable`'s semantics: the interquartile
//! mean, the probability that one arm's run beats another's, performance profiles, and the
//! stratified bootstrap that gives each of them an interval.
//!
//! Scores are held per task (here a task is a world, or any block the runs are stratified
//! by) as each task's runs. rliable's matrices are runs × tasks; its stratified bootstrap
//! draws, for every run slot of every task, a run of that task with replacement (so tasks
//! are never mixed), computes the statistic on each resampled matrix and takes the
//! percentile interval (numpy's linear quantiles at (1 ∓ level)/2). For a pair of arms the
//! two are resampled independently (rliable's `StratifiedIndependentBootstrap`).

use super::bootstrap::{quantile, Interval};
use crate::rng::Rng;

/// One arm's scores: `tasks[t][r]` is run `r` on task `t` (every task the same run count,
/// as rliable's matrices have).
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub tasks: Vec<Vec<f64>>,
}

impl Scores {
    /// One task.
    pub fn single(runs: Vec<f64>) -> Scores {
        Scores { tasks: vec![runs] }
    }

    pub fn runs(&self) -> usize {
        self.tasks.first().map_or(0, Vec::len)
    }

    fn all(&self) -> impl Iterator<Item = f64> + '_ {
        self.tasks.iter().flatten().copied()
    }

    /// The scores resampled by `idx[t][r]` (run `idx[t][r]` of task `t` in slot `r`).
    pub fn resampled(&self, idx: &[Vec<usize>]) -> Scores {
        Scores {
            tasks: self
                .tasks
                .iter()
                .zip(idx)
                .map(|(runs, ix)| ix.iter().map(|&i| runs[i]).collect())
                .collect(),
        }
    }

    /// Fill `into` (shaped as `self`) with a stratified resample drawn from `rng`: each
    /// task's slots, in order, a run of that task.
    fn draw_into(&self, rng: &mut Rng, into: &mut Scores) {
        for (runs, slots) in self.tasks.iter().zip(&mut into.tasks) {
            for slot in slots.iter_mut() {
                *slot = runs[rng.index(runs.len())];
            }
        }
    }
}

/// The interquartile mean of all scores: `scipy.stats.trim_mean(x, 0.25)`, which sorts the
/// values and drops ⌊n/4⌋ from each end.
pub fn iqm(scores: &Scores) -> f64 {
    let mut v: Vec<f64> = scores.all().collect();
    v.sort_by(f64::total_cmp);
    let cut = v.len() / 4;
    let kept = &v[cut..v.len() - cut];
    kept.iter().sum::<f64>() / kept.len() as f64
}

/// P(X > Y): per task the Mann–Whitney share of (x run, y run) pairs that x wins, a tie
/// counting one half (rliable takes a task on which the two arms' runs are identical as ½,
/// which this gives too), averaged over tasks. Higher scores win: pass negated scores for
/// a lower-is-better score.
pub fn probability_of_improvement(x: &Scores, y: &Scores) -> f64 {
    let total: f64 = x
        .tasks
        .iter()
        .zip(&y.tasks)
        .map(|(xs, ys)| {
            if xs == ys {
                return 0.5;
            }
            let mut u = 0.0;
            for a in xs {
                for b in ys {
                    u += if a > b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            u / (xs.len() * ys.len()) as f64
        })
        .sum();
    total / x.tasks.len().min(y.tasks.len()) as f64
}

/// The score distribution (performance profile): for each threshold τ, the share of runs
/// scoring above τ (strictly), averaged over tasks.
pub fn profile(scores: &Scores, taus: &[f64]) -> Vec<f64> {
    taus.iter()
        .map(|&tau| {
            let per_task: f64 = scores
                .tasks
                .iter()
                .map(|runs| runs.iter().filter(|&&s| s > tau).count() as f64 / runs.len() as f64)
                .sum();
            per_task / scores.tasks.len() as f64
        })
        .collect()
}

/// The percentile interval at `level` of statistics computed on resamples.
pub fn percentile(mut values: Vec<f64>, level: f64) -> Option<Interval> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Some(Interval {
        low: quantile(&values, alpha),
        high: quantile(&values, 1.0 - alpha),
    })
}

/// The stratified-bootstrap interval of `statistic` over `reps` resamples from `rng`.
pub fn stratified_interval(
    scores: &Scores,
    statistic: impl Fn(&Scores) -> f64,
    reps: usize,
    level: f64,
    mut rng: Rng,
) -> Option<Interval> {
    if scores.runs() < 2 {
        return None;
    }
    let mut resample = scores.clone();
    let values = (0..reps)
        .map(|_| {
            scores.draw_into(&mut rng, &mut resample);
            statistic(&resample)
        })
        .collect();
    percentile(values, level)
}

/// The interval of P(X > Y), `x` and `y` resampled independently, each stratified.
pub fn improvement_interval(
    x: &Scores,
    y: &Scores,
    reps: usize,
    level: f64,
    mut rng: Rng,
) -> Option<Interval> {
    if x.runs() < 2 && y.runs() < 2 {
        return None;
    }
    let (mut xr, mut yr) = (x.clone(), y.clone());
    let values = (0..reps)
        .map(|_| {
            x.draw_into(&mut rng, &mut xr);
            y.draw_into(&mut rng, &mut yr);
            probability_of_improvement(&xr, &yr)
        })
        .collect();
    percentile(values, level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // Eight values: drop two from each end, mean of 3, 4, 5, 6.
        let s = Scores::single(vec![8.0, 1.0, 7.0, 2.0, 6.0, 3.0, 5.0, 4.0]);
        assert_eq!(iqm(&s), 4.5);
        let x = Scores::single(vec![1.0, 3.0]);
        let y = Scores::single(vec![2.0, 3.0]);
        // Pairs (1,2) lose, (1,3) lose, (3,2) win, (3,3) tie: 1.5 of 4.
        assert_eq!(probability_of_improvement(&x, &y), 0.375);
        assert_eq!(probability_of_improvement(&x, &x), 0.5);
        assert_eq!(profile(&x, &[0.0, 1.0, 3.0]), [1.0, 0.5, 0.0]);
        let i = stratified_interval(&s, iqm, 500, 0.95, Rng::new(1)).unwrap();
        assert!(i.low <= 4.5 && 4.5 <= i.high);
    }
}
