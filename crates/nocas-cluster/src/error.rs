//! Errors of the consensus layer.

use thiserror::Error;

/// Why a write could not be carried out.
#[derive(Debug, Clone, Error, serde::Serialize, serde::Deserialize)]
pub enum ClusterError {
    /// The cluster configuration is invalid.
    #[error("cluster configuration: {0}")]
    Config(String),
    /// A peer could not be reached, or answered with an error.
    #[error("peer: {0}")]
    Peer(String),
    /// This node is not the leader and cannot forward (single node: none).
    #[error("no leader: the cluster has no quorum or is electing a leader")]
    NoLeader,
    /// The write did not complete in time.
    #[error("write timed out after {0} ms")]
    Timeout(u64),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// Storage failed; the node cannot continue.
    #[error("storage failure: {0}")]
    Storage(String),
    /// The data directory's file system is (nearly) full: the write was
    /// refused before anything was appended.
    #[error("{0}")]
    DiskFull(String),
    /// Raft reported another error.
    #[error("raft error: {0}")]
    Raft(String),
}
