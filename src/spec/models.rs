//! `[model]` (the baseline), `[cnn]`, `[transfer]`, `[metrics]` and `device`.
//!
//! Training parameters a spec leaves out are filled with the defaults `nn` owns (the
//! resolved spec writes them out); the shapes here are what a spec may write, mirroring
//! `nn`'s types without naming them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Which track-level features a classical model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackFeatureSet {
    /// Mean and std of MFCC and first-difference MFCC frames.
    MfccStats,
    /// The descriptor set (seven statistics of spectral descriptors, chroma, onsets; tempo).
    Descriptors,
    /// Both, concatenated.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Multinomial logistic regression on standardised track features.
    Logreg,
}

/// The baseline: a classical model on track-level features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub kind: ModelKind,
    /// Track-level features the model reads (ignored when dataset.fma.features_csv is set).
    #[serde(default = "default_feature_set")]
    pub features: TrackFeatureSet,
    #[serde(default)]
    pub epochs: Option<usize>,
    #[serde(default)]
    pub learning_rate: Option<f64>,
    /// L2 penalty on the weights (not the biases), added to the mean loss as `l2/2·‖W‖²`.
    #[serde(default)]
    pub l2: Option<f64>,
    /// Stop after this many epochs without a better validation log loss.
    #[serde(default)]
    pub patience: Option<usize>,
}

fn default_feature_set() -> TrackFeatureSet {
    TrackFeatureSet::MfccStats
}

/// The CNN preset a `[cnn]` section starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CnnPreset {
    /// The winning submission's net (AGF-METHOD.md §4).
    Won2018,
    /// A small net of the same shape, for CPU quickstarts and tests.
    Small,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with the L2 penalty in the loss (the authors').
    Adam,
    /// AdamW: decoupled weight decay.
    Adamw,
}

/// Whether the targets get a net each or share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CnnMode {
    /// One net per target (the winning submission).
    #[default]
    Separate,
    /// One trunk with a head per target; each epoch trains one target, drawn with
    /// `task_probabilities` (the authors' multi-task alternative).
    Multitask,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivationKind {
    Elu,
    Relu,
}

/// One conv block: conv → [batch norm] → activation → [max pool] → [dropout].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvBlockSpec {
    pub channels: usize,
    /// (mel, time) kernel; odd sizes ('same' padding).
    pub kernel: [usize; 2],
    #[serde(default)]
    pub batch_norm: bool,
    /// (mel, time) max-pool size and stride.
    #[serde(default)]
    pub pool: Option<[usize; 2]>,
    #[serde(default)]
    pub dropout: f64,
}

/// How the learning rate moves over epochs (`lr_schedule = { kind = "…", … }`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum LrScheduleSpec {
    /// The base rate throughout (the authors').
    Constant,
    /// Multiply by `gamma` every `every` epochs (PyTorch's StepLR).
    Step { every: usize, gamma: f64 },
    /// Cosine from the base rate at epoch 1 down to `min_lr` at the last epoch.
    Cosine {
        #[serde(default)]
        min_lr: f64,
    },
    /// Multiply by `factor` when the validation loss has not improved for more than
    /// `patience` epochs, not below `min_lr` (PyTorch's ReduceLROnPlateau).
    Plateau {
        factor: f64,
        patience: usize,
        #[serde(default)]
        min_lr: f64,
    },
}

/// The CNNs on log-mel patches: one per target (genre and every factor), all alike.
/// Omitted net and training keys take the preset's and `nn`'s defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CnnSpec {
    pub preset: CnnPreset,
    pub tap: Option<usize>,
    pub tap_dropout: Option<f64>,
    pub activation: Option<ActivationKind>,
    pub bn_momentum: Option<f64>,
    /// Which nets to train: "genre" and factor names; omitted = genre and every factor.
    pub targets: Option<Vec<String>>,
    pub mode: CnnMode,
    /// Multi-task only: the chance an epoch trains each target (summing to 1); omitted =
    /// 0.5 for genre and the rest shared equally by the factors (the authors' p = 0.5).
    pub task_probabilities: Option<BTreeMap<String, f64>>,
    pub batch_size: Option<usize>,
    pub epochs: Option<usize>,
    pub patience: Option<usize>,
    pub patch_frames: Option<usize>,
    pub window_hop: Option<usize>,
    pub optimizer: OptimizerKind,
    pub learning_rate: Option<f64>,
    /// L2 weight on every conv and dense kernel (in the loss).
    pub l2: Option<f64>,
    /// AdamW's decoupled decay (`optimizer = "adamw"` only).
    pub weight_decay: Option<f64>,
    /// `{ kind = "constant" | "step" | "cosine" | "plateau", … }`.
    pub lr_schedule: Option<LrScheduleSpec>,
    /// Conv blocks replacing the preset's (`[[cnn.blocks]]`).
    pub blocks: Option<Vec<ConvBlockSpec>>,
}

impl Default for CnnSpec {
    fn default() -> Self {
        CnnSpec {
            preset: CnnPreset::Won2018,
            tap: None,
            tap_dropout: None,
            activation: None,
            bn_momentum: None,
            targets: None,
            mode: CnnMode::Separate,
            task_probabilities: None,
            batch_size: None,
            epochs: None,
            patience: None,
            patch_frames: None,
            window_hop: None,
            optimizer: OptimizerKind::Adam,
            learning_rate: None,
            l2: None,
            weight_decay: None,
            lr_schedule: None,
            blocks: None,
        }
    }
}

/// The transfer MLP over the frozen nets' taps (AGF-METHOD.md §4); omitted keys take `nn`'s
/// defaults (the authors').
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferSpec {
    pub hidden: Option<usize>,
    pub dropout: Option<f64>,
    pub epochs: Option<usize>,
    pub patience: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub l2: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSpec {
    /// Probabilities are clipped to [clip, 1 − clip] before the log (the challenge used 1e-8).
    pub log_loss_clip: f64,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        MetricsSpec {
            log_loss_clip: 1e-8,
        }
    }
}

/// Where the nets run: `"auto"` (the first CUDA device when agf is built with the `cuda`
/// feature and one is present, else the CPU), `"cpu"`, `"cuda:N"` or `"cuda"` (the first GPU,
/// as PyTorch reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            // PyTorch's spelling of its current device, which is the first one here.
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| {
                    format!("expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", got {s:?}")
                }),
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_parses_from_an_inline_table_and_nonsense_is_refused() {
        #[derive(Deserialize)]
        struct W {
            s: LrScheduleSpec,
        }
        let w: W =
            toml::from_str(r#"s = { kind = "plateau", factor = 0.5, patience = 4 }"#).unwrap();
        assert_eq!(
            w.s,
            LrScheduleSpec::Plateau {
                factor: 0.5,
                patience: 4,
                min_lr: 0.0
            }
        );
        assert!(toml::from_str::<W>(r#"s = { kind = "step", every = 3, gama = 0.5 }"#).is_err());
    }

    #[test]
    fn devices_read_and_write_as_users_type_them() {
        for (text, d) in [
            ("auto", DeviceSpec::Auto),
            ("cpu", DeviceSpec::Cpu),
            ("cuda:1", DeviceSpec::Cuda(1)),
        ] {
            assert_eq!(text.parse::<DeviceSpec>(), Ok(d));
            assert_eq!(d.to_string(), text);
        }
        assert_eq!("cuda".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(0)));
        assert!("cuda:".parse::<DeviceSpec>().is_err());
        assert!("gpu".parse::<DeviceSpec>().is_err());
    }
}

/// `[audit]`: the label-noise audit run with the run (after the baseline), and what to do
/// with the labels it flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSpec {
    /// The model trained fold by fold for out-of-fold probabilities.
    pub model: AuditModel,
    /// Folds over the training tracks, grouped by artist.
    pub folds: usize,
    /// Which labels count as issues (cleanlab's `filter_by`).
    pub filter_by: crate::audit::confident::FilterBy,
    /// Train the baseline again on the cleaned labels: `"none"`, `"drop"` (without the
    /// flagged tracks) or `"relabel"` (flagged tracks take the out-of-fold argmax). On
    /// generated worlds a baseline on the true labels is trained beside it.
    pub retrain: Retrain,
}

impl Default for AuditSpec {
    fn default() -> Self {
        AuditSpec {
            model: AuditModel::Baseline,
            folds: 5,
            filter_by: Default::default(),
            retrain: Retrain::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditModel {
    /// The run's baseline (`[model]`).
    #[default]
    Baseline,
    /// The genre CNN (or the multi-task trunk's genre head) of `[cnn]`.
    GenreCnn,
    /// The transfer MLP over the nets of `[cnn]`.
    Transfer,
}

impl AuditModel {
    /// As a spec writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditModel::Baseline => "baseline",
            AuditModel::GenreCnn => "genre_cnn",
            AuditModel::Transfer => "transfer",
        }
    }

    /// Read back what [`AuditModel::as_str`] wrote.
    pub fn parse(s: &str) -> Option<AuditModel> {
        [
            AuditModel::Baseline,
            AuditModel::GenreCnn,
            AuditModel::Transfer,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// In words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            AuditModel::Baseline => "baseline",
            AuditModel::GenreCnn => "genre CNN",
            AuditModel::Transfer => "transfer model",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retrain {
    #[default]
    None,
    Drop,
    Relabel,
}
