//! Calls with failover: one live connection at a time, chosen among the
//! servers whose circuit breaker lets calls through; failed calls are
//! retried with backoff, on another server when theirs went away; a
//! background task health-checks the connection, reconnects when it drops
//! and runs the redo hooks (registrations, subscriptions, listeners) on
//! every new connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::breaker::{Breaker, backoff};
use crate::conn::{Connection, Push};
use crate::error::ClientError;
use crate::options::ClientOptions;

/// Work to redo on every new connection.
pub(crate) type RedoHook = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

pub(crate) struct RpcClient {
    opts: ClientOptions,
    addrs: Vec<String>,
    breakers: Vec<Mutex<Breaker>>,
    current: Mutex<Option<Arc<Connection>>>,
    connecting: tokio::sync::Mutex<()>,
    next: AtomicUsize,
    pushes: mpsc::UnboundedSender<Push>,
    redo: Mutex<Vec<RedoHook>>,
}

impl RpcClient {
    pub(crate) fn new(opts: ClientOptions, pushes: mpsc::UnboundedSender<Push>) -> Arc<Self> {
        let addrs = opts.grpc_addrs();
        let breakers = addrs
            .iter()
            .map(|_| Mutex::new(Breaker::new(opts.breaker.clone())))
            .collect();
        let rpc = Arc::new(Self {
            opts,
            addrs,
            breakers,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            next: AtomicUsize::new(0),
            pushes,
            redo: Mutex::new(Vec::new()),
        });
        tokio::spawn(keep_alive(Arc::downgrade(&rpc)));
        rpc
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// Runs `redo(target)` on every new connection, for as long as
    /// `target` lives (the hook holds it weakly).
    pub(crate) fn add_redo<T, F>(&self, target: &Arc<T>, redo: fn(Arc<T>) -> F)
    where
        T: Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let weak = Arc::downgrade(target);
        let hook: RedoHook = Arc::new(move || {
            let weak = weak.clone();
            Box::pin(async move {
                if let Some(t) = weak.upgrade() {
                    redo(t).await;
                }
            })
        });
        self.redo.lock().push(hook);
    }

    fn live(&self) -> Option<Arc<Connection>> {
        self.current.lock().clone().filter(|c| c.is_alive())
    }

    /// Whether a connection is up now.
    pub(crate) fn is_connected(&self) -> bool {
        self.live().is_some()
    }

    /// The live connection, connecting (to the next allowed server) if
    /// there is none; runs the redo hooks after a new connection.
    async fn connection(self: &Arc<Self>) -> Result<Arc<Connection>, ClientError> {
        if let Some(c) = self.live() {
            return Ok(c);
        }
        let _guard = self.connecting.lock().await;
        if let Some(c) = self.live() {
            return Ok(c);
        }
        let n = self.addrs.len();
        let mut last = ClientError::Unavailable("no server configured".into());
        for _ in 0..n {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
            if !self.breakers[i].lock().allow(Instant::now()) {
                last = ClientError::Unavailable(format!("circuit open for {}", self.addrs[i]));
                continue;
            }
            let opened = Connection::open(
                i,
                &self.addrs[i],
                &self.opts.namespace,
                &self.opts.app_name,
                self.opts.connect_timeout,
                self.opts.request_timeout,
                self.pushes.clone(),
            )
            .await;
            match opened {
                Ok(c) => {
                    self.breakers[i].lock().success();
                    let c = Arc::new(c);
                    *self.current.lock() = Some(c.clone());
                    tracing::info!(server = %self.addrs[i], conn = %c.id, "connected");
                    // Retries wait for ongoing redo only through ordering on
                    // the same connection; run the hooks in the background.
                    let hooks: Vec<RedoHook> = self.redo.lock().clone();
                    tokio::spawn(async move {
                        for h in hooks {
                            h().await;
                        }
                    });
                    return Ok(c);
                }
                Err(e) => {
                    tracing::debug!(server = %self.addrs[i], error = %e, "connect failed");
                    self.breakers[i].lock().failure(Instant::now());
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// A call with retries and failover. Server errors that another attempt
    /// cannot fix are returned at once.
    pub(crate) async fn call<T: Serialize>(
        self: &Arc<Self>,
        type_name: &str,
        body: &T,
    ) -> Result<Value, ClientError> {
        let policy = self.opts.retry.clone();
        let mut last = ClientError::Unavailable("not attempted".into());
        for attempt in 0..policy.max_attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(backoff(&policy, attempt)).await;
            }
            let conn = match self.connection().await {
                Ok(c) => c,
                Err(e) => {
                    // Every breaker open: fail fast instead of waiting out
                    // retries that cannot reach anyone.
                    if self.all_open() {
                        return Err(e);
                    }
                    last = e;
                    continue;
                }
            };
            match conn.call(type_name, body).await {
                Ok(v) => {
                    self.breakers[conn.server].lock().success();
                    return Ok(v);
                }
                Err(e) if e.is_retryable() => {
                    if !matches!(e, ClientError::Server { .. }) {
                        self.breakers[conn.server].lock().failure(Instant::now());
                    }
                    conn.kill();
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Whether every server's breaker refuses calls right now.
    fn all_open(&self) -> bool {
        let now = Instant::now();
        self.breakers.iter().all(|b| {
            matches!(b.lock().state(), crate::breaker::BreakerState::Open(until) if until > now)
        })
    }

    /// A call on the live connection only (no connect, no retry): for redo.
    pub(crate) async fn call_once<T: Serialize>(
        &self,
        type_name: &str,
        body: &T,
    ) -> Result<Value, ClientError> {
        let conn = self
            .live()
            .ok_or_else(|| ClientError::Unavailable("not connected".into()))?;
        conn.call(type_name, body).await
    }
}

/// Health-checks the connection every `health_interval`, reconnects when it
/// is gone (so redo happens without waiting for the next call).
async fn keep_alive(rpc: std::sync::Weak<RpcClient>) {
    loop {
        let (interval, closed) = match rpc.upgrade() {
            Some(r) => (r.opts.health_interval, r.live().map(|c| c.closed.clone())),
            None => return,
        };
        match closed {
            Some(closed) => {
                tokio::select! {
                    _ = closed.notified() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
            }
            None => tokio::time::sleep(interval.min(std::time::Duration::from_millis(500))).await,
        }
        let Some(rpc) = rpc.upgrade() else {
            return;
        };
        match rpc.live() {
            Some(conn) => {
                if let Err(e) = conn
                    .call("HealthCheckRequest", &json!({"headers": {}}))
                    .await
                {
                    tracing::debug!(error = %e, "health check failed");
                    rpc.breakers[conn.server].lock().failure(Instant::now());
                    conn.kill();
                }
            }
            None => {
                let _ = rpc.connection().await;
            }
        }
        // Sleep a moment if the connection just dropped, then reconnect.
        if !rpc.is_connected() {
            let _ = rpc.connection().await;
        }
    }
}
