//! # agf — Artist Group Factors, as an experiment lab
//!
//! agf reproduces *Artist Group Factors* (Kim & Won, WWW 2018 genre challenge) and turns it
//! into a lab: an experiment is a TOML spec, every run lands in a run store, reports compare
//! runs.
//!
//! ## The map
//! Data flows one way. The modules are in layers, and a module imports only from the layers
//! above it in this table (and from its own): nothing points back up the flow.
//! `tests/layering.rs` reads every `crate::` path in `src/` and holds the code to it.
//!
//! | layer | module | owns |
//! |---|---|---|
//! | 0 | [`rng`], [`simd`], [`fsutil`], [`progress`], [`digest`], [`errors`] | the seeded generator; CPU feature checks; atomic writes; progress bars; hex digests; errors as one line |
//! | 0 | [`record`] | the vocabulary of results: run ids, model, split and metric names, the epoch record |
//! | 0 | [`vectors`] | fixed-width row sets (in memory or memory-mapped) and the one [`vectors::Standardizer`] |
//! | 0 | [`cache`] | content-addressed stage outputs under `runs/cache/`, written atomically |
//! | 0 | [`eval`] | metrics (log loss, macro-F1, accuracy, per class, confusion), NMI, and the statistics that compare them: intervals valid at few seeds (Student's t, BCa), the t, normal and χ² distributions and t-test power, percentile bootstraps over artists, exact signed-rank test, Holm, rliable's IQM / probability of improvement / profiles with stratified bootstraps, Friedman ranks, nested variance components, factorial effects: pure |
//! | 0 | [`audit`] | confident learning as cleanlab 2.x computes it (thresholds, confident joint, calibration, the five filters, label-quality scores, health), album views and truth scores: pure |
//! | 1 | [`spec`] | the TOML schema by section, validation with file/line/column errors, canonical text and hash; knows no `nn` or `factors` type |
//! | 2 | [`data`] | tracks, artists, albums, genres; FMA's files; the [`data::synth`] world; splits; injected noise |
//! | 3 | [`audio`] | decoding, resampling, STFT, mel, MFCC, chroma, descriptors; [`audio::load`] brings a track's audio to the front end's rate |
//! | 4 | [`features`] | one clip's features (log-mel, MFCC, dMFCC, chroma, track-level vectors); `agf extract` |
//! | 5 | [`factors`] | K-Means, bags of words, LDA, artist topic tables; owns their parameters' defaults |
//! | 6 | [`nn`] | the paper's CNN, training with checkpoints, the transfer MLP, the logistic-regression baseline; owns their defaults |
//! | 7 | [`stages`] | one file per stage (data, features, frames, factors, baseline, nets, the audit's out-of-fold probabilities of the baseline or the nets), resolving the spec into each stage's parameters, reporting through a [`stages::Recorder`] |
//! | 8 | [`store`] | the run store behind a [`store::Backend`] trait (SQLite), typed rows, [`store::RunStatus`] with `interrupted` derived in one place |
//! | 9 | [`pipeline`] | one run: which stages, in which order, each once; run folders and locks, provenance, resume; a run's label audit |
//! | 10 | [`sweep`] | `[sweep]` cells validated and planned, a queue in the store, workers with leases, local launching |
//! | 11 | [`compare`] | a sweep's arms over seeds (t or BCa intervals, IQM, leakage, paired differences with t-tests and signed-rank tests under Holm, probability of improvement) and the [`compare::verdict`] each gets (no call below `min_pairs`, never "better" by leakage); what the design allows beyond ([`compare::design`]: Friedman ranks, variance by seed source, factorial effects); a run's test set bootstrapped over artists, run against run (headline scores, leakage), runs filtered and grouped |
//! | 12 | [`report`] | HTML reports with plotters charts, read from the store: the index, a page per run (per-genre scores, loss per target kind with chance lines, time per stage, its files), a page per sweep (verdicts, profiles, ranks, variance by source, factorial effects), `agf compare` pages |
//! | 13 | [`bench`] | throughput against librosa, scikit-learn and PyTorch, printed, never asserted |
//!
//! The binary (`src/main.rs`, `src/cli/`) parses arguments, makes one library call per
//! subcommand and prints.
//!
//! ## Defaults, written once
//! The spec's own sections (dataset, front ends, split, noise) carry their defaults in
//! `spec`. Parameters of K-Means and LDA belong to `factors`, those of the nets, the
//! transfer MLP and the baseline to `nn`: each writes its defaults once, and
//! [`stages::resolve`] fills a spec from them, so a resolved spec shows every value used.
//! Where a default follows the authors' code it says so (the single mini-batch pass of the
//! K-Means dictionary, the nets' training, the transfer MLP); where it follows scikit-learn
//! it says that (LDA, Lloyd's K-Means, standardisation).

pub mod audio;
pub mod audit;
pub mod bench;
pub mod cache;
pub mod compare;
pub mod data;
pub mod digest;
pub mod errors;
pub mod eval;
pub mod factors;
pub mod features;
pub mod fsutil;
pub mod nn;
pub mod pipeline;
pub mod progress;
pub mod record;
pub mod report;
pub mod rng;
pub mod simd;
pub mod spec;
pub mod stages;
pub mod store;
pub mod sweep;
pub mod vectors;
