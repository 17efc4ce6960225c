//! The openraft type configuration and the byte encoding of Raft values
//! handed to the store.

use openraft::{BasicNode, StorageError, StorageIOError, StoredMembership};
use serde::Serialize;
use serde::de::DeserializeOwned;

use nocas_core::command::{Batch, CommandResult};

openraft::declare_raft_types!(
    /// Nocas's Raft types: a log entry carries a [`Batch`] of commands and
    /// answers one result per command.
    pub TypeConfig:
        D = Batch,
        R = Vec<CommandResult>,
        NodeId = u64,
        Node = BasicNode,
        SnapshotData = tokio::fs::File,
);

/// Node id.
pub type NodeId = u64;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id.
pub type LogId = openraft::LogId<NodeId>;
/// A vote.
pub type Vote = openraft::Vote<NodeId>;
/// The membership stored with applied state.
pub type Membership = StoredMembership<NodeId, BasicNode>;
/// A Raft storage error.
pub type StorageErr = StorageError<NodeId>;
/// A Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;

/// What the `applied` marker holds: the last applied log id and the
/// membership in effect.
pub type AppliedMarker = (Option<LogId>, Membership);

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageErr> {
    rmp_serde::to_vec_named(v).map_err(|e| StorageIOError::write(&e).into())
}

pub(crate) fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, StorageErr> {
    rmp_serde::from_slice(b).map_err(|e| StorageIOError::read(&e).into())
}

/// Maps a store error into Raft's storage error.
pub(crate) fn read_err(e: impl std::error::Error + 'static) -> StorageErr {
    StorageIOError::read(&e).into()
}

/// Maps a store error into Raft's storage error.
pub(crate) fn write_err(e: impl std::error::Error + 'static) -> StorageErr {
    StorageIOError::write(&e).into()
}

/// Runs blocking store work off the async executor.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, StorageErr>
where
    F: FnOnce() -> Result<T, StorageErr> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageIOError::write(&e).into())
        .and_then(|r| r)
}
