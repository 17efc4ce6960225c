//! Consensus: every durable change goes through one openraft log.
//!
//! [`types`] declares the Raft types (an entry is a [`Batch`] of commands),
//! [`log_store`] and [`state_machine`] implement openraft's storage traits
//! over `nocas-store`, `proposer` batches concurrent writes into one entry
//! (group commit), [`peer`], [`network`] and [`peer_server`] are the
//! node-to-node protocol (Raft RPCs, forwarded writes, membership changes),
//! [`soft_sync`] replicates ephemeral instances between owners and peers,
//! [`members`] parses member addresses, and [`node`] runs it all. A
//! standalone server is a one-member cluster.
//!
//! Architecture invariant: nothing here knows a Nacos wire format; the
//! state machine is the only writer of the durable state.
//!
//! [`Batch`]: nocas_core::command::Batch

// openraft's `StorageError` is large and its shape is openraft's, not ours;
// every storage call must return it.
#![allow(clippy::result_large_err)]

mod error;
mod lease;
pub mod log_store;
pub mod members;
pub mod network;
pub mod node;
pub mod peer;
pub mod peer_server;
mod proposer;
mod reads;
pub mod soft_sync;
pub mod state_machine;
pub mod types;
pub mod version;

pub use error::ClusterError;
pub use node::Forward;

/// Told about the cluster's work, for metrics; must not block.
pub trait ClusterObserver: Send + Sync {
    /// One log entry of `commands` commands was proposed (group commit).
    fn batch_proposed(&self, commands: usize);
    /// A snapshot of `bytes` was built (written and kept) in `took`.
    fn snapshot_built(&self, _bytes: u64, _took: std::time::Duration) {}
    /// A received snapshot of `bytes` was checked and installed in `took`.
    fn snapshot_installed(&self, _bytes: u64, _took: std::time::Duration) {}
}
pub use members::MemberAddr;
pub use node::{BackupFile, Node, NodeConfig, NodeStatus, RaftSettings};
pub use peer::MembershipOp;
pub use soft_sync::SoftSettings;
pub use state_machine::{SharedState, StateMachine};
