//! The nets stage: one CNN per target (genre, each factor) on the cached log-mels, or one
//! multi-task trunk with a head per target, then the transfer MLP over their taps. Each net
//! checkpoints every epoch into the run's folder and resumes from there; every genre model is
//! scored ([`super::scoring`]).

use super::data::LoadedData;
use super::factors::FactorOutcome;
use super::features::TrackFeatures;
use super::resolve::{train_config, transfer_config};
use super::scoring::{score, ScoredTracks};
use super::{EpochLog, Recorder, StageError};
use crate::cache::LogMelView;
use crate::data::split::SplitName;
use crate::eval::Evaluation;
use crate::nn::train::{self, Example, PatchSource, Task};
use crate::nn::transfer;
use crate::nn::Cnn;
use crate::record::{metric, ModelName, SplitKey};
use crate::spec::{CnnMode, Resolved};
use crate::vectors::{ColumnMoments, Standardizer};
use candle_core::Device;
use std::path::Path;

/// Standardised log-mels of the dataset's tracks, memory-mapped from the cache.
pub struct LogMels {
    views: Vec<Option<LogMelView>>,
    std: Standardizer,
    bands: usize,
}

impl PatchSource for LogMels {
    fn bands(&self) -> usize {
        self.bands
    }
    fn frames(&self, track: usize) -> usize {
        self.views[track].as_ref().map_or(0, |v| v.frames)
    }
    fn read(&self, track: usize, start: usize, n: usize) -> Vec<f32> {
        let mut f = self.views[track]
            .as_ref()
            .map(|v| v.frames_f32(start, n))
            .unwrap_or_default();
        self.std.apply(&mut f);
        f
    }
}

/// One trained model of the run.
#[derive(Debug, Clone)]
pub struct NetReport {
    pub model: ModelName,
    pub best_epoch: usize,
    pub best_validation_loss: f64,
    pub resumed_epochs: usize,
    /// Genre models only: train, validation, test, and test against the true genres.
    pub evaluations: Vec<(SplitKey, Evaluation)>,
}

fn one_hot(class: usize, n: usize) -> Vec<f32> {
    let mut v = vec![0.0; n];
    v[class] = 1.0;
    v
}

/// One net a run trains.
struct NetPlan {
    model: ModelName,
    /// Its checkpoint folder under `checkpoints/`.
    folder: String,
    /// The targets it learns: (index into the spec's targets, probability of an epoch).
    learns: Vec<(usize, f64)>,
}

/// Train every net, then the transfer model, and score the genre models. Checkpoints go
/// under `run_dir/checkpoints/`.
pub fn run(
    spec: &Resolved,
    data: &LoadedData,
    feats: &TrackFeatures,
    factors: &[FactorOutcome],
    device: &Device,
    run_dir: &Path,
    rec: &mut dyn Recorder,
) -> Result<Vec<NetReport>, StageError> {
    let Some(c) = &spec.cnn else {
        return Ok(Vec::new());
    };
    let d = &data.dataset;
    let views: Vec<Option<LogMelView>> = feats
        .logmels
        .iter()
        .map(|p| p.as_ref().and_then(|p| LogMelView::open(p).ok()))
        .collect();
    let usable = |s: SplitName| -> Vec<usize> {
        data.split
            .indices(s)
            .into_iter()
            .filter(|&i| views[i].is_some())
            .collect()
    };
    let (train_idx, val_idx, test_idx) = (
        usable(SplitName::Train),
        usable(SplitName::Validation),
        usable(SplitName::Test),
    );
    // Band statistics from training tracks only, one track in memory at a time.
    let bands = spec.frontend.n_mels;
    let mut moments = ColumnMoments::new(bands);
    for &i in &train_idx {
        let v = views[i].as_ref().expect("usable");
        moments.add(&v.frames_f32(0, v.frames));
    }
    let src = LogMels {
        views,
        std: moments.finish(),
        bands,
    };
    let classes = d.genres.len();
    let labels = &data.noisy.labels;
    let genre_examples = |idx: &[usize]| -> Vec<Example> {
        idx.iter()
            .map(|&i| Example {
                track: i,
                target: one_hot(labels[i], classes),
            })
            .collect()
    };
    let tracks = ScoredTracks {
        train: &train_idx,
        validation: &val_idx,
        test: &test_idx,
    };
    let clip = spec.metrics.log_loss_clip;
    // Every target's examples: genre (one-hot, the published labels with injected noise)
    // and each factor (the artist's topic vector).
    let targets = spec.cnn_targets();
    let mut data_of: Vec<(usize, Vec<Example>, Vec<Example>)> = Vec::new();
    for target in &targets {
        data_of.push(if target == "genre" {
            (
                classes,
                genre_examples(&train_idx),
                genre_examples(&val_idx),
            )
        } else {
            let table = &factors
                .iter()
                .find(|f| &f.table.summary.name == target)
                .expect("validated: targets name factors")
                .table;
            let agf = |idx: &[usize]| -> Vec<Example> {
                idx.iter()
                    .filter_map(|&i| {
                        table.artist(d.tracks[i].artist).map(|v| Example {
                            track: i,
                            target: v.to_vec(),
                        })
                    })
                    .collect()
            };
            (table.summary.topics, agf(&train_idx), agf(&val_idx))
        });
    }
    let plan: Vec<NetPlan> = match c.mode {
        CnnMode::Separate => targets
            .iter()
            .enumerate()
            .map(|(i, t)| NetPlan {
                model: ModelName::net(t),
                folder: t.clone(),
                learns: vec![(i, 1.0)],
            })
            .collect(),
        CnnMode::Multitask => vec![NetPlan {
            model: ModelName::net("multitask"),
            folder: "multitask".to_string(),
            learns: spec.task_probabilities().into_iter().enumerate().collect(),
        }],
    };
    let mut reports = Vec::new();
    let mut nets: Vec<Cnn> = Vec::new();
    for NetPlan {
        model,
        folder,
        learns,
    } in plan
    {
        let cfg = train_config(spec, &model);
        let tasks: Vec<Task> = learns
            .iter()
            .map(|&(i, p)| Task {
                probability: p,
                ..Task::single(&targets[i], data_of[i].0, &data_of[i].1, &data_of[i].2)
            })
            .collect();
        let dir = run_dir.join("checkpoints").join(&folder);
        let mut log = EpochLog::new(rec, model.clone(), cfg.epochs);
        let trained = train::train(
            &cfg,
            &tasks,
            &src,
            &dir,
            device,
            &mut |e| log.record(e),
            &mut |_, _| true,
        );
        log.finish()?;
        let failed = |source| StageError::Training {
            model: model.clone(),
            source,
        };
        let trained = trained.map_err(failed)?;
        tracing::info!(
            "{model}: the best epoch is {} (validation loss {:.4})",
            trained.best_epoch,
            trained.best_validation_loss
        );
        rec.metrics(
            &model,
            SplitKey::Validation,
            &[
                (metric::BEST_EPOCH, trained.best_epoch as f64),
                (metric::BEST_VALIDATION_LOSS, trained.best_validation_loss),
                (metric::EPOCHS_RUN, trained.history.len() as f64),
            ],
        )?;
        let mut evaluations = Vec::new();
        if let Some(head) = tasks.iter().position(|t| t.name == "genre") {
            let predict = |idx: &[usize]| {
                Ok(train::predict(
                    &trained.net,
                    head,
                    &src,
                    idx,
                    cfg.patch_frames,
                    cfg.window_hop,
                    cfg.batch_size,
                    device,
                )?)
            };
            evaluations = score(&model, data, &tracks, clip, &predict, rec)?;
        }
        reports.push(NetReport {
            model,
            best_epoch: trained.best_epoch,
            best_validation_loss: trained.best_validation_loss,
            resumed_epochs: trained.resumed_epochs,
            evaluations,
        });
        nets.push(trained.net);
    }
    if nets.is_empty() {
        return Ok(reports);
    }
    let model = ModelName::Transfer;
    let tcfg = transfer_config(spec);
    let frozen: Vec<&Cnn> = nets.iter().collect();
    let mut log = EpochLog::new(rec, model.clone(), tcfg.epochs);
    let fitted = transfer::train(
        &frozen,
        classes,
        &tcfg,
        &src,
        &genre_examples(&train_idx),
        &genre_examples(&val_idx),
        device,
        &mut |e| log.record(e),
    );
    log.finish()?;
    let (mlp, history) = fitted.map_err(|source| StageError::Training {
        model: model.clone(),
        source,
    })?;
    let (best_epoch, best_loss) = history
        .iter()
        .map(|h| (h.epoch, h.validation_loss))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, f64::NAN));
    let predict = |idx: &[usize]| Ok(transfer::predict(&frozen, &mlp, &src, idx, &tcfg, device)?);
    let evaluations = score(&model, data, &tracks, clip, &predict, rec)?;
    reports.push(NetReport {
        model,
        best_epoch,
        best_validation_loss: best_loss,
        resumed_epochs: 0,
        evaluations,
    });
    Ok(reports)
}
