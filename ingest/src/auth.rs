//! Bearer-token authentication of HTTP and gRPC requests, before their body is read.
//!
//! Tokens are read once at start from a file (first line) or an environment variable and kept
//! only as BLAKE3 hashes; a presented token is hashed and compared with each in constant time
//! (`blake3::Hash` equality), so neither timing nor logs reveal one.

use std::collections::HashSet;

use http::{HeaderMap, header};

use crate::config::{AuthConfig, Scope};

/// Accepted tokens.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone)]
struct Token {
    name: String,
    hash: blake3::Hash,
    scopes: Option<HashSet<Scope>>,
}

/// Why a request is not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token, or not one of ours: 401 / UNAUTHENTICATED.
    Unauthenticated,
    /// A valid token not allowed for this receiver: 403 / PERMISSION_DENIED.
    Forbidden,
}

impl Denied {
    /// The `outcome` label of request metrics.
    pub fn outcome(self) -> &'static str {
        match self {
            Denied::Unauthenticated => "unauthenticated",
            Denied::Forbidden => "forbidden",
        }
    }
}

impl Auth {
    /// Reads every token of `config`.
    pub fn load(config: &AuthConfig) -> Result<Auth, String> {
        let mut tokens = Vec::new();
        for t in &config.tokens {
            let value = match (&t.file, &t.env) {
                (Some(path), None) => std::fs::read_to_string(path)
                    .map_err(|e| format!("token {:?}: cannot read {}: {e}", t.name, path.display()))?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
                (None, Some(var)) => std::env::var(var)
                    .map_err(|_| format!("token {:?}: environment variable {var} is not set", t.name))?
                    .trim()
                    .to_string(),
                _ => return Err(format!("token {:?} needs exactly one of file: or env:", t.name)),
            };
            if value.len() < 16 {
                return Err(format!(
                    "token {:?} is {} characters; use at least 16 (e.g. `openssl rand -hex 32`)",
                    t.name,
                    value.len()
                ));
            }
            tokens.push(Token {
                name: t.name.clone(),
                hash: blake3::hash(value.as_bytes()),
                scopes: (!t.receivers.is_empty()).then(|| t.receivers.iter().copied().collect()),
            });
        }
        Ok(Auth { tokens })
    }

    /// Whether requests need a token.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Checks the `Authorization` header for `scope`; returns the token's name.
    pub fn check(&self, headers: &HeaderMap, scope: Scope) -> Result<Option<&str>, Denied> {
        if !self.enabled() {
            return Ok(None);
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (kind, token) = v.trim().split_once(' ')?;
                kind.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or(Denied::Unauthenticated)?;
        let hash = blake3::hash(presented.as_bytes());
        // Compare with every token, whatever matches first.
        let mut found: Option<&Token> = None;
        for t in &self.tokens {
            if t.hash == hash {
                found = Some(t);
            }
        }
        let t = found.ok_or(Denied::Unauthenticated)?;
        match &t.scopes {
            Some(s) if !s.contains(&scope) => Err(Denied::Forbidden),
            _ => Ok(Some(&t.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenConfig;

    fn auth() -> Auth {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "runbook-token-0123456789\nignored\n").unwrap();
        Auth::load(&AuthConfig {
            tokens: vec![TokenConfig {
                name: "runbook".into(),
                file: Some(f),
                env: None,
                receivers: vec![Scope::Markers],
            }],
            allow_unauthenticated: false,
        })
        .unwrap()
    }

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn tokens_are_checked_and_scoped() {
        let a = auth();
        assert_eq!(
            a.check(&headers("Bearer runbook-token-0123456789"), Scope::Markers),
            Ok(Some("runbook"))
        );
        assert_eq!(
            a.check(&headers("bearer  runbook-token-0123456789 "), Scope::Markers),
            Ok(Some("runbook"))
        );
        assert_eq!(
            a.check(&headers("Bearer runbook-token-0123456789"), Scope::Otlp),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            a.check(&headers("Bearer wrong"), Scope::Markers),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            a.check(&headers("Basic cnVuYm9vaw=="), Scope::Markers),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(a.check(&HeaderMap::new(), Scope::Markers), Err(Denied::Unauthenticated));
        assert_eq!(Auth::default().check(&HeaderMap::new(), Scope::Otlp), Ok(None));
    }

    #[test]
    fn short_or_missing_tokens_refuse_to_load() {
        let cfg = |env: &str| AuthConfig {
            tokens: vec![TokenConfig {
                name: "x".into(),
                file: None,
                env: Some(env.into()),
                receivers: vec![],
            }],
            allow_unauthenticated: false,
        };
        let e = Auth::load(&cfg("CUTOVER_TEST_SURELY_UNSET_VAR")).unwrap_err();
        assert!(e.contains("CUTOVER_TEST_SURELY_UNSET_VAR is not set"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "short-secret\n").unwrap();
        let e = Auth::load(&AuthConfig {
            tokens: vec![TokenConfig {
                name: "short".into(),
                file: Some(f),
                env: None,
                receivers: vec![],
            }],
            allow_unauthenticated: false,
        })
        .unwrap_err();
        assert!(e.contains("is 12 characters") && !e.contains("short-secret"), "{e}");
    }
}
