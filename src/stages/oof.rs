//! The out-of-fold stage of the label-noise audit: the training tracks cut into K folds
//! grouped by artist (one artist's tracks, and so its albums, in one fold) and stratified by
//! label as far as whole artists allow; the audit's model trained on the other folds (early
//! stopping on the run's validation split, never on the held-out fold) predicts each fold.
//! Every training track's probabilities come from the one model that did not see it, so a
//! model that memorised an album cannot agree with that album's wrong label.
//!
//! The model is the baseline, the genre CNN or the transfer model. For the nets, only what
//! learns genre is trained again per fold (the genre CNN, or the multi-task trunk); a
//! factor's CNN learns artists' topic vectors, which come from audio alone and never from a
//! genre label, so the run's own factor nets serve every fold. Each fold's net and MLP are
//! entries of the net and transfer caches, and the finished out-of-fold probabilities an
//! entry of their own (`oof/<key>`), so a resumed run or a sweep cell that shares the audit
//! reads them.

use super::data::LoadedData;
use super::lock::StageLock;
use super::nets::TrainedNets;
use super::resolve::{logreg_params, train_config, transfer_config};
use super::StageError;
use crate::cache::{CacheKey, StageCache};
use crate::data::split::SplitName;
use crate::features::TrackTable;
use crate::nn::logreg::{Labelled, LogisticRegression};
use crate::nn::train::Task;
use crate::nn::Cnn;
use crate::record::ModelName;
use crate::rng::Rng;
use crate::spec::{AuditModel, Resolved};
use candle_core::Device;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

pub const OOF_STAGE: &str = "oof";
/// Bumped whenever out-of-fold probabilities differ for the same key.
const VERSION: u32 = 2;

/// The audit's default fold count.
pub const FOLDS: usize = 5;

/// Out-of-fold probabilities of the training tracks the model can read.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OutOfFold {
    /// Dataset positions of the tracks, in dataset order.
    pub index: Vec<usize>,
    /// The labels the run trained on (published, injected noise included).
    pub labels: Vec<usize>,
    /// Row-major, `index.len() × classes`; held in the cache as f32, which every model's
    /// output is.
    #[serde(skip)]
    pub probs: Vec<f64>,
    /// Each track's fold.
    pub fold: Vec<usize>,
    pub folds: usize,
    /// Each fold model's best validation loss (NaN for a fold with no track).
    pub validation_loss: Vec<f64>,
    /// Read from the stage cache rather than computed in this run.
    #[serde(skip)]
    pub cached: bool,
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

/// The baseline's out-of-fold probabilities over `table`'s rows.
pub fn baseline(
    spec: &Resolved,
    data: &LoadedData,
    table: &TrackTable,
    folds: usize,
    cache: Option<&StageCache>,
) -> Result<OutOfFold, StageError> {
    let model = ModelName::Baseline;
    let classes = data.dataset.genres.len();
    let labels = &data.noisy.labels;
    let with_rows = |s: SplitName| -> Vec<usize> {
        data.split
            .indices(s)
            .into_iter()
            .filter(|&i| table.rows[i].is_some())
            .collect()
    };
    let (index, validation) = (
        with_rows(SplitName::Train),
        with_rows(SplitName::Validation),
    );
    let row = |i: usize| table.rows[i].as_ref().expect("filtered to rows");
    let params = logreg_params(&spec.model);
    let seed = spec.training_seed();
    let key = {
        let mut h = tracks_digest(data, &index, &validation);
        for &i in index.iter().chain(&validation) {
            for v in row(i) {
                h.update(v.to_le_bytes());
            }
        }
        let what = format!("baseline|{params:?}|{classes}|{folds}|{seed}");
        CacheKey::new(
            OOF_STAGE,
            VERSION,
            &[what.as_bytes(), &h.finalize(), crate::simd::kernel_tag()],
        )
    };
    cached_or(cache, &key, classes, || {
        let artists: Vec<u32> = index
            .iter()
            .map(|&i| data.dataset.tracks[i].artist.0)
            .collect();
        let y: Vec<usize> = index.iter().map(|&i| labels[i]).collect();
        let fold = assign_folds(&artists, &y, folds, seed);
        let (vx, vy): (Vec<f32>, Vec<usize>) = (
            validation.iter().flat_map(|&i| row(i).clone()).collect(),
            validation.iter().map(|&i| labels[i]).collect(),
        );
        let mut probs = vec![0.0; index.len() * classes];
        let mut validation_loss = Vec::with_capacity(folds);
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
                validation_loss.push(f64::NAN);
                bar.inc(1);
                continue;
            }
            let failed = |source| StageError::Training {
                model: model.clone(),
                source,
            };
            let (fitted, summary) = LogisticRegression::fit(
                Labelled { x: &tx, y: &ty },
                Labelled { x: &vx, y: &vy },
                table.dim,
                classes,
                &params,
                &Device::Cpu,
                |_| {},
            )
            .map_err(failed)?;
            validation_loss.push(summary.best_validation_loss);
            let hx: Vec<f32> = held.iter().flat_map(|&k| row(index[k]).clone()).collect();
            let p = fitted.predict_proba(&hx).map_err(failed)?;
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
            validation_loss,
            cached: false,
        })
    })
}

/// The genre CNN's or the transfer model's out-of-fold probabilities: per fold, each net
/// that learns genre trained again on the other folds' tracks (checkpoints under
/// `run_dir/checkpoints/audit/fold<f>/`), the run's other nets as they are, and for
/// `transfer` the MLP over them trained on the same tracks.
pub fn nets(
    trained: &TrainedNets,
    model: AuditModel,
    folds: usize,
    run_dir: &Path,
) -> Result<OutOfFold, StageError> {
    let inputs = &trained.inputs;
    let (spec, data) = (inputs.spec, inputs.data);
    let classes = inputs.classes;
    let labels = &data.noisy.labels;
    let index = inputs.train_idx.clone();
    let seed = spec.training_seed();
    let artists: Vec<u32> = index
        .iter()
        .map(|&i| data.dataset.tracks[i].artist.0)
        .collect();
    let y: Vec<usize> = index.iter().map(|&i| labels[i]).collect();
    let key = {
        let h = tracks_digest(data, &index, &inputs.val_idx);
        let nets: Vec<&str> = trained.keys.iter().map(|k| k.0.as_str()).collect();
        let what = format!(
            "{model:?}|{folds}|{seed}|{}|{:?}",
            nets.join(","),
            transfer_config(spec)
        );
        CacheKey::new(OOF_STAGE, VERSION, &[what.as_bytes(), &h.finalize()])
    };
    let audit_model = ModelName::Audit;
    let failed = |e: candle_core::Error| StageError::Training {
        model: audit_model.clone(),
        source: e.into(),
    };
    cached_or(Some(inputs.cache), &key, classes, || {
        let fold = assign_folds(&artists, &y, folds, seed);
        let mut probs = vec![0.0; index.len() * classes];
        let mut validation_loss = Vec::with_capacity(folds);
        let genre = inputs.targets.iter().position(|t| t == "genre");
        for f in 0..folds {
            let held: Vec<usize> = (0..index.len()).filter(|&k| fold[k] == f).collect();
            if held.is_empty() {
                validation_loss.push(f64::NAN);
                continue;
            }
            let mut loss = f64::NAN;
            let fit: Vec<usize> = (0..index.len())
                .filter(|&k| fold[k] != f)
                .map(|k| index[k])
                .collect();
            let held_idx: Vec<usize> = held.iter().map(|&k| index[k]).collect();
            tracing::info!(
                "audit fold {}/{folds}: {} tracks held out, {} to train on",
                f + 1,
                held.len(),
                fit.len()
            );
            // The nets that learn genre, again on this fold's tracks; the others as they are.
            let mut retrained: Vec<Option<(Cnn, CacheKey, usize)>> = Vec::new();
            for plan in &trained.plans {
                let head = plan.learns.iter().position(|&(t, _)| Some(t) == genre);
                if head.is_none() {
                    retrained.push(None);
                    continue;
                }
                let cfg = train_config(spec, &plan.model);
                let data_of: Vec<(usize, Vec<_>, Vec<_>)> = plan
                    .learns
                    .iter()
                    .map(|&(t, _)| {
                        let (outputs, train) = inputs.examples(t, &fit);
                        (outputs, train, inputs.examples(t, &inputs.val_idx).1)
                    })
                    .collect();
                let tasks: Vec<Task> = plan
                    .learns
                    .iter()
                    .zip(&data_of)
                    .map(|(&(t, p), (outputs, train, val))| Task {
                        probability: p,
                        ..Task::single(&inputs.targets[t], *outputs, train, val)
                    })
                    .collect();
                let dir = run_dir
                    .join("checkpoints")
                    .join("audit")
                    .join(format!("fold{f}"))
                    .join(&plan.folder);
                let bar = crate::progress::bar(
                    cfg.epochs as u64,
                    &format!("audit fold {} {}", f + 1, plan.model),
                );
                let (t, key) = inputs.net(&plan.model, &cfg, &tasks, &dir, &mut |_| bar.inc(1))?;
                bar.finish_and_clear();
                if model == AuditModel::GenreCnn {
                    loss = t.best_validation_loss;
                }
                retrained.push(Some((t.net, key, head.expect("checked"))));
            }
            let fold_nets: Vec<&Cnn> = retrained
                .iter()
                .zip(&trained.nets)
                .map(|(r, own)| r.as_ref().map_or(own, |(n, _, _)| n))
                .collect();
            let p = match model {
                AuditModel::GenreCnn => {
                    let (p, (net, _, head)) = retrained
                        .iter()
                        .enumerate()
                        .find_map(|(p, r)| r.as_ref().map(|r| (p, r)))
                        .expect("validated: the genre CNN's audit needs a net that learns genre");
                    let cfg = train_config(spec, &trained.plans[p].model);
                    inputs
                        .predict_net(net, *head, &cfg, &held_idx)
                        .map_err(failed)?
                }
                AuditModel::Transfer => {
                    let keys: Vec<&CacheKey> = retrained
                        .iter()
                        .zip(&trained.keys)
                        .map(|(r, own)| r.as_ref().map_or(own, |(_, k, _)| k))
                        .collect();
                    let train_set = inputs.genre_examples(&fit);
                    let val_set = inputs.genre_examples(&inputs.val_idx);
                    let epochs = transfer_config(spec).epochs;
                    let bar = crate::progress::bar(
                        epochs as u64,
                        &format!("audit fold {} transfer", f + 1),
                    );
                    let (mlp, history, _) =
                        inputs.transfer(&fold_nets, &keys, &train_set, &val_set, &mut |_| {
                            bar.inc(1)
                        })?;
                    bar.finish_and_clear();
                    loss = history
                        .iter()
                        .map(|e| e.validation_loss)
                        .fold(f64::INFINITY, f64::min);
                    inputs
                        .predict_transfer(&fold_nets, &mlp, &held_idx)
                        .map_err(failed)?
                }
                AuditModel::Baseline => unreachable!("the baseline's audit is oof::baseline"),
            };
            for (j, &k) in held.iter().enumerate() {
                for c in 0..classes {
                    probs[k * classes + c] = p[j][c] as f64;
                }
            }
            validation_loss.push(loss);
        }
        Ok(OutOfFold {
            index,
            labels: y,
            probs,
            fold,
            folds,
            validation_loss,
            cached: false,
        })
    })
}

/// What every out-of-fold key covers: the training and validation tracks, their artists
/// (the folds follow them) and the labels the run trained on.
fn tracks_digest(data: &LoadedData, train: &[usize], validation: &[usize]) -> Sha256 {
    let mut h = Sha256::new();
    for (set, idx) in [("train", train), ("validation", validation)] {
        h.update(set.as_bytes());
        for &i in idx {
            h.update((i as u64).to_le_bytes());
            h.update(data.dataset.tracks[i].artist.0.to_le_bytes());
            h.update((data.noisy.labels[i] as u64).to_le_bytes());
        }
    }
    h
}

/// The out-of-fold probabilities under `key` in `cache`, or `compute`d (under the entry's
/// lock, so that two workers never compute one twice) and put there: the probabilities
/// first, then the record that marks the entry complete.
fn cached_or(
    cache: Option<&StageCache>,
    key: &CacheKey,
    classes: usize,
    compute: impl FnOnce() -> Result<OutOfFold, StageError>,
) -> Result<OutOfFold, StageError> {
    let Some(cache) = cache else {
        return compute();
    };
    let _lock = StageLock::acquire(cache, OOF_STAGE, &key.0);
    let read = || -> Option<OutOfFold> {
        let mut oof: OutOfFold =
            serde_json::from_slice(&cache.read(OOF_STAGE, key, "json")?).ok()?;
        let probs = crate::cache::decode_vectors(&cache.read(OOF_STAGE, key, "f32")?)?;
        let [probs] = <[Vec<f32>; 1]>::try_from(probs).ok()?;
        (probs.len() == oof.index.len() * classes).then_some(())?;
        oof.probs = probs.into_iter().map(f64::from).collect();
        oof.cached = true;
        Some(oof)
    };
    if let Some(oof) = read() {
        tracing::info!("audit: out-of-fold probabilities read from the stage cache");
        return Ok(oof);
    }
    let oof = compute()?;
    let probs: Vec<f32> = oof.probs.iter().map(|&p| p as f32).collect();
    let json = serde_json::to_vec(&oof).expect("out-of-fold records serialise");
    let written = cache
        .write(
            OOF_STAGE,
            key,
            "f32",
            &crate::cache::encode_vectors(&[&probs]),
        )
        .and_then(|_| cache.write(OOF_STAGE, key, "json", &json));
    if let Err(e) = written {
        tracing::warn!(
            "cannot write the {OOF_STAGE} cache under {}: {e}",
            cache.root().display()
        );
    }
    Ok(oof)
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
