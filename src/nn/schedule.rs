//! Learning-rate schedules. Each epoch's rate is a function of the epoch number and the
//! validation losses so far, so a resumed run recomputes it from its history: nothing extra
//! goes into the checkpoint.

/// How the learning rate moves over epochs (`[cnn] lr_schedule = { kind = "…", … }`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LrSchedule {
    /// The base rate throughout (the authors').
    Constant,
    /// Multiply by `gamma` every `every` epochs (PyTorch's StepLR).
    Step { every: usize, gamma: f64 },
    /// Cosine from the base rate at epoch 1 down to `min_lr` at the last epoch.
    Cosine { min_lr: f64 },
    /// Multiply by `factor` when the validation loss has not improved (by 0.01% relative)
    /// for more than `patience` epochs, not below `min_lr` (PyTorch's ReduceLROnPlateau).
    Plateau {
        factor: f64,
        patience: usize,
        min_lr: f64,
    },
}

impl LrSchedule {
    /// What is wrong with the parameters, if anything (field name, problem).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let rate = |name: &'static str, v: f64| {
            (!(v.is_finite() && v > 0.0 && v < 1.0))
                .then(|| (name, format!("expected a factor between 0 and 1, got {v}")))
        };
        let floor = |v: f64| {
            (!(v.is_finite() && v >= 0.0))
                .then(|| ("min_lr", format!("expected a rate ≥ 0, got {v}")))
        };
        match *self {
            LrSchedule::Constant => None,
            LrSchedule::Step { every, gamma } => (every == 0)
                .then(|| ("every", "expected at least 1 epoch".to_string()))
                .or_else(|| rate("gamma", gamma)),
            LrSchedule::Cosine { min_lr } => floor(min_lr),
            LrSchedule::Plateau { factor, min_lr, .. } => {
                rate("factor", factor).or_else(|| floor(min_lr))
            }
        }
    }

    /// The rate of epoch `epoch` (1-based) of `epochs`, given the validation losses of the
    /// epochs before it.
    pub fn rate(&self, base: f64, epoch: usize, epochs: usize, validation: &[f64]) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every, gamma } => {
                base * gamma.powi(((epoch.saturating_sub(1)) / every.max(1)) as i32)
            }
            LrSchedule::Cosine { min_lr } => {
                let span = epochs.saturating_sub(1).max(1) as f64;
                let t = (epoch.saturating_sub(1) as f64 / span).min(1.0);
                min_lr + (base - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            LrSchedule::Plateau {
                factor,
                patience,
                min_lr,
            } => {
                let (mut lr, mut best, mut bad) = (base, f64::INFINITY, 0usize);
                for &v in validation {
                    if v < best * (1.0 - 1e-4) {
                        best = v;
                        bad = 0;
                    } else {
                        bad += 1;
                        if bad > patience {
                            lr = (lr * factor).max(min_lr);
                            bad = 0;
                        }
                    }
                }
                lr
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_and_cosine_follow_their_formulas() {
        let s = LrSchedule::Step {
            every: 10,
            gamma: 0.5,
        };
        assert_eq!(s.rate(1.0, 1, 100, &[]), 1.0);
        assert_eq!(s.rate(1.0, 10, 100, &[]), 1.0);
        assert_eq!(s.rate(1.0, 11, 100, &[]), 0.5);
        assert_eq!(s.rate(1.0, 25, 100, &[]), 0.25);
        let c = LrSchedule::Cosine { min_lr: 0.1 };
        assert_eq!(c.rate(1.0, 1, 11, &[]), 1.0);
        assert!((c.rate(1.0, 6, 11, &[]) - 0.55).abs() < 1e-12);
        assert!((c.rate(1.0, 11, 11, &[]) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn plateau_reduces_after_patience_bad_epochs_as_pytorch_does() {
        let p = LrSchedule::Plateau {
            factor: 0.1,
            patience: 2,
            min_lr: 1e-3,
        };
        // Improves, then three epochs without improvement: reduced once (PyTorch reduces
        // when the bad-epoch count exceeds the patience).
        assert_eq!(p.rate(1.0, 3, 50, &[3.0, 2.0]), 1.0);
        assert_eq!(p.rate(1.0, 5, 50, &[3.0, 2.0, 2.0, 2.1]), 1.0);
        assert!((p.rate(1.0, 6, 50, &[3.0, 2.0, 2.0, 2.1, 2.0]) - 0.1).abs() < 1e-12);
        // Never below the floor.
        let flat = vec![1.0; 40];
        assert_eq!(p.rate(1.0, 41, 50, &flat), 1e-3);
    }

    #[test]
    fn nonsense_parameters_are_named() {
        let bad = LrSchedule::Step {
            every: 3,
            gamma: 2.0,
        };
        assert_eq!(bad.problem().unwrap().0, "gamma");
        assert_eq!(LrSchedule::Constant.problem(), None);
    }
}
