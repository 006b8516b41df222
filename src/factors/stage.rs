//! One `[[factors]]` entry over a dataset: choose the tracks it is fitted on, turn each
//! track into words, fit the dictionary and the topics, and give every artist its vector,
//! through the stage cache (`agf/<key>.json`): a second run with the same inputs reuses it.

use super::bags::{self, ArtistBags};
use super::kmeans::{KMeans, KMeansParams};
use super::lda::{Corpus, Lda, LdaParams};
use super::table::{FactorSummary, FactorTable};
use super::vectors::{DenseVectors, Scaled, Vectors};
use super::FactorError;
use crate::cache::{CacheKey, StageCache};
use crate::data::split::{Split, SplitName};
use crate::data::{ArtistId, Dataset, GenreId};
use crate::features::frames::{FrameKind, FrameSet};
use crate::features::TrackFeatures;
use crate::rng::Rng;
use crate::spec::{FactorFeature, FactorSpec, FitOn};
use candle_core::Device;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

pub const STAGE: &str = "agf";
/// Bumped whenever a factor's output changes for the same inputs.
pub const STAGE_VERSION: u32 = 2;

/// What factors read; each kind is needed only by the factors that use it.
pub struct FactorInputs<'a> {
    pub dataset: &'a Dataset,
    pub split: &'a Split,
    pub frames: Option<&'a FrameSet>,
    pub descriptors: Option<&'a TrackFeatures>,
    pub fma_features: Option<&'a TrackFeatures>,
}

pub struct FactorOutcome {
    pub table: FactorTable,
    pub cache_hit: bool,
}

/// The words of every track that has inputs: (dataset position, words).
struct TrackWords {
    tracks: Vec<(usize, Vec<u32>)>,
    vocabulary: usize,
    kmeans: Option<super::kmeans::KMeansFit>,
}

/// A missing input is a bug of the caller (the pipeline extracts what factors ask for).
fn need<'a, T>(x: Option<&'a T>, what: &str) -> Result<&'a T, FactorError> {
    x.ok_or_else(|| FactorError::Invalid(format!("the {what} were not extracted")))
}

/// Run one factor, or read it from `cache`.
pub fn run_factor(
    spec: &FactorSpec,
    inputs: &FactorInputs,
    cache: &StageCache,
    device: &Device,
) -> Result<FactorOutcome, FactorError> {
    let d = inputs.dataset;
    let fit_set: Vec<bool> = match spec.fit_on {
        FitOn::All => vec![true; d.tracks.len()],
        FitOn::Train => {
            let mut v = vec![false; d.tracks.len()];
            for i in inputs.split.indices(SplitName::Train) {
                v[i] = true;
            }
            v
        }
    };
    let key = cache_key(spec, inputs, &fit_set)?;
    if let Some(table) = cache
        .read(STAGE, &key, "json")
        .and_then(|b| serde_json::from_slice::<FactorTable>(&b).ok())
    {
        tracing::info!(factor = %spec.name, "factor served from the cache");
        return Ok(FactorOutcome {
            table,
            cache_hit: true,
        });
    }
    // A factor's draws depend on its seed and its name, so two factors never share streams.
    let seed = Rng::derive(spec.seed.unwrap_or(0), &spec.name, 0).next_u64();
    let words = track_words(spec, inputs, &fit_set, seed, device)?;
    let fit_words = words.tracks.iter().filter(|(i, _)| fit_set[*i]);
    let fit_tracks = fit_words.clone().count();
    let fit_bags = bags::build(
        fit_words.map(|(i, w)| (d.tracks[*i].artist, w.as_slice())),
        words.vocabulary,
        spec.normalize,
    );
    let l = &spec.lda;
    let params = LdaParams {
        topics: spec.topics,
        method: l.method,
        doc_topic_prior: l.doc_topic_prior,
        topic_word_prior: l.topic_word_prior,
        max_iter: l.max_iter,
        batch_size: l.batch_size,
        learning_decay: l.learning_decay,
        learning_offset: l.learning_offset,
        mean_change_tol: l.mean_change_tol,
        max_doc_update_iter: l.max_doc_update_iter,
        evaluate_every: l.evaluate_every,
        perp_tol: l.perp_tol,
        seed,
    };
    let (lda, lda_fit) = Lda::fit(&fit_bags.corpus, &params)?;
    tracing::info!(factor = %spec.name, artists = fit_bags.artists.len(), perplexity = lda_fit.perplexity, iterations = lda_fit.iterations, "LDA fitted");

    // Artists outside the fit get their vector from all their tracks' words.
    let all_bags = bags::build(
        words
            .tracks
            .iter()
            .map(|(i, w)| (d.tracks[*i].artist, w.as_slice())),
        words.vocabulary,
        spec.normalize,
    );
    let (table, held_out) = artist_table(&lda, &fit_bags, &all_bags)?;
    // Perplexity is per word: undefined when the held-out artists have no words at all.
    let held_out_words: f64 = held_out.docs.iter().map(|d| d.total()).sum();
    let held_out_perplexity = (held_out_words > 0.0).then(|| lda.perplexity(&held_out));
    let topic_count = spec.topics;
    let mut topic_artists = vec![0usize; topic_count];
    let mut topic_weight = vec![0f64; topic_count];
    for v in &table.1 {
        let k = (0..topic_count)
            .max_by(|&a, &b| v[a].total_cmp(&v[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        topic_artists[k] += 1;
        for (w, x) in topic_weight.iter_mut().zip(v) {
            *w += *x as f64;
        }
    }
    let n_artists = table.0.len().max(1) as f64;
    topic_weight.iter_mut().for_each(|w| *w /= n_artists);
    let (artists, vectors, fitted) = table;
    let out = FactorTable {
        summary: FactorSummary {
            name: spec.name.clone(),
            topics: spec.topics,
            vocabulary: words.vocabulary,
            fit_tracks,
            fit_artists: fit_bags.artists.len(),
            artists: artists.len(),
            kmeans: words.kmeans,
            lda: lda_fit,
            held_out_perplexity,
            topic_artists,
            topic_weight,
        },
        artists,
        fitted,
        vectors,
    };
    let finite = out.summary.lda.perplexity.is_finite()
        && out
            .summary
            .kmeans
            .as_ref()
            .is_none_or(|k| k.inertia.is_finite())
        && out.vectors.iter().flatten().all(|x| x.is_finite());
    if !finite {
        return Err(FactorError::Invalid(format!(
            "factor {:?} produced non-finite numbers (perplexity {}); check its features for \
             silent or constant tracks",
            spec.name, out.summary.lda.perplexity
        )));
    }
    let bytes = serde_json::to_vec(&out).expect("a factor table serialises");
    if let Err(e) = cache.write(STAGE, &key, "json", &bytes) {
        tracing::warn!(
            "cannot write the factor cache under {}: {e}",
            cache.root().display()
        );
    }
    Ok(FactorOutcome {
        table: out,
        cache_hit: false,
    })
}

type ArtistRows = (Vec<ArtistId>, Vec<Vec<f32>>, Vec<bool>);

/// Every artist's vector (fitted artists from their fit bag), and the bags of the others.
fn artist_table(
    lda: &Lda,
    fit: &ArtistBags,
    all: &ArtistBags,
) -> Result<(ArtistRows, Corpus), FactorError> {
    let fitted: BTreeMap<ArtistId, usize> = fit
        .artists
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, i))
        .collect();
    let mut docs = Vec::with_capacity(all.artists.len());
    let mut held_out = Vec::new();
    let mut is_fitted = Vec::with_capacity(all.artists.len());
    for (a, doc) in all.artists.iter().zip(&all.corpus.docs) {
        match fitted.get(a) {
            Some(&i) => {
                docs.push(fit.corpus.docs[i].clone());
                is_fitted.push(true);
            }
            None => {
                docs.push(doc.clone());
                held_out.push(doc.clone());
                is_fitted.push(false);
            }
        }
    }
    let vocab = all.corpus.vocab;
    let theta = lda.transform(&Corpus { vocab, docs })?;
    let vectors = theta
        .into_iter()
        .map(|v| v.into_iter().map(|x| x as f32).collect())
        .collect();
    Ok((
        (all.artists.clone(), vectors, is_fitted),
        Corpus {
            vocab,
            docs: held_out,
        },
    ))
}

fn frame_kind(f: FactorFeature) -> Option<FrameKind> {
    match f {
        FactorFeature::Mfcc => Some(FrameKind::Mfcc),
        FactorFeature::Dmfcc => Some(FrameKind::Dmfcc),
        FactorFeature::Chroma => Some(FrameKind::Chroma),
        _ => None,
    }
}

fn track_words(
    spec: &FactorSpec,
    inputs: &FactorInputs,
    fit_set: &[bool],
    seed: u64,
    device: &Device,
) -> Result<TrackWords, FactorError> {
    let d = inputs.dataset;
    if spec.features == FactorFeature::Subgenre {
        return Ok(tag_words(d, fit_set));
    }
    let kmeans_params = |rows: usize| -> KMeansParams {
        let k = &spec.kmeans;
        let mut p = KMeansParams::new(spec.clusters, k.algorithm, seed);
        p.n_init = k.n_init;
        p.max_iter = k.max_iter.unwrap_or(p.max_iter);
        p.tol = k.tol.unwrap_or(p.tol);
        p.batch_size = k.batch_size;
        p.init_size = k.init_size;
        p.reassignment_ratio = k.reassignment_ratio;
        p.max_no_improvement = k.max_no_improvement;
        tracing::info!(factor = %spec.name, rows, clusters = spec.clusters, "fitting the K-Means dictionary");
        p
    };
    // Fit on the fit set's rows, then assign the rows of every track that has inputs.
    let cluster = |fit: &dyn Vectors, all: &dyn Vectors| {
        let (scaled_fit, scaled_all);
        let (fit, all): (&dyn Vectors, &dyn Vectors) = if spec.kmeans.scale {
            // Scaling spreads one NaN over a whole column: refuse it on the raw rows.
            super::kmeans::scan(fit)?;
            let (mean, std) = Scaled::fit(fit);
            scaled_fit = Scaled {
                inner: fit,
                mean: mean.clone(),
                std: std.clone(),
            };
            scaled_all = Scaled {
                inner: all,
                mean,
                std,
            };
            (&scaled_fit, &scaled_all)
        } else {
            (fit, all)
        };
        let (km, fitted) = KMeans::fit(fit, &kmeans_params(fit.len()), device)?;
        tracing::info!(factor = %spec.name, inertia = fitted.inertia, iterations = fitted.iterations, "K-Means fitted");
        let (labels, _) = km.assign(all, device)?;
        Ok::<_, FactorError>((labels, fitted))
    };
    if let Some(kind) = frame_kind(spec.features) {
        let frames = need(inputs.frames, "frame-level features")?;
        let avail: Vec<usize> = (0..d.tracks.len())
            .filter(|&i| frames.tracks[i].is_some())
            .collect();
        let fit: Vec<usize> = avail.iter().copied().filter(|&i| fit_set[i]).collect();
        let fit_rows = frames.vectors(kind, &fit);
        let all_rows = frames.vectors(kind, &avail);
        let (labels, fitted) = cluster(&fit_rows, &all_rows)?;
        let tracks = avail
            .iter()
            .enumerate()
            .map(|(b, &i)| (i, labels[all_rows.block_range(b)].to_vec()))
            .collect();
        return Ok(TrackWords {
            tracks,
            vocabulary: spec.clusters,
            kmeans: Some(fitted),
        });
    }
    let feats = match spec.features {
        FactorFeature::Descriptors => need(inputs.descriptors, "track descriptors")?,
        FactorFeature::FmaFeatures => need(inputs.fma_features, "features.csv rows")?,
        _ => unreachable!("frame kinds and tags are handled above"),
    };
    let avail: Vec<usize> = (0..d.tracks.len())
        .filter(|&i| feats.rows[i].is_some())
        .collect();
    let dense = |idx: &[usize]| {
        let data = idx
            .iter()
            .flat_map(|&i| feats.rows[i].as_ref().expect("available").iter().copied())
            .collect();
        DenseVectors::new(feats.dim, data)
    };
    let fit: Vec<usize> = avail.iter().copied().filter(|&i| fit_set[i]).collect();
    let (labels, fitted) = cluster(&dense(&fit), &dense(&avail))?;
    Ok(TrackWords {
        tracks: avail
            .into_iter()
            .zip(labels)
            .map(|(i, l)| (i, vec![l]))
            .collect(),
        vocabulary: spec.clusters,
        kmeans: Some(fitted),
    })
}

/// Genre ids as words: the vocabulary is the ids seen on fit tracks; others are dropped.
fn tag_words(d: &Dataset, fit_set: &[bool]) -> TrackWords {
    let vocab: BTreeSet<GenreId> = d
        .tracks
        .iter()
        .zip(fit_set)
        .filter(|(_, f)| **f)
        .flat_map(|(t, _)| t.genres.iter().copied())
        .collect();
    let index: BTreeMap<GenreId, u32> = vocab
        .iter()
        .enumerate()
        .map(|(i, g)| (*g, i as u32))
        .collect();
    TrackWords {
        tracks: d
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                (
                    i,
                    t.genres
                        .iter()
                        .filter_map(|g| index.get(g).copied())
                        .collect(),
                )
            })
            .collect(),
        vocabulary: vocab.len(),
        kmeans: None,
    }
}

/// The factor's identity: its parameters and, per track, the artist, whether the track is
/// fitted on, and what its words are made from.
fn cache_key(
    spec: &FactorSpec,
    inputs: &FactorInputs,
    fit_set: &[bool],
) -> Result<CacheKey, FactorError> {
    let d = inputs.dataset;
    let mut h = Sha256::new();
    for (i, t) in d.tracks.iter().enumerate() {
        h.update(t.artist.0.to_le_bytes());
        h.update([u8::from(fit_set[i])]);
        match spec.features {
            FactorFeature::Subgenre => {
                h.update((t.genres.len() as u32).to_le_bytes());
                for g in &t.genres {
                    h.update(g.0.to_le_bytes());
                }
            }
            f if f.is_frame_level() => {
                match &need(inputs.frames, "frame-level features")?.tracks[i] {
                    Some(fr) => h.update(fr.key.0.as_bytes()),
                    None => h.update(b"-"),
                }
            }
            _ => {
                let feats = match spec.features {
                    FactorFeature::Descriptors => need(inputs.descriptors, "track descriptors")?,
                    _ => need(inputs.fma_features, "features.csv rows")?,
                };
                match &feats.rows[i] {
                    Some(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
                    None => h.update(b"-"),
                }
            }
        }
    }
    let params = toml::to_string(spec).expect("a factor spec serialises");
    Ok(CacheKey::new(
        STAGE,
        STAGE_VERSION,
        &[params.as_bytes(), &h.finalize(), crate::simd::kernel_tag()],
    ))
}
