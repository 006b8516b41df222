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
    let slope = |start: usize, b: usize| -> f64 {
        (0..width)
            .map(|k| (k as f64 - half as f64) * x.data[(start + k) * x.bins + b] as f64)
            .sum::<f64>()
            / denom
    };
    let mut data = vec![0f32; x.data.len()];
    for b in 0..x.bins {
        let head = slope(0, b) as f32;
        let tail = slope(x.frames - width, b) as f32;
        for t in 0..x.frames {
            data[t * x.bins + b] = if t < half {
                head
            } else if t >= x.frames - half {
                tail
            } else {
                slope(t - half, b) as f32
            };
        }
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
