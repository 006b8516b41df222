//! Scoring a genre model the same way whichever stage trained it: on the training and
//! validation tracks against the labels it trained on (injected noise included), on the
//! test tracks against the labels as published and, for generated worlds, against the true
//! genres; every track's probabilities go to the store and to `predictions/<model>.csv` in
//! the run's folder.

use super::data::LoadedData;
use super::{Recorder, StageError};
use crate::eval::bootstrap::BOOTSTRAP_SEED;
use crate::eval::by_artist;
use crate::eval::metrics::evaluate;
use crate::eval::Evaluation;
use crate::record::{metric, ModelName, Prediction, SplitKey};
use crate::rng::Rng;
use std::path::PathBuf;

/// Track-level class probabilities of a model, for dataset positions.
pub type TrackPredictor<'a> = dyn Fn(&[usize]) -> Result<Vec<Vec<f32>>, crate::nn::TrainError> + 'a;

/// The tracks a model is scored on, by split (dataset positions).
pub struct ScoredTracks<'a> {
    pub train: &'a [usize],
    pub validation: &'a [usize],
    pub test: &'a [usize],
}

/// Record the test scores' intervals from a bootstrap over the test set's artists.
#[allow(clippy::too_many_arguments)]
fn record_by_artist(
    model: &ModelName,
    split: SplitKey,
    probs: &[f32],
    labels: &[usize],
    artists: &[u32],
    classes: usize,
    clip: f64,
    rec: &mut dyn Recorder,
) -> Result<(), StageError> {
    // Seeded by what is scored, so the same predictions always get the same interval.
    let rng = Rng::derive(BOOTSTRAP_SEED, &format!("artists {model} {split}"), 0);
    let Some(found) = by_artist::intervals(probs, labels, artists, classes, clip, rng) else {
        return Ok(());
    };
    let mut values: Vec<(String, f64)> = vec![(metric::N_ARTISTS.into(), found.artists as f64)];
    for (name, interval) in [
        (metric::LOG_LOSS, found.log_loss),
        (metric::MACRO_F1, found.macro_f1),
        (metric::ACCURACY, found.accuracy),
    ] {
        if let Some(i) = interval {
            let [low, high] = metric::artist_interval(name);
            values.push((low, i.low));
            values.push((high, i.high));
        }
    }
    let pairs: Vec<(&str, f64)> = values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    rec.metrics(model, split, &pairs)?;
    Ok(())
}

/// Score `model` on every split (and against the true genres when known), record it, and
/// write its per-track probabilities.
pub fn score(
    model: &ModelName,
    data: &LoadedData,
    tracks: &ScoredTracks,
    clip: f64,
    predict: &TrackPredictor,
    rec: &mut dyn Recorder,
) -> Result<Vec<(SplitKey, Evaluation)>, StageError> {
    let d = &data.dataset;
    let classes = d.genres.len();
    let published = data.published();
    let noisy = &data.noisy.labels;
    let mut out = Vec::new();
    let mut rows = Vec::new();
    let mut csv = format!(
        "track_id,split,label{}\n",
        d.genres
            .iter()
            .map(|g| format!(",p_{}", g.title.replace(',', " ")))
            .collect::<String>()
    );
    for (split, idx, labels) in [
        (SplitKey::Train, tracks.train, noisy),
        (SplitKey::Validation, tracks.validation, noisy),
        (SplitKey::Test, tracks.test, &published),
    ] {
        let probs = predict(idx).map_err(|source| StageError::Training {
            model: model.clone(),
            source,
        })?;
        for (&i, p) in idx.iter().zip(&probs) {
            csv.push_str(&format!("{},{split},{}", d.tracks[i].id, labels[i]));
            for v in p {
                csv.push_str(&format!(",{v}"));
            }
            csv.push('\n');
            rows.push(Prediction {
                track: d.tracks[i].id,
                split,
                label: labels[i],
                true_label: data.truth.as_ref().map(|t| t.true_genre[i]),
                probabilities: p.clone(),
            });
        }
        let flat: Vec<f32> = probs.concat();
        let y: Vec<usize> = idx.iter().map(|&i| labels[i]).collect();
        let e = evaluate(&flat, &y, classes, clip);
        rec.evaluation(model, split, &e)?;
        out.push((split, e));
        if split == SplitKey::Test {
            let artists: Vec<u32> = idx.iter().map(|&i| d.tracks[i].artist.0).collect();
            record_by_artist(model, split, &flat, &y, &artists, classes, clip, rec)?;
        }
        if let (SplitKey::Test, Some(truth)) = (split, &data.truth) {
            let clean: Vec<usize> = idx.iter().map(|&i| truth.true_genre[i]).collect();
            let e = evaluate(&flat, &clean, classes, clip);
            rec.evaluation(model, SplitKey::TestClean, &e)?;
            let artists: Vec<u32> = idx.iter().map(|&i| d.tracks[i].artist.0).collect();
            record_by_artist(
                model,
                SplitKey::TestClean,
                &flat,
                &clean,
                &artists,
                classes,
                clip,
                rec,
            )?;
            out.push((SplitKey::TestClean, e));
        }
    }
    rec.predictions(model, &rows)?;
    let path = PathBuf::from("predictions").join(format!("{model}.csv"));
    rec.file(&path, csv.as_bytes())?;
    Ok(out)
}
