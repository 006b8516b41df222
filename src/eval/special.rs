//! The special functions behind the distributions the comparisons use: log-gamma, the
//! regularized incomplete gamma (for χ² and the normal's tails) and the regularized
//! incomplete beta (for Student's t). Written here because no dependency of ours carries
//! them; each is accurate to about 1e-14 relative over the range the statistics use, which
//! `tests/verdict_reference.rs` checks against scipy.

/// ln Γ(x) for x > 0: Stirling's series after lifting x above 12 (accurate to ~1e-14).
pub fn ln_gamma(mut x: f64) -> f64 {
    let mut shift = 0.0;
    while x < 12.0 {
        shift -= x.ln();
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 / 1680.0)));
    shift + (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + series
}

/// Below this relative change a series or continued fraction has converged.
const EPS: f64 = 1e-16;
/// Continued fractions and series that have not converged by then never will (the
/// arguments the statistics pass converge in well under a hundred terms).
const MAX_TERMS: usize = 10_000;
/// Lentz's guard against a zero denominator.
const TINY: f64 = 1e-300;

/// The regularized lower and upper incomplete gamma functions `(P(a, x), Q(a, x))`, a > 0,
/// x ≥ 0: the power series where it converges fast (x < a + 1), the continued fraction
/// for Q elsewhere, each computing the smaller side directly so neither loses digits to
/// `1 − …`.
pub fn gamma_pq(a: f64, x: f64) -> (f64, f64) {
    if x <= 0.0 {
        return (0.0, 1.0);
    }
    if x.is_infinite() {
        return (1.0, 0.0);
    }
    let log_front = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..MAX_TERMS {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * EPS {
                break;
            }
        }
        let p = (log_front.exp() * sum).min(1.0);
        (p, 1.0 - p)
    } else {
        // Modified Lentz on Q's continued fraction.
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..MAX_TERMS {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < EPS {
                break;
            }
        }
        let q = (log_front.exp() * h).min(1.0);
        (1.0 - q, q)
    }
}

/// The regularized incomplete beta `I_x(a, b)`, with `y = 1 − x` passed by the caller so
/// that an `x` close to 1 keeps its digits (Student's t passes `ν/(ν+t²)` and `t²/(ν+t²)`).
pub fn beta_inc(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    // The continued fraction converges fast for x < (a+1)/(a+b+2); beyond, use the symmetry
    // I_x(a, b) = 1 − I_y(b, a).
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - beta_inc(b, a, y, x);
    }
    let log_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * y.ln();
    log_front.exp() * beta_fraction(a, b, x) / a
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    // One step of the modified Lentz recurrence with coefficient `aa`; its factor on h.
    fn step(aa: f64, c: &mut f64, d: &mut f64) -> f64 {
        *d = 1.0 + aa * *d;
        if d.abs() < TINY {
            *d = TINY;
        }
        *c = 1.0 + aa / *c;
        if c.abs() < TINY {
            *c = TINY;
        }
        *d = 1.0 / *d;
        *d * *c
    }
    for m in 1..MAX_TERMS {
        let m = m as f64;
        let m2 = 2.0 * m;
        h *= step(m * (b - m) * x / ((qam + m2) * (a + m2)), &mut c, &mut d);
        let delta = step(
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
            &mut c,
            &mut d,
        );
        h *= delta;
        if (delta - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        // Γ(5) = 24, Γ(½) = √π.
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        // P(1, x) = 1 − e^{−x}.
        for x in [0.1, 1.0, 3.0, 30.0] {
            let (p, q) = gamma_pq(1.0, x);
            assert!((q - (-x).exp()).abs() < 1e-12 * (-x).exp(), "{x}");
            assert!((p + q - 1.0).abs() < 1e-15);
        }
        // I_x(1, 1) = x; I_x(a, 1) = x^a.
        assert!((beta_inc(1.0, 1.0, 0.3, 0.7) - 0.3).abs() < 1e-12);
        assert!((beta_inc(2.5, 1.0, 0.6, 0.4) - 0.6f64.powf(2.5)).abs() < 1e-12);
        assert!((beta_inc(1.0, 2.5, 0.6, 0.4) - (1.0 - 0.4f64.powf(2.5))).abs() < 1e-12);
    }
}
