//! Syslog receiver: TCP (RFC 6587 octet-counting and LF-terminated framing, detected per
//! frame) and UDP (one message per datagram), RFC 5424 and RFC 3164, with CEF standalone or
//! inside the message. These are the SIEM feeds: every frame becomes a `siem` event
//! (`convert.rs`); a frame that does not parse is kept raw with its parse error and counted
//! (`cutover_ingest_parse_errors_total`), never dropped.
//!
//! Durability: TCP has no application-level acknowledgement, so the receiver stores each read
//! batch durably before reading more from that connection (backpressure reaches the sender
//! through TCP flow control). If the log cannot take a batch, the connection is closed so the
//! sender sees the failure and reconnects; that batch is lost to this daemon. UDP is best
//! effort by nature.
//!
//! A stream that cannot be framed (a frame over 256 KiB, a malformed octet count) keeps the
//! frames before the problem, stores the unframable rest (up to 256 KiB) as one raw event with
//! the error, and closes the connection.

pub mod convert;

use std::net::SocketAddr;
use std::sync::Arc;

use cutover_parsers::framing;
use cutover_schemas::{Attribute, Body, Event, EventKind, SCHEMA_VERSION, SiemBody, Source};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};

use super::context::{HttpContext, now_unix_nano};

/// Largest frame accepted.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

fn make_origin<'a>(ctx: &'a HttpContext, source: Source, peer: SocketAddr) -> convert::Origin<'a> {
    convert::Origin {
        default_region: &ctx.default_region,
        region_label: &ctx.region_label,
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

/// Serves one TCP connection until EOF, a framing error or a storage failure.
async fn serve_connection(ctx: Arc<HttpContext>, mut stream: tokio::net::TcpStream, peer: SocketAddr) {
    const RECEIVER: &str = "syslog_tcp";
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(error) => {
                tracing::debug!(%error, %peer, "syslog connection read failed");
                0
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
        let mut events = convert_all(&ctx, RECEIVER, &frames, &origin);
        let close = eof || framed.error.is_some();
        if let Some(e) = framed.error {
            // The rest of the stream cannot be framed: keep what was buffered, raw.
            ctx.sink.metrics().parse_errors.with_label_values(&[RECEIVER]).inc();
            let raw = &buf[consumed..buf.len().min(consumed + MAX_FRAME_BYTES)];
            events.push(raw_event(raw, &e.to_string(), &origin));
            consumed = buf.len();
        }
        if !events.is_empty() && ctx.store(RECEIVER, events).await.is_err() {
            tracing::warn!(%peer, "closing syslog connection: the event log did not take the batch");
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

/// Accepts TCP connections until `stop`.
pub async fn serve_tcp(ctx: Arc<HttpContext>, listener: TcpListener, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(ctx.clone(), stream, peer));
                }
                Err(error) => tracing::warn!(%error, "syslog accept failed"),
            },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Receives UDP datagrams until `stop`, storing them in batches.
pub async fn serve_udp(ctx: Arc<HttpContext>, socket: UdpSocket, mut stop: tokio::sync::watch::Receiver<bool>) {
    const RECEIVER: &str = "syslog_udp";
    let mut buf = vec![0u8; 65_536];
    loop {
        let first = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let mut datagrams: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        if let Ok((n, peer)) = first {
            datagrams.push((buf[..n].to_vec(), peer));
        }
        while datagrams.len() < 1024 {
            match socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => datagrams.push((buf[..n].to_vec(), peer)),
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
        if !events.is_empty() && ctx.store(RECEIVER, events).await.is_err() {
            tracing::warn!("syslog udp batch not stored: the event log did not take it");
        }
    }
}
