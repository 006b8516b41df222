//! A run's summary read back from the store: what `agf run` prints at its end, and what
//! `agf show` prints again for any past run (one reader, so the two never differ).

use super::CompareError;
use crate::record::{metric, ModelName, RunId, SplitKey, TrackId};
use crate::store::{MetricRow, RunStatus, Store};
use serde::Serialize;

/// One model's scores on one split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitScores {
    pub split: SplitKey,
    pub tracks: Option<f64>,
    pub log_loss: Option<f64>,
    pub macro_f1: Option<f64>,
    pub accuracy: Option<f64>,
    pub clip: Option<f64>,
}

/// A trained model: its best epoch and its genre scores (none for a factor's net).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCard {
    pub model: ModelName,
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    pub best_validation_loss: Option<f64>,
    /// Read from the stage cache rather than trained by this run.
    pub cached: bool,
    pub scores: Vec<SplitScores>,
}

impl ModelCard {
    pub fn on(&self, split: SplitKey) -> Option<&SplitScores> {
        self.scores.iter().find(|s| s.split == split)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorCard {
    pub name: String,
    pub vocabulary: Option<f64>,
    pub topics: Option<f64>,
    pub artists: Option<f64>,
    pub perplexity: Option<f64>,
    pub held_out_perplexity: Option<f64>,
    pub nmi_artist_group: Option<f64>,
    pub cached: bool,
    pub dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunCard {
    pub run: RunId,
    pub name: String,
    pub status: RunStatus,
    pub error: Option<String>,
    pub spec_hash: String,
    pub device: String,
    /// From start to end (or to now, for a run that has not ended).
    pub seconds: Option<f64>,
    pub dataset: Option<String>,
    pub tracks: Option<f64>,
    pub artists: Option<f64>,
    pub albums: Option<f64>,
    pub classes: Vec<String>,
    pub skipped: Vec<(TrackId, String)>,
    /// Tracks per split, train, validation, test.
    pub split_tracks: [Option<f64>; 3],
    pub test_with_train_artist: Option<f64>,
    pub test_with_train_album: Option<f64>,
    pub injected_flips: Option<f64>,
    pub warnings: Vec<String>,
    /// The baseline first, then the nets and the transfer model in training order.
    pub models: Vec<ModelCard>,
    pub factors: Vec<FactorCard>,
    /// The label audit's numbers (model `audit`), by name, when the run had `[audit]`.
    pub audit: Vec<(String, f64)>,
    /// Whose out-of-fold probabilities the audit read (`baseline`, `genre_cnn`, `transfer`).
    pub audit_model: Option<String>,
}

impl RunCard {
    pub fn baseline(&self) -> Option<&ModelCard> {
        self.models.iter().find(|m| m.model == ModelName::Baseline)
    }
}

fn seconds_between(start: &str, end: Option<&str>) -> Option<f64> {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    let a = parse(start)?;
    let b = match end {
        Some(e) => parse(e)?,
        None => chrono::Utc::now().fixed_offset(),
    };
    Some((b - a).num_milliseconds() as f64 / 1000.0)
}

/// Read run `run`'s card.
pub fn load(store: &Store, run: RunId) -> Result<RunCard, CompareError> {
    let stored = store.run(run)?;
    let summary = super::runs::summary(store, run)?;
    let metrics = store.metrics(run)?;
    let get = |model: &ModelName, split: SplitKey, name: &str| -> Option<f64> {
        metrics
            .iter()
            .find(|m: &&MetricRow| &m.model == model && m.split == split && m.name == name)
            .and_then(|m| m.value)
    };
    let data = |name: &str| get(&ModelName::Dataset, SplitKey::All, name);
    let facts = store.facts(run)?;
    let fact = |k: &str| {
        facts
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let mut order = store.epoch_models(run)?;
    // The baseline leads, as `agf run` lists it.
    order.sort_by_key(|m| *m != ModelName::Baseline);
    let mut models = Vec::new();
    for model in order {
        let epochs = store.epochs(run, &model)?;
        let best = epochs
            .iter()
            .filter(|e| e.validation_loss.is_finite())
            .min_by(|a, b| a.validation_loss.total_cmp(&b.validation_loss));
        let recorded_best = get(&model, SplitKey::Validation, metric::BEST_EPOCH)
            .or_else(|| get(&model, SplitKey::Train, metric::BEST_EPOCH))
            .map(|v| v as usize);
        let best_epoch = recorded_best.or(best.map(|e| e.epoch));
        let best_validation_loss = get(&model, SplitKey::Validation, metric::BEST_VALIDATION_LOSS)
            .or_else(|| {
                best_epoch.and_then(|b| {
                    epochs
                        .iter()
                        .find(|e| e.epoch == b)
                        .map(|e| e.validation_loss)
                })
            });
        let scores = SplitKey::SCORED
            .iter()
            .filter(|&&s| get(&model, s, metric::LOG_LOSS).is_some())
            .map(|&s| SplitScores {
                split: s,
                tracks: get(&model, s, metric::N_TRACKS),
                log_loss: get(&model, s, metric::LOG_LOSS),
                macro_f1: get(&model, s, metric::MACRO_F1),
                accuracy: get(&model, s, metric::ACCURACY),
                clip: get(&model, s, metric::LOG_LOSS_CLIP),
            })
            .collect();
        models.push(ModelCard {
            cached: get(&model, SplitKey::Validation, "cache_hit") == Some(1.0),
            model,
            epochs_run: epochs.len(),
            best_epoch,
            best_validation_loss,
            scores,
        });
    }
    let mut factors = Vec::new();
    for m in &metrics {
        let ModelName::Factor(name) = &m.model else {
            continue;
        };
        if factors.iter().any(|f: &FactorCard| &f.name == name) {
            continue;
        }
        let f = |n: &str| get(&m.model, SplitKey::All, n);
        factors.push(FactorCard {
            name: name.clone(),
            vocabulary: f(metric::VOCABULARY),
            topics: f(metric::TOPICS),
            artists: f("artists"),
            perplexity: f(metric::PERPLEXITY),
            held_out_perplexity: f(metric::HELD_OUT_PERPLEXITY),
            nmi_artist_group: f(metric::NMI_ARTIST_GROUP),
            cached: f("cache_hit") == Some(1.0),
            dir: fact(&format!("factor.{name}.dir")),
        });
    }
    // Factors in the order the run fitted them (their export facts' order).
    factors.sort_by_key(|f| {
        facts
            .iter()
            .position(|(k, _)| k == &format!("factor.{}.dir", f.name))
    });
    Ok(RunCard {
        run,
        name: stored.name,
        status: summary.status,
        error: stored.error,
        spec_hash: stored.spec_hash,
        device: summary.device.clone(),
        seconds: seconds_between(&summary.started_at, summary.ended_at.as_deref()),
        dataset: fact("dataset"),
        tracks: data("tracks"),
        artists: data("artists"),
        albums: data("albums"),
        classes: store.classes(run)?,
        skipped: store.skipped(run)?,
        split_tracks: [
            data("train.tracks"),
            data("validation.tracks"),
            data("test.tracks"),
        ],
        test_with_train_artist: data("test_tracks_with_train_artist"),
        test_with_train_album: data("test_tracks_with_train_album"),
        injected_flips: data("injected_flips"),
        warnings: facts
            .iter()
            .filter(|(k, _)| k.starts_with("warning.split."))
            .map(|(_, w)| w.clone())
            .collect(),
        models,
        factors,
        audit: metrics
            .iter()
            .filter(|m| m.model == ModelName::Audit)
            .filter_map(|m| Some((m.name.clone(), m.value?)))
            .collect(),
        audit_model: fact(metric::AUDIT_MODEL_FACT),
    })
}
