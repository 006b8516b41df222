//! Reports: read the store, draw charts with plotters (SVG embedded in the pages, text
//! measured with the embedded DejaVu font so no system fonts are needed) and write static
//! pages that open from the file system without a server:
//!
//! - `index.html`: every run (sortable), the sweeps, the runs' scores by headline model;
//! - `runs/<id>.html`: one run in full; a finished run's page is written once and kept
//!   (`runs/stamps.json` says which state each page shows), so a store of thousands of runs
//!   is reported again in the time its new runs take;
//! - `sweeps/<name>.html`: a sweep's arms compared over seeds ([`crate::compare::sweep`]).

mod charts;
mod compare_page;
mod index;
mod page;
mod run_page;
mod stat_charts;
mod sweep_page;

use crate::compare::runs::RunDiff;
use crate::compare::CompareError;
use crate::record::RunId;
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bumped when pages change, so that kept run pages are written again.
pub const VERSION: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Compare(#[from] CompareError),
    #[error("cannot write the report {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug, Clone)]
pub struct ReportOutput {
    pub index: PathBuf,
    pub runs: usize,
    /// Run pages written this time (the others were kept).
    pub run_pages_written: usize,
    /// Each sweep's page.
    pub sweeps: Vec<(String, PathBuf)>,
}

/// Which sweeps get a page.
#[derive(Debug, Clone, Default)]
pub enum Sweeps {
    #[default]
    All,
    /// Only this one (it must exist).
    Only(String),
}

/// Write the report under `out`: the index, every run's page (kept where the run has not
/// changed since) and the sweeps' pages.
pub fn write_report(store: &Store, out: &Path) -> Result<ReportOutput, ReportError> {
    write_report_with(store, out, &Sweeps::All)
}

pub fn write_report_with(
    store: &Store,
    out: &Path,
    which: &Sweeps,
) -> Result<ReportOutput, ReportError> {
    charts::register_fonts();
    let runs = store.runs()?;
    let sweeps = store.sweeps()?;
    if let Sweeps::Only(name) = which {
        if !sweeps.iter().any(|s| &s.name == name) {
            return Err(CompareError::NoSuchSweep { name: name.clone() }.into());
        }
    }
    let factors = store.factor_rows()?;
    for dir in [out.to_path_buf(), out.join("runs"), out.join("sweeps")] {
        std::fs::create_dir_all(&dir).map_err(|source| ReportError::Write {
            path: dir.clone(),
            source,
        })?;
    }

    // Run pages, kept while their run is finished and unchanged.
    let stamps_path = out.join("runs").join("stamps.json");
    let mut stamps: BTreeMap<i64, String> = std::fs::read(&stamps_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut by_run: BTreeMap<RunId, Vec<&crate::store::FactorRow>> = BTreeMap::new();
    for f in &factors {
        by_run.entry(f.run).or_default().push(f);
    }
    // Pages are rendered here and written by two threads beside: each write waits on its
    // fsync, which would otherwise stall the rendering of the next page.
    let mut written = 0;
    let (send, receive) = std::sync::mpsc::sync_channel::<(PathBuf, String)>(16);
    let receive = std::sync::Mutex::new(receive);
    let rendered: Result<(), ReportError> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| -> Result<(), ReportError> {
                    loop {
                        let next = receive.lock().expect("no writer panics").recv();
                        let Ok((path, html)) = next else {
                            return Ok(());
                        };
                        write_atomic(&path, html.as_bytes())?;
                    }
                })
            })
            .collect();
        let mut render = || -> Result<(), ReportError> {
            for r in &runs {
                let path = out.join("runs").join(format!("{}.html", r.id.0));
                let stamp = run_page::stamp(r);
                if stamp.is_some() && stamps.get(&r.id.0) == stamp.as_ref() && path.is_file() {
                    continue;
                }
                let html = run_page::render(
                    store,
                    &run_page::RunPage {
                        summary: r,
                        factors: by_run.remove(&r.id).unwrap_or_default(),
                        report_dir: &out.join("runs"),
                    },
                )?;
                if send.send((path, html)).is_err() {
                    // A writer failed and left: its error is reported below.
                    break;
                }
                written += 1;
                match stamp {
                    Some(s) => stamps.insert(r.id.0, s),
                    None => stamps.remove(&r.id.0),
                };
            }
            Ok(())
        };
        let result = render();
        drop(send);
        for w in writers {
            w.join().expect("a page writer does not panic")?;
        }
        result
    });
    rendered?;
    stamps.retain(|id, _| runs.iter().any(|r| r.id.0 == *id));
    write_atomic(
        &stamps_path,
        &serde_json::to_vec(&stamps).expect("stamps serialise"),
    )?;

    let mut sweep_pages = Vec::new();
    for s in &sweeps {
        if matches!(which, Sweeps::Only(name) if name != &s.name) {
            continue;
        }
        let comparison = crate::compare::sweep::compare(store, &s.name, None)?;
        let html = sweep_page::render(store, &comparison)?;
        let path = out
            .join("sweeps")
            .join(format!("{}.html", page::file_name(&s.name)));
        write_atomic(&path, html.as_bytes())?;
        sweep_pages.push((s.name.clone(), path));
    }

    let mut cells = BTreeMap::new();
    for s in &sweeps {
        for cell in store.cells(&s.name)? {
            if let Some(run) = cell.run_id {
                cells.insert(
                    run,
                    index::CellOf {
                        sweep: s.name.clone(),
                        arm: crate::compare::Arm::parse(&cell.arm).label(),
                        seed: cell.seed,
                    },
                );
            }
        }
    }
    let html = index::render(&index::Index {
        location: store.location(),
        runs: &runs,
        sweeps: &sweeps,
        cells: &cells,
        factors: &factors,
    });
    let index_path = out.join("index.html");
    write_atomic(&index_path, html.as_bytes())?;
    Ok(ReportOutput {
        index: index_path,
        runs: runs.len(),
        run_pages_written: written,
        sweeps: sweep_pages,
    })
}

/// Write the page of `agf compare A B` to `path`.
pub fn write_compare(diff: &RunDiff, path: &Path) -> Result<(), ReportError> {
    charts::register_fonts();
    write_atomic(path, compare_page::render(diff, None).as_bytes())
}

/// Write to a temporary sibling, then rename over the target: readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    crate::fsutil::write_atomic(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}
