//! Time derivatives of frame-level features.
//!
//! `delta` is librosa's `feature.delta` (Savitzky–Golay, first order, `mode="interp"`): in
//! the interior, the least-squares slope over `width` frames; within `width/2` frames of
//! either edge, the slope of the line fitted to the first (last) `width` frames.
//! `first_difference` is the authors' dmfcc: `m[1:] − m[:-1]`.

use super::Spectrogram;

/// librosa-style delta along time (`width` odd ≥ 3; at least `width` frames needed).
pub fn delta(x: &Spectrogram, width: usize) -> Option<Spectrogram> {
    if width < 3 || width.is_multiple_of(2) || x.frames < width {
        return None;
    }
    let half = width / 2;
    let denom: f64 = (1..=half).map(|k| 2.0 * (k * k) as f64).sum();
    let weights: Vec<f32> = (0..width)
        .map(|k| ((k as f64 - half as f64) / denom) as f32)
        .collect();
    let bins = x.bins;
    // Frame-major: each output frame is a weighted sum of `width` whole input frames, a loop
    // over contiguous bins that vectorises.
    let slope_into = |start: usize, out: &mut [f32]| {
        out.fill(0.0);
        for (k, w) in weights.iter().enumerate() {
            let row = &x.data[(start + k) * bins..(start + k + 1) * bins];
            for (o, v) in out.iter_mut().zip(row) {
                *o += w * v;
            }
        }
    };
    let mut data = vec![0f32; x.data.len()];
    for (t, out) in data.chunks_exact_mut(bins).enumerate() {
        let start = t.saturating_sub(half).min(x.frames - width);
        slope_into(start, out);
    }
    Some(Spectrogram {
        frames: x.frames,
        bins: x.bins,
        data,
    })
}

/// `m[1:] − m[:-1]`: one frame fewer than the input.
pub fn first_difference(x: &Spectrogram) -> Spectrogram {
    let frames = x.frames.saturating_sub(1);
    let data = (0..frames * x.bins)
        .map(|i| x.data[i + x.bins] - x.data[i])
        .collect();
    Spectrogram {
        frames,
        bins: x.bins,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_is_exact_everywhere_and_difference_by_hand() {
        // One band rising by 2 per frame: the delta is 2 at every frame, edges included.
        let x = Spectrogram {
            frames: 12,
            bins: 1,
            data: (0..12).map(|t| 2.0 * t as f32 + 1.0).collect(),
        };
        let d = delta(&x, 9).unwrap();
        assert!(
            d.data.iter().all(|v| (v - 2.0).abs() < 1e-5),
            "{:?}",
            d.data
        );
        assert!(delta(&x, 13).is_none());
        let q = Spectrogram {
            frames: 3,
            bins: 2,
            data: vec![1.0, 0.0, 4.0, 1.0, 9.0, 3.0],
        };
        assert_eq!(first_difference(&q).data, vec![3.0, 1.0, 5.0, 2.0]);
    }
}
