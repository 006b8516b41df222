//! `agf compare A B --html`: two runs side by side, the parameters that differ and every
//! metric with its difference.

use super::page::{self, num, num_cell};
use crate::compare::runs::RunDiff;
use maud::html;

pub fn render(d: &RunDiff, home: Option<&str>) -> String {
    let (a, b) = (&d.a, &d.b);
    let body = html! {
        h1 { "Run " (a.id.0) " against run " (b.id.0) }
        table {
            thead { tr { th.l { "" } th.l { "run " (a.id.0) } th.l { "run " (b.id.0) } } }
            tbody {
                tr { td.l { "name" } td.l { (a.name) } td.l { (b.name) } }
                tr { td.l { "status" } td.l { (a.status.to_string()) } td.l { (b.status.to_string()) } }
                tr { td.l { "headline model" } td.l { (a.headline_model.clone().unwrap_or_default()) } td.l { (b.headline_model.clone().unwrap_or_default()) } }
                tr { td.l { "spec" } td.l { code { (a.spec_hash) } } td.l { code { (b.spec_hash) } } }
            }
        }
        h2 { "Parameters that differ (" (d.params.len()) "; " (d.same) " are the same)" }
        @if d.params.is_empty() {
            p { "None: the two runs have one resolved spec." }
        } @else {
            table.sortable {
                thead { tr { th.l { "key" } th.l { "run " (a.id.0) } th.l { "run " (b.id.0) } } }
                tbody {
                    @for p in &d.params {
                        tr {
                            td.l { code { (p.key) } }
                            td.l { (p.a.clone().unwrap_or_else(|| "(absent)".into())) }
                            td.l { (p.b.clone().unwrap_or_else(|| "(absent)".into())) }
                        }
                    }
                }
            }
        }
        h2 { "Leakage" }
        p {
            @for (run, l) in [(a.id.0, d.leakage[0]), (b.id.0, d.leakage[1])] {
                "Run " (run) ": " (l.map(|l| l.text()).unwrap_or_else(|| "unknown".into())) ". "
            }
            @if let Some(n) = d.leakage_note() { strong.leak { (n) } }
        }
        h2 { "Headline scores" }
        p.note {
            "Each genre model's test scores against the published labels and, on generated worlds, the true genres (clean); ± is each run's 95% interval over its test set's artists. "
            "Δ is run " (b.id.0) " minus run " (a.id.0) ". One run each: a difference between two runs is not told apart from seed noise, so none is coloured as a finding; run the arms over seeds with a sweep for a verdict."
        }
        table.sortable {
            thead { tr { th.l { "model" } th.l { "score" } th { "run " (a.id.0) } th { "run " (b.id.0) } th { "Δ" } } }
            tbody {
                @for sc in &d.scores {
                    tr {
                        td.l { (sc.model) } td.l { (sc.label) }
                        td data-v=[sc.a] { (num(sc.a, 4)) @if let Some(h) = sc.a_test_set { " ± " (format!("{h:.4}")) } }
                        td data-v=[sc.b] { (num(sc.b, 4)) @if let Some(h) = sc.b_test_set { " ± " (format!("{h:.4}")) } }
                        (num_cell(sc.difference(), 4))
                    }
                }
            }
        }
        h2 { "Every stored metric" }
        details {
        summary { "Every metric both runs stored, internal counters included (" (d.metrics.len()) " rows)" }
        p.note { "Δ is run " (b.id.0) " minus run " (a.id.0) "; for log loss lower is better, for the other scores higher." }
        table.sortable {
            thead { tr { th.l { "model" } th.l { "split" } th.l { "metric" } th { "run " (a.id.0) } th { "run " (b.id.0) } th { "Δ" } } }
            tbody {
                @for m in &d.metrics {
                    // Counts (tracks, epochs, flags) whole, scores to four places.
                    @let digits = if [m.a, m.b].iter().flatten().all(|x| x.fract() == 0.0) { 0 } else { 4 };
                    tr {
                        td.l { (m.model) } td.l { (m.split) } td.l { (m.name) }
                        (num_cell(m.a, digits)) (num_cell(m.b, digits))
                        @let key = m.difference().filter(|x| x.is_finite()).map(|x| x.to_string());
                        td data-v=[key] { (m.difference().map(|x| format!("{x:+.digits$}")).unwrap_or_else(|| "—".into())) }
                    }
                }
            }
        }
        }
    };
    page::frame(
        &format!("agf: run {} against run {}", a.id.0, b.id.0),
        home,
        body,
    )
}
