//! Confident learning against cleanlab 2.7.1 on fixtures made by
//! `tests/fixtures/make_audit_fixtures.py`: an agf model's predictions as `agf run` writes
//! them and seeded synthetic probabilities with flipped labels. Flagged sets, counts and
//! joints are identical; thresholds, joints' shares and scores agree to the last bits.

mod common;

use common::floats;

use agf::audit::confident::{self, Examples, FilterBy, QualityScore};
use agf::audit::predictions;
use serde_json::Value;
use std::path::Path;

fn fixtures() -> Value {
    let text = std::fs::read_to_string("tests/fixtures/cleanlab_audit.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(floats).collect()
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-12 * b.abs().max(1.0),
        "{what}: {a} against cleanlab's {b}"
    );
}

/// Each case's labels and probabilities: the CSV through agf's reader, or the JSON's.
fn examples(case: &Value) -> (Vec<usize>, Vec<f64>, usize) {
    let k = case["k"].as_u64().unwrap() as usize;
    match case["file"].as_str() {
        Some(file) => {
            let p = predictions::read(&Path::new("tests/fixtures").join(file)).unwrap();
            assert_eq!(p.classes.len(), k);
            (p.labels, p.probs, k)
        }
        None => (
            ints(&case["labels"]).iter().map(|&l| l as usize).collect(),
            case["probs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(floats)
                .collect(),
            k,
        ),
    }
}

#[test]
fn flagged_sets_counts_and_joints_are_cleanlabs() {
    let f = fixtures();
    assert_eq!(f["cleanlab"], "2.7.1");
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (labels, probs, k) = examples(case);
        let ex = Examples::new(&labels, &probs, k).unwrap();

        // Thresholds are numpy's pairwise means: equal to the bit.
        assert_eq!(
            confident::thresholds(&ex),
            floats(&case["thresholds"]),
            "{name}"
        );
        let a = confident::audit(&ex, FilterBy::default());
        let cj: Vec<Vec<i64>> = case["confident_joint"]
            .as_array()
            .unwrap()
            .iter()
            .map(ints)
            .collect();
        assert_eq!(a.confident_joint.counts, cj, "{name}");
        let off: Vec<usize> = ints(&case["off_diagonal"])
            .iter()
            .map(|&i| i as usize)
            .collect();
        assert_eq!(a.confident_joint.off_diagonal, off, "{name}");
        let calibrated: Vec<Vec<i64>> = case["calibrated"]
            .as_array()
            .unwrap()
            .iter()
            .map(ints)
            .collect();
        assert_eq!(a.calibrated, calibrated, "{name}");
        for filter in FilterBy::ALL {
            let a = confident::audit(&ex, filter);
            let flagged: Vec<i64> = (0..ex.len())
                .filter(|&i| a.issues[i])
                .map(|i| i as i64)
                .collect();
            assert_eq!(
                flagged,
                ints(&case["issues"][filter.as_str()]),
                "{name}: {filter:?}"
            );
        }
        assert_eq!(a.joint, matrix(&case["joint"]), "{name}");
        assert_eq!(
            a.num_label_issues as u64,
            case["num_label_issues"].as_u64().unwrap(),
            "{name}"
        );
        for (ours, theirs, what) in [
            (
                &a.latent.noise_matrix,
                matrix(&case["noise_matrix"]),
                "noise matrix",
            ),
            (
                &a.latent.inverse_noise_matrix,
                matrix(&case["inverse_noise_matrix"]),
                "inverse noise matrix",
            ),
        ] {
            for (r, t) in ours.iter().zip(&theirs) {
                for (x, y) in r.iter().zip(t) {
                    close(*x, *y, &format!("{name}: {what}"));
                }
            }
        }
        for (x, y) in a.latent.py.iter().zip(floats(&case["py"])) {
            close(*x, y, &format!("{name}: py"));
        }

        for score in QualityScore::ALL {
            let ours = confident::quality_scores(&ex, score);
            let theirs = floats(&case["scores"][score.as_str()]);
            assert_eq!(ours.len(), theirs.len());
            for (x, y) in ours.iter().zip(&theirs) {
                close(*x, *y, &format!("{name}: {score:?}"));
            }
        }
        let scores = confident::quality_scores(&ex, QualityScore::SelfConfidence);
        let ranked: Vec<i64> = confident::ranked(&a.issues, &scores)
            .iter()
            .map(|&i| i as i64)
            .collect();
        assert_eq!(ranked, ints(&case["ranked_by_self_confidence"]), "{name}");

        let h = confident::health(&ex, &a);
        close(h.score, case["health_score"].as_f64().unwrap(), name);
        for theirs in case["health_classes"].as_array().unwrap() {
            let c = theirs["class"].as_u64().unwrap() as usize;
            let ours = h.classes.iter().find(|x| x.class == c).unwrap();
            assert_eq!(ours.label_issues, theirs["label_issues"].as_i64().unwrap());
            assert_eq!(
                ours.inverse_label_issues,
                theirs["inverse_label_issues"].as_i64().unwrap()
            );
            close(
                ours.label_noise,
                theirs["label_noise"].as_f64().unwrap(),
                name,
            );
            close(
                ours.inverse_label_noise,
                theirs["inverse_label_noise"].as_f64().unwrap(),
                name,
            );
        }
    }
}
