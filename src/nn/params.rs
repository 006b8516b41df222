//! A network's parameters by name, in creation order (so that every walk over them, for
//! the optimiser, L2 or a checkpoint, is deterministic).

use candle_core::{Device, Result, Tensor, Var};
use std::path::Path;

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

    /// Write every parameter (batch-norm statistics included) to a safetensors file, by
    /// way of a temporary file renamed into place: a reader never sees half a file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors: std::collections::HashMap<String, Tensor> = self
            .iter()
            .map(|(n, v, _)| (n.to_string(), v.as_tensor().clone()))
            .collect();
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Set every parameter from a file [`Params::save`] wrote for the same network.
    pub fn load(&self, path: &Path, dev: &Device) -> Result<()> {
        let tensors = candle_core::safetensors::load(path, dev)?;
        for (n, v, _) in self.iter() {
            match tensors.get(n) {
                Some(t) => v.set(t)?,
                None => candle_core::bail!("{} has no parameter {n}", path.display()),
            }
        }
        Ok(())
    }

    /// Trainable scalars (statistics excluded).
    pub fn count(&self) -> usize {
        self.trainable().map(|(_, v)| v.elem_count()).sum()
    }
}
