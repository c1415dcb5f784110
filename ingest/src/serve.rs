//! Serving HTTP (and gRPC, which is HTTP/2) connections with the listener's limits: at most
//! `max_connections` at once (one more is closed at once and counted), TLS when configured,
//! a header-read timeout for HTTP/1, request heads of at most 64 KiB, an idle timeout on every
//! connection (no request in progress for `idle_timeout`; HTTP/2 pings are not traffic),
//! HTTP/2 stream limits and keep-alive pings, and graceful shutdown.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::tls::TlsHandle;

/// Time a client has to complete the TLS handshake (shorter than [`SHUTDOWN_GRACE`]).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a closing connection has to finish its responses before it is dropped (shorter than
/// [`SHUTDOWN_GRACE`]).
pub const CLOSE_GRACE: Duration = Duration::from_secs(8);

/// Largest request head (HTTP/1 buffer, HTTP/2 header list).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How long shutdown waits for open connections to finish their requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Limits of one HTTP listener.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Receiver name for metrics and logs.
    pub name: &'static str,
    /// Connections at once.
    pub max_connections: usize,
    /// HTTP/1 header read timeout.
    pub header_timeout: Duration,
    /// Close a connection without traffic for this long.
    pub idle_timeout: Duration,
    /// HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Speak only HTTP/2 (gRPC).
    pub http2_only: bool,
}

/// A connection's byte stream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Completes the TLS handshake when the listener has TLS.
pub async fn handshake(
    stream: TcpStream,
    tls: Option<&TlsHandle>,
    metrics: &Metrics,
    name: &'static str,
) -> Option<Box<dyn Io>> {
    let Some(tls) = tls else {
        return Some(Box::new(stream));
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
        Ok(Ok(s)) => Some(Box::new(s)),
        Ok(Err(error)) => {
            tracing::debug!(%error, listener = name, "TLS handshake failed");
            metrics.tls_failures.with_label_values(&[name]).inc();
            None
        }
        Err(_) => {
            metrics.tls_failures.with_label_values(&[name]).inc();
            None
        }
    }
}

/// Requests in progress on one connection and when the last one ended: a connection is idle
/// when none is in progress (HTTP/2 pings do not count as traffic).
struct Activity {
    start: Instant,
    active: AtomicUsize,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            start: Instant::now(),
            active: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// When the connection becomes idle for `idle` if nothing happens meanwhile.
    fn deadline(&self, idle: Duration) -> Instant {
        if self.active.load(Ordering::Relaxed) > 0 {
            return Instant::now() + idle;
        }
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle
    }
}

struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(a: &Arc<Activity>) -> InFlight {
        a.active.fetch_add(1, Ordering::Relaxed);
        a.touch();
        InFlight(a.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A service that records its connection's requests in an [`Activity`].
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, B> tower::Service<http::Request<B>> for Tracked<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let guard = InFlight::begin(&self.activity);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await;
            drop(guard);
            r
        })
    }
}

/// Accepts connections until `stop`, each admitted against the connection cap; then waits up
/// to [`SHUTDOWN_GRACE`] for the connections (which watch `stop` themselves) to end.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    name: &'static str,
    metrics: Arc<Metrics>,
    stop: tokio::sync::watch::Receiver<bool>,
    mut on_connection: F,
) where
    F: FnMut(
        TcpStream,
        std::net::SocketAddr,
        tokio::sync::OwnedSemaphorePermit,
        tokio::sync::watch::Receiver<bool>,
    ) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let max = max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let mut watch = stop.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = watch.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(error) => {
                // Out of file descriptors and the like: do not spin.
                tracing::warn!(%error, listener = name, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.connections_refused.with_label_values(&[name]).inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(on_connection(stream, peer, slot, stop.clone()));
    }
    drop(listener);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            "connections still open after the shutdown grace period"
        );
    }
}

/// Serves `router` on `listener` with `opts` until `stop`, then lets open requests finish for
/// up to [`SHUTDOWN_GRACE`].
pub async fn serve_http(
    listener: TcpListener,
    tls: Option<TlsHandle>,
    opts: ServeOptions,
    router: axum::Router,
    metrics: Arc<Metrics>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(opts.max_concurrent_streams)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20));
    if opts.http2_only {
        builder = builder.http2_only();
    }
    let builder = Arc::new(builder);
    let name = opts.name;
    let idle = opts.idle_timeout;
    let m = metrics.clone();
    accept_loop(
        listener,
        opts.max_connections,
        name,
        metrics,
        stop,
        |stream, _peer, slot, mut stop| {
            let builder = builder.clone();
            let router = router.clone();
            let tls = tls.clone();
            let metrics = m.clone();
            async move {
                let _slot = slot;
                let Some(io) = handshake(stream, tls.as_ref(), &metrics, name).await else {
                    return;
                };
                let activity = Activity::new();
                let service = Tracked {
                    inner: router,
                    activity: activity.clone(),
                };
                let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
                tokio::pin!(conn);
                // Once closing, the connection has a last deadline: a client that never reads its
                // responses (an HTTP/2 window of 0, unread pipelined replies) cannot hold it open.
                let mut closing: Option<Instant> = None;
                loop {
                    let hard_stop = closing.unwrap_or_else(|| Instant::now() + idle);
                    tokio::select! {
                        r = conn.as_mut() => {
                            if let Err(error) = r {
                                tracing::debug!(error = %error, listener = name, "connection ended with an error");
                            }
                            return;
                        }
                        _ = stop.wait_for(|s| *s), if closing.is_none() => {
                            conn.as_mut().graceful_shutdown();
                            closing = Some(Instant::now() + CLOSE_GRACE);
                        }
                        _ = tokio::time::sleep_until(activity.deadline(idle)), if closing.is_none() => {
                            if activity.deadline(idle) <= Instant::now() {
                                conn.as_mut().graceful_shutdown();
                                closing = Some(Instant::now() + CLOSE_GRACE);
                            }
                        }
                        _ = tokio::time::sleep_until(hard_stop), if closing.is_some() => {
                            tracing::debug!(listener = name, "dropping a connection that did not close in time");
                            return;
                        }
                    }
                }
            }
        },
    )
    .await;
}
