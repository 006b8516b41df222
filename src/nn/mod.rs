//! Neural networks on log-mel patches (candle): the paper's CNN and its layers, with every
//! random draw (weights, dropout masks) from our seeded generator.
//!
//! Built so far: the layers, the configurable CNN with the `won2018` and `small` presets,
//! and the optimiser. Training, checkpoints and the transfer MLP come next (issue 7).

pub mod adam;
pub mod cnn;
pub mod layers;
pub mod params;
pub mod train;

pub use cnn::{Cnn, CnnConfig};
