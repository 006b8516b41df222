//! Locks that make one process compute a stage entry while the others wait for it: sweep
//! workers sharing a cache never compute the same features, factor or net twice.
//!
//! A lock is an exclusive OS lock on `cache/locks/<stage>/<key>.lock`, released when the
//! holder drops it or dies, however it dies. Where the file system cannot lock, work goes on
//! without: entries are written atomically, so the worst case is computing one twice.

use crate::cache::StageCache;
use std::fs::{File, OpenOptions, TryLockError};

pub struct StageLock {
    _file: Option<File>,
}

impl StageLock {
    /// Hold the lock of `key` in `stage`, waiting while another process holds it.
    pub fn acquire(cache: &StageCache, stage: &str, key: &str) -> StageLock {
        let dir = cache.root().join("locks").join(stage);
        let path = dir.join(format!("{key}.lock"));
        let opened = std::fs::create_dir_all(&dir).and_then(|_| {
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
        });
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("cannot lock {}: {e}; going on without", path.display());
                return StageLock { _file: None };
            }
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                tracing::info!(
                    "waiting for another process computing {stage} {}",
                    &key[..key.len().min(12)]
                );
                if let Err(e) = file.lock() {
                    tracing::warn!("cannot lock {}: {e}; going on without", path.display());
                }
            }
            Err(TryLockError::Error(e)) => {
                tracing::warn!("cannot lock {}: {e}; going on without", path.display());
            }
        }
        StageLock { _file: Some(file) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StageCache::new(dir.path());
        let first = StageLock::acquire(&cache, "net", "abc");
        let released = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&released);
        let root = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let _second = StageLock::acquire(&StageCache::new(root), "net", "abc");
            seen.load(Ordering::SeqCst)
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        released.store(true, Ordering::SeqCst);
        drop(first);
        assert!(
            waiter.join().unwrap(),
            "the second lock came only after the first went"
        );
    }
}
