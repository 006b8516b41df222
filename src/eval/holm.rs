//! Holm's step-down correction for testing several arms against one baseline (as
//! `statsmodels.stats.multitest.multipletests(method="holm")`): with the m p-values
//! ascending, the i-th (from 0) is multiplied by m − i, each adjusted value is raised to the
//! largest before it, and all are capped at 1. It holds the family-wise error rate without
//! assuming the tests independent (they share the baseline's runs).

/// Adjusted p-values, in the order given.
pub fn adjust(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (i, &k) in order.iter().enumerate() {
        running = running.max(p_values[k] * (m - i) as f64);
        out[k] = running.min(1.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // Ascending 0.01, 0.02, 0.04 times 3, 2, 1: 0.03, 0.04, 0.04 (raised to the max).
        let a = adjust(&[0.04, 0.01, 0.02]);
        assert!((a[0] - 0.04).abs() < 1e-15 && (a[1] - 0.03).abs() < 1e-15);
        assert!((a[2] - 0.04).abs() < 1e-15);
        assert_eq!(adjust(&[0.9, 0.8]), [1.0, 1.0]);
        assert!(adjust(&[]).is_empty());
    }
}
