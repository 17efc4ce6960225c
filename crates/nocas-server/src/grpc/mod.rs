//! The Nacos 2.x gRPC front end (tonic): the unary `Request` service and
//! the `BiRequestStream` service on the gRPC port.
//!
//! [`conn`] ties a connection to its HTTP/2 transport (accepted sockets are
//! tracked, so a closed transport closes its connection), [`handlers`]
//! answers requests through the shared `ops`, and [`push`] sends server
//! pushes with acknowledgement and retry, probes silent connections and
//! resets every client on shutdown.
//!
//! Architecture invariant: like HTTP, this front end changes durable state
//! only through `ops` (and so through the Raft log), and ephemeral state
//! only through the soft registry under the connection's ownership.

pub mod conn;
pub mod fuzzy;
pub mod guard;
pub mod handlers;
pub mod push;
pub mod revoke;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use nocas_proto::grpc::{
    BiRequestStream, BiRequestStreamServer, ConnectionSetupRequest, Payload, RequestServer,
    RequestService, ResponseBase, ServerCheckResponse, SetupAckRequest, parts, payload,
};

use crate::app::AppRef;
use crate::grpc::conn::{ClientInfo, Connection, TrackedStream};
use crate::grpc::handlers::{UN_REGISTER, error_payload, request_id_of};
use crate::settings::ReadConsistency;
use crate::tls::Io;

/// Abilities this server announces in `SetupAckRequest`.
fn server_abilities() -> std::collections::HashMap<String, bool> {
    [
        ("supportPersistentInstanceByGrpc", true),
        ("lock", true),
        ("fuzzyWatch", true),
        ("supportDeltaPush", false),
        ("supportRemoteMetric", false),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The tonic services over the app.
#[derive(Clone)]
pub struct GrpcService {
    app: AppRef,
}

impl GrpcService {
    fn connection(&self, peer: Option<SocketAddr>) -> Option<Arc<Connection>> {
        peer.and_then(|p| self.app.conns.by_peer(&p))
    }
}

#[tonic::async_trait]
impl RequestService for GrpcService {
    async fn request(&self, req: Request<Payload>) -> Result<Response<Payload>, Status> {
        let conn = self.connection(req.remote_addr());
        let p = req.into_inner();
        let (type_name, body) = parts(&p);
        let Some(conn) = conn else {
            return Ok(Response::new(error_payload(
                "ErrorResponse",
                UN_REGISTER,
                "Connection is unregistered.",
                request_id_of(body),
            )));
        };
        if type_name == "ServerCheckRequest" {
            return Ok(Response::new(payload(
                "ServerCheckResponse",
                &ServerCheckResponse {
                    base: ResponseBase::ok(request_id_of(body)),
                    connection_id: conn.id.to_string(),
                    support_ability_negotiation: true,
                },
                Default::default(),
            )));
        }
        // The client sends its setup on the stream and may call right after;
        // give the setup a moment before refusing.
        let grace = Duration::from_millis(self.app.settings.grpc.setup_grace_ms);
        if !conn.wait_registered(grace).await {
            return Ok(Response::new(error_payload(
                "ErrorResponse",
                UN_REGISTER,
                "Connection is unregistered.",
                request_id_of(body),
            )));
        }
        conn.touch();
        let meta = p.metadata.as_ref().map(|m| &m.headers);
        let started = std::time::Instant::now();
        let peer = conn.peer.ip();
        if is_read(type_name)
            && (self.app.settings.consistency.reads == ReadConsistency::Linearizable
                || meta.is_some_and(|m| m.get("consistent").is_some_and(|v| v == "true")))
            && let Err(e) = self.app.node.read_barrier().await
        {
            crate::observe::grpc_done(&self.app, type_name, 503, started.elapsed(), peer);
            return Ok(Response::new(error_payload(
                "ErrorResponse",
                503,
                format!("consistent read not possible: {e}"),
                request_id_of(body),
            )));
        }
        self.app.metrics.grpc_active(true);
        let answer = crate::observe::with_ctx(
            crate::observe::RequestCtx::grpc(peer),
            handlers::dispatch(&self.app, &conn, type_name, body, meta),
        )
        .await;
        self.app.metrics.grpc_active(false);
        crate::observe::grpc_done(
            &self.app,
            type_name,
            result_code(&answer),
            started.elapsed(),
            peer,
        );
        Ok(Response::new(answer))
    }
}

/// Config and naming reads (what a read barrier guards).
fn is_read(type_name: &str) -> bool {
    matches!(
        type_name,
        "ConfigQueryRequest"
            | "ConfigBatchListenRequest"
            | "ServiceQueryRequest"
            | "SubscribeServiceRequest"
            | "ServiceListRequest"
    )
}

/// The result code of an answer: 0 for success, else its `errorCode`
/// (or `resultCode`). Error answers are small; an answer larger than
/// 4 KiB is a successful one and is not parsed.
fn result_code(answer: &Payload) -> i32 {
    let Some(body) = answer.body.as_ref().map(|b| b.value.as_slice()) else {
        return 0;
    };
    if body.len() > 4096 {
        return 0;
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Codes {
        #[serde(default)]
        result_code: i32,
        #[serde(default)]
        error_code: i32,
    }
    match serde_json::from_slice::<Codes>(body) {
        Ok(c) if c.result_code == 200 || c.result_code == 0 => 0,
        Ok(c) if c.error_code != 0 => c.error_code,
        Ok(c) => c.result_code,
        Err(_) => 0,
    }
}

type PayloadStream = Pin<Box<dyn Stream<Item = Result<Payload, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl BiRequestStream for GrpcService {
    type requestBiStreamStream = PayloadStream;

    async fn request_bi_stream(
        &self,
        req: Request<Streaming<Payload>>,
    ) -> Result<Response<Self::requestBiStreamStream>, Status> {
        let conn = self
            .connection(req.remote_addr())
            .ok_or_else(|| Status::failed_precondition("unknown transport"))?;
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel(self.app.settings.grpc.push_queue.max(1));
        let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<Status>();
        let mut kill_tx = Some(kill_tx);
        let app = self.app.clone();
        tokio::spawn(async move {
            let mut registered = false;
            while let Some(msg) = inbound.next().await {
                let Ok(p) = msg else {
                    break;
                };
                let (type_name, body) = parts(&p);
                conn.touch();
                if type_name == "ConnectionSetupRequest" {
                    if registered {
                        continue;
                    }
                    registered = true;
                    if let Some(kill) = kill_tx.take() {
                        setup(&app, &conn, body, tx.clone(), kill);
                    }
                } else if type_name.ends_with("Response") {
                    if let Ok(resp) = serde_json::from_slice::<ResponseBase>(body) {
                        conn.ack(resp);
                    }
                } else if registered {
                    // Some clients send requests (health checks) on the stream.
                    let meta = p.metadata.as_ref().map(|m| &m.headers);
                    // Boxed: the task lives as long as the connection, and
                    // would otherwise carry the largest handler's state
                    // while idle.
                    let answer =
                        Box::pin(handlers::dispatch(&app, &conn, type_name, body, meta)).await;
                    if tx.try_send(Ok(answer)).is_err() {
                        break;
                    }
                }
            }
            push::close(&app, &conn, "stream ended");
        });
        Ok(Response::new(Box::pin(outbound_stream(rx, kill_rx))))
    }
}

/// The server half of a bi-stream: queued payloads, until the connection is
/// closed by the server, which ends the stream with that error status.
fn outbound_stream(
    rx: mpsc::Receiver<Result<Payload, Status>>,
    kill: tokio::sync::oneshot::Receiver<Status>,
) -> impl Stream<Item = Result<Payload, Status>> + Send + 'static {
    enum Kill {
        Armed(tokio::sync::oneshot::Receiver<Status>),
        Disarmed,
        Fired,
    }
    futures::stream::unfold((rx, Kill::Armed(kill)), |(mut rx, kill)| async move {
        match kill {
            Kill::Armed(mut k) => tokio::select! {
                biased;
                status = &mut k => match status {
                    Ok(status) => Some((Err(status), (rx, Kill::Fired))),
                    // No verdict will come: keep sending what is queued.
                    Err(_) => rx.recv().await.map(|m| (m, (rx, Kill::Disarmed))),
                },
                msg = rx.recv() => msg.map(|m| (m, (rx, Kill::Armed(k)))),
            },
            Kill::Disarmed => rx.recv().await.map(|m| (m, (rx, Kill::Disarmed))),
            Kill::Fired => None,
        }
    })
}

/// Registers a connection from its `ConnectionSetupRequest`, answers with
/// `SetupAckRequest` when the client negotiates abilities, and starts its
/// push task.
fn setup(
    app: &AppRef,
    conn: &Arc<Connection>,
    body: &[u8],
    tx: conn::Outbound,
    kill: tokio::sync::oneshot::Sender<Status>,
) {
    let req: ConnectionSetupRequest = serde_json::from_slice(body).unwrap_or_default();
    let info = ClientInfo {
        version: req.client_version.unwrap_or_default(),
        tenant: req.tenant.unwrap_or_default(),
        labels: req.labels,
        negotiates: req.ability_table.is_some(),
    };
    let negotiates = info.negotiates;
    tracing::info!(conn_id = %conn.id, client = %info.version, peer = %conn.peer, "connection registered");
    conn.register(info, tx, kill);
    if negotiates {
        let ack = SetupAckRequest {
            base: nocas_proto::grpc::RequestBase {
                request_id: Some(conn.next_request_id()),
                module: Some("internal".into()),
                ..Default::default()
            },
            ability_table: server_abilities(),
        };
        let _ = conn.send(payload("SetupAckRequest", &ack, Default::default()));
    }
    tokio::spawn(push::run(app.clone(), conn.clone()));
}

/// Binds the gRPC port.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves gRPC on `listener` until `stop` changes.
pub async fn serve(
    app: AppRef,
    listener: TcpListener,
    tls: Option<(Arc<crate::tls::Tls>, Arc<rustls::ServerConfig>)>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel::<Arc<conn::Connection>>();
    // Transports that close take their own connection with them (not one
    // that reused the peer address since).
    let reaper_app = app.clone();
    tokio::spawn(async move {
        while let Some(conn) = closed_rx.recv().await {
            reaper_app.conns.release(conn.peer.ip());
            push::close(&reaper_app, &conn, "transport closed");
        }
    });
    let accept_app = app.clone();
    let per_ip = app.settings.limits.max_connections_per_ip;
    let incoming: Pin<Box<dyn Stream<Item = std::io::Result<TrackedStream>> + Send>> = match tls {
        None => Box::pin(
            async_accept(listener, move |peer| {
                if !accept_app.conns.admit(peer.ip(), per_ip) {
                    tracing::warn!(%peer, limit = per_ip, "gRPC connection refused: too many from this IP");
                    return None;
                }
                Some(accept_app.conns.accept(peer, &accept_app.hub))
            })
            .map(move |r| {
                r.map(|(s, conn)| TrackedStream::new(Io::Plain(s), conn, closed_tx.clone()))
            }),
        ),
        Some((tls, cfg)) => {
            // Admission before the handshake (so one address cannot hold
            // more handshakes than connections); the connection is made
            // once the handshake finished.
            let (admit_app, release_app) = (app.clone(), app.clone());
            let listener = tls.listen(
                listener,
                cfg,
                move |peer| {
                    let ok = admit_app.conns.admit(peer.ip(), per_ip);
                    if !ok {
                        tracing::warn!(%peer, limit = per_ip, "gRPC connection refused: too many from this IP");
                    }
                    ok
                },
                move |peer| release_app.conns.release(peer.ip()),
            );
            Box::pin(futures::stream::unfold(
                (listener, accept_app, closed_tx),
                |(mut listener, app, closed_tx)| async move {
                    let (io, peer) = listener.next().await?;
                    let conn = app.conns.accept(peer, &app.hub);
                    let s = TrackedStream::new(io, conn, closed_tx.clone());
                    Some((Ok(s), (listener, app, closed_tx)))
                },
            ))
        }
    };
    let max = app.settings.grpc.max_message_bytes;
    let svc = GrpcService { app };
    tonic::transport::Server::builder()
        .add_service(
            RequestServer::new(svc.clone())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            BiRequestStreamServer::new(svc)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stop.changed().await;
        })
        .await
}

/// Accepted sockets with what `on_accept` made for them; `on_accept` runs
/// before the transport is served and may refuse it with `None` (the
/// socket is closed at once).
fn async_accept<T>(
    listener: TcpListener,
    on_accept: impl Fn(SocketAddr) -> Option<T> + Send + 'static,
) -> impl Stream<Item = std::io::Result<(tokio::net::TcpStream, T)>> {
    futures::stream::unfold((listener, on_accept), |(listener, on_accept)| async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let Some(made) = on_accept(peer) else {
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    return Some((Ok((stream, made)), (listener, on_accept)));
                }
                Err(e) => {
                    // Out of descriptors and the like: wait and keep serving.
                    tracing::warn!(error = %e, "gRPC accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}
