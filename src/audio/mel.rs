//! Mel filterbanks on the Slaney or HTK scale, as librosa's `filters.mel`, stored sparsely
//! (each triangle touches a handful of bins), so applying one costs O(frames · nonzeros).

use super::filterbank::Filterbank;
use super::Spectrogram;
use crate::spec::{MelNorm, MelScale};

pub struct MelFilterbank {
    n_mels: usize,
    n_bins: usize,
    bank: Filterbank,
}

pub fn hz_to_mel(hz: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + hz / 700.0).log10(),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = (6.4f64).ln() / 27.0;
            if hz >= min_log_hz {
                min_log_mel + (hz / min_log_hz).ln() / logstep
            } else {
                hz / f_sp
            }
        }
    }
}

pub fn mel_to_hz(mel: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(mel / 2595.0) - 1.0),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = (6.4f64).ln() / 27.0;
            if mel >= min_log_mel {
                min_log_hz * (logstep * (mel - min_log_mel)).exp()
            } else {
                f_sp * mel
            }
        }
    }
}

impl MelFilterbank {
    pub fn new(
        sr: f64,
        n_fft: usize,
        n_mels: usize,
        fmin: f64,
        fmax: f64,
        scale: MelScale,
        norm: MelNorm,
    ) -> Self {
        let n_bins = n_fft / 2 + 1;
        let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * sr / n_fft as f64).collect();
        let (lo, hi) = (hz_to_mel(fmin, scale), hz_to_mel(fmax, scale));
        let mel_f: Vec<f64> = (0..n_mels + 2)
            .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64, scale))
            .collect();
        let bands: Vec<(usize, Vec<f32>)> = (0..n_mels)
            .map(|m| {
                let (f0, f1, f2) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
                let enorm = match norm {
                    MelNorm::Slaney => 2.0 / (f2 - f0),
                    MelNorm::None => 1.0,
                };
                let weights: Vec<f64> = fft_freqs
                    .iter()
                    .map(|&f| {
                        let lower = (f - f0) / (f1 - f0);
                        let upper = (f2 - f) / (f2 - f1);
                        lower.min(upper).max(0.0) * enorm
                    })
                    .collect();
                let first = weights.iter().position(|w| *w > 0.0).unwrap_or(0);
                let last = weights
                    .iter()
                    .rposition(|w| *w > 0.0)
                    .map(|i| i + 1)
                    .unwrap_or(first);
                (
                    first,
                    weights[first..last].iter().map(|w| *w as f32).collect(),
                )
            })
            .collect();
        MelFilterbank {
            n_mels,
            n_bins,
            bank: Filterbank::sparse(n_bins, bands),
        }
    }

    /// Dense `n_mels × n_bins` weights, for comparisons and export.
    pub fn dense(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.n_mels * self.n_bins];
        for (m, (first, w)) in self.bank.bands().iter().enumerate() {
            out[m * self.n_bins + first..m * self.n_bins + first + w.len()].copy_from_slice(w);
        }
        out
    }

    /// Mel energies of consecutive spectrum frames: `rows` is `frames × n_bins`, `out`
    /// `frames × n_mels`.
    pub fn apply_rows(&self, rows: &[f32], out: &mut [f32]) {
        self.bank.apply_rows(rows, out)
    }

    pub fn apply(&self, spec: &Spectrogram) -> Spectrogram {
        assert_eq!(
            spec.bins, self.n_bins,
            "spectrogram and filterbank disagree on bins"
        );
        Spectrogram {
            frames: spec.frames,
            bins: self.n_mels,
            data: self.bank.apply(&spec.data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_round_trip_and_match_known_points() {
        for scale in [MelScale::Slaney, MelScale::Htk] {
            for hz in [0.0, 440.0, 1000.0, 5512.5, 11025.0] {
                let back = mel_to_hz(hz_to_mel(hz, scale), scale);
                assert!((back - hz).abs() < 1e-6, "{scale:?} {hz}");
            }
        }
        // librosa.hz_to_mel(1000) == 15.0 (Slaney), hz_to_mel(1000, htk=True) ≈ 999.9856
        assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(1000.0, MelScale::Htk) - 999.985_6).abs() < 1e-3);
    }

    #[test]
    fn slaney_triangles_have_unit_area_in_hz() {
        // Area-normalised triangles integrate to ≈1 over Hz (2/(f2−f0) × half base × height 1).
        let (sr, n_fft) = (22050.0, 4096);
        let fb = MelFilterbank::new(
            sr,
            n_fft,
            40,
            0.0,
            sr / 2.0,
            MelScale::Slaney,
            MelNorm::Slaney,
        );
        let df = sr / n_fft as f64;
        let dense = fb.dense();
        for m in [5, 20, 39] {
            let area: f64 = dense[m * fb.n_bins..(m + 1) * fb.n_bins]
                .iter()
                .map(|w| *w as f64 * df)
                .sum();
            assert!((area - 1.0).abs() < 0.05, "band {m} area {area}");
        }
    }
}
