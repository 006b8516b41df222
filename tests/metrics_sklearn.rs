//! agf's metrics against scikit-learn's on the same probabilities
//! (fixture made by `tests/fixtures/make_metric_fixtures.py`).

mod common;

use common::floats;

use agf::eval::metrics::evaluate;
use serde_json::Value;

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: agf {a} vs scikit-learn {b}");
}

#[test]
fn metrics_match_scikit_learn() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sklearn_metrics.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for (i, case) in cases.iter().enumerate() {
        let c = case["n_classes"].as_u64().unwrap() as usize;
        let labels: Vec<usize> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let probs: Vec<f32> = floats(&case["probs"])
            .into_iter()
            .map(|x| x as f32)
            .collect();
        // scikit-learn clips at float64 machine epsilon; no probability here is that small
        // except the absent class's, which is never a true label.
        let e = evaluate(&probs, &labels, c, f64::EPSILON);
        close(
            e.log_loss,
            case["log_loss"].as_f64().unwrap(),
            1e-6,
            &format!("case {i} log loss"),
        );
        close(
            e.accuracy,
            case["accuracy"].as_f64().unwrap(),
            1e-12,
            &format!("case {i} accuracy"),
        );
        close(
            e.macro_f1,
            case["macro_f1"].as_f64().unwrap(),
            1e-12,
            &format!("case {i} macro-F1"),
        );
        for (k, m) in e.per_class.iter().enumerate() {
            close(
                m.precision,
                floats(&case["precision"])[k],
                1e-12,
                "precision",
            );
            close(m.recall, floats(&case["recall"])[k], 1e-12, "recall");
            close(m.f1, floats(&case["f1"])[k], 1e-12, "f1");
            assert_eq!(m.support as f64, floats(&case["support"])[k]);
        }
        let cm: Vec<Vec<usize>> = case["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as usize)
                    .collect()
            })
            .collect();
        assert_eq!(e.confusion, cm, "case {i} confusion");
    }
}
