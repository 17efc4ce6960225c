//! The CLI's one error type and its exit codes.

/// Why a command did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line (or a file it names) is wrong: exit 2.
    #[error("{0}")]
    Usage(String),
    /// No server answered.
    #[error("no server answered: {0}")]
    Unreachable(String),
    /// The server refused or failed the request.
    #[error("{0}")]
    Server(String),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Anything else that failed: exit 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code: 2 for usage errors, 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// The CLI's result.
pub type Result<T> = std::result::Result<T, CliError>;
