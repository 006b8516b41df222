//! What the integration tests share: running the real binary, writing specs into temporary
//! folders, running a spec in a temporary store, and opening a store as `agf` does.

#![allow(dead_code)] // each test file uses its own share of these

use agf::pipeline::{RunFolders, RunOutcome, Workspace};
use agf::spec::Resolved;
use agf::store::{Store, StoreLocation};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `agf` binary with its store at `db` (runs and cache beside it, as by default).
pub fn agf_cmd(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agf"));
    c.env("AGF_DB", db).env("RUST_LOG", "warn");
    c
}

/// Run `agf args…` against the store at `db`.
pub fn agf(db: &Path, args: &[&str]) -> Output {
    agf_cmd(db)
        .args(args)
        .output()
        .expect("the agf binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Write `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Parse and resolve spec text (it must be valid).
pub fn spec(text: &str, name: &str) -> Resolved {
    agf::stages::parse_spec(text, Path::new(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// The store at `db`, its run folders beside it (as `agf` opens it by default).
pub fn open_store(db: &Path) -> Store {
    Store::open(
        &StoreLocation::Sqlite(db.to_path_buf()),
        Box::new(folders(db)),
    )
    .unwrap()
}

/// The run folders beside the store at `db`.
pub fn folders(db: &Path) -> RunFolders {
    RunFolders::new(db.parent().unwrap())
}

/// Run `spec` in the store `dir/agf.sqlite` with its cache in `dir/cache`.
pub fn run_in(spec: &Resolved, dir: &Path) -> (Store, RunOutcome) {
    let db = dir.join("agf.sqlite");
    let store = open_store(&db);
    let cache = agf::cache::StageCache::new(dir.join("cache"));
    let folders = folders(&db);
    let out = agf::pipeline::run(
        spec,
        Workspace {
            store: &store,
            cache: &cache,
            folders: &folders,
        },
    )
    .unwrap_or_else(|e| panic!("{}", agf::errors::one_line(&e)));
    (store, out)
}

/// Run spec text in a fresh temporary store (kept alive by the returned folder).
pub fn run_in_temp_store(text: &str, name: &str) -> (tempfile::TempDir, Store, RunOutcome) {
    let dir = tempfile::tempdir().unwrap();
    let (store, out) = run_in(&spec(text, name), dir.path());
    (dir, store, out)
}
