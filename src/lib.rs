//! # agf — Artist Group Factors, as an experiment lab
//!
//! agf reproduces *Artist Group Factors* (Kim & Won, WWW 2018 genre challenge) and turns it
//! into a lab: an experiment is a TOML spec, every run lands in SQLite, reports compare runs.
//!
//! ## The map
//! Data flows one way; each module knows only what is upstream of it.
//!
//! | module | owns |
//! |---|---|
//! | [`spec`] | the TOML schema, validation with file/line/column errors, canonical hashing |
//! | [`rng`] | the seeded generator every random draw comes from |
//! | [`data`] | tracks, artists, albums, genres; the [`data::synth`] world; [`data::split`] strategies |
//! | [`audio`] | STFT, mel filterbank, dB, MFCC, track-level statistics |
//! | [`features`] | the parallel feature stage over a dataset, skipping bad tracks; frame-level factor inputs |
//! | [`cache`] | content-addressed stage outputs under `runs/cache/`, written atomically |
//! | [`factors`] | Artist Group Factors: K-Means dictionaries, artist bags of words, LDA, AGF tables |
//! | [`models`] | models and their training loops (candle), reporting through callbacks |
//! | [`nn`] | the paper's CNN, its training with checkpoints and resumption, the transfer MLP |
//! | [`eval`] | metrics: log loss, macro-F1, accuracy, per-class, confusion; NMI of clusterings |
//! | [`store`] | the SQLite run store (the only SQL) |
//! | [`report`] | HTML reports with plotters charts |
//! | [`pipeline`] | one run, stage by stage, recorded in the store |
//! | [`bench`] | throughput against librosa and scikit-learn, printed, never asserted |
//! | [`simd`] | run-time CPU feature checks for the hand-vectorised loops |
//!
//! The binary (`src/main.rs`) only parses arguments and calls one of these per subcommand.

pub mod audio;
pub mod bench;
pub mod cache;
pub mod data;
pub mod eval;
pub mod factors;
pub mod features;
pub mod fsutil;
pub mod models;
pub mod nn;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod rng;
pub mod simd;
pub mod spec;
pub mod store;
