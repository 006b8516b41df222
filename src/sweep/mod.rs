//! Sweeps: a spec's `[sweep]` expanded into cells (each a complete, validated spec), planned
//! so that cells whose stages others share run first, recorded in the store as a queue, and
//! run by workers that claim cells under leases (a killed worker's cell goes back to the
//! queue and resumes from its checkpoints; a failing cell is retried, then left failed).
//!
//! [`plan`] counts the distinct computations and orders the cells, [`worker`] claims and runs
//! them, [`launch`] starts local worker processes and shows the sweep's progress. Every
//! stage a cell shares with another is computed once: the stage cache serves the others,
//! and its locks make them wait for it rather than compute it again.

pub mod bundle;
pub mod launch;
pub mod plan;
pub mod slurm;
pub mod worker;

use crate::spec::sweep::{describe, Pair, SweepFile};
use crate::spec::{locate_key, Problem, Resolved, SpecError};
use crate::stages;
use crate::store::StoreError;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{} is not a valid sweep:{}", path.display(), render(path, problems))]
    Cells {
        path: std::path::PathBuf,
        problems: Vec<Problem>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no sweep named {name:?} in the store; `agf sweeps` lists them")]
    NoSuchSweep { name: String },
    #[error("cannot start a worker process")]
    Spawn(#[source] std::io::Error),
    #[error("{0} declares a [sweep]: `agf sweep run` runs its cells")]
    DeclaresSweep(std::path::PathBuf),
    #[error("`{given}`: a comma list makes a sweep: use `agf sweep run`")]
    CommaList { given: String },
    #[error("{}", overrides.iter().map(|(g, m)| format!("`{g}`: {m}")).collect::<Vec<_>>().join("\n"))]
    Override { overrides: Vec<(String, String)> },
    #[error("{0}")]
    Slurm(String),
    #[error("cell {number} failed: {reason}")]
    Cell { number: i64, reason: String },
}

fn render(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| match (p.line, p.column) {
            (Some(l), Some(c)) => {
                format!("\n  {}:{l}:{c}: {}: {}", path.display(), p.key, p.message)
            }
            _ => format!("\n  {}: {}: {}", path.display(), p.key, p.message),
        })
        .collect()
}

/// One cell of a sweep, its spec resolved.
#[derive(Debug, Clone)]
pub struct PlannedCell {
    /// Its axis values, the seed included.
    pub pairs: Vec<Pair>,
    pub seed: Option<u64>,
    pub spec: Resolved,
}

impl PlannedCell {
    /// The axis values without the seed.
    pub fn arm(&self) -> Vec<Pair> {
        self.pairs
            .iter()
            .filter(|(k, _)| k != "seed")
            .cloned()
            .collect()
    }
}

/// A sweep read from its spec file: its name, cells and baseline.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub name: String,
    pub file: SweepFile,
    pub cells: Vec<PlannedCell>,
    pub baseline: Vec<Pair>,
}

/// Pairs as a JSON object (how the store keeps arms and baselines).
pub fn pairs_json(pairs: &[Pair]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| {
            let json = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
            (k.clone(), json)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

impl Sweep {
    /// Read a sweep: expand its cells with the command line's `overrides` (`key=value`, or
    /// `key=a,b` for an axis) and validate every one before anything runs.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Sweep, SweepError> {
        let mut file = SweepFile::read(path)?;
        let mut fixed = Vec::new();
        let mut problems = Vec::new();
        let mut bad_overrides = Vec::new();
        let mut assigned = Vec::new();
        for given in overrides {
            match crate::spec::overrides::assignment(given) {
                Ok((key, values)) => assigned.push((given, key, values)),
                Err(e) => bad_overrides.push((given.clone(), e.to_string())),
            }
        }
        // A value of the wrong kind or an unknown key in the base spec is located in the
        // file as written (cells are parsed from text made from tables, without its lines).
        if let Err(e @ SpecError::Parse { .. }) = stages::parse_spec(&file.base_text, path) {
            return Err(e.into());
        }
        // Each override tried alone on the base spec: what it breaks is its own fault, and
        // is said of the override as typed, not of the file.
        for (given, key, values) in &assigned {
            if let Some(message) = values
                .iter()
                .find_map(|v| override_problem(&file, key, v.clone(), path))
            {
                bad_overrides.push(((*given).clone(), message));
            }
        }
        if !bad_overrides.is_empty() {
            return Err(SweepError::Override {
                overrides: bad_overrides,
            });
        }
        for (_, key, values) in assigned {
            if values.len() == 1 {
                fixed.push((key, values.into_iter().next().expect("one value")));
            } else {
                file.sweep.add_axis(&key, values);
            }
        }
        let drafts = file.cells(&fixed).map_err(|e| SweepError::Cells {
            path: path.to_path_buf(),
            problems: vec![Problem::new("sweep", e.to_string())],
        })?;
        let mut cells = Vec::new();
        for (n, draft) in drafts.iter().enumerate() {
            let label = Path::new(&format!("{} (cell {})", path.display(), n + 1)).to_path_buf();
            // A plain spec is parsed as written, so every problem has its line.
            let (text, label) = match draft.pairs.is_empty() && fixed.is_empty() {
                true => (file.base_text.as_str(), path.to_path_buf()),
                false => (draft.text.as_str(), label),
            };
            match stages::parse_spec(text, &label) {
                Ok(spec) => cells.push(PlannedCell {
                    pairs: draft.pairs.clone(),
                    seed: draft.seed,
                    spec,
                }),
                Err(e) if !file.declares_sweep && fixed.is_empty() => return Err(e.into()),
                Err(e) => problems.extend(cell_problems(&file, &draft.pairs, e)),
            }
        }
        if !problems.is_empty() {
            problems.sort_by(|a, b| (a.line, &a.message).cmp(&(b.line, &b.message)));
            problems.dedup_by(|a, b| a.line == b.line && a.message == b.message);
            return Err(SweepError::Cells {
                path: path.to_path_buf(),
                problems,
            });
        }
        let name = file
            .sweep
            .name
            .clone()
            .unwrap_or_else(|| cells[0].spec.name.clone());
        let baseline = file.sweep.baseline.clone();
        if !baseline.is_empty()
            && !cells.iter().any(|c| {
                baseline
                    .iter()
                    .all(|(k, v)| c.pairs.iter().any(|(ck, cv)| ck == k && cv == v))
            })
        {
            let at = file.locate_axis("sweep.baseline");
            return Err(SweepError::Cells {
                path: path.to_path_buf(),
                problems: vec![Problem {
                    key: "sweep.baseline".into(),
                    line: at.map(|a| a.0),
                    column: at.map(|a| a.1),
                    message: format!("{} matches no arm of the sweep", describe(&baseline)),
                }],
            });
        }
        Ok(Sweep {
            name,
            file,
            cells,
            baseline,
        })
    }
}

/// What `key = value` alone does to the base spec, as a sentence about the override (`None`
/// when the spec it makes is valid).
fn override_problem(
    file: &SweepFile,
    key: &str,
    value: toml::Value,
    path: &Path,
) -> Option<String> {
    let mut table = file.base.clone();
    if let Err(e) = crate::spec::overrides::set(&mut table, key, value) {
        let text = e.to_string();
        let own = format!("`{key}`: ");
        return Some(text.strip_prefix(&own).unwrap_or(&text).to_string());
    }
    let text = toml::to_string(&table).ok()?;
    match stages::parse_spec(&text, path) {
        Ok(_) => None,
        Err(SpecError::Parse { message, .. }) => Some(explain_parse(key, &message)),
        Err(SpecError::Invalid { problems, .. }) => Some(
            problems
                .iter()
                .map(|p| {
                    if p.key == key {
                        p.message.clone()
                    } else {
                        format!("{}: {}", p.key, p.message)
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(e) => Some(e.to_string()),
    }
}

/// serde's "unknown field `epochz`, expected one of `a`, `b`" as "unknown key `epochz` in
/// [cnn]; did you mean `epochs`?"; other messages as they are.
fn explain_parse(key: &str, message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let segments: Vec<&str> = key.split('.').collect();
    let section = match segments.iter().rposition(|s| *s == field) {
        Some(0) => " at the spec's top level".to_string(),
        Some(i) => format!(" in [{}]", segments[..i].join(".")),
        None => String::new(),
    };
    let known: Vec<&str> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|k| !k.is_empty())
        .collect();
    let nearest = known
        .iter()
        .map(|k| (edit_distance(field, k), *k))
        .min()
        .filter(|(d, k)| *d <= 2.max(k.len() / 3));
    match nearest {
        Some((_, k)) => format!("unknown key `{field}`{section}; did you mean `{k}`?"),
        None if known.is_empty() => format!("unknown key `{field}`{section}"),
        None => format!(
            "unknown key `{field}`{section}; known keys: {}",
            known.join(", ")
        ),
    }
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A cell's spec problems, located where a user can fix them: at the axis that set the key,
/// else where the base spec writes it.
fn cell_problems(file: &SweepFile, pairs: &[Pair], e: SpecError) -> Vec<Problem> {
    // The arm, not the seed: a problem of an arm is one problem, whatever the seeds.
    let arm: Vec<Pair> = pairs.iter().filter(|(k, _)| k != "seed").cloned().collect();
    let cell = if arm.is_empty() {
        String::new()
    } else {
        format!(" (arm {})", describe(&arm))
    };
    let names: Vec<String> = file
        .base
        .get("factors")
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .map(|t| {
                    t.get("name")
                        .and_then(|n| n.as_str())
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    // `factors[1].topics` as an axis writes it: `factors.<name>.topics`.
    let dotted = |key: &str| -> String {
        match key.strip_prefix("factors[").and_then(|r| r.split_once(']')) {
            Some((i, rest)) => match i.parse::<usize>().ok().and_then(|i| names.get(i)) {
                Some(name) => format!("factors.{name}{rest}"),
                None => key.to_string(),
            },
            None => key.to_string(),
        }
    };
    let locate = |key: &str| -> (Option<(usize, usize)>, String) {
        let d = dotted(key);
        match pairs
            .iter()
            .find(|(k, _)| d == *k || d.starts_with(&format!("{k}.")))
        {
            Some((k, v)) => (
                file.locate_axis(&format!("sweep.grid.{k}")),
                format!("sweep axis {}", describe(&[(k.clone(), v.clone())])),
            ),
            None => (locate_key(&file.base_text, key), key.to_string()),
        }
    };
    match e {
        SpecError::Invalid { problems, .. } => problems
            .into_iter()
            .map(|p| {
                let (at, key) = locate(&p.key);
                Problem {
                    line: at.map(|a| a.0),
                    column: at.map(|a| a.1),
                    message: if key == p.key {
                        format!("{}{cell}", p.message)
                    } else {
                        format!("{}: {}", dotted(&p.key), p.message)
                    },
                    key,
                }
            })
            .collect(),
        other => {
            // A value of the wrong kind: name the cell's axes, since the line is in the text
            // made from them.
            let first = pairs.first().map(|(k, _)| k.clone()).unwrap_or_default();
            let at = file.locate_axis(&format!("sweep.grid.{first}"));
            vec![Problem {
                key: format!("sweep{cell}"),
                line: at.map(|a| a.0),
                column: at.map(|a| a.1),
                message: match other {
                    SpecError::Parse { message, .. } => message,
                    e => e.to_string(),
                },
            }]
        }
    }
}
