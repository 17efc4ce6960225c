//! A running node: start-up, writes (proposed here when leading, forwarded
//! to the leader otherwise), membership changes, status, shutdown.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{Config, ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};

use nocas_core::audit::Actor;
use nocas_core::command::{Command, CommandResult, EventSink};
use nocas_core::naming::soft::{PeerId, SoftRegistry};
use nocas_store::Store;

use crate::error::ClusterError;
use crate::log_store::LogStore;
use crate::members::{MemberAddr, numbered};
use crate::network::PeerNetwork;
use crate::peer::{MembershipOp, PeerClient, PeerError};
use crate::proposer::{Mode, Proposer};
use crate::soft_sync::{SoftReplicator, SoftSettings};
use crate::state_machine::{SharedState, StateMachine};
use crate::types::{NodeId, Raft};

/// Path of forwarded writes.
pub const WRITE: &str = "/raft/write";
/// Path of a forwarded write that names who asked for it (answered with
/// the index of the entry that carried it).
pub const WRITE_AS: &str = "/raft/write-as";
/// Path of a ReadIndex request to the leader.
pub const READ_INDEX: &str = "/raft/read-index";

/// A write forwarded to the leader, with who asked for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forward {
    /// The command.
    pub cmd: Command,
    /// Who asked.
    #[serde(default)]
    pub actor: Option<Actor>,
}
/// Path of membership changes.
pub const MEMBERS: &str = "/raft/members";
/// Path of a node's status.
pub const STATUS: &str = "/raft/status";
/// Path asking a node to stand for election now (a leader handing over).
pub const ELECT: &str = "/raft/elect";

/// Timers and limits of the consensus layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Most log entries of the group commit proposed and not yet applied:
    /// above 1, the next batch is appended (and replicated) while earlier
    /// ones are still on their way to a quorum. Default 1: every entry
    /// costs a fixed share of storage work (append, commit marker, apply),
    /// and on a 2-core machine more, smaller entries measured slower
    /// (publish, 32 writers: 1 node 10.0k/s at 1, 4.3k/s at 4; 3 nodes
    /// 4.2k/s at 1, 3.5k/s at 4). Worth trying where the network, not the
    /// disk or CPU, is the slow part.
    pub pipeline: usize,
    /// Most commands waiting to be proposed.
    pub queue: usize,
    /// Time a write may take before it fails (ms); also bounds how long a
    /// write waits for a leader.
    pub write_timeout_ms: u64,
    /// Time a standalone start-up may take to elect and catch up (ms).
    pub startup_timeout_ms: u64,
    /// Timeout of one Raft RPC to a peer (ms).
    pub rpc_timeout_ms: u64,
    /// Largest snapshot chunk sent to a peer (bytes).
    pub snapshot_chunk_bytes: u64,
    /// Time a peer may take to accept one snapshot chunk (ms): the last
    /// chunk's answer waits until the whole snapshot is installed, which
    /// at millions of records takes a while. Also bounds how long
    /// `doSnapshot` waits for a build.
    pub snapshot_timeout_ms: u64,
    /// Time a membership change may take (ms): an added node must catch
    /// up first, which takes as long as its log or snapshot does.
    pub membership_timeout_ms: u64,
    /// Time a stopping leader may spend handing leadership over (ms).
    pub handover_timeout_ms: u64,
    /// Serve linearizable reads at the leader without a quorum round while
    /// a quorum of followers accepted its heartbeats within the last
    /// `election_min_ms` (see `lease`).
    pub lease_reads: bool,
}

impl Default for RaftSettings {
    fn default() -> Self {
        Self {
            heartbeat_ms: 250,
            election_min_ms: 800,
            election_max_ms: 1600,
            snapshot_after_logs: 10_000,
            keep_logs: 1_000,
            max_batch: 4096,
            pipeline: 1,
            queue: 65_536,
            write_timeout_ms: 4_000,
            startup_timeout_ms: 30_000,
            rpc_timeout_ms: 3_000,
            snapshot_chunk_bytes: 4 * 1024 * 1024,
            snapshot_timeout_ms: 300_000,
            membership_timeout_ms: 60_000,
            handover_timeout_ms: 3_000,
            lease_reads: true,
        }
    }
}

/// How to start a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id.
    pub id: NodeId,
    /// This node's addresses.
    pub me: MemberAddr,
    /// The initial members (this node included); one member = standalone.
    pub members: Vec<MemberAddr>,
    /// Shared secret of node-to-node calls.
    pub secret: Option<String>,
    /// Join an existing cluster (wait to be added) instead of forming one.
    pub join: bool,
    /// Raft timers.
    pub raft: RaftSettings,
    /// Soft-state replication timers.
    pub soft: SoftSettings,
    /// Mutual TLS for calls to peers (`None`: plain HTTP).
    pub peer_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Refuse writes while the data directory is nearly full (`None`: never).
    pub space: Option<nocas_store::space::SpaceGuard>,
}

fn one() -> u32 {
    1
}

/// Where a node stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Index of the last entry this node knows committed.
    #[serde(default)]
    pub committed: Option<u64>,
    /// Index of the last snapshot.
    #[serde(default)]
    pub snapshot: Option<u64>,
    /// Members and their addresses (`host:http:raft`).
    pub members: Vec<(NodeId, String)>,
    /// Voting members.
    pub voters: Vec<NodeId>,
    /// Soft-state counts (cluster nodes).
    #[serde(default)]
    pub soft: Option<crate::soft_sync::SoftStatus>,
    /// The protocol this node speaks (1: a node from before protocols).
    #[serde(default = "one")]
    pub protocol: u32,
    /// The cluster's protocol as this node sees it (its oldest member's).
    #[serde(default = "one")]
    pub cluster_protocol: u32,
}

struct Inner {
    id: NodeId,
    me: MemberAddr,
    raft: Raft,
    state: SharedState,
    store: Store,
    proposer: Proposer,
    committed: Arc<std::sync::atomic::AtomicU64>,
    reads: crate::reads::ReadBatcher,
    write_timeout: Duration,
    membership_timeout: Duration,
    /// The leader lease (openraft's: the maximum election timeout).
    election_max_ms: u64,
    /// Followers' recent acks, for reads without a quorum round.
    lease: Arc<crate::lease::Lease>,
    /// How long an ack keeps the read lease (0: no lease reads).
    lease_read: Duration,
    /// The leadership this node restarted with, if it led when it stopped.
    restored_leader: Option<RestoredLeader>,
    peers: PeerClient,
    replicator: Option<Arc<SoftReplicator>>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// A leadership restored at start-up (see `Node::start_observed`).
#[derive(Debug, Clone, Copy)]
struct RestoredLeader {
    /// Its term.
    term: u64,
    /// The last log index the node restarted with: every entry it could
    /// have committed (and acknowledged) in that term is at or below it.
    last_log: u64,
}

impl RestoredLeader {
    /// `index` raised to cover the restored log when the read was decided
    /// in a term no later than the restored one. A later term's leader was
    /// elected, committed a fresh entry first, and needs no raise.
    fn cover(restored: Option<Self>, term: u64, index: u64) -> u64 {
        match restored {
            Some(r) if term <= r.term => index.max(r.last_log),
            _ => index,
        }
    }
}

/// A backup ready to send: its first two lines, then its body.
#[derive(Debug)]
pub struct BackupFile {
    /// What its header says.
    pub header: nocas_store::backup::BackupHeader,
    /// The magic line and the header line, encoded.
    pub head: Vec<u8>,
    /// The dump, in a file without a name, positioned at its start.
    pub body: std::fs::File,
}

/// A running node (cheap to clone).
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

fn raft_err(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Raft(e.to_string())
}

/// A membership change refused because this node is no longer the leader
/// is `NoLeader` (the caller retries at the new leader); anything else is
/// a Raft error.
fn membership_err(
    e: openraft::error::RaftError<
        NodeId,
        openraft::error::ClientWriteError<NodeId, openraft::BasicNode>,
    >,
) -> ClusterError {
    if e.forward_to_leader::<openraft::BasicNode>().is_some() {
        ClusterError::NoLeader
    } else {
        raft_err(e)
    }
}

/// A node started on a restored store holds state its log does not
/// contain: once it applies its first entry, snapshot and purge the log,
/// so a member added later gets the snapshot (with the restored state)
/// instead of a log without it.
async fn seal_restored(raft: &Raft, store: &Store) -> Result<(), ClusterError> {
    let applied = raft
        .wait(None)
        .applied_index_at_least(Some(1), "apply a first entry")
        .await
        .map_err(raft_err)?
        .last_applied
        .map_or(0, |l| l.index);
    raft.trigger().snapshot().await.map_err(raft_err)?;
    let snap = raft
        .wait(None)
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= applied),
            "snapshot the restored state",
        )
        .await
        .map_err(raft_err)?
        .snapshot
        .map_or(applied, |s| s.index);
    raft.trigger().purge_log(snap).await.map_err(raft_err)?;
    let st = store.clone();
    tokio::task::spawn_blocking(move || st.restored_done())
        .await
        .map_err(storage_err)?
        .map_err(storage_err)?;
    tracing::info!(
        index = snap,
        "restored state snapshotted; the log before it is purged"
    );
    Ok(())
}

fn storage_err(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Storage(e.to_string())
}

impl Node {
    /// Starts a node over `store`. A standalone node initializes a
    /// one-member cluster on first start and returns once it leads and has
    /// applied its log. A cluster node initializes the configured membership
    /// on first start (every node may: they agree) and returns at once, so
    /// it serves reads even while it has no quorum.
    pub async fn start(
        cfg: NodeConfig,
        store: Store,
        sink: Arc<dyn EventSink>,
        soft: Arc<SoftRegistry>,
    ) -> Result<Self, ClusterError> {
        Self::start_observed(cfg, store, sink, soft, None).await
    }

    /// [`Node::start`], telling `observer` about the cluster's work.
    pub async fn start_observed(
        cfg: NodeConfig,
        store: Store,
        sink: Arc<dyn EventSink>,
        soft: Arc<SoftRegistry>,
        observer: Option<Arc<dyn crate::ClusterObserver>>,
    ) -> Result<Self, ClusterError> {
        let s = &cfg.raft;
        let config = Config {
            cluster_name: "nocas".into(),
            heartbeat_interval: s.heartbeat_ms,
            election_timeout_min: s.election_min_ms,
            election_timeout_max: s.election_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(s.snapshot_after_logs),
            max_in_snapshot_log_to_keep: s.keep_logs,
            snapshot_max_chunk_size: s.snapshot_chunk_bytes,
            install_snapshot_timeout: s
                .snapshot_timeout_ms
                .max(s.rpc_timeout_ms)
                .max(s.election_max_ms),
            ..Default::default()
        }
        .validate()
        .map_err(raft_err)?;
        let sm = StateMachine::open(store.clone(), sink.clone())
            .await
            .map_err(storage_err)?;
        sm.set_observer(observer.clone());
        let state = sm.state();
        let last_log = {
            let st = store.clone();
            tokio::task::spawn_blocking(move || st.last_log())
                .await
                .map_err(storage_err)?
                .map_err(storage_err)?
                .map(|(i, _)| i)
        };
        let peers = PeerClient::with_tls(cfg.secret.clone(), cfg.peer_tls.clone());
        let lease = Arc::new(crate::lease::Lease::default());
        let mut log_store = LogStore::new(store.clone());
        let committed = log_store.committed_index();
        // openraft 0.9 restores a node that led when it stopped as leader of
        // the same term, without an election and so without a fresh entry
        // of its own to commit: its read index (the term's first entry, or
        // the commit index, which is not kept across restarts) can then be
        // older than writes it acknowledged before it stopped. Such a
        // leader's reads wait for all of the log it restarted with.
        let restored_leader = {
            use openraft::storage::RaftLogStorage;
            let vote = log_store.read_vote().await.map_err(storage_err)?;
            vote.filter(|v| v.is_committed() && v.leader_id().voted_for() == Some(cfg.id))
                .map(|v| RestoredLeader {
                    term: v.leader_id().get_term(),
                    last_log: last_log.unwrap_or(0),
                })
        };
        let raft = Raft::new(
            cfg.id,
            Arc::new(config),
            PeerNetwork::new(peers.clone(), lease.clone()),
            log_store,
            sm,
        )
        .await
        .map_err(raft_err)?;
        let standalone = cfg.members.len() <= 1;
        let initialized = raft.is_initialized().await.map_err(raft_err)?;
        if standalone {
            if !initialized {
                let members = BTreeMap::from([(cfg.id, cfg.me.to_node())]);
                raft.initialize(members).await.map_err(raft_err)?;
            } else {
                // A sole member need not wait out an election timeout.
                raft.trigger().elect().await.map_err(raft_err)?;
            }
            let timeout = Some(Duration::from_millis(s.startup_timeout_ms));
            raft.wait(timeout)
                .state(ServerState::Leader, "become leader")
                .await
                .map_err(raft_err)?;
            if let Some(last) = last_log {
                raft.wait(timeout)
                    .applied_index_at_least(Some(last), "apply the log")
                    .await
                    .map_err(raft_err)?;
            }
        } else if !initialized && !cfg.join {
            let members: BTreeMap<NodeId, openraft::BasicNode> = numbered(&cfg.members)
                .into_iter()
                .map(|(id, m)| (id, m.to_node()))
                .collect();
            if let Err(e) = raft.initialize(members).await {
                // Another node got there first: fine, the log will tell us.
                tracing::info!(error = %e, "cluster already initialized elsewhere");
            }
        }
        let restored = {
            let st = store.clone();
            tokio::task::spawn_blocking(move || st.restored_pending())
                .await
                .map_err(storage_err)?
                .map_err(storage_err)?
        };
        if restored {
            let (r, st) = (raft.clone(), store.clone());
            tokio::spawn(async move {
                if let Err(e) = seal_restored(&r, &st).await {
                    tracing::warn!(error = %e, "could not snapshot the restored state");
                }
            });
        }
        let proposer = Proposer::spawn(
            raft.clone(),
            s.queue,
            s.max_batch,
            s.pipeline,
            observer,
            cfg.space.clone(),
        );
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let replicator = if standalone {
            None
        } else {
            // A new incarnation on every start, larger than the last one's
            // (wall-clock microseconds).
            let incarnation = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0);
            Some(SoftReplicator::new(
                PeerId {
                    node: cfg.id,
                    incarnation,
                },
                soft,
                sink,
                peers.clone(),
                cfg.soft.clone(),
            ))
        };
        let node = Self {
            inner: Arc::new(Inner {
                id: cfg.id,
                me: cfg.me,
                raft,
                state,
                store,
                proposer,
                committed,
                reads: crate::reads::ReadBatcher::default(),
                write_timeout: Duration::from_millis(s.write_timeout_ms),
                membership_timeout: Duration::from_millis(s.membership_timeout_ms),
                election_max_ms: s.election_max_ms,
                lease,
                restored_leader,
                lease_read: if s.lease_reads {
                    Duration::from_millis(s.election_min_ms)
                } else {
                    Duration::ZERO
                },
                peers,
                replicator,
                stop,
            }),
        };
        if let Some(rep) = node.inner.replicator.clone() {
            let n = node.clone();
            tokio::spawn(rep.run(move || n.members(), stop_rx));
        }
        Ok(node)
    }

    /// Applies a command through the log (here if leading, else at the
    /// leader) and returns its result; fails with `NoLeader` if no leader
    /// answers within the write timeout.
    pub async fn write(&self, cmd: Command) -> Result<CommandResult, ClusterError> {
        self.write_as(cmd, None).await
    }

    /// [`Node::write`] on behalf of `actor` (recorded in the audit trail).
    pub async fn write_as(
        &self,
        cmd: Command,
        actor: Option<Actor>,
    ) -> Result<CommandResult, ClusterError> {
        let deadline = Instant::now() + self.inner.write_timeout;
        match tokio::time::timeout_at(deadline.into(), self.write_until(cmd, actor, deadline)).await
        {
            Ok(r) => r,
            Err(_) => Err(ClusterError::NoLeader),
        }
    }

    async fn write_until(
        &self,
        cmd: Command,
        actor: Option<Actor>,
        deadline: Instant,
    ) -> Result<CommandResult, ClusterError> {
        let mut metrics = self.inner.raft.metrics();
        loop {
            let leader = metrics.borrow().current_leader;
            match leader {
                Some(l) if l == self.inner.id => {
                    if self.inner.proposer.mode() == Mode::Refuse {
                        // A stopping leader without a successor.
                        return Err(ClusterError::ShuttingDown);
                    }
                    match self
                        .inner
                        .proposer
                        .propose(cmd.clone(), actor.clone())
                        .await
                    {
                        // Leadership moved before the entry was appended: retry.
                        Err(ClusterError::NoLeader) => {}
                        r => return r.map(|(result, _)| result),
                    }
                }
                Some(l) => {
                    if let Some(addr) = self.member_addr(l) {
                        let left = deadline.saturating_duration_since(Instant::now());
                        let fwd = Forward {
                            cmd: cmd.clone(),
                            actor: actor.clone(),
                        };
                        let r: Result<Result<(CommandResult, u64), ClusterError>, PeerError> =
                            self.inner.peers.call(&addr, WRITE_AS, &fwd, left).await;
                        let r = match r {
                            Err(PeerError::Failed(m)) if m.starts_with("404") => {
                                // A leader of an earlier version (a rolling
                                // upgrade): the write goes without its actor
                                // and without the index to wait for.
                                let left = deadline.saturating_duration_since(Instant::now());
                                let old: Result<Result<CommandResult, ClusterError>, PeerError> =
                                    self.inner.peers.call(&addr, WRITE, &cmd, left).await;
                                old.map(|r| r.map(|c| (c, 0)))
                            }
                            other => other,
                        };
                        match r {
                            Ok(Err(ClusterError::NoLeader)) | Err(PeerError::Unreachable(_)) => {}
                            Ok(Ok((result, index))) => {
                                // Read-your-writes: answer once the write is
                                // applied here too (bounded by the deadline;
                                // the write stands either way).
                                let left = deadline.saturating_duration_since(Instant::now());
                                let _ = self.wait_applied(index, left).await;
                                return Ok(result);
                            }
                            Ok(Err(e)) => return Err(e),
                            Err(PeerError::Lost(m) | PeerError::Failed(m)) => {
                                return Err(ClusterError::Peer(m));
                            }
                        }
                    }
                }
                None => {}
            }
            // Wait for news of a leader (or a moment, then look again).
            let _ = tokio::time::timeout(Duration::from_millis(50), metrics.changed()).await;
        }
    }

    /// Applies a command here, without forwarding (the leader's side of a
    /// forwarded write).
    pub async fn write_local(
        &self,
        cmd: Command,
        actor: Option<Actor>,
    ) -> Result<(CommandResult, u64), ClusterError> {
        if !self.is_leader() {
            return Err(ClusterError::NoLeader);
        }
        match tokio::time::timeout(
            self.inner.write_timeout,
            self.inner.proposer.propose(cmd, actor),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(ClusterError::Timeout(
                self.inner.write_timeout.as_millis() as u64
            )),
        }
    }

    /// Waits until this node has applied log entry `index` (at most
    /// `timeout`).
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> Result<(), ClusterError> {
        if index == 0 || self.last_applied_index() >= index {
            return Ok(());
        }
        self.inner
            .raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "read-your-writes")
            .await
            .map(|_| ())
            .map_err(|_| ClusterError::Timeout(timeout.as_millis() as u64))
    }

    fn last_applied_index(&self) -> u64 {
        self.inner
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |l| l.index)
    }

    /// A read barrier: returns once this node has applied every write
    /// committed anywhere in the cluster before the call (the leader's
    /// ReadIndex, confirmed by a quorum, then a wait for the local apply).
    /// Concurrent callers share one ReadIndex round. Fails with `NoLeader`
    /// when no quorum confirms a leader within the write timeout (the
    /// minority side of a partition), never answering stale.
    pub async fn read_barrier(&self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.inner.write_timeout;
        let index = tokio::time::timeout_at(deadline.into(), self.reads().read_index(self))
            .await
            .map_err(|_| ClusterError::NoLeader)??;
        let left = deadline.saturating_duration_since(Instant::now());
        self.wait_applied(index, left)
            .await
            .map_err(|_| ClusterError::NoLeader)
    }

    /// One ReadIndex round: at the leader, its read index confirmed by a
    /// quorum; elsewhere, asked of the leader.
    pub(crate) async fn fetch_read_index(&self) -> Result<u64, ClusterError> {
        let deadline = Instant::now() + self.inner.write_timeout;
        let mut metrics = self.inner.raft.metrics();
        loop {
            if Instant::now() >= deadline {
                return Err(ClusterError::NoLeader);
            }
            let leader = metrics.borrow().current_leader;
            match leader {
                Some(l) if l == self.inner.id => return self.leader_read_index().await,
                Some(l) => {
                    if let Some(addr) = self.member_addr(l) {
                        let r: Result<Result<u64, ClusterError>, PeerError> = self
                            .inner
                            .peers
                            .call(
                                &addr,
                                READ_INDEX,
                                &(),
                                deadline.saturating_duration_since(Instant::now()),
                            )
                            .await;
                        match r {
                            // A read index asked twice is harmless: a lost
                            // call is asked again.
                            Ok(Err(ClusterError::NoLeader))
                            | Err(PeerError::Unreachable(_) | PeerError::Lost(_)) => {}
                            Ok(r) => return r,
                            Err(PeerError::Failed(m)) => return Err(ClusterError::Peer(m)),
                        }
                    }
                }
                None => {}
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), metrics.changed()).await;
        }
    }

    /// The leader's read index through this node's batcher (the leader's
    /// side of a follower's ReadIndex request).
    pub async fn batched_leader_read_index(&self) -> Result<u64, ClusterError> {
        if !self.is_leader() {
            return Err(ClusterError::NoLeader);
        }
        self.reads().read_index(self).await
    }

    pub(crate) fn reads(&self) -> &crate::reads::ReadBatcher {
        &self.inner.reads
    }

    /// The leader's read index, after a quorum confirmed its leadership.
    pub async fn leader_read_index(&self) -> Result<u64, ClusterError> {
        if let Some(index) = self.lease_read_index() {
            return Ok(index);
        }
        // Terms only grow: the term the core answers in is at least this.
        let term = self.inner.raft.metrics().borrow().current_term;
        let asked = self.inner.raft.get_read_log_id();
        match tokio::time::timeout(self.inner.write_timeout, asked).await {
            Ok(Ok((read, _applied))) => Ok(RestoredLeader::cover(
                self.inner.restored_leader,
                term,
                read.map_or(0, |l| l.index),
            )),
            Ok(Err(openraft::error::RaftError::APIError(_))) | Err(_) => {
                Err(ClusterError::NoLeader)
            }
            Ok(Err(openraft::error::RaftError::Fatal(f))) => Err(ClusterError::Raft(f.to_string())),
        }
    }

    /// The read index without a quorum round, when the lease holds: this
    /// node leads, has applied an entry of its own term (so its commit
    /// index covers everything committed before it; for a leadership
    /// restored at start-up the index is raised to the log it restarted
    /// with), the membership is not changing, and a quorum of the other
    /// voters accepted its AppendEntries recently enough.
    fn lease_read_index(&self) -> Option<u64> {
        if self.inner.lease_read.is_zero() {
            return None;
        }
        let me = self.inner.id;
        let (term, followers, applied) = {
            let m = self.inner.raft.metrics();
            let m = m.borrow();
            if m.current_leader != Some(me) || m.state != openraft::ServerState::Leader {
                return None;
            }
            let applied = m.last_applied?;
            if applied.leader_id.get_term() != m.current_term {
                return None;
            }
            let membership = m.membership_config.membership();
            if membership.get_joint_config().len() != 1 {
                return None;
            }
            let followers: Vec<NodeId> = membership.voter_ids().filter(|v| *v != me).collect();
            (m.current_term, followers, applied.index)
        };
        let until = self
            .inner
            .lease
            .valid_until(term, &followers, self.inner.lease_read)?;
        if Instant::now() >= until {
            return None;
        }
        let committed = self
            .inner
            .committed
            .load(std::sync::atomic::Ordering::Acquire);
        Some(RestoredLeader::cover(
            self.inner.restored_leader,
            term,
            committed.max(applied),
        ))
    }

    /// Hands leadership to an up-to-date voter before this node stops, so
    /// writes do not wait out an election timeout. Only a leader of a
    /// cluster does anything. New proposals are held (queued, not failed);
    /// once everything proposed is applied and a voter has all of the log,
    /// that voter is asked to stand for election, which this node grants
    /// (its own lease is past: a leader's vote is not refreshed by its
    /// heartbeats, so at most `election_max_ms` after it was elected). The
    /// held proposals then go to the new leader. Returns the new leader, or
    /// `None` when nothing was handed over (not leader, standalone, or no
    /// voter caught up within `timeout`: the node then stops as before and
    /// the others elect after their timeout).
    pub async fn hand_over(&self, timeout: Duration) -> Option<NodeId> {
        let me = self.inner.id;
        if !self.is_clustered() || !self.is_leader() {
            return None;
        }
        let deadline = Instant::now() + timeout;
        // This node is about to vote for its successor: no lease reads.
        self.inner.lease.suspend();
        // Returns once no batch is being appended: the log stays as the
        // chosen voter will have it.
        let held =
            tokio::time::timeout_at(deadline.into(), self.inner.proposer.set_mode(Mode::Hold))
                .await
                .is_ok();
        let result = if held {
            self.hand_over_until(me, deadline).await
        } else {
            None
        };
        // This node stops now. Held and later commands are answered
        // `NoLeader` unproposed, so forwarding nodes send them to the new
        // leader (or whoever the others elect): after a hand-over this
        // node cannot append anyway, and without one it must not append
        // entries it may stop before committing.
        let _ = tokio::time::timeout(
            self.inner.write_timeout,
            self.inner.proposer.set_mode(Mode::Refuse),
        )
        .await;
        match result {
            Some(to) => tracing::info!(to, "leadership handed over"),
            None => tracing::warn!(
                "leadership not handed over in time; peers will elect after their timeout"
            ),
        }
        result
    }

    async fn hand_over_until(&self, me: NodeId, deadline: Instant) -> Option<NodeId> {
        let mut metrics = self.inner.raft.metrics();
        // 1. Everything proposed is applied, and a voter matches the log.
        let target = loop {
            let found = {
                let m = metrics.borrow();
                let last = m.last_log_index;
                let applied = m.last_applied.map(|l| l.index);
                let voters: Vec<NodeId> = m
                    .membership_config
                    .membership()
                    .voter_ids()
                    .filter(|id| *id != me)
                    .collect();
                if m.current_leader != Some(me) {
                    return None;
                }
                (applied == last)
                    .then(|| {
                        m.replication.as_ref().and_then(|r| {
                            voters
                                .iter()
                                .find(|v| r.get(v).and_then(|l| l.map(|l| l.index)) == last)
                                .copied()
                        })
                    })
                    .flatten()
            };
            if let Some(t) = found {
                break t;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let _ =
                tokio::time::timeout(left.min(Duration::from_millis(20)), metrics.changed()).await;
        };
        // 2. This node grants a vote only once its own lease is past.
        let lease = Duration::from_millis(self.inner.election_max_ms);
        if let Ok(Some(since)) = self
            .inner
            .raft
            .with_raft_state(|st| st.vote_last_modified().map(|t| t.elapsed()))
            .await
            && since < lease
        {
            let wait = lease - since + Duration::from_millis(5);
            if Instant::now() + wait > deadline {
                return None;
            }
            tokio::time::sleep(wait).await;
        }
        // 3. Ask the target to stand, and wait for the change.
        let addr = self.member_addr(target)?;
        let asked_term = metrics.borrow().current_term;
        let left = deadline.saturating_duration_since(Instant::now());
        let asked: Result<(), PeerError> = self.inner.peers.call(&addr, ELECT, &(), left).await;
        if let Err(e) = asked {
            tracing::warn!(target, error = %e, "hand-over: the chosen voter did not stand");
            return None;
        }
        loop {
            let (leader, term) = {
                let m = metrics.borrow();
                (m.current_leader, m.current_term)
            };
            if let Some(l) = leader
                && l != me
            {
                return Some(l);
            }
            if leader == Some(me) && term > asked_term {
                // The voter lost and this node was elected again.
                return None;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let _ =
                tokio::time::timeout(left.min(Duration::from_millis(20)), metrics.changed()).await;
        }
    }

    /// Waits until the Raft core stopped on an error it cannot recover
    /// from (a log append, an apply or an fsync failed) and says what
    /// failed. Never returns while the node is healthy; returns `None`
    /// when the node was shut down normally.
    pub async fn failed(&self) -> Option<String> {
        let mut m = self.inner.raft.metrics();
        loop {
            if let Err(fatal) = &m.borrow().running_state {
                return match fatal {
                    openraft::error::Fatal::Stopped => None,
                    other => Some(other.to_string()),
                };
            }
            if m.changed().await.is_err() {
                return None;
            }
        }
    }

    /// The durable state, for reads.
    pub fn state(&self) -> &SharedState {
        &self.inner.state
    }

    /// The store, for reads that do not live in memory (history).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The Raft handle (for the peer server).
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// This node's addresses.
    pub fn me(&self) -> &MemberAddr {
        &self.inner.me
    }

    /// Whether this node is one of several.
    pub fn is_clustered(&self) -> bool {
        self.inner.replicator.is_some()
    }

    /// The soft-state replicator (cluster nodes only).
    pub fn replicator(&self) -> Option<&Arc<SoftReplicator>> {
        self.inner.replicator.as_ref()
    }

    /// This node's ephemeral instances changed in `keys`: replicate.
    pub fn soft_changed(&self, keys: &[nocas_core::names::ServiceKey]) {
        if let Some(r) = &self.inner.replicator {
            r.local_changed(keys);
        }
    }

    /// Sends a soft-state message to member `owner` (with the replication
    /// call timeout).
    async fn call_owner<Q: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        owner: NodeId,
        path: &str,
        msg: &Q,
    ) -> Result<R, PeerError> {
        let addr = self
            .member_addr(owner)
            .ok_or_else(|| PeerError::Unreachable(format!("node {owner} is not a member")))?;
        let timeout = self
            .inner
            .replicator
            .as_ref()
            .map_or(self.inner.write_timeout, |r| r.call_timeout());
        self.inner.peers.call(&addr, path, msg, timeout).await
    }

    /// Forwards a beat to the node that owns the instance: its answer
    /// (`None`: it does not know the instance), or an error when it could
    /// not be asked.
    pub async fn forward_beat(
        &self,
        owner: NodeId,
        key: &nocas_core::names::ServiceKey,
        instance: &nocas_core::naming::InstanceKey,
    ) -> Result<Option<nocas_core::naming::soft::BeatAck>, PeerError> {
        let msg = crate::soft_sync::SoftBeat {
            key: key.clone(),
            instance: instance.clone(),
        };
        self.call_owner(owner, crate::soft_sync::BEAT, &msg).await
    }

    /// Whether the node that owned `owner`'s instances is gone (left,
    /// silent or restarted), so they are being handed over.
    pub fn owner_gone(&self, owner: PeerId) -> bool {
        self.inner
            .replicator
            .as_ref()
            .is_some_and(|r| r.owner_gone(owner))
    }

    /// While this node recovers from a pause, the earlier incarnation that
    /// closing connections hand their instances over to.
    pub fn soft_recovering(&self) -> Option<PeerId> {
        self.inner.replicator.as_ref().and_then(|r| r.recovering())
    }

    /// Start-up of a cluster node: pulls the peers' soft state (bounded)
    /// before clients are served.
    pub async fn pull_soft_state(&self) {
        if let Some(r) = &self.inner.replicator {
            r.pull_all(&self.members()).await;
        }
    }

    /// Graceful shutdown, first step: tells the peers this node is
    /// leaving, so the instances of its clients are handed over while they
    /// move, and stops replicating (closing the connections next deletes
    /// nothing elsewhere).
    pub async fn leave(&self) {
        if let Some(r) = &self.inner.replicator {
            r.leave().await;
        }
    }

    /// Members in the current membership, with their addresses.
    pub fn members(&self) -> Vec<(NodeId, MemberAddr)> {
        let m = self.inner.raft.metrics().borrow().membership_config.clone();
        m.membership()
            .nodes()
            .filter_map(|(id, n)| MemberAddr::from_node(n).map(|a| (*id, a)))
            .collect()
    }

    fn member_addr(&self, id: NodeId) -> Option<MemberAddr> {
        self.members()
            .into_iter()
            .find(|(m, _)| *m == id)
            .map(|(_, a)| a)
    }

    /// Where this node stands.
    pub fn status(&self) -> NodeStatus {
        let m = self.inner.raft.metrics().borrow().clone();
        let members = m
            .membership_config
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect();
        let voters = m.membership_config.membership().voter_ids().collect();
        NodeStatus {
            id: self.inner.id,
            state: format!("{:?}", m.state),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            committed: match self
                .inner
                .committed
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                0 => None,
                c => Some(c),
            },
            snapshot: m.snapshot.map(|l| l.index),
            members,
            voters,
            soft: self.inner.replicator.as_ref().map(|r| r.status()),
            protocol: crate::version::protocol(),
            cluster_protocol: self.cluster_protocol(),
        }
    }

    /// [`Node::cluster_protocol`], first asking (bounded by `timeout`) the
    /// members not heard from yet, so a member just added or a node just
    /// started does not count as the oldest only for want of news.
    pub async fn cluster_protocol_fresh(&self, timeout: Duration) -> u32 {
        let now = self.cluster_protocol();
        if now >= crate::version::protocol() {
            return now;
        }
        let me = self.inner.id;
        let unheard: Vec<MemberAddr> = self
            .members()
            .into_iter()
            .filter(|(id, a)| *id != me && self.inner.peers.versions().of(&a.to_string()).is_none())
            .map(|(_, a)| a)
            .collect();
        let asks = unheard.iter().map(|a| self.peer_status(a, timeout));
        futures::future::join_all(asks).await;
        self.cluster_protocol()
    }

    /// The cluster's protocol: the lowest any member speaks, as heard in
    /// replies to this node's calls (a member not heard from counts as 1).
    /// Features an older node could not read wait for it.
    pub fn cluster_protocol(&self) -> u32 {
        let me = self.inner.id;
        let addrs: Vec<String> = self
            .inner
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id != me)
            .map(|(_, n)| n.addr.clone())
            .collect();
        self.inner.peers.versions().cluster(addrs)
    }

    /// Asks another member for its status.
    pub async fn peer_status(&self, addr: &MemberAddr, timeout: Duration) -> Option<NodeStatus> {
        self.inner.peers.call(addr, STATUS, &(), timeout).await.ok()
    }

    /// Whether this node leads.
    pub fn is_leader(&self) -> bool {
        self.inner.raft.metrics().borrow().current_leader == Some(self.inner.id)
    }

    /// Changes the membership: at the leader, or forwarded to it.
    pub async fn change_membership(&self, op: MembershipOp) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.inner.membership_timeout;
        loop {
            let leader = self.inner.raft.metrics().borrow().current_leader;
            match leader {
                // Leadership may move while the change runs: then again.
                Some(l) if l == self.inner.id => {
                    if self.inner.proposer.mode() == Mode::Refuse {
                        // A stopping leader without a successor.
                        return Err(ClusterError::ShuttingDown);
                    }
                    match self.change_membership_here(op.clone()).await {
                        Err(ClusterError::NoLeader) => {}
                        r => return r,
                    }
                }
                Some(l) => {
                    if let Some(addr) = self.member_addr(l) {
                        let left = deadline.saturating_duration_since(Instant::now());
                        let r: Result<Result<(), ClusterError>, PeerError> =
                            self.inner.peers.call(&addr, MEMBERS, &op, left).await;
                        match r {
                            Ok(Err(ClusterError::NoLeader)) | Err(PeerError::Unreachable(_)) => {}
                            Ok(r) => return r,
                            Err(PeerError::Lost(m) | PeerError::Failed(m)) => {
                                return Err(ClusterError::Peer(m));
                            }
                        }
                    }
                }
                None => {}
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::NoLeader);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The leader's side of a membership change.
    pub async fn change_membership_here(&self, op: MembershipOp) -> Result<(), ClusterError> {
        if !self.is_leader() {
            return Err(ClusterError::NoLeader);
        }
        let raft = &self.inner.raft;
        let voters: BTreeSet<NodeId> = self.status().voters.into_iter().collect();
        match op {
            MembershipOp::Add { id, addr } => {
                let addr = MemberAddr::parse(&addr)?;
                let st = self.inner.store.clone();
                let pending = tokio::task::spawn_blocking(move || st.restored_pending())
                    .await
                    .map_err(storage_err)?
                    .map_err(storage_err)?;
                if pending {
                    // Its log does not hold the restored state yet: a new
                    // member would be sent entries without it.
                    return Err(ClusterError::Config(
                        "this node's state was restored from a backup and is being snapshotted; add the member again in a moment".into(),
                    ));
                }
                raft.add_learner(id, addr.to_node(), true)
                    .await
                    .map_err(membership_err)?;
                let mut v = voters;
                v.insert(id);
                raft.change_membership(v, false)
                    .await
                    .map_err(membership_err)?;
            }
            MembershipOp::Remove { id } => {
                let mut v = voters;
                if !v.remove(&id) {
                    return Err(ClusterError::Config(format!("node {id} is not a voter")));
                }
                if v.is_empty() {
                    return Err(ClusterError::Config("cannot remove the last member".into()));
                }
                raft.change_membership(v, false)
                    .await
                    .map_err(membership_err)?;
            }
        }
        Ok(())
    }

    /// A digest of the applied state's content (equal on nodes that applied
    /// the same log), with the index it was taken at.
    pub async fn state_digest(&self) -> Result<(Option<u64>, String), ClusterError> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.content_digest())
            .await
            .map_err(storage_err)?
            .map_err(storage_err)
            .map(|d| (self.status().last_applied, d))
    }

    /// Builds a snapshot of everything applied now and waits (bounded by
    /// `timeout`) until it is kept; returns the index it covers.
    pub async fn snapshot_now(&self, timeout: Duration) -> Result<u64, ClusterError> {
        let raft = &self.inner.raft;
        let applied = self.status().last_applied.unwrap_or(0);
        raft.trigger().snapshot().await.map_err(raft_err)?;
        let m = raft
            .wait(Some(timeout))
            .metrics(
                |m| m.snapshot.is_some_and(|s| s.index >= applied),
                "build a snapshot",
            )
            .await
            .map_err(|e| match e {
                openraft::metrics::WaitError::Timeout(..) => {
                    ClusterError::Timeout(timeout.as_millis() as u64)
                }
                other => raft_err(other),
            })?;
        Ok(m.snapshot.map_or(applied, |s| s.index))
    }

    /// A backup of the applied state, taken in one read while writes go
    /// on, written into a file without a name (see
    /// [`nocas_store::backup`]). On the leader it first waits until
    /// everything committed before the call is applied, so it holds every
    /// write acknowledged before the backup began; on a follower it holds
    /// what that node has applied (the header says up to which entry).
    pub async fn backup(&self, version: &str, now_ms: u64) -> Result<BackupFile, ClusterError> {
        if self.is_leader() {
            self.inner
                .raft
                .ensure_linearizable()
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
        }
        let store = self.inner.store.clone();
        let id = self.inner.id;
        let version = version.to_string();
        tokio::task::spawn_blocking(move || {
            let body = store.backup_body().map_err(storage_err)?;
            let marker: crate::types::AppliedMarker = match &body.marker {
                Some(b) => crate::types::decode(b).map_err(storage_err)?,
                None => (None, crate::types::Membership::default()),
            };
            let header = nocas_store::backup::BackupHeader {
                format: 1,
                created_ms: now_ms,
                node_id: id,
                applied_index: marker.0.map(|l| l.index),
                applied_term: marker.0.map(|l| l.leader_id.term),
                digest: String::new(),
                bytes: 0,
                version,
            };
            let (header, head) = nocas_store::backup::head(header, &body).map_err(storage_err)?;
            Ok(BackupFile {
                header,
                head,
                body: body.file,
            })
        })
        .await
        .map_err(storage_err)?
    }

    /// Stops Raft and replication, makes every applied change durable and
    /// closes the store.
    pub async fn shutdown(&self) -> Result<(), ClusterError> {
        let _ = self.inner.stop.send(true);
        if let Some(r) = &self.inner.replicator {
            r.set_peers(&[]);
        }
        self.inner.raft.shutdown().await.map_err(raft_err)?;
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(storage_err)?
            .map_err(storage_err)
    }
}

#[cfg(test)]
mod tests {
    use super::RestoredLeader;

    #[test]
    fn a_restored_leadership_raises_read_indexes_of_its_term_only() {
        let r = Some(RestoredLeader {
            term: 7,
            last_log: 120,
        });
        // Decided in the restored term (or seen before the term moved):
        // the restored log is covered.
        assert_eq!(RestoredLeader::cover(r, 7, 100), 120);
        assert_eq!(RestoredLeader::cover(r, 6, 100), 120);
        assert_eq!(RestoredLeader::cover(r, 7, 130), 130);
        // A later term was won by an election: its own entry covers it.
        assert_eq!(RestoredLeader::cover(r, 8, 100), 100);
        // No leadership restored.
        assert_eq!(RestoredLeader::cover(None, 7, 100), 100);
    }
}
