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
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// A stored key has an unexpected form.
    #[error("malformed key in table {0}")]
    BadKey(&'static str),
    /// A backup file is not one, is damaged, or cannot be restored here.
    #[error("backup: {0}")]
    Backup(String),
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
