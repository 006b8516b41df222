//! The baseline stage: the classical model (multinomial logistic regression, the FMA
//! paper's) on standardised track-level features, trained on the training split with early
//! stopping on the validation split and scored on every split.

use super::data::LoadedData;
use super::resolve::logreg_params;
use super::scoring::{score, ScoredTracks};
use super::{EpochLog, Recorder, StageError};
use crate::data::split::SplitName;
use crate::eval::Evaluation;
use crate::features::TrackTable;
use crate::nn::logreg::{Labelled, LogisticRegression, TrainSummary};
use crate::record::{metric, ModelName, SplitKey};
use crate::spec::Resolved;
use candle_core::Device;

/// The trained baseline and its scores.
#[derive(Debug, Clone)]
pub struct BaselineOutcome {
    pub train: TrainSummary,
    pub evaluations: Vec<(SplitKey, Evaluation)>,
    /// Tracks with features in the training, validation and test splits.
    pub split_sizes: [usize; 3],
}

/// Row-major features and their labels for one split.
struct SplitRows {
    x: Vec<f32>,
    y: Vec<usize>,
    /// Dataset positions of the rows.
    index: Vec<usize>,
}

fn gather(data: &LoadedData, which: SplitName, table: &TrackTable, labels: &[usize]) -> SplitRows {
    let mut rows = SplitRows {
        x: Vec::new(),
        y: Vec::new(),
        index: Vec::new(),
    };
    for i in data.split.indices(which) {
        if let Some(row) = &table.rows[i] {
            rows.x.extend_from_slice(row);
            rows.y.push(labels[i]);
            rows.index.push(i);
        }
    }
    rows
}

pub fn run(
    spec: &Resolved,
    data: &LoadedData,
    table: &TrackTable,
    rec: &mut dyn Recorder,
) -> Result<BaselineOutcome, StageError> {
    let labels = &data.noisy.labels;
    fit_and_score(
        spec,
        data,
        table,
        ModelName::Baseline,
        labels,
        labels,
        &[],
        rec,
    )
}

/// The baseline trained again as `model` on other training labels (`labels`, one per
/// dataset track) without the tracks at dataset positions `dropped`, early-stopped on the
/// validation split's `validation_labels`; scored as the baseline is.
#[allow(clippy::too_many_arguments)]
pub fn retrain(
    spec: &Resolved,
    data: &LoadedData,
    table: &TrackTable,
    model: ModelName,
    labels: &[usize],
    validation_labels: &[usize],
    dropped: &[usize],
    rec: &mut dyn Recorder,
) -> Result<BaselineOutcome, StageError> {
    fit_and_score(
        spec,
        data,
        table,
        model,
        labels,
        validation_labels,
        dropped,
        rec,
    )
}

#[allow(clippy::too_many_arguments)]
fn fit_and_score(
    spec: &Resolved,
    data: &LoadedData,
    table: &TrackTable,
    model: ModelName,
    train_labels: &[usize],
    validation_labels: &[usize],
    dropped: &[usize],
    rec: &mut dyn Recorder,
) -> Result<BaselineOutcome, StageError> {
    let n_classes = data.dataset.genres.len();
    // Training (and, if asked, validation) labels carry the injected noise; test labels
    // never do.
    let published = data.published();
    let mut train = gather(data, SplitName::Train, table, train_labels);
    if !dropped.is_empty() {
        let dropped: std::collections::HashSet<usize> = dropped.iter().copied().collect();
        let keep: Vec<usize> = (0..train.index.len())
            .filter(|&k| !dropped.contains(&train.index[k]))
            .collect();
        let dim = table.dim;
        train = SplitRows {
            x: keep
                .iter()
                .flat_map(|&k| train.x[k * dim..(k + 1) * dim].to_vec())
                .collect(),
            y: keep.iter().map(|&k| train.y[k]).collect(),
            index: keep.iter().map(|&k| train.index[k]).collect(),
        };
    }
    let validation = gather(data, SplitName::Validation, table, validation_labels);
    let test = gather(data, SplitName::Test, table, &published);
    for (name, part) in [
        (SplitName::Train, &train),
        (SplitName::Validation, &validation),
        (SplitName::Test, &test),
    ] {
        if part.y.is_empty() {
            let members = data.split.indices(name);
            let why = match members.first() {
                None => "it holds no track; check the split ratios and the dataset's size".into(),
                Some(_) => {
                    let first = members.iter().find_map(|&i| {
                        let id = data.dataset.tracks[i].id;
                        table.skipped.iter().find(|(t, _)| *t == id)
                    });
                    format!(
                        "all {} of its tracks were skipped{}; `agf data SPEC --check-audio` \
                         lists every unreadable file",
                        members.len(),
                        first
                            .map(|(t, why)| format!(" (track {t}: {why})"))
                            .unwrap_or_default()
                    )
                }
            };
            return Err(StageError::EmptySplit {
                split: name.as_str(),
                why,
            });
        }
    }
    let params = logreg_params(&spec.model);
    let mut log = EpochLog::new(rec, model.clone(), params.epochs);
    let fitted = LogisticRegression::fit(
        Labelled {
            x: &train.x,
            y: &train.y,
        },
        Labelled {
            x: &validation.x,
            y: &validation.y,
        },
        table.dim,
        n_classes,
        &params,
        &Device::Cpu,
        |e| log.record(e),
    );
    log.finish()?;
    let failed = |source| StageError::Training {
        model: model.clone(),
        source,
    };
    let (fitted, summary) = fitted.map_err(failed)?;
    rec.metrics(
        &model,
        SplitKey::Train,
        &[
            (metric::EPOCHS_RUN, summary.epochs_run as f64),
            (metric::BEST_EPOCH, summary.best_epoch as f64),
        ],
    )?;
    tracing::info!(
        "{model}: {} epochs, the best at {} (validation log loss {:.4})",
        summary.epochs_run,
        summary.best_epoch,
        summary.best_validation_loss
    );
    // Every split's probabilities, scored and stored as every genre model's are.
    let predict = |idx: &[usize]| {
        let x: Vec<f32> = idx
            .iter()
            .flat_map(|&i| {
                table.rows[i]
                    .as_ref()
                    .expect("scored tracks have rows")
                    .clone()
            })
            .collect();
        Ok(fitted
            .predict_proba(&x)?
            .chunks(n_classes)
            .map(<[f32]>::to_vec)
            .collect())
    };
    let tracks = ScoredTracks {
        train: &train.index,
        validation: &validation.index,
        test: &test.index,
    };
    let evaluations = score(
        &model,
        data,
        &tracks,
        spec.metrics.log_loss_clip,
        &predict,
        rec,
    )?;
    Ok(BaselineOutcome {
        train: summary,
        evaluations,
        split_sizes: [train.y.len(), validation.y.len(), test.y.len()],
    })
}
