//! The node-to-node protocol: our own typed messages, MessagePack over HTTP
//! on the Raft port, optionally authenticated by a shared cluster secret.
//!
//! [`PeerClient`] sends; `peer_server` answers. Only these types cross the
//! wire between nodes, each within the configured size limit.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::members::MemberAddr;
use crate::types::NodeId;

/// Header carrying the cluster secret.
pub const SECRET_HEADER: &str = "x-nocas-cluster-secret";
/// Content type of peer messages.
pub const CONTENT_TYPE: &str = "application/msgpack";

/// A membership change asked of the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MembershipOp {
    /// Add a voter (it first catches up as a learner).
    Add {
        /// Its id.
        id: NodeId,
        /// `host:http[:raft]`.
        addr: String,
    },
    /// Remove a member.
    Remove {
        /// Its id.
        id: NodeId,
    },
}

/// Why a peer call failed.
#[derive(Debug, Clone, Error)]
pub enum PeerError {
    /// The request never reached the peer (safe to retry elsewhere).
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The request went out and no answer came back (a reset, a closed
    /// connection, a timeout): the peer may or may not have acted on it.
    /// Safe to send again only when acting twice is harmless (a read).
    #[error("peer call lost: {0}")]
    Lost(String),
    /// The peer answered with an error, or an answer that does not decode.
    #[error("peer call failed: {0}")]
    Failed(String),
}

/// Sends peer messages.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    secret: Option<Arc<str>>,
    /// What each peer was heard to speak (from its replies).
    versions: Arc<crate::version::Versions>,
    /// `https` with mutual TLS, else `http`.
    scheme: &'static str,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient").finish_non_exhaustive()
    }
}

/// Encodes a peer message.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(v).map_err(|e| e.to_string())
}

/// Decodes a peer message.
pub fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(b).map_err(|e| e.to_string())
}

impl PeerClient {
    /// A client sending `secret` (if any) with every call.
    pub fn new(secret: Option<String>) -> Self {
        Self::with_tls(secret, None)
    }

    /// A client sending `secret`; with `tls`, calls go over HTTPS with
    /// that configuration (the peer CA as the only root, this node's
    /// certificate as the client certificate).
    pub fn with_tls(secret: Option<String>, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true);
        let scheme = match tls {
            Some(cfg) => {
                b = b.use_preconfigured_tls((*cfg).clone()).https_only(true);
                "https"
            }
            None => "http",
        };
        let http = b.build().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot build the peer client; peer calls will fail");
            reqwest::Client::new()
        });
        Self {
            http,
            secret: secret.map(Arc::from),
            versions: Arc::default(),
            scheme,
        }
    }

    /// What each peer was heard to speak.
    pub fn versions(&self) -> &crate::version::Versions {
        &self.versions
    }

    /// Posts `req` to `path` on `to`'s Raft port and decodes the answer.
    pub async fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        to: &MemberAddr,
        path: &str,
        req: &Q,
        timeout: Duration,
    ) -> Result<R, PeerError> {
        let body = encode(req).map_err(PeerError::Failed)?;
        let mut r = self
            .http
            .post(format!("{}://{}:{}{path}", self.scheme, to.host, to.raft))
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(
                crate::version::PROTOCOL_HEADER,
                crate::version::protocol().to_string(),
            )
            .body(body);
        if let Some(s) = &self.secret {
            r = r.header(SECRET_HEADER, &**s);
        }
        // Only a connection that was never made is "unreachable" (callers
        // may send again, elsewhere). Anything after the request may have
        // left (a reset, a closed connection, a timeout) leaves the outcome
        // unknown: a forwarded write sent again after the leader took it
        // would be applied twice. (A pooled connection found closed before
        // the request left is retried by the HTTP client itself.)
        let resp = r.send().await.map_err(|e| {
            if e.is_connect() {
                PeerError::Unreachable(e.to_string())
            } else {
                PeerError::Lost(e.to_string())
            }
        })?;
        self.versions.heard(
            &to.to_string(),
            crate::version::from_header(
                resp.headers()
                    .get(crate::version::PROTOCOL_HEADER)
                    .map(|v| v.as_bytes()),
            ),
        );
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| PeerError::Lost(e.to_string()))?;
        if !status.is_success() {
            return Err(PeerError::Failed(format!(
                "{status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        decode(&bytes).map_err(PeerError::Failed)
    }
}
