//! The track-level descriptor set, our stand-in for Essentia's extractor: spectral centroid,
//! bandwidth, rolloff, flatness and contrast, zero-crossing rate, RMS, chroma and onset
//! strength, each summarised over frames by FMA's seven statistics, plus a tempo estimate.
//!
//! Each frame-level descriptor follows librosa 0.11's definition with its defaults
//! (magnitude spectrogram, rolloff at 85%, contrast from 200 Hz in 6 octave bands with
//! 2% quantiles, ZCR over 2048-sample frames with edge padding, RMS with zero padding,
//! onset strength as the mean positive dB difference of a 128-band mel spectrogram, tempo
//! as the peak of the mean autocorrelation tempogram under a log-normal prior at 120 BPM).

use super::chroma::ChromaFilterbank;
use super::mel::MelFilterbank;
use super::stft::{hann, Stft};
use super::{to_db, Spectrogram};
use crate::spec::{MelNorm, MelScale, PadMode, WindowKind};
use realfft::RealFftPlanner;

/// Settings of the descriptor stage (`[descriptors]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DescriptorParams {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop_length: usize,
    /// Chroma tuning in fractions of a bin (librosa estimates it when not given).
    pub chroma_tuning: f64,
}

/// The seven statistics FMA's `features.csv` uses, in this order.
pub const STATISTICS: [&str; 7] = ["mean", "std", "min", "max", "median", "skew", "kurtosis"];

/// Frame-level descriptor rows (name, values over frames).
pub struct FrameDescriptors {
    pub rows: Vec<(String, Vec<f32>)>,
    pub tempo_bpm: f32,
}

pub struct DescriptorExtractor {
    p: DescriptorParams,
    stft: Stft,
    chroma: ChromaFilterbank,
    onset_mel: MelFilterbank,
    freqs: Vec<f64>,
}

impl DescriptorExtractor {
    pub fn new(p: &DescriptorParams) -> Self {
        let sr = p.sample_rate as f64;
        DescriptorExtractor {
            stft: Stft::new(
                p.n_fft,
                p.hop_length,
                WindowKind::Hann,
                true,
                PadMode::Constant,
            ),
            chroma: ChromaFilterbank::new(sr, p.n_fft, 12, p.chroma_tuning),
            onset_mel: MelFilterbank::new(
                sr,
                p.n_fft,
                128,
                0.0,
                sr / 2.0,
                MelScale::Slaney,
                MelNorm::Slaney,
            ),
            freqs: (0..p.n_fft / 2 + 1)
                .map(|k| k as f64 * sr / p.n_fft as f64)
                .collect(),
            p: p.clone(),
        }
    }

    /// Names of [`Self::summarise`]'s output, in order.
    pub fn names() -> Vec<String> {
        let mut rows: Vec<String> = [
            "spectral_centroid",
            "spectral_bandwidth",
            "spectral_rolloff",
            "spectral_flatness",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        rows.extend((0..7).map(|i| format!("spectral_contrast_{i}")));
        rows.extend(["zcr", "rms"].iter().map(|s| s.to_string()));
        rows.extend((0..12).map(|i| format!("chroma_{i:02}")));
        rows.push("onset_strength".into());
        let mut names: Vec<String> = rows
            .iter()
            .flat_map(|r| STATISTICS.iter().map(move |s| format!("{r}.{s}")))
            .collect();
        names.push("tempo".into());
        names
    }

    pub fn frames(&self, y: &[f32]) -> FrameDescriptors {
        let mag = self.stft.spectrogram(y, 1.0);
        let power = Spectrogram {
            frames: mag.frames,
            bins: mag.bins,
            data: mag.data.iter().map(|v| v * v).collect(),
        };
        let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
        let (mut cen, mut bw, mut roll, mut flat) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut powers = Vec::with_capacity(mag.bins);
        for t in 0..mag.frames {
            let s = mag.frame(t);
            // Sums in f64 over four lanes: a single running f64 sum is a chain of dependent
            // additions, which was most of this stage's time.
            let total = lane_sum(s.len(), |i| s[i] as f64);
            let norm = if total > f32::MIN_POSITIVE as f64 {
                total
            } else {
                1.0
            };
            let freqs = &self.freqs[..s.len()];
            let c = lane_sum(s.len(), |i| freqs[i] * s[i] as f64) / norm;
            cen.push(c as f32);
            let var = lane_sum(s.len(), |i| s[i] as f64 * (freqs[i] - c) * (freqs[i] - c)) / norm;
            bw.push(var.sqrt() as f32);
            roll.push(self.freqs[rolloff_bin(s)] as f32);
            // Flatness from the power (floored at amin = 1e-10), its logarithms taken by the
            // vectorised ln a frame at a time (libm's was a call per bin).
            powers.clear();
            powers.extend(s.iter().map(|v| (v * v).max(1e-10)));
            let sum = lane_sum(powers.len(), |i| powers[i] as f64);
            super::ln_in_place(&mut powers);
            let log_sum = lane_sum(powers.len(), |i| powers[i] as f64);
            let n = s.len() as f64;
            flat.push(((log_sum / n).exp() / (sum / n)) as f32);
        }
        rows.push(("spectral_centroid".into(), cen));
        rows.push(("spectral_bandwidth".into(), bw));
        rows.push(("spectral_rolloff".into(), roll));
        rows.push(("spectral_flatness".into(), flat));
        for (i, band) in self.contrast(&mag).into_iter().enumerate() {
            rows.push((format!("spectral_contrast_{i}"), band));
        }
        rows.push(("zcr".into(), self.zcr(y)));
        rows.push(("rms".into(), self.rms(y)));
        let chroma = self.chroma.apply(&power);
        for c in 0..12 {
            rows.push((
                format!("chroma_{c:02}"),
                (0..chroma.frames)
                    .map(|t| chroma.data[t * 12 + c])
                    .collect(),
            ));
        }
        let onset = self.onset_strength(&power);
        let tempo_bpm = self.tempo(&onset);
        rows.push(("onset_strength".into(), onset));
        FrameDescriptors { rows, tempo_bpm }
    }

    /// The descriptor vector: seven statistics per frame-level row, then the tempo.
    pub fn summarise(&self, y: &[f32]) -> Vec<f32> {
        let f = self.frames(y);
        let mut out: Vec<f32> = f
            .rows
            .iter()
            .flat_map(|(_, v)| seven_statistics(v))
            .collect();
        out.push(f.tempo_bpm);
        out
    }

    fn contrast(&self, mag: &Spectrogram) -> Vec<Vec<f32>> {
        let (fmin, n_bands, quantile) = (200.0f64, 6usize, 0.02f64);
        let mut octa = vec![0.0f64; n_bands + 2];
        for (i, o) in octa.iter_mut().enumerate().skip(1) {
            *o = fmin * 2f64.powi(i as i32 - 1);
        }
        let nb = mag.bins;
        let mut peak = vec![vec![0f32; mag.frames]; n_bands + 1];
        let mut valley = vec![vec![0f32; mag.frames]; n_bands + 1];
        for k in 0..=n_bands {
            let (lo, hi) = (octa[k], octa[k + 1]);
            let mut band: Vec<bool> = self.freqs.iter().map(|f| *f >= lo && *f <= hi).collect();
            let idx: Vec<usize> = (0..nb).filter(|&i| band[i]).collect();
            if idx.is_empty() {
                continue;
            }
            if k > 0 && idx[0] > 0 {
                band[idx[0] - 1] = true;
            }
            if k == n_bands {
                band[idx[idx.len() - 1] + 1..]
                    .iter_mut()
                    .for_each(|b| *b = true);
            }
            let mut members: Vec<usize> = (0..nb).filter(|&i| band[i]).collect();
            let count = members.len();
            if k < n_bands {
                members.pop();
            }
            let q = (quantile * count as f64).round_ties_even().max(1.0) as usize;
            // A band is a run of neighbouring bins (frequencies rise with the bin).
            let members = match (members.first(), members.last()) {
                (Some(&a), Some(&b)) => a..b + 1,
                _ => 0..0,
            };
            debug_assert_eq!(members.len(), count - usize::from(k < n_bands));
            let (mut smallest, mut largest) = (Vec::with_capacity(q), Vec::with_capacity(q));
            for t in 0..mag.frames {
                let row = &mag.data[t * nb..(t + 1) * nb];
                // Only the q smallest and q largest matter: keep them, sorted, in one pass
                // (most values fail one comparison), and sum them in ascending order as a
                // full sort would.
                extremes(&row[members.clone()], q, &mut smallest, &mut largest);
                let q = smallest.len();
                if q == 0 {
                    // An empty band (unreachable: the spec keeps two bins below 200 Hz);
                    // librosa's 0/0 would become the dB floor below, as 0 does.
                    continue;
                }
                valley[k][t] = smallest.iter().map(|v| *v as f64).sum::<f64>() as f32 / q as f32;
                peak[k][t] = largest.iter().map(|v| *v as f64).sum::<f64>() as f32 / q as f32;
            }
        }
        // power_to_db of peaks and of valleys, each with its own top_db floor (as librosa).
        let flat_db = |m: &Vec<Vec<f32>>| {
            let mut all: Vec<f32> = m.iter().flatten().copied().collect();
            to_db(&mut all, 2.0, 1e-10, Some(80.0));
            all
        };
        let (p, v) = (flat_db(&peak), flat_db(&valley));
        (0..=n_bands)
            .map(|k| {
                (0..mag.frames)
                    .map(|t| p[k * mag.frames + t] - v[k * mag.frames + t])
                    .collect()
            })
            .collect()
    }

    fn zcr(&self, y: &[f32]) -> Vec<f32> {
        let frame = 2048usize;
        let half = frame / 2;
        let hop = self.p.hop_length;
        let n = y.len();
        if n == 0 {
            return Vec::new();
        }
        // Edge padding, as librosa's zero_crossing_rate with center=True.
        let at = |i: usize| y[i.saturating_sub(half).min(n - 1)];
        let sign = |v: f32| v.abs() > 1e-10 && v.is_sign_negative();
        // Whether padded samples j−1 and j differ in sign; a frame from `start` counts the
        // changes at j in start+1 .. start+frame.
        let change = |j: usize| (sign(at(j)) != sign(at(j - 1))) as u32;
        let frames = 1 + n / hop;
        let mut out = Vec::with_capacity(frames);
        // A window sliding by hop: each step drops the changes that left and adds those that
        // came in (exact counts, and no per-sample table held for long tracks).
        let mut count: u32 = (1..frame).map(change).sum();
        out.push(count as f32 / frame as f32);
        for t in 1..frames {
            let (prev, start) = ((t - 1) * hop, t * hop);
            if hop < frame {
                count -= (prev + 1..start + 1).map(change).sum::<u32>();
                count += (prev + frame..start + frame).map(change).sum::<u32>();
            } else {
                count = (start + 1..start + frame).map(change).sum();
            }
            out.push(count as f32 / frame as f32);
        }
        out
    }

    fn rms(&self, y: &[f32]) -> Vec<f32> {
        let frame = 2048usize;
        let half = frame / 2;
        let n = y.len();
        let frames = 1 + n / self.p.hop_length;
        (0..frames)
            .map(|t| {
                // The frame covers padded samples start .. start+frame, i.e. y[start−half ..
                // start−half+frame] with zeros outside y, which add nothing.
                let start = t * self.p.hop_length;
                let lo = start.saturating_sub(half).min(n);
                let hi = (start + frame).saturating_sub(half).min(n);
                let part = &y[lo..hi];
                let s = lane_sum(part.len(), |i| part[i] as f64 * part[i] as f64);
                (s / frame as f64).sqrt() as f32
            })
            .collect()
    }

    fn onset_strength(&self, power: &Spectrogram) -> Vec<f32> {
        let mut mel = self.onset_mel.apply(power);
        to_db(&mut mel.data, 2.0, 1e-10, Some(80.0));
        let (t_n, b) = (mel.frames, mel.bins);
        let pad = 1 + self.p.n_fft / (2 * self.p.hop_length);
        let mut out = vec![0f32; t_n];
        for t in 1..t_n {
            let pos = t - 1 + pad;
            if pos >= t_n {
                break;
            }
            let s: f64 = (0..b)
                .map(|k| (mel.data[t * b + k] - mel.data[(t - 1) * b + k]).max(0.0) as f64)
                .sum();
            out[pos] = (s / b as f64) as f32;
        }
        out
    }

    fn tempo(&self, onset: &[f32]) -> f32 {
        let sr = self.p.sample_rate as f64;
        let hop = self.p.hop_length as f64;
        let win = ((8.0 * sr) as usize) / self.p.hop_length;
        let n = onset.len();
        if n == 0 || win < 2 {
            return 0.0;
        }
        let half = win / 2;
        // linear_ramp padding towards 0 at both ends.
        let mut padded = Vec::with_capacity(n + 2 * half);
        for i in 0..half {
            padded.push(onset[0] as f64 * i as f64 / half as f64);
        }
        padded.extend(onset.iter().map(|v| *v as f64));
        let last = onset[n - 1] as f64;
        for j in 0..half {
            padded.push(last * (1.0 - (j + 1) as f64 / half as f64));
        }
        let window: Vec<f64> = hann(win).into_iter().map(|v| v as f64).collect();
        let n_pad = (2 * win - 1).next_power_of_two();
        let mut planner = RealFftPlanner::<f64>::new();
        let fwd = planner.plan_fft_forward(n_pad);
        let inv = planner.plan_fft_inverse(n_pad);
        let mut mean_ac = vec![0f64; win];
        let (mut buf, mut spec) = (fwd.make_input_vec(), fwd.make_output_vec());
        let mut back = inv.make_output_vec();
        for t in 0..n {
            buf.iter_mut().for_each(|v| *v = 0.0);
            for k in 0..win {
                buf[k] = padded.get(t + k).copied().unwrap_or(0.0) * window[k];
            }
            fwd.process(&mut buf, &mut spec)
                .expect("sizes from the plan");
            spec.iter_mut()
                .for_each(|c| *c = realfft::num_complex::Complex::new(c.norm_sqr(), 0.0));
            inv.process(&mut spec, &mut back)
                .expect("sizes from the plan");
            let ac: Vec<f64> = back[..win].iter().map(|v| v / n_pad as f64).collect();
            let peak = ac.iter().fold(0f64, |m, v| m.max(v.abs()));
            let scale = if peak > f64::MIN_POSITIVE { peak } else { 1.0 };
            for (m, v) in mean_ac.iter_mut().zip(&ac) {
                *m += v / scale;
            }
        }
        mean_ac.iter_mut().for_each(|m| *m /= n as f64);
        let mut best = (f64::NEG_INFINITY, 0.0);
        for (k, tg) in mean_ac.iter().enumerate().skip(1) {
            let bpm = 60.0 * sr / (hop * k as f64);
            if bpm >= 320.0 {
                continue;
            }
            let prior = -0.5 * ((bpm.log2() - 120f64.log2()) / 1.0).powi(2);
            let score = (1e6 * tg).ln_1p() + prior;
            if score > best.0 {
                best = (score, bpm);
            }
        }
        best.1 as f32
    }
}

/// The first bin where the running sum of `s` reaches 85% of the whole, both sums in f32
/// from the lowest bin up, as librosa's cumulative sum over a float32 spectrogram (0 if
/// none does, as for a NaN frame). The running sum is formed twice rather than stored.
fn rolloff_bin(s: &[f32]) -> usize {
    let total = s.iter().fold(0f32, |acc, v| acc + v);
    let threshold = 0.85f32 * total;
    let mut acc = 0f32;
    s.iter()
        .position(|v| {
            acc += v;
            acc >= threshold
        })
        .unwrap_or(0)
}

/// `Σ term(i)` for `i < n`, in four interleaved lanes (independent chains that the
/// processor overlaps and the compiler keeps in registers).
#[inline(always)]
fn lane_sum(n: usize, term: impl Fn(usize) -> f64) -> f64 {
    let (mut a, mut b, mut c, mut d) = (0f64, 0f64, 0f64, 0f64);
    let whole = n / 4 * 4;
    for i in (0..whole).step_by(4) {
        a += term(i);
        b += term(i + 1);
        c += term(i + 2);
        d += term(i + 3);
    }
    for (i, slot) in (whole..n).zip([&mut a, &mut b, &mut c]) {
        *slot += term(i);
    }
    (a + b) + (c + d)
}

/// The `q` smallest and the `q` largest of `values` (fewer when there are fewer values),
/// each ascending, in the order `total_cmp` sorts. Kept sets, not a sort: a value that
/// cannot enter fails one comparison. Music spectra fall with frequency, so the smallest
/// are sought from the top bin down and the largest from the bottom up, where new entries
/// are rare (the order changes only the cost, not the result).
fn extremes(values: &[f32], q: usize, smallest: &mut Vec<f32>, largest: &mut Vec<f32>) {
    use std::cmp::Ordering::{Greater, Less};
    smallest.clear();
    largest.clear();
    if q == 0 {
        return;
    }
    // A plain comparison against the current bound rejects most values at once; only where
    // it cannot decide (equal values, NaN of either sign, −0 against +0) does `total_cmp`.
    let mut below = f32::INFINITY;
    for &v in values.iter().rev() {
        if smallest.len() == q {
            if v.partial_cmp(&below) != Some(Less) && v.total_cmp(&below) != Less {
                continue;
            }
            smallest.pop();
        }
        let at = smallest.partition_point(|s| s.total_cmp(&v) != Greater);
        smallest.insert(at, v);
        if smallest.len() == q {
            below = smallest[q - 1];
        }
    }
    let mut above = f32::NEG_INFINITY;
    for &v in values {
        if largest.len() == q {
            if v.partial_cmp(&above) != Some(Greater) && above.total_cmp(&v) != Less {
                continue;
            }
            largest.remove(0);
        }
        let at = largest.partition_point(|s| s.total_cmp(&v) == Less);
        largest.insert(at, v);
        if largest.len() == q {
            above = largest[0];
        }
    }
}

/// Mean, std, min, max, median, skew and kurtosis (population moments, Fisher's kurtosis, as
/// scipy.stats with its defaults). A constant row has skew and kurtosis 0 (scipy gives NaN,
/// which no classifier can take).
pub fn seven_statistics(v: &[f32]) -> [f32; 7] {
    if v.is_empty() {
        return [0.0; 7];
    }
    let n = v.len() as f64;
    let mean = v.iter().map(|x| *x as f64).sum::<f64>() / n;
    let (mut m2, mut m3, mut m4) = (0f64, 0f64, 0f64);
    for x in v {
        let d = *x as f64 - mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    m2 /= n;
    m3 /= n;
    m4 /= n;
    let mut sorted: Vec<f32> = v.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let len = sorted.len();
    let median = if len % 2 == 1 {
        sorted[len / 2] as f64
    } else {
        (sorted[len / 2 - 1] as f64 + sorted[len / 2] as f64) / 2.0
    };
    let constant = m2 <= (f64::EPSILON * mean.abs()).powi(2) || m2 == 0.0;
    let (skew, kurt) = if constant {
        (0.0, 0.0)
    } else {
        (m3 / m2.powf(1.5), m4 / (m2 * m2) - 3.0)
    };
    [
        mean as f32,
        m2.sqrt() as f32,
        sorted[0],
        sorted[len - 1],
        median as f32,
        skew as f32,
        kurt as f32,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_statistics_by_hand() {
        let s = seven_statistics(&[1.0, 2.0, 3.0, 10.0]);
        // mean 4, deviations −3 −2 −1 6: m2 = 12.5, m3 = (−27 −8 −1 +216)/4 = 45, m4 = (81+16+1+1296)/4 = 348.5
        assert_eq!(&s[..5], &[4.0, 12.5f32.sqrt(), 1.0, 10.0, 2.5]);
        assert!((s[5] as f64 - 45.0 / 12.5f64.powf(1.5)).abs() < 1e-6);
        assert!((s[6] as f64 - (348.5 / 156.25 - 3.0)).abs() < 1e-6);
        assert_eq!(
            seven_statistics(&[2.0, 2.0]),
            [2.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0]
        );
    }

    /// The running extremes equal the ends of a full sort, ties and short inputs included.
    #[test]
    fn extremes_are_the_ends_of_a_sort() {
        let mut state = 3u64;
        let (mut small, mut large) = (Vec::new(), Vec::new());
        for n in [0usize, 1, 3, 7, 40, 400] {
            for q in [1usize, 2, 5, 9] {
                let v: Vec<f32> = (0..n)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1);
                        // Few distinct values (many ties), signed zeros and NaN of both signs.
                        match state >> 58 {
                            0 => f32::NAN,
                            1 => -f32::NAN,
                            2 => -0.0,
                            r => r as f32 * 0.5,
                        }
                    })
                    .collect();
                extremes(&v, q, &mut small, &mut large);
                let mut sorted = v.clone();
                sorted.sort_by(|a, b| a.total_cmp(b));
                let k = q.min(n);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&small), bits(&sorted[..k]), "n {n} q {q}");
                assert_eq!(bits(&large), bits(&sorted[n - k..]), "n {n} q {q}");
            }
        }
    }

    #[test]
    fn names_match_the_vector() {
        let p = DescriptorParams {
            sample_rate: 22050,
            n_fft: 2048,
            hop_length: 512,
            chroma_tuning: 0.0,
        };
        let e = DescriptorExtractor::new(&p);
        let y: Vec<f32> = (0..22050).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        assert_eq!(e.summarise(&y).len(), DescriptorExtractor::names().len());
        assert_eq!(DescriptorExtractor::names().len(), 26 * 7 + 1);
    }
}
