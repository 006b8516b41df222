//! What a sweep's design allows beyond arm-against-baseline: the arms ranked over shared
//! seeds (Friedman, each arm against the baseline by rank; a critical-difference diagram
//! draws it), the variance of a score split by its sources when the sweep varies the world,
//! split and training seeds separately, and the factorial effects of a full grid.

use super::arm::value_text;
use super::sweep::{ArmRow, ScoreTable, SweepComparison};
use crate::eval::factorial::{self, Effects};
use crate::eval::friedman::{self, Friedman, VersusControl};
use crate::eval::variance::{self, Components};
use crate::record::RunId;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The keys that only pick seeds: never factors of a design.
pub const SEED_KEYS: [&str; 4] = ["seed", "dataset.seed", "split.seed", "train_seed"];

/// At least this many arms and blocks for a ranking.
pub const RANKING_FROM: usize = 3;

/// The arms ranked over the seeds every one of them has.
#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    /// Arm indices, in the order of `friedman.ranks`.
    pub arms: Vec<usize>,
    /// The shared seeds (blocks).
    pub blocks: Vec<Option<i64>>,
    pub friedman: Friedman,
    /// Position in `arms` of the baseline arm, when one is among them.
    pub control: Option<usize>,
    /// Every other arm against the control, Holm-corrected.
    pub versus: Vec<VersusControl>,
}

pub fn ranking(c: &SweepComparison, t: &ScoreTable) -> Option<Ranking> {
    if t.rows.len() < RANKING_FROM {
        return None;
    }
    let per_row: Vec<BTreeMap<Option<i64>, f64>> = t
        .rows
        .iter()
        .map(|r| r.values.iter().map(|v| (v.0, v.2)).collect())
        .collect();
    let blocks: Vec<Option<i64>> = per_row[0]
        .keys()
        .filter(|s| per_row.iter().all(|m| m.contains_key(s)))
        .copied()
        .collect();
    if blocks.len() < RANKING_FROM {
        return None;
    }
    // Rank 1 is the best: higher-is-better scores negated.
    let sign = if t.lower_is_better { 1.0 } else { -1.0 };
    let table: Vec<Vec<f64>> = blocks
        .iter()
        .map(|s| per_row.iter().map(|m| sign * m[s]).collect())
        .collect();
    let f = friedman::friedman(&table)?;
    let arms: Vec<usize> = t.rows.iter().map(|r| r.arm).collect();
    let control = arms.iter().position(|&a| c.arms[a].is_baseline);
    let versus = control.map(|k| f.versus(k)).unwrap_or_default();
    Some(Ranking {
        arms,
        blocks,
        friedman: f,
        control,
        versus,
    })
}

/// The variance of a score within one configuration (an arm without its seed keys),
/// split by source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSplit {
    /// The configuration's other axes, `key=value …`, or empty.
    pub configuration: String,
    pub runs: usize,
    pub components: Components,
}

/// The configurations whose runs form a balanced nested design with at least two of the
/// three seed sources varied.
pub fn variance_sources(c: &SweepComparison, t: &ScoreTable) -> Vec<SourceSplit> {
    let mut configs: BTreeMap<String, Vec<(RunId, f64)>> = BTreeMap::new();
    for r in &t.rows {
        let mut arm = c.arms[r.arm].arm.clone();
        for k in SEED_KEYS {
            arm = arm.without(k);
        }
        let label = if arm.pairs.is_empty() {
            String::new()
        } else {
            arm.label()
        };
        configs
            .entry(label)
            .or_default()
            .extend(r.values.iter().map(|v| (v.1, v.2)));
    }
    let mut out = Vec::new();
    for (configuration, runs) in configs {
        type Nest = BTreeMap<i64, BTreeMap<i64, BTreeMap<i64, f64>>>;
        let mut nest: Nest = BTreeMap::new();
        let mut complete = true;
        for (run, v) in &runs {
            let Some(s) = c.run_seeds.get(run) else {
                complete = false;
                break;
            };
            let (Some(w), Some(sp), Some(tr)) = (s.world, s.split, s.train) else {
                complete = false;
                break;
            };
            nest.entry(w)
                .or_default()
                .entry(sp)
                .or_default()
                .insert(tr, *v);
        }
        if !complete {
            continue;
        }
        let y: Vec<Vec<Vec<f64>>> = nest
            .values()
            .map(|w| w.values().map(|s| s.values().copied().collect()).collect())
            .collect();
        let Some(components) = variance::nested(&y) else {
            continue;
        };
        if components.levels.iter().filter(|&&l| l > 1).count() < 2 {
            continue;
        }
        out.push(SourceSplit {
            configuration,
            runs: runs.len(),
            components,
        });
    }
    out
}

/// A full grid's effects on one score.
#[derive(Debug, Clone, Serialize)]
pub struct Factorial {
    pub axes: Vec<String>,
    pub levels: Vec<Vec<String>>,
    pub effects: Effects,
}

/// The factorial effects of the sweep's non-seed axes, when they form a full grid of two
/// axes or more whose cells share at least two seeds.
pub fn factorial(c: &SweepComparison, t: &ScoreTable) -> Option<Factorial> {
    let axes: Vec<String> = c
        .axes
        .iter()
        .filter(|a| !SEED_KEYS.contains(&a.as_str()))
        .cloned()
        .collect();
    if axes.len() < 2 {
        return None;
    }
    let mut levels: Vec<Vec<Value>> = vec![Vec::new(); axes.len()];
    for r in &t.rows {
        for (a, key) in axes.iter().enumerate() {
            let v = c.arms[r.arm].arm.get(key)?;
            if !levels[a].contains(v) {
                levels[a].push(v.clone());
            }
        }
    }
    for l in &mut levels {
        if l.iter().all(|v| v.as_f64().is_some()) {
            l.sort_by(|a, b| {
                a.as_f64()
                    .unwrap_or(0.0)
                    .total_cmp(&b.as_f64().unwrap_or(0.0))
            });
        }
    }
    let shape: Vec<usize> = levels.iter().map(Vec::len).collect();
    let size: usize = shape.iter().product();
    // Each grid cell's row (an arm may carry seed axes too: then it is not one row a cell).
    let mut rows: Vec<Option<&ArmRow>> = vec![None; size];
    for r in &t.rows {
        let mut index = 0;
        for (a, key) in axes.iter().enumerate() {
            let v = c.arms[r.arm].arm.get(key)?;
            index = index * shape[a] + levels[a].iter().position(|l| l == v)?;
        }
        if rows[index].is_some() {
            return None;
        }
        rows[index] = Some(r);
    }
    let rows: Vec<&ArmRow> = rows.into_iter().collect::<Option<_>>()?;
    let seeds: BTreeSet<Option<i64>> = rows[0]
        .values
        .iter()
        .map(|v| v.0)
        .filter(|s| rows.iter().all(|r| r.values.iter().any(|v| v.0 == *s)))
        .collect();
    if seeds.len() < 2 {
        return None;
    }
    let cells: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            seeds
                .iter()
                .map(|s| {
                    r.values
                        .iter()
                        .find(|v| v.0 == *s)
                        .map(|v| v.2)
                        .unwrap_or(f64::NAN)
                })
                .collect()
        })
        .collect();
    let effects = factorial::effects(&shape, &cells, crate::eval::bootstrap::LEVEL)?;
    Some(Factorial {
        axes,
        levels: levels
            .iter()
            .map(|l| l.iter().map(value_text).collect())
            .collect(),
        effects,
    })
}
