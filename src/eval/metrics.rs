//! The challenge's metrics and what MIR reviewers expect beside them.
//!
//! - Mean log loss, `−(1/N) Σ_n ln p̂(n, y_n)`, with each probability clipped to
//!   `[clip, 1 − clip]` first (the challenge evaluator clipped at 1e-8); the clip is recorded.
//!   Rows are not renormalised after clipping, so a model's own probabilities are scored.
//! - Macro-F1 over the classes that occur in the labels or the predictions (scikit-learn's
//!   `f1_score(average="macro")` with its default `labels=None`; a class without true or
//!   predicted tracks is left out rather than scored 0).
//! - Accuracy, per-class precision/recall/F1/support, confusion matrix (rows true, columns
//!   predicted).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub n: usize,
    pub log_loss: f64,
    pub log_loss_clip: f64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

/// Argmax with the first maximum winning ties (numpy's convention).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// Mean log loss of row-major probabilities `probs` (`labels.len() × n_classes`).
pub fn log_loss(probs: &[f32], labels: &[usize], n_classes: usize, clip: f64) -> f64 {
    assert_eq!(
        probs.len(),
        labels.len() * n_classes,
        "probabilities and labels disagree"
    );
    if labels.is_empty() {
        return f64::NAN;
    }
    let total: f64 = labels
        .iter()
        .enumerate()
        .map(|(n, &y)| {
            -(probs[n * n_classes + y] as f64)
                .clamp(clip, 1.0 - clip)
                .ln()
        })
        .sum();
    total / labels.len() as f64
}

pub fn confusion(pred: &[usize], labels: &[usize], n_classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0usize; n_classes]; n_classes];
    for (&p, &y) in pred.iter().zip(labels) {
        m[y][p] += 1;
    }
    m
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Every metric at once.
pub fn evaluate(probs: &[f32], labels: &[usize], n_classes: usize, clip: f64) -> Evaluation {
    let pred: Vec<usize> = probs.chunks(n_classes).map(argmax).collect();
    let cm = confusion(&pred, labels, n_classes);
    let counted = from_confusion(&cm);
    Evaluation {
        n: labels.len(),
        log_loss: log_loss(probs, labels, n_classes, clip),
        log_loss_clip: clip,
        accuracy: counted.accuracy,
        macro_f1: counted.macro_f1,
        per_class: counted.per_class,
        confusion: cm,
    }
}

/// The metrics a confusion matrix determines.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
}

/// Accuracy, macro-F1 and per-class scores from `cm[true][predicted]` (a bootstrap over
/// artists sums their matrices and scores the sum).
pub fn from_confusion(cm: &[Vec<usize>]) -> Counted {
    let n_classes = cm.len();
    let per_class: Vec<ClassMetrics> = (0..n_classes)
        .map(|c| {
            let tp = cm[c][c];
            let support: usize = cm[c].iter().sum();
            let predicted: usize = cm.iter().map(|row| row[c]).sum();
            let precision = ratio(tp, predicted);
            let recall = ratio(tp, support);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let present: Vec<usize> = (0..n_classes)
        .filter(|&c| per_class[c].support > 0 || cm.iter().any(|row| row[c] > 0))
        .collect();
    let macro_f1 = if present.is_empty() {
        f64::NAN
    } else {
        present.iter().map(|&c| per_class[c].f1).sum::<f64>() / present.len() as f64
    };
    let correct: usize = (0..n_classes).map(|c| cm[c][c]).sum();
    let total: usize = cm.iter().flatten().sum();
    Counted {
        accuracy: ratio(correct, total),
        macro_f1,
        per_class,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // 4 tracks, 3 classes.
        let probs = [
            0.7, 0.2, 0.1, // y=0, pred 0
            0.1, 0.8, 0.1, // y=1, pred 1
            0.5, 0.4, 0.1, // y=1, pred 0
            0.0, 0.0, 1.0, // y=2, pred 2 (p=1 is clipped to 1−1e-8)
        ];
        let labels = [0, 1, 1, 2];
        let e = evaluate(&probs, &labels, 3, 1e-8);
        let want = -((0.7f32 as f64).ln()
            + (0.8f32 as f64).ln()
            + (0.4f32 as f64).ln()
            + (1.0 - 1e-8f64).ln())
            / 4.0;
        assert!(
            (e.log_loss - want).abs() < 1e-12,
            "{} vs {want}",
            e.log_loss
        );
        assert_eq!(e.accuracy, 0.75);
        assert_eq!(
            e.confusion,
            vec![vec![1, 0, 0], vec![1, 1, 0], vec![0, 0, 1]]
        );
        // class 0: P 1/2 R 1 F1 2/3; class 1: P 1 R 1/2 F1 2/3; class 2: 1.
        assert!((e.per_class[0].f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((e.per_class[1].precision - 1.0).abs() < 1e-12);
        assert!((e.macro_f1 - (2.0 / 3.0 + 2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn zero_probability_is_clipped_not_infinite() {
        let e = evaluate(&[0.0, 1.0], &[0], 2, 1e-8);
        assert!((e.log_loss - (-(1e-8f64).ln())).abs() < 1e-9);
        assert_eq!(e.macro_f1, 0.0); // both classes present, both F1 = 0
    }

    #[test]
    fn absent_class_is_left_out_of_macro_f1() {
        // Class 2 is neither true nor predicted anywhere.
        let e = evaluate(&[0.9, 0.1, 0.0, 0.2, 0.8, 0.0], &[0, 1], 3, 1e-8);
        assert_eq!(e.macro_f1, 1.0);
    }

    #[test]
    fn uniform_prediction_scores_ln_c() {
        let c = 8;
        let probs = vec![1.0 / c as f32; 5 * c];
        let e = evaluate(&probs, &[0, 1, 2, 3, 7], c, 1e-8);
        assert!((e.log_loss - (c as f64).ln()).abs() < 1e-6);
    }
}
