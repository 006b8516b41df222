//! `agf audit RUN`: the run's training labels audited with confident learning on
//! out-of-fold probabilities of its baseline ([`crate::stages::oof`]), albums ranked, and on
//! generated worlds the audit scored against the truth. Files go to the run's `audit/`
//! folder: the out-of-fold probabilities, the ranked issues and albums.

use super::{PipelineError, Workspace};
use crate::audit::confident::{FilterBy, QualityScore};
use crate::audit::file::{self, Report};
use crate::audit::predictions::Predictions;
use crate::features::FeatureExtractor;
use crate::record::RunId;
use crate::spec::DataSource;
use crate::stages;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy)]
pub struct AuditOptions {
    pub folds: usize,
    pub filter_by: FilterBy,
    pub rank_by: QualityScore,
}

pub struct RunAudit {
    pub report: Report,
    pub folds: usize,
    pub written: Vec<PathBuf>,
}

pub fn audit_run(ws: Workspace, run: RunId, o: AuditOptions) -> Result<RunAudit, PipelineError> {
    let stored = ws.store.run(run)?;
    let spec = stages::parse_spec(
        &stored.spec_toml,
        std::path::Path::new(&format!("<run {run} spec>")),
    )
    .map_err(|e| PipelineError::Audit {
        run,
        reason: format!("its stored spec no longer parses: {e}"),
    })?;
    let data = stages::data::load(&spec)?;
    let csv_baseline = spec.dataset.source == DataSource::Fma
        && spec.dataset.fma.as_ref().is_some_and(|f| f.features_csv);
    let table = if csv_baseline {
        stages::data::fma_features(&spec, &data)?
    } else {
        let extractor = FeatureExtractor::new(&spec.frontend, &spec.descriptors);
        stages::features::run(&data.dataset, &data.loader, &extractor, Some(ws.cache))
            .table(spec.model.features)
    };
    let oof = stages::oof::baseline(&spec, &data, &table, o.folds)?;
    let d = &data.dataset;
    let classes: Vec<String> = d.genres.iter().map(|g| g.title.clone()).collect();
    let k = classes.len();
    let predictions = Predictions {
        classes: classes.clone(),
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
    let report =
        file::audit(predictions, o.filter_by, o.rank_by).map_err(|e| PipelineError::Audit {
            run,
            reason: e.to_string(),
        })?;
    let dir = ws.folders.dir(run).join("audit");
    let mut written = file::write(&report, &dir).map_err(|e| PipelineError::Audit {
        run,
        reason: crate::errors::one_line(&e),
    })?;
    let p = &report.predictions;
    let mut text = String::from("track_id,fold,album,artist,label");
    if p.true_labels.is_some() {
        text.push_str(",true_label");
    }
    for c in &classes {
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
    crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|e| PipelineError::Audit {
        run,
        reason: format!("cannot write {}: {e}", path.display()),
    })?;
    written.push(path);
    Ok(RunAudit {
        report,
        folds: oof.folds,
        written,
    })
}
