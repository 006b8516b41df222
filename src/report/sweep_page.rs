//! `sweeps/<name>.html`: which arm is better and how sure we are. Per genre model, the arms'
//! scores over seeds (every seed a dot behind the mean and its bootstrap interval), tables
//! with the paired comparison to the baseline arm, each swept axis drawn with the others
//! held, score against noise rate for label-noise sweeps, validation curves per arm as mean
//! and band, the confusion matrices of the baseline and the best arm side by side, and every
//! cell with its run.

use super::charts::{self, AxisLine, Band, IntervalRow};
use super::page::{self, figure, num, num_cell};
use super::stat_charts::{self, Profile, Ranked};
use super::ReportError;
use crate::compare::arm::value_text;
use crate::compare::design;
use crate::compare::sweep::{Aggregate, ModelComparison, ScoreTable, SweepComparison};
use crate::compare::verdict::{self, Verdict};
use crate::compare::Arm;
use crate::eval::bootstrap::LEVEL;
use crate::eval::robust::{self, Scores};
use crate::eval::small_n::{self, MeanInterval};
use crate::eval::summary::Spread;
use crate::eval::variance;
use crate::record::{metric, ModelName, RunId, SplitKey};
use crate::store::{CellStatus, Store};
use maud::{html, Markup};
use std::collections::BTreeMap;

/// The keys a label-noise sweep varies: injected flips, or a generated world's uploader
/// errors.
const NOISE_KEYS: [&str; 2] = ["noise.rate", "dataset.synthetic.label_noise"];

fn arm_label(c: &SweepComparison, i: usize) -> String {
    c.arms[i].arm.label()
}

fn table_for<'a>(m: &'a ModelComparison, split: SplitKey, name: &str) -> Option<&'a ScoreTable> {
    m.tables
        .iter()
        .find(|t| t.score.split == split && t.score.name == name)
}

/// `mean ± sd`.
fn spread_text(s: &Spread, digits: usize) -> String {
    match s.sd {
        Some(sd) => format!("{:.digits$} ± {sd:.digits$}", s.mean),
        None => format!("{:.digits$}", s.mean),
    }
}

fn interval_text(i: Option<crate::eval::bootstrap::Interval>, digits: usize) -> String {
    i.map(|i| format!("[{:.digits$}, {:.digits$}]", i.low, i.high))
        .unwrap_or_else(|| "—".into())
}

fn mean_interval_text(i: Option<MeanInterval>, digits: usize) -> String {
    i.map(|i| {
        format!(
            "[{:.digits$}, {:.digits$}] {}",
            i.low,
            i.high,
            i.method.as_str()
        )
    })
    .unwrap_or_else(|| "—".into())
}

fn aggregate_text(a: Option<Aggregate>, digits: usize) -> String {
    match a {
        Some(a) => format!("{:.digits$} {}", a.value, interval_text(a.interval, digits)),
        None => "—".into(),
    }
}

/// An arm's label, marked where its split leaks.
fn marked_label(c: &SweepComparison, i: usize) -> String {
    match c.arms[i].leakage.filter(|l| l.leaks()) {
        Some(l) => format!("{} ⚠ leaks {:.0}%", arm_label(c, i), l.artist * 100.0),
        None => arm_label(c, i),
    }
}

fn leakage_cell(c: &SweepComparison, i: usize) -> Markup {
    match c.arms[i].leakage {
        Some(l) => html! {
            td data-v=(l.artist) class=(if l.leaks() { "worse" } else { "" }) title=(l.text()) {
                (format!("{:.0}% / {:.0}%", l.artist * 100.0, l.album * 100.0))
            }
        },
        None => html! { td { "—" } },
    }
}

fn score_table(c: &SweepComparison, t: &ScoreTable) -> Markup {
    let better = if t.lower_is_better { "lower" } else { "higher" };
    let any_iqm = t.rows.iter().any(|r| r.iqm.is_some());
    let any_rank_test = t
        .rows
        .iter()
        .any(|r| r.versus.as_ref().is_some_and(|v| v.test.is_some()));
    html! {
        h3 { (t.label) " (" (better) " is better)" }
        div.wide.arms { table.sortable {
            thead { tr {
                th.l { "arm" } th { "seeds" } th title="test tracks whose artist / album is in training" { "leakage" }
                th { "mean ± SD" } th { "95% CI" }
                @if any_iqm { th { "IQM [95% CI]" } }
                th { "± test set" }
                th { "Δ vs baseline [95% CI]" } th { "P(better) [95% CI]" } th { "better on" }
                th { "p (t, Holm)" } @if any_rank_test { th { "p (signed-rank, Holm)" } }
            } }
            tbody {
                @for r in &t.rows {
                    tr.base[c.arms[r.arm].is_baseline] {
                        td.l { (arm_label(c, r.arm)) @if c.arms[r.arm].is_baseline { " (baseline)" } }
                        td data-v=(r.spread.n) { (r.spread.n) }
                        (leakage_cell(c, r.arm))
                        td data-v=(r.spread.mean) { (spread_text(&r.spread, 4)) }
                        td { (mean_interval_text(r.interval, 4)) }
                        @if any_iqm { td { (aggregate_text(r.iqm, 4)) } }
                        (num_cell(r.test_set, 4))
                        @match &r.versus {
                            Some(v) => {
                                @let gain = if t.lower_is_better { -v.mean } else { v.mean };
                                @let class = if !v.verdict.called() { "" } else if gain > 0.0 { "better" } else { "worse" };
                                td data-v=(v.mean) class=(class) { (format!("{:+.4}", v.mean)) " " (mean_interval_text(v.interval, 4)) }
                                td { (aggregate_text(v.improvement, 2)) }
                                td data-v=(v.wins as f64 / v.pairs as f64) { (v.wins) " of " (v.pairs) }
                                td title=(format!("raw p = {}", num(v.p_t, 4))) { (num(v.p_t_holm, 4)) }
                                @if any_rank_test { td { (num(v.p_holm, 4)) @if let Some(tst) = v.test { " (raw " (num(Some(tst.p_value), 4)) ")" } } }
                            }
                            None => { td { "—" } td { "—" } td { "—" } td { "—" } @if any_rank_test { td { "—" } } }
                        }
                    }
                }
            }
        } }
        @if let Some(n) = &t.note { p.note { (n) } }
    }
}

/// One line per arm saying what may be concluded against the baseline on this score
/// ([`verdict::decide`]).
fn verdict(c: &SweepComparison, model: &ModelName, t: &ScoreTable) -> Markup {
    let better = if t.lower_is_better { "lower" } else { "higher" };
    html! {
        p { strong { (model.to_string()) ", " (t.label) } " (" (better) " is better), against the baseline arm:" }
        ul.verdict {
            @for r in t.rows.iter().filter(|r| !c.arms[r.arm].is_baseline) {
                @if let Some(v) = &r.versus {
                    @let text = verdict::sentence(&v.verdict, v.mean, v.interval.as_ref(), v.pairs);
                    @let (head, rest) = text.split_once(':').unwrap_or((text.as_str(), ""));
                    li {
                        code { (arm_label(c, r.arm)) } ": "
                        @match v.verdict {
                            Verdict::Better => strong.better { (head) },
                            Verdict::Worse => strong.worse { (head) },
                            Verdict::OptimisticByLeakage { .. } => strong.leak { (head) },
                            _ => strong { (head) },
                        }
                        ":" (rest)
                        @if let Some(p) = v.p_t_holm { "; paired t-test, Holm-corrected p = " (num(Some(p), 4)) }
                        @if let Some(i) = v.improvement { "; P(a run beats the baseline's) = " (format!("{:.2}", i.value)) }
                        ", better on " (v.wins) " of " (v.pairs) " seeds"
                    }
                } @else {
                    li { code { (arm_label(c, r.arm)) } ": no seed shared with its baseline arm" }
                }
            }
        }
    }
}

fn intervals_figure(c: &SweepComparison, model: &ModelName, t: &ScoreTable) -> Markup {
    let rows: Vec<IntervalRow> = t
        .rows
        .iter()
        .map(|r| IntervalRow {
            label: marked_label(c, r.arm),
            seeds: r.values.iter().map(|v| v.2).collect(),
            mean: r.spread.mean,
            interval: r.interval.map(|i| i.interval()),
            baseline: c.arms[r.arm].is_baseline,
        })
        .collect();
    let better = if t.lower_is_better { "lower" } else { "higher" };
    figure(
        html! {
            (model.to_string()) ", " (t.label) " (" (better) " is better): each seed a grey dot, the mean over seeds a square, its "
            (format!("{:.0}%", LEVEL * 100.0)) " interval a bar (Student's t below " (small_n::BCA_FROM) " seeds, BCa from there); the dashed line is the baseline arm's mean; ⚠ marks an arm whose test tracks' artists are in training."
        },
        charts::intervals_chart(&format!("{model}: {} per arm", t.label), t.label, &rows),
    )
}

/// Each arm's share of runs better than each threshold (rliable's performance profile).
fn profile_figure(c: &SweepComparison, model: &ModelName, t: &ScoreTable) -> Option<Markup> {
    let all: Vec<f64> = t
        .rows
        .iter()
        .flat_map(|r| r.values.iter().map(|v| v.2))
        .collect();
    if t.rows.len() < 2 || all.len() < 4 {
        return None;
    }
    let (lo, hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let pad = (hi - lo).max(1e-9) * 0.05;
    let taus: Vec<f64> = (0..=200)
        .map(|i| lo - pad + (hi - lo + 2.0 * pad) * i as f64 / 200.0)
        .collect();
    let sign = if t.lower_is_better { -1.0 } else { 1.0 };
    let profiles: Vec<Profile> = t
        .rows
        .iter()
        .map(|r| {
            let s = Scores::single(r.values.iter().map(|v| sign * v.2).collect());
            let shares = robust::profile(&s, &taus.iter().map(|x| sign * x).collect::<Vec<_>>());
            Profile {
                name: marked_label(c, r.arm),
                points: taus.iter().copied().zip(shares).collect(),
            }
        })
        .collect();
    let better = if t.lower_is_better { "below" } else { "above" };
    Some(figure(
        html! { (model.to_string()) ", " (t.label) ": performance profiles, the share of each arm's runs scoring " (better) " each threshold (rliable's score distributions); a curve that lies above another at every threshold dominates it." },
        stat_charts::profile_chart(
            &format!("{model}: {} profiles", t.label),
            t.label,
            &profiles,
        ),
    ))
}

/// The critical-difference diagram and its table, where the design allows one.
fn ranking_section(c: &SweepComparison, model: &ModelName, t: &ScoreTable) -> Option<Markup> {
    let r = design::ranking(c, t)?;
    let differs = |k: usize| {
        r.versus
            .iter()
            .any(|v| v.arm == k && v.p_holm < verdict::ALPHA)
    };
    let ranked: Vec<Ranked> = r
        .arms
        .iter()
        .enumerate()
        .map(|(k, &a)| Ranked {
            name: arm_label(c, a),
            rank: r.friedman.ranks[k],
            baseline: r.control == Some(k),
            differs: differs(k),
        })
        .collect();
    Some(html! {
        h3 { (model.to_string()) ", " (t.label) ": ranks over " (r.blocks.len()) " shared seeds" }
        p.note {
            "Friedman test over " (r.friedman.arms) " arms and " (r.blocks.len()) " seeds (blocks): χ² = "
            (format!("{:.3}", r.friedman.statistic)) ", p = " (num(Some(r.friedman.p_value), 4))
            ". Each arm against the baseline by its average rank (Demšar 2006: z = ΔR̄ / √(k(k+1)/6n)), Holm-corrected; "
            "the black bar joins the baseline with the arms not shown to differ from it. 1 is the best rank."
        }
        (figure(
            html! { "Average ranks; the baseline in bold, arms that differ from it (Holm p < 0.05) in vermillion." },
            stat_charts::cd_chart(&format!("{model}: average rank on {}", t.label), &ranked),
        ))
        table {
            thead { tr { th.l { "arm" } th { "average rank" } th { "z vs baseline" } th { "p (Holm)" } } }
            tbody {
                @for (k, &a) in r.arms.iter().enumerate() {
                    tr.base[r.control == Some(k)] {
                        td.l { (arm_label(c, a)) }
                        td { (format!("{:.2}", r.friedman.ranks[k])) }
                        @match r.versus.iter().find(|v| v.arm == k) {
                            Some(v) => { td { (format!("{:+.2}", v.z)) } td { (num(Some(v.p_holm), 4)) } }
                            None => { td { "—" } td { "—" } }
                        }
                    }
                }
            }
        }
    })
}

/// How much of each score's variance the world, the split and training explain.
fn variance_section(c: &SweepComparison, model: &ModelName, t: &ScoreTable) -> Option<Markup> {
    let splits = design::variance_sources(c, t);
    if splits.is_empty() {
        return None;
    }
    Some(html! {
        h3 { (model.to_string()) ", " (t.label) }
        table {
            thead { tr {
                th.l { "configuration" } th { "runs" } th { "worlds × splits × trainings" }
                @for s in variance::SOURCES { th { (s) } }
                th { "total SD" }
            } }
            tbody {
                @for s in &splits {
                    @let shares = s.components.shares();
                    @let var = s.components.truncated();
                    tr {
                        td.l { (if s.configuration.is_empty() { "(all)".to_string() } else { s.configuration.clone() }) }
                        td { (s.runs) }
                        td { (format!("{} × {} × {}", s.components.levels[0], s.components.levels[1], s.components.levels[2])) }
                        @for k in 0..3 {
                            td title=(format!("σ² = {:.3e} (unbiased estimate {:.3e}); mean square {:.3e} on {} df", var[k], s.components.raw[k], s.components.mean_squares[k], s.components.df[k])) {
                                (format!("{:.0}%", shares[k] * 100.0)) " (SD " (format!("{:.4}", var[k].sqrt())) ")"
                                @if s.components.raw[k] < 0.0 { " †" }
                            }
                        }
                        td { (format!("{:.4}", var.iter().sum::<f64>().sqrt())) }
                    }
                }
            }
        }
    })
}

/// Main effects and two-way interactions of a full grid.
fn factorial_section(c: &SweepComparison, model: &ModelName, t: &ScoreTable) -> Option<Markup> {
    let f = design::factorial(c, t)?;
    let level = |a: usize, l: usize| format!("{}={}", f.axes[a], f.levels[a][l]);
    let row = |name: String, e: &crate::eval::factorial::Effect| {
        let clear = e.interval.is_some_and(|i| !i.contains(0.0));
        html! {
            tr {
                td.l { (name) }
                td data-v=(e.mean) class=(if clear { "called" } else { "" }) { (format!("{:+.4}", e.mean)) }
                td { (interval_text(e.interval, 4)) }
            }
        }
    };
    Some(html! {
        h3 { (model.to_string()) ", " (t.label) }
        p.note {
            "Grand mean " (format!("{:.4}", f.effects.grand_mean)) " over " (f.effects.seeds) " seeds. "
            "A main effect is a level's mean minus the grand mean; an interaction is a pair of levels' mean minus both main effects and the grand mean. "
            "Each is computed seed by seed and its 95% interval is Student's t over the seeds; bold where it leaves out zero (not corrected for the number of effects shown)."
        }
        table {
            thead { tr { th.l { "effect" } th { "estimate" } th { "95% CI (t over seeds)" } } }
            tbody {
                @for e in &f.effects.main { (row(level(e.axes[0], e.levels[0]), e)) }
                @for e in &f.effects.interactions { (row(format!("{} × {}", level(e.axes[0], e.levels[0]), level(e.axes[1], e.levels[1])), e)) }
            }
        }
    })
}

/// The levels of `axis` among the arms: numbers in numeric order, anything else in order of
/// appearance.
fn levels(c: &SweepComparison, axis: &str) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = Vec::new();
    for a in &c.arms {
        if let Some(v) = a.arm.get(axis) {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
    }
    if out.iter().all(|v| v.as_f64().is_some()) {
        out.sort_by(|a, b| {
            a.as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b.as_f64().unwrap_or(0.0))
        });
    }
    out
}

/// One line per level of the other axes: each point an arm's mean with its interval.
fn axis_lines(
    c: &SweepComparison,
    t: &ScoreTable,
    axis: &str,
    levels: &[serde_json::Value],
) -> Vec<AxisLine> {
    let mut lines: Vec<(Arm, AxisLine)> = Vec::new();
    for r in &t.rows {
        let arm = &c.arms[r.arm].arm;
        let Some(level) = arm
            .get(axis)
            .and_then(|v| levels.iter().position(|l| l == v))
        else {
            continue;
        };
        let rest = arm.without(axis);
        let i = match lines.iter().position(|(a, _)| *a == rest) {
            Some(i) => i,
            None => {
                let name = if rest.pairs.is_empty() {
                    "all arms".to_string()
                } else {
                    rest.label()
                };
                lines.push((
                    rest,
                    AxisLine {
                        name,
                        points: Vec::new(),
                    },
                ));
                lines.len() - 1
            }
        };
        lines[i]
            .1
            .points
            .push((level, r.spread.mean, r.interval.map(|i| i.interval())));
    }
    lines
        .into_iter()
        .map(|(_, mut l)| {
            l.points.sort_by_key(|p| p.0);
            l
        })
        .collect()
}

/// Validation curves of `model` per arm: at each epoch the mean over the seeds that reached
/// it, the band one standard deviation either side.
fn curves(store: &Store, c: &SweepComparison, model: &ModelName) -> Result<Vec<Band>, ReportError> {
    let mut bands = Vec::new();
    let mut shared: Vec<(String, String)> = Vec::new();
    for a in &c.arms {
        let mut by_epoch: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for &(_, run) in &a.runs {
            for e in store.epochs(run, model)? {
                if e.validation_loss.is_finite() {
                    by_epoch.entry(e.epoch).or_default().push(e.validation_loss);
                }
            }
        }
        if by_epoch.is_empty() {
            continue;
        }
        let points = by_epoch
            .into_iter()
            .filter_map(|(epoch, v)| {
                let s = Spread::of(&v)?;
                let sd = s.sd.unwrap_or(0.0);
                Some((epoch as f64, s.mean, s.mean - sd, s.mean + sd))
            })
            .collect();
        // Arms whose runs share this net from the stage cache (it does not read the swept
        // keys) have the same curve: one line named by all of them, not lines drawn over
        // each other.
        let points: Vec<(f64, f64, f64, f64)> = points;
        match bands.iter_mut().find(|b: &&mut Band| b.points == points) {
            Some(b) => shared.push((b.name.clone(), a.arm.label())),
            None => bands.push(Band {
                name: a.arm.label(),
                points,
            }),
        }
    }
    for b in &mut bands {
        let same = shared.iter().filter(|(n, _)| *n == b.name).count();
        if same + 1 == c.arms.len() && c.arms.len() > 1 {
            b.name = "every arm (one net)".into();
        } else if same > 0 {
            b.name = format!("{} +{same} (one net)", b.name);
        }
    }
    Ok(bands)
}

/// The matrices of an arm's runs added up.
fn summed_confusion(
    store: &Store,
    runs: &[(Option<i64>, RunId)],
    model: &ModelName,
    classes: usize,
) -> Result<Vec<Vec<usize>>, ReportError> {
    let mut total = vec![vec![0usize; classes]; classes];
    for &(_, run) in runs {
        let m = store.confusion_matrix(run, model, SplitKey::Test, classes)?;
        for (t, row) in total.iter_mut().zip(m) {
            for (x, y) in t.iter_mut().zip(row) {
                *x += y;
            }
        }
    }
    Ok(total)
}

/// For a label-noise sweep, log loss and macro-F1 against the noise rate: one line per model
/// and label set (and level of any other axis).
fn noise_figures(c: &SweepComparison) -> Vec<Markup> {
    let Some(noise) = NOISE_KEYS
        .into_iter()
        .find(|k| c.axes.iter().any(|a| a == k))
    else {
        return Vec::new();
    };
    let lv = levels(c, noise);
    let names: Vec<String> = lv.iter().map(value_text).collect();
    let mut out = Vec::new();
    for (name, what) in [
        (metric::LOG_LOSS, "log loss"),
        (metric::MACRO_F1, "macro-F1"),
    ] {
        let mut lines = Vec::new();
        for m in &c.models {
            for split in [SplitKey::Test, SplitKey::TestClean] {
                let Some(t) = table_for(m, split, name) else {
                    continue;
                };
                for mut l in axis_lines(c, t, noise, &lv) {
                    let labels = if split == SplitKey::Test {
                        "published"
                    } else {
                        "true genres"
                    };
                    l.name = if l.name == "all arms" {
                        format!("{}, {labels}", m.model)
                    } else {
                        format!("{}, {labels}, {}", m.model, l.name)
                    };
                    lines.push(l);
                }
            }
        }
        out.push(figure(
            html! { "Test " (what) " against " code { (noise) } ", per model and label set: the mean over seeds with its 95% interval. With " code { "[audit] retrain" } ", logreg.cleaned is the baseline on the audit's cleaned labels and logreg.true on the true ones." },
            charts::axis_chart(
                &format!("Test {what} against {noise}"),
                noise,
                &names,
                what,
                "model, labels scored against",
                &lines,
            ),
        ));
    }
    out
}

/// A model's scores per arm: log loss and macro-F1 drawn, profiled and tabled, accuracy
/// tabled.
fn model_section(c: &SweepComparison, m: &ModelComparison) -> Markup {
    html! {
        @for t in &m.tables {
            @if t.score.name != metric::ACCURACY { (intervals_figure(c, &m.model, t)) }
            (score_table(c, t))
            @if t.score.name != metric::ACCURACY {
                @if let Some(f) = profile_figure(c, &m.model, t) { (f) }
            }
        }
    }
}

/// The sections the design allows, for the headline model's test log loss and macro-F1.
fn design_sections(c: &SweepComparison, h: &ModelComparison) -> Markup {
    let tables: Vec<&ScoreTable> = [metric::LOG_LOSS, metric::MACRO_F1]
        .into_iter()
        .filter_map(|n| table_for(h, SplitKey::Test, n))
        .collect();
    let ranking: Vec<Markup> = tables
        .iter()
        .filter_map(|t| ranking_section(c, &h.model, t))
        .collect();
    let variance: Vec<Markup> = tables
        .iter()
        .filter_map(|t| variance_section(c, &h.model, t))
        .collect();
    let factorial: Vec<Markup> = tables
        .iter()
        .filter_map(|t| factorial_section(c, &h.model, t))
        .collect();
    html! {
        @if !ranking.is_empty() {
            h2 { "Ranking the arms" }
            @for m in &ranking { (m) }
        }
        @if !variance.is_empty() {
            h2 { "Variance by source" }
            p.note {
                "Within each configuration (the arm without its seed keys), the variance of the score over runs split into the world (" code { "dataset.seed" } "), the split drawn in it (" code { "split.seed" } ") and training (" code { "train_seed" } "), "
                "nested in that order, by the analysis of variance of a balanced nested design (expected mean squares; Bouthillier et al. 2021). "
                "A source whose share is large buys the most precision when more of its seeds are run. † an unbiased estimate below zero, shown as 0: that source adds nothing measurable beyond the one below it."
            }
            @for m in &variance { (m) }
        }
        @if !factorial.is_empty() {
            h2 { "Factorial effects" }
            @for m in &factorial { (m) }
        }
    }
}

pub fn render(store: &Store, c: &SweepComparison) -> Result<String, ReportError> {
    let done: usize = c.arms.iter().map(|a| a.runs.len()).sum();
    let failed: usize = c.arms.iter().map(|a| a.failed).sum();
    let unfinished: usize = c.arms.iter().map(|a| a.unfinished).sum();
    let baseline_label = if c.baseline.pairs.is_empty() {
        "none named".to_string()
    } else {
        c.baseline.label()
    };
    let first_run = c
        .arms
        .iter()
        .flat_map(|a| a.runs.first())
        .map(|r| r.1)
        .next();
    let classes = match first_run {
        Some(r) => store.classes(r)?,
        None => Vec::new(),
    };
    let headline = c.models.first();
    // Net models with epochs (factor nets too), for the curves.
    let mut curve_models: Vec<ModelName> = match first_run {
        Some(r) => store.epoch_models(r)?,
        None => Vec::new(),
    };
    for a in &c.arms {
        if let Some(&(_, r)) = a.runs.first() {
            for m in store.epoch_models(r)? {
                if !curve_models.contains(&m) {
                    curve_models.push(m);
                }
            }
        }
    }
    curve_models.retain(|m| *m != ModelName::Baseline);
    let mut curve_figures = Vec::new();
    for m in &curve_models {
        let bands = curves(store, c, m)?;
        if !bands.is_empty() {
            curve_figures.push(figure(
                html! { (m.to_string()) ": validation loss per epoch, mean over each arm's seeds (line) and one standard deviation either side (band); later epochs average the seeds still training." },
                charts::band_chart(&format!("{m}: validation loss per epoch by arm"), "epoch", "validation loss", "arm", &bands),
            ));
        }
    }
    // The baseline arm and the best other arm on the headline model's test log loss.
    let pair: Option<(usize, usize, ModelName)> = headline.and_then(|m| {
        let t = table_for(m, SplitKey::Test, metric::LOG_LOSS)?;
        let base = t.rows.iter().find(|r| c.arms[r.arm].is_baseline)?;
        let best = t
            .rows
            .iter()
            .filter(|r| !c.arms[r.arm].is_baseline)
            .min_by(|a, b| a.spread.mean.total_cmp(&b.spread.mean))?;
        Some((base.arm, best.arm, m.model.clone()))
    });
    let confusion_pair = match (&pair, classes.is_empty()) {
        (Some((b, best, model)), false) => {
            let mut figs = Vec::new();
            for (arm, role) in [(*b, "baseline"), (*best, "best other arm")] {
                let m = summed_confusion(store, &c.arms[arm].runs, model, classes.len())?;
                figs.push(figure(
                    html! { (role) ": " (arm_label(c, arm)) },
                    charts::confusion_chart(
                        &format!(
                            "{model}, test, {} seeds: {}",
                            c.arms[arm].runs.len(),
                            charts::shorten(&arm_label(c, arm), 40)
                        ),
                        "published label",
                        &classes,
                        &m,
                    ),
                ));
            }
            Some(figs)
        }
        _ => None,
    };
    let noise_figures = noise_figures(c);
    let body = html! {
        h1 { "Sweep " (c.name) }
        p {
            "Spec " code { (c.spec_path) } " · " (c.cells.len()) " cells in " (c.arms.len()) " arms · "
            (done) " done, " (failed) " failed, " (unfinished) " not finished · seeds "
            (c.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "))
            " · baseline arm: " strong { (baseline_label) }
        }
        p.note {
            "Per arm: the mean ± sample SD of each score over its seeds and a 95% interval of the mean that holds at few seeds: Student's t below "
            (small_n::BCA_FROM) " seeds (a percentile bootstrap of three seeds is only their range and covers far less than 95%), the BCa bootstrap from there. "
            "With " (crate::compare::sweep::IQM_FROM) " runs or more, the interquartile mean with a stratified-bootstrap interval (rliable's; " (crate::compare::sweep::ROBUST_RESAMPLES) " resamples, as for P(better)). "
            "Leakage: the share of test tracks whose artist / album has tracks in training, over the arm's runs. "
            "Δ is the arm minus its baseline arm (the baseline's values with this arm's other axes) over the seeds both have; "
            "a difference is called only with " (c.settings.min_pairs) " paired seeds or more (" (c.settings_from) ") and a paired t-test whose Holm-corrected p is below 0.05, "
            "and an arm whose split leaks against a baseline that does not is never called better. "
            "The intervals are each arm's own, uncorrected for the number of arms; the verdict is Holm-corrected, so an interval that leaves out zero can come with no call. "
            "P(better): the probability that a run of the arm scores better than a run of the baseline arm (rliable's probability of improvement, over all pairs of runs within a world, ties half), with a stratified-bootstrap interval; "
            "\"better on\" counts the paired seeds on which the arm scores better. With 6 paired seeds or more, also the exact Wilcoxon signed-rank test, Holm-corrected. "
            "\"± test set\": the mean half-width of each run's 95% interval from a bootstrap over its test set's artists, the test-set uncertainty of one run beside the spread over seeds."
        }
        @if failed > 0 {
            h2 { "Failed cells" }
            ul {
                @for cell in c.cells.iter().filter(|x| x.status == CellStatus::Failed) {
                    li { "cell " (cell.number) " (" (Arm::parse(&cell.arm).label()) ", seed " (cell.seed.map(|s| s.to_string()).unwrap_or_else(|| "—".into())) "): " span.err { (cell.error.clone().unwrap_or_default()) } }
                }
            }
        }
        @if c.models.is_empty() {
            p { strong { "No finished cell yet:" } " nothing to compare." }
        }
        @if let Some(h) = headline {
            h2 { "Verdict" }
            @for name in [metric::LOG_LOSS, metric::MACRO_F1] {
                @if let Some(t) = table_for(h, SplitKey::Test, name) { (verdict(c, &h.model, t)) }
            }
            h2 { "Model " (h.model.to_string()) " (headline)" }
            (model_section(c, h))
            (design_sections(c, h))
        }
        @if let Some(h) = headline {
            @for axis in &c.axes {
                @let lv = levels(c, axis);
                // A lone axis of names (not numbers) is already drawn, arm by arm, above.
                @if lv.len() > 1 && (c.axes.len() > 1 || lv.iter().all(|v| v.is_number())) {
                    h2 { "Along " code { (axis) } }
                    @for (split, name) in [(SplitKey::Test, metric::LOG_LOSS), (SplitKey::Test, metric::MACRO_F1)] {
                        @if let Some(t) = table_for(h, split, name) {
                            (figure(
                                html! { (h.model.to_string()) ", " (t.label) " against " code { (axis) } ": each point the mean over seeds with its 95% interval; one line per level of the other axes." },
                                charts::axis_chart(
                                    &format!("{}: {} against {axis}", h.model, t.label),
                                    axis,
                                    &lv.iter().map(value_text).collect::<Vec<_>>(),
                                    t.label,
                                    "other axes",
                                    &axis_lines(c, t, axis, &lv),
                                ),
                            ))
                        }
                    }
                }
            }
        }
        @if !noise_figures.is_empty() {
            h2 { "Score against noise rate" }
            p.note { "Every model's test score against the share of training labels relabelled, scored against the labels as published and, on generated worlds, against the true genres (clean): how much of the loss is the noise the test labels carry, and how much the model learned from noisy training labels." }
            @for f in &noise_figures { (f) }
        }
        @if let Some(figs) = &confusion_pair {
            h2 { "Confusion matrices: the baseline and the best arm" }
            p.note { "The headline model on the test tracks, each arm's seeds added up. Rows: the published label; columns: the predicted genre; shade: share of the row. The best arm is the one with the lowest mean test log loss." }
            div.pair { @for f in figs { (f) } }
        }
        @if !curve_figures.is_empty() {
            h2 { "Validation curves" }
            @for f in &curve_figures { (f) }
        }
        @for m in c.models.iter().skip(1) {
            h2 { "Model " (m.model.to_string()) }
            details {
                summary { "Every score of " (m.model.to_string()) " per arm, with its charts" }
                (model_section(c, m))
            }
        }
        h2 { "Cells" }
        table.sortable {
            thead { tr { th { "cell" } th.l { "arm" } th { "seed" } th.l { "status" } th { "attempts" } th { "run" } th.l { "error" } } }
            tbody {
                @for cell in &c.cells {
                    tr.bad[cell.status == CellStatus::Failed] {
                        td data-v=(cell.number) { (cell.number) }
                        td.l { (Arm::parse(&cell.arm).label()) }
                        td { (cell.seed.map(|s| s.to_string()).unwrap_or_else(|| "—".into())) }
                        td.l { (cell.status.as_str()) }
                        td data-v=(cell.attempts) { (cell.attempts) }
                        td { @if let Some(r) = cell.run_id { a href={ "../runs/" (r.0) ".html" } { (r.0) } } @else { "—" } }
                        td.l { span.err { (cell.error.clone().unwrap_or_default()) } }
                    }
                }
            }
        }
    };
    Ok(page::frame(
        &format!("agf sweep {}", c.name),
        Some("../index.html"),
        body,
    ))
}
