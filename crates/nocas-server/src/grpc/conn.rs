//! Client connections: one per HTTP/2 transport, as in Nacos.
//!
//! A [`Connection`] is created when the TCP connection is accepted (its id
//! is what `ServerCheckRequest` returns), becomes registered when the client
//! sends `ConnectionSetupRequest` on the bi-stream, and is closed when the
//! bi-stream ends, the transport closes, the client overflows its push queue
//! or fails a detection probe. Closing removes every ephemeral instance the
//! connection registered and every subscription and listener it held.
//!
//! A connection is also a hub [`Subscriber`]: changes of what it subscribed
//! to or listens to mark it dirty, and its push task (in [`super::push`])
//! sends the current view.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, mpsc, oneshot};
use tonic::Status;
use tonic::transport::server::{Connected, TcpConnectInfo};

use nocas_core::names::{ConfigKey, ServiceKey};
use nocas_core::naming::soft::Owner;
use nocas_proto::grpc::{Payload, ResponseBase};

use crate::app::now_ms;
use crate::push::{Hub, Subscriber};

/// Outbound half of a bi-stream.
pub type Outbound = mpsc::Sender<Result<Payload, Status>>;

/// What the client said in `ConnectionSetupRequest`.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Client version string.
    pub version: String,
    /// Namespace it declared.
    pub tenant: String,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// Whether it sent an ability table (2.3+ negotiation).
    pub negotiates: bool,
}

/// Pending pushes in order, with when each was marked, and the set of them.
type DirtyQueue = (VecDeque<(Dirty, Instant)>, HashSet<Dirty>);

/// Something a connection must be told about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dirty {
    /// A subscribed service changed.
    Service(ServiceKey),
    /// A listened config changed.
    Config(ConfigKey),
    /// A config a fuzzy-watch pattern matches may have come or gone.
    FuzzyConfig(ConfigKey),
    /// A service a fuzzy-watch pattern matches may have come or gone.
    FuzzyService(ServiceKey),
}

/// What a fuzzy watch is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FuzzyKind {
    /// Configs.
    Config,
    /// Services.
    Naming,
}

/// One fuzzy-watch pattern of a connection and the keys it was told of.
#[derive(Debug, Clone)]
pub struct FuzzyWatch {
    /// The parsed pattern.
    pub pattern: nocas_core::fuzzy::FuzzyPattern,
    /// Keys the client knows match (group or service key strings).
    pub matched: HashSet<String>,
}

/// One client connection.
pub struct Connection {
    /// Nacos-style id: `<millis>_<ip>_<port>`.
    pub id: Arc<str>,
    /// Id in the hub.
    pub hub_id: u64,
    /// Peer address of the transport.
    pub peer: SocketAddr,
    /// When the transport was accepted.
    pub created_ms: i64,
    info: Mutex<ClientInfo>,
    registered: AtomicBool,
    registered_notify: Notify,
    closed: AtomicBool,
    last_active_ms: AtomicI64,
    outbound: Mutex<Option<Outbound>>,
    kill: Mutex<Option<oneshot::Sender<Status>>>,
    /// Pending pushes, with when each was first marked, and the set of them.
    dirty: Mutex<DirtyQueue>,
    /// Wakes the push task.
    pub wake: Notify,
    /// Per-key push sequence, so a stale retry never overtakes a newer push.
    pub push_seq: Mutex<HashMap<Dirty, u64>>,
    subscriptions: Mutex<HashMap<ServiceKey, String>>,
    /// When each recent subscription was answered (see [`Self::push_hold`]).
    subscribed_at: Mutex<HashMap<ServiceKey, std::time::Instant>>,
    /// Listened configs: the tenant as the client spells it, and the MD5
    /// it last reported.
    listens: Mutex<HashMap<ConfigKey, (String, String)>>,
    acks: Mutex<HashMap<String, oneshot::Sender<ResponseBase>>>,
    next_request: AtomicU64,
    /// A detection probe is in flight.
    pub probing: AtomicBool,
    /// Fuzzy-watch patterns, by kind and pattern as the client spelled it.
    pub fuzzy: Mutex<HashMap<(FuzzyKind, String), FuzzyWatch>>,
    /// Who the last token this connection presented named (auth on).
    subject: Mutex<Option<crate::auth::token::Subject>>,
}

impl Connection {
    fn new(peer: SocketAddr, hub_id: u64) -> Self {
        let now = now_ms();
        Self {
            id: Arc::from(format!("{now}_{}_{}", peer.ip(), peer.port())),
            hub_id,
            peer,
            created_ms: now,
            info: Mutex::default(),
            registered: AtomicBool::new(false),
            registered_notify: Notify::new(),
            closed: AtomicBool::new(false),
            last_active_ms: AtomicI64::new(now),
            outbound: Mutex::new(None),
            kill: Mutex::new(None),
            dirty: Mutex::default(),
            wake: Notify::new(),
            push_seq: Mutex::default(),
            subscriptions: Mutex::default(),
            subscribed_at: Mutex::default(),
            listens: Mutex::default(),
            acks: Mutex::default(),
            next_request: AtomicU64::new(1),
            probing: AtomicBool::new(false),
            fuzzy: Mutex::default(),
            subject: Mutex::default(),
        }
    }

    /// The owner of the ephemeral instances it registers.
    pub fn owner(&self) -> Owner {
        Owner::Connection(self.id.clone())
    }

    /// Client IP (of the transport).
    pub fn client_ip(&self) -> String {
        self.peer.ip().to_string()
    }

    /// What the client said at setup.
    pub fn info(&self) -> ClientInfo {
        self.info.lock().clone()
    }

    /// Records the setup and attaches the bi-stream's outbound half and the
    /// switch that ends it with an error status.
    pub fn register(&self, info: ClientInfo, outbound: Outbound, kill: oneshot::Sender<Status>) {
        *self.info.lock() = info;
        *self.outbound.lock() = Some(outbound);
        *self.kill.lock() = Some(kill);
        self.registered.store(true, Ordering::SeqCst);
        self.registered_notify.notify_waiters();
        self.touch();
    }

    /// Whether setup happened (and the connection is not closed).
    pub fn is_registered(&self) -> bool {
        self.registered.load(Ordering::SeqCst) && !self.is_closed()
    }

    /// Waits up to `grace` for the setup.
    pub async fn wait_registered(&self, grace: std::time::Duration) -> bool {
        let notified = self.registered_notify.notified();
        if self.is_registered() {
            return true;
        }
        let _ = tokio::time::timeout(grace, notified).await;
        self.is_registered()
    }

    /// Whether the connection was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Records activity.
    pub fn touch(&self) {
        self.last_active_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Last activity (ms).
    pub fn last_active_ms(&self) -> i64 {
        self.last_active_ms.load(Ordering::Relaxed)
    }

    /// A fresh push request id.
    pub fn next_request_id(&self) -> String {
        self.next_request
            .fetch_add(1, Ordering::Relaxed)
            .to_string()
    }

    /// Sends a payload on the bi-stream. `false` if the stream is gone or
    /// its queue is full (the caller then closes the connection).
    pub fn send(&self, payload: Payload) -> Result<(), SendError> {
        let guard = self.outbound.lock();
        let Some(tx) = guard.as_ref() else {
            return Err(SendError::Closed);
        };
        tx.try_send(Ok(payload)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Expects an answer to push `request_id`.
    pub fn expect_ack(&self, request_id: &str) -> oneshot::Receiver<ResponseBase> {
        let (tx, rx) = oneshot::channel();
        self.acks.lock().insert(request_id.to_string(), tx);
        rx
    }

    /// Forgets an expected answer.
    pub fn forget_ack(&self, request_id: &str) {
        self.acks.lock().remove(request_id);
    }

    /// Delivers an answer the client sent on the stream.
    pub fn ack(&self, resp: ResponseBase) {
        let Some(id) = resp.request_id.clone() else {
            return;
        };
        if let Some(tx) = self.acks.lock().remove(&id) {
            let _ = tx.send(resp);
        }
    }

    /// Marks something to push, coalescing with a pending push of the same
    /// key, and wakes the push task.
    pub fn mark(&self, d: Dirty) {
        {
            let mut q = self.dirty.lock();
            if q.1.insert(d.clone()) {
                q.0.push_back((d, Instant::now()));
            }
        }
        self.wake.notify_one();
    }

    /// Takes the next thing to push, with when it was marked.
    pub fn next_dirty(&self) -> Option<(Dirty, Instant)> {
        let mut q = self.dirty.lock();
        let (d, at) = q.0.pop_front()?;
        q.1.remove(&d);
        Some((d, at))
    }

    /// Pending pushes: (service pushes, config notices).
    pub fn dirty_counts(&self) -> (usize, usize) {
        let q = self.dirty.lock();
        let services =
            q.0.iter()
                .filter(|(d, _)| matches!(d, Dirty::Service(_)))
                .count();
        (services, q.0.len() - services)
    }

    /// Pending pushes.
    pub fn dirty_len(&self) -> usize {
        self.dirty.lock().0.len()
    }

    /// Remembers who the connection's latest accepted token named.
    pub fn set_subject(&self, subject: crate::auth::token::Subject) {
        let mut s = self.subject.lock();
        if s.as_ref() != Some(&subject) {
            *s = Some(subject);
        }
    }

    /// Who the connection's latest accepted token named.
    pub fn subject(&self) -> Option<crate::auth::token::Subject> {
        self.subject.lock().clone()
    }

    /// Records a service subscription (with its cluster filter).
    pub fn add_subscription(&self, key: &ServiceKey, clusters: &str) {
        self.subscriptions
            .lock()
            .insert(key.clone(), clusters.to_string());
        self.subscribed_at
            .lock()
            .insert(key.clone(), std::time::Instant::now());
    }

    /// How long a push of `key` must still wait so that it reaches the
    /// client well after the answer to its subscription (`None`: no need).
    /// SDKs handle that answer and pushes on different threads, and the
    /// Java client keeps whichever it handles last: a push handled before
    /// the (older) answer would leave it with the older view.
    pub fn push_hold(
        &self,
        key: &ServiceKey,
        hold: std::time::Duration,
    ) -> Option<std::time::Duration> {
        let mut at = self.subscribed_at.lock();
        let since = at.get(key)?.elapsed();
        if since >= hold {
            at.remove(key);
            return None;
        }
        Some(hold - since)
    }

    /// Drops a service subscription.
    pub fn remove_subscription(&self, key: &ServiceKey) -> bool {
        self.subscriptions.lock().remove(key).is_some()
    }

    /// The cluster filter of a subscription, if subscribed.
    pub fn subscription(&self, key: &ServiceKey) -> Option<String> {
        self.subscriptions.lock().get(key).cloned()
    }

    /// Services subscribed.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.lock().len()
    }

    /// Records a config listener (with the tenant as the client spells it
    /// and the MD5 it holds).
    pub fn add_listen(&self, key: &ConfigKey, tenant: &str, md5: &str) {
        self.listens
            .lock()
            .insert(key.clone(), (tenant.to_string(), md5.to_string()));
    }

    /// Drops a config listener.
    pub fn remove_listen(&self, key: &ConfigKey) -> bool {
        self.listens.lock().remove(key).is_some()
    }

    /// The tenant a listened config was registered with.
    pub fn listen_tenant(&self, key: &ConfigKey) -> Option<String> {
        self.listens.lock().get(key).map(|(t, _)| t.clone())
    }

    /// Listened configs and the MD5 the client last reported for each.
    pub fn listen_md5s(&self) -> Vec<(ConfigKey, String)> {
        let mut v: Vec<_> = self
            .listens
            .lock()
            .iter()
            .map(|(k, (_, md5))| (k.clone(), md5.clone()))
            .collect();
        v.sort();
        v
    }

    /// Subscribed services and their cluster filters.
    pub fn subscriptions(&self) -> Vec<(ServiceKey, String)> {
        let mut v: Vec<_> = self
            .subscriptions
            .lock()
            .iter()
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect();
        v.sort();
        v
    }

    /// Listened configs and the tenant as sent.
    pub fn listens(&self) -> Vec<(ConfigKey, String)> {
        let mut v: Vec<_> = self
            .listens
            .lock()
            .iter()
            .map(|(k, (t, _))| (k.clone(), t.clone()))
            .collect();
        v.sort();
        v
    }

    /// Configs listened to.
    pub fn listen_count(&self) -> usize {
        self.listens.lock().len()
    }
}

/// Why a payload could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The outbound queue is full: the client does not keep up.
    Full,
    /// The stream is gone.
    Closed,
}

impl Subscriber for Connection {
    fn id(&self) -> u64 {
        self.hub_id
    }

    fn config_changed(&self, key: &ConfigKey) {
        self.mark(Dirty::Config(key.clone()));
    }

    fn service_changed(&self, key: &ServiceKey) {
        self.mark(Dirty::Service(key.clone()));
    }

    fn fuzzy_config_changed(&self, key: &ConfigKey) {
        let hit = self
            .fuzzy
            .lock()
            .iter()
            .any(|((k, _), w)| *k == FuzzyKind::Config && w.pattern.matches_config(key));
        if hit {
            self.mark(Dirty::FuzzyConfig(key.clone()));
        }
    }

    fn fuzzy_service_changed(&self, key: &ServiceKey) {
        let hit = self
            .fuzzy
            .lock()
            .iter()
            .any(|((k, _), w)| *k == FuzzyKind::Naming && w.pattern.matches_service(key));
        if hit {
            self.mark(Dirty::FuzzyService(key.clone()));
        }
    }
}

/// Every connection of this node, by transport and by id.
#[derive(Default)]
pub struct Connections {
    by_peer: DashMap<SocketAddr, Arc<Connection>>,
    by_id: DashMap<Arc<str>, Arc<Connection>>,
    /// Open transports per client IP.
    per_ip: DashMap<std::net::IpAddr, usize>,
}

impl Connections {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates the connection of a newly accepted transport.
    pub fn accept(&self, peer: SocketAddr, hub: &Hub) -> Arc<Connection> {
        let conn = Arc::new(Connection::new(peer, hub.next_id()));
        self.by_peer.insert(peer, conn.clone());
        self.by_id.insert(conn.id.clone(), conn.clone());
        conn
    }

    /// Counts a new transport from `ip`; `false` (and nothing counted) when
    /// that IP has `max` open already.
    pub fn admit(&self, ip: std::net::IpAddr, max: usize) -> bool {
        let mut n = self.per_ip.entry(ip).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    /// A transport from `ip` closed.
    pub fn release(&self, ip: std::net::IpAddr) {
        if let Some(mut n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
        }
        self.per_ip.remove_if(&ip, |_, n| *n == 0);
    }

    /// The connection of a transport.
    pub fn by_peer(&self, peer: &SocketAddr) -> Option<Arc<Connection>> {
        self.by_peer.get(peer).map(|c| c.clone())
    }

    /// A connection by id.
    pub fn by_id(&self, id: &str) -> Option<Arc<Connection>> {
        self.by_id.get(id).map(|c| c.clone())
    }

    /// Registered connections.
    pub fn registered(&self) -> Vec<Arc<Connection>> {
        self.by_id
            .iter()
            .filter(|c| c.is_registered())
            .map(|c| c.clone())
            .collect()
    }

    /// Number of registered connections.
    pub fn count(&self) -> usize {
        self.by_id.iter().filter(|c| c.is_registered()).count()
    }

    /// Forgets a connection and ends its stream with an error status, so the
    /// client reconnects (its resources are released by the caller).
    /// Returns whether it was still known.
    pub fn remove(&self, conn: &Connection, reason: &str) -> bool {
        if conn.closed.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.by_peer.remove_if(&conn.peer, |_, c| c.id == conn.id);
        self.by_id.remove(&conn.id);
        conn.outbound.lock().take();
        if let Some(kill) = conn.kill.lock().take() {
            let _ = kill.send(Status::unavailable(format!(
                "connection closed by server: {reason}"
            )));
        }
        conn.acks.lock().clear();
        conn.registered_notify.notify_waiters();
        conn.wake.notify_one();
        true
    }

    /// The keys a closed connection held, to unregister from the hub.
    pub fn held_keys(conn: &Connection) -> (Vec<ServiceKey>, Vec<ConfigKey>) {
        let subs = conn.subscriptions.lock().drain().map(|(k, _)| k).collect();
        let listens = conn.listens.lock().drain().map(|(k, _)| k).collect();
        (subs, listens)
    }
}

/// A TCP stream that reports its closing, so the connection bound to the
/// transport is closed with it.
pub struct TrackedStream {
    inner: crate::tls::Io,
    info: TcpConnectInfo,
    /// The connection made for this transport at accept.
    conn: Arc<Connection>,
    on_close: Option<mpsc::UnboundedSender<Arc<Connection>>>,
}

impl TrackedStream {
    /// Wraps an accepted stream and the connection made for it; `on_close`
    /// gets that connection when the transport goes (never another one
    /// that reused its peer address meanwhile).
    pub fn new(
        inner: crate::tls::Io,
        conn: Arc<Connection>,
        on_close: mpsc::UnboundedSender<Arc<Connection>>,
    ) -> Self {
        let info = TcpConnectInfo {
            local_addr: inner.tcp().local_addr().ok(),
            remote_addr: inner.tcp().peer_addr().ok(),
        };
        Self {
            inner,
            info,
            conn,
            on_close: Some(on_close),
        }
    }
}

impl Drop for TrackedStream {
    fn drop(&mut self) {
        if let Some(tx) = self.on_close.take() {
            let _ = tx.send(self.conn.clone());
        }
    }
}

impl Connected for TrackedStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
