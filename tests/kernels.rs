//! The GPU's code path checked on the CPU: with `Kernels::Candle` (what `AGF_KERNELS=candle`
//! selects) the nets' layers run as candle ops and K-Means' nearest-centre search as a
//! candle matrix product, exactly as on CUDA; they must give the fused CPU kernels' losses,
//! gradients and centres. Tolerances: loss 1e-5 relative, every gradient 1e-3 relative to
//! (1 + |value|), K-Means centres 1e-4 and inertia 1e-5 relative (the paths sum in
//! different orders, nothing more).

use agf::factors::kmeans::{KMeans, KMeansParams};
use agf::nn::params::ParamKind;
use agf::nn::{Cnn, CnnConfig};
use agf::rng::Rng;
use agf::simd::{with_kernels, Kernels};
use agf::spec::KMeansAlgorithm;
use agf::vectors::DenseVectors;
use candle_core::{Device, Tensor, D};

fn worst(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0f32, f32::max)
}

/// One training step's loss and every parameter's gradient, under `k`.
fn step(k: Kernels, cfg: &CnnConfig, x: &Tensor, y: &Tensor) -> (f32, Vec<(String, Tensor)>) {
    with_kernels(k, || {
        let net = Cnn::new(cfg, 5, 3, &Device::Cpu).unwrap();
        let mut rng = Rng::new(17);
        let f = net.forward(x, true, Some(&mut rng)).unwrap();
        let logp = candle_nn::ops::log_softmax(&f.logits, D::Minus1).unwrap();
        let loss = (logp * y)
            .unwrap()
            .sum(D::Minus1)
            .unwrap()
            .mean_all()
            .unwrap()
            .neg()
            .unwrap();
        let grads = loss.backward().unwrap();
        let g = net
            .params
            .iter()
            // Running statistics are kept, not trained: they have no gradient.
            .filter(|(_, _, kind)| *kind != ParamKind::Statistic)
            .map(|(name, var, _)| {
                let t = grads
                    .get(var.as_tensor())
                    .expect("every parameter has a gradient");
                (name.to_string(), t.clone())
            })
            .collect();
        (loss.to_scalar::<f32>().unwrap(), g)
    })
}

#[test]
fn candles_path_gives_the_fused_kernels_losses_and_gradients() {
    for (name, cfg, mels, frames) in [
        ("small", CnnConfig::small(), 32, 48),
        ("won2018", CnnConfig::won2018(), 128, 128),
    ] {
        let mut rng = Rng::new(5);
        let n = 4;
        let x: Vec<f32> = (0..n * mels * frames)
            .map(|_| rng.normal() as f32)
            .collect();
        let x = Tensor::from_vec(x, (n, 1, mels, frames), &Device::Cpu).unwrap();
        let y: Vec<f32> = (0..n * 5)
            .map(|i| f32::from(u8::from(i % 5 == i / 5 % 5)))
            .collect();
        let y = Tensor::from_vec(y, (n, 5), &Device::Cpu).unwrap();
        let (lf, gf) = step(Kernels::Fused, &cfg, &x, &y);
        let (lc, gc) = step(Kernels::Candle, &cfg, &x, &y);
        assert!(
            ((lf - lc) / lc).abs() < 1e-5,
            "{name}: loss fused {lf}, candle {lc}"
        );
        assert_eq!(gf.len(), gc.len());
        // Two paths, not one taken twice: they sum in different orders somewhere.
        let bitwise_equal = gf
            .iter()
            .zip(&gc)
            .all(|((_, a), (_, b))| worst(a, b) == 0.0);
        assert!(!bitwise_equal, "{name}: both runs took the same path");
        eprintln!("{name}: loss fused {lf}, candle {lc}");
        for ((a, ta), (b, tb)) in gf.iter().zip(&gc) {
            assert_eq!(a, b);
            let w = worst(ta, tb);
            assert!(w < 1e-3, "{name}: gradient of {a} differs by {w}");
        }
    }
}

#[test]
fn candles_path_finds_the_fused_kernels_kmeans_centres() {
    let mut rng = Rng::new(9);
    let (n, dim) = (3000, 20);
    // Eight blobs, so that the clustering is well posed and no row sits on a boundary.
    let centres: Vec<f32> = (0..8 * dim).map(|_| 6.0 * rng.normal() as f32).collect();
    let data: Vec<f32> = (0..n)
        .flat_map(|i| {
            let c = &centres[(i % 8) * dim..(i % 8 + 1) * dim];
            c.iter()
                .map(|v| v + rng.normal() as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    let data = DenseVectors::new(dim, data);
    let p = KMeansParams::new(16, KMeansAlgorithm::Lloyd, 4);
    let fit = |k| with_kernels(k, || KMeans::fit(&data, &p, &Device::Cpu).unwrap());
    let (a, fa) = fit(Kernels::Fused);
    let (b, fb) = fit(Kernels::Candle);
    let w = a
        .centroids
        .iter()
        .zip(&b.centroids)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(w < 1e-4, "centres differ by {w}");
    assert!(
        ((fa.inertia - fb.inertia) / fb.inertia).abs() < 1e-5,
        "{} vs {}",
        fa.inertia,
        fb.inertia
    );
    let (la, _) = with_kernels(Kernels::Fused, || a.assign(&data, &Device::Cpu).unwrap());
    let (lb, _) = with_kernels(Kernels::Candle, || a.assign(&data, &Device::Cpu).unwrap());
    assert_eq!(la, lb, "the same nearest centre for every row");
}

#[test]
fn an_unknown_kernel_choice_is_refused_before_anything_runs() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_agf"))
        .env("AGF_KERNELS", "cudnn")
        .args(["runs"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("AGF_KERNELS=\"cudnn\"") && err.contains("\"candle\""),
        "{err}"
    );
}
