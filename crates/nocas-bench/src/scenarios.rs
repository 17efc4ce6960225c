//! The scenarios. Each sets up what it needs under names unique to the run
//! (so repeated runs against one server do not collide), measures, and
//! returns rows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use hyper::Method;
use nocas_proto::grpc::{Payload, payload};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::client::{Conn, Push};
use crate::http::HttpConn;
use crate::load::{Limit, LoadResult, Op, drive};
use crate::report::Row;
use crate::stats::summarize;

/// Where the server listens.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// HTTP address.
    pub http: SocketAddr,
    /// gRPC address.
    pub grpc: SocketAddr,
}

/// A protocol to drive a scenario over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// HTTP Open API v1.
    Http,
    /// Nacos 2.x gRPC.
    Grpc,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Http => "http",
            Via::Grpc => "grpc",
        }
    }
}

/// A prefix unique to this run.
pub fn run_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or(0);
    format!("bench-{}-{nanos}", std::process::id())
}

/// Raises this process's open-files limit to the hard limit.
pub fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Opens `n` gRPC connections, at most `parallel` at a time; each one's
/// pushes go to `tx` tagged with its index.
pub async fn open_many(
    grpc: SocketAddr,
    n: usize,
    parallel: usize,
    tx: Option<mpsc::UnboundedSender<(usize, Push)>>,
) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + parallel).min(n);
        let batch = (start..end).map(|i| {
            let sink = tx.clone().map(|tx| (i, tx));
            Conn::open(grpc, sink)
        });
        for c in futures::future::join_all(batch).await {
            conns.push(c?);
        }
        start = end;
    }
    Ok(conns)
}

// ---- operations ----------------------------------------------------------

type HttpReq = Arc<dyn Fn(u64) -> (Method, String, Option<Bytes>) + Send + Sync>;

struct HttpOp {
    conn: HttpConn,
    req: HttpReq,
}

impl Op for HttpOp {
    async fn call(&mut self, i: u64) -> bool {
        let (m, path, form) = (self.req)(i);
        matches!(self.conn.send(m, &path, form).await, Ok((s, _)) if s.is_success())
    }
}

pub(crate) type GrpcReq = Arc<dyn Fn(u64) -> Payload + Send + Sync>;

struct GrpcOp {
    conn: Conn,
    req: GrpcReq,
}

impl Op for GrpcOp {
    async fn call(&mut self, i: u64) -> bool {
        let p = (self.req)(i);
        self.conn.call_ok(p).await
    }
}

async fn http_load(t: Target, workers: usize, limit: Limit, req: HttpReq) -> LoadResult {
    let ops = (0..workers)
        .map(|_| HttpOp {
            conn: HttpConn::new(t.http),
            req: req.clone(),
        })
        .collect();
    drive(ops, limit).await
}

pub(crate) async fn grpc_load(
    t: Target,
    workers: usize,
    limit: Limit,
    req: GrpcReq,
) -> anyhow::Result<LoadResult> {
    let conns = open_many(t.grpc, workers, 64, None).await?;
    let ops = conns
        .into_iter()
        .map(|conn| GrpcOp {
            conn,
            req: req.clone(),
        })
        .collect();
    Ok(drive(ops, limit).await)
}

pub(crate) fn ip_of(i: u64) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

pub(crate) fn instance_json(ip: &str, port: u64) -> Value {
    json!({"ip": ip, "port": port, "weight": 1.0, "healthy": true, "enabled": true,
        "ephemeral": true, "clusterName": "DEFAULT", "metadata": {"version": "v1"}})
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---- scenarios -------------------------------------------------------------

/// Registrations of new instances: HTTP (1 % of services per run, many
/// instances each) and gRPC (each registration a new service, as one
/// connection holds one instance per service).
pub async fn register(
    t: Target,
    workers: usize,
    limit: Limit,
    via: &[Via],
) -> anyhow::Result<Vec<Row>> {
    let prefix = run_prefix();
    let mut rows = Vec::new();
    for v in via {
        let r = match v {
            Via::Http => {
                let p = prefix.clone();
                let req: HttpReq = Arc::new(move |i| {
                    let form = format!(
                        "serviceName={p}-hreg-{}&ip={}&port={}&ephemeral=true&metadata={}",
                        i % 100,
                        ip_of(i),
                        1000 + (i >> 24),
                        enc("{\"version\":\"v1\"}")
                    );
                    (
                        Method::POST,
                        "/nacos/v1/ns/instance".to_string(),
                        Some(Bytes::from(form)),
                    )
                });
                http_load(t, workers, limit, req).await
            }
            Via::Grpc => {
                let p = prefix.clone();
                let req: GrpcReq = Arc::new(move |i| {
                    let body = json!({"namespace": "public", "serviceName": format!("{p}-greg-{i}"),
                        "groupName": "DEFAULT_GROUP", "type": "registerInstance",
                        "instance": instance_json(&ip_of(i), 8080), "headers": {}});
                    payload("InstanceRequest", &body, HashMap::new())
                });
                grpc_load(t, workers, limit, req).await?
            }
        };
        rows.push(Row::from_load("register", v.name(), &r));
    }
    Ok(rows)
}

/// Closed-loop GETs of one path.
async fn get_load(t: Target, workers: usize, limit: Limit, path: String) -> LoadResult {
    http_load(
        t,
        workers,
        limit,
        Arc::new(move |_| (Method::GET, path.clone(), None)),
    )
    .await
}

/// One read scenario over each protocol: an HTTP GET of `path`, or the
/// same gRPC request again and again.
async fn read_rows(
    scenario: &str,
    t: Target,
    workers: usize,
    limit: Limit,
    via: &[Via],
    path: String,
    query: Payload,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for v in via {
        // The size of one answer, so the ceiling's answers can be seen to
        // be as large as the server's.
        let (r, bytes) = match v {
            Via::Http => {
                let (_, body) = HttpConn::new(t.http).send(Method::GET, &path, None).await?;
                (get_load(t, workers, limit, path.clone()).await, body.len())
            }
            Via::Grpc => {
                let bytes = Conn::open(t.grpc, None)
                    .await?
                    .body_bytes(query.clone())
                    .await?;
                let q = query.clone();
                let r = grpc_load(t, workers, limit, Arc::new(move |_| q.clone())).await?;
                (r, bytes)
            }
        };
        rows.push(Row::from_load(scenario, v.name(), &r).with("resp_bytes", bytes as f64));
    }
    Ok(rows)
}

/// Instance list of one service with `instances` instances (registered
/// over gRPC and kept alive for the run).
pub async fn list(
    t: Target,
    workers: usize,
    limit: Limit,
    via: &[Via],
    instances: usize,
) -> anyhow::Result<Vec<Row>> {
    let service = format!("{}-list", run_prefix());
    let mut owner = Conn::open(t.grpc, None).await?;
    batch_register(&mut owner, &service, 0, instances).await?;
    let query = payload(
        "ServiceQueryRequest",
        &json!({"namespace": "public", "serviceName": service, "groupName": "DEFAULT_GROUP",
            "cluster": "", "healthyOnly": false, "udpPort": 0, "headers": {}}),
        HashMap::new(),
    );
    let path = format!("/nacos/v1/ns/instance/list?serviceName={service}");
    let rows = read_rows("list", t, workers, limit, via, path, query).await?;
    drop(owner);
    Ok(rows)
}

pub(crate) async fn batch_register(
    conn: &mut Conn,
    service: &str,
    base: usize,
    n: usize,
) -> anyhow::Result<()> {
    let instances: Vec<Value> = (0..n)
        .map(|i| instance_json(&ip_of((base + i) as u64), 8080))
        .collect();
    let body = json!({"namespace": "public", "serviceName": service, "groupName": "DEFAULT_GROUP",
        "type": "batchRegisterInstance", "instances": instances, "headers": {}});
    let (t, b) = conn.call("BatchInstanceRequest", body).await?;
    if b["resultCode"] != 200 {
        bail!("batch register of {service} failed: {t} {b}");
    }
    Ok(())
}

pub(crate) async fn http_publish(t: Target, data_id: &str, content: &str) -> anyhow::Result<()> {
    let mut c = HttpConn::new(t.http);
    let form = format!(
        "dataId={}&group=DEFAULT_GROUP&content={}",
        enc(data_id),
        enc(content)
    );
    let (status, body) = c.post("/nacos/v1/cs/configs", &form).await?;
    if !status.is_success() {
        bail!(
            "publish {data_id}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Config get of one config of `size` bytes.
pub async fn config_get(
    t: Target,
    workers: usize,
    limit: Limit,
    via: &[Via],
    size: usize,
) -> anyhow::Result<Vec<Row>> {
    let data_id = format!("{}-get", run_prefix());
    http_publish(t, &data_id, &"x".repeat(size)).await?;
    let query = payload(
        "ConfigQueryRequest",
        &json!({"dataId": data_id, "group": "DEFAULT_GROUP", "tenant": "", "tag": "", "headers": {}}),
        HashMap::new(),
    );
    let path = format!("/nacos/v1/cs/configs?dataId={data_id}&group=DEFAULT_GROUP");
    read_rows("config-get", t, workers, limit, via, path, query).await
}

/// (count, sum) of the target's `nocas_raft_batch_commands` histogram, if
/// it has one.
async fn batches(t: Target) -> Option<(f64, f64)> {
    let (status, body) = HttpConn::new(t.http)
        .send(Method::GET, "/metrics", None)
        .await
        .ok()?;
    if !status.is_success() {
        return None;
    }
    let text = String::from_utf8_lossy(&body);
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    Some((
        value("nocas_raft_batch_commands_count ")?,
        value("nocas_raft_batch_commands_sum ")?,
    ))
}

/// Durable config publishes, each of a new config of `size` bytes.
pub async fn publish(
    t: Target,
    workers: usize,
    limit: Limit,
    via: &[Via],
    size: usize,
) -> anyhow::Result<Vec<Row>> {
    let prefix = run_prefix();
    let content = "x".repeat(size);
    let mut rows = Vec::new();
    for v in via {
        let before = batches(t).await;
        let r = match v {
            Via::Http => {
                let p = prefix.clone();
                let c = enc(&content);
                http_load(
                    t,
                    workers,
                    limit,
                    Arc::new(move |i| {
                        let form = format!("dataId={p}-hpub-{i}&group=DEFAULT_GROUP&content={c}");
                        (
                            Method::POST,
                            "/nacos/v1/cs/configs".into(),
                            Some(Bytes::from(form)),
                        )
                    }),
                )
                .await
            }
            Via::Grpc => {
                let p = prefix.clone();
                let c = content.clone();
                grpc_load(
                    t,
                    workers,
                    limit,
                    Arc::new(move |i| {
                        payload(
                            "ConfigPublishRequest",
                            &json!({"dataId": format!("{p}-gpub-{i}"), "group": "DEFAULT_GROUP",
                                "tenant": "", "content": c, "headers": {}}),
                            HashMap::new(),
                        )
                    }),
                )
                .await?
            }
        };
        let mut row = Row::from_load("publish", v.name(), &r);
        // Nocas says how many commands its group commit put in each log
        // entry: the batch size of the redb ceiling.
        if let (Some(a), Some(b)) = (before, batches(t).await) {
            let (n, sum) = (b.0 - a.0, b.1 - a.1);
            if n > 0.0 {
                row = row.with("batch", sum / n);
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Collects, for one round, the first push per connection matching `hit`;
/// returns the delays from `t0` and how many connections missed it.
async fn collect_round(
    rx: &mut mpsc::UnboundedReceiver<(usize, Push)>,
    n: usize,
    t0: Instant,
    timeout: Duration,
    hit: impl Fn(&Push) -> bool,
) -> (Vec<Duration>, usize) {
    let mut seen = vec![false; n];
    let mut got = 0;
    let mut samples = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + timeout;
    while got < n {
        let Ok(Some((i, p))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        if !seen[i] && hit(&p) {
            seen[i] = true;
            got += 1;
            samples.push(p.at.saturating_duration_since(t0));
        }
    }
    (samples, n - got)
}

fn push_row(
    scenario: &str,
    n: usize,
    rounds: usize,
    missed: usize,
    samples: &mut [Duration],
) -> Row {
    let s = summarize(samples);
    Row::new(scenario, format!("S={n}"))
        .with("p50_ms", s.p50_ms)
        .with("p99_ms", s.p99_ms)
        .with("max_ms", s.max_ms)
        .with("pushes", s.count as f64)
        .with("missed", missed as f64)
        .with("rounds", rounds as f64)
}

/// How long subscriptions are left to settle before push rounds start.
pub(crate) const SUBSCRIPTION_SETTLE: Duration = Duration::from_millis(600);

/// Naming push fan-out: S subscribers of one service; each round registers
/// an instance and times the push to every subscriber.
pub async fn push(
    t: Target,
    subscribers: &[usize],
    rounds: usize,
    round_timeout: Duration,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &s in subscribers {
        let service = format!("{}-push-{s}", run_prefix());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut subs = open_many(t.grpc, s, 64, Some(tx)).await?;
        let sub = json!({"namespace": "public", "serviceName": service, "groupName": "DEFAULT_GROUP",
            "subscribe": true, "clusters": "", "headers": {}});
        for c in &mut subs {
            let (ty, _) = c.call("SubscribeServiceRequest", sub.clone()).await?;
            if ty != "SubscribeServiceResponse" {
                bail!("subscribe failed: {ty}");
            }
        }
        // Servers may hold the first push after a subscription (Nocas:
        // grpc.subscribe_push_hold_ms, 500 ms; Nacos delays every push
        // 500 ms): the rounds time steady-state pushes, so they start after.
        tokio::time::sleep(SUBSCRIPTION_SETTLE).await;
        // Drop the pushes of the subscriptions themselves.
        while rx.try_recv().is_ok() {}
        let mut driver = Conn::open(t.grpc, None).await?;
        let mut samples = Vec::with_capacity(s * rounds);
        let mut missed = 0;
        for r in 0..rounds {
            let port = 20_000 + r as u64;
            let reg = json!({"namespace": "public", "serviceName": service, "groupName": "DEFAULT_GROUP",
                "type": "registerInstance", "instance": instance_json("10.99.0.1", port), "headers": {}});
            let t0 = Instant::now();
            let (ty, b) = driver.call("InstanceRequest", reg).await?;
            if b["resultCode"] != 200 {
                bail!("register failed: {ty} {b}");
            }
            let (got, m) = collect_round(&mut rx, s, t0, round_timeout, |p| {
                p.kind == "NotifySubscriberRequest" && p.has_number("port", port)
            })
            .await;
            samples.extend(got);
            missed += m;
        }
        rows.push(push_row("push", s, rounds, missed, &mut samples));
    }
    Ok(rows)
}

/// Config push fan-out: S listeners of one config; each round publishes a
/// new content and times the change notification to every listener.
pub async fn listen(
    t: Target,
    listeners: &[usize],
    rounds: usize,
    round_timeout: Duration,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &s in listeners {
        let data_id = format!("{}-listen-{s}", run_prefix());
        http_publish(t, &data_id, "v0").await?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut conns = open_many(t.grpc, s, 64, Some(tx)).await?;
        let body = json!({"listen": true, "configListenContexts": [
            {"dataId": data_id, "group": "DEFAULT_GROUP", "tenant": "", "md5": md5_hex("v0")}], "headers": {}});
        for c in &mut conns {
            let (ty, _) = c.call("ConfigBatchListenRequest", body.clone()).await?;
            if ty != "ConfigChangeBatchListenResponse" {
                bail!("listen failed: {ty}");
            }
        }
        while rx.try_recv().is_ok() {}
        let mut driver = Conn::open(t.grpc, None).await?;
        let mut samples = Vec::with_capacity(s * rounds);
        let mut missed = 0;
        for r in 0..rounds {
            let publish = json!({"dataId": data_id, "group": "DEFAULT_GROUP", "tenant": "",
                "content": format!("v{}", r + 1), "headers": {}});
            let t0 = Instant::now();
            let (ty, b) = driver.call("ConfigPublishRequest", publish).await?;
            if b["resultCode"] != 200 {
                bail!("publish failed: {ty} {b}");
            }
            let (got, m) = collect_round(&mut rx, s, t0, round_timeout, |p| {
                p.kind == "ConfigChangeNotifyRequest" && p.has_string("dataId", &data_id)
            })
            .await;
            samples.extend(got);
            missed += m;
            // Let late duplicates of this round drain before the next.
            while rx.try_recv().is_ok() {}
        }
        rows.push(push_row("listen", s, rounds, missed, &mut samples));
    }
    Ok(rows)
}

pub(crate) fn md5_hex(s: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(s.as_bytes()))
}

/// Waits until the RSS of `pid` stops growing (or 3 s), returns it.
async fn settled_rss(pid: u32) -> anyhow::Result<u64> {
    let mut last = rss_kib(pid)?;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = rss_kib(pid)?;
        if now <= last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// Server memory: idle, then at each instance count (registered over gRPC
/// in batches of 1,000 per service, spread over `conns` connections that
/// stay open), then with `configs` more configs.
pub async fn footprint(
    t: Target,
    pid: u32,
    levels: &[usize],
    configs: usize,
    conns: usize,
) -> anyhow::Result<Vec<Row>> {
    const PER_SERVICE: usize = 1000;
    let prefix = run_prefix();
    let mut rows =
        vec![Row::new("footprint", "start").with("rss_mib", mib(settled_rss(pid).await?))];
    let mut owners = open_many(t.grpc, conns.max(1), 64, None).await?;
    let mut done = 0usize;
    for &level in levels {
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        let next = Arc::new(AtomicUsize::new(done));
        for mut owner in owners.drain(..) {
            let next = next.clone();
            let prefix = prefix.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let base = next.fetch_add(PER_SERVICE, Ordering::Relaxed);
                    if base >= level {
                        break;
                    }
                    let n = PER_SERVICE.min(level - base);
                    let service = format!("{prefix}-fp-{}", base / PER_SERVICE);
                    batch_register(&mut owner, &service, base, n).await?;
                }
                anyhow::Ok(owner)
            }));
        }
        for task in tasks {
            owners.push(task.await??);
        }
        let secs = t0.elapsed().as_secs_f64();
        let added = level.saturating_sub(done);
        done = done.max(level);
        rows.push(
            Row::new("footprint", format!("{level} instances"))
                .with("rss_mib", mib(settled_rss(pid).await?))
                .with("instances_per_s", added as f64 / secs.max(1e-9)),
        );
    }
    if configs > 0 {
        let mut c = open_many(t.grpc, 1, 1, None).await?;
        let t0 = Instant::now();
        let content = "x".repeat(256);
        for i in 0..configs {
            let body = json!({"dataId": format!("{prefix}-fpc-{i}"), "group": "DEFAULT_GROUP",
                "tenant": "", "content": content, "headers": {}});
            let (ty, b) = c[0].call("ConfigPublishRequest", body).await?;
            if b["resultCode"] != 200 {
                bail!("publish failed: {ty} {b}");
            }
        }
        rows.push(
            Row::new("footprint", format!("+{configs} configs"))
                .with("rss_mib", mib(settled_rss(pid).await?))
                .with(
                    "configs_per_s",
                    configs as f64 / t0.elapsed().as_secs_f64().max(1e-9),
                ),
        );
    }
    drop(owners);
    Ok(rows)
}

/// Fills a server for the scale measurements: `configs` configs of `size`
/// bytes, each published `versions` times over gRPC (so each has that many
/// history records), then `instances` persistent instances over HTTP, 1,000
/// per service. Every write must succeed. Names start with `prefix`.
pub async fn fill(
    t: Target,
    workers: usize,
    prefix: &str,
    configs: usize,
    versions: usize,
    size: usize,
    instances: usize,
) -> anyhow::Result<Vec<Row>> {
    let all = |n: usize| Limit {
        count: Some(n as u64),
        duration: Duration::from_secs(365 * 24 * 3600),
        warmup: Duration::ZERO,
    };
    let mut rows = Vec::new();
    let writes = configs * versions;
    if writes > 0 {
        // Printable text, different in every version.
        let body: String = (0..size)
            .map(|i| char::from(b' ' + ((i * 7 + i / 95) % 95) as u8))
            .collect();
        let (p, body) = (prefix.to_string(), Arc::new(body));
        let r = grpc_load(
            t,
            workers,
            all(writes),
            Arc::new(move |i| {
                let i = i as usize;
                let head = format!("{:>16}", i / configs);
                let content = format!("{head}{}", &body[head.len().min(body.len())..]);
                payload(
                    "ConfigPublishRequest",
                    &json!({"dataId": format!("{p}-{}", i % configs), "group": "SCALE",
                        "tenant": "", "content": content, "headers": {}}),
                    HashMap::new(),
                )
            }),
        )
        .await?;
        if r.errors > 0 || r.ok < writes as u64 {
            bail!("{} of {writes} publishes failed", writes as u64 - r.ok);
        }
        rows.push(Row::from_load(
            "fill",
            format!("{configs} configs x{versions}"),
            &r,
        ));
    }
    if instances > 0 {
        let p = prefix.to_string();
        let r = http_load(
            t,
            workers,
            all(instances),
            Arc::new(move |i| {
                let form = format!(
                    "serviceName={p}-svc-{}&groupName=SCALE&ip=10.{}.{}.{}&port=8080&ephemeral=false",
                    i / 1000,
                    (i >> 16) & 255,
                    (i >> 8) & 255,
                    i & 255
                );
                (Method::POST, "/nacos/v1/ns/instance".into(), Some(Bytes::from(form)))
            }),
        )
        .await;
        if r.errors > 0 || r.ok < instances as u64 {
            bail!(
                "{} of {instances} registrations failed",
                instances as u64 - r.ok
            );
        }
        rows.push(Row::from_load(
            "fill",
            format!("{instances} persistent instances"),
            &r,
        ));
    }
    Ok(rows)
}

/// Start-up: runs `cmd` (each `{dir}` replaced by a fresh directory)
/// `runs` times; time to the first HTTP answer on `http`, and RSS a second
/// later.
pub async fn startup(cmd: &[String], http: SocketAddr, runs: usize) -> anyhow::Result<Vec<Row>> {
    let (program, args) = cmd.split_first().context("no command")?;
    let mut firsts = Vec::new();
    let mut idles = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        let d = dir.path().to_string_lossy().into_owned();
        let args: Vec<String> = args.iter().map(|a| a.replace("{dir}", &d)).collect();
        let t0 = Instant::now();
        let mut child = Command::new(program.replace("{dir}", &d))
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {program}"))?;
        let answered = loop {
            let mut c = HttpConn::new(http);
            if c.get("/nacos/v1/ns/instance/list?serviceName=startup-probe")
                .await
                .is_ok()
            {
                break Some(t0.elapsed());
            }
            if t0.elapsed() > Duration::from_secs(30) || child.try_wait()?.is_some() {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let Some(first) = answered else {
            let _ = child.kill();
            bail!("{program} never answered on {http}");
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = rss_kib(child.id());
        // SAFETY: kill(2) on our own child with a valid signal.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let stop = Instant::now();
        while child.try_wait()?.is_none() {
            if stop.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        firsts.push(first);
        idles.push(mib(idle?));
    }
    let s = summarize(&mut firsts);
    idles.sort_by(f64::total_cmp);
    Ok(vec![
        Row::new("startup", "first answer")
            .with("median_ms", s.p50_ms)
            .with("max_ms", s.max_ms)
            .with(
                "idle_rss_mib",
                idles.get(idles.len() / 2).copied().unwrap_or(f64::NAN),
            )
            .with("runs", runs as f64),
    ])
}

/// Server memory per open gRPC connection.
pub async fn connections(t: Target, count: usize, pid: u32) -> anyhow::Result<Vec<Row>> {
    let before = settled_rss(pid).await?;
    let conns = open_many(t.grpc, count, 64, None).await?;
    let after = settled_rss(pid).await?;
    let per = (after.saturating_sub(before) * 1024) / count.max(1) as u64;
    drop(conns);
    Ok(vec![
        Row::new("connections", format!("{count} connections"))
            .with("rss_before_mib", mib(before))
            .with("rss_after_mib", mib(after))
            .with("bytes_per_connection", per as f64)
            .with(
                "connections_per_gib",
                (1u64 << 30).checked_div(per).unwrap_or(0) as f64,
            ),
    ])
}

/// HTTP GET of any path on the target (the ceiling: a bare server).
pub async fn ceiling(t: Target, path: &str, workers: usize, limit: Limit) -> Vec<Row> {
    let r = get_load(t, workers, limit, path.to_string()).await;
    vec![Row::from_load("ceiling", "http", &r)]
}

/// Serves a bare axum hello-world answering `size` bytes on every path
/// (the ceiling of an HTTP request on this machine).
pub async fn hello(addr: SocketAddr, size: usize) -> anyhow::Result<()> {
    let body = Bytes::from("x".repeat(size));
    let app = axum::Router::new().fallback(move || {
        let b = body.clone();
        async move { b }
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("hello listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
