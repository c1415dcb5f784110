//! The single writer: group commit, fsync policy, rolling, poisoning and recovery.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::format::{self, SEGMENT_HEADER_BYTES, ScanEnd};
use crate::fs::{LogFile, OsStorage, Storage};
use crate::{LogError, MAX_RECORD_BYTES};

/// When appended records are made durable; see the crate docs for the loss window of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync every write batch before acknowledging it (group commit). Loss window: none.
    /// Latency cost: one fsync per batch, shared by all appends in the batch.
    Always,
    /// Acknowledge once written to the OS; fsync at most every `interval`. Loss window: up to
    /// `interval` of acknowledged records on an OS crash or power loss (none on a daemon crash).
    Interval {
        /// Longest time between fsyncs while there is unsynced data.
        interval: Duration,
    },
}

/// How much of the log [`LogWriter::open`] verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryScan {
    /// Every record of the last (active) segment, where a crash can leave a torn tail; of the
    /// sealed segments only the headers, since they were synced before the roll and every
    /// reader verifies their records. Restart time does not grow with the log. The default.
    #[default]
    LastSegment,
    /// Every record of every segment: a damaged sealed segment stops the daemon at start
    /// instead of the first reader. Restart time grows with the log.
    Full,
}

/// Writer settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Roll to a new segment once the active one reaches this size.
    pub segment_bytes: u64,
    /// Durability policy.
    pub fsync: FsyncPolicy,
    /// Append requests that may wait for the writer before appends fail with
    /// [`LogError::Overloaded`].
    pub queue_capacity: usize,
    /// What opening verifies.
    pub recovery_scan: RecoveryScan,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 64 * 1024 * 1024,
            fsync: FsyncPolicy::Always,
            queue_capacity: 4096,
            recovery_scan: RecoveryScan::LastSegment,
        }
    }
}

/// Where an append landed: records `first_seq .. first_seq + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// Sequence number of the first record.
    pub first_seq: u64,
    /// Number of records.
    pub count: u64,
}

/// What [`LogWriter::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segment files present.
    pub segments: usize,
    /// Valid records found.
    pub records: u64,
    /// Bytes cut from the end of the last segment (a torn append).
    pub truncated_bytes: u64,
    /// Why the tail was cut, when it was.
    pub torn_reason: Option<String>,
}

/// Whether the writer still accepts appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Accepting appends.
    Ok,
    /// A write or fsync failed; nothing more is accepted.
    Poisoned {
        /// `write` or `fsync`.
        operation: &'static str,
    },
}

#[derive(Default)]
struct Shared {
    poisoned: Mutex<Option<&'static str>>,
    records: AtomicU64,
    bytes: AtomicU64,
    fsyncs: AtomicU64,
    batches: AtomicU64,
}

impl Shared {
    fn poisoned(&self) -> Option<&'static str> {
        *self.poisoned.lock().expect("poison flag lock")
    }
}

/// Counters of the writer's work since it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Records appended.
    pub records: u64,
    /// Bytes written including framing.
    pub bytes: u64,
    /// fsync calls.
    pub fsyncs: u64,
    /// Write batches (group commits).
    pub batches: u64,
}

struct Request {
    records: Vec<Vec<u8>>,
    wait_for_sync: bool,
    reply: oneshot::Sender<Result<AppendReceipt, LogError>>,
}

/// The log's only writer. Cheap to share behind an `Arc`; appends from many tasks are batched.
pub struct LogWriter {
    tx: Option<SyncSender<Request>>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LogWriter {
    /// Opens (creating if needed) the log in `dir` on the real file system, recovering it.
    pub fn open(dir: &Path, config: LogConfig) -> Result<(LogWriter, Recovery), LogError> {
        Self::open_with_storage(dir, config, Arc::new(OsStorage))
    }

    /// Opens the log through `storage` (tests inject faults here).
    pub fn open_with_storage(
        dir: &Path,
        config: LogConfig,
        storage: Arc<dyn Storage>,
    ) -> Result<(LogWriter, Recovery), LogError> {
        std::fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
        let (active, recovery) = recover(dir, storage.as_ref(), config.recovery_scan)?;
        let shared = Arc::new(Shared::default());
        let (tx, rx) = sync_channel(config.queue_capacity.max(1));
        let mut state = WriterState {
            dir: dir.to_path_buf(),
            storage,
            config,
            active,
            shared: shared.clone(),
            buf: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("cutover-log-writer".into())
            .spawn(move || state.run(rx))
            .map_err(|e| LogError::io(dir, e))?;
        Ok((
            LogWriter {
                tx: Some(tx),
                shared,
                thread: Some(thread),
            },
            recovery,
        ))
    }

    /// Appends `records` and resolves once they are durable under the configured
    /// [`FsyncPolicy`]. Fails at once with [`LogError::Overloaded`] when the queue is full.
    pub fn append(
        &self,
        records: Vec<Vec<u8>>,
    ) -> impl std::future::Future<Output = Result<AppendReceipt, LogError>> + Send + 'static {
        let rx = self.submit(records, true);
        async move { rx?.await.map_err(|_| LogError::Closed)? }
    }

    /// Appends `records` and resolves once they are written to the operating system, without
    /// waiting for fsync whatever the policy: the records are lost on power failure.
    pub fn append_unconfirmed(
        &self,
        records: Vec<Vec<u8>>,
    ) -> impl std::future::Future<Output = Result<AppendReceipt, LogError>> + Send + 'static {
        let rx = self.submit(records, false);
        async move { rx?.await.map_err(|_| LogError::Closed)? }
    }

    /// Blocking form of [`LogWriter::append`] for threads outside an async runtime.
    pub fn append_blocking(&self, records: Vec<Vec<u8>>) -> Result<AppendReceipt, LogError> {
        self.submit(records, true)?
            .blocking_recv()
            .map_err(|_| LogError::Closed)?
    }

    fn submit(
        &self,
        records: Vec<Vec<u8>>,
        wait_for_sync: bool,
    ) -> Result<oneshot::Receiver<Result<AppendReceipt, LogError>>, LogError> {
        if let Some(operation) = self.shared.poisoned() {
            return Err(LogError::Poisoned { operation });
        }
        if let Some(r) = records.iter().find(|r| r.is_empty() || r.len() > MAX_RECORD_BYTES) {
            return Err(LogError::RecordSize {
                len: r.len(),
                max: MAX_RECORD_BYTES,
            });
        }
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(LogError::Closed)?;
        match tx.try_send(Request {
            records,
            wait_for_sync,
            reply,
        }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(LogError::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(LogError::Closed),
        }
    }

    /// Whether appends are still accepted.
    pub fn health(&self) -> Health {
        match self.shared.poisoned() {
            None => Health::Ok,
            Some(operation) => Health::Poisoned { operation },
        }
    }

    /// Counters since open.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            records: self.shared.records.load(Ordering::Relaxed),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            fsyncs: self.shared.fsyncs.load(Ordering::Relaxed),
            batches: self.shared.batches.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting appends, finishes queued ones, syncs and waits for the writer thread.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Active {
    file: Box<dyn LogFile>,
    len: u64,
    next_seq: u64,
}

struct WriterState {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    config: LogConfig,
    active: Active,
    shared: Arc<Shared>,
    buf: Vec<u8>,
}

/// Most bytes one batch gathers before it is written and synced.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

impl WriterState {
    fn run(&mut self, rx: Receiver<Request>) {
        let mut unsynced_since: Option<Instant> = None;
        loop {
            let first = match (self.config.fsync, unsynced_since) {
                (FsyncPolicy::Interval { interval }, Some(since)) => {
                    match rx.recv_timeout(interval.saturating_sub(since.elapsed())) {
                        Ok(r) => r,
                        Err(RecvTimeoutError::Timeout) => {
                            self.sync_or_poison();
                            unsynced_since = None;
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                _ => match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                },
            };
            let mut batch = vec![first];
            let mut bytes: usize = batch[0].records.iter().map(Vec::len).sum();
            while bytes < BATCH_BYTES {
                match rx.try_recv() {
                    Ok(r) => {
                        bytes += r.records.iter().map(Vec::len).sum::<usize>();
                        batch.push(r);
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.write_batch(batch, &mut unsynced_since);
        }
        if unsynced_since.is_some() {
            self.sync_or_poison();
        }
    }

    fn write_batch(&mut self, batch: Vec<Request>, unsynced_since: &mut Option<Instant>) {
        if let Some(operation) = self.shared.poisoned() {
            for r in batch {
                let _ = r.reply.send(Err(LogError::Poisoned { operation }));
            }
            return;
        }
        self.buf.clear();
        let mut receipts = Vec::with_capacity(batch.len());
        let mut seq = self.active.next_seq;
        for r in &batch {
            receipts.push(AppendReceipt {
                first_seq: seq,
                count: r.records.len() as u64,
            });
            for rec in &r.records {
                format::encode_record(&mut self.buf, seq, rec);
                seq += 1;
            }
        }
        if let Err(error) = self.active.file.write_all(&self.buf) {
            tracing::error!(%error, "log write failed; poisoning the writer");
            self.poison("write", batch);
            return;
        }
        self.active.len += self.buf.len() as u64;
        self.active.next_seq = seq;
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        self.shared.bytes.fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        let mut waiting = Vec::new();
        let sync_now = match self.config.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval { interval } => {
                let since = *unsynced_since.get_or_insert_with(Instant::now);
                since.elapsed() >= interval
            }
        };
        for (r, receipt) in batch.into_iter().zip(receipts) {
            let must_wait = r.wait_for_sync && self.config.fsync == FsyncPolicy::Always;
            if must_wait {
                waiting.push((r, receipt));
            } else {
                self.shared.records.fetch_add(receipt.count, Ordering::Relaxed);
                let _ = r.reply.send(Ok(receipt));
            }
        }
        if sync_now {
            if !self.sync_or_poison() {
                let operation = "fsync";
                for (r, _) in waiting {
                    let _ = r.reply.send(Err(LogError::Poisoned { operation }));
                }
                return;
            }
            *unsynced_since = None;
        }
        for (r, receipt) in waiting {
            self.shared.records.fetch_add(receipt.count, Ordering::Relaxed);
            let _ = r.reply.send(Ok(receipt));
        }
        if self.active.len >= self.config.segment_bytes {
            if unsynced_since.is_some() && !self.sync_or_poison() {
                return;
            }
            *unsynced_since = None;
            if let Err(error) = self.roll() {
                tracing::error!(%error, "rolling the log failed; poisoning the writer");
                *self.shared.poisoned.lock().expect("poison flag lock") = Some("write");
            }
        }
    }

    fn sync_or_poison(&mut self) -> bool {
        if self.shared.poisoned().is_some() {
            return false;
        }
        self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        match self.active.file.sync() {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, "log fsync failed; poisoning the writer");
                *self.shared.poisoned.lock().expect("poison flag lock") = Some("fsync");
                false
            }
        }
    }

    fn poison(&mut self, operation: &'static str, batch: Vec<Request>) {
        *self.shared.poisoned.lock().expect("poison flag lock") = Some(operation);
        for r in batch {
            let _ = r.reply.send(Err(LogError::Poisoned { operation }));
        }
    }

    fn roll(&mut self) -> Result<(), LogError> {
        self.active = create_segment(&self.dir, self.storage.as_ref(), self.active.next_seq)?;
        Ok(())
    }
}

fn create_segment(dir: &Path, storage: &dyn Storage, base_seq: u64) -> Result<Active, LogError> {
    let path = dir.join(format::segment_file_name(base_seq));
    let mut file = storage.create_new(&path).map_err(|e| LogError::io(&path, e))?;
    file.write_all(&format::encode_header(base_seq))
        .map_err(|e| LogError::io(&path, e))?;
    file.sync().map_err(|e| LogError::io(&path, e))?;
    storage.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
    Ok(Active {
        file,
        len: SEGMENT_HEADER_BYTES as u64,
        next_seq: base_seq,
    })
}

/// Lists the segment files of `dir` as (base_seq, path), in log order.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        if let Some(base) = entry.file_name().to_str().and_then(format::parse_segment_name) {
            out.push((base, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and checks a sealed segment's header without reading its records.
fn check_sealed_header(path: &Path, base: u64) -> Result<(), LogError> {
    use std::io::Read;
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| LogError::io(path, e))?;
    let header_base = format::check_header(path, &header)?;
    if header_base != base {
        return Err(LogError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!("header says base {header_base}, file name says {base}"),
        });
    }
    Ok(())
}

fn recover(dir: &Path, storage: &dyn Storage, recovery_scan: RecoveryScan) -> Result<(Active, Recovery), LogError> {
    let mut segments = list_segments(dir)?;
    let mut recovery = Recovery {
        segments: segments.len(),
        ..Recovery::default()
    };
    // A crash while rolling can leave a last segment shorter than its header: it holds no
    // record, so it is removed and created again.
    if let Some((base, path)) = segments.last().cloned() {
        let len = std::fs::metadata(&path).map_err(|e| LogError::io(&path, e))?.len();
        if len < SEGMENT_HEADER_BYTES as u64 && segments.len() > 1 {
            std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
            segments.pop();
            recovery.truncated_bytes += len;
            recovery.torn_reason = Some(format!("segment {base} was created but its header never written"));
        } else if len < SEGMENT_HEADER_BYTES as u64 {
            std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
            segments.pop();
        }
    }
    if segments.is_empty() {
        return Ok((create_segment(dir, storage, 0)?, recovery));
    }
    let first_base = segments[0].0;
    let last_index = segments.len() - 1;
    let mut expected_base = first_base;
    let mut tail = None;
    for (i, (base, path)) in segments.iter().enumerate() {
        let is_last = i == last_index;
        if !is_last && recovery_scan == RecoveryScan::LastSegment {
            // Sealed segments were synced before the roll; readers verify their records.
            check_sealed_header(path, *base)?;
            if *base < expected_base {
                return Err(LogError::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    reason: format!("segment starts at sequence {base}, before {expected_base}"),
                });
            }
            expected_base = segments[i + 1].0;
            continue;
        }
        let buf = std::fs::read(path).map_err(|e| LogError::io(path, e))?;
        let scan = format::scan_segment(path, &buf, is_last, |_, _| {})?;
        if scan.base_seq != *base || *base != expected_base {
            return Err(LogError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: format!("segment starts at sequence {}, expected {expected_base}", scan.base_seq),
            });
        }
        expected_base += scan.records;
        match scan.end {
            ScanEnd::Clean => {}
            ScanEnd::Corrupt { offset, reason } => {
                return Err(LogError::Corrupt {
                    path: path.clone(),
                    offset,
                    reason,
                });
            }
            ScanEnd::TornTail { offset, reason } => {
                tracing::warn!(segment = %path.display(), offset, %reason, "truncating torn tail");
                recovery.truncated_bytes += buf.len() as u64 - offset;
                recovery.torn_reason = Some(reason);
            }
        }
        if is_last {
            let truncate = (scan.valid_len != buf.len() as u64).then_some(scan.valid_len);
            tail = Some((path.clone(), scan.valid_len, truncate));
        }
    }
    recovery.records = expected_base - first_base;
    let (path, len, truncate) = tail.expect("at least one segment");
    let file = storage
        .open_append(&path, truncate)
        .map_err(|e| LogError::io(&path, e))?;
    Ok((
        Active {
            file,
            len,
            next_seq: expected_base,
        },
        recovery,
    ))
}
