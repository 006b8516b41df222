//! Adam (Kingma & Ba, in PyTorch's form) and AdamW (decoupled weight decay), with state we
//! can checkpoint: a resumed run continues with the same moments and step count.

use super::params::Params;
use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay (AdamW); 0 = plain Adam. An L2 penalty belongs in the loss.
    pub weight_decay: f64,
}

impl AdamConfig {
    /// AdamW's decoupled decay when none is given (PyTorch's default).
    pub const ADAMW_WEIGHT_DECAY: f64 = 0.01;
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

pub struct Adam {
    pub cfg: AdamConfig,
    pub step: u64,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Adam {
    pub fn new(params: &Params, cfg: AdamConfig) -> Result<Self> {
        let zeros = |t: &Tensor| t.zeros_like();
        let m = params
            .trainable()
            .map(|(_, v)| zeros(v.as_tensor()))
            .collect::<Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Adam { cfg, step: 0, m, v })
    }

    /// One update of every trainable parameter that has a gradient.
    pub fn step(&mut self, params: &Params, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let c = self.cfg;
        let t = self.step as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        for (i, (_, var)) in params.trainable().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            // Detached: gradients computed from variables carry their op history, and moments
            // built on them would chain every step's graph to the next (memory grows without
            // bound).
            let g = g.detach();
            self.m[i] = ((&self.m[i] * c.beta1)? + (&g * (1.0 - c.beta1))?)?.detach();
            self.v[i] = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?.detach();
            let mhat = (&self.m[i] / bias1)?;
            let denom = ((&self.v[i] / bias2)?.sqrt()? + c.eps)?;
            let mut w = var.as_tensor().clone();
            if c.weight_decay > 0.0 {
                w = (&w * (1.0 - c.lr * c.weight_decay))?;
            }
            var.set(&(w - (mhat.div(&denom)? * c.lr)?)?.detach())?;
        }
        Ok(())
    }

    /// The moments by parameter name (for a checkpoint).
    pub fn state(&self, params: &Params) -> Vec<(String, Tensor)> {
        params
            .trainable()
            .zip(self.m.iter().zip(&self.v))
            .flat_map(|((name, _), (m, v))| {
                [
                    (format!("adam.m.{name}"), m.clone()),
                    (format!("adam.v.{name}"), v.clone()),
                ]
            })
            .collect()
    }

    /// Restore moments saved by [`Adam::state`]; `step` is restored by the caller.
    pub fn load_state(
        &mut self,
        params: &Params,
        get: &dyn Fn(&str) -> Option<Tensor>,
    ) -> Result<()> {
        for (i, (name, _)) in params.trainable().enumerate() {
            match (
                get(&format!("adam.m.{name}")),
                get(&format!("adam.v.{name}")),
            ) {
                (Some(m), Some(v)) => {
                    self.m[i] = m;
                    self.v[i] = v;
                }
                _ => candle_core::bail!("the checkpoint has no optimiser state for {name}"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::ParamKind;
    use candle_core::Device;

    #[test]
    fn first_steps_match_the_formula() {
        // One parameter, loss = w²: gradient 2w. Adam's first step moves by lr·sign(g).
        let mut p = Params::default();
        let w = p
            .add(
                "w",
                Tensor::new(&[1.0f32], &Device::Cpu).unwrap(),
                ParamKind::Kernel,
            )
            .unwrap();
        let mut opt = Adam::new(
            &p,
            AdamConfig {
                lr: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
        opt.step(&p, &loss.backward().unwrap()).unwrap();
        let after = w.as_tensor().to_vec1::<f32>().unwrap()[0];
        assert!((after - 0.9).abs() < 1e-6, "{after}");
        // AdamW also shrinks by lr·decay·w before the step.
        let mut p2 = Params::default();
        let w2 = p2
            .add(
                "w",
                Tensor::new(&[1.0f32], &Device::Cpu).unwrap(),
                ParamKind::Kernel,
            )
            .unwrap();
        let mut opt2 = Adam::new(
            &p2,
            AdamConfig {
                lr: 0.1,
                weight_decay: 0.5,
                ..Default::default()
            },
        )
        .unwrap();
        let loss = w2.as_tensor().sqr().unwrap().sum_all().unwrap();
        opt2.step(&p2, &loss.backward().unwrap()).unwrap();
        let after = w2.as_tensor().to_vec1::<f32>().unwrap()[0];
        assert!((after - (0.95 - 0.1)).abs() < 1e-6, "{after}");
    }
}
