//! Every receiver the daemon can run, registered in [`build_receivers`].
//!
//! Listeners: OTLP/gRPC on its own port; one HTTP port (default 4318) serving OTLP/HTTP,
//! Prometheus remote_write, Alertmanager webhooks and the markers API, each contributed as a
//! router by its receiver ([`HttpReceiver`]).

pub mod alertmanager;
pub mod body;
pub mod context;
pub mod markers;
pub mod otlp;
pub mod remote_write;
pub mod syslog;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::IngestConfig;
use crate::sink::EventSink;

/// The receivers cutover has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiverKind {
    /// OTLP over gRPC.
    OtlpGrpc,
    /// The HTTP listener: OTLP/HTTP (protobuf and JSON), remote_write, Alertmanager, markers.
    OtlpHttp,
    /// Syslog over TCP.
    SyslogTcp,
    /// Syslog over UDP.
    SyslogUdp,
}

impl ReceiverKind {
    /// Stable name used in logs, metrics and the ready line.
    pub fn name(self) -> &'static str {
        match self {
            ReceiverKind::OtlpGrpc => "otlp_grpc",
            ReceiverKind::OtlpHttp => "otlp_http",
            ReceiverKind::SyslogTcp => "syslog_tcp",
            ReceiverKind::SyslogUdp => "syslog_udp",
        }
    }
}

/// The receivers served on the HTTP listener, with their paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpReceiver {
    /// `POST /v1/traces`, `/v1/metrics`, `/v1/logs`.
    Otlp,
    /// `POST /api/v1/write`.
    PromRemoteWrite,
    /// `POST /v1/alertmanager`.
    Alertmanager,
    /// `POST /v1/markers`.
    Markers,
}

/// Every HTTP receiver's router; the one place a new HTTP receiver is registered.
pub fn http_receivers(otlp: Arc<otlp::OtlpState>, ctx: Arc<context::HttpContext>) -> Vec<(HttpReceiver, axum::Router)> {
    vec![
        (HttpReceiver::Otlp, otlp::http::router(otlp)),
        (HttpReceiver::PromRemoteWrite, remote_write::router(ctx.clone())),
        (HttpReceiver::Alertmanager, alertmanager::router(ctx.clone())),
        (HttpReceiver::Markers, markers::router(ctx)),
    ]
}

/// A receiver bound to its address, ready to serve.
pub struct BoundReceiver {
    /// Which one.
    pub kind: ReceiverKind,
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    serve: Box<dyn FnOnce(tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> + Send>,
}

impl BoundReceiver {
    /// Starts serving until the watch flips to `true`.
    pub fn serve(self, shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        (self.serve)(shutdown)
    }
}

async fn wait_for(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Binds every configured receiver. Binding happens before serving so that the addresses
/// can be reported and a busy port fails start-up instead of a background task.
pub async fn build_receivers(config: &IngestConfig, sink: Arc<EventSink>) -> std::io::Result<Vec<BoundReceiver>> {
    let mut out = Vec::new();
    let ctx = Arc::new(context::HttpContext {
        sink: sink.clone(),
        default_region: config.region.clone(),
        region_label: config.region_label.clone(),
        max_body_bytes: config.otlp.max_body_bytes,
    });
    if let Some(addr) = config.syslog_tcp {
        let listener = TcpListener::bind(addr).await?;
        let ctx = ctx.clone();
        out.push(BoundReceiver {
            kind: ReceiverKind::SyslogTcp,
            addr: listener.local_addr()?,
            serve: Box::new(move |stop| tokio::spawn(syslog::serve_tcp(ctx, listener, stop))),
        });
    }
    if let Some(addr) = config.syslog_udp {
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        let ctx = ctx.clone();
        out.push(BoundReceiver {
            kind: ReceiverKind::SyslogUdp,
            addr: socket.local_addr()?,
            serve: Box::new(move |stop| tokio::spawn(syslog::serve_udp(ctx, socket, stop))),
        });
    }
    let state = Arc::new(otlp::OtlpState {
        sink,
        default_region: config.region.clone(),
        max_body_bytes: config.otlp.max_body_bytes,
    });

    let grpc_listener = TcpListener::bind(config.otlp.grpc_addr).await?;
    let grpc = otlp::grpc::OtlpGrpc(state.clone());
    out.push(BoundReceiver {
        kind: ReceiverKind::OtlpGrpc,
        addr: grpc_listener.local_addr()?,
        serve: Box::new(move |stop| {
            tokio::spawn(async move {
                let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
                if let Err(error) = grpc.serve(incoming, wait_for(stop)).await {
                    tracing::error!(%error, receiver = "otlp_grpc", "server failed");
                }
            })
        }),
    });

    let http_listener = TcpListener::bind(config.otlp.http_addr).await?;
    let http_router = http_receivers(state, ctx)
        .into_iter()
        .fold(axum::Router::new(), |all, (_, r)| all.merge(r));
    out.push(BoundReceiver {
        kind: ReceiverKind::OtlpHttp,
        addr: http_listener.local_addr()?,
        serve: Box::new(move |stop| {
            tokio::spawn(async move {
                if let Err(error) = axum::serve(http_listener, http_router)
                    .with_graceful_shutdown(wait_for(stop))
                    .await
                {
                    tracing::error!(%error, receiver = "otlp_http", "server failed");
                }
            })
        }),
    });
    Ok(out)
}
