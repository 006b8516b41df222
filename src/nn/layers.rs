//! The layers the CNNs are made of, with parameters drawn from our seeded generator (candle's
//! CPU generator cannot be seeded) and batch-norm statistics we can checkpoint.

use super::fused;
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
    /// Whether the input needs a gradient (the first layer's input is data).
    input_grad: bool,
}

impl Conv {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        params: &mut Params,
        name: &str,
        in_ch: usize,
        out_ch: usize,
        kernel: [usize; 2],
        input_grad: bool,
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
            input_grad,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if fused::applies(x.device()) {
            return fused::conv2d(
                x,
                self.weight.as_tensor(),
                self.bias.as_tensor(),
                self.pad,
                self.input_grad,
            );
        }
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

    /// Move the running statistics towards a batch's `mean` and biased `var` over `n` values
    /// (the variance is stored unbiased, as PyTorch and Keras do).
    fn update_running(&self, mean: &Tensor, var: &Tensor, n: f64) -> Result<()> {
        let _guard = self.lock.lock().expect("batch-norm lock");
        let m = self.momentum;
        let unbiased = (var.detach() * (n / (n - 1.0).max(1.0)))?;
        let (rm, rv) = (
            self.running_mean.as_tensor().detach(),
            self.running_var.as_tensor().detach(),
        );
        self.running_mean
            .set(&((rm * (1.0 - m))? + (mean.detach() * m)?)?)?;
        self.running_var
            .set(&((rv * (1.0 - m))? + (unbiased * m)?)?)
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let rank = x.rank();
        let c = x.dim(1)?;
        let shape: Vec<usize> = (0..rank).map(|i| if i == 1 { c } else { 1 }).collect();
        if train && fused::applies(x.device()) {
            let (y, mean, var) = fused::batch_norm_train(
                x,
                self.gamma.as_tensor(),
                self.beta.as_tensor(),
                self.eps,
            )?;
            let n = (x.elem_count() / c) as f64;
            self.update_running(&mean, &var, n)?;
            return Ok(y);
        }
        if !train && fused::applies(x.device()) {
            let scale =
                (self.gamma.as_tensor() / (self.running_var.as_tensor() + self.eps)?.sqrt()?)?;
            let shift = (self.beta.as_tensor() - self.running_mean.as_tensor().mul(&scale)?)?;
            return fused::channel_affine(x, &scale, &shift);
        }
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
            self.update_running(&mean, &var, xt.dim(1)? as f64)?;
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

/// Max pooling with a (kh, kw) window and the same stride. Not candle's `max_pool2d`: its
/// backward pass scales a window's gradient by the share of maxima in the window (¼ for a
/// unique maximum under 2×2) instead of dividing it among them.
pub fn max_pool(x: &Tensor, kh: usize, kw: usize) -> Result<Tensor> {
    if fused::applies(x.device()) {
        return fused::max_pool(x, kh, kw);
    }
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = (h / kh, w / kw);
    x.narrow(2, 0, oh * kh)?
        .narrow(3, 0, ow * kw)?
        .reshape((n, c, oh, kh, ow, kw))?
        .max(5)?
        .max(3)
}

/// ELU (α = 1 in the paper's nets).
pub fn elu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    if fused::applies(x.device()) {
        fused::elu(x, alpha)
    } else {
        x.elu(alpha)
    }
}
