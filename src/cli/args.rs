//! Every subcommand and flag of `agf`, with clap's derive, and the places a command works
//! in (the run store, the runs' folders, the stage cache) resolved from them once.

use agf::pipeline::RunFolders;
use agf::spec::DeviceSpec;
use agf::store::StoreLocation;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// cleanlab's `filter_by` values.
pub const FILTERS: [&str; 5] = [
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
];
/// cleanlab's label-quality scores.
pub const SCORES: [&str; 3] = [
    "self_confidence",
    "normalized_margin",
    "confidence_weighted_entropy",
];

#[derive(Parser)]
#[command(
    name = "agf",
    version,
    about = "Artist Group Factors: genre recognition experiments from TOML to SQLite to reports"
)]
pub struct Cli {
    /// The run store: a SQLite file, or a PostgreSQL URL (`postgres://user@host/db`; the
    /// password from the URL, PGPASSWORD or ~/.pgpass) that workers on many hosts share.
    #[arg(
        long,
        global = true,
        env = "AGF_DB",
        hide_env_values = true,
        default_value = "runs/agf.sqlite"
    )]
    pub db: String,
    /// Where runs keep their files (checkpoints, predictions, factor tables); the run
    /// store's folder when omitted.
    #[arg(long, global = true, env = "AGF_RUNS")]
    pub runs: Option<PathBuf>,
    /// The stage cache; `cache/` beside the run store when omitted.
    #[arg(long, global = true, env = "AGF_CACHE")]
    pub cache: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where a command reads and writes.
pub struct Places {
    pub store: StoreLocation,
    pub runs: PathBuf,
    pub cache: PathBuf,
}

impl Places {
    pub fn folders(&self) -> RunFolders {
        RunFolders::new(&self.runs)
    }

    /// The global arguments that give a child process these places, but the store, which
    /// goes through [`Places::env`].
    pub fn args(&self) -> Vec<String> {
        vec![
            "--runs".into(),
            self.runs.display().to_string(),
            "--cache".into(),
            self.cache.display().to_string(),
        ]
    }

    /// The environment that gives a child process the store: a password in a store URL
    /// stays out of command lines, which every user of the host can read.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("AGF_DB".into(), self.store.secret())]
    }
}

impl Cli {
    pub fn places(&self) -> Places {
        let store = StoreLocation::parse(&self.db);
        let beside = match &store {
            StoreLocation::Sqlite(path) => path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".")),
            // A database has no folder: runs and cache default to `runs/` here, and workers
            // on other hosts need --runs and --cache on a path every host sees.
            StoreLocation::Postgres(_) => PathBuf::from("runs"),
        };
        Places {
            runs: self.runs.clone().unwrap_or_else(|| beside.clone()),
            cache: self.cache.clone().unwrap_or_else(|| beside.join("cache")),
            store,
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the experiment a spec describes and record it in the store; its first line of
    /// output is the run's id and folder.
    Run {
        /// The experiment spec (TOML), e.g. experiments/quickstart.toml.
        spec: PathBuf,
        /// Overrides of the spec as `key=value` (e.g. `seed=3 factors.mfcc.topics=24`).
        overrides: Vec<String>,
        /// Resume the unfinished run of the same resolved spec if there is one, else run.
        #[arg(long)]
        resume_or_run: bool,
    },
    /// Sweeps: a spec's `[sweep]` (or `key=a,b,c` overrides) run as cells by workers.
    Sweep {
        #[command(subcommand)]
        what: SweepCommand,
    },
    /// List the sweeps in the store.
    Sweeps {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Resume a run that was killed or failed: cached stages are reused, each net continues
    /// from its last checkpoint, and the run ends with the metrics an uninterrupted run has.
    Resume {
        /// The run's id, as `agf runs` lists it.
        run: i64,
    },
    /// List the runs in the store, or groups of them with mean ± SD of their scores.
    Runs {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Only runs whose parameter has this value, `key=value` (repeatable; numbers compare
        /// as numbers; `name`, `status` and `model` are the run's own).
        #[arg(long = "where", value_name = "KEY=VALUE")]
        filters: Vec<String>,
        /// Group the runs by these keys (and their headline model), with mean ± SD of each
        /// group's test scores.
        #[arg(long, value_name = "KEY")]
        group_by: Vec<String>,
    },
    /// Audit labels with confident learning (as cleanlab computes it) on out-of-sample
    /// probabilities: a run's training labels, from its baseline trained fold by fold
    /// (artist-grouped folds), or any model's probabilities from a CSV file (`track_id`,
    /// `label`, one column per class; optional `album`, `artist`, `split`, `true_label`).
    Audit {
        /// The run whose training labels to audit, as `agf runs` lists it.
        #[arg(
            required_unless_present = "predictions",
            conflicts_with = "predictions"
        )]
        run: Option<i64>,
        /// A CSV file of predicted probabilities, instead of a run.
        #[arg(long)]
        predictions: Option<PathBuf>,
        /// Whose out-of-fold probabilities: `baseline` (computed now), or `genre_cnn` /
        /// `transfer` (those the run recorded with `[audit] model = ...`); default: the run's
        /// own audit model, else the baseline.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["baseline", "genre_cnn", "transfer"]), conflicts_with = "predictions")]
        model: Option<String>,
        /// Folds over the run's training tracks, grouped by artist (default 5).
        #[arg(long, value_parser = clap::value_parser!(u64).range(2..), conflicts_with = "predictions")]
        folds: Option<u64>,
        /// Which examples count as issues (cleanlab's `filter_by`).
        #[arg(long, default_value = "prune_by_noise_rate", value_parser = clap::builder::PossibleValuesParser::new(FILTERS))]
        filter_by: String,
        /// The label-quality score issues are ranked by, worst first.
        #[arg(long, default_value = "self_confidence", value_parser = clap::builder::PossibleValuesParser::new(SCORES))]
        rank_by: String,
        /// How many tracks and albums to list.
        #[arg(long, default_value_t = 15)]
        top: usize,
        /// Write issues.csv (and albums.csv) here.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print a past run's summary again (what `agf run` printed at its end).
    Show {
        /// The run's id, as `agf runs` lists it.
        run: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Two runs side by side: the parameters that differ and every metric with the
    /// difference.
    Compare {
        a: i64,
        b: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Every stored metric and parameter, internal counters included.
        #[arg(long)]
        all: bool,
        /// Also write the comparison as an HTML page here.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Summarise a spec's dataset and split: counts per split and genre, leakage, left-out tracks.
    Data {
        /// The experiment spec (TOML).
        spec: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Also decode every audio file and list those that cannot be read; the command
        /// fails when any cannot.
        #[arg(long)]
        check_audio: bool,
        /// With --check-audio: list unreadable files but succeed.
        #[arg(long, requires = "check_audio")]
        allow_unreadable: bool,
    },
    /// Write every track's features as .npy files (readable by numpy) under --out.
    Extract {
        /// The experiment spec (TOML).
        spec: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Copy runs between stores.
    Store {
        #[command(subcommand)]
        what: StoreCommand,
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
        #[arg(long, value_enum, default_value_t = Subset::Medium)]
        subset: Subset,
    },
    /// Write an HTML report comparing the runs in the store.
    Report {
        /// Folder for index.html, runs/ and sweeps/.
        #[arg(long, default_value = "reports/latest")]
        out: PathBuf,
        /// Only this sweep's comparison page (with the index and the run pages).
        #[arg(long)]
        sweep: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy every finished run (all it recorded) and every sweep (with its cells) from one
    /// store to another, SQLite or PostgreSQL either way: a cluster's results brought home.
    /// Runs get new ids; copying again copies only what is new.
    Copy {
        /// The store to read: a SQLite file or a postgres:// URL.
        #[arg(long)]
        from: String,
        /// The store to write (created when it is a SQLite file that is not there yet).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
pub enum SweepCommand {
    /// Run a sweep's cells that are not done yet with local worker processes.
    Run {
        /// The spec (TOML); its `[sweep]` declares the axes, without one it is one cell.
        spec: PathBuf,
        /// `key=value` overrides; `key=a,b,c` adds an axis (`seed=1,2,3`).
        overrides: Vec<String>,
        #[command(flatten)]
        workers: WorkerArgs,
        /// Failed attempts a cell may have before it is left failed, after the first.
        #[arg(long, default_value_t = 1)]
        retries: u32,
        #[command(flatten)]
        slurm: SlurmArgs,
    },
    /// The cells, the distinct stage computations they need (and how many are cached) and
    /// the order that unblocks the most cells first; runs nothing.
    Plan {
        /// The spec (TOML); its `[sweep]` declares the axes, without one it is one cell.
        spec: PathBuf,
        overrides: Vec<String>,
    },
    /// Claim and run cells of a recorded sweep until none is left (what `sweep run` starts).
    Worker {
        name: String,
        /// Seconds a claim lasts without a heartbeat.
        #[arg(long, default_value_t = 60.0)]
        lease: f64,
    },
    /// Every cell of a sweep: its axes, status, attempts and run. Without a name: the only
    /// sweep of the store, or the list of sweeps when there are several.
    Status {
        name: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Put a sweep's failed cells back in the queue and run them (with --slurm: submit an
    /// array for the failed and lost cells only).
    Retry {
        name: String,
        #[command(flatten)]
        workers: WorkerArgs,
        #[command(flatten)]
        slurm: SlurmArgs,
    },
    /// Cancel the sweep's Slurm jobs (scancel).
    Cancel { name: String },
    /// Merge the cells' bundles of a Slurm sweep without a shared store into this store
    /// (idempotent; the report job runs it too).
    Collect { name: String },
    /// Run one cell into its bundle (what a Slurm array task of a sweep without a shared
    /// store runs).
    #[command(hide = true)]
    Cell { name: String, number: i64 },
}

/// Running a sweep on a Slurm cluster.
#[derive(Args, Clone, Default)]
pub struct SlurmArgs {
    /// Submit the cells to Slurm as a job array (and a report job chained after it)
    /// instead of running local workers; the script is kept in the sweep's folder.
    #[arg(long)]
    pub slurm: bool,
    #[arg(long, requires = "slurm")]
    pub partition: Option<String>,
    #[arg(long, requires = "slurm")]
    pub gpus_per_task: Option<u32>,
    #[arg(long, requires = "slurm")]
    pub cpus_per_task: Option<u32>,
    /// Memory per node, as sbatch takes it (`16G`).
    #[arg(long, requires = "slurm")]
    pub mem: Option<String>,
    /// Time limit per task, as sbatch takes it (`4:00:00`).
    #[arg(long, requires = "slurm")]
    pub time: Option<String>,
    /// Array tasks running at once (the array's `%P`).
    #[arg(long, requires = "slurm")]
    pub max_parallel: Option<u32>,
    /// Any other sbatch option, one per use (`--sbatch-arg=--account=mir`).
    #[arg(long = "sbatch-arg", requires = "slurm", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
}

#[derive(Args)]
pub struct WorkerArgs {
    /// Worker processes side by side.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: u32,
    /// Seconds a claim lasts without a heartbeat: a worker that dies on another machine
    /// frees its cell this long after.
    #[arg(long, default_value_t = 60.0)]
    pub lease: f64,
    /// Where the sweep's comparison report is written when its cells are done.
    #[arg(long, default_value = "reports/latest")]
    pub report: PathBuf,
}

#[derive(Subcommand)]
pub enum Bench {
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
        /// Timed steps per repeat (after one warm-up step).
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// agf and PyTorch take turns this many times; medians are printed.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// cpu, cuda or cuda:N (PyTorch runs on the same device).
        #[arg(long, default_value = "cpu")]
        device: DeviceSpec,
        /// Skip the PyTorch comparison.
        #[arg(long)]
        no_torch: bool,
    },
    /// K-Means (Lloyd) and LDA side by side with scikit-learn when python3 has it.
    Factors(FactorArgs),
    /// A 12-cell sweep run by `agf sweep run` against the same 12 specs run one after
    /// another on empty caches (a multirun that shares nothing).
    Sweep {
        /// Sweep workers side by side.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Times both ways are run; medians are printed.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Write the report over a store of many runs shaped like real ones (a fifth in
    /// sweeps), from nothing and again with the run pages kept.
    Report {
        /// How many runs the store holds (`--runs` names the run folders).
        #[arg(long = "run-count", default_value_t = 2000)]
        run_count: usize,
        /// Keep the store and the report in this folder (to open the pages afterwards).
        #[arg(long)]
        keep: Option<PathBuf>,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Confident learning on N × K probabilities against cleanlab's find_label_issues on
    /// the same arrays (python3 with cleanlab), as a ratio.
    Audit {
        #[arg(long, default_value_t = 50_000)]
        examples: usize,
        #[arg(long, default_value_t = 10)]
        classes: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// Cells claimed per second from a sweep's queue by N workers when cells take no
    /// time, on SQLite and (with --postgres) on PostgreSQL.
    Store {
        #[arg(long, default_value_t = 8)]
        workers: usize,
        #[arg(long, default_value_t = 2000)]
        cells: usize,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// A PostgreSQL server (`postgres://user:pw@host:port/db`, a role that may create
        /// databases): a scratch database is made there per repeat and dropped.
        #[arg(long, env = "AGF_BENCH_POSTGRES", hide_env_values = true)]
        postgres: Option<String>,
    },
    /// Parse a generated tracks.csv of FMA's full size (106,574 rows).
    Metadata {
        #[arg(long, default_value_t = 106_574)]
        rows: usize,
    },
}

#[derive(Args)]
pub struct FactorArgs {
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
    /// Where agf's K-Means runs: cpu, cuda or cuda:N (scikit-learn runs on the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
}

impl From<FactorArgs> for agf::bench::FactorBench {
    fn from(a: FactorArgs) -> Self {
        agf::bench::FactorBench {
            rows: a.rows,
            clusters: a.clusters,
            seeds: a.seeds,
            docs: a.docs,
            vocab: a.vocab,
            topics: a.topics,
            lda_iter: a.lda_iter,
            online: a.online,
            sklearn: !a.no_sklearn,
        }
    }
}

/// FMA's subset names.
#[derive(Clone, Copy, ValueEnum)]
pub enum Subset {
    Small,
    Medium,
    Large,
    Full,
}

impl Subset {
    pub fn as_str(self) -> &'static str {
        match self {
            Subset::Small => "small",
            Subset::Medium => "medium",
            Subset::Large => "large",
            Subset::Full => "full",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}
