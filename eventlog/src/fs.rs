//! The narrow file-system interface of the log, so tests can inject faults (failed fsync,
//! `ENOSPC`, power loss: see [`crate::testing`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open file of the log: a segment positioned at its end, or the durable mark.
pub trait LogFile: Send {
    /// Append all of `buf` at the end.
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()>;
    /// Make everything written so far durable (`fdatasync`).
    fn sync(&mut self) -> std::io::Result<()>;
    /// Cut the file back to `len` bytes (after a failed write) and continue appending there.
    fn truncate(&mut self, len: u64) -> std::io::Result<()>;
    /// Replace the first `buf.len()` bytes in place (the durable mark), without syncing.
    fn overwrite(&mut self, buf: &[u8]) -> std::io::Result<()>;
}

/// Everything the writer and the readers do to a log directory.
///
/// Contract: `open_append` opens an existing file for appending at its current end, after
/// truncating it to `truncate_to` bytes (and syncing that) when given; `create_new` fails if
/// the file exists; `open_mark` opens the small durable-mark file, creating it empty when
/// missing; `read` sees every write made so far (the page cache); `drop_cache` asks that later
/// reads of `path` come from the disk rather than from cached pages (best effort).
pub trait Storage: Send + Sync + 'static {
    /// Open an existing segment for appending.
    fn open_append(&self, path: &Path, truncate_to: Option<u64>) -> std::io::Result<Box<dyn LogFile>>;
    /// Create a new, empty segment.
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>>;
    /// Open (creating when missing) the durable-mark file.
    fn open_mark(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>>;
    /// Create a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()>;
    /// Sync a directory so that created and removed files survive a crash.
    fn sync_dir(&self, path: &Path) -> std::io::Result<()>;
    /// Names of the entries of a directory.
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>>;
    /// The whole content of a file.
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;
    /// Up to `len` bytes of a file from `offset` (fewer at its end).
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> std::io::Result<Vec<u8>>;
    /// A file's length.
    fn len(&self, path: &Path) -> std::io::Result<u64>;
    /// Remove a file.
    fn remove(&self, path: &Path) -> std::io::Result<()>;
    /// Drop cached pages of a file (see the contract above).
    fn drop_cache(&self, path: &Path) -> std::io::Result<()>;
    /// Bytes free for an unprivileged writer on the file system of `dir`, when known.
    fn free_bytes(&self, dir: &Path) -> Option<u64>;
    /// Take the writer's exclusive lock on `dir`; `Err(holder)` when another process (or
    /// another writer in this one) holds it. The lock lasts as long as the returned guard.
    fn lock(&self, dir: &Path) -> Result<Box<dyn Send + Sync>, LockError>;
}

/// Why the writer's lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another writer holds it; what it wrote into the lock file.
    Held(String),
    /// The lock file could not be opened or locked.
    Io(PathBuf, std::io::Error),
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
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)?;
        std::io::Seek::seek(&mut self.0, std::io::SeekFrom::Start(len))?;
        Ok(())
    }
    fn overwrite(&mut self, buf: &[u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, buf, 0)
    }
}

/// Name of the writer's lock file.
pub const LOCK_FILE: &str = "LOCK";

impl Storage for OsStorage {
    fn open_append(&self, path: &Path, truncate_to: Option<u64>) -> std::io::Result<Box<dyn LogFile>> {
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        if let Some(len) = truncate_to {
            file.set_len(len)?;
            file.sync_all()?;
        }
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))?;
        Ok(Box::new(OsFile(file)))
    }
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(Box::new(OsFile(file)))
    }
    fn open_mark(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
        Ok(Box::new(OsFile(file)))
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        File::open(path)?.sync_all()
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            out.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::with_capacity(len);
        f.take(len as u64).read_to_end(&mut out)?;
        Ok(out)
    }
    fn len(&self, path: &Path) -> std::io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(path)
    }
    fn drop_cache(&self, path: &Path) -> std::io::Result<()> {
        let f = File::open(path)?;
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)?;
        Ok(())
    }
    fn free_bytes(&self, dir: &Path) -> Option<u64> {
        let s = rustix::fs::statvfs(dir).ok()?;
        Some(s.f_bavail.saturating_mul(s.f_frsize))
    }
    fn lock(&self, dir: &Path) -> Result<Box<dyn Send + Sync>, LockError> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LockError::Io(path.clone(), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(LockError::Held(holder.trim().to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(LockError::Io(path, e)),
        }
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let me = format!("pid {} ({exe}), started at unix time {started}", std::process::id());
        file.set_len(0)
            .and_then(|()| std::os::unix::fs::FileExt::write_all_at(&file, me.as_bytes(), 0))
            .map_err(|e| LockError::Io(path.clone(), e))?;
        let _ = file.flush();
        Ok(Box::new(file))
    }
}
