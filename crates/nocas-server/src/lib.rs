//! The Nocas server process.
//!
//! [`start`] opens the store, starts the Raft node (a one-member cluster when
//! standalone), binds the HTTP front end and the background health tasks,
//! and returns a [`Running`] handle; [`Running::shutdown`] stops them in
//! order. The modules: [`settings`], [`app`] (shared state), [`http`]
//! (front end), [`ops`] (operations shared by front ends), [`push`]
//! (listeners and subscribers), [`health`] (beat timeline, probes),
//! [`metrics`], [`error`] (the one mapping to Nacos error shapes).
//!
//! Architecture invariant: durable state changes only through
//! `nocas_cluster::Node::write`; nothing here writes the store directly.

pub mod app;
pub mod auth;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod health;
pub mod http;
pub mod metrics;
pub mod observe;
pub mod ops;
pub mod push;
pub mod settings;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use nocas_cluster::{ClusterError, Node, NodeConfig};
use nocas_core::naming::soft::SoftRegistry;
use nocas_store::{Store, StoreError};

use crate::app::{App, AppRef};
use crate::metrics::Metrics;
use crate::push::Hub;
pub use crate::settings::Settings;
pub use nocas_cluster::MemberAddr;

/// Why the server could not start or stop cleanly.
#[derive(Debug, Error)]
pub enum ServerError {
    /// Settings are invalid.
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// Directory.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    /// A backup could not be restored.
    #[error("{0}")]
    Restore(String),
    /// The Raft node failed.
    #[error("consensus: {0}")]
    Cluster(#[from] ClusterError),
    /// Auth could not be set up.
    #[error(transparent)]
    Auth(#[from] auth::AuthSetupError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A task failed.
    #[error("internal: {0}")]
    Internal(String),
}

/// A listening socket, plain or TLS.
enum Bound {
    Plain(TcpListener),
    Tls(tls::TlsListener),
}

/// `listener` as is, or with TLS when `config` is set.
fn secure(
    tls: &tls::Tls,
    listener: TcpListener,
    config: Option<Arc<rustls::ServerConfig>>,
) -> Bound {
    match config {
        None => Bound::Plain(listener),
        Some(cfg) => Bound::Tls(tls.listen(listener, cfg, |_| true, |_| {})),
    }
}

/// Serves `svc` on a [`Bound`] until `stop` changes.
macro_rules! serve_on {
    ($bound:expr, $svc:expr, $stop:expr) => {{
        let mut stop = $stop;
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        match $bound {
            Bound::Plain(l) => axum::serve(l, $svc).with_graceful_shutdown(shutdown).await,
            Bound::Tls(l) => {
                use axum::serve::ListenerExt as _;
                axum::serve(l.tap_io(|_| {}), $svc)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        }
    }};
}

/// A running server.
pub struct Running {
    app: AppRef,
    stop: watch::Sender<bool>,
    grpc_stop: watch::Sender<bool>,
    /// Stops the Raft port, last (see [`Running::shutdown`]).
    peer_stop: watch::Sender<bool>,
    peer: Option<JoinHandle<()>>,
    http: JoinHandle<std::io::Result<()>>,
    grpc: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    console_addr: Option<SocketAddr>,
}

/// The file a data directory's applied state lives in (the Raft log is
/// directory `nocas-log` beside it: [`Store::log_dir`]).
pub fn store_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("nocas.redb")
}

/// Builds a data directory from a backup file (`nocas restore`): reads
/// and checks its header, then streams its state into a new store in
/// `data_dir`, which must not hold one yet, checking the length and the
/// content digest (a refused file leaves no store behind). A server started
/// on it forms a new cluster holding exactly that state (restore the same
/// file into every member's directory for a cluster).
pub fn restore_backup(
    file: &std::path::Path,
    data_dir: &std::path::Path,
) -> Result<nocas_store::backup::BackupHeader, ServerError> {
    let f = std::fs::File::open(file).map_err(|source| ServerError::DataDir {
        path: file.to_path_buf(),
        source,
    })?;
    let restore_err = |e: StoreError| ServerError::Restore(e.to_string());
    let mut r = std::io::BufReader::with_capacity(256 * 1024, f);
    let header = nocas_store::backup::read_header(&mut r).map_err(restore_err)?;
    std::fs::create_dir_all(data_dir).map_err(|source| ServerError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let path = store_path(data_dir);
    let log = Store::log_dir(&path);
    for p in [&path, &log] {
        if p.exists() {
            return Err(ServerError::Restore(format!(
                "{} exists already; restore into an empty data directory",
                p.display()
            )));
        }
    }
    let store = Store::open(&path)?;
    let restored = store.restore_from(&header, r, RESTORE_BATCH_BYTES);
    let snapshots = store.snapshot_dir().to_path_buf();
    store.close()?;
    if let Err(e) = restored {
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir_all(&log);
        let _ = std::fs::remove_dir(&snapshots);
        return Err(restore_err(e));
    }
    Ok(header)
}

/// About how many bytes of records one transaction of a restore writes.
const RESTORE_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// Starts a server with `settings`.
pub async fn start(mut settings: Settings) -> Result<Running, ServerError> {
    settings.validate()?;
    let started = Instant::now();
    let members = MemberAddr::parse_list(&settings.cluster.members.join(","))?;
    // One member is a cluster of one: on that member's ports, with its
    // Raft port open, so `nocas cluster add` can grow it.
    let clustered = !members.is_empty();
    let node_id = if clustered {
        settings.cluster.node_id
    } else {
        1
    };
    let member = if clustered {
        let me = usize::try_from(node_id)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| members.get(i))
            .cloned()
            .ok_or_else(|| {
                ClusterError::Config(format!(
                    "node id {node_id} is not a position in the {} members",
                    members.len()
                ))
            })?;
        // The member list says where this node's HTTP port is.
        settings.http_port = me.http;
        Some(me)
    } else {
        None
    };
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| ServerError::DataDir {
        path: settings.data_dir.clone(),
        source,
    })?;
    let auth = auth::Auth::new(&settings.auth, &settings.data_dir)?;
    let tls = Arc::new(tls::Tls::new(&settings.tls)?);
    if !settings.auth.enabled && !settings.bind.is_loopback() {
        tracing::warn!(bind = %settings.bind, "auth is OFF on a non-loopback address (--insecure-no-auth): anyone who can reach this port can read and change everything");
    }
    let wanted = settings.http_addr();
    let listener = TcpListener::bind(wanted)
        .await
        .map_err(|source| ServerError::Bind {
            addr: wanted,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: wanted,
        source,
    })?;
    let grpc_wanted = SocketAddr::new(
        settings.bind,
        settings.effective_grpc_port(http_addr.port())?,
    );
    let grpc_listener = grpc::bind(grpc_wanted)
        .await
        .map_err(|source| ServerError::Bind {
            addr: grpc_wanted,
            source,
        })?;
    let grpc_addr = grpc_listener
        .local_addr()
        .map_err(|source| ServerError::Bind {
            addr: grpc_wanted,
            source,
        })?;

    let console_listener = match (settings.console.enabled, settings.console.port) {
        (true, Some(port)) => {
            let want = SocketAddr::new(settings.bind, port);
            Some(
                TcpListener::bind(want)
                    .await
                    .map_err(|source| ServerError::Bind { addr: want, source })?,
            )
        }
        _ => None,
    };
    let db_path = store_path(&settings.data_dir);
    let cache = settings.storage.cache_bytes;
    let verify = settings.storage.verify_on_start;
    let store = tokio::task::spawn_blocking(move || Store::open_verified(&db_path, cache, verify))
        .await
        .map_err(|e| ServerError::Internal(e.to_string()))??;
    let me = MemberAddr {
        host: member
            .as_ref()
            .map_or_else(|| settings.bind.to_string(), |m| m.host.clone()),
        http: http_addr.port(),
        raft: settings.cluster.raft_port.unwrap_or_else(|| {
            member
                .as_ref()
                .map_or(http_addr.port().saturating_sub(1000), |m| m.raft)
        }),
    };
    let raft_listener = if clustered {
        let raft_addr = SocketAddr::new(settings.bind, me.raft);
        Some(
            TcpListener::bind(raft_addr)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: raft_addr,
                    source,
                })?,
        )
    } else {
        None
    };
    let hub = Arc::new(Hub::new());
    let soft = Arc::new(SoftRegistry::with_node(
        node_id,
        settings.cluster.soft.tombstone_ms as i64,
    ));
    let cfg = NodeConfig {
        id: node_id,
        me: me.clone(),
        members: if clustered { members } else { vec![me] },
        secret: settings.cluster.secret.clone(),
        join: settings.cluster.join,
        raft: settings.raft.clone(),
        soft: settings.cluster.soft.clone(),
        peer_tls: tls.peer_client.clone(),
        space: Some(nocas_store::space::SpaceGuard {
            dir: settings.data_dir.clone(),
            min_free_bytes: settings.storage.min_free_bytes,
        }),
    };
    let metrics = Arc::new(Metrics::new());
    store.set_observer(metrics.clone());
    let node =
        Node::start_observed(cfg, store, hub.clone(), soft.clone(), Some(metrics.clone())).await?;

    let udp = if settings.naming.udp_push_enabled {
        let ip = settings.bind;
        Some(
            push::udp::UdpPush::bind(ip, hub.next_id())
                .await
                .map_err(|source| ServerError::Bind {
                    addr: SocketAddr::new(ip, 0),
                    source,
                })?,
        )
    } else {
        None
    };
    let app: AppRef = Arc::new(App {
        settings,
        node,
        soft,
        hub,
        udp: udp.clone(),
        conns: grpc::conn::Connections::new(),
        views: Default::default(),
        metrics,
        auth,
        security: Default::default(),
        started,
        http_addr,
        grpc_addr,
        stopping: Default::default(),
    });
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = vec![
        tokio::spawn(health::sweeper::run(app.clone(), stop_rx.clone())),
        tokio::spawn(health::probe::run(app.clone(), stop_rx.clone())),
        tokio::spawn(health::purge_history(app.clone(), stop_rx.clone())),
        tokio::spawn(health::purge_audit(app.clone(), stop_rx.clone())),
        tokio::spawn(health::expire_overrides(app.clone(), stop_rx.clone())),
        tokio::spawn(grpc::push::detect(app.clone(), stop_rx.clone())),
        tokio::spawn(grpc::revoke::run(app.clone(), stop_rx.clone())),
        tokio::spawn(auth::events::run(app.clone(), stop_rx.clone())),
        tokio::spawn(watch_leader(app.clone(), stop_rx.clone())),
    ];
    if let Some(udp) = udp {
        tasks.push(tokio::spawn(push::udp::run(
            app.clone(),
            udp,
            stop_rx.clone(),
        )));
    }
    let (peer_stop, peer_stop_rx) = watch::channel(false);
    let mut peer_task = None;
    if let Some(listener) = raft_listener {
        let peer = nocas_cluster::peer_server::router(
            app.node.clone(),
            app.settings.cluster.secret.clone(),
            app.settings.cluster.max_message_bytes,
        );
        let bound = secure(&tls, listener, tls.peer_server.clone());
        peer_task = Some(tokio::spawn(async move {
            let served = serve_on!(bound, peer, peer_stop_rx);
            if let Err(e) = served {
                tracing::error!(error = %e, "Raft port failed");
            }
        }));
    }
    // Clients are served only once this node holds what its peers hold of
    // the soft state (their connections wait in the listen backlog).
    app.node.pull_soft_state().await;
    let (grpc_stop, grpc_stop_rx) = watch::channel(false);
    let grpc_app = app.clone();
    let grpc_tls = tls.grpc.clone().map(|cfg| (tls.clone(), cfg));
    let grpc = tokio::spawn(async move {
        if let Err(e) = grpc::serve(grpc_app, grpc_listener, grpc_tls, grpc_stop_rx).await {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });
    if app.settings.auth.enabled {
        if clustered {
            // The cluster may still be electing: keep trying in the background.
            let admin_app = app.clone();
            let mut admin_stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match auth::ensure_admin(&admin_app).await {
                        Ok(()) => break,
                        Err(e) => tracing::debug!(error = %e, "initial administrator: retrying"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = admin_stop.changed() => break,
                    }
                }
            }));
        } else {
            auth::ensure_admin(&app)
                .await
                .map_err(|e| ServerError::Internal(format!("initial administrator: {e}")))?;
        }
    }
    let console_here = app.settings.console.enabled && console_listener.is_none();
    let router = http::service(app.clone(), console_here);
    let mut tasks = tasks;
    let mut console_addr = None;
    if let Some(listener) = console_listener {
        console_addr = listener.local_addr().ok();
        let router = http::service(app.clone(), true);
        let console_stop = stop_rx.clone();
        let bound = secure(&tls, listener, tls.http.clone());
        tasks.push(tokio::spawn(async move {
            let served = serve_on!(
                bound,
                axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                    SocketAddr,
                >(router),
                console_stop
            );
            if let Err(e) = served {
                tracing::error!(error = %e, "console server failed");
            }
        }));
    }
    let http_stop = stop_rx.clone();
    let bound = secure(&tls, listener, tls.http.clone());
    let http = tokio::spawn(async move {
        serve_on!(
            bound,
            axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                SocketAddr,
            >(router),
            http_stop
        )
    });
    if tls.any() {
        tasks.push(tokio::spawn(tls.clone().reload_loop(
            Duration::from_millis(app.settings.tls.reload_interval_ms.max(10)),
            stop_rx.clone(),
        )));
    }
    tracing::info!(http = %http_addr, grpc = %grpc_addr, console = ?console_addr, elapsed_ms = started.elapsed().as_millis() as u64, "server started");
    Ok(Running {
        app,
        stop,
        grpc_stop,
        peer_stop,
        peer: peer_task,
        http,
        grpc,
        tasks,
        console_addr,
    })
}

impl Running {
    /// The shared app state.
    pub fn app(&self) -> &AppRef {
        &self.app
    }

    /// Waits until storage failed in a way the node cannot recover from
    /// (a log append, an apply or an fsync failed) and says what. The node
    /// must stop then (fail-stop): after a failed fsync the kernel may have
    /// dropped the dirty pages, so what the file holds is not known, and
    /// only a restart, which reads the file again, is safe.
    pub async fn storage_failed(&self) -> Option<String> {
        self.app.node.failed().await
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.app.http_addr
    }

    /// The gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.app.grpc_addr
    }

    /// The console's own address, when it has a port of its own.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console_addr
    }

    /// Tells peers this node is leaving, tells gRPC clients to reconnect
    /// elsewhere, stops accepting requests,
    /// answers held long polls, waits (bounded) for requests in flight,
    /// stops background tasks and the Raft node, and makes every applied
    /// change durable.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        // A leader hands leadership to an up-to-date peer first, while it
        // still serves: writes move to the new leader without waiting out
        // an election timeout.
        let handover = Duration::from_millis(self.app.settings.raft.handover_timeout_ms);
        let handed_over = self
            .app
            .node
            .hand_over(handover)
            .await
            .map(|_| Instant::now());
        // Peers first hear that this node leaves, so the instances of its
        // clients are handed over while the clients move, not deleted.
        self.app
            .stopping
            .store(true, std::sync::atomic::Ordering::Release);
        self.app.node.leave().await;
        grpc::push::reset_all(&self.app).await;
        let _ = self.grpc_stop.send(true);
        let _ = self.stop.send(true);
        self.app.hub.close();
        let mut grpc = self.grpc;
        if tokio::time::timeout(Duration::from_secs(5), &mut grpc)
            .await
            .is_err()
        {
            grpc.abort();
        }
        let mut http = self.http;
        if tokio::time::timeout(Duration::from_secs(10), &mut http)
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight after 10 s; closing anyway");
            http.abort();
        }
        for t in self.tasks {
            t.abort();
        }
        // The Raft port closes last. After a hand-over it stays open for a
        // heartbeat interval at least: a follower that has not yet heard
        // the new leader still forwards writes here, and they must be
        // answered (`NoLeader`, so it sends them on), not cut off in
        // flight (a cut forward is not sent again: its outcome is unknown).
        if let Some(at) = handed_over {
            let grace = Duration::from_millis(self.app.settings.raft.heartbeat_ms);
            tokio::time::sleep(grace.saturating_sub(at.elapsed())).await;
        }
        let _ = self.peer_stop.send(true);
        if let Some(mut peer) = self.peer
            && tokio::time::timeout(Duration::from_secs(5), &mut peer)
                .await
                .is_err()
        {
            peer.abort();
        }
        self.app.node.shutdown().await?;
        Ok(())
    }
}

/// Counts leader changes seen by this node.
async fn watch_leader(app: AppRef, mut stop: watch::Receiver<bool>) {
    let mut m = app.node.raft().metrics();
    let mut leader = m.borrow().current_leader;
    loop {
        tokio::select! {
            changed = m.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = stop.changed() => return,
        }
        // An election counts once, when its leader is known (not when the
        // old one is lost).
        let now = m.borrow().current_leader;
        if now.is_some() && now != leader {
            leader = now;
            app.metrics.leader_changed();
        }
    }
}
