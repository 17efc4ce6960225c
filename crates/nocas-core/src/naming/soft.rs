//! The soft registry: ephemeral instances, held in memory by their owner.
//!
//! An ephemeral instance belongs to whoever registered it: an HTTP client
//! kept alive by beats ([`Owner::Beat`]) or a gRPC connection
//! ([`Owner::Connection`]) of this node, or another node of the cluster
//! that replicates it here ([`Owner::Peer`]). The registry runs the beat
//! timeline for HTTP owned instances ([`SoftRegistry::sweep`]): unhealthy
//! after the beat timeout, removed after the delete timeout.
//! Connection-owned instances live exactly as long as their connection
//! ([`SoftRegistry::remove_owner`]).
//!
//! Every registration carries a [`Stamp`] (a hybrid logical clock reading
//! of the node where it happened). One record per instance: the highest
//! stamp wins wherever copies meet, so ownership only moves forward; a
//! deletion is remembered (a tombstone with the deleted stamp) for a while,
//! so an older copy arriving late cannot bring it back.
//!
//! Owns: the in-memory records, their index by owner, stamps and
//! tombstones. Must not touch: clocks, the network or the disk (time comes
//! in as `now`); nothing here is ever written to disk: after a restart the
//! registry is empty and clients register again (or it is refilled from
//! peers).
//!
//! Mutating calls return what changed ([`Change`]), so the caller can push
//! exactly the services clients see changed and replicate those whose
//! records changed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use dashmap::DashMap;

use crate::Millis;
use crate::names::{GroupName, NamespaceId, ServiceKey};
use crate::naming::instance::{BeatTimings, Instance, InstanceKey};
use crate::naming::metadata::Metadata;

/// Most distinct metadata maps the interner keeps; past it, new maps are
/// stored unshared (correct, only bigger).
const MAX_INTERNED: usize = 200_000;

/// Equal metadata maps shared between instances: the instances of one
/// service usually carry the same few keys, and a map costs far more than
/// the rest of an instance (a B-tree node and two strings per entry). Maps
/// only the interner still holds are dropped by [`Interner::purge`].
#[derive(Debug, Default)]
struct Interner {
    maps: parking_lot::Mutex<HashSet<Arc<Metadata>>>,
}

impl Interner {
    fn intern(&self, md: Arc<Metadata>) -> Arc<Metadata> {
        if md.is_empty() {
            return md;
        }
        let mut maps = self.maps.lock();
        if let Some(shared) = maps.get(&*md) {
            return shared.clone();
        }
        if maps.len() < MAX_INTERNED {
            maps.insert(md.clone());
        }
        md
    }

    fn purge(&self) {
        self.maps.lock().retain(|m| Arc::strong_count(m) > 1);
    }
}

/// One run of a cluster node: its id and the incarnation it started with
/// (a restart makes a new incarnation, so what the old one owned can be
/// told apart from what the new one owns).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PeerId {
    /// Node id.
    pub node: u64,
    /// Incarnation (chosen at start, larger on every restart).
    pub incarnation: u64,
}

/// Who keeps an ephemeral instance alive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// An HTTP client of this node, alive while it beats.
    Beat,
    /// A gRPC connection of this node, alive while it is connected.
    Connection(Arc<str>),
    /// Another node of the cluster (or an earlier incarnation of this one),
    /// which owns it and replicates it here.
    Peer(PeerId),
}

impl Owner {
    /// Owned by this node (not replicated from a peer).
    pub fn is_local(&self) -> bool {
        !matches!(self, Owner::Peer(_))
    }
}

/// The version of a registration: a hybrid logical clock reading (wall
/// milliseconds shifted left 16 bits, plus a counter) taken by the node
/// where the registration happened, with that node's id to break ties.
/// Every node's clock moves past every stamp it sees, so a registration
/// made after a node learned of another is stamped above it; the highest
/// stamp of an instance wins everywhere, and ownership only moves forward.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Stamp {
    /// Clock reading.
    pub hlc: u64,
    /// Node that took it.
    pub node: u64,
}

/// What a change did to a service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Change {
    /// What clients see changed (push it).
    pub visible: bool,
    /// Some record changed, if only its owner or stamp (replicate it).
    pub record: bool,
}

impl Change {
    const NONE: Change = Change {
        visible: false,
        record: false,
    };
    const VISIBLE: Change = Change {
        visible: true,
        record: true,
    };

    fn merge(&mut self, other: Change) {
        self.visible |= other.visible;
        self.record |= other.record;
    }
}

/// An order-independent hash of a set of instances with their stamps, to
/// compare what two nodes hold for the same owner and service.
pub fn set_hash<'a>(instances: impl IntoIterator<Item = (&'a Instance, &'a Stamp)>) -> u64 {
    use std::hash::{Hash, Hasher};
    instances.into_iter().fold(0u64, |acc, (i, s)| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        i.ip.hash(&mut h);
        i.port.hash(&mut h);
        i.cluster.hash(&mut h);
        i.weight.to_bits().hash(&mut h);
        i.healthy.hash(&mut h);
        i.enabled.hash(&mut h);
        i.metadata.hash(&mut h);
        s.hash(&mut h);
        acc.wrapping_add(h.finish())
    })
}

/// An ephemeral instance with its liveness bookkeeping.
#[derive(Debug, Clone)]
pub struct SoftInstance {
    /// The instance as clients see it.
    pub instance: Instance,
    /// Its owner.
    pub owner: Owner,
    /// Version of the registration that put it here.
    pub stamp: Stamp,
    /// Last beat (or registration) time.
    pub last_beat_ms: Millis,
    /// Beat timings from its metadata.
    pub timings: BeatTimings,
}

/// What a beat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BeatAck {
    /// Interval the client should beat at (ms).
    pub interval_ms: i64,
    /// The instance was unhealthy and is healthy again.
    pub recovered: bool,
}

#[derive(Debug, Default)]
struct SoftService {
    instances: HashMap<InstanceKey, SoftInstance>,
}

/// A deleted registration: older copies of it must not come back.
#[derive(Debug, Clone, Copy)]
struct Tombstone {
    stamp: Stamp,
    until_ms: Millis,
}

/// One instance of a page of [`SoftRegistry::export`]: the instance, its
/// stamp and its owner (`None`: owned by the exporting node).
pub type Exported = (Instance, Stamp, Option<PeerId>);

/// Default time a deletion is remembered.
pub const DEFAULT_TOMBSTONE_MS: Millis = 120_000;

/// Ephemeral instances by service.
#[derive(Debug)]
pub struct SoftRegistry {
    services: DashMap<ServiceKey, SoftService>,
    /// What each connection or peer owns, so closing one is O(what it
    /// owns). Beat-owned instances are not indexed: the sweeper visits them
    /// all. Grouped by service, so a service key is held once per owner, not
    /// once per instance.
    owned: DashMap<Owner, HashMap<ServiceKey, HashSet<InstanceKey>>>,
    /// Recent deletions, by service.
    tombstones: DashMap<ServiceKey, HashMap<InstanceKey, Tombstone>>,
    count: AtomicUsize,
    metadata: Interner,
    /// This node's id (the tie-break of its stamps).
    node: u64,
    /// Last clock reading taken or seen.
    clock: AtomicU64,
    tombstone_ms: Millis,
}

impl Default for SoftRegistry {
    fn default() -> Self {
        Self::with_node(0, DEFAULT_TOMBSTONE_MS)
    }
}

impl SoftRegistry {
    /// An empty registry (standalone).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry of cluster node `node`, remembering deletions for
    /// `tombstone_ms`.
    pub fn with_node(node: u64, tombstone_ms: Millis) -> Self {
        Self {
            services: DashMap::new(),
            owned: DashMap::new(),
            tombstones: DashMap::new(),
            count: AtomicUsize::new(0),
            metadata: Interner::default(),
            node,
            clock: AtomicU64::new(0),
            tombstone_ms,
        }
    }

    /// A new stamp, above every stamp taken or seen so far.
    pub fn next_stamp(&self, now: Millis) -> Stamp {
        let wall = u64::try_from(now).unwrap_or(0) << 16;
        let mut prev = self.clock.load(Ordering::Relaxed);
        loop {
            let next = wall.max(prev + 1);
            match self
                .clock
                .compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Stamp {
                        hlc: next,
                        node: self.node,
                    };
                }
                Err(p) => prev = p,
            }
        }
    }

    /// Moves the clock past a stamp seen from elsewhere.
    pub fn observe(&self, stamp: &Stamp) {
        self.clock.fetch_max(stamp.hlc, Ordering::Relaxed);
    }

    /// Adds or replaces an instance registered here by a local `owner`,
    /// with a new stamp (the registration takes the instance over from any
    /// other owner). Re-registering an identical instance changes only its
    /// record.
    pub fn register(
        &self,
        key: &ServiceKey,
        instance: Instance,
        owner: Owner,
        timings: BeatTimings,
        now: Millis,
    ) -> Change {
        let stamp = self.next_stamp(now);
        if let Some(mut t) = self.tombstones.get_mut(key) {
            t.remove(&instance.key());
        }
        self.tombstones.remove_if(key, |_, t| t.is_empty());
        self.put(key, instance, owner, stamp, timings, now)
    }

    /// Stores a record, replacing whatever is there.
    fn put(
        &self,
        key: &ServiceKey,
        instance: Instance,
        owner: Owner,
        stamp: Stamp,
        timings: BeatTimings,
        now: Millis,
    ) -> Change {
        let mut instance = instance;
        instance.metadata = self.metadata.intern(instance.metadata);
        let mut svc = self.services.entry(key.clone()).or_default();
        let ikey = instance.key();
        match svc.instances.get_mut(&ikey) {
            Some(existing) => {
                let visible = existing.instance != instance;
                let record = visible || existing.owner != owner || existing.stamp != stamp;
                if existing.owner != owner {
                    self.unindex(&existing.owner, key, &ikey);
                    self.index(&owner, key, &ikey);
                }
                existing.instance = instance;
                existing.owner = owner;
                existing.stamp = stamp;
                existing.last_beat_ms = now;
                existing.timings = timings;
                Change { visible, record }
            }
            None => {
                self.index(&owner, key, &ikey);
                svc.instances.insert(
                    ikey,
                    SoftInstance {
                        instance,
                        owner,
                        stamp,
                        last_beat_ms: now,
                        timings,
                    },
                );
                self.count.fetch_add(1, Ordering::Relaxed);
                Change::VISIBLE
            }
        }
    }

    /// Replaces everything a local `owner` has in a service with `instances`
    /// (Nacos's batch registration).
    pub fn replace_owned(
        &self,
        key: &ServiceKey,
        owner: &Owner,
        instances: Vec<(Instance, BeatTimings)>,
        now: Millis,
    ) -> Change {
        let keep: HashSet<InstanceKey> = instances.iter().map(|(i, _)| i.key()).collect();
        let mut change = Change::NONE;
        for ikey in self.owned_in(key, owner, &keep) {
            if self.deregister(key, &ikey, now) {
                change.merge(Change::VISIBLE);
            }
        }
        for (inst, timings) in instances {
            change.merge(self.register(key, inst, owner.clone(), timings, now));
        }
        change
    }

    /// Keys of what `owner` has in a service, but those in `keep`.
    fn owned_in(
        &self,
        key: &ServiceKey,
        owner: &Owner,
        keep: &HashSet<InstanceKey>,
    ) -> Vec<InstanceKey> {
        match self.services.get(key) {
            Some(svc) => svc
                .instances
                .iter()
                .filter(|(k, si)| &si.owner == owner && !keep.contains(*k))
                .map(|(k, _)| k.clone())
                .collect(),
            None => Vec::new(),
        }
    }

    /// Applies what peer `from` says it owns in a service: each instance
    /// whose stamp beats the copy here (and any deletion remembered here)
    /// is taken; an instance from the same owner with the same stamp is
    /// taken as the owner has it. With `replace`, what `from` had here and
    /// no longer lists is deleted (and remembered as deleted).
    pub fn apply_peer(
        &self,
        key: &ServiceKey,
        from: PeerId,
        instances: Vec<(Instance, Stamp)>,
        replace: bool,
        now: Millis,
    ) -> Change {
        let owner = Owner::Peer(from);
        let mut change = Change::NONE;
        if replace {
            let keep: HashSet<InstanceKey> = instances.iter().map(|(i, _)| i.key()).collect();
            for ikey in self.owned_in(key, &owner, &keep) {
                if self.deregister(key, &ikey, now) {
                    change.merge(Change::VISIBLE);
                }
            }
        }
        for (inst, stamp) in instances {
            self.observe(&stamp);
            let ikey = inst.key();
            // A deletion hides older copies, and copies of the same
            // registration relayed by others; the node that made the
            // registration may assert it again (its messages can arrive out
            // of order: an older digest may delete what a newer set added).
            let buried = self
                .tombstones
                .get(key)
                .and_then(|t| {
                    t.get(&ikey)
                        .map(|t| t.stamp > stamp || (t.stamp == stamp && from.node != stamp.node))
                })
                .unwrap_or(false);
            if buried {
                continue;
            }
            let current = self.services.get(key).and_then(|s| {
                s.instances.get(&ikey).map(|si| {
                    // The same registration, held for `from` or for an
                    // earlier incarnation of its node.
                    let same = match &si.owner {
                        Owner::Peer(p) => p.node == from.node && p.incarnation <= from.incarnation,
                        _ => false,
                    };
                    (si.stamp, same)
                })
            });
            let take = match current {
                None => true,
                Some((have, same)) => stamp > have || (stamp == have && same),
            };
            if take {
                change.merge(self.put(
                    key,
                    inst,
                    owner.clone(),
                    stamp,
                    BeatTimings::default(),
                    now,
                ));
            }
        }
        change
    }

    /// Drops everything `peer` owns here, without remembering it as
    /// deleted (its owner may still come back with it). Returns the
    /// services that changed.
    pub fn expire_peer(&self, peer: PeerId) -> Vec<ServiceKey> {
        self.drop_owner(&Owner::Peer(peer), None)
    }

    /// Hands everything a local `owner` (a connection closed while this
    /// node recovers from a pause) holds over to `to`, an earlier
    /// incarnation of this node: kept, not deleted, until its client
    /// registers again somewhere or the hand-over time ends. Returns how
    /// many instances moved.
    pub fn hand_over(&self, owner: &Owner, to: PeerId) -> usize {
        let Some((_, held)) = self.owned.remove(owner) else {
            return 0;
        };
        let new_owner = Owner::Peer(to);
        let mut moved = 0;
        for (key, ikeys) in held {
            if let Some(mut svc) = self.services.get_mut(&key) {
                for ikey in &ikeys {
                    if let Some(si) = svc.instances.get_mut(ikey)
                        && &si.owner == owner
                    {
                        si.owner = new_owner.clone();
                        self.index(&new_owner, &key, ikey);
                        moved += 1;
                    }
                }
            }
        }
        moved
    }

    /// Owners of the replicated instances held here.
    pub fn peers(&self) -> Vec<PeerId> {
        self.owned
            .iter()
            .filter_map(|e| match e.key() {
                Owner::Peer(p) => Some(*p),
                _ => None,
            })
            .collect()
    }

    /// A page of everything held here, in service order, starting after
    /// `after`: at most `limit` services. Returns the page and the key to
    /// continue after (`None` when done).
    pub fn export(
        &self,
        after: Option<&ServiceKey>,
        limit: usize,
    ) -> (Vec<(ServiceKey, Vec<Exported>)>, Option<ServiceKey>) {
        let mut keys: Vec<ServiceKey> = self
            .services
            .iter()
            .map(|e| e.key().clone())
            .filter(|k| after.is_none_or(|a| k > a))
            .collect();
        keys.sort();
        let more = keys.len() > limit;
        keys.truncate(limit);
        let next = if more { keys.last().cloned() } else { None };
        let page = keys
            .into_iter()
            .map(|k| {
                let set = self
                    .services
                    .get(&k)
                    .map(|s| {
                        s.instances
                            .values()
                            .map(|si| {
                                let owner = match si.owner {
                                    Owner::Peer(p) => Some(p),
                                    _ => None,
                                };
                                (si.instance.clone(), si.stamp, owner)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (k, set)
            })
            .collect();
        (page, next)
    }

    fn index(&self, owner: &Owner, key: &ServiceKey, ikey: &InstanceKey) {
        if *owner != Owner::Beat {
            self.owned
                .entry(owner.clone())
                .or_default()
                .entry(key.clone())
                .or_default()
                .insert(ikey.clone());
        }
    }

    fn unindex(&self, owner: &Owner, key: &ServiceKey, ikey: &InstanceKey) {
        if *owner != Owner::Beat {
            if let Some(mut held) = self.owned.get_mut(owner)
                && let Some(set) = held.get_mut(key)
            {
                set.remove(ikey);
                if set.is_empty() {
                    held.remove(key);
                }
            }
            self.owned.remove_if(owner, |_, held| held.is_empty());
        }
    }

    fn bury(&self, key: &ServiceKey, ikey: &InstanceKey, stamp: Stamp, now: Millis) {
        let t = Tombstone {
            stamp,
            until_ms: now.saturating_add(self.tombstone_ms),
        };
        self.tombstones
            .entry(key.clone())
            .or_default()
            .entry(ikey.clone())
            .and_modify(|old| {
                if old.stamp < stamp {
                    *old = t;
                }
            })
            .or_insert(t);
    }

    /// Removes an instance (and remembers the deletion); returns whether it
    /// existed.
    pub fn deregister(&self, key: &ServiceKey, ikey: &InstanceKey, now: Millis) -> bool {
        let removed = {
            let Some(mut svc) = self.services.get_mut(key) else {
                return false;
            };
            let removed = svc.instances.remove(ikey);
            if let Some(si) = &removed {
                self.unindex(&si.owner, key, ikey);
            }
            removed
        };
        match removed {
            Some(si) => {
                self.bury(key, ikey, si.stamp, now);
                self.count.fetch_sub(1, Ordering::Relaxed);
                self.services.remove_if(key, |_, s| s.instances.is_empty());
                true
            }
            None => false,
        }
    }

    /// Records a beat. `None` when the instance is unknown (the client must
    /// register again).
    pub fn beat(&self, key: &ServiceKey, ikey: &InstanceKey, now: Millis) -> Option<BeatAck> {
        let mut svc = self.services.get_mut(key)?;
        let si = svc.instances.get_mut(ikey)?;
        si.last_beat_ms = now;
        let recovered = !si.instance.healthy;
        si.instance.healthy = true;
        Some(BeatAck {
            interval_ms: si.timings.interval_ms,
            recovered,
        })
    }

    /// Takes over an instance held here for a local `owner` (a beat for an
    /// instance whose owning node is gone), as a new registration of the
    /// same instance, healthy. `None` if no such instance.
    pub fn adopt(
        &self,
        key: &ServiceKey,
        ikey: &InstanceKey,
        owner: Owner,
        timings: BeatTimings,
        now: Millis,
    ) -> Option<Change> {
        let mut instance = self.get(key, ikey)?.instance;
        instance.healthy = true;
        Some(self.register(key, instance, owner, timings, now))
    }

    /// Runs the beat timeline of beat-owned instances at `now`: marks silent
    /// ones unhealthy and removes those silent past their delete timeout.
    /// Forgets deletions older than the tombstone time. Returns the
    /// services that changed.
    pub fn sweep(&self, now: Millis) -> Vec<ServiceKey> {
        self.metadata.purge();
        self.tombstones.retain(|_, t| {
            t.retain(|_, t| t.until_ms > now);
            !t.is_empty()
        });
        let mut dead = Vec::new();
        let changed = self.update_all(|key, si| {
            if si.owner != Owner::Beat {
                return (true, false);
            }
            let silent = now - si.last_beat_ms;
            if silent > si.timings.delete_ms {
                dead.push((key.clone(), si.instance.key(), si.stamp));
                return (false, true);
            }
            if silent > si.timings.timeout_ms && si.instance.healthy {
                si.instance.healthy = false;
                return (true, true);
            }
            (true, false)
        });
        for (key, ikey, stamp) in dead {
            self.bury(&key, &ikey, stamp, now);
        }
        changed
    }

    /// Removes every instance of a local `owner` (a closed connection) and
    /// remembers the deletions. Returns the services that changed.
    pub fn remove_owner(&self, owner: &Owner, now: Millis) -> Vec<ServiceKey> {
        if *owner == Owner::Beat {
            return self.update_all(|_, _| (false, false));
        }
        self.drop_owner(owner, Some(now))
    }

    fn drop_owner(&self, owner: &Owner, bury_at: Option<Millis>) -> Vec<ServiceKey> {
        let Some((_, held)) = self.owned.remove(owner) else {
            return Vec::new();
        };
        let mut changed: Vec<ServiceKey> = Vec::new();
        for (key, ikeys) in held {
            let mut removed = Vec::new();
            if let Some(mut svc) = self.services.get_mut(&key) {
                for ikey in &ikeys {
                    let mine = svc.instances.get(ikey).is_some_and(|si| &si.owner == owner);
                    if mine && let Some(si) = svc.instances.remove(ikey) {
                        removed.push((ikey.clone(), si.stamp));
                    }
                }
            }
            if !removed.is_empty() {
                self.count.fetch_sub(removed.len(), Ordering::Relaxed);
                self.services.remove_if(&key, |_, s| s.instances.is_empty());
                if let Some(now) = bury_at {
                    for (ikey, stamp) in &removed {
                        self.bury(&key, ikey, *stamp, now);
                    }
                }
                changed.push(key);
            }
        }
        changed
    }

    /// Visits every instance; `f` says whether to keep it and whether it
    /// changed it. Keeps the count and drops emptied services. Returns the
    /// services that changed.
    fn update_all(
        &self,
        mut f: impl FnMut(&ServiceKey, &mut SoftInstance) -> (bool, bool),
    ) -> Vec<ServiceKey> {
        let mut changed = Vec::new();
        let mut removed_total = 0usize;
        for mut entry in self.services.iter_mut() {
            let (key, svc) = entry.pair_mut();
            let before = svc.instances.len();
            let mut touched = false;
            svc.instances.retain(|_, si| {
                let (keep, modified) = f(key, si);
                touched |= modified || !keep;
                keep
            });
            removed_total += before - svc.instances.len();
            if touched {
                changed.push(key.clone());
            }
        }
        if removed_total > 0 {
            self.count.fetch_sub(removed_total, Ordering::Relaxed);
            for key in &changed {
                self.services.remove_if(key, |_, s| s.instances.is_empty());
            }
        }
        changed
    }

    /// Instances of a service owned by this node (not by peers), with
    /// their stamps.
    pub fn local_instances(&self, key: &ServiceKey) -> Vec<(Instance, Stamp)> {
        self.services
            .get(key)
            .map(|s| {
                s.instances
                    .values()
                    .filter(|si| si.owner.is_local())
                    .map(|si| (si.instance.clone(), si.stamp))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Per service, a hash of the instances this node owns (services where
    /// it owns none are absent).
    pub fn local_digest(&self) -> HashMap<ServiceKey, u64> {
        let mut out = HashMap::new();
        for e in self.services.iter() {
            let mine: Vec<(&Instance, &Stamp)> = e
                .instances
                .values()
                .filter(|si| si.owner.is_local())
                .map(|si| (&si.instance, &si.stamp))
                .collect();
            if !mine.is_empty() {
                out.insert(e.key().clone(), set_hash(mine));
            }
        }
        out
    }

    /// Keys of the services where this node owns instances.
    pub fn local_service_keys(&self) -> Vec<ServiceKey> {
        self.services
            .iter()
            .filter(|e| e.instances.values().any(|si| si.owner.is_local()))
            .map(|e| e.key().clone())
            .collect()
    }

    /// Per service, a hash of what `peer` owns here.
    pub fn peer_digest(&self, peer: PeerId) -> HashMap<ServiceKey, u64> {
        let owner = Owner::Peer(peer);
        let mut per: HashMap<ServiceKey, Vec<(Instance, Stamp)>> = HashMap::new();
        for (key, ikey) in self.owned_by(&owner) {
            if let Some(si) = self.get(&key, &ikey) {
                per.entry(key).or_default().push((si.instance, si.stamp));
            }
        }
        per.into_iter()
            .map(|(k, v)| (k, set_hash(v.iter().map(|(i, s)| (i, s)))))
            .collect()
    }

    /// What a (connection or peer) owner holds.
    pub fn owned_by(&self, owner: &Owner) -> Vec<(ServiceKey, InstanceKey)> {
        let mut v: Vec<_> = self
            .owned
            .get(owner)
            .map(|held| {
                held.iter()
                    .flat_map(|(k, set)| set.iter().map(|i| (k.clone(), i.clone())))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Number of instances an owner holds.
    pub fn owned_count(&self, owner: &Owner) -> usize {
        self.owned
            .get(owner)
            .map_or(0, |held| held.values().map(HashSet::len).sum())
    }

    /// Calls `f` with each instance of a service.
    pub fn for_each_instance(&self, key: &ServiceKey, mut f: impl FnMut(&SoftInstance)) {
        if let Some(svc) = self.services.get(key) {
            svc.instances.values().for_each(&mut f);
        }
    }

    /// A copy of one instance.
    pub fn get(&self, key: &ServiceKey, ikey: &InstanceKey) -> Option<SoftInstance> {
        self.services.get(key)?.instances.get(ikey).cloned()
    }

    /// Number of instances in a service.
    pub fn service_len(&self, key: &ServiceKey) -> usize {
        self.services.get(key).map_or(0, |s| s.instances.len())
    }

    /// Keys of services with instances in a namespace (and group, if given).
    pub fn service_keys(
        &self,
        namespace: &NamespaceId,
        group: Option<&GroupName>,
    ) -> Vec<ServiceKey> {
        self.services
            .iter()
            .filter(|e| &e.key().namespace == namespace)
            .filter(|e| group.is_none_or(|g| &e.key().group == g))
            .map(|e| e.key().clone())
            .collect()
    }

    /// Keys of every service with ephemeral instances.
    pub fn all_service_keys(&self) -> Vec<ServiceKey> {
        self.services.iter().map(|e| e.key().clone()).collect()
    }

    /// Total number of ephemeral instances.
    pub fn instance_count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Number of services with ephemeral instances.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{ClusterName, ServiceName};

    fn key() -> ServiceKey {
        ServiceKey::new(
            NamespaceId::public(),
            GroupName::default_group(),
            ServiceName::parse("svc").unwrap(),
        )
    }

    fn inst(port: u16) -> Instance {
        Instance {
            ip: Arc::from("10.0.0.1"),
            port,
            cluster: ClusterName::default_cluster(),
            weight: 1.0,
            healthy: true,
            enabled: true,
            ephemeral: true,
            metadata: Default::default(),
        }
    }

    fn timings() -> BeatTimings {
        BeatTimings {
            interval_ms: 100,
            timeout_ms: 300,
            delete_ms: 600,
        }
    }

    fn peer(node: u64, incarnation: u64) -> PeerId {
        PeerId { node, incarnation }
    }

    fn ports(r: &SoftRegistry) -> Vec<u16> {
        let mut ports = Vec::new();
        r.for_each_instance(&key(), |si| ports.push(si.instance.port));
        ports.sort();
        ports
    }

    #[test]
    fn equal_metadata_is_shared_and_released() {
        let r = SoftRegistry::new();
        let k = key();
        let with_md = |port| {
            let mut i = inst(port);
            i.metadata = Arc::new(Metadata::from([("version".into(), "v1".into())]));
            i
        };
        for port in 1..=3 {
            r.register(&k, with_md(port), Owner::Beat, timings(), 0);
        }
        let a = r.get(&k, &inst(1).key()).unwrap().instance.metadata;
        let c = r.get(&k, &inst(3).key()).unwrap().instance.metadata;
        assert!(Arc::ptr_eq(&a, &c));
        assert_eq!(r.metadata.maps.lock().len(), 1);
        drop((a, c));
        for port in 1..=3 {
            r.deregister(&k, &inst(port).key(), 0);
        }
        r.sweep(0);
        assert!(r.metadata.maps.lock().is_empty());
    }

    #[test]
    fn beat_timeline() {
        let r = SoftRegistry::new();
        let k = key();
        assert!(r.register(&k, inst(1), Owner::Beat, timings(), 0).visible);
        let again = r.register(&k, inst(1), Owner::Beat, timings(), 0);
        assert!(
            !again.visible && again.record,
            "a new stamp, nothing visible"
        );
        assert!(r.sweep(300).is_empty());
        assert_eq!(r.sweep(301), vec![k.clone()]);
        assert!(!r.get(&k, &inst(1).key()).unwrap().instance.healthy);
        assert!(r.sweep(400).is_empty());
        let ack = r.beat(&k, &inst(1).key(), 450).unwrap();
        assert!(ack.recovered);
        assert_eq!(ack.interval_ms, 100);
        assert!(r.get(&k, &inst(1).key()).unwrap().instance.healthy);
        assert_eq!(r.sweep(1051), vec![k.clone()]);
        assert_eq!(r.instance_count(), 0);
        assert_eq!(r.service_count(), 0);
        assert!(r.beat(&k, &inst(1).key(), 2000).is_none());
    }

    #[test]
    fn connections_own_their_instances() {
        let r = SoftRegistry::new();
        let k = key();
        let c1 = Owner::Connection(Arc::from("c1"));
        r.register(&k, inst(1), c1.clone(), timings(), 0);
        r.register(
            &k,
            inst(2),
            Owner::Connection(Arc::from("c2")),
            timings(),
            0,
        );
        assert!(
            r.sweep(1_000_000).is_empty(),
            "connections are not beat-swept"
        );
        assert_eq!(r.remove_owner(&c1, 0), vec![k.clone()]);
        assert_eq!(r.service_len(&k), 1);
        assert_eq!(r.instance_count(), 1);
    }

    #[test]
    fn batch_replaces_what_the_owner_has() {
        let r = SoftRegistry::new();
        let k = key();
        let c = Owner::Connection(Arc::from("c"));
        r.register(&k, inst(9), Owner::Beat, timings(), 0);
        assert!(
            r.replace_owned(&k, &c, vec![(inst(1), timings()), (inst(2), timings())], 0)
                .visible
        );
        assert!(
            r.replace_owned(&k, &c, vec![(inst(2), timings()), (inst(3), timings())], 0)
                .visible
        );
        assert_eq!(ports(&r), vec![2, 3, 9]);
        assert!(
            !r.replace_owned(&k, &c, vec![(inst(2), timings()), (inst(3), timings())], 0)
                .visible
        );
        assert_eq!(r.remove_owner(&c, 0), vec![k.clone()]);
        assert_eq!(r.instance_count(), 1);
        assert!(r.owned.is_empty());
    }

    #[test]
    fn deregister() {
        let r = SoftRegistry::new();
        let k = key();
        r.register(&k, inst(1), Owner::Beat, timings(), 0);
        assert!(r.deregister(&k, &inst(1).key(), 0));
        assert!(!r.deregister(&k, &inst(1).key(), 0));
        assert_eq!(r.instance_count(), 0);
    }

    #[test]
    fn stamps_only_move_forward() {
        let r = SoftRegistry::with_node(1, 1_000);
        let a = r.next_stamp(5);
        let b = r.next_stamp(5);
        assert!(b > a, "same millisecond: the counter moves");
        let far = Stamp {
            hlc: 1_000_000 << 16,
            node: 2,
        };
        r.observe(&far);
        let c = r.next_stamp(6);
        assert!(c > far, "a stamp seen from a peer is passed");
        assert_eq!(c.node, 1);
    }

    #[test]
    fn the_newest_registration_owns_the_instance() {
        let r = SoftRegistry::with_node(3, 10_000);
        let k = key();
        let (a, b) = (peer(1, 7), peer(2, 9));
        let old = Stamp { hlc: 100, node: 1 };
        let new = Stamp { hlc: 200, node: 2 };
        // Node 1 owned it, then the client moved to node 2.
        assert!(r.apply_peer(&k, a, vec![(inst(1), old)], true, 0).visible);
        let moved = r.apply_peer(&k, b, vec![(inst(1), new)], true, 0);
        assert!(moved.record && !moved.visible, "same instance, new owner");
        // A resumed node 1 repeats its old set: it neither takes the
        // instance back nor, once it drops it, deletes node 2's.
        assert_eq!(
            r.apply_peer(&k, a, vec![(inst(1), old)], true, 0),
            Change::NONE
        );
        assert_eq!(r.apply_peer(&k, a, vec![], true, 0), Change::NONE);
        assert_eq!(ports(&r), vec![1]);
        assert_eq!(r.get(&k, &inst(1).key()).unwrap().owner, Owner::Peer(b));
        // Node 2's client deregisters: the deletion beats the old copy.
        assert!(r.apply_peer(&k, b, vec![], true, 0).visible);
        assert_eq!(
            r.apply_peer(&k, a, vec![(inst(1), old)], true, 10),
            Change::NONE
        );
        assert!(ports(&r).is_empty());
        // Tombstones go after their time; a newer registration passes at once.
        r.sweep(10_001);
        assert!(r.tombstones.is_empty());
        let newer = Stamp { hlc: 300, node: 1 };
        assert!(r.apply_peer(&k, a, vec![(inst(1), newer)], true, 0).visible);
    }

    #[test]
    fn a_local_registration_takes_over_and_a_stale_peer_loses() {
        let r = SoftRegistry::with_node(2, 10_000);
        let k = key();
        let a = peer(1, 1);
        r.apply_peer(&k, a, vec![(inst(1), Stamp { hlc: 100, node: 1 })], true, 0);
        let c = Owner::Connection(Arc::from("c"));
        let took = r.register(&k, inst(1), c.clone(), timings(), 0);
        assert!(took.record && !took.visible);
        assert_eq!(r.owned_count(&c), 1);
        assert_eq!(r.owned_count(&Owner::Peer(a)), 0);
        assert_eq!(r.apply_peer(&k, a, vec![], true, 0), Change::NONE);
        assert_eq!(r.local_instances(&k).len(), 1);
        // A later registration at the peer (it saw ours) takes it back, and
        // closing our connection then leaves it alone.
        let later = r.next_stamp(0);
        let later = Stamp {
            hlc: later.hlc + 1,
            node: 1,
        };
        r.apply_peer(&k, a, vec![(inst(1), later)], true, 0);
        assert_eq!(r.owned_count(&c), 0);
        assert!(r.remove_owner(&c, 0).is_empty());
        assert_eq!(ports(&r), vec![1]);
    }

    #[test]
    fn an_expired_peer_leaves_no_tombstones() {
        let r = SoftRegistry::with_node(2, 10_000);
        let k = key();
        let a = peer(1, 1);
        let s = Stamp { hlc: 100, node: 1 };
        r.apply_peer(&k, a, vec![(inst(1), s), (inst(2), s)], true, 0);
        assert_eq!(r.peers(), vec![a]);
        assert_eq!(r.expire_peer(a), vec![k.clone()]);
        assert!(r.peers().is_empty());
        // The owner comes back (a healed partition) with the same copy.
        assert!(r.apply_peer(&k, a, vec![(inst(1), s)], true, 0).visible);
        assert_eq!(ports(&r), vec![1]);
    }

    #[test]
    fn a_closed_connection_can_hand_over_and_a_later_incarnation_takes_back() {
        let r = SoftRegistry::with_node(1, 10_000);
        let k = key();
        let (c1, c2) = (
            Owner::Connection(Arc::from("c1")),
            Owner::Connection(Arc::from("c2")),
        );
        r.register(&k, inst(1), c1.clone(), timings(), 0);
        r.register(&k, inst(2), c2.clone(), timings(), 0);
        let old = peer(1, 5);
        assert_eq!(r.hand_over(&c1, old), 1);
        assert_eq!(ports(&r), vec![1, 2], "kept, not deleted");
        assert_eq!(r.local_instances(&k).len(), 1);
        assert!(r.remove_owner(&c1, 0).is_empty());
        // At a peer: the old incarnation's copy moves to the new one with
        // the same stamp; another node's older set cannot take it.
        let p = SoftRegistry::with_node(2, 10_000);
        let s = r.get(&k, &inst(2).key()).unwrap().stamp;
        p.apply_peer(&k, old, vec![(inst(2), s)], true, 0);
        let new = peer(1, 6);
        let c = p.apply_peer(&k, new, vec![(inst(2), s)], true, 0);
        assert!(c.record && !c.visible);
        assert_eq!(p.get(&k, &inst(2).key()).unwrap().owner, Owner::Peer(new));
        assert_eq!(
            p.apply_peer(&k, old, vec![(inst(2), s)], true, 0),
            Change::NONE
        );
        assert_eq!(
            p.apply_peer(&k, peer(3, 9), vec![(inst(2), s)], true, 0),
            Change::NONE
        );
    }

    #[test]
    fn an_owner_reasserts_what_a_late_message_deleted() {
        let r = SoftRegistry::with_node(3, 10_000);
        let k = key();
        let a = peer(1, 1);
        let s = Stamp { hlc: 100, node: 1 };
        // A set with the instance, then an older digest without it.
        r.apply_peer(&k, a, vec![(inst(1), s)], true, 0);
        assert!(r.apply_peer(&k, a, vec![], true, 0).visible);
        // The owner's next set restores it; a relayed copy would not.
        assert!(
            !r.apply_peer(&k, peer(2, 1), vec![(inst(1), s)], false, 0)
                .visible
        );
        assert!(r.apply_peer(&k, a, vec![(inst(1), s)], true, 0).visible);
        assert_eq!(ports(&r), vec![1]);
    }

    #[test]
    fn adoption_and_export() {
        let r = SoftRegistry::with_node(2, 10_000);
        let k = key();
        let a = peer(1, 1);
        let mut sick = inst(1);
        sick.healthy = false;
        r.apply_peer(&k, a, vec![(sick, Stamp { hlc: 100, node: 1 })], true, 0);
        r.register(&k, inst(2), Owner::Beat, timings(), 0);
        let c = r
            .adopt(&k, &inst(1).key(), Owner::Beat, timings(), 50)
            .unwrap();
        assert!(c.visible, "adopted healthy");
        assert!(
            r.adopt(&k, &inst(9).key(), Owner::Beat, timings(), 0)
                .is_none()
        );
        let (page, next) = r.export(None, 10);
        assert!(next.is_none());
        assert_eq!(page.len(), 1);
        assert!(page[0].1.iter().all(|(_, s, o)| o.is_none() && s.node == 2));
        r.apply_peer(&k, a, vec![(inst(3), Stamp { hlc: 1, node: 1 })], false, 0);
        let (page, _) = r.export(None, 10);
        assert_eq!(page[0].1.len(), 3, "a merge removes nothing");
        assert!(page[0].1.iter().any(|(_, _, o)| *o == Some(a)));
        let (empty, none) = r.export(Some(&k), 10);
        assert!(empty.is_empty() && none.is_none());
    }
}
