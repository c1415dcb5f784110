//! The narrow file-system interface the writer uses, so tests can inject faults.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// An open segment file positioned at its end.
pub trait LogFile: Send {
    /// Append all of `buf`.
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()>;
    /// Make everything written so far durable (`fdatasync`).
    fn sync(&mut self) -> std::io::Result<()>;
}

/// Creates and opens segment files and syncs directories.
///
/// Contract: `open_append` opens an existing file for appending at its current end, after
/// truncating it to `truncate_to` bytes when given; `create_new` fails if the file exists.
pub trait Storage: Send + Sync + 'static {
    /// Open an existing segment for appending.
    fn open_append(&self, path: &Path, truncate_to: Option<u64>) -> std::io::Result<Box<dyn LogFile>>;
    /// Create a new, empty segment.
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>>;
    /// Sync a directory so that created files survive a crash.
    fn sync_dir(&self, path: &Path) -> std::io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsStorage;

struct OsFile(File);

impl LogFile for OsFile {
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.write_all(buf)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.0.sync_data()
    }
}

impl Storage for OsStorage {
    fn open_append(&self, path: &Path, truncate_to: Option<u64>) -> std::io::Result<Box<dyn LogFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        if let Some(len) = truncate_to {
            file.set_len(len)?;
            file.sync_all()?;
        }
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))?;
        Ok(Box::new(OsFile(file)))
    }
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(Box::new(OsFile(file)))
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        File::open(path)?.sync_all()
    }
}
