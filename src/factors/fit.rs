//! One factor from its words: tracks' feature vectors become words (a K-Means dictionary, or
//! the tracks' own genre ids), the fitted tracks' words become artist bags, LDA is fitted
//! on them, and every artist (fitted or not) gets its topic vector.
//!
//! Which tracks are fitted on, where the vectors come from and caching are the factor
//! stage's business (`stages::factors`).

use super::bags::{self, ArtistBags, BagNorm};
use super::kmeans::{KMeans, KMeansFit, KMeansParams};
use super::lda::{Corpus, Lda, LdaParams};
use super::table::{FactorSummary, FactorTable};
use super::FactorError;
use crate::data::{ArtistId, Dataset, GenreId};
use crate::vectors::{Scaled, Standardizer, Vectors};
use candle_core::Device;
use std::collections::{BTreeMap, BTreeSet};

/// The words of every track that has inputs: (dataset position, words).
pub struct TrackWords {
    pub tracks: Vec<(usize, Vec<u32>)>,
    pub vocabulary: usize,
    pub kmeans: Option<KMeansFit>,
}

/// A dictionary fitted on `fit`'s rows (standardised first when `scale`), and the word of
/// every row of `all`.
pub fn cluster(
    fit: &dyn Vectors,
    all: &dyn Vectors,
    params: &KMeansParams,
    scale: bool,
    device: &Device,
) -> Result<(Vec<u32>, KMeansFit), FactorError> {
    let (scaled_fit, scaled_all);
    let (fit, all): (&dyn Vectors, &dyn Vectors) = if scale {
        // Scaling spreads one NaN over a whole column: refuse it on the raw rows.
        super::kmeans::scan(fit)?;
        let s = Standardizer::fit(fit);
        scaled_fit = Scaled {
            inner: fit,
            scale: s.clone(),
        };
        scaled_all = Scaled {
            inner: all,
            scale: s,
        };
        (&scaled_fit, &scaled_all)
    } else {
        (fit, all)
    };
    let (km, fitted) = KMeans::fit(fit, params, device)?;
    tracing::info!(
        "K-Means fitted: inertia {:.4e} after {} iterations",
        fitted.inertia,
        fitted.iterations
    );
    let (labels, _) = km.assign(all, device)?;
    Ok((labels, fitted))
}

/// Genre ids as words: the vocabulary is the ids seen on fit tracks; others are dropped.
pub fn tag_words(d: &Dataset, fit_set: &[bool]) -> TrackWords {
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

/// What turns words into topics.
pub struct TopicParams<'a> {
    pub name: &'a str,
    pub normalize: BagNorm,
    pub lda: &'a LdaParams,
}

/// Fit LDA on the bags of the fit set's tracks and give every artist with words its vector.
pub fn topics(
    p: &TopicParams,
    d: &Dataset,
    words: TrackWords,
    fit_set: &[bool],
) -> Result<FactorTable, FactorError> {
    let fit_words = words.tracks.iter().filter(|(i, _)| fit_set[*i]);
    let fit_tracks = fit_words.clone().count();
    let fit_bags = bags::build(
        fit_words.map(|(i, w)| (d.tracks[*i].artist, w.as_slice())),
        words.vocabulary,
        p.normalize,
    );
    let (lda, lda_fit) = Lda::fit(&fit_bags.corpus, p.lda)?;
    tracing::info!(
        "LDA of factor {} fitted on {} artists: perplexity {:.2} after {} iterations",
        p.name,
        fit_bags.artists.len(),
        lda_fit.perplexity,
        lda_fit.iterations
    );

    // Artists outside the fit get their vector from all their tracks' words.
    let all_bags = bags::build(
        words
            .tracks
            .iter()
            .map(|(i, w)| (d.tracks[*i].artist, w.as_slice())),
        words.vocabulary,
        p.normalize,
    );
    let ((artists, vectors, fitted), held_out) = artist_table(&lda, &fit_bags, &all_bags)?;
    // Perplexity is per word: undefined when the held-out artists have no words at all.
    let held_out_words: f64 = held_out.docs.iter().map(|d| d.total()).sum();
    let held_out_perplexity = (held_out_words > 0.0).then(|| lda.perplexity(&held_out));
    let topic_count = p.lda.topics;
    let mut topic_artists = vec![0usize; topic_count];
    let mut topic_weight = vec![0f64; topic_count];
    for v in &vectors {
        let k = (0..topic_count)
            .max_by(|&a, &b| v[a].total_cmp(&v[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        topic_artists[k] += 1;
        for (w, x) in topic_weight.iter_mut().zip(v) {
            *w += *x as f64;
        }
    }
    let n_artists = artists.len().max(1) as f64;
    topic_weight.iter_mut().for_each(|w| *w /= n_artists);
    let out = FactorTable {
        summary: FactorSummary {
            name: p.name.to_string(),
            topics: topic_count,
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
            p.name, out.summary.lda.perplexity
        )));
    }
    Ok(out)
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
