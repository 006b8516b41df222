//! The experiment spec: the TOML schema by section, parsing with file/line/column errors,
//! validation, and the canonical text whose hash identifies a run.
//!
//! Parsing is pure: this module reads text and returns values or errors, and knows nothing of
//! datasets, audio, models or the store. It does not know `nn`'s or `factors`' types either:
//! where a section's parameters belong to those modules (K-Means, LDA, the nets, the
//! baseline), the spec holds what the user wrote (`Option`s) and a [`Defaults`] from a later
//! layer fills the rest and judges what only it can. A spec is usable once it is
//! [`Resolved`]: every default written out, so that its canonical text shows every value a
//! run used and its hash changes when any of them does.
//!
//! Enums that only name a choice (a K-Means algorithm, an LDA method, a bag normalisation, a
//! device) are defined here and used as they are by the modules that act on them. What has
//! structure and behaviour of its own in `nn` (a net's conv blocks, a learning-rate schedule)
//! is mirrored here in the shape a file writes it, and converted by `stages::resolve`.

pub mod dataset;
pub mod factors;
pub mod frontend;
mod locate;
pub mod models;
pub mod overrides;
pub mod sweep;
mod validate;

pub use dataset::*;
pub use factors::*;
pub use frontend::*;
pub use locate::locate_key;
pub use models::*;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// An experiment as written: every section, with the spec's own defaults filled in by serde
/// and the parameters owned by `nn` and `factors` left as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Human-readable run name, shown by `agf runs` and in reports.
    pub name: String,
    /// Master seed: every seed not given derives from it.
    #[serde(default)]
    pub seed: u64,
    /// Seed of the nets' and the transfer MLP's draws (initialisation, crops, dropout); the
    /// master seed when omitted. The world's seed is `dataset.seed`, the split's
    /// `split.seed`.
    #[serde(default)]
    pub train_seed: Option<u64>,
    /// Where the nets run.
    #[serde(default)]
    pub device: DeviceSpec,
    pub dataset: DatasetSpec,
    #[serde(default)]
    pub frontend: FrontendSpec,
    #[serde(default)]
    pub descriptors: DescriptorSpec,
    pub split: SplitSpec,
    pub model: ModelSpec,
    #[serde(default)]
    pub noise: NoiseSpec,
    #[serde(default)]
    pub metrics: MetricsSpec,
    /// Front end of the frame-level factor words (mfcc, dmfcc, chroma).
    #[serde(
        default = "authors_factor_frontend",
        deserialize_with = "frontend::factor_frontend"
    )]
    pub factor_frontend: FrontendSpec,
    /// The Artist Group Factors, one `[[factors]]` entry each.
    #[serde(default)]
    pub factors: Vec<FactorSpec>,
    /// CNNs on log-mel patches (none when omitted).
    #[serde(default)]
    pub cnn: Option<CnnSpec>,
    /// The transfer MLP over the CNNs' taps (trained when `[cnn]` is there).
    #[serde(default)]
    pub transfer: TransferSpec,
    /// The label-noise audit (none when omitted).
    #[serde(default)]
    pub audit: Option<AuditSpec>,
}

/// Fills the parameters a spec leaves to the modules that own them and checks what only
/// those modules can judge, reporting problems by dotted key (the spec locates them).
/// Implemented by `stages::resolve`, so that this module needs none of their types.
pub trait Defaults {
    fn fill(&self, spec: &mut ExperimentSpec) -> Vec<Problem>;
}

/// A spec with every default written out: what runs take. Only [`ExperimentSpec::parse`]
/// and [`ExperimentSpec::load`] make one.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved(ExperimentSpec);

impl std::ops::Deref for Resolved {
    type Target = ExperimentSpec;
    fn deref(&self) -> &ExperimentSpec {
        &self.0
    }
}

impl Resolved {
    /// The resolved spec as TOML: every value used. Its hash identifies the spec.
    pub fn canonical_toml(&self) -> String {
        toml::to_string(&self.0).expect("a resolved spec always serialises to TOML")
    }

    /// SHA-256 of the canonical text, hex.
    pub fn hash(&self) -> String {
        crate::digest::sha256_hex(self.canonical_toml().as_bytes())
    }

    /// The resolved spec as dotted `key = value` pairs, in canonical order, for the store.
    pub fn flat_params(&self) -> Vec<(String, String)> {
        let value =
            toml::Value::try_from(&self.0).expect("a resolved spec converts to a TOML value");
        let mut out = Vec::new();
        flatten("", &value, &mut out);
        out
    }
}

/// One row per leaf. Arrays of tables are entered too: by each entry's `name` where every
/// entry has one (`factors.mfcc.topics`, the path a sweep axis takes), else by position
/// (`cnn.blocks.0.channels`).
fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                flatten(&join(k), v, out);
            }
        }
        toml::Value::Array(items) if !items.is_empty() && items.iter().all(|i| i.is_table()) => {
            let names: Option<Vec<&str>> = items
                .iter()
                .map(|i| i.get("name").and_then(|n| n.as_str()))
                .collect();
            for (i, item) in items.iter().enumerate() {
                let label = names.as_ref().map_or(i.to_string(), |n| n[i].to_string());
                flatten(&join(&label), item, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Why a spec could not be used. Every variant names the file; parse and validation errors
/// also give the line and column.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}\n{snippet}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        snippet: String,
    },
    #[error("{}", render_problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One semantic problem with a key of an otherwise well-formed spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted key, e.g. `split.train`; entries of arrays as `factors[0].topics`.
    pub key: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl Problem {
    /// A problem not yet located in the text.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    let mut out = format!("{} is not a valid experiment spec:", path.display());
    for p in problems {
        out.push('\n');
        match (p.line, p.column) {
            (Some(l), Some(c)) => out.push_str(&format!("  {}:{l}:{c}: ", path.display())),
            _ => out.push_str(&format!("  {}: ", path.display())),
        }
        out.push_str(&format!("{}: {}", p.key, p.message));
    }
    out
}

/// serde names Rust types ("expected usize"); a spec's reader wants the kind of value.
fn plain_types(message: &str) -> String {
    let mut out = message.to_string();
    for (rust, plain) in [
        ("usize", "a whole number ≥ 0"),
        ("u64", "a whole number ≥ 0"),
        ("u32", "a whole number ≥ 0"),
        ("u16", "a whole number ≥ 0"),
        ("u8", "a whole number ≥ 0"),
        ("i64", "a whole number"),
        ("i32", "a whole number"),
        ("f64", "a number"),
        ("f32", "a number"),
        ("a sequence", "an array"),
        ("a map", "a table"),
    ] {
        for lead in ["expected ", "expected an array of "] {
            out = out.replace(&format!("{lead}{rust}"), &format!("{lead}{plain}"));
        }
    }
    if let Some(i) = out.find("expected struct ") {
        out.replace_range(i.., "expected a table");
    }
    out
}

impl ExperimentSpec {
    /// Read, validate and resolve a spec file.
    pub fn load(path: &Path, defaults: &dyn Defaults) -> Result<Resolved, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, defaults)
    }

    /// Parse, validate and resolve spec text; `path` is used for messages only.
    pub fn parse(text: &str, path: &Path, defaults: &dyn Defaults) -> Result<Resolved, SpecError> {
        let mut spec: ExperimentSpec = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| locate::line_column(text, s.start))
                .unwrap_or((1, 1));
            SpecError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: plain_types(e.message().trim()),
                snippet: locate::snippet(text, line, column),
            }
        })?;
        spec.fill_own(text);
        let mut problems = defaults.fill(&mut spec);
        validate::check(&spec, &mut |key, message| {
            problems.push(Problem::new(key, message))
        });
        if problems.is_empty() {
            return Ok(Resolved(spec));
        }
        for p in &mut problems {
            let at = locate_key(text, &p.key);
            p.line = at.map(|a| a.0);
            p.column = at.map(|a| a.1);
        }
        // In the order a reader meets them in the file.
        problems.sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column));
        Err(SpecError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }

    /// Fill the defaults that depend on other fields of the spec itself.
    fn fill_own(&mut self, text: &str) {
        if self.frontend.fmax.is_none() {
            self.frontend.fmax = Some(self.frontend.sample_rate as f64 / 2.0);
        }
        // Audio is decoded once, at the front end's rate; the factor front end reads it too.
        if !locate::key_written(text, "factor_frontend.sample_rate") {
            self.factor_frontend.sample_rate = self.frontend.sample_rate;
        }
        if self.factor_frontend.fmax.is_none() {
            self.factor_frontend.fmax = Some(self.factor_frontend.sample_rate as f64 / 2.0);
        }
        for f in &mut self.factors {
            f.seed.get_or_insert(self.seed);
        }
        self.split.seed.get_or_insert(self.seed);
        self.dataset.seed.get_or_insert(self.seed);
        self.train_seed.get_or_insert(self.seed);
        if self.split.strategy != SplitStrategy::Official {
            let [train, validation, test] = self.split.ratios();
            self.split.train = Some(train);
            self.split.validation = Some(validation);
            self.split.test = Some(test);
        }
        self.noise.seed.get_or_insert(self.seed);
    }

    /// The nets `[cnn]` trains, in order: "genre" first, then factors.
    pub fn cnn_targets(&self) -> Vec<String> {
        match self.cnn.as_ref().and_then(|c| c.targets.clone()) {
            Some(t) => t,
            None => std::iter::once("genre".to_string())
                .chain(self.factors.iter().map(|f| f.name.clone()))
                .collect(),
        }
    }

    /// Multi-task: each target's chance of being an epoch's task, in `cnn_targets` order.
    pub fn task_probabilities(&self) -> Vec<f64> {
        let targets = self.cnn_targets();
        if let Some(p) = self
            .cnn
            .as_ref()
            .and_then(|c| c.task_probabilities.as_ref())
        {
            return targets
                .iter()
                .map(|t| p.get(t).copied().unwrap_or(0.0))
                .collect();
        }
        let has_genre = targets.iter().any(|t| t == "genre");
        let others = targets.len() - usize::from(has_genre);
        targets
            .iter()
            .map(|t| match (t == "genre", has_genre) {
                (true, _) => 0.5,
                (false, true) => 0.5 / others.max(1) as f64,
                (false, false) => 1.0 / targets.len() as f64,
            })
            .collect()
    }

    /// Noise seed after resolution.
    pub fn noise_seed(&self) -> u64 {
        self.noise.seed.unwrap_or(self.seed)
    }

    /// The generated world's seed after resolution.
    pub fn world_seed(&self) -> u64 {
        self.dataset.seed.unwrap_or(self.seed)
    }

    /// The nets' seed after resolution.
    pub fn training_seed(&self) -> u64 {
        self.train_seed.unwrap_or(self.seed)
    }

    /// Split seed after resolution.
    pub fn split_seed(&self) -> u64 {
        self.split.seed.unwrap_or(self.seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
seed = 3

[dataset]
source = "synthetic"

[split]
strategy = "artist"

[model]
kind = "logreg"
"#;

    /// Fills one owned default, so that resolution can be seen.
    struct OneDefault;

    impl Defaults for OneDefault {
        fn fill(&self, spec: &mut ExperimentSpec) -> Vec<Problem> {
            spec.model.epochs.get_or_insert(9);
            Vec::new()
        }
    }

    fn parse(text: &str) -> Result<Resolved, SpecError> {
        ExperimentSpec::parse(text, Path::new("exp.toml"), &OneDefault)
    }

    #[test]
    fn defaults_are_resolved_and_printed_back() {
        let spec = parse(GOOD).unwrap();
        assert_eq!(spec.frontend.fmax, Some(11025.0));
        assert_eq!(spec.split_seed(), 3);
        assert_eq!(spec.model.epochs, Some(9));
        let text = spec.canonical_toml();
        assert!(text.contains("fmax = 11025.0"), "{text}");
        assert!(text.contains("epochs = 9"), "{text}");
        // The canonical text is a fixed point: parsing it gives the same spec and hash.
        let again = parse(&text).unwrap();
        assert_eq!(again, spec);
        assert_eq!(again.hash(), spec.hash());
        let other = parse(&GOOD.replace("seed = 3", "seed = 4")).unwrap();
        assert_ne!(other.hash(), spec.hash());
    }

    #[test]
    fn unknown_key_names_file_line_column_and_expected_keys() {
        let text = GOOD.replace("kind = \"logreg\"", "kind = \"logreg\"\nepoch = 3");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.starts_with("exp.toml:13:1: unknown field `epoch`, expected one of"),
            "{err}"
        );
        assert!(err.contains("`epochs`"), "{err}");
    }

    #[test]
    fn wrong_type_and_missing_section() {
        let err = parse(&GOOD.replace("seed = 3", "seed = \"three\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "exp.toml:3:8: invalid type: string \"three\", expected a whole number ≥ 0"
            ),
            "{err}"
        );
        let err = parse(&GOOD.replace("seed = 3", "seed = 3\n[metrics]\nlog_loss_clip = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a number"), "{err}");
        let err = parse(&GOOD.replace("[model]\nkind = \"logreg\"", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `model`"), "{err}");
        assert!(err.starts_with("exp.toml:"), "{err}");
    }

    #[test]
    fn a_bad_device_is_refused_where_it_is_written() {
        let err = parse(&GOOD.replace("seed = 3", "seed = 3\ndevice = \"gpu\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "exp.toml:4:10: expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", got \"gpu\""
            ),
            "{err}"
        );
    }

    #[test]
    fn semantic_problems_are_all_reported_with_lines() {
        let text = GOOD.replace(
            "strategy = \"artist\"",
            "strategy = \"artist\"\ntrain = 0.9",
        ) + "\n[frontend]\nhop_length = 0\nn_mels = 4000\n";
        let err = parse(&text).unwrap_err();
        let SpecError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["split", "frontend.hop_length", "frontend.n_mels"]);
        assert_eq!(problems[1].line, Some(16));
        let msg = err.to_string();
        assert!(
            msg.contains(
                "exp.toml:16:1: frontend.hop_length: expected a hop of at least 1 sample, got 0"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("expected train + validation + test = 1, got 1.2"),
            "{msg}"
        );
    }

    #[test]
    fn non_finite_and_degenerate_parameters_are_refused() {
        let text = GOOD.to_string() + "\n[frontend]\nfmin = nan\n\n[descriptors]\nhop_length = 8\n";
        let err = parse(&text).unwrap_err();
        let SpecError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"frontend.fmin"), "{keys:?}");
        assert!(keys.contains(&"descriptors.hop_length"), "{keys:?}");
        assert!(
            err.to_string()
                .contains("frontend.fmin: expected a finite number, got NaN"),
            "{err}"
        );
    }

    #[test]
    fn flat_params_cover_every_leaf() {
        let spec = parse(GOOD).unwrap();
        let params = spec.flat_params();
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("split.strategy").as_deref(), Some("artist"));
        assert_eq!(get("frontend.n_mels").as_deref(), Some("64"));
        assert_eq!(get("device").as_deref(), Some("auto"));
        assert_eq!(
            get("dataset.synthetic.albums_per_artist").as_deref(),
            Some("[1, 4]")
        );
        // Factor entries are rows under their names, as sweep axes address them.
        let with_factor = parse(
            &(GOOD.to_string()
                + "\n[[factors]]\nname = \"mfcc\"\nfeatures = \"mfcc\"\ntopics = 7\n"),
        )
        .unwrap()
        .flat_params();
        assert!(
            with_factor.contains(&("factors.mfcc.topics".into(), "7".into())),
            "{with_factor:?}"
        );
        assert!(with_factor.iter().all(|(k, _)| k != "factors"));
    }
}
