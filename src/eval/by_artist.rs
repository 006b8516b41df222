//! How much a run's test scores would move on another test set of the same kind: a
//! percentile bootstrap over whole artists (one artist's tracks share a voice, a studio and
//! usually a label, so they are not independent draws). Log loss, macro-F1 and accuracy
//! are read from the same resamples.

use super::bootstrap::{Clusters, Interval, LEVEL, RESAMPLES};
use super::metrics::{argmax, from_confusion};
use crate::rng::Rng;
use serde::Serialize;
use std::collections::BTreeMap;

/// Intervals of one model's scores on one test set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtistIntervals {
    pub artists: usize,
    pub tracks: usize,
    pub log_loss: Option<Interval>,
    pub macro_f1: Option<Interval>,
    pub accuracy: Option<Interval>,
}

/// The bootstrap over artists of row-major `probs` (`labels.len() × classes`), track `n`
/// by `artists[n]`, with the log loss clipped at `clip`; `None` below two artists.
pub fn intervals(
    probs: &[f32],
    labels: &[usize],
    artists: &[u32],
    classes: usize,
    clip: f64,
    rng: Rng,
) -> Option<ArtistIntervals> {
    assert_eq!(probs.len(), labels.len() * classes);
    assert_eq!(artists.len(), labels.len());
    // Per artist: [log-loss sum, tracks, confusion counts row-major].
    let width = 2 + classes * classes;
    let mut sums: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for ((row, &label), &artist) in probs.chunks(classes).zip(labels).zip(artists) {
        let v = sums.entry(artist).or_insert_with(|| vec![0.0; width]);
        v[0] -= (row[label] as f64).clamp(clip, 1.0 - clip).ln();
        v[1] += 1.0;
        v[2 + label * classes + argmax(row)] += 1.0;
    }
    if sums.len() < 2 {
        return None;
    }
    let artist_count = sums.len();
    let clusters = Clusters::new(sums.into_values().collect());
    let confusion = |t: &[f64]| -> Vec<Vec<usize>> {
        t[2..]
            .chunks(classes)
            .map(|row| row.iter().map(|&c| c as usize).collect())
            .collect()
    };
    let log_loss = |t: &[f64]| t[0] / t[1];
    let macro_f1 = |t: &[f64]| from_confusion(&confusion(t)).macro_f1;
    let accuracy = |t: &[f64]| from_confusion(&confusion(t)).accuracy;
    let mut found = clusters
        .intervals(RESAMPLES, LEVEL, rng, &[&log_loss, &macro_f1, &accuracy])
        .into_iter();
    Some(ArtistIntervals {
        artists: artist_count,
        tracks: labels.len(),
        log_loss: found.next().flatten(),
        macro_f1: found.next().flatten(),
        accuracy: found.next().flatten(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artists_are_resampled_whole() {
        // Ten artists of four tracks, each wholly right (six) or wholly wrong (four).
        let labels = vec![0usize; 40];
        let probs: Vec<f32> = (0..40)
            .flat_map(|i| if i / 4 < 6 { [0.9, 0.1] } else { [0.1, 0.9] })
            .collect();
        let by_artist: Vec<u32> = (0..40).map(|i| i / 4).collect();
        let t = intervals(&probs, &labels, &by_artist, 2, 1e-8, Rng::new(1)).unwrap();
        assert_eq!((t.artists, t.tracks), (10, 40));
        let acc = t.accuracy.unwrap();
        assert!(
            acc.contains(0.6) && acc.low >= 0.2 && acc.high <= 1.0,
            "{acc:?}"
        );
        // The same tracks, each its own artist: forty independent draws, a narrower interval.
        let alone: Vec<u32> = (0..40).collect();
        let u = intervals(&probs, &labels, &alone, 2, 1e-8, Rng::new(1)).unwrap();
        assert!(
            u.accuracy.unwrap().half_width() < acc.half_width() * 0.7,
            "{u:?} vs {t:?}"
        );
        // The log loss's interval covers the run's own log loss.
        let own = -(6.0 * 0.9f32.ln() as f64 + 4.0 * 0.1f32.ln() as f64) / 10.0;
        assert!(t.log_loss.unwrap().contains(own));
        assert_eq!(
            intervals(&probs, &labels, &[0; 40], 2, 1e-8, Rng::new(1)),
            None
        );
    }
}
