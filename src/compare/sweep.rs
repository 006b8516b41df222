//! A sweep's arms compared over their seeds.
//!
//! Per model and score, one row per arm: the number of seeds, mean ± sample SD, a 95%
//! interval of the mean that holds at few seeds (Student's t below 20 values, BCa from
//! there: [`crate::eval::small_n`]), and with four runs or more the interquartile mean with
//! its stratified-bootstrap interval (rliable's); the arm's split leakage. Against the
//! baseline arm (the arm with the baseline's values and this arm's other axes): the paired
//! difference over the seeds both have with its interval, the paired t-test Holm-corrected
//! across the arms of a table, the share of seeds on which the arm is better, the
//! probability that a run of the arm beats one of the baseline (rliable's), with six pairs
//! or more the exact signed-rank test, and the [`Verdict`]. Next to the spread over seeds,
//! the mean half-width of each run's test-set interval from a bootstrap over artists, so
//! that the two sources of uncertainty can be weighed.

use super::verdict::{self, Evidence, Leakage, Settings, Verdict};
use super::{Arm, CompareError, Score, BOOTSTRAP_SEED, SCORES};
use crate::eval::bootstrap::{Interval, LEVEL, RESAMPLES};
use crate::eval::holm;
use crate::eval::robust::{self, Scores};
use crate::eval::small_n::{self, MeanInterval};
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
    /// The split's leakage, averaged over the done runs.
    pub leakage: Option<Leakage>,
}

/// Runs from this many on get an interquartile mean.
pub const IQM_FROM: usize = 4;
/// Resamples of the stratified bootstraps (IQM, probability of improvement): their
/// statistics take few distinct values over a handful of runs, so 2,000 draws pin the
/// percentiles down, at a fifth of the page's cost of 10,000.
pub const ROBUST_RESAMPLES: usize = 2_000;

/// A robust aggregate with its stratified-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Aggregate {
    pub value: f64,
    pub interval: Option<Interval>,
}

/// The paired comparison of an arm with its baseline arm on one score.
#[derive(Debug, Clone, Serialize)]
pub struct Versus {
    /// Index into [`SweepComparison::arms`].
    pub baseline: usize,
    /// Seeds both arms have.
    pub pairs: usize,
    /// Mean and sample SD of (arm − baseline) over those seeds.
    pub mean: f64,
    pub sd: Option<f64>,
    pub interval: Option<MeanInterval>,
    /// Seeds on which the arm scores better.
    pub wins: usize,
    /// The paired t-test's two-sided p-value, and after Holm's correction across the arms
    /// of this table: what the verdict reads.
    pub p_t: Option<f64>,
    pub p_t_holm: Option<f64>,
    /// The exact signed-rank test, with [`wilcoxon::MIN_PAIRS`] pairs or more.
    pub test: Option<SignedRank>,
    /// Its p-value after Holm's correction across the arms of this table.
    pub p_holm: Option<f64>,
    /// P(a run of this arm scores better than a run of the baseline arm), rliable's
    /// probability of improvement, runs stratified by world.
    pub improvement: Option<Aggregate>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmRow {
    /// Index into [`SweepComparison::arms`].
    pub arm: usize,
    /// (seed, run, value), by seed.
    pub values: Vec<(Option<i64>, RunId, f64)>,
    pub spread: Spread,
    /// Of the mean over seeds; `None` with one seed.
    pub interval: Option<MeanInterval>,
    /// The interquartile mean over runs, from [`IQM_FROM`] runs.
    pub iqm: Option<Aggregate>,
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
    pub settings: Settings,
    /// Where `settings.min_pairs` came from, for the page.
    pub settings_from: String,
    /// Each done run's world, split and training seeds, as resolved.
    pub run_seeds: BTreeMap<RunId, RunSeeds>,
}

/// The three seeds a run was made with (`None` where its params do not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunSeeds {
    pub world: Option<i64>,
    pub split: Option<i64>,
    pub train: Option<i64>,
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

/// Where a comparison's `min_pairs` came from: the command line, the sweep's spec, or the
/// default (with why the spec did not say).
fn settings(given: Option<usize>, spec_path: &str) -> (Settings, String) {
    if let Some(n) = given {
        return (
            Settings { min_pairs: n },
            "given on the command line".into(),
        );
    }
    match crate::spec::sweep::SweepFile::read(std::path::Path::new(spec_path)) {
        Ok(f) => match f.sweep.min_pairs {
            Some(n) => (
                Settings { min_pairs: n },
                format!("`min_pairs` of {spec_path}"),
            ),
            None => (Settings::default(), "the default".into()),
        },
        Err(_) => (
            Settings::default(),
            format!("the default ({spec_path} could not be read)"),
        ),
    }
}

/// Compare the arms of the sweep `name`; `min_pairs` overrides the sweep spec's.
pub fn compare(
    store: &Store,
    name: &str,
    min_pairs: Option<usize>,
) -> Result<SweepComparison, CompareError> {
    let summary = store
        .sweeps()?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| CompareError::NoSuchSweep { name: name.into() })?;
    let (settings, settings_from) = settings(min_pairs, &summary.spec_path);
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
                    leakage: None,
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
    // Each arm's leakage: the share of its runs' test tracks whose artist (album) is in
    // training, averaged over the runs.
    let dataset = ModelName::Dataset.to_string();
    let fact = |run: RunId, n: &str| {
        scores
            .get(&(run, dataset.clone(), SplitKey::All, n.to_string()))
            .copied()
    };
    for a in &mut arms {
        let shares: Vec<(f64, f64)> = a
            .runs
            .iter()
            .filter_map(|&(_, run)| {
                let test = fact(run, "test.tracks").filter(|t| *t > 0.0)?;
                Some((
                    fact(run, "test_tracks_with_train_artist")? / test,
                    fact(run, "test_tracks_with_train_album")? / test,
                ))
            })
            .collect();
        if !shares.is_empty() {
            let n = shares.len() as f64;
            a.leakage = Some(Leakage {
                artist: shares.iter().map(|s| s.0).sum::<f64>() / n,
                album: shares.iter().map(|s| s.1).sum::<f64>() / n,
            });
        }
    }
    let mut run_seeds: BTreeMap<RunId, RunSeeds> = BTreeMap::new();
    for &run in &done {
        let params: BTreeMap<String, String> = store.params(run)?.into_iter().collect();
        let get = |k: &str| params.get(k).and_then(|v| v.parse::<i64>().ok());
        run_seeds.insert(
            run,
            RunSeeds {
                world: get("dataset.seed"),
                split: get("split.seed"),
                train: get("train_seed"),
            },
        );
    }
    let mut comparison = SweepComparison {
        name: name.to_string(),
        spec_path: summary.spec_path,
        baseline,
        axes,
        seeds,
        arms,
        models: Vec::new(),
        cells,
        settings,
        settings_from,
        run_seeds,
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
                let interval = small_n::mean_interval(
                    &plain,
                    LEVEL,
                    RESAMPLES,
                    stream(name, &key, &score, &a.arm, "mean"),
                );
                let iqm = (values.len() >= IQM_FROM).then(|| {
                    let s = strata(&comparison.run_seeds, &values, false).1;
                    Aggregate {
                        value: robust::iqm(&s),
                        interval: robust::stratified_interval(
                            &s,
                            robust::iqm,
                            ROBUST_RESAMPLES,
                            LEVEL,
                            Rng::new(stream(name, &key, &score, &a.arm, "iqm")),
                        ),
                    }
                });
                rows.push(ArmRow {
                    arm: i,
                    test_set: half_widths(&values),
                    values,
                    spread,
                    interval,
                    iqm,
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
                let spread = Spread::of(&diffs).expect("pairs are not empty");
                // rliable's P(X > Y) reads higher as better: lower-is-better scores negated.
                // Runs pair within a world only when both arms have the same worlds.
                let (mut x, mut y) = (
                    strata(
                        &comparison.run_seeds,
                        &rows[k].values,
                        score.lower_is_better,
                    ),
                    strata(
                        &comparison.run_seeds,
                        &rows[bk].values,
                        score.lower_is_better,
                    ),
                );
                if x.0 != y.0 {
                    x = one_stratum(&rows[k].values, score.lower_is_better);
                    y = one_stratum(&rows[bk].values, score.lower_is_better);
                }
                let (x, y) = (x.1, y.1);
                let improvement = Some(Aggregate {
                    value: robust::probability_of_improvement(&x, &y),
                    interval: robust::improvement_interval(
                        &x,
                        &y,
                        ROBUST_RESAMPLES,
                        LEVEL,
                        Rng::new(stream(
                            name,
                            &key,
                            &score,
                            &comparison.arms[arm].arm,
                            "improvement",
                        )),
                    ),
                });
                rows[k].versus = Some(Versus {
                    baseline: b,
                    pairs: pairs.len(),
                    mean: spread.mean,
                    sd: spread.sd,
                    interval: small_n::mean_interval(
                        &diffs,
                        LEVEL,
                        RESAMPLES,
                        stream(name, &key, &score, &comparison.arms[arm].arm, "difference"),
                    ),
                    wins,
                    p_t: small_n::t_test(&diffs),
                    p_t_holm: None,
                    test: (diffs.len() >= wilcoxon::MIN_PAIRS)
                        .then(|| wilcoxon::signed_rank(&diffs)),
                    p_holm: None,
                    improvement,
                    verdict: Verdict::NoClearDifference,
                });
            }
            holm_across(
                &mut rows,
                |v| v.test.map(|t| t.p_value),
                |v, p| v.p_holm = Some(p),
            );
            holm_across(&mut rows, |v| v.p_t, |v, p| v.p_t_holm = Some(p));
            for r in &mut rows {
                let arm_leakage = comparison.arms[r.arm].leakage;
                if let Some(v) = r.versus.as_mut() {
                    v.verdict = verdict::decide(
                        &score,
                        &Evidence {
                            pairs: v.pairs,
                            mean: v.mean,
                            sd: v.sd,
                            p_holm: v.p_t_holm,
                            arm_leakage,
                            baseline_leakage: comparison.arms[v.baseline].leakage,
                        },
                        &comparison.settings,
                    );
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
                Some(&most) if most < comparison.settings.min_pairs => Some(format!(
                    "no difference is called: {most} shared seed{} at most, and a verdict needs \
                     {} (`min_pairs` in [sweep]); the power note of each verdict says how many \
                     would detect the observed difference",
                    if most == 1 { "" } else { "s" },
                    comparison.settings.min_pairs,
                )),
                Some(&most) if most < wilcoxon::MIN_PAIRS => Some(format!(
                    "no signed-rank p-values: the exact test needs {} pairs to reach p < 0.05 at \
                     all (with n pairs its smallest two-sided p-value is 2/2^n: {} for n = {most}); \
                     the verdicts read the paired t-test",
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

/// Holm's correction of one p-value per compared row, written back by `set`.
fn holm_across(
    rows: &mut [ArmRow],
    get: impl Fn(&Versus) -> Option<f64>,
    set: impl Fn(&mut Versus, f64),
) {
    let tested: Vec<(usize, f64)> = rows
        .iter()
        .enumerate()
        .filter_map(|(k, r)| Some((k, get(r.versus.as_ref()?)?)))
        .collect();
    let adjusted = holm::adjust(&tested.iter().map(|t| t.1).collect::<Vec<_>>());
    for (&(k, _), p) in tested.iter().zip(adjusted) {
        if let Some(v) = rows[k].versus.as_mut() {
            set(v, p);
        }
    }
}

/// An arm's values as rliable's runs × tasks, a task per world (`dataset.seed`) when every
/// world has as many runs as the others (two or more), one task otherwise; negated when
/// `negate`. With the worlds the tasks stand for.
fn strata(
    seeds: &BTreeMap<RunId, RunSeeds>,
    values: &[(Option<i64>, RunId, f64)],
    negate: bool,
) -> (Vec<Option<i64>>, Scores) {
    let sign = if negate { -1.0 } else { 1.0 };
    let mut by_world: BTreeMap<Option<i64>, Vec<f64>> = BTreeMap::new();
    for (_, run, v) in values {
        let world = seeds.get(run).and_then(|s| s.world);
        by_world.entry(world).or_default().push(sign * v);
    }
    let sizes: BTreeSet<usize> = by_world.values().map(Vec::len).collect();
    if by_world.len() > 1 && sizes.len() == 1 && sizes.iter().all(|&n| n >= 2) {
        let worlds = by_world.keys().copied().collect();
        (
            worlds,
            Scores {
                tasks: by_world.into_values().collect(),
            },
        )
    } else {
        one_stratum(values, negate)
    }
}

/// All of an arm's values as one task.
fn one_stratum(values: &[(Option<i64>, RunId, f64)], negate: bool) -> (Vec<Option<i64>>, Scores) {
    let sign = if negate { -1.0 } else { 1.0 };
    (
        Vec::new(),
        Scores::single(values.iter().map(|v| sign * v.2).collect()),
    )
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
