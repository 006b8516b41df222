//! `runs/<id>.html`: one run in full: how it ended (and why, if it failed), its models' scores
//! on every split with the test set's uncertainty over artists, its confusion matrices
//! against the published labels and the true genres, its training curves, its split, its
//! factors and its resolved spec.

use super::charts;
use super::page::{self, figure, num, num_cell};
use super::stat_charts::{self, LossCurve};
use super::ReportError;
use crate::record::{metric, ModelName, RunId, SplitKey};
use crate::store::{FactorRow, MetricRow, RunSummary, Store};
use maud::{html, Markup};
use std::path::Path;

/// Everything a run's page shows, read from the store.
pub struct RunPage<'a> {
    pub summary: &'a RunSummary,
    pub factors: Vec<&'a FactorRow>,
    /// Where the page is written, for relative links to the run's files.
    pub report_dir: &'a Path,
}

/// One kind of training target's curves and the chance levels drawn with them.
struct LossPanel {
    title: &'static str,
    curves: Vec<LossCurve>,
    chance: Vec<(String, f64)>,
}

/// The run's prediction and factor files, as (link from the page, name).
fn run_files(run_dir: Option<&str>, page_dir: &Path) -> Vec<(String, String)> {
    let Some(dir) = run_dir.map(Path::new) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for sub in ["predictions", "factors"] {
        // Prediction files sit in predictions/, factor tables one folder deeper.
        let mut found = Vec::new();
        let mut folders = vec![dir.join(sub)];
        while let Some(folder) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for e in entries.filter_map(|e| e.ok()) {
                let p = e.path();
                if p.is_dir() {
                    folders.push(p);
                } else if p.is_file() {
                    found.push(p);
                }
            }
        }
        found.sort();
        for target in found {
            let name = target
                .strip_prefix(dir)
                .unwrap_or(&target)
                .display()
                .to_string();
            out.push((relative(page_dir, &target), name));
        }
    }
    out
}

/// `target` as a link from a page in `from` (both made absolute): relative where they share
/// a root, so the report can be moved with its runs; a file URL otherwise.
fn relative(from: &Path, target: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, target) = (abs(from), abs(target));
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = target.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common <= 1 {
        return format!("file://{}", target.display());
    }
    let mut parts: Vec<String> = vec!["..".to_string(); a.len() - common];
    parts.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().to_string()),
    );
    parts.join("/")
}

fn value(metrics: &[MetricRow], model: &ModelName, split: SplitKey, name: &str) -> Option<f64> {
    metrics
        .iter()
        .find(|m| &m.model == model && m.split == split && m.name == name)
        .and_then(|m| m.value)
}

/// The interval over test artists of one score, as `[low, high]`.
fn artist_interval(
    metrics: &[MetricRow],
    model: &ModelName,
    split: SplitKey,
    name: &str,
) -> String {
    let [low, high] = metric::artist_interval(name);
    match (
        value(metrics, model, split, &low),
        value(metrics, model, split, &high),
    ) {
        (Some(l), Some(h)) => format!("[{l:.3}, {h:.3}]"),
        _ => "—".into(),
    }
}

pub fn render(store: &Store, page: &RunPage) -> Result<String, ReportError> {
    let run: RunId = page.summary.id;
    let stored = store.run(run)?;
    let metrics = store.metrics(run)?;
    let classes = store.classes(run)?;
    let facts = store.facts(run)?;
    let fact = |k: &str| {
        facts
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    // Every trained model in training order, then any other model scored on genre.
    let mut models: Vec<ModelName> = store.epoch_models(run)?;
    for m in &metrics {
        if m.split == SplitKey::Test && m.name == metric::LOG_LOSS && !models.contains(&m.model) {
            models.push(m.model.clone());
        }
    }
    let genre_models: Vec<&ModelName> = models
        .iter()
        .filter(|m| value(&metrics, m, SplitKey::Test, metric::LOG_LOSS).is_some())
        .collect();
    let headline = page
        .summary
        .headline_model
        .as_deref()
        .and_then(ModelName::parse);
    let mut epoch_rows = Vec::new();
    // One panel per kind of target: each with its chance level, the loss of a uniform
    // prediction (ln of the classes, or of a factor's topics).
    let topics_of = |factor: &str| {
        page.factors
            .iter()
            .find(|f| f.factor == factor)
            .and_then(|f| f.topics)
    };
    let mut panels: Vec<LossPanel> = Vec::new();
    for (k, model) in models.iter().enumerate() {
        let epochs = store.epochs(run, model)?;
        let best = epochs
            .iter()
            .filter(|e| e.validation_loss.is_finite())
            .min_by(|a, b| a.validation_loss.total_cmp(&b.validation_loss))
            .cloned();
        epoch_rows.push((model.clone(), epochs.len(), best));
        if epochs.is_empty() {
            continue;
        }
        let (panel, chance) = match model {
            ModelName::Net(t) if t != "genre" && t != "multitask" => (
                "factor nets: cross-entropy against the artist's topic vector",
                topics_of(t).map(|n| (format!("ln {n}"), (n as f64).ln())),
            ),
            ModelName::Transfer => (
                "transfer model: genre cross-entropy",
                Some((format!("ln {}", classes.len()), (classes.len() as f64).ln())),
            ),
            ModelName::Baseline | ModelName::BaselineOn(_) => (
                "logistic baseline: genre cross-entropy",
                Some((format!("ln {}", classes.len()), (classes.len() as f64).ln())),
            ),
            _ => (
                "genre nets: genre cross-entropy",
                Some((format!("ln {}", classes.len()), (classes.len() as f64).ln())),
            ),
        };
        let i = match panels.iter().position(|p| p.title == panel) {
            Some(i) => i,
            None => {
                panels.push(LossPanel {
                    title: panel,
                    curves: Vec::new(),
                    chance: Vec::new(),
                });
                panels.len() - 1
            }
        };
        let LossPanel {
            curves,
            chance: chances,
            ..
        } = &mut panels[i];
        if let Some(c) = chance.filter(|c| !classes.is_empty() && !chances.contains(c)) {
            chances.push(c);
        }
        for (training, get) in [
            (
                true,
                (|e: &crate::record::Epoch| e.train_loss) as fn(&crate::record::Epoch) -> f64,
            ),
            (false, |e: &crate::record::Epoch| e.validation_loss),
        ] {
            curves.push(LossCurve {
                name: model.to_string(),
                colour: k,
                training,
                points: epochs.iter().map(|e| (e.epoch as f64, get(e))).collect(),
            });
        }
    }
    let class_rows = store.class_metrics(run)?;
    let stage_times: Vec<crate::pipeline::StageTime> = fact(crate::pipeline::STAGE_TIMES_FACT)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let files = run_files(
        fact(crate::pipeline::RUN_DIR_FACT).as_deref(),
        page.report_dir,
    );
    let confusions: Vec<(SplitKey, &str, Vec<Vec<usize>>)> = match &headline {
        Some(h) if !classes.is_empty() => {
            let mut out = Vec::new();
            for (split, rows) in [
                (SplitKey::Test, "published label"),
                (SplitKey::TestClean, "true genre"),
            ] {
                let m = store.confusion_matrix(run, h, split, classes.len())?;
                if m.iter().flatten().any(|&c| c > 0) {
                    out.push((split, rows, m));
                }
            }
            out
        }
        _ => Vec::new(),
    };
    let warnings: Vec<&String> = facts
        .iter()
        .filter(|(k, _)| k.starts_with("warning.split."))
        .map(|(_, w)| w)
        .collect();
    let count = |split: SplitKey, class: &str| {
        value(
            &metrics,
            &ModelName::Dataset,
            SplitKey::All,
            &format!("{}.tracks.{class}", split.as_str()),
        )
    };
    let audit = audit_section(
        &metrics,
        &classes,
        fact(metric::AUDIT_ALBUMS_FACT).as_deref(),
        fact(metric::AUDIT_MODEL_FACT).as_deref(),
    );
    let s = page.summary;
    let body = html! {
        h1 { "Run " (run.0) ": " (s.name) }
        p {
            strong { (s.status.to_string()) } " · started " (page::when(&s.started_at))
            @if let Some(e) = &s.ended_at { " · ended " (page::when(e)) }
            " · device " (s.device) " · spec " code { (charts::shorten(&s.spec_hash, 12)) }
        }
        @if let Some(e) = &stored.error {
            p.err { strong { "Error: " } (e) }
        }
        @if let Some(d) = fact("dataset") { p { "Dataset: " (d) } }
        @if let Some(a) = fact("audio") { p { "Audio: " (a) } }
        @if !genre_models.is_empty() {
            h2 { "Genre models" }
            p.note {
                "Every split: training and validation against the labels the model trained on (injected noise included), test against the labels as published, clean against the true genres (generated worlds only). The interval is a 95% percentile bootstrap over the test set's artists (10,000 resamples; an artist's tracks are drawn together): how much the score would move on another test set of the same kind."
                @if let Some(h) = &headline { " The run's headline model is " strong { (h.to_string()) } "." }
            }
            table.sortable {
                thead { tr {
                    th.l { "model" } th.l { "split" } th { "tracks" } th { "log loss" } th { "macro-F1" } th { "accuracy" }
                    th { "log loss, 95% over artists" } th { "macro-F1, 95% over artists" }
                } }
                tbody {
                    @for m in &genre_models {
                        @for split in SplitKey::SCORED {
                            @if value(&metrics, m, split, metric::LOG_LOSS).is_some() {
                                tr {
                                    td.l { (m.to_string()) } td.l { (split.as_str()) }
                                    (num_cell(value(&metrics, m, split, metric::N_TRACKS), 0))
                                    (num_cell(value(&metrics, m, split, metric::LOG_LOSS), 4))
                                    (num_cell(value(&metrics, m, split, metric::MACRO_F1), 4))
                                    (num_cell(value(&metrics, m, split, metric::ACCURACY), 4))
                                    td { (artist_interval(&metrics, m, split, metric::LOG_LOSS)) }
                                    td { (artist_interval(&metrics, m, split, metric::MACRO_F1)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !class_rows.is_empty() && !classes.is_empty() {
            h2 { "Per genre" }
            p.note { "Precision, recall and F1 of each genre and its support (tracks whose label is that genre), on the test tracks against the published labels and, on generated worlds, against the true genres." }
            @for m in &genre_models {
                @for split in [SplitKey::Test, SplitKey::TestClean] {
                    @let rows: Vec<_> = class_rows.iter().filter(|r| r.model == m.to_string() && r.split == split.as_str()).collect();
                    @if !rows.is_empty() {
                        details open[Some(*m) == headline.as_ref()] {
                            summary { (m.to_string()) " on " (split.as_str()) }
                            table.sortable {
                                thead { tr { th.l { "genre" } th { "precision" } th { "recall" } th { "F1" } th { "support" } } }
                                tbody {
                                    @for r in &rows {
                                        tr {
                                            td.l { (classes.get(r.class_index as usize).cloned().unwrap_or_default()) }
                                            (num_cell(Some(r.precision), 3)) (num_cell(Some(r.recall), 3)) (num_cell(Some(r.f1), 3))
                                            td { (r.support) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(a) = audit { (a) }
        @if !epoch_rows.is_empty() {
            h2 { "Training" }
            p.note { "Best epoch and its validation loss: on the model's own target (genre, or an artist's topic vector for a factor's net; for a multi-task net, its tasks' losses weighted by their probabilities), the epoch early stopping kept." }
            table {
                thead { tr { th.l { "model" } th { "epochs run" } th { "best epoch" } th { "best validation loss" } } }
                tbody {
                    @for (m, n, best) in &epoch_rows {
                        tr {
                            td.l { (m.to_string()) } td { (n) }
                            td { (best.as_ref().map(|e| e.epoch.to_string()).unwrap_or_else(|| "—".into())) }
                            td { (num(best.as_ref().map(|e| e.validation_loss), 4)) }
                        }
                    }
                }
            }
            @for LossPanel { title, curves, chance } in &panels {
                (figure(
                    html! { (title) ": training loss (faint, the mean over the epoch's batches) and validation loss (bold) per epoch; the grey line is chance, the loss of a uniform prediction." },
                    stat_charts::loss_chart(&format!("Run {}: {title}", run.0), curves, chance),
                ))
            }
        }
        @if !stage_times.is_empty() {
            h2 { "Time per stage" }
            table {
                thead { tr { th.l { "stage" } th { "seconds" } th.l { "from the cache" } } }
                tbody {
                    @for t in &stage_times {
                        tr {
                            td.l { (t.stage) }
                            td { (format!("{:.1}", t.seconds)) }
                            td.l { (if t.cached { "yes: every computation was cached before the run" } else { "no" }) }
                        }
                    }
                }
            }
        }
        @if !confusions.is_empty() {
            h2 { "Confusion matrices" }
            p.note { "The headline model on the test tracks. Rows: the label the tracks are scored against (as published, label noise included; or the true genre); columns: the predicted genre. Shade: share of the row." }
            div.pair {
                @for (split, rows, m) in &confusions {
                    (figure(
                        html! { (split.as_str()) ": rows are the " (rows) },
                        charts::confusion_chart(
                            &format!("{} on {}, rows: {rows}",
                                headline.as_ref().map(|h| h.to_string()).unwrap_or_default(),
                                split.as_str()),
                            rows,
                            &classes,
                            m,
                        ),
                    ))
                }
            }
        }
        @if !classes.is_empty() {
            h2 { "Split" }
            table {
                thead { tr { th.l { "genre" } th { "train" } th { "validation" } th { "test" } } }
                tbody {
                    @for c in &classes {
                        tr {
                            td.l { (c) }
                            @for split in [SplitKey::Train, SplitKey::Validation, SplitKey::Test] {
                                td { (num(count(split, c), 0)) }
                            }
                        }
                    }
                }
            }
            p.note {
                "Held-out tracks whose artist is in training: test "
                (num(value(&metrics, &ModelName::Dataset, SplitKey::All, "test_tracks_with_train_artist"), 0))
                ", validation "
                (num(value(&metrics, &ModelName::Dataset, SplitKey::All, "validation_tracks_with_train_artist"), 0))
                "; test tracks whose album is: "
                (num(value(&metrics, &ModelName::Dataset, SplitKey::All, "test_tracks_with_train_album"), 0))
                "."
            }
            @if !warnings.is_empty() {
                ul { @for w in &warnings { li.warn { "Warning: " (w) } } }
            }
        }
        @if !page.factors.is_empty() {
            h2 { "Artist Group Factors" }
            table {
                thead { tr { th.l { "factor" } th { "words" } th { "topics" } th { "perplexity" } th { "held-out perplexity" } th { "NMI with the artist groups" } } }
                tbody {
                    @for f in &page.factors {
                        tr {
                            td.l { (f.factor) }
                            td { (f.vocabulary.map(|v| v.to_string()).unwrap_or_default()) }
                            td { (f.topics.map(|v| v.to_string()).unwrap_or_default()) }
                            td { (num(f.perplexity, 2)) } td { (num(f.held_out_perplexity, 2)) }
                            td { (num(f.nmi_artist_group, 3)) }
                        }
                    }
                }
            }
        }
        @if !files.is_empty() {
            h2 { "Files" }
            p.note { "The run's prediction files (one row per track: its split, label and every class's probability) and factor tables, in its folder." }
            ul { @for (href, name) in &files { li { a href=(href) { code { (name) } } } } }
        }
        h2 { "Resolved spec" }
        details {
            summary { "Every value the run used (TOML), hash " code { (s.spec_hash) } }
            pre { (stored.spec_toml) }
        }
    };
    Ok(page::frame(
        &format!("agf run {}: {}", run.0, s.name),
        Some("../index.html"),
        body,
    ))
}

/// Whether a page written for a run in this state can be kept: finished runs do not change.
pub fn stamp(s: &RunSummary) -> Option<String> {
    use crate::store::RunStatus;
    matches!(s.status, RunStatus::Done | RunStatus::Failed).then(|| {
        format!(
            "{}|{}|{}",
            s.status,
            s.ended_at.clone().unwrap_or_default(),
            super::VERSION
        )
    })
}

/// The label audit: its counts and truth scores, the baseline trained on the published, the
/// cleaned and the true labels scored on clean test labels, the estimated and true noise
/// matrices side by side, and the albums likeliest mislabelled.
fn audit_section(
    metrics: &[MetricRow],
    classes: &[String],
    albums: Option<&str>,
    model: Option<&str>,
) -> Option<Markup> {
    let model = match model {
        Some("genre_cnn") => "the genre CNN's",
        Some("transfer") => "the transfer model's",
        _ => "the baseline's",
    };
    let a = |name: &str| value(metrics, &ModelName::Audit, SplitKey::Train, name);
    let tracks = a("tracks")?;
    let k = classes.len();
    let matrix = |prefix: &str| -> Option<Vec<Vec<f64>>> {
        (0..k)
            .map(|i| (0..k).map(|j| a(&format!("{prefix}.{i}.{j}"))).collect())
            .collect()
    };
    let estimated = matrix(metric::AUDIT_NOISE);
    let truth = matrix(metric::AUDIT_TRUE_NOISE);
    let effect: Vec<(ModelName, &str)> = [
        (
            ModelName::Baseline,
            "as published (injected noise included)",
        ),
        (
            ModelName::BaselineOn("cleaned".into()),
            "cleaned by the audit",
        ),
        (ModelName::BaselineOn("true".into()), "the true genres"),
    ]
    .into_iter()
    .filter(|(m, _)| {
        value(metrics, m, SplitKey::TestClean, metric::LOG_LOSS).is_some()
            || value(metrics, m, SplitKey::Test, metric::LOG_LOSS).is_some()
    })
    .collect();
    let albums: Vec<serde_json::Value> = albums
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let pct = |v: Option<f64>| num(v, 3);
    Some(html! {
        h2 { "Label audit" }
        p {
            (num(a("flagged"), 0)) " of " (num(Some(tracks), 0)) " training labels flagged by confident learning on " (model) " out-of-fold probabilities ("
            (num(a("folds"), 0)) " folds grouped by artist); cleanlab's num_label_issues "
            (num(a("num_label_issues"), 0)) ", health score " (num(a("health_score"), 3)) "."
        }
        @if a("wrong_labels").is_some() {
            table {
                thead { tr { th.l { "against the true labels" } th { "wrong" } th { "flagged" } th { "precision" } th { "recall" } } }
                tbody {
                    tr { td.l { "tracks" } td { (num(a("wrong_labels"), 0)) } td { (num(a("flagged"), 0)) } td { (pct(a("track_precision"))) } td { (pct(a("track_recall"))) } }
                    tr { td.l { "albums (half their tracks flagged; most tracks wrong)" } td { (num(a("wrong_albums"), 0)) } td { (num(a("flagged_albums"), 0)) } td { (pct(a("album_precision"))) } td { (pct(a("album_recall"))) } }
                }
            }
        }
        @if effect.len() > 1 {
            h3 { "The effect of cleaning" }
            p.note { "The baseline trained on each set of training labels, scored on the test tracks: against the true genres (clean, generated worlds only) and against the labels as published." }
            table {
                thead { tr { th.l { "model" } th.l { "trained on labels" } th { "clean log loss" } th { "clean macro-F1" } th { "test log loss" } th { "test macro-F1" } } }
                tbody {
                    @for (m, what) in &effect {
                        tr {
                            td.l { (m.to_string()) } td.l { (what) }
                            td { (num(value(metrics, m, SplitKey::TestClean, metric::LOG_LOSS), 4)) }
                            td { (num(value(metrics, m, SplitKey::TestClean, metric::MACRO_F1), 4)) }
                            td { (num(value(metrics, m, SplitKey::Test, metric::LOG_LOSS), 4)) }
                            td { (num(value(metrics, m, SplitKey::Test, metric::MACRO_F1), 4)) }
                        }
                    }
                }
            }
        }
        div.pair {
            @if let Some(m) = &estimated {
                (figure(html! { "Estimated from the calibrated confident joint: P(labelled row | true column)." },
                    charts::probability_chart("Estimated noise matrix", "label given", "true genre", classes, m)))
            }
            @if let Some(m) = &truth {
                (figure(html! { "Counted from the true genres of the training tracks." },
                    charts::probability_chart("True noise matrix", "label given", "true genre", classes, m)))
            }
        }
        @if !albums.is_empty() {
            h3 { "Albums likeliest mislabelled" }
            p.note { "By share of tracks flagged, then by mean self-confidence (the probability of the given label). The run's audit/ folder holds every album and every flagged track as CSV." }
            table.sortable {
                thead { tr { th.l { "album" } th { "tracks" } th { "flagged" } th { "self-confidence" } th.l { "labelled" } th.l { "model believes" } th { "p" } } }
                tbody {
                    @for al in &albums {
                        tr {
                            td.l { (al["album"].as_str().unwrap_or("")) }
                            td { (al["tracks"]) } td { (al["flagged"]) }
                            (num_cell(al["self_confidence"].as_f64(), 3))
                            td.l { (al["label"].as_str().unwrap_or("")) }
                            td.l { (al["believed"].as_str().unwrap_or("")) }
                            (num_cell(al["believed_probability"].as_f64(), 2))
                        }
                    }
                }
            }
        }
    })
}
