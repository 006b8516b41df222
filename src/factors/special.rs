//! The special functions variational LDA needs (digamma; log-gamma lives with the other
//! special functions in [`crate::eval::special`]) and gamma draws from our seeded generator.
//! Written here because no dependency of ours carries them.

pub use crate::eval::special::ln_gamma;
use crate::rng::Rng;

/// ψ(x) for x > 0: the recurrence ψ(x) = ψ(x+1) − 1/x lifts x above 6 (the sum of the
/// 1/x terms kept as one fraction, so a single division), where the asymptotic series to
/// x⁻¹⁴ is accurate to ~2e-13. LDA calls this for every topic of every inner iteration.
pub fn digamma(mut x: f64) -> f64 {
    // Σ 1/(x+i) as num/den.
    let (mut num, mut den) = (0.0, 1.0);
    while x < 6.0 {
        num = num * x + den;
        den *= x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0 - inv2 * (1.0 / 132.0 - inv2 * 691.0 / 32760.0)))));
    x.ln() - 0.5 * inv - series - num / den
}

/// A Gamma(shape, scale) draw, shape ≥ 1 (Marsaglia & Tsang 2000).
pub fn gamma(rng: &mut Rng, shape: f64, scale: f64) -> f64 {
    debug_assert!(shape >= 1.0, "gamma draws are needed for shape ≥ 1 only");
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.normal();
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = 1.0 - rng.uniform();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v * scale;
        }
    }
}

/// exp(E[ln θ]) of a Dirichlet with parameters `alpha`: exp(ψ(αₖ) − ψ(Σα)), into `out`.
pub fn exp_dirichlet_expectation(alpha: &[f64], out: &mut [f64]) {
    let total = digamma(alpha.iter().sum());
    for (o, a) in out.iter_mut().zip(alpha) {
        *o = (digamma(*a) - total).exp();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digamma_and_ln_gamma_against_known_values() {
        // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ(10) = H₉ − γ.
        let euler = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + euler).abs() < 1e-12);
        assert!((digamma(0.5) + euler + 2.0 * 2f64.ln()).abs() < 1e-12);
        let h9: f64 = (1..10).map(|k| 1.0 / k as f64).sum();
        assert!((digamma(10.0) - (h9 - euler)).abs() < 1e-12);
        // Small arguments (a 1/40 prior): ψ(x) = ψ(x+1) − 1/x.
        assert!((digamma(0.025) - (digamma(1.025) - 40.0)).abs() < 1e-11);
        assert!((digamma(5.999) - (digamma(6.999) - 1.0 / 5.999)).abs() < 1e-12);
        // Γ(1/2) = √π, Γ(5) = 24, Γ(0.025) ≈ 39.4785 (0.025 is the prior of 40 topics).
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(100.0) - 359.134_205_369_575_4).abs() < 1e-9);
        // Γ(x+1) = xΓ(x) ties small arguments to the series.
        assert!((ln_gamma(0.025) - (ln_gamma(1.025) - 0.025f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn gamma_draws_have_the_right_moments() {
        let mut rng = Rng::new(3);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| gamma(&mut rng, 100.0, 0.01)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Gamma(100, 0.01): mean 1, variance 0.01.
        assert!((mean - 1.0).abs() < 0.003, "mean {mean}");
        assert!((var - 0.01).abs() < 0.0005, "variance {var}");
    }
}
