//! The nets stage: one CNN per target (genre, each factor) on the cached log-mels, or one
//! multi-task trunk with a head per target, then the transfer MLP over their taps. Each net
//! checkpoints every epoch into the run's folder and resumes from there; every genre model is
//! scored ([`super::scoring`]).
//!
//! A trained net is an entry of the stage cache (`net/<key>`: its best weights, then its
//! history, which marks the entry complete), keyed by its training configuration, its tasks'
//! examples, the log-mels they read, the device kind and the kernel build; the transfer MLP
//! likewise (`transfer/<key>`), keyed by its configuration, its nets' keys and its examples.
//! Runs that share a net (sweep cells that differ only downstream) train it once; the
//! others read it, and record its epochs as their own.

use super::data::LoadedData;
use super::factors::FactorOutcome;
use super::features::TrackFeatures;
use super::lock::StageLock;
use super::resolve::{train_config, transfer_config};
use super::scoring::{score, ScoredTracks};
use super::{EpochLog, Recorder, StageError};
use crate::cache::{CacheKey, LogMelView, StageCache};
use crate::data::split::SplitName;
use crate::eval::Evaluation;
use crate::nn::params::Params;
use crate::nn::train::{self, Example, PatchSource, Task, TrainConfig};
use crate::nn::transfer;
use crate::nn::Cnn;
use crate::record::{metric, Epoch, ModelName, SplitKey};
use crate::spec::{CnnMode, Resolved};
use crate::vectors::{ColumnMoments, Standardizer};
use candle_core::Device;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

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
    /// Read from the stage cache rather than trained in this run.
    pub cached: bool,
    /// Genre models only: train, validation, test, and test against the true genres.
    pub evaluations: Vec<(SplitKey, Evaluation)>,
}

pub const NET_STAGE: &str = "net";
pub const TRANSFER_STAGE: &str = "transfer";
/// Bumped whenever a trained net differs for the same key.
pub const VERSION: u32 = 2;

/// What a cached training holds besides its weights; written last, it marks the entry
/// complete.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedTraining {
    best_epoch: usize,
    best_validation_loss: f64,
    history: Vec<Epoch>,
}

/// The key of a training: `what` (a fingerprint of configuration and examples), the
/// log-mels of `tracks`, the device kind and the kernel build.
fn training_key(
    stage: &str,
    what: &str,
    tracks: impl IntoIterator<Item = usize>,
    logmels: &[Option<PathBuf>],
    device: &Device,
) -> CacheKey {
    let mut h = Sha256::new();
    for t in tracks {
        let name = logmels[t].as_ref().and_then(|p| p.file_name());
        h.update(name.map_or("-".into(), |n| n.to_string_lossy()).as_bytes());
        h.update(b",");
    }
    CacheKey::new(
        stage,
        VERSION,
        &[
            what.as_bytes(),
            &h.finalize(),
            crate::nn::device_kind(device).as_bytes(),
            crate::simd::kernel_tag(),
        ],
    )
}

/// A cached training, if the cache holds a complete one: its record and the weights file.
fn cached(cache: &StageCache, stage: &str, key: &CacheKey) -> Option<(CachedTraining, PathBuf)> {
    let record = cache
        .read(stage, key, "json")
        .and_then(|b| serde_json::from_slice::<CachedTraining>(&b).ok())?;
    let weights = cache.path(stage, key, "safetensors");
    weights.is_file().then_some((record, weights))
}

/// Put a training into the cache: the weights, then the record that marks it complete. A
/// cache that cannot be written costs the next run a training, not this run its result.
fn publish(
    cache: &StageCache,
    stage: &str,
    key: &CacheKey,
    params: &Params,
    record: &CachedTraining,
) {
    let written = params
        .save(&cache.path(stage, key, "safetensors"))
        .map_err(|e| e.to_string())
        .and_then(|_| {
            let json = serde_json::to_vec(record).expect("a training record serialises");
            cache
                .write(stage, key, "json", &json)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    if let Err(e) = written {
        tracing::warn!(
            "cannot write the {stage} cache under {}: {e}",
            cache.root().display()
        );
    }
}

fn one_hot(class: usize, n: usize) -> Vec<f32> {
    let mut v = vec![0.0; n];
    v[class] = 1.0;
    v
}

/// One net a run trains.
pub(super) struct NetPlan {
    pub(super) model: ModelName,
    /// Its checkpoint folder under `checkpoints/`.
    pub(super) folder: String,
    /// The targets it learns: (index into the spec's targets, probability of an epoch).
    pub(super) learns: Vec<(usize, f64)>,
}

/// What every net of a run is trained from: the standardised log-mels, the split's tracks
/// that have them, each target's examples, the device and the cache. The audit's folds
/// ([`super::oof`]) train from the same.
pub struct NetInputs<'a> {
    pub(super) spec: &'a Resolved,
    pub(super) data: &'a LoadedData,
    factors: &'a [FactorOutcome],
    logmels: &'a [Option<PathBuf>],
    pub(super) device: &'a Device,
    pub(super) cache: &'a StageCache,
    pub(super) src: LogMels,
    pub(super) train_idx: Vec<usize>,
    pub(super) val_idx: Vec<usize>,
    test_idx: Vec<usize>,
    pub(super) classes: usize,
    /// `genre` and the factors the nets learn, in the spec's order.
    pub(super) targets: Vec<String>,
}

impl<'a> NetInputs<'a> {
    fn new(
        spec: &'a Resolved,
        data: &'a LoadedData,
        feats: &'a TrackFeatures,
        factors: &'a [FactorOutcome],
        device: &'a Device,
        cache: &'a StageCache,
    ) -> NetInputs<'a> {
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
        NetInputs {
            spec,
            data,
            factors,
            logmels: &feats.logmels,
            device,
            cache,
            src: LogMels {
                views,
                std: moments.finish(),
                bands,
            },
            train_idx,
            val_idx,
            test_idx,
            classes: data.dataset.genres.len(),
            targets: spec.cnn_targets(),
        }
    }

    /// Genre examples of `idx`: one-hot, the published labels with injected noise.
    pub(super) fn genre_examples(&self, idx: &[usize]) -> Vec<Example> {
        let labels = &self.data.noisy.labels;
        idx.iter()
            .map(|&i| Example {
                track: i,
                target: one_hot(labels[i], self.classes),
            })
            .collect()
    }

    /// Target `t`'s outputs and its examples among `idx`: genre, or a factor's topic vector
    /// of each track's artist (tracks of artists the factor has no vector for left out).
    pub(super) fn examples(&self, t: usize, idx: &[usize]) -> (usize, Vec<Example>) {
        let target = &self.targets[t];
        if target == "genre" {
            return (self.classes, self.genre_examples(idx));
        }
        let table = &self
            .factors
            .iter()
            .find(|f| &f.table.summary.name == target)
            .expect("validated: targets name factors")
            .table;
        let d = &self.data.dataset;
        let examples = idx
            .iter()
            .filter_map(|&i| {
                table.artist(d.tracks[i].artist).map(|v| Example {
                    track: i,
                    target: v.to_vec(),
                })
            })
            .collect();
        (table.summary.topics, examples)
    }

    fn plans(&self) -> Vec<NetPlan> {
        let c = self.spec.cnn.as_ref().expect("nets need [cnn]");
        match c.mode {
            CnnMode::Separate => self
                .targets
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
                learns: self
                    .spec
                    .task_probabilities()
                    .into_iter()
                    .enumerate()
                    .collect(),
            }],
        }
    }

    /// Train the net of `tasks`, checkpointing under `checkpoints` and resuming from there,
    /// or read it from the cache; `on_epoch` sees every epoch either way. Returns the net
    /// and its cache key.
    pub(super) fn net(
        &self,
        model: &ModelName,
        cfg: &TrainConfig,
        tasks: &[Task],
        checkpoints: &Path,
        on_epoch: &mut dyn FnMut(&Epoch),
    ) -> Result<(Trained, CacheKey), StageError> {
        let (cache, device) = (self.cache, self.device);
        let failed = |source| StageError::Training {
            model: model.clone(),
            source,
        };
        let examples = tasks
            .iter()
            .flat_map(|t| t.train.iter().chain(t.validation).map(|e| e.track));
        let key = training_key(
            NET_STAGE,
            &train::fingerprint(cfg, tasks),
            examples,
            self.logmels,
            device,
        );
        let _lock = StageLock::acquire(cache, NET_STAGE, &key.0);
        if let Some((record, weights)) = cached(cache, NET_STAGE, &key) {
            let heads: Vec<usize> = tasks.iter().map(|t| t.outputs).collect();
            let net = Cnn::multi(&cfg.cnn, &heads, cfg.seed, device)
                .and_then(|net| net.params.load(&weights, device).map(|_| net))
                .map_err(|e| failed(e.into()))?;
            record.history.iter().for_each(&mut *on_epoch);
            tracing::info!("{model}: read from the stage cache");
            let trained = Trained {
                net,
                best_epoch: record.best_epoch,
                best_validation_loss: record.best_validation_loss,
                history: record.history,
                resumed_epochs: 0,
                cached: true,
            };
            return Ok((trained, key));
        }
        let t = train::train(
            cfg,
            tasks,
            &self.src,
            checkpoints,
            device,
            on_epoch,
            &mut |_, _| true,
        )
        .map_err(failed)?;
        let record = CachedTraining {
            best_epoch: t.best_epoch,
            best_validation_loss: t.best_validation_loss,
            history: t.history,
        };
        publish(cache, NET_STAGE, &key, &t.net.params, &record);
        let trained = Trained {
            net: t.net,
            best_epoch: t.best_epoch,
            best_validation_loss: t.best_validation_loss,
            history: record.history,
            resumed_epochs: t.resumed_epochs,
            cached: false,
        };
        Ok((trained, key))
    }

    /// The transfer MLP over `nets` (whose cache keys are `net_keys`), trained on
    /// `train_set` and early-stopped on `val_set`, or read from the cache. Returns the MLP,
    /// its epochs and whether it was cached.
    pub(super) fn transfer(
        &self,
        nets: &[&Cnn],
        net_keys: &[&CacheKey],
        train_set: &[Example],
        val_set: &[Example],
        on_epoch: &mut dyn FnMut(&Epoch),
    ) -> Result<(transfer::Mlp, Vec<Epoch>, bool), StageError> {
        let (cache, device, classes) = (self.cache, self.device, self.classes);
        let model = ModelName::Transfer;
        let tcfg = transfer_config(self.spec);
        let labels = &self.data.noisy.labels;
        let what = format!(
            "{tcfg:?}|{classes}|{}|{:?}|{:?}",
            net_keys
                .iter()
                .map(|k| k.0.as_str())
                .collect::<Vec<_>>()
                .join(","),
            train_set
                .iter()
                .map(|e| (e.track, labels[e.track]))
                .collect::<Vec<_>>(),
            val_set
                .iter()
                .map(|e| (e.track, labels[e.track]))
                .collect::<Vec<_>>(),
        );
        let examples = train_set.iter().chain(val_set).map(|e| e.track);
        let key = training_key(TRANSFER_STAGE, &what, examples, self.logmels, device);
        let _lock = StageLock::acquire(cache, TRANSFER_STAGE, &key.0);
        let failed = |source| StageError::Training {
            model: model.clone(),
            source,
        };
        let width: usize = nets.iter().map(|n| n.tap_width()).sum();
        if let Some((record, weights)) = cached(cache, TRANSFER_STAGE, &key) {
            let mlp =
                transfer::Mlp::new(width, tcfg.hidden, classes, tcfg.dropout, tcfg.seed, device)
                    .and_then(|m| m.params.load(&weights, device).map(|_| m))
                    .map_err(|e| failed(e.into()))?;
            record.history.iter().for_each(&mut *on_epoch);
            tracing::info!("{model}: read from the stage cache");
            return Ok((mlp, record.history, true));
        }
        let (mlp, history) = transfer::train(
            nets, classes, &tcfg, &self.src, train_set, val_set, device, on_epoch,
        )
        .map_err(failed)?;
        let (best_epoch, best_validation_loss) = best_of(&history);
        let record = CachedTraining {
            best_epoch,
            best_validation_loss,
            history,
        };
        publish(cache, TRANSFER_STAGE, &key, &mlp.params, &record);
        Ok((mlp, record.history, false))
    }

    /// Genre probabilities of `idx` from head `head` of `net`, windows averaged per track.
    pub(super) fn predict_net(
        &self,
        net: &Cnn,
        head: usize,
        cfg: &TrainConfig,
        idx: &[usize],
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        train::predict(
            net,
            head,
            &self.src,
            idx,
            cfg.patch_frames,
            cfg.window_hop,
            cfg.batch_size,
            self.device,
        )
    }

    /// Genre probabilities of `idx` from the transfer MLP over `nets`.
    pub(super) fn predict_transfer(
        &self,
        nets: &[&Cnn],
        mlp: &transfer::Mlp,
        idx: &[usize],
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let tcfg = transfer_config(self.spec);
        transfer::predict(nets, mlp, &self.src, idx, &tcfg, self.device)
    }
}

/// The run's trained nets with what they were trained from, for the audit's folds.
pub struct TrainedNets<'a> {
    pub(super) inputs: NetInputs<'a>,
    pub(super) plans: Vec<NetPlan>,
    pub(super) nets: Vec<Cnn>,
    pub(super) keys: Vec<CacheKey>,
}

/// Train (or read from `cache`) every net, then the transfer model, and score the genre
/// models. Checkpoints go under `run_dir/checkpoints/`. Returns the reports and, when the
/// spec has nets, the trained nets.
#[allow(clippy::too_many_arguments)]
pub fn run<'a>(
    spec: &'a Resolved,
    data: &'a LoadedData,
    feats: &'a TrackFeatures,
    factors: &'a [FactorOutcome],
    device: &'a Device,
    run_dir: &Path,
    cache: &'a StageCache,
    rec: &mut dyn Recorder,
) -> Result<(Vec<NetReport>, Option<TrainedNets<'a>>), StageError> {
    if spec.cnn.is_none() {
        return Ok((Vec::new(), None));
    }
    let inputs = NetInputs::new(spec, data, feats, factors, device, cache);
    let tracks = ScoredTracks {
        train: &inputs.train_idx,
        validation: &inputs.val_idx,
        test: &inputs.test_idx,
    };
    let clip = spec.metrics.log_loss_clip;
    // Every target's examples: genre (one-hot, the published labels with injected noise)
    // and each factor (the artist's topic vector).
    let data_of: Vec<(usize, Vec<Example>, Vec<Example>)> = (0..inputs.targets.len())
        .map(|t| {
            let (outputs, train) = inputs.examples(t, &inputs.train_idx);
            (outputs, train, inputs.examples(t, &inputs.val_idx).1)
        })
        .collect();
    let plans = inputs.plans();
    let mut reports = Vec::new();
    let mut nets: Vec<Cnn> = Vec::new();
    let mut net_keys: Vec<CacheKey> = Vec::new();
    for plan in &plans {
        let model = &plan.model;
        let cfg = train_config(spec, model);
        let tasks: Vec<Task> = plan
            .learns
            .iter()
            .map(|&(i, p)| Task {
                probability: p,
                ..Task::single(
                    &inputs.targets[i],
                    data_of[i].0,
                    &data_of[i].1,
                    &data_of[i].2,
                )
            })
            .collect();
        let dir = run_dir.join("checkpoints").join(&plan.folder);
        let mut log = EpochLog::new(rec, model.clone(), cfg.epochs);
        let trained = inputs.net(model, &cfg, &tasks, &dir, &mut |e| log.record(e));
        log.finish()?;
        let (trained, key) = trained?;
        tracing::info!(
            "{model}: the best epoch is {} (validation loss {:.4})",
            trained.best_epoch,
            trained.best_validation_loss
        );
        rec.metrics(
            model,
            SplitKey::Validation,
            &[
                (metric::BEST_EPOCH, trained.best_epoch as f64),
                (metric::BEST_VALIDATION_LOSS, trained.best_validation_loss),
                (metric::EPOCHS_RUN, trained.history.len() as f64),
                ("cache_hit", f64::from(u8::from(trained.cached))),
            ],
        )?;
        let mut evaluations = Vec::new();
        if let Some(head) = tasks.iter().position(|t| t.name == "genre") {
            let predict = |idx: &[usize]| Ok(inputs.predict_net(&trained.net, head, &cfg, idx)?);
            evaluations = score(model, data, &tracks, clip, &predict, rec)?;
        }
        reports.push(NetReport {
            model: model.clone(),
            best_epoch: trained.best_epoch,
            best_validation_loss: trained.best_validation_loss,
            resumed_epochs: trained.resumed_epochs,
            cached: trained.cached,
            evaluations,
        });
        nets.push(trained.net);
        net_keys.push(key);
    }
    if nets.is_empty() {
        let trained = TrainedNets {
            inputs,
            plans,
            nets,
            keys: net_keys,
        };
        return Ok((reports, Some(trained)));
    }
    let model = ModelName::Transfer;
    let tcfg = transfer_config(spec);
    let frozen: Vec<&Cnn> = nets.iter().collect();
    let keys: Vec<&CacheKey> = net_keys.iter().collect();
    let (train_set, val_set) = (
        inputs.genre_examples(&inputs.train_idx),
        inputs.genre_examples(&inputs.val_idx),
    );
    let mut log = EpochLog::new(rec, model.clone(), tcfg.epochs);
    let fitted = inputs.transfer(&frozen, &keys, &train_set, &val_set, &mut |e| log.record(e));
    log.finish()?;
    let (mlp, history, cached_mlp) = fitted?;
    let (best_epoch, best_loss) = best_of(&history);
    rec.metrics(
        &model,
        SplitKey::Validation,
        &[("cache_hit", f64::from(u8::from(cached_mlp)))],
    )?;
    let predict = |idx: &[usize]| Ok(inputs.predict_transfer(&frozen, &mlp, idx)?);
    let evaluations = score(&model, data, &tracks, clip, &predict, rec)?;
    reports.push(NetReport {
        model,
        best_epoch,
        best_validation_loss: best_loss,
        resumed_epochs: 0,
        cached: cached_mlp,
        evaluations,
    });
    drop(frozen);
    let trained = TrainedNets {
        inputs,
        plans,
        nets,
        keys: net_keys,
    };
    Ok((reports, Some(trained)))
}

/// The epoch with the lowest validation loss, and that loss.
fn best_of(history: &[Epoch]) -> (usize, f64) {
    history
        .iter()
        .map(|h| (h.epoch, h.validation_loss))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, f64::NAN))
}

/// A net, trained here or read from the cache.
pub(super) struct Trained {
    pub(super) net: Cnn,
    pub(super) best_epoch: usize,
    pub(super) best_validation_loss: f64,
    history: Vec<Epoch>,
    resumed_epochs: usize,
    cached: bool,
}
