//! From a spec to each stage's parameters, and back: the one place where the spec's
//! sections meet the parameter structs `factors` and `nn` own.
//!
//! Each `*_params` function reads a spec section, taking what the user wrote and the owning
//! module's default for the rest. [`StageDefaults`] writes those parameters back into the
//! spec, so a resolved spec (its canonical text, its hash, the store's `params`) shows every
//! value a run used, and checks what only `nn` can judge (conv blocks, schedules).

use crate::factors::kmeans::KMeansParams;
use crate::factors::lda::LdaParams;
use crate::factors::{AUTHORS_CLUSTERS, AUTHORS_TOPICS};
use crate::nn::adam::AdamConfig;
use crate::nn::cnn::{Activation, ConvBlock};
use crate::nn::schedule::LrSchedule;
use crate::nn::train::TrainConfig;
use crate::nn::transfer::TransferConfig;
use crate::nn::{CnnConfig, LogregParams};
use crate::record::ModelName;
use crate::rng::Rng;
use crate::spec::{
    ActivationKind, CnnPreset, CnnSpec, ConvBlockSpec, Defaults, ExperimentSpec, FactorSpec,
    LrScheduleSpec, ModelSpec, OptimizerKind, Problem, Resolved, SpecError,
};
use std::path::Path;

/// Read, validate and resolve a spec file.
pub fn load_spec(path: &Path) -> Result<Resolved, SpecError> {
    ExperimentSpec::load(path, &StageDefaults)
}

/// Parse, validate and resolve spec text (`path` names it in messages).
pub fn parse_spec(text: &str, path: &Path) -> Result<Resolved, SpecError> {
    ExperimentSpec::parse(text, path, &StageDefaults)
}

/// The defaults of `factors` and `nn`, as the spec's [`Defaults`].
pub struct StageDefaults;

impl Defaults for StageDefaults {
    fn fill(&self, spec: &mut ExperimentSpec) -> Vec<Problem> {
        let mut problems = Vec::new();
        for f in &mut spec.factors {
            let k = kmeans_params(f);
            f.clusters = Some(k.clusters);
            f.kmeans.algorithm = Some(k.algorithm);
            f.kmeans.n_init = Some(k.n_init);
            f.kmeans.max_iter = Some(k.max_iter);
            f.kmeans.tol = Some(k.tol);
            f.kmeans.batch_size = Some(k.batch_size);
            // init_size stays as written: omitted means chosen from the rows at fit time.
            f.kmeans.reassignment_ratio = Some(k.reassignment_ratio);
            f.kmeans.max_no_improvement = Some(k.max_no_improvement);
            let l = lda_params(f);
            f.topics = Some(l.topics);
            f.lda.method = Some(l.method);
            f.lda.doc_topic_prior = Some(l.doc_topic_prior);
            f.lda.topic_word_prior = Some(l.topic_word_prior);
            f.lda.max_iter = Some(l.max_iter);
            f.lda.batch_size = Some(l.batch_size);
            f.lda.learning_decay = Some(l.learning_decay);
            f.lda.learning_offset = Some(l.learning_offset);
            f.lda.mean_change_tol = Some(l.mean_change_tol);
            f.lda.max_doc_update_iter = Some(l.max_doc_update_iter);
            f.lda.evaluate_every = Some(l.evaluate_every);
            f.lda.perp_tol = Some(l.perp_tol);
        }
        let b = logreg_params(&spec.model);
        spec.model.epochs = Some(b.epochs);
        spec.model.learning_rate = Some(b.learning_rate);
        spec.model.l2 = Some(b.l2);
        spec.model.patience = Some(b.patience);
        let t = transfer_config(spec);
        spec.transfer.hidden = Some(t.hidden);
        spec.transfer.dropout = Some(t.dropout);
        spec.transfer.epochs = Some(t.epochs);
        spec.transfer.patience = Some(t.patience);
        spec.transfer.batch_size = Some(t.batch_size);
        spec.transfer.learning_rate = Some(t.adam.lr);
        spec.transfer.l2 = Some(t.l2);
        let nets = spec.cnn.is_some().then(|| {
            let t = train_config(spec, &ModelName::net("genre"));
            problems.extend(cnn_problems(spec, &t));
            t
        });
        if let (Some(c), Some(t)) = (spec.cnn.as_mut(), nets) {
            c.tap = Some(t.cnn.tap);
            c.tap_dropout = Some(t.cnn.tap_dropout);
            c.activation = Some(match t.cnn.activation {
                Activation::Elu => ActivationKind::Elu,
                Activation::Relu => ActivationKind::Relu,
            });
            c.bn_momentum = Some(t.cnn.bn_momentum);
            c.blocks = Some(t.cnn.blocks.iter().map(block_spec).collect());
            c.batch_size = Some(t.batch_size);
            c.epochs = Some(t.epochs);
            c.patience = Some(t.patience);
            c.patch_frames = Some(t.patch_frames);
            c.window_hop = Some(t.window_hop);
            c.learning_rate = Some(t.adam.lr);
            c.weight_decay = Some(t.adam.weight_decay);
            c.l2 = Some(t.l2);
            c.lr_schedule = Some(schedule_spec(t.schedule));
        }
        problems
    }
}

/// What only the net can judge: its blocks, the patch its pools leave, its schedule.
fn cnn_problems(spec: &ExperimentSpec, t: &TrainConfig) -> Vec<Problem> {
    let mut out = Vec::new();
    if t.cnn.blocks.is_empty() {
        out.push(Problem::new(
            "cnn.blocks",
            "expected at least one conv block",
        ));
    }
    for (i, b) in t.cnn.blocks.iter().enumerate() {
        if b.channels == 0 || b.kernel.iter().any(|k| k % 2 == 0) {
            out.push(Problem::new(
                format!("cnn.blocks[{i}]"),
                format!(
                    "expected channels ≥ 1 and odd kernel sizes ('same' padding), got {} \
                     channels, kernel {:?}",
                    b.channels, b.kernel
                ),
            ));
        }
        if !(0.0..1.0).contains(&b.dropout) {
            out.push(Problem::new(
                format!("cnn.blocks[{i}].dropout"),
                format!("expected a rate in [0, 1), got {}", b.dropout),
            ));
        }
    }
    // The pools must leave at least one cell of the patch.
    let (mut h, mut w) = (spec.frontend.n_mels, t.patch_frames);
    for b in &t.cnn.blocks {
        if let Some([ph, pw]) = b.pool {
            h /= ph.max(1);
            w /= pw.max(1);
        }
    }
    if t.patch_frames > 0 && (h == 0 || w == 0) {
        out.push(Problem::new(
            "cnn.patch_frames",
            format!(
                "the pools shrink a {} mel × {} frame patch to nothing; use more frames or \
                 fewer pools",
                spec.frontend.n_mels, t.patch_frames
            ),
        ));
    }
    if let Some((field, problem)) = t.schedule.problem() {
        out.push(Problem::new(format!("cnn.lr_schedule.{field}"), problem));
    }
    out
}

/// The seed of a factor's draws: from its seed and its name, so two factors never share
/// streams.
pub fn factor_seed(f: &FactorSpec) -> u64 {
    Rng::derive(f.seed.unwrap_or(0), &f.name, 0).next_u64()
}

/// A factor's K-Means dictionary.
pub fn kmeans_params(f: &FactorSpec) -> KMeansParams {
    let k = &f.kmeans;
    let algorithm = k.algorithm.unwrap_or(KMeansParams::DEFAULT_ALGORITHM);
    let clusters = f.clusters.unwrap_or(AUTHORS_CLUSTERS);
    let d = KMeansParams::new(clusters, algorithm, factor_seed(f));
    KMeansParams {
        n_init: k.n_init.unwrap_or(d.n_init),
        max_iter: k.max_iter.unwrap_or(d.max_iter),
        tol: k.tol.unwrap_or(d.tol),
        batch_size: k.batch_size.unwrap_or(d.batch_size),
        init_size: k.init_size.or(d.init_size),
        reassignment_ratio: k.reassignment_ratio.unwrap_or(d.reassignment_ratio),
        max_no_improvement: k.max_no_improvement.unwrap_or(d.max_no_improvement),
        ..d
    }
}

/// A factor's LDA.
pub fn lda_params(f: &FactorSpec) -> LdaParams {
    let l = &f.lda;
    let d = LdaParams::new(f.topics.unwrap_or(AUTHORS_TOPICS), factor_seed(f));
    LdaParams {
        method: l.method.unwrap_or(d.method),
        doc_topic_prior: l.doc_topic_prior.unwrap_or(d.doc_topic_prior),
        topic_word_prior: l.topic_word_prior.unwrap_or(d.topic_word_prior),
        max_iter: l.max_iter.unwrap_or(d.max_iter),
        batch_size: l.batch_size.unwrap_or(d.batch_size),
        learning_decay: l.learning_decay.unwrap_or(d.learning_decay),
        learning_offset: l.learning_offset.unwrap_or(d.learning_offset),
        mean_change_tol: l.mean_change_tol.unwrap_or(d.mean_change_tol),
        max_doc_update_iter: l.max_doc_update_iter.unwrap_or(d.max_doc_update_iter),
        evaluate_every: l.evaluate_every.unwrap_or(d.evaluate_every),
        perp_tol: l.perp_tol.unwrap_or(d.perp_tol),
        ..d
    }
}

/// The baseline's training.
pub fn logreg_params(m: &ModelSpec) -> LogregParams {
    let d = LogregParams::default();
    LogregParams {
        epochs: m.epochs.unwrap_or(d.epochs),
        learning_rate: m.learning_rate.unwrap_or(d.learning_rate),
        l2: m.l2.unwrap_or(d.l2),
        patience: m.patience.unwrap_or(d.patience),
    }
}

/// The net `[cnn]` describes: its preset with the given fields replaced.
pub fn cnn_config(c: &CnnSpec) -> CnnConfig {
    let d = match c.preset {
        CnnPreset::Won2018 => CnnConfig::won2018(),
        CnnPreset::Small => CnnConfig::small(),
    };
    CnnConfig {
        blocks: c
            .blocks
            .as_ref()
            .map(|b| b.iter().map(block).collect())
            .unwrap_or(d.blocks),
        activation: match c.activation {
            Some(ActivationKind::Elu) => Activation::Elu,
            Some(ActivationKind::Relu) => Activation::Relu,
            None => d.activation,
        },
        tap: c.tap.unwrap_or(d.tap),
        tap_dropout: c.tap_dropout.unwrap_or(d.tap_dropout),
        bn_momentum: c.bn_momentum.unwrap_or(d.bn_momentum),
        ..d
    }
}

/// How the net called `model` trains (each net draws from a seed of its own).
pub fn train_config(spec: &ExperimentSpec, model: &ModelName) -> TrainConfig {
    let c = spec.cnn.clone().unwrap_or_default();
    let seed = Rng::derive(spec.training_seed(), &model.to_string(), 0).next_u64();
    let d = TrainConfig::authors(cnn_config(&c), seed);
    TrainConfig {
        adam: AdamConfig {
            lr: c.learning_rate.unwrap_or(d.adam.lr),
            weight_decay: match c.optimizer {
                OptimizerKind::Adamw => c.weight_decay.unwrap_or(AdamConfig::ADAMW_WEIGHT_DECAY),
                // Adam's penalty is the L2 term in the loss.
                OptimizerKind::Adam => 0.0,
            },
            ..d.adam
        },
        l2: c.l2.unwrap_or(d.l2),
        batch_size: c.batch_size.unwrap_or(d.batch_size),
        epochs: c.epochs.unwrap_or(d.epochs),
        patience: c.patience.unwrap_or(d.patience),
        patch_frames: c.patch_frames.unwrap_or(d.patch_frames),
        window_hop: c.window_hop.unwrap_or(d.window_hop),
        schedule: c.lr_schedule.map(schedule).unwrap_or(d.schedule),
        ..d
    }
}

/// The transfer MLP's training; crops and windows as the nets'.
pub fn transfer_config(spec: &ExperimentSpec) -> TransferConfig {
    let nets = train_config(spec, &ModelName::Transfer);
    let t = &spec.transfer;
    let d = TransferConfig::authors(nets.patch_frames, nets.window_hop, nets.seed);
    TransferConfig {
        hidden: t.hidden.unwrap_or(d.hidden),
        dropout: t.dropout.unwrap_or(d.dropout),
        epochs: t.epochs.unwrap_or(d.epochs),
        patience: t.patience.unwrap_or(d.patience),
        batch_size: t.batch_size.unwrap_or(d.batch_size),
        adam: AdamConfig {
            lr: t.learning_rate.unwrap_or(d.adam.lr),
            ..d.adam
        },
        l2: t.l2.unwrap_or(d.l2),
        ..d
    }
}

fn block(b: &ConvBlockSpec) -> ConvBlock {
    ConvBlock {
        channels: b.channels,
        kernel: b.kernel,
        batch_norm: b.batch_norm,
        pool: b.pool,
        dropout: b.dropout,
    }
}

fn block_spec(b: &ConvBlock) -> ConvBlockSpec {
    ConvBlockSpec {
        channels: b.channels,
        kernel: b.kernel,
        batch_norm: b.batch_norm,
        pool: b.pool,
        dropout: b.dropout,
    }
}

fn schedule(s: LrScheduleSpec) -> LrSchedule {
    match s {
        LrScheduleSpec::Constant => LrSchedule::Constant,
        LrScheduleSpec::Step { every, gamma } => LrSchedule::Step { every, gamma },
        LrScheduleSpec::Cosine { min_lr } => LrSchedule::Cosine { min_lr },
        LrScheduleSpec::Plateau {
            factor,
            patience,
            min_lr,
        } => LrSchedule::Plateau {
            factor,
            patience,
            min_lr,
        },
    }
}

fn schedule_spec(s: LrSchedule) -> LrScheduleSpec {
    match s {
        LrSchedule::Constant => LrScheduleSpec::Constant,
        LrSchedule::Step { every, gamma } => LrScheduleSpec::Step { every, gamma },
        LrSchedule::Cosine { min_lr } => LrScheduleSpec::Cosine { min_lr },
        LrSchedule::Plateau {
            factor,
            patience,
            min_lr,
        } => LrScheduleSpec::Plateau {
            factor,
            patience,
            min_lr,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
name = "r"
seed = 4
[dataset]
source = "synthetic"
[split]
strategy = "artist"
[model]
kind = "logreg"
epochs = 7
[[factors]]
name = "m"
features = "mfcc"
topics = 5
kmeans = { algorithm = "lloyd" }
[cnn]
preset = "small"
epochs = 3
"#;

    #[test]
    fn owned_defaults_are_written_out_and_the_result_is_a_fixed_point() {
        let spec = parse_spec(SPEC, Path::new("r.toml")).unwrap();
        let f = &spec.factors[0];
        // Lloyd's defaults, not mini-batch's; LDA's priors 1/topics.
        assert_eq!(f.kmeans.max_iter, Some(300));
        assert_eq!(f.kmeans.tol, Some(1e-4));
        assert_eq!(f.lda.doc_topic_prior, Some(0.2));
        assert_eq!(f.lda.max_iter, Some(10));
        assert_eq!(spec.model.epochs, Some(7));
        assert_eq!(spec.model.patience, Some(50));
        let c = spec.cnn.as_ref().unwrap();
        assert_eq!(c.epochs, Some(3));
        assert_eq!(c.batch_size, Some(64));
        assert_eq!(
            c.blocks.as_ref().unwrap().len(),
            CnnConfig::small().blocks.len()
        );
        assert_eq!(spec.transfer.hidden, Some(1024));
        // The resolved text reads back to the same spec, and resolves to the same params.
        let again = parse_spec(&spec.canonical_toml(), Path::new("again.toml")).unwrap();
        assert_eq!(again, spec);
        assert_eq!(kmeans_params(&again.factors[0]), kmeans_params(f));
        assert_eq!(
            train_config(&again, &ModelName::net("genre")),
            train_config(&spec, &ModelName::net("genre"))
        );
        // A mini-batch dictionary makes one pass by default (the authors').
        let mb = parse_spec(
            &SPEC.replace("kmeans = { algorithm = \"lloyd\" }\n", ""),
            Path::new("mb.toml"),
        )
        .unwrap();
        assert_eq!(mb.factors[0].kmeans.max_iter, Some(1));
    }

    #[test]
    fn what_only_the_net_can_judge_is_located_in_the_file() {
        let text = SPEC.replace("epochs = 3", "epochs = 3\npatch_frames = 2\nlr_schedule = { kind = \"step\", every = 2, gamma = 3.0 }");
        let err = parse_spec(&text, Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "r.toml:19:1: cnn.patch_frames: the pools shrink a 64 mel × 2 frame patch"
            ),
            "{err}"
        );
        // A key inside an inline table points at the table's line.
        assert!(
            err.contains(
                "r.toml:20:1: cnn.lr_schedule.gamma: expected a factor between 0 and 1, got 3"
            ),
            "{err}"
        );
    }
}
