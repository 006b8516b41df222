//! Mel filterbanks on the Slaney or HTK scale, as librosa's `filters.mel`, stored sparsely
//! (each triangle touches a handful of bins), so applying one costs O(frames · nonzeros).

use super::Spectrogram;
use crate::spec::{MelNorm, MelScale};

pub struct MelFilterbank {
    n_mels: usize,
    n_bins: usize,
    /// Per mel band: first bin and the weights from there on.
    bands: Vec<(usize, Vec<f32>)>,
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

const LANES: usize = 8;

/// Up to [`LANES`] rows of `n` bins (`rows`, row-major) into `by_bin[k · LANES + l]`; lanes
/// past the last row keep whatever they held (their sums are never written out).
fn transpose_rows(rows: &[f32], by_bin: &mut [f32]) {
    let n = by_bin.len() / LANES;
    for (l, row) in rows.chunks_exact(n).enumerate() {
        for (k, v) in row.iter().enumerate() {
            by_bin[k * LANES + l] = *v;
        }
    }
}

/// [`transpose_rows`] for a full block, by 8 × 8 register transposes (scalar stores with a
/// stride of eight were most of the filterbank's time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_rows_avx(rows: &[f32], by_bin: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = by_bin.len() / LANES;
    if rows.len() != n * LANES {
        return transpose_rows(rows, by_bin);
    }
    let whole = n / LANES * LANES;
    let (src, dst) = (rows.as_ptr(), by_bin.as_mut_ptr());
    for k0 in (0..whole).step_by(LANES) {
        // Safety: rows has LANES rows of n ≥ k0 + 8 values; by_bin has n · LANES values.
        unsafe {
            let r: [__m256; 8] = std::array::from_fn(|l| _mm256_loadu_ps(src.add(l * n + k0)));
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let cols = [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ];
            for (k, c) in cols.iter().enumerate() {
                _mm256_storeu_ps(dst.add((k0 + k) * LANES), *c);
            }
        }
    }
    for k in whole..n {
        for l in 0..LANES {
            by_bin[k * LANES + l] = rows[l * n + k];
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
        let bands = (0..n_mels)
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
            bands,
        }
    }

    /// Dense `n_mels × n_bins` weights, for comparisons and export.
    pub fn dense(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.n_mels * self.n_bins];
        for (m, (first, w)) in self.bands.iter().enumerate() {
            out[m * self.n_bins + first..m * self.n_bins + first + w.len()].copy_from_slice(w);
        }
        out
    }

    /// Mel energies of consecutive spectrum frames: `rows` is `frames × n_bins`, `out`
    /// `frames × n_mels`. Frames go eight at a time through a bin-major copy, so that each
    /// filter weight is one 8-lane multiply-add across frames: per frame, a triangle is only
    /// a handful of bins, too short for a vectorised dot product to pay for its reduction.
    pub fn apply_rows(&self, rows: &[f32], out: &mut [f32]) {
        let frames = rows.len() / self.n_bins;
        assert!(
            rows.len() == frames * self.n_bins && out.len() == frames * self.n_mels,
            "spectrum rows and mel output disagree on the frame count"
        );
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2_fma() {
            // Safety: the features were detected on this processor.
            return unsafe { self.apply_rows_avx2(rows, out) };
        }
        self.apply_rows_portable(rows, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn apply_rows_avx2(&self, rows: &[f32], out: &mut [f32]) {
        self.apply_rows_with(rows, out, |block, by_bin| {
            // Safety: AVX is enabled on this function.
            unsafe { transpose_rows_avx(block, by_bin) }
        })
    }

    fn apply_rows_portable(&self, rows: &[f32], out: &mut [f32]) {
        self.apply_rows_with(rows, out, transpose_rows)
    }

    #[inline(always)]
    fn apply_rows_with(
        &self,
        rows: &[f32],
        out: &mut [f32],
        transpose: impl Fn(&[f32], &mut [f32]),
    ) {
        let mut by_bin = vec![0f32; self.n_bins * LANES];
        for (block, dst) in rows
            .chunks(self.n_bins * LANES)
            .zip(out.chunks_mut(self.n_mels * LANES))
        {
            let lanes = block.len() / self.n_bins;
            transpose(block, &mut by_bin);
            for (m, (first, w)) in self.bands.iter().enumerate() {
                let mut acc = [0f32; LANES];
                for (wk, col) in w.iter().zip(by_bin[first * LANES..].chunks_exact(LANES)) {
                    for l in 0..LANES {
                        acc[l] += wk * col[l];
                    }
                }
                for l in 0..lanes {
                    dst[l * self.n_mels + m] = acc[l];
                }
            }
        }
    }

    pub fn apply(&self, spec: &Spectrogram) -> Spectrogram {
        assert_eq!(
            spec.bins, self.n_bins,
            "spectrogram and filterbank disagree on bins"
        );
        let mut data = vec![0f32; spec.frames * self.n_mels];
        self.apply_rows(&spec.data, &mut data);
        Spectrogram {
            frames: spec.frames,
            bins: self.n_mels,
            data,
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
