//! A sweep's plan: the distinct stage computations its cells need, how many are cached
//! already, and the order that unblocks the most cells first (a cell whose uncached stages
//! many others share goes early, so that they find those stages in the cache).

use super::Sweep;
use crate::cache::StageCache;
use crate::stages::recipe::{recipes, Recipe};
use std::collections::{BTreeMap, BTreeSet};

/// The stages in the order they run, for reports.
pub const STAGES: [&str; 5] = ["features", "frames", "factor", "net", "transfer"];

/// Distinct computations of one stage across the sweep.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageCount {
    pub stage: &'static str,
    pub distinct: usize,
    pub cached: usize,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Each cell's computations, in cell order.
    pub recipes: Vec<Vec<Recipe>>,
    pub stages: Vec<StageCount>,
    /// Cell indices, the one to run first first.
    pub order: Vec<usize>,
    /// Per cell: over its uncached computations, how many other cells need each, summed.
    pub unblocks: Vec<usize>,
}

impl Plan {
    /// Each cell's claim priority (its place in [`Plan::order`]).
    pub fn priorities(&self) -> Vec<i64> {
        let mut p = vec![0; self.order.len()];
        for (rank, &cell) in self.order.iter().enumerate() {
            p[cell] = rank as i64;
        }
        p
    }
}

pub fn plan(sweep: &Sweep, cache: &StageCache) -> Plan {
    let per_cell: Vec<Vec<Recipe>> = sweep.cells.iter().map(|c| recipes(&c.spec)).collect();
    let mut users: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    let mut by_stage: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
    for (i, rs) in per_cell.iter().enumerate() {
        for r in rs {
            users.entry(&r.key).or_default().insert(i);
            by_stage
                .entry(r.stage)
                .or_default()
                .entry(&r.key)
                .or_insert_with(|| r.is_done(cache));
        }
    }
    let stages = STAGES
        .iter()
        .filter_map(|s| {
            by_stage.get(s).map(|keys| StageCount {
                stage: s,
                distinct: keys.len(),
                cached: keys.values().filter(|d| **d).count(),
            })
        })
        .collect();
    let unblocks: Vec<usize> = per_cell
        .iter()
        .map(|rs| {
            rs.iter()
                .filter(|r| !by_stage[r.stage][r.key.as_str()])
                .map(|r| users[r.key.as_str()].len() - 1)
                .sum()
        })
        .collect();
    let mut order: Vec<usize> = (0..per_cell.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(unblocks[i]), i));
    Plan {
        recipes: per_cell,
        stages,
        order,
        unblocks,
    }
}
