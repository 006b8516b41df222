//! A track's audio as mono samples at the front end's rate: files decoded (symphonia) and
//! resampled, generated clips rendered and resampled, clips below a length floor refused;
//! and what identifies those samples for the stage cache.
//!
//! Failures are reasons in words ("…: file is missing", "…: truncated …"), so that the
//! caller can skip the track, count it and name it.

use super::decode::{decode_file, DecodeError};
use super::resample::resample_owned;
use crate::data::{Dataset, Track, TrackAudio};

/// How every track's audio is brought to the front end.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioLoader {
    /// The front end's rate: every clip is resampled to it.
    pub sample_rate: u32,
    /// Clips shorter than this (after decoding) are refused.
    pub min_seconds: f64,
}

impl AudioLoader {
    /// What identifies the samples `audio` loads to: equal identities mean equal samples.
    /// A file is identified by a hash of its bytes (a moved or renamed file is the same
    /// audio), plus the rate and floor that shape what the front end sees.
    pub fn identity(&self, audio: &TrackAudio) -> Result<String, String> {
        match audio {
            TrackAudio::File(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| crate::errors::one_line(&DecodeError::from_io(path, e)))?;
                Ok(format!(
                    "sha256:{}:{}Hz:{}s",
                    crate::digest::sha256_hex(&bytes),
                    self.sample_rate,
                    self.min_seconds
                ))
            }
            TrackAudio::Generated { identity, .. } => Ok(identity.clone()),
        }
    }

    /// The samples, or why there are none.
    pub fn load(&self, audio: TrackAudio) -> Result<Vec<f32>, String> {
        let (samples, rate, path) = match audio {
            TrackAudio::File(path) => {
                let d = decode_file(&path).map_err(|e| crate::errors::one_line(&e))?;
                (d.samples, d.sample_rate, Some(path))
            }
            TrackAudio::Generated { render, .. } => {
                let clip = render();
                (clip.samples, clip.sample_rate, None)
            }
        };
        let samples = resample_owned(samples, rate, self.sample_rate);
        let seconds = samples.len() as f64 / self.sample_rate as f64;
        if seconds < self.min_seconds {
            let what = path.map_or("the clip".into(), |p| p.display().to_string());
            return Err(format!(
                "{what}: only {seconds:.2} s of audio (dataset.fma.min_seconds = {})",
                self.min_seconds
            ));
        }
        Ok(samples)
    }

    /// A track's samples, found through the dataset.
    pub fn track(&self, dataset: &Dataset, track: &Track) -> Result<Vec<f32>, String> {
        let audio = dataset
            .audio
            .locate(track)
            .map_err(|crate::data::AudioError::Unavailable { reason, .. }| reason)?;
        self.load(audio)
    }
}
