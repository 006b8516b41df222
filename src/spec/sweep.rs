//! `[sweep]`: an ablation as axes over a base spec, expanded into cells.
//!
//! ```toml
//! [sweep]
//! name = "topics"                      # the spec's name when omitted
//! seeds = [1, 2, 3]                    # the same seeds for every arm, so runs pair
//! baseline = { "factors.mfcc.topics" = 12 }
//! min_pairs = 5                        # paired seeds before a difference is called
//! [sweep.grid]                         # every combination
//! "factors.mfcc.topics" = [6, 12, 24]
//! "split.strategy" = ["artist", "random"]
//! [[sweep.zip]]                        # lists walked together: one axis
//! "cnn.epochs" = [5, 10]
//! "transfer.epochs" = [5, 10]
//! [[sweep.exclude]]                    # cells matching every pair go
//! "split.strategy" = "random"
//! "factors.mfcc.topics" = 24
//! [[sweep.include]]                    # added to matching cells, or a cell of its own
//! "factors.mfcc.topics" = 48
//! ```
//!
//! Keys are dotted paths into the spec ([`super::overrides`]). `exclude` and `include`
//! follow GitHub Actions' matrices: excludes remove every cell that matches all of an
//! entry's pairs; then an include whose axis keys match existing cells adds its other pairs
//! to them, and one that matches none becomes a cell of its own (an arm, crossed with the
//! seeds). An arm is a cell without its seed; a spec without `[sweep]` is a sweep of one.

use super::locate::line_column;
use super::overrides::{self, OverrideError};
use super::{Problem, SpecError};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// One axis value, or one fixed override: a dotted key and its value.
pub type Pair = (String, Value);

/// A parsed `[sweep]` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SweepSpec {
    pub name: Option<String>,
    pub seeds: Vec<u64>,
    /// Key → values, in key order.
    pub grid: Vec<(String, Vec<Value>)>,
    /// Groups of keys whose lists are walked together.
    pub zip: Vec<Vec<(String, Vec<Value>)>>,
    pub exclude: Vec<Vec<Pair>>,
    pub include: Vec<Vec<Pair>>,
    /// The pairs that pick out the arm the others are compared with.
    pub baseline: Vec<Pair>,
    /// Paired seeds below which the comparison report calls no difference (its default
    /// when `None`).
    pub min_pairs: Option<usize>,
}

/// A spec file read for a sweep: its `[sweep]` (if any) and the rest.
#[derive(Debug, Clone)]
pub struct SweepFile {
    pub path: PathBuf,
    pub text: String,
    /// The text with the `[sweep]` sections blanked out, line for line, so that problems of
    /// the base spec are located in the file as written.
    pub base_text: String,
    /// The base spec as a table, ready for overrides.
    pub base: Table,
    pub sweep: SweepSpec,
    /// Whether the file has a `[sweep]` section.
    pub declares_sweep: bool,
}

/// One cell before parsing: its pairs (axis values, in axis order) and its spec text.
#[derive(Debug, Clone, PartialEq)]
pub struct CellDraft {
    pub pairs: Vec<Pair>,
    pub seed: Option<u64>,
    pub text: String,
}

impl CellDraft {
    /// The pairs without the seed: the cell's arm.
    pub fn arm(&self) -> Vec<Pair> {
        self.pairs
            .iter()
            .filter(|(k, _)| k != "seed")
            .cloned()
            .collect()
    }
}

/// Pairs as one line (`factors.mfcc.topics=12 split.strategy=artist`).
pub fn describe(pairs: &[Pair]) -> String {
    pairs
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl SweepFile {
    /// Read a spec file and its `[sweep]`, if any.
    pub fn read(path: &Path) -> Result<SweepFile, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<SweepFile, SpecError> {
        let mut table: Table = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((1, 1));
            SpecError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
                snippet: super::locate::snippet(text, line, column),
            }
        })?;
        let raw = table.remove("sweep");
        let declares_sweep = raw.is_some();
        let sweep = match raw {
            None => SweepSpec::default(),
            Some(v) => SweepSpec::from_value(v).map_err(|problems| {
                let problems = problems
                    .into_iter()
                    .map(|mut p| {
                        let at = locate_sweep_key(text, &p.key);
                        p.line = at.map(|a| a.0);
                        p.column = at.map(|a| a.1);
                        p
                    })
                    .collect();
                SpecError::Invalid {
                    path: path.to_path_buf(),
                    problems,
                }
            })?,
        };
        Ok(SweepFile {
            path: path.to_path_buf(),
            base_text: blank_sweep_sections(text),
            text: text.to_string(),
            base: table,
            sweep,
            declares_sweep,
        })
    }

    /// Where an axis key of `[sweep]` is written, for messages about it.
    pub fn locate_axis(&self, key: &str) -> Option<(usize, usize)> {
        locate_sweep_key(&self.text, key)
    }

    /// Every cell, each the base spec with its pairs (and `fixed`, the command line's single
    /// values, under them) applied, in axis order.
    pub fn cells(&self, fixed: &[Pair]) -> Result<Vec<CellDraft>, OverrideError> {
        let s = &self.sweep;
        // Each axis is a list of assignments; zip groups walk their lists together.
        let mut axes: Vec<Vec<Vec<Pair>>> = s
            .grid
            .iter()
            .map(|(k, vs)| vs.iter().map(|v| vec![(k.clone(), v.clone())]).collect())
            .collect();
        for group in &s.zip {
            let n = group.first().map_or(0, |(_, vs)| vs.len());
            axes.push(
                (0..n)
                    .map(|i| {
                        group
                            .iter()
                            .map(|(k, vs)| (k.clone(), vs[i].clone()))
                            .collect()
                    })
                    .collect(),
            );
        }
        let mut arms: Vec<Vec<Pair>> = vec![Vec::new()];
        for axis in &axes {
            arms = arms
                .iter()
                .flat_map(|a| {
                    axis.iter().map(move |v| {
                        let mut a = a.clone();
                        a.extend(v.iter().cloned());
                        a
                    })
                })
                .collect();
        }
        let matches = |arm: &[Pair], pairs: &[Pair]| {
            pairs
                .iter()
                .all(|(k, v)| arm.iter().any(|(ak, av)| ak == k && av == v))
        };
        arms.retain(|a| !s.exclude.iter().any(|e| matches(a, e)));
        let axis_keys: Vec<&str> = axes
            .iter()
            .flat_map(|a| a.first().into_iter().flatten().map(|(k, _)| k.as_str()))
            .collect();
        for inc in &s.include {
            let (on_axes, extra): (Vec<Pair>, Vec<Pair>) = inc
                .iter()
                .cloned()
                .partition(|(k, _)| axis_keys.contains(&k.as_str()));
            let mut matched = false;
            if !arms.is_empty() && arms.iter().any(|a| !a.is_empty()) {
                for a in arms.iter_mut().filter(|a| matches(a, &on_axes)) {
                    matched = true;
                    for (k, v) in &extra {
                        if !a.iter().any(|(ak, _)| ak == k) {
                            a.push((k.clone(), v.clone()));
                        }
                    }
                }
            }
            if !matched {
                arms.push(inc.clone());
            }
        }
        if arms.len() > 1 {
            arms.retain(|a| !a.is_empty());
        }
        let seeds: Vec<Option<u64>> = if s.seeds.is_empty() {
            vec![None]
        } else {
            s.seeds.iter().map(|s| Some(*s)).collect()
        };
        let mut out = Vec::new();
        for arm in &arms {
            for seed in &seeds {
                let mut pairs = arm.clone();
                if let Some(seed) = seed {
                    pairs.push(("seed".into(), Value::Integer(*seed as i64)));
                }
                let mut table = self.base.clone();
                for (k, v) in fixed.iter().chain(&pairs) {
                    overrides::set(&mut table, k, v.clone())?;
                }
                out.push(CellDraft {
                    text: toml::to_string(&table).expect("a TOML table serialises"),
                    seed: *seed,
                    pairs,
                });
            }
        }
        Ok(out)
    }
}

impl SweepSpec {
    fn from_value(v: Value) -> Result<SweepSpec, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut bad = |key: &str, message: String| problems.push(Problem::new(key, message));
        let Value::Table(t) = v else {
            bad("sweep", "expected a table ([sweep])".into());
            return Err(problems);
        };
        let mut out = SweepSpec::default();
        let pairs = |v: &Value, key: &str, bad: &mut dyn FnMut(&str, String)| -> Vec<Pair> {
            match v.as_table() {
                Some(t) => t.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                None => {
                    bad(key, "expected a table of key = value pairs".into());
                    Vec::new()
                }
            }
        };
        let lists = |v: &Value, key: &str, bad: &mut dyn FnMut(&str, String)| {
            let mut out = Vec::new();
            match v.as_table() {
                None => bad(key, "expected a table of key = [values]".into()),
                Some(t) => {
                    for (k, v) in t {
                        match v.as_array() {
                            Some(a) if !a.is_empty() => out.push((k.clone(), a.clone())),
                            _ => bad(
                                &format!("{key}.{k}"),
                                "expected a non-empty array of values".into(),
                            ),
                        }
                    }
                }
            }
            out
        };
        for (k, v) in &t {
            let key = format!("sweep.{k}");
            match k.as_str() {
                "name" => match v.as_str() {
                    Some(n) if !n.trim().is_empty() => out.name = Some(n.to_string()),
                    _ => bad(&key, "expected a non-empty name".into()),
                },
                "seeds" => match v.as_array() {
                    Some(a) if !a.is_empty() => {
                        for s in a {
                            match s.as_integer().filter(|s| *s >= 0) {
                                Some(s) => out.seeds.push(s as u64),
                                None => bad(&key, format!("expected whole numbers ≥ 0, got {s}")),
                            }
                        }
                    }
                    _ => bad(&key, "expected a non-empty array of seeds".into()),
                },
                "grid" => out.grid = lists(v, &key, &mut bad),
                "zip" => match v.as_array() {
                    Some(groups) => {
                        for (i, g) in groups.iter().enumerate() {
                            let group = lists(g, &format!("{key}[{i}]"), &mut bad);
                            let lens: Vec<usize> = group.iter().map(|(_, v)| v.len()).collect();
                            if lens.windows(2).any(|w| w[0] != w[1]) {
                                bad(
                                    &format!("{key}[{i}]"),
                                    format!("lists walked together must be as long, got lengths {lens:?}"),
                                );
                            }
                            out.zip.push(group);
                        }
                    }
                    None => bad(&key, "expected [[sweep.zip]] tables".into()),
                },
                "include" | "exclude" => match v.as_array() {
                    Some(entries) => {
                        let parsed: Vec<Vec<Pair>> = entries
                            .iter()
                            .enumerate()
                            .map(|(i, e)| pairs(e, &format!("{key}[{i}]"), &mut bad))
                            .collect();
                        if k == "include" {
                            out.include = parsed;
                        } else {
                            out.exclude = parsed;
                        }
                    }
                    None => bad(&key, format!("expected [[sweep.{k}]] tables")),
                },
                "baseline" => out.baseline = pairs(v, &key, &mut bad),
                "min_pairs" => match v.as_integer().filter(|n| *n >= 2) {
                    Some(n) => out.min_pairs = Some(n as usize),
                    None => bad(
                        &key,
                        format!("expected a whole number of paired seeds ≥ 2, got {v}"),
                    ),
                },
                _ => bad(
                    &key,
                    "unknown key, expected one of `name`, `seeds`, `grid`, `zip`, `include`, \
                     `exclude`, `baseline`, `min_pairs`"
                        .into(),
                ),
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (k, _) in out.grid.iter().chain(out.zip.iter().flatten()) {
            if k == "seed" {
                bad(
                    &format!("sweep.grid.{k}"),
                    "the seed is an axis of its own: write `seeds = [...]` in [sweep]".into(),
                );
            }
            if !seen.insert(k.clone()) {
                bad(
                    &format!("sweep.grid.{k}"),
                    "the key is an axis twice".into(),
                );
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// Add the command line's axes (`key=a,b,c`): they replace a grid axis of the same key.
    pub fn add_axis(&mut self, key: &str, values: Vec<Value>) {
        if key == "seed" {
            self.seeds = values
                .iter()
                .filter_map(|v| v.as_integer())
                .map(|s| s as u64)
                .collect();
            return;
        }
        self.grid.retain(|(k, _)| k != key);
        self.zip
            .iter_mut()
            .for_each(|g| g.retain(|(k, _)| k != key));
        self.grid.push((key.to_string(), values));
    }
}

/// The text with every `[sweep…]` / `[[sweep…]]` section's lines emptied.
fn blank_sweep_sections(text: &str) -> String {
    let mut inside = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if let Some((name, _)) = super::locate::table_header(line) {
            inside = name == "sweep" || name.starts_with("sweep.");
        }
        if !inside {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Where `sweep.<…>.<key>` (or a key inside any sweep section) is written: the line of the
/// key inside the `[sweep…]` sections, else the first sweep header.
fn locate_sweep_key(text: &str, key: &str) -> Option<(usize, usize)> {
    let leaf = key
        .rsplit_once(['.', ']'])
        .map_or(key, |(_, l)| l)
        .trim_matches('"');
    let mut inside = false;
    let mut header = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some((name, _)) = super::locate::table_header(line) {
            inside = name == "sweep" || name.starts_with("sweep.");
            if inside && header.is_none() {
                header = Some((i + 1, 1));
            }
            continue;
        }
        if inside {
            if let Some((k, _)) = t.split_once('=') {
                let k = k.trim().trim_matches('"');
                if k == leaf || key.ends_with(&format!(".{k}")) || key == k {
                    return Some((i + 1, line.len() - t.len() + 1));
                }
            }
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"name = "s"
seed = 1
[dataset]
source = "synthetic"
[split]
strategy = "artist"
[model]
kind = "logreg"
[[factors]]
name = "mfcc"
features = "mfcc"

[sweep]
seeds = [1, 2]
baseline = { "factors.mfcc.topics" = 4 }
[sweep.grid]
"factors.mfcc.topics" = [4, 8]
"split.strategy" = ["artist", "random"]
[[sweep.exclude]]
"split.strategy" = "random"
"factors.mfcc.topics" = 8
[[sweep.include]]
"factors.mfcc.topics" = 16
"#;

    #[test]
    fn grid_exclude_include_and_seeds_expand_as_documented() {
        let f = SweepFile::parse(SPEC, Path::new("s.toml")).unwrap();
        assert!(f.declares_sweep);
        let cells = f.cells(&[]).unwrap();
        let arms: Vec<String> = cells
            .iter()
            .filter(|c| c.seed == Some(1))
            .map(|c| describe(&c.arm()))
            .collect();
        assert_eq!(
            arms,
            [
                "factors.mfcc.topics=4 split.strategy=artist",
                "factors.mfcc.topics=4 split.strategy=random",
                "factors.mfcc.topics=8 split.strategy=artist",
                "factors.mfcc.topics=16",
            ]
        );
        assert_eq!(cells.len(), 8, "every arm on every seed");
        assert!(cells[0].text.contains("topics = 4"), "{}", cells[0].text);
        assert!(!cells[0].text.contains("sweep"));
        // The base text keeps its line numbers, without the sweep.
        assert_eq!(f.base_text.lines().count(), SPEC.lines().count());
        assert!(!f.base_text.contains("seeds"));
        assert_eq!(f.locate_axis("sweep.grid.split.strategy"), Some((18, 1)));
    }

    #[test]
    fn zip_walks_lists_together_and_bad_sections_are_located() {
        let text = SPEC.replace(
            "[[sweep.exclude]]",
            "[[sweep.zip]]\n\"cnn.epochs\" = [1, 2]\n\"transfer.epochs\" = [3, 4]\n[[sweep.exclude]]",
        );
        let f = SweepFile::parse(&text, Path::new("s.toml")).unwrap();
        let cells = f.cells(&[]).unwrap();
        assert!(cells.iter().all(|c| {
            let e = |k: &str| c.pairs.iter().find(|(x, _)| x == k).map(|p| p.1.clone());
            match e("cnn.epochs") {
                Some(Value::Integer(1)) => e("transfer.epochs") == Some(Value::Integer(3)),
                Some(Value::Integer(2)) => e("transfer.epochs") == Some(Value::Integer(4)),
                _ => true,
            }
        }));
        let bad = SPEC.replace("seeds = [1, 2]", "seeds = [1, -2]\nsteps = 3");
        let err = SweepFile::parse(&bad, Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s.toml:14:1: sweep.seeds: expected whole numbers ≥ 0, got -2"),
            "{err}"
        );
        assert!(
            err.contains("s.toml:15:1: sweep.steps: unknown key"),
            "{err}"
        );
    }

    #[test]
    fn a_spec_without_a_sweep_is_one_cell() {
        let plain = SPEC.split("[sweep]").next().unwrap();
        let f = SweepFile::parse(plain, Path::new("p.toml")).unwrap();
        assert!(!f.declares_sweep);
        let cells = f.cells(&[("seed".into(), Value::Integer(5))]).unwrap();
        assert_eq!(cells.len(), 1);
        assert!(cells[0].text.contains("seed = 5"));
    }
}
