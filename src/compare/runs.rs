//! Runs against runs: two runs side by side (the parameters that differ, every metric with
//! its difference), and runs filtered by their parameters and grouped, with mean ± SD of
//! each group's headline test scores.

use super::verdict::Leakage;
use super::{CompareError, SCORES};
use crate::eval::summary::Spread;
use crate::record::{metric, ModelName, RunId, SplitKey};
use crate::store::{MetricRow, RunSummary, Store};
use serde::Serialize;
use std::collections::BTreeMap;

/// A parameter whose values differ (`None`: the run's spec has no such key).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamDiff {
    pub key: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

/// One metric of both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDiff {
    pub model: String,
    pub split: String,
    pub name: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
}

impl MetricDiff {
    /// `b − a`, where both are known.
    pub fn difference(&self) -> Option<f64> {
        Some(self.b? - self.a?)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunDiff {
    pub a: RunSummary,
    pub b: RunSummary,
    pub params: Vec<ParamDiff>,
    /// Parameters both runs have with one value.
    pub same: usize,
    /// Genre models' scores first (by model, split, name), then the rest.
    pub metrics: Vec<MetricDiff>,
    /// The headline scores of every genre model either run has: what `agf compare` shows
    /// by default.
    pub scores: Vec<ScoreDiff>,
    /// Each run's split leakage.
    pub leakage: [Option<Leakage>; 2],
}

/// One genre model's score in both runs, with each run's test-set interval half-width
/// (bootstrap over the test set's artists).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreDiff {
    pub model: String,
    pub label: &'static str,
    pub lower_is_better: bool,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub a_test_set: Option<f64>,
    pub b_test_set: Option<f64>,
}

impl ScoreDiff {
    pub fn difference(&self) -> Option<f64> {
        Some(self.b? - self.a?)
    }
}

impl RunDiff {
    /// What the two runs' leakage says of the comparison, if anything.
    pub fn leakage_note(&self) -> Option<String> {
        match self.leakage {
            [Some(a), Some(b)] if a.leaks() != b.leaks() => {
                let (who, l) = if b.leaks() {
                    (self.b.id, b)
                } else {
                    (self.a.id, a)
                };
                Some(format!(
                    "run {who} is optimistic by leakage: {} (the other run: none)",
                    l.text()
                ))
            }
            [Some(a), Some(b)] if a.leaks() => Some(format!(
                "both runs leak: run {}: {}; run {}: {}",
                self.a.id,
                a.text(),
                self.b.id,
                b.text()
            )),
            _ => None,
        }
    }
}

/// A run's leakage from its dataset facts.
fn leakage(rows: &[MetricRow]) -> Option<Leakage> {
    let get = |n: &str| {
        rows.iter()
            .find(|m| m.model == ModelName::Dataset && m.split == SplitKey::All && m.name == n)
            .and_then(|m| m.value)
    };
    let test = get("test.tracks").filter(|t| *t > 0.0)?;
    Some(Leakage {
        artist: get("test_tracks_with_train_artist")? / test,
        album: get("test_tracks_with_train_album")? / test,
    })
}

/// The genre models' headline scores of both runs.
fn scores(ra: &[MetricRow], rb: &[MetricRow]) -> Vec<ScoreDiff> {
    let get = |rows: &[MetricRow], model: &ModelName, split: SplitKey, name: &str| {
        rows.iter()
            .find(|m| &m.model == model && m.split == split && m.name == name)
            .and_then(|m| m.value)
    };
    let mut models: Vec<ModelName> = ra
        .iter()
        .chain(rb)
        .filter(|m| m.split == SplitKey::Test && m.name == metric::LOG_LOSS)
        .map(|m| m.model.clone())
        .collect();
    models.sort_by_key(|m| {
        (
            match m {
                ModelName::Transfer => 0,
                ModelName::Net(_) => 1,
                ModelName::Baseline => 2,
                _ => 3,
            },
            m.to_string(),
        )
    });
    models.dedup();
    let mut out = Vec::new();
    for model in &models {
        for score in SCORES {
            let (a, b) = (
                get(ra, model, score.split, score.name),
                get(rb, model, score.split, score.name),
            );
            if a.is_none() && b.is_none() {
                continue;
            }
            let [low, high] = metric::artist_interval(score.name);
            let half = |rows: &[MetricRow]| {
                Some(
                    (get(rows, model, score.split, &high)? - get(rows, model, score.split, &low)?)
                        / 2.0,
                )
            };
            out.push(ScoreDiff {
                model: model.to_string(),
                label: score.label,
                lower_is_better: score.lower_is_better,
                a,
                b,
                a_test_set: half(ra),
                b_test_set: half(rb),
            });
        }
    }
    out
}

pub(super) fn summary(store: &Store, run: RunId) -> Result<RunSummary, CompareError> {
    // Checks that the run exists, with the store's own error naming it.
    store.run(run)?;
    Ok(store
        .runs()?
        .into_iter()
        .find(|r| r.id == run)
        .expect("a run the store just found is listed"))
}

/// `b` against `a`.
pub fn diff(store: &Store, a: RunId, b: RunId) -> Result<RunDiff, CompareError> {
    let (sa, sb) = (summary(store, a)?, summary(store, b)?);
    let pa: BTreeMap<String, String> = store.params(a)?.into_iter().collect();
    let pb: BTreeMap<String, String> = store.params(b)?.into_iter().collect();
    let mut keys: Vec<&String> = pa.keys().chain(pb.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut params = Vec::new();
    let mut same = 0;
    for k in keys {
        let (x, y) = (pa.get(k), pb.get(k));
        if x == y {
            same += 1;
        } else {
            params.push(ParamDiff {
                key: k.clone(),
                a: x.cloned(),
                b: y.cloned(),
            });
        }
    }
    let key = |m: &MetricRow| {
        (
            m.model.to_string(),
            m.split.as_str().to_string(),
            m.name.clone(),
        )
    };
    let (rows_a, rows_b) = (store.metrics(a)?, store.metrics(b)?);
    let ma: BTreeMap<_, _> = rows_a.iter().map(|m| (key(m), m.value)).collect();
    let mb: BTreeMap<_, _> = rows_b.iter().map(|m| (key(m), m.value)).collect();
    let mut names: Vec<&(String, String, String)> = ma.keys().chain(mb.keys()).collect();
    names.sort();
    names.dedup();
    let mut metrics: Vec<MetricDiff> = names
        .into_iter()
        .map(|(model, split, name)| {
            let k = (model.clone(), split.clone(), name.clone());
            MetricDiff {
                model: model.clone(),
                split: split.clone(),
                name: name.clone(),
                a: ma.get(&k).copied().flatten(),
                b: mb.get(&k).copied().flatten(),
            }
        })
        .collect();
    // Scores of genre models on the scored splits read first.
    let rank = |m: &MetricDiff| {
        let genre_model = matches!(
            ModelName::parse(&m.model),
            Some(ModelName::Baseline | ModelName::Transfer)
        ) || m.model == "cnn.genre"
            || m.model == "cnn.multitask";
        // Held-out scores before the training split's.
        let split = [
            SplitKey::Test,
            SplitKey::TestClean,
            SplitKey::Validation,
            SplitKey::Train,
        ]
        .iter()
        .position(|x| Some(*x) == SplitKey::parse(&m.split))
        .unwrap_or(9);
        let score = [metric::LOG_LOSS, metric::MACRO_F1, metric::ACCURACY]
            .iter()
            .position(|x| *x == m.name)
            .unwrap_or(9);
        (!genre_model, split, m.model.clone(), score)
    };
    metrics.sort_by_key(|m| rank(m));
    Ok(RunDiff {
        a: sa,
        b: sb,
        params,
        same,
        metrics,
        scores: scores(&rows_a, &rows_b),
        leakage: [leakage(&rows_a), leakage(&rows_b)],
    })
}

/// `key=value`: runs whose parameter `key` has that value (numbers compared as numbers, so
/// `noise.rate=0.10` finds 0.1); `name`, `status` and `sweep`-less keys of the run itself
/// (`name`, `status`, `model` for the headline model) work too.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub key: String,
    pub value: String,
}

impl Filter {
    pub fn parse(given: &str) -> Result<Filter, CompareError> {
        match given.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(Filter {
                key: k.trim().to_string(),
                value: v.trim().to_string(),
            }),
            _ => Err(CompareError::Filter {
                given: given.to_string(),
            }),
        }
    }

    fn accepts(&self, value: Option<&str>) -> bool {
        let Some(v) = value else {
            return false;
        };
        match (v.parse::<f64>(), self.value.parse::<f64>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => v == self.value,
        }
    }
}

/// A run with its parameters.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    #[serde(flatten)]
    pub run: RunSummary,
    #[serde(skip)]
    pub params: BTreeMap<String, String>,
}

impl RunRow {
    /// A parameter, or one of the run's own fields.
    pub fn get(&self, key: &str) -> Option<String> {
        match key {
            "name" => Some(self.run.name.clone()),
            "status" => Some(self.run.status.to_string()),
            "model" => self.run.headline_model.clone(),
            _ => self.params.get(key).cloned(),
        }
    }
}

/// Every run that passes all `filters`, oldest first.
pub fn select(store: &Store, filters: &[Filter]) -> Result<Vec<RunRow>, CompareError> {
    let mut params: BTreeMap<RunId, BTreeMap<String, String>> = BTreeMap::new();
    for (run, k, v) in store.every_param()? {
        params.entry(run).or_default().insert(k, v);
    }
    Ok(store
        .runs()?
        .into_iter()
        .map(|run| RunRow {
            params: params.remove(&run.id).unwrap_or_default(),
            run,
        })
        .filter(|r| filters.iter().all(|f| f.accepts(r.get(&f.key).as_deref())))
        .collect())
}

/// Runs that share their values of the grouping keys and their headline model (scores of
/// different models are never averaged together).
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub keys: Vec<(String, Option<String>)>,
    pub model: Option<String>,
    pub runs: Vec<RunId>,
    pub log_loss: Option<Spread>,
    pub macro_f1: Option<Spread>,
    pub accuracy: Option<Spread>,
}

/// `rows` grouped by the values of `by`, groups in order of first appearance.
pub fn group(rows: &[RunRow], by: &[String]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut scores: Vec<[Vec<f64>; 3]> = Vec::new();
    for r in rows {
        let keys: Vec<(String, Option<String>)> =
            by.iter().map(|k| (k.clone(), r.get(k))).collect();
        let model = r.run.headline_model.clone();
        let i = match groups
            .iter()
            .position(|g| g.keys == keys && g.model == model)
        {
            Some(i) => i,
            None => {
                groups.push(Group {
                    keys,
                    model,
                    runs: Vec::new(),
                    log_loss: None,
                    macro_f1: None,
                    accuracy: None,
                });
                scores.push(Default::default());
                groups.len() - 1
            }
        };
        groups[i].runs.push(r.run.id);
        for (s, v) in scores[i]
            .iter_mut()
            .zip([r.run.log_loss, r.run.macro_f1, r.run.accuracy])
        {
            s.extend(v);
        }
    }
    for (g, [ll, f1, acc]) in groups.iter_mut().zip(scores) {
        g.log_loss = Spread::of(&ll);
        g.macro_f1 = Spread::of(&f1);
        g.accuracy = Spread::of(&acc);
    }
    groups
}
