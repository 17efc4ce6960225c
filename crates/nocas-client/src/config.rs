//! Configuration: get, publish, remove, and listening (a `Stream` of
//! changes). Listeners are re-registered on every new connection, and
//! content falls back to the disk cache when no server answers.

use std::collections::HashMap;
use std::sync::Arc;

use futures::Stream;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

use crate::cache::DiskCache;
use crate::error::ClientError;
use crate::model::ConfigChange;
use crate::rpc::RpcClient;

type Key = (String, String); // (group, data id)

struct Listener {
    md5: String,
    tx: watch::Sender<Option<ConfigChange>>,
}

pub(crate) struct ConfigState {
    rpc: Arc<RpcClient>,
    namespace: String,
    cache: DiskCache,
    listeners: Mutex<HashMap<Key, Listener>>,
}

/// The config half of the client (cheap to clone).
#[derive(Clone)]
pub struct ConfigClient {
    st: Arc<ConfigState>,
}

/// Config not found (Nacos code 300 in `ConfigQueryResponse`).
const NOT_FOUND: i64 = 300;

impl ConfigState {
    pub(crate) fn new(rpc: Arc<RpcClient>) -> Arc<Self> {
        let opts = rpc.options();
        let st = Arc::new(Self {
            namespace: opts.namespace.clone(),
            cache: DiskCache::new(opts.cache_dir.as_deref(), &opts.namespace),
            rpc: rpc.clone(),
            listeners: Mutex::default(),
        });
        rpc.add_redo(&st, |st| async move { st.relisten().await });
        st
    }

    fn base(&self, key: &Key) -> Value {
        json!({"dataId": key.1, "group": key.0, "tenant": self.namespace, "headers": {}})
    }

    /// Asks the server; `Ok(None)` when the config does not exist.
    async fn fetch(&self, key: &Key) -> Result<Option<(String, String)>, ClientError> {
        match self.rpc.call("ConfigQueryRequest", &self.base(key)).await {
            Ok(v) => Ok(Some((
                v["content"].as_str().unwrap_or_default().to_string(),
                v["md5"].as_str().unwrap_or_default().to_string(),
            ))),
            Err(ClientError::Server {
                code: NOT_FOUND, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Fetches a listened config and tells its listeners if it changed.
    pub(crate) async fn refresh(&self, key: &Key) {
        let current = match self.fetch(key).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(data_id = %key.1, error = %e, "config refresh failed");
                return;
            }
        };
        self.cache
            .save_config(&key.0, &key.1, current.as_ref().map(|(c, _)| c.as_str()));
        let mut listeners = self.listeners.lock();
        let Some(l) = listeners.get_mut(key) else {
            return;
        };
        let md5 = current.as_ref().map(|(_, m)| m.clone()).unwrap_or_default();
        if l.md5 != md5 {
            l.md5 = md5;
            l.tx.send_replace(Some(ConfigChange {
                data_id: key.1.clone(),
                group: key.0.clone(),
                content: current.map(|(c, _)| c),
            }));
        }
    }

    /// A server push: a listened config changed.
    pub(crate) fn on_push(self: &Arc<Self>, body: &Value) {
        let key = (
            body["group"].as_str().unwrap_or_default().to_string(),
            body["dataId"].as_str().unwrap_or_default().to_string(),
        );
        let st = self.clone();
        tokio::spawn(async move { st.refresh(&key).await });
    }

    async fn listen_request(&self, keys: &[(Key, String)]) -> Result<Vec<Key>, ClientError> {
        let contexts: Vec<Value> = keys
            .iter()
            .map(|((g, d), md5)| json!({"dataId": d, "group": g, "tenant": self.namespace, "md5": md5}))
            .collect();
        let body = json!({"listen": true, "configListenContexts": contexts, "headers": {}});
        let v = self.rpc.call("ConfigBatchListenRequest", &body).await?;
        Ok(v["changedConfigs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (
                            c["group"].as_str().unwrap_or_default().to_string(),
                            c["dataId"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn relisten(&self) {
        let keys: Vec<(Key, String)> = self
            .listeners
            .lock()
            .iter()
            .map(|(k, l)| (k.clone(), l.md5.clone()))
            .collect();
        if keys.is_empty() {
            return;
        }
        match self.listen_request(&keys).await {
            Ok(changed) => {
                for k in changed {
                    self.refresh(&k).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "redo of config listeners failed"),
        }
    }
}

impl ConfigClient {
    pub(crate) fn new(st: Arc<ConfigState>) -> Self {
        Self { st }
    }

    /// A config's content (`None` if it does not exist). When no server
    /// answers, the last content seen (disk cache) is returned.
    pub async fn get(&self, data_id: &str, group: &str) -> Result<Option<String>, ClientError> {
        let key = (group.to_string(), data_id.to_string());
        match self.st.fetch(&key).await {
            Ok(c) => {
                let content = c.map(|(c, _)| c);
                self.st
                    .cache
                    .save_config(group, data_id, content.as_deref());
                Ok(content)
            }
            Err(e) if e.is_retryable() => self.st.cache.load_config(group, data_id).ok_or(e),
            Err(e) => Err(e),
        }
    }

    /// Publishes content (`config_type`: `text`, `yaml`, `properties`, ...).
    pub async fn publish(
        &self,
        data_id: &str,
        group: &str,
        content: &str,
        config_type: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut body = self.st.base(&(group.to_string(), data_id.to_string()));
        body["content"] = json!(content);
        body["additionMap"] = json!({"type": config_type.unwrap_or("text")});
        self.st
            .rpc
            .call("ConfigPublishRequest", &body)
            .await
            .map(|_| ())
    }

    /// Removes a config.
    pub async fn remove(&self, data_id: &str, group: &str) -> Result<(), ClientError> {
        let body = self.st.base(&(group.to_string(), data_id.to_string()));
        self.st
            .rpc
            .call("ConfigRemoveRequest", &body)
            .await
            .map(|_| ())
    }

    /// A stream of the config's content: the current one, then every change
    /// (`content: None` when removed). Listening survives reconnects.
    pub async fn listen(
        &self,
        data_id: &str,
        group: &str,
    ) -> Result<impl Stream<Item = ConfigChange> + use<>, ClientError> {
        let key = (group.to_string(), data_id.to_string());
        let existing = self.st.listeners.lock().get(&key).map(|l| l.tx.subscribe());
        let rx = match existing {
            Some(rx) => rx,
            None => {
                let initial = match self.get(data_id, group).await {
                    Ok(c) => Some(ConfigChange {
                        data_id: data_id.to_string(),
                        group: group.to_string(),
                        content: c,
                    }),
                    Err(_) => None,
                };
                let md5 = initial
                    .as_ref()
                    .and_then(|c| c.content.as_deref())
                    .map(md5_hex)
                    .unwrap_or_default();
                let (tx, rx) = watch::channel(initial);
                self.st.listeners.lock().insert(
                    key.clone(),
                    Listener {
                        md5: md5.clone(),
                        tx,
                    },
                );
                match self.st.listen_request(&[(key.clone(), md5)]).await {
                    Ok(changed) => {
                        for k in changed {
                            self.st.refresh(&k).await;
                        }
                    }
                    Err(e) if e.is_retryable() => {}
                    Err(e) => return Err(e),
                }
                rx
            }
        };
        Ok(futures::StreamExt::filter_map(
            WatchStream::new(rx),
            |v| async move { v },
        ))
    }
}

/// Lower-case hex MD5 of UTF-8 content, as Nacos computes it.
fn md5_hex(content: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(content.as_bytes()))
}
