//! The run: spec → dataset → split (+ injected noise) → features → model → metrics → store.
//!
//! Each step is a call into its own module; this one only orders them, records what the
//! run used, and marks the run failed (with the reason) when a step fails.

mod nets;

pub use nets::{NetReport, TRANSFER_MODEL};

use crate::cache::StageCache;
use crate::data::fma::{self, FmaError, LoadReport};
use crate::data::noise::{self, NoiseError, NoisyLabels};
use crate::data::split::{Leakage, Split, SplitError, SplitName};
use crate::data::synth::{GroundTruth, SyntheticWorld};
use crate::data::Dataset;
use crate::eval::clustering::normalized_mutual_information;
use crate::eval::metrics::evaluate;
use crate::eval::Evaluation;
use crate::factors::{run_factor, FactorError, FactorInputs, FactorSummary};
use crate::features::frames::{extract_frames, FrameSet};
use crate::features::{self, FeatureStage, TrackFeatures};
use crate::models::logreg::Labelled;
use crate::models::{LogisticRegression, ModelError, TrainSummary};
use crate::spec::{DataSource, ExperimentSpec, FactorFeature, TrackFeatureSet};
use crate::store::{NewRun, RunId, RunStatus, Store, StoreError};
use candle_core::Device;
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Instant;

/// The model name under which the baseline's results are stored.
pub const BASELINE_MODEL: &str = "logreg";
/// The split name under which test predictions scored against the true genres are stored.
pub const CLEAN_TEST: &str = "test_clean";

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fma(#[from] FmaError),
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error(transparent)]
    Noise(#[from] NoiseError),
    #[error("training {model} failed: {source}")]
    Model {
        model: &'static str,
        #[source]
        source: ModelError,
    },
    #[error("the {split} split has no usable track; check the split ratios and dataset size")]
    EmptySplit { split: &'static str },
    #[error("training {model} failed: {message}")]
    Training { model: String, message: String },
    #[error("cannot resume run {run}: {reason}")]
    Resume { run: RunId, reason: String },
    #[error("run {run}'s folder {} is in use by another agf process{hint}", dir.display())]
    Busy {
        run: RunId,
        dir: std::path::PathBuf,
        hint: &'static str,
    },
    #[error("cannot prepare the run folder {}: {source}", dir.display())]
    RunDir {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("factor {name:?} failed: {source}")]
    Factor {
        name: String,
        #[source]
        source: FactorError,
    },
}

/// A dataset ready for the pipeline, with what loading learned about it.
pub struct LoadedData {
    pub dataset: Dataset,
    /// Known only for generated worlds.
    pub truth: Option<GroundTruth>,
    /// Known only for FMA.
    pub report: Option<LoadReport>,
}

pub fn load_data(spec: &ExperimentSpec) -> Result<LoadedData, PipelineError> {
    Ok(match spec.dataset.source {
        DataSource::Synthetic => {
            let (dataset, truth) =
                SyntheticWorld::generate(&spec.dataset.synthetic, spec.seed).into_parts();
            LoadedData {
                dataset,
                truth: Some(truth),
                report: None,
            }
        }
        DataSource::Fma => {
            let fma_spec = spec
                .dataset
                .fma
                .as_ref()
                .expect("validated: source = fma has [dataset.fma]");
            let (dataset, report, _) = fma::load_dataset(fma_spec, spec.frontend.sample_rate)?;
            LoadedData {
                dataset,
                truth: None,
                report: Some(report),
            }
        }
    })
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
    /// Tracks whose audio could not be read (only when audio was checked).
    pub skipped: Option<Vec<(u32, String)>>,
}

fn split_counts(d: &Dataset, split: &Split) -> Vec<SplitCounts> {
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

/// Load, split and (optionally) read every audio file, without training anything.
pub fn describe(spec: &ExperimentSpec, check_audio: bool) -> Result<DataSummary, PipelineError> {
    let data = load_data(spec)?;
    let d = &data.dataset;
    let split = Split::make(d, &spec.split, spec.split_seed())?;
    let noisy = noise::inject(d, &split, &spec.noise, spec.noise_seed())?;
    // Reading the audio is the check; no features are computed.
    let skipped = check_audio.then(|| {
        use rayon::prelude::*;
        let pb = crate::progress::bar(d.tracks.len() as u64, "audio");
        let mut bad: Vec<(u32, String)> =
            d.tracks
                .par_iter()
                .filter_map(|t| {
                    let r = d.audio.load(t).err().map(
                        |crate::data::AudioError::Unavailable { reason, .. }| (t.id.0, reason),
                    );
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
        audio: d.audio.describe(),
        tracks: d.tracks.len(),
        artists: d.artist_count(),
        albums: d.album_count(),
        genres: d.genre_titles(),
        load: data.report.clone(),
        split_strategy: format!("{:?}", spec.split.strategy).to_lowercase(),
        split_hash: split.hash(&d.tracks),
        splits: split_counts(d, &split),
        leakage: split.leakage(&d.tracks),
        injected_flips: noisy.flips.len(),
        skipped,
    })
}

/// What a finished run reports back to the caller.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run: RunId,
    pub name: String,
    pub spec_hash: String,
    pub dataset: String,
    pub tracks: usize,
    pub artists: usize,
    pub albums: usize,
    pub classes: Vec<String>,
    pub split_sizes: [usize; 3],
    pub leakage: Leakage,
    pub injected_flips: usize,
    pub skipped: Vec<(u32, String)>,
    pub train: TrainSummary,
    pub evaluations: Vec<(SplitName, Evaluation)>,
    /// Test predictions scored against the true genres (known for generated worlds).
    pub clean_test: Option<Evaluation>,
    pub factors: Vec<FactorReport>,
    /// The CNNs and the transfer model (when the spec has `[cnn]`).
    pub nets: Vec<NetReport>,
    pub seconds: f64,
}

/// One Artist Group Factor of a run.
#[derive(Debug, Clone)]
pub struct FactorReport {
    pub summary: FactorSummary,
    /// NMI between the latent artist group and each artist's largest topic (generated
    /// worlds only).
    pub nmi_artist_group: Option<f64>,
    pub cache_hit: bool,
    pub seconds: f64,
    /// Where the tables were exported.
    pub dir: std::path::PathBuf,
    pub table: crate::factors::FactorTable,
}

/// Commit and dirty flag of the git checkout in the working directory, if any.
fn git_state() -> (Option<String>, Option<bool>) {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            let dirty =
                run(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty());
            (Some(commit), dirty)
        }
        None => (None, None),
    }
}

/// An exclusive lock on a run's folder for as long as a process works on the run: a second
/// `agf resume` of a live run is refused, and the operating system drops the lock when the
/// process dies however it dies, so a killed run can be resumed at once.
struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    fn acquire(store: &Store, run: RunId, hint: &'static str) -> Result<Self, PipelineError> {
        let dir = store.run_dir(run);
        let io = |source| PipelineError::RunDir {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("run.lock"))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(PipelineError::Busy { run, dir, hint }),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// Whether a run marked `running` has in fact stopped: its folder's lock exists and no
/// process holds it (the process was killed before it could record its end). Runs without a
/// lock file (from before locks existed) are not judged.
pub fn interrupted(store: &Store, run: RunId) -> bool {
    let Ok(file) = std::fs::OpenOptions::new()
        .write(true)
        .open(store.run_dir(run).join("run.lock"))
    else {
        return false;
    };
    // The lock is released when `file` drops.
    file.try_lock().is_ok()
}

/// Run `run_stages` for `run` and record how it ended: `done`, or `failed` with the reason.
fn finish(
    spec: &ExperimentSpec,
    store: &Store,
    cache: &StageCache,
    run: RunId,
) -> Result<RunOutcome, PipelineError> {
    match run_stages(spec, store, cache, run) {
        Ok(outcome) => {
            store.finish_run(run, RunStatus::Done, None)?;
            tracing::info!(run = %run, seconds = outcome.seconds, "run done");
            Ok(outcome)
        }
        Err(e) => {
            // Recording the failure must not hide the failure itself.
            if let Err(store_err) = store.finish_run(run, RunStatus::Failed, Some(&e.to_string())) {
                tracing::error!("could not mark run {run} failed: {store_err}");
            }
            Err(e)
        }
    }
}

/// Resume a run that was killed or failed: its stored spec is run again under the same id.
/// Features and factors come from the stage cache, each net continues from its last
/// checkpoint, and everything else is recomputed exactly, so the run ends with the metrics an
/// uninterrupted run would have had.
pub fn resume(store: &Store, cache: &StageCache, run: RunId) -> Result<RunOutcome, PipelineError> {
    let stored = store.stored_run(run)?;
    let refuse = |reason: String| PipelineError::Resume { run, reason };
    if stored.status == RunStatus::Done.as_str() {
        return Err(refuse(
            "it is done; `agf run` the spec again for a new run".into(),
        ));
    }
    let spec = ExperimentSpec::parse(
        &stored.spec_toml,
        std::path::Path::new(&format!("<run {run} spec>")),
    )
    .map_err(|e| refuse(format!("its stored spec no longer parses: {e}")))?;
    if spec.hash() != stored.spec_hash {
        return Err(refuse(
            "its stored spec resolves differently in this version of agf".into(),
        ));
    }
    let _lock = RunLock::acquire(store, run, "; it is still running")?;
    // It may have finished between the first look and the lock.
    if store.stored_run(run)?.status == RunStatus::Done.as_str() {
        return Err(refuse("it has just finished".into()));
    }
    store.reopen_run(run)?;
    tracing::info!(run = %run, name = %stored.name, "run resumed");
    finish(&spec, store, cache, run)
}

/// Run one experiment and record it. The run is in the store from the first moment; if a
/// step fails, it is marked `failed` with the reason before the error is returned.
pub fn run(
    spec: &ExperimentSpec,
    store: &Store,
    cache: &StageCache,
) -> Result<RunOutcome, PipelineError> {
    let (git_commit, git_dirty) = git_state();
    let run = store.start_run(&NewRun {
        name: spec.name.clone(),
        spec_toml: spec.canonical_toml(),
        spec_hash: spec.hash(),
        seed: spec.seed,
        git_commit,
        git_dirty,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        device: "cpu".into(),
        headline_model: if spec.cnn.is_some() {
            TRANSFER_MODEL.into()
        } else {
            BASELINE_MODEL.into()
        },
        params: spec.flat_params(),
    })?;
    tracing::info!(run = %run, name = %spec.name, "run started");
    let lock = RunLock::acquire(
        store,
        run,
        "; two stores in one folder share run folders: give each store its own folder",
    );
    let _lock = match lock.and_then(|l| clear_stale(store, run).map(|_| l)) {
        Ok(l) => l,
        Err(e) => {
            store.finish_run(run, RunStatus::Failed, Some(&e.to_string()))?;
            return Err(e);
        }
    };
    finish(spec, store, cache, run)
}

/// A new run's folder holds nothing of its own yet: whatever is there (checkpoints of a store
/// that was deleted, say) would be resumed from as if it were this run's, so it goes.
fn clear_stale(store: &Store, run: RunId) -> Result<(), PipelineError> {
    let dir = store.run_dir(run);
    let entries = std::fs::read_dir(&dir).map_err(|source| PipelineError::RunDir {
        dir: dir.clone(),
        source,
    })?;
    for entry in entries.flatten() {
        if entry.file_name() == "run.lock" {
            continue;
        }
        let path = entry.path();
        tracing::warn!("removing {} left by an earlier store", path.display());
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|source| PipelineError::RunDir { dir: path, source })?;
    }
    Ok(())
}

/// Row-major features and their labels for one split.
struct SplitRows {
    x: Vec<f32>,
    y: Vec<usize>,
    /// Dataset positions of the rows.
    index: Vec<usize>,
}

fn gather(split: &Split, which: SplitName, feats: &TrackFeatures, labels: &[usize]) -> SplitRows {
    let mut rows = SplitRows {
        x: Vec::new(),
        y: Vec::new(),
        index: Vec::new(),
    };
    for i in split.indices(which) {
        if let Some(row) = &feats.rows[i] {
            rows.x.extend_from_slice(row);
            rows.y.push(labels[i]);
            rows.index.push(i);
        }
    }
    rows
}

fn record_data(
    store: &Store,
    run: RunId,
    d: &Dataset,
    split: &Split,
    noisy: &NoisyLabels,
    report: Option<&LoadReport>,
) -> Result<Leakage, PipelineError> {
    let classes = d.genre_titles();
    store.record_classes(run, &classes)?;
    let leakage = split.leakage(&d.tracks);
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
        ("injected_flips".into(), noisy.flips.len() as f64),
    ];
    if let Some(r) = report {
        m.push(("metadata_rows".into(), r.rows as f64));
        m.push(("tracks_in_subset".into(), r.in_subset as f64));
        m.push((
            "left_out_without_genre_top".into(),
            r.without_genre_top as f64,
        ));
    }
    for c in split_counts(d, split) {
        let s = c.split.as_str();
        m.push((format!("{s}.tracks"), c.tracks as f64));
        m.push((format!("{s}.artists"), c.artists as f64));
        m.push((format!("{s}.albums"), c.albums as f64));
        for (g, n) in c.per_genre.iter().enumerate() {
            m.push((format!("{s}.tracks.{}", classes[g]), *n as f64));
        }
    }
    let pairs: Vec<(&str, f64)> = m.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    store.record_metrics(run, "dataset", "all", &pairs)?;
    store.record_facts(
        run,
        &[
            ("dataset", d.name.clone()),
            ("audio", d.audio.describe()),
            ("split_hash", split.hash(&d.tracks)),
        ],
    )?;
    let flips: Vec<(u32, &str, usize, usize)> = noisy
        .flips
        .iter()
        .map(|f| (f.track.0, split.assignment[f.index].as_str(), f.from, f.to))
        .collect();
    store.record_flips(run, &flips)?;
    Ok(leakage)
}

fn run_stages(
    spec: &ExperimentSpec,
    store: &Store,
    cache: &StageCache,
    run: RunId,
) -> Result<RunOutcome, PipelineError> {
    let started = Instant::now();
    let data = load_data(spec)?;
    let dataset = &data.dataset;
    let classes = dataset.genre_titles();
    let n_classes = classes.len();
    tracing::info!(
        tracks = dataset.tracks.len(),
        artists = dataset.artist_count(),
        albums = dataset.album_count(),
        "dataset {}",
        dataset.name
    );

    let split = Split::make(dataset, &spec.split, spec.split_seed())?;
    let noisy = noise::inject(dataset, &split, &spec.noise, spec.noise_seed())?;
    let leakage = record_data(store, run, dataset, &split, &noisy, data.report.as_ref())?;
    tracing::info!(hash = %split.hash(&dataset.tracks), ?leakage, flips = noisy.flips.len(), "split {:?}", spec.split.strategy);

    let feats = match spec
        .dataset
        .fma
        .as_ref()
        .filter(|f| spec.dataset.source == DataSource::Fma && f.features_csv)
    {
        Some(f) => {
            let (names, table) =
                fma::load_features(&f.root.join("fma_metadata").join("features.csv"))?;
            features::from_table(dataset, names, &table)
        }
        None => features::extract(
            dataset,
            &FeatureStage::new(&spec.frontend, &spec.descriptors),
            spec.model.features,
            Some(cache),
        ),
    };
    let skipped: Vec<(u32, String)> = feats
        .skipped
        .iter()
        .map(|(t, r)| (t.0, r.clone()))
        .collect();
    store.record_skipped(run, &skipped)?;
    store.record_metrics(
        run,
        "dataset",
        "all",
        &[
            ("skipped_tracks", skipped.len() as f64),
            ("audio_seconds", feats.audio_seconds),
            ("feature_dim", feats.dim as f64),
            ("feature_cache_hits", feats.cache_hits as f64),
            ("feature_tracks_computed", feats.computed as f64),
        ],
    )?;
    if !skipped.is_empty() {
        tracing::warn!(
            "{} tracks skipped; `agf runs` and the store's skipped_tracks table list them",
            skipped.len()
        );
    }

    let factors = run_factors(spec, &data, &split, store, cache, run)?;

    // Training (and, if asked, validation) labels carry the injected noise; test labels never do.
    let published: Vec<usize> = dataset.tracks.iter().map(|t| t.genre).collect();
    let train = gather(&split, SplitName::Train, &feats, &noisy.labels);
    let validation = gather(&split, SplitName::Validation, &feats, &noisy.labels);
    let test = gather(&split, SplitName::Test, &feats, &published);
    for (name, part) in [
        ("train", &train),
        ("validation", &validation),
        ("test", &test),
    ] {
        if part.y.is_empty() {
            return Err(PipelineError::EmptySplit { split: name });
        }
    }

    let pb = crate::progress::bar(spec.model.epochs as u64, "training");
    let mut epoch_error = None;
    let fitted = LogisticRegression::fit(
        Labelled {
            x: &train.x,
            y: &train.y,
        },
        Labelled {
            x: &validation.x,
            y: &validation.y,
        },
        feats.dim,
        n_classes,
        &spec.model,
        &Device::Cpu,
        |e| {
            pb.inc(1);
            if epoch_error.is_none() {
                epoch_error = store
                    .record_epoch(run, BASELINE_MODEL, &e, Default::default())
                    .err();
            }
        },
    );
    pb.finish_and_clear();
    if let Some(e) = epoch_error {
        return Err(e.into());
    }
    let model_err = |source| PipelineError::Model {
        model: BASELINE_MODEL,
        source,
    };
    let (model, train_summary) = fitted.map_err(model_err)?;
    store.record_metrics(
        run,
        BASELINE_MODEL,
        "train",
        &[
            ("epochs_run", train_summary.epochs_run as f64),
            ("best_epoch", train_summary.best_epoch as f64),
        ],
    )?;
    tracing::info!(?train_summary, "trained {BASELINE_MODEL}");

    let mut clean_test = None;
    let mut evaluations = Vec::new();
    for (s, part) in [
        (SplitName::Train, &train),
        (SplitName::Validation, &validation),
        (SplitName::Test, &test),
    ] {
        let probs = model.predict_proba(&part.x).map_err(model_err)?;
        let e = evaluate(&probs, &part.y, n_classes, spec.metrics.log_loss_clip);
        store.record_evaluation(run, BASELINE_MODEL, s.as_str(), &e)?;
        if let (SplitName::Test, Some(truth)) = (s, &data.truth) {
            // The generator knows the true genres: score the same predictions against them,
            // so that label noise in the test set can be told apart from model error.
            let clean: Vec<usize> = part.index.iter().map(|&i| truth.true_genre[i]).collect();
            let e_clean = evaluate(&probs, &clean, n_classes, spec.metrics.log_loss_clip);
            store.record_evaluation(run, BASELINE_MODEL, CLEAN_TEST, &e_clean)?;
            clean_test = Some(e_clean);
        }
        evaluations.push((s, e));
    }
    // The CNNs read the cached log-mels; runs on features.csv have not made them yet.
    let with_logmels =
        (spec.cnn.is_some() && feats.logmels.iter().all(Option::is_none)).then(|| {
            features::extract(
                dataset,
                &FeatureStage::new(&spec.frontend, &spec.descriptors),
                spec.model.features,
                Some(cache),
            )
        });
    let nets = nets::run_nets(
        spec,
        &data,
        &split,
        &noisy,
        with_logmels.as_ref().unwrap_or(&feats),
        &factors,
        store,
        run,
    )?;
    Ok(RunOutcome {
        run,
        name: spec.name.clone(),
        spec_hash: spec.hash(),
        dataset: dataset.name.clone(),
        tracks: dataset.tracks.len(),
        artists: dataset.artist_count(),
        albums: dataset.album_count(),
        classes,
        split_sizes: [train.y.len(), validation.y.len(), test.y.len()],
        leakage,
        injected_flips: noisy.flips.len(),
        skipped,
        train: train_summary,
        evaluations,
        clean_test,
        factors,
        nets,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Every `[[factors]]` entry: extract what they read (once), fit or read each from the
/// cache, export its tables into the run's folder and record its summary.
fn run_factors(
    spec: &ExperimentSpec,
    data: &LoadedData,
    split: &Split,
    store: &Store,
    cache: &StageCache,
    run: RunId,
) -> Result<Vec<FactorReport>, PipelineError> {
    let d = &data.dataset;
    let uses = |f: &dyn Fn(FactorFeature) -> bool| spec.factors.iter().any(|x| f(x.features));
    let frames: Option<FrameSet> = uses(&|f| f.is_frame_level()).then(|| {
        extract_frames(
            d,
            &FeatureStage::new(&spec.factor_frontend, &spec.descriptors),
            cache,
        )
    });
    // Served from the track cache when the model already read descriptors.
    let descriptors: Option<TrackFeatures> =
        uses(&|f| f == FactorFeature::Descriptors).then(|| {
            features::extract(
                d,
                &FeatureStage::new(&spec.frontend, &spec.descriptors),
                TrackFeatureSet::Descriptors,
                Some(cache),
            )
        });
    let fma_features = match spec.dataset.fma.as_ref() {
        Some(f) if uses(&|f| f == FactorFeature::FmaFeatures) => {
            let (names, table) =
                fma::load_features(&f.root.join("fma_metadata").join("features.csv"))?;
            Some(features::from_table(d, names, &table))
        }
        _ => None,
    };
    let inputs = FactorInputs {
        dataset: d,
        split,
        frames: frames.as_ref(),
        descriptors: descriptors.as_ref(),
        fma_features: fma_features.as_ref(),
    };
    let mut out = Vec::new();
    for f in &spec.factors {
        let started = Instant::now();
        let fail = |source| PipelineError::Factor {
            name: f.name.clone(),
            source,
        };
        let outcome = run_factor(f, &inputs, cache, &Device::Cpu).map_err(fail)?;
        let table = &outcome.table;
        let dir = store.run_dir(run).join("factors").join(&f.name);
        table.export(d, &dir).map_err(fail)?;
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
            ("perplexity".into(), s.lda.perplexity),
            ("lda_iterations".into(), s.lda.iterations as f64),
            ("vocabulary".into(), s.vocabulary as f64),
            ("topics".into(), s.topics as f64),
            ("fit_tracks".into(), s.fit_tracks as f64),
            ("fit_artists".into(), s.fit_artists as f64),
            ("artists".into(), s.artists as f64),
            ("cache_hit".into(), f64::from(u8::from(outcome.cache_hit))),
            ("seconds".into(), seconds),
        ];
        if let Some(p) = s.held_out_perplexity {
            m.push(("held_out_perplexity".into(), p));
        }
        if let Some(k) = &s.kmeans {
            m.push(("kmeans_inertia".into(), k.inertia));
            m.push(("kmeans_iterations".into(), k.iterations as f64));
            m.push(("kmeans_rows".into(), k.rows as f64));
        }
        if let Some(v) = nmi {
            m.push(("nmi_artist_group".into(), v));
        }
        for (k, (n, w)) in s.topic_artists.iter().zip(&s.topic_weight).enumerate() {
            m.push((format!("topic_artists.{k}"), *n as f64));
            m.push((format!("topic_weight.{k}"), *w));
        }
        let pairs: Vec<(&str, f64)> = m.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        store.record_metrics(run, &format!("agf.{}", f.name), "all", &pairs)?;
        store.record_facts(
            run,
            &[(
                format!("factor.{}.dir", f.name).as_str(),
                dir.display().to_string(),
            )],
        )?;
        tracing::info!(factor = %f.name, perplexity = s.lda.perplexity, ?nmi, seconds, "factor done");
        out.push(FactorReport {
            summary: s.clone(),
            nmi_artist_group: nmi,
            cache_hit: outcome.cache_hit,
            seconds,
            dir,
            table: outcome.table,
        });
    }
    Ok(out)
}
