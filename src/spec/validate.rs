//! Semantic checks of a parsed spec: every problem at once, each under its dotted key (the
//! caller locates the key in the text). What only `nn` or `factors` can judge (conv blocks,
//! schedules) is checked where their defaults are filled, by the [`super::Defaults`].

use super::dataset::{DataSource, NoiseKind, SplitStrategy};
use super::factors::FactorFeature;
use super::frontend::FrontendSpec;
use super::models::{AuditModel, CnnMode, OptimizerKind};
use super::ExperimentSpec;

/// Where problems go: a dotted key and what is wrong with its value.
pub(super) type Bad<'a> = dyn FnMut(&str, String) + 'a;

pub(super) fn check(spec: &ExperimentSpec, bad: &mut Bad) {
    finite_numbers(spec, bad);
    if spec.name.trim().is_empty() {
        bad("name", "expected a non-empty run name".into());
    }
    if spec.seed > i64::MAX as u64 {
        bad("seed", format!("expected a seed ≤ {}", i64::MAX));
    }
    synthetic(spec, bad);
    check_frontend("frontend", &spec.frontend, bad);
    descriptors(spec, bad);
    if spec.dataset.source == DataSource::Fma {
        match &spec.dataset.fma {
            None => bad(
                "dataset.fma",
                "expected a [dataset.fma] section with `root` and `subset` when source = \"fma\""
                    .into(),
            ),
            Some(fma) => {
                if fma.min_seconds.is_nan() || fma.min_seconds < 0.0 {
                    bad(
                        "dataset.fma.min_seconds",
                        format!("expected seconds ≥ 0, got {}", fma.min_seconds),
                    );
                }
            }
        }
    }
    noise(spec, bad);
    if let Some(a) = &spec.audit {
        if a.folds < 2 {
            bad(
                "audit.folds",
                format!("expected at least 2 folds, got {}", a.folds),
            );
        }
        let needs = match a.model {
            AuditModel::Baseline => None,
            AuditModel::GenreCnn if spec.cnn.is_none() => Some("[cnn] with a genre net"),
            AuditModel::GenreCnn if !spec.cnn_targets().iter().any(|t| t == "genre") => {
                Some("\"genre\" among cnn.targets")
            }
            AuditModel::Transfer if spec.cnn.is_none() => Some("[cnn]"),
            _ => None,
        };
        if let Some(needs) = needs {
            bad(
                "audit.model",
                format!("\"{}\" needs {needs} in the spec", a.model.as_str()),
            );
        }
    }
    split(spec, bad);
    baseline(spec, bad);
    factors(spec, bad);
    cnn(spec, bad);
    let c = spec.metrics.log_loss_clip;
    if !(c > 0.0 && c < 0.5) {
        bad(
            "metrics.log_loss_clip",
            format!("expected a clip in (0, 0.5), got {c}"),
        );
    }
}

/// TOML accepts nan and inf; no parameter here means anything with them.
fn finite_numbers(spec: &ExperimentSpec, bad: &mut Bad) {
    let fe = &spec.frontend;
    let finite: [(&str, Option<f64>); 12] = [
        (
            "dataset.synthetic.clip_seconds",
            Some(spec.dataset.synthetic.clip_seconds),
        ),
        ("frontend.fmin", Some(fe.fmin)),
        ("frontend.fmax", fe.fmax),
        ("frontend.power", Some(fe.power)),
        ("frontend.amin", Some(fe.amin)),
        ("frontend.reference", Some(fe.reference)),
        ("frontend.top_db", fe.top_db),
        (
            "descriptors.chroma_tuning",
            Some(spec.descriptors.chroma_tuning),
        ),
        ("model.learning_rate", spec.model.learning_rate),
        ("model.l2", spec.model.l2),
        ("noise.rate", Some(spec.noise.rate)),
        ("metrics.log_loss_clip", Some(spec.metrics.log_loss_clip)),
    ];
    for (key, v) in finite {
        if let Some(v) = v.filter(|v| !v.is_finite()) {
            bad(key, format!("expected a finite number, got {v}"));
        }
    }
}

fn synthetic(spec: &ExperimentSpec, bad: &mut Bad) {
    let s = &spec.dataset.synthetic;
    if s.genres < 2 {
        bad(
            "dataset.synthetic.genres",
            format!("expected at least 2 genres, got {}", s.genres),
        );
    }
    if s.artists < 3 {
        bad(
            "dataset.synthetic.artists",
            format!(
                "expected at least 3 artists (one per split), got {}",
                s.artists
            ),
        );
    }
    if s.groups < 1 {
        bad(
            "dataset.synthetic.groups",
            "expected at least 1 artist group, got 0".into(),
        );
    }
    for (key, v) in [
        ("dataset.synthetic.album_coherence", s.album_coherence),
        ("dataset.synthetic.label_noise", s.label_noise),
        ("dataset.synthetic.related_noise", s.related_noise),
    ] {
        if !(0.0..=1.0).contains(&v) {
            bad(key, format!("expected a probability in [0, 1], got {v}"));
        }
    }
    for (key, [lo, hi]) in [
        (
            "dataset.synthetic.subgenres_per_genre",
            s.subgenres_per_genre,
        ),
        ("dataset.synthetic.albums_per_artist", s.albums_per_artist),
        ("dataset.synthetic.tracks_per_album", s.tracks_per_album),
    ] {
        if lo == 0 || lo > hi {
            bad(
                key,
                format!("expected [min, max] with 1 ≤ min ≤ max, got [{lo}, {hi}]"),
            );
        }
    }
    if !(s.clip_seconds > 0.0 && s.clip_seconds <= 600.0) {
        bad(
            "dataset.synthetic.clip_seconds",
            format!(
                "expected a length in (0, 600] seconds, got {}",
                s.clip_seconds
            ),
        );
    }
    if s.sample_rate < 8000 {
        bad(
            "dataset.synthetic.sample_rate",
            format!("expected at least 8000 Hz, got {}", s.sample_rate),
        );
    }
}

fn descriptors(spec: &ExperimentSpec, bad: &mut Bad) {
    let (d, f) = (&spec.descriptors, &spec.frontend);
    if d.n_fft < 16 || !d.n_fft.is_multiple_of(2) {
        bad(
            "descriptors.n_fft",
            format!("expected an even FFT size ≥ 16, got {}", d.n_fft),
        );
    }
    if d.hop_length < 32 {
        bad(
            "descriptors.hop_length",
            format!(
                "expected a hop of at least 32 samples (the tempo estimate autocorrelates 8 s \
                 of frames), got {}",
                d.hop_length
            ),
        );
    }
    // Spectral contrast's lowest band is 0–200 Hz and needs two FFT bins in it; its top
    // band edge, 6.4 kHz, must lie below Nyquist.
    if (d.n_fft as f64) < f.sample_rate as f64 / 100.0 {
        bad(
            "descriptors.n_fft",
            format!(
                "expected at least sample_rate/100 = {} so that 0–200 Hz holds two FFT bins, \
                 got {}",
                f.sample_rate / 100,
                d.n_fft
            ),
        );
    }
    if f.sample_rate <= 12_800 {
        bad(
            "frontend.sample_rate",
            format!(
                "expected more than 12,800 Hz: the descriptor set's spectral contrast has a \
                 band edge at 6.4 kHz, got {}",
                f.sample_rate
            ),
        );
    }
}

fn noise(spec: &ExperimentSpec, bad: &mut Bad) {
    let n = &spec.noise;
    if !(0.0..=1.0).contains(&n.rate) {
        bad(
            "noise.rate",
            format!("expected a probability in [0, 1], got {}", n.rate),
        );
    }
    if n.kind == NoiseKind::Pairwise && n.pairs.is_empty() {
        bad(
            "noise.pairs",
            "expected at least one [from, to] genre pair for kind = \"pairwise\"".into(),
        );
    }
}

fn split(spec: &ExperimentSpec, bad: &mut Bad) {
    let sp = &spec.split;
    let shares = [
        ("split.train", sp.train),
        ("split.validation", sp.validation),
        ("split.test", sp.test),
    ];
    if sp.strategy == SplitStrategy::Official {
        for (key, v) in shares {
            if v.is_some() {
                bad(
                    key,
                    "does not apply with strategy = \"official\": the dataset's own split \
                     (FMA's set.split) decides; remove it, or choose a strategy that splits \
                     by ratios"
                        .into(),
                );
            }
        }
        return;
    }
    for (key, v) in shares {
        if let Some(v) = v.filter(|v| !(*v > 0.0 && *v < 1.0)) {
            bad(key, format!("expected a fraction in (0, 1), got {v}"));
        }
    }
    let total: f64 = sp.ratios().iter().sum();
    if (total - 1.0).abs() > 1e-6 {
        bad(
            "split",
            format!("expected train + validation + test = 1, got {total}"),
        );
    }
}

fn baseline(spec: &ExperimentSpec, bad: &mut Bad) {
    let m = &spec.model;
    if m.epochs == Some(0) {
        bad("model.epochs", "expected at least 1 epoch".into());
    }
    if let Some(lr) = m.learning_rate.filter(|v| v.is_nan() || *v <= 0.0) {
        bad(
            "model.learning_rate",
            format!("expected a learning rate > 0, got {lr}"),
        );
    }
    if let Some(l2) = m.l2.filter(|v| *v < 0.0) {
        bad("model.l2", format!("expected l2 ≥ 0, got {l2}"));
    }
}

/// `[cnn]` and `[transfer]`, where the values are the spec's own.
fn cnn(spec: &ExperimentSpec, bad: &mut Bad) {
    let Some(c) = &spec.cnn else {
        return;
    };
    for (key, v) in [
        ("cnn.batch_size", c.batch_size),
        ("cnn.epochs", c.epochs),
        ("cnn.patch_frames", c.patch_frames),
        ("cnn.window_hop", c.window_hop),
    ] {
        if v == Some(0) {
            bad(key, "expected at least 1, got 0".into());
        }
    }
    if let Some(lr) = c.learning_rate.filter(|v| !(v.is_finite() && *v > 0.0)) {
        bad(
            "cnn.learning_rate",
            format!("expected a learning rate > 0, got {lr}"),
        );
    }
    for (key, v) in [("cnn.l2", c.l2), ("cnn.weight_decay", c.weight_decay)] {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
            bad(key, format!("expected a finite value ≥ 0, got {v}"));
        }
    }
    if c.optimizer == OptimizerKind::Adam && c.weight_decay.is_some_and(|w| w != 0.0) {
        bad(
            "cnn.weight_decay",
            "a decoupled weight decay applies only with optimizer = \"adamw\"; Adam's \
             penalty is `l2`"
                .into(),
        );
    }
    let names: std::collections::HashSet<&str> =
        spec.factors.iter().map(|f| f.name.as_str()).collect();
    for t in c.targets.iter().flatten() {
        if t != "genre" && !names.contains(t.as_str()) {
            bad(
                "cnn.targets",
                format!("{t:?} is neither \"genre\" nor a factor name"),
            );
        }
    }
    let targets = spec.cnn_targets();
    match (c.mode, &c.task_probabilities) {
        (CnnMode::Separate, Some(_)) => bad(
            "cnn.task_probabilities",
            "applies only with mode = \"multitask\"".into(),
        ),
        (CnnMode::Multitask, _) if targets.len() < 2 => bad(
            "cnn.mode",
            format!("a multi-task net needs at least two targets, got {targets:?}"),
        ),
        (CnnMode::Multitask, Some(p)) => {
            let keys: Vec<&String> = p.keys().collect();
            let mut want: Vec<&String> = targets.iter().collect();
            want.sort();
            if keys != want {
                bad(
                    "cnn.task_probabilities",
                    format!("expected one probability per target {targets:?}, got {keys:?}"),
                );
            } else if p.values().any(|v| !(v.is_finite() && *v > 0.0))
                || (p.values().sum::<f64>() - 1.0).abs() > 1e-6
            {
                bad(
                    "cnn.task_probabilities",
                    format!(
                        "expected probabilities > 0 summing to 1, got a sum of {}",
                        p.values().sum::<f64>()
                    ),
                );
            }
        }
        _ => {}
    }
    let t = &spec.transfer;
    for (key, v) in [
        ("transfer.hidden", t.hidden),
        ("transfer.epochs", t.epochs),
        ("transfer.batch_size", t.batch_size),
    ] {
        if v == Some(0) {
            bad(key, "expected at least 1, got 0".into());
        }
    }
    if let Some(d) = t.dropout.filter(|d| !(0.0..1.0).contains(d)) {
        bad(
            "transfer.dropout",
            format!("expected a rate in [0, 1), got {d}"),
        );
    }
    if let Some(lr) = t.learning_rate.filter(|v| !(v.is_finite() && *v > 0.0)) {
        bad(
            "transfer.learning_rate",
            format!("expected a learning rate > 0, got {lr}"),
        );
    }
    if let Some(l2) = t.l2.filter(|v| !(v.is_finite() && *v >= 0.0)) {
        bad(
            "transfer.l2",
            format!("expected a finite value ≥ 0, got {l2}"),
        );
    }
}

/// `[factor_frontend]` and the `[[factors]]` entries.
fn factors(spec: &ExperimentSpec, bad: &mut Bad) {
    let mut names = std::collections::HashSet::new();
    for (i, f) in spec.factors.iter().enumerate() {
        let key = |k: &str| format!("factors[{i}].{k}");
        let valid_name = !f.name.is_empty()
            && f.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            bad(
                &key("name"),
                format!(
                    "expected a name of letters, digits, `_` or `-` (it names files and \
                     metrics), got {:?}",
                    f.name
                ),
            );
        }
        if !names.insert(f.name.as_str()) {
            bad(
                &key("name"),
                format!(
                    "the factor name {:?} is used twice; names must be unique",
                    f.name
                ),
            );
        }
        if f.features != FactorFeature::Subgenre && f.clusters == Some(0) {
            bad(&key("clusters"), "expected at least 1 cluster".into());
        }
        if f.topics == Some(0) {
            bad(&key("topics"), "expected at least 1 topic".into());
        }
        if f.features == FactorFeature::FmaFeatures && spec.dataset.source != DataSource::Fma {
            bad(
                &key("features"),
                "features = \"fma_features\" reads FMA's features.csv; it needs dataset.source \
                 = \"fma\""
                    .into(),
            );
        }
        let k = &f.kmeans;
        for (name, v) in [
            ("kmeans.n_init", k.n_init),
            ("kmeans.batch_size", k.batch_size),
            ("kmeans.max_iter", k.max_iter),
        ] {
            if v == Some(0) {
                bad(&key(name), "expected at least 1, got 0".into());
            }
        }
        if let Some(t) = k.tol.filter(|t| !(t.is_finite() && *t >= 0.0)) {
            bad(
                &key("kmeans.tol"),
                format!("expected a tolerance ≥ 0, got {t}"),
            );
        }
        if let Some(r) = k.reassignment_ratio.filter(|r| !(0.0..=1.0).contains(r)) {
            bad(
                &key("kmeans.reassignment_ratio"),
                format!("expected a fraction in [0, 1], got {r}"),
            );
        }
        let l = &f.lda;
        for (name, v) in [
            ("lda.doc_topic_prior", l.doc_topic_prior),
            ("lda.topic_word_prior", l.topic_word_prior),
        ] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
                bad(&key(name), format!("expected a prior > 0, got {v}"));
            }
        }
        for (name, v) in [
            ("lda.max_iter", l.max_iter),
            ("lda.batch_size", l.batch_size),
            ("lda.max_doc_update_iter", l.max_doc_update_iter),
        ] {
            if v == Some(0) {
                bad(&key(name), "expected at least 1, got 0".into());
            }
        }
        if let Some(d) = l.learning_decay.filter(|d| !(*d > 0.0 && *d <= 1.0)) {
            bad(
                &key("lda.learning_decay"),
                format!("expected a decay in (0, 1], got {d}"),
            );
        }
        for (name, v) in [
            ("lda.learning_offset", l.learning_offset),
            ("lda.mean_change_tol", l.mean_change_tol),
            ("lda.perp_tol", l.perp_tol),
        ] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                bad(&key(name), format!("expected a finite value ≥ 0, got {v}"));
            }
        }
    }
    if spec.factors.iter().any(|f| f.features.is_frame_level()) {
        let ff = &spec.factor_frontend;
        for (name, v) in [
            ("fmin", Some(ff.fmin)),
            ("fmax", ff.fmax),
            ("power", Some(ff.power)),
            ("amin", Some(ff.amin)),
            ("reference", Some(ff.reference)),
            ("top_db", ff.top_db),
        ] {
            if let Some(v) = v.filter(|v| !v.is_finite()) {
                bad(
                    &format!("factor_frontend.{name}"),
                    format!("expected a finite number, got {v}"),
                );
            }
        }
        check_frontend("factor_frontend", ff, bad);
        if ff.sample_rate != spec.frontend.sample_rate {
            bad(
                "factor_frontend.sample_rate",
                format!(
                    "expected the front end's rate {} Hz (audio is decoded once, at that rate), \
                     got {}",
                    spec.frontend.sample_rate, ff.sample_rate
                ),
            );
        }
    }
}

/// The checks every front end gets (`[frontend]` and `[factor_frontend]`).
fn check_frontend(prefix: &str, f: &FrontendSpec, bad: &mut Bad) {
    if f.sample_rate < 8000 {
        bad(
            &format!("{prefix}.sample_rate"),
            format!("expected at least 8000 Hz, got {}", f.sample_rate),
        );
    }
    if f.n_fft < 16 || !f.n_fft.is_multiple_of(2) {
        bad(
            &format!("{prefix}.n_fft"),
            format!("expected an even FFT size ≥ 16, got {}", f.n_fft),
        );
    }
    if f.hop_length == 0 {
        bad(
            &format!("{prefix}.hop_length"),
            "expected a hop of at least 1 sample, got 0".into(),
        );
    }
    if f.n_mels == 0 || f.n_mels > f.n_fft / 2 + 1 {
        bad(
            &format!("{prefix}.n_mels"),
            format!(
                "expected 1 ≤ n_mels ≤ n_fft/2+1 = {}, got {}",
                f.n_fft / 2 + 1,
                f.n_mels
            ),
        );
    }
    let nyquist = f.sample_rate as f64 / 2.0;
    let fmax = f.fmax.unwrap_or(nyquist);
    if fmax > nyquist || fmax <= f.fmin || f.fmin < 0.0 {
        bad(
            &format!("{prefix}.fmax"),
            format!(
                "expected 0 ≤ fmin < fmax ≤ Nyquist ({nyquist} Hz), got fmin {} and fmax {fmax}",
                f.fmin
            ),
        );
    }
    if !(f.power == 1.0 || f.power == 2.0) {
        bad(
            &format!("{prefix}.power"),
            format!("expected 1 (magnitude) or 2 (power), got {}", f.power),
        );
    }
    if f.reference.is_nan() || f.reference <= 0.0 {
        bad(
            &format!("{prefix}.reference"),
            format!("expected a dB reference > 0, got {}", f.reference),
        );
    }
    if f.amin <= 0.0 {
        bad(
            &format!("{prefix}.amin"),
            format!("expected amin > 0, got {}", f.amin),
        );
    }
    if let Some(t) = f.top_db.filter(|t| *t <= 0.0) {
        bad(
            &format!("{prefix}.top_db"),
            format!("expected top_db > 0, got {t}"),
        );
    }
    if f.n_mfcc == 0 || f.n_mfcc > f.n_mels {
        bad(
            &format!("{prefix}.n_mfcc"),
            format!(
                "expected 1 ≤ n_mfcc ≤ n_mels = {}, got {}",
                f.n_mels, f.n_mfcc
            ),
        );
    }
}
