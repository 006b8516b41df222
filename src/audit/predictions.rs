//! Probabilities from any model, read from a CSV file so that users can audit their own
//! models: a `track_id` column, a `label` column (a class name, or a class index as
//! `agf run`'s prediction files write it), then one column per class (a `p_` prefix on every
//! class column is dropped). Optional columns: `split`, `album` (or `album_id`), `artist`
//! (or `artist_id`) and `true_label` (where the truth is known, as on generated worlds);
//! with albums the audit also ranks albums, with true labels it is scored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// How far a row's probabilities may sum from 1 (files written to 4 decimals over 16 classes
/// stay well inside).
pub const ROW_SUM_TOLERANCE: f64 = 1e-3;

#[derive(Debug, Error)]
pub enum PredictionsError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {source}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        #[source]
        source: csv::Error,
    },
    #[error("{}: no `{column}` column; expected `track_id`, `label`, then one column per class", path.display())]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error("{}: {found} class column(s) ({names}); at least two are needed", path.display())]
    Classes {
        path: PathBuf,
        found: usize,
        names: String,
    },
    #[error("{}:{line}: column `{column}`: `{value}` is not {expected}", path.display())]
    Value {
        path: PathBuf,
        line: u64,
        column: String,
        value: String,
        expected: &'static str,
    },
    #[error("{}:{line}: label `{label}` is not a class of the header ({classes})", path.display())]
    UnknownLabel {
        path: PathBuf,
        line: u64,
        label: String,
        classes: String,
    },
    #[error("{}:{line}: the probabilities sum to {sum}, expected 1 (within {ROW_SUM_TOLERANCE})", path.display())]
    RowSum { path: PathBuf, line: u64, sum: f64 },
    #[error("{}:{line}: track {track} is listed twice (first on line {first})", path.display())]
    Duplicate {
        path: PathBuf,
        line: u64,
        track: String,
        first: u64,
    },
    #[error("{}: no rows", path.display())]
    Empty { path: PathBuf },
}

/// Every row of a predictions file, in file order.
#[derive(Debug, Clone)]
pub struct Predictions {
    pub classes: Vec<String>,
    pub tracks: Vec<String>,
    pub labels: Vec<usize>,
    /// Row-major, `tracks.len() × classes.len()`.
    pub probs: Vec<f64>,
    pub albums: Option<Vec<String>>,
    pub artists: Option<Vec<String>>,
    pub splits: Option<Vec<String>>,
    pub true_labels: Option<Vec<usize>>,
}

const OPTIONAL: [&str; 6] = [
    "split",
    "album",
    "album_id",
    "artist",
    "artist_id",
    "true_label",
];

pub fn read(path: &Path) -> Result<Predictions, PredictionsError> {
    let file = std::fs::File::open(path).map_err(|source| PredictionsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let csv_error = |source: csv::Error| PredictionsError::Csv {
        path: path.to_path_buf(),
        line: source.position().map(|p| p.line()).unwrap_or(1),
        source,
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(str::to_string)
        .collect();
    let find = |name: &'static str| header.iter().position(|h| h == name);
    let missing = |column| PredictionsError::MissingColumn {
        path: path.to_path_buf(),
        column,
    };
    let track_col = find("track_id").ok_or_else(|| missing("track_id"))?;
    let label_col = find("label").ok_or_else(|| missing("label"))?;
    let either = |a, b| find(a).or_else(|| find(b));
    let album_col = either("album", "album_id");
    let artist_col = either("artist", "artist_id");
    let split_col = find("split");
    let truth_col = find("true_label");
    let class_cols: Vec<usize> = (0..header.len())
        .filter(|&i| i != track_col && i != label_col && !OPTIONAL.contains(&header[i].as_str()))
        .collect();
    let prefixed = class_cols.iter().all(|&i| header[i].starts_with("p_"));
    let classes: Vec<String> = class_cols
        .iter()
        .map(|&i| {
            if prefixed {
                header[i][2..].to_string()
            } else {
                header[i].clone()
            }
        })
        .collect();
    if classes.len() < 2 {
        return Err(PredictionsError::Classes {
            path: path.to_path_buf(),
            found: classes.len(),
            names: classes.join(", "),
        });
    }
    let by_name: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();

    let mut out = Predictions {
        classes: classes.clone(),
        tracks: Vec::new(),
        labels: Vec::new(),
        probs: Vec::new(),
        albums: album_col.map(|_| Vec::new()),
        artists: artist_col.map(|_| Vec::new()),
        splits: split_col.map(|_| Vec::new()),
        true_labels: truth_col.map(|_| Vec::new()),
    };
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let field = |i: usize| record.get(i).unwrap_or("");
        let track = field(track_col).to_string();
        if let Some(&first) = seen.get(&track) {
            return Err(PredictionsError::Duplicate {
                path: path.to_path_buf(),
                line,
                track,
                first,
            });
        }
        seen.insert(track.clone(), line);
        let class_of = |raw: &str| match by_name.get(raw) {
            Some(&i) => Ok(i),
            None => match raw.parse::<usize>() {
                Ok(i) if i < classes.len() => Ok(i),
                _ => Err(PredictionsError::UnknownLabel {
                    path: path.to_path_buf(),
                    line,
                    label: raw.to_string(),
                    classes: classes.join(", "),
                }),
            },
        };
        let label = class_of(field(label_col))?;
        if let (Some(c), Some(list)) = (truth_col, out.true_labels.as_mut()) {
            list.push(class_of(field(c))?);
        }
        let mut sum = 0.0;
        for &c in &class_cols {
            let text = field(c);
            let p: f64 = text
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=1.0).contains(p))
                .ok_or_else(|| PredictionsError::Value {
                    path: path.to_path_buf(),
                    line,
                    column: header[c].clone(),
                    value: text.to_string(),
                    expected: "a probability in [0, 1]",
                })?;
            sum += p;
            out.probs.push(p);
        }
        if (sum - 1.0).abs() > ROW_SUM_TOLERANCE {
            return Err(PredictionsError::RowSum {
                path: path.to_path_buf(),
                line,
                sum,
            });
        }
        out.tracks.push(track);
        out.labels.push(label);
        for (col, list) in [
            (album_col, &mut out.albums),
            (artist_col, &mut out.artists),
            (split_col, &mut out.splits),
        ] {
            if let (Some(c), Some(list)) = (col, list.as_mut()) {
                list.push(field(c).to_string());
            }
        }
    }
    if out.tracks.is_empty() {
        return Err(PredictionsError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}
