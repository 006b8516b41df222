//! What a comparison may conclude, in one place for the sweep page, `agf sweep status` and
//! `agf compare`.
//!
//! A difference is called only with at least [`Settings::min_pairs`] paired seeds and a
//! paired t-test whose Holm-corrected p-value is below α; below that many pairs the verdict
//! reports what it has (the mean difference, its t-interval) and how many pairs would detect
//! the observed difference at 80% power with the observed spread of the differences. An arm
//! whose split leaks (test tracks whose artist is in training) compared with a baseline that
//! does not is never called better: its gain is marked optimistic by leakage.

use super::Score;
use crate::eval::dist::pairs_for_power;
use crate::eval::small_n::MeanInterval;
use serde::Serialize;

/// Paired seeds below which no difference is called, unless a sweep says otherwise.
pub const DEFAULT_MIN_PAIRS: usize = 5;
/// Significance level of every verdict.
pub const ALPHA: f64 = 0.05;
/// The power a "pairs needed" note is for.
pub const POWER: f64 = 0.8;
/// No power note beyond this many pairs ("more than 1,000").
pub const POWER_CAP: usize = 1_000;

/// How a comparison decides.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    pub min_pairs: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_pairs: DEFAULT_MIN_PAIRS,
        }
    }
}

/// A split's leakage: the share of test tracks whose artist (album) also has tracks in
/// training, averaged over an arm's runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Leakage {
    pub artist: f64,
    pub album: f64,
}

impl Leakage {
    pub fn leaks(&self) -> bool {
        self.artist > 0.0 || self.album > 0.0
    }

    /// `38% artist, 12% album`.
    pub fn text(&self) -> String {
        format!(
            "{:.0}% of test tracks have their artist in training, {:.0}% their album",
            self.artist * 100.0,
            self.album * 100.0
        )
    }
}

/// The conclusion about an arm against its baseline on one score.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Too few paired seeds to call anything.
    TooFewPairs {
        pairs: usize,
        min_pairs: usize,
        /// Paired seeds that would detect the observed Δ at 80% power (two-sided paired
        /// t-test at α), `None` when Δ is 0 or needs more than [`POWER_CAP`].
        pairs_needed: Option<usize>,
    },
    Better,
    Worse,
    NoClearDifference,
    /// The arm scores better but its split leaks and its baseline's does not.
    OptimisticByLeakage {
        artist: f64,
        album: f64,
        /// Set when there are also too few pairs to call anything.
        min_pairs: Option<usize>,
    },
}

impl Verdict {
    /// Whether the page may colour the difference as a called one.
    pub fn called(&self) -> bool {
        matches!(self, Verdict::Better | Verdict::Worse)
    }
}

/// The paired evidence a verdict is drawn from.
#[derive(Debug, Clone, Copy)]
pub struct Evidence {
    pub pairs: usize,
    /// Mean and sample SD of the differences (arm − baseline).
    pub mean: f64,
    pub sd: Option<f64>,
    pub p_holm: Option<f64>,
    pub arm_leakage: Option<Leakage>,
    pub baseline_leakage: Option<Leakage>,
}

pub fn decide(score: &Score, e: &Evidence, settings: &Settings) -> Verdict {
    // Δ = arm − baseline, turned so that a positive gain is an improvement.
    let gain = score.gain(e.mean, 0.0);
    let leaky =
        e.arm_leakage.is_some_and(|l| l.leaks()) && !e.baseline_leakage.is_some_and(|l| l.leaks());
    if leaky && gain > 0.0 {
        let l = e.arm_leakage.expect("leaky arms have their leakage");
        return Verdict::OptimisticByLeakage {
            artist: l.artist,
            album: l.album,
            min_pairs: (e.pairs < settings.min_pairs).then_some(settings.min_pairs),
        };
    }
    if e.pairs < settings.min_pairs.max(2) {
        let pairs_needed =
            e.sd.filter(|sd| *sd > 0.0)
                .and_then(|sd| pairs_for_power(e.mean / sd, ALPHA, POWER, POWER_CAP));
        return Verdict::TooFewPairs {
            pairs: e.pairs,
            min_pairs: settings.min_pairs,
            pairs_needed,
        };
    }
    match e.p_holm {
        Some(p) if p < ALPHA && gain > 0.0 => Verdict::Better,
        Some(p) if p < ALPHA && gain < 0.0 => Verdict::Worse,
        _ => Verdict::NoClearDifference,
    }
}

/// The verdict as a sentence fragment, with the evidence: "3 paired seeds: Δ −0.5402,
/// t-interval [−1.2, 0.1]; 7 paired seeds would detect it at 80% power".
pub fn sentence(v: &Verdict, mean: f64, interval: Option<&MeanInterval>, pairs: usize) -> String {
    let ci = interval
        .map(|i| {
            format!(
                "{} interval [{:.4}, {:.4}]",
                i.method.as_str(),
                i.low,
                i.high
            )
        })
        .unwrap_or_else(|| "no interval (one pair)".into());
    let evidence = format!(
        "{pairs} paired seed{}: Δ {mean:+.4}, {ci}",
        if pairs == 1 { "" } else { "s" }
    );
    match v {
        Verdict::TooFewPairs {
            min_pairs,
            pairs_needed,
            ..
        } => {
            let power = match pairs_needed {
                Some(n) => format!(
                    "{n} paired seeds would detect this Δ at 80% power with the differences' observed spread"
                ),
                None if mean == 0.0 => "no difference observed".into(),
                None => format!("more than {POWER_CAP} paired seeds would be needed to detect this Δ at 80% power, or its spread is unknown"),
            };
            format!("not called ({min_pairs} paired seeds are needed): {evidence}; {power}")
        }
        Verdict::Better => format!("better: {evidence}"),
        Verdict::Worse => format!("worse: {evidence}"),
        Verdict::NoClearDifference => format!("no clear difference: {evidence}"),
        Verdict::OptimisticByLeakage {
            artist,
            album,
            min_pairs,
        } => format!(
            "optimistic by leakage: {:.0}% of test tracks have their artist in training ({:.0}% their album), against none in the baseline; {evidence}{}",
            artist * 100.0,
            album * 100.0,
            min_pairs
                .map(|m| format!(", fewer than the {m} paired seeds a verdict needs"))
                .unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{metric, SplitKey};

    const LOSS: Score = Score {
        split: SplitKey::Test,
        name: metric::LOG_LOSS,
        label: "test log loss",
        lower_is_better: true,
    };

    fn evidence(pairs: usize, mean: f64, p: Option<f64>) -> Evidence {
        Evidence {
            pairs,
            mean,
            sd: Some(0.1),
            p_holm: p,
            arm_leakage: None,
            baseline_leakage: None,
        }
    }

    #[test]
    fn nothing_is_called_below_the_minimum_and_leakage_is_named() {
        let s = Settings::default();
        let v = decide(&LOSS, &evidence(3, -0.5, None), &s);
        assert!(
            matches!(v, Verdict::TooFewPairs { pairs: 3, pairs_needed: Some(n), .. } if n <= 4)
        );
        assert_eq!(
            decide(&LOSS, &evidence(6, -0.5, Some(0.01)), &s),
            Verdict::Better
        );
        assert_eq!(
            decide(&LOSS, &evidence(6, 0.5, Some(0.01)), &s),
            Verdict::Worse
        );
        assert_eq!(
            decide(&LOSS, &evidence(6, -0.5, Some(0.2)), &s),
            Verdict::NoClearDifference
        );
        let mut e = evidence(6, -0.5, Some(0.01));
        e.arm_leakage = Some(Leakage {
            artist: 1.0,
            album: 0.9,
        });
        e.baseline_leakage = Some(Leakage {
            artist: 0.0,
            album: 0.0,
        });
        let v = decide(&LOSS, &e, &s);
        assert!(matches!(v, Verdict::OptimisticByLeakage { .. }));
        assert!(sentence(&v, -0.5, None, 6).contains("100% of test tracks have their artist"));
        // A leaky arm that does worse is simply worse.
        e.mean = 0.5;
        assert_eq!(decide(&LOSS, &e, &s), Verdict::Worse);
    }
}
