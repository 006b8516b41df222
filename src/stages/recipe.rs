//! What each stage of a run is a function of, as a key computed from the resolved spec
//! alone, before anything runs: a sweep counts the distinct computations its cells need,
//! sees which were done already (a stage that finishes leaves its recipe's marker in the
//! cache), and runs first the cells whose stages the others share.
//!
//! A recipe names a computation; the stage cache's own keys, which hash the inputs' contents,
//! still decide what is reused. The two agree as long as the data on disk does not change
//! under the same spec.

use super::resolve::{train_config, transfer_config};
use crate::cache::StageCache;
use crate::record::ModelName;
use crate::spec::{CnnMode, DataSource, FactorFeature, FitOn, Resolved};
use serde::Serialize;

/// Bumped when what a recipe covers changes.
const VERSION: u32 = 2;

/// One computation a run needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Recipe {
    /// `split`, `labels`, `features`, `frames`, `factor`, `net`, `transfer`.
    pub stage: &'static str,
    /// What it computes, for people (`factor mfcc`, `cnn.genre`).
    pub label: String,
    pub key: String,
}

impl Recipe {
    fn new(stage: &'static str, label: impl Into<String>, parts: &[&str]) -> Recipe {
        let mut text = format!("{stage}\n{VERSION}\n");
        for p in parts {
            text.push_str(&format!("{}\n{p}\n", p.len()));
        }
        Recipe {
            stage,
            label: label.into(),
            key: crate::digest::sha256_hex(text.as_bytes()),
        }
    }

    /// Whether a run has completed this computation with this cache.
    pub fn is_done(&self, cache: &StageCache) -> bool {
        self.marker(cache).is_file()
    }

    /// Say that the computation is done (a small file in the cache).
    pub fn mark_done(&self, cache: &StageCache) {
        if let Err(e) = crate::fsutil::write_atomic(&self.marker(cache), self.label.as_bytes()) {
            tracing::warn!(
                "cannot mark {} done in {}: {e}",
                self.label,
                cache.root().display()
            );
        }
    }

    fn marker(&self, cache: &StageCache) -> std::path::PathBuf {
        cache
            .root()
            .join("recipes")
            .join(self.stage)
            .join(&self.key)
    }
}

fn text<T: Serialize>(v: &T) -> String {
    toml::to_string(v)
        .unwrap_or_else(|_| serde_json::to_string(v).expect("spec sections serialise"))
}

/// Every cached computation `spec` needs, upstream first: features, frames, factors, nets
/// and the transfer model. (Loading the data and fitting the baseline take seconds and are
/// done by every run; the split's and the labels' recipes are only inputs of the others'.)
pub fn recipes(spec: &Resolved) -> Vec<Recipe> {
    let dataset = format!("{}\nseed {}", text(&spec.dataset), spec.world_seed());
    // Which tracks are fitted on (the split) and the genre labels they are taught (the split
    // and the noise): factors and the factors' nets see only the first, so a noise ablation
    // shares them.
    let split = Recipe::new(
        "split",
        "split",
        &[
            &dataset,
            &text(&spec.split),
            &format!("seed {}", spec.split_seed()),
        ],
    );
    let labels = Recipe::new(
        "labels",
        "labels",
        &[
            &split.key,
            &text(&spec.noise),
            &format!("seed {}", spec.noise_seed()),
        ],
    );
    let mut out = Vec::new();
    let csv_baseline = spec.dataset.source == DataSource::Fma
        && spec.dataset.fma.as_ref().is_some_and(|f| f.features_csv);
    let uses = |f: FactorFeature| spec.factors.iter().any(|x| x.features == f);
    let features =
        (!csv_baseline || spec.cnn.is_some() || uses(FactorFeature::Descriptors)).then(|| {
            Recipe::new(
                "features",
                "features",
                &[&dataset, &text(&spec.frontend), &text(&spec.descriptors)],
            )
        });
    let frames = spec
        .factors
        .iter()
        .any(|f| f.features.is_frame_level())
        .then(|| {
            Recipe::new(
                "frames",
                "frames",
                &[
                    &dataset,
                    &text(&spec.factor_frontend),
                    &text(&spec.descriptors),
                ],
            )
        });
    out.extend(features.iter().cloned());
    out.extend(frames.iter().cloned());
    let mut factor_keys = std::collections::BTreeMap::new();
    for f in &spec.factors {
        let input = match f.features {
            x if x.is_frame_level() => frames.as_ref().map_or("", |r| &r.key),
            FactorFeature::Descriptors => features.as_ref().map_or("", |r| &r.key),
            _ => &dataset,
        };
        let fitted_on = match f.fit_on {
            FitOn::Train => &split.key,
            FitOn::All => &dataset,
        };
        let r = Recipe::new(
            "factor",
            format!("factor {}", f.name),
            &[input, fitted_on, &text(f)],
        );
        factor_keys.insert(f.name.clone(), r.key.clone());
        out.push(r);
    }
    if let (Some(c), Some(features)) = (&spec.cnn, &features) {
        let targets = spec.cnn_targets();
        let nets: Vec<(ModelName, Vec<String>)> = match c.mode {
            CnnMode::Separate => targets
                .iter()
                .map(|t| (ModelName::net(t), vec![t.clone()]))
                .collect(),
            CnnMode::Multitask => vec![(ModelName::net("multitask"), targets.clone())],
        };
        let mut net_keys = Vec::new();
        for (model, learns) in nets {
            let inputs: Vec<String> = learns
                .iter()
                .map(|t| {
                    factor_keys
                        .get(t)
                        .cloned()
                        .unwrap_or_else(|| format!("genre {}", labels.key))
                })
                .collect();
            // A separate net learns one task whatever the others are; a multitask net's
            // mixture is part of what it is.
            let mixture = match c.mode {
                CnnMode::Separate => String::new(),
                CnnMode::Multitask => format!("{:?}", spec.task_probabilities()),
            };
            let r = Recipe::new(
                "net",
                model.to_string(),
                &[
                    &features.key,
                    &split.key,
                    &inputs.join(","),
                    &format!("{:?}", train_config(spec, &model)),
                    &mixture,
                    &spec.device.to_string(),
                ],
            );
            net_keys.push(r.key.clone());
            out.push(r);
        }
        out.push(Recipe::new(
            "transfer",
            ModelName::Transfer.to_string(),
            &[
                &net_keys.join(","),
                &labels.key,
                &format!("{:?}", transfer_config(spec)),
                &text(&spec.metrics),
            ],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::parse_spec;
    use std::path::Path;

    const SPEC: &str = r#"
name = "r"
seed = 4
[dataset]
source = "synthetic"
[split]
strategy = "artist"
[model]
kind = "logreg"
[[factors]]
name = "mfcc"
features = "mfcc"
topics = 5
[cnn]
preset = "small"
epochs = 3
"#;

    #[test]
    fn recipes_share_what_is_upstream_of_a_change_and_differ_below_it() {
        let a = recipes(&parse_spec(SPEC, Path::new("a.toml")).unwrap());
        let stages: Vec<&str> = a.iter().map(|r| r.stage).collect();
        assert_eq!(
            stages,
            ["features", "frames", "factor", "net", "net", "transfer"]
        );
        // More topics: the features, frames and genre net are shared; the factor, its net
        // and the transfer model are not.
        let b = recipes(
            &parse_spec(
                &SPEC.replace("topics = 5", "topics = 6"),
                Path::new("b.toml"),
            )
            .unwrap(),
        );
        let same: Vec<bool> = a.iter().zip(&b).map(|(x, y)| x.key == y.key).collect();
        assert_eq!(same, [true, true, false, true, false, false]);
        // Another training seed: only the nets and the transfer model change.
        let c = recipes(
            &parse_spec(
                &SPEC.replace("seed = 4", "seed = 4\ntrain_seed = 9"),
                Path::new("c.toml"),
            )
            .unwrap(),
        );
        let same: Vec<bool> = a.iter().zip(&c).map(|(x, y)| x.key == y.key).collect();
        assert_eq!(same, [true, true, true, false, false, false]);
    }
}
