//! Syslog receiver: TCP (RFC 6587 octet-counting and LF-terminated framing, detected per
//! frame) and UDP (one message per datagram), RFC 5424 and RFC 3164, with CEF standalone or
//! inside the message. These are the SIEM feeds: every frame becomes a `siem` event
//! (`convert.rs`); a frame that does not parse is kept raw with its parse error and counted
//! (`cutover_ingest_parse_errors_total`), never dropped.
//!
//! Durability: TCP has no application-level acknowledgement, so the receiver stores each read
//! batch durably before reading more from that connection: backpressure reaches the sender
//! through TCP flow control. While the log is busy or its disk full, the batch is retried
//! (backing off up to a second) and nothing more is read; only when the log is unavailable for
//! good (poisoned) is the connection closed, so the sender sees the failure. UDP is best
//! effort by nature: the socket asks for a large receive buffer
//! (`listeners.syslog_udp.receive_buffer_bytes`) and the datagrams the kernel still dropped
//! are read from its per-socket counter (`/proc/net/udp`), exported as
//! `cutover_ingest_udp_dropped_datagrams_total` and written to the log as a `cutover-ingest`
//! log record, so the loss is part of the evidence.
//!
//! Limits: `max_connections` per listener; a connection silent for `idle_timeout_secs` is
//! closed; with `tls` the listener speaks RFC 5425 (syslog over TLS), with `tls.client_ca` it
//! requires client certificates.
//!
//! A stream that cannot be framed (a frame over 256 KiB, a malformed octet count) keeps the
//! frames before the problem, stores the unframable rest (up to 256 KiB) as one raw event with
//! the error, and closes the connection.

pub mod convert;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cutover_parsers::framing;
use cutover_schemas::{Attribute, Body, Event, EventKind, LogBody, SCHEMA_VERSION, SiemBody, Source, Value};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};

use super::context::{HttpContext, now_unix_nano};
use crate::error::IngestError;
use crate::serve::{Io, accept_loop, handshake};
use crate::tls::TlsHandle;

/// Largest frame accepted.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

fn make_origin<'a>(ctx: &'a HttpContext, source: Source, peer: SocketAddr) -> convert::Origin<'a> {
    convert::Origin {
        default_region: &ctx.default_region,
        region_label: &ctx.receivers.syslog.region_label,
        source,
        peer: peer.to_string(),
        now: now_unix_nano(),
    }
}

fn convert_all(
    ctx: &HttpContext,
    receiver: &'static str,
    frames: &[&[u8]],
    origin: &convert::Origin<'_>,
) -> Vec<Event> {
    let mut failed = 0;
    let events = frames
        .iter()
        .map(|f| {
            let (e, bad) = convert::frame_to_event(f, origin);
            failed += u64::from(bad);
            e
        })
        .collect();
    if failed > 0 {
        ctx.sink
            .metrics()
            .parse_errors
            .with_label_values(&[receiver])
            .inc_by(failed);
    }
    events
}

/// What one frame's event costs beyond twice the frame's bytes (struct, attributes, record).
const FRAME_OVERHEAD: usize = 1024;

/// Takes `bytes` from the admission budget, waiting (with backoff) while it is spent. A batch
/// larger than the whole budget goes through uncharged rather than never.
async fn admit_waiting(ctx: &HttpContext, bytes: u64) -> Option<crate::admission::Ticket> {
    if bytes == 0 {
        return None;
    }
    let mut delay = Duration::from_millis(5);
    loop {
        let mut ticket = ctx.admission.ticket();
        match ticket.grow(bytes) {
            Ok(()) => return Some(ticket),
            Err(IngestError::Overloaded) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            Err(_) => return None,
        }
    }
}

/// Stores a batch, waiting while the log is busy or full instead of dropping it: the
/// connection is not read meanwhile, so TCP flow control slows the sender. False when the log
/// cannot take data any more (the connection is then closed).
async fn store_with_backpressure(
    ctx: &HttpContext,
    receiver: &'static str,
    events: Vec<Event>,
    peer: SocketAddr,
) -> bool {
    let mut delay = Duration::from_millis(5);
    loop {
        match ctx.sink.store_slice(receiver, &events).await {
            Ok(()) => {
                ctx.sink.metrics().requests.with_label_values(&[receiver, "ok"]).inc();
                return true;
            }
            Err(e @ (IngestError::Overloaded | IngestError::NoSpace)) => {
                ctx.sink
                    .metrics()
                    .requests
                    .with_label_values(&[receiver, e.outcome()])
                    .inc();
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                ctx.sink
                    .metrics()
                    .requests
                    .with_label_values(&[receiver, e.outcome()])
                    .inc();
                tracing::warn!(%peer, error = %e, "closing syslog connection: the event log cannot take data");
                return false;
            }
        }
    }
}

/// Serves one TCP (or TLS) connection until EOF, a framing error, the idle timeout or a
/// storage failure.
async fn serve_connection(
    ctx: Arc<HttpContext>,
    mut stream: Box<dyn Io>,
    peer: SocketAddr,
    idle: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    const RECEIVER: &str = "syslog_tcp";
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    // On shutdown the connection drains: what the sender already wrote (and the kernel
    // acknowledged) is read until nothing arrives for DRAIN_QUIET, stored, then closed.
    const DRAIN_QUIET: Duration = Duration::from_millis(200);
    let mut draining = false;
    loop {
        let wait = if draining { DRAIN_QUIET } else { idle };
        let read = tokio::select! {
            r = tokio::time::timeout(wait, stream.read(&mut chunk)) => Some(r),
            _ = stop.wait_for(|s| *s), if !draining => None,
        };
        let n = match read {
            Some(Ok(Ok(n))) => n,
            Some(Ok(Err(error))) => {
                tracing::debug!(%error, %peer, "syslog connection read failed");
                0
            }
            Some(Err(_)) => {
                if !draining {
                    tracing::debug!(%peer, "closing idle syslog connection");
                }
                0
            }
            None => {
                draining = true;
                continue;
            }
        };
        let eof = n == 0;
        buf.extend_from_slice(&chunk[..n]);
        let origin = make_origin(&ctx, Source::SyslogTcp, peer);
        let framed = framing::frames(&buf, MAX_FRAME_BYTES);
        let mut frames = framed.frames;
        let mut consumed = framed.consumed;
        let tail = &buf[consumed..];
        // At EOF an unterminated last line is still a message.
        if eof && framed.error.is_none() && !tail.iter().all(|b| b.is_ascii_whitespace()) {
            frames.push(tail);
            consumed = buf.len();
        }
        // The events this batch becomes are charged to the budget before they are built; while
        // the budget is spent the connection waits (and is not read), like a busy log.
        let estimate: u64 = frames
            .iter()
            .map(|f| (2 * f.len() + FRAME_OVERHEAD) as u64)
            .sum::<u64>()
            + if framed.error.is_some() {
                (2 * MAX_FRAME_BYTES + FRAME_OVERHEAD) as u64
            } else {
                0
            };
        let _ticket = admit_waiting(&ctx, estimate).await;
        let mut events = convert_all(&ctx, RECEIVER, &frames, &origin);
        let close = eof || framed.error.is_some();
        if let Some(e) = framed.error {
            // The rest of the stream cannot be framed: keep what was buffered, raw.
            ctx.sink.metrics().parse_errors.with_label_values(&[RECEIVER]).inc();
            let raw = &buf[consumed..buf.len().min(consumed + MAX_FRAME_BYTES)];
            events.push(raw_event(raw, &e.to_string(), &origin));
            consumed = buf.len();
        }
        // Structured data and CEF extensions can make events cost more than the estimate:
        // the rest is charged (waiting like the first part) before they are stored.
        let actual: u64 = events.iter().map(|e| crate::sink::event_cost(e) as u64).sum();
        let _more = admit_waiting(&ctx, actual.saturating_sub(estimate)).await;
        if !events.is_empty() && !store_with_backpressure(&ctx, RECEIVER, events, peer).await {
            return;
        }
        buf.drain(..consumed);
        if close {
            return;
        }
    }
}

fn raw_event(raw: &[u8], error: &str, origin: &convert::Origin<'_>) -> Event {
    Event {
        schema_version: SCHEMA_VERSION,
        kind: EventKind::Siem as i32,
        region: origin.default_region.to_string(),
        service: String::new(),
        event_time_unix_nano: origin.now,
        ingest_time_unix_nano: origin.now,
        trace_id: vec![],
        span_id: vec![],
        attributes: vec![Attribute::str("cutover.framing_error", error)],
        resource_attributes: vec![],
        source: origin.source as i32,
        body: Some(Body::Siem(SiemBody {
            format: "raw".into(),
            facility: -1,
            severity: -1,
            message: String::from_utf8_lossy(raw).into_owned(),
            parse_error: error.to_string(),
            peer: origin.peer.clone(),
            ..Default::default()
        })),
    }
}

/// Limits of the TCP listener.
#[derive(Clone)]
pub struct TcpOptions {
    /// Connections at once.
    pub max_connections: usize,
    /// Close a connection silent this long.
    pub idle_timeout: Duration,
    /// RFC 5425 when set.
    pub tls: Option<TlsHandle>,
}

/// Accepts TCP (or TLS) connections until `stop`.
pub async fn serve_tcp(
    ctx: Arc<HttpContext>,
    listener: TcpListener,
    opts: TcpOptions,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    const NAME: &str = "syslog_tcp";
    let metrics = ctx.sink.metrics_handle();
    accept_loop(
        listener,
        opts.max_connections,
        NAME,
        metrics.clone(),
        stop,
        |stream, peer, slot, stop| {
            let ctx = ctx.clone();
            let tls = opts.tls.clone();
            let metrics = metrics.clone();
            let idle = opts.idle_timeout;
            async move {
                let _slot = slot;
                if let Some(io) = handshake(stream, tls.as_ref(), &metrics, NAME).await {
                    serve_connection(ctx, io, peer, idle, stop).await;
                }
            }
        },
    )
    .await;
}

/// Asks for a receive buffer of `bytes`; returns what the kernel granted.
pub fn set_receive_buffer(socket: &UdpSocket, bytes: usize) -> Option<usize> {
    use rustix::net::sockopt;
    if let Err(error) = sockopt::set_socket_recv_buffer_size(socket, bytes) {
        tracing::warn!(%error, bytes, "cannot set the syslog UDP receive buffer");
    }
    let granted = sockopt::socket_recv_buffer_size(socket).ok()?;
    // Linux reports twice the usable size (the rest is its bookkeeping).
    if granted / 2 < bytes {
        tracing::warn!(
            asked = bytes,
            granted = granted / 2,
            "the kernel granted a smaller syslog UDP receive buffer (raise net.core.rmem_max)"
        );
    }
    Some(granted)
}

/// The kernel's count of datagrams dropped on this socket (`drops` of /proc/net/udp{,6}).
pub fn kernel_drops(socket: &UdpSocket) -> Option<u64> {
    let inode = rustix::fs::fstat(socket).ok()?.st_ino;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() >= 13 && cols[9].parse::<u64>().ok() == Some(inode as u64) {
                return cols[12].parse().ok();
            }
        }
    }
    None
}

/// The record of datagrams lost before cutover read them: a log event of `cutover-ingest`.
fn drop_event(ctx: &HttpContext, dropped: u64, total: u64, addr: SocketAddr) -> Event {
    let now = now_unix_nano();
    Event {
        schema_version: SCHEMA_VERSION,
        kind: EventKind::Log as i32,
        region: ctx.default_region.clone(),
        service: "cutover-ingest".into(),
        event_time_unix_nano: now,
        ingest_time_unix_nano: now,
        trace_id: vec![],
        span_id: vec![],
        attributes: vec![
            Attribute::str("cutover.ingest.receiver", "syslog_udp"),
            Attribute::str("cutover.ingest.listener", addr.to_string()),
            Attribute {
                key: "cutover.ingest.dropped_datagrams".into(),
                value: Some(Value::Int(dropped as i64)),
            },
            Attribute {
                key: "cutover.ingest.dropped_datagrams_total".into(),
                value: Some(Value::Int(total as i64)),
            },
        ],
        resource_attributes: vec![],
        source: Source::SyslogUdp as i32,
        body: Some(Body::Log(LogBody {
            severity_number: 13,
            severity_text: "WARN".into(),
            body: format!(
                "{dropped} syslog datagrams on {addr} were lost before they were stored, dropped by the kernel (receive buffer full) or refused by the log ({total} since start)"
            ),
        })),
    }
}

/// Receives UDP datagrams until `stop`, storing them in batches (at most 1024 datagrams or
/// 4 MiB), and once a second records the datagrams lost: dropped by the kernel, or read but
/// refused by the log.
pub async fn serve_udp(ctx: Arc<HttpContext>, socket: UdpSocket, mut stop: tokio::sync::watch::Receiver<bool>) {
    const RECEIVER: &str = "syslog_udp";
    /// Bytes of datagrams read into one batch.
    const BATCH_BYTES: usize = 4 << 20;
    let mut buf = vec![0u8; 65_536];
    let addr = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let start = kernel_drops(&socket).unwrap_or(0);
    // Kernel drops are counted up to `recorded_kernel`; `pending` datagrams (dropped by the
    // kernel, or read but refused by the log) are not yet in a log record.
    let mut recorded_kernel = start;
    let mut pending: u64 = 0;
    let mut total: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        let first = tokio::select! {
            r = socket.recv_from(&mut buf) => Some(r),
            _ = tick.tick() => None,
            _ = stop.wait_for(|s| *s) => {
                stopping = true;
                None
            }
        };
        let Some(first) = first else {
            let kernel = kernel_drops(&socket).unwrap_or(recorded_kernel);
            let new = kernel.saturating_sub(recorded_kernel);
            recorded_kernel = kernel;
            ctx.sink
                .metrics()
                .udp_dropped
                .with_label_values(&[RECEIVER])
                .inc_by(new);
            pending += new;
            if pending > 0 {
                tracing::warn!(dropped = pending, "syslog UDP datagrams lost before they were stored");
                let record = drop_event(&ctx, pending, total + pending, addr);
                match ctx.sink.store(RECEIVER, vec![record]).await {
                    Ok(()) => {
                        total += pending;
                        pending = 0;
                    }
                    // Kept pending: the next second's record carries them.
                    Err(error) => tracing::warn!(%error, "could not record the dropped datagrams in the log"),
                }
            }
            if stopping {
                // The last check above recorded the drops up to now.
                return;
            }
            continue;
        };
        let mut datagrams: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        let mut bytes = 0usize;
        if let Ok((n, peer)) = first {
            datagrams.push((buf[..n].to_vec(), peer));
            bytes += n;
        }
        while datagrams.len() < 1024 && bytes < BATCH_BYTES {
            match socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => {
                    datagrams.push((buf[..n].to_vec(), peer));
                    bytes += n;
                }
                Err(_) => break,
            }
        }
        let mut events = Vec::with_capacity(datagrams.len());
        for (d, peer) in &datagrams {
            let frame = d.strip_suffix(b"\n").unwrap_or(d);
            events.extend(convert_all(
                &ctx,
                RECEIVER,
                &[frame],
                &make_origin(&ctx, Source::SyslogUdp, *peer),
            ));
        }
        let n = events.len() as u64;
        if n > 0 && ctx.store(RECEIVER, events).await.is_err() {
            tracing::warn!(
                datagrams = n,
                "syslog UDP batch not stored: the event log did not take it"
            );
            ctx.sink.metrics().udp_dropped.with_label_values(&[RECEIVER]).inc_by(n);
            pending += n;
        }
    }
}
