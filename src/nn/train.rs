//! Training one net on log-mel patches against a target distribution per track (one-hot
//! genre, or an artist's topic vector), with random crops, early stopping on validation loss,
//! a checkpoint after every epoch and resumption from it.
//!
//! Every random draw of an epoch (its order, crops, dropout masks) comes from a generator
//! derived from (seed, epoch), and the checkpoint holds weights, batch-norm statistics and
//! the optimiser's moments: a run resumed from epoch k's checkpoint continues exactly as the
//! uninterrupted run did.

use super::adam::{Adam, AdamConfig};
use super::cnn::{Cnn, CnnConfig};
use super::schedule::LrSchedule;
use crate::record::Epoch;
use crate::rng::Rng;
use candle_core::{Device, Tensor, D};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Spectrograms the trainer crops from: frame-major rows of `bands` values, standardised.
pub trait PatchSource: Sync {
    fn bands(&self) -> usize;
    fn frames(&self, track: usize) -> usize;
    /// Frames `start..start + n` (fewer at the end of the clip), frame-major.
    fn read(&self, track: usize, start: usize, n: usize) -> Vec<f32>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub cnn: CnnConfig,
    pub adam: AdamConfig,
    /// Weight of Σw² over conv and dense kernels in the loss.
    pub l2: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    pub patch_frames: usize,
    /// Hop between the windows whose predictions are averaged per track.
    pub window_hop: usize,
    pub schedule: LrSchedule,
    pub seed: u64,
}

impl TrainConfig {
    /// The winning submission's training of `cnn` (AGF-METHOD.md §3–4): batches of 64, up to
    /// 400 epochs at a constant Adam rate of 1e-3, L2 1e-5 on every kernel, random crops of
    /// 43 frames, predictions averaged over windows every 10 frames. Early stopping after 20
    /// epochs without a better validation loss is ours: the authors trained a fixed budget.
    pub fn authors(cnn: CnnConfig, seed: u64) -> TrainConfig {
        TrainConfig {
            cnn,
            adam: AdamConfig::default(),
            l2: 1e-5,
            batch_size: 64,
            epochs: 400,
            patience: 20,
            patch_frames: 43,
            window_hop: 10,
            schedule: LrSchedule::Constant,
            seed,
        }
    }
}

/// One target a net learns: a head of its own, training and validation examples, and (for
/// the multi-task variant) the chance that an epoch trains on it.
#[derive(Debug, Clone, Copy)]
pub struct Task<'a> {
    /// What the task is called in the epochs a multi-task net reports.
    pub name: &'a str,
    pub outputs: usize,
    pub train: &'a [Example],
    pub validation: &'a [Example],
    pub probability: f64,
}

impl<'a> Task<'a> {
    /// The only task of a single-task net.
    pub fn single(
        name: &'a str,
        outputs: usize,
        train: &'a [Example],
        validation: &'a [Example],
    ) -> Self {
        Task {
            name,
            outputs,
            train,
            validation,
            probability: 1.0,
        }
    }
}

/// A track and the distribution it should be predicted as.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub track: usize,
    pub target: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("tensor computation failed")]
    Candle(#[from] candle_core::Error),
    #[error("cannot {action} {path}: {message}")]
    Checkpoint {
        action: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("training was stopped at epoch {epoch}, batch {batch}")]
    Stopped { epoch: usize, batch: usize },
    #[error("cannot train on an empty {0} set")]
    Empty(&'static str),
    #[error(
        "training diverged at epoch {epoch}: the {which} loss is {loss}; try a lower learning rate"
    )]
    Diverged {
        epoch: usize,
        /// "training" or "validation".
        which: &'static str,
        loss: f64,
    },
}

/// What the checkpoint's sidecar holds besides tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Progress {
    /// What the checkpoint was trained on and how ([`fingerprint`]).
    #[serde(default)]
    fingerprint: String,
    /// The tensors' file in the checkpoint folder.
    #[serde(default)]
    tensors: String,
    epoch: usize,
    adam_step: u64,
    best_epoch: usize,
    best_loss: f64,
    history: Vec<Epoch>,
}

/// The outcome: the net at its best epoch, and the history.
pub struct Trained {
    pub net: Cnn,
    pub best_epoch: usize,
    pub best_validation_loss: f64,
    pub history: Vec<Epoch>,
    /// Epochs read back from a checkpoint rather than trained in this call.
    pub resumed_epochs: usize,
}

/// A batch of crops: batch × 1 × bands × patch (mel-major, as the net expects).
pub(crate) fn crops(
    src: &dyn PatchSource,
    tracks: &[(usize, usize)],
    patch: usize,
    dev: &Device,
) -> candle_core::Result<Tensor> {
    let bands = src.bands();
    let mut data = vec![0f32; tracks.len() * bands * patch];
    for (b, &(track, start)) in tracks.iter().enumerate() {
        let frames = src.read(track, start, patch);
        // Frame-major in, mel-major out; clips shorter than a patch are padded with the
        // standardised mean (0).
        let out = &mut data[b * bands * patch..(b + 1) * bands * patch];
        for (t, frame) in frames.chunks_exact(bands).enumerate() {
            for (m, v) in frame.iter().enumerate() {
                out[m * patch + t] = *v;
            }
        }
    }
    Tensor::from_vec(data, (tracks.len(), 1, bands, patch), dev)
}

/// One training batch: a random crop of each example's track, and the targets.
pub(crate) fn random_batch(
    src: &dyn PatchSource,
    ex: &[&Example],
    patch: usize,
    outputs: usize,
    rng: &mut Rng,
    dev: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let picks: Vec<(usize, usize)> = ex
        .iter()
        .map(|e| {
            let room = src.frames(e.track).saturating_sub(patch);
            (e.track, if room == 0 { 0 } else { rng.index(room + 1) })
        })
        .collect();
    let flat: Vec<f32> = ex.iter().flat_map(|e| e.target.iter().copied()).collect();
    Ok((
        crops(src, &picks, patch, dev)?,
        Tensor::from_vec(flat, (ex.len(), outputs), dev)?,
    ))
}

/// Cross-entropy of `logits` against target distributions, averaged over the batch.
pub(crate) fn soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    targets.mul(&logp)?.sum(D::Minus1)?.mean_all()? * -1.0
}

/// Track-level predictions of head `head`: the mean softmax over windows every
/// `window_hop` frames.
#[allow(clippy::too_many_arguments)]
pub fn predict(
    net: &Cnn,
    head: usize,
    src: &dyn PatchSource,
    tracks: &[usize],
    patch: usize,
    window_hop: usize,
    batch: usize,
    dev: &Device,
) -> candle_core::Result<Vec<Vec<f32>>> {
    average_windows(
        src,
        tracks,
        patch,
        window_hop,
        batch,
        net.outputs[head],
        dev,
        &|x| net.forward_head(x, false, None, head).map(|f| f.logits),
    )
}

/// Every window of every track (`window_hop` apart, the last one flush with the end), with
/// the position in `tracks` it belongs to.
pub(crate) fn windows(
    src: &dyn PatchSource,
    tracks: &[usize],
    patch: usize,
    window_hop: usize,
) -> (Vec<(usize, usize)>, Vec<usize>) {
    let mut windows: Vec<(usize, usize)> = Vec::new();
    let mut owner: Vec<usize> = Vec::new();
    for (i, &t) in tracks.iter().enumerate() {
        let last = src.frames(t).saturating_sub(patch);
        let mut s = 0;
        loop {
            windows.push((t, s));
            owner.push(i);
            if s >= last {
                break;
            }
            s = (s + window_hop.max(1)).min(last);
        }
    }
    (windows, owner)
}

/// The mean softmax of `logits_of` over each track's windows.
#[allow(clippy::too_many_arguments)]
pub(crate) fn average_windows(
    src: &dyn PatchSource,
    tracks: &[usize],
    patch: usize,
    window_hop: usize,
    batch: usize,
    outputs: usize,
    dev: &Device,
    logits_of: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<Vec<Vec<f32>>> {
    let (windows, owner) = windows(src, tracks, patch, window_hop);
    mean_softmax(&owner, tracks.len(), batch, outputs, &|r| {
        logits_of(&crops(src, &windows[r], patch, dev)?)
    })
}

/// Per track, the mean softmax over its windows; `owner[w]` is window w's track and
/// `logits_of(range)` gives the logits of a batch of consecutive windows.
pub(crate) fn mean_softmax(
    owner: &[usize],
    tracks: usize,
    batch: usize,
    outputs: usize,
    logits_of: &dyn Fn(std::ops::Range<usize>) -> candle_core::Result<Tensor>,
) -> candle_core::Result<Vec<Vec<f32>>> {
    let mut sums = vec![vec![0f32; outputs]; tracks];
    let mut counts = vec![0usize; tracks];
    let batch = batch.max(1);
    for start in (0..owner.len()).step_by(batch) {
        let end = (start + batch).min(owner.len());
        let p = candle_nn::ops::softmax(&logits_of(start..end)?, D::Minus1)?
            .to_device(&Device::Cpu)?
            .to_vec2::<f32>()?;
        for (row, &i) in p.iter().zip(&owner[start..end]) {
            for (s, v) in sums[i].iter_mut().zip(row) {
                *s += v;
            }
            counts[i] += 1;
        }
    }
    Ok(sums
        .into_iter()
        .zip(counts)
        .map(|(s, c)| s.into_iter().map(|v| v / c.max(1) as f32).collect())
        .collect())
}

/// Mean cross-entropy of track predictions against targets (probabilities clipped at 1e-8).
pub(crate) fn track_loss(pred: &[Vec<f32>], examples: &[Example]) -> f64 {
    let total: f64 = pred
        .iter()
        .zip(examples)
        .map(|(p, e)| {
            -e.target
                .iter()
                .zip(p)
                .map(|(t, q)| *t as f64 * (*q as f64).clamp(1e-8, 1.0).ln())
                .sum::<f64>()
        })
        .sum();
    total / examples.len().max(1) as f64
}

/// Write checkpoint `name` ("last" or "best") into `dir`: the tensors under a name of their
/// own epoch, then `<name>.json` naming them, written atomically. The JSON is the commit
/// point: a process killed at any moment leaves a JSON that names complete tensors of the
/// same epoch. Tensors of earlier epochs are removed afterwards.
fn save(
    dir: &Path,
    name: &str,
    tensors: HashMap<String, Tensor>,
    progress: &Progress,
) -> Result<(), TrainError> {
    let file = format!("{name}-e{:05}.safetensors", progress.epoch);
    let path = dir.join(&file);
    let fail = |message: String| TrainError::Checkpoint {
        action: "write the checkpoint",
        path: path.clone(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let tmp = dir.join(format!(".{file}.tmp{}", std::process::id()));
    candle_core::safetensors::save(&tensors, &tmp).map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&tmp, &path).map_err(|e| fail(e.to_string()))?;
    let committed = Progress {
        tensors: file.clone(),
        ..progress.clone()
    };
    let json = serde_json::to_vec_pretty(&committed).expect("progress serialises");
    crate::fsutil::write_atomic(&dir.join(format!("{name}.json")), &json)
        .map_err(|e| fail(e.to_string()))?;
    let stale = std::fs::read_dir(dir).map_err(|e| fail(e.to_string()))?;
    for entry in stale.flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        if n != file && n.starts_with(&format!("{name}-e")) && n.ends_with(".safetensors") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// A checkpoint's tensors by name.
type Tensors = HashMap<String, Tensor>;

/// Read checkpoint `name` from `dir`, if there is one: its progress and its tensors.
fn load(dir: &Path, name: &str, dev: &Device) -> Result<Option<(Progress, Tensors)>, TrainError> {
    let json_path = dir.join(format!("{name}.json"));
    let Ok(json) = std::fs::read(&json_path) else {
        return Ok(None);
    };
    let err = |path: &Path, message: String| TrainError::Checkpoint {
        action: "read the checkpoint",
        path: path.to_path_buf(),
        message,
    };
    let progress: Progress =
        serde_json::from_slice(&json).map_err(|e| err(&json_path, e.to_string()))?;
    let path = dir.join(&progress.tensors);
    let tensors =
        candle_core::safetensors::load(&path, dev).map_err(|e| err(&path, e.to_string()))?;
    Ok(Some((progress, tensors)))
}

fn snapshot(net: &Cnn) -> HashMap<String, Tensor> {
    net.params
        .iter()
        .map(|(n, v, _)| (format!("net.{n}"), v.as_tensor().clone()))
        .collect()
}

fn restore(net: &Cnn, tensors: &HashMap<String, Tensor>) -> candle_core::Result<()> {
    for (n, v, _) in net.params.iter() {
        match tensors.get(&format!("net.{n}")) {
            Some(t) => v.set(t)?,
            None => candle_core::bail!("the checkpoint has no parameter {n}"),
        }
    }
    Ok(())
}

/// A digest of the training configuration, the output count and every example (track and
/// target): a checkpoint is resumed only by the training that wrote it.
pub fn fingerprint(cfg: &TrainConfig, tasks: &[Task]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!("{cfg:?}").as_bytes());
    for t in tasks {
        h.update(format!("|{}|{}", t.outputs, t.probability).as_bytes());
        for set in [t.train, t.validation] {
            h.update((set.len() as u64).to_le_bytes());
            for e in set {
                h.update((e.track as u64).to_le_bytes());
                for v in &e.target {
                    h.update(v.to_le_bytes());
                }
            }
        }
    }
    format!("{:x}", h.finalize())
}

/// The task of epoch `epoch`: drawn with the tasks' probabilities from a stream of its own,
/// so the epoch's other draws do not depend on how many tasks there are.
fn epoch_task(tasks: &[Task], seed: u64, epoch: usize) -> usize {
    if tasks.len() == 1 {
        return 0;
    }
    let total: f64 = tasks.iter().map(|t| t.probability).sum();
    let mut u = Rng::derive(seed, "cnn.task", epoch as u64).uniform() * total;
    for (i, t) in tasks.iter().enumerate() {
        if u < t.probability {
            return i;
        }
        u -= t.probability;
    }
    tasks.len() - 1
}

/// Train a net with one head per task, checkpointing into `dir` (`last.*` every epoch,
/// `best.*` at each improvement) and resuming from `dir/last` when it is there. With one
/// task this is the plain net of the paper; with several, each epoch trains the shared trunk
/// and one head on a task drawn with the tasks' probabilities (the authors' multi-task
/// variant), and early stopping watches the probability-weighted validation loss.
/// `on_batch(epoch, batch)` may stop training (the test of resumption uses it).
#[allow(clippy::too_many_arguments)]
pub fn train(
    cfg: &TrainConfig,
    tasks: &[Task],
    src: &dyn PatchSource,
    dir: &Path,
    dev: &Device,
    on_epoch: &mut dyn FnMut(&Epoch),
    on_batch: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Trained, TrainError> {
    if tasks.is_empty() || tasks.iter().any(|t| t.train.is_empty()) {
        return Err(TrainError::Empty("training"));
    }
    if tasks.iter().any(|t| t.validation.is_empty()) {
        return Err(TrainError::Empty("validation"));
    }
    let heads: Vec<usize> = tasks.iter().map(|t| t.outputs).collect();
    let net = Cnn::multi(&cfg.cnn, &heads, cfg.seed, dev)?;
    let mut opt = Adam::new(&net.params, cfg.adam)?;
    let fingerprint = fingerprint(cfg, tasks);
    let mut progress = Progress {
        fingerprint: fingerprint.clone(),
        tensors: String::new(),
        epoch: 0,
        adam_step: 0,
        best_epoch: 0,
        best_loss: f64::INFINITY,
        history: Vec::new(),
    };
    let read_err = |path: &Path, message: String| TrainError::Checkpoint {
        action: "read the checkpoint",
        path: path.to_path_buf(),
        message,
    };
    if let Some((saved, tensors)) = load(dir, "last", dev)? {
        let last = dir.join(&saved.tensors);
        if saved.fingerprint != fingerprint {
            return Err(read_err(
                &last,
                "it was written by a training with another configuration or other data; \
                 remove its folder to train this net afresh"
                    .into(),
            ));
        }
        restore(&net, &tensors).map_err(|e| read_err(&last, e.to_string()))?;
        opt.load_state(&net.params, &|k| tensors.get(k).cloned())
            .map_err(|e| read_err(&last, e.to_string()))?;
        opt.step = saved.adam_step;
        progress = saved;
        tracing::info!(epoch = progress.epoch, "resuming from {}", last.display());
    }
    let resumed_epochs = progress.epoch;
    let patch = cfg.patch_frames;
    let total_p: f64 = tasks.iter().map(|t| t.probability).sum();
    let stalled = |p: &Progress| p.epoch - p.best_epoch >= cfg.patience;
    while progress.epoch < cfg.epochs && !(progress.epoch > 0 && stalled(&progress)) {
        let epoch = progress.epoch + 1;
        let past: Vec<f64> = progress.history.iter().map(|h| h.validation_loss).collect();
        let lr = cfg.schedule.rate(cfg.adam.lr, epoch, cfg.epochs, &past);
        opt.cfg.lr = lr;
        let task = epoch_task(tasks, cfg.seed, epoch);
        let (train_set, outputs) = (tasks[task].train, tasks[task].outputs);
        let mut rng = Rng::derive(cfg.seed, "cnn.epoch", epoch as u64);
        let mut order: Vec<usize> = (0..train_set.len()).collect();
        rng.shuffle(&mut order);
        let (mut loss_sum, mut n) = (0.0, 0usize);
        for (b, chunk) in order.chunks(cfg.batch_size.max(1)).enumerate() {
            if !on_batch(epoch, b) {
                return Err(TrainError::Stopped { epoch, batch: b });
            }
            let ex: Vec<&Example> = chunk.iter().map(|&i| &train_set[i]).collect();
            let (x, y) = random_batch(src, &ex, patch, outputs, &mut rng, dev)?;
            let f = net.forward_head(&x, true, Some(&mut rng), task)?;
            let ce = soft_cross_entropy(&f.logits, &y)?;
            loss_sum += ce.to_scalar::<f32>()? as f64 * ex.len() as f64;
            n += ex.len();
            // The penalty covers the trunk and this epoch's head: another task's head is
            // not trained this epoch, and decay alone must not move it.
            let active = |name: &str| Cnn::head_of(name).is_none_or(|h| h == task);
            let loss = match (cfg.l2 > 0.0)
                .then(|| net.params.kernel_sq_sum_where(&active))
                .transpose()?
                .flatten()
            {
                Some(sq) => (ce + (sq * cfg.l2)?)?,
                None => ce,
            };
            opt.step(&net.params, &loss.backward()?)?;
        }
        let mut val = 0.0;
        for (head, t) in tasks.iter().enumerate() {
            let tracks: Vec<usize> = t.validation.iter().map(|e| e.track).collect();
            let pred = predict(
                &net,
                head,
                src,
                &tracks,
                patch,
                cfg.window_hop,
                cfg.batch_size,
                dev,
            )?;
            val += t.probability / total_p * track_loss(&pred, t.validation);
        }
        if !val.is_finite() {
            return Err(TrainError::Diverged {
                epoch,
                which: "validation",
                loss: val,
            });
        }
        let stats = Epoch {
            epoch,
            train_loss: loss_sum / n.max(1) as f64,
            validation_loss: val,
            learning_rate: Some(lr),
            task: (tasks.len() > 1).then(|| tasks[task].name.to_string()),
        };
        on_epoch(&stats);
        progress.history.push(stats);
        progress.epoch = epoch;
        progress.adam_step = opt.step;
        let mut tensors = snapshot(&net);
        tensors.extend(opt.state(&net.params));
        if val < progress.best_loss {
            progress.best_loss = val;
            progress.best_epoch = epoch;
            save(dir, "best", snapshot(&net), &progress)?;
        }
        save(dir, "last", tensors, &progress)?;
    }
    // The net at its best epoch is the result.
    let best_json = dir.join("best.json");
    let Some((_, tensors)) = load(dir, "best", dev)? else {
        return Err(read_err(&best_json, "there is no best checkpoint".into()));
    };
    restore(&net, &tensors).map_err(|e| read_err(&best_json, e.to_string()))?;
    Ok(Trained {
        net,
        best_epoch: progress.best_epoch,
        best_validation_loss: progress.best_loss,
        history: progress.history,
        resumed_epochs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spectrograms whose class shows in which bands are loud.
    struct Toy {
        data: Vec<Vec<f32>>,
    }

    impl PatchSource for Toy {
        fn bands(&self) -> usize {
            16
        }
        fn frames(&self, track: usize) -> usize {
            self.data[track].len() / 16
        }
        fn read(&self, track: usize, start: usize, n: usize) -> Vec<f32> {
            let d = &self.data[track];
            let end = ((start + n) * 16).min(d.len());
            d[start * 16..end].to_vec()
        }
    }

    fn toy(n: usize, seed: u64) -> (Toy, Vec<Example>) {
        let mut rng = Rng::new(seed);
        let mut data = Vec::new();
        let mut ex = Vec::new();
        for i in 0..n {
            let class = i % 2;
            let frames = 20 + rng.index(10);
            let clip: Vec<f32> = (0..frames * 16)
                .map(|k| {
                    let band = k % 16;
                    let loud = if class == 0 { band < 8 } else { band >= 8 };
                    rng.normal() as f32 * 0.5 + if loud { 1.0 } else { -1.0 }
                })
                .collect();
            data.push(clip);
            let mut target = vec![0.0; 2];
            target[class] = 1.0;
            ex.push(Example { track: i, target });
        }
        (Toy { data }, ex)
    }

    fn cfg() -> TrainConfig {
        let mut cnn = CnnConfig::small();
        cnn.blocks.truncate(2);
        // Few batches: running statistics must follow quickly for evaluation to work.
        cnn.bn_momentum = 0.3;
        TrainConfig {
            cnn,
            adam: AdamConfig {
                lr: 3e-3,
                ..AdamConfig::default()
            },
            l2: 1e-5,
            batch_size: 8,
            epochs: 6,
            patience: 10,
            patch_frames: 8,
            window_hop: 4,
            schedule: LrSchedule::Constant,
            seed: 3,
        }
    }

    #[test]
    fn learns_a_separable_toy_and_resumes_to_the_same_result() {
        let (src, ex) = toy(48, 1);
        let (train_set, val) = ex.split_at(32);
        let dev = Device::Cpu;
        let dir = tempfile::tempdir().unwrap();
        let tasks = [Task::single("a", 2, train_set, val)];
        // Train with `config` in checkpoint folder `at`, stopping where `go` says.
        let run = |config: &TrainConfig,
                   at: &std::path::Path,
                   go: &mut dyn FnMut(usize, usize) -> bool| {
            train(config, &tasks, &src, at, &dev, &mut |_| {}, go)
        };
        let whole = run(&cfg(), &dir.path().join("a"), &mut |_, _| true).unwrap();
        // Chance is ln 2 = 0.693.
        assert!(whole.best_validation_loss < 0.3, "{:?}", whole.history);
        // Stop in the middle of epoch 3, then resume from epoch 2's checkpoint.
        let b = dir.path().join("b");
        let err = run(&cfg(), &b, &mut |e, k| !(e == 3 && k == 2))
            .err()
            .unwrap();
        assert!(matches!(err, TrainError::Stopped { epoch: 3, batch: 2 }));
        let resumed = run(&cfg(), &b, &mut |_, _| true).unwrap();
        assert_eq!(resumed.resumed_epochs, 2);
        assert_eq!(
            resumed.history, whole.history,
            "the resumed run retraces the uninterrupted one"
        );
        let tracks: Vec<usize> = val.iter().map(|e| e.track).collect();
        let p1 = predict(&whole.net, 0, &src, &tracks, 8, 4, 8, &dev).unwrap();
        let p2 = predict(&resumed.net, 0, &src, &tracks, 8, 4, 8, &dev).unwrap();
        assert_eq!(p1, p2);
        // A checkpoint is not resumed by a training with another configuration.
        let mut other = cfg();
        other.batch_size = 4;
        let err = run(&other, &b, &mut |_, _| true).err().unwrap();
        assert!(err.to_string().contains("another configuration"), "{err}");
    }

    #[test]
    fn a_multi_task_net_learns_every_head_on_epochs_drawn_by_probability() {
        let (src, ex) = toy(48, 2);
        // Task 1 is the opposite labelling of task 0 over the same tracks, with 3 classes.
        let other: Vec<Example> = ex
            .iter()
            .map(|e| {
                let mut target = vec![0.0; 3];
                target[if e.target[0] > 0.5 { 2 } else { 0 }] = 1.0;
                Example {
                    track: e.track,
                    target,
                }
            })
            .collect();
        let (a_train, a_val) = ex.split_at(32);
        let (b_train, b_val) = other.split_at(32);
        let tasks = [
            Task {
                probability: 0.5,
                ..Task::single("a", 2, a_train, a_val)
            },
            Task {
                probability: 0.5,
                ..Task::single("b", 3, b_train, b_val)
            },
        ];
        let mut c = cfg();
        c.epochs = 10;
        let dir = tempfile::tempdir().unwrap();
        let dev = Device::Cpu;
        let out = train(
            &c,
            &tasks,
            &src,
            dir.path(),
            &dev,
            &mut |_| {},
            &mut |_, _| true,
        )
        .unwrap();
        let drawn: Vec<&str> = out
            .history
            .iter()
            .filter_map(|h| h.task.as_deref())
            .collect();
        assert_eq!(drawn.len(), 10, "every epoch names its task");
        assert!(drawn.contains(&"a") && drawn.contains(&"b"), "{drawn:?}");
        assert_eq!(out.net.outputs, vec![2, 3]);
        let tracks: Vec<usize> = a_val.iter().map(|e| e.track).collect();
        for (head, val, chance) in [(0, a_val, 2f64.ln()), (1, b_val, 3f64.ln())] {
            let p = predict(&out.net, head, &src, &tracks, 8, 4, 8, &dev).unwrap();
            let loss = track_loss(&p, val);
            assert!(loss < 0.6 * chance, "head {head}: {loss} (chance {chance})");
        }
    }
}
