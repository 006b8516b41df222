//! Where runs keep their files, and who is working on a run.
//!
//! Every run has a folder under the runs root (`<root>/<run id>/`: checkpoints, predictions,
//! factor tables). A process working on a run holds an exclusive lock on `run.lock` in it
//! for as long as it works: a second `agf resume` of a live run is refused, and the
//! operating system drops the lock when the process dies however it dies, so a killed run
//! can be told apart from a live one and resumed at once.

use crate::record::RunId;
use crate::store::Liveness;
use std::path::PathBuf;

/// The folder that holds every run's folder.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFolders {
    root: PathBuf,
}

impl RunFolders {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunFolders { root: root.into() }
    }

    /// Where a run's files go.
    pub fn dir(&self, run: RunId) -> PathBuf {
        self.root.join(run.0.to_string())
    }

    fn lock_path(&self, run: RunId) -> PathBuf {
        self.dir(run).join("run.lock")
    }
}

impl Liveness for RunFolders {
    /// A run without a lock file (one from before locks existed) is not judged dead.
    fn is_alive(&self, run: RunId) -> bool {
        let Ok(file) = std::fs::OpenOptions::new()
            .write(true)
            .open(self.lock_path(run))
        else {
            return true;
        };
        // Taking the lock means no process holds it; it is released when `file` drops.
        file.try_lock().is_err()
    }
}

/// The exclusive lock on a run's folder, held while this process works on the run.
pub struct RunLock {
    _file: std::fs::File,
}

/// Why a run's folder could not be locked.
pub enum LockError {
    /// Another process holds it.
    Busy(PathBuf),
    Io(PathBuf, std::io::Error),
}

impl RunLock {
    pub fn acquire(folders: &RunFolders, run: RunId) -> Result<RunLock, LockError> {
        let dir = folders.dir(run);
        let io = |e| LockError::Io(dir.clone(), e);
        std::fs::create_dir_all(&dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(folders.lock_path(run))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy(dir)),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_alive_and_a_dropped_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let folders = RunFolders::new(dir.path());
        let run = RunId(3);
        assert!(folders.is_alive(run), "no lock file: not judged");
        let lock = RunLock::acquire(&folders, run).ok().unwrap();
        assert!(folders.is_alive(run));
        assert!(matches!(
            RunLock::acquire(&folders, run),
            Err(LockError::Busy(_))
        ));
        drop(lock);
        assert!(!folders.is_alive(run));
    }
}
