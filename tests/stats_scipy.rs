//! agf's comparison statistics against scipy and statsmodels on the same numbers (fixture
//! made by `tests/fixtures/make_stats_fixtures.py`): percentile bootstrap intervals from the
//! resamples scipy drew, exact Wilcoxon signed-rank p-values, Holm's adjusted p-values.

mod common;

use common::floats;

use agf::eval::{bootstrap, holm, wilcoxon};
use serde_json::Value;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/scipy_stats.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-12 * b.abs().max(1.0),
        "{what}: agf {a} vs reference {b}"
    );
}

#[test]
fn percentile_intervals_match_scipy_on_its_resamples() {
    let f = fixture();
    let cases = f["bootstrap"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for (i, case) in cases.iter().enumerate() {
        let x = floats(&case["x"]);
        let n = x.len();
        let digits: Vec<usize> = case["indices"]
            .as_str()
            .unwrap()
            .bytes()
            .map(|b| (b - b'0') as usize)
            .collect();
        assert_eq!(
            digits.len(),
            n * case["resamples"].as_u64().unwrap() as usize
        );
        let mut dist: Vec<f64> = digits
            .chunks(n)
            .map(|idx| idx.iter().map(|&k| x[k]).sum::<f64>() / n as f64)
            .collect();
        let level = case["level"].as_f64().unwrap();
        let got = bootstrap::percentile_interval(&mut dist, level);
        close(
            got.low,
            case["low"].as_f64().unwrap(),
            &format!("case {i} low"),
        );
        close(
            got.high,
            case["high"].as_f64().unwrap(),
            &format!("case {i} high"),
        );
    }
}

#[test]
fn exact_signed_rank_tests_match_scipy() {
    let f = fixture();
    let cases = f["wilcoxon"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for (i, case) in cases.iter().enumerate() {
        let r = wilcoxon::signed_rank(&floats(&case["d"]));
        close(
            r.statistic,
            case["statistic"].as_f64().unwrap(),
            &format!("case {i} statistic"),
        );
        close(
            r.p_value,
            case["p"].as_f64().unwrap(),
            &format!("case {i} p"),
        );
    }
}

#[test]
fn holm_adjustments_match_statsmodels() {
    let f = fixture();
    for (i, case) in f["holm"].as_array().unwrap().iter().enumerate() {
        let got = holm::adjust(&floats(&case["p"]));
        for (k, (a, b)) in got.iter().zip(floats(&case["adjusted"])).enumerate() {
            close(*a, b, &format!("case {i} p[{k}]"));
        }
    }
}
