//! Reports: read the store, draw charts with plotters (SVG, text measured with the embedded
//! DejaVu font so no system fonts are needed), write one self-contained `index.html` that
//! opens from the file system without a server.

mod charts;

use crate::record::{metric, ModelName, RunId, SplitKey};
use crate::store::{RunStatus, Store, StoreError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the report {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot draw the {chart} chart: {message}")]
    Draw {
        chart: &'static str,
        message: String,
    },
}

/// What was written.
#[derive(Debug, Clone)]
pub struct ReportOutput {
    pub index: PathBuf,
    pub runs: usize,
}

/// Write `out/index.html` (and the charts as `.svg` beside it) from every run in `store`.
pub fn write_report(store: &Store, out: &Path) -> Result<ReportOutput, ReportError> {
    charts::register_fonts();
    let runs = store.runs()?;
    let scored: Vec<_> = runs.iter().filter(|r| r.log_loss.is_some()).collect();
    let labels: Vec<String> = scored
        .iter()
        .map(|r| format!("#{} {}", r.id, r.name))
        .collect();
    let log_loss_svg = charts::bar_chart(
        "Test log loss per run (lower is better)",
        &labels,
        &scored
            .iter()
            .map(|r| r.log_loss.unwrap_or(f64::NAN))
            .collect::<Vec<_>>(),
        "log loss",
    )
    .map_err(|m| ReportError::Draw {
        chart: "log loss",
        message: m,
    })?;
    let f1_svg = charts::bar_chart(
        "Test macro-F1 per run (higher is better)",
        &labels,
        &scored
            .iter()
            .map(|r| r.macro_f1.unwrap_or(f64::NAN))
            .collect::<Vec<_>>(),
        "macro-F1",
    )
    .map_err(|m| ReportError::Draw {
        chart: "macro-F1",
        message: m,
    })?;
    let confusion = store.confusion(None)?;
    let confusion_svg = match &confusion {
        Some(c) if !c.classes.is_empty() => Some(
            charts::confusion_chart(
                &format!("Confusion matrix, run #{} ({}, test)", c.run, c.model),
                &c.classes,
                &c.matrix,
            )
            .map_err(|m| ReportError::Draw {
                chart: "confusion matrix",
                message: m,
            })?,
        ),
        _ => None,
    };

    let newest = runs
        .iter()
        .rev()
        .find(|r| r.status == RunStatus::Done)
        .or(runs.last());
    let models = match newest {
        Some(r) => model_section(store, r.id)?,
        None => None,
    };
    let split = match newest {
        Some(r) => split_section(store, r.id)?,
        None => String::new(),
    };

    std::fs::create_dir_all(out).map_err(|source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    write_atomic(&out.join("log_loss.svg"), log_loss_svg.as_bytes())?;
    write_atomic(&out.join("macro_f1.svg"), f1_svg.as_bytes())?;
    if let Some(svg) = &confusion_svg {
        write_atomic(&out.join("confusion.svg"), svg.as_bytes())?;
    }

    let mut html = String::new();
    html.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n",
        "<title>agf report</title>\n<style>\n",
        "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}\n",
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}\n",
        "th{background:#f3f3f3}td.l,th.l{text-align:left}figure{margin:1.5em 0}\n",
        "</style></head><body>\n<h1>agf report</h1>\n"
    ));
    html.push_str(&format!(
        "<p>Generated {} from <code>{}</code>: {} runs, {} with test metrics. Log loss is the challenge's primary metric.</p>\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        escape(&store.location()),
        runs.len(),
        scored.len()
    ));
    html.push_str("<table><tr><th>run</th><th class=\"l\">name</th><th class=\"l\">status</th><th class=\"l\">started</th><th>test log loss</th><th>test macro-F1</th><th class=\"l\">spec hash</th></tr>\n");
    for r in &runs {
        html.push_str(&format!(
            "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td class=\"l\"><code>{}</code></td></tr>\n",
            r.id,
            escape(&r.name),
            r.status,
            escape(&r.started_at),
            r.log_loss.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into()),
            r.macro_f1.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into()),
            escape(&r.spec_hash[..r.spec_hash.len().min(12)]),
        ));
    }
    html.push_str("</table>\n");
    for (title, svg) in [("Log loss", &log_loss_svg), ("Macro-F1", &f1_svg)] {
        html.push_str(&format!(
            "<figure><figcaption><h2>{title}</h2></figcaption>\n{svg}\n</figure>\n"
        ));
    }
    match &confusion_svg {
        Some(svg) => html.push_str(&format!(
            "<figure><figcaption><h2>Confusion matrix of the newest run</h2><p>Rows: the test label as published (label noise included); columns: predicted. Shade: share of the row.</p></figcaption>\n{svg}\n</figure>\n"
        )),
        None => html.push_str("<p>No finished run yet: no confusion matrix.</p>\n"),
    }
    html.push_str(&split);
    if let Some(m) = &models {
        if !m.curves.is_empty() {
            write_atomic(&out.join("training.svg"), m.curves.as_bytes())?;
        }
        html.push_str(&m.html);
    }
    let factors = store.factor_rows()?;
    if !factors.is_empty() {
        html.push_str("<h2>Artist Group Factors</h2>\n<p>NMI: agreement of each artist's largest topic with the latent artist group (generated worlds only). Perplexity: scikit-learn's bound on the fitted bags; held-out: on the artists left out of the fit.</p>\n");
        html.push_str("<table><tr><th>run</th><th class=\"l\">factor</th><th>words</th><th>topics</th><th>perplexity</th><th>held-out perplexity</th><th>NMI</th></tr>\n");
        let num = |v: Option<f64>, digits: usize| {
            v.map(|x| format!("{x:.digits$}"))
                .unwrap_or_else(|| "—".into())
        };
        for f in &factors {
            html.push_str(&format!(
                "<tr><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                f.run,
                escape(&f.factor),
                f.vocabulary.map(|v| v.to_string()).unwrap_or_default(),
                f.topics.map(|v| v.to_string()).unwrap_or_default(),
                num(f.perplexity, 2),
                num(f.held_out_perplexity, 2),
                num(f.nmi_artist_group, 3),
            ));
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    let index = out.join("index.html");
    write_atomic(&index, html.as_bytes())?;
    Ok(ReportOutput {
        index,
        runs: runs.len(),
    })
}

/// How one run's tracks fell into its splits, genre by genre, and what was short.
fn split_section(store: &Store, run: RunId) -> Result<String, ReportError> {
    let classes = store.classes(run)?;
    if classes.is_empty() {
        return Ok(String::new());
    }
    let metrics = store.metrics(run)?;
    let count = |split: &str, class: &str| {
        let name = format!("{split}.tracks.{class}");
        metrics
            .iter()
            .find(|m| m.model == ModelName::Dataset && m.split == SplitKey::All && m.name == name)
            .and_then(|m| m.value)
            .map(|v| format!("{v:.0}"))
            .unwrap_or_else(|| "—".into())
    };
    let splits = [SplitKey::Train, SplitKey::Validation, SplitKey::Test];
    let mut html = format!(
        "<h2>Split of run #{run}</h2>\n<table><tr><th class=\"l\">genre</th>{}</tr>\n",
        splits
            .iter()
            .map(|s| format!("<th>{s}</th>"))
            .collect::<String>()
    );
    for class in &classes {
        html.push_str(&format!(
            "<tr><td class=\"l\">{}</td>{}</tr>\n",
            escape(class),
            splits
                .iter()
                .map(|s| format!("<td>{}</td>", count(s.as_str(), class)))
                .collect::<String>()
        ));
    }
    html.push_str("</table>\n");
    let warnings: Vec<String> = store
        .facts(run)?
        .into_iter()
        .filter(|(k, _)| k.starts_with("warning.split."))
        .map(|(_, w)| w)
        .collect();
    if !warnings.is_empty() {
        html.push_str("<ul class=\"warnings\">\n");
        for w in warnings {
            html.push_str(&format!("<li>Warning: {}</li>\n", escape(&w)));
        }
        html.push_str("</ul>\n");
    }
    Ok(html)
}

/// The models of one run: their scores side by side and their training curves.
struct ModelSection {
    html: String,
    curves: String,
}

fn model_section(store: &Store, run: RunId) -> Result<Option<ModelSection>, ReportError> {
    let metrics = store.metrics(run)?;
    let value = |model: &ModelName, split: SplitKey, name: &str| {
        metrics
            .iter()
            .find(|m| &m.model == model && m.split == split && m.name == name)
            .and_then(|m| m.value)
    };
    // Every trained model (in training order), then any other model scored on genre.
    let mut models: Vec<ModelName> = store.epoch_models(run)?;
    for m in &metrics {
        if m.split == SplitKey::Test && m.name == metric::LOG_LOSS && !models.contains(&m.model) {
            models.push(m.model.clone());
        }
    }
    if models.len() < 2 {
        return Ok(None);
    }
    let num = |v: Option<f64>, digits: usize| {
        v.map(|x| format!("{x:.digits$}"))
            .unwrap_or_else(|| "—".into())
    };
    let mut html = format!(
        "<h2>Models of run #{run}</h2>\n<p>Every model of the newest finished run. Best epoch and its validation loss: on the model's own target (genre, or an artist's topic vector for a factor's net; for a multi-task net, its tasks' losses weighted by their probabilities), the epoch early stopping kept. Genre scores (the nets of factors have none): test against the labels as published, clean against the true genres (generated worlds only).</p>\n"
    );
    html.push_str("<table><tr><th class=\"l\">model</th><th>best epoch</th><th>epochs run</th><th>best validation loss</th><th>test log loss</th><th>test macro-F1</th><th>test accuracy</th><th>clean log loss</th><th>clean macro-F1</th></tr>\n");
    for model in &models {
        let epochs = store.epochs(run, model)?;
        let best = epochs
            .iter()
            .filter(|e| e.validation_loss.is_finite())
            .min_by(|a, b| a.validation_loss.total_cmp(&b.validation_loss));
        html.push_str(&format!(
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&model.to_string()),
            best.map(|e| e.epoch.to_string())
                .unwrap_or_else(|| "—".into()),
            epochs.len(),
            num(best.map(|e| e.validation_loss), 4),
            num(value(model, SplitKey::Test, metric::LOG_LOSS), 4),
            num(value(model, SplitKey::Test, metric::MACRO_F1), 4),
            num(value(model, SplitKey::Test, metric::ACCURACY), 4),
            num(value(model, SplitKey::TestClean, metric::LOG_LOSS), 4),
            num(value(model, SplitKey::TestClean, metric::MACRO_F1), 4),
        ));
    }
    html.push_str("</table>\n");
    // Training curves of the nets and the transfer model (the baseline's hundreds of
    // full-batch epochs would flatten them).
    let mut series = Vec::new();
    for model in store.epoch_models(run)? {
        if model == ModelName::Baseline {
            continue;
        }
        let pts: Vec<(f64, f64)> = store
            .epochs(run, &model)?
            .iter()
            .map(|e| (e.epoch as f64, e.validation_loss))
            .collect();
        series.push((model.to_string(), pts));
    }
    if series.is_empty() {
        return Ok(Some(ModelSection {
            html,
            curves: String::new(),
        }));
    }
    let curves = charts::line_chart(
        &format!("Validation loss per epoch, run #{run}"),
        &series,
        "epoch",
        "validation loss (track level)",
    )
    .map_err(|m| ReportError::Draw {
        chart: "training curves",
        message: m,
    })?;
    html.push_str(&format!(
        "<figure><figcaption><h3>Training curves</h3><p>Each net's loss on its own target (genre, or an artist's topic vector) and the transfer model's on genre, on the validation tracks after every epoch.</p></figcaption>\n{curves}\n</figure>\n"
    ));
    Ok(Some(ModelSection { html, curves }))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Write to a temporary sibling, then rename over the target: readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    crate::fsutil::write_atomic(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}
