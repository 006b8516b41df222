//! Factorial effects of a full grid: the exact decomposition of the cells' means into a
//! grand mean, each axis's main effects and each pair of axes' two-way interactions (the
//! cell means of a two-axis grid are exactly the sum of these; with more axes the rest is
//! the higher-order interactions, not reported).
//!
//! Each effect is computed seed by seed (every cell of the grid run on the same seeds, so
//! seeds pair across cells), and its interval is Student's t over the seeds' effects; the
//! mean of the seeds' effects is the effect of the mean table, because the decomposition is
//! linear.

use super::bootstrap::Interval;
use super::small_n::t_interval;
use serde::Serialize;

/// One effect: an axis level (`levels` one long) or a pair of levels of two axes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    /// Axis indices.
    pub axes: Vec<usize>,
    /// Level indices, one per axis.
    pub levels: Vec<usize>,
    /// Mean over seeds.
    pub mean: f64,
    pub interval: Option<Interval>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effects {
    pub grand_mean: f64,
    pub seeds: usize,
    pub main: Vec<Effect>,
    pub interactions: Vec<Effect>,
}

/// A full grid: `shape[a]` levels per axis, and for every cell (row-major over the axes,
/// the last axis fastest) one value per seed, seeds in one order for all cells.
pub fn effects(shape: &[usize], cells: &[Vec<f64>], level: f64) -> Option<Effects> {
    let size: usize = shape.iter().product();
    if shape.len() < 2 || shape.iter().any(|&l| l < 2) || cells.len() != size {
        return None;
    }
    let seeds = cells[0].len();
    if seeds == 0 || cells.iter().any(|c| c.len() != seeds) {
        return None;
    }
    // The index of each cell along each axis.
    let coords: Vec<Vec<usize>> = (0..size)
        .map(|mut i| {
            let mut c = vec![0; shape.len()];
            for a in (0..shape.len()).rev() {
                c[a] = i % shape[a];
                i /= shape[a];
            }
            c
        })
        .collect();
    let mean_where = |s: usize, keep: &dyn Fn(&[usize]) -> bool| -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        for (cell, c) in cells.iter().zip(&coords) {
            if keep(c) {
                sum += cell[s];
                n += 1;
            }
        }
        sum / n as f64
    };
    let grand: Vec<f64> = (0..seeds).map(|s| mean_where(s, &|_| true)).collect();
    let summarise = |per_seed: Vec<f64>| -> (f64, Option<Interval>) {
        let m = per_seed.iter().sum::<f64>() / per_seed.len() as f64;
        (m, t_interval(&per_seed, level))
    };
    let main_of = |s: usize, a: usize, l: usize| mean_where(s, &|c| c[a] == l) - grand[s];
    let mut main = Vec::new();
    for (a, &levels) in shape.iter().enumerate() {
        for l in 0..levels {
            let (mean, interval) = summarise((0..seeds).map(|s| main_of(s, a, l)).collect());
            main.push(Effect {
                axes: vec![a],
                levels: vec![l],
                mean,
                interval,
            });
        }
    }
    let mut interactions = Vec::new();
    for a in 0..shape.len() {
        for b in a + 1..shape.len() {
            for la in 0..shape[a] {
                for lb in 0..shape[b] {
                    let per_seed = (0..seeds)
                        .map(|s| {
                            mean_where(s, &|c| c[a] == la && c[b] == lb)
                                - main_of(s, a, la)
                                - main_of(s, b, lb)
                                - grand[s]
                        })
                        .collect();
                    let (mean, interval) = summarise(per_seed);
                    interactions.push(Effect {
                        axes: vec![a, b],
                        levels: vec![la, lb],
                        mean,
                        interval,
                    });
                }
            }
        }
    }
    Some(Effects {
        grand_mean: grand.iter().sum::<f64>() / seeds as f64,
        seeds,
        main,
        interactions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_axis_grid_is_the_sum_of_its_effects() {
        // 2 × 3 grid, three seeds, values with a known structure plus seed noise.
        let shape = [2, 3];
        let truth = |i: usize, j: usize| {
            1.0 + [0.5, -0.5][i] + [0.2, 0.0, -0.2][j] + if (i, j) == (0, 0) { 0.3 } else { 0.0 }
        };
        let noise = [0.01, -0.02, 0.01];
        let cells: Vec<Vec<f64>> = (0..6)
            .map(|k| {
                noise
                    .iter()
                    .map(|e| truth(k / 3, k % 3) + e * (1 + k) as f64)
                    .collect()
            })
            .collect();
        let e = effects(&shape, &cells, 0.95).unwrap();
        let means: Vec<f64> = cells.iter().map(|c| c.iter().sum::<f64>() / 3.0).collect();
        for i in 0..2 {
            for j in 0..3 {
                let m = e.grand_mean
                    + e.main[i].mean
                    + e.main[2 + j].mean
                    + e.interactions[i * 3 + j].mean;
                assert!((m - means[i * 3 + j]).abs() < 1e-12, "{i} {j}");
            }
        }
        // Main effects sum to zero over an axis's levels.
        assert!((e.main[0].mean + e.main[1].mean).abs() < 1e-12);
        assert!(e.main[0].mean > 0.5 && e.main[0].interval.unwrap().low > 0.0);
        assert!(effects(&[2], &cells[..2], 0.95).is_none());
    }
}
