//! Replication of soft state (ephemeral instances) between peers.
//!
//! Each node owns the instances its clients registered. When they change in
//! a service, it sends every peer the full set it owns there (coalesced per
//! service, like pushes); peers hold that set under `Owner::Peer(node)`.
//! Every `digest_interval_ms` a node sends each peer a hash per service of
//! what it owns; a peer whose copy differs asks for those services, and
//! drops services the owner no longer has. The digest is also the liveness
//! signal: a peer unheard from for `grace_ms` loses everything it owned
//! here, and its clients re-register elsewhere.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use nocas_core::Millis;
use nocas_core::command::{Event, EventSink};
use nocas_core::names::ServiceKey;
use nocas_core::naming::soft::{BeatAck, Owner, SoftRegistry};
use nocas_core::naming::{BeatTimings, InstanceKey};

use crate::members::MemberAddr;
use crate::peer::{PeerClient, SoftDigest, SoftSync};
use crate::types::NodeId;

/// Path of full-set syncs.
pub const SYNC: &str = "/soft/sync";
/// Path of digests.
pub const DIGEST: &str = "/soft/digest";
/// Path of forwarded beats.
pub const BEAT: &str = "/soft/beat";

/// Timers of soft-state replication.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoftSettings {
    /// How often each node sends its digest (and so says it is alive).
    pub digest_interval_ms: u64,
    /// A peer unheard from this long loses what it owned here.
    pub grace_ms: u64,
    /// Most services in one sync message.
    pub sync_batch: usize,
    /// Timeout of one replication call.
    pub call_timeout_ms: u64,
}

impl Default for SoftSettings {
    fn default() -> Self {
        Self {
            digest_interval_ms: 1_000,
            grace_ms: 10_000,
            sync_batch: 256,
            call_timeout_ms: 2_000,
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

/// Replicates this node's soft state to its peers and applies theirs.
pub struct SoftReplicator {
    id: NodeId,
    soft: Arc<SoftRegistry>,
    sink: Arc<dyn EventSink>,
    client: PeerClient,
    settings: SoftSettings,
    peers: Mutex<HashMap<NodeId, Arc<PeerSlot>>>,
    heard: Mutex<HashMap<NodeId, Instant>>,
}

impl SoftReplicator {
    /// A replicator for node `id`.
    pub fn new(
        id: NodeId,
        soft: Arc<SoftRegistry>,
        sink: Arc<dyn EventSink>,
        client: PeerClient,
        settings: SoftSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            soft,
            sink,
            client,
            settings,
            peers: Mutex::default(),
            heard: Mutex::default(),
        })
    }

    /// Sets the peers to replicate to (every member but this node).
    pub fn set_peers(self: &Arc<Self>, members: &[(NodeId, MemberAddr)]) {
        let wanted: HashMap<NodeId, &MemberAddr> = members
            .iter()
            .filter(|(id, _)| *id != self.id)
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
                let task = tokio::spawn(send_loop(self.clone(), id, slot.clone()));
                *slot.task.lock() = Some(task);
                peers.insert(id, slot);
            }
        }
        for id in gone {
            if !members.iter().any(|(m, _)| *m == id) {
                self.drop_peer(id);
            }
        }
    }

    /// This node's instances changed in `keys`: tell every peer.
    pub fn local_changed(&self, keys: &[ServiceKey]) {
        let peers: Vec<Arc<PeerSlot>> = self.peers.lock().values().cloned().collect();
        for slot in peers {
            for k in keys {
                slot.mark(k);
            }
            slot.wake.notify_one();
        }
    }

    fn heard_from(&self, from: NodeId) {
        self.heard.lock().insert(from, Instant::now());
    }

    fn publish(&self, keys: Vec<ServiceKey>) {
        if !keys.is_empty() {
            let events: Vec<Event> = keys.into_iter().map(Event::Service).collect();
            self.sink.publish(&events);
        }
    }

    /// Applies a peer's full sets.
    pub fn on_sync(&self, msg: SoftSync, now: Millis) {
        self.heard_from(msg.from);
        let owner = Owner::Peer(msg.from);
        let mut changed = Vec::new();
        for (key, instances) in msg.sets {
            // An instance a local client owns stays ours.
            let theirs = instances
                .into_iter()
                .filter(|i| {
                    self.soft
                        .get(&key, &i.key())
                        .is_none_or(|si| !si.owner.is_local())
                })
                .map(|i| (i, BeatTimings::default()))
                .collect();
            if self.soft.replace_owned(&key, &owner, theirs, now) {
                changed.push(key);
            }
        }
        self.publish(changed);
    }

    /// Compares a peer's digest with what we hold for it; returns the
    /// services we need in full and drops those it no longer has.
    pub fn on_digest(&self, msg: SoftDigest, now: Millis) -> Vec<ServiceKey> {
        self.heard_from(msg.from);
        let mine = self.soft.peer_digest(msg.from);
        let theirs: HashMap<ServiceKey, u64> = msg.digest.into_iter().collect();
        let need = theirs
            .iter()
            .filter(|(k, h)| mine.get(*k) != Some(*h))
            .map(|(k, _)| k.clone())
            .collect();
        let owner = Owner::Peer(msg.from);
        let mut changed = Vec::new();
        for k in mine.keys().filter(|k| !theirs.contains_key(*k)) {
            if self.soft.replace_owned(k, &owner, Vec::new(), now) {
                changed.push(k.clone());
            }
        }
        self.publish(changed);
        need
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

    /// Drops everything `peer` owned here.
    pub fn drop_peer(&self, peer: NodeId) {
        let changed = self.soft.remove_owner(&Owner::Peer(peer));
        if !changed.is_empty() {
            tracing::warn!(
                peer,
                services = changed.len(),
                "dropped the soft state of a silent peer"
            );
        }
        self.publish(changed);
    }

    /// Sends digests and drops silent peers, every `digest_interval_ms`,
    /// until `stop` changes. `members` gives the current membership.
    pub async fn run(
        self: Arc<Self>,
        members: impl Fn() -> Vec<(NodeId, MemberAddr)> + Send + 'static,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let started = Instant::now();
        let every = Duration::from_millis(self.settings.digest_interval_ms.max(1));
        let grace = Duration::from_millis(self.settings.grace_ms);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let m = members();
            self.set_peers(&m);
            let digest: Vec<(ServiceKey, u64)> = self.soft.local_digest().into_iter().collect();
            let peers: Vec<(NodeId, Arc<PeerSlot>)> = self
                .peers
                .lock()
                .iter()
                .map(|(id, s)| (*id, s.clone()))
                .collect();
            let timeout = Duration::from_millis(self.settings.call_timeout_ms);
            let calls = peers.iter().map(|(_, slot)| {
                let msg = SoftDigest {
                    from: self.id,
                    digest: digest.clone(),
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
                        if !need.is_empty() {
                            slot.wake.notify_one();
                        }
                    }
                }
            });
            futures::future::join_all(calls).await;
            // Peers silent past the grace period lose their instances here.
            // A peer never heard from since we started counts from our start.
            for (id, _) in &peers {
                let last = self.heard.lock().get(id).copied().unwrap_or(started);
                if last.elapsed() > grace {
                    self.drop_peer(*id);
                }
            }
        }
    }
}

/// Sends dirty services to one peer, in batches, retrying with backoff.
async fn send_loop(rep: Arc<SoftReplicator>, peer: NodeId, slot: Arc<PeerSlot>) {
    let timeout = Duration::from_millis(rep.settings.call_timeout_ms);
    let mut backoff = Duration::from_millis(100);
    loop {
        let keys = slot.take(rep.settings.sync_batch.max(1));
        if keys.is_empty() {
            slot.wake.notified().await;
            continue;
        }
        let sets = keys
            .iter()
            .map(|k| (k.clone(), rep.soft.local_instances(k)))
            .collect();
        let msg = SoftSync { from: rep.id, sets };
        let sent: Result<(), _> = rep.client.call(&slot.addr, SYNC, &msg, timeout).await;
        match sent {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::debug!(peer, error = %e, "soft sync failed; will retry");
                for k in &keys {
                    slot.mark(k);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
