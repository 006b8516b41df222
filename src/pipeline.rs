//! The run: spec → dataset → split → features → model → metrics → store.
//!
//! Each step is a call into its own module; this one only orders them, records what the
//! run used, and marks the run failed (with the reason) when a step fails.

use crate::data::split::{Split, SplitName};
use crate::data::synth::SyntheticWorld;
use crate::eval::metrics::evaluate;
use crate::eval::Evaluation;
use crate::features;
use crate::models::logreg::Labelled;
use crate::models::{LogisticRegression, ModelError, TrainSummary};
use crate::spec::{DataSource, ExperimentSpec};
use crate::store::{NewRun, RunId, RunStatus, Store, StoreError};
use candle_core::Device;
use std::time::Instant;

/// The split name under which test predictions scored against the true genres are stored.
pub const CLEAN_TEST: &str = "test_clean";

/// The model name under which the baseline's results are stored.
pub const BASELINE_MODEL: &str = "logreg";

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("training {model} failed: {source}")]
    Model {
        model: &'static str,
        #[source]
        source: ModelError,
    },
    #[error("the {split} split has no usable track; check the split ratios and dataset size")]
    EmptySplit { split: &'static str },
}

/// Row-major features and their labels for one split.
type SplitRows = (Vec<f32>, Vec<usize>);

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
    pub test_tracks_with_train_artist: usize,
    pub skipped: usize,
    pub train: TrainSummary,
    pub evaluations: Vec<(SplitName, Evaluation)>,
    /// Test predictions scored against the true genres (known for generated worlds).
    pub clean_test: Option<Evaluation>,
    pub seconds: f64,
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

/// Run one experiment and record it. The run is in the store from the first moment; if a
/// step fails, it is marked `failed` with the reason before the error is returned.
pub fn run(spec: &ExperimentSpec, store: &Store) -> Result<RunOutcome, PipelineError> {
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
        headline_model: BASELINE_MODEL.into(),
        params: spec.flat_params(),
    })?;
    tracing::info!(run = %run, name = %spec.name, "run started");
    match run_stages(spec, store, run) {
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

fn run_stages(
    spec: &ExperimentSpec,
    store: &Store,
    run: RunId,
) -> Result<RunOutcome, PipelineError> {
    let started = Instant::now();
    let (dataset, truth) = match spec.dataset.source {
        DataSource::Synthetic => {
            SyntheticWorld::generate(&spec.dataset.synthetic, spec.seed).into_parts()
        }
    };
    let classes = dataset.genre_titles();
    let n_classes = classes.len();
    store.record_classes(run, &classes)?;
    tracing::info!(
        tracks = dataset.tracks.len(),
        artists = dataset.artist_count(),
        albums = dataset.album_count(),
        "dataset {}",
        dataset.name
    );

    let split = Split::make(&dataset, &spec.split, spec.split_seed());
    let leakage = split.leakage(&dataset.tracks);
    let counts = split.counts(&dataset.tracks, n_classes);
    let mut split_metrics: Vec<(String, f64)> = vec![
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
    ];
    for (s, per_genre) in &counts {
        for (g, c) in per_genre.iter().enumerate() {
            split_metrics.push((format!("{}.tracks.{}", s.as_str(), classes[g]), *c as f64));
        }
    }
    let pairs: Vec<(&str, f64)> = split_metrics
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    store.record_metrics(run, "dataset", "all", &pairs)?;
    tracing::info!(hash = %split.hash(&dataset.tracks), ?leakage, "split {:?}", spec.split.strategy);

    let feats = features::extract(&dataset, &spec.frontend);
    store.record_metrics(
        run,
        "dataset",
        "all",
        &[
            ("tracks", dataset.tracks.len() as f64),
            ("artists", dataset.artist_count() as f64),
            ("albums", dataset.album_count() as f64),
            ("skipped_tracks", feats.skipped.len() as f64),
            ("audio_seconds", feats.audio_seconds),
            ("feature_dim", feats.dim as f64),
        ],
    )?;

    // Gather (features, label) per split, leaving skipped tracks out.
    let gather = |which: SplitName| {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in split.indices(which) {
            if let Some(row) = &feats.rows[i] {
                x.extend_from_slice(row);
                y.push(dataset.tracks[i].genre);
            }
        }
        (x, y)
    };
    let parts: Vec<(SplitName, SplitRows)> =
        SplitName::ALL.iter().map(|s| (*s, gather(*s))).collect();
    for (s, (_, y)) in &parts {
        if y.is_empty() {
            return Err(PipelineError::EmptySplit { split: s.as_str() });
        }
    }
    let (train, val) = (&parts[0].1, &parts[1].1);

    let pb = crate::progress::bar(spec.model.epochs as u64, "training");
    let mut epoch_error = None;
    let fitted = LogisticRegression::fit(
        Labelled {
            x: &train.0,
            y: &train.1,
        },
        Labelled {
            x: &val.0,
            y: &val.1,
        },
        feats.dim,
        n_classes,
        &spec.model,
        &Device::Cpu,
        |e| {
            pb.inc(1);
            if epoch_error.is_none() {
                epoch_error = store.record_epoch(run, BASELINE_MODEL, &e).err();
            }
        },
    );
    pb.finish_and_clear();
    if let Some(e) = epoch_error {
        return Err(e.into());
    }
    let (model, train_summary) = fitted.map_err(|source| PipelineError::Model {
        model: BASELINE_MODEL,
        source,
    })?;
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
    for (s, (x, y)) in &parts {
        let probs = model
            .predict_proba(x)
            .map_err(|source| PipelineError::Model {
                model: BASELINE_MODEL,
                source,
            })?;
        let e = evaluate(&probs, y, n_classes, spec.metrics.log_loss_clip);
        store.record_evaluation(run, BASELINE_MODEL, s.as_str(), &e)?;
        if *s == SplitName::Test {
            // The generator knows the true genres: score the same predictions against them,
            // so that label noise in the test set can be told apart from model error.
            let clean: Vec<usize> = split
                .indices(SplitName::Test)
                .into_iter()
                .filter(|&i| feats.rows[i].is_some())
                .map(|i| truth.true_genre[i])
                .collect();
            let e_clean = evaluate(&probs, &clean, n_classes, spec.metrics.log_loss_clip);
            store.record_evaluation(run, BASELINE_MODEL, CLEAN_TEST, &e_clean)?;
            clean_test = Some(e_clean);
        }
        evaluations.push((*s, e));
    }
    let split_sizes = [
        parts[0].1 .1.len(),
        parts[1].1 .1.len(),
        parts[2].1 .1.len(),
    ];
    Ok(RunOutcome {
        run,
        name: spec.name.clone(),
        spec_hash: spec.hash(),
        dataset: dataset.name.clone(),
        tracks: dataset.tracks.len(),
        artists: dataset.artist_count(),
        albums: dataset.album_count(),
        classes,
        split_sizes,
        test_tracks_with_train_artist: leakage.test_tracks_with_train_artist,
        skipped: feats.skipped.len(),
        train: train_summary,
        evaluations,
        clean_test,
        seconds: started.elapsed().as_secs_f64(),
    })
}
