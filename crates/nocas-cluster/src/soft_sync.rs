//! Replication of soft state (ephemeral instances) between peers, and its
//! hand-over when a node dies, restarts or leaves.
//!
//! Each node owns the instances its clients registered. When they change in
//! a service, it sends every peer the full set it owns there with each
//! instance's stamp (coalesced per service, like pushes); peers hold that
//! set under `Owner::Peer` of the sender's [`PeerId`] (node and
//! incarnation). Every `digest_interval_ms` a node sends each peer a hash
//! per service of what it owns; a peer whose copy differs asks for those
//! services, and drops services the owner no longer has. The digest is
//! also the liveness signal.
//!
//! Hand-over instead of removal: what a node owned is kept by its peers
//! when it goes silent (killed, paused, cut off), when it says it is
//! leaving (graceful shutdown) and when it comes back as a new incarnation
//! (restart). Each client then registers again somewhere (the SDKs redo
//! their registrations on reconnect) and its instance moves to the new
//! owner because the new registration's stamp is higher; nothing visible
//! changes. What is still held for a gone owner `handover_ms` after it was
//! last heard from is dropped: those clients died with it.
//!
//! Ownership only moves forward: a set from an older owner (a resumed or
//! partitioned node, an earlier incarnation) never overrides a newer
//! registration or deletion ([`SoftRegistry::apply_peer`]); messages of an
//! incarnation older than one already heard from are ignored.
//!
//! A node that starts in a cluster first pulls everything its peers hold
//! ([`SoftReplicator::pull_all`]), so it never answers a client with less
//! than they know.
//!
//! Owns: the peer send loops, peer liveness, hand-over deadlines. Must not
//! touch: durable state, client connections (it only sees the registry).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use nocas_core::Millis;
use nocas_core::command::{Event, EventSink};
use nocas_core::names::ServiceKey;
use nocas_core::naming::soft::{BeatAck, Change, Exported, PeerId, SoftRegistry, Stamp};
use nocas_core::naming::{Instance, InstanceKey};

use crate::members::MemberAddr;
use crate::peer::PeerClient;
use crate::types::NodeId;

/// Path of full-set syncs.
pub const SYNC: &str = "/soft/sync";
/// Path of digests.
pub const DIGEST: &str = "/soft/digest";
/// Path of forwarded beats.
pub const BEAT: &str = "/soft/beat";
/// Path of leave notices.
pub const LEAVE: &str = "/soft/leave";
/// Path of start-up pulls.
pub const PULL: &str = "/soft/pull";

/// Everything a node owns in some services (replaces the receiver's copy).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoftSync {
    /// The owner.
    pub from: PeerId,
    /// Per service, the full set it owns there (empty: none any more).
    pub sets: Vec<(ServiceKey, Vec<(Instance, Stamp)>)>,
    /// Orders the sender's sets and digests (0: a sender that does not
    /// number them). A set or digest read before one already applied for
    /// a service says nothing new about it.
    #[serde(default)]
    pub seq: u64,
}

/// A hash of what a node owns, per service; also its liveness signal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoftDigest {
    /// The owner.
    pub from: PeerId,
    /// Per service it owns instances in, the hash of that set.
    pub digest: Vec<(ServiceKey, u64)>,
    /// Orders the sender's sets and digests (see [`SoftSync::seq`]).
    #[serde(default)]
    pub seq: u64,
}

/// A node is shutting down: hand its instances over.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoftLeave {
    /// The leaving node.
    pub from: PeerId,
}

/// A starting node asks for a page of everything a peer holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoftPull {
    /// The asking node.
    pub from: PeerId,
    /// Continue after this service.
    pub after: Option<ServiceKey>,
    /// Most services in the page.
    pub limit: usize,
}

/// A page of a peer's soft state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoftPage {
    /// The answering node (owner of the instances listed without one).
    pub from: PeerId,
    /// Per service, every instance held, with its stamp and owner.
    pub sets: Vec<(ServiceKey, Vec<Exported>)>,
    /// The other owners in the page: `None` if alive as far as the
    /// answering node knows, else the milliseconds left of their hand-over.
    pub owners: Vec<(PeerId, Option<u64>)>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<ServiceKey>,
}

/// A beat forwarded to the owner of the instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoftBeat {
    /// Service.
    pub key: ServiceKey,
    /// Instance.
    pub instance: InstanceKey,
}

/// Where a node's soft state stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SoftStatus {
    /// This node's incarnation.
    pub incarnation: u64,
    /// Instances owned by this node's clients.
    pub local: usize,
    /// Instances replicated from live peers.
    pub replicated: usize,
    /// Instances held for gone owners, waiting for their clients to
    /// register again (hand-over).
    pub handover: usize,
}

/// Timers of soft-state replication.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoftSettings {
    /// How often each node sends its digest (and so says it is alive).
    pub digest_interval_ms: u64,
    /// How long the instances of a node that went silent, left or
    /// restarted are kept for their clients to register again elsewhere
    /// (the longest SDK reconnect-and-redo, with margin); what is left
    /// then is dropped.
    #[serde(alias = "grace_ms")]
    pub handover_ms: u64,
    /// How long a deletion is remembered against older copies.
    pub tombstone_ms: u64,
    /// Most services in one sync message or pulled page.
    pub sync_batch: usize,
    /// Timeout of one replication call.
    pub call_timeout_ms: u64,
    /// Longest a starting node waits for its peers' soft state before it
    /// serves clients.
    pub pull_timeout_ms: u64,
    /// A gap this long in this process's own heartbeat means it was paused
    /// (SIGSTOP, a frozen VM, starvation); for as long again afterwards,
    /// connections that close hand their instances over instead of
    /// deleting them (their clients moved away during the pause).
    pub pause_ms: u64,
}

impl Default for SoftSettings {
    fn default() -> Self {
        Self {
            digest_interval_ms: 1_000,
            handover_ms: 60_000,
            tombstone_ms: 120_000,
            sync_batch: 256,
            call_timeout_ms: 2_000,
            pull_timeout_ms: 5_000,
            pause_ms: 3_000,
        }
    }
}

struct PeerSlot {
    addr: MemberAddr,
    dirty: Mutex<(VecDeque<ServiceKey>, HashSet<ServiceKey>)>,
    wake: Notify,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl PeerSlot {
    fn mark(&self, key: &ServiceKey) {
        let mut d = self.dirty.lock();
        if d.1.insert(key.clone()) {
            d.0.push_back(key.clone());
        }
    }

    fn take(&self, max: usize) -> Vec<ServiceKey> {
        let mut d = self.dirty.lock();
        let n = d.0.len().min(max);
        let keys: Vec<ServiceKey> = d.0.drain(..n).collect();
        for k in &keys {
            d.1.remove(k);
        }
        keys
    }
}

/// What this node knows of a peer's current incarnation.
#[derive(Debug, Clone, Copy)]
struct Life {
    incarnation: u64,
    last_heard: Instant,
    leaving: bool,
}

/// A peer's incarnation and, per service, the number of the newest
/// message applied from it.
type Applied = (u64, HashMap<ServiceKey, u64>);

/// Replicates this node's soft state to its peers and applies theirs.
pub struct SoftReplicator {
    /// This node's id and current incarnation (a new one after a pause).
    me: Mutex<PeerId>,
    soft: Arc<SoftRegistry>,
    sink: Arc<dyn EventSink>,
    client: PeerClient,
    settings: SoftSettings,
    peers: Mutex<HashMap<NodeId, Arc<PeerSlot>>>,
    lives: Mutex<HashMap<NodeId, Life>>,
    /// Owners that are gone (older incarnations), with the time their
    /// instances are dropped.
    orphans: Mutex<HashMap<PeerId, Instant>>,
    leaving: AtomicBool,
    /// Last time the heartbeat task ran (pause detection).
    alive: Mutex<Instant>,
    /// After a detected pause: the incarnation that was paused, and until
    /// when closing connections hand their instances over.
    recovering: Mutex<Option<(PeerId, Instant)>>,
    /// The last number given to a set or digest this node sent; held
    /// while the state it describes is read, so a higher number always
    /// describes later state.
    seq: Mutex<u64>,
    /// Per peer node: its incarnation and, per service, the number of the
    /// newest message applied for that service (sets and digests travel
    /// on different calls, so an older one can arrive later).
    applied: Mutex<HashMap<NodeId, Applied>>,
}

impl SoftReplicator {
    /// A replicator for this node, `me`.
    pub fn new(
        me: PeerId,
        soft: Arc<SoftRegistry>,
        sink: Arc<dyn EventSink>,
        client: PeerClient,
        settings: SoftSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            me: Mutex::new(me),
            soft,
            sink,
            client,
            settings,
            peers: Mutex::default(),
            lives: Mutex::default(),
            orphans: Mutex::default(),
            leaving: AtomicBool::new(false),
            alive: Mutex::new(Instant::now()),
            recovering: Mutex::new(None),
            seq: Mutex::new(0),
            applied: Mutex::default(),
        })
    }

    /// This node's identity in replication.
    pub fn me(&self) -> PeerId {
        *self.me.lock()
    }

    fn handover(&self) -> Duration {
        Duration::from_millis(self.settings.handover_ms)
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.settings.call_timeout_ms)
    }

    /// Timeout of one replication call.
    pub fn call_timeout(&self) -> Duration {
        self.timeout()
    }

    /// Sets the peers to replicate to (every member but this node). A
    /// member that left the membership is handed over like a leaving one.
    pub fn set_peers(self: &Arc<Self>, members: &[(NodeId, MemberAddr)]) {
        let wanted: HashMap<NodeId, &MemberAddr> = members
            .iter()
            .filter(|(id, _)| *id != self.me().node)
            .map(|(id, a)| (*id, a))
            .collect();
        let mut gone = Vec::new();
        {
            let mut peers = self.peers.lock();
            peers.retain(|id, slot| {
                let keep = wanted.get(id).is_some_and(|a| **a == slot.addr);
                if !keep {
                    if let Some(t) = slot.task.lock().take() {
                        t.abort();
                    }
                    gone.push(*id);
                }
                keep
            });
            for (id, addr) in wanted {
                if peers.contains_key(&id) {
                    continue;
                }
                let slot = Arc::new(PeerSlot {
                    addr: addr.clone(),
                    dirty: Mutex::default(),
                    wake: Notify::new(),
                    task: Mutex::new(None),
                });
                // A new peer gets everything we own.
                for k in self.soft.local_service_keys() {
                    slot.mark(&k);
                }
                let task = tokio::spawn(send_loop(self.clone(), id, slot.clone()));
                *slot.task.lock() = Some(task);
                peers.insert(id, slot);
            }
        }
        if self.leaving.load(Ordering::Acquire) {
            return;
        }
        let mut lives = self.lives.lock();
        for id in gone {
            if !members.iter().any(|(m, _)| *m == id)
                && let Some(l) = lives.get_mut(&id)
                && !l.leaving
            {
                tracing::info!(peer = id, "peer left the membership: handing over");
                l.leaving = true;
                l.last_heard = Instant::now();
            }
        }
    }

    /// This node's instances changed in `keys`: tell every peer. Nothing is
    /// sent once this node is leaving (its clients' instances are being
    /// handed over, not deleted).
    pub fn local_changed(&self, keys: &[ServiceKey]) {
        if self.leaving.load(Ordering::Acquire) {
            return;
        }
        let peers: Vec<Arc<PeerSlot>> = self.peers.lock().values().cloned().collect();
        for slot in peers {
            for k in keys {
                slot.mark(k);
            }
            slot.wake.notify_one();
        }
    }

    fn mark_all_for(&self, node: NodeId) {
        let slot = self.peers.lock().get(&node).cloned();
        if let Some(slot) = slot {
            for k in self.soft.local_service_keys() {
                slot.mark(&k);
            }
            slot.wake.notify_one();
        }
    }

    /// Whether a message from `from` counts, recording that it was heard.
    /// A newer incarnation of a known node turns the older one's instances
    /// into orphans (kept for hand-over) and gets our full sets; messages
    /// from an older incarnation, or from one that said it is leaving, are
    /// ignored.
    fn admit(&self, from: PeerId) -> bool {
        if from.node == self.me().node {
            return false;
        }
        let now = Instant::now();
        let restarted = {
            let mut lives = self.lives.lock();
            match lives.get_mut(&from.node) {
                None => {
                    lives.insert(
                        from.node,
                        Life {
                            incarnation: from.incarnation,
                            last_heard: now,
                            leaving: false,
                        },
                    );
                    false
                }
                Some(l) if from.incarnation < l.incarnation => return false,
                Some(l) if from.incarnation > l.incarnation => {
                    let old = PeerId {
                        node: from.node,
                        incarnation: l.incarnation,
                    };
                    let deadline = l.last_heard + self.handover();
                    self.orphans.lock().insert(old, deadline);
                    tracing::info!(
                        peer = from.node,
                        "peer restarted: handing over what it owned before"
                    );
                    *l = Life {
                        incarnation: from.incarnation,
                        last_heard: now,
                        leaving: false,
                    };
                    true
                }
                Some(l) => {
                    if l.leaving {
                        return false;
                    }
                    l.last_heard = now;
                    false
                }
            }
        };
        if restarted {
            self.mark_all_for(from.node);
        }
        true
    }

    /// Whether message number `seq` from `from` is newer than any applied
    /// for `key`; if so it is recorded as the newest. Unnumbered messages
    /// (0) are always applied.
    fn newer(&self, from: PeerId, key: &ServiceKey, seq: u64) -> bool {
        if seq == 0 {
            return true;
        }
        let mut applied = self.applied.lock();
        let (incarnation, per_key) = applied.entry(from.node).or_default();
        if *incarnation != from.incarnation {
            *incarnation = from.incarnation;
            per_key.clear();
        }
        match per_key.get_mut(key) {
            Some(last) if *last >= seq => false,
            Some(last) => {
                *last = seq;
                true
            }
            None => {
                per_key.insert(key.clone(), seq);
                true
            }
        }
    }

    /// Numbers a message and reads what it describes, in that order and
    /// under one lock.
    fn numbered<T>(&self, read: impl FnOnce() -> T) -> (u64, T) {
        let mut seq = self.seq.lock();
        *seq += 1;
        (*seq, read())
    }

    fn publish(&self, keys: Vec<ServiceKey>) {
        if !keys.is_empty() {
            let events: Vec<Event> = keys.into_iter().map(Event::Service).collect();
            self.sink.publish(&events);
        }
    }

    /// Applies a peer's full sets.
    pub fn on_sync(&self, msg: SoftSync, now: Millis) {
        if !self.admit(msg.from) {
            return;
        }
        let mut changed = Vec::new();
        for (key, instances) in msg.sets {
            if !self.newer(msg.from, &key, msg.seq) {
                continue;
            }
            if self
                .soft
                .apply_peer(&key, msg.from, instances, true, now)
                .visible
            {
                changed.push(key);
            }
        }
        self.publish(changed);
    }

    /// Compares a peer's digest with what we hold for it; returns the
    /// services we need in full and drops those it no longer has.
    pub fn on_digest(&self, msg: SoftDigest, now: Millis) -> Vec<ServiceKey> {
        if !self.admit(msg.from) {
            return Vec::new();
        }
        let mine = self.soft.peer_digest(msg.from);
        let theirs: HashMap<ServiceKey, u64> = msg.digest.into_iter().collect();
        let need = theirs
            .iter()
            .filter(|(k, h)| mine.get(*k) != Some(*h))
            .map(|(k, _)| k.clone())
            .collect();
        let mut changed = Vec::new();
        for k in mine.keys().filter(|k| !theirs.contains_key(*k)) {
            // A set sent after this digest was read may have brought what
            // the digest does not list yet.
            if !self.newer(msg.from, k, msg.seq) {
                continue;
            }
            if self
                .soft
                .apply_peer(k, msg.from, Vec::new(), true, now)
                .visible
            {
                changed.push(k.clone());
            }
        }
        self.publish(changed);
        need
    }

    /// A peer is shutting down: keep what it owned for hand-over and ignore
    /// what it says from now on.
    pub fn on_leave(&self, msg: SoftLeave) {
        if !self.admit(msg.from) {
            return;
        }
        if let Some(l) = self.lives.lock().get_mut(&msg.from.node) {
            l.leaving = true;
            l.last_heard = Instant::now();
        }
        tracing::info!(
            peer = msg.from.node,
            instances = self
                .soft
                .owned_count(&nocas_core::naming::soft::Owner::Peer(msg.from)),
            "peer is leaving: handing over its instances"
        );
    }

    /// A page of everything held here, for a starting peer.
    pub fn on_pull(&self, msg: SoftPull) -> SoftPage {
        self.admit(msg.from);
        let limit = msg.limit.clamp(1, self.settings.sync_batch.max(1));
        let (sets, next) = self.soft.export(msg.after.as_ref(), limit);
        let owners: HashSet<PeerId> = sets
            .iter()
            .flat_map(|(_, set)| set.iter().filter_map(|(_, _, o)| *o))
            .collect();
        let now = Instant::now();
        let owners = owners
            .into_iter()
            .map(|p| {
                let left = self
                    .deadline(p)
                    .map(|d| d.saturating_duration_since(now).as_millis() as u64);
                (p, left)
            })
            .collect();
        SoftPage {
            from: self.me(),
            sets,
            owners,
            next,
        }
    }

    /// When the instances of `owner` will be dropped: `None` while it is
    /// alive and heard from.
    fn deadline(&self, owner: PeerId) -> Option<Instant> {
        if let Some(d) = self.orphans.lock().get(&owner) {
            return Some(*d);
        }
        let life = self.lives.lock().get(&owner.node).copied();
        match life {
            Some(l) if l.incarnation == owner.incarnation => {
                let silent = l.last_heard.elapsed()
                    > Duration::from_millis(self.settings.digest_interval_ms.saturating_mul(3));
                (l.leaving || silent).then_some(l.last_heard + self.handover())
            }
            Some(l) if l.incarnation > owner.incarnation => Some(l.last_heard + self.handover()),
            // An incarnation we have not heard from yet, or another's:
            // give it the full hand-over time from now.
            _ => Some(Instant::now() + self.handover()),
        }
    }

    /// Per peer: services with changes not yet sent to it, and the time
    /// since anything was last heard from it (`None` if never).
    pub fn peer_lag(&self) -> Vec<(NodeId, usize, Option<Duration>)> {
        let peers: Vec<(NodeId, Arc<PeerSlot>)> = self
            .peers
            .lock()
            .iter()
            .map(|(id, p)| (*id, p.clone()))
            .collect();
        let lives = self.lives.lock();
        peers
            .into_iter()
            .map(|(id, p)| {
                let pending = p.dirty.lock().0.len();
                (id, pending, lives.get(&id).map(|l| l.last_heard.elapsed()))
            })
            .collect()
    }

    /// Counts of what is held here, by kind of owner.
    pub fn status(&self) -> SoftStatus {
        let mut st = SoftStatus {
            incarnation: self.me().incarnation,
            ..Default::default()
        };
        let mut peers = 0;
        for owner in self.soft.peers() {
            let n = self
                .soft
                .owned_count(&nocas_core::naming::soft::Owner::Peer(owner));
            peers += n;
            if self.deadline(owner).is_some() {
                st.handover += n;
            } else {
                st.replicated += n;
            }
        }
        st.local = self.soft.instance_count().saturating_sub(peers);
        st
    }

    /// Whether the node owning `owner`'s instances is gone (left, silent,
    /// or restarted since): a beat for one of them is taken over here.
    pub fn owner_gone(&self, owner: PeerId) -> bool {
        self.deadline(owner).is_some()
    }

    /// A beat forwarded by a peer for an instance we own.
    pub fn on_beat(&self, key: &ServiceKey, ikey: &InstanceKey, now: Millis) -> Option<BeatAck> {
        let local = self
            .soft
            .get(key, ikey)
            .is_some_and(|si| si.owner.is_local());
        if !local {
            return None;
        }
        let ack = self.soft.beat(key, ikey, now)?;
        if ack.recovered {
            self.local_changed(std::slice::from_ref(key));
            self.publish(vec![key.clone()]);
        }
        Some(ack)
    }

    /// Drops what `owner` still holds here (its hand-over time is over).
    fn expire(&self, owner: PeerId) {
        let changed = self.soft.expire_peer(owner);
        if !changed.is_empty() {
            tracing::warn!(
                peer = owner.node,
                incarnation = owner.incarnation,
                services = changed.len(),
                "hand-over time over: dropped the instances nobody registered again"
            );
        }
        self.publish(changed);
    }

    /// Drops the instances of owners whose hand-over time is over.
    fn expire_due(&self) {
        let now = Instant::now();
        let due: Vec<PeerId> = {
            let mut orphans = self.orphans.lock();
            let due = orphans
                .iter()
                .filter(|(_, d)| **d <= now)
                .map(|(p, _)| *p)
                .collect::<Vec<_>>();
            for p in &due {
                orphans.remove(p);
            }
            due
        };
        for p in due {
            self.expire(p);
        }
        // Owners held here that are not orphans yet: a current incarnation
        // silent past the hand-over time goes; an older one, or one nobody
        // told us about, starts its hand-over time now.
        for owner in self.soft.peers() {
            if self.orphans.lock().contains_key(&owner) {
                continue;
            }
            let life = self.lives.lock().get(&owner.node).copied();
            match life {
                Some(l) if l.incarnation == owner.incarnation && owner.node != self.me().node => {
                    if l.last_heard + self.handover() <= now {
                        self.expire(owner);
                    }
                }
                _ => {
                    self.orphans.lock().insert(owner, now + self.handover());
                }
            }
        }
    }

    fn pause(&self) -> Duration {
        Duration::from_millis(self.settings.pause_ms.max(1))
    }

    /// Whether this node is recovering from a pause, and if so the
    /// incarnation that was paused: connections closing now hand their
    /// instances over to it (see [`SoftRegistry::hand_over`]). Also detects
    /// the pause, from the gap since the last call (a heartbeat task calls
    /// it every 100 ms).
    pub fn recovering(&self) -> Option<PeerId> {
        let now = Instant::now();
        let paused_since = {
            let mut alive = self.alive.lock();
            let last = *alive;
            *alive = now;
            (now.duration_since(last) > self.pause()).then_some(last)
        };
        if let Some(since) = paused_since {
            self.recover(since, now);
        }
        match *self.recovering.lock() {
            Some((old, until)) if now < until => Some(old),
            _ => None,
        }
    }

    fn recovery_until(&self) -> Option<Instant> {
        self.recovering()
            .and(self.recovering.lock().map(|(_, until)| until))
    }

    /// This process did not run from `since` to `now`: peers judged it
    /// silent and its clients may have moved. It goes on as a new
    /// incarnation (peers hand over what the paused one owned, as after a
    /// restart) and replicates nothing until the recovery window closes,
    /// then sends everything it still owns.
    fn recover(&self, since: Instant, now: Instant) {
        let old = self.me();
        let new = PeerId {
            node: old.node,
            incarnation: (old.incarnation + 1).max(wall_micros()),
        };
        *self.me.lock() = new;
        self.orphans.lock().insert(old, since + self.handover());
        *self.recovering.lock() = Some((old, now + self.pause()));
        self.forgive();
        let keys = self.soft.local_service_keys();
        for slot in self.peers.lock().values() {
            for k in &keys {
                slot.mark(k);
            }
        }
        tracing::warn!(
            paused_ms = now.duration_since(since).as_millis() as u64,
            "this process was paused: going on as a new incarnation, handing over the instances of clients that moved meanwhile"
        );
    }

    /// Forgives peers for our own silence: after this process was paused
    /// or starved, what peers sent meanwhile is still queued, so nobody is
    /// judged silent by it.
    fn forgive(&self) {
        let now = Instant::now();
        for l in self.lives.lock().values_mut() {
            if !l.leaving {
                l.last_heard = now;
            }
        }
    }

    /// Graceful shutdown: tells every peer this node is leaving (so they
    /// hand its instances over instead of deleting them) and stops
    /// replicating, so the connections closed next delete nothing
    /// elsewhere.
    pub async fn leave(&self) {
        if self.leaving.swap(true, Ordering::AcqRel) {
            return;
        }
        let peers: Vec<MemberAddr> = self.peers.lock().values().map(|s| s.addr.clone()).collect();
        let msg = SoftLeave { from: self.me() };
        let timeout = self.timeout();
        let calls = peers.iter().map(|addr| {
            let client = self.client.clone();
            let msg = msg.clone();
            async move {
                let r: Result<(), _> = client.call(addr, LEAVE, &msg, timeout).await;
                if let Err(e) = r {
                    tracing::debug!(error = %e, "leave notice not delivered");
                }
            }
        });
        futures::future::join_all(calls).await;
    }

    /// Start-up: pulls everything each peer holds (bounded by
    /// `pull_timeout_ms`), so this node serves complete views from its
    /// first answer. A peer that does not answer is skipped.
    pub async fn pull_all(self: &Arc<Self>, members: &[(NodeId, MemberAddr)]) {
        let started = Instant::now();
        let calls = members
            .iter()
            .filter(|(id, _)| *id != self.me().node)
            .map(|(_, addr)| self.pull_from(addr));
        let all = futures::future::join_all(calls);
        let bound = Duration::from_millis(self.settings.pull_timeout_ms);
        if tokio::time::timeout(bound, all).await.is_err() {
            tracing::warn!(
                "soft state not fully pulled from every peer within {} ms",
                bound.as_millis()
            );
        }
        tracing::info!(
            instances = self.soft.instance_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "pulled the soft state of the peers"
        );
    }

    async fn pull_from(&self, addr: &MemberAddr) {
        let mut after = None;
        loop {
            let msg = SoftPull {
                from: self.me(),
                after: after.clone(),
                limit: self.settings.sync_batch,
            };
            let page: Result<SoftPage, _> =
                self.client.call(addr, PULL, &msg, self.timeout()).await;
            let Ok(page) = page else {
                return;
            };
            let next = page.next.clone();
            self.apply_page(page);
            match next {
                Some(n) => after = Some(n),
                None => return,
            }
        }
    }

    fn apply_page(&self, page: SoftPage) {
        if !self.admit(page.from) {
            return;
        }
        let now = Instant::now();
        for (owner, left) in &page.owners {
            if owner.node == self.me().node && owner.incarnation >= self.me().incarnation {
                continue;
            }
            let known = self.lives.lock().get(&owner.node).copied();
            match (left, known) {
                // Someone we hear from ourselves: our own judgement holds.
                (_, Some(l)) if l.incarnation >= owner.incarnation => {}
                (Some(ms), _) => {
                    self.orphans
                        .lock()
                        .entry(*owner)
                        .or_insert(now + Duration::from_millis(*ms));
                }
                (None, _) if owner.node == self.me().node => {
                    self.orphans
                        .lock()
                        .entry(*owner)
                        .or_insert(now + self.handover());
                }
                (None, _) => {
                    self.lives.lock().insert(
                        owner.node,
                        Life {
                            incarnation: owner.incarnation,
                            last_heard: now,
                            leaving: false,
                        },
                    );
                }
            }
        }
        let wall = wall_ms();
        let me = self.me();
        for (key, set) in page.sets {
            let mut by_owner: HashMap<PeerId, Vec<(Instance, Stamp)>> = HashMap::new();
            for (inst, stamp, owner) in set {
                let owner = owner.unwrap_or(page.from);
                if owner == me {
                    continue;
                }
                by_owner.entry(owner).or_default().push((inst, stamp));
            }
            let mut change = Change::default();
            for (owner, instances) in by_owner {
                let c = self.soft.apply_peer(&key, owner, instances, false, wall);
                change.visible |= c.visible;
            }
            if change.visible {
                self.publish(vec![key]);
            }
        }
    }

    /// Sends digests and hands over or drops gone peers, every
    /// `digest_interval_ms`, until `stop` changes or this node leaves.
    /// `members` gives the current membership.
    pub async fn run(
        self: Arc<Self>,
        members: impl Fn() -> Vec<(NodeId, MemberAddr)> + Send + 'static,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let every = Duration::from_millis(self.settings.digest_interval_ms.max(1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let heartbeat = {
            let rep = self.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let mut beat = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tokio::select! {
                        _ = beat.tick() => {}
                        _ = stop.changed() => return,
                    }
                    rep.recovering();
                }
            })
        };
        let _abort = AbortOnDrop(heartbeat);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if self.leaving.load(Ordering::Acquire) {
                return;
            }
            if self.recovering().is_some() {
                continue;
            }
            let m = members();
            self.set_peers(&m);
            let (seq, digest) = self.numbered(|| {
                self.soft
                    .local_digest()
                    .into_iter()
                    .collect::<Vec<(ServiceKey, u64)>>()
            });
            let peers: Vec<Arc<PeerSlot>> = self.peers.lock().values().cloned().collect();
            let timeout = self.timeout();
            let calls = peers.iter().map(|slot| {
                let msg = SoftDigest {
                    from: self.me(),
                    digest: digest.clone(),
                    seq,
                };
                let client = self.client.clone();
                let slot = slot.clone();
                async move {
                    let need: Result<Vec<ServiceKey>, _> =
                        client.call(&slot.addr, DIGEST, &msg, timeout).await;
                    if let Ok(need) = need {
                        for k in &need {
                            slot.mark(k);
                        }
                        // Wakes a send loop waiting out a backoff too.
                        slot.wake.notify_one();
                    }
                }
            });
            futures::future::join_all(calls).await;
            self.expire_due();
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn wall_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn wall_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Sends dirty services to one peer, in batches, retrying with backoff (a
/// digest answer cuts the backoff short).
async fn send_loop(rep: Arc<SoftReplicator>, peer: NodeId, slot: Arc<PeerSlot>) {
    let timeout = rep.timeout();
    let mut backoff = Duration::from_millis(100);
    loop {
        if rep.leaving.load(Ordering::Acquire) {
            return;
        }
        if let Some(until) = rep.recovery_until() {
            tokio::time::sleep_until(until.into()).await;
            // Whatever closed meanwhile is settled: send all we still own.
            for k in rep.soft.local_service_keys() {
                slot.mark(&k);
            }
            continue;
        }
        let keys = slot.take(rep.settings.sync_batch.max(1));
        if keys.is_empty() {
            slot.wake.notified().await;
            continue;
        }
        let (seq, sets) = rep.numbered(|| {
            keys.iter()
                .map(|k| (k.clone(), rep.soft.local_instances(k)))
                .collect()
        });
        let msg = SoftSync {
            from: rep.me(),
            sets,
            seq,
        };
        let sent: Result<(), _> = rep.client.call(&slot.addr, SYNC, &msg, timeout).await;
        match sent {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::debug!(peer, error = %e, "soft sync failed; will retry");
                for k in &keys {
                    slot.mark(k);
                }
                let _ = tokio::time::timeout(backoff, slot.wake.notified()).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nocas_core::names::{ClusterName, GroupName, NamespaceId, ServiceName};

    struct NullSink;

    impl EventSink for NullSink {
        fn publish(&self, _events: &[Event]) {}
    }

    fn key() -> ServiceKey {
        ServiceKey::new(
            NamespaceId::public(),
            GroupName::default_group(),
            ServiceName::parse("svc").unwrap(),
        )
    }

    fn set(port: u16, stamp: Stamp) -> Vec<(ServiceKey, Vec<(Instance, Stamp)>)> {
        let inst = Instance {
            ip: Arc::from("10.0.0.1"),
            port,
            cluster: ClusterName::default_cluster(),
            weight: 1.0,
            healthy: true,
            enabled: true,
            ephemeral: true,
            metadata: Default::default(),
        };
        vec![(key(), vec![(inst, stamp)])]
    }

    #[test]
    fn a_digest_read_before_a_set_deletes_nothing_the_set_brought() {
        let soft = Arc::new(SoftRegistry::with_node(2, 120_000));
        let rep = SoftReplicator::new(
            PeerId {
                node: 2,
                incarnation: 1,
            },
            soft.clone(),
            Arc::new(NullSink),
            PeerClient::new(None),
            SoftSettings::default(),
        );
        let a = PeerId {
            node: 1,
            incarnation: 5,
        };
        let stamp = Stamp {
            hlc: 1 << 16,
            node: 1,
        };
        rep.on_sync(
            SoftSync {
                from: a,
                sets: set(1, stamp),
                seq: 2,
            },
            0,
        );
        assert_eq!(soft.service_len(&key()), 1);
        // Read before the set (the service was new then), arriving after.
        rep.on_digest(
            SoftDigest {
                from: a,
                digest: Vec::new(),
                seq: 1,
            },
            0,
        );
        assert_eq!(soft.service_len(&key()), 1, "a stale digest deleted it");
        // A later digest without the service: the owner has none any more.
        rep.on_digest(
            SoftDigest {
                from: a,
                digest: Vec::new(),
                seq: 3,
            },
            0,
        );
        assert_eq!(soft.service_len(&key()), 0);
        // A set read before that digest, arriving late, brings nothing back.
        let late = Stamp {
            hlc: 2 << 16,
            node: 1,
        };
        rep.on_sync(
            SoftSync {
                from: a,
                sets: set(1, late),
                seq: 2,
            },
            0,
        );
        assert_eq!(soft.service_len(&key()), 0, "a stale set came back");
        // A restarted peer numbers from the start again.
        let b = PeerId {
            node: 1,
            incarnation: 6,
        };
        rep.on_sync(
            SoftSync {
                from: b,
                sets: set(1, late),
                seq: 1,
            },
            0,
        );
        assert_eq!(soft.service_len(&key()), 1);
    }
}
