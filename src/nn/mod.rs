//! Neural networks on log-mel patches (candle): the paper's CNN and its layers, with every
//! random draw (weights, dropout masks) from our seeded generator.
//!
//! [`cnn`] is the paper's net and its presets, [`train`] trains one net on crops with
//! checkpoints and resumption, [`transfer`] is the MLP over the frozen nets' taps.

pub mod adam;
pub mod cnn;
pub mod fused;
pub mod layers;
pub mod params;
pub mod schedule;
pub mod train;
pub mod transfer;

pub use cnn::{Cnn, CnnConfig};

/// The device a spec names: "cpu", "cuda:N", or "auto" (the first CUDA device when agf is
/// built with `--features cuda` and one is present, else the CPU).
pub fn device(name: &str) -> Result<candle_core::Device, String> {
    match name {
        "cpu" => Ok(candle_core::Device::Cpu),
        "auto" => Ok(candle_core::Device::cuda_if_available(0).unwrap_or(candle_core::Device::Cpu)),
        other => {
            let n = other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    format!("device: expected \"auto\", \"cpu\" or \"cuda:N\", got {other:?}")
                })?;
            candle_core::Device::new_cuda(n).map_err(|e| {
                format!("device {other:?} cannot be opened ({e}); build with `--features cuda` on a machine with that GPU")
            })
        }
    }
}
