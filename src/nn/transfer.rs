//! The transfer model: the trained nets frozen, their taps concatenated, and an MLP on genre
//! (AGF-METHOD.md §4: dropout → dense (ELU, L2) → dropout → dense → softmax). Trained on one
//! random crop per track per epoch, like the nets; a track's prediction is the mean softmax
//! over its windows.

use super::adam::{Adam, AdamConfig};
use super::cnn::Cnn;
use super::layers::{dropout, elu, Dense};
use super::params::Params;
use super::train::{
    average_windows, crops, mean_softmax, random_batch, soft_cross_entropy, track_loss, windows,
    Example, PatchSource, TrainError,
};
use crate::record::Epoch;
use crate::rng::Rng;
use candle_core::{Device, Tensor};

#[derive(Debug, Clone, PartialEq)]
pub struct TransferConfig {
    pub hidden: usize,
    pub dropout: f64,
    pub epochs: usize,
    pub patience: usize,
    pub batch_size: usize,
    pub adam: AdamConfig,
    pub l2: f64,
    pub patch_frames: usize,
    pub window_hop: usize,
    pub seed: u64,
}

impl TransferConfig {
    /// The authors' MLP (AGF-METHOD.md §4): 1024 hidden units, dropout 0.5, L2 1e-5 on the
    /// kernels, Adam at 1e-3, batches of 64; at most 200 epochs with early stopping after
    /// 20 without a better validation loss (ours). Crops and windows as the nets'.
    pub fn authors(patch_frames: usize, window_hop: usize, seed: u64) -> TransferConfig {
        TransferConfig {
            hidden: 1024,
            dropout: 0.5,
            epochs: 200,
            patience: 20,
            batch_size: 64,
            adam: AdamConfig::default(),
            l2: 1e-5,
            patch_frames,
            window_hop,
            seed,
        }
    }
}

pub struct Mlp {
    pub params: Params,
    hidden: Dense,
    out: Dense,
    dropout: f64,
    pub outputs: usize,
}

impl Mlp {
    pub fn new(
        inputs: usize,
        hidden: usize,
        outputs: usize,
        dropout: f64,
        seed: u64,
        dev: &Device,
    ) -> candle_core::Result<Self> {
        let mut rng = Rng::derive(seed, "mlp.init", 0);
        let mut params = Params::default();
        Ok(Mlp {
            hidden: Dense::new(&mut params, "hidden", inputs, hidden, &mut rng, dev)?,
            out: Dense::new(&mut params, "out", hidden, outputs, &mut rng, dev)?,
            params,
            dropout,
            outputs,
        })
    }

    pub fn forward(&self, x: &Tensor, mut rng: Option<&mut Rng>) -> candle_core::Result<Tensor> {
        let train = rng.is_some();
        let x = if train {
            dropout(x, self.dropout, rng.as_deref_mut())?
        } else {
            x.clone()
        };
        let h = elu(&self.hidden.forward(&x)?, 1.0)?;
        let h = if train {
            dropout(&h, self.dropout, rng)?
        } else {
            h
        };
        self.out.forward(&h)
    }
}

/// The frozen nets' taps of a batch, side by side.
pub fn taps(nets: &[&Cnn], x: &Tensor) -> candle_core::Result<Tensor> {
    let t = nets
        .iter()
        .map(|n| n.forward(x, false, None).map(|f| f.tap.detach()))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&t, 1)
}

/// The frozen nets' taps at every inference window of `tracks`, computed once: the
/// validation loss of every epoch reads them instead of running the nets again.
struct WindowTaps {
    taps: Tensor,
    owner: Vec<usize>,
    tracks: usize,
}

impl WindowTaps {
    fn new(
        nets: &[&Cnn],
        src: &dyn PatchSource,
        tracks: &[usize],
        cfg: &TransferConfig,
        dev: &Device,
    ) -> candle_core::Result<Self> {
        let (windows, owner) = windows(src, tracks, cfg.patch_frames, cfg.window_hop);
        let rows = windows
            .chunks(cfg.batch_size.max(1))
            .map(|chunk| taps(nets, &crops(src, chunk, cfg.patch_frames, dev)?))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(WindowTaps {
            taps: Tensor::cat(&rows, 0)?,
            owner,
            tracks: tracks.len(),
        })
    }

    /// Mean softmax of the MLP over each track's windows.
    fn predict(&self, mlp: &Mlp, batch: usize) -> candle_core::Result<Vec<Vec<f32>>> {
        mean_softmax(&self.owner, self.tracks, batch, mlp.outputs, &|r| {
            mlp.forward(&self.taps.narrow(0, r.start, r.len())?, None)
        })
    }
}

/// Track-level genre probabilities of the transfer model.
pub fn predict(
    nets: &[&Cnn],
    mlp: &Mlp,
    src: &dyn PatchSource,
    tracks: &[usize],
    cfg: &TransferConfig,
    dev: &Device,
) -> candle_core::Result<Vec<Vec<f32>>> {
    // Batch by batch: holding every window's taps of a whole split (the training split of
    // FMA medium runs to gigabytes) is only worth it for the validation set, read every epoch.
    average_windows(
        src,
        tracks,
        cfg.patch_frames,
        cfg.window_hop,
        cfg.batch_size,
        mlp.outputs,
        dev,
        &|x| mlp.forward(&taps(nets, x)?, None),
    )
}

#[allow(clippy::too_many_arguments)]
/// Train the MLP with early stopping on the validation tracks' loss; the best epoch's
/// weights are kept.
pub fn train(
    nets: &[&Cnn],
    outputs: usize,
    cfg: &TransferConfig,
    src: &dyn PatchSource,
    train_set: &[Example],
    validation: &[Example],
    dev: &Device,
    on_epoch: &mut dyn FnMut(&Epoch),
) -> Result<(Mlp, Vec<Epoch>), TrainError> {
    if train_set.is_empty() || validation.is_empty() {
        return Err(TrainError::Empty(if train_set.is_empty() {
            "training"
        } else {
            "validation"
        }));
    }
    let width: usize = nets.iter().map(|n| n.tap_width()).sum();
    let mlp = Mlp::new(width, cfg.hidden, outputs, cfg.dropout, cfg.seed, dev)?;
    let mut opt = Adam::new(&mlp.params, cfg.adam)?;
    let patch = cfg.patch_frames;
    let val_tracks: Vec<usize> = validation.iter().map(|e| e.track).collect();
    let val_taps = WindowTaps::new(nets, src, &val_tracks, cfg, dev)?;
    let mut history = Vec::new();
    let (mut best, mut best_epoch) = (f64::INFINITY, 0usize);
    let mut best_weights: Vec<Tensor> = Vec::new();
    for epoch in 1..=cfg.epochs {
        if epoch - best_epoch > cfg.patience && best_epoch > 0 {
            break;
        }
        let mut rng = Rng::derive(cfg.seed, "mlp.epoch", epoch as u64);
        let mut order: Vec<usize> = (0..train_set.len()).collect();
        rng.shuffle(&mut order);
        let (mut loss_sum, mut n) = (0.0, 0usize);
        for chunk in order.chunks(cfg.batch_size.max(1)) {
            let ex: Vec<&Example> = chunk.iter().map(|&i| &train_set[i]).collect();
            let (crops, y) = random_batch(src, &ex, patch, outputs, &mut rng, dev)?;
            let x = taps(nets, &crops)?;
            let ce = soft_cross_entropy(&mlp.forward(&x, Some(&mut rng))?, &y)?;
            loss_sum += ce.to_scalar::<f32>()? as f64 * ex.len() as f64;
            n += ex.len();
            let loss = match mlp.params.kernel_sq_sum()? {
                Some(sq) if cfg.l2 > 0.0 => (ce + (sq * cfg.l2)?)?,
                _ => ce,
            };
            opt.step(&mlp.params, &loss.backward()?)?;
        }
        let pred = val_taps.predict(&mlp, cfg.batch_size)?;
        let val = track_loss(&pred, validation);
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
            learning_rate: Some(cfg.adam.lr),
            task: None,
        };
        on_epoch(&stats);
        history.push(stats);
        if val < best {
            best = val;
            best_epoch = epoch;
            best_weights = mlp
                .params
                .iter()
                .map(|(_, v, _)| v.as_tensor().copy())
                .collect::<candle_core::Result<_>>()?;
        }
    }
    for ((_, v, _), w) in mlp.params.iter().zip(&best_weights) {
        v.set(w)?;
    }
    Ok((mlp, history))
}
