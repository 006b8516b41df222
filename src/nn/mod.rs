//! Neural networks on log-mel patches (candle): the paper's CNN and its layers, with every
//! random draw (weights, dropout masks) from our seeded generator.
//!
//! [`cnn`] is the paper's net and its presets, [`train`] trains one net on crops with
//! checkpoints and resumption, [`transfer`] is the MLP over the frozen nets' taps,
//! [`logreg`] the classical baseline. Each owns its parameters and their defaults (the
//! authors' where they published them); every loop reports its epochs as
//! [`crate::record::Epoch`]s through a caller's callback, so nothing here knows storage.

pub mod adam;
pub mod cnn;
pub mod fused;
pub mod layers;
pub mod logreg;
pub mod params;
pub mod schedule;
pub mod train;
pub mod transfer;

pub use cnn::{Cnn, CnnConfig};
pub use logreg::{LogisticRegression, LogregParams, TrainSummary};
pub use train::TrainError;

use crate::spec::DeviceSpec;
use candle_core::Device;

/// Why a GPU cannot be opened, as users act on it.
#[cfg(feature = "cuda")]
const NO_DEVICE_HINT: &str = "no such GPU, or its driver cannot be loaded (check nvidia-smi)";
#[cfg(not(feature = "cuda"))]
const NO_DEVICE_HINT: &str =
    "this agf was built without CUDA: build it with scripts/build-cuda.sh (--features cuda)";

/// A device the spec names that cannot be had.
#[derive(Debug, thiserror::Error)]
#[error("device \"{device}\" cannot be opened: {NO_DEVICE_HINT}")]
pub struct DeviceError {
    pub device: DeviceSpec,
    #[source]
    pub source: candle_core::Error,
}

/// The device a spec names; `auto` is the first CUDA device when agf is built with the
/// `cuda` feature and one is present, else the CPU.
pub fn device(spec: DeviceSpec) -> Result<Device, DeviceError> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Auto => Ok(Device::cuda_if_available(0).unwrap_or(Device::Cpu)),
        DeviceSpec::Cuda(n) => Device::new_cuda(n).map_err(|source| DeviceError {
            device: spec,
            source,
        }),
    }
}

/// What a device is called in run records: `cpu`, `cuda:N`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// The kind of device, without its number (`cpu`, `cuda`): what a cached result depends on,
/// since every GPU of a kind computes alike.
pub fn device_kind(device: &Device) -> &'static str {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu",
        candle_core::DeviceLocation::Cuda { .. } => "cuda",
        candle_core::DeviceLocation::Metal { .. } => "metal",
    }
}

/// Bytes in use on `device`'s GPU, by every process (what nvidia-smi shows as used); `None`
/// on the CPU.
pub fn device_memory_used(device: &Device) -> Option<u64> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(cuda) = device {
        let (free, total) = cuda.cuda_stream().context().mem_get_info().ok()?;
        return Some((total - free) as u64);
    }
    let _ = device;
    None
}
