//! The `agf` command line: parse arguments, make one library call per subcommand, print
//! errors once, pick the exit code. Argument definitions live in `cli::args`, what is
//! printed in `cli::print`.

mod cli;

use agf::pipeline::{self, RunFolders, Workspace};
use agf::record::RunId;
use agf::store::Store;
use anyhow::{Context, Result};
use clap::Parser;
use cli::args::{Bench, Cli, Command, Format, Subset};
use cli::print;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

// candle's CPU kernels allocate many short-lived buffers; mimalloc cut their time about
// tenfold against the system allocator in our measurements.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            // `{:#}` prints the error and each of its causes once, on one line.
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    let places = cli.places();
    match cli.command {
        Command::Run { spec } => run(&places, &spec),
        Command::Resume { run } => resume(&places, RunId(run)),
        Command::Runs { format } => runs(&places, format),
        Command::Report { out } => report(&places, &out),
        Command::Synth { spec, out, subset } => synth(&spec, &out, subset),
        Command::Data {
            spec,
            format,
            check_audio,
            allow_unreadable,
        } => data(&spec, format, check_audio, allow_unreadable),
        Command::Extract { spec, out } => extract(&spec, &out),
        Command::Bench { what } => bench(what),
    }
}

/// The store a run writes to, created when it is not there yet.
fn open_store(places: &cli::args::Places) -> Result<Store> {
    Store::open(&places.store, Box::new(places.folders()))
        .context("opening the run store (set --db or AGF_DB to use another)")
}

/// The store a reading command reads: it must exist.
fn existing_store(places: &cli::args::Places) -> Result<Store> {
    Ok(Store::open_existing(
        &places.store,
        Box::new(places.folders()),
    )?)
}

fn run(places: &cli::args::Places, spec_path: &Path) -> Result<()> {
    let spec = agf::stages::load_spec(spec_path)?;
    let context = || format!("running {}", spec_path.display());
    let prepared = pipeline::prepare(&spec).with_context(context)?;
    let store = open_store(places)?;
    let folders = places.folders();
    let cache = agf::cache::StageCache::new(&places.cache);
    let outcome = pipeline::run(&spec, prepared, workspace(&store, &cache, &folders))
        .with_context(context)?;
    print::outcome(&outcome, &places.store.to_string());
    Ok(())
}

fn workspace<'a>(
    store: &'a Store,
    cache: &'a agf::cache::StageCache,
    folders: &'a RunFolders,
) -> Workspace<'a> {
    Workspace {
        store,
        cache,
        folders,
    }
}

fn resume(places: &cli::args::Places, run: RunId) -> Result<()> {
    let store = existing_store(places)?;
    let folders = places.folders();
    let cache = agf::cache::StageCache::new(&places.cache);
    let outcome = pipeline::resume(workspace(&store, &cache, &folders), run)?;
    print::outcome(&outcome, &places.store.to_string());
    Ok(())
}

fn runs(places: &cli::args::Places, format: Format) -> Result<()> {
    let store = existing_store(places)?;
    print::runs(&store.runs()?, format)
}

fn report(places: &cli::args::Places, out: &Path) -> Result<()> {
    let store = existing_store(places)?;
    print::report(&agf::report::write_report(&store, out)?);
    Ok(())
}

fn synth(spec_path: &Path, out: &Path, subset: Subset) -> Result<()> {
    use agf::data::synth::{fma_layout, SyntheticWorld};
    let spec = agf::stages::load_spec(spec_path)?;
    let world = SyntheticWorld::generate(&spec.dataset.synthetic, spec.seed);
    let written = fma_layout::write(&world, out, subset.as_str()).with_context(|| {
        format!(
            "writing the world of {} to {}",
            spec_path.display(),
            out.display()
        )
    })?;
    print::synth(&written);
    Ok(())
}

fn data(spec_path: &Path, format: Format, check_audio: bool, allow_unreadable: bool) -> Result<()> {
    let spec = agf::stages::load_spec(spec_path)?;
    let s = agf::stages::data::describe(&spec, check_audio)
        .with_context(|| format!("loading the data of {}", spec_path.display()))?;
    print::data(&s, format)?;
    match s.skipped.as_ref().map(Vec::len) {
        Some(bad) if bad > 0 && !allow_unreadable => anyhow::bail!(
            "{bad} of {} audio files cannot be read (listed above); --allow-unreadable \
             accepts that",
            s.tracks
        ),
        _ => Ok(()),
    }
}

fn extract(spec_path: &Path, out: &Path) -> Result<()> {
    let spec = agf::stages::load_spec(spec_path)?;
    let data = agf::stages::data::load(&spec)
        .with_context(|| format!("loading the data of {}", spec_path.display()))?;
    let extractor = agf::features::FeatureExtractor::new(&spec.frontend, &spec.descriptors);
    let s = agf::features::export(&data.dataset, &data.loader, &extractor, out)
        .with_context(|| format!("writing features under {}", out.display()))?;
    print::extract(&s, out);
    Ok(())
}

fn bench(what: Bench) -> Result<()> {
    let scratch = agf::bench::Scratch::new()?;
    let dir = scratch.path();
    let report = match what {
        Bench::Frontend {
            clips,
            seconds,
            no_librosa,
        } => agf::bench::frontend(dir, clips, seconds, !no_librosa),
        Bench::Cnn {
            batch,
            steps,
            device,
            no_torch,
        } => {
            let device = agf::nn::device(device)?;
            agf::bench::cnn(dir, batch, steps, &device, !no_torch)
        }
        Bench::Factors(b) => agf::bench::factors(dir, &b.into()),
        Bench::Metadata { rows } => agf::bench::metadata(dir, rows),
    };
    print!("{}", report.map_err(anyhow::Error::msg)?);
    Ok(())
}
