//! The out-of-fold stage of the label-noise audit: the training tracks cut into K folds
//! grouped by artist (one artist's tracks, and so its albums, in one fold) and stratified by
//! label as far as whole artists allow; the baseline trained on the other folds (early
//! stopping on the run's validation split, never on the held-out fold) predicts each fold.
//! Every training track's probabilities come from the one model that did not see it, so a
//! model that memorised an album cannot agree with that album's wrong label.

use super::data::LoadedData;
use super::resolve::logreg_params;
use super::StageError;
use crate::data::split::SplitName;
use crate::features::TrackTable;
use crate::nn::logreg::{Labelled, LogisticRegression};
use crate::record::ModelName;
use crate::rng::Rng;
use crate::spec::Resolved;
use candle_core::Device;
use std::collections::BTreeMap;

/// The audit's default fold count.
pub const FOLDS: usize = 5;

/// Out-of-fold probabilities of the training tracks that have features.
#[derive(Debug, Clone)]
pub struct OutOfFold {
    /// Dataset positions of the tracks, in dataset order.
    pub index: Vec<usize>,
    /// The labels the run trained on (published, injected noise included).
    pub labels: Vec<usize>,
    /// Row-major, `index.len() × classes`.
    pub probs: Vec<f64>,
    /// Each track's fold.
    pub fold: Vec<usize>,
    pub folds: usize,
}

/// A fold per track, whole artists at a time: artists from the most tracks down (ties in a
/// seeded order) each go to the fold holding fewest tracks of the artist's commonest label,
/// then fewest tracks.
pub fn assign_folds(artists: &[u32], labels: &[usize], folds: usize, seed: u64) -> Vec<usize> {
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut by_artist: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &a) in artists.iter().enumerate() {
        by_artist.entry(a).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = by_artist.into_values().collect();
    Rng::new(seed).shuffle(&mut groups);
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let mut per_label = vec![vec![0usize; classes]; folds];
    let mut sizes = vec![0usize; folds];
    let mut out = vec![0; labels.len()];
    for g in groups {
        let mut votes = vec![0usize; classes];
        for &i in &g {
            votes[labels[i]] += 1;
        }
        let main = (0..classes).max_by_key(|&c| (votes[c], std::cmp::Reverse(c)));
        let main = main.unwrap_or(0);
        let f = (0..folds)
            .min_by_key(|&f| (per_label[f][main], sizes[f], f))
            .expect("at least one fold");
        for &i in &g {
            out[i] = f;
            per_label[f][labels[i]] += 1;
        }
        sizes[f] += g.len();
    }
    out
}

pub fn baseline(
    spec: &Resolved,
    data: &LoadedData,
    table: &TrackTable,
    folds: usize,
) -> Result<OutOfFold, StageError> {
    let model = ModelName::Baseline;
    let classes = data.dataset.genres.len();
    let labels = &data.noisy.labels;
    let index: Vec<usize> = data
        .split
        .indices(SplitName::Train)
        .into_iter()
        .filter(|&i| table.rows[i].is_some())
        .collect();
    let validation: Vec<usize> = data
        .split
        .indices(SplitName::Validation)
        .into_iter()
        .filter(|&i| table.rows[i].is_some())
        .collect();
    let row = |i: usize| table.rows[i].as_ref().expect("filtered to rows");
    let artists: Vec<u32> = index
        .iter()
        .map(|&i| data.dataset.tracks[i].artist.0)
        .collect();
    let y: Vec<usize> = index.iter().map(|&i| labels[i]).collect();
    let fold = assign_folds(&artists, &y, folds, spec.training_seed());
    let (vx, vy): (Vec<f32>, Vec<usize>) = (
        validation.iter().flat_map(|&i| row(i).clone()).collect(),
        validation.iter().map(|&i| labels[i]).collect(),
    );
    let params = logreg_params(&spec.model);
    let mut probs = vec![0.0; index.len() * classes];
    let bar = crate::progress::bar(folds as u64, "out-of-fold");
    for f in 0..folds {
        let (mut tx, mut ty, mut held) = (Vec::new(), Vec::new(), Vec::new());
        for (k, &i) in index.iter().enumerate() {
            if fold[k] == f {
                held.push(k);
            } else {
                tx.extend_from_slice(row(i));
                ty.push(labels[i]);
            }
        }
        if held.is_empty() {
            bar.inc(1);
            continue;
        }
        let (fitted, _) = LogisticRegression::fit(
            Labelled { x: &tx, y: &ty },
            Labelled { x: &vx, y: &vy },
            table.dim,
            classes,
            &params,
            &Device::Cpu,
            |_| {},
        )
        .map_err(|source| StageError::Training {
            model: model.clone(),
            source,
        })?;
        let hx: Vec<f32> = held.iter().flat_map(|&k| row(index[k]).clone()).collect();
        let p = fitted
            .predict_proba(&hx)
            .map_err(|e| StageError::Training {
                model: model.clone(),
                source: e,
            })?;
        for (j, &k) in held.iter().enumerate() {
            for c in 0..classes {
                probs[k * classes + c] = p[j * classes + c] as f64;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(OutOfFold {
        index,
        labels: y,
        probs,
        fold,
        folds,
    })
}

#[cfg(test)]
mod tests {
    use super::assign_folds;

    #[test]
    fn an_artist_stays_in_one_fold_and_labels_spread() {
        // 20 artists of 3 tracks, labels by artist: 0 for the first ten, 1 for the rest.
        let artists: Vec<u32> = (0..60).map(|i| i / 3).collect();
        let labels: Vec<usize> = (0..60).map(|i| usize::from(i >= 30)).collect();
        let fold = assign_folds(&artists, &labels, 5, 1);
        for a in 0..20u32 {
            let f: Vec<usize> = (0..60)
                .filter(|&i| artists[i] == a)
                .map(|i| fold[i])
                .collect();
            assert!(f.iter().all(|&x| x == f[0]), "artist {a} split: {f:?}");
        }
        for f in 0..5 {
            let of = |l: usize| (0..60).filter(|&i| fold[i] == f && labels[i] == l).count();
            assert_eq!((of(0), of(1)), (6, 6), "fold {f}");
        }
    }
}
