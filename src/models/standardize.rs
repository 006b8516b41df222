//! Per-column standardisation fitted on training rows only, so held-out statistics never
//! leak into the model.

#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fit on row-major `rows × cols`. Constant columns get std 1 (they map to 0).
    pub fn fit(x: &[f32], cols: usize) -> Self {
        let rows = x.len() / cols;
        let mut mean = vec![0f64; cols];
        let mut var = vec![0f64; cols];
        for r in x.chunks(cols) {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += *v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows.max(1) as f64);
        for r in x.chunks(cols) {
            for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (*v as f64 - m).powi(2);
            }
        }
        let std = var
            .iter()
            .map(|s| {
                let sd = (s / rows.max(1) as f64).sqrt();
                if sd > 1e-12 {
                    sd as f32
                } else {
                    1.0
                }
            })
            .collect();
        Standardizer {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        let cols = self.mean.len();
        x.chunks(cols)
            .flat_map(|r| {
                r.iter()
                    .zip(&self.mean)
                    .zip(&self.std)
                    .map(|((v, m), s)| (v - m) / s)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_columns_are_standard() {
        let x = [1.0, 5.0, 3.0, 5.0, 5.0, 5.0];
        let s = Standardizer::fit(&x, 2);
        assert_eq!(s.mean, vec![3.0, 5.0]);
        assert_eq!(s.std[1], 1.0);
        let z = s.apply(&x);
        let sd = (8.0f32 / 3.0).sqrt();
        assert_eq!(z, vec![-2.0 / sd, 0.0, 0.0, 0.0, 2.0 / sd, 0.0]);
    }
}
