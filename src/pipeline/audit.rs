//! The label audit of a run: its training labels audited with confident learning on
//! out-of-fold probabilities of its baseline, genre CNN or transfer model
//! ([`crate::stages::oof`]), albums ranked, and on generated worlds the audit scored against
//! the truth; within a run (`[audit]`) or after it (`agf audit RUN`). Files go to the run's
//! `audit/` folder: the out-of-fold probabilities, the ranked issues and albums.

use super::{PipelineError, Workspace};
use crate::audit::confident::{self, FilterBy, QualityScore};
use crate::audit::file::{self, Report};
use crate::audit::predictions::Predictions;
use crate::cache::StageCache;
use crate::features::{FeatureExtractor, TrackTable};
use crate::record::{metric, ModelName, Prediction, RunId, SplitKey};
use crate::spec::{AuditModel, AuditSpec, DataSource, Resolved, Retrain};
use crate::stages::data::LoadedData;
use crate::stages::nets::TrainedNets;
use crate::stages::oof::OutOfFold;
use crate::stages::{self, Recorder, StageError};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Albums listed in the run's report.
const AUDIT_ALBUMS: usize = 50;

#[derive(Debug, Clone, Copy)]
pub struct AuditOptions {
    /// Whose out-of-fold probabilities: the run's own audit model when it had one, else
    /// the baseline.
    pub model: Option<AuditModel>,
    /// Folds for the baseline (default [`stages::oof::FOLDS`]); a net's audit keeps the
    /// folds it was run with.
    pub folds: Option<usize>,
    pub filter_by: FilterBy,
    pub rank_by: QualityScore,
}

pub struct RunAudit {
    pub report: Report,
    pub model: AuditModel,
    pub folds: usize,
    pub written: Vec<PathBuf>,
}

/// Audit a past run's training labels. The baseline's out-of-fold probabilities are
/// computed here (or read from the stage cache); a net's are read from the store, where a
/// run with `[audit] model = "genre_cnn" | "transfer"` left them, since its folds' nets are
/// trained within the run.
pub fn audit_run(ws: Workspace, run: RunId, o: AuditOptions) -> Result<RunAudit, PipelineError> {
    let stored = ws.store.run(run)?;
    let refuse = |reason: String| PipelineError::Audit { run, reason };
    let spec = stages::parse_spec(
        &stored.spec_toml,
        std::path::Path::new(&format!("<run {run} spec>")),
    )
    .map_err(|e| refuse(format!("its stored spec no longer parses: {e}")))?;
    let audited = ws
        .store
        .facts(run)?
        .into_iter()
        .find(|(k, _)| k == metric::AUDIT_MODEL_FACT)
        .and_then(|(_, v)| AuditModel::parse(&v));
    let model = o.model.or(audited).unwrap_or(AuditModel::Baseline);
    let data = stages::data::load(&spec)?;
    let oof = match model {
        AuditModel::Baseline => {
            let csv_baseline = spec.dataset.source == DataSource::Fma
                && spec.dataset.fma.as_ref().is_some_and(|f| f.features_csv);
            let table = if csv_baseline {
                stages::data::fma_features(&spec, &data)?
            } else {
                let extractor = FeatureExtractor::new(&spec.frontend, &spec.descriptors);
                stages::features::run(&data.dataset, &data.loader, &extractor, Some(ws.cache))
                    .table(spec.model.features)
            };
            let folds = o.folds.unwrap_or(stages::oof::FOLDS);
            stages::oof::baseline(&spec, &data, &table, folds, Some(ws.cache))?
        }
        m if audited != Some(m) => {
            return Err(refuse(format!(
                "it holds no out-of-fold probabilities of the {}: add `[audit] model = \"{}\"` \
                 to its spec and run it (the folds' nets are trained within a run)",
                m.describe(),
                m.as_str()
            )))
        }
        m => {
            let oof = stored_oof(ws, run, &spec, &data).map_err(refuse)?;
            if let Some(f) = o.folds.filter(|&f| f != oof.folds) {
                return Err(refuse(format!(
                    "its {} was audited over {} folds, not {f}; leave out --folds, or run \
                     its spec again with `[audit] folds = {f}`",
                    m.describe(),
                    oof.folds
                )));
            }
            oof
        }
    };
    let report = audit_oof(&data, &oof, o.filter_by, o.rank_by).map_err(refuse)?;
    let written = write(&report, &oof, &ws.folders.dir(run).join("audit")).map_err(refuse)?;
    Ok(RunAudit {
        report,
        model,
        folds: oof.folds,
        written,
    })
}

/// The out-of-fold probabilities a run recorded as model `audit`'s predictions, in dataset
/// order, with the folds they came from drawn again.
fn stored_oof(
    ws: Workspace,
    run: RunId,
    spec: &Resolved,
    data: &LoadedData,
) -> Result<OutOfFold, String> {
    let rows = ws
        .store
        .predictions(run, &ModelName::Audit)
        .map_err(|e| crate::errors::one_line(&e))?;
    let folds = ws
        .store
        .metric(run, &ModelName::Audit, SplitKey::Train, "folds")
        .map_err(|e| crate::errors::one_line(&e))?
        .ok_or("it recorded no fold count for its audit")? as usize;
    let d = &data.dataset;
    let position: std::collections::HashMap<_, usize> = d
        .tracks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id, i))
        .collect();
    let mut found: Vec<(usize, &Prediction)> = Vec::with_capacity(rows.len());
    for r in &rows {
        let i = *position.get(&r.track).ok_or_else(|| {
            format!(
                "its audit predicted track {}, which its dataset no longer has",
                r.track
            )
        })?;
        found.push((i, r));
    }
    found.sort_by_key(|&(i, _)| i);
    let k = d.genres.len();
    if let Some((_, r)) = found.iter().find(|(_, r)| r.probabilities.len() != k) {
        return Err(format!(
            "its audit's prediction of track {} has {} classes, its dataset {k}",
            r.track,
            r.probabilities.len()
        ));
    }
    let index: Vec<usize> = found.iter().map(|&(i, _)| i).collect();
    let labels: Vec<usize> = found.iter().map(|(_, r)| r.label).collect();
    let artists: Vec<u32> = index.iter().map(|&i| d.tracks[i].artist.0).collect();
    let fold = stages::oof::assign_folds(&artists, &labels, folds, spec.training_seed());
    Ok(OutOfFold {
        probs: found
            .iter()
            .flat_map(|(_, r)| r.probabilities.iter().map(|&p| f64::from(p)))
            .collect(),
        index,
        labels,
        fold,
        folds,
        validation_loss: Vec::new(),
        cached: true,
    })
}

/// Confident learning over the out-of-fold probabilities, with albums and, where the
/// world is generated, the truth.
fn audit_oof(
    data: &LoadedData,
    oof: &OutOfFold,
    filter_by: FilterBy,
    rank_by: QualityScore,
) -> Result<Report, String> {
    let d = &data.dataset;
    let classes: Vec<String> = d.genres.iter().map(|g| g.title.clone()).collect();
    let predictions = Predictions {
        classes,
        tracks: oof
            .index
            .iter()
            .map(|&i| d.tracks[i].id.0.to_string())
            .collect(),
        labels: oof.labels.clone(),
        probs: oof.probs.clone(),
        albums: Some(
            oof.index
                .iter()
                .map(|&i| d.tracks[i].album.0.to_string())
                .collect(),
        ),
        artists: Some(
            oof.index
                .iter()
                .map(|&i| d.tracks[i].artist.0.to_string())
                .collect(),
        ),
        splits: None,
        true_labels: data
            .truth
            .as_ref()
            .map(|t| oof.index.iter().map(|&i| t.true_genre[i]).collect()),
    };
    file::audit(predictions, filter_by, rank_by).map_err(|e| e.to_string())
}

/// `oof.csv`, `issues.csv` and `albums.csv` in `dir`.
fn write(report: &Report, oof: &OutOfFold, dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut written = file::write(report, dir).map_err(|e| crate::errors::one_line(&e))?;
    let p = &report.predictions;
    let classes = &p.classes;
    let k = classes.len();
    let mut text = String::from("track_id,fold,album,artist,label");
    if p.true_labels.is_some() {
        text.push_str(",true_label");
    }
    for c in classes {
        let _ = write!(text, ",p_{c}");
    }
    text.push('\n');
    for (r, &f) in oof.fold.iter().enumerate() {
        let _ = write!(
            text,
            "{},{f},{},{},{}",
            p.tracks[r],
            p.albums.as_ref().map_or("", |a| a[r].as_str()),
            p.artists.as_ref().map_or("", |a| a[r].as_str()),
            classes[p.labels[r]]
        );
        if let Some(t) = &p.true_labels {
            let _ = write!(text, ",{}", classes[t[r]]);
        }
        for v in &p.probs[r * k..(r + 1) * k] {
            let _ = write!(text, ",{v}");
        }
        text.push('\n');
    }
    let path = dir.join("oof.csv");
    crate::fsutil::write_atomic(&path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    written.push(path);
    Ok(written)
}

/// `[audit]` within a run: the audit after the baseline, its numbers recorded under model
/// `audit`, its files in the run's `audit/` folder, and with `retrain` the baseline trained
/// again on the cleaned labels (`logreg.cleaned`) and, on generated worlds, on the true
/// labels (`logreg.true`), each scored like the baseline.
#[allow(clippy::too_many_arguments)]
pub(super) fn within_run(
    spec: &Resolved,
    data: &LoadedData,
    table: &TrackTable,
    nets: Option<&TrainedNets>,
    a: &AuditSpec,
    cache: &StageCache,
    dir: &Path,
    rec: &mut dyn Recorder,
) -> Result<(), PipelineError> {
    let failed = |reason: String| StageError::Audit { reason };
    let oof = match (a.model, nets) {
        (AuditModel::Baseline, _) => {
            stages::oof::baseline(spec, data, table, a.folds, Some(cache))?
        }
        (m, Some(nets)) => stages::oof::nets(nets, m, a.folds, dir)?,
        (m, None) => {
            return Err(failed(format!("the {} needs the run's nets", m.describe())).into());
        }
    };
    tracing::info!(
        "audit: out-of-fold probabilities of the {} over {} folds{}",
        a.model.describe(),
        oof.folds,
        if oof.cached {
            " (from the stage cache)"
        } else {
            ""
        }
    );
    let report =
        audit_oof(data, &oof, a.filter_by, QualityScore::SelfConfidence).map_err(failed)?;
    write(&report, &oof, &dir.join("audit")).map_err(failed)?;
    // Every training track's out-of-fold probabilities, stored as a model's predictions are.
    let k = report.predictions.classes.len();
    let rows: Vec<Prediction> = oof
        .index
        .iter()
        .enumerate()
        .map(|(r, &i)| Prediction {
            track: data.dataset.tracks[i].id,
            split: SplitKey::Train,
            label: oof.labels[r],
            true_label: data.truth.as_ref().map(|t| t.true_genre[i]),
            probabilities: oof.probs[r * k..(r + 1) * k]
                .iter()
                .map(|&p| p as f32)
                .collect(),
        })
        .collect();
    rec.predictions(&ModelName::Audit, &rows)
        .map_err(StageError::from)?;
    let flagged: Vec<usize> = (0..oof.index.len())
        .filter(|&k| report.audit.issues[k])
        .map(|k| oof.index[k])
        .collect();
    let mut values: Vec<(&str, f64)> = vec![
        ("tracks", oof.index.len() as f64),
        ("folds", oof.folds as f64),
        ("flagged", flagged.len() as f64),
        ("num_label_issues", report.audit.num_label_issues as f64),
        ("health_score", report.health.score),
        ("cache_hit", f64::from(u8::from(oof.cached))),
    ];
    let fold_losses: Vec<(String, f64)> = oof
        .validation_loss
        .iter()
        .enumerate()
        .map(|(f, &v)| (format!("fold{f}.best_validation_loss"), v))
        .collect();
    values.extend(fold_losses.iter().map(|(n, v)| (n.as_str(), *v)));
    if let Some(t) = &report.truth {
        values.push(("wrong_labels", t.tracks.wrong as f64));
        values.extend(t.tracks.precision.map(|v| ("track_precision", v)));
        values.extend(t.tracks.recall.map(|v| ("track_recall", v)));
        if let Some(al) = &t.albums {
            values.push(("wrong_albums", al.wrong as f64));
            values.push(("flagged_albums", al.flagged as f64));
            values.extend(al.precision.map(|v| ("album_precision", v)));
            values.extend(al.recall.map(|v| ("album_recall", v)));
        }
    }
    // The estimated and, where known, the true noise matrix, `[given][true]`, one row each.
    let mut cells: Vec<(String, f64)> = Vec::new();
    for (prefix, m) in std::iter::once((metric::AUDIT_NOISE, &report.audit.latent.noise_matrix))
        .chain(
            report
                .truth
                .as_ref()
                .map(|t| (metric::AUDIT_TRUE_NOISE, &t.noise_matrix)),
        )
    {
        for (i, row) in m.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                cells.push((format!("{prefix}.{i}.{j}"), *v));
            }
        }
    }
    values.extend(cells.iter().map(|(n, v)| (n.as_str(), *v)));
    rec.metrics(&ModelName::Audit, SplitKey::Train, &values)
        .map_err(StageError::from)?;
    rec.facts(&[(metric::AUDIT_MODEL_FACT, a.model.as_str().to_string())])
        .map_err(StageError::from)?;
    // The albums likeliest mislabelled, for the report.
    if let Some(albums) = &report.albums {
        let classes = &report.predictions.classes;
        let top: Vec<serde_json::Value> = albums
            .iter()
            .take(AUDIT_ALBUMS)
            .map(|a| {
                serde_json::json!({
                    "album": a.album, "tracks": a.tracks, "flagged": a.flagged,
                    "self_confidence": a.mean_self_confidence,
                    "label": classes[a.label], "believed": classes[a.believed],
                    "believed_probability": a.believed_probability,
                })
            })
            .collect();
        rec.facts(&[(
            metric::AUDIT_ALBUMS_FACT,
            serde_json::Value::from(top).to_string(),
        )])
        .map_err(StageError::from)?;
    }
    tracing::info!(
        "audit: {} of {} training labels flagged (num_label_issues {})",
        flagged.len(),
        oof.index.len(),
        report.audit.num_label_issues
    );
    if a.retrain == Retrain::None {
        return Ok(());
    }
    let cleaned = ModelName::BaselineOn("cleaned".into());
    match a.retrain {
        Retrain::Drop => {
            let labels = &data.noisy.labels;
            stages::baseline::retrain(spec, data, table, cleaned, labels, labels, &flagged, rec)?;
        }
        Retrain::Relabel => {
            let k = report.predictions.classes.len();
            let mut labels = data.noisy.labels.clone();
            for (r, &i) in oof.index.iter().enumerate() {
                if report.audit.issues[r] {
                    let row = &oof.probs[r * k..(r + 1) * k];
                    labels[i] = confident::argmax(row);
                }
            }
            let validation = &data.noisy.labels;
            stages::baseline::retrain(spec, data, table, cleaned, &labels, validation, &[], rec)?;
        }
        Retrain::None => {}
    }
    if let Some(t) = &data.truth {
        let truth = ModelName::BaselineOn("true".into());
        // Trained and early-stopped on the true genres: what clean labels everywhere buy.
        let labels = &t.true_genre;
        stages::baseline::retrain(spec, data, table, truth, labels, labels, &[], rec)?;
    }
    Ok(())
}
