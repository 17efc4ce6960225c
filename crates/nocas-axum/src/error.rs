//! Errors of the axum integration.

use nocas_client::ClientError;

/// What can go wrong starting or stopping a service.
#[derive(Debug, thiserror::Error)]
pub enum AxumError {
    /// The registry or config center refused or could not be reached.
    #[error("registry: {0}")]
    Client(#[from] ClientError),
    /// Binding or serving failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The log level could not be applied.
    #[error("logging: {0}")]
    Logging(String),
    /// A builder setting is missing or invalid.
    #[error("invalid setting: {0}")]
    Invalid(String),
}
