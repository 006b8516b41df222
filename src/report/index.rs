//! `index.html`: every run in one sortable table (each linking to its own page), the
//! sweeps, the runs' headline scores drawn per model, and the newest factors.

use super::charts::{self, Series};
use super::page::{self, figure, num_cell};
use crate::record::RunId;
use crate::store::{FactorRow, RunStatus, RunSummary, SweepSummary};
use maud::{html, Markup};
use std::collections::BTreeMap;

/// Rows of the factor table (the newest runs' first); every run's page has its own.
const FACTOR_ROWS: usize = 40;

/// The sweep cell a run was made for.
pub struct CellOf {
    pub sweep: String,
    pub arm: String,
    pub seed: Option<i64>,
}

pub struct Index<'a> {
    pub location: String,
    pub runs: &'a [RunSummary],
    pub sweeps: &'a [SweepSummary],
    pub cells: &'a BTreeMap<RunId, CellOf>,
    pub factors: &'a [FactorRow],
}

fn short(s: &str, n: usize) -> String {
    charts::shorten(s, n)
}

/// The runs' headline scores as dots, one colour per headline model, so that scores of
/// different models are never read as one series.
fn score_chart(runs: &[RunSummary], pick: fn(&RunSummary) -> Option<f64>, what: &str) -> Markup {
    let mut by_model: Vec<Series> = Vec::new();
    for r in runs {
        let Some(v) = pick(r) else { continue };
        let model = r.headline_model.clone().unwrap_or_else(|| "?".into());
        match by_model.iter_mut().find(|s| s.name == model) {
            Some(s) => s.points.push((r.id.0 as f64, v)),
            None => by_model.push(Series {
                name: model,
                points: vec![(r.id.0 as f64, v)],
            }),
        }
    }
    figure(
        html! {
            "Each finished run's " (what) " on its test split (labels as published), by its headline model: the transfer model where nets are trained, else the baseline."
        },
        charts::runs_chart(
            &format!("Test {what} of every run, by headline model"),
            &format!("test {what}"),
            &by_model,
        ),
    )
}

pub fn render(ix: &Index) -> String {
    let count = |s: RunStatus| ix.runs.iter().filter(|r| r.status == s).count();
    let scored = ix.runs.iter().filter(|r| r.log_loss.is_some()).count();
    let body = html! {
        h1 { "agf report" }
        p.note {
            "Generated " (chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")) " from "
            code { (ix.location) } ": "
            (ix.runs.len()) (if ix.runs.len() == 1 { " run (" } else { " runs (" }) (count(RunStatus::Done)) " done, "
            (count(RunStatus::Failed)) " failed, " (count(RunStatus::Running)) " running, "
            (count(RunStatus::Interrupted)) " interrupted), " (scored) " with test scores. "
            "Log loss is the challenge's primary score; lower is better."
        }
        @if ix.runs.is_empty() {
            p { strong { "No runs yet." } " "
                code { "agf run experiments/quickstart.toml" } " makes one; "
                code { "agf sweep run SPEC" } " runs a sweep." }
        } @else {
            @if !ix.sweeps.is_empty() {
                h2 { "Sweeps" }
                table.sortable {
                    thead { tr { th.l { "sweep" } th { "cells" } th { "done" } th { "running" } th { "failed" } th { "queued" } th.l { "spec" } th.l { "updated" } } }
                    tbody {
                        @for s in ix.sweeps {
                            tr.bad[s.failed > 0] {
                                td.l { a href={ "sweeps/" (page::file_name(&s.name)) ".html" } { (s.name) } }
                                td data-v=(s.cells) { (s.cells) } td data-v=(s.done) { (s.done) }
                                td data-v=(s.running) { (s.running) } td data-v=(s.failed) { (s.failed) }
                                td data-v=(s.queued) { (s.queued) }
                                td.l { code { (s.spec_path) } } td.l { (page::when(&s.updated_at)) }
                            }
                        }
                    }
                }
            }
            @if scored > 0 {
                h2 { "Scores" }
                (score_chart(ix.runs, |r| r.log_loss, "log loss"))
                (score_chart(ix.runs, |r| r.macro_f1, "macro-F1"))
            }
            h2 { "Runs" }
            p.note { "Click a header to sort; a run's number opens its page (its models, split, confusion matrices, training curves, factors and spec)." }
            div.wide { table.sortable {
                thead { tr {
                    th { "run" } th.l { "name" } th.l { "sweep arm, seed" } th.l { "status" } th.l { "headline model" }
                    th { "test log loss" } th { "test macro-F1" } th { "test accuracy" }
                    th.l { "started" } th.l { "device" } th.l { "spec" }
                } }
                tbody {
                    @for r in ix.runs {
                        tr.bad[r.status == RunStatus::Failed] {
                            td data-v=(r.id.0) { a href={ "runs/" (r.id.0) ".html" } { (r.id.0) } }
                            td.l { (r.name) }
                            td.l {
                                @if let Some(c) = ix.cells.get(&r.id) {
                                    a href={ "sweeps/" (page::file_name(&c.sweep)) ".html" } { (c.arm) }
                                    @if let Some(seed) = c.seed { ", seed " (seed) }
                                }
                            }
                            td.l {
                                (r.status.to_string())
                                @if let Some(e) = &r.error {
                                    br; span.err title=(e) { (short(e, 160)) }
                                }
                            }
                            td.l { (r.headline_model.clone().unwrap_or_default()) }
                            (num_cell(r.log_loss, 4)) (num_cell(r.macro_f1, 4)) (num_cell(r.accuracy, 4))
                            td.l { (page::when(&r.started_at)) } td.l { (r.device) }
                            td.l { code { (short(&r.spec_hash, 8)) } }
                        }
                    }
                }
            } }
            @if !ix.factors.is_empty() {
                h2 { "Artist Group Factors" }
                p.note { "The newest runs' factors (each run's page lists its own). NMI: agreement of each artist's largest topic with the latent artist group (generated worlds only). Perplexity: scikit-learn's bound on the fitted bags; held-out: on the artists left out of the fit." }
                table.sortable {
                    thead { tr { th { "run" } th.l { "factor" } th { "words" } th { "topics" } th { "perplexity" } th { "held-out perplexity" } th { "NMI" } } }
                    tbody {
                        @for f in ix.factors.iter().take(FACTOR_ROWS) {
                            tr {
                                td data-v=(f.run.0) { a href={ "runs/" (f.run.0) ".html" } { (f.run.0) } }
                                td.l { (f.factor) }
                                (num_cell(f.vocabulary.map(|v| v as f64), 0))
                                (num_cell(f.topics.map(|v| v as f64), 0))
                                (num_cell(f.perplexity, 2)) (num_cell(f.held_out_perplexity, 2))
                                (num_cell(f.nmi_artist_group, 3))
                            }
                        }
                    }
                }
            }
        }
    };
    page::frame("agf report", None, body)
}
