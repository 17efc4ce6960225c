//! The API edge's error type and its two renderings.
//!
//! Every failure a handler can meet becomes an [`ApiError`]; the one place
//! that decides the HTTP status and Nacos's v2 error code is here. v1
//! endpoints render the reason as plain text with the status (what Nacos
//! does); v2 endpoints render `{code, message, data}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use thiserror::Error;

use nocas_cluster::ClusterError;
use nocas_core::error::{CommandError, ValidationError};
use nocas_proto::http::V2Result;
use nocas_store::StoreError;

/// A failed request.
#[derive(Debug, Error)]
pub enum ApiError {
    /// A parameter is missing or malformed.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// The command cannot apply to the current state.
    #[error("{0}")]
    Command(#[from] CommandError),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed in a way not tied to one parameter.
    #[error("{0}")]
    BadRequest(String),
    /// The request body or a value is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// A limit on concurrent work was reached.
    #[error("{0}")]
    Busy(String),
    /// The cluster cannot take writes now (no leader, timeout).
    #[error("{0}")]
    Unavailable(String),
    /// Something broke inside the server.
    #[error("{0}")]
    Internal(String),
    /// Bad or missing token, or not enough rights.
    #[error("{0}")]
    Forbidden(String),
    /// The disk is (nearly) full: the write was refused, nothing changed.
    #[error("{0}")]
    DiskFull(String),
}

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::NoLeader
            | ClusterError::Timeout(_)
            | ClusterError::ShuttingDown
            | ClusterError::Peer(_) => Self::Unavailable(e.to_string()),
            ClusterError::Config(_) => Self::BadRequest(e.to_string()),
            ClusterError::Storage(_) | ClusterError::Raft(_) => Self::Internal(e.to_string()),
            ClusterError::DiskFull(m) => Self::DiskFull(m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Command(c) => match c {
                CommandError::NamespaceNotFound(_)
                | CommandError::InstanceNotFound(_)
                | CommandError::ConfigNotFound => StatusCode::NOT_FOUND,
                CommandError::CasMismatch => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            },
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::DiskFull(_) => StatusCode::INSUFFICIENT_STORAGE,
        }
    }

    /// Nacos v2 error code and its abstract.
    pub fn v2_code(&self) -> (u32, &'static str) {
        match self {
            Self::Invalid(ValidationError::Missing { .. }) => (10000, "parameter missing"),
            Self::Invalid(v) => match v.field() {
                "weight" => (21001, "weight error"),
                "metadata" => (21002, "instance metadata error"),
                "serviceName" | "groupName" => (21000, "service name error"),
                "clusterName" => (21004, "instance error"),
                "namespaceId" | "customNamespaceId" => (22000, "illegal namespace"),
                _ => (20002, "parameter validate error"),
            },
            Self::Command(c) => match c {
                CommandError::NamespaceExists(_) => (22002, "namespace already exist"),
                CommandError::NamespaceNotFound(_) => (22001, "namespace not exist"),
                CommandError::PublicNamespace => (22000, "illegal namespace"),
                CommandError::ServiceExists(_) => (21007, "service already exist"),
                CommandError::ServiceNotFound(_) => (21008, "service not exist"),
                CommandError::ServiceNotEmpty(_) => (21009, "service delete failure"),
                CommandError::InstanceNotFound(_) => (21003, "instance not found"),
                CommandError::EphemeralMismatch(_) => (21004, "instance error"),
                CommandError::CasMismatch => (20005, "resource conflict"),
                CommandError::ConfigNotFound => (20004, "resource not found"),
                CommandError::NotAllowed(_) => (21011, "health check still running"),
                CommandError::UserExists(_) => (20002, "parameter validate error"),
                CommandError::UserNotFound(_) | CommandError::RoleNotFound(_) => {
                    (20004, "resource not found")
                }
            },
            Self::NotFound(_) => (20004, "resource not found"),
            Self::BadRequest(_) => (20002, "parameter validate error"),
            Self::TooLarge(_) => (5034, "over max size"),
            Self::Busy(_) => (503, "over threshold"),
            Self::Unavailable(_) => (30000, "server error"),
            Self::Internal(_) => (30000, "server error"),
            Self::Forbidden(_) => (403, "access denied"),
            Self::DiskFull(_) => (30000, "server error"),
        }
    }

    /// Renders as a v1 response: status and plain-text reason.
    pub fn into_v1(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        (status, self.to_string()).into_response()
    }

    /// Renders as a v2 response: status and `{code, message, data}`.
    pub fn into_v2(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let (code, message) = self.v2_code();
        let body = V2Result {
            code,
            message: message.to_string(),
            data: self.to_string(),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// An error rendered the v1 way.
#[derive(Debug)]
pub struct V1(pub ApiError);

/// An error rendered the v2 way.
#[derive(Debug)]
pub struct V2(pub ApiError);

impl IntoResponse for V1 {
    fn into_response(self) -> Response {
        self.0.into_v1()
    }
}

impl IntoResponse for V2 {
    fn into_response(self) -> Response {
        self.0.into_v2()
    }
}

macro_rules! into_rendered {
    ($($e:ty),*) => {$(
        impl From<$e> for V1 {
            fn from(e: $e) -> Self {
                V1(e.into())
            }
        }
        impl From<$e> for V2 {
            fn from(e: $e) -> Self {
                V2(e.into())
            }
        }
    )*};
}

into_rendered!(
    ApiError,
    ValidationError,
    CommandError,
    ClusterError,
    StoreError
);

/// Result of a v1 handler.
pub type V1Result<T> = Result<T, V1>;
/// Result of a v2 handler.
pub type V2Reply<T> = Result<T, V2>;
