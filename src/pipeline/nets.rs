//! The CNN stage of a run: one net per target (genre, each factor) on the cached log-mels,
//! then the transfer MLP over their taps; epochs, evaluations and per-track predictions are
//! recorded as they come.

use super::{LoadedData, PipelineError, CLEAN_TEST};
use crate::cache::LogMelView;
use crate::data::noise::NoisyLabels;
use crate::data::split::{Split, SplitName};
use crate::eval::metrics::evaluate;
use crate::eval::Evaluation;
use crate::features::{BandStandardizer, TrackFeatures};
use crate::models::EpochReport;
use crate::nn::adam::AdamConfig;
use crate::nn::train::{self, Example, PatchSource, Task, TrainConfig, TrainError};
use crate::nn::transfer::{self, TransferConfig};
use crate::nn::Cnn;
use crate::rng::Rng;
use crate::spec::{CnnMode, ExperimentSpec, OptimizerKind};
use crate::store::{EpochDetail, RunId, Store};

/// The transfer model's name in the store.
pub const TRANSFER_MODEL: &str = "transfer";
/// The multi-task net's name in the store (its genre head is scored under it).
pub const MULTITASK_MODEL: &str = "cnn.multitask";

/// Standardised log-mels of the dataset's tracks, memory-mapped from the cache.
pub struct LogMels {
    views: Vec<Option<LogMelView>>,
    std: BandStandardizer,
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
    pub model: String,
    pub best_epoch: usize,
    pub best_validation_loss: f64,
    pub resumed_epochs: usize,
    /// Genre models only: train, validation, test, and test against the true genres.
    pub evaluations: Vec<(String, Evaluation)>,
}

fn model_err(model: &str) -> impl Fn(TrainError) -> PipelineError + '_ {
    move |e| PipelineError::Training {
        model: model.to_string(),
        message: e.to_string(),
    }
}

fn one_hot(class: usize, n: usize) -> Vec<f32> {
    let mut v = vec![0.0; n];
    v[class] = 1.0;
    v
}

/// Each epoch of a model to the store (as it happens) and to the progress bar; the first
/// store error is kept and returned when training ends.
struct EpochLog<'a> {
    store: &'a Store,
    run: RunId,
    model: &'a str,
    bar: indicatif::ProgressBar,
    error: Option<crate::store::StoreError>,
}

impl<'a> EpochLog<'a> {
    fn new(store: &'a Store, run: RunId, model: &'a str, epochs: usize) -> Self {
        EpochLog {
            store,
            run,
            model,
            bar: crate::progress::bar(epochs as u64, model),
            error: None,
        }
    }

    fn record(&mut self, e: &train::EpochStats, task: Option<&str>) {
        self.bar.inc(1);
        let r = EpochReport {
            epoch: e.epoch,
            train_loss: e.train_loss,
            validation_loss: e.validation_loss,
        };
        let detail = EpochDetail {
            learning_rate: Some(e.learning_rate),
            task,
        };
        if self.error.is_none() {
            self.error = self
                .store
                .record_epoch(self.run, self.model, &r, detail)
                .err();
        }
    }

    fn finish(self) -> Result<(), PipelineError> {
        self.bar.finish_and_clear();
        self.error.map_or(Ok(()), |e| Err(e.into()))
    }
}

/// One net a run trains.
struct NetPlan {
    /// Its name in the store.
    model: String,
    /// Its checkpoint folder under `checkpoints/`.
    folder: String,
    /// The targets it learns: (index into the spec's targets, probability of an epoch).
    learns: Vec<(usize, f64)>,
}

/// Train every net, then the transfer model, and evaluate the genre models.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_nets(
    spec: &ExperimentSpec,
    data: &LoadedData,
    split: &Split,
    noisy: &NoisyLabels,
    feats: &TrackFeatures,
    factors: &[super::FactorReport],
    store: &Store,
    run: RunId,
) -> Result<Vec<NetReport>, PipelineError> {
    let Some(c) = &spec.cnn else {
        return Ok(Vec::new());
    };
    let dev = crate::nn::device(&spec.device).map_err(|message| PipelineError::Training {
        model: "cnn".into(),
        message,
    })?;
    let d = &data.dataset;
    let views: Vec<Option<LogMelView>> = feats
        .logmels
        .iter()
        .map(|p| p.as_ref().and_then(|p| LogMelView::open(p).ok()))
        .collect();
    let usable = |s: SplitName| -> Vec<usize> {
        split
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
    let std = BandStandardizer::fit(
        bands,
        train_idx.iter().map(|&i| {
            let v = views[i].as_ref().expect("usable");
            v.frames_f32(0, v.frames)
        }),
    );
    let src = LogMels { views, std, bands };
    let classes = d.genres.len();
    let genre_examples = |idx: &[usize], labels: &[usize]| -> Vec<Example> {
        idx.iter()
            .map(|&i| Example {
                track: i,
                target: one_hot(labels[i], classes),
            })
            .collect()
    };
    let published: Vec<usize> = d.tracks.iter().map(|t| t.genre).collect();
    // Every genre model is scored on the same splits and labels.
    let score = |model: &str, predict: &TrackPredictor| {
        evaluate_model(
            spec,
            data,
            store,
            run,
            model,
            &train_idx,
            &val_idx,
            &test_idx,
            &noisy.labels,
            &published,
            predict,
        )
    };
    let adam = AdamConfig {
        lr: c.learning_rate,
        weight_decay: if c.optimizer == OptimizerKind::Adamw {
            c.weight_decay
        } else {
            0.0
        },
        ..AdamConfig::default()
    };
    // Every target's examples: genre (one-hot, the published labels with injected noise)
    // and each factor (the artist's topic vector).
    let targets = spec.cnn_targets();
    let mut data_of: Vec<(usize, Vec<Example>, Vec<Example>)> = Vec::new();
    for target in &targets {
        data_of.push(if target == "genre" {
            (
                classes,
                genre_examples(&train_idx, &noisy.labels),
                genre_examples(&val_idx, &noisy.labels),
            )
        } else {
            let table = &factors
                .iter()
                .find(|f| &f.summary.name == target)
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
    let cfg = |model: &str| TrainConfig {
        cnn: c.config(),
        adam,
        l2: c.l2,
        batch_size: c.batch_size,
        epochs: c.epochs,
        patience: c.patience,
        patch_frames: c.patch_frames,
        window_hop: c.window_hop,
        schedule: c.lr_schedule,
        seed: Rng::derive(spec.seed, model, 0).next_u64(),
    };
    let plan: Vec<NetPlan> = match c.mode {
        CnnMode::Separate => targets
            .iter()
            .enumerate()
            .map(|(i, t)| NetPlan {
                model: format!("cnn.{t}"),
                folder: t.clone(),
                learns: vec![(i, 1.0)],
            })
            .collect(),
        CnnMode::Multitask => vec![NetPlan {
            model: MULTITASK_MODEL.to_string(),
            folder: "multitask".to_string(),
            learns: spec.task_probabilities().into_iter().enumerate().collect(),
        }],
    };
    let mut reports = Vec::new();
    let mut nets: Vec<(String, Cnn)> = Vec::new();
    for NetPlan {
        model,
        folder,
        learns,
    } in plan
    {
        let tasks: Vec<Task> = learns
            .iter()
            .map(|&(i, p)| Task {
                probability: p,
                ..Task::single(data_of[i].0, &data_of[i].1, &data_of[i].2)
            })
            .collect();
        let names: Vec<&str> = learns.iter().map(|&(i, _)| targets[i].as_str()).collect();
        let dir = store.run_dir(run).join("checkpoints").join(&folder);
        let mut log = EpochLog::new(store, run, &model, c.epochs);
        let multi = tasks.len() > 1;
        let trained = train::train(
            &cfg(&model),
            &tasks,
            &src,
            &dir,
            &dev,
            &mut |e| log.record(e, multi.then(|| names[e.task])),
            &mut |_, _| true,
        );
        log.finish()?;
        let trained = trained.map_err(model_err(&model))?;
        tracing::info!(model = %model, best_epoch = trained.best_epoch, loss = trained.best_validation_loss, "trained");
        store.record_metrics(
            run,
            &model,
            "validation",
            &[
                ("best_epoch", trained.best_epoch as f64),
                ("best_validation_loss", trained.best_validation_loss),
                ("epochs_run", trained.history.len() as f64),
            ],
        )?;
        let mut evaluations = Vec::new();
        if let Some(head) = names.iter().position(|&t| t == "genre") {
            let predict = |idx: &[usize]| {
                train::predict(
                    &trained.net,
                    head,
                    &src,
                    idx,
                    c.patch_frames,
                    c.window_hop,
                    c.batch_size,
                    &dev,
                )
            };
            evaluations = score(&model, &predict)?;
        }
        reports.push(NetReport {
            model: model.clone(),
            best_epoch: trained.best_epoch,
            best_validation_loss: trained.best_validation_loss,
            resumed_epochs: trained.resumed_epochs,
            evaluations,
        });
        nets.push((folder, trained.net));
    }
    if nets.is_empty() {
        return Ok(reports);
    }
    let t = &spec.transfer;
    let tcfg = TransferConfig {
        hidden: t.hidden,
        dropout: t.dropout,
        epochs: t.epochs,
        patience: t.patience,
        batch_size: t.batch_size,
        adam: AdamConfig {
            lr: t.learning_rate,
            ..AdamConfig::default()
        },
        l2: t.l2,
        patch_frames: c.patch_frames,
        window_hop: c.window_hop,
        seed: Rng::derive(spec.seed, TRANSFER_MODEL, 0).next_u64(),
    };
    let frozen: Vec<&Cnn> = nets.iter().map(|(_, n)| n).collect();
    let mut log = EpochLog::new(store, run, TRANSFER_MODEL, t.epochs);
    let fitted = transfer::train(
        &frozen,
        classes,
        &tcfg,
        &src,
        &genre_examples(&train_idx, &noisy.labels),
        &genre_examples(&val_idx, &noisy.labels),
        &dev,
        &mut |e| log.record(e, None),
    );
    log.finish()?;
    let (mlp, history) = fitted.map_err(model_err(TRANSFER_MODEL))?;
    let (best_epoch, best_loss) = history
        .iter()
        .map(|h| (h.epoch, h.validation_loss))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, f64::NAN));
    let predict = |idx: &[usize]| transfer::predict(&frozen, &mlp, &src, idx, &tcfg, &dev);
    let evaluations = score(TRANSFER_MODEL, &predict)?;
    reports.push(NetReport {
        model: TRANSFER_MODEL.into(),
        best_epoch,
        best_validation_loss: best_loss,
        resumed_epochs: 0,
        evaluations,
    });
    Ok(reports)
}

/// Track-level class probabilities of a model, for dataset positions.
type TrackPredictor<'a> = dyn Fn(&[usize]) -> candle_core::Result<Vec<Vec<f32>>> + 'a;

/// Score a genre model on every split (and against the true genres when known), record it,
/// and write its per-track probabilities to `runs/<run>/predictions/<model>.csv`.
#[allow(clippy::too_many_arguments)]
fn evaluate_model(
    spec: &ExperimentSpec,
    data: &LoadedData,
    store: &Store,
    run: RunId,
    model: &str,
    train_idx: &[usize],
    val_idx: &[usize],
    test_idx: &[usize],
    noisy: &[usize],
    published: &[usize],
    predict: &TrackPredictor,
) -> Result<Vec<(String, Evaluation)>, PipelineError> {
    let d = &data.dataset;
    let classes = d.genres.len();
    let clip = spec.metrics.log_loss_clip;
    let fail = |e: candle_core::Error| PipelineError::Training {
        model: model.to_string(),
        message: e.to_string(),
    };
    let mut out = Vec::new();
    let mut csv = format!(
        "track_id,split,label{}\n",
        d.genres
            .iter()
            .map(|g| format!(",p_{}", g.title.replace(',', " ")))
            .collect::<String>()
    );
    for (split, idx, labels) in [
        ("train", train_idx, noisy),
        ("validation", val_idx, noisy),
        ("test", test_idx, published),
    ] {
        let probs = predict(idx).map_err(fail)?;
        for (&i, p) in idx.iter().zip(&probs) {
            csv.push_str(&format!("{},{split},{}", d.tracks[i].id, labels[i]));
            for v in p {
                csv.push_str(&format!(",{v}"));
            }
            csv.push('\n');
        }
        let flat: Vec<f32> = probs.concat();
        let y: Vec<usize> = idx.iter().map(|&i| labels[i]).collect();
        let e = evaluate(&flat, &y, classes, clip);
        store.record_evaluation(run, model, split, &e)?;
        out.push((split.to_string(), e));
        if let (true, Some(truth)) = (split == "test", &data.truth) {
            let clean: Vec<usize> = idx.iter().map(|&i| truth.true_genre[i]).collect();
            let e = evaluate(&flat, &clean, classes, clip);
            store.record_evaluation(run, model, CLEAN_TEST, &e)?;
            out.push((CLEAN_TEST.to_string(), e));
        }
    }
    let path = store
        .run_dir(run)
        .join("predictions")
        .join(format!("{model}.csv"));
    crate::fsutil::write_atomic(&path, csv.as_bytes()).map_err(|e| PipelineError::Training {
        model: model.to_string(),
        message: format!("cannot write {}: {e}", path.display()),
    })?;
    Ok(out)
}
