//! The `agf` command line: parse arguments, make one library call per subcommand, print
//! errors once, pick the exit code.

use agf::data::split::SplitName;
use agf::pipeline::{self, RunOutcome};
use agf::spec::ExperimentSpec;
use agf::store::{RunSummary, Store};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

// candle's CPU kernels allocate many short-lived buffers; mimalloc cut their time about
// tenfold against the system allocator in our measurements.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "agf",
    version,
    about = "Artist Group Factors: genre recognition experiments from TOML to SQLite to reports"
)]
struct Cli {
    /// The run store (SQLite).
    #[arg(long, global = true, env = "AGF_DB", default_value = "runs/agf.sqlite")]
    db: PathBuf,
    /// The stage cache; `cache/` beside the run store when omitted.
    #[arg(long, global = true, env = "AGF_CACHE")]
    cache: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the experiment a spec describes and record it in the store.
    Run {
        /// The experiment spec (TOML), e.g. experiments/quickstart.toml.
        spec: PathBuf,
    },
    /// Resume a run that was killed or failed: cached stages are reused, each net continues
    /// from its last checkpoint, and the run ends with the metrics an uninterrupted run has.
    Resume {
        /// The run's id, as `agf runs` lists it.
        run: i64,
    },
    /// List the runs in the store.
    Runs {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Summarise a spec's dataset and split: counts per split and genre, leakage, left-out tracks.
    Data {
        spec: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Also decode every audio file and list those that cannot be read.
        #[arg(long)]
        check_audio: bool,
    },
    /// Write every track's features as .npy files (readable by numpy) under --out.
    Extract {
        spec: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure throughput (printed, never asserted).
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
    /// Write a spec's synthetic world in FMA's on-disk layout (metadata CSVs and WAV audio).
    Synth {
        /// A spec with `source = "synthetic"`.
        spec: PathBuf,
        /// Folder to write `fma_metadata/` and `fma_<subset>/` into.
        #[arg(long)]
        out: PathBuf,
        /// Subset name: fills `set.subset` and names the audio folder.
        #[arg(long, default_value = "medium")]
        subset: String,
    },
    /// Write an HTML report comparing the runs in the store.
    Report {
        /// Folder for index.html and its charts.
        #[arg(long, default_value = "reports/latest")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum Bench {
    /// Front-end throughput (decode, resample, log-mel + MFCC + delta), one core and all
    /// cores, side by side with librosa when python3 has it.
    Frontend {
        /// Number of clips.
        #[arg(long, default_value_t = 16)]
        clips: usize,
        /// Seconds per clip.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Skip the librosa comparison.
        #[arg(long)]
        no_librosa: bool,
    },
    /// Training and inference throughput of the won2018 CNN, side by side with PyTorch.
    Cnn {
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Timed steps (after one warm-up step).
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// cpu or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Skip the PyTorch comparison.
        #[arg(long)]
        no_torch: bool,
    },
    /// K-Means (Lloyd) and LDA side by side with scikit-learn when python3 has it.
    Factors {
        /// MFCC frames to cluster.
        #[arg(long, default_value_t = 200_000)]
        rows: usize,
        #[arg(long, default_value_t = 256)]
        clusters: usize,
        /// K-Means fits (seeds) per tool.
        #[arg(long, default_value_t = 3)]
        seeds: usize,
        /// LDA documents (artists).
        #[arg(long, default_value_t = 1000)]
        docs: usize,
        #[arg(long, default_value_t = 1024)]
        vocab: usize,
        #[arg(long, default_value_t = 40)]
        topics: usize,
        #[arg(long, default_value_t = 10)]
        lda_iter: usize,
        /// Online instead of batch variational Bayes.
        #[arg(long)]
        online: bool,
        /// Skip the scikit-learn comparison.
        #[arg(long)]
        no_sklearn: bool,
    },
    /// Parse a generated tracks.csv of FMA's full size (106,574 rows).
    Metadata {
        #[arg(long, default_value_t = 106_574)]
        rows: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "agf=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", render_error(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each cause once: library errors already quote
/// their source in their own message, so a cause already in the text is not repeated.
fn render_error(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let c = cause.to_string();
        if !text.contains(&c) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&c);
        }
    }
    text
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { spec } => {
            let cache = cache_dir(&cli.db, cli.cache.as_deref());
            run(&cli.db, &cache, &spec)
        }
        Command::Resume { run } => {
            let cache = cache_dir(&cli.db, cli.cache.as_deref());
            resume(&cli.db, &cache, agf::store::RunId(run))
        }
        Command::Runs { format } => runs(&cli.db, format),
        Command::Report { out } => report(&cli.db, &out),
        Command::Synth { spec, out, subset } => synth(&spec, &out, &subset),
        Command::Data {
            spec,
            format,
            check_audio,
        } => data(&spec, format, check_audio),
        Command::Extract { spec, out } => extract(&spec, &out),
        Command::Bench {
            what: Bench::Metadata { rows },
        } => bench_metadata(rows),
        Command::Bench {
            what:
                Bench::Cnn {
                    batch,
                    steps,
                    device,
                    no_torch,
                },
        } => {
            let device = match device.as_str() {
                "cpu" => candle_core::Device::Cpu,
                d => match d
                    .strip_prefix("cuda:")
                    .and_then(|n| n.parse::<usize>().ok())
                {
                    Some(n) => candle_core::Device::new_cuda(n)
                        .with_context(|| format!("opening {d} (build with --features cuda)"))?,
                    None => anyhow::bail!("--device: expected cpu or cuda:N, got {d:?}"),
                },
            };
            let dir = tempfile_dir()?;
            let report = agf::bench::cnn(&dir, batch, steps, &device, !no_torch);
            std::fs::remove_dir_all(&dir).ok();
            print!("{}", report.map_err(anyhow::Error::msg)?);
            Ok(())
        }
        Command::Bench {
            what:
                Bench::Factors {
                    rows,
                    clusters,
                    seeds,
                    docs,
                    vocab,
                    topics,
                    lda_iter,
                    online,
                    no_sklearn,
                },
        } => {
            let dir = tempfile_dir()?;
            let report = agf::bench::factors(
                &dir,
                &agf::bench::FactorBench {
                    rows,
                    clusters,
                    seeds,
                    docs,
                    vocab,
                    topics,
                    lda_iter,
                    online,
                    sklearn: !no_sklearn,
                },
            );
            std::fs::remove_dir_all(&dir).ok();
            print!("{}", report.map_err(anyhow::Error::msg)?);
            Ok(())
        }
        Command::Bench {
            what:
                Bench::Frontend {
                    clips,
                    seconds,
                    no_librosa,
                },
        } => bench_frontend(clips, seconds, !no_librosa),
    }
}

fn open_store(db: &std::path::Path) -> Result<Store> {
    Store::open(db).context("opening the run store (set --db or AGF_DB to use another)")
}

fn cache_dir(db: &std::path::Path, cache: Option<&std::path::Path>) -> PathBuf {
    match cache {
        Some(c) => c.to_path_buf(),
        None => db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .join("cache"),
    }
}

fn run(db: &std::path::Path, cache: &std::path::Path, spec_path: &std::path::Path) -> Result<()> {
    let spec = ExperimentSpec::load(spec_path)?;
    let store = open_store(db)?;
    let outcome = pipeline::run(&spec, &store, &agf::cache::StageCache::new(cache))
        .with_context(|| format!("running {}", spec_path.display()))?;
    print_outcome(&outcome, db);
    Ok(())
}

fn resume(db: &std::path::Path, cache: &std::path::Path, run: agf::store::RunId) -> Result<()> {
    let store = open_store(db)?;
    let outcome = pipeline::resume(&store, &agf::cache::StageCache::new(cache), run)?;
    print_outcome(&outcome, db);
    Ok(())
}

fn print_outcome(o: &RunOutcome, db: &std::path::Path) {
    println!(
        "run {} \"{}\" done in {:.1} s (spec {})",
        o.run,
        o.name,
        o.seconds,
        &o.spec_hash[..12]
    );
    println!(
        "dataset {}: {} tracks, {} artists, {} albums, {} genres; {} tracks skipped",
        o.dataset,
        o.tracks,
        o.artists,
        o.albums,
        o.classes.len(),
        o.skipped.len()
    );
    for (track, reason) in o.skipped.iter().take(10) {
        println!("  skipped track {track}: {reason}");
    }
    if o.skipped.len() > 10 {
        println!(
            "  … and {} more (table skipped_tracks)",
            o.skipped.len() - 10
        );
    }
    println!(
        "split: train {} / validation {} / test {}; test tracks whose artist is in training: {}, whose album is: {}",
        o.split_sizes[0],
        o.split_sizes[1],
        o.split_sizes[2],
        o.leakage.test_tracks_with_train_artist,
        o.leakage.test_tracks_with_train_album
    );
    if o.injected_flips > 0 {
        println!(
            "injected label noise: {} training labels flipped (table label_flips)",
            o.injected_flips
        );
    }
    println!(
        "model {}: {} epochs, best at {} (validation log loss {:.4})",
        pipeline::BASELINE_MODEL,
        o.train.epochs_run,
        o.train.best_epoch,
        o.train.best_validation_loss
    );
    println!();
    println!(
        "{:<11} {:>7} {:>9} {:>9} {:>9}",
        "split", "tracks", "log loss", "macro-F1", "accuracy"
    );
    for (s, e) in &o.evaluations {
        println!(
            "{:<11} {:>7} {:>9.4} {:>9.4} {:>9.4}",
            s.as_str(),
            e.n,
            e.log_loss,
            e.macro_f1,
            e.accuracy
        );
    }
    if let Some(e) = &o.clean_test {
        println!(
            "{:<11} {:>7} {:>9.4} {:>9.4} {:>9.4}   (test, scored against the true genres)",
            "test_clean", e.n, e.log_loss, e.macro_f1, e.accuracy
        );
    }
    let c = o.classes.len();
    if !o.nets.is_empty() {
        println!();
        println!(
            "{:<18} {:>5} {:>9}  {:>9} {:>9} {:>9}  {:>10} {:>9}",
            "model",
            "best",
            "val loss",
            "test loss",
            "macro-F1",
            "accuracy",
            "clean loss",
            "clean F1"
        );
        for n in &o.nets {
            let get = |s: &str| n.evaluations.iter().find(|(k, _)| k == s).map(|(_, e)| e);
            let num = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
            println!(
                "{:<18} {:>5} {:>9.4}  {:>9} {:>9} {:>9}  {:>10} {:>9}{}",
                n.model,
                n.best_epoch,
                n.best_validation_loss,
                num(get("test").map(|e| e.log_loss)),
                num(get("test").map(|e| e.macro_f1)),
                num(get("test").map(|e| e.accuracy)),
                num(get(pipeline::CLEAN_TEST).map(|e| e.log_loss)),
                num(get(pipeline::CLEAN_TEST).map(|e| e.macro_f1)),
                if n.resumed_epochs > 0 {
                    format!("  (resumed after epoch {})", n.resumed_epochs)
                } else {
                    String::new()
                }
            );
        }
        println!("(factor nets' losses are cross-entropies against their artists' topic vectors)");
    }
    if !o.factors.is_empty() {
        println!();
        println!(
            "{:<14} {:>6} {:>6} {:>8} {:>11} {:>10} {:>7}  tables",
            "factor", "words", "topics", "artists", "perplexity", "held-out", "NMI"
        );
        for f in &o.factors {
            let s = &f.summary;
            println!(
                "{:<14} {:>6} {:>6} {:>8} {:>11.2} {:>10} {:>7}  {}{}",
                s.name,
                s.vocabulary,
                s.topics,
                s.artists,
                s.lda.perplexity,
                s.held_out_perplexity
                    .map(|p| format!("{p:.2}"))
                    .unwrap_or("-".into()),
                f.nmi_artist_group
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or("-".into()),
                f.dir.display(),
                if f.cache_hit { " (cached)" } else { "" }
            );
        }
        println!();
    }
    println!(
        "chance: log loss ln({c}) = {:.4}, accuracy 1/{c} = {:.4}",
        (c as f64).ln(),
        1.0 / c as f64
    );
    if let Some((_, test)) = o.evaluations.iter().find(|(s, _)| *s == SplitName::Test) {
        println!("log loss clipped at {:e}", test.log_loss_clip);
    }
    println!();
    println!(
        "stored in {}; `agf report` writes reports/latest/index.html",
        db.display()
    );
}

fn runs(db: &std::path::Path, format: Format) -> Result<()> {
    let store = open_store(db)?;
    let mut runs = store.list_runs()?;
    // A run killed outright still reads `running` in the store; its released lock tells.
    let mut stopped = Vec::new();
    for r in runs.iter_mut() {
        if r.status == "running" && pipeline::interrupted(&store, r.id) {
            r.status = "interrupted".into();
            stopped.push(r.id);
        }
    }
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&runs)?),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "id",
                "name",
                "status",
                "started_at",
                "log_loss",
                "macro_f1",
                "spec_hash",
            ])?;
            for r in &runs {
                w.write_record([
                    r.id.to_string(),
                    r.name.clone(),
                    r.status.clone(),
                    r.started_at.clone(),
                    opt(r.log_loss),
                    opt(r.macro_f1),
                    r.spec_hash.clone(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            print_table(&runs);
            for id in stopped {
                println!("run {id} was interrupted: `agf resume {id}` finishes it");
            }
        }
    }
    Ok(())
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

fn print_table(runs: &[RunSummary]) {
    let name_w = runs
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:>4}  {:<name_w$}  {:<11}  {:<24}  {:>9}  {:>9}",
        "id", "name", "status", "started", "log loss", "macro-F1"
    );
    for r in runs {
        let f = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
        println!(
            "{:>4}  {:<name_w$}  {:<11}  {:<24}  {:>9}  {:>9}",
            r.id.0,
            r.name,
            r.status,
            r.started_at,
            f(r.log_loss),
            f(r.macro_f1)
        );
    }
    if runs.is_empty() {
        println!("(no runs yet: `agf run experiments/quickstart.toml` makes one)");
    }
}

fn synth(spec_path: &std::path::Path, out: &std::path::Path, subset: &str) -> Result<()> {
    use agf::data::synth::{fma_layout, SyntheticWorld};
    let spec = ExperimentSpec::load(spec_path)?;
    if !["small", "medium", "large", "full"].contains(&subset) {
        anyhow::bail!(
            "--subset must be one of small, medium, large, full (FMA's names), got `{subset}`"
        );
    }
    let world = SyntheticWorld::generate(&spec.dataset.synthetic, spec.seed);
    let written = fma_layout::write(&world, out, subset).with_context(|| {
        format!(
            "writing the world of {} to {}",
            spec_path.display(),
            out.display()
        )
    })?;
    println!(
        "wrote {} tracks ({:.0} s of audio) to {} in {:.1} s: {:.0} s of audio per second",
        written.tracks,
        written.audio_seconds,
        written.root.display(),
        written.wall_seconds,
        written.audio_seconds / written.wall_seconds.max(1e-9)
    );
    Ok(())
}

fn data(spec_path: &std::path::Path, format: Format, check_audio: bool) -> Result<()> {
    let spec = ExperimentSpec::load(spec_path)?;
    let s = pipeline::describe(&spec, check_audio)
        .with_context(|| format!("loading the data of {}", spec_path.display()))?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let mut header = vec![
                "split".to_string(),
                "tracks".into(),
                "artists".into(),
                "albums".into(),
            ];
            header.extend(s.genres.iter().cloned());
            w.write_record(&header)?;
            for c in &s.splits {
                let mut row = vec![
                    c.split.as_str().to_string(),
                    c.tracks.to_string(),
                    c.artists.to_string(),
                    c.albums.to_string(),
                ];
                row.extend(c.per_genre.iter().map(|n| n.to_string()));
                w.write_record(&row)?;
            }
            w.flush()?;
        }
        Format::Table => {
            println!("dataset   {}", s.dataset);
            println!("audio     {}", s.audio);
            println!(
                "tracks    {} ({} artists, {} albums, {} genres)",
                s.tracks,
                s.artists,
                s.albums,
                s.genres.len()
            );
            if let Some(l) = &s.load {
                println!(
                    "metadata  {} rows, {} in the subset, {} left out without genre_top",
                    l.rows, l.in_subset, l.without_genre_top
                );
            }
            println!(
                "split     {} (hash {})",
                s.split_strategy,
                &s.split_hash[..12]
            );
            println!();
            let w = s
                .genres
                .iter()
                .map(|g| g.chars().count())
                .max()
                .unwrap_or(5)
                .max(10);
            print!("{:<w$}", "genre");
            for c in &s.splits {
                print!(" {:>16}", c.split.as_str());
            }
            println!();
            for (g, name) in s.genres.iter().enumerate() {
                print!("{name:<w$}");
                for c in &s.splits {
                    let share = 100.0 * c.per_genre[g] as f64 / c.tracks.max(1) as f64;
                    print!(" {:>8} ({:>4.1}%)", c.per_genre[g], share);
                }
                println!();
            }
            print!("{:<w$}", "tracks");
            for c in &s.splits {
                print!(" {:>16}", c.tracks);
            }
            println!();
            print!("{:<w$}", "artists");
            for c in &s.splits {
                print!(" {:>16}", c.artists);
            }
            println!();
            println!();
            println!(
                "leakage   test tracks whose artist is in training: {}; whose album is: {}; validation tracks whose artist is: {}",
                s.leakage.test_tracks_with_train_artist, s.leakage.test_tracks_with_train_album, s.leakage.validation_tracks_with_train_artist
            );
            println!("noise     {} injected label flips", s.injected_flips);
            match &s.skipped {
                None => println!("audio     not checked (--check-audio decodes every file)"),
                Some(list) => {
                    println!("audio     {} unreadable files", list.len());
                    for (t, r) in list {
                        println!("  track {t}: {r}");
                    }
                }
            }
        }
    }
    Ok(())
}

fn extract(spec_path: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let spec = ExperimentSpec::load(spec_path)?;
    let data = pipeline::load_data(&spec)
        .with_context(|| format!("loading the data of {}", spec_path.display()))?;
    let stage = agf::features::FeatureStage::new(&spec.frontend, &spec.descriptors);
    let s = agf::features::export(&data.dataset, &stage, out)
        .with_context(|| format!("writing features under {}", out.display()))?;
    println!(
        "wrote features of {} tracks ({:.0} s of audio) to {} in {:.1} s; {} skipped",
        s.tracks,
        s.audio_seconds,
        out.display(),
        s.wall_seconds,
        s.skipped.len()
    );
    for (t, r) in &s.skipped {
        println!("  skipped track {t}: {r}");
    }
    Ok(())
}

fn bench_frontend(clips: usize, seconds: f64, librosa: bool) -> Result<()> {
    let dir = tempfile_dir()?;
    let report = agf::bench::frontend(&dir, clips, seconds, librosa);
    std::fs::remove_dir_all(&dir).ok();
    print!("{}", report.map_err(anyhow::Error::msg)?);
    Ok(())
}

fn bench_metadata(rows: usize) -> Result<()> {
    use agf::data::synth::{fma_layout, SyntheticWorld};
    use agf::spec::SyntheticSpec;
    let dir = tempfile_dir()?;
    // ~6.5 tracks per album, ~2.5 albums per artist: FMA-like shapes at the requested size.
    let spec = SyntheticSpec {
        artists: (rows / 16).max(3),
        albums_per_artist: [1, 4],
        tracks_per_album: [3, 10],
        clip_seconds: 0.1,
        sample_rate: 8000,
        ..SyntheticSpec::default()
    };
    let world = SyntheticWorld::generate(&spec, 1);
    let path = fma_layout::write_metadata(&world, &dir, "large")?;
    let bytes = std::fs::metadata(&path)?.len();
    let t = std::time::Instant::now();
    let tracks = agf::data::fma::load_tracks(&path)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "parsed {} rows ({:.1} MB) of {} in {:.3} s: {:.0} rows/s, {:.1} MB/s",
        tracks.len(),
        bytes as f64 / 1e6,
        path.display(),
        secs,
        tracks.len() as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("agf-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn report(db: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let store = open_store(db)?;
    let written = agf::report::write_report(&store, out)?;
    println!("wrote {} ({} runs)", written.index.display(), written.runs);
    Ok(())
}
