//! Multinomial logistic regression in candle: the baseline of the FMA paper.
//!
//! Full-batch Adam on the mean cross-entropy plus `l2/2·‖W‖²` (biases are not penalised,
//! as in scikit-learn). Weights start at zero, so training is deterministic without any
//! random draw. Early stopping keeps the weights with the lowest validation loss.

use super::train::TrainError;
use crate::record::Epoch;
use crate::vectors::Standardizer;
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

/// How the baseline trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogregParams {
    /// The most full-batch epochs.
    pub epochs: usize,
    pub learning_rate: f64,
    /// L2 penalty on the weights (not the biases), added to the mean loss as `l2/2·‖W‖²`.
    pub l2: f64,
    /// Stop after this many epochs without a better validation log loss.
    pub patience: usize,
}

impl Default for LogregParams {
    /// Settings that converge on standardised MFCC statistics of a few thousand tracks
    /// (the FMA paper gives none for its logistic regression).
    fn default() -> Self {
        LogregParams {
            epochs: 400,
            learning_rate: 0.05,
            l2: 1e-2,
            patience: 50,
        }
    }
}

pub struct LogisticRegression {
    pub standardizer: Standardizer,
    weights: Tensor,
    bias: Tensor,
    device: Device,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_validation_loss: f64,
    pub final_train_loss: f64,
}

/// Row-major features with their class labels.
pub struct Labelled<'a> {
    pub x: &'a [f32],
    pub y: &'a [usize],
}

fn tensors(
    x: &[f32],
    y: &[usize],
    cols: usize,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let rows = y.len();
    let xt = Tensor::from_slice(x, (rows, cols), device)?;
    let yt = Tensor::from_iter(y.iter().map(|v| *v as u32), device)?;
    Ok((xt, yt))
}

impl LogisticRegression {
    pub fn fit(
        train: Labelled<'_>,
        validation: Labelled<'_>,
        cols: usize,
        classes: usize,
        spec: &LogregParams,
        device: &Device,
        mut on_epoch: impl FnMut(&Epoch),
    ) -> Result<(Self, TrainSummary), TrainError> {
        if train.y.is_empty() {
            return Err(TrainError::Empty("training"));
        }
        if validation.y.is_empty() {
            return Err(TrainError::Empty("validation"));
        }
        let standardizer = Standardizer::fit_rows(train.x, cols);
        let (xtr, ytr) = tensors(&standardizer.applied(train.x), train.y, cols, device)?;
        let (xva, yva) = tensors(
            &standardizer.applied(validation.x),
            validation.y,
            cols,
            device,
        )?;

        let w = Var::zeros((cols, classes), DType::F32, device)?;
        let b = Var::zeros(classes, DType::F32, device)?;
        let mut opt = AdamW::new(
            vec![w.clone(), b.clone()],
            ParamsAdamW {
                lr: spec.learning_rate,
                weight_decay: 0.0,
                ..Default::default()
            },
        )?;
        let mut best = (
            f64::INFINITY,
            0usize,
            w.as_tensor().copy()?,
            b.as_tensor().copy()?,
        );
        let mut summary = TrainSummary {
            epochs_run: 0,
            best_epoch: 0,
            best_validation_loss: f64::INFINITY,
            final_train_loss: f64::NAN,
        };
        for epoch in 1..=spec.epochs {
            let logits = xtr.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            let ce = candle_nn::loss::cross_entropy(&logits, &ytr)?;
            let penalty = (w.as_tensor().sqr()?.sum_all()? * (spec.l2 / 2.0))?;
            let loss = (&ce + penalty)?;
            opt.backward_step(&loss)?;
            let train_loss = ce.to_scalar::<f32>()? as f64;
            if !train_loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    which: "training",
                    loss: train_loss,
                });
            }
            let val_logits = xva.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            let val_loss =
                candle_nn::loss::cross_entropy(&val_logits, &yva)?.to_scalar::<f32>()? as f64;
            if !val_loss.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    which: "validation",
                    loss: val_loss,
                });
            }
            on_epoch(&Epoch {
                epoch,
                train_loss,
                validation_loss: val_loss,
                learning_rate: None,
                task: None,
            });
            summary.epochs_run = epoch;
            summary.final_train_loss = train_loss;
            if val_loss < best.0 {
                best = (
                    val_loss,
                    epoch,
                    w.as_tensor().copy()?,
                    b.as_tensor().copy()?,
                );
            } else if epoch - best.1 >= spec.patience {
                break;
            }
        }
        summary.best_epoch = best.1;
        summary.best_validation_loss = best.0;
        Ok((
            LogisticRegression {
                standardizer,
                weights: best.2,
                bias: best.3,
                device: device.clone(),
            },
            summary,
        ))
    }

    /// Class probabilities, row-major `rows × classes`.
    pub fn predict_proba(&self, x: &[f32]) -> Result<Vec<f32>, TrainError> {
        let cols = self.standardizer.mean.len();
        let rows = x.len() / cols;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let xt = Tensor::from_slice(&self.standardizer.applied(x), (rows, cols), &self.device)?;
        let logits = xt.matmul(&self.weights)?.broadcast_add(&self.bias)?;
        let p = candle_nn::ops::softmax(&logits, D::Minus1)?;
        Ok(p.flatten_all()?.to_vec1::<f32>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Three Gaussian blobs in 2-D: the model must find them and produce calibrated-ish
    /// probabilities, and identical inputs must give identical weights.
    #[test]
    fn separates_blobs_and_is_deterministic() {
        let mut rng = Rng::new(1);
        let centres = [(0.0, 0.0), (3.0, 0.0), (0.0, 3.0)];
        let mut make = |n: usize| {
            let mut x = Vec::new();
            let mut y = Vec::new();
            for i in 0..n {
                let c = i % 3;
                x.push((centres[c].0 + rng.normal()) as f32);
                x.push((centres[c].1 + rng.normal()) as f32);
                y.push(c);
            }
            (x, y)
        };
        let (xtr, ytr) = make(300);
        let (xva, yva) = make(90);
        let spec = LogregParams {
            epochs: 300,
            learning_rate: 0.05,
            l2: 1e-4,
            patience: 30,
        };
        let fit = || {
            LogisticRegression::fit(
                Labelled { x: &xtr, y: &ytr },
                Labelled { x: &xva, y: &yva },
                2,
                3,
                &spec,
                &Device::Cpu,
                |_| {},
            )
            .unwrap()
        };
        let (model, summary) = fit();
        let p = model.predict_proba(&xva).unwrap();
        let e = crate::eval::metrics::evaluate(&p, &yva, 3, 1e-8);
        assert!(e.accuracy > 0.85, "accuracy {}", e.accuracy);
        assert!(e.log_loss < 0.45, "log loss {}", e.log_loss);
        assert!((summary.best_validation_loss - e.log_loss).abs() < 1e-3);
        let (again, _) = fit();
        assert_eq!(again.predict_proba(&xva).unwrap(), p);
    }
}
