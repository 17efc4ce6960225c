//! The soft registry: ephemeral instances, held in memory by their owner.
//!
//! An ephemeral instance belongs to whoever registered it: an HTTP client
//! kept alive by beats ([`Owner::Beat`]) or a gRPC connection
//! ([`Owner::Connection`]). The registry runs the beat timeline for HTTP
//! owned instances ([`SoftRegistry::sweep`]): unhealthy after the beat
//! timeout, removed after the delete timeout. Connection-owned instances
//! live exactly as long as their connection ([`SoftRegistry::remove_owner`]).
//!
//! Nothing here is ever written to disk: after a restart the registry is
//! empty and clients register again.
//!
//! Every mutating call returns whether the visible service changed, so the
//! caller can push exactly the services that did.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

use crate::Millis;
use crate::names::{GroupName, NamespaceId, ServiceKey};
use crate::naming::instance::{BeatTimings, Instance, InstanceKey, InstancePatch};
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

/// Who keeps an ephemeral instance alive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// An HTTP client of this node, alive while it beats.
    Beat,
    /// A gRPC connection of this node, alive while it is connected.
    Connection(Arc<str>),
    /// Another node of the cluster, which owns it and replicates it here.
    Peer(u64),
}

impl Owner {
    /// Owned by this node (not replicated from a peer).
    pub fn is_local(&self) -> bool {
        !matches!(self, Owner::Peer(_))
    }
}

/// An order-independent hash of a set of instances, to compare what two
/// nodes hold for the same owner and service.
pub fn set_hash<'a>(instances: impl IntoIterator<Item = &'a Instance>) -> u64 {
    use std::hash::{Hash, Hasher};
    instances.into_iter().fold(0u64, |acc, i| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        i.ip.hash(&mut h);
        i.port.hash(&mut h);
        i.cluster.hash(&mut h);
        i.weight.to_bits().hash(&mut h);
        i.healthy.hash(&mut h);
        i.enabled.hash(&mut h);
        i.metadata.hash(&mut h);
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

/// Ephemeral instances by service.
#[derive(Debug, Default)]
pub struct SoftRegistry {
    services: DashMap<ServiceKey, SoftService>,
    /// What each connection owns, so closing one is O(what it owns).
    /// Beat-owned instances are not indexed: the sweeper visits them all.
    /// Grouped by service, so a service key is held once per owner, not
    /// once per instance.
    owned: DashMap<Owner, HashMap<ServiceKey, HashSet<InstanceKey>>>,
    count: AtomicUsize,
    metadata: Interner,
}

impl SoftRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an instance. Returns whether the visible service
    /// changed (a re-registration of an identical instance only refreshes
    /// its beat time).
    pub fn register(
        &self,
        key: &ServiceKey,
        instance: Instance,
        owner: Owner,
        timings: BeatTimings,
        now: Millis,
    ) -> bool {
        let mut instance = instance;
        instance.metadata = self.metadata.intern(instance.metadata);
        let mut svc = self.services.entry(key.clone()).or_default();
        let ikey = instance.key();
        match svc.instances.get_mut(&ikey) {
            Some(existing) => {
                let changed = existing.instance != instance;
                if existing.owner != owner {
                    self.unindex(&existing.owner, key, &ikey);
                    self.index(&owner, key, &ikey);
                }
                existing.instance = instance;
                existing.owner = owner;
                existing.last_beat_ms = now;
                existing.timings = timings;
                changed
            }
            None => {
                self.index(&owner, key, &ikey);
                svc.instances.insert(
                    ikey,
                    SoftInstance {
                        instance,
                        owner,
                        last_beat_ms: now,
                        timings,
                    },
                );
                self.count.fetch_add(1, Ordering::Relaxed);
                true
            }
        }
    }

    /// Replaces everything `owner` has in a service with `instances` (Nacos's
    /// batch registration). Returns whether the service changed.
    pub fn replace_owned(
        &self,
        key: &ServiceKey,
        owner: &Owner,
        instances: Vec<(Instance, BeatTimings)>,
        now: Millis,
    ) -> bool {
        let keep: HashSet<InstanceKey> = instances.iter().map(|(i, _)| i.key()).collect();
        let stale: Vec<InstanceKey> = match self.services.get(key) {
            Some(svc) => svc
                .instances
                .iter()
                .filter(|(k, si)| &si.owner == owner && !keep.contains(*k))
                .map(|(k, _)| k.clone())
                .collect(),
            None => Vec::new(),
        };
        let mut changed = false;
        for ikey in &stale {
            changed |= self.deregister(key, ikey);
        }
        for (inst, timings) in instances {
            changed |= self.register(key, inst, owner.clone(), timings, now);
        }
        changed
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

    /// Removes an instance; returns whether it existed.
    pub fn deregister(&self, key: &ServiceKey, ikey: &InstanceKey) -> bool {
        let removed = {
            let Some(mut svc) = self.services.get_mut(key) else {
                return false;
            };
            let removed = svc.instances.remove(ikey);
            if let Some(si) = &removed {
                self.unindex(&si.owner, key, ikey);
            }
            removed.is_some()
        };
        if removed {
            self.count.fetch_sub(1, Ordering::Relaxed);
            self.services.remove_if(key, |_, s| s.instances.is_empty());
        }
        removed
    }

    /// Applies a partial update; `None` if no such instance, else whether it
    /// changed. New metadata brings new beat timings.
    pub fn update(
        &self,
        key: &ServiceKey,
        ikey: &InstanceKey,
        patch: &InstancePatch,
        timings: Option<BeatTimings>,
    ) -> Option<bool> {
        let mut svc = self.services.get_mut(key)?;
        let si = svc.instances.get_mut(ikey)?;
        if let Some(t) = timings {
            si.timings = t;
        }
        Some(patch.apply_to(&mut si.instance))
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

    /// Runs the beat timeline of beat-owned instances at `now`: marks silent
    /// ones unhealthy and removes those silent past their delete timeout.
    /// Returns the services that changed.
    pub fn sweep(&self, now: Millis) -> Vec<ServiceKey> {
        self.metadata.purge();
        self.update_all(|si| {
            if si.owner != Owner::Beat {
                return (true, false);
            }
            let silent = now - si.last_beat_ms;
            if silent > si.timings.delete_ms {
                return (false, true);
            }
            if silent > si.timings.timeout_ms && si.instance.healthy {
                si.instance.healthy = false;
                return (true, true);
            }
            (true, false)
        })
    }

    /// Removes every instance of `owner` (a closed connection). Returns the
    /// services that changed.
    pub fn remove_owner(&self, owner: &Owner) -> Vec<ServiceKey> {
        if *owner == Owner::Beat {
            return self.update_all(|_| (false, false));
        }
        let Some((_, held)) = self.owned.remove(owner) else {
            return Vec::new();
        };
        let mut changed: Vec<ServiceKey> = Vec::new();
        for (key, ikeys) in held {
            let mut removed = 0;
            if let Some(mut svc) = self.services.get_mut(&key) {
                for ikey in &ikeys {
                    let mine = svc.instances.get(ikey).is_some_and(|si| &si.owner == owner);
                    if mine && svc.instances.remove(ikey).is_some() {
                        removed += 1;
                    }
                }
            }
            if removed > 0 {
                self.count.fetch_sub(removed, Ordering::Relaxed);
                self.services.remove_if(&key, |_, s| s.instances.is_empty());
                changed.push(key);
            }
        }
        changed
    }

    /// Visits every instance; `f` says whether to keep it and whether it
    /// changed it. Keeps the count and drops emptied services. Returns the
    /// services that changed.
    fn update_all(&self, mut f: impl FnMut(&mut SoftInstance) -> (bool, bool)) -> Vec<ServiceKey> {
        let mut changed = Vec::new();
        let mut removed_total = 0usize;
        for mut entry in self.services.iter_mut() {
            let svc = entry.value_mut();
            let before = svc.instances.len();
            let mut touched = false;
            svc.instances.retain(|_, si| {
                let (keep, modified) = f(si);
                touched |= modified || !keep;
                keep
            });
            removed_total += before - svc.instances.len();
            if touched {
                changed.push(entry.key().clone());
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

    /// Instances of a service owned by this node (not by peers).
    pub fn local_instances(&self, key: &ServiceKey) -> Vec<Instance> {
        self.services
            .get(key)
            .map(|s| {
                s.instances
                    .values()
                    .filter(|si| si.owner.is_local())
                    .map(|si| si.instance.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Per service, a hash of the instances this node owns (services where
    /// it owns none are absent).
    pub fn local_digest(&self) -> HashMap<ServiceKey, u64> {
        let mut out = HashMap::new();
        for e in self.services.iter() {
            let mine: Vec<&Instance> = e
                .instances
                .values()
                .filter(|si| si.owner.is_local())
                .map(|si| &si.instance)
                .collect();
            if !mine.is_empty() {
                out.insert(e.key().clone(), set_hash(mine));
            }
        }
        out
    }

    /// Per service, a hash of what `peer` owns here.
    pub fn peer_digest(&self, peer: u64) -> HashMap<ServiceKey, u64> {
        let owner = Owner::Peer(peer);
        let mut per: HashMap<ServiceKey, Vec<Instance>> = HashMap::new();
        for (key, ikey) in self.owned_by(&owner) {
            if let Some(si) = self.get(&key, &ikey) {
                per.entry(key).or_default().push(si.instance);
            }
        }
        per.into_iter().map(|(k, v)| (k, set_hash(&v))).collect()
    }

    /// What a (connection) owner holds.
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
            r.deregister(&k, &inst(port).key());
        }
        r.sweep(0);
        assert!(r.metadata.maps.lock().is_empty());
    }

    #[test]
    fn beat_timeline() {
        let r = SoftRegistry::new();
        let k = key();
        assert!(r.register(&k, inst(1), Owner::Beat, timings(), 0));
        assert!(!r.register(&k, inst(1), Owner::Beat, timings(), 0));
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
        assert_eq!(r.remove_owner(&c1), vec![k.clone()]);
        assert_eq!(r.service_len(&k), 1);
        assert_eq!(r.instance_count(), 1);
    }

    #[test]
    fn batch_replaces_what_the_owner_has() {
        let r = SoftRegistry::new();
        let k = key();
        let c = Owner::Connection(Arc::from("c"));
        r.register(&k, inst(9), Owner::Beat, timings(), 0);
        assert!(r.replace_owned(&k, &c, vec![(inst(1), timings()), (inst(2), timings())], 0));
        assert!(r.replace_owned(&k, &c, vec![(inst(2), timings()), (inst(3), timings())], 0));
        let mut ports = Vec::new();
        r.for_each_instance(&k, |si| ports.push(si.instance.port));
        ports.sort();
        assert_eq!(ports, vec![2, 3, 9]);
        assert!(!r.replace_owned(&k, &c, vec![(inst(2), timings()), (inst(3), timings())], 0));
        assert_eq!(r.remove_owner(&c), vec![k.clone()]);
        assert_eq!(r.instance_count(), 1);
        assert!(r.owned.is_empty());
    }

    #[test]
    fn deregister_and_update() {
        let r = SoftRegistry::new();
        let k = key();
        r.register(&k, inst(1), Owner::Beat, timings(), 0);
        let patch = InstancePatch {
            weight: Some(2.0),
            ..Default::default()
        };
        assert_eq!(r.update(&k, &inst(1).key(), &patch, None), Some(true));
        assert_eq!(r.update(&k, &inst(1).key(), &patch, None), Some(false));
        assert_eq!(r.update(&k, &inst(9).key(), &patch, None), None);
        assert!(r.deregister(&k, &inst(1).key()));
        assert!(!r.deregister(&k, &inst(1).key()));
        assert_eq!(r.instance_count(), 0);
    }
}
