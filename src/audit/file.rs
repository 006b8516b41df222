//! `agf audit --predictions FILE`: a whole audit of probabilities from any model, and the
//! ranked issues written as CSV.

use super::albums::{self, AlbumIssue};
use super::confident::{self, Audit, AuditInputError, Examples, FilterBy, Health, QualityScore};
use super::predictions::{self, Predictions, PredictionsError};
use super::truth::{self, Truth};
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Predictions(#[from] PredictionsError),
    #[error("{}: {source}", path.display())]
    Input {
        path: std::path::PathBuf,
        #[source]
        source: AuditInputError,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Everything an audit found.
#[derive(Debug)]
pub struct Report {
    pub predictions: Predictions,
    pub audit: Audit,
    pub health: Health,
    pub rank_by: QualityScore,
    pub scores: Vec<f64>,
    /// Flagged tracks, worst first.
    pub ranked: Vec<usize>,
    pub albums: Option<Vec<AlbumIssue>>,
    pub truth: Option<Truth>,
}

pub fn audit_file(
    path: &Path,
    filter_by: FilterBy,
    rank_by: QualityScore,
) -> Result<Report, AuditError> {
    audit(predictions::read(path)?, filter_by, rank_by).map_err(|source| AuditError::Input {
        path: path.to_path_buf(),
        source,
    })
}

/// Audit probabilities with their labels (and albums and true labels, where known).
pub fn audit(
    p: Predictions,
    filter_by: FilterBy,
    rank_by: QualityScore,
) -> Result<Report, AuditInputError> {
    let ex = Examples::new(&p.labels, &p.probs, p.classes.len())?;
    let audit = confident::audit(&ex, filter_by);
    let health = confident::health(&ex, &audit);
    let scores = confident::quality_scores(&ex, rank_by);
    let ranked = confident::ranked(&audit.issues, &scores);
    let albums = p
        .albums
        .as_ref()
        .map(|a| albums::albums(a, &ex, &audit.issues));
    let truth = p.true_labels.as_ref().map(|t| {
        truth::score(
            &p.labels,
            t,
            p.classes.len(),
            &audit.issues,
            p.albums.as_deref().zip(albums.as_deref()),
        )
    });
    Ok(Report {
        predictions: p,
        audit,
        health,
        rank_by,
        scores,
        ranked,
        albums,
        truth,
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The flagged tracks, worst first, as CSV: rank, track, album, given label, the model's
/// argmax, the score, then every class's probability.
pub fn issues_csv(r: &Report) -> String {
    let p = &r.predictions;
    let k = p.classes.len();
    let mut out = String::from("rank,track_id,album,label,predicted,");
    out.push_str(r.rank_by.as_str());
    for c in &p.classes {
        let _ = write!(out, ",p_{}", csv_field(c));
    }
    out.push('\n');
    for (rank, &i) in r.ranked.iter().enumerate() {
        let row = &p.probs[i * k..(i + 1) * k];
        let predicted = confident::argmax(row);
        let album = p.albums.as_ref().map(|a| a[i].as_str()).unwrap_or("");
        let _ = write!(
            out,
            "{},{},{},{},{},{}",
            rank + 1,
            csv_field(&p.tracks[i]),
            csv_field(album),
            csv_field(&p.classes[p.labels[i]]),
            csv_field(&p.classes[predicted]),
            r.scores[i]
        );
        for v in row {
            let _ = write!(out, ",{v}");
        }
        out.push('\n');
    }
    out
}

/// The albums, likeliest mislabelled first, as CSV.
pub fn albums_csv(r: &Report) -> Option<String> {
    let classes = &r.predictions.classes;
    r.albums.as_ref().map(|albums| {
        let mut out = String::from(
            "rank,album,tracks,flagged,share_flagged,mean_self_confidence,label,believed,believed_probability\n",
        );
        for (rank, a) in albums.iter().enumerate() {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{}",
                rank + 1,
                csv_field(&a.album),
                a.tracks,
                a.flagged,
                a.share_flagged,
                a.mean_self_confidence,
                csv_field(&classes[a.label]),
                csv_field(&classes[a.believed]),
                a.believed_probability
            );
        }
        out
    })
}

/// Write `issues.csv` (and `albums.csv` when the file names albums) into `dir`.
pub fn write(r: &Report, dir: &Path) -> Result<Vec<std::path::PathBuf>, AuditError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AuditError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let mut written = Vec::new();
    let issues = dir.join("issues.csv");
    crate::fsutil::write_atomic(&issues, issues_csv(r).as_bytes()).map_err(err(&issues))?;
    written.push(issues);
    if let Some(text) = albums_csv(r) {
        let path = dir.join("albums.csv");
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(err(&path))?;
        written.push(path);
    }
    Ok(written)
}
