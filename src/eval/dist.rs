//! The distributions the verdicts read: the standard normal, Student's t, χ² (upper tail),
//! and the power of the two-sided one-sample t-test from the noncentral t. Each tail is
//! computed directly rather than as `1 − cdf`, so small p-values keep their digits.

use super::special::{beta_inc, gamma_pq, ln_gamma};
use std::f64::consts::{PI, SQRT_2};

/// Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    if x < 0.0 {
        normal_sf(-x)
    } else {
        1.0 - normal_sf(x)
    }
}

/// 1 − Φ(x), exact in the upper tail: erfc(x/√2)/2 with erfc(z) = Q(½, z²).
pub fn normal_sf(x: f64) -> f64 {
    if x < 0.0 {
        return normal_cdf(-x);
    }
    let z = x / SQRT_2;
    0.5 * gamma_pq(0.5, z * z).1
}

fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

/// Φ⁻¹(p) for 0 < p < 1: Acklam's rational approximation (relative error ~1e-9), then
/// Halley steps on the exact tail until it stops moving.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        // The upper half mirrors the lower, whose tail is computed without cancellation.
        return -normal_quantile_lower(1.0 - p, p);
    }
    normal_quantile_lower(p, 1.0 - p)
}

/// The quantile of a lower-tail probability `p` ≤ ½ (`q = 1 − p` as the caller has it).
fn normal_quantile_lower(p: f64, _q: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let mut x = if p < 0.02425 {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    for _ in 0..4 {
        let e = normal_cdf(x) - p;
        let u = e / normal_pdf(x);
        let step = u / (1.0 + x * u / 2.0);
        x -= step;
        if step.abs() <= 1e-16 * x.abs() {
            break;
        }
    }
    x
}

/// P(T ≤ t) for Student's t with `df` > 0 degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    let tail = t_tail(t.abs(), df);
    if t < 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// P(T > t), t ≥ 0: ½·I_{ν/(ν+t²)}(ν/2, ½).
fn t_tail(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    let t2 = t * t;
    0.5 * beta_inc(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))
}

/// The two-sided p-value of a t statistic.
pub fn t_two_sided(t: f64, df: f64) -> f64 {
    (2.0 * t_tail(t.abs(), df)).min(1.0)
}

fn t_pdf(t: f64, df: f64) -> f64 {
    (ln_gamma((df + 1.0) / 2.0)
        - ln_gamma(df / 2.0)
        - 0.5 * (df * PI).ln()
        - (df + 1.0) / 2.0 * (t * t / df).ln_1p())
    .exp()
}

/// The `p` quantile of Student's t (0 < p < 1): closed forms for ν = 1 and 2, otherwise
/// Newton's method on the exact tail from the normal quantile, kept inside a bracket that
/// bisection shrinks whenever a step would leave it.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        return -t_quantile_lower(1.0 - p, df);
    }
    t_quantile_lower(p, df)
}

/// The quantile of a lower-tail probability `p` ≤ ½ (so the answer is ≤ 0).
fn t_quantile_lower(p: f64, df: f64) -> f64 {
    if p == 0.5 {
        return 0.0;
    }
    if df == 1.0 {
        return (PI * (p - 0.5)).tan();
    }
    if df == 2.0 {
        return (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt();
    }
    // Solve tail(s) = p for s = −t > 0; the tail falls as s grows.
    let mut lo = 0.0f64;
    let mut hi = normal_quantile(1.0 - p).max(1.0);
    while t_tail(hi, df) > p {
        lo = hi;
        hi *= 2.0;
    }
    let mut s = normal_quantile(1.0 - p).clamp(lo, hi);
    for _ in 0..200 {
        let f = t_tail(s, df) - p;
        if f > 0.0 {
            lo = s;
        } else {
            hi = s;
        }
        // d tail / ds = −pdf(s).
        let next = s + f / t_pdf(s, df);
        let next = if next > lo && next < hi {
            next
        } else {
            0.5 * (lo + hi)
        };
        if (next - s).abs() <= 2e-16 * s.abs() || hi - lo <= 2e-16 * hi {
            s = next;
            break;
        }
        s = next;
    }
    -s
}

/// P(X > x) for χ² with `df` degrees of freedom.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    gamma_pq(df / 2.0, x / 2.0).1
}

/// The power of the two-sided one-sample t-test at level `alpha` with `n` observations
/// when the true mean is `effect` standard deviations from zero: T follows the noncentral t
/// with ν = n − 1 and noncentrality δ = effect·√n, and the power is
/// P(T > c) + P(T < −c) with c the test's critical value (statsmodels' `TTestPower`).
///
/// The noncentral t is T = (Z + δ)/S with S = √(V/ν), V ~ χ²(ν); so
/// P(T > c) = E[Φ̄(cS − δ)], an integral over S's density, taken by composite Simpson
/// over the range where that density is not negligible (12 standard deviations of S).
pub fn t_test_power(effect: f64, n: usize, alpha: f64) -> f64 {
    if n < 2 {
        return f64::NAN;
    }
    let df = (n - 1) as f64;
    let c = t_quantile(1.0 - alpha / 2.0, df);
    let delta = effect.abs() * (n as f64).sqrt();
    // S's density: f(s) = 2ν s f_χ²(ν s²) = 2 ν^{ν/2} s^{ν−1} e^{−νs²/2} / (2^{ν/2} Γ(ν/2)),
    // written in logs; at s = 0 it is √(2/π) for ν = 1 (the half-normal) and 0 above.
    let log_norm = 2f64.ln() + (df / 2.0) * df.ln() - (df / 2.0) * 2f64.ln() - ln_gamma(df / 2.0);
    let density = |s: f64| -> f64 {
        if s <= 0.0 {
            return if df == 1.0 { log_norm.exp() } else { 0.0 };
        }
        (log_norm + (df - 1.0) * s.ln() - df * s * s / 2.0).exp()
    };
    let spread = 1.0 / (2.0 * df).sqrt();
    let lo = (1.0 - 12.0 * spread.max(0.08)).max(0.0);
    let hi = 1.0 + 14.0 * spread.max(0.6);
    let steps = 4_000;
    let h = (hi - lo) / steps as f64;
    let mut total = 0.0;
    for i in 0..=steps {
        let s = lo + h * i as f64;
        let w = if i == 0 || i == steps {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        let f = density(s);
        if f > 0.0 {
            total += w * f * (normal_sf(c * s - delta) + normal_cdf(-c * s - delta));
        }
    }
    (total * h / 3.0).clamp(0.0, 1.0)
}

/// The fewest paired observations (≥ 2) whose two-sided t-test at level `alpha` reaches
/// `power` for a true mean `effect` standard deviations from zero; `None` for no effect, or
/// when even `cap` observations would not do.
pub fn pairs_for_power(effect: f64, alpha: f64, power: f64, cap: usize) -> Option<usize> {
    if !(effect.is_finite() && effect != 0.0) {
        return None;
    }
    if t_test_power(effect, cap, alpha) < power {
        return None;
    }
    // Power grows with n: bisect for the first n that reaches it.
    let (mut lo, mut hi) = (1usize, cap);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if t_test_power(effect, mid.max(2), alpha) >= power {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi.max(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_values() {
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-13);
        assert!((normal_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-14);
        // t(0.975, 4) = 2.776445105197793 (every table).
        assert!((t_quantile(0.975, 4.0) - 2.776_445_105_197_793).abs() < 1e-12);
        assert!((t_cdf(2.776_445_105_197_793, 4.0) - 0.975).abs() < 1e-14);
        // χ²(2): sf(x) = e^{−x/2}.
        assert!((chi2_sf(3.0, 2.0) - (-1.5f64).exp()).abs() < 1e-12);
        // A large effect needs few pairs, a small one many; none for no effect.
        assert_eq!(pairs_for_power(0.0, 0.05, 0.8, 10_000), None);
        assert!(pairs_for_power(3.0, 0.05, 0.8, 10_000).unwrap() <= 4);
        assert!(pairs_for_power(0.25, 0.05, 0.8, 10_000).unwrap() > 100);
    }
}
