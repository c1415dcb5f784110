//! The replay cache: the replayed tables and the views that do not depend on the drill spec,
//! saved as Arrow IPC files so that the next `cutover analyze` or `cutover query` of the same,
//! unchanged log loads them instead of decoding every record again.
//!
//! # Layout
//!
//! `ROOT/<16 hex digits>/` per log, the digits a hash of the log directory's canonical path:
//!
//! - `manifest.json`: `stamp` (the cache key: `format` ([`FORMAT`]), `build` (this executable:
//!   package version, size and modification time), `log_dir`, `segments` (every segment file
//!   of the log: name, length, device and inode, modification and change times in ns),
//!   `next_seq` and `head` (the log's durable record count and head hash: every seal's chain
//!   and the active segment's content)), `stats` (the replay's counts) and
//!   `files` (name, rows, bytes, CRC-32C of each IPC file) and `view_keys` (for `requests`,
//!   the SLI selection it was computed with).
//! - `<name>.arrow`: one Arrow IPC file per table (`spans`, …) and per cached view
//!   (`writes`, …), its batches in log order.
//!
//! # Validity
//!
//! A cache is used only when its manifest's `format`, `build`, `segments`, `next_seq` and `head`
//! equal the current ones, so a log that grew or changed in any segment, or another build of
//! cutover, replays the log again and replaces the cache. Computing the current stamp checks
//! every seal and the chain (a small read per sealed segment) and rereads the active segment,
//! so a hit is never taken on a log whose seals or chain are broken: that is the replay's
//! error. The change time (which `touch` cannot set back) and the inode catch a same-size edit
//! with the old mtime restored; an edit inside a sealed segment that keeps its seal intact is
//! caught by the replay's and `cutover verify`'s content hash, not by the cache key.
//!
//! The cache root and each cache are private to their user (mode 0700); a cache directory
//! owned by another user, or open to others, is ignored. The `requests` view depends on the spec's SLI
//! selection: the cached one is used only with the same selection, and recomputed otherwise. A cache is written to a temporary sibling directory and
//! renamed into place, so a reader sees a whole cache or none; each file's length and CRC-32C
//! are checked when it is loaded. Anything wrong with a cache (unreadable, corrupt, from
//! another build) makes it a miss, never an error: the analyzer then replays the log.
//!
//! The cache holds about as many bytes as the replayed tables (for 10 M events, a few GB).
//! Deleting the directory is always safe.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::{FileDecoder, read_footer_length};
use arrow::ipc::root_as_footer;
use arrow::ipc::writer::FileWriter;
use serde::{Deserialize, Serialize};

use crate::tables::ReplayStats;

/// Version of the layout above; a different one is a miss.
pub const FORMAT: u32 = 2;

/// The cache root used when the caller names none: `$XDG_CACHE_HOME/cutover/replay`, else
/// `$HOME/.cache/cutover/replay`; `None` when neither variable is set.
pub fn default_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("cutover").join("replay"))
}

/// One segment file as the cache key sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentStamp {
    /// File name.
    pub name: String,
    /// Length in bytes.
    pub len: u64,
    /// Modification time, ns since the epoch (0 when the file system has none).
    pub mtime_ns: u64,
    /// Inode change time, ns since the epoch.
    pub ctime_ns: i128,
    /// Device and inode.
    pub dev_ino: (u64, u64),
}

/// What a cache must match: this build and the log's segment files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// [`FORMAT`].
    pub format: u32,
    /// This executable.
    pub build: String,
    /// The log directory, canonical.
    pub log_dir: PathBuf,
    /// Every `.seg` file of the log, by name.
    pub segments: Vec<SegmentStamp>,
    /// Durable records of the log.
    pub next_seq: u64,
    /// The log's head hash (hex); `None` for a version-1 log.
    pub head: Option<String>,
}

fn mtime_ns(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// This build: the package version, the executable's size and modification time, and a hash
/// of the view SQL and the table schemas, so that a cache written by another build of cutover
/// is a miss. An error when the executable cannot be identified (the cache is then off).
fn build_id() -> std::io::Result<String> {
    let exe = std::fs::metadata(std::env::current_exe()?)?;
    let mut h = DefaultHasher::new();
    for (name, sql) in crate::queries::VIEWS.iter().chain(crate::queries::LAZY_VIEWS) {
        (name, sql).hash(&mut h);
    }
    crate::tables::schemas_fingerprint().hash(&mut h);
    Ok(format!(
        "{}-{}-{}-{:016x}",
        env!("CARGO_PKG_VERSION"),
        exe.len(),
        mtime_ns(&exe),
        h.finish()
    ))
}

impl Stamp {
    /// The stamp of the log in `log_dir` now.
    pub fn of(log_dir: &Path) -> std::io::Result<Stamp> {
        let log_dir = std::fs::canonicalize(log_dir)?;
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(&log_dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".seg") {
                continue;
            }
            // The file itself, not a symlink to it: the replay reads the target.
            let meta = std::fs::metadata(entry.path())?;
            use std::os::unix::fs::MetadataExt;
            segments.push(SegmentStamp {
                name,
                len: meta.len(),
                mtime_ns: mtime_ns(&meta),
                ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                dev_ino: (meta.dev(), meta.ino()),
            });
        }
        segments.sort_by(|a, b| a.name.cmp(&b.name));
        let digest = cutover_eventlog::LogReader::open(&log_dir)
            .and_then(|r| r.quick_digest())
            .map_err(std::io::Error::other)?;
        Ok(Stamp {
            format: FORMAT,
            build: build_id()?,
            log_dir,
            segments,
            next_seq: digest.next_seq,
            head: digest.head.as_ref().map(cutover_eventlog::hex),
        })
    }

    /// This log's directory under `root`.
    pub fn dir(&self, root: &Path) -> PathBuf {
        let mut h = DefaultHasher::new();
        self.log_dir.hash(&mut h);
        root.join(format!("{:016x}", h.finish()))
    }
}

/// One IPC file of a cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileEntry {
    name: String,
    rows: u64,
    bytes: u64,
    crc32c: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    stamp: Stamp,
    stats: ReplayStats,
    files: Vec<FileEntry>,
    /// For each cached view that depends on the spec, the spec's part it was computed with.
    view_keys: BTreeMap<String, String>,
}

/// A table or view as the cache keeps it.
#[derive(Debug, Clone)]
pub struct CachedTable {
    /// Its name (`spans`, `writes`, …).
    pub name: String,
    /// Columns.
    pub schema: SchemaRef,
    /// Rows, in the order they were saved.
    pub batches: Vec<RecordBatch>,
}

/// A loaded cache.
#[derive(Debug)]
pub struct Loaded {
    /// Every saved table and view, by name.
    pub tables: BTreeMap<String, CachedTable>,
    /// The counts of the replay that wrote the cache.
    pub stats: ReplayStats,
    /// For each cached view that depends on the spec, the spec's part it was computed with
    /// (see [`store`]).
    pub view_keys: BTreeMap<String, String>,
    /// Bytes read.
    pub bytes: u64,
}

/// Loads the cache of `stamp`'s log under `root`. `Ok(None)`: no cache, or one for another
/// build or another state of the log. `Err`: a cache that matches but cannot be read (the
/// caller replays and overwrites it).
pub fn load(root: &Path, stamp: &Stamp) -> Result<Option<Loaded>, String> {
    let dir = stamp.dir(root);
    if let Ok(meta) = std::fs::metadata(&dir) {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me || meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(cache = %dir.display(), owner = meta.uid(), "ignoring a replay cache that is not private to this user");
            return Ok(None);
        }
    }
    let manifest = match std::fs::read(dir.join("manifest.json")) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", dir.join("manifest.json").display())),
    };
    let manifest: Manifest =
        serde_json::from_slice(&manifest).map_err(|e| format!("{}: {e}", dir.join("manifest.json").display()))?;
    if &manifest.stamp != stamp {
        return Ok(None);
    }
    // The files are read and decoded by one thread per core, largest first.
    let mut order: Vec<&FileEntry> = manifest.files.iter().collect();
    order.sort_by_key(|f| std::cmp::Reverse(f.bytes));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(order.len())
        .max(1);
    let results: Vec<Result<CachedTable, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    while let Some(f) = order.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        out.push(load_file(&dir, f));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec![Err("a cache loader panicked".into())]))
            .collect()
    });
    let mut tables = BTreeMap::new();
    for t in results {
        let t = t?;
        tables.insert(t.name.clone(), t);
    }
    let bytes = manifest.files.iter().map(|f| f.bytes).sum();
    Ok(Some(Loaded {
        tables,
        stats: manifest.stats,
        view_keys: manifest.view_keys,
        bytes,
    }))
}

/// Reads, checks and decodes one file of the cache in `dir`.
fn load_file(dir: &Path, f: &FileEntry) -> Result<CachedTable, String> {
    let path = dir.join(format!("{}.arrow", f.name));
    let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if data.len() as u64 != f.bytes || crc32c::crc32c(&data) != f.crc32c {
        return Err(format!(
            "{}: length or checksum differs from the manifest",
            path.display()
        ));
    }
    let (schema, batches) = decode(Buffer::from_vec(data)).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows as u64 != f.rows {
        return Err(format!("{}: {rows} rows, the manifest says {}", path.display(), f.rows));
    }
    Ok(CachedTable {
        name: f.name.clone(),
        schema,
        batches,
    })
}

/// Decodes an Arrow IPC file held in `buf`; the arrays share `buf` (no copy).
fn decode(buf: Buffer) -> Result<(SchemaRef, Vec<RecordBatch>), arrow::error::ArrowError> {
    use arrow::error::ArrowError;
    if buf.len() < 10 {
        return Err(ArrowError::IpcError("file too short".into()));
    }
    let trailer = buf.len() - 10;
    let footer_len = read_footer_length(buf[trailer..].try_into().expect("10 bytes"))?;
    let footer_start = trailer
        .checked_sub(footer_len)
        .ok_or_else(|| ArrowError::IpcError("footer longer than the file".into()))?;
    let footer = root_as_footer(&buf[footer_start..trailer])
        .map_err(|e| ArrowError::IpcError(format!("unreadable footer: {e}")))?;
    let schema = Arc::new(arrow::ipc::convert::fb_to_schema(
        footer
            .schema()
            .ok_or_else(|| ArrowError::IpcError("no schema".into()))?,
    ));
    let mut decoder = FileDecoder::new(schema.clone(), footer.version());
    for block in footer.dictionaries().iter().flatten() {
        let len = block.bodyLength() as usize + block.metaDataLength() as usize;
        decoder.read_dictionary(block, &buf.slice_with_length(block.offset() as usize, len))?;
    }
    let mut batches = Vec::new();
    for block in footer.recordBatches().iter().flatten() {
        let len = block.bodyLength() as usize + block.metaDataLength() as usize;
        if let Some(b) = decoder.read_record_batch(block, &buf.slice_with_length(block.offset() as usize, len))? {
            batches.push(b);
        }
    }
    Ok((schema, batches))
}

/// Saves `tables` as the cache of `stamp`'s log under `root`, replacing any older one.
/// `view_keys` names, for each saved view that depends on the spec, the spec's part it was
/// computed with; a later run uses such a view only when its own key is the same.
pub fn store(
    root: &Path,
    stamp: &Stamp,
    stats: &ReplayStats,
    tables: &[CachedTable],
    view_keys: &BTreeMap<String, String>,
) -> Result<u64, String> {
    let dir = stamp.dir(root);
    // Unique per writer, also for several writers in one process.
    static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.with_extension(format!("tmp-{}-{n}", std::process::id()));
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| io(root, e))?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(|e| io(&tmp, e))?;
    }
    let written = write_all(&tmp, stamp, stats, tables, view_keys).and_then(|bytes| {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io(&dir, e))?;
        }
        // Fails when another writer put its cache in place meanwhile: that one stays.
        std::fs::rename(&tmp, &dir).map_err(|e| io(&dir, e))?;
        Ok(bytes)
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        prune(root, &dir);
    }
    written
}

/// Best effort: removes the caches under `root` whose log directory no longer exists, and
/// temporary directories more than an hour old (left by interrupted writers).
fn prune(root: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == keep {
            continue;
        }
        let is_tmp = path
            .extension()
            .is_some_and(|e| e.to_string_lossy().starts_with("tmp-"));
        let dead = if is_tmp {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 3600)
        } else {
            std::fs::read(path.join("manifest.json"))
                .ok()
                .and_then(|m| serde_json::from_slice::<serde_json::Value>(&m).ok())
                .and_then(|m| m["stamp"]["log_dir"].as_str().map(PathBuf::from))
                .is_some_and(|log| !log.exists())
        };
        if dead {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Counts and checksums the bytes written through it.
struct Summed<W> {
    inner: W,
    bytes: u64,
    crc: u32,
}

impl<W: Write> Write for Summed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_all(
    tmp: &Path,
    stamp: &Stamp,
    stats: &ReplayStats,
    tables: &[CachedTable],
    view_keys: &BTreeMap<String, String>,
) -> Result<u64, String> {
    let mut files = Vec::new();
    let mut total = 0;
    for t in tables {
        let path = tmp.join(format!("{}.arrow", t.name));
        let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let file = std::fs::File::create(&path).map_err(|e| failed(&e))?;
        let mut out = Summed {
            inner: std::io::BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
            crc: 0,
        };
        let mut w = FileWriter::try_new(&mut out, &t.schema).map_err(|e| failed(&e))?;
        for b in &t.batches {
            w.write(b).map_err(|e| failed(&e))?;
        }
        w.finish().map_err(|e| failed(&e))?;
        drop(w);
        out.flush().map_err(|e| failed(&e))?;
        total += out.bytes;
        files.push(FileEntry {
            name: t.name.clone(),
            rows: t.batches.iter().map(|b| b.num_rows() as u64).sum(),
            bytes: out.bytes,
            crc32c: out.crc,
        });
    }
    let manifest = Manifest {
        stamp: stamp.clone(),
        stats: stats.clone(),
        files,
        view_keys: view_keys.clone(),
    };
    let path = tmp.join("manifest.json");
    let mut f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(&serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(total)
}
