//! Short-time Fourier transform with librosa's framing: periodic window, optional centring
//! with zero or reflect padding, frames every `hop` samples.

use super::Spectrogram;
use crate::spec::{PadMode, WindowKind};
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

pub struct Stft {
    n_fft: usize,
    hop: usize,
    center: bool,
    pad_mode: PadMode,
    window: Vec<f32>,
    /// Complex FFT of half the frame: a real frame of `n_fft` samples is transformed as
    /// `n_fft/2` complex ones (even samples real, odd imaginary) and split afterwards.
    half_fft: Arc<dyn Fft<f32>>,
    /// `(cos, −sin)(2πk/n_fft)` for `k = 0..=n_fft/2`, the split's twiddles.
    twiddles: Vec<[f32; 2]>,
}

/// Periodic ("fftbins=True") Hann window, as scipy's `get_window("hann", n)`.
pub fn hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = std::f64::consts::PI * 2.0 * i as f64 / n as f64;
            (0.5 - 0.5 * x.cos()) as f32
        })
        .collect()
}

impl Stft {
    pub fn new(
        n_fft: usize,
        hop: usize,
        window: WindowKind,
        center: bool,
        pad_mode: PadMode,
    ) -> Self {
        assert!(
            n_fft >= 4 && n_fft.is_multiple_of(2),
            "the spec admits even FFT sizes only"
        );
        let mut w = hann(n_fft);
        if window == WindowKind::SqrtHann {
            w.iter_mut().for_each(|x| *x = x.sqrt());
        }
        Stft {
            n_fft,
            hop,
            center,
            pad_mode,
            window: w,
            half_fft: FftPlanner::<f32>::new().plan_fft_forward(n_fft / 2),
            twiddles: (0..=n_fft / 2)
                .map(|k| {
                    let a = 2.0 * std::f64::consts::PI * k as f64 / n_fft as f64;
                    [a.cos() as f32, -a.sin() as f32]
                })
                .collect(),
        }
    }

    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Number of frames librosa gives for `n` samples.
    pub fn frame_count(&self, n: usize) -> usize {
        let padded = if self.center { n + self.n_fft } else { n };
        if padded < self.n_fft {
            0
        } else {
            1 + (padded - self.n_fft) / self.hop
        }
    }

    /// |X|^power per frame and bin.
    pub fn spectrogram(&self, samples: &[f32], power: f64) -> Spectrogram {
        let bins = self.bins();
        let mut data = Vec::with_capacity(self.frame_count(samples.len()) * bins);
        self.for_each_block(samples, power, 64, |_, rows| data.extend_from_slice(rows));
        Spectrogram {
            frames: data.len() / bins,
            bins,
            data,
        }
    }

    /// Call `f(t0, rows)` for consecutive blocks of up to `block` frames (`rows` holds
    /// them one after another, `bins()` values each, starting at frame `t0`), reusing one
    /// buffer: callers that reduce frames at once (a filterbank) never hold the whole
    /// spectrogram.
    pub fn for_each_block(
        &self,
        samples: &[f32],
        power: f64,
        block: usize,
        mut f: impl FnMut(usize, &[f32]),
    ) {
        let padded;
        let signal: &[f32] = if self.center {
            padded = self.pad(samples);
            &padded
        } else {
            samples
        };
        let frames = self.frame_count(samples.len());
        let bins = self.bins();
        let block = block.max(1);
        let mut z = vec![Complex::<f32>::default(); self.n_fft / 2];
        let mut scratch = vec![Complex::<f32>::default(); self.half_fft.get_inplace_scratch_len()];
        let mut rows = vec![0f32; block.min(frames) * bins];
        for t0 in (0..frames).step_by(block) {
            let n = block.min(frames - t0);
            for (j, row) in rows[..n * bins].chunks_exact_mut(bins).enumerate() {
                let start = (t0 + j) * self.hop;
                window_pairs(&signal[start..start + self.n_fft], &self.window, &mut z);
                self.half_fft.process_with_scratch(&mut z, &mut scratch);
                split_power(&z, &self.twiddles, row);
                if power == 1.0 {
                    row.iter_mut().for_each(|r| *r = r.sqrt());
                } else if power != 2.0 {
                    row.iter_mut()
                        .for_each(|r| *r = r.sqrt().powf(power as f32));
                }
            }
            f(t0, &rows[..n * bins]);
        }
    }

    fn pad(&self, x: &[f32]) -> Vec<f32> {
        let p = self.n_fft / 2;
        let mut out = Vec::with_capacity(x.len() + 2 * p);
        match self.pad_mode {
            PadMode::Constant => {
                out.extend(std::iter::repeat_n(0.0, p));
                out.extend_from_slice(x);
                out.extend(std::iter::repeat_n(0.0, p));
            }
            PadMode::Reflect => {
                // numpy "reflect": x[p], …, x[1] | x | x[n-2], …; indices fold back for very
                // short signals instead of panicking.
                let n = x.len() as isize;
                let at = |i: isize| -> f32 {
                    if n == 1 {
                        return x[0];
                    }
                    let period = 2 * (n - 1);
                    let mut j = i.rem_euclid(period);
                    if j >= n {
                        j = period - j;
                    }
                    x[j as usize]
                };
                for i in (1..=p as isize).rev() {
                    out.push(at(i));
                }
                out.extend_from_slice(x);
                for i in 0..p as isize {
                    out.push(at(n - 2 - i));
                }
            }
        }
        out
    }
}

crate::simd::vectorised! {
    /// The windowed frame as `n/2` complex values (even samples real, odd imaginary).
    fn window_pairs(frame: &[f32], window: &[f32], z: &mut [Complex<f32>]) {
        // Safety: `Complex<f32>` is `repr(C)` { re, im }, so `z` is 2·len consecutive f32s.
        let flat =
            unsafe { std::slice::from_raw_parts_mut(z.as_mut_ptr().cast::<f32>(), 2 * z.len()) };
        for ((o, s), w) in flat.iter_mut().zip(frame).zip(window) {
            *o = s * w;
        }
    }
}

crate::simd::vectorised! {
    /// `|X_k|²` for `k = 0..=M` of a real frame whose even and odd samples went through one
    /// complex FFT of length `M` as `z`: with `A = Z_k`, `B = conj Z_{M−k}`, the transform of
    /// the even samples is `(A+B)/2`, of the odd ones `(A−B)/2i`, and `X_k` = even +
    /// `W^k`·odd, so with `S = A+B`, `D = A−B`, `(c, s) = W^k`:
    /// `2·X_k = (Re S + c·Im D + s·Re D) + i·(Im S + s·Im D − c·Re D)`.
    /// One pass that the compiler vectorises, where realfft's split is a scalar loop followed
    /// by a separate power pass.
    fn split_power(z: &[Complex<f32>], twiddles: &[[f32; 2]], out: &mut [f32]) {
        let m = z.len();
        assert!(out.len() == m + 1 && twiddles.len() == m + 1);
        // k = 0 and k = M pair Z_0 with itself: X_0 = re + im, X_M = re − im.
        out[0] = (z[0].re + z[0].im) * (z[0].re + z[0].im);
        out[m] = (z[0].re - z[0].im) * (z[0].re - z[0].im);
        // For 1 ≤ k < M, the partner M−k walks backwards through z[1..]. (Computing k and M−k
        // together halves the arithmetic but the compiler then leaves the loop scalar: slower.)
        let fwd = &z[1..];
        for ((o, (a, b)), w) in out[1..m]
            .iter_mut()
            .zip(fwd.iter().zip(fwd.iter().rev()))
            .zip(&twiddles[1..m])
        {
            let (br, bi) = (b.re, -b.im);
            let (sr, si) = (a.re + br, a.im + bi);
            let (dr, di) = (a.re - br, a.im - bi);
            let (c, s) = (w[0], w[1]);
            let xr = sr + c * di + s * dr;
            let xi = si + s * di - c * dr;
            *o = 0.25 * (xr * xr + xi * xi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The STFT of a frame equals a direct DFT of the windowed frame, at every bin, for
    /// half-lengths (the split's complex FFT) even and odd.
    #[test]
    fn matches_direct_dft() {
        let x: Vec<f32> = (0..100)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0)
            .collect();
        for n_fft in [32, 34, 4] {
            let stft = Stft::new(n_fft, 8, WindowKind::Hann, true, PadMode::Reflect);
            let s = stft.spectrogram(&x, 2.0);
            assert_eq!(s.frames, 1 + 100 / 8);
            let padded = stft.pad(&x);
            let p = n_fft / 2;
            assert_eq!(padded[..3], [x[p], x[p - 1], x[p - 2]]);
            let w = hann(n_fft);
            for t in [0, 5, s.frames - 1] {
                for k in 0..=n_fft / 2 {
                    let (mut re, mut im) = (0f64, 0f64);
                    for i in 0..n_fft {
                        let v = (padded[t * 8 + i] * w[i]) as f64;
                        let a = -2.0 * std::f64::consts::PI * (k * i) as f64 / n_fft as f64;
                        re += v * a.cos();
                        im += v * a.sin();
                    }
                    let want = re * re + im * im;
                    let got = s.frame(t)[k] as f64;
                    assert!(
                        (got - want).abs() < 1e-4 * want.max(1.0),
                        "n_fft {n_fft} t{t} k{k}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn sine_peaks_at_its_bin() {
        let sr = 8000.0;
        let x: Vec<f32> = (0..4000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / sr).sin())
            .collect();
        let stft = Stft::new(256, 64, WindowKind::Hann, true, PadMode::Constant);
        let s = stft.spectrogram(&x, 1.0);
        let mid = s.frame(s.frames / 2);
        let peak = (0..mid.len())
            .max_by(|&a, &b| mid[a].total_cmp(&mid[b]))
            .unwrap();
        assert_eq!(peak, 32); // 1000 Hz · 256 / 8000
    }
}
