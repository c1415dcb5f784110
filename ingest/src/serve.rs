//! Serving HTTP (and gRPC, which is HTTP/2) connections with the listener's limits: at most
//! `max_connections` at once (one more is closed at once and counted), TLS when configured,
//! a header-read timeout for HTTP/1, an idle timeout on every connection, HTTP/2 stream limits
//! and keep-alive pings, and graceful shutdown.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

use crate::metrics::Metrics;
use crate::tls::TlsHandle;

/// Time a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// A byte stream that fails with `TimedOut` once neither side moved a byte for `timeout`.
pub struct IdleTimeout<T> {
    inner: T,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl<T> IdleTimeout<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, timeout: Duration) -> Self {
        IdleTimeout {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn touch(&mut self) {
        self.sleep.as_mut().reset(Instant::now() + self.timeout);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle past the listener's idle timeout")
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Accepts connections until `stop`, each admitted against the connection cap.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    name: &'static str,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut on_connection: F,
) where
    F: FnMut(TcpStream, std::net::SocketAddr, tokio::sync::OwnedSemaphorePermit) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => return,
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
        tokio::spawn(on_connection(stream, peer, slot));
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
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_timeout);
    let ping = (opts.idle_timeout / 2).min(Duration::from_secs(30));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(opts.max_concurrent_streams)
        .keep_alive_interval(ping)
        .keep_alive_timeout(Duration::from_secs(20));
    if opts.http2_only {
        builder = builder.http2_only();
    }
    let builder = Arc::new(builder);
    let name = opts.name;
    let idle = opts.idle_timeout;
    let m = metrics.clone();
    accept_loop(listener, opts.max_connections, name, metrics, stop, |stream, _peer, slot| {
        let builder = builder.clone();
        let router = router.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        let metrics = m.clone();
        async move {
            let _slot = slot;
            let Some(io) = handshake(stream, tls.as_ref(), &metrics, name).await else {
                return;
            };
            let io = TokioIo::new(IdleTimeout::new(io, idle));
            let conn = builder.serve_connection(io, TowerToHyperService::new(router));
            if let Err(error) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(error = %error, listener = name, "connection ended with an error");
            }
        }
    })
    .await;
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(listener = name, "connections still open after the shutdown grace period");
        }
    }
}
