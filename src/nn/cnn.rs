//! The paper's CNN on log-mel patches (`AGF-METHOD.md` §4), described by a [`CnnConfig`]:
//! conv blocks (conv → [batch norm] → activation → [max pool] → [dropout]), global average
//! pooling → batch norm, a dense tap layer (→ batch norm → activation; its output is the
//! representation the transfer MLP reads) → dropout → the output layer (logits).

use super::layers::{dropout, elu, max_pool, BatchNorm, Conv, Dense};
use super::params::Params;
use crate::rng::Rng;
use candle_core::{Device, Result, Tensor, D};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Elu,
    Relu,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConvBlock {
    pub channels: usize,
    /// (mel, time) kernel; odd sizes ('same' padding).
    pub kernel: [usize; 2],
    pub batch_norm: bool,
    /// (mel, time) max-pool size and stride.
    pub pool: Option<[usize; 2]>,
    pub dropout: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CnnConfig {
    pub blocks: Vec<ConvBlock>,
    pub activation: Activation,
    /// Batch norm after global average pooling.
    pub pooled_batch_norm: bool,
    /// Width of the dense representation layer (the tap).
    pub tap: usize,
    pub tap_dropout: f64,
    /// Running-statistics momentum (Keras' 0.99 is 0.01 here: the weight of the new batch).
    pub bn_momentum: f64,
}

fn block(channels: usize, k: usize, bn: bool, pool: Option<[usize; 2]>, dropout: f64) -> ConvBlock {
    ConvBlock {
        channels,
        kernel: [k, k],
        batch_norm: bn,
        pool,
        dropout,
    }
}

impl CnnConfig {
    /// The winning submission's net, exactly as §4 lists it (≈570k parameters at 16 outputs).
    pub fn won2018() -> Self {
        CnnConfig {
            blocks: vec![
                block(16, 5, false, Some([2, 1]), 0.0),
                block(32, 3, true, Some([2, 2]), 0.1),
                block(64, 3, false, Some([2, 2]), 0.0),
                block(64, 3, true, Some([2, 2]), 0.1),
                block(128, 3, false, Some([2, 2]), 0.0),
                block(256, 3, false, None, 0.0),
                block(256, 1, true, None, 0.0),
            ],
            activation: Activation::Elu,
            pooled_batch_norm: true,
            tap: 256,
            tap_dropout: 0.5,
            bn_momentum: 0.01,
        }
    }

    /// A small net of the same shape for CPU quickstarts and tests (≈15k parameters).
    pub fn small() -> Self {
        CnnConfig {
            blocks: vec![
                block(8, 5, false, Some([2, 1]), 0.0),
                block(16, 3, true, Some([2, 2]), 0.1),
                block(32, 3, false, Some([2, 2]), 0.0),
                block(32, 1, true, None, 0.0),
            ],
            activation: Activation::Elu,
            pooled_batch_norm: true,
            tap: 64,
            tap_dropout: 0.5,
            bn_momentum: 0.01,
        }
    }
}

struct Block {
    conv: Conv,
    bn: Option<BatchNorm>,
    pool: Option<[usize; 2]>,
    dropout: f64,
}

pub struct Cnn {
    pub params: Params,
    blocks: Vec<Block>,
    pooled_bn: Option<BatchNorm>,
    dense: Dense,
    dense_bn: BatchNorm,
    /// One output layer per task (one for a single-task net).
    heads: Vec<Dense>,
    activation: Activation,
    tap_dropout: f64,
    /// Each head's output count.
    pub outputs: Vec<usize>,
}

/// What one forward pass gives.
pub struct Forward {
    /// The representation layer (after its batch norm and activation, before dropout).
    pub tap: Tensor,
    pub logits: Tensor,
}

impl Cnn {
    /// A net with weights drawn from `seed`, for `outputs` classes (or topics).
    pub fn new(cfg: &CnnConfig, outputs: usize, seed: u64, dev: &Device) -> Result<Self> {
        Self::multi(cfg, &[outputs], seed, dev)
    }

    /// A net with one trunk and a head per entry of `heads` (its output count): the
    /// multi-task variant. Head 0 is drawn as a single-task net's output layer is.
    pub fn multi(cfg: &CnnConfig, heads: &[usize], seed: u64, dev: &Device) -> Result<Self> {
        let mut rng = Rng::derive(seed, "cnn.init", 0);
        let mut params = Params::default();
        let mut blocks = Vec::new();
        let mut ch = 1;
        for (i, b) in cfg.blocks.iter().enumerate() {
            let conv = Conv::new(
                &mut params,
                &format!("conv{i}"),
                ch,
                b.channels,
                b.kernel,
                i > 0,
                &mut rng,
                dev,
            )?;
            let bn = if b.batch_norm {
                Some(BatchNorm::new(
                    &mut params,
                    &format!("conv{i}.bn"),
                    b.channels,
                    cfg.bn_momentum,
                    dev,
                )?)
            } else {
                None
            };
            blocks.push(Block {
                conv,
                bn,
                pool: b.pool,
                dropout: b.dropout,
            });
            ch = b.channels;
        }
        let pooled_bn = if cfg.pooled_batch_norm {
            Some(BatchNorm::new(
                &mut params,
                "pooled.bn",
                ch,
                cfg.bn_momentum,
                dev,
            )?)
        } else {
            None
        };
        let dense = Dense::new(&mut params, "tap", ch, cfg.tap, &mut rng, dev)?;
        let dense_bn = BatchNorm::new(&mut params, "tap.bn", cfg.tap, cfg.bn_momentum, dev)?;
        let heads_layers = heads
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let name = if i == 0 {
                    "out".into()
                } else {
                    format!("out{i}")
                };
                Dense::new(&mut params, &name, cfg.tap, n, &mut rng, dev)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Cnn {
            params,
            blocks,
            pooled_bn,
            dense,
            dense_bn,
            heads: heads_layers,
            activation: cfg.activation,
            tap_dropout: cfg.tap_dropout,
            outputs: heads.to_vec(),
        })
    }

    /// The head a parameter belongs to (`out.*` is head 0, `out<i>.*` head i), if any.
    pub fn head_of(param: &str) -> Option<usize> {
        let (layer, _) = param.split_once('.')?;
        let rest = layer.strip_prefix("out")?;
        if rest.is_empty() {
            Some(0)
        } else {
            rest.parse().ok()
        }
    }

    /// Width of the representation layer.
    pub fn tap_width(&self) -> usize {
        self.dense.weight.dims()[0]
    }

    fn act(&self, x: &Tensor) -> Result<Tensor> {
        match self.activation {
            Activation::Elu => elu(x, 1.0),
            Activation::Relu => x.relu(),
        }
    }

    /// `x`: batch × 1 × mels × frames. `rng` draws the dropout masks when training. The
    /// logits are the first head's.
    pub fn forward(&self, x: &Tensor, train: bool, rng: Option<&mut Rng>) -> Result<Forward> {
        self.forward_head(x, train, rng, 0)
    }

    /// As [`Cnn::forward`], with the logits of head `head`.
    pub fn forward_head(
        &self,
        x: &Tensor,
        train: bool,
        mut rng: Option<&mut Rng>,
        head: usize,
    ) -> Result<Forward> {
        let mut h = x.clone();
        for b in &self.blocks {
            h = b.conv.forward(&h)?;
            if let Some(bn) = &b.bn {
                h = bn.forward(&h, train)?;
            }
            // Pooling first: ELU and ReLU never reorder values, so the window's maximum after
            // the activation is the activation of its maximum (the same element, the same
            // gradient), and the activation then runs on a quarter of the values.
            if let Some([ph, pw]) = b.pool {
                h = max_pool(&h, ph, pw)?;
            }
            h = self.act(&h)?;
            if train {
                h = dropout(&h, b.dropout, rng.as_deref_mut())?;
            }
        }
        let mut pooled = h.mean(D::Minus1)?.mean(D::Minus1)?;
        if let Some(bn) = &self.pooled_bn {
            pooled = bn.forward(&pooled, train)?;
        }
        let tap = self.act(
            &self
                .dense_bn
                .forward(&self.dense.forward(&pooled)?, train)?,
        )?;
        let dropped = if train {
            dropout(&tap, self.tap_dropout, rng)?
        } else {
            tap.clone()
        };
        let Some(out) = self.heads.get(head) else {
            candle_core::bail!("the net has {} heads, not {}", self.heads.len(), head + 1)
        };
        let logits = out.forward(&dropped)?;
        Ok(Forward { tap, logits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn won2018_has_the_papers_shape_and_size() {
        let net = Cnn::new(&CnnConfig::won2018(), 16, 1, &Device::Cpu).unwrap();
        // Kernels and biases: 565,200; batch-norm scales and shifts: 1,728 (§4: ≈570k).
        assert_eq!(net.params.count(), 565_200 + 1_728);
        let x = Tensor::zeros((2, 1, 128, 43), candle_core::DType::F32, &Device::Cpu).unwrap();
        let f = net.forward(&x, false, None).unwrap();
        assert_eq!(f.tap.dims(), &[2, 256]);
        assert_eq!(f.logits.dims(), &[2, 16]);
    }

    #[test]
    fn same_seed_same_net_and_dropout_only_in_training() {
        let cfg = CnnConfig::small();
        let a = Cnn::new(&cfg, 4, 7, &Device::Cpu).unwrap();
        let b = Cnn::new(&cfg, 4, 7, &Device::Cpu).unwrap();
        let mut rng = Rng::new(1);
        let x = Tensor::from_vec(
            (0..2 * 64 * 43)
                .map(|_| rng.normal() as f32)
                .collect::<Vec<_>>(),
            (2, 1, 64, 43),
            &Device::Cpu,
        )
        .unwrap();
        let fa = a
            .forward(&x, false, None)
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        let fb = b
            .forward(&x, false, None)
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(fa, fb);
        let t1 = a
            .forward(&x, true, Some(&mut Rng::new(5)))
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        let t2 = b
            .forward(&x, true, Some(&mut Rng::new(5)))
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(t1, t2, "seeded dropout masks repeat");
        let other = Cnn::new(&cfg, 4, 8, &Device::Cpu).unwrap();
        let fo = other
            .forward(&x, false, None)
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        assert_ne!(fa, fo);
    }
}
