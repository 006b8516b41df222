//! Our K-Means and LDA against scikit-learn's on the same data: the reference numbers come
//! from `tests/fixtures/make_factor_fixtures.py` (scikit-learn 1.9). Random starts differ
//! between the tools, so LDA is compared as the mean perplexity over ten seeds each.

use agf::factors::kmeans::{KMeans, KMeansAlgorithm, KMeansParams};
use agf::factors::lda::{Corpus, Doc, Lda, LdaMethod, LdaParams};
use agf::vectors::DenseVectors;
use candle_core::Device;
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/sklearn_factors.json")).unwrap()
}

#[test]
fn lda_perplexity_matches_scikit_learn_within_two_percent() {
    let f = fixture();
    let l = &f["lda"];
    let as_usize = |v: &Value| v.as_u64().unwrap() as usize;
    let corpus = Corpus {
        vocab: as_usize(&l["vocab"]),
        docs: l["docs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| Doc {
                ids: d["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect(),
                counts: d["counts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect(),
            })
            .collect(),
    };
    for (name, method) in [("batch", LdaMethod::Batch), ("online", LdaMethod::Online)] {
        let theirs: Vec<f64> = l["perplexity"][name]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let ours: Vec<f64> = (0..10)
            .map(|seed| {
                let mut p = LdaParams::new(as_usize(&l["topics"]), seed);
                p.method = method;
                p.batch_size = as_usize(&l["batch_size"]);
                p.max_iter = as_usize(&l["max_iter"]);
                Lda::fit(&corpus, &p).unwrap().1.perplexity
            })
            .collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (o, t) = (mean(&ours), mean(&theirs));
        println!(
            "{name}: agf {o:.3}, scikit-learn {t:.3} ({:+.2}%)",
            100.0 * (o - t) / t
        );
        assert!(((o - t) / t).abs() < 0.02, "{name}: {o} vs {t}");
    }
}

#[test]
fn kmeans_inertia_is_no_worse_than_scikit_learn() {
    let f = fixture();
    let k = &f["kmeans"];
    let data: Vec<f32> = k["points"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
        })
        .collect();
    let points = DenseVectors::new(4, data);
    let mut p = KMeansParams::new(8, KMeansAlgorithm::Lloyd, 0);
    p.n_init = 10;
    let (_, fit) = KMeans::fit(&points, &p, &Device::Cpu).unwrap();
    let theirs = k["inertia"].as_f64().unwrap();
    println!("inertia: agf {:.3}, scikit-learn {theirs:.3}", fit.inertia);
    assert!(
        fit.inertia <= theirs * 1.0001,
        "{} vs {theirs}",
        fit.inertia
    );
    // Mini-batch on the same data lands close to the full fit.
    let mut mb = KMeansParams::new(8, KMeansAlgorithm::MiniBatch, 0);
    mb.n_init = 10;
    mb.batch_size = 100;
    mb.max_iter = 20;
    let (_, fit_mb) = KMeans::fit(&points, &mb, &Device::Cpu).unwrap();
    println!("mini-batch inertia: {:.3}", fit_mb.inertia);
    assert!(
        fit_mb.inertia < theirs * 1.05,
        "{} vs {theirs}",
        fit_mb.inertia
    );
}
