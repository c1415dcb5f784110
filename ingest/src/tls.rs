//! TLS for the listeners (rustls): certificates read from PEM files and re-read on SIGHUP or
//! when a file changes, without closing a connection.
//!
//! Each TLS listener holds a [`TlsHandle`]: the current `ServerConfig` behind a lock. A new
//! connection's handshake takes the config current at that moment; a reload swaps it, so
//! sessions already open keep theirs. A reload that fails keeps the old config and logs why.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

/// A listener's TLS settings, reloadable.
#[derive(Clone)]
pub struct TlsHandle {
    inner: Arc<Inner>,
}

struct Inner {
    name: &'static str,
    config: TlsConfig,
    alpn: Vec<Vec<u8>>,
    current: RwLock<Arc<ServerConfig>>,
    stamp: RwLock<Vec<Option<SystemTime>>>,
}

/// Why a certificate set could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("TLS for {listener}: {message}")]
pub struct TlsError {
    /// The listener.
    pub listener: &'static str,
    /// What went wrong, naming the file.
    pub message: String,
}

fn build(config: &TlsConfig, alpn: &[Vec<u8>]) -> Result<ServerConfig, String> {
    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let cert_pem = read(&config.cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", config.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", config.cert.display()));
    }
    let key_pem = read(&config.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("{}: no usable PEM private key: {e}", config.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let ca_pem = read(ca)?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&ca_pem) {
                let c = c.map_err(|e| format!("{}: not a PEM certificate: {e}", ca.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("{}: unusable CA certificate: {e}", ca.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("{}: no CA certificate in the file", ca.display()));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "{} and {} do not make a usable pair: {e}",
            config.cert.display(),
            config.key.display()
        )
    })?;
    server.alpn_protocols = alpn.to_vec();
    Ok(server)
}

fn stamps(config: &TlsConfig) -> Vec<Option<SystemTime>> {
    [Some(&config.cert), Some(&config.key), config.client_ca.as_ref()]
        .into_iter()
        .flatten()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

impl TlsHandle {
    /// Loads the certificates of listener `name`; `alpn` lists the protocols it offers.
    pub fn load(name: &'static str, config: &TlsConfig, alpn: &[&[u8]]) -> Result<TlsHandle, TlsError> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let server = build(config, &alpn).map_err(|message| TlsError {
            listener: name,
            message,
        })?;
        Ok(TlsHandle {
            inner: Arc::new(Inner {
                name,
                config: config.clone(),
                alpn,
                current: RwLock::new(Arc::new(server)),
                stamp: RwLock::new(stamps(config)),
            }),
        })
    }

    /// The acceptor for the next handshake.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self.inner.current.read().expect("tls lock").clone();
        tokio_rustls::TlsAcceptor::from(config)
    }

    /// Re-reads the files; `force` reloads even when no modification time changed. Returns
    /// whether a new config is in use.
    pub fn reload(&self, force: bool) -> bool {
        let now = stamps(&self.inner.config);
        if !force && *self.inner.stamp.read().expect("tls lock") == now {
            return false;
        }
        // The stamp is kept only once the files load: a half-written file is tried again at
        // the next check even if its final write keeps the same modification time.
        match build(&self.inner.config, &self.inner.alpn) {
            Ok(server) => {
                *self.inner.stamp.write().expect("tls lock") = now;
                *self.inner.current.write().expect("tls lock") = Arc::new(server);
                tracing::warn!(listener = self.inner.name, "TLS certificates reloaded");
                true
            }
            Err(message) => {
                tracing::error!(listener = self.inner.name, %message, "TLS reload failed; keeping the previous certificates");
                false
            }
        }
    }
}

/// Reloads every handle on SIGHUP and when a file changes (checked every `poll`), until `stop`.
/// Without TLS the SIGHUP handler is still installed, so that a HUP sent out of habit does not
/// terminate the daemon.
pub async fn watch(handles: Vec<TlsHandle>, poll: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(error) => {
            tracing::warn!(%error, "no SIGHUP handler; certificates reload on file change only");
            None
        }
    };
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let force = tokio::select! {
            _ = tick.tick() => false,
            _ = async { match &mut hup { Some(h) => { h.recv().await; } None => std::future::pending().await } } => true,
            _ = stop.wait_for(|s| *s) => return,
        };
        for h in &handles {
            h.reload(force);
        }
    }
}
