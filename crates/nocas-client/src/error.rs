//! Errors of the client.

use thiserror::Error;

/// Why a call failed.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum ClientError {
    /// No server could be reached (all down, or their circuit breakers open).
    #[error("no server available: {0}")]
    Unavailable(String),
    /// The call did not complete in time.
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// The server refused the request.
    #[error("server error {code}: {message}")]
    Server {
        /// Nacos error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// The server answered something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The arguments are not valid.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Nothing is known about it (no server answered and nothing is cached).
    #[error("not found: {0}")]
    NotFound(String),
}

impl ClientError {
    /// Whether another attempt (possibly on another server) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Timeout(_) => true,
            // Unregistered connection, or the server is over its threshold.
            Self::Server { code, .. } => *code == 301 || *code == 503,
            _ => false,
        }
    }
}
