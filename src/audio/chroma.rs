//! Chroma filterbank and frames, as librosa's `filters.chroma` / `feature.chroma_stft`:
//! Gaussian bumps per semitone class over each FFT bin's octave position, each bin's column
//! L2-normalised, weighted by a Gaussian over octaves (centre 5, width 2), starting at C.
//! Tuning is a parameter (librosa estimates it when not given; we do not).

use super::filterbank::Filterbank;
use super::Spectrogram;

pub struct ChromaFilterbank {
    n_chroma: usize,
    n_bins: usize,
    bank: Filterbank,
}

impl ChromaFilterbank {
    pub fn new(sr: f64, n_fft: usize, n_chroma: usize, tuning: f64) -> Self {
        let nc = n_chroma as f64;
        let a440 = 440.0 * 2f64.powf(tuning / nc);
        // Octave position (in chroma bins) of every FFT bin but DC; DC sits 1.5 octaves below bin 1.
        let mut frq: Vec<f64> = (1..n_fft)
            .map(|k| nc * (k as f64 * sr / n_fft as f64 / (a440 / 16.0)).log2())
            .collect();
        frq.insert(0, frq[0] - 1.5 * nc);
        let mut width: Vec<f64> = frq.windows(2).map(|w| (w[1] - w[0]).max(1.0)).collect();
        width.push(1.0);
        let half = (nc / 2.0).round();
        let mut w = vec![0f64; n_chroma * n_fft];
        for (f, (&fb, &bw)) in frq.iter().zip(&width).enumerate() {
            let mut col = vec![0f64; n_chroma];
            for (c, v) in col.iter_mut().enumerate() {
                let d = (fb - c as f64 + half + 10.0 * nc).rem_euclid(nc) - half;
                *v = (-0.5 * (2.0 * d / bw).powi(2)).exp();
            }
            let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
            let oct = (-0.5 * ((fb / nc - 5.0) / 2.0).powi(2)).exp();
            for (c, v) in col.iter().enumerate() {
                w[c * n_fft + f] = if norm > 0.0 { v / norm } else { *v } * oct;
            }
        }
        // Start at C: rows roll by three semitones (A → C).
        let shift = 3 * (n_chroma / 12);
        let n_bins = n_fft / 2 + 1;
        let mut weights = vec![0f32; n_chroma * n_bins];
        for c in 0..n_chroma {
            let src = (c + shift) % n_chroma;
            for f in 0..n_bins {
                weights[c * n_bins + f] = w[src * n_fft + f] as f32;
            }
        }
        ChromaFilterbank {
            n_chroma,
            n_bins,
            bank: Filterbank::dense(n_bins, &weights),
        }
    }

    /// Chroma frames from a power spectrogram, each frame scaled to a maximum of 1
    /// (librosa's `norm=np.inf`; an all-zero frame stays zero).
    pub fn apply(&self, power: &Spectrogram) -> Spectrogram {
        assert_eq!(
            power.bins, self.n_bins,
            "spectrogram and chroma filterbank disagree on bins"
        );
        let mut data = self.bank.apply(&power.data);
        for out in data.chunks_exact_mut(self.n_chroma) {
            let peak = out.iter().fold(0f32, |m, v| m.max(v.abs()));
            if peak > f32::MIN_POSITIVE {
                out.iter_mut().for_each(|v| *v /= peak);
            }
        }
        Spectrogram {
            frames: power.frames,
            bins: self.n_chroma,
            data,
        }
    }
}
