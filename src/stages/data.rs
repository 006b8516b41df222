//! The data stage: the dataset a spec names (generated or read from disk), its split, the
//! label noise injected into it, and what they look like (counts per split and genre,
//! leakage, flips).

use super::{Recorder, StageError};
use crate::audio::load::AudioLoader;
use crate::data::fma::{self, LoadReport};
use crate::data::noise::{self, NoisyLabels};
use crate::data::split::{Leakage, Split, SplitName};
use crate::data::synth::{GroundTruth, SyntheticWorld};
use crate::data::{Dataset, TrackId};
use crate::features::TrackTable;
use crate::record::{ModelName, RunTrack, SplitKey};
use crate::spec::{DataSource, Resolved};
use serde::Serialize;
use std::collections::BTreeSet;

/// A dataset ready for the later stages, with what loading learned about it.
pub struct LoadedData {
    pub dataset: Dataset,
    /// Known only for generated worlds.
    pub truth: Option<GroundTruth>,
    /// Known only for FMA.
    pub report: Option<LoadReport>,
    pub split: Split,
    /// Training (and, if asked, validation) labels with the injected noise.
    pub noisy: NoisyLabels,
    /// How every track's audio reaches the front end.
    pub loader: AudioLoader,
    /// Splits holding too few tracks of a genre, in words.
    pub split_warnings: Vec<String>,
    /// What keeps every track's audio from being read, if anything (a missing folder).
    pub audio_unavailable: Option<String>,
}

impl LoadedData {
    /// Every track's label as published (what test tracks are scored against).
    pub fn published(&self) -> Vec<usize> {
        self.dataset.tracks.iter().map(|t| t.genre).collect()
    }
}

/// Load (or generate) the dataset, split it and inject the spec's noise.
pub fn load(spec: &Resolved) -> Result<LoadedData, StageError> {
    let (dataset, truth, report, min_seconds) = match spec.dataset.source {
        DataSource::Synthetic => {
            let (dataset, truth) =
                SyntheticWorld::generate(&spec.dataset.synthetic, spec.world_seed()).into_parts();
            (dataset, Some(truth), None, 0.0)
        }
        DataSource::Fma => {
            let f = spec
                .dataset
                .fma
                .as_ref()
                .expect("validated: source = fma has [dataset.fma]");
            let (dataset, report, _) = fma::load_dataset(f)?;
            (dataset, None, Some(report), f.min_seconds)
        }
    };
    let split = Split::make(&dataset, &spec.split, spec.split_seed())?;
    let noisy = noise::inject(&dataset, &split, &spec.noise, spec.noise_seed())?;
    Ok(LoadedData {
        split_warnings: split.genre_warnings(&dataset, spec.split.min_genre_tracks),
        audio_unavailable: dataset.audio.unavailable(dataset.tracks.len()),
        loader: AudioLoader {
            sample_rate: spec.frontend.sample_rate,
            min_seconds,
        },
        dataset,
        truth,
        report,
        split,
        noisy,
    })
}

/// FMA's `features.csv` as track rows, when the spec reads it (the baseline's features, or a
/// factor's words).
pub fn fma_features(spec: &Resolved, data: &LoadedData) -> Result<TrackTable, StageError> {
    let f = spec
        .dataset
        .fma
        .as_ref()
        .expect("validated: features.csv is read only with source = fma");
    let (names, table) = fma::load_features(&f.root.join("fma_metadata").join("features.csv"))?;
    Ok(crate::features::from_table(&data.dataset, names, &table))
}

/// Per-split counts, for `agf data` and the run record.
#[derive(Debug, Clone, Serialize)]
pub struct SplitCounts {
    pub split: SplitName,
    pub tracks: usize,
    pub artists: usize,
    pub albums: usize,
    /// Tracks per genre class.
    pub per_genre: Vec<usize>,
}

/// Tracks, artists, albums and genres of each split.
pub fn split_counts(d: &Dataset, split: &Split) -> Vec<SplitCounts> {
    let counts = split.counts(&d.tracks, d.genres.len());
    SplitName::ALL
        .iter()
        .map(|&s| {
            let idx = split.indices(s);
            let artists: BTreeSet<_> = idx.iter().map(|&i| d.tracks[i].artist).collect();
            let albums: BTreeSet<_> = idx.iter().map(|&i| d.tracks[i].album).collect();
            SplitCounts {
                split: s,
                tracks: idx.len(),
                artists: artists.len(),
                albums: albums.len(),
                per_genre: counts[&s].clone(),
            }
        })
        .collect()
}

/// Record what the data looks like: classes, counts per split and genre, leakage, the
/// split's hash, every injected flip.
pub fn record(data: &LoadedData, rec: &mut dyn Recorder) -> Result<Leakage, StageError> {
    let d = &data.dataset;
    let classes = d.genre_titles();
    rec.classes(&classes)?;
    let leakage = data.split.leakage(&d.tracks);
    let mut m: Vec<(String, f64)> = vec![
        ("tracks".into(), d.tracks.len() as f64),
        ("artists".into(), d.artist_count() as f64),
        ("albums".into(), d.album_count() as f64),
        (
            "test_tracks_with_train_artist".into(),
            leakage.test_tracks_with_train_artist as f64,
        ),
        (
            "test_tracks_with_train_album".into(),
            leakage.test_tracks_with_train_album as f64,
        ),
        (
            "validation_tracks_with_train_artist".into(),
            leakage.validation_tracks_with_train_artist as f64,
        ),
        ("injected_flips".into(), data.noisy.flips.len() as f64),
    ];
    if let Some(r) = &data.report {
        m.push(("metadata_rows".into(), r.rows as f64));
        m.push(("tracks_in_subset".into(), r.in_subset as f64));
        m.push((
            "left_out_without_genre_top".into(),
            r.without_genre_top as f64,
        ));
    }
    for c in split_counts(d, &data.split) {
        let s = c.split.as_str();
        m.push((format!("{s}.tracks"), c.tracks as f64));
        m.push((format!("{s}.artists"), c.artists as f64));
        m.push((format!("{s}.albums"), c.albums as f64));
        for (g, n) in c.per_genre.iter().enumerate() {
            m.push((format!("{s}.tracks.{}", classes[g]), *n as f64));
        }
    }
    let pairs: Vec<(&str, f64)> = m.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    rec.metrics(&ModelName::Dataset, SplitKey::All, &pairs)?;
    rec.facts(&[
        ("dataset", d.name.clone()),
        ("audio", audio_description(data)),
        ("split_hash", data.split.hash(&d.tracks)),
    ])?;
    let warnings: Vec<(String, String)> = data
        .split_warnings
        .iter()
        .enumerate()
        .map(|(k, w)| (format!("warning.split.{}", k + 1), w.clone()))
        .collect();
    let warnings: Vec<(&str, String)> = warnings
        .iter()
        .map(|(k, w)| (k.as_str(), w.clone()))
        .collect();
    rec.facts(&warnings)?;
    for w in &data.split_warnings {
        tracing::warn!("split: {w}");
    }
    let flips: Vec<(TrackId, SplitKey, usize, usize)> = data
        .noisy
        .flips
        .iter()
        .map(|f| (f.track, data.split.assignment[f.index].into(), f.from, f.to))
        .collect();
    rec.flips(&flips)?;
    let tracks: Vec<RunTrack> = d
        .tracks
        .iter()
        .enumerate()
        .map(|(i, t)| RunTrack {
            track: t.id,
            artist: t.artist,
            album: t.album,
            split: data.split.assignment[i].into(),
            published: t.genre,
            true_label: data.truth.as_ref().map(|truth| truth.true_genre[i]),
        })
        .collect();
    rec.tracks(&tracks)?;
    tracing::info!(
        "split {}: {} test tracks whose artist is in training, {} whose album is; {} injected \
         label flips",
        &data.split.hash(&d.tracks)[..12],
        leakage.test_tracks_with_train_artist,
        leakage.test_tracks_with_train_album,
        data.noisy.flips.len()
    );
    Ok(leakage)
}

fn audio_description(data: &LoadedData) -> String {
    format!(
        "{}; analysed at {} Hz",
        data.dataset.audio.describe(),
        data.loader.sample_rate
    )
}

/// A dataset and split summary (`agf data`).
#[derive(Debug, Clone, Serialize)]
pub struct DataSummary {
    pub dataset: String,
    pub audio: String,
    pub tracks: usize,
    pub artists: usize,
    pub albums: usize,
    pub genres: Vec<String>,
    pub load: Option<LoadReport>,
    pub split_strategy: String,
    pub split_hash: String,
    pub splits: Vec<SplitCounts>,
    pub leakage: Leakage,
    pub injected_flips: usize,
    /// What a reader should know before running: splits short of a genre, audio that
    /// cannot be read at all.
    pub warnings: Vec<String>,
    /// Tracks whose audio could not be read (only when audio was checked).
    pub skipped: Option<Vec<(u32, String)>>,
}

/// Load, split and (optionally) read every audio file, without computing anything else.
pub fn describe(spec: &Resolved, check_audio: bool) -> Result<DataSummary, StageError> {
    let data = load(spec)?;
    let d = &data.dataset;
    // Reading the audio is the check; no features are computed. A source that cannot be
    // read at all is said once, not once per track.
    let skipped = check_audio.then(|| {
        if let Some(why) = &data.audio_unavailable {
            return d.tracks.iter().map(|t| (t.id.0, why.clone())).collect();
        }
        use rayon::prelude::*;
        let pb = crate::progress::bar(d.tracks.len() as u64, "audio");
        let mut bad: Vec<(u32, String)> = d
            .tracks
            .par_iter()
            .filter_map(|t| {
                let r = data.loader.track(d, t).err().map(|reason| (t.id.0, reason));
                pb.inc(1);
                r
            })
            .collect();
        pb.finish_and_clear();
        bad.sort();
        bad
    });
    Ok(DataSummary {
        dataset: d.name.clone(),
        audio: audio_description(&data),
        tracks: d.tracks.len(),
        artists: d.artist_count(),
        albums: d.album_count(),
        genres: d.genre_titles(),
        load: data.report.clone(),
        split_strategy: format!("{:?}", spec.split.strategy).to_lowercase(),
        split_hash: data.split.hash(&d.tracks),
        splits: split_counts(d, &data.split),
        leakage: data.split.leakage(&d.tracks),
        injected_flips: data.noisy.flips.len(),
        warnings: data
            .split_warnings
            .iter()
            .cloned()
            .chain(data.audio_unavailable.clone())
            .collect(),
        skipped,
    })
}
