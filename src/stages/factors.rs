//! The factor stage: every `[[factors]]` entry over a dataset. It chooses the tracks the
//! factor is fitted on, turns each track into words, fits the dictionary and the topics
//! (`factors::fit`), and gives every artist its vector, through the stage cache
//! (`agf/<key>.json`); then it exports the tables and records the fit.

use super::data::LoadedData;
use super::frames::{FrameKind, FrameSet};
use super::resolve::{kmeans_params, lda_params};
use super::{Recorder, StageError};
use crate::cache::{CacheKey, StageCache};
use crate::data::split::SplitName;
use crate::eval::clustering::normalized_mutual_information;
use crate::factors::fit::{self, TopicParams, TrackWords};
use crate::factors::{FactorError, FactorTable};
use crate::features::TrackTable;
use crate::nn::device_kind;
use crate::record::{metric, ModelName, SplitKey};
use crate::spec::{FactorFeature, FactorSpec, FitOn, Resolved};
use crate::vectors::DenseVectors;
use candle_core::Device;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Instant;

pub const STAGE: &str = "agf";
/// Bumped whenever a factor's output changes for the same inputs.
pub const STAGE_VERSION: u32 = 3;

/// What factors read; each kind is there when some factor uses it.
pub struct FactorInputs<'a> {
    pub frames: Option<&'a FrameSet>,
    pub descriptors: Option<&'a TrackTable>,
    pub fma_features: Option<&'a TrackTable>,
}

/// One Artist Group Factor of a run.
#[derive(Debug, Clone)]
pub struct FactorOutcome {
    pub table: FactorTable,
    /// NMI between the latent artist group and each artist's largest topic (generated
    /// worlds only).
    pub nmi_artist_group: Option<f64>,
    pub cache_hit: bool,
    pub seconds: f64,
    /// Where the tables were exported.
    pub dir: PathBuf,
}

/// Fit (or read from the cache) every factor, export its tables and record its summary.
pub fn run(
    spec: &Resolved,
    data: &LoadedData,
    inputs: &FactorInputs,
    cache: &StageCache,
    rec: &mut dyn Recorder,
) -> Result<Vec<FactorOutcome>, StageError> {
    let d = &data.dataset;
    let mut out = Vec::new();
    for f in &spec.factors {
        let started = Instant::now();
        let fail = |source| StageError::Factor {
            name: f.name.clone(),
            source,
        };
        let (table, cache_hit) = one(f, data, inputs, cache, &Device::Cpu).map_err(fail)?;
        let mut dir = PathBuf::new();
        for (name, bytes) in table.files(d) {
            let written = rec.file(&PathBuf::from("factors").join(&f.name).join(name), &bytes)?;
            dir = written.parent().map(PathBuf::from).unwrap_or_default();
        }
        let nmi = data.truth.as_ref().map(|truth| {
            let groups: Vec<usize> = table
                .artists
                .iter()
                .map(|a| truth.artist_group[a])
                .collect();
            normalized_mutual_information(&groups, &table.argmax())
        });
        let s = &table.summary;
        let seconds = started.elapsed().as_secs_f64();
        let mut m: Vec<(String, f64)> = vec![
            (metric::PERPLEXITY.into(), s.lda.perplexity),
            ("lda_iterations".into(), s.lda.iterations as f64),
            (metric::VOCABULARY.into(), s.vocabulary as f64),
            (metric::TOPICS.into(), s.topics as f64),
            ("fit_tracks".into(), s.fit_tracks as f64),
            ("fit_artists".into(), s.fit_artists as f64),
            ("artists".into(), s.artists as f64),
            ("cache_hit".into(), f64::from(u8::from(cache_hit))),
            ("seconds".into(), seconds),
        ];
        if let Some(p) = s.held_out_perplexity {
            m.push((metric::HELD_OUT_PERPLEXITY.into(), p));
        }
        if let Some(k) = &s.kmeans {
            m.push(("kmeans_inertia".into(), k.inertia));
            m.push(("kmeans_iterations".into(), k.iterations as f64));
            m.push(("kmeans_rows".into(), k.rows as f64));
        }
        if let Some(v) = nmi {
            m.push((metric::NMI_ARTIST_GROUP.into(), v));
        }
        for (k, (n, w)) in s.topic_artists.iter().zip(&s.topic_weight).enumerate() {
            m.push((format!("topic_artists.{k}"), *n as f64));
            m.push((format!("topic_weight.{k}"), *w));
        }
        let pairs: Vec<(&str, f64)> = m.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        rec.metrics(&ModelName::Factor(f.name.clone()), SplitKey::All, &pairs)?;
        rec.facts(&[(
            format!("factor.{}.dir", f.name).as_str(),
            dir.display().to_string(),
        )])?;
        tracing::info!(
            "factor {}: perplexity {:.2}{}, {:.1} s{}",
            f.name,
            s.lda.perplexity,
            nmi.map(|v| format!(", NMI with the artist groups {v:.3}"))
                .unwrap_or_default(),
            seconds,
            if cache_hit { " (cached)" } else { "" }
        );
        out.push(FactorOutcome {
            table,
            nmi_artist_group: nmi,
            cache_hit,
            seconds,
            dir,
        });
    }
    Ok(out)
}

/// A missing input is a bug of the caller (the pipeline computes what factors ask for).
fn need<'a, T>(x: Option<&'a T>, what: &str) -> Result<&'a T, FactorError> {
    x.ok_or_else(|| FactorError::Invalid(format!("the {what} were not computed")))
}

/// One factor, or its cache entry.
fn one(
    f: &FactorSpec,
    data: &LoadedData,
    inputs: &FactorInputs,
    cache: &StageCache,
    device: &Device,
) -> Result<(FactorTable, bool), FactorError> {
    let d = &data.dataset;
    let fit_set: Vec<bool> = match f.fit_on {
        FitOn::All => vec![true; d.tracks.len()],
        FitOn::Train => {
            let mut v = vec![false; d.tracks.len()];
            for i in data.split.indices(SplitName::Train) {
                v[i] = true;
            }
            v
        }
    };
    let key = cache_key(f, data, inputs, &fit_set, device)?;
    let _lock = super::lock::StageLock::acquire(cache, STAGE, &key.0);
    if let Some(table) = cache
        .read(STAGE, &key, "json")
        .and_then(|b| serde_json::from_slice::<FactorTable>(&b).ok())
    {
        return Ok((table, true));
    }
    let lda = lda_params(f);
    let words = track_words(f, data, inputs, &fit_set, device)?;
    let params = TopicParams {
        name: &f.name,
        normalize: f.normalize,
        lda: &lda,
    };
    let table = fit::topics(&params, d, words, &fit_set)?;
    let bytes = serde_json::to_vec(&table).expect("a factor table serialises");
    if let Err(e) = cache.write(STAGE, &key, "json", &bytes) {
        tracing::warn!(
            "cannot write the factor cache under {}: {e}",
            cache.root().display()
        );
    }
    Ok((table, false))
}

fn frame_kind(f: FactorFeature) -> Option<FrameKind> {
    match f {
        FactorFeature::Mfcc => Some(FrameKind::Mfcc),
        FactorFeature::Dmfcc => Some(FrameKind::Dmfcc),
        FactorFeature::Chroma => Some(FrameKind::Chroma),
        _ => None,
    }
}

/// The track-level rows a factor clusters.
fn track_rows<'a>(
    f: &FactorSpec,
    inputs: &FactorInputs<'a>,
) -> Result<&'a TrackTable, FactorError> {
    match f.features {
        FactorFeature::Descriptors => need(inputs.descriptors, "track descriptors"),
        _ => need(inputs.fma_features, "features.csv rows"),
    }
}

fn track_words(
    f: &FactorSpec,
    data: &LoadedData,
    inputs: &FactorInputs,
    fit_set: &[bool],
    device: &Device,
) -> Result<TrackWords, FactorError> {
    let d = &data.dataset;
    if f.features == FactorFeature::Subgenre {
        return Ok(fit::tag_words(d, fit_set));
    }
    let params = kmeans_params(f);
    tracing::info!(
        "factor {}: fitting a dictionary of {} words ({})",
        f.name,
        params.clusters,
        match params.algorithm {
            crate::spec::KMeansAlgorithm::Lloyd => "Lloyd",
            crate::spec::KMeansAlgorithm::MiniBatch => "mini-batch",
        }
    );
    if let Some(kind) = frame_kind(f.features) {
        // Fit on the fit set's frames, then assign the frames of every track that has them.
        let frames = need(inputs.frames, "frame-level features")?;
        let avail: Vec<usize> = (0..d.tracks.len())
            .filter(|&i| frames.tracks[i].is_some())
            .collect();
        let fit: Vec<usize> = avail.iter().copied().filter(|&i| fit_set[i]).collect();
        let fit_rows = frames.vectors(kind, &fit);
        let all_rows = frames.vectors(kind, &avail);
        let (labels, fitted) = fit::cluster(&fit_rows, &all_rows, &params, f.kmeans.scale, device)?;
        let tracks = avail
            .iter()
            .enumerate()
            .map(|(b, &i)| (i, labels[all_rows.block_range(b)].to_vec()))
            .collect();
        return Ok(TrackWords {
            tracks,
            vocabulary: params.clusters,
            kmeans: Some(fitted),
        });
    }
    let feats = track_rows(f, inputs)?;
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
    let (labels, fitted) = fit::cluster(
        &dense(&fit),
        &dense(&avail),
        &params,
        f.kmeans.scale,
        device,
    )?;
    Ok(TrackWords {
        tracks: avail
            .into_iter()
            .zip(labels)
            .map(|(i, l)| (i, vec![l]))
            .collect(),
        vocabulary: params.clusters,
        kmeans: Some(fitted),
    })
}

/// The factor's identity: its parameters and, per track, the artist, whether the track is
/// fitted on, and what its words are made from; and the kind of device K-Means ran on (a GPU
/// sums distances in another order, so its dictionary is not the CPU's bit for bit).
fn cache_key(
    f: &FactorSpec,
    data: &LoadedData,
    inputs: &FactorInputs,
    fit_set: &[bool],
    device: &Device,
) -> Result<CacheKey, FactorError> {
    let d = &data.dataset;
    let mut h = Sha256::new();
    for (i, t) in d.tracks.iter().enumerate() {
        h.update(t.artist.0.to_le_bytes());
        h.update([u8::from(fit_set[i])]);
        match f.features {
            FactorFeature::Subgenre => {
                h.update((t.genres.len() as u32).to_le_bytes());
                for g in &t.genres {
                    h.update(g.0.to_le_bytes());
                }
            }
            x if x.is_frame_level() => {
                match &need(inputs.frames, "frame-level features")?.tracks[i] {
                    Some(fr) => h.update(fr.key.0.as_bytes()),
                    None => h.update(b"-"),
                }
            }
            _ => match &track_rows(f, inputs)?.rows[i] {
                Some(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
                None => h.update(b"-"),
            },
        }
    }
    let params = toml::to_string(f).expect("a factor spec serialises");
    Ok(CacheKey::new(
        STAGE,
        STAGE_VERSION,
        &[
            params.as_bytes(),
            &h.finalize(),
            crate::simd::kernel_tag(),
            device_kind(device).as_bytes(),
        ],
    ))
}
