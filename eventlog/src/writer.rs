//! The single writer: lock, group commit, fsync policy, seals and rolling, the durable mark,
//! disk-full handling, poisoning and recovery.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::format::{self, HWM_FILE, Hwm, KIND_EVENT, KIND_SEAL, SEGMENT_HEADER_BYTES, ScanEnd, ScanOptions, Seal};
use crate::fs::{LockError, LogFile, OsStorage, Storage};
use crate::reader::{list_segments, read_hwm_tries};
use crate::{LogError, MAX_RECORD_BYTES, MAX_SEGMENT_BYTES};

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
    /// sealed segments the header, length and seal (linkage and chain). Restart time does
    /// not grow with the log. The default.
    #[default]
    LastSegment,
    /// Every record and content hash of every segment: a damaged sealed segment stops the
    /// daemon at start instead of the first reader. Restart time grows with the log.
    Full,
}

/// Writer settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Seal and roll to a new segment once the active one reaches this size (at most
    /// [`MAX_SEGMENT_BYTES`] minus the largest batch).
    pub segment_bytes: u64,
    /// Durability policy.
    pub fsync: FsyncPolicy,
    /// Append requests that may wait for the writer before appends fail with
    /// [`LogError::Overloaded`].
    pub queue_capacity: usize,
    /// Bytes of records that may wait for the writer before appends fail with
    /// [`LogError::Overloaded`] (a request alone in the queue is always taken).
    pub queue_bytes: u64,
    /// What opening verifies.
    pub recovery_scan: RecoveryScan,
    /// Free space the writer leaves on the file system: a batch that would go below it is
    /// refused with [`LogError::NoSpace`].
    pub min_free_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 64 * 1024 * 1024,
            fsync: FsyncPolicy::Always,
            queue_capacity: 4096,
            queue_bytes: 256 * 1024 * 1024,
            recovery_scan: RecoveryScan::LastSegment,
            min_free_bytes: 64 * 1024 * 1024,
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

/// Whether the writer accepts appends, and if not why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Accepting appends.
    Ok,
    /// A write or fsync failed; nothing more is accepted until a restart.
    Poisoned {
        /// `write` or `fsync`.
        operation: &'static str,
    },
    /// The file system is (nearly) full; appends are refused until space returns.
    OutOfSpace {
        /// Free bytes when last checked.
        free_bytes: u64,
    },
    /// Requests wait (queued or being written) but the writer has finished no batch for
    /// `STALL_AFTER` (5 s): a disk that stopped answering.
    Stalled {
        /// Requests waiting.
        queued: u64,
        /// Time since the writer last finished a batch.
        since: Duration,
    },
    /// The writer thread has ended.
    Stopped,
}

/// How long queued requests may wait without the writer finishing a batch before health says
/// it is stalled.
const STALL_AFTER: Duration = Duration::from_secs(5);

struct Shared {
    poisoned: Mutex<Option<&'static str>>,
    /// Free bytes when the writer last refused for lack of space; `u64::MAX` when it has space.
    no_space: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    fsyncs: AtomicU64,
    batches: AtomicU64,
    queued: AtomicU64,
    /// Bytes of the records in `queued` requests.
    queued_bytes: AtomicU64,
    queue_bytes: u64,
    /// Milliseconds since `epoch` when the writer last finished a batch or went idle.
    progress_ms: AtomicU64,
    epoch: Instant,
    /// Sequence number after the last durable record.
    durable_seq: AtomicU64,
}

impl Shared {
    fn poisoned(&self) -> Option<&'static str> {
        *self.poisoned.lock().expect("poison flag lock")
    }
    fn poison(&self, operation: &'static str) {
        self.poisoned.lock().expect("poison flag lock").get_or_insert(operation);
    }
    fn touch(&self) {
        self.progress_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
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
    /// Requests waiting for the writer.
    pub queued: u64,
    /// Sequence number after the last durable record (the durable mark).
    pub durable_seq: u64,
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

    /// Opens the log through `storage` (tests inject faults here). Fails with
    /// [`LogError::Locked`] while another writer holds the log.
    pub fn open_with_storage(
        dir: &Path,
        config: LogConfig,
        storage: Arc<dyn Storage>,
    ) -> Result<(LogWriter, Recovery), LogError> {
        if config.segment_bytes == 0 || config.segment_bytes > MAX_SEGMENT_BYTES / 2 {
            return Err(LogError::Config(format!(
                "segment_bytes {} is outside 1..={}",
                config.segment_bytes,
                MAX_SEGMENT_BYTES / 2
            )));
        }
        storage.create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
        let lock = storage.lock(dir).map_err(|e| match e {
            LockError::Held(holder) => LogError::Locked {
                path: dir.to_path_buf(),
                holder,
            },
            LockError::Io(path, source) => LogError::Io { path, source },
        })?;
        let (active, recovery) = recover(dir, storage.as_ref(), config.recovery_scan)?;
        let mut mark = storage
            .open_mark(&dir.join(HWM_FILE))
            .map_err(|e| LogError::io(dir.join(HWM_FILE), e))?;
        let hwm = active.hwm();
        mark.overwrite(&hwm.encode())
            .map_err(|e| LogError::io(dir.join(HWM_FILE), e))?;
        let shared = Arc::new(Shared {
            poisoned: Mutex::new(None),
            no_space: AtomicU64::new(u64::MAX),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            queued_bytes: AtomicU64::new(0),
            queue_bytes: config.queue_bytes.max(1),
            progress_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            durable_seq: AtomicU64::new(hwm.next_seq),
        });
        let (tx, rx) = sync_channel(config.queue_capacity.max(1));
        let mut state = WriterState {
            dir: dir.to_path_buf(),
            storage,
            config,
            active,
            mark,
            shared: shared.clone(),
            buf: Vec::new(),
            _lock: lock,
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
        let bytes: u64 = records.iter().map(|r| r.len() as u64).sum();
        let before = self.shared.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before > 0 && before + bytes > self.shared.queue_bytes {
            self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return Err(LogError::Overloaded);
        }
        if self.shared.queued.fetch_add(1, Ordering::Relaxed) == 0 {
            // The queue was empty: the wait for progress starts now.
            self.shared.touch();
        }
        match tx.try_send(Request {
            records,
            wait_for_sync,
            reply,
        }) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                Err(match e {
                    TrySendError::Full(_) => LogError::Overloaded,
                    TrySendError::Disconnected(_) => LogError::Closed,
                })
            }
        }
    }

    /// Whether appends are accepted now, and if not why.
    pub fn health(&self) -> Health {
        if let Some(operation) = self.shared.poisoned() {
            return Health::Poisoned { operation };
        }
        if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
            return Health::Stopped;
        }
        let free = self.shared.no_space.load(Ordering::Relaxed);
        if free != u64::MAX {
            return Health::OutOfSpace { free_bytes: free };
        }
        let queued = self.shared.queued.load(Ordering::Relaxed);
        let last = Duration::from_millis(self.shared.progress_ms.load(Ordering::Relaxed));
        let since = self.shared.epoch.elapsed().saturating_sub(last);
        if queued > 0 && since >= STALL_AFTER {
            return Health::Stalled { queued, since };
        }
        Health::Ok
    }

    /// Counters since open.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            records: self.shared.records.load(Ordering::Relaxed),
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            fsyncs: self.shared.fsyncs.load(Ordering::Relaxed),
            batches: self.shared.batches.load(Ordering::Relaxed),
            queued: self.shared.queued.load(Ordering::Relaxed),
            durable_seq: self.shared.durable_seq.load(Ordering::Relaxed),
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

/// The segment being appended to.
struct Active {
    file: Box<dyn LogFile>,
    base: u64,
    len: u64,
    next_seq: u64,
    /// Bytes of this segment known durable.
    synced: u64,
    /// BLAKE3 of the segment's bytes so far.
    hasher: blake3::Hasher,
    /// The previous segment's chain hash.
    prev: [u8; 32],
    /// Set once the seal is written and synced: the next batch goes to a new segment.
    sealed: Option<Seal>,
}

impl Active {
    /// The durable mark; only called when everything written is synced.
    fn hwm(&self) -> Hwm {
        debug_assert_eq!(self.synced, self.len);
        Hwm {
            segment_base: self.base,
            durable_len: self.synced,
            next_seq: self.next_seq,
        }
    }
}

struct WriterState {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    config: LogConfig,
    active: Active,
    mark: Box<dyn LogFile>,
    shared: Arc<Shared>,
    buf: Vec<u8>,
    _lock: Box<dyn Send + Sync>,
}

/// Most bytes one batch gathers before it is written and synced.
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// How often a writer that is out of space checks whether space returned.
const SPACE_RECHECK: Duration = Duration::from_secs(1);

fn is_no_space(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

/// The outcome of trying to write the next batch.
enum Refusal {
    NoSpace(u64),
    Poison(&'static str),
}

impl WriterState {
    fn run(&mut self, rx: Receiver<Request>) {
        let mut unsynced_since: Option<Instant> = None;
        loop {
            let timeout = match (self.config.fsync, unsynced_since) {
                (FsyncPolicy::Interval { interval }, Some(since)) => Some(interval.saturating_sub(since.elapsed())),
                _ if self.shared.no_space.load(Ordering::Relaxed) != u64::MAX => Some(SPACE_RECHECK),
                _ => None,
            };
            let first = match timeout {
                Some(t) => match rx.recv_timeout(t) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => {
                        if unsynced_since.is_some() && self.sync_or_poison() {
                            unsynced_since = None;
                        }
                        self.recheck_space();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
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
            // Requests count as waiting until they are answered.
            let n = batch.len() as u64;
            self.write_batch(batch, &mut unsynced_since);
            self.shared.touch();
            self.shared.queued.fetch_sub(n, Ordering::Relaxed);
            self.shared.queued_bytes.fetch_sub(bytes as u64, Ordering::Relaxed);
        }
        if unsynced_since.is_some() {
            self.sync_or_poison();
        }
    }

    fn recheck_space(&mut self) {
        if self.shared.no_space.load(Ordering::Relaxed) == u64::MAX {
            return;
        }
        match self.storage.free_bytes(&self.dir) {
            Some(free) if free < self.config.min_free_bytes => self.shared.no_space.store(free, Ordering::Relaxed),
            _ => {
                tracing::info!("free space returned; the log accepts appends again");
                self.shared.no_space.store(u64::MAX, Ordering::Relaxed);
            }
        }
    }

    /// Refuses a batch of `bytes` when the file system would go below the reserve.
    fn check_space(&self, bytes: u64) -> Result<(), Refusal> {
        match self.storage.free_bytes(&self.dir) {
            Some(free) if free < bytes.saturating_add(self.config.min_free_bytes) => Err(Refusal::NoSpace(free)),
            _ => Ok(()),
        }
    }

    fn refuse(&self, batch: Vec<Request>, why: Refusal) {
        let err = |why: &Refusal| match why {
            Refusal::NoSpace(free) => LogError::NoSpace { free_bytes: *free },
            Refusal::Poison(operation) => LogError::Poisoned { operation },
        };
        match why {
            Refusal::NoSpace(free) => {
                if self.shared.no_space.swap(free, Ordering::Relaxed) == u64::MAX {
                    tracing::warn!(
                        free_bytes = free,
                        "file system full; refusing appends until space returns"
                    );
                }
            }
            Refusal::Poison(operation) => self.shared.poison(operation),
        }
        for r in batch {
            let _ = r.reply.send(Err(err(&why)));
        }
    }

    fn write_batch(&mut self, batch: Vec<Request>, unsynced_since: &mut Option<Instant>) {
        if let Some(operation) = self.shared.poisoned() {
            return self.refuse(batch, Refusal::Poison(operation));
        }
        if self.active.sealed.is_some()
            && let Err(why) = self.open_next_segment()
        {
            return self.refuse(batch, why);
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
                format::encode_record(&mut self.buf, KIND_EVENT, seq, self.active.synced, rec);
                seq += 1;
            }
        }
        if let Err(why) = self.check_space(self.buf.len() as u64) {
            return self.refuse(batch, why);
        }
        if let Err(error) = self.active.file.write_all(&self.buf) {
            let why = self.undo_write(&error, "write");
            return self.refuse(batch, why);
        }
        self.shared.no_space.store(u64::MAX, Ordering::Relaxed);
        self.active.hasher.update(&self.buf);
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
                let operation = self.shared.poisoned().unwrap_or("fsync");
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
            self.seal_and_roll();
        }
    }

    /// After a failed write: cut the file back to what it held before, so nothing half
    /// written stays in front of the next batch. Out of space is retryable; anything else, or
    /// a failed cut, poisons.
    fn undo_write(&mut self, error: &std::io::Error, operation: &'static str) -> Refusal {
        if !is_no_space(error) {
            tracing::error!(%error, "log {operation} failed; poisoning the writer");
            return Refusal::Poison(operation);
        }
        if let Err(e) = self.active.file.truncate(self.active.len) {
            tracing::error!(error = %e, "cutting back a write that ran out of space failed; poisoning the writer");
            return Refusal::Poison(operation);
        }
        Refusal::NoSpace(self.storage.free_bytes(&self.dir).unwrap_or(0))
    }

    /// fsync the active segment, then publish the durable mark. False (and poisoned) on failure.
    fn sync_or_poison(&mut self) -> bool {
        if self.shared.poisoned().is_some() {
            return false;
        }
        self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = self.active.file.sync() {
            tracing::error!(%error, "log fsync failed; poisoning the writer");
            self.shared.poison("fsync");
            return false;
        }
        self.active.synced = self.active.len;
        self.publish()
    }

    fn publish(&mut self) -> bool {
        let hwm = self.active.hwm();
        if let Err(error) = self.mark.overwrite(&hwm.encode()) {
            tracing::error!(%error, "writing the durable mark failed; poisoning the writer");
            self.shared.poison("write");
            return false;
        }
        self.shared.durable_seq.store(hwm.next_seq, Ordering::Relaxed);
        true
    }

    /// Seals the full active segment and opens the next one. Out of space leaves the segment
    /// as it was (sealing is tried again after the next batch) or sealed without a successor
    /// (created before the next batch).
    fn seal_and_roll(&mut self) {
        if self
            .check_space((format::SEAL_RECORD_BYTES + SEGMENT_HEADER_BYTES) as u64)
            .is_err()
        {
            return;
        }
        let a = &mut self.active;
        let content = *a.hasher.finalize().as_bytes();
        let seal = Seal::new(a.prev, content, a.base, a.next_seq - a.base, a.len);
        self.buf.clear();
        format::encode_record(&mut self.buf, KIND_SEAL, a.next_seq, a.synced, &seal.encode());
        if let Err(error) = a.file.write_all(&self.buf) {
            if let Refusal::Poison(op) = self.undo_write(&error, "write") {
                self.shared.poison(op);
            }
            return;
        }
        self.active.len += self.buf.len() as u64;
        if !self.sync_or_poison() {
            return;
        }
        self.active.sealed = Some(seal);
        if let Err(Refusal::Poison(op)) = self.open_next_segment() {
            self.shared.poison(op);
        }
    }

    fn open_next_segment(&mut self) -> Result<(), Refusal> {
        let Some(seal) = self.active.sealed else { return Ok(()) };
        self.check_space(SEGMENT_HEADER_BYTES as u64)?;
        let next = self.active.next_seq;
        match create_segment(&self.dir, self.storage.as_ref(), next, seal.chain) {
            Ok(active) => {
                self.active = active;
                if self.publish() {
                    Ok(())
                } else {
                    Err(Refusal::Poison("write"))
                }
            }
            Err(LogError::Io { source, .. }) if is_no_space(&source) => {
                let _ = self.storage.remove(&self.dir.join(format::segment_file_name(next)));
                Err(Refusal::NoSpace(self.storage.free_bytes(&self.dir).unwrap_or(0)))
            }
            Err(error) => {
                tracing::error!(%error, "creating the next segment failed; poisoning the writer");
                Err(Refusal::Poison("write"))
            }
        }
    }
}

fn create_segment(dir: &Path, storage: &dyn Storage, base_seq: u64, prev: [u8; 32]) -> Result<Active, LogError> {
    let path = dir.join(format::segment_file_name(base_seq));
    let mut file = storage.create_new(&path).map_err(|e| LogError::io(&path, e))?;
    let header = format::encode_header(base_seq);
    file.write_all(&header).map_err(|e| LogError::io(&path, e))?;
    file.sync().map_err(|e| LogError::io(&path, e))?;
    storage.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(&header);
    Ok(Active {
        file,
        base: base_seq,
        len: SEGMENT_HEADER_BYTES as u64,
        next_seq: base_seq,
        synced: SEGMENT_HEADER_BYTES as u64,
        hasher,
        prev,
        sealed: None,
    })
}

fn corrupt(path: &Path, offset: u64, reason: String) -> LogError {
    LogError::Corrupt {
        path: path.to_path_buf(),
        offset,
        reason,
    }
}

/// Reads the seal at the end of a sealed segment without reading its records, checking the
/// header, the seal's frame and chain, and that it covers exactly the file.
pub(crate) fn read_tail_seal(storage: &dyn Storage, path: &Path, base: u64) -> Result<Seal, LogError> {
    let io = |e| LogError::io(path, e);
    let len = storage.len(path).map_err(io)?;
    let header = storage.read_at(path, 0, SEGMENT_HEADER_BYTES).map_err(io)?;
    let (version, header_base) = format::check_header(path, &header)?;
    if version != format::VERSION {
        return Err(LogError::OldFormat {
            path: path.to_path_buf(),
        });
    }
    if header_base != base {
        return Err(corrupt(
            path,
            0,
            format!("header says base {header_base}, file name says {base}"),
        ));
    }
    let at = len
        .checked_sub(format::SEAL_RECORD_BYTES as u64)
        .filter(|&at| at >= SEGMENT_HEADER_BYTES as u64)
        .ok_or_else(|| {
            corrupt(
                path,
                len,
                "sealed segment too short to end in a seal (cut short?)".into(),
            )
        })?;
    let tail = storage.read_at(path, at, format::SEAL_RECORD_BYTES).map_err(io)?;
    let missing = || {
        corrupt(
            path,
            at,
            "sealed segment does not end in a valid seal (cut short or damaged)".into(),
        )
    };
    let frame = format::parse_frame(&tail).map_err(|_| missing())?;
    if frame.kind != KIND_SEAL {
        return Err(missing());
    }
    let seal = Seal::decode(&tail[format::RECORD_HEADER_BYTES..]);
    if seal.base_seq != base || frame.seq != base + seal.records || !seal.chain_ok(at) {
        return Err(corrupt(
            path,
            at,
            "seal does not match its segment (base, count or chain)".into(),
        ));
    }
    Ok(seal)
}

fn recover(dir: &Path, storage: &dyn Storage, recovery_scan: RecoveryScan) -> Result<(Active, Recovery), LogError> {
    let hwm = read_hwm_tries(storage, dir, 1);
    let mut segments = list_segments(storage, dir)?;
    let mut recovery = Recovery {
        segments: segments.len(),
        ..Recovery::default()
    };
    // A crash while rolling can leave a newest segment without a whole header (created, its
    // header not yet synced): it holds no record (its header is synced before any record is
    // written), so it is removed, unless anything proves it held data.
    if let Some((base, path)) = segments.last().cloned() {
        let buf = storage.read(&path).map_err(|e| LogError::io(&path, e))?;
        if let Err(header_error) = format::check_header(&path, &buf) {
            let named = hwm.is_some_and(|h| h.segment_base >= base && h.next_seq > base);
            if named || format::resync(&buf, 0, base).is_some() {
                return Err(match header_error {
                    LogError::NotALog { reason, .. } => {
                        corrupt(&path, 0, format!("{reason}, but the segment holds durable records"))
                    }
                    other => other,
                });
            }
            storage.remove(&path).map_err(|e| LogError::io(&path, e))?;
            storage.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
            segments.pop();
            recovery.truncated_bytes += buf.len() as u64;
            recovery.torn_reason = Some(format!(
                "segment {base} was created but its header never reached the disk"
            ));
        }
    }
    let Some((last_base, last_path)) = segments.last().cloned() else {
        if let Some(h) = hwm.filter(|h| h.next_seq > 0) {
            return Err(corrupt(
                dir,
                0,
                format!(
                    "no segment files, but the durable mark says {} records were durable",
                    h.next_seq
                ),
            ));
        }
        let active = create_segment(dir, storage, 0, [0; 32])?;
        return Ok((active, recovery));
    };
    if segments[0].0 != 0 {
        return Err(corrupt(
            &segments[0].1,
            0,
            format!(
                "the log starts at sequence {}: the segments before it are missing",
                segments[0].0
            ),
        ));
    }
    if let Some(h) = hwm.filter(|h| h.segment_base > last_base) {
        return Err(corrupt(
            dir,
            0,
            format!(
                "the durable mark names segment {}, newer than the newest file {}: segments are missing",
                format::segment_file_name(h.segment_base),
                format::segment_file_name(last_base)
            ),
        ));
    }
    // Sealed segments: linkage and seals.
    let mut prev = [0u8; 32];
    for (i, (base, path)) in segments[..segments.len() - 1].iter().enumerate() {
        let next_base = segments[i + 1].0;
        let seal = match recovery_scan {
            RecoveryScan::LastSegment => read_tail_seal(storage, path, *base)?,
            RecoveryScan::Full => {
                let buf = storage.read(path).map_err(|e| LogError::io(path, e))?;
                let opts = ScanOptions {
                    is_last: false,
                    stop_at_seq: None,
                    hash: true,
                    durable_len: u64::MAX,
                };
                let scan = format::scan_segment(path, &buf, opts, |_, _| {})?;
                if scan.version != format::VERSION {
                    return Err(LogError::OldFormat { path: path.clone() });
                }
                if let ScanEnd::Corrupt { offset, reason } = scan.end {
                    return Err(corrupt(path, offset, reason));
                }
                scan.seal
                    .ok_or_else(|| corrupt(path, scan.valid_len, "no seal".into()))?
            }
        };
        if seal.prev != prev {
            return Err(corrupt(
                path,
                0,
                "seal does not name the previous segment's chain hash".into(),
            ));
        }
        if base + seal.records != next_base {
            return Err(corrupt(
                &segments[i + 1].1,
                0,
                format!(
                    "segment starts at sequence {next_base}, but the previous one ends at {} (missing or overlapping segment)",
                    base + seal.records
                ),
            ));
        }
        prev = seal.chain;
    }
    // The newest segment: read past the page cache, scan, judge the end.
    let _ = storage.drop_cache(&last_path);
    let buf = storage.read(&last_path).map_err(|e| LogError::io(&last_path, e))?;
    let durable_len = hwm.map_or(0, |h| h.evidence_for(last_base));
    // The content hash is taken once, below, for both the seal check and the writer.
    let opts = ScanOptions {
        is_last: true,
        stop_at_seq: None,
        hash: false,
        durable_len,
    };
    let scan = format::scan_segment(&last_path, &buf, opts, |_, _| {})?;
    if scan.version != format::VERSION {
        return Err(LogError::OldFormat { path: last_path });
    }
    if scan.base_seq != last_base {
        return Err(corrupt(
            &last_path,
            0,
            format!("header says base {}, file name says {last_base}", scan.base_seq),
        ));
    }
    let truncate = match scan.end {
        ScanEnd::Clean => None,
        ScanEnd::Corrupt { offset, reason } => return Err(corrupt(&last_path, offset, reason)),
        ScanEnd::TornTail { offset, reason } => {
            tracing::warn!(segment = %last_path.display(), offset, %reason, "truncating torn tail (never acknowledged)");
            recovery.truncated_bytes += buf.len() as u64 - offset;
            recovery.torn_reason = Some(reason);
            Some(offset)
        }
    };
    let next_seq = last_base + scan.records;
    if let Some(h) = hwm.filter(|h| h.next_seq > next_seq) {
        return Err(corrupt(
            &last_path,
            scan.valid_len,
            format!(
                "the log ends at sequence {next_seq}, but the durable mark says {} were durable",
                h.next_seq
            ),
        ));
    }
    if let Some(seal) = scan.seal
        && seal.prev != prev
    {
        return Err(corrupt(
            &last_path,
            0,
            "seal does not name the previous segment's chain hash".into(),
        ));
    }
    let content_end = scan.valid_len as usize - scan.seal.map_or(0, |_| format::SEAL_RECORD_BYTES);
    let mut hasher = blake3::Hasher::new();
    hasher.update(&buf[..content_end]);
    if let Some(seal) = scan.seal
        && seal.content != *hasher.finalize().as_bytes()
    {
        return Err(corrupt(
            &last_path,
            content_end as u64,
            "segment content does not match its seal's hash (edited after sealing)".into(),
        ));
    }
    recovery.records = next_seq;
    let mut file = storage
        .open_append(&last_path, truncate)
        .map_err(|e| LogError::io(&last_path, e))?;
    // What was read is made durable before anything is built on it.
    file.sync().map_err(|e| LogError::io(&last_path, e))?;
    let mut active = Active {
        file,
        base: last_base,
        len: scan.valid_len,
        next_seq,
        synced: scan.valid_len,
        hasher,
        prev,
        sealed: scan.seal,
    };
    if let Some(seal) = scan.seal {
        // A crash after sealing, before the next segment existed.
        active = create_segment(dir, storage, next_seq, seal.chain)?;
        recovery.segments += 1;
    }
    Ok((active, recovery))
}
