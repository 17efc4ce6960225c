//! UDP pushes to HTTP subscribers: Nacos 1.x clients and the Node SDK list
//! a service with `udpPort` (and `clientIP`) and then wait for a datagram
//! `{"type":"dom","data":"<the view>","lastRefTime":N}` whenever the
//! service changes, answering `{"type":"push-ack","lastRefTime":N}`. They
//! only poll every `cacheMillis` otherwise.
//!
//! Owns: the UDP socket, the UDP subscribers (service, address, cluster
//! filter), pending acknowledgements and resends. Must not touch: service
//! state (views come from `ops::naming::cached_view`).
//!
//! A push goes to the TCP peer's IP of the list request (not the `clientIP`
//! parameter, unless `naming.udp_push_trust_client_ip`), so no request can
//! aim this server's datagrams at a third party. A subscriber is forgotten
//! when it has not listed the service for `naming.udp_client_ttl_ms`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use nocas_core::names::{ClusterName, ConfigKey, ServiceKey};

use crate::app::{AppRef, now_ms};
use crate::ops::naming::{ViewName, cached_view};
use crate::push::Subscriber;

/// Largest datagram sent; a bigger view is left to the client's polling.
const MAX_DATAGRAM: usize = 65_000;

#[derive(Debug, Clone)]
struct Target {
    clusters: String,
    healthy_only: bool,
    listed: Instant,
}

struct Pending {
    to: SocketAddr,
    packet: Arc<Vec<u8>>,
    sent: Instant,
    attempts: u32,
}

/// The hub's view of all UDP subscribers: one subscriber id for every
/// service with UDP targets; changes go to the push task.
struct Changes {
    id: u64,
    tx: mpsc::UnboundedSender<ServiceKey>,
}

impl Subscriber for Changes {
    fn id(&self) -> u64 {
        self.id
    }

    fn config_changed(&self, _key: &ConfigKey) {}

    fn service_changed(&self, key: &ServiceKey) {
        let _ = self.tx.send(key.clone());
    }
}

/// UDP subscribers and their pushes.
pub struct UdpPush {
    socket: Arc<UdpSocket>,
    targets: DashMap<ServiceKey, HashMap<SocketAddr, Target>>,
    pending: DashMap<u64, Pending>,
    changes: Arc<Changes>,
    rx: parking_lot::Mutex<Option<mpsc::UnboundedReceiver<ServiceKey>>>,
    next_ref: AtomicU64,
    /// Pushes sent (resends not counted).
    pub sent: AtomicU64,
    /// Acknowledged pushes.
    pub acked: AtomicU64,
    /// Pushes never acknowledged.
    pub failed: AtomicU64,
}

impl UdpPush {
    /// Binds the UDP socket on `ip` (any free port); `hub_id` is this
    /// pusher's subscriber id in the hub.
    pub async fn bind(ip: std::net::IpAddr, hub_id: u64) -> std::io::Result<Arc<Self>> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Arc::new(Self {
            socket: Arc::new(socket),
            targets: DashMap::new(),
            pending: DashMap::new(),
            changes: Arc::new(Changes { id: hub_id, tx }),
            rx: parking_lot::Mutex::new(Some(rx)),
            next_ref: AtomicU64::new(u64::try_from(now_ms()).unwrap_or(0) * 1_000_000),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }))
    }

    /// The socket's address (pushes come from it; acks go to it).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// A client at `to` listed `key` (with that cluster filter): it gets a
    /// push whenever the service changes, until it stops listing.
    pub fn listed(
        &self,
        app: &AppRef,
        key: &ServiceKey,
        clusters: &str,
        healthy_only: bool,
        to: SocketAddr,
    ) {
        let target = Target {
            clusters: clusters.to_string(),
            healthy_only,
            listed: Instant::now(),
        };
        let first = {
            let mut t = self.targets.entry(key.clone()).or_default();
            let first = t.is_empty();
            t.insert(to, target);
            first
        };
        if first {
            app.hub.subscribe_service(key, self.changes.clone());
        }
    }

    /// The addresses subscribed to a service over UDP.
    pub fn subscribers(&self, key: &ServiceKey) -> Vec<SocketAddr> {
        self.targets
            .get(key)
            .map(|t| t.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Number of UDP subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.targets.iter().map(|e| e.value().len()).sum()
    }

    fn packet(&self, view: &str) -> Option<(u64, Arc<Vec<u8>>)> {
        let id = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({"type": "dom", "data": view, "lastRefTime": id});
        let bytes = serde_json::to_vec(&body).ok()?;
        (bytes.len() <= MAX_DATAGRAM).then(|| (id, Arc::new(bytes)))
    }

    async fn push_service(&self, app: &AppRef, key: &ServiceKey) {
        let targets: Vec<(SocketAddr, Target)> = match self.targets.get(key) {
            Some(t) => t.iter().map(|(a, t)| (*a, t.clone())).collect(),
            None => return,
        };
        for (to, t) in targets {
            let clusters = ClusterName::parse_list(Some(&t.clusters)).unwrap_or_default();
            let Ok(view) = cached_view(
                app,
                key,
                &t.clusters,
                &clusters,
                t.healthy_only,
                ViewName::Grouped,
            ) else {
                continue;
            };
            let Some((id, packet)) = self.packet(view.get()) else {
                tracing::debug!(service = %key.grouped_name(), "view too big for a UDP push");
                continue;
            };
            self.sent.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = self.socket.send_to(&packet, to).await {
                tracing::debug!(%to, error = %e, "UDP push not sent");
            }
            self.pending.insert(
                id,
                Pending {
                    to,
                    packet,
                    sent: Instant::now(),
                    attempts: 0,
                },
            );
        }
    }

    fn on_ack(&self, datagram: &[u8]) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(datagram) else {
            return;
        };
        if v["type"] == "push-ack"
            && let Some(id) = v["lastRefTime"].as_u64()
            && self.pending.remove(&id).is_some()
        {
            self.acked.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Resends unacknowledged pushes, gives up on those out of resends,
    /// forgets subscribers that stopped listing.
    async fn tidy(&self, app: &AppRef) {
        let s = &app.settings.naming;
        let timeout = Duration::from_millis(s.udp_ack_timeout_ms);
        let due: Vec<u64> = self
            .pending
            .iter()
            .filter(|p| p.sent.elapsed() >= timeout)
            .map(|p| *p.key())
            .collect();
        for id in due {
            let resend = match self.pending.get_mut(&id) {
                Some(mut p) if p.attempts < s.udp_max_retries => {
                    p.attempts += 1;
                    p.sent = Instant::now();
                    Some((p.to, p.packet.clone()))
                }
                _ => None,
            };
            match resend {
                Some((to, packet)) => {
                    let _ = self.socket.send_to(&packet, to).await;
                }
                None => {
                    if self.pending.remove(&id).is_some() {
                        self.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        let ttl = Duration::from_millis(s.udp_client_ttl_ms);
        let mut emptied = Vec::new();
        for mut e in self.targets.iter_mut() {
            e.value_mut().retain(|_, t| t.listed.elapsed() < ttl);
            if e.value().is_empty() {
                emptied.push(e.key().clone());
            }
        }
        for key in emptied {
            if self.targets.remove_if(&key, |_, t| t.is_empty()).is_some() {
                app.hub.unsubscribe_service(&key, self.changes.id);
            }
        }
    }
}

/// Runs the pushes, acknowledgements and resends until `stop` changes.
pub async fn run(app: AppRef, udp: Arc<UdpPush>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(mut rx) = udp.rx.lock().take() else {
        return;
    };
    let acks = {
        let udp = udp.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                match udp.socket.recv_from(&mut buf).await {
                    Ok((n, _from)) => udp.on_ack(buf.get(..n).unwrap_or_default()),
                    Err(e) => {
                        tracing::debug!(error = %e, "UDP receive failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
    };
    let mut tick = tokio::time::interval(Duration::from_millis(
        (app.settings.naming.udp_ack_timeout_ms / 4).clamp(10, 1_000),
    ));
    loop {
        tokio::select! {
            key = rx.recv() => match key {
                Some(key) => udp.push_service(&app, &key).await,
                None => break,
            },
            _ = tick.tick() => udp.tidy(&app).await,
            _ = stop.changed() => break,
        }
    }
    acks.abort();
}
