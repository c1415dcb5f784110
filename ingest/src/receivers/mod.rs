//! Every receiver the daemon can run, registered in [`build_receivers`].
//!
//! Listeners: OTLP/gRPC on its own port; one HTTP port (default 4318) serving OTLP/HTTP,
//! Prometheus remote_write, Alertmanager webhooks and the markers API, each contributed as a
//! router by its receiver ([`HttpReceiver`]). Both are served by [`crate::serve`] with their
//! listener's limits and TLS, behind the token check ([`gate`]).

pub mod alertmanager;
pub mod body;
pub mod context;
pub mod markers;
pub mod otlp;
pub mod protosize;
pub mod remote_write;
pub mod syslog;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tokio::net::TcpListener;

use crate::StartError;
use crate::admission::Admission;
use crate::auth::{Auth, Denied};
use crate::config::{HttpListener, IngestConfig, Scope};
use crate::metrics::Metrics;
use crate::serve::{ServeOptions, serve_http};
use crate::sink::EventSink;
use crate::tls::TlsHandle;

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

/// Which receiver a request addresses, for the token check and its metrics.
fn http_scope(path: &str) -> Option<(Scope, &'static str)> {
    match path {
        "/v1/traces" | "/v1/metrics" | "/v1/logs" => Some((Scope::Otlp, "otlp_http")),
        "/api/v1/write" => Some((Scope::PrometheusRemoteWrite, "prometheus_remote_write")),
        "/v1/alertmanager" => Some((Scope::Alertmanager, "alertmanager")),
        "/v1/markers" => Some((Scope::Markers, "markers_api")),
        "/metrics" => Some((Scope::Metrics, "metrics")),
        _ => None,
    }
}

/// The token check in front of a listener's routes.
#[derive(Clone)]
pub struct Gate {
    auth: Arc<Auth>,
    metrics: Arc<Metrics>,
    grpc: bool,
}

/// Lets a request through when its bearer token may reach the receiver addressed; answers 401
/// / 403 (UNAUTHENTICATED / PERMISSION_DENIED on gRPC) before the body is read otherwise.
/// Every path but `/healthz` needs a token (an unknown path needs any token, then is 404), so a
/// route added later is never open by accident.
pub async fn gate(State(g): State<Gate>, req: Request, next: Next) -> Response {
    let (scope, receiver) = if g.grpc {
        (Scope::Otlp, "otlp_grpc")
    } else {
        match req.uri().path() {
            // The only route open to anyone: load balancers and probes carry no token.
            "/healthz" => return next.run(req).await,
            path => http_scope(path).unwrap_or((Scope::Otlp, "otlp_http")),
        }
    };
    match g.auth.check(req.headers(), scope) {
        Ok(_) => next.run(req).await,
        Err(denied) => {
            g.metrics
                .requests
                .with_label_values(&[receiver, denied.outcome()])
                .inc();
            let message = match denied {
                Denied::Unauthenticated => {
                    "missing or unknown bearer token (Authorization: Bearer <token>)".to_string()
                }
                Denied::Forbidden => format!("this token may not use the {} receiver", scope.name()),
            };
            if g.grpc {
                let status = match denied {
                    Denied::Unauthenticated => tonic::Status::unauthenticated(message),
                    Denied::Forbidden => tonic::Status::permission_denied(message),
                };
                return otlp::grpc::grpc_error(status);
            }
            let code = match denied {
                Denied::Unauthenticated => StatusCode::UNAUTHORIZED,
                Denied::Forbidden => StatusCode::FORBIDDEN,
            };
            let mut resp = (code, format!("{message}\n")).into_response();
            if denied == Denied::Unauthenticated {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"cutover\""),
                );
            }
            resp
        }
    }
}

fn serve_options(name: &'static str, l: &HttpListener, http2_only: bool) -> ServeOptions {
    ServeOptions {
        name,
        max_connections: l.max_connections,
        header_timeout: Duration::from_secs(l.header_timeout_secs.max(1)),
        idle_timeout: Duration::from_secs(l.idle_timeout_secs.max(1)),
        max_concurrent_streams: l.max_concurrent_streams.max(1),
        http2_only,
    }
}

fn load_tls(
    name: &'static str,
    tls: Option<&crate::config::TlsConfig>,
    alpn: &[&[u8]],
) -> Result<Option<TlsHandle>, StartError> {
    tls.map(|t| TlsHandle::load(name, t, alpn))
        .transpose()
        .map_err(StartError::Tls)
}

/// Binds every configured receiver. Binding happens before serving so that the addresses
/// can be reported and a busy port fails start-up instead of a background task. Returns the
/// receivers and the TLS handles to reload.
pub async fn build_receivers(
    config: &IngestConfig,
    sink: Arc<EventSink>,
    auth: Arc<Auth>,
) -> Result<(Vec<BoundReceiver>, Vec<TlsHandle>), StartError> {
    let mut out = Vec::new();
    let mut handles = Vec::new();
    let metrics = sink.metrics_handle();
    let admission = Admission::new(config.limits.inflight_bytes);
    metrics.inflight_limit_bytes.set(admission.total() as i64);
    let http_l = &config.listeners.http;
    let ctx = Arc::new(context::HttpContext {
        sink: sink.clone(),
        default_region: config.region.clone(),
        receivers: config.receivers.clone(),
        limits: config.limits.clone(),
        admission: admission.clone(),
        body_timeout: Duration::from_secs(http_l.body_timeout_secs.max(1)),
    });
    if let Some(l) = &config.listeners.syslog_tcp {
        let tls = load_tls("syslog_tcp", l.tls.as_ref(), &[])?;
        handles.extend(tls.clone());
        let listener = TcpListener::bind(l.addr).await?;
        let ctx = ctx.clone();
        let opts = syslog::TcpOptions {
            max_connections: l.max_connections,
            idle_timeout: Duration::from_secs(l.idle_timeout_secs.max(1)),
            tls,
        };
        out.push(BoundReceiver {
            kind: ReceiverKind::SyslogTcp,
            addr: listener.local_addr()?,
            serve: Box::new(move |stop| tokio::spawn(syslog::serve_tcp(ctx, listener, opts, stop))),
        });
    }
    if let Some(l) = &config.listeners.syslog_udp {
        let socket = tokio::net::UdpSocket::bind(l.addr).await?;
        syslog::set_receive_buffer(&socket, l.receive_buffer_bytes);
        let ctx = ctx.clone();
        out.push(BoundReceiver {
            kind: ReceiverKind::SyslogUdp,
            addr: socket.local_addr()?,
            serve: Box::new(move |stop| tokio::spawn(syslog::serve_udp(ctx, socket, stop))),
        });
    }
    let grpc_l = &config.listeners.grpc;
    let state = Arc::new(otlp::OtlpState {
        sink,
        default_region: config.region.clone(),
        limits: config.limits.clone(),
        admission,
        body_timeout: Duration::from_secs(http_l.body_timeout_secs.max(1)),
        request_timeout: Duration::from_secs(grpc_l.request_timeout_secs.max(1)),
    });

    let grpc_tls = load_tls("otlp_grpc", grpc_l.tls.as_ref(), &[b"h2"])?;
    handles.extend(grpc_tls.clone());
    let grpc_listener = TcpListener::bind(grpc_l.addr).await?;
    let grpc_router = otlp::grpc::router(state.clone()).layer(axum::middleware::from_fn_with_state(
        Gate {
            auth: auth.clone(),
            metrics: metrics.clone(),
            grpc: true,
        },
        gate,
    ));
    let grpc_opts = serve_options("otlp_grpc", grpc_l, true);
    let m = metrics.clone();
    out.push(BoundReceiver {
        kind: ReceiverKind::OtlpGrpc,
        addr: grpc_listener.local_addr()?,
        serve: Box::new(move |stop| tokio::spawn(serve_http(grpc_listener, grpc_tls, grpc_opts, grpc_router, m, stop))),
    });

    let http_tls = load_tls("otlp_http", http_l.tls.as_ref(), &[b"h2", b"http/1.1"])?;
    handles.extend(http_tls.clone());
    let http_listener = TcpListener::bind(http_l.addr).await?;
    let http_router = http_receivers(state, ctx)
        .into_iter()
        .fold(axum::Router::new(), |all, (_, r)| all.merge(r))
        .layer(axum::middleware::from_fn_with_state(
            Gate {
                auth,
                metrics: metrics.clone(),
                grpc: false,
            },
            gate,
        ));
    let http_opts = serve_options("otlp_http", http_l, false);
    out.push(BoundReceiver {
        kind: ReceiverKind::OtlpHttp,
        addr: http_listener.local_addr()?,
        serve: Box::new(move |stop| {
            tokio::spawn(serve_http(
                http_listener,
                http_tls,
                http_opts,
                http_router,
                metrics,
                stop,
            ))
        }),
    });
    Ok((out, handles))
}
