//! Consensus: every durable change goes through one openraft log.
//!
//! [`types`] declares the Raft types (an entry is a [`Batch`] of commands),
//! [`log_store`] and [`state_machine`] implement openraft's storage traits
//! over `nocas-store`, [`proposer`] batches concurrent writes into one entry
//! (group commit), [`network`] is the node-to-node transport, and [`node`]
//! runs it all. A standalone server is a one-member cluster.
//!
//! Architecture invariant: nothing here knows a Nacos wire format; the
//! state machine is the only writer of the durable state.
//!
//! [`Batch`]: nocas_core::command::Batch

// openraft's `StorageError` is large and its shape is openraft's, not ours;
// every storage call must return it.
#![allow(clippy::result_large_err)]

mod error;
pub mod log_store;
pub mod network;
pub mod node;
mod proposer;
pub mod state_machine;
pub mod types;

pub use error::ClusterError;
pub use node::{Node, NodeStatus, RaftSettings};
pub use state_machine::{SharedState, StateMachine};
