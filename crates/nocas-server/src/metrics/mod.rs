//! Prometheus metrics, served on `/nacos/actuator/prometheus` and
//! `/metrics`: Nocas's own (`nocas_*`, `process_*`), and the names and
//! labels Nacos serves, so the Grafana dashboards built for Nacos work
//! unchanged (`nacos_monitor`, `nacos_timer_seconds`,
//! `nacos_exception_total`, `http_server_requests_seconds`,
//! `grpc_server_requests_seconds`, `grpc_server_executor`,
//! `nacos_config_subscriber`, `nacos_naming_subscriber`,
//! `nacos_naming_publisher`, `system_cpu_usage`, `system_load_average_1m`).
//! Nacos's JVM series (`jvm_*`) have no meaning here and are not served.
//!
//! Owns counting and rendering. Counters and histograms are fed where
//! things happen; gauges of what the server holds are sampled when
//! scraped ([`Sample`]). Every label value comes from a bounded set
//! ([`labels`]), so no workload adds series.

pub mod labels;
pub mod system;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    class: &'static str,
}

/// Why a login or a call was refused (the `kind` of
/// `nocas_auth_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthFailure {
    /// Unknown user or wrong password.
    Login,
    /// Login refused while locked out.
    Locked,
    /// Missing, expired, invalid or revoked token.
    Token,
    /// Valid token without the right.
    Denied,
}

impl AuthFailure {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::Login, Self::Locked, Self::Token, Self::Denied];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Locked => "locked",
            Self::Token => "token",
            Self::Denied => "denied",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MonitorLabel {
    module: &'static str,
    name: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExecutorLabel {
    module: &'static str,
    r#type: &'static str,
    name: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabel {
    exception: &'static str,
    method: &'static str,
    outcome: &'static str,
    status: u16,
    uri: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
#[allow(non_snake_case)]
struct GrpcLabel {
    errorCode: i32,
    module: &'static str,
    requestClass: &'static str,
    success: bool,
    throwableClass: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SdkLabel {
    sdk: &'static str,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
    peer: u64,
}

/// What a push carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    /// A service's instances.
    Service,
    /// A config change notice.
    Config,
    /// A fuzzy-watch notice.
    Fuzzy,
}

impl PushKind {
    fn label(self) -> &'static str {
        match self {
            PushKind::Service => "service",
            PushKind::Config => "config",
            PushKind::Fuzzy => "fuzzy",
        }
    }
}

/// Health checks Nacos counts (`httpHealthCheck`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// TCP connect.
    Tcp,
    /// HTTP GET.
    Http,
    /// MySQL (never run by Nocas; kept for the series).
    Mysql,
}

/// Nacos `nacos_exception_total` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exception {
    /// A config call refused its arguments.
    IllegalArgument,
    /// A config call failed otherwise.
    Nacos,
    /// A config change notice could not be delivered.
    ConfigNotify,
    /// The store failed a config write.
    Db,
    /// The store failed a naming write.
    Disk,
    /// A cluster member stopped answering heartbeats.
    LeaderSendBeatFailed,
    /// A health probe found the server unhealthy.
    Unhealth,
}

impl Exception {
    fn label(self) -> MonitorLabel {
        let (module, name) = match self {
            Exception::IllegalArgument => ("config", "illegalArgument"),
            Exception::Nacos => ("config", "nacos"),
            Exception::ConfigNotify => ("config", "configNotify"),
            Exception::Db => ("config", "db"),
            Exception::Unhealth => ("config", "unhealth"),
            Exception::Disk => ("naming", "disk"),
            Exception::LeaderSendBeatFailed => ("naming", "leaderSendBeatFailed"),
        };
        MonitorLabel { module, name }
    }

    const ALL: [Exception; 7] = [
        Exception::IllegalArgument,
        Exception::Nacos,
        Exception::ConfigNotify,
        Exception::Db,
        Exception::Unhealth,
        Exception::Disk,
        Exception::LeaderSendBeatFailed,
    ];
}

/// A count since the last midnight (UTC), as Nacos's daily gauges are.
#[derive(Debug, Default)]
struct Daily {
    day: AtomicI64,
    count: AtomicU64,
}

impl Daily {
    fn today() -> i64 {
        crate::app::now_ms().div_euclid(86_400_000)
    }

    fn inc(&self) {
        let today = Self::today();
        if self.day.swap(today, Ordering::Relaxed) != today {
            self.count.store(0, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> i64 {
        if self.day.load(Ordering::Relaxed) != Self::today() {
            0
        } else {
            self.count.load(Ordering::Relaxed) as i64
        }
    }
}

/// Naming push costs over a 60 s window (Nacos's avg/maxPushCost).
#[derive(Debug)]
struct PushWindow {
    started: Instant,
    count: u64,
    sum_ms: u64,
    max_ms: u64,
}

/// Gauges of what the server holds, sampled when scraped.
#[derive(Debug, Default, Clone)]
pub struct Sample {
    /// Ephemeral instances.
    pub ephemeral_instances: i64,
    /// Persistent instances.
    pub persistent_instances: i64,
    /// Services.
    pub services: i64,
    /// Configs (formal versions).
    pub configs: i64,
    /// Custom namespaces (plus public).
    pub namespaces: i64,
    /// Held HTTP long polls.
    pub long_polls: i64,
    /// Registered gRPC connections.
    pub grpc_connections: i64,
    /// gRPC connections per declared module (`config`, `naming`, `lock`,
    /// `unknown`).
    pub connections_by_module: Vec<(&'static str, i64)>,
    /// gRPC connections per SDK family and `major.minor` version.
    pub connections_by_sdk: Vec<((&'static str, String), i64)>,
    /// gRPC connections listening to at least one config.
    pub config_listening_connections: i64,
    /// Service subscriptions held by gRPC connections.
    pub grpc_subscriptions: i64,
    /// Service subscriptions of HTTP/UDP clients.
    pub udp_subscriptions: i64,
    /// Naming pushes waiting to be sent.
    pub naming_push_pending: i64,
    /// Config notices waiting to be sent.
    pub config_push_pending: i64,
    /// Ephemeral instances registered over gRPC.
    pub grpc_publishers: i64,
    /// Ephemeral instances registered over HTTP.
    pub http_publishers: i64,
    /// Raft state.
    pub raft: RaftSample,
    /// Soft-state replication per peer: (peer id, pending services,
    /// seconds since last heard).
    pub soft_peers: Vec<(u64, i64, f64)>,
    /// Audit records held.
    pub audit_records: i64,
}

/// Raft figures of this node.
#[derive(Debug, Default, Clone)]
pub struct RaftSample {
    /// Current term.
    pub term: i64,
    /// Last log index.
    pub last_log_index: i64,
    /// Last index known committed.
    pub committed: i64,
    /// Last applied index.
    pub last_applied: i64,
    /// Last snapshot index.
    pub snapshot: i64,
    /// 1 when this node leads.
    pub is_leader: bool,
    /// Voting members.
    pub voters: i64,
    /// Leader only: per follower, entries it is behind.
    pub replication_lag: Vec<(u64, i64)>,
}

/// Running totals the console samples to draw rates.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// HTTP requests answered.
    pub http_requests: u64,
    /// gRPC requests answered.
    pub grpc_requests: u64,
    /// Pushes acknowledged.
    pub pushes: u64,
    /// Sum of their send-to-acknowledgement times, in microseconds.
    pub push_micros: u64,
}

/// Everything the server counts.
pub struct Metrics {
    registry: Registry,
    // Nocas's own.
    by_class: [Counter; 5],
    instances: Family<KindLabel, Gauge>,
    services: Gauge,
    configs: Gauge,
    namespaces: Gauge,
    connections: Family<KindLabel, Gauge>,
    grpc_by_sdk: Family<SdkLabel, Gauge>,
    grpc_requests: Counter,
    grpc_active: Gauge,
    push_seconds: Histogram,
    push_latency: Family<KindLabel, Histogram>,
    push_retries: Family<KindLabel, Counter>,
    push_failed: Family<KindLabel, Counter>,
    push_dropped: Counter,
    push_micros: Counter,
    push_count: Counter,
    raft_term: Gauge,
    raft_last_log: Gauge,
    raft_committed: Gauge,
    raft_last_applied: Gauge,
    raft_apply_lag: Gauge,
    raft_snapshot: Gauge,
    raft_is_leader: Gauge,
    raft_voters: Gauge,
    raft_leader_changes: Counter,
    raft_replication_lag: Family<PeerLabel, Gauge>,
    raft_batch: Histogram,
    snapshot_build: Histogram,
    snapshot_install: Histogram,
    snapshot_bytes: Gauge,
    fsync_seconds: Histogram,
    fsync_entries: Histogram,
    fsync_bytes: Counter,
    soft_pending: Family<PeerLabel, Gauge>,
    soft_silence: Family<PeerLabel, Gauge<f64, AtomicU64>>,
    audit_records: Gauge,
    slow_requests: Counter,
    auth_failures: Family<KindLabel, Counter>,
    push_revoked: Counter,
    audit_skipped: Counter,
    runtime_tasks: Gauge,
    process_rss: Gauge,
    process_virtual: Gauge,
    process_cpu: Counter<f64, AtomicU64>,
    process_cpu_last: Mutex<f64>,
    process_fds: Gauge,
    process_max_fds: Gauge,
    process_threads: Gauge,
    process_start: Gauge<f64, AtomicU64>,
    // Nacos's names.
    monitor: Family<MonitorLabel, Gauge>,
    read_config_rt: Histogram,
    write_config_rt: Histogram,
    notify_rt: Histogram,
    exceptions: Family<MonitorLabel, Counter>,
    http: Family<HttpLabel, Histogram>,
    /// The histogram of each (route, method, status) seen, found without
    /// building a label (every series is also in `http`).
    http_cache: parking_lot::RwLock<HttpCache>,
    grpc: Family<GrpcLabel, Histogram>,
    executor: Family<ExecutorLabel, Gauge>,
    config_subscriber: Family<VersionLabel, Gauge>,
    naming_subscriber: Family<VersionLabel, Gauge>,
    naming_publisher: Family<VersionLabel, Gauge>,
    system_cpu: Gauge<f64, AtomicU64>,
    process_cpu_usage: Gauge<f64, AtomicU64>,
    system_load: Gauge<f64, AtomicU64>,
    system_cpus: Gauge,
    get_config: Daily,
    publish: Daily,
    fuzzy_search: Daily,
    total_push: Daily,
    failed_push: Daily,
    empty_push: Daily,
    checks: [Daily; 3],
    window: Mutex<PushWindow>,
    system: system::Reader,
    render_lock: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Route template → (method, status, histogram).
type HttpCache = std::collections::HashMap<
    String,
    Vec<(&'static str, u16, Histogram)>,
    foldhash::fast::RandomState,
>;

/// Most distinct (SDK, version) series kept; more versions count as
/// `other`.
const MAX_SDK_SERIES: usize = 64;

fn latency_buckets() -> impl Iterator<Item = f64> {
    // 0.5 ms .. ~16 s.
    exponential_buckets(0.0005, 2.0, 16)
}

fn histogram_family<L>() -> Family<L, Histogram>
where
    L: Clone + std::hash::Hash + Eq,
{
    Family::new_with_constructor(|| Histogram::new(latency_buckets()))
}

macro_rules! reg {
    ($r:expr, $name:expr, $help:expr, $m:expr) => {{
        let m = $m;
        $r.register($name, $help, m.clone());
        m
    }};
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let requests = reg!(
            r,
            "nocas_http_requests",
            "HTTP requests by status class",
            Family::<StatusLabel, Counter>::default()
        );
        let by_class = ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .map(|class| requests.get_or_create(&StatusLabel { class }).clone());
        let timer: Family<MonitorLabel, Histogram> = reg!(
            r,
            "nacos_timer_seconds",
            "Nacos config timers: readConfigRt, writeConfigRt, notifyRt",
            histogram_family()
        );
        let config_timer = |name| {
            timer
                .get_or_create(&MonitorLabel {
                    module: "config",
                    name,
                })
                .clone()
        };
        let m = Self {
            by_class,
            instances: reg!(
                r,
                "nocas_instances",
                "Registered instances",
                Family::default()
            ),
            services: reg!(r, "nocas_services", "Services", Gauge::default()),
            configs: reg!(r, "nocas_configs", "Configs", Gauge::default()),
            namespaces: reg!(
                r,
                "nocas_namespaces",
                "Namespaces, public included",
                Gauge::default()
            ),
            connections: reg!(
                r,
                "nocas_connections",
                "Open client connections and held long polls",
                Family::default()
            ),
            grpc_by_sdk: reg!(
                r,
                "nocas_grpc_connections",
                "gRPC connections by client SDK and major.minor version",
                Family::default()
            ),
            grpc_requests: reg!(
                r,
                "nocas_grpc_requests",
                "gRPC requests answered",
                Counter::default()
            ),
            grpc_active: reg!(
                r,
                "nocas_grpc_requests_active",
                "gRPC requests being handled",
                Gauge::default()
            ),
            push_seconds: reg!(
                r,
                "nocas_push_ack_seconds",
                "Time from sending a push to its acknowledgement",
                Histogram::new(latency_buckets())
            ),
            push_latency: reg!(
                r,
                "nocas_push_latency_seconds",
                "Time from a change to the client's acknowledgement of its push",
                histogram_family()
            ),
            push_retries: reg!(
                r,
                "nocas_push_retries",
                "Pushes sent again for want of an acknowledgement",
                Family::default()
            ),
            push_failed: reg!(
                r,
                "nocas_push_failed",
                "Pushes never acknowledged after every retry",
                Family::default()
            ),
            push_dropped: reg!(
                r,
                "nocas_push_dropped",
                "Connections closed because their push queue overflowed",
                Counter::default()
            ),
            push_micros: Counter::default(),
            push_count: Counter::default(),
            raft_term: reg!(r, "nocas_raft_term", "Current Raft term", Gauge::default()),
            raft_last_log: reg!(
                r,
                "nocas_raft_last_log_index",
                "Index of the last log entry",
                Gauge::default()
            ),
            raft_committed: reg!(
                r,
                "nocas_raft_commit_index",
                "Index of the last entry known committed",
                Gauge::default()
            ),
            raft_last_applied: reg!(
                r,
                "nocas_raft_last_applied",
                "Index of the last applied log entry",
                Gauge::default()
            ),
            raft_apply_lag: reg!(
                r,
                "nocas_raft_apply_lag",
                "Log entries not applied yet",
                Gauge::default()
            ),
            raft_snapshot: reg!(
                r,
                "nocas_raft_snapshot_index",
                "Index of the last snapshot",
                Gauge::default()
            ),
            raft_is_leader: reg!(
                r,
                "nocas_raft_is_leader",
                "1 when this node leads",
                Gauge::default()
            ),
            raft_voters: reg!(r, "nocas_raft_voters", "Voting members", Gauge::default()),
            raft_leader_changes: reg!(
                r,
                "nocas_raft_leader_changes",
                "Leader changes seen by this node",
                Counter::default()
            ),
            raft_replication_lag: reg!(
                r,
                "nocas_raft_replication_lag",
                "Leader only: entries a follower is behind",
                Family::default()
            ),
            raft_batch: reg!(
                r,
                "nocas_raft_batch_commands",
                "Commands per proposed log entry (group commit)",
                Histogram::new(exponential_buckets(1.0, 2.0, 13))
            ),
            snapshot_build: reg!(
                r,
                "nocas_raft_snapshot_build_seconds",
                "Time to build a snapshot (write, sync and keep its file)",
                Histogram::new(exponential_buckets(0.005, 2.0, 18))
            ),
            snapshot_install: reg!(
                r,
                "nocas_raft_snapshot_install_seconds",
                "Time to check and install a received snapshot",
                Histogram::new(exponential_buckets(0.005, 2.0, 18))
            ),
            snapshot_bytes: reg!(
                r,
                "nocas_raft_snapshot_bytes",
                "Size of the last snapshot built or installed",
                Gauge::default()
            ),
            fsync_seconds: reg!(
                r,
                "nocas_store_fsync_seconds",
                "Time of a durable log append (commit and fsync)",
                Histogram::new(latency_buckets())
            ),
            fsync_entries: reg!(
                r,
                "nocas_store_fsync_entries",
                "Log entries per durable append",
                Histogram::new(exponential_buckets(1.0, 2.0, 11))
            ),
            fsync_bytes: reg!(
                r,
                "nocas_store_log_bytes",
                "Bytes appended to the log",
                Counter::default()
            ),
            soft_pending: reg!(
                r,
                "nocas_soft_sync_pending",
                "Services with ephemeral changes not yet sent to a peer",
                Family::default()
            ),
            soft_silence: reg!(
                r,
                "nocas_soft_sync_silence_seconds",
                "Seconds since a peer's soft-state digest or data last arrived",
                Family::default()
            ),
            audit_records: reg!(
                r,
                "nocas_audit_records",
                "Audit records held",
                Gauge::default()
            ),
            slow_requests: reg!(
                r,
                "nocas_slow_requests",
                "Requests slower than log.slow_request_ms",
                Counter::default()
            ),
            auth_failures: {
                let f = reg!(
                    r,
                    "nocas_auth_failures",
                    "Refused logins and calls: kind = login (bad credentials), locked, token (missing, expired, invalid or revoked), denied (no right)",
                    Family::<KindLabel, Counter>::default()
                );
                for kind in AuthFailure::ALL {
                    let _ = f.get_or_create(&KindLabel {
                        kind: kind.as_str(),
                    });
                }
                f
            },
            push_revoked: reg!(
                r,
                "nocas_push_revoked",
                "Subscriptions and config listeners dropped because their reader lost access",
                Counter::default()
            ),
            runtime_tasks: reg!(
                r,
                "nocas_runtime_alive_tasks",
                "Tasks alive in the async runtime (connections, timers, pushes)",
                Gauge::default()
            ),
            audit_skipped: reg!(
                r,
                "nocas_audit_skipped",
                "Audit records left out because a member of an older version could not read them",
                Counter::default()
            ),
            process_rss: reg!(
                r,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                Gauge::default()
            ),
            process_virtual: reg!(
                r,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                Gauge::default()
            ),
            process_cpu: reg!(
                r,
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                Counter::default()
            ),
            process_cpu_last: Mutex::new(0.0),
            process_fds: reg!(
                r,
                "process_open_fds",
                "Number of open file descriptors",
                Gauge::default()
            ),
            process_max_fds: reg!(
                r,
                "process_max_fds",
                "Maximum number of open file descriptors",
                Gauge::default()
            ),
            process_threads: reg!(
                r,
                "process_threads",
                "Number of OS threads",
                Gauge::default()
            ),
            process_start: reg!(
                r,
                "process_start_time_seconds",
                "Start time of the process since the epoch in seconds",
                Gauge::default()
            ),
            monitor: reg!(
                r,
                "nacos_monitor",
                "Nacos monitor gauges (module, name)",
                Family::default()
            ),
            read_config_rt: config_timer("readConfigRt"),
            write_config_rt: config_timer("writeConfigRt"),
            notify_rt: config_timer("notifyRt"),
            exceptions: reg!(
                r,
                "nacos_exception",
                "Nacos exception counters",
                Family::default()
            ),
            http: reg!(
                r,
                "http_server_requests_seconds",
                "HTTP requests by route template, method and status",
                histogram_family()
            ),
            http_cache: Default::default(),
            grpc: reg!(
                r,
                "grpc_server_requests_seconds",
                "gRPC requests by request class",
                histogram_family()
            ),
            executor: reg!(
                r,
                "grpc_server_executor",
                "gRPC request execution (the async runtime's workers)",
                Family::default()
            ),
            config_subscriber: reg!(
                r,
                "nacos_config_subscriber",
                "Config listeners: v1 long polls, v2 gRPC connections",
                Family::default()
            ),
            naming_subscriber: reg!(
                r,
                "nacos_naming_subscriber",
                "Service subscriptions: v1 HTTP/UDP, v2 gRPC",
                Family::default()
            ),
            naming_publisher: reg!(
                r,
                "nacos_naming_publisher",
                "Ephemeral instances: v1 HTTP, v2 gRPC",
                Family::default()
            ),
            system_cpu: reg!(
                r,
                "system_cpu_usage",
                "Host CPU busy share (0..1)",
                Gauge::default()
            ),
            process_cpu_usage: reg!(
                r,
                "process_cpu_usage",
                "This process's share of the host CPU (0..1)",
                Gauge::default()
            ),
            system_load: reg!(
                r,
                "system_load_average_1m",
                "Host load average over 1 minute",
                Gauge::default()
            ),
            system_cpus: reg!(r, "system_cpu_count", "CPUs available", Gauge::default()),
            get_config: Daily::default(),
            publish: Daily::default(),
            fuzzy_search: Daily::default(),
            total_push: Daily::default(),
            failed_push: Daily::default(),
            empty_push: Daily::default(),
            checks: Default::default(),
            window: Mutex::new(PushWindow {
                started: Instant::now(),
                count: 0,
                sum_ms: 0,
                max_ms: 0,
            }),
            system: system::Reader::new(),
            render_lock: Mutex::new(()),
            registry: r,
        };
        // Series the dashboards read exist from the start, at zero.
        for e in Exception::ALL {
            let _ = m.exceptions.get_or_create(&e.label());
        }
        for kind in [PushKind::Service, PushKind::Config, PushKind::Fuzzy] {
            let k = KindLabel { kind: kind.label() };
            let _ = m.push_latency.get_or_create(&k);
            let _ = m.push_retries.get_or_create(&k);
            let _ = m.push_failed.get_or_create(&k);
        }
        m
    }

    // ----- HTTP and gRPC --------------------------------------------------

    /// Records an answered HTTP request.
    pub fn observe_http(
        &self,
        method: &axum::http::Method,
        route: Option<&str>,
        status: u16,
        took: Duration,
    ) {
        let i = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[i].inc();
        let method = labels::http_method(method);
        let status = status.clamp(100, 599);
        // Unrouted requests share one entry: their `uri` comes from the
        // status alone.
        let key = route.unwrap_or("");
        let secs = took.as_secs_f64();
        if let Some(h) = self
            .http_cache
            .read()
            .get(key)
            .and_then(|v| v.iter().find(|(m, s, _)| *m == method && *s == status))
        {
            h.2.observe(secs);
            return;
        }
        let label = HttpLabel {
            exception: "none",
            method,
            outcome: labels::http_outcome(status),
            status,
            uri: labels::http_uri(route, status),
        };
        let h = self.http.get_or_create(&label).clone();
        h.observe(secs);
        self.http_cache
            .write()
            .entry(key.to_string())
            .or_default()
            .push((method, status, h));
    }

    /// Records an answered gRPC request of `type_name` with its result
    /// code (0 on success).
    pub fn observe_grpc(&self, type_name: &str, error_code: i32, took: Duration) {
        self.grpc_requests.inc();
        let (class, module) = labels::grpc_class(type_name);
        let success = error_code == 0 || error_code == 200;
        let label = GrpcLabel {
            errorCode: if success { 0 } else { error_code.clamp(0, 999) },
            module,
            requestClass: class,
            success,
            throwableClass: "None",
        };
        self.grpc.get_or_create(&label).observe(took.as_secs_f64());
    }

    /// A gRPC request started (`true`) or ended (`false`).
    pub fn grpc_active(&self, started: bool) {
        if started {
            self.grpc_active.inc();
        } else {
            self.grpc_active.dec();
        }
    }

    /// A request was slower than the slow-request threshold.
    pub fn count_slow(&self) {
        self.slow_requests.inc();
    }

    /// A login or a call was refused.
    pub fn auth_failure(&self, kind: AuthFailure) {
        self.auth_failures
            .get_or_create(&KindLabel {
                kind: kind.as_str(),
            })
            .inc();
    }

    /// An audit record was left out for an older member's sake.
    pub fn audit_skipped(&self) {
        self.audit_skipped.inc();
    }

    /// Subscriptions and listeners dropped on lost access.
    pub fn pushes_revoked(&self, n: u64) {
        if n > 0 {
            self.push_revoked.inc_by(n);
        }
    }

    // ----- config ---------------------------------------------------------

    /// A config was read (HTTP or gRPC) in `took`.
    pub fn config_read(&self, took: Duration) {
        self.get_config.inc();
        self.config_timer("readConfigRt", took);
    }

    /// A config was written in `took`.
    pub fn config_written(&self, took: Duration) {
        self.publish.inc();
        self.config_timer("writeConfigRt", took);
    }

    /// A fuzzy config search ran.
    pub fn config_searched(&self) {
        self.fuzzy_search.inc();
    }

    fn config_timer(&self, name: &'static str, took: Duration) {
        let h = match name {
            "readConfigRt" => &self.read_config_rt,
            "writeConfigRt" => &self.write_config_rt,
            _ => &self.notify_rt,
        };
        h.observe(took.as_secs_f64());
    }

    /// Counts one of Nacos's exception kinds.
    pub fn exception(&self, e: Exception) {
        self.exceptions.get_or_create(&e.label()).inc();
    }

    // ----- pushes -----------------------------------------------------------

    /// A push was acknowledged: `since_change` after the change that
    /// caused it, `since_send` after it was (last) sent, after `attempts`
    /// sends.
    pub fn push_acked(
        &self,
        kind: PushKind,
        since_change: Duration,
        since_send: Duration,
        attempts: u32,
        empty: bool,
    ) {
        self.push_seconds.observe(since_send.as_secs_f64());
        self.push_micros.inc_by(since_send.as_micros() as u64);
        self.push_count.inc();
        let k = KindLabel { kind: kind.label() };
        self.push_latency
            .get_or_create(&k)
            .observe(since_change.as_secs_f64());
        if attempts > 1 {
            self.push_retries
                .get_or_create(&k)
                .inc_by(u64::from(attempts - 1));
        }
        match kind {
            PushKind::Service => {
                self.total_push.inc();
                if empty {
                    self.empty_push.inc();
                }
                let ms = since_send.as_millis() as u64;
                let mut w = self.window.lock();
                self.roll(&mut w);
                w.count += 1;
                w.sum_ms += ms;
                w.max_ms = w.max_ms.max(ms);
            }
            PushKind::Config => self.config_timer("notifyRt", since_change),
            PushKind::Fuzzy => {}
        }
    }

    /// A push was never acknowledged.
    pub fn push_failed(&self, kind: PushKind, attempts: u32) {
        let k = KindLabel { kind: kind.label() };
        self.push_failed.get_or_create(&k).inc();
        if attempts > 1 {
            self.push_retries
                .get_or_create(&k)
                .inc_by(u64::from(attempts - 1));
        }
        match kind {
            PushKind::Service => {
                self.total_push.inc();
                self.failed_push.inc();
            }
            PushKind::Config => self.exception(Exception::ConfigNotify),
            PushKind::Fuzzy => {}
        }
    }

    /// A connection's push queue overflowed and it was closed.
    pub fn push_dropped(&self) {
        self.push_dropped.inc();
    }

    fn roll(&self, w: &mut PushWindow) {
        if w.started.elapsed() >= Duration::from_secs(60) {
            *w = PushWindow {
                started: Instant::now(),
                count: 0,
                sum_ms: 0,
                max_ms: 0,
            };
        }
    }

    /// A health probe of `kind` ran.
    pub fn health_checked(&self, kind: CheckKind) {
        self.checks[kind as usize].inc();
    }

    /// Raft saw a new leader (or lost one).
    pub fn leader_changed(&self) {
        self.raft_leader_changes.inc();
    }

    /// The running totals.
    pub fn totals(&self) -> Totals {
        Totals {
            http_requests: self.by_class.iter().map(Counter::get).sum(),
            grpc_requests: self.grpc_requests.get(),
            pushes: self.push_count.get(),
            push_micros: self.push_micros.get(),
        }
    }

    // ----- rendering --------------------------------------------------------

    fn mon(&self, module: &'static str, name: &'static str, v: i64) {
        self.monitor
            .get_or_create(&MonitorLabel { module, name })
            .set(v);
    }

    /// Renders the exposition (OpenMetrics text, which Prometheus also
    /// reads as its text format) after taking `s`.
    pub fn render(&self, s: &Sample) -> String {
        let _one = self.render_lock.lock();
        self.set_own(s);
        self.set_nacos(s);
        self.set_system();
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    fn set_own(&self, s: &Sample) {
        self.instances
            .get_or_create(&KindLabel { kind: "ephemeral" })
            .set(s.ephemeral_instances);
        self.instances
            .get_or_create(&KindLabel { kind: "persistent" })
            .set(s.persistent_instances);
        self.services.set(s.services);
        self.configs.set(s.configs);
        self.namespaces.set(s.namespaces);
        self.connections
            .get_or_create(&KindLabel { kind: "long_poll" })
            .set(s.long_polls);
        self.connections
            .get_or_create(&KindLabel { kind: "grpc" })
            .set(s.grpc_connections);
        self.grpc_by_sdk.clear();
        let mut other = std::collections::HashMap::new();
        for (i, ((sdk, version), n)) in s.connections_by_sdk.iter().enumerate() {
            if i < MAX_SDK_SERIES {
                self.grpc_by_sdk
                    .get_or_create(&SdkLabel {
                        sdk,
                        version: version.clone(),
                    })
                    .set(*n);
            } else {
                *other.entry(*sdk).or_insert(0) += n;
            }
        }
        for (sdk, n) in other {
            self.grpc_by_sdk
                .get_or_create(&SdkLabel {
                    sdk,
                    version: "other".into(),
                })
                .inc_by(n);
        }
        let r = &s.raft;
        self.raft_term.set(r.term);
        self.raft_last_log.set(r.last_log_index);
        self.raft_committed.set(r.committed);
        self.raft_last_applied.set(r.last_applied);
        self.raft_apply_lag
            .set((r.committed.max(r.last_log_index) - r.last_applied).max(0));
        self.raft_snapshot.set(r.snapshot);
        self.raft_is_leader.set(i64::from(r.is_leader));
        self.raft_voters.set(r.voters);
        self.raft_replication_lag.clear();
        for (peer, lag) in &r.replication_lag {
            self.raft_replication_lag
                .get_or_create(&PeerLabel { peer: *peer })
                .set(*lag);
        }
        self.soft_pending.clear();
        self.soft_silence.clear();
        for (peer, pending, silence) in &s.soft_peers {
            let l = PeerLabel { peer: *peer };
            self.soft_pending.get_or_create(&l).set(*pending);
            self.soft_silence.get_or_create(&l).set(*silence);
        }
        self.audit_records.set(s.audit_records);
    }

    fn set_nacos(&self, s: &Sample) {
        self.mon("config", "configCount", s.configs);
        self.mon("config", "getConfig", self.get_config.get());
        self.mon("config", "publish", self.publish.get());
        self.mon("config", "fuzzySearch", self.fuzzy_search.get());
        self.mon("config", "longPolling", s.long_polls);
        // Nocas notifies other nodes through the log, not a task queue.
        self.mon("config", "notifyTask", 0);
        self.mon("config", "notifyClientTask", s.config_push_pending);
        self.mon("config", "dumpTask", 0);
        self.mon("naming", "serviceCount", s.services);
        self.mon(
            "naming",
            "ipCount",
            s.ephemeral_instances + s.persistent_instances,
        );
        self.mon(
            "naming",
            "subscriberCount",
            s.grpc_subscriptions + s.udp_subscriptions,
        );
        {
            let mut w = self.window.lock();
            self.roll(&mut w);
            let (avg, max) = match w.sum_ms.checked_div(w.count) {
                Some(avg) => (avg as i64, w.max_ms as i64),
                None => (-1, -1),
            };
            self.mon("naming", "avgPushCost", avg);
            self.mon("naming", "maxPushCost", max);
        }
        self.mon("naming", "totalPush", self.total_push.get());
        self.mon("naming", "failedPush", self.failed_push.get());
        self.mon("naming", "emptyPush", self.empty_push.get());
        // Never written by Nacos 2.x/3.x either.
        self.mon("naming", "leaderStatus", 0);
        self.mon(
            "naming",
            "tcpHealthCheck",
            self.checks[CheckKind::Tcp as usize].get(),
        );
        self.mon(
            "naming",
            "httpHealthCheck",
            self.checks[CheckKind::Http as usize].get(),
        );
        self.mon(
            "naming",
            "mysqlHealthCheck",
            self.checks[CheckKind::Mysql as usize].get(),
        );
        self.mon("naming", "pushPendingTaskCount", s.naming_push_pending);
        self.mon("naming", "serviceSubscribedEventQueueSize", 0);
        self.mon("naming", "serviceChangedEventQueueSize", 0);
        self.mon("core", "longConnection", s.grpc_connections);
        for module in ["config", "naming", "lock", "unknown"] {
            let n = s
                .connections_by_module
                .iter()
                .filter(|(m, _)| *m == module)
                .map(|(_, n)| *n)
                .sum();
            self.mon(module, "longConnection", n);
        }
        for (family, v1, v2) in [
            (
                &self.config_subscriber,
                s.long_polls,
                s.config_listening_connections,
            ),
            (
                &self.naming_subscriber,
                s.udp_subscriptions,
                s.grpc_subscriptions,
            ),
            (&self.naming_publisher, s.http_publishers, s.grpc_publishers),
        ] {
            family
                .get_or_create(&VersionLabel { version: "v1" })
                .set(v1);
            family
                .get_or_create(&VersionLabel { version: "v2" })
                .set(v2);
        }
        let workers = tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_workers() as i64)
            .unwrap_or(0);
        let queued = tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().global_queue_depth() as i64)
            .unwrap_or(0);
        self.runtime_tasks.set(
            tokio::runtime::Handle::try_current()
                .map(|h| h.metrics().num_alive_tasks() as i64)
                .unwrap_or(0),
        );
        for (name, v) in [
            ("poolSize", workers),
            ("corePoolSize", workers),
            ("maximumPoolSize", workers),
            ("activeCount", self.grpc_active.get()),
            ("inQueueTaskCount", queued),
        ] {
            self.executor
                .get_or_create(&ExecutorLabel {
                    module: "core",
                    r#type: "grpcSdkServer",
                    name,
                })
                .set(v);
        }
    }

    fn set_system(&self) {
        let r = self.system.read();
        self.system_cpus.set(r.cpus as i64);
        if let Some(v) = r.system_cpu_usage {
            self.system_cpu.set(v);
        }
        if let Some(v) = r.process_cpu_usage {
            self.process_cpu_usage.set(v);
        }
        if let Some(v) = r.load_1m {
            self.system_load.set(v);
        }
        if let Some(v) = r.rss_bytes {
            self.process_rss.set(v as i64);
        }
        if let Some(v) = r.virtual_bytes {
            self.process_virtual.set(v as i64);
        }
        if let Some(v) = r.cpu_seconds {
            let mut last = self.process_cpu_last.lock();
            if v > *last {
                self.process_cpu.inc_by(v - *last);
                *last = v;
            }
        }
        if let Some(v) = r.open_fds {
            self.process_fds.set(v as i64);
        }
        if let Some(v) = r.max_fds {
            self.process_max_fds.set(v as i64);
        }
        if let Some(v) = r.threads {
            self.process_threads.set(v as i64);
        }
        if let Some(v) = r.start_time_seconds {
            self.process_start.set(v);
        }
    }
}

impl nocas_store::StoreObserver for Metrics {
    fn log_appended(&self, entries: usize, bytes: usize, took: Duration) {
        self.fsync_seconds.observe(took.as_secs_f64());
        self.fsync_entries.observe(entries as f64);
        self.fsync_bytes.inc_by(bytes as u64);
    }
}

impl nocas_cluster::ClusterObserver for Metrics {
    fn batch_proposed(&self, commands: usize) {
        self.raft_batch.observe(commands as f64);
    }

    fn snapshot_built(&self, bytes: u64, took: Duration) {
        self.snapshot_build.observe(took.as_secs_f64());
        self.snapshot_bytes.set(bytes as i64);
    }

    fn snapshot_installed(&self, bytes: u64, took: Duration) {
        self.snapshot_install.observe(took.as_secs_f64());
        self.snapshot_bytes.set(bytes as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_own_and_nacos_names() {
        let m = Metrics::new();
        m.observe_http(
            &axum::http::Method::GET,
            Some("/nacos/v1/cs/configs"),
            200,
            Duration::from_millis(3),
        );
        m.observe_http(
            &axum::http::Method::GET,
            None,
            404,
            Duration::from_millis(1),
        );
        m.config_read(Duration::from_millis(1));
        let text = m.render(&Sample {
            configs: 7,
            ..Default::default()
        });
        assert!(
            text.contains("nocas_http_requests_total{class=\"2xx\"} 1"),
            "{text}"
        );
        assert!(text.contains("nocas_configs 7"), "{text}");
        assert!(
            text.contains("nacos_monitor{module=\"config\",name=\"configCount\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("nacos_monitor{module=\"config\",name=\"getConfig\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("uri=\"/v1/cs/configs\"") && text.contains("uri=\"NOT_FOUND\""),
            "{text}"
        );
        assert!(
            text.contains("nacos_exception_total{module=\"naming\",name=\"disk\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("nacos_monitor{module=\"naming\",name=\"avgPushCost\"} -1"),
            "{text}"
        );
    }

    #[test]
    fn naming_push_costs_form_a_window() {
        let m = Metrics::new();
        for ms in [10, 30] {
            m.push_acked(
                PushKind::Service,
                Duration::from_millis(ms),
                Duration::from_millis(ms),
                1,
                false,
            );
        }
        m.push_failed(PushKind::Service, 3);
        let text = m.render(&Sample::default());
        assert!(text.contains("name=\"avgPushCost\"} 20"), "{text}");
        assert!(text.contains("name=\"maxPushCost\"} 30"), "{text}");
        assert!(text.contains("name=\"totalPush\"} 3"), "{text}");
        assert!(text.contains("name=\"failedPush\"} 1"), "{text}");
        assert!(
            text.contains("nocas_push_retries_total{kind=\"service\"} 2"),
            "{text}"
        );
    }
}
