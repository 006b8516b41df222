//! What a run records about where it ran: the git commit and whether the checkout had
//! uncommitted changes, the crate version, the host, and the device its nets ran on.

use crate::record::ModelName;
use crate::spec::Resolved;
use crate::store::{CellId, NewRun};
use candle_core::Device;

/// Commit and dirty flag of the git checkout in the working directory, if any.
fn git_state() -> (Option<String>, Option<bool>) {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            let dirty =
                run(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty());
            (Some(commit), dirty)
        }
        None => (None, None),
    }
}

/// The record a new run starts with. `device` is where its nets run (the CPU when it has
/// none: the baseline and the factors run there).
pub fn new_run(spec: &Resolved, device: &Device, cell: Option<CellId>) -> NewRun {
    let (git_commit, git_dirty) = git_state();
    NewRun {
        name: spec.name.clone(),
        spec_toml: spec.canonical_toml(),
        spec_hash: spec.hash(),
        seed: spec.seed,
        git_commit,
        git_dirty,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        device: crate::nn::device_name(device),
        headline_model: if spec.cnn.is_some() {
            ModelName::Transfer
        } else {
            ModelName::Baseline
        },
        params: spec.flat_params(),
        cell,
    }
}
