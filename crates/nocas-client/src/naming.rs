//! Service discovery: register, deregister, batch register, update, list
//! healthy instances, weighted random selection, subscriptions (callbacks
//! and a `Stream` of views). Registrations and subscriptions are redone on
//! every new connection; views fall back to the disk cache when no server
//! answers.

use std::collections::HashMap;
use std::sync::Arc;

use futures::Stream;
use parking_lot::Mutex;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use crate::cache::DiskCache;
use crate::error::ClientError;
use crate::model::{Instance, ServiceView};
use crate::rpc::RpcClient;

type Key = (String, String); // (group, service)
type Registered = HashMap<(String, u16, String), Instance>;
type Callback = Arc<dyn Fn(&ServiceView) + Send + Sync>;

struct Subscription {
    tx: watch::Sender<Option<ServiceView>>,
    callbacks: Vec<Callback>,
}

pub(crate) struct NamingState {
    rpc: Arc<RpcClient>,
    namespace: String,
    cache: DiskCache,
    registered: Mutex<HashMap<Key, Registered>>,
    /// Held while a registration change is recorded and sent, and while
    /// the redo of one service's registrations is read and sent: the redo
    /// replaces what this connection holds in the service, so one read
    /// before a concurrent registration but sent after it would drop it
    /// (the redo runs beside the first calls of every new connection).
    writes: tokio::sync::Mutex<()>,
    subs: Mutex<HashMap<Key, Subscription>>,
    views: Mutex<HashMap<Key, ServiceView>>,
}

/// The naming half of the client (cheap to clone).
#[derive(Clone)]
pub struct NamingClient {
    st: Arc<NamingState>,
}

const DEFAULT_GROUP: &str = "DEFAULT_GROUP";

fn group_or_default(g: Option<&str>) -> String {
    g.filter(|g| !g.is_empty())
        .unwrap_or(DEFAULT_GROUP)
        .to_string()
}

fn wire(i: &Instance) -> Value {
    json!({
        "ip": i.ip, "port": i.port, "weight": i.weight, "healthy": i.healthy,
        "enabled": i.enabled, "ephemeral": i.ephemeral, "clusterName": i.cluster,
        "metadata": i.metadata,
    })
}

fn parse_view(v: &Value) -> Option<ServiceView> {
    let hosts = v["hosts"].as_array()?;
    let name = v["name"].as_str().unwrap_or_default();
    let service = name.rsplit("@@").next().unwrap_or(name).to_string();
    Some(ServiceView {
        service,
        group: v["groupName"].as_str().unwrap_or(DEFAULT_GROUP).to_string(),
        last_ref_time: v["lastRefTime"].as_i64().unwrap_or(0),
        hosts: hosts
            .iter()
            .map(|h| Instance {
                ip: h["ip"].as_str().unwrap_or_default().to_string(),
                port: h["port"].as_u64().unwrap_or(0) as u16,
                weight: h["weight"].as_f64().unwrap_or(1.0),
                healthy: h["healthy"].as_bool().unwrap_or(true),
                enabled: h["enabled"].as_bool().unwrap_or(true),
                ephemeral: h["ephemeral"].as_bool().unwrap_or(true),
                cluster: h["clusterName"].as_str().unwrap_or("DEFAULT").to_string(),
                metadata: serde_json::from_value(h["metadata"].clone()).unwrap_or_default(),
            })
            .collect(),
    })
}

impl NamingState {
    pub(crate) fn new(rpc: Arc<RpcClient>) -> Arc<Self> {
        let opts = rpc.options();
        let st = Arc::new(Self {
            namespace: opts.namespace.clone(),
            cache: DiskCache::new(opts.cache_dir.as_deref(), &opts.namespace),
            rpc: rpc.clone(),
            registered: Mutex::default(),
            writes: tokio::sync::Mutex::new(()),
            subs: Mutex::default(),
            views: Mutex::default(),
        });
        rpc.add_redo(&st, |st| async move { st.redo().await });
        st
    }

    fn base(&self, key: &Key) -> Value {
        json!({"namespace": self.namespace, "groupName": key.0, "serviceName": key.1, "headers": {}})
    }

    /// Records a view; tells subscribers if it changed; writes the cache.
    pub(crate) fn accept_view(&self, key: &Key, view: ServiceView) {
        {
            let mut views = self.views.lock();
            if let Some(old) = views.get(key)
                && old.hosts == view.hosts
                && old.last_ref_time >= view.last_ref_time
            {
                return;
            }
            views.insert(key.clone(), view.clone());
        }
        self.cache.save_view(&view);
        let callbacks: Vec<Callback> = {
            let subs = self.subs.lock();
            match subs.get(key) {
                Some(s) => {
                    s.tx.send_replace(Some(view.clone()));
                    s.callbacks.clone()
                }
                None => Vec::new(),
            }
        };
        for cb in callbacks {
            cb(&view);
        }
    }

    /// A server push of a subscribed service.
    pub(crate) fn on_push(&self, body: &Value) {
        let Some(view) = parse_view(&body["serviceInfo"]) else {
            return;
        };
        let group = body["groupName"]
            .as_str()
            .unwrap_or(&view.group)
            .to_string();
        let service = body["serviceName"]
            .as_str()
            .unwrap_or(&view.service)
            .to_string();
        self.accept_view(&(group, service), view);
    }

    async fn redo(&self) {
        let keys: Vec<Key> = self.registered.lock().keys().cloned().collect();
        for key in keys {
            let _writes = self.writes.lock().await;
            let Some(instances) = self
                .registered
                .lock()
                .get(&key)
                .map(|m| m.values().cloned().collect::<Vec<_>>())
            else {
                continue;
            };
            let mut body = self.base(&key);
            body["type"] = json!("batchRegisterInstance");
            body["instances"] = Value::Array(instances.iter().map(wire).collect());
            if let Err(e) = self.rpc.call_once("BatchInstanceRequest", &body).await {
                tracing::warn!(service = %key.1, error = %e, "redo of registrations failed");
            }
        }
        let subscribed: Vec<Key> = self.subs.lock().keys().cloned().collect();
        for key in subscribed {
            let mut body = self.base(&key);
            body["subscribe"] = json!(true);
            body["clusters"] = json!("");
            match self.rpc.call_once("SubscribeServiceRequest", &body).await {
                Ok(v) => {
                    if let Some(view) = parse_view(&v["serviceInfo"]) {
                        self.accept_view(&key, view);
                    }
                }
                Err(e) => {
                    tracing::warn!(service = %key.1, error = %e, "redo of a subscription failed")
                }
            }
        }
    }
}

impl NamingClient {
    pub(crate) fn new(st: Arc<NamingState>) -> Self {
        Self { st }
    }

    /// Registers (or replaces) an instance; it is registered again on
    /// every new connection until deregistered.
    pub async fn register(
        &self,
        service: &str,
        group: Option<&str>,
        instance: Instance,
    ) -> Result<(), ClientError> {
        let key = (group_or_default(group), service.to_string());
        let _writes = self.st.writes.lock().await;
        self.st
            .registered
            .lock()
            .entry(key.clone())
            .or_default()
            .insert(instance.key(), instance.clone());
        let mut body = self.st.base(&key);
        body["type"] = json!("registerInstance");
        body["instance"] = wire(&instance);
        let kind = if instance.ephemeral {
            "InstanceRequest"
        } else {
            "PersistentInstanceRequest"
        };
        self.st.rpc.call(kind, &body).await.map(|_| ())
    }

    /// Updates an instance (weight, enabled, metadata): registers it again.
    pub async fn update(
        &self,
        service: &str,
        group: Option<&str>,
        instance: Instance,
    ) -> Result<(), ClientError> {
        self.register(service, group, instance).await
    }

    /// Registers several instances of one service at once (they replace
    /// what this client had registered in the service).
    pub async fn batch_register(
        &self,
        service: &str,
        group: Option<&str>,
        instances: Vec<Instance>,
    ) -> Result<(), ClientError> {
        let key = (group_or_default(group), service.to_string());
        let _writes = self.st.writes.lock().await;
        self.st.registered.lock().insert(
            key.clone(),
            instances.iter().map(|i| (i.key(), i.clone())).collect(),
        );
        let mut body = self.st.base(&key);
        body["type"] = json!("batchRegisterInstance");
        body["instances"] = Value::Array(instances.iter().map(wire).collect());
        self.st
            .rpc
            .call("BatchInstanceRequest", &body)
            .await
            .map(|_| ())
    }

    /// Deregisters an instance.
    pub async fn deregister(
        &self,
        service: &str,
        group: Option<&str>,
        instance: &Instance,
    ) -> Result<(), ClientError> {
        let key = (group_or_default(group), service.to_string());
        let _writes = self.st.writes.lock().await;
        if let Some(m) = self.st.registered.lock().get_mut(&key) {
            m.remove(&instance.key());
        }
        let mut body = self.st.base(&key);
        body["type"] = json!("deregisterInstance");
        body["instance"] = wire(instance);
        let kind = if instance.ephemeral {
            "InstanceRequest"
        } else {
            "PersistentInstanceRequest"
        };
        self.st.rpc.call(kind, &body).await.map(|_| ())
    }

    /// Deregisters everything this client registered.
    pub async fn deregister_all(&self) -> Result<(), ClientError> {
        let all: Vec<(Key, Vec<Instance>)> = self
            .st
            .registered
            .lock()
            .iter()
            .map(|(k, m)| (k.clone(), m.values().cloned().collect()))
            .collect();
        for ((group, service), instances) in all {
            for i in instances {
                self.deregister(&service, Some(&group), &i).await?;
            }
        }
        Ok(())
    }

    /// The current view of a service: from the server, else the last view
    /// seen, else the disk cache.
    pub async fn view(
        &self,
        service: &str,
        group: Option<&str>,
    ) -> Result<ServiceView, ClientError> {
        let key = (group_or_default(group), service.to_string());
        let subscribed = self.st.subs.lock().contains_key(&key);
        if subscribed && let Some(v) = self.st.views.lock().get(&key).cloned() {
            return Ok(v);
        }
        let mut body = self.st.base(&key);
        body["cluster"] = json!("");
        body["healthyOnly"] = json!(false);
        match self.st.rpc.call("ServiceQueryRequest", &body).await {
            Ok(v) => {
                let view = parse_view(&v["serviceInfo"])
                    .ok_or_else(|| ClientError::Protocol("no serviceInfo".into()))?;
                self.st.accept_view(&key, view.clone());
                Ok(view)
            }
            Err(e) if e.is_retryable() => self.cached(&key).ok_or(e),
            Err(e) => Err(e),
        }
    }

    fn cached(&self, key: &Key) -> Option<ServiceView> {
        if let Some(v) = self.st.views.lock().get(key).cloned() {
            return Some(v);
        }
        self.st.cache.load_view(&key.0, &key.1)
    }

    /// Healthy, enabled instances of a service.
    pub async fn healthy_instances(
        &self,
        service: &str,
        group: Option<&str>,
    ) -> Result<Vec<Instance>, ClientError> {
        Ok(self.view(service, group).await?.healthy())
    }

    /// One healthy instance, picked at random in proportion to weight.
    pub async fn select_one(
        &self,
        service: &str,
        group: Option<&str>,
    ) -> Result<Instance, ClientError> {
        let hosts = self.healthy_instances(service, group).await?;
        pick_weighted(&hosts)
            .ok_or_else(|| ClientError::NotFound(format!("no healthy instance of {service}")))
    }

    async fn ensure_subscribed(&self, key: &Key) -> Result<(), ClientError> {
        let new = {
            let mut subs = self.st.subs.lock();
            if subs.contains_key(key) {
                false
            } else {
                let (tx, _) = watch::channel(self.cached(key));
                subs.insert(
                    key.clone(),
                    Subscription {
                        tx,
                        callbacks: Vec::new(),
                    },
                );
                true
            }
        };
        if !new {
            return Ok(());
        }
        let mut body = self.st.base(key);
        body["subscribe"] = json!(true);
        body["clusters"] = json!("");
        match self.st.rpc.call("SubscribeServiceRequest", &body).await {
            Ok(v) => {
                if let Some(view) = parse_view(&v["serviceInfo"]) {
                    self.st.accept_view(key, view);
                }
                Ok(())
            }
            // Offline: the subscription stands and is redone on connect.
            Err(e) if e.is_retryable() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Calls `callback` with every new view of the service.
    pub async fn subscribe(
        &self,
        service: &str,
        group: Option<&str>,
        callback: impl Fn(&ServiceView) + Send + Sync + 'static,
    ) -> Result<(), ClientError> {
        let key = (group_or_default(group), service.to_string());
        self.ensure_subscribed(&key).await?;
        let current = {
            let mut subs = self.st.subs.lock();
            let sub = subs
                .get_mut(&key)
                .ok_or_else(|| ClientError::Protocol("subscription vanished".into()))?;
            sub.callbacks.push(Arc::new(callback));
            sub.tx.borrow().clone()
        };
        if let Some(v) = current
            && let Some(cb) = self
                .st
                .subs
                .lock()
                .get(&key)
                .and_then(|s| s.callbacks.last().cloned())
        {
            cb(&v);
        }
        Ok(())
    }

    /// A stream of the service's views: the current one (if known), then
    /// each new one.
    pub async fn watch(
        &self,
        service: &str,
        group: Option<&str>,
    ) -> Result<impl Stream<Item = ServiceView> + use<>, ClientError> {
        let key = (group_or_default(group), service.to_string());
        self.ensure_subscribed(&key).await?;
        let rx = self
            .st
            .subs
            .lock()
            .get(&key)
            .map(|s| s.tx.subscribe())
            .ok_or_else(|| ClientError::Protocol("subscription vanished".into()))?;
        Ok(futures::StreamExt::filter_map(
            WatchStream::new(rx),
            |v| async move { v },
        ))
    }

    /// Stops a subscription (callbacks and streams end).
    pub async fn unsubscribe(&self, service: &str, group: Option<&str>) -> Result<(), ClientError> {
        let key = (group_or_default(group), service.to_string());
        if self.st.subs.lock().remove(&key).is_none() {
            return Ok(());
        }
        let mut body = self.st.base(&key);
        body["subscribe"] = json!(false);
        body["clusters"] = json!("");
        self.st
            .rpc
            .call("SubscribeServiceRequest", &body)
            .await
            .map(|_| ())
    }
}

/// Weighted random choice (weight 0 never picked).
pub fn pick_weighted(hosts: &[Instance]) -> Option<Instance> {
    let total: f64 = hosts.iter().map(|h| h.weight.max(0.0)).sum();
    if total <= 0.0 {
        return None;
    }
    let mut r = rand::rng().random_range(0.0..total);
    for h in hosts {
        let w = h.weight.max(0.0);
        if r < w {
            return Some(h.clone());
        }
        r -= w;
    }
    hosts.iter().rev().find(|h| h.weight > 0.0).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_choice_follows_weights() {
        let hosts = vec![
            Instance::new("a", 1).with_weight(1.0),
            Instance::new("b", 1).with_weight(3.0),
            Instance::new("c", 1).with_weight(0.0),
        ];
        let mut b = 0;
        for _ in 0..10_000 {
            let h = pick_weighted(&hosts).unwrap();
            assert_ne!(h.ip, "c");
            if h.ip == "b" {
                b += 1;
            }
        }
        assert!((7_000..8_000).contains(&b), "{b}");
        assert!(pick_weighted(&[Instance::new("z", 1).with_weight(0.0)]).is_none());
    }

    #[test]
    fn views_parse_from_the_wire() {
        let v = json!({"name": "svc", "groupName": "G", "lastRefTime": 5, "hosts": [
            {"ip": "1.1.1.1", "port": 80, "weight": 2.0, "healthy": false, "enabled": true, "ephemeral": true, "clusterName": "C", "metadata": {"version": "v2"}}
        ]});
        let view = parse_view(&v).unwrap();
        assert_eq!(view.service, "svc");
        assert_eq!(view.hosts[0].metadata["version"], "v2");
        assert!(view.healthy().is_empty());
    }
}
