//! Agreement between two labellings (does a factor find the latent artist groups?).

// Ordered maps: sums then run in one order, and the score is the same in every process.
use std::collections::BTreeMap;

/// Normalised mutual information with the arithmetic-mean normaliser (scikit-learn's
/// `normalized_mutual_info_score` default): 1 for identical partitions, 0 for independent
/// ones, invariant to renaming labels.
pub fn normalized_mutual_information(a: &[usize], b: &[usize]) -> f64 {
    assert_eq!(a.len(), b.len(), "two labellings of the same items");
    let n = a.len() as f64;
    let mut joint: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    let mut pa: BTreeMap<usize, f64> = BTreeMap::new();
    let mut pb: BTreeMap<usize, f64> = BTreeMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *joint.entry((x, y)).or_default() += 1.0;
        *pa.entry(x).or_default() += 1.0;
        *pb.entry(y).or_default() += 1.0;
    }
    if pa.len() == pb.len() && pa.len() <= 1 {
        // One cluster on both sides (or nothing at all): the same partition.
        return 1.0;
    }
    let entropy =
        |p: &BTreeMap<usize, f64>| -> f64 { p.values().map(|c| -(c / n) * (c / n).ln()).sum() };
    let mi: f64 = joint
        .iter()
        .map(|(&(x, y), &c)| (c / n) * (c * n / (pa[&x] * pb[&y])).ln())
        .sum();
    if mi <= 0.0 {
        return 0.0;
    }
    mi / ((entropy(&pa) + entropy(&pb)) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn against_scikit_learn() {
        // sklearn.metrics.normalized_mutual_info_score on the same labels (scikit-learn 1.9).
        let v = normalized_mutual_information(&[0, 0, 0, 1, 1, 1, 2, 2], &[1, 1, 0, 0, 2, 2, 2, 2]);
        assert!((v - 0.530_025_754_914_032_7).abs() < 1e-12, "{v}");
        assert_eq!(
            normalized_mutual_information(&[0, 0, 1, 1], &[5, 5, 5, 5]),
            0.0
        );
        // Renamed labels: the same partition.
        let r = normalized_mutual_information(&[0, 0, 1, 2], &[9, 9, 4, 7]);
        assert!((r - 1.0).abs() < 1e-12);
    }
}
