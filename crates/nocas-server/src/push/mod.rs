//! The push hub: who waits for which change, and waking them.
//!
//! Config watchers (HTTP long polls today) are indexed by config key, so an
//! applied change wakes exactly the watchers of that key; a woken watcher
//! re-checks its own MD5s (beta- and IP-aware) and answers only on a real
//! difference. Naming changes bump a per-service revision that readers and
//! subscribers use.
//!
//! The hub is the state machine's event sink: it is called on the apply
//! path, so everything here is non-blocking and O(watchers of the key).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use dashmap::DashMap;
use tokio::sync::Notify;

use nocas_core::command::{Event, EventSink};
use nocas_core::names::{ConfigKey, ServiceKey};

/// Listeners and subscribers of this node.
#[derive(Default)]
pub struct Hub {
    config_watchers: DashMap<ConfigKey, HashMap<u64, Arc<Notify>>>,
    next_id: AtomicU64,
    held: AtomicUsize,
    service_revisions: DashMap<ServiceKey, u64>,
    naming_revision: AtomicU64,
    closing: std::sync::atomic::AtomicBool,
}

/// A registered config watcher; unregisters itself when dropped.
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
            if let Some(mut m) = self.hub.config_watchers.get_mut(key) {
                m.remove(&self.id);
            }
            self.hub.config_watchers.remove_if(key, |_, m| m.is_empty());
        }
        self.hub.held.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a watcher of `keys`. Register before checking the current
    /// MD5s, so that no change between check and wait is missed.
    pub fn watch_configs(&self, keys: Vec<ConfigKey>) -> ConfigWatch<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        for key in &keys {
            self.config_watchers
                .entry(key.clone())
                .or_default()
                .insert(id, notify.clone());
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        ConfigWatch {
            hub: self,
            id,
            keys,
            notify,
        }
    }

    /// Starts shutting down: every watcher is woken and should answer now.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.wake_all_configs();
    }

    /// Whether the server is shutting down.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Watchers currently registered.
    pub fn held_watchers(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    fn wake_config(&self, key: &ConfigKey) {
        if let Some(m) = self.config_watchers.get(key) {
            for n in m.values() {
                n.notify_one();
            }
        }
    }

    fn wake_all_configs(&self) {
        for m in self.config_watchers.iter() {
            for n in m.values() {
                n.notify_one();
            }
        }
    }

    /// Records that a service's instances or record changed.
    pub fn service_changed(&self, key: &ServiceKey) {
        let rev = self.naming_revision.fetch_add(1, Ordering::Relaxed) + 1;
        self.service_revisions.insert(key.clone(), rev);
    }

    /// Records changes of several services.
    pub fn services_changed(&self, keys: &[ServiceKey]) {
        for k in keys {
            self.service_changed(k);
        }
    }

    /// A number that grows whenever the service changes (0 if never seen).
    pub fn service_revision(&self, key: &ServiceKey) -> u64 {
        self.service_revisions.get(key).map_or(0, |r| *r)
    }
}

impl EventSink for Hub {
    fn publish(&self, events: &[Event]) {
        for e in events {
            match e {
                Event::Config(k) => self.wake_config(k),
                Event::Service(k) => self.service_changed(k),
                Event::Namespace(_) => {}
                Event::All => {
                    self.wake_all_configs();
                    self.naming_revision.fetch_add(1, Ordering::Relaxed);
                    self.service_revisions.clear();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nocas_core::names::{ConfigGroup, DataId, NamespaceId};

    fn key(d: &str) -> ConfigKey {
        ConfigKey::new(
            NamespaceId::public(),
            ConfigGroup::parse(Some("G")).unwrap(),
            DataId::parse(Some(d)).unwrap(),
        )
    }

    #[tokio::test]
    async fn watchers_wake_on_their_keys_only_and_clean_up() {
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
        assert!(hub.config_watchers.is_empty());
    }
}
