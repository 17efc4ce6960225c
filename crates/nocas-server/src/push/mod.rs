//! The push hub: who waits for which change, and waking them.
//!
//! One index for every kind of listener. Config listeners (HTTP long polls
//! and gRPC connections) are indexed by config key, service subscribers
//! (gRPC connections) by service key, so an applied change reaches exactly
//! the listeners of that key, whichever front end the change came through.
//! A woken long poll re-checks its own MD5s; a connection queues a push.
//!
//! The hub is the state machine's event sink: it is called on the apply
//! path, so everything here is non-blocking and O(listeners of the key).

pub mod udp;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use dashmap::DashMap;
use tokio::sync::Notify;

use nocas_core::command::{Event, EventSink};
use nocas_core::names::{ConfigKey, ServiceKey};

/// Something told about changes of the keys it registered for (a client
/// connection). Calls must not block.
pub trait Subscriber: Send + Sync {
    /// Its id from [`Hub::next_id`].
    fn id(&self) -> u64;
    /// A config it listens to may have changed.
    fn config_changed(&self, key: &ConfigKey);
    /// A service it subscribes to changed.
    fn service_changed(&self, key: &ServiceKey);
    /// A config changed while it holds config fuzzy watches.
    fn fuzzy_config_changed(&self, _key: &ConfigKey) {}
    /// A service changed while it holds naming fuzzy watches.
    fn fuzzy_service_changed(&self, _key: &ServiceKey) {}
}

#[derive(Clone)]
enum ConfigListener {
    /// A held long poll, woken to re-check.
    Poll(Arc<Notify>),
    /// A subscriber (connection).
    Sub(Arc<dyn Subscriber>),
}

/// A concurrent map keyed by config or service keys, looked up on every
/// read and push: hashed with foldhash (randomly seeded per map), not
/// SipHash, which cost a read of the instance list 600 instructions.
pub(crate) type KeyMap<K, V> = DashMap<K, V, foldhash::fast::RandomState>;

/// Listeners and subscribers of this node.
#[derive(Default)]
pub struct Hub {
    config_listeners: KeyMap<ConfigKey, HashMap<u64, ConfigListener>>,
    service_subscribers: KeyMap<ServiceKey, HashMap<u64, Arc<dyn Subscriber>>>,
    /// Subscribers holding config fuzzy watches (told of every config).
    fuzzy_config: DashMap<u64, Arc<dyn Subscriber>>,
    /// Subscribers holding naming fuzzy watches (told of every service).
    fuzzy_service: DashMap<u64, Arc<dyn Subscriber>>,
    next_id: AtomicU64,
    service_revs: KeyMap<ServiceKey, u64>,
    rev_counter: AtomicU64,
    epoch: AtomicU64,
    held: AtomicUsize,
    subscriptions: AtomicUsize,
    closing: AtomicBool,
    /// Users, roles or permissions changed (holds a permit until taken).
    auth_changed: Notify,
}

/// A registered long poll; unregisters itself when dropped.
pub struct ConfigWatch<'a> {
    hub: &'a Hub,
    id: u64,
    keys: Vec<ConfigKey>,
    notify: Arc<Notify>,
}

impl ConfigWatch<'_> {
    /// Waits until one of the watched keys may have changed.
    pub async fn changed(&self) {
        self.notify.notified().await
    }
}

impl Drop for ConfigWatch<'_> {
    fn drop(&mut self) {
        for key in &self.keys {
            self.hub.unlisten_config(key, self.id);
        }
        self.hub.held.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until users, roles or permissions changed since the last call
    /// returned (or since the hub was made).
    pub async fn auth_changed(&self) {
        self.auth_changed.notified().await
    }

    /// A fresh id for a listener or subscriber.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a long poll on `keys`. Register before checking the current
    /// MD5s, so that no change between check and wait is missed.
    pub fn watch_configs(&self, keys: Vec<ConfigKey>) -> ConfigWatch<'_> {
        let id = self.next_id();
        let notify = Arc::new(Notify::new());
        for key in &keys {
            self.config_listeners
                .entry(key.clone())
                .or_default()
                .insert(id, ConfigListener::Poll(notify.clone()));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        ConfigWatch {
            hub: self,
            id,
            keys,
            notify,
        }
    }

    /// Long polls currently held.
    pub fn held_watchers(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Adds a subscriber as listener of a config.
    pub fn listen_config(&self, key: &ConfigKey, sub: Arc<dyn Subscriber>) {
        self.config_listeners
            .entry(key.clone())
            .or_default()
            .insert(sub.id(), ConfigListener::Sub(sub));
    }

    /// Removes listener `id` of a config.
    pub fn unlisten_config(&self, key: &ConfigKey, id: u64) {
        if let Some(mut m) = self.config_listeners.get_mut(key) {
            m.remove(&id);
        }
        self.config_listeners.remove_if(key, |_, m| m.is_empty());
    }

    /// Subscribes to a service's changes.
    pub fn subscribe_service(&self, key: &ServiceKey, sub: Arc<dyn Subscriber>) {
        let added = self
            .service_subscribers
            .entry(key.clone())
            .or_default()
            .insert(sub.id(), sub)
            .is_none();
        if added {
            self.subscriptions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Removes subscriber `id` of a service.
    pub fn unsubscribe_service(&self, key: &ServiceKey, id: u64) {
        let removed = match self.service_subscribers.get_mut(key) {
            Some(mut m) => m.remove(&id).is_some(),
            None => false,
        };
        if removed {
            self.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        self.service_subscribers.remove_if(key, |_, m| m.is_empty());
    }

    /// Tells `sub` of every config (`config`) or service change, for its
    /// fuzzy watches.
    pub fn fuzzy_watch(&self, config: bool, sub: Arc<dyn Subscriber>) {
        let m = if config {
            &self.fuzzy_config
        } else {
            &self.fuzzy_service
        };
        m.insert(sub.id(), sub);
    }

    /// Stops telling subscriber `id` of config (`config`) or service
    /// changes.
    pub fn fuzzy_unwatch(&self, config: bool, id: u64) {
        if config {
            self.fuzzy_config.remove(&id);
        } else {
            self.fuzzy_service.remove(&id);
        }
    }

    /// Service subscriptions held.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }

    /// Starts shutting down: every long poll is woken and should answer now.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        for m in self.config_listeners.iter() {
            for l in m.values() {
                if let ConfigListener::Poll(n) = l {
                    n.notify_one();
                }
            }
        }
    }

    /// Whether the server is shutting down.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    fn config_changed(&self, key: &ConfigKey) {
        if !self.fuzzy_config.is_empty() {
            let subs: Vec<Arc<dyn Subscriber>> = self
                .fuzzy_config
                .iter()
                .map(|e| e.value().clone())
                .collect();
            for s in subs {
                s.fuzzy_config_changed(key);
            }
        }
        let listeners: Vec<ConfigListener> = match self.config_listeners.get(key) {
            Some(m) => m.values().cloned().collect(),
            None => return,
        };
        for l in listeners {
            match l {
                ConfigListener::Poll(n) => n.notify_one(),
                ConfigListener::Sub(s) => s.config_changed(key),
            }
        }
    }

    /// A value that differs whenever the service's view may have changed.
    pub fn service_revision(&self, key: &ServiceKey) -> (u64, u64) {
        let rev = self.service_revs.get(key).map_or(0, |r| *r);
        (self.epoch.load(Ordering::SeqCst), rev)
    }

    /// Records a service change and tells its subscribers.
    pub fn service_changed(&self, key: &ServiceKey) {
        let rev = self.rev_counter.fetch_add(1, Ordering::SeqCst) + 1;
        self.service_revs.insert(key.clone(), rev);
        if !self.fuzzy_service.is_empty() {
            let subs: Vec<Arc<dyn Subscriber>> = self
                .fuzzy_service
                .iter()
                .map(|e| e.value().clone())
                .collect();
            for s in subs {
                s.fuzzy_service_changed(key);
            }
        }
        let subs: Vec<Arc<dyn Subscriber>> = match self.service_subscribers.get(key) {
            Some(m) => m.values().cloned().collect(),
            None => return,
        };
        for s in subs {
            s.service_changed(key);
        }
    }

    /// Tells several services' subscribers.
    pub fn services_changed(&self, keys: &[ServiceKey]) {
        for k in keys {
            self.service_changed(k);
        }
    }

    fn everything_changed(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let configs: Vec<ConfigKey> = self
            .config_listeners
            .iter()
            .map(|e| e.key().clone())
            .collect();
        for k in &configs {
            self.config_changed(k);
        }
        let services: Vec<ServiceKey> = self
            .service_subscribers
            .iter()
            .map(|e| e.key().clone())
            .collect();
        self.services_changed(&services);
    }
}

impl EventSink for Hub {
    fn publish(&self, events: &[Event]) {
        for e in events {
            match e {
                Event::Config(k) => self.config_changed(k),
                Event::Service(k) => self.service_changed(k),
                Event::Namespace(_) => {}
                Event::Auth => self.auth_changed.notify_one(),
                Event::All => {
                    self.everything_changed();
                    self.auth_changed.notify_one();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use nocas_core::names::{ConfigGroup, DataId, GroupName, NamespaceId, ServiceName};

    fn key(d: &str) -> ConfigKey {
        ConfigKey::new(
            NamespaceId::public(),
            ConfigGroup::parse(Some("G")).unwrap(),
            DataId::parse(Some(d)).unwrap(),
        )
    }

    #[tokio::test]
    async fn long_polls_wake_on_their_keys_only_and_clean_up() {
        let hub = Hub::new();
        {
            let w = hub.watch_configs(vec![key("a"), key("b")]);
            assert_eq!(hub.held_watchers(), 1);
            hub.publish(&[Event::Config(key("c"))]);
            let woke =
                tokio::time::timeout(std::time::Duration::from_millis(20), w.changed()).await;
            assert!(woke.is_err(), "unrelated key must not wake");
            hub.publish(&[Event::Config(key("b"))]);
            // The permit is stored even if nobody waits yet.
            tokio::time::timeout(std::time::Duration::from_secs(1), w.changed())
                .await
                .unwrap();
        }
        assert_eq!(hub.held_watchers(), 0);
        assert!(hub.config_listeners.is_empty());
    }

    struct Rec {
        id: u64,
        seen: Mutex<Vec<String>>,
    }

    impl Subscriber for Rec {
        fn id(&self) -> u64 {
            self.id
        }
        fn config_changed(&self, key: &ConfigKey) {
            self.seen.lock().unwrap().push(format!("c:{}", key.data_id));
        }
        fn service_changed(&self, key: &ServiceKey) {
            self.seen.lock().unwrap().push(format!("s:{}", key.service));
        }
    }

    #[test]
    fn subscribers_get_their_keys() {
        let hub = Hub::new();
        let rec = Arc::new(Rec {
            id: hub.next_id(),
            seen: Mutex::default(),
        });
        let svc = ServiceKey::new(
            NamespaceId::public(),
            GroupName::default_group(),
            ServiceName::parse("s1").unwrap(),
        );
        hub.listen_config(&key("a"), rec.clone());
        hub.subscribe_service(&svc, rec.clone());
        assert_eq!(hub.subscription_count(), 1);
        hub.publish(&[
            Event::Config(key("a")),
            Event::Config(key("z")),
            Event::Service(svc.clone()),
        ]);
        hub.publish(&[Event::All]);
        assert_eq!(
            *rec.seen.lock().unwrap(),
            vec!["c:a", "s:s1", "c:a", "s:s1"]
        );
        hub.unlisten_config(&key("a"), rec.id);
        hub.unsubscribe_service(&svc, rec.id);
        assert_eq!(hub.subscription_count(), 0);
        assert!(hub.config_listeners.is_empty() && hub.service_subscribers.is_empty());
    }
}
