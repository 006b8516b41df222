//! The `agf` command line: parse arguments, make one library call per subcommand, print
//! errors once, pick the exit code. Argument definitions live in `cli::args`, what is
//! printed in `cli::print`.

mod cli;

use agf::pipeline::{self, RunFolders, Workspace};
use agf::record::RunId;
use agf::store::RunStatus;
use agf::store::Store;
use agf::sweep::Sweep;
use anyhow::{Context, Result};
use clap::Parser;
use cli::args::{Bench, Cli, Command, Format, StoreCommand, Subset, SweepCommand};
use cli::print;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

// candle's CPU kernels allocate many short-lived buffers; mimalloc cut their time about
// tenfold against the system allocator in our measurements.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, which turns a closed pipe (`agf runs | head`) into a panic in
    // println!; a command-line tool should end quietly, as C tools do.
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // candle runs its elementwise ops on a pool of its own whose threads spin after each op,
    // beside rayon's, which runs agf's kernels: on the same cores they took turns busy-waiting
    // (7% of a CPU training step). agf's heavy elementwise work is its own (rayon), so candle's
    // remaining ops (the optimiser's, small ones) run on the calling thread unless the user
    // says otherwise. Matrix products are not affected (they follow RAYON_NUM_THREADS).
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // No thread has started yet, so nothing reads the environment concurrently.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
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
            // The error and each of its causes once, on one line.
            eprintln!("error: {}", agf::errors::one_line(err.as_ref()));
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    // A kernel choice agf does not know is refused before anything runs.
    let kernels = agf::simd::Kernels::from_env().map_err(anyhow::Error::msg)?;
    if kernels == agf::simd::Kernels::Candle {
        tracing::info!("AGF_KERNELS=candle: candle's ops serve the CPU (the GPU's code path)");
    }
    let places = cli.places();
    match cli.command {
        Command::Run {
            spec,
            overrides,
            resume_or_run,
        } => run(&places, &spec, &overrides, resume_or_run),
        Command::Sweep { what } => sweep(&places, what),
        Command::Sweeps { format } => print::sweeps(&existing_store(&places)?.sweeps()?, format),
        Command::Resume { run } => resume(&places, RunId(run)),
        Command::Runs {
            format,
            filters,
            group_by,
        } => runs(&places, format, &filters, &group_by),
        Command::Show { run, format } => show(&places, RunId(run), format),
        Command::Audit {
            run,
            predictions,
            model,
            folds,
            filter_by,
            rank_by,
            top,
            out,
            format,
        } => {
            let what = match (run, predictions) {
                (Some(run), _) => AuditOf::Run {
                    run: RunId(run),
                    // clap has checked it against the same list.
                    model: model
                        .map(|m| agf::spec::AuditModel::parse(&m).expect("a model clap accepted")),
                    folds: folds.map(|f| f as usize),
                },
                (None, Some(file)) => AuditOf::File(file),
                (None, None) => unreachable!("clap requires a run or --predictions"),
            };
            audit(
                &places,
                what,
                &filter_by,
                &rank_by,
                top,
                out.as_deref(),
                format,
            )
        }
        Command::Compare {
            a,
            b,
            format,
            all,
            html,
        } => compare(&places, RunId(a), RunId(b), format, all, html.as_deref()),
        Command::Report { out, sweep } => report(&places, &out, sweep),
        Command::Synth { spec, out, subset } => synth(&spec, &out, subset),
        Command::Data {
            spec,
            format,
            check_audio,
            allow_unreadable,
        } => data(&spec, format, check_audio, allow_unreadable),
        Command::Extract { spec, out } => extract(&spec, &out),
        Command::Store {
            what: StoreCommand::Copy { from, to },
        } => store_copy(&from, &to),
        Command::Bench { what } => bench(what),
    }
}

/// The store a run writes to, created when it is not there yet.
fn open_store(places: &cli::args::Places) -> Result<Store> {
    Store::open(&places.store, Box::new(places.folders()))
        .context("opening the run store (set --db or AGF_DB to use another)")
}

/// `agf store copy`: run liveness is read from run folders beside a SQLite store; runs
/// still running are left out either way.
fn store_copy(from: &str, to: &str) -> Result<()> {
    use agf::store::StoreLocation;
    let open = |at: &str, existing: bool| -> Result<Store> {
        let location = StoreLocation::parse(at);
        let folders = match &location {
            StoreLocation::Sqlite(p) => RunFolders::new(
                p.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new(".")),
            ),
            StoreLocation::Postgres(_) => RunFolders::new("runs"),
        };
        let store = if existing {
            Store::open_existing(&location, Box::new(folders))
        } else {
            Store::open(&location, Box::new(folders))
        };
        store.with_context(|| format!("opening {location}"))
    };
    let source = open(from, true)?;
    let target = open(to, false)?;
    let c = agf::store::copy::copy(&source, &target)?;
    println!(
        "copied {} runs and {} sweeps from {} to {}; {} runs were there already{}",
        c.runs,
        c.sweeps,
        source.location(),
        target.location(),
        c.present,
        if c.running > 0 {
            format!(
                "; {} runs still running or killed were left out (resume them, then copy again)",
                c.running
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Sweep workers share the store; SQLite's locks (and its WAL's shared memory) do not hold
/// on network file systems, so workers there could lose or corrupt results.
fn refuse_sqlite_on_network_fs(store: &agf::store::StoreLocation) -> Result<()> {
    let agf::store::StoreLocation::Sqlite(path) = store else {
        return Ok(());
    };
    if let Some((kind, mount)) = agf::fsutil::network_filesystem(path) {
        anyhow::bail!(
            "the SQLite store {} lies on a network file system ({kind} at {}): SQLite's locking \
             and write-ahead log do not work there, and sweep workers would lose or corrupt \
             results; keep the SQLite file on a local disk, or use a PostgreSQL store shared \
             by every host (--db postgres://user@host/db; README, \"A shared store on \
             PostgreSQL\")",
            path.display(),
            mount.display()
        );
    }
    Ok(())
}

/// The store a reading command reads: it must exist.
fn existing_store(places: &cli::args::Places) -> Result<Store> {
    Ok(Store::open_existing(
        &places.store,
        Box::new(places.folders()),
    )?)
}

fn run(
    places: &cli::args::Places,
    spec_path: &Path,
    overrides: &[String],
    resume_or_run: bool,
) -> Result<()> {
    for given in overrides {
        if matches!(agf::spec::overrides::assignment(given), Ok((_, v)) if v.len() > 1) {
            return Err(agf::sweep::SweepError::CommaList {
                given: given.clone(),
            }
            .into());
        }
    }
    let sweep = Sweep::load(spec_path, overrides)?;
    if sweep.file.declares_sweep || sweep.cells.len() > 1 {
        return Err(agf::sweep::SweepError::DeclaresSweep(spec_path.to_path_buf()).into());
    }
    let spec = &sweep.cells[0].spec;
    let context = || format!("running {}", spec_path.display());
    let folders = places.folders();
    let cache = agf::cache::StageCache::new(&places.cache);
    if resume_or_run && places.store.exists() {
        let store = existing_store(places)?;
        let hash = spec.hash();
        let unfinished = store.runs()?.into_iter().rev().find(|r| {
            r.spec_hash == hash && matches!(r.status, RunStatus::Interrupted | RunStatus::Failed)
        });
        if let Some(r) = unfinished {
            print::started(r.id, &folders.dir(r.id));
            let outcome = pipeline::resume(workspace(&store, &cache, &folders), r.id)
                .with_context(context)?;
            return print_card(&store, places, outcome.run);
        }
    }
    let prepared = pipeline::prepare(spec).with_context(context)?;
    let store = open_store(places)?;
    let outcome = pipeline::run_with(
        spec,
        prepared,
        workspace(&store, &cache, &folders),
        None,
        &mut |run, dir| print::started(run, dir),
    )
    .with_context(context)?;
    print_card(&store, places, outcome.run)
}

fn sweep(places: &cli::args::Places, what: SweepCommand) -> Result<()> {
    use agf::sweep::{launch, plan, worker};
    let cache = agf::cache::StageCache::new(&places.cache);
    if matches!(
        what,
        SweepCommand::Run { .. } | SweepCommand::Retry { .. } | SweepCommand::Worker { .. }
    ) {
        refuse_sqlite_on_network_fs(&places.store)?;
    }
    match what {
        SweepCommand::Plan { spec, overrides } => {
            let sweep = Sweep::load(&spec, &overrides)?;
            let recorded = match places.store.exists() {
                true => existing_store(places)?.cells(&sweep.name)?,
                false => Vec::new(),
            };
            print::plan(&sweep, &plan::plan(&sweep, &cache), &recorded);
            Ok(())
        }
        SweepCommand::Run {
            spec,
            overrides,
            workers,
            retries,
            slurm,
        } => {
            let sweep = Sweep::load(&spec, &overrides)?;
            let store = open_store(places)?;
            let cells = launch::record(&sweep, &store, &cache, retries)?;
            print::sweep_header(&sweep, &cells);
            match slurm.slurm {
                true => submit_to_slurm(places, &store, &sweep.name, &workers, &slurm),
                false => finish_sweep(places, &store, &sweep.name, &workers),
            }
        }
        SweepCommand::Retry {
            name,
            workers,
            slurm,
        } => {
            let store = existing_store(places)?;
            if store.cells(&name)?.is_empty() {
                return Err(agf::sweep::SweepError::NoSuchSweep { name }.into());
            }
            if slurm.slurm
                && agf::sweep::slurm::Mode::of(&places.store) == agf::sweep::slurm::Mode::Bundles
            {
                // What finished since is merged first, so only what did not is resubmitted.
                agf::sweep::bundle::collect(&store, &places.runs, &name)?;
            }
            let n = store.retry_failed(&name)?;
            println!("{n} failed cells of {name} back in the queue");
            match slurm.slurm {
                true => submit_to_slurm(places, &store, &name, &workers, &slurm),
                false => finish_sweep(places, &store, &name, &workers),
            }
        }
        SweepCommand::Cancel { name } => {
            let ids = agf::sweep::slurm::cancel(&places.runs, &name)?;
            println!("cancelled Slurm jobs {} of sweep {name}", ids.join(", "));
            Ok(())
        }
        SweepCommand::Collect { name } => {
            let store = existing_store(places)?;
            let c = agf::sweep::bundle::collect(&store, &places.runs, &name)?;
            println!(
                "collected sweep {name}: {} cells done, {} failed, {} done before; {} not finished{}",
                c.done,
                c.failed,
                c.already,
                c.unfinished.len(),
                if c.unfinished.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (cells {}: `agf sweep retry {name} --slurm` runs them again)",
                        c.unfinished
                            .iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            );
            Ok(())
        }
        SweepCommand::Cell { name, number } => {
            let run = agf::sweep::bundle::run_cell(&places.runs, &cache, &name, number)?;
            println!("cell {number} of {name}: run {run} done");
            Ok(())
        }
        SweepCommand::Worker { name, lease } => {
            let store = existing_store(places)?;
            let folders = places.folders();
            let report = worker::work(
                &name,
                workspace(&store, &cache, &folders),
                &worker::WorkerConfig {
                    lease: seconds(lease)?,
                    store: places.store.clone(),
                },
            )?;
            println!(
                "worker done: {} cells done, {} failed",
                report.done, report.failed
            );
            Ok(())
        }
        SweepCommand::Status { name, format } => {
            let store = existing_store(places)?;
            let name = match name {
                Some(n) => n,
                None => {
                    let list = store.sweeps()?;
                    match list.as_slice() {
                        [only] => only.name.clone(),
                        [] => anyhow::bail!(
                            "the store holds no sweep yet (`agf sweep run SPEC` starts one)"
                        ),
                        _ => {
                            println!(
                                "{} sweeps in the store; name one (`agf sweep status NAME`):",
                                list.len()
                            );
                            return print::sweeps(&list, format);
                        }
                    }
                }
            };
            let cells = store.cells(&name)?;
            if cells.is_empty() {
                return Err(agf::sweep::SweepError::NoSuchSweep { name }.into());
            }
            print::sweep_status(&name, &cells, &store.runs()?, format)?;
            if matches!(format, Format::Table) {
                print::slurm_status(&places.runs, &name, &cells);
            }
            Ok(())
        }
    }
}

/// Run what is left of a recorded sweep with local workers, then print how it stands.
/// Submit the sweep's cells that are not done to Slurm (an array and a report job).
fn submit_to_slurm(
    places: &cli::args::Places,
    store: &Store,
    name: &str,
    workers: &cli::args::WorkerArgs,
    slurm: &cli::args::SlurmArgs,
) -> Result<()> {
    use agf::sweep::slurm;
    let left: Vec<_> = store
        .cells(name)?
        .into_iter()
        .filter(|c| c.status != agf::store::CellStatus::Done)
        .collect();
    if left.is_empty() {
        println!("every cell of {name} is done; nothing to submit");
        return Ok(());
    }
    let resources = slurm::Resources {
        partition: slurm.partition.clone(),
        gpus_per_task: slurm.gpus_per_task,
        cpus_per_task: slurm.cpus_per_task,
        mem: slurm.mem.clone(),
        time: slurm.time.clone(),
        max_parallel: slurm.max_parallel,
        sbatch_args: slurm.sbatch_args.clone(),
    };
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let store_location = match &places.store {
        agf::store::StoreLocation::Sqlite(p) => agf::store::StoreLocation::Sqlite(absolute(p)),
        other => other.clone(),
    };
    let at = slurm::Places {
        exe: std::env::current_exe().context("finding the agf binary for the tasks")?,
        store: store_location,
        runs: absolute(&places.runs),
        cache: absolute(&places.cache),
        report: absolute(&workers.report),
        lease: seconds(workers.lease)?,
    };
    let s = slurm::submit(name, &left, &resources, &at)?;
    let mode = match s.array.mode {
        slurm::Mode::Shared => "workers claiming from the shared store",
        slurm::Mode::Bundles => "one cell each, into bundles merged by the report job",
    };
    println!(
        "submitted Slurm job {} (array {}, {} tasks: {mode}) and report job {} (after it ends); script {}",
        s.array.id,
        s.array.array.as_deref().unwrap_or(""),
        s.tasks,
        s.report.id,
        s.array.script.display()
    );
    println!(
        "`agf sweep status {name}` follows it; the report goes to {}",
        workers.report.display()
    );
    Ok(())
}

fn finish_sweep(
    places: &cli::args::Places,
    store: &Store,
    name: &str,
    workers: &cli::args::WorkerArgs,
) -> Result<()> {
    let local = agf::sweep::launch::Local {
        workers: workers.workers as usize,
        lease: seconds(workers.lease)?,
        exe: std::env::current_exe().context("finding the agf binary to start workers")?,
        args: places.args(),
        env: places.env(),
        logs: places.runs.join("sweeps").join(name),
    };
    let counts = agf::sweep::launch::run_local(name, store, &local)?;
    print::sweep_status(name, &store.cells(name)?, &store.runs()?, Format::Table)?;
    let written = agf::report::write_report_with(
        store,
        &workers.report,
        &agf::report::Sweeps::Only(name.to_string()),
    )?;
    for (_, page) in &written.sweeps {
        println!("comparison report: {}", page.display());
    }
    if counts.failed > 0 {
        anyhow::bail!(
            "{} of {} cells failed; `agf sweep status {name}` shows why, `agf sweep retry {name}` runs them again",
            counts.failed,
            counts.cells
        );
    }
    Ok(())
}

fn seconds(s: f64) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--lease: expected a number of seconds > 0, got {s}"))
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
    print_card(&store, places, outcome.run)
}

fn runs(
    places: &cli::args::Places,
    format: Format,
    filters: &[String],
    group_by: &[String],
) -> Result<()> {
    use agf::compare::runs::{group, select, Filter};
    let store = existing_store(places)?;
    if filters.is_empty() && group_by.is_empty() {
        return print::runs(&store.runs()?, format);
    }
    let filters = filters
        .iter()
        .map(|f| Filter::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = select(&store, &filters)?;
    if group_by.is_empty() {
        let runs: Vec<_> = rows.into_iter().map(|r| r.run).collect();
        return print::runs(&runs, format);
    }
    print::groups(&group(&rows, group_by), group_by, format)
}

/// The summary `agf run` prints at a run's end, read from the store.
fn print_card(store: &Store, places: &cli::args::Places, run: RunId) -> Result<()> {
    let card = agf::compare::card::load(store, run)?;
    print::card(&card, &places.store.to_string(), &places.folders().dir(run));
    Ok(())
}

fn show(places: &cli::args::Places, run: RunId, format: Format) -> Result<()> {
    let store = existing_store(places)?;
    match format {
        Format::Table => print_card(&store, places, run),
        _ => {
            let card = agf::compare::card::load(&store, run)?;
            println!("{}", serde_json::to_string_pretty(&card)?);
            Ok(())
        }
    }
}

fn compare(
    places: &cli::args::Places,
    a: RunId,
    b: RunId,
    format: Format,
    all: bool,
    html: Option<&Path>,
) -> Result<()> {
    let store = existing_store(places)?;
    let diff = agf::compare::runs::diff(&store, a, b)?;
    print::compare(&diff, format, all)?;
    if let Some(path) = html {
        agf::report::write_compare(&diff, path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn report(places: &cli::args::Places, out: &Path, sweep: Option<String>) -> Result<()> {
    let store = existing_store(places)?;
    let which = match sweep {
        Some(name) => agf::report::Sweeps::Only(name),
        None => agf::report::Sweeps::All,
    };
    print::report(&agf::report::write_report_with(&store, out, &which)?);
    Ok(())
}

fn synth(spec_path: &Path, out: &Path, subset: Subset) -> Result<()> {
    use agf::data::synth::{fma_layout, SyntheticWorld};
    let spec = agf::stages::load_spec(spec_path)?;
    let world = SyntheticWorld::generate(&spec.dataset.synthetic, spec.world_seed());
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

enum AuditOf {
    Run {
        run: RunId,
        model: Option<agf::spec::AuditModel>,
        folds: Option<usize>,
    },
    File(std::path::PathBuf),
}

fn audit(
    places: &cli::args::Places,
    what: AuditOf,
    filter_by: &str,
    rank_by: &str,
    top: usize,
    out: Option<&Path>,
    format: Format,
) -> Result<()> {
    use agf::audit::confident::{FilterBy, QualityScore};
    // clap has checked both against the same lists.
    let filter_by = FilterBy::parse(filter_by).expect("a filter clap accepted");
    let rank_by = QualityScore::parse(rank_by).expect("a score clap accepted");
    let (report, source, mut written) = match what {
        AuditOf::File(path) => {
            let report = agf::audit::file::audit_file(&path, filter_by, rank_by)?;
            (report, path.display().to_string(), Vec::new())
        }
        AuditOf::Run { run, model, folds } => {
            let store = existing_store(places)?;
            let folders = places.folders();
            let cache = agf::cache::StageCache::new(&places.cache);
            let ws = workspace(&store, &cache, &folders);
            let options = agf::pipeline::audit::AuditOptions {
                model,
                folds,
                filter_by,
                rank_by,
            };
            let a = agf::pipeline::audit::audit_run(ws, run, options)?;
            let source = format!(
                "run {run}'s training labels, {} out of {} artist-grouped folds",
                a.model.describe(),
                a.folds
            );
            (a.report, source, a.written)
        }
    };
    if let Some(dir) = out {
        written.extend(agf::audit::file::write(&report, dir)?);
    }
    print::audit(&report, &source, top, &written, format)
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
            repeats,
            device,
            no_torch,
        } => {
            let device = agf::nn::device(device)?;
            let b = agf::bench::CnnBench {
                batch,
                steps,
                repeats,
                torch: !no_torch,
            };
            agf::bench::cnn(dir, &b, &device)
        }
        Bench::Factors(b) => {
            let device = agf::nn::device(b.device)?;
            agf::bench::factors(dir, &b.into(), &device)
        }
        Bench::Metadata { rows } => agf::bench::metadata(dir, rows),
        Bench::Audit {
            examples,
            classes,
            repeats,
        } => agf::bench::audit(dir, examples, classes, repeats),
        Bench::Report {
            run_count,
            repeats,
            keep,
        } => match keep {
            Some(keep) => std::fs::create_dir_all(&keep)
                .with_context(|| format!("creating {}", keep.display()))
                .map(|_| agf::bench::report(&keep, run_count, repeats))?,
            None => agf::bench::report(dir, run_count, repeats),
        },
        Bench::Store {
            workers,
            cells,
            repeats,
            postgres,
        } => agf::bench::store(dir, workers, cells, repeats, postgres.as_deref()),
        Bench::Sweep { workers, repeats } => {
            let exe = std::env::current_exe().context("finding the agf binary")?;
            agf::bench::sweep(&exe, dir, workers, repeats)
        }
    };
    print!("{}", report.map_err(anyhow::Error::msg)?);
    Ok(())
}
