//! Fault-injecting [`Storage`] for tests of the log and of its users (the daemon's error
//! paths). A real file system underneath, with fsync failing on demand.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::fs::{LogFile, OsStorage, Storage};

/// Storage whose fsyncs succeed `ok_syncs` times (counting every segment file), then fail with
/// an I/O error, as a disk that stops accepting writes would.
#[derive(Debug, Clone)]
pub struct FailingSyncStorage {
    ok_syncs: usize,
    syncs: Arc<AtomicUsize>,
}

impl FailingSyncStorage {
    /// Fails every fsync after the first `ok_syncs`.
    pub fn new(ok_syncs: usize) -> Self {
        FailingSyncStorage {
            ok_syncs,
            syncs: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// fsync calls attempted so far.
    pub fn syncs(&self) -> usize {
        self.syncs.load(Ordering::SeqCst)
    }
}

struct FailingFile {
    inner: Box<dyn LogFile>,
    ok_syncs: usize,
    syncs: Arc<AtomicUsize>,
}

impl LogFile for FailingFile {
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(buf)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        if self.syncs.fetch_add(1, Ordering::SeqCst) >= self.ok_syncs {
            return Err(std::io::Error::other("injected fsync failure"));
        }
        self.inner.sync()
    }
}

impl FailingSyncStorage {
    fn wrap(&self, inner: Box<dyn LogFile>) -> Box<dyn LogFile> {
        Box::new(FailingFile {
            inner,
            ok_syncs: self.ok_syncs,
            syncs: self.syncs.clone(),
        })
    }
}

impl Storage for FailingSyncStorage {
    fn open_append(&self, path: &Path, truncate_to: Option<u64>) -> std::io::Result<Box<dyn LogFile>> {
        Ok(self.wrap(OsStorage.open_append(path, truncate_to)?))
    }
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
        Ok(self.wrap(OsStorage.create_new(path)?))
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        OsStorage.sync_dir(path)
    }
}
