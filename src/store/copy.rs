//! `agf store copy`: runs (with everything recorded for them) and sweeps (with their cells)
//! from one store into another, SQLite or PostgreSQL either way, so that a cluster's results
//! can come home and be reported there.
//!
//! Runs get new ids in the target; a copied cell points at its run's new id. Copying again
//! copies only what is new: a run is known by its spec hash, start time, host and name, and
//! copied again when it ended differently since (it was resumed). A run is written with
//! status `queued` and given its own status last, so a copy killed half-way leaves a run
//! that the next copy removes and copies again.

use super::{Backend, CellStatus, RunId, RunRecord, RunStatus, Store, StoreError};
use crate::record::{ModelName, SplitKey};
use std::collections::{BTreeMap, BTreeSet};

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub runs: usize,
    /// Runs the target had already.
    pub present: usize,
    /// Runs left out because they are still running (or were killed: resume them first).
    pub running: usize,
    pub sweeps: usize,
}

/// Copy every finished run and every sweep of `from` into `to`.
pub fn copy(from: &Store, to: &Store) -> Result<Copied, StoreError> {
    let mut done = Copied::default();
    // Sweeps first, so that runs can be attached to their cells.
    let mut cell_of: BTreeMap<RunId, (String, String)> = BTreeMap::new();
    for s in from.sweeps()? {
        let Some(sweep) = from.sweep(&s.name)? else {
            continue;
        };
        let cells = from.cells(&s.name)?;
        for c in &cells {
            if let Some(run) = c.run_id {
                cell_of.insert(run, (s.name.clone(), c.spec_hash.clone()));
            }
        }
        to.sync_sweep(&sweep, &[], 2)?;
        // A cell a worker is on in the source is work left to do in the target.
        let cells: Vec<_> = cells
            .into_iter()
            .map(|mut c| {
                if c.status == CellStatus::Running {
                    c.status = CellStatus::Queued;
                }
                c
            })
            .collect();
        to.copy_cells(&s.name, &cells)?;
        done.sweeps += 1;
    }
    for summary in from.runs()? {
        if matches!(summary.status, RunStatus::Running | RunStatus::Interrupted) {
            done.running += 1;
            continue;
        }
        let cell = cell_of.get(&summary.id);
        match copy_run(
            from,
            summary.id,
            to,
            cell.map(|(s, h)| (s.as_str(), h.as_str())),
        )? {
            (_, true) => done.runs += 1,
            (_, false) => done.present += 1,
        }
    }
    Ok(done)
}

/// Copy run `run` of `from` into `to` (attached to the cell `(sweep, spec hash)` there),
/// unless `to` has it already; returns its id in `to` and whether it was copied now.
pub fn copy_run(
    from: &Store,
    run: RunId,
    to: &Store,
    cell: Option<(&str, &str)>,
) -> Result<(RunId, bool), StoreError> {
    let record = from.run_record(run)?;
    if let Some(there) = to.find_run(&record)? {
        // The same run as copied before, unless it ended differently since (resumed and
        // ended again) or its copy did not finish; heartbeats are the copy's own.
        let same = |r: &RunRecord| RunRecord {
            heartbeat_at: None,
            ..r.clone()
        };
        if same(&to.run_record(there)?) == same(&record) {
            return Ok((there, false));
        }
        tracing::info!(
            "run {there} of {} is an older or unfinished copy; copying again",
            to.location()
        );
        to.delete_run(there)?;
    }
    let id = to.import_run(&record, &from.params(run)?, cell)?;
    copy_results(&**from, run, &**to, id)?;
    to.set_run_status(id, &record.status)?;
    Ok((id, true))
}

/// Everything recorded for run `a` of `from` as run `b` of `to`.
fn copy_results(
    from: &dyn Backend,
    a: RunId,
    to: &dyn Backend,
    b: RunId,
) -> Result<(), StoreError> {
    to.record_classes(b, &from.classes(a)?)?;
    let metrics = from.metrics(a)?;
    let mut groups: BTreeMap<(String, &'static str), Vec<(&str, f64)>> = BTreeMap::new();
    let mut models: BTreeSet<String> = BTreeSet::new();
    for m in &metrics {
        models.insert(m.model.to_string());
        groups
            .entry((m.model.to_string(), m.split.as_str()))
            .or_default()
            .push((m.name.as_str(), m.value.unwrap_or(f64::NAN)));
    }
    for ((model, split), values) in &groups {
        let (Some(model), Ok(split)) = (
            ModelName::parse(model),
            SplitKey::try_from(split.to_string()),
        ) else {
            continue;
        };
        to.record_metrics(b, &model, split, values)?;
    }
    let facts = from.facts(a)?;
    let facts: Vec<(&str, String)> = facts.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    to.record_facts(b, &facts)?;
    to.record_skipped(b, &from.skipped(a)?)?;
    to.record_flips(b, &from.flips(a)?)?;
    to.record_class_metrics(b, &from.class_metrics(a)?)?;
    to.record_confusion_cells(b, &from.confusion_cells(a)?)?;
    to.record_tracks(b, &from.tracks(a)?)?;
    for model in from.epoch_models(a)? {
        models.insert(model.to_string());
        for e in from.epochs(a, &model)? {
            to.record_epoch(b, &model, &e)?;
        }
    }
    for model in models.iter().filter_map(|m| ModelName::parse(m)) {
        let rows = from.predictions(a, &model)?;
        if !rows.is_empty() {
            to.record_predictions(b, &model, &rows)?;
        }
    }
    Ok(())
}
