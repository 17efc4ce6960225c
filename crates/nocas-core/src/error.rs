//! Errors of the domain layer.
//!
//! [`ValidationError`] is what parsing client input can say; [`CommandError`]
//! is what applying a durable command can say. Both are plain data: the API
//! edge maps them to Nacos's HTTP and gRPC error shapes in one place.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A client-supplied value that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// A required parameter is absent or empty.
    #[error("Required parameter '{field}' is not present")]
    Missing {
        /// Parameter name.
        field: &'static str,
    },
    /// A parameter is present but blank.
    #[error("Param '{field}' is illegal, {field} is blank")]
    Blank {
        /// Parameter name.
        field: &'static str,
    },
    /// A parameter is longer than allowed.
    #[error("Param '{field}' is illegal, it is longer than {max} characters")]
    TooLong {
        /// Parameter name.
        field: &'static str,
        /// Longest accepted length.
        max: usize,
    },
    /// A parameter has characters outside its alphabet.
    #[error("Param '{field}' is illegal, it may only contain {allowed}")]
    InvalidChars {
        /// Parameter name.
        field: &'static str,
        /// Description of the accepted characters.
        allowed: &'static str,
    },
    /// A parameter is otherwise invalid.
    #[error("Param '{field}' is illegal, {reason}")]
    Invalid {
        /// Parameter name.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl ValidationError {
    /// The offending parameter.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Missing { field }
            | Self::Blank { field }
            | Self::TooLong { field, .. }
            | Self::InvalidChars { field, .. }
            | Self::Invalid { field, .. } => field,
        }
    }
}

/// A durable command that was validly formed but cannot apply to the
/// current state. Deterministic: every replica reaches the same verdict.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum CommandError {
    /// The namespace id is taken.
    #[error("namespace '{0}' already exists")]
    NamespaceExists(String),
    /// No such namespace.
    #[error("namespace '{0}' does not exist")]
    NamespaceNotFound(String),
    /// The public namespace cannot be changed or removed.
    #[error("the public namespace cannot be modified or removed")]
    PublicNamespace,
    /// A service with that name exists.
    #[error("service {0} already exists")]
    ServiceExists(String),
    /// No such service.
    #[error("service {0} is not found")]
    ServiceNotFound(String),
    /// The service still has instances.
    #[error("Service {0} is not empty, can't be delete. Please unregister instance first")]
    ServiceNotEmpty(String),
    /// No such instance.
    #[error("instance {0} is not found")]
    InstanceNotFound(String),
    /// Ephemeral and persistent instances cannot share a service.
    #[error("{0}")]
    EphemeralMismatch(String),
    /// A compare-and-swap publish saw another md5.
    #[error("Cas publish fail, server md5 may have changed.")]
    CasMismatch,
    /// No such config.
    #[error("config data not exist")]
    ConfigNotFound,
    /// The operation is not allowed in this state.
    #[error("{0}")]
    NotAllowed(String),
    /// The user name is taken.
    #[error("user '{0}' already exist!")]
    UserExists(String),
    /// No such user.
    #[error("user '{0}' not found!")]
    UserNotFound(String),
    /// No such role.
    #[error("role '{0}' not found!")]
    RoleNotFound(String),
}
