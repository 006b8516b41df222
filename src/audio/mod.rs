//! The audio front end: STFT, mel filterbank, dB scaling, MFCC and per-track statistics.
//!
//! Semantics follow librosa (periodic Hann window, centred frames, Slaney or HTK mel scale,
//! `power_to_db` / `amplitude_to_db`, orthonormal DCT-II) so that numbers computed here can
//! be compared with a researcher's Python notebook. Nothing here knows about datasets.

pub mod chroma;
pub mod decode;
pub mod delta;
pub mod descriptors;
pub mod mel;
pub mod npy;
pub mod resample;
pub mod stft;
pub mod summary;
pub mod wav;

pub use mel::MelFilterbank;
pub use stft::Stft;

use crate::spec::FrontendSpec;

/// A time × frequency matrix, frame-major (`data[frame * bins + bin]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrogram {
    pub frames: usize,
    pub bins: usize,
    pub data: Vec<f32>,
}

impl Spectrogram {
    pub fn frame(&self, t: usize) -> &[f32] {
        &self.data[t * self.bins..(t + 1) * self.bins]
    }
}

/// Everything needed to turn samples into log-mel and MFCC frames, built once per spec.
pub struct FrontEnd {
    spec: FrontendSpec,
    stft: Stft,
    mel: MelFilterbank,
    dct: Vec<f32>,
}

impl FrontEnd {
    pub fn new(spec: &FrontendSpec) -> Self {
        let fmax = spec.fmax.unwrap_or(spec.sample_rate as f64 / 2.0);
        FrontEnd {
            stft: Stft::new(
                spec.n_fft,
                spec.hop_length,
                spec.window,
                spec.center,
                spec.pad_mode,
            ),
            mel: MelFilterbank::new(
                spec.sample_rate as f64,
                spec.n_fft,
                spec.n_mels,
                spec.fmin,
                fmax,
                spec.mel_scale,
                spec.mel_norm,
            ),
            dct: dct_ortho_matrix(spec.n_mfcc, spec.n_mels),
            spec: spec.clone(),
        }
    }

    /// Log-mel spectrogram in dB (`frames × n_mels`).
    pub fn log_mel(&self, samples: &[f32]) -> Spectrogram {
        let spec = self.stft.spectrogram(samples, self.spec.power);
        let mut mel = self.mel.apply(&spec);
        to_db_ref(
            &mut mel.data,
            self.spec.power,
            self.spec.amin,
            self.spec.reference,
            self.spec.top_db,
        );
        mel
    }

    /// MFCC frames (`frames × n_mfcc`) from a log-mel spectrogram, as librosa's
    /// `mfcc(S=log_mel)`: orthonormal DCT-II along the mel axis.
    pub fn mfcc(&self, log_mel: &Spectrogram) -> Spectrogram {
        let n_mfcc = self.spec.n_mfcc;
        let n_mels = log_mel.bins;
        let mut data = vec![0f32; log_mel.frames * n_mfcc];
        for t in 0..log_mel.frames {
            let x = log_mel.frame(t);
            for k in 0..n_mfcc {
                let row = &self.dct[k * n_mels..(k + 1) * n_mels];
                data[t * n_mfcc + k] = row.iter().zip(x).map(|(a, b)| a * b).sum();
            }
        }
        Spectrogram {
            frames: log_mel.frames,
            bins: n_mfcc,
            data,
        }
    }
}

/// Row-major `n_out × n_in` orthonormal DCT-II matrix (scipy's `dct(type=2, norm="ortho")`).
pub fn dct_ortho_matrix(n_out: usize, n_in: usize) -> Vec<f32> {
    let n = n_in as f64;
    let mut m = vec![0f32; n_out * n_in];
    for k in 0..n_out {
        let scale = if k == 0 {
            (1.0 / n).sqrt()
        } else {
            (2.0 / n).sqrt()
        };
        for i in 0..n_in {
            let arg = std::f64::consts::PI * k as f64 * (2.0 * i as f64 + 1.0) / (2.0 * n);
            m[k * n_in + i] = (scale * arg.cos()) as f32;
        }
    }
    m
}

/// In-place conversion to decibels relative to 1.0, as librosa's `power_to_db` (power = 2)
/// or `amplitude_to_db` (power = 1), with the `top_db` floor taken from this matrix's peak.
pub fn to_db(data: &mut [f32], power: f64, amin: f64, top_db: Option<f64>) {
    to_db_ref(data, power, amin, 1.0, top_db)
}

/// [`to_db`] relative to `reference` instead of 1.0.
pub fn to_db_ref(data: &mut [f32], power: f64, amin: f64, reference: f64, top_db: Option<f64>) {
    let factor = if power == 1.0 { 20.0f32 } else { 10.0 };
    let offset = factor * (reference.max(amin) as f32).log10();
    let amin = amin as f32;
    let mut peak = f32::NEG_INFINITY;
    for x in data.iter_mut() {
        *x = factor * x.max(amin).log10() - offset;
        peak = peak.max(*x);
    }
    if let Some(top) = top_db {
        let floor = peak - top as f32;
        for x in data.iter_mut() {
            *x = x.max(floor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_is_orthonormal() {
        let n = 16;
        let m = dct_ortho_matrix(n, n);
        for a in 0..n {
            for b in 0..n {
                let dot: f32 = (0..n).map(|i| m[a * n + i] * m[b * n + i]).sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "row {a}·row {b} = {dot}");
            }
        }
    }

    #[test]
    fn db_conversion_matches_definition() {
        let mut x = vec![1.0, 0.1, 1e-12, 100.0];
        to_db(&mut x, 2.0, 1e-10, Some(80.0));
        // 10·log10: 0, −10, floor(−100 → 20 − 80 = −60), 20
        assert_eq!(x, vec![0.0, -10.0, -60.0, 20.0]);
        let mut y = vec![1.0, 0.1];
        to_db(&mut y, 1.0, 1e-5, None);
        assert!((y[1] + 20.0).abs() < 1e-5);
    }
}
