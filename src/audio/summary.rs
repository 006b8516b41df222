//! Track-level summaries of frame-level features: the fixed-length vectors that classical
//! classifiers (and the K-Means dictionaries of track-level words) take.

use super::Spectrogram;

/// Per coefficient: mean and standard deviation over frames, then the same for the first
/// difference of consecutive frames (`m[1:] − m[:-1]`, the authors' dmfcc).
/// Length `4 · bins`; names from [`mfcc_stat_names`].
pub fn mfcc_statistics(mfcc: &Spectrogram) -> Vec<f32> {
    let k = mfcc.bins;
    let mut out = Vec::with_capacity(4 * k);
    let (mean, std) = mean_std(mfcc.frames, k, |t, i| mfcc.data[t * k + i] as f64);
    out.extend(mean.iter().map(|x| *x as f32));
    out.extend(std.iter().map(|x| *x as f32));
    let d_frames = mfcc.frames.saturating_sub(1);
    let (dmean, dstd) = mean_std(d_frames, k, |t, i| {
        (mfcc.data[(t + 1) * k + i] - mfcc.data[t * k + i]) as f64
    });
    out.extend(dmean.iter().map(|x| *x as f32));
    out.extend(dstd.iter().map(|x| *x as f32));
    out
}

pub fn mfcc_stat_names(k: usize) -> Vec<String> {
    let mut names = Vec::with_capacity(4 * k);
    for stat in ["mfcc_mean", "mfcc_std", "dmfcc_mean", "dmfcc_std"] {
        names.extend((0..k).map(|i| format!("{stat}_{i:02}")));
    }
    names
}

/// Column means and population standard deviations of a `rows × cols` matrix given by `at`.
fn mean_std(rows: usize, cols: usize, at: impl Fn(usize, usize) -> f64) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0f64; cols];
    let mut std = vec![0f64; cols];
    if rows == 0 {
        return (mean, std);
    }
    for t in 0..rows {
        for (i, m) in mean.iter_mut().enumerate() {
            *m += at(t, i);
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    for t in 0..rows {
        for (i, s) in std.iter_mut().enumerate() {
            let d = at(t, i) - mean[i];
            *s += d * d;
        }
    }
    std.iter_mut().for_each(|s| *s = (*s / rows as f64).sqrt());
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_by_hand() {
        // Two coefficients over three frames: [1,10], [3,10], [8,10].
        let m = Spectrogram {
            frames: 3,
            bins: 2,
            data: vec![1.0, 10.0, 3.0, 10.0, 8.0, 10.0],
        };
        let s = mfcc_statistics(&m);
        let want_std0 = ((9.0 + 1.0 + 16.0) / 3.0f64).sqrt() as f32; // mean 4
                                                                     // differences of coefficient 0: 2, 5 → mean 3.5, std 1.5
        assert_eq!(s.len(), 8);
        assert_eq!(&s[..2], &[4.0, 10.0]);
        assert!((s[2] - want_std0).abs() < 1e-6 && s[3] == 0.0);
        assert_eq!(&s[4..], &[3.5, 0.0, 1.5, 0.0]);
        assert_eq!(mfcc_stat_names(2)[5], "dmfcc_mean_01");
    }
}
