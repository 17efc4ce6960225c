//! Storage errors.

use thiserror::Error;

/// What can go wrong in storage.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database reported an error (I/O, corruption, lock).
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    /// A stored value could not be encoded or decoded.
    #[error("codec error in {what}: {detail}")]
    Codec {
        /// What was being (de)coded.
        what: &'static str,
        /// The codec's message.
        detail: String,
    },
    /// A file beside the database (a snapshot) could not be read or
    /// written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The Raft log's files (the write-ahead log in `<name>-log/`) could not be read or
    /// written.
    #[error("raft log {dir}: {source}")]
    Log {
        /// The log's directory.
        dir: std::path::PathBuf,
        /// What the log said.
        source: std::io::Error,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// A stored key has an unexpected form.
    #[error("malformed key in table {0}")]
    BadKey(&'static str),
    /// A backup file is not one, is damaged, or cannot be restored here.
    #[error("backup: {0}")]
    Backup(String),
    /// Writing the applied state failed earlier, so part of it exists only
    /// in the log: nothing more is written until the node restarts and
    /// applies the log again.
    #[error(
        "an earlier write of the applied state failed ({0}); restart the node to apply the \
         log again"
    )]
    Failed(String),
    /// The database file is damaged (truncated, overwritten, not a
    /// database): the node must not start on it.
    #[error(
        "the database file {path} is damaged ({reason}); nothing was served from it. \
         In a cluster, move the data directory away and start the node again to catch up \
         from its peers; standalone, restore a backup (nocas restore)"
    )]
    Damaged {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
