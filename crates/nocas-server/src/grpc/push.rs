//! Server-to-client traffic on the bi-stream: pushes of changed services
//! and configs (acknowledged, retried, never out of order), detection of
//! silent connections, resets on shutdown, and closing connections.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nocas_core::names::ClusterName;
use nocas_proto::grpc::{
    BaseRequest, ConfigChangeNotifyRequest, ConnectResetRequest, NotifySubscriberRequest, Payload,
    RequestBase, payload,
};

use crate::app::{App, AppRef, now_ms};
use crate::grpc::conn::{Connection, Connections, Dirty, SendError};
use crate::health::Ticker;
use crate::metrics::PushKind;
use crate::ops::naming::{ViewName, cached_view};
use serde_json::value::RawValue;

/// Closes a connection: forgets it and releases its instances,
/// subscriptions and listeners. Safe to call more than once.
pub fn close(app: &App, conn: &Connection, reason: &str) {
    if !app.conns.remove(conn, reason) {
        return;
    }
    let (subs, listens) = Connections::held_keys(conn);
    for k in &subs {
        app.hub.unsubscribe_service(k, conn.hub_id);
    }
    for k in &listens {
        app.hub.unlisten_config(k, conn.hub_id);
    }
    app.hub.fuzzy_unwatch(true, conn.hub_id);
    app.hub.fuzzy_unwatch(false, conn.hub_id);
    // Right after this process was paused, a closing connection is most
    // likely a client that moved to another node meanwhile: its instances
    // are handed over (kept until it registers again, or the hand-over
    // time ends), not deleted.
    if app.stopping.load(std::sync::atomic::Ordering::Acquire) {
        tracing::debug!(conn_id = %conn.id, reason, "connection closed while stopping: instances left alone");
        return;
    }
    let changed = match app.node.soft_recovering() {
        Some(paused) => {
            let moved = app.soft.hand_over(&conn.owner(), paused);
            tracing::info!(conn_id = %conn.id, instances = moved, "connection closed after a pause: instances handed over");
            Vec::new()
        }
        None => app.soft.remove_owner(&conn.owner(), now_ms()),
    };
    app.soft_changed(&changed);
    tracing::info!(conn_id = %conn.id, reason, instances_services = changed.len(), "connection closed");
}

/// A push body whose request id is set per attempt.
enum PushBody {
    Service(NotifySubscriberRequest<Arc<RawValue>>),
    Config(ConfigChangeNotifyRequest),
    /// A request built as JSON (fuzzy-watch notices).
    Json(&'static str, serde_json::Value),
}

impl PushBody {
    /// A service push carrying no instances.
    fn is_empty_service(&self) -> bool {
        match self {
            Self::Service(b) => b.service_info.get().contains("\"hosts\":[]"),
            _ => false,
        }
    }

    fn payload(&mut self, request_id: String) -> Payload {
        let base = RequestBase {
            request_id: Some(request_id.clone()),
            ..Default::default()
        };
        match self {
            Self::Service(b) => {
                b.base = RequestBase {
                    module: Some("naming".into()),
                    ..base
                };
                payload("NotifySubscriberRequest", b, Default::default())
            }
            Self::Config(b) => {
                b.base = RequestBase {
                    module: Some("config".into()),
                    ..base
                };
                payload("ConfigChangeNotifyRequest", b, Default::default())
            }
            Self::Json(type_name, b) => {
                if let Some(o) = b.as_object_mut() {
                    o.insert("requestId".into(), serde_json::Value::String(request_id));
                }
                payload(type_name, b, Default::default())
            }
        }
    }
}

fn build(app: &App, conn: &Connection, d: &Dirty) -> Option<PushBody> {
    match d {
        Dirty::Service(key) => {
            let clusters_raw = conn.subscription(key)?;
            let clusters = ClusterName::parse_list(Some(&clusters_raw)).unwrap_or_default();
            let view =
                cached_view(app, key, &clusters_raw, &clusters, false, ViewName::Plain).ok()?;
            Some(PushBody::Service(NotifySubscriberRequest {
                base: RequestBase::default(),
                namespace: key.namespace.to_string(),
                service_name: key.service.to_string(),
                group_name: key.group.to_string(),
                service_info: view,
            }))
        }
        Dirty::Config(key) => {
            let tenant = conn.listen_tenant(key)?;
            Some(PushBody::Config(ConfigChangeNotifyRequest {
                base: RequestBase::default(),
                data_id: key.data_id.to_string(),
                group: key.group.to_string(),
                tenant,
            }))
        }
        Dirty::FuzzyConfig(_) | Dirty::FuzzyService(_) => {
            let (type_name, body) = crate::grpc::fuzzy::notice(app, conn, d)?;
            Some(PushBody::Json(type_name, body))
        }
    }
}

/// One sent attempt of a push: its request id, the answer it waits for,
/// when it was sent.
struct Attempt {
    rid: String,
    ack: tokio::sync::oneshot::Receiver<nocas_proto::grpc::ResponseBase>,
    sent: std::time::Instant,
}

/// Queues one attempt of `body` on the connection's stream; `None` when
/// the stream is gone, or its queue overflowed (the connection is then
/// closed: the client does not keep up).
fn attempt(app: &App, conn: &Connection, body: &mut PushBody) -> Option<Attempt> {
    let rid = conn.next_request_id();
    let ack = conn.expect_ack(&rid);
    let sent = std::time::Instant::now();
    match conn.send(body.payload(rid.clone())) {
        Ok(()) => Some(Attempt { rid, ack, sent }),
        Err(SendError::Full) => {
            conn.forget_ack(&rid);
            app.metrics.push_dropped();
            close(app, conn, "push queue overflow: client too slow");
            None
        }
        Err(SendError::Closed) => {
            conn.forget_ack(&rid);
            None
        }
    }
}

/// Waits for the acknowledgement of a push whose first attempt was sent,
/// and sends it again (up to the retry limit) while it is not acknowledged
/// and no newer push of the same key was sent. `marked` is when the change
/// that called for it was noticed.
async fn deliver(
    app: AppRef,
    conn: Arc<Connection>,
    d: Dirty,
    seq: u64,
    mut body: PushBody,
    marked: std::time::Instant,
    first: Attempt,
) {
    let g = &app.settings.grpc;
    let kind = match d {
        Dirty::Service(_) => PushKind::Service,
        Dirty::Config(_) => PushKind::Config,
        Dirty::FuzzyConfig(_) | Dirty::FuzzyService(_) => PushKind::Fuzzy,
    };
    let empty = body.is_empty_service();
    let mut current = first;
    let mut attempts = 1;
    loop {
        let wait = Duration::from_millis(g.push_timeout_ms);
        if let Ok(Ok(_)) = tokio::time::timeout(wait, &mut current.ack).await {
            app.metrics.push_acked(
                kind,
                marked.elapsed(),
                current.sent.elapsed(),
                attempts,
                empty,
            );
            return;
        }
        conn.forget_ack(&current.rid);
        if attempts > g.push_retries {
            break;
        }
        if conn.is_closed() || conn.push_seq.lock().get(&d) != Some(&seq) {
            return;
        }
        attempts += 1;
        match attempt(&app, &conn, &mut body) {
            Some(a) => current = a,
            None => return,
        }
    }
    app.metrics.push_failed(kind, attempts);
    tracing::warn!(conn_id = %conn.id, ?d, "push not acknowledged after retries");
}

/// Sends the pushes a connection is due, in order, until it closes. The
/// first attempt of each is queued on the stream here, in the order the
/// changes were noticed; a task per push then waits for its answer (and
/// retries), so a push never waits for another task to be scheduled
/// before it is on its way.
pub async fn run(app: AppRef, conn: Arc<Connection>) {
    loop {
        let hold = Duration::from_millis(app.settings.grpc.subscribe_push_hold_ms);
        while let Some((d, marked)) = conn.next_dirty() {
            if conn.is_closed() {
                return;
            }
            if let Dirty::Service(key) = &d
                && let Some(wait) = conn.push_hold(key, hold)
            {
                let (c, d) = (conn.clone(), d.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    c.mark(d);
                });
                continue;
            }
            let Some(mut body) = build(&app, &conn, &d) else {
                continue;
            };
            let seq = {
                let mut seqs = conn.push_seq.lock();
                let s = seqs.entry(d.clone()).or_insert(0);
                *s += 1;
                *s
            };
            // Not on its way (no stream, or the connection was just closed
            // for overflowing): nothing to wait for.
            let Some(first) = attempt(&app, &conn, &mut body) else {
                continue;
            };
            tokio::spawn(deliver(
                app.clone(),
                conn.clone(),
                d,
                seq,
                body,
                marked,
                first,
            ));
        }
        if conn.is_closed() {
            return;
        }
        conn.wake.notified().await;
    }
}

/// Sends a request on the stream and waits (bounded) for its answer.
pub(crate) async fn ask(
    conn: &Connection,
    type_name: &str,
    mut body: serde_json::Value,
    wait: Duration,
) -> Result<bool, SendError> {
    let rid = conn.next_request_id();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("requestId".into(), serde_json::Value::String(rid.clone()));
    }
    let ack = conn.expect_ack(&rid);
    conn.send(payload(type_name, &body, Default::default()))?;
    let answered = matches!(tokio::time::timeout(wait, ack).await, Ok(Ok(_)));
    if !answered {
        conn.forget_ack(&rid);
    }
    Ok(answered)
}

/// Probes connections silent for `idle_ms` with `ClientDetectionRequest` and
/// closes those that do not answer within `detect_timeout_ms`.
pub async fn detect(app: AppRef, stop: tokio::sync::watch::Receiver<bool>) {
    let g = app.settings.grpc.clone();
    let mut ticker = Ticker::new(g.detect_interval_ms, stop);
    while ticker.next().await {
        let now = now_ms();
        for conn in app.conns.registered() {
            if now - conn.last_active_ms() < g.idle_ms as i64
                || conn.probing.swap(true, Ordering::SeqCst)
            {
                continue;
            }
            let app = app.clone();
            let wait = Duration::from_millis(g.detect_timeout_ms);
            tokio::spawn(async move {
                let body = serde_json::to_value(BaseRequest {
                    base: RequestBase {
                        module: Some("internal".into()),
                        ..Default::default()
                    },
                })
                .unwrap_or_default();
                match ask(&conn, "ClientDetectionRequest", body, wait).await {
                    Ok(true) => conn.touch(),
                    Ok(false) => close(&app, &conn, "no answer to ClientDetectionRequest"),
                    Err(SendError::Full) => {
                        close(&app, &conn, "push queue overflow: client too slow")
                    }
                    Err(SendError::Closed) => close(&app, &conn, "stream gone"),
                }
                conn.probing.store(false, Ordering::SeqCst);
            });
        }
    }
}

/// Tells every client to reconnect elsewhere (graceful shutdown), waits up
/// to `reset_wait_ms` for their answers, then closes every connection.
pub async fn reset_all(app: &App) {
    let wait = Duration::from_millis(app.settings.grpc.reset_wait_ms);
    let conns = app.conns.registered();
    let asks = conns.iter().map(|conn| {
        let body = serde_json::to_value(ConnectResetRequest {
            base: RequestBase {
                module: Some("internal".into()),
                ..Default::default()
            },
            connection_id: Some(conn.id.to_string()),
            ..Default::default()
        })
        .unwrap_or_default();
        ask(conn, "ConnectResetRequest", body, wait)
    });
    let answered = futures::future::join_all(asks)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(true)))
        .count();
    tracing::info!(
        connections = conns.len(),
        answered,
        "sent ConnectResetRequest to every client"
    );
    for conn in conns {
        close(app, &conn, "server shutting down");
    }
}
