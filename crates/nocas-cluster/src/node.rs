//! A running Raft node: start-up (load, initialize, elect, catch up),
//! writes through the proposer, status, shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, Config, ServerState, SnapshotPolicy};

use nocas_core::command::{Command, CommandResult, EventSink};
use nocas_store::Store;

use crate::error::ClusterError;
use crate::log_store::LogStore;
use crate::network::NoPeers;
use crate::proposer::Proposer;
use crate::state_machine::{SharedState, StateMachine};
use crate::types::{NodeId, Raft};

/// Timers and limits of the consensus layer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftSettings {
    /// Leader heartbeat interval (ms).
    pub heartbeat_ms: u64,
    /// Minimum election timeout (ms).
    pub election_min_ms: u64,
    /// Maximum election timeout (ms).
    pub election_max_ms: u64,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_after_logs: u64,
    /// Entries kept in the log behind a snapshot.
    pub keep_logs: u64,
    /// Most commands in one log entry.
    pub max_batch: usize,
    /// Most commands waiting to be proposed.
    pub queue: usize,
    /// Time a write may take before it fails (ms).
    pub write_timeout_ms: u64,
    /// Time start-up may take to elect and catch up (ms).
    pub startup_timeout_ms: u64,
}

impl Default for RaftSettings {
    fn default() -> Self {
        Self {
            heartbeat_ms: 500,
            election_min_ms: 1500,
            election_max_ms: 3000,
            snapshot_after_logs: 10_000,
            keep_logs: 1_000,
            max_batch: 4096,
            queue: 65_536,
            write_timeout_ms: 5_000,
            startup_timeout_ms: 30_000,
        }
    }
}

/// Where the node stands.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// This node's id.
    pub id: NodeId,
    /// `Leader`, `Follower`, `Candidate` or `Learner`.
    pub state: String,
    /// Current leader, if known.
    pub leader: Option<NodeId>,
    /// Current term.
    pub term: u64,
    /// Index of the last log entry.
    pub last_log_index: Option<u64>,
    /// Index of the last applied entry.
    pub last_applied: Option<u64>,
    /// Members and their addresses.
    pub members: Vec<(NodeId, String)>,
}

/// A running node.
pub struct Node {
    id: NodeId,
    raft: Raft,
    state: SharedState,
    store: Store,
    proposer: Proposer,
    write_timeout: Duration,
}

impl Node {
    /// Starts node `id` (advertised at `addr`) over `store`, initializing a
    /// one-member cluster on first start, and returns once it leads and has
    /// applied everything in its log.
    pub async fn start(
        id: NodeId,
        addr: String,
        store: Store,
        sink: Arc<dyn EventSink>,
        settings: &RaftSettings,
    ) -> Result<Self, ClusterError> {
        let config = Config {
            cluster_name: "nocas".into(),
            heartbeat_interval: settings.heartbeat_ms,
            election_timeout_min: settings.election_min_ms,
            election_timeout_max: settings.election_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(settings.snapshot_after_logs),
            max_in_snapshot_log_to_keep: settings.keep_logs,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let sm = StateMachine::open(store.clone(), sink)
            .await
            .map_err(|e| ClusterError::Storage(e.to_string()))?;
        let state = sm.state();
        let last_log = {
            let s = store.clone();
            tokio::task::spawn_blocking(move || s.last_log())
                .await
                .map_err(|e| ClusterError::Storage(e.to_string()))?
                .map_err(|e| ClusterError::Storage(e.to_string()))?
                .map(|(i, _)| i)
        };
        let raft = Raft::new(
            id,
            Arc::new(config),
            NoPeers,
            LogStore::new(store.clone()),
            sm,
        )
        .await
        .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let fatal = |e: openraft::error::Fatal<u64>| ClusterError::Raft(e.to_string());
        if !raft.is_initialized().await.map_err(fatal)? {
            let members = BTreeMap::from([(id, BasicNode { addr })]);
            raft.initialize(members)
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
        } else {
            // A sole member need not wait out an election timeout.
            raft.trigger().elect().await.map_err(fatal)?;
        }
        let timeout = Some(Duration::from_millis(settings.startup_timeout_ms));
        raft.wait(timeout)
            .state(ServerState::Leader, "become leader")
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        if let Some(last) = last_log {
            raft.wait(timeout)
                .applied_index_at_least(Some(last), "apply the log")
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
        }
        let proposer = Proposer::spawn(raft.clone(), settings.queue, settings.max_batch);
        Ok(Self {
            id,
            raft,
            state,
            store,
            proposer,
            write_timeout: Duration::from_millis(settings.write_timeout_ms),
        })
    }

    /// Applies a command through the log and returns its result.
    pub async fn write(&self, cmd: Command) -> Result<CommandResult, ClusterError> {
        match tokio::time::timeout(self.write_timeout, self.proposer.propose(cmd)).await {
            Ok(r) => r,
            Err(_) => Err(ClusterError::Timeout(self.write_timeout.as_millis() as u64)),
        }
    }

    /// The durable state, for reads.
    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// The store, for reads that do not live in memory (history).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Where the node stands.
    pub fn status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow().clone();
        let members = m
            .membership_config
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect();
        NodeStatus {
            id: self.id,
            state: format!("{:?}", m.state),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            members,
        }
    }

    /// Whether this node leads.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.id)
    }

    /// Stops Raft, makes every applied change durable and closes the store.
    pub async fn shutdown(&self) -> Result<(), ClusterError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| ClusterError::Storage(e.to_string()))?
            .map_err(|e| ClusterError::Storage(e.to_string()))
    }
}
