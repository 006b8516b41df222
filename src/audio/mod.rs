//! The audio front end: STFT, mel filterbank, dB scaling, MFCC and per-track statistics.
//!
//! Semantics follow librosa (periodic Hann window, centred frames, Slaney or HTK mel scale,
//! `power_to_db` / `amplitude_to_db`, orthonormal DCT-II) so that numbers computed here can
//! be compared with a researcher's Python notebook. [`load`] brings a dataset track's audio (a file
//! to decode, a clip to render) to the front end's rate; nothing else here knows datasets.

pub mod chroma;
pub mod decode;
pub mod delta;
pub mod descriptors;
pub mod filterbank;
pub mod load;
pub mod mel;
pub mod npy;
pub mod resample;
pub mod stft;
pub mod summary;
pub mod wavpcm;

pub use mel::MelFilterbank;
pub use stft::Stft;

use crate::spec::FrontendSpec;

crate::simd::vectorised! {
    /// Dot product with eight independent accumulators: the compiler vectorises it, where a
    /// single running sum is a serial chain of dependent additions.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for k in 0..8 {
                acc[k] += x[k] * y[k];
            }
        }
        let mut sum = (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]);
        for (x, y) in ra.iter().zip(rb) {
            sum += x * y;
        }
        sum
    }
}

/// Natural logarithm of positive, finite values, in place. libm's `ln` is a call per value;
/// this splits off the exponent and evaluates `ln m = 2·atanh((m−1)/(m+1))` on a mantissa
/// folded into [√½, √2), a loop the compiler vectorises. Largest error ~2e-7 (relative,
/// against f64), far below what dB scaling needs.
#[inline(always)]
pub fn ln_in_place(xs: &mut [f32]) {
    const LN2: f32 = std::f32::consts::LN_2;
    for x in xs.iter_mut() {
        let bits = x.to_bits();
        let mut e = ((bits >> 23) & 0xff) as i32 - 127;
        let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // [1, 2)
        let fold = m > std::f32::consts::SQRT_2;
        m = if fold { m * 0.5 } else { m };
        e += fold as i32;
        let s = (m - 1.0) / (m + 1.0);
        let s2 = s * s;
        let series =
            1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0))));
        *x = e as f32 * LN2 + 2.0 * s * series;
    }
}

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
    /// The orthonormal DCT-II, `n_mfcc` filters over the mel bands.
    dct: filterbank::Filterbank,
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
            dct: filterbank::Filterbank::dense(
                spec.n_mels,
                &dct_ortho_matrix(spec.n_mfcc, spec.n_mels),
            ),
            spec: spec.clone(),
        }
    }

    /// Log-mel spectrogram in dB (`frames × n_mels`).
    pub fn log_mel(&self, samples: &[f32]) -> Spectrogram {
        let n_mels = self.spec.n_mels;
        let frames = self.stft.frame_count(samples.len());
        let mut data = vec![0f32; frames * n_mels];
        // A few spectrum rows at a time: the filterbank works across frames, and the whole
        // spectrogram (8× the log-mel's size) is never held.
        self.stft
            .for_each_block(samples, self.spec.power, 32, |t0, rows| {
                let n = rows.len() / self.stft.bins();
                self.mel
                    .apply_rows(rows, &mut data[t0 * n_mels..(t0 + n) * n_mels]);
            });
        self.to_log_mel(Spectrogram {
            frames,
            bins: n_mels,
            data,
        })
    }

    /// [`Self::log_mel`] from a spectrogram already computed with this front end's STFT
    /// and power, for callers that need the spectrogram too (the same values).
    pub fn log_mel_of(&self, spectrogram: &Spectrogram) -> Spectrogram {
        self.to_log_mel(self.mel.apply(spectrogram))
    }

    /// The front end's power (1 or 2): what [`Self::log_mel_of`] expects.
    pub fn power(&self) -> f64 {
        self.spec.power
    }

    fn to_log_mel(&self, mut mel: Spectrogram) -> Spectrogram {
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
        assert_eq!(
            log_mel.bins, self.spec.n_mels,
            "log-mel and DCT disagree on bands"
        );
        Spectrogram {
            frames: log_mel.frames,
            bins: self.spec.n_mfcc,
            data: self.dct.apply(&log_mel.data),
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

crate::simd::vectorised! {
    /// [`to_db`] relative to `reference` instead of 1.0.
    pub fn to_db_ref(data: &mut [f32], power: f64, amin: f64, reference: f64, top_db: Option<f64>) {
        let factor = if power == 1.0 { 20.0f32 } else { 10.0 };
        let offset = factor * (reference.max(amin) as f32).log10();
        let amin = amin as f32;
        let scale = factor * std::f32::consts::LOG10_E;
        for x in data.iter_mut() {
            // `max` also turns NaN into the floor, so no NaN reaches the peak below.
            *x = x.max(amin);
        }
        ln_in_place(data);
        // The peak in eight lanes: a compare-and-select reduction vectorises, where a running
        // `f32::max` (NaN-aware) stays scalar.
        let mut lanes = [f32::NEG_INFINITY; 8];
        let mut chunks = data.chunks_exact_mut(8);
        for c in &mut chunks {
            for (x, p) in c.iter_mut().zip(lanes.iter_mut()) {
                *x = scale * *x - offset;
                *p = if *x > *p { *x } else { *p };
            }
        }
        let mut peak = lanes.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        for x in chunks.into_remainder() {
            *x = scale * *x - offset;
            peak = peak.max(*x);
        }
        if let Some(top) = top_db {
            let floor = peak - top as f32;
            for x in data.iter_mut() {
                *x = if *x > floor { *x } else { floor };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_ln_matches_f64() {
        let mut worst = 0f64;
        let mut x = 1e-12f32;
        while x < 1e12 {
            let mut v = [x];
            ln_in_place(&mut v);
            let want = (x as f64).ln();
            worst = worst.max((v[0] as f64 - want).abs() / want.abs().max(1.0));
            x *= 1.000_37;
        }
        assert!(worst < 5e-7, "worst error {worst}");
    }

    /// Frames blocked differently (32 per block from samples, a whole spectrogram at once)
    /// give the same log-mel, bit for bit.
    #[test]
    fn log_mel_of_a_spectrogram_equals_log_mel_of_samples() {
        let spec = FrontendSpec {
            n_fft: 512,
            hop_length: 128,
            n_mels: 40,
            ..FrontendSpec::default()
        };
        let fe = FrontEnd::new(&spec);
        let y: Vec<f32> = (0..9000)
            .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.3)
            .collect();
        let stft = Stft::new(
            spec.n_fft,
            spec.hop_length,
            spec.window,
            spec.center,
            spec.pad_mode,
        );
        let from_samples = fe.log_mel(&y);
        assert!(from_samples.frames > 40);
        assert_eq!(
            fe.log_mel_of(&stft.spectrogram(&y, spec.power)),
            from_samples
        );
    }

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
        for (got, want) in x.iter().zip([0.0, -10.0, -60.0, 20.0]) {
            assert!((got - want).abs() < 1e-5, "{x:?}");
        }
        let mut y = vec![1.0, 0.1];
        to_db(&mut y, 1.0, 1e-5, None);
        assert!((y[1] + 20.0).abs() < 1e-5);
    }
}
