//! Fault-injecting [`Storage`]s for tests of the log and of its users (the daemon's error
//! paths):
//!
//! - [`FailingSyncStorage`]: the real file system, with fsync failing on demand.
//! - [`SimStorage`]: an in-memory file system with a page cache and a disk, which can lose
//!   power at any operation (dropping, zeroing or keeping each page written since its last
//!   sync, and forgetting files whose directory was never synced), fail fsync as Linux does
//!   (the pages stay readable in the cache but never reach the disk), and run out of space.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::fs::{LockError, LogFile, OsStorage, Storage};

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

    fn wrap(&self, inner: Box<dyn LogFile>) -> Box<dyn LogFile> {
        Box::new(FailingFile {
            inner,
            ok_syncs: self.ok_syncs,
            syncs: self.syncs.clone(),
        })
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
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.inner.truncate(len)
    }
    fn overwrite(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.overwrite(buf)
    }
}

impl Storage for FailingSyncStorage {
    fn open_append(&self, path: &Path, truncate_to: Option<u64>) -> std::io::Result<Box<dyn LogFile>> {
        Ok(self.wrap(OsStorage.open_append(path, truncate_to)?))
    }
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
        Ok(self.wrap(OsStorage.create_new(path)?))
    }
    fn open_mark(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
        OsStorage.open_mark(path)
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        OsStorage.create_dir_all(dir)
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        OsStorage.sync_dir(path)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        OsStorage.list(dir)
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        OsStorage.read(path)
    }
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        OsStorage.read_at(path, offset, len)
    }
    fn len(&self, path: &Path) -> std::io::Result<u64> {
        OsStorage.len(path)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        OsStorage.remove(path)
    }
    fn drop_cache(&self, path: &Path) -> std::io::Result<()> {
        OsStorage.drop_cache(path)
    }
    fn free_bytes(&self, dir: &Path) -> Option<u64> {
        OsStorage.free_bytes(dir)
    }
    fn lock(&self, dir: &Path) -> Result<Box<dyn Send + Sync>, LockError> {
        OsStorage.lock(dir)
    }
}

/// Granularity at which [`SimStorage`] loses writes on power loss (a disk sector, small so
/// that tiny test segments tear in many places).
pub const SIM_PAGE: usize = 64;

#[derive(Debug, Default, Clone)]
struct SimFile {
    /// What reads see (the page cache).
    cache: Vec<u8>,
    /// What survives a power loss.
    disk: Vec<u8>,
    /// Whether the file's directory entry is durable.
    linked: bool,
    /// An fsync of it failed: its unsynced pages are clean in the cache but not on the disk.
    sync_failed: bool,
}

#[derive(Debug, Default)]
struct SimState {
    files: BTreeMap<PathBuf, SimFile>,
    /// Mutating operations so far.
    ops: u64,
    /// The operation at which power is lost.
    crash_at: Option<u64>,
    crashed: bool,
    /// fsyncs fail from this operation on.
    fail_syncs_from: Option<u64>,
    /// Most bytes all files may hold.
    capacity: Option<u64>,
    /// The next segment write panics (a bug in the writer thread).
    panic_on_write: bool,
    /// Segment writes take this long.
    write_delay: Option<std::time::Duration>,
    locked: BTreeSet<PathBuf>,
    rng: u64,
}

impl SimState {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Counts a mutating operation; fails it (and every later one) once power is lost.
    fn op(&mut self) -> std::io::Result<()> {
        if self.crashed {
            return Err(std::io::Error::other("simulated power loss"));
        }
        self.ops += 1;
        if self.crash_at.is_some_and(|c| self.ops >= c) {
            self.crashed = true;
            return Err(std::io::Error::other("simulated power loss"));
        }
        Ok(())
    }

    fn used(&self) -> u64 {
        self.files.values().map(|f| f.cache.len() as u64).sum()
    }

    fn file(&mut self, path: &Path) -> std::io::Result<&mut SimFile> {
        self.files
            .get_mut(path)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("{}", path.display())))
    }
}

/// In-memory storage that simulates power loss, failed fsyncs and a full disk (see the module
/// docs). Clones share one file system.
#[derive(Debug, Clone, Default)]
pub struct SimStorage {
    state: Arc<Mutex<SimState>>,
}

impl SimStorage {
    /// An empty file system; `seed` drives every random choice.
    pub fn new(seed: u64) -> SimStorage {
        let s = SimStorage::default();
        s.lock_state().rng = seed;
        s
    }

    fn lock_state(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mutating operations so far.
    pub fn ops(&self) -> u64 {
        self.lock_state().ops
    }

    /// Lose power at the `n`-th mutating operation from now (that operation and all later
    /// ones fail until [`SimStorage::power_loss`]).
    pub fn crash_after(&self, n: u64) {
        let mut s = self.lock_state();
        s.crash_at = Some(s.ops + n);
    }

    /// Whether power has been lost.
    pub fn crashed(&self) -> bool {
        self.lock_state().crashed
    }

    /// Every fsync from the `n`-th mutating operation from now fails.
    pub fn fail_syncs_after(&self, n: u64) {
        let mut s = self.lock_state();
        s.fail_syncs_from = Some(s.ops + n);
    }

    /// The disk works again: fsyncs no longer fail.
    pub fn heal(&self) {
        self.lock_state().fail_syncs_from = None;
    }

    /// The next segment write panics, as a bug in the writer thread would.
    pub fn panic_on_next_write(&self) {
        self.lock_state().panic_on_write = true;
    }

    /// Every segment write takes `delay` (a disk that has stopped answering).
    pub fn delay_writes(&self, delay: Option<std::time::Duration>) {
        self.lock_state().write_delay = delay;
    }

    /// Limits the bytes all files may hold (`None`: unlimited).
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.lock_state().capacity = bytes;
    }

    /// The machine comes back after a power loss: each file keeps, per page written since its
    /// last sync, the new bytes, the old bytes or zeros, and a length between its synced and
    /// its cached one; files whose directory entry was never synced may vanish. Locks are
    /// released, fsync failures cleared, and operations succeed again.
    pub fn power_loss(&self) {
        let mut s = self.lock_state();
        let paths: Vec<PathBuf> = s.files.keys().cloned().collect();
        for p in paths {
            let roll = s.next();
            let f = s.files.get(&p).cloned().expect("listed");
            if !f.linked && roll % 2 == 0 {
                s.files.remove(&p);
                continue;
            }
            let (lo, hi) = (f.disk.len().min(f.cache.len()), f.disk.len().max(f.cache.len()));
            let len = match s.next() % 3 {
                0 => f.disk.len(),
                1 => f.cache.len(),
                _ => lo + (s.next() as usize) % (hi - lo + 1),
            };
            let mut out = vec![0u8; len];
            for page in (0..len).step_by(SIM_PAGE) {
                let end = (page + SIM_PAGE).min(len);
                let old = |i: usize| f.disk.get(i).copied().unwrap_or(0);
                let new = |i: usize| f.cache.get(i).copied().unwrap_or(0);
                let same = (page..end).all(|i| old(i) == new(i));
                // A sector that already held durable bytes comes back old or new, never zeroed
                // (sector writes are atomic); one wholly past the durable end may read as zeros
                // (an allocated but unwritten block).
                let choices = if page + SIM_PAGE <= f.disk.len() || page < f.disk.len() {
                    2
                } else {
                    3
                };
                let choice = if same { 0 } else { s.next() % choices };
                for (i, b) in out[page..end].iter_mut().enumerate() {
                    *b = match choice {
                        0 => old(page + i),
                        1 => new(page + i),
                        _ => 0,
                    };
                }
            }
            s.files.insert(
                p,
                SimFile {
                    cache: out.clone(),
                    disk: out,
                    linked: true,
                    sync_failed: false,
                },
            );
        }
        s.crashed = false;
        s.crash_at = None;
        s.fail_syncs_from = None;
        s.locked.clear();
    }

    /// The cached content of a file, for assertions.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock_state().files.get(path).map(|f| f.cache.clone())
    }

    /// Replaces a file's content on disk and in the cache (damage injected by a test).
    pub fn set_contents(&self, path: &Path, bytes: Vec<u8>) {
        let mut s = self.lock_state();
        let f = s.files.entry(path.to_path_buf()).or_default();
        f.cache = bytes.clone();
        f.disk = bytes;
        f.linked = true;
    }
}

struct SimHandle {
    state: Arc<Mutex<SimState>>,
    path: PathBuf,
}

impl SimHandle {
    fn with<T>(&self, f: impl FnOnce(&mut SimState) -> std::io::Result<T>) -> std::io::Result<T> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    }
}

impl LogFile for SimHandle {
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let path = self.path.clone();
        if let Some(d) = self.with(|s| Ok(s.write_delay))? {
            std::thread::sleep(d);
        }
        if self.with(|s| Ok(std::mem::take(&mut s.panic_on_write)))? {
            panic!("injected panic in a segment write");
        }
        self.with(|s| {
            if let Err(e) = s.op() {
                // Power went out during the write: some prefix of it reached the cache.
                let keep = (s.next() as usize) % (buf.len() + 1);
                if let Ok(f) = s.file(&path) {
                    f.cache.extend_from_slice(&buf[..keep]);
                }
                return Err(e);
            }
            let room = s.capacity.map(|c| c.saturating_sub(s.used()) as usize);
            let f = s.file(&path)?;
            match room {
                Some(room) if room < buf.len() => {
                    f.cache.extend_from_slice(&buf[..room]);
                    Err(std::io::Error::from_raw_os_error(28))
                }
                _ => {
                    f.cache.extend_from_slice(buf);
                    Ok(())
                }
            }
        })
    }
    fn sync(&mut self) -> std::io::Result<()> {
        let path = self.path.clone();
        self.with(|s| {
            s.op()?;
            let fail = s.fail_syncs_from.is_some_and(|n| s.ops >= n);
            let f = s.file(&path)?;
            if fail || f.sync_failed {
                f.sync_failed = true;
                return Err(std::io::Error::other("injected fsync failure"));
            }
            f.disk = f.cache.clone();
            Ok(())
        })
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        let path = self.path.clone();
        self.with(|s| {
            s.op()?;
            s.file(&path)?.cache.truncate(len as usize);
            Ok(())
        })
    }
    fn overwrite(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let path = self.path.clone();
        self.with(|s| {
            s.op()?;
            let f = s.file(&path)?;
            if f.cache.len() < buf.len() {
                f.cache.resize(buf.len(), 0);
            }
            f.cache[..buf.len()].copy_from_slice(buf);
            Ok(())
        })
    }
}

struct SimLock {
    state: Arc<Mutex<SimState>>,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .locked
            .remove(&self.dir);
    }
}

impl Storage for SimStorage {
    fn open_append(&self, path: &Path, truncate_to: Option<u64>) -> std::io::Result<Box<dyn LogFile>> {
        let mut s = self.lock_state();
        s.file(path)?;
        if let Some(len) = truncate_to {
            s.op()?;
            let f = s.file(path)?;
            f.cache.truncate(len as usize);
            // The real storage syncs the cut at once.
            s.op()?;
            let f = s.file(path)?;
            f.disk = f.cache.clone();
        }
        Ok(Box::new(SimHandle {
            state: self.state.clone(),
            path: path.to_path_buf(),
        }))
    }
    fn create_new(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
        let mut s = self.lock_state();
        s.op()?;
        if s.files.contains_key(path) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{}", path.display()),
            ));
        }
        s.files.insert(path.to_path_buf(), SimFile::default());
        Ok(Box::new(SimHandle {
            state: self.state.clone(),
            path: path.to_path_buf(),
        }))
    }
    fn open_mark(&self, path: &Path) -> std::io::Result<Box<dyn LogFile>> {
        let mut s = self.lock_state();
        if !s.files.contains_key(path) {
            s.op()?;
            s.files.insert(path.to_path_buf(), SimFile::default());
        }
        Ok(Box::new(SimHandle {
            state: self.state.clone(),
            path: path.to_path_buf(),
        }))
    }
    fn create_dir_all(&self, _dir: &Path) -> std::io::Result<()> {
        Ok(())
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        let mut s = self.lock_state();
        s.op()?;
        for (p, f) in s.files.iter_mut() {
            if p.parent() == Some(path) {
                f.linked = true;
            }
        }
        Ok(())
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        let s = self.lock_state();
        Ok(s.files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        Ok(self.lock_state().file(path)?.cache.clone())
    }
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut s = self.lock_state();
        let f = s.file(path)?;
        let start = (offset as usize).min(f.cache.len());
        let end = (start + len).min(f.cache.len());
        Ok(f.cache[start..end].to_vec())
    }
    fn len(&self, path: &Path) -> std::io::Result<u64> {
        Ok(self.lock_state().file(path)?.cache.len() as u64)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        let mut s = self.lock_state();
        s.op()?;
        s.files.remove(path);
        Ok(())
    }
    fn drop_cache(&self, path: &Path) -> std::io::Result<()> {
        let mut s = self.lock_state();
        let f = s.file(path)?;
        if f.sync_failed {
            // Pages whose write-back failed are clean in the cache: dropping them exposes the
            // disk's content.
            f.cache = f.disk.clone();
            f.sync_failed = false;
        }
        Ok(())
    }
    fn free_bytes(&self, _dir: &Path) -> Option<u64> {
        let s = self.lock_state();
        s.capacity.map(|c| c.saturating_sub(s.used()))
    }
    fn lock(&self, dir: &Path) -> Result<Box<dyn Send + Sync>, LockError> {
        let mut s = self.lock_state();
        if !s.locked.insert(dir.to_path_buf()) {
            return Err(LockError::Held("another simulated writer".into()));
        }
        Ok(Box::new(SimLock {
            state: self.state.clone(),
            dir: dir.to_path_buf(),
        }))
    }
}

/// A version-1 segment holding `payloads` from `base_seq`, for tests of the upgrade path.
pub fn v1_segment(base_seq: u64, payloads: &[&[u8]]) -> Vec<u8> {
    crate::format::encode_v1(base_seq, payloads)
}

/// One framed version-2 event record, for tests that write bytes a writer never acknowledged.
pub fn event_record(seq: u64, synced: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    crate::format::encode_record(&mut out, crate::format::KIND_EVENT, seq, synced, payload);
    out
}

/// Runs the log's decoders over arbitrary bytes and checks what they return, for the fuzz
/// target `log_segment`: as a whole file, and as records behind a valid header (so that the
/// fuzzer reaches the record and seal parsers), with every scan option; then the resync scan
/// that recovery and salvage use. Panics on a violated invariant, as on any panic inside.
pub fn fuzz_segment(data: &[u8]) {
    use crate::format::{self, ScanEnd, ScanOptions};
    let mut framed = format::encode_header(0).to_vec();
    framed.extend_from_slice(data);
    for buf in [data, &framed[..]] {
        for (is_last, durable_len, stop_at_seq) in [
            (true, 0, None),
            (true, u64::MAX, None),
            (false, 0, None),
            (true, 64, Some(3)),
        ] {
            let opts = ScanOptions {
                is_last,
                stop_at_seq,
                hash: true,
                durable_len,
            };
            let mut visited = 0u64;
            let Ok(scan) = format::scan_segment(Path::new("fuzz.seg"), buf, opts, |_, payload| {
                assert!(!payload.is_empty());
                visited += 1;
            }) else {
                continue;
            };
            assert_eq!(scan.records, visited);
            assert!(scan.valid_len <= buf.len() as u64);
            if let ScanEnd::TornTail { offset, .. } | ScanEnd::Corrupt { offset, .. } = scan.end {
                assert!(offset <= buf.len() as u64);
                assert!(is_last || matches!(scan.end, ScanEnd::Corrupt { .. }));
            }
            if let Some(s) = stop_at_seq {
                assert!(scan.base_seq + scan.records <= s.max(scan.base_seq));
            }
        }
        let mut from = 0;
        while let Some((at, frame)) = format::resync(buf, from, 0) {
            assert!(at >= from && at + frame.total() <= buf.len());
            assert!(format::parse_frame(&buf[at..]).is_ok());
            from = at + 1;
        }
    }
}
