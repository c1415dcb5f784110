//! Every receiver the daemon can run, registered in [`build_receivers`].

pub mod otlp;

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
    /// OTLP over HTTP (protobuf and JSON).
    OtlpHttp,
}

impl ReceiverKind {
    /// Stable name used in logs, metrics and the ready line.
    pub fn name(self) -> &'static str {
        match self {
            ReceiverKind::OtlpGrpc => "otlp_grpc",
            ReceiverKind::OtlpHttp => "otlp_http",
        }
    }
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
    let state = Arc::new(otlp::OtlpState {
        sink,
        default_region: config.region.clone(),
        max_body_bytes: config.otlp.max_body_bytes,
    });
    let mut out = Vec::new();

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
    let http_router = otlp::http::router(state);
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
