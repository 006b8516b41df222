//! Short-time Fourier transform with librosa's framing: periodic window, optional centring
//! with zero or reflect padding, frames every `hop` samples.

use super::Spectrogram;
use crate::spec::{PadMode, WindowKind};
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

pub struct Stft {
    n_fft: usize,
    hop: usize,
    center: bool,
    pad_mode: PadMode,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
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
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(n_fft),
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
        self.for_each_frame(samples, power, |_, row| data.extend_from_slice(row));
        Spectrogram {
            frames: data.len() / bins,
            bins,
            data,
        }
    }

    /// Call `f(t, |X_t|^power)` for every frame in order, reusing one row buffer: callers
    /// that reduce each frame at once (a filterbank) never hold the whole spectrogram.
    pub fn for_each_frame(&self, samples: &[f32], power: f64, mut f: impl FnMut(usize, &[f32])) {
        let padded;
        let signal: &[f32] = if self.center {
            padded = self.pad(samples);
            &padded
        } else {
            samples
        };
        let frames = self.frame_count(samples.len());
        let mut input = self.fft.make_input_vec();
        let mut output = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut row = vec![0f32; self.bins()];
        for t in 0..frames {
            let start = t * self.hop;
            let frame = &signal[start..start + self.n_fft];
            for ((x, s), w) in input.iter_mut().zip(frame).zip(&self.window) {
                *x = s * w;
            }
            self.fft
                .process_with_scratch(&mut input, &mut output, &mut scratch)
                .expect("buffer sizes come from the plan");
            for (r, c) in row.iter_mut().zip(&output) {
                *r = c.re * c.re + c.im * c.im;
            }
            if power == 1.0 {
                row.iter_mut().for_each(|r| *r = r.sqrt());
            } else if power != 2.0 {
                row.iter_mut()
                    .for_each(|r| *r = r.sqrt().powf(power as f32));
            }
            f(t, &row);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The STFT of a frame equals a direct DFT of the windowed frame.
    #[test]
    fn matches_direct_dft() {
        let n_fft = 32;
        let x: Vec<f32> = (0..100)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0)
            .collect();
        let stft = Stft::new(n_fft, 8, WindowKind::Hann, true, PadMode::Reflect);
        let s = stft.spectrogram(&x, 2.0);
        assert_eq!(s.frames, 1 + 100 / 8);
        let padded = stft.pad(&x);
        assert_eq!(padded[..3], [x[16], x[15], x[14]]);
        let w = hann(n_fft);
        for t in [0, 5, s.frames - 1] {
            for k in [0, 3, 16] {
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
                    (got - want).abs() < 1e-3 * want.max(1.0),
                    "t{t} k{k}: {got} vs {want}"
                );
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
