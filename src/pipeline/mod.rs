//! One run: decide which stages a spec needs, run each once in order (data → features →
//! frames → factors → baseline → nets), record the run from its first moment to its end, and
//! resume it after a kill.
//!
//! This module orders stages and keeps the books (run locks, provenance, status); what a
//! stage computes is the stage's business, and it reaches the store only through the
//! [`recorder::StoreRecorder`] it is given.

pub mod audit;
pub mod folders;
pub mod provenance;
pub mod recorder;

pub use folders::RunFolders;

use crate::cache::StageCache;
use crate::data::split::Leakage;
use crate::data::TrackId;
use crate::features::{FeatureExtractor, TrackTable};
use crate::nn::DeviceError;
use crate::record::RunId;
use crate::spec::{DataSource, FactorFeature, Resolved, TrackFeatureSet};
use crate::stages::baseline::BaselineOutcome;
use crate::stages::factors::{FactorInputs, FactorOutcome};
use crate::stages::nets::NetReport;
use crate::stages::{self, StageError};
use crate::store::{CellId, RunEnd, RunStatus, Store, StoreError};
use candle_core::Device;
use folders::{LockError, RunLock};
use recorder::StoreRecorder;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Stage(Box<StageError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("cannot audit run {run}: {reason}")]
    Audit { run: RunId, reason: String },
    #[error("cannot resume run {run}: {reason}")]
    Resume { run: RunId, reason: String },
    #[error("run {run}'s folder {} is in use by another agf process{hint}", dir.display())]
    Busy {
        run: RunId,
        dir: PathBuf,
        hint: &'static str,
    },
    #[error("cannot prepare the run folder {}", dir.display())]
    RunDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

// Stage errors carry paths and messages; boxed, every `Result` of the pipeline stays small.
impl From<StageError> for PipelineError {
    fn from(e: StageError) -> Self {
        PipelineError::Stage(Box::new(e))
    }
}

/// Where a run reads and writes: the store, the stage cache and the runs' folders.
#[derive(Clone, Copy)]
pub struct Workspace<'a> {
    pub store: &'a Store,
    pub cache: &'a StageCache,
    pub folders: &'a RunFolders,
}

/// What a finished run reports back to the caller.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run: RunId,
    pub name: String,
    pub spec_hash: String,
    /// The run's own folder.
    pub dir: PathBuf,
    /// Where the nets ran.
    pub device: String,
    pub dataset: String,
    pub tracks: usize,
    pub artists: usize,
    pub albums: usize,
    pub classes: Vec<String>,
    pub leakage: Leakage,
    /// Splits short of a genre, in words.
    pub warnings: Vec<String>,
    pub injected_flips: usize,
    pub skipped: Vec<(TrackId, String)>,
    pub baseline: BaselineOutcome,
    pub factors: Vec<FactorOutcome>,
    /// The CNNs and the transfer model (when the spec has `[cnn]`).
    pub nets: Vec<NetReport>,
    pub seconds: f64,
}

/// The device the spec's nets run on (the CPU when there are none), opened before anything
/// is recorded: a device this build cannot open fails the run before it starts.
fn open_device(spec: &Resolved) -> Result<Device, DeviceError> {
    match spec.cnn {
        Some(_) => crate::nn::device(spec.device),
        None => Ok(Device::Cpu),
    }
}

/// What is checked and loaded before a run is recorded, so that a run that cannot work
/// (a device this build cannot open, a genre the data does not have, audio that is not
/// there) fails before it leaves a failed run, or a new store, behind.
pub struct Prepared {
    device: Device,
    data: stages::data::LoadedData,
    needs: Needs,
}

/// Open the device, load the data and check that the run has what it needs.
pub fn prepare(spec: &Resolved) -> Result<Prepared, PipelineError> {
    let device = open_device(spec)?;
    let data = stages::data::load(spec)?;
    let needs = Needs::of(spec);
    if let Some(why) = data
        .audio_unavailable
        .as_ref()
        .filter(|_| needs.tracks || needs.frames)
    {
        return Err(StageError::AudioUnavailable(why.clone()).into());
    }
    Ok(Prepared {
        device,
        data,
        needs,
    })
}

/// Run one experiment and record it. The run is in the store from the first moment its
/// inputs are known to be there; if a stage fails, it is marked `failed` with the reason
/// before the error is returned.
pub fn run(
    spec: &Resolved,
    prepared: Prepared,
    ws: Workspace,
) -> Result<RunOutcome, PipelineError> {
    run_with(spec, prepared, ws, None, &mut |_, _| {})
}

/// [`run`] for a sweep's `cell` (attached to the run as it is recorded), telling
/// `on_start` the new run's id and folder before any stage runs.
pub fn run_with(
    spec: &Resolved,
    prepared: Prepared,
    ws: Workspace,
    cell: Option<CellId>,
    on_start: &mut dyn FnMut(RunId, &std::path::Path),
) -> Result<RunOutcome, PipelineError> {
    let run = ws
        .store
        .start_run(&provenance::new_run(spec, &prepared.device, cell))?;
    tracing::info!("run {run} \"{}\" started", spec.name);
    on_start(run, &ws.folders.dir(run));
    let lock = lock(
        ws,
        run,
        "; another store keeps its runs in the same folder: give each store its own --runs",
    );
    let _lock = match lock.and_then(|l| clear_stale(ws, run).map(|_| l)) {
        Ok(l) => l,
        Err(e) => {
            ws.store
                .finish_run(run, RunEnd::Failed(&crate::errors::one_line(&e)))?;
            return Err(e);
        }
    };
    finish(spec, ws, run, prepared)
}

/// Resume a run that was killed or failed: its stored spec is run again under the same id.
/// Features and factors come from the stage cache, each net continues from its last
/// checkpoint, and everything else is recomputed exactly, so the run ends with the metrics
/// an uninterrupted run would have had.
pub fn resume(ws: Workspace, run: RunId) -> Result<RunOutcome, PipelineError> {
    let stored = ws.store.run(run)?;
    let refuse = |reason: String| PipelineError::Resume { run, reason };
    if stored.status == RunStatus::Done {
        return Err(refuse(
            "it is done; `agf run` the spec again for a new run".into(),
        ));
    }
    let spec = stages::parse_spec(
        &stored.spec_toml,
        std::path::Path::new(&format!("<run {run} spec>")),
    )
    .map_err(|e| refuse(format!("its stored spec no longer parses: {e}")))?;
    if spec.hash() != stored.spec_hash {
        return Err(refuse(
            "its stored spec resolves differently in this version of agf".into(),
        ));
    }
    let prepared = prepare(&spec)?;
    let _lock = lock(ws, run, "; it is still running")?;
    // It may have finished between the first look and the lock.
    if ws.store.run(run)?.status == RunStatus::Done {
        return Err(refuse("it has just finished".into()));
    }
    ws.store.reopen_run(run)?;
    tracing::info!("run {run} \"{}\" resumed", stored.name);
    finish(&spec, ws, run, prepared)
}

fn lock(ws: Workspace, run: RunId, hint: &'static str) -> Result<RunLock, PipelineError> {
    RunLock::acquire(ws.folders, run).map_err(|e| match e {
        LockError::Busy(dir) => PipelineError::Busy { run, dir, hint },
        LockError::Io(dir, source) => PipelineError::RunDir { dir, source },
    })
}

/// Run the stages for `run` and record how it ended: `done`, or `failed` with the reason.
fn finish(
    spec: &Resolved,
    ws: Workspace,
    run: RunId,
    prepared: Prepared,
) -> Result<RunOutcome, PipelineError> {
    match run_stages(spec, ws, run, prepared) {
        Ok(outcome) => {
            ws.store.finish_run(run, RunEnd::Done)?;
            tracing::info!("run {run} done in {:.1} s", outcome.seconds);
            Ok(outcome)
        }
        Err(e) => {
            // Recording the failure must not hide the failure itself.
            if let Err(store_err) = ws
                .store
                .finish_run(run, RunEnd::Failed(&crate::errors::one_line(&e)))
            {
                tracing::error!(
                    "could not mark run {run} failed: {}",
                    crate::errors::one_line(&store_err)
                );
            }
            Err(e)
        }
    }
}

/// A new run's folder holds nothing of its own yet: whatever is there (checkpoints of a store
/// that was deleted, say) would be resumed from as if it were this run's, so it goes.
fn clear_stale(ws: Workspace, run: RunId) -> Result<(), PipelineError> {
    let dir = ws.folders.dir(run);
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

/// Which stages a spec needs: each runs at most once per run.
struct Needs {
    /// The baseline reads FMA's `features.csv` rather than features from audio.
    csv_baseline: bool,
    /// Track-level vectors and log-mels from audio (the baseline, the nets, a descriptor
    /// factor).
    tracks: bool,
    /// FMA's `features.csv` (the baseline, or a factor).
    csv: bool,
    /// Frame-level factor inputs.
    frames: bool,
}

impl Needs {
    fn of(spec: &Resolved) -> Needs {
        let uses = |f: &dyn Fn(FactorFeature) -> bool| spec.factors.iter().any(|x| f(x.features));
        let csv_baseline = spec.dataset.source == DataSource::Fma
            && spec.dataset.fma.as_ref().is_some_and(|f| f.features_csv);
        Needs {
            csv_baseline,
            tracks: !csv_baseline
                || spec.cnn.is_some()
                || uses(&|f| f == FactorFeature::Descriptors),
            csv: csv_baseline || uses(&|f| f == FactorFeature::FmaFeatures),
            frames: uses(&|f| f.is_frame_level()),
        }
    }
}

/// The fact that holds the run's folder, for links to its files.
pub const RUN_DIR_FACT: &str = "run_dir";

/// The fact that holds a run's time per stage, as JSON: `[{"stage", "seconds", "cached"}]`.
pub const STAGE_TIMES_FACT: &str = "stage_times";

/// One stage's wall-clock time in a run, and whether its every computation was cached
/// before the run started.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StageTime {
    pub stage: String,
    pub seconds: f64,
    pub cached: bool,
}

/// Times stages one after another.
struct StageClock {
    last: Instant,
    laps: Vec<StageTime>,
}

impl StageClock {
    fn new(started: Instant) -> StageClock {
        StageClock {
            last: started,
            laps: Vec::new(),
        }
    }

    /// The stage that just finished: the time since the previous one.
    fn lap(&mut self, stage: &str, cached: bool) {
        let now = Instant::now();
        self.laps.push(StageTime {
            stage: stage.to_string(),
            seconds: (now - self.last).as_secs_f64(),
            cached,
        });
        self.last = now;
    }
}

fn run_stages(
    spec: &Resolved,
    ws: Workspace,
    run: RunId,
    prepared: Prepared,
) -> Result<RunOutcome, PipelineError> {
    let started = Instant::now();
    let Prepared {
        device,
        data,
        needs,
    } = prepared;
    let device = &device;
    let dir = ws.folders.dir(run);
    let mut rec = StoreRecorder {
        store: ws.store,
        run,
        dir: dir.clone(),
    };
    let d = &data.dataset;
    tracing::info!(
        "dataset {}: {} tracks, {} artists, {} albums",
        d.name,
        d.tracks.len(),
        d.artist_count(),
        d.album_count()
    );
    let leakage = stages::data::record(&data, &mut rec)?;
    let absolute = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
    stages::Recorder::facts(&mut rec, &[(RUN_DIR_FACT, absolute.display().to_string())])
        .map_err(StageError::from)?;
    // Each stage, once done, leaves its recipe's marker: `agf sweep plan` counts them.
    let recipes = stages::recipe::recipes(spec);
    // A stage whose every computation was done before this run started comes from the cache.
    let cached_before: Vec<(&str, bool)> = ["features", "frames", "factor", "net", "transfer"]
        .into_iter()
        .map(|stage| {
            let mine: Vec<_> = recipes.iter().filter(|r| r.stage == stage).collect();
            (
                stage,
                !mine.is_empty() && mine.iter().all(|r| r.is_done(ws.cache)),
            )
        })
        .collect();
    let cached = |stages: &[&str]| {
        stages
            .iter()
            .all(|stage| cached_before.iter().any(|(s, c)| s == stage && *c))
    };
    let mut clock = StageClock::new(started);
    let done = |stage: &str| {
        for r in recipes.iter().filter(|r| r.stage == stage) {
            r.mark_done(ws.cache);
        }
    };
    clock.lap("data", false);

    let extractor = FeatureExtractor::new(&spec.frontend, &spec.descriptors);
    let tracks = needs
        .tracks
        .then(|| stages::features::run(d, &data.loader, &extractor, Some(ws.cache)));
    let csv = match needs.csv {
        true => Some(stages::data::fma_features(spec, &data)?),
        false => None,
    };
    let from_audio: Option<TrackTable> = match (&tracks, needs.csv_baseline) {
        (Some(t), false) => Some(t.table(spec.model.features)),
        _ => None,
    };
    let baseline_rows: &TrackTable = from_audio
        .as_ref()
        .or(csv.as_ref())
        .expect("the baseline's features are always computed");
    stages::features::record(
        baseline_rows,
        tracks.as_ref().filter(|_| !needs.csv_baseline),
        &mut rec,
    )
    .map_err(StageError::from)?;
    done("features");
    clock.lap("features", cached(&["features"]));

    let frames = needs.frames.then(|| {
        let factor_front = FeatureExtractor::new(&spec.factor_frontend, &spec.descriptors);
        stages::frames::run(d, &data.loader, &factor_front, ws.cache)
    });
    done("frames");
    if needs.frames {
        clock.lap("frames", cached(&["frames"]));
    }
    let descriptors = tracks
        .as_ref()
        .filter(|_| {
            spec.factors
                .iter()
                .any(|f| f.features == FactorFeature::Descriptors)
        })
        .map(|t| t.table(TrackFeatureSet::Descriptors));
    let inputs = FactorInputs {
        frames: frames.as_ref(),
        descriptors: descriptors.as_ref(),
        fma_features: csv.as_ref(),
    };
    let factors = stages::factors::run(spec, &data, &inputs, ws.cache, &mut rec)?;
    done("factor");
    if !spec.factors.is_empty() {
        clock.lap("factors", cached(&["factor"]));
    }
    let baseline = stages::baseline::run(spec, &data, baseline_rows, &mut rec)?;
    clock.lap("baseline", false);
    let (nets, trained) = match &tracks {
        Some(t) => stages::nets::run(spec, &data, t, &factors, device, &dir, ws.cache, &mut rec)?,
        None => (Vec::new(), None),
    };
    done("net");
    done("transfer");
    if !nets.is_empty() {
        clock.lap("nets and transfer", cached(&["net", "transfer"]));
    }
    if let Some(a) = &spec.audit {
        let (table, cache) = (baseline_rows, ws.cache);
        audit::within_run(
            spec,
            &data,
            table,
            trained.as_ref(),
            a,
            cache,
            &dir,
            &mut rec,
        )?;
        clock.lap("audit", false);
    }
    drop(trained);
    let laps = clock.laps;
    stages::Recorder::facts(
        &mut rec,
        &[(
            STAGE_TIMES_FACT,
            serde_json::to_string(&laps).expect("stage times serialise"),
        )],
    )
    .map_err(StageError::from)?;
    Ok(RunOutcome {
        run,
        name: spec.name.clone(),
        spec_hash: spec.hash(),
        dir,
        device: crate::nn::device_name(device),
        dataset: d.name.clone(),
        tracks: d.tracks.len(),
        artists: d.artist_count(),
        albums: d.album_count(),
        classes: d.genre_titles(),
        leakage,
        warnings: data.split_warnings.clone(),
        injected_flips: data.noisy.flips.len(),
        skipped: baseline_rows.skipped.clone(),
        baseline,
        factors,
        nets,
        seconds: started.elapsed().as_secs_f64(),
    })
}
