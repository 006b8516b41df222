//! CPU kernels for the layers whose candle backward passes dominate CPU training.
//!
//! candle builds these layers' gradients from generic tensor ops: a max-pool backward makes
//! five full-size passes (upsample, compare, cast, average, upsample), ELU four, batch norm
//! a dozen strided reductions, and a convolution's input gradient runs as a per-pixel
//! transposed convolution, even for the first layer, whose input needs no gradient. Profiling
//! the `won2018` net showed those passes, and the page faults of their temporaries, costing
//! more than the convolutions' arithmetic. Each op here does its forward and backward in one
//! or two passes over contiguous memory, as candle custom ops, so autograd still composes
//! them.
//!
//! Sums that cross threads are reduced in a fixed order (fixed chunks, summed in chunk order),
//! so results do not depend on the number of threads or on work stealing. On other devices the
//! layers use candle's own ops; these kernels are CPU only. `AGF_KERNELS=candle` makes the
//! CPU take the other devices' path too, so that it is tested without a GPU.

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape};
use candle_core::{Device, Tensor};
use rayon::prelude::*;
use std::sync::OnceLock;

/// Whether the fused kernels serve tensors on `dev`: on the CPU, unless candle's ops are
/// asked for there ([`crate::simd::Kernels`]).
pub fn applies(dev: &Device) -> bool {
    dev.is_cpu() && crate::simd::kernels() == crate::simd::Kernels::Fused
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("fused kernels take f32 tensors")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("fused kernels take contiguous tensors"),
    }
}

/// Elementwise work is split into pieces of this many values (big enough to amortise a
/// task, small enough to balance two to sixteen threads).
const PIECE: usize = 1 << 15;

/// Batch-dimension work is split into this many chunks at most, whatever the thread count, so
/// that cross-sample sums are formed in the same order on every machine.
const CHUNKS: usize = 8;

fn chunk_len(n: usize) -> usize {
    n.div_ceil(CHUNKS).max(1)
}

// ---------------------------------------------------------------------------------------------
// ELU

/// eˣ − 1 for x ≤ 0, written so that the compiler vectorises it (libm's `expm1f` is a scalar
/// call and took a sixth of a training step): e^x = 2ⁿ·e^r with n = round(x·log₂e) and
/// |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial (relative error < 2e-7 on that range).
/// The absolute error of the result stays within a few 1e-8.
#[inline(always)]
fn exp_m1_nonpositive(x: f32) -> f32 {
    // Not `max`: it would turn NaN into −87, and a diverged net must stay visibly NaN.
    let x = if x < -87.0 { -87.0 } else { x };
    // Round to nearest by the 1.5·2²³ trick (`round` is a libm call that blocks vectorising).
    const SHIFTER: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + SHIFTER) - SHIFTER;
    // ln 2 split in two so that n·ln2 is exact to f32 precision.
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale - 1.0
}

struct Elu {
    alpha: f32,
}

impl CustomOp1 for Elu {
    fn name(&self) -> &'static str {
        "fused-elu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        let a = self.alpha;
        y.par_chunks_mut(PIECE)
            .zip(x.par_chunks(PIECE))
            .for_each(|(y, x)| elu_forward(x, y, a));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(
            y.apply_op2_no_bwd(&g, &EluGrad { alpha: self.alpha })?,
        ))
    }
}

struct EluGrad {
    alpha: f32,
}

impl CustomOp2 for EluGrad {
    fn name(&self) -> &'static str {
        "fused-elu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (y, g) = (slice(s1, l1)?, slice(s2, l2)?);
        let mut dx = vec![0f32; y.len()];
        let a = self.alpha;
        dx.par_chunks_mut(PIECE)
            .zip(y.par_chunks(PIECE).zip(g.par_chunks(PIECE)))
            .for_each(|(dx, (y, g))| elu_backward(y, g, dx, a));
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

crate::simd::vectorised! {
    fn elu_forward(x: &[f32], y: &mut [f32], a: f32) {
        for (y, &x) in y.iter_mut().zip(x) {
            // Both sides computed, then chosen: a branch would stop the loop vectorising. (Not
            // `x.min(0.0)`: it would turn NaN into 0.)
            let neg = a * exp_m1_nonpositive(if x > 0.0 { 0.0 } else { x });
            *y = if x > 0.0 { x } else { neg };
        }
    }
}

crate::simd::vectorised! {
    fn elu_backward(y: &[f32], g: &[f32], dx: &mut [f32], a: f32) {
        for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(g) {
            // For x ≤ 0, d elu/dx = α eˣ = y + α.
            *dx = if y > 0.0 { g } else { g * (y + a) };
        }
    }
}

/// ELU with the given α.
pub fn elu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Elu {
        alpha: alpha as f32,
    })
}

// ---------------------------------------------------------------------------------------------
// Max pooling (kernel = stride, no padding; trailing rows and columns that do not fill a
// window are dropped, as in PyTorch and candle).

struct MaxPool {
    kh: usize,
    kw: usize,
    /// Where each window's maximum sits (its index in the window, row-major), set by the
    /// forward pass for the backward pass: the gradient goes there and nowhere else.
    winners: std::sync::Arc<OnceLock<Vec<u8>>>,
}

impl MaxPool {
    fn out(&self, h: usize, w: usize) -> (usize, usize) {
        (h / self.kh, w / self.kw)
    }
}

/// One output row of max pooling: the maximum of each (KH, KW) window of the KH input rows
/// starting at `rows` (a plane of width `w`), and where it is in its window (row-major). The
/// first maximum wins ties, and a NaN wins over numbers, as in PyTorch. A fixed window
/// unrolls, and the loop over the row then vectorises (strided loads included).
#[inline(always)]
fn pool_row_fixed<const KH: usize, const KW: usize>(
    rows: &[f32],
    w: usize,
    best: &mut [f32],
    at: &mut [u8],
) {
    let ow = best.len();
    let rows: [&[f32]; KH] = std::array::from_fn(|dy| &rows[dy * w..dy * w + ow * KW]);
    for (ox, (b, a)) in best.iter_mut().zip(at.iter_mut()).enumerate() {
        let (mut m, mut k) = (rows[0][ox * KW], 0u8);
        for (dy, row) in rows.iter().enumerate() {
            for dx in 0..KW {
                let v = row[ox * KW + dx];
                let take = v > m || (v.is_nan() && !m.is_nan());
                m = if take { v } else { m };
                k = if take { (dy * KW + dx) as u8 } else { k };
            }
        }
        *b = m;
        *a = k;
    }
}

/// [`pool_row_fixed`] for any window.
fn pool_row_any(rows: &[f32], w: usize, kh: usize, kw: usize, best: &mut [f32], at: &mut [u8]) {
    for (ox, (b, a)) in best.iter_mut().zip(at.iter_mut()).enumerate() {
        let (mut m, mut k) = (rows[ox * kw], 0u8);
        for dy in 0..kh {
            for dx in 0..kw {
                let v = rows[dy * w + ox * kw + dx];
                if v > m || (v.is_nan() && !m.is_nan()) {
                    (m, k) = (v, (dy * kw + dx) as u8);
                }
            }
        }
        *b = m;
        *a = k;
    }
}

crate::simd::vectorised! {
    fn pool_row(rows: &[f32], w: usize, kh: usize, kw: usize, best: &mut [f32], at: &mut [u8]) {
        match (kh, kw) {
            (2, 2) => pool_row_fixed::<2, 2>(rows, w, best, at),
            (2, 1) => pool_row_fixed::<2, 1>(rows, w, best, at),
            (1, 2) => pool_row_fixed::<1, 2>(rows, w, best, at),
            (3, 3) => pool_row_fixed::<3, 3>(rows, w, best, at),
            _ => pool_row_any(rows, w, kh, kw, best, at),
        }
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "fused-max-pool"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let (n, c, h, w) = l.shape().dims4()?;
        let (oh, ow) = self.out(h, w);
        if self.kh * self.kw > usize::from(u8::MAX) {
            bail!("max-pool windows of {}×{} are too large", self.kh, self.kw)
        }
        let mut y = vec![0f32; n * c * oh * ow];
        let mut winners = vec![0u8; y.len()];
        if oh * ow > 0 {
            // Several planes per task: the deep layers' planes hold a few values each.
            let planes = (PIECE / (h * w).max(1)).max(1);
            y.par_chunks_mut(planes * oh * ow)
                .zip(winners.par_chunks_mut(planes * oh * ow))
                .zip(x.par_chunks(planes * h * w))
                .for_each(|((y, at), x)| {
                    let outs = y
                        .chunks_exact_mut(oh * ow)
                        .zip(at.chunks_exact_mut(oh * ow));
                    for ((y, at), plane) in outs.zip(x.chunks_exact(h * w)) {
                        for oy in 0..oh {
                            pool_row(
                                &plane[oy * self.kh * w..],
                                w,
                                self.kh,
                                self.kw,
                                &mut y[oy * ow..(oy + 1) * ow],
                                &mut at[oy * ow..(oy + 1) * ow],
                            );
                        }
                    }
                });
        }
        let _ = self.winners.set(winners);
        Ok((CpuStorage::F32(y), Shape::from((n, c, oh, ow))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let Some(winners) = self.winners.get() else {
            bail!("max-pool backward before its forward pass")
        };
        let (_, _, h, w) = x.dims4()?;
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&MaxPoolGrad {
            kh: self.kh,
            kw: self.kw,
            h,
            w,
            winners: winners.clone(),
        })?))
    }
}

/// The gradient of max pooling: each window's gradient at its maximum, zero elsewhere.
struct MaxPoolGrad {
    kh: usize,
    kw: usize,
    /// The input's plane.
    h: usize,
    w: usize,
    winners: Vec<u8>,
}

impl CustomOp1 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "fused-max-pool-grad"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = slice(s, l)?;
        let (n, c, oh, ow) = l.shape().dims4()?;
        let (h, w) = (self.h, self.w);
        if g.len() != self.winners.len() || (oh, ow) != (h / self.kh, w / self.kw) {
            bail!(
                "max-pool gradient of shape {:?} for {} windows",
                l.dims(),
                self.winners.len()
            )
        }
        let mut dx = vec![0f32; n * c * h * w];
        if oh * ow > 0 {
            let planes = (PIECE / (h * w).max(1)).max(1);
            dx.par_chunks_mut(planes * h * w)
                .zip(g.par_chunks(planes * oh * ow))
                .zip(self.winners.par_chunks(planes * oh * ow))
                .for_each(|((dx, g), at)| {
                    let outs = g.chunks_exact(oh * ow).zip(at.chunks_exact(oh * ow));
                    for (dx, (g, at)) in dx.chunks_exact_mut(h * w).zip(outs) {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let k = at[oy * ow + ox] as usize;
                                let (dy, ddx) = (k / self.kw, k % self.kw);
                                dx[(oy * self.kh + dy) * w + ox * self.kw + ddx] = g[oy * ow + ox];
                            }
                        }
                    }
                });
        }
        Ok((CpuStorage::F32(dx), Shape::from((n, c, h, w))))
    }
}

/// Max pooling of an NCHW tensor with a (kh, kw) window and the same stride.
pub fn max_pool(x: &Tensor, kh: usize, kw: usize) -> Result<Tensor> {
    x.contiguous()?.apply_op1(MaxPool {
        kh,
        kw,
        winners: Default::default(),
    })
}

// ---------------------------------------------------------------------------------------------
// Batch normalisation in training mode, over every axis but the channels (axis 1) of an
// (N, C) or (N, C, H, W) tensor.

/// (N, C, spatial) of a batch-norm input.
fn bn_dims(shape: &Shape) -> Result<(usize, usize, usize)> {
    let d = shape.dims();
    if d.len() < 2 {
        bail!("batch norm needs at least (batch, channels), got {d:?}")
    }
    Ok((d[0], d[1], d[2..].iter().product()))
}

/// Per-channel mean and 1/√(var + eps) (biased variance), summed in f64 channel by channel.
fn channel_moments(x: &[f32], n: usize, c: usize, hw: usize, eps: f64) -> Vec<(f32, f32, f32)> {
    let m = (n * hw) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let planes = || (0..n).map(move |i| &x[(i * c + ch) * hw..(i * c + ch + 1) * hw]);
            let mean = planes().flatten().map(|&v| v as f64).sum::<f64>() / m;
            let var = planes()
                .flatten()
                .map(|&v| (v as f64 - mean).powi(2))
                .sum::<f64>()
                / m;
            (mean as f32, var as f32, (1.0 / (var + eps).sqrt()) as f32)
        })
        .collect()
}

struct BatchNormTrain {
    eps: f64,
    /// The batch's (mean, biased variance, 1/√(var + eps)) per channel, set by the forward
    /// pass: the layer reads it for its running statistics, the backward pass reuses it.
    moments: std::sync::Arc<OnceLock<Vec<(f32, f32, f32)>>>,
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "fused-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, gamma, beta) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (n, c, hw) = bn_dims(l1.shape())?;
        if gamma.len() != c || beta.len() != c {
            bail!("batch norm over {c} channels got {} scales", gamma.len())
        }
        let moments = channel_moments(x, n, c, hw, self.eps);
        let mut y = vec![0f32; x.len()];
        if hw > 0 && c > 0 {
            y.par_chunks_mut(c * hw)
                .zip(x.par_chunks(c * hw))
                .for_each(|(y, x)| {
                    for ch in 0..c {
                        let (mean, _, inv) = moments[ch];
                        let (scale, shift) = (gamma[ch] * inv, beta[ch]);
                        for (y, &x) in y[ch * hw..(ch + 1) * hw]
                            .iter_mut()
                            .zip(&x[ch * hw..(ch + 1) * hw])
                        {
                            *y = (x - mean) * scale + shift;
                        }
                    }
                });
        }
        let _ = self.moments.set(moments);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(moments) = self.moments.get() else {
            bail!("batch-norm backward before its forward pass")
        };
        let c = gamma.elem_count();
        let packed = x.apply_op2_no_bwd(
            &grad.contiguous()?,
            &BatchNormGrad {
                gamma: gamma.flatten_all()?.to_vec1::<f32>()?,
                moments: moments.clone(),
            },
        )?;
        let len = x.elem_count();
        Ok((
            Some(packed.narrow(0, 0, len)?.reshape(x.shape())?),
            Some(packed.narrow(0, len, c)?),
            Some(packed.narrow(0, len + c, c)?),
        ))
    }
}

/// Gradients of batch norm, packed as [dx, dγ, dβ].
struct BatchNormGrad {
    gamma: Vec<f32>,
    moments: Vec<(f32, f32, f32)>,
}

impl CustomOp2 for BatchNormGrad {
    fn name(&self) -> &'static str {
        "fused-batch-norm-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (slice(s1, l1)?, slice(s2, l2)?);
        let (n, c, hw) = bn_dims(l1.shape())?;
        let m = (n * hw) as f64;
        // Σ dy and Σ dy·x̂ per channel.
        let sums: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (mean, _, inv) = self.moments[ch];
                let (mut sg, mut sgx) = (0f64, 0f64);
                for i in 0..n {
                    let r = (i * c + ch) * hw..(i * c + ch + 1) * hw;
                    for (&xv, &gv) in x[r.clone()].iter().zip(&g[r]) {
                        sg += gv as f64;
                        sgx += gv as f64 * ((xv - mean) * inv) as f64;
                    }
                }
                (sg, sgx)
            })
            .collect();
        let len = x.len();
        let mut out = vec![0f32; len + 2 * c];
        let (dx, rest) = out.split_at_mut(len);
        if hw > 0 && c > 0 {
            dx.par_chunks_mut(c * hw)
                .zip(x.par_chunks(c * hw).zip(g.par_chunks(c * hw)))
                .for_each(|(dx, (x, g))| {
                    let planes = dx
                        .chunks_exact_mut(hw)
                        .zip(x.chunks_exact(hw).zip(g.chunks_exact(hw)));
                    for (ch, (dx, (x, g))) in planes.enumerate() {
                        let (mean, _, inv) = self.moments[ch];
                        let (sg, sgx) = sums[ch];
                        let (mg, mgx) = ((sg / m) as f32, (sgx / m) as f32);
                        let k = self.gamma[ch] * inv;
                        for ((d, &xv), &gv) in dx.iter_mut().zip(x).zip(g) {
                            let xhat = (xv - mean) * inv;
                            *d = k * (gv - mg - xhat * mgx);
                        }
                    }
                });
        }
        for (ch, &(sg, sgx)) in sums.iter().enumerate() {
            rest[ch] = sgx as f32;
            rest[c + ch] = sg as f32;
        }
        Ok((CpuStorage::F32(out), Shape::from(len + 2 * c)))
    }
}

/// Batch norm over the batch's own statistics; returns the output and the batch's per-channel
/// mean and biased variance (detached), for the running statistics.
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let moments = std::sync::Arc::new(OnceLock::new());
    let y = x.contiguous()?.apply_op3(
        &gamma.contiguous()?,
        &beta.contiguous()?,
        BatchNormTrain {
            eps,
            moments: moments.clone(),
        },
    )?;
    let Some(m) = moments.get() else {
        bail!("batch-norm forward left no statistics")
    };
    let dev = x.device();
    let mean = Tensor::from_vec(m.iter().map(|t| t.0).collect::<Vec<_>>(), m.len(), dev)?;
    let var = Tensor::from_vec(m.iter().map(|t| t.1).collect::<Vec<_>>(), m.len(), dev)?;
    Ok((y, mean, var))
}

/// Batch norm over fixed statistics (inference): `x·scale + shift` per channel in one pass,
/// where candle's broadcast ops take four.
struct ChannelAffine;

impl CustomOp3 for ChannelAffine {
    fn name(&self) -> &'static str {
        "fused-channel-affine"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, scale, shift) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (_, c, hw) = bn_dims(l1.shape())?;
        if scale.len() != c || shift.len() != c {
            bail!("batch norm over {c} channels got {} scales", scale.len())
        }
        let mut y = vec![0f32; x.len()];
        if hw > 0 && c > 0 {
            y.par_chunks_mut(c * hw)
                .zip(x.par_chunks(c * hw))
                .for_each(|(y, x)| {
                    let planes = y.chunks_exact_mut(hw).zip(x.chunks_exact(hw));
                    for (ch, (y, x)) in planes.enumerate() {
                        let (a, b) = (scale[ch], shift[ch]);
                        for (y, &x) in y.iter_mut().zip(x) {
                            *y = x * a + b;
                        }
                    }
                });
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        scale: &Tensor,
        _shift: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Rare (nets are frozen where inference statistics are used): candle's ops suffice.
        let rank = x.rank();
        let shape: Vec<usize> = (0..rank)
            .map(|i| if i == 1 { x.dim(1).unwrap_or(0) } else { 1 })
            .collect();
        let per_channel = |t: &Tensor| -> Result<Tensor> {
            let t = if rank == 2 {
                t.clone()
            } else {
                t.flatten_from(2)?.sum(2)?
            };
            t.sum(0)
        };
        let dx = grad.broadcast_mul(&scale.reshape(shape.as_slice())?)?;
        let dscale = per_channel(&grad.mul(x)?)?;
        let dshift = per_channel(grad)?;
        Ok((Some(dx), Some(dscale), Some(dshift)))
    }
}

/// `x·scale + shift` per channel (axis 1) of an (N, C) or (N, C, H, W) tensor.
pub fn channel_affine(x: &Tensor, scale: &Tensor, shift: &Tensor) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&scale.contiguous()?, &shift.contiguous()?, ChannelAffine)
}

// ---------------------------------------------------------------------------------------------
// Convolution: stride 1, zero 'same'-style padding (ph, pw), NCHW input, OIHW kernel, bias.
// Each sample is an im2col matrix times the kernel (one gemm, written straight into NCHW).

#[derive(Clone, Copy)]
struct ConvGeom {
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    ph: usize,
    pw: usize,
}

impl ConvGeom {
    fn oh(&self) -> usize {
        self.h + 2 * self.ph + 1 - self.kh
    }
    fn ow(&self) -> usize {
        self.w + 2 * self.pw + 1 - self.kw
    }
    /// Rows of the im2col matrix (= the kernel's fan-in).
    fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }
    /// A 1×1 kernel without padding reads the input as its own im2col matrix.
    fn identity_cols(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.ph == 0 && self.pw == 0
    }

    /// Fill `cols` (k × oh·ow) from one sample's (cin × h × w) planes.
    fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let (oh, ow) = (self.oh(), self.ow());
        let mut r = 0;
        for ci in 0..self.cin {
            let plane = &x[ci * self.h * self.w..(ci + 1) * self.h * self.w];
            for dy in 0..self.kh {
                for dx in 0..self.kw {
                    let row = &mut cols[r * oh * ow..(r + 1) * oh * ow];
                    for oy in 0..oh {
                        let out = &mut row[oy * ow..(oy + 1) * ow];
                        let iy = (oy + dy) as isize - self.ph as isize;
                        if iy < 0 || iy >= self.h as isize {
                            out.fill(0.0);
                            continue;
                        }
                        let src = &plane[iy as usize * self.w..(iy as usize + 1) * self.w];
                        // Output columns whose input column ox + dx − pw is inside the row.
                        let lo = self.pw.saturating_sub(dx).min(ow);
                        let hi = (self.w + self.pw).saturating_sub(dx).min(ow).max(lo);
                        out[..lo].fill(0.0);
                        out[hi..].fill(0.0);
                        if hi > lo {
                            let start = lo + dx - self.pw;
                            out[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
                        }
                    }
                    r += 1;
                }
            }
        }
    }

    /// Fill `rows` (oh·ow × k, row-major) from one sample's planes: the transpose of
    /// [`ConvGeom::im2col`], so that the samples of a batch stack into one matrix.
    fn im2row(&self, x: &[f32], rows: &mut [f32]) {
        let (ow, k) = (self.ow(), self.k());
        for (p, row) in rows.chunks_exact_mut(k).enumerate() {
            let (oy, ox) = (p / ow, p % ow);
            let mut r = 0;
            for ci in 0..self.cin {
                let plane = &x[ci * self.h * self.w..(ci + 1) * self.h * self.w];
                for dy in 0..self.kh {
                    let iy = (oy + dy) as isize - self.ph as isize;
                    for dx in 0..self.kw {
                        let ix = (ox + dx) as isize - self.pw as isize;
                        let inside =
                            iy >= 0 && iy < self.h as isize && ix >= 0 && ix < self.w as isize;
                        row[r] = if inside {
                            plane[iy as usize * self.w + ix as usize]
                        } else {
                            0.0
                        };
                        r += 1;
                    }
                }
            }
        }
    }

    /// Add `rows` (oh·ow × k) back onto one sample's input planes (the adjoint of im2row).
    fn row2im(&self, rows: &[f32], x: &mut [f32]) {
        let (ow, k) = (self.ow(), self.k());
        for (p, row) in rows.chunks_exact(k).enumerate() {
            let (oy, ox) = (p / ow, p % ow);
            let mut r = 0;
            for ci in 0..self.cin {
                let plane = &mut x[ci * self.h * self.w..(ci + 1) * self.h * self.w];
                for dy in 0..self.kh {
                    let iy = (oy + dy) as isize - self.ph as isize;
                    for dx in 0..self.kw {
                        let ix = (ox + dx) as isize - self.pw as isize;
                        if iy >= 0 && iy < self.h as isize && ix >= 0 && ix < self.w as isize {
                            plane[iy as usize * self.w + ix as usize] += row[r];
                        }
                        r += 1;
                    }
                }
            }
        }
    }

    /// Whether the batch goes through one matrix product rather than one per sample: for
    /// small output planes (the deep layers), a per-sample product is a few columns wide and
    /// runs far below the processor's speed.
    fn batched(&self) -> bool {
        self.oh() * self.ow() < SMALL_PLANE
    }

    /// Add `cols` (k × oh·ow) back onto one sample's input planes (the adjoint of im2col).
    fn col2im(&self, cols: &[f32], x: &mut [f32]) {
        let (oh, ow) = (self.oh(), self.ow());
        let mut r = 0;
        for ci in 0..self.cin {
            let plane = &mut x[ci * self.h * self.w..(ci + 1) * self.h * self.w];
            for dy in 0..self.kh {
                for dx in 0..self.kw {
                    let row = &cols[r * oh * ow..(r + 1) * oh * ow];
                    for oy in 0..oh {
                        let iy = (oy + dy) as isize - self.ph as isize;
                        if iy < 0 || iy >= self.h as isize {
                            continue;
                        }
                        let lo = self.pw.saturating_sub(dx).min(ow);
                        let hi = (self.w + self.pw).saturating_sub(dx).min(ow).max(lo);
                        if hi == lo {
                            continue;
                        }
                        let start = lo + dx - self.pw;
                        let dst = &mut plane[iy as usize * self.w + start..][..hi - lo];
                        for (d, s) in dst.iter_mut().zip(&row[oy * ow + lo..oy * ow + hi]) {
                            *d += s;
                        }
                    }
                    r += 1;
                }
            }
        }
    }
}

thread_local! {
    /// Each thread's im2col buffers, kept from call to call: a fresh megabyte-sized buffer per
    /// sample costs page faults and zeroing that showed as a tenth of a training step.
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = Default::default();
}

/// Run `f` with this thread's two scratch buffers (fresh ones if they are in use).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<f32>, &mut Vec<f32>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let (a, b) = &mut *bufs;
            f(a, b)
        }
        Err(_) => f(&mut Vec::new(), &mut Vec::new()),
    })
}

/// Output planes smaller than this many values are convolved a batch at a time.
const SMALL_PLANE: usize = 64;

/// `dst (m × n) = [dst +] lhs (m × k) · rhs (k × n)`, each given by (row stride, column
/// stride), on the calling thread (parallelism comes from splitting the batch).
#[allow(clippy::too_many_arguments)]
fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    (lrs, lcs): (usize, usize),
    rhs: &[f32],
    (rrs, rcs): (usize, usize),
) {
    matmul_on(
        (m, n, k),
        dst,
        accumulate,
        lhs,
        (lrs, lcs),
        rhs,
        (rrs, rcs),
        false,
    )
}

/// [`matmul`], on every thread when `parallel` (gemm splits the output in tiles; each value's
/// sum over k is formed in the same order whatever the number of threads).
#[allow(clippy::too_many_arguments)]
fn matmul_on(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    (lrs, lcs): (usize, usize),
    rhs: &[f32],
    (rrs, rcs): (usize, usize),
    parallel: bool,
) {
    debug_assert!(dst.len() >= m * n);
    debug_assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lrs + (k - 1) * lcs);
    debug_assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rrs + (n - 1) * rcs);
    // SAFETY: the asserts above bound every index gemm reads and writes; the slices do not
    // overlap (dst is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lcs as isize,
            lrs as isize,
            rhs.as_ptr(),
            rcs as isize,
            rrs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            if parallel {
                gemm::Parallelism::Rayon(0)
            } else {
                gemm::Parallelism::None
            },
        )
    }
}

struct Conv {
    ph: usize,
    pw: usize,
    /// Whether the input needs a gradient (not so for the first layer, which reads data).
    input_grad: bool,
}

impl Conv {
    fn geom(&self, x: &Shape, w: &Shape) -> Result<(usize, ConvGeom)> {
        let (n, cin, h, wd) = x.dims4()?;
        let (cout, wcin, kh, kw) = w.dims4()?;
        if wcin != cin {
            bail!("convolution kernel expects {wcin} input channels, the input has {cin}")
        }
        if h + 2 * self.ph < kh || wd + 2 * self.pw < kw {
            bail!("convolution kernel {kh}×{kw} is larger than the padded {h}×{wd} input")
        }
        Ok((
            n,
            ConvGeom {
                cin,
                cout,
                h,
                w: wd,
                kh,
                kw,
                ph: self.ph,
                pw: self.pw,
            },
        ))
    }
}

impl CustomOp3 for Conv {
    fn name(&self) -> &'static str {
        "fused-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (n, g) = self.geom(l1.shape(), l2.shape())?;
        if b.len() != g.cout {
            bail!("convolution with {} outputs got {} biases", g.cout, b.len())
        }
        let (ohw, k) = (g.oh() * g.ow(), g.k());
        let mut y = vec![0f32; n * g.cout * ohw];
        if ohw > 0 && g.batched() {
            // rows (n·ohw × k) of every sample; out (cout × n·ohw) = W · rowsᵀ.
            let mut rows = vec![0f32; n * ohw * k];
            rows.par_chunks_mut(ohw * k)
                .zip(x.par_chunks(g.cin * g.h * g.w))
                .for_each(|(rows, x)| g.im2row(x, rows));
            let mut out = vec![0f32; g.cout * n * ohw];
            let j = n * ohw;
            matmul_on(
                (g.cout, j, k),
                &mut out,
                false,
                w,
                (k, 1),
                &rows,
                (1, k),
                true,
            );
            y.par_chunks_mut(g.cout * ohw)
                .enumerate()
                .for_each(|(i, y)| {
                    for (o, row) in y.chunks_exact_mut(ohw).enumerate() {
                        let src = &out[o * j + i * ohw..o * j + (i + 1) * ohw];
                        for (v, &s) in row.iter_mut().zip(src) {
                            *v = s + b[o];
                        }
                    }
                });
        } else if ohw > 0 {
            y.par_chunks_mut(g.cout * ohw)
                .zip(x.par_chunks(g.cin * g.h * g.w))
                .for_each(|(y, x)| {
                    for (o, row) in y.chunks_exact_mut(ohw).enumerate() {
                        row.fill(b[o]);
                    }
                    with_scratch(|cols, _| {
                        let cols: &[f32] = if g.identity_cols() {
                            x
                        } else {
                            cols.resize(k * ohw, 0.0);
                            g.im2col(x, cols);
                            cols
                        };
                        matmul((g.cout, ohw, k), y, true, w, (k, 1), cols, (ohw, 1));
                    })
                });
        }
        Ok((CpuStorage::F32(y), Shape::from((n, g.cout, g.oh(), g.ow()))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (_, g) = self.geom(x.shape(), w.shape())?;
        let packed = x.apply_op3_no_bwd(
            w,
            &grad.contiguous()?,
            &ConvGrad {
                geom: g,
                input_grad: self.input_grad,
            },
        )?;
        let wl = w.elem_count();
        let dw = packed.narrow(0, 0, wl)?.reshape(w.shape())?;
        let db = packed.narrow(0, wl, g.cout)?.reshape(b.shape())?;
        let dx = if self.input_grad {
            Some(
                packed
                    .narrow(0, wl + g.cout, x.elem_count())?
                    .reshape(x.shape())?,
            )
        } else {
            None
        };
        Ok((dx, Some(dw), Some(db)))
    }
}

/// Convolution gradients, packed as [dW, db, dx (when the input needs one)].
struct ConvGrad {
    geom: ConvGeom,
    input_grad: bool,
}

impl ConvGrad {
    /// The gradients of a batch convolved as one matrix product (small planes): with
    /// rows (n·ohw × k) as the forward pass built them and dY (cout × n·ohw),
    /// dW = dY · rows, db = dY's row sums, and d rows = dYᵀ · W, added back onto the planes.
    fn batched(
        &self,
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        n: usize,
        sums: &mut [f32],
        dx: &mut [f32],
    ) {
        let g = self.geom;
        let (ohw, k, xs) = (g.oh() * g.ow(), g.k(), g.cin * g.h * g.w);
        let j = n * ohw;
        let mut rows = vec![0f32; j * k];
        rows.par_chunks_mut(ohw * k)
            .zip(x.par_chunks(xs))
            .for_each(|(rows, x)| g.im2row(x, rows));
        // dY gathered channel-major: a sample's channel o is a contiguous run of ohw values.
        let mut d = vec![0f32; g.cout * j];
        d.par_chunks_mut(j).enumerate().for_each(|(o, row)| {
            for (i, run) in row.chunks_exact_mut(ohw).enumerate() {
                run.copy_from_slice(&dy[(i * g.cout + o) * ohw..(i * g.cout + o + 1) * ohw]);
            }
        });
        let (dw, db) = sums.split_at_mut(g.cout * k);
        matmul_on((g.cout, k, j), dw, false, &d, (j, 1), &rows, (k, 1), true);
        for (o, row) in d.chunks_exact(j).enumerate() {
            db[o] = row.iter().map(|&v| v as f64).sum::<f64>() as f32;
        }
        if self.input_grad {
            // Reuse the rows' buffer for their gradient.
            matmul_on(
                (j, k, g.cout),
                &mut rows,
                false,
                &d,
                (1, j),
                w,
                (k, 1),
                true,
            );
            dx.par_chunks_mut(xs)
                .zip(rows.par_chunks(ohw * k))
                .for_each(|(dx, rows)| g.row2im(rows, dx));
        }
    }
}

impl CustomOp3 for ConvGrad {
    fn name(&self) -> &'static str {
        "fused-conv2d-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geom;
        let (x, w, dy) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let n = l1.shape().dims()[0];
        let (ohw, k, xs) = (g.oh() * g.ow(), g.k(), g.cin * g.h * g.w);
        let head = g.cout * k + g.cout;
        let mut out = vec![0f32; head + if self.input_grad { x.len() } else { 0 }];
        let (sums, dx) = out.split_at_mut(head);
        if g.batched() && ohw > 0 {
            self.batched(x, w, dy, n, sums, dx);
            let len = out.len();
            return Ok((CpuStorage::F32(out), Shape::from(len)));
        }
        let per = chunk_len(n);
        let dx_chunks: Vec<Option<&mut [f32]>> = if self.input_grad {
            dx.chunks_mut(per * xs).map(Some).collect()
        } else {
            (0..n.div_ceil(per)).map(|_| None).collect()
        };
        // Each chunk of samples sums its own dW and db; the chunks are added in order.
        let partial: Vec<(Vec<f32>, Vec<f64>)> = dx_chunks
            .into_par_iter()
            .enumerate()
            .map(|(c, mut dxc)| {
                let mut dw = vec![0f32; g.cout * k];
                let mut db = vec![0f64; g.cout];
                with_scratch(|cols, dcols| {
                    for i in c * per..((c + 1) * per).min(n) {
                        let xi = &x[i * xs..(i + 1) * xs];
                        let dyi = &dy[i * g.cout * ohw..(i + 1) * g.cout * ohw];
                        for (o, row) in dyi.chunks_exact(ohw.max(1)).enumerate() {
                            db[o] += row.iter().map(|&v| v as f64).sum::<f64>();
                        }
                        let colsi: &[f32] = if g.identity_cols() {
                            xi
                        } else {
                            cols.resize(k * ohw, 0.0);
                            g.im2col(xi, cols);
                            cols
                        };
                        // dW += dy_i (cout × ohw) · cols_iᵀ (ohw × k)
                        matmul(
                            (g.cout, k, ohw),
                            &mut dw,
                            true,
                            dyi,
                            (ohw, 1),
                            colsi,
                            (1, ohw),
                        );
                        if let Some(dxc) = dxc.as_deref_mut() {
                            let dxi = &mut dxc[(i - c * per) * xs..(i - c * per + 1) * xs];
                            // dcols (k × ohw) = Wᵀ (k × cout) · dy_i (cout × ohw)
                            if g.identity_cols() {
                                matmul((k, ohw, g.cout), dxi, false, w, (1, k), dyi, (ohw, 1));
                            } else {
                                dcols.resize(k * ohw, 0.0);
                                matmul((k, ohw, g.cout), dcols, false, w, (1, k), dyi, (ohw, 1));
                                g.col2im(dcols, dxi);
                            }
                        }
                    }
                });
                (dw, db)
            })
            .collect();
        let mut db = vec![0f64; g.cout];
        for (dw, dbc) in &partial {
            for (o, v) in sums.iter_mut().zip(dw) {
                *o += v;
            }
            for (o, v) in db.iter_mut().zip(dbc) {
                *o += v;
            }
        }
        for (o, v) in sums[g.cout * k..].iter_mut().zip(&db) {
            *o = *v as f32;
        }
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

/// Convolution (stride 1) of an NCHW tensor with an OIHW kernel, zero padding (ph, pw) and a
/// bias; `input_grad` says whether `x` needs a gradient.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    pad: (usize, usize),
    input_grad: bool,
) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        Conv {
            ph: pad.0,
            pw: pad.1,
            input_grad,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use candle_core::{Var, D};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = Rng::new(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
        assert_eq!(a.dims(), b.dims(), "{what}");
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
            .fold(0f32, f32::max);
        assert!(worst < tol, "{what}: worst relative difference {worst}");
    }

    /// Compare a fused op against candle's composition: values, and the gradients of
    /// Σ y·r for a random r (so every output position weighs differently).
    fn check(
        inputs: &[Tensor],
        fused: &dyn Fn(&[Tensor]) -> Result<Tensor>,
        reference: &dyn Fn(&[Tensor]) -> Result<Tensor>,
        what: &str,
    ) {
        let run = |f: &dyn Fn(&[Tensor]) -> Result<Tensor>| {
            let vars: Vec<Var> = inputs
                .iter()
                .map(|t| Var::from_tensor(t).unwrap())
                .collect();
            let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            let y = f(&ts).unwrap();
            let r = random(y.dims(), 99);
            let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let g: Vec<Tensor> = vars
                .iter()
                .map(|v| {
                    grads
                        .get(v)
                        .cloned()
                        .unwrap_or_else(|| v.zeros_like().unwrap())
                })
                .collect();
            (y, g)
        };
        let (yf, gf) = run(fused);
        let (yr, gr) = run(reference);
        close(&yf, &yr, 1e-4, &format!("{what}: values"));
        for (i, (a, b)) in gf.iter().zip(&gr).enumerate() {
            close(a, b, 1e-3, &format!("{what}: gradient of input {i}"));
        }
    }

    #[test]
    fn the_vectorised_exponential_is_accurate() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -30.0 * i as f32 / 200_000.0;
            let exact = (x as f64).exp_m1();
            worst = worst.max((exp_m1_nonpositive(x) as f64 - exact).abs());
        }
        // Two f32 ulps at −1 (libm itself rounds to one).
        assert!(worst < 2.5e-7, "worst absolute error {worst}");
        assert_eq!(exp_m1_nonpositive(-1e4), -1.0);
        assert_eq!(exp_m1_nonpositive(0.0), 0.0);
        assert!(exp_m1_nonpositive(f32::NAN).is_nan(), "NaN stays NaN");
    }

    #[test]
    fn elu_matches_candle() {
        check(
            &[random(&[3, 4, 5, 7], 1)],
            &|t| elu(&t[0], 1.0),
            &|t| t[0].elu(1.0),
            "elu",
        );
    }

    #[test]
    fn max_pool_matches_candle_including_ragged_edges() {
        for (shape, k) in [
            ([2, 3, 8, 6], (2, 2)),
            ([2, 2, 9, 7], (2, 1)),
            ([1, 2, 5, 5], (2, 2)),
        ] {
            check(
                &[random(&shape, 2)],
                &|t| max_pool(&t[0], k.0, k.1),
                // candle's own max-pool backward multiplies the gradient by the share of
                // maxima in the window (¼ for a unique maximum in 2×2) where it should
                // divide by their number; a max over reshaped windows is the reference.
                &|t| {
                    let (n, c, h, w) = t[0].dims4()?;
                    let (oh, ow) = (h / k.0, w / k.1);
                    t[0].narrow(2, 0, oh * k.0)?
                        .narrow(3, 0, ow * k.1)?
                        .reshape((n, c, oh, k.0, ow, k.1))?
                        .max(5)?
                        .max(3)
                },
                &format!("max pool {shape:?} {k:?}"),
            );
        }
    }

    #[test]
    fn max_pool_sends_the_gradient_to_the_first_maximum_and_nans_win() {
        // One 2×2 window per case, row-major: a tie (the first of the two 5s wins), a NaN
        // after a larger number, and two NaNs (the first wins).
        let v = [
            1.0,
            5.0,
            5.0,
            2.0,
            9.0,
            f32::NAN,
            3.0,
            0.0,
            0.0,
            f32::NAN,
            f32::NAN,
            1.0,
        ];
        let x =
            Var::from_tensor(&Tensor::from_vec(v.to_vec(), (3, 1, 2, 2), &Device::Cpu).unwrap())
                .unwrap();
        let y = max_pool(x.as_tensor(), 2, 2).unwrap();
        let got = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got[0], 5.0);
        assert!(got[1].is_nan() && got[2].is_nan());
        let g = (y.flatten_all().unwrap() * Tensor::new(&[10f32, 20., 30.], &Device::Cpu).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let dx = g
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(dx, [0., 10., 0., 0., 0., 20., 0., 0., 0., 30., 0., 0.]);
    }

    #[test]
    fn inference_batch_norm_is_the_affine_map_of_the_running_statistics() {
        let x = random(&[3, 4, 5, 2], 11);
        let (mean, var) = (
            random(&[4], 12),
            (random(&[4], 13).abs().unwrap() + 0.5).unwrap(),
        );
        let (gamma, beta) = (random(&[4], 14), random(&[4], 15));
        let shape = [1, 4, 1, 1];
        let reference = x
            .broadcast_sub(&mean.reshape(&shape).unwrap())
            .unwrap()
            .broadcast_div(
                &(&var + 1e-3)
                    .unwrap()
                    .sqrt()
                    .unwrap()
                    .reshape(&shape)
                    .unwrap(),
            )
            .unwrap()
            .broadcast_mul(&gamma.reshape(&shape).unwrap())
            .unwrap()
            .broadcast_add(&beta.reshape(&shape).unwrap())
            .unwrap();
        let scale = (&gamma / (&var + 1e-3).unwrap().sqrt().unwrap()).unwrap();
        let shift = (&beta - mean.mul(&scale).unwrap()).unwrap();
        let ours = channel_affine(&x, &scale, &shift).unwrap();
        close(&ours, &reference, 1e-5, "inference batch norm");
        let flat = random(&[6, 4], 16);
        let flat_ref = flat
            .broadcast_mul(&scale.reshape((1, 4)).unwrap())
            .unwrap()
            .broadcast_add(&shift.reshape((1, 4)).unwrap())
            .unwrap();
        close(
            &channel_affine(&flat, &scale, &shift).unwrap(),
            &flat_ref,
            1e-6,
            "(N, C) input",
        );
    }

    fn bn_reference(t: &[Tensor]) -> Result<Tensor> {
        let x = &t[0];
        let c = x.dim(1)?;
        let shape: Vec<usize> = (0..x.rank()).map(|i| if i == 1 { c } else { 1 }).collect();
        let xt = if x.rank() == 4 {
            x.transpose(0, 1)?.flatten_from(1)?
        } else {
            x.t()?
        };
        let mean = xt.mean(D::Minus1)?;
        let var = xt
            .broadcast_sub(&mean.unsqueeze(1)?)?
            .sqr()?
            .mean(D::Minus1)?;
        x.broadcast_sub(&mean.reshape(shape.as_slice())?)?
            .broadcast_div(&(var + 1e-3)?.sqrt()?.reshape(shape.as_slice())?)?
            .broadcast_mul(&t[1].reshape(shape.as_slice())?)?
            .broadcast_add(&t[2].reshape(shape.as_slice())?)
    }

    #[test]
    fn batch_norm_matches_candle_in_2d_and_4d() {
        for shape in [vec![6, 5], vec![4, 3, 5, 6]] {
            let c = shape[1];
            let gamma = random(&[c], 3).affine(0.5, 1.0).unwrap();
            let beta = random(&[c], 4);
            check(
                &[random(&shape, 5), gamma, beta],
                &|t| batch_norm_train(&t[0], &t[1], &t[2], 1e-3).map(|r| r.0),
                &bn_reference,
                "batch norm",
            );
        }
        // The statistics handed back are the batch's.
        let x = random(&[4, 3, 5, 6], 6);
        let (_, mean, var) = batch_norm_train(
            &x,
            &Tensor::ones(3, candle_core::DType::F32, &Device::Cpu).unwrap(),
            &Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap(),
            1e-3,
        )
        .unwrap();
        let xt = x.transpose(0, 1).unwrap().flatten_from(1).unwrap();
        close(&mean, &xt.mean(D::Minus1).unwrap(), 1e-5, "mean");
        let centred = xt
            .broadcast_sub(&xt.mean_keepdim(D::Minus1).unwrap())
            .unwrap();
        close(
            &var,
            &centred.sqr().unwrap().mean(D::Minus1).unwrap(),
            1e-5,
            "variance",
        );
    }

    #[test]
    fn conv_matches_candle_for_square_oblong_and_pointwise_kernels() {
        // 9 × 7 planes go through the batched product, 12 × 9 through one per sample.
        let cases = [
            (1, 4, [5, 5], (2, 2)),
            (3, 5, [3, 3], (1, 1)),
            (2, 3, [3, 1], (1, 0)),
            (4, 6, [1, 1], (0, 0)),
        ];
        for ((cin, cout, k, pad), (rows, cols)) in
            cases.iter().flat_map(|c| [(*c, (9, 7)), (*c, (12, 9))])
        {
            assert_ne!(
                rows * cols < SMALL_PLANE,
                rows * cols > 100,
                "both paths are tested"
            );
            let x = random(&[3, cin, rows, cols], 7);
            let w = random(&[cout, cin, k[0], k[1]], 8);
            let b = random(&[cout], 9);
            check(
                &[x, w, b],
                &|t| conv2d(&t[0], &t[1], &t[2], pad, true),
                &|t| {
                    t[0].pad_with_zeros(2, pad.0, pad.0)?
                        .pad_with_zeros(3, pad.1, pad.1)?
                        .conv2d(&t[1], 0, 1, 1, 1)?
                        .broadcast_add(&t[2].reshape((1, (), 1, 1))?)
                },
                &format!("conv {cin}→{cout} {k:?} on {rows}×{cols}"),
            );
        }
    }

    #[test]
    fn first_layer_conv_skips_the_input_gradient() {
        let x = Var::from_tensor(&random(&[2, 1, 6, 6], 1)).unwrap();
        let w = Var::from_tensor(&random(&[2, 1, 3, 3], 2)).unwrap();
        let b = Var::from_tensor(&random(&[2], 3)).unwrap();
        let y = conv2d(x.as_tensor(), w.as_tensor(), b.as_tensor(), (1, 1), false).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&x).is_none());
        assert!(grads.get(&w).is_some() && grads.get(&b).is_some());
    }

    #[test]
    fn conv_gradients_do_not_depend_on_the_thread_count() {
        // A sample at a time (8 × 8 planes), and a batch in one product split across threads
        // by gemm (4 × 2 planes, as the deep layers of won2018).
        for (n, cin, cout, h, w) in [(13, 3, 4, 8, 8), (64, 32, 64, 4, 2)] {
            let x = Var::from_tensor(&random(&[n, cin, h, w], 1)).unwrap();
            let wt = Var::from_tensor(&random(&[cout, cin, 3, 3], 2)).unwrap();
            let b = Var::from_tensor(&random(&[cout], 3)).unwrap();
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let y =
                        conv2d(x.as_tensor(), wt.as_tensor(), b.as_tensor(), (1, 1), true).unwrap();
                    let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    [
                        flat(&y),
                        flat(g.get(&wt).unwrap()),
                        flat(g.get(&b).unwrap()),
                        flat(g.get(&x).unwrap()),
                    ]
                })
            };
            assert_eq!(run(1), run(3), "{h} × {w} planes");
        }
    }
}
