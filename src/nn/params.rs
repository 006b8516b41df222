//! A network's parameters by name, in creation order (so that every walk over them, for
//! the optimiser, L2 or a checkpoint, is deterministic).

use candle_core::{Result, Tensor, Var};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Conv and dense kernels: trained and L2-regularised.
    Kernel,
    /// Biases, batch-norm scales and shifts: trained, not regularised.
    Other,
    /// Batch-norm running statistics: checkpointed, never trained.
    Statistic,
}

#[derive(Default)]
pub struct Params {
    entries: Vec<(String, Var, ParamKind)>,
}

impl Params {
    pub fn add(&mut self, name: &str, init: Tensor, kind: ParamKind) -> Result<Var> {
        assert!(
            self.entries.iter().all(|(n, _, _)| n != name),
            "parameter {name} defined twice"
        );
        let v = Var::from_tensor(&init)?;
        self.entries.push((name.to_string(), v.clone(), kind));
        Ok(v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Var, ParamKind)> {
        self.entries.iter().map(|(n, v, k)| (n.as_str(), v, *k))
    }

    /// Parameters the optimiser updates.
    pub fn trainable(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.iter()
            .filter(|(_, _, k)| *k != ParamKind::Statistic)
            .map(|(n, v, _)| (n, v))
    }

    /// Σ w² over the kernels (the L2 penalty before its weight).
    pub fn kernel_sq_sum(&self) -> Result<Option<Tensor>> {
        self.kernel_sq_sum_where(&|_| true)
    }

    /// Σ w² over the kernels whose names `keep` accepts.
    pub fn kernel_sq_sum_where(&self, keep: &dyn Fn(&str) -> bool) -> Result<Option<Tensor>> {
        let mut total: Option<Tensor> = None;
        for (name, v, k) in self.iter() {
            if k == ParamKind::Kernel && keep(name) {
                let s = v.as_tensor().sqr()?.sum_all()?;
                total = Some(match total {
                    None => s,
                    Some(t) => (t + s)?,
                });
            }
        }
        Ok(total)
    }

    /// Trainable scalars (statistics excluded).
    pub fn count(&self) -> usize {
        self.trainable().map(|(_, v)| v.elem_count()).sum()
    }
}
