//! `[frontend]`, `[factor_frontend]` and `[descriptors]`: every parameter of the audio front
//! ends (librosa's names and, unless said otherwise, its defaults).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowKind {
    Hann,
    SqrtHann,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PadMode {
    /// Zero padding (librosa ≥ 0.10 default).
    Constant,
    /// Mirror padding without repeating the edge sample (numpy's `reflect`).
    Reflect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelScale {
    Slaney,
    Htk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelNorm {
    /// Each triangle divided by its width in Hz (area normalisation), librosa's `norm="slaney"`.
    Slaney,
    /// Peak-1 triangles.
    None,
}

/// The audio front end: STFT, mel filterbank, dB scaling and MFCC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrontendSpec {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop_length: usize,
    pub window: WindowKind,
    pub center: bool,
    pub pad_mode: PadMode,
    pub n_mels: usize,
    pub fmin: f64,
    /// Upper mel edge in Hz; filled with `sample_rate / 2` when omitted.
    pub fmax: Option<f64>,
    pub mel_scale: MelScale,
    pub mel_norm: MelNorm,
    /// Exponent of the magnitude spectrogram fed to the filterbank: 1 magnitude, 2 power.
    pub power: f64,
    pub amin: f64,
    /// dB reference: 0 dB is this value (librosa's `ref`, a fixed value here).
    pub reference: f64,
    pub top_db: Option<f64>,
    pub n_mfcc: usize,
}

impl Default for FrontendSpec {
    fn default() -> Self {
        FrontendSpec {
            sample_rate: 22050,
            n_fft: 1024,
            hop_length: 512,
            window: WindowKind::Hann,
            center: true,
            pad_mode: PadMode::Constant,
            n_mels: 64,
            fmin: 0.0,
            fmax: None,
            mel_scale: MelScale::Slaney,
            mel_norm: MelNorm::Slaney,
            power: 2.0,
            amin: 1e-10,
            reference: 1.0,
            top_db: Some(80.0),
            n_mfcc: 20,
        }
    }
}

/// The track-level descriptor set (librosa's defaults; chroma tuning fixed, not estimated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DescriptorSpec {
    pub n_fft: usize,
    pub hop_length: usize,
    pub chroma_tuning: f64,
}

impl Default for DescriptorSpec {
    fn default() -> Self {
        DescriptorSpec {
            n_fft: 2048,
            hop_length: 512,
            chroma_tuning: 0.0,
        }
    }
}

/// The front end of frame-level factor words: the authors' AGF extractor (librosa 0.6 of
/// 2018: 13 MFCC from 40 mel bands, n_fft 2048, hop 1024, reflect padding). Keys given in
/// `[factor_frontend]` replace these one by one.
pub fn authors_factor_frontend() -> FrontendSpec {
    FrontendSpec {
        n_fft: 2048,
        hop_length: 1024,
        pad_mode: PadMode::Reflect,
        n_mels: 40,
        n_mfcc: 13,
        ..FrontendSpec::default()
    }
}

pub(super) fn factor_frontend<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<FrontendSpec, D::Error> {
    use serde::de::Error;
    let given = toml::Table::deserialize(d)?;
    let mut merged = toml::Table::try_from(authors_factor_frontend()).map_err(D::Error::custom)?;
    merged.extend(given);
    merged.try_into().map_err(D::Error::custom)
}
