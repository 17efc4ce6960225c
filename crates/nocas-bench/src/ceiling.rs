//! Ceilings: bare servers that do the least any Nacos-compatible server
//! must do for each scenario, so a reader sees how far a server is from
//! what this machine allows.
//!
//! - [`serve`]: HTTP (axum) and gRPC (tonic, Nacos's `Request` and
//!   `BiRequestStream` services) on the same ports a server would use. It
//!   keeps the few things a client can observe (instances of a service,
//!   config contents, subscriptions) in plain maps and answers every call
//!   with a response encoded once, in the same JSON shapes (the
//!   `nocas-proto` types) and so of the same size as a real server's;
//!   a registration into a subscribed service encodes one
//!   `NotifySubscriberRequest` and sends it down every subscriber's stream.
//!   No checks, no indexes: the client scenarios run against it unchanged
//!   and their rows are the ceilings of the same rows. With a durable
//!   directory, publishes are group-committed there before they are
//!   answered (`Durable`: whatever arrived while the last fsync ran goes
//!   into the next redb transaction, committed with an fsync), the least a
//!   server that acknowledges only durable publishes must do; else nothing
//!   is durable.
//! - [`redb_publish`]: the durable-write ceiling: one redb database,
//!   batches of the size a server's group commit forms, each committed
//!   with an fsync (what one durable config publish costs at least).
//!
//! Architecture invariant: shares nothing with the server crates but the
//! protocol types.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::extract::{Query, State};
use axum::routing::get;
use bytes::Bytes;
use nocas_proto::grpc::{
    BatchInstanceRequest, BiRequestStream, BiRequestStreamServer, ConfigBase, ConfigPublishRequest,
    ConfigQueryRequest, ConfigQueryResponse, InstanceRequest, InstanceResponse, InstanceWire,
    NamingBase, NotifySubscriberRequest, Payload, RequestBase, RequestServer, RequestService,
    ResponseBase, ServerCheckResponse, ServiceInfoResponse, ServiceQueryRequest,
    SubscribeServiceRequest, parts, payload,
};
use nocas_proto::http::{InstanceJson, ServiceInfoJson};
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::report::Row;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One service: its instances and who subscribed to it.
#[derive(Default)]
struct Service {
    hosts: Vec<InstanceJson>,
    subscribers: Vec<SocketAddr>,
    /// The gRPC `QueryServiceResponse`, encoded once per change.
    query: Option<Payload>,
    /// The HTTP v1 list body, encoded once per change.
    list: Option<Bytes>,
}

/// One config: its content and its answers, encoded once per change.
struct Config {
    content: Bytes,
    /// The HTTP answer's headers, built once: the set a Nacos server
    /// sends with a config (type, MD5, last change, no caching).
    headers: axum::http::HeaderMap,
    query: Payload,
}

#[derive(Default)]
struct Inner {
    services: HashMap<String, Service>,
    configs: HashMap<String, Config>,
    /// Streams of set-up connections, by the client's address.
    streams: HashMap<SocketAddr, mpsc::Sender<Result<Payload, tonic::Status>>>,
}

/// A publish waiting for its group commit.
type Pending = (String, Bytes, tokio::sync::oneshot::Sender<bool>);

/// Group commit of publishes into a redb database: one thread takes
/// everything queued, writes it in one transaction, commits it with an
/// fsync and answers each.
#[derive(Clone)]
struct Durable {
    tx: mpsc::UnboundedSender<Pending>,
}

const PUBLISHED: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("published");

impl Durable {
    fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let path = dir.join("ceiling-publish.redb");
        let _ = std::fs::remove_file(&path);
        let db =
            redb::Database::create(&path).with_context(|| format!("create {}", path.display()))?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
        std::thread::spawn(move || {
            let mut batch = Vec::new();
            while let Some(first) = rx.blocking_recv() {
                batch.push(first);
                while let Ok(p) = rx.try_recv() {
                    batch.push(p);
                }
                let ok = (|| -> Result<(), redb::Error> {
                    let txn = db.begin_write()?;
                    {
                        let mut t = txn.open_table(PUBLISHED)?;
                        for (k, v, _) in &batch {
                            t.insert(k.as_str(), v.as_ref())?;
                        }
                    }
                    txn.commit()?;
                    Ok(())
                })()
                .is_ok();
                for (_, _, done) in batch.drain(..) {
                    let _ = done.send(ok);
                }
            }
            drop(db);
            let _ = std::fs::remove_file(&path);
        });
        Ok(Self { tx })
    }

    /// Writes `content` under `key`; true once it is durable.
    async fn put(&self, key: &str, content: &[u8]) -> bool {
        let (done, wait) = tokio::sync::oneshot::channel();
        let pending = (key.to_string(), Bytes::copy_from_slice(content), done);
        self.tx.send(pending).is_ok() && wait.await.unwrap_or(false)
    }
}

/// The ceiling server's state.
#[derive(Clone, Default)]
struct Ceiling {
    inner: Arc<Mutex<Inner>>,
    /// Where publishes are made durable (none: nowhere).
    durable: Option<Durable>,
    /// `"x" * size`, the answer of any other HTTP path.
    hello: Bytes,
    ok: Arc<OkAnswers>,
}

/// Answers encoded once at start.
struct OkAnswers {
    server_check: Payload,
    health: Payload,
    instance: Payload,
    batch: Payload,
    publish: Payload,
}

impl Default for OkAnswers {
    fn default() -> Self {
        let ok = ResponseBase::ok(None);
        let instance = |kind: &str| InstanceResponse {
            base: ok.clone(),
            kind: Some(kind.into()),
        };
        Self {
            server_check: payload(
                "ServerCheckResponse",
                &ServerCheckResponse {
                    base: ok.clone(),
                    connection_id: "ceiling".into(),
                    support_ability_negotiation: false,
                },
                HashMap::new(),
            ),
            health: payload("HealthCheckResponse", &ok, HashMap::new()),
            instance: payload(
                "InstanceResponse",
                &instance("registerInstance"),
                HashMap::new(),
            ),
            batch: payload(
                "BatchInstanceResponse",
                &instance("batchRegisterInstance"),
                HashMap::new(),
            ),
            publish: payload("ConfigPublishResponse", &ok, HashMap::new()),
        }
    }
}

/// `public` and the empty namespace are the same one.
fn namespace(ns: &str) -> &str {
    if ns == "public" { "" } else { ns }
}

fn host(service: &str, w: &InstanceWire) -> InstanceJson {
    let ip = w.ip.clone().unwrap_or_default();
    let port = w.port.clamp(0, 65535) as u16;
    let cluster = w
        .cluster_name
        .clone()
        .unwrap_or_else(|| "DEFAULT".to_string());
    let metadata = w
        .metadata
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            (k.clone(), v)
        })
        .collect();
    InstanceJson {
        instance_id: format!("{ip}#{port}#{cluster}#{service}"),
        ip,
        port,
        weight: w.weight,
        healthy: true,
        enabled: true,
        ephemeral: true,
        cluster_name: cluster,
        service_name: service.to_string(),
        metadata,
        instance_heart_beat_interval: 5000,
        instance_heart_beat_time_out: 15000,
        ip_delete_timeout: 30000,
        instance_id_generator: "simple".into(),
    }
}

/// `ns|group@@name` of a naming request.
fn naming_key(n: &NamingBase) -> String {
    let group = match n.group_name.as_deref() {
        None | Some("") => "DEFAULT_GROUP",
        Some(g) => g,
    };
    format!(
        "{}|{group}@@{}",
        namespace(n.namespace.as_deref().unwrap_or("")),
        n.service_name.as_deref().unwrap_or("")
    )
}

impl Service {
    /// The view, as a server would send it.
    fn info(&self, name: &str, group: &str) -> ServiceInfoJson {
        ServiceInfoJson {
            name: name.to_string(),
            group_name: group.to_string(),
            clusters: String::new(),
            cache_millis: 10_000,
            hosts: self.hosts.clone(),
            last_ref_time: now_ms(),
            checksum: String::new(),
            all_ips: false,
            all_ips_v3: false,
            reach_protection_threshold: false,
            valid: true,
        }
    }

    fn changed(&mut self) {
        self.query = None;
        self.list = None;
    }
}

/// `ns|group@@name` → (`group@@name`, plain name, group).
fn split_key(key: &str) -> (&str, &str, &str) {
    let full = key.split_once('|').map_or(key, |(_, f)| f);
    let (group, name) = full.split_once("@@").unwrap_or(("DEFAULT_GROUP", full));
    (full, name, group)
}

impl Ceiling {
    fn answer(&self, from: Option<SocketAddr>, p: &Payload) -> Payload {
        let (kind, body) = parts(p);
        let ok = &self.ok;
        match kind {
            "ServerCheckRequest" => ok.server_check.clone(),
            "HealthCheckRequest" => {
                let set_up = from.is_some_and(|a| self.inner.lock().streams.contains_key(&a));
                if set_up {
                    ok.health.clone()
                } else {
                    payload(
                        "ErrorResponse",
                        &ResponseBase::fail(301, "not set up", None),
                        HashMap::new(),
                    )
                }
            }
            "InstanceRequest" => {
                let r: InstanceRequest = serde_json::from_slice(body).unwrap_or_default();
                self.register(&naming_key(&r.naming), r.instance.as_slice());
                ok.instance.clone()
            }
            "BatchInstanceRequest" => {
                let r: BatchInstanceRequest = serde_json::from_slice(body).unwrap_or_default();
                self.register(&naming_key(&r.naming), &r.instances);
                ok.batch.clone()
            }
            "ServiceQueryRequest" | "SubscribeServiceRequest" => {
                let key = if kind == "ServiceQueryRequest" {
                    let r: ServiceQueryRequest = serde_json::from_slice(body).unwrap_or_default();
                    naming_key(&r.naming)
                } else {
                    let r: SubscribeServiceRequest =
                        serde_json::from_slice(body).unwrap_or_default();
                    naming_key(&r.naming)
                };
                let mut g = self.inner.lock();
                let s = g.services.entry(key.clone()).or_default();
                if kind == "SubscribeServiceRequest" {
                    if let Some(a) = from {
                        s.subscribers.push(a);
                    }
                    let (_, name, group) = split_key(&key);
                    return payload(
                        "SubscribeServiceResponse",
                        &ServiceInfoResponse {
                            base: ResponseBase::ok(None),
                            service_info: s.info(name, group),
                        },
                        HashMap::new(),
                    );
                }
                if s.query.is_none() {
                    let (_, name, group) = split_key(&key);
                    s.query = Some(payload(
                        "QueryServiceResponse",
                        &ServiceInfoResponse {
                            base: ResponseBase::ok(None),
                            service_info: s.info(name, group),
                        },
                        HashMap::new(),
                    ));
                }
                s.query.clone().unwrap_or_default()
            }
            "ConfigQueryRequest" => {
                let r: ConfigQueryRequest = serde_json::from_slice(body).unwrap_or_default();
                let g = self.inner.lock();
                match g.configs.get(&config_key(&r.config)) {
                    Some(c) => c.query.clone(),
                    None => payload(
                        "ConfigQueryResponse",
                        &ResponseBase::fail(300, "config data not exist", None),
                        HashMap::new(),
                    ),
                }
            }
            "ConfigPublishRequest" => {
                let r: ConfigPublishRequest = serde_json::from_slice(body).unwrap_or_default();
                let content = r.content.as_deref().unwrap_or("");
                self.put_config(config_key(&r.config), content.as_bytes());
                ok.publish.clone()
            }
            other => payload(
                "ErrorResponse",
                &ResponseBase::fail(501, format!("{other} is not served here"), None),
                HashMap::new(),
            ),
        }
    }

    fn put_config(&self, key: String, content: &[u8]) {
        let text = String::from_utf8_lossy(content).into_owned();
        let md5 = crate::scenarios::md5_hex(&text);
        let modified = now_ms();
        let headers = nacos_config_headers(&md5, modified);
        let query = payload(
            "ConfigQueryResponse",
            &ConfigQueryResponse {
                base: ResponseBase::ok(None),
                md5: Some(md5),
                content: Some(text),
                content_type: Some("text".into()),
                last_modified: modified,
                ..Default::default()
            },
            HashMap::new(),
        );
        self.inner.lock().configs.insert(
            key,
            Config {
                content: Bytes::copy_from_slice(content),
                headers,
                query,
            },
        );
    }

    /// Adds the instances of a registration and pushes the new view, one
    /// encoding for every subscriber.
    fn register(&self, key: &str, instances: &[InstanceWire]) {
        let (full, name, group) = split_key(key);
        let mut guard = self.inner.lock();
        let g = &mut *guard;
        let s = g.services.entry(key.to_string()).or_default();
        s.hosts.extend(instances.iter().map(|i| host(full, i)));
        s.changed();
        if s.subscribers.is_empty() {
            return;
        }
        let push = payload(
            "NotifySubscriberRequest",
            &NotifySubscriberRequest {
                base: RequestBase {
                    request_id: Some("1".into()),
                    ..Default::default()
                },
                namespace: String::new(),
                service_name: name.to_string(),
                group_name: group.to_string(),
                service_info: s.info(name, group),
            },
            HashMap::new(),
        );
        let targets: Vec<_> = s
            .subscribers
            .iter()
            .filter_map(|a| g.streams.get(a).cloned())
            .collect();
        drop(guard);
        for t in targets {
            // A full stream drops the push, as a server would not wait.
            let _ = t.try_send(Ok(push.clone()));
        }
    }
}

fn config_key(c: &ConfigBase) -> String {
    format!(
        "{}|{}|{}",
        namespace(c.tenant.as_deref().unwrap_or("")),
        c.group.as_deref().unwrap_or(""),
        c.data_id.as_deref().unwrap_or("")
    )
}

#[tonic::async_trait]
impl RequestService for Ceiling {
    async fn request(
        &self,
        request: tonic::Request<Payload>,
    ) -> Result<tonic::Response<Payload>, tonic::Status> {
        let from = request.remote_addr();
        if let Some(d) = &self.durable
            && request
                .get_ref()
                .metadata
                .as_ref()
                .map(|m| m.r#type.as_str())
                == Some("ConfigPublishRequest")
        {
            let (_, body) = parts(request.get_ref());
            let r: ConfigPublishRequest = serde_json::from_slice(body).unwrap_or_default();
            let content = r.content.as_deref().unwrap_or("");
            if !d.put(&config_key(&r.config), content.as_bytes()).await {
                return Err(tonic::Status::internal("the durable write failed"));
            }
        }
        Ok(tonic::Response::new(self.answer(from, request.get_ref())))
    }
}

type Outbound = Pin<Box<dyn futures::Stream<Item = Result<Payload, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl BiRequestStream for Ceiling {
    type requestBiStreamStream = Outbound;

    async fn request_bi_stream(
        &self,
        request: tonic::Request<tonic::Streaming<Payload>>,
    ) -> Result<tonic::Response<Outbound>, tonic::Status> {
        let from = request.remote_addr();
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(1024);
        let me = self.clone();
        tokio::spawn(async move {
            // The setup registers the stream; acknowledgements of pushes
            // are read and dropped.
            while let Some(Ok(p)) = inbound.next().await {
                if parts(&p).0 == "ConnectionSetupRequest"
                    && let Some(a) = from
                {
                    me.inner.lock().streams.insert(a, tx.clone());
                }
            }
            if let Some(a) = from {
                me.inner.lock().streams.remove(&a);
            }
        });
        Ok(tonic::Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "serviceName", default)]
    service_name: String,
    #[serde(rename = "groupName", default)]
    group_name: String,
    #[serde(rename = "namespaceId", default)]
    namespace: String,
}

#[derive(Deserialize)]
struct ConfigQuery {
    #[serde(rename = "dataId", default)]
    data_id: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    tenant: String,
}

fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

async fn http_list(State(c): State<Ceiling>, Query(q): Query<ListQuery>) -> Bytes {
    let (group, name) = match q.service_name.split_once("@@") {
        Some((g, n)) => (g.to_string(), n.to_string()),
        None if q.group_name.is_empty() => ("DEFAULT_GROUP".into(), q.service_name.clone()),
        None => (q.group_name.clone(), q.service_name.clone()),
    };
    let key = format!("{}|{group}@@{name}", namespace(&q.namespace));
    let mut g = c.inner.lock();
    let s = g.services.entry(key).or_default();
    if s.list.is_none() {
        let full = format!("{group}@@{name}");
        let body = serde_json::to_vec(&s.info(&full, &group)).unwrap_or_default();
        s.list = Some(Bytes::from(body));
    }
    s.list.clone().unwrap_or_default()
}

async fn http_register(State(c): State<Ceiling>, body: Bytes) -> &'static str {
    let f = form(&body);
    let g = |k: &str| f.get(k).cloned();
    let naming = NamingBase {
        namespace: g("namespaceId"),
        service_name: g("serviceName"),
        group_name: g("groupName"),
        ..Default::default()
    };
    let wire = InstanceWire {
        ip: g("ip"),
        port: g("port").and_then(|p| p.parse().ok()).unwrap_or(0),
        metadata: g("metadata")
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default(),
        ..Default::default()
    };
    c.register(&naming_key(&naming), &[wire]);
    "ok"
}

/// The headers Nacos answers a config read with (`ConfigServletInner`):
/// its type, MD5 and last change, and no caching.
fn nacos_config_headers(md5: &str, modified_ms: i64) -> axum::http::HeaderMap {
    use axum::http::{HeaderValue, header};
    let mut h = axum::http::HeaderMap::with_capacity(8);
    let when = UNIX_EPOCH + Duration::from_millis(u64::try_from(modified_ms).unwrap_or(0));
    let date = httpdate::fmt_http_date(when);
    let fixed = [
        (header::CONTENT_TYPE, "text/plain;charset=UTF-8"),
        (header::PRAGMA, "no-cache"),
        (header::EXPIRES, "0"),
        (header::CACHE_CONTROL, "no-cache,no-store"),
        (header::HeaderName::from_static("config-type"), "text"),
        (header::HeaderName::from_static("content-md5"), md5),
        (header::LAST_MODIFIED, date.as_str()),
    ];
    for (name, value) in fixed {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    h
}

async fn http_config(
    State(c): State<Ceiling>,
    Query(q): Query<ConfigQuery>,
) -> Result<(axum::http::HeaderMap, Bytes), axum::http::StatusCode> {
    let key = format!("{}|{}|{}", namespace(&q.tenant), q.group, q.data_id);
    c.inner
        .lock()
        .configs
        .get(&key)
        .map(|c| (c.headers.clone(), c.content.clone()))
        .ok_or(axum::http::StatusCode::NOT_FOUND)
}

async fn http_publish(
    State(c): State<Ceiling>,
    body: Bytes,
) -> Result<&'static str, axum::http::StatusCode> {
    let f = form(&body);
    let g = |k: &str| f.get(k).cloned().unwrap_or_default();
    let key = format!("{}|{}|{}", namespace(&g("tenant")), g("group"), g("dataId"));
    if let Some(d) = &c.durable
        && !d.put(&key, g("content").as_bytes()).await
    {
        return Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    }
    c.put_config(key, g("content").as_bytes());
    Ok("true")
}

/// Serves the ceiling: HTTP on `http`, gRPC on `grpc`, until the process
/// ends. Any other HTTP path answers `hello_size` bytes (the bare
/// hello-world ceiling). With `durable`, publishes are group-committed
/// into a redb database there before they are answered.
pub async fn serve(
    http: SocketAddr,
    grpc: SocketAddr,
    hello_size: usize,
    durable: Option<&Path>,
) -> anyhow::Result<()> {
    let c = Ceiling {
        hello: Bytes::from("x".repeat(hello_size)),
        durable: durable.map(Durable::open).transpose()?,
        ..Default::default()
    };
    let hello = c.hello.clone();
    let app = axum::Router::new()
        .route(
            "/nacos/v1/ns/instance/list",
            get(http_list).with_state(c.clone()),
        )
        .route(
            "/nacos/v1/ns/instance",
            axum::routing::post(http_register).with_state(c.clone()),
        )
        .route(
            "/nacos/v1/cs/configs",
            get(http_config).post(http_publish).with_state(c.clone()),
        )
        .fallback(move || {
            let b = hello.clone();
            async move { b }
        });
    let listener = tokio::net::TcpListener::bind(http).await?;
    let grpc_listener = tokio::net::TcpListener::bind(grpc).await?;
    println!(
        "ceiling listening http={} grpc={}",
        listener.local_addr()?,
        grpc_listener.local_addr()?
    );
    // Small answers go out at once (as from any gRPC server).
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener).map(|s| {
        s.inspect(|s| {
            let _ = s.set_nodelay(true);
        })
    });
    let grpc_server = tonic::transport::Server::builder()
        .add_service(RequestServer::new(c.clone()))
        .add_service(BiRequestStreamServer::new(c))
        .serve_with_incoming(incoming);
    tokio::select! {
        r = axum::serve(listener, app) => r?,
        r = grpc_server => r?,
    }
    Ok(())
}

const CEILING_TABLE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("ceiling");

/// The durable-publish ceiling: `batch` values of `size` bytes per redb
/// transaction, each committed with an fsync, in a fresh database under
/// `dir`, for `seconds`. One row, `publish` / `redb`, with the values
/// written per second and the commit latency.
pub fn redb_publish(dir: &Path, batch: usize, size: usize, seconds: f64) -> anyhow::Result<Row> {
    let path = dir.join("ceiling.redb");
    let _ = std::fs::remove_file(&path);
    let db = redb::Database::create(&path).with_context(|| format!("create {}", path.display()))?;
    let value = vec![b'x'; size];
    let batch = batch.max(1);
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds.max(0.1));
    let mut key = 0u64;
    let mut commits: Vec<Duration> = Vec::new();
    while Instant::now() < until {
        let t0 = Instant::now();
        let txn = db.begin_write()?;
        {
            let mut t = txn.open_table(CEILING_TABLE)?;
            for _ in 0..batch {
                key += 1;
                t.insert(key, value.as_slice())?;
            }
        }
        txn.commit()?;
        commits.push(t0.elapsed());
    }
    let took = started.elapsed().as_secs_f64();
    let s = crate::stats::summarize(&mut commits);
    drop(db);
    let _ = std::fs::remove_file(&path);
    Ok(Row::new("publish", "redb")
        .with("ops_per_s", key as f64 / took)
        .with("p50_ms", s.p50_ms)
        .with("p99_ms", s.p99_ms)
        .with("batch", batch as f64))
}
