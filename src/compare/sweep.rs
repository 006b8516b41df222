//! A sweep's arms compared over their seeds.
//!
//! Per model and score, one row per arm: the number of seeds, mean ± sample SD, a 95%
//! percentile-bootstrap interval of the mean over seeds; against the baseline arm (the arm
//! with the baseline's values and this arm's other axes), the paired difference over the
//! seeds both have with its interval, the share of those seeds on which the arm is better,
//! and with six pairs or more the exact signed-rank test, Holm-corrected across the arms
//! compared with a baseline. Next to the spread over seeds, the mean half-width of each
//! run's test-set interval from a bootstrap over artists, so that the two sources of
//! uncertainty can be weighed.

use super::{Arm, CompareError, Score, BOOTSTRAP_SEED, SCORES};
use crate::eval::bootstrap::{mean_interval, Interval, LEVEL, RESAMPLES};
use crate::eval::holm;
use crate::eval::summary::Spread;
use crate::eval::wilcoxon::{self, SignedRank};
use crate::record::{metric, ModelName, RunId, SplitKey};
use crate::rng::Rng;
use crate::store::{Cell, CellStatus, Store};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One arm's cells.
#[derive(Debug, Clone, Serialize)]
pub struct ArmCells {
    pub arm: Arm,
    pub is_baseline: bool,
    /// Done cells: (seed, run), by seed.
    pub runs: Vec<(Option<i64>, RunId)>,
    pub unfinished: usize,
    pub failed: usize,
}

/// The paired comparison of an arm with its baseline arm on one score.
#[derive(Debug, Clone, Serialize)]
pub struct Versus {
    /// Index into [`SweepComparison::arms`].
    pub baseline: usize,
    /// Seeds both arms have.
    pub pairs: usize,
    /// Mean of (arm − baseline) over those seeds.
    pub mean: f64,
    pub interval: Option<Interval>,
    /// Seeds on which the arm scores better.
    pub wins: usize,
    /// The exact signed-rank test, with [`wilcoxon::MIN_PAIRS`] pairs or more.
    pub test: Option<SignedRank>,
    /// Its p-value after Holm's correction across the arms of this table.
    pub p_holm: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmRow {
    /// Index into [`SweepComparison::arms`].
    pub arm: usize,
    /// (seed, run, value), by seed.
    pub values: Vec<(Option<i64>, RunId, f64)>,
    pub spread: Spread,
    /// Of the mean over seeds; `None` with one seed.
    pub interval: Option<Interval>,
    /// Mean half-width of the runs' artist-bootstrap intervals (test-set uncertainty).
    pub test_set: Option<f64>,
    pub versus: Option<Versus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreTable {
    #[serde(skip)]
    pub score: Score,
    pub label: &'static str,
    pub lower_is_better: bool,
    pub rows: Vec<ArmRow>,
    /// Why no p-value is given, when none is.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelComparison {
    pub model: ModelName,
    pub tables: Vec<ScoreTable>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepComparison {
    pub name: String,
    pub spec_path: String,
    pub baseline: Arm,
    /// The swept keys (the seed apart).
    pub axes: Vec<String>,
    pub seeds: Vec<i64>,
    pub arms: Vec<ArmCells>,
    /// Genre models scored in every done run, the headline model first.
    pub models: Vec<ModelComparison>,
    pub cells: Vec<Cell>,
}

impl SweepComparison {
    /// The arm a model's table compares `arm` with, if the sweep has it.
    pub fn baseline_of(&self, arm: usize) -> Option<usize> {
        let target = self.arms[arm].arm.with(&self.baseline);
        self.arms.iter().position(|a| a.arm == target)
    }

    pub fn model(&self, model: &ModelName) -> Option<&ModelComparison> {
        self.models.iter().find(|m| &m.model == model)
    }
}

/// Compare the arms of the sweep `name`.
pub fn compare(store: &Store, name: &str) -> Result<SweepComparison, CompareError> {
    let summary = store
        .sweeps()?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| CompareError::NoSuchSweep { name: name.into() })?;
    let cells = store.cells(name)?;
    let baseline = Arm::parse(&summary.baseline);
    let mut arms: Vec<ArmCells> = Vec::new();
    for c in &cells {
        let arm = Arm::parse(&c.arm);
        let i = match arms.iter().position(|a| a.arm == arm) {
            Some(i) => i,
            None => {
                arms.push(ArmCells {
                    is_baseline: !baseline.pairs.is_empty() && arm.matches(&baseline),
                    arm,
                    runs: Vec::new(),
                    unfinished: 0,
                    failed: 0,
                });
                arms.len() - 1
            }
        };
        match (c.status, c.run_id) {
            (CellStatus::Done, Some(run)) => arms[i].runs.push((c.seed, run)),
            (CellStatus::Failed, _) => arms[i].failed += 1,
            _ => arms[i].unfinished += 1,
        }
    }
    for a in &mut arms {
        a.runs.sort();
    }
    let axes: Vec<String> = {
        let mut seen = BTreeSet::new();
        arms.iter()
            .flat_map(|a| a.arm.pairs.iter().map(|(k, _)| k.clone()))
            .filter(|k| seen.insert(k.clone()))
            .collect()
    };
    let seeds: Vec<i64> = cells
        .iter()
        .filter_map(|c| c.seed)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let done: Vec<RunId> = arms
        .iter()
        .flat_map(|a| a.runs.iter().map(|r| r.1))
        .collect();
    let mut scores: BTreeMap<(RunId, String, SplitKey, String), f64> = BTreeMap::new();
    // Genre models: those with a test log loss in every done run.
    let mut common: Option<BTreeSet<String>> = None;
    for &run in &done {
        let mut here = BTreeSet::new();
        for m in store.metrics(run)? {
            if let Some(v) = m.value {
                if m.split == SplitKey::Test && m.name == metric::LOG_LOSS {
                    here.insert(m.model.to_string());
                }
                scores.insert((run, m.model.to_string(), m.split, m.name.clone()), v);
            }
        }
        common = Some(match common {
            None => here,
            Some(c) => c.intersection(&here).cloned().collect(),
        });
    }
    let mut models: Vec<ModelName> = common
        .unwrap_or_default()
        .iter()
        .filter_map(|m| ModelName::parse(m))
        .collect();
    models.sort_by_key(|m| match m {
        ModelName::Transfer => 0,
        ModelName::Net(_) => 1,
        ModelName::Baseline => 2,
        ModelName::BaselineOn(_) => 3,
        _ => 4,
    });
    let mut comparison = SweepComparison {
        name: name.to_string(),
        spec_path: summary.spec_path,
        baseline,
        axes,
        seeds,
        arms,
        models: Vec::new(),
        cells,
    };
    for model in models {
        let mut tables = Vec::new();
        for score in SCORES {
            let key = model.to_string();
            let value = |run: RunId| {
                scores
                    .get(&(run, key.clone(), score.split, score.name.to_string()))
                    .copied()
            };
            if comparison
                .arms
                .iter()
                .all(|a| a.runs.iter().all(|r| value(r.1).is_none()))
            {
                continue;
            }
            // Each run's interval from its test set's artists, recorded when it was scored.
            let [low, high] = metric::artist_interval(score.name);
            let half_widths = |runs: &[(Option<i64>, RunId, f64)]| -> Option<f64> {
                let widths: Vec<f64> = runs
                    .iter()
                    .filter_map(|(_, run, _)| {
                        let at = |n: &str| {
                            scores
                                .get(&(*run, key.clone(), score.split, n.to_string()))
                                .copied()
                        };
                        Some((at(&high)? - at(&low)?) / 2.0)
                    })
                    .collect();
                (!widths.is_empty()).then(|| widths.iter().sum::<f64>() / widths.len() as f64)
            };
            let mut rows = Vec::new();
            for (i, a) in comparison.arms.iter().enumerate() {
                let values: Vec<(Option<i64>, RunId, f64)> = a
                    .runs
                    .iter()
                    .filter_map(|&(seed, run)| value(run).map(|v| (seed, run, v)))
                    .collect();
                let plain: Vec<f64> = values.iter().map(|v| v.2).collect();
                let Some(spread) = Spread::of(&plain) else {
                    continue;
                };
                let interval = mean_interval(
                    &plain,
                    RESAMPLES,
                    LEVEL,
                    stream(name, &key, &score, &a.arm, "mean"),
                );
                rows.push(ArmRow {
                    arm: i,
                    test_set: half_widths(&values),
                    values,
                    spread,
                    interval,
                    versus: None,
                });
            }
            // Paired differences to each row's baseline arm.
            let by_arm: BTreeMap<usize, usize> =
                rows.iter().enumerate().map(|(k, r)| (r.arm, k)).collect();
            for k in 0..rows.len() {
                let arm = rows[k].arm;
                let Some(b) = comparison.baseline_of(arm).filter(|&b| b != arm) else {
                    continue;
                };
                let Some(&bk) = by_arm.get(&b) else {
                    continue;
                };
                let base: BTreeMap<Option<i64>, f64> =
                    rows[bk].values.iter().map(|v| (v.0, v.2)).collect();
                let pairs: Vec<(f64, f64)> = rows[k]
                    .values
                    .iter()
                    .filter_map(|v| base.get(&v.0).map(|b| (v.2, *b)))
                    .collect();
                if pairs.is_empty() {
                    continue;
                }
                let diffs: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
                let wins = pairs.iter().filter(|(a, b)| score.better(*a, *b)).count();
                rows[k].versus = Some(Versus {
                    baseline: b,
                    pairs: pairs.len(),
                    mean: diffs.iter().sum::<f64>() / diffs.len() as f64,
                    interval: mean_interval(
                        &diffs,
                        RESAMPLES,
                        LEVEL,
                        stream(name, &key, &score, &comparison.arms[arm].arm, "difference"),
                    ),
                    wins,
                    test: (diffs.len() >= wilcoxon::MIN_PAIRS)
                        .then(|| wilcoxon::signed_rank(&diffs)),
                    p_holm: None,
                });
            }
            let tested: Vec<usize> = (0..rows.len())
                .filter(|&k| rows[k].versus.as_ref().is_some_and(|v| v.test.is_some()))
                .collect();
            let adjusted = holm::adjust(
                &tested
                    .iter()
                    .map(|&k| {
                        rows[k]
                            .versus
                            .as_ref()
                            .and_then(|v| v.test)
                            .map_or(1.0, |t| t.p_value)
                    })
                    .collect::<Vec<_>>(),
            );
            for (&k, p) in tested.iter().zip(adjusted) {
                if let Some(v) = rows[k].versus.as_mut() {
                    v.p_holm = Some(p);
                }
            }
            let compared: Vec<usize> = rows
                .iter()
                .filter_map(|r| r.versus.as_ref().map(|v| v.pairs))
                .collect();
            let note = match compared.iter().max() {
                None if comparison.baseline.pairs.is_empty() => Some(
                    "no baseline arm is named (`baseline` in [sweep]): no paired comparison"
                        .to_string(),
                ),
                None => Some("no arm shares seeds with its baseline arm yet".to_string()),
                Some(&most) if most < wilcoxon::MIN_PAIRS => Some(format!(
                    "no p-values: {most} shared seed{} at most, and the exact signed-rank test \
                     needs {} pairs to reach p < 0.05 at all (with n pairs its smallest two-sided \
                     p-value is 2/2^n: {} for n = {most})",
                    if most == 1 { "" } else { "s" },
                    wilcoxon::MIN_PAIRS,
                    smallest_p(most)
                )),
                Some(_) => None,
            };
            tables.push(ScoreTable {
                score,
                label: score.label,
                lower_is_better: score.lower_is_better,
                rows,
                note,
            });
        }
        comparison.models.push(ModelComparison { model, tables });
    }
    Ok(comparison)
}

fn smallest_p(n: usize) -> String {
    format!("{:.3}", 2.0 / 2f64.powi(n as i32))
}

/// The resampling seed of one interval: the same interval gets the same resamples in every
/// report, and no two intervals share theirs.
fn stream(sweep: &str, model: &str, score: &Score, arm: &Arm, what: &str) -> u64 {
    let text = format!(
        "{sweep}\n{model}\n{}\n{}\n{}\n{what}",
        score.split.as_str(),
        score.name,
        arm.label()
    );
    Rng::derive(BOOTSTRAP_SEED, &text, 0).next_u64()
}
