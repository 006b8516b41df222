//! The layers the CNNs are made of, with parameters drawn from our seeded generator (candle's
//! CPU generator cannot be seeded) and batch-norm statistics we can checkpoint.

use super::params::{ParamKind, Params};
use crate::rng::Rng;
use candle_core::{DType, Device, Result, Tensor, Var, D};
use std::sync::Mutex;

/// Glorot-uniform draws (Keras' and Lasagne's default for conv and dense kernels).
fn glorot(
    rng: &mut Rng,
    shape: &[usize],
    fan_in: usize,
    fan_out: usize,
    dev: &Device,
) -> Result<Tensor> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.range(-limit, limit) as f32).collect();
    Tensor::from_vec(v, shape, dev)
}

/// A 2-D convolution with 'same' padding (odd kernels), stride 1.
pub struct Conv {
    pub weight: Var,
    pub bias: Var,
    pad: (usize, usize),
}

impl Conv {
    pub fn new(
        params: &mut Params,
        name: &str,
        in_ch: usize,
        out_ch: usize,
        kernel: [usize; 2],
        rng: &mut Rng,
        dev: &Device,
    ) -> Result<Self> {
        let [kh, kw] = kernel;
        let w = glorot(
            rng,
            &[out_ch, in_ch, kh, kw],
            in_ch * kh * kw,
            out_ch * kh * kw,
            dev,
        )?;
        let weight = params.add(&format!("{name}.weight"), w, ParamKind::Kernel)?;
        let bias = params.add(
            &format!("{name}.bias"),
            Tensor::zeros(out_ch, DType::F32, dev)?,
            ParamKind::Other,
        )?;
        Ok(Conv {
            weight,
            bias,
            pad: (kh / 2, kw / 2),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // candle pads both dimensions alike; pad the taller side by hand when they differ.
        let (ph, pw) = self.pad;
        let (x, p) = if ph == pw {
            (x.clone(), ph)
        } else {
            (x.pad_with_zeros(2, ph, ph)?.pad_with_zeros(3, pw, pw)?, 0)
        };
        let y = x.conv2d(self.weight.as_tensor(), p, 1, 1, 1)?;
        y.broadcast_add(&self.bias.as_tensor().reshape((1, (), 1, 1))?)
    }
}

/// A fully connected layer.
pub struct Dense {
    pub weight: Var,
    pub bias: Var,
}

impl Dense {
    pub fn new(
        params: &mut Params,
        name: &str,
        inputs: usize,
        outputs: usize,
        rng: &mut Rng,
        dev: &Device,
    ) -> Result<Self> {
        let w = glorot(rng, &[outputs, inputs], inputs, outputs, dev)?;
        Ok(Dense {
            weight: params.add(&format!("{name}.weight"), w, ParamKind::Kernel)?,
            bias: params.add(
                &format!("{name}.bias"),
                Tensor::zeros(outputs, DType::F32, dev)?,
                ParamKind::Other,
            )?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight.as_tensor().t()?)?
            .broadcast_add(self.bias.as_tensor())
    }
}

/// Batch normalisation over the channel axis (1) of 2-D or 4-D input; running statistics
/// are parameters of kind `Statistic` (checkpointed, never trained).
pub struct BatchNorm {
    pub gamma: Var,
    pub beta: Var,
    running_mean: Var,
    running_var: Var,
    momentum: f64,
    eps: f64,
    lock: Mutex<()>,
}

impl BatchNorm {
    pub fn new(
        params: &mut Params,
        name: &str,
        channels: usize,
        momentum: f64,
        dev: &Device,
    ) -> Result<Self> {
        Ok(BatchNorm {
            gamma: params.add(
                &format!("{name}.gamma"),
                Tensor::ones(channels, DType::F32, dev)?,
                ParamKind::Other,
            )?,
            beta: params.add(
                &format!("{name}.beta"),
                Tensor::zeros(channels, DType::F32, dev)?,
                ParamKind::Other,
            )?,
            running_mean: params.add(
                &format!("{name}.running_mean"),
                Tensor::zeros(channels, DType::F32, dev)?,
                ParamKind::Statistic,
            )?,
            running_var: params.add(
                &format!("{name}.running_var"),
                Tensor::ones(channels, DType::F32, dev)?,
                ParamKind::Statistic,
            )?,
            momentum,
            eps: 1e-3,
            lock: Mutex::new(()),
        })
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let rank = x.rank();
        let c = x.dim(1)?;
        let shape: Vec<usize> = (0..rank).map(|i| if i == 1 { c } else { 1 }).collect();
        let (mean, var) = if train {
            // Statistics over every axis but the channels.
            let xt = if rank == 4 {
                x.transpose(0, 1)?.flatten_from(1)?
            } else {
                x.t()?
            };
            let mean = xt.mean(D::Minus1)?;
            let centred = xt.broadcast_sub(&mean.unsqueeze(1)?)?;
            let var = centred.sqr()?.mean(D::Minus1)?;
            let _guard = self.lock.lock().expect("batch-norm lock");
            let m = self.momentum;
            let n = xt.dim(1)? as f64;
            let unbiased = (var.detach() * (n / (n - 1.0).max(1.0)))?;
            let (rm, rv) = (
                self.running_mean.as_tensor().detach(),
                self.running_var.as_tensor().detach(),
            );
            self.running_mean
                .set(&((rm * (1.0 - m))? + (mean.detach() * m)?)?)?;
            self.running_var
                .set(&((rv * (1.0 - m))? + (unbiased * m)?)?)?;
            (mean, var)
        } else {
            (
                self.running_mean.as_tensor().clone(),
                self.running_var.as_tensor().clone(),
            )
        };
        let norm = x
            .broadcast_sub(&mean.reshape(shape.as_slice())?)?
            .broadcast_div(&(var + self.eps)?.sqrt()?.reshape(shape.as_slice())?)?;
        norm.broadcast_mul(&self.gamma.as_tensor().reshape(shape.as_slice())?)?
            .broadcast_add(&self.beta.as_tensor().reshape(shape.as_slice())?)
    }
}

/// Inverted dropout with a mask from our generator (identity when `p` is 0 or not training).
pub fn dropout(x: &Tensor, p: f64, rng: Option<&mut Rng>) -> Result<Tensor> {
    let Some(rng) = rng.filter(|_| p > 0.0) else {
        return Ok(x.clone());
    };
    let keep = 1.0 - p;
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| {
            if rng.uniform() < keep {
                (1.0 / keep) as f32
            } else {
                0.0
            }
        })
        .collect();
    x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?)
}
