//! Server settings: one struct with Nacos's defaults, loadable from TOML.
//!
//! Every timer and limit lives here so that tests (and operators) can change
//! it. Times are milliseconds, sizes bytes. The binary layers environment
//! variables and flags over a file; this module only knows the file.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use nocas_cluster::{RaftSettings, SoftSettings};

/// Why settings could not be loaded.
#[derive(Debug, Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid settings TOML.
    #[error("invalid settings file {path}: {source}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Cause.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range.
    #[error("invalid setting {0}")]
    Invalid(String),
}

/// All server settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Directory holding the database (default `./data`).
    pub data_dir: PathBuf,
    /// Address to listen on (default 127.0.0.1).
    pub bind: IpAddr,
    /// HTTP port (default 8848; 0 picks a free one).
    pub http_port: u16,
    /// gRPC port (default HTTP port + 1000).
    pub grpc_port: Option<u16>,
    /// Size limits.
    pub limits: Limits,
    /// Naming timers.
    pub naming: NamingSettings,
    /// Config timers.
    pub config: ConfigSettings,
    /// Consensus timers.
    pub raft: RaftSettings,
    /// Embedded storage.
    pub storage: StorageSettings,
    /// gRPC connections and pushes.
    pub grpc: GrpcSettings,
    /// Cluster membership and node-to-node traffic.
    pub cluster: ClusterSettings,
    /// Users, tokens and access checks.
    pub auth: AuthSettings,
    /// Distributed locks (Nacos 3).
    pub lock: LockSettings,
    /// The web console.
    pub console: ConsoleSettings,
    /// Request logs.
    pub log: LogSettings,
    /// The audit trail.
    pub audit: AuditSettings,
    /// TLS on the client ports and mutual TLS between nodes.
    pub tls: TlsSettings,
    /// Read consistency.
    pub consistency: ConsistencySettings,
}

/// How fresh reads are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadConsistency {
    /// Reads answer from this node's applied state (Nacos's behaviour); a
    /// client reading at the node that took its write sees it.
    #[default]
    Local,
    /// Every config and naming read first confirms, through the leader
    /// and a quorum, the latest committed write and waits until this node
    /// applied it; without a quorum reads fail (503) rather than answer
    /// stale.
    Linearizable,
}

/// Read consistency (`[consistency]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsistencySettings {
    /// `local` (default) or `linearizable`. A read that asks
    /// `consistent=true` is linearizable whatever this says.
    pub reads: ReadConsistency,
}

/// Request logs (the log format and filter are the binary's flags).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// Log every HTTP and gRPC request (route, status, time; never the
    /// query, body or headers), target `nocas::request` (default off).
    pub requests: bool,
    /// Log requests slower than this, with their route and time, at warn
    /// level (target `nocas::slow`); 0 turns it off (default 1000 ms).
    pub slow_request_ms: u64,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            requests: false,
            slow_request_ms: 1_000,
        }
    }
}

/// The audit trail of durable changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Records older than this are purged (default 30 days, as config
    /// history; 0 keeps them forever).
    pub retention_ms: u64,
    /// How often the leader purges (default 1 hour).
    pub purge_interval_ms: u64,
    /// How often refused logins and calls, folded per caller and target,
    /// are written to the trail (default 5 s).
    pub security_flush_ms: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retention_ms: 30 * 24 * 3600 * 1000,
            purge_interval_ms: 3600 * 1000,
            security_flush_ms: 5000,
        }
    }
}

/// TLS: the client ports (HTTP, gRPC, console) when `cert` and `key` are
/// set, and mutual TLS on the Raft port when `peer_ca` is set too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain of this node (`--tls-cert`).
    pub cert: Option<PathBuf>,
    /// PEM private key (`--tls-key`).
    pub key: Option<PathBuf>,
    /// PEM CA certificates that sign the nodes' certificates (`--peer-ca`):
    /// turns on mutual TLS on the Raft port; a node presents its own
    /// certificate (`peer_cert`/`peer_key`, else `cert`/`key`) and accepts
    /// only peers whose certificate this CA signed.
    pub peer_ca: Option<PathBuf>,
    /// Certificate presented to peers, if not `cert`.
    pub peer_cert: Option<PathBuf>,
    /// Its key, if not `key`.
    pub peer_key: Option<PathBuf>,
    /// How often the files are checked for changes; changed files are
    /// loaded without a restart (default 10 s).
    pub reload_interval_ms: u64,
    /// A TLS handshake not finished in this long is dropped (default 10 s).
    pub handshake_timeout_ms: u64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            peer_ca: None,
            peer_cert: None,
            peer_key: None,
            reload_interval_ms: 10_000,
            handshake_timeout_ms: 10_000,
        }
    }
}

/// Where the web console is served.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Serve the console (default on; `--no-console` turns it off).
    pub enabled: bool,
    /// Serve it on this port of its own instead of the HTTP port (Nacos 3's
    /// `nacos.console.port`, default unset). That port also answers the
    /// HTTP API the console calls, so its pages stay same-origin.
    pub port: Option<u16>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            port: None,
        }
    }
}

/// Distributed lock leases (Nacos `nacos.lock.default_expire_time`,
/// `nacos.lock.max_expire_time`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockSettings {
    /// Lease of a lock acquired with a negative `expiredTime`.
    pub default_expire_ms: u64,
    /// Longest lease granted.
    pub max_expire_ms: u64,
}

impl Default for LockSettings {
    fn default() -> Self {
        let d = nocas_core::lock::LeaseLimits::default();
        Self {
            default_expire_ms: d.default_ms,
            max_expire_ms: d.max_ms,
        }
    }
}

/// Authentication and authorization.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Check tokens and permissions on every call (`--auth`).
    pub enabled: bool,
    /// Allow binding a non-loopback address with auth off
    /// (`--insecure-no-auth`).
    pub insecure_no_auth: bool,
    /// Token signing secret, base64 or raw, at least 32 bytes; when unset a
    /// random one is generated once into the data dir (standalone only).
    pub token_secret: Option<String>,
    /// Token lifetime, seconds (Nacos: 18,000).
    pub token_ttl_s: u64,
    /// Password of the initial administrator `nacos`; generated and printed
    /// once when unset.
    #[serde(skip_serializing)]
    pub admin_password: Option<String>,
    /// Failed logins of one user from one IP that lock the pair.
    pub lockout_failures: u32,
    /// Window in which those failures count (ms).
    pub lockout_window_ms: u64,
    /// How long a locked pair stays locked (ms).
    pub lockout_ms: u64,
    /// Most (user, IP) pairs tracked for lockout.
    pub lockout_max_entries: usize,
    /// Argon2 memory cost (KiB) for new password hashes.
    pub argon2_memory_kib: u32,
    /// Argon2 iterations for new password hashes.
    pub argon2_iterations: u32,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("enabled", &self.enabled)
            .field("insecure_no_auth", &self.insecure_no_auth)
            .field("token_secret", &self.token_secret.as_ref().map(|_| "<set>"))
            .field("token_ttl_s", &self.token_ttl_s)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<set>"),
            )
            .field("lockout_failures", &self.lockout_failures)
            .field("lockout_window_ms", &self.lockout_window_ms)
            .field("lockout_ms", &self.lockout_ms)
            .finish_non_exhaustive()
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            insecure_no_auth: false,
            token_secret: None,
            token_ttl_s: 18_000,
            admin_password: None,
            lockout_failures: 5,
            lockout_window_ms: 5 * 60 * 1000,
            lockout_ms: 15 * 60 * 1000,
            lockout_max_entries: 100_000,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
        }
    }
}

/// Cluster membership and node-to-node traffic.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// This node's id: its 1-based position in `members`.
    pub node_id: u64,
    /// Members, `host:http` (Raft port = HTTP - 1000) or `host:http:raft`;
    /// empty means standalone, one member a cluster of one (on its ports,
    /// growing with `nocas cluster add`).
    pub members: Vec<String>,
    /// This node's Raft port (overrides its member entry).
    pub raft_port: Option<u16>,
    /// Shared secret required on node-to-node calls.
    pub secret: Option<String>,
    /// Join a running cluster (wait for `nocas cluster add`) instead of
    /// forming one with `members`.
    pub join: bool,
    /// Largest node-to-node message.
    pub max_message_bytes: usize,
    /// Soft-state replication timers.
    pub soft: SoftSettings,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            node_id: 1,
            members: Vec::new(),
            raft_port: None,
            secret: None,
            join: false,
            max_message_bytes: 64 * 1024 * 1024,
            soft: SoftSettings::default(),
        }
    }
}

/// gRPC connections and pushes (Nacos defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcSettings {
    /// Largest gRPC message either way (a 10 MiB config is larger once
    /// JSON-escaped).
    pub max_message_bytes: usize,
    /// A push not acknowledged within this is sent again.
    pub push_timeout_ms: u64,
    /// Times a push is sent again before giving up.
    pub push_retries: u32,
    /// Messages waiting to be sent to one connection; a client that lets it
    /// fill up is disconnected.
    pub push_queue: usize,
    /// How long a unary call waits for its connection's setup before it
    /// is refused as unregistered (301).
    pub setup_grace_ms: u64,
    /// How often connections are checked for silence.
    pub detect_interval_ms: u64,
    /// Silence after which a connection is probed (`ClientDetectionRequest`).
    pub idle_ms: u64,
    /// Time a probed connection has to answer before it is dropped.
    pub detect_timeout_ms: u64,
    /// On shutdown, time given to clients to acknowledge `ConnectResetRequest`.
    pub reset_wait_ms: u64,
    /// A change of a service pushed to a connection that subscribed to it
    /// less than this ago waits until this long after the subscription
    /// (then the current view goes): SDKs may otherwise handle the push
    /// before the subscription's answer and keep the older view (the Java
    /// client does). Nacos delays every push by 500 ms.
    pub subscribe_push_hold_ms: u64,
    /// Keys per batch of a config fuzzy-watch sync (Nacos: 20).
    pub fuzzy_config_batch: usize,
    /// Keys per batch of a naming fuzzy-watch sync (Nacos: 10).
    pub fuzzy_naming_batch: usize,
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            max_message_bytes: 32 * 1024 * 1024,
            push_timeout_ms: 3_000,
            push_retries: 3,
            push_queue: 1_024,
            setup_grace_ms: 1_000,
            detect_interval_ms: 3_000,
            idle_ms: 20_000,
            detect_timeout_ms: 5_000,
            reset_wait_ms: 1_000,
            subscribe_push_hold_ms: 500,
            fuzzy_config_batch: 20,
            fuzzy_naming_batch: 10,
        }
    }
}

/// Embedded storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Page cache of the database. Reads are served from memory, so the
    /// cache mostly helps history queries.
    pub cache_bytes: usize,
    /// Writes are refused (507) while the data directory's file system has
    /// less than this free (default 64 MiB; 0: never refuse).
    pub min_free_bytes: u64,
    /// Verify every page's checksum when the database is opened, so a
    /// damaged file stops the start instead of being served (default on).
    pub verify_on_start: bool,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            cache_bytes: nocas_store::DEFAULT_CACHE_BYTES,
            min_free_bytes: 64 << 20,
            verify_on_start: true,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: 8848,
            grpc_port: None,
            limits: Limits::default(),
            naming: NamingSettings::default(),
            config: ConfigSettings::default(),
            raft: RaftSettings::default(),
            storage: StorageSettings::default(),
            grpc: GrpcSettings::default(),
            cluster: ClusterSettings::default(),
            auth: AuthSettings::default(),
            lock: LockSettings::default(),
            console: ConsoleSettings::default(),
            log: LogSettings::default(),
            audit: AuditSettings::default(),
            tls: TlsSettings::default(),
            consistency: ConsistencySettings::default(),
        }
    }
}

/// Size limits; requests beyond them get a 4xx.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest config content (Nacos `maxContent`: 10 MiB).
    pub max_config_bytes: usize,
    /// Largest HTTP request body. Form encoding can triple content, so the
    /// default leaves room for a 10 MiB config.
    pub max_body_bytes: usize,
    /// Bytes a config ZIP import may unpack to in all (default 64 MiB).
    pub max_import_bytes: usize,
    /// Entries a config ZIP import may hold, its metadata file and
    /// directories included (default 100,000; Nacos has no limit).
    pub max_import_entries: usize,
    /// Largest metadata map of an instance or service (bytes of keys and values).
    pub max_metadata_bytes: usize,
    /// Most metadata entries.
    pub max_metadata_entries: usize,
    /// Most keys one long poll may listen to.
    pub max_listen_keys: usize,
    /// Fuzzy-watch patterns one connection may hold, config and naming
    /// each (Nacos: 20; beyond: error 50310).
    pub max_fuzzy_patterns: usize,
    /// Keys one fuzzy-watch pattern tracks (Nacos: 500; beyond: error
    /// 50311, the list is cut there).
    pub max_fuzzy_matched_keys: usize,
    /// Largest page size of any listing.
    pub max_page_size: usize,
    /// Most concurrent held long polls.
    pub max_long_polls: usize,
    /// Most gRPC connections from one client IP.
    pub max_connections_per_ip: usize,
    /// Most instances (ephemeral and persistent) in one service.
    pub max_instances_per_service: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_config_bytes: 10 * 1024 * 1024,
            max_body_bytes: 32 * 1024 * 1024,
            max_import_bytes: 64 * 1024 * 1024,
            max_import_entries: 100_000,
            max_metadata_bytes: 64 * 1024,
            max_metadata_entries: 256,
            max_listen_keys: 10_000,
            max_fuzzy_patterns: 20,
            max_fuzzy_matched_keys: 500,
            max_page_size: 1_000,
            max_long_polls: 100_000,
            max_connections_per_ip: 20_000,
            max_instances_per_service: 100_000,
        }
    }
}

/// Naming timers (Nacos defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamingSettings {
    /// Beat interval clients are told to use.
    pub beat_interval_ms: u64,
    /// Silence before an HTTP-registered ephemeral instance is unhealthy.
    pub beat_timeout_ms: u64,
    /// Silence before it is removed.
    pub delete_timeout_ms: u64,
    /// How often the beat timeline is checked.
    pub beat_check_interval_ms: u64,
    /// Whether clients may send beats without the beat body.
    pub light_beat_enabled: bool,
    /// `cacheMillis` in service views: how long clients may cache them.
    pub cache_millis: u64,
    /// How often persistent instances with a TCP/HTTP checker are probed.
    pub probe_interval_ms: u64,
    /// Timeout of one probe.
    pub probe_timeout_ms: u64,
    /// Consecutive failed probes before an instance is unhealthy.
    pub probe_fail_threshold: u32,
    /// Consecutive good probes before it is healthy again.
    pub probe_ok_threshold: u32,
    /// Most probes in flight at once.
    pub probe_concurrency: usize,
    /// Push changed views over UDP to HTTP clients that list with a
    /// `udpPort` (Nacos 1.x clients, the Node SDK).
    pub udp_push_enabled: bool,
    /// Send UDP pushes to the `clientIP` the client names (Nacos does)
    /// instead of the TCP peer's address. Off by default: a request could
    /// otherwise point this server's pushes at any address.
    pub udp_push_trust_client_ip: bool,
    /// A UDP push not acknowledged within this is sent again (Nacos: 10 s).
    pub udp_ack_timeout_ms: u64,
    /// Resends of an unacknowledged UDP push (Nacos: 1).
    pub udp_max_retries: u32,
    /// A UDP subscriber that has not listed the service again for this
    /// long is forgotten (clients list every `cacheMillis`).
    pub udp_client_ttl_ms: u64,
    /// What an operator set on an instance is dropped once the instance
    /// has been gone this long (Nacos: expired metadata, 60 s), so a new
    /// instance reusing the address does not inherit it.
    pub override_expire_ms: u64,
    /// How often gone instances' overrides are looked for.
    pub override_check_interval_ms: u64,
}

impl Default for NamingSettings {
    fn default() -> Self {
        Self {
            beat_interval_ms: 5_000,
            beat_timeout_ms: 15_000,
            delete_timeout_ms: 30_000,
            beat_check_interval_ms: 5_000,
            override_expire_ms: 60_000,
            override_check_interval_ms: 5_000,
            light_beat_enabled: true,
            cache_millis: 10_000,
            probe_interval_ms: 5_000,
            probe_timeout_ms: 500,
            probe_fail_threshold: 3,
            probe_ok_threshold: 3,
            probe_concurrency: 64,
            udp_push_enabled: true,
            udp_push_trust_client_ip: false,
            udp_ack_timeout_ms: 10_000,
            udp_max_retries: 1,
            udp_client_ttl_ms: 30_000,
        }
    }
}

/// Config timers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigSettings {
    /// Shortest hold of a long poll (Nacos: 10 s).
    pub long_poll_min_ms: u64,
    /// A long poll answers this long before the client's timeout (Nacos: 500 ms).
    pub long_poll_margin_ms: u64,
    /// Hold when the client sends no timeout header (Nacos client default 30 s).
    pub long_poll_default_ms: u64,
    /// History older than this is purged (Nacos: 30 days).
    pub history_retention_ms: u64,
    /// How often history is purged.
    pub history_purge_interval_ms: u64,
}

impl Default for ConfigSettings {
    fn default() -> Self {
        Self {
            long_poll_min_ms: 10_000,
            long_poll_margin_ms: 500,
            long_poll_default_ms: 30_000,
            history_retention_ms: 30 * 24 * 3600 * 1000,
            history_purge_interval_ms: 3600 * 1000,
        }
    }
}

impl Settings {
    /// Reads settings from a TOML file; absent keys keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| SettingsError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// The gRPC port: as set, or HTTP port + 1000.
    pub fn effective_grpc_port(&self, http_port: u16) -> Result<u16, SettingsError> {
        match self.grpc_port {
            Some(p) => Ok(p),
            None => http_port.checked_add(1000).ok_or_else(|| {
                SettingsError::Invalid(format!(
                    "grpc_port: HTTP port {http_port} + 1000 is not a port; set grpc_port"
                ))
            }),
        }
    }

    /// The HTTP address to bind.
    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.http_port)
    }

    /// Checks values that would make the server misbehave.
    /// The secure-by-default rules: no auth means loopback only (unless
    /// explicitly waived); a cluster with auth needs shared secrets.
    pub fn validate_security(&self) -> Result<(), SettingsError> {
        let a = &self.auth;
        if !a.enabled && !self.bind.is_loopback() && !a.insecure_no_auth {
            return Err(SettingsError::Invalid(format!(
                "binding {} with auth off exposes every config and service: enable auth \
                 (--auth) or pass --insecure-no-auth",
                self.bind
            )));
        }
        if a.enabled && self.cluster.members.len() > 1 {
            if self.cluster.secret.as_deref().is_none_or(str::is_empty) {
                return Err(SettingsError::Invalid(
                    "a cluster with auth needs a cluster secret (--cluster-secret) on every node"
                        .into(),
                ));
            }
            if a.token_secret.is_none() {
                return Err(SettingsError::Invalid(
                    "a cluster with auth needs the same --token-secret on every node".into(),
                ));
            }
        }
        let t = &self.tls;
        if t.cert.is_some() != t.key.is_some() {
            return Err(SettingsError::Invalid(
                "TLS needs both a certificate (--tls-cert) and its key (--tls-key)".into(),
            ));
        }
        if t.peer_ca.is_some() && t.peer_cert.as_ref().or(t.cert.as_ref()).is_none() {
            return Err(SettingsError::Invalid(
                "mutual TLS between nodes (--peer-ca) needs this node's certificate \
                 (--tls-cert/--tls-key or tls.peer_cert/peer_key)"
                    .into(),
            ));
        }
        if t.peer_cert.is_some() != t.peer_key.is_some() {
            return Err(SettingsError::Invalid(
                "tls.peer_cert and tls.peer_key go together".into(),
            ));
        }
        if a.enabled && (a.token_ttl_s == 0 || a.lockout_failures == 0) {
            return Err(SettingsError::Invalid(
                "auth.token_ttl_s and auth.lockout_failures must be > 0".into(),
            ));
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        let n = &self.naming;
        let g = &self.grpc;
        let checks: [(&str, bool); 14] = [
            ("grpc.push_queue > 0", g.push_queue > 0),
            (
                "grpc.max_message_bytes >= limits.max_config_bytes",
                g.max_message_bytes >= self.limits.max_config_bytes,
            ),
            ("grpc.detect_interval_ms > 0", g.detect_interval_ms > 0),
            ("grpc.push_timeout_ms > 0", g.push_timeout_ms > 0),
            ("naming.beat_interval_ms > 0", n.beat_interval_ms > 0),
            (
                "naming.beat_timeout_ms >= beat_interval_ms",
                n.beat_timeout_ms >= n.beat_interval_ms,
            ),
            (
                "naming.delete_timeout_ms >= beat_timeout_ms",
                n.delete_timeout_ms >= n.beat_timeout_ms,
            ),
            (
                "naming.beat_check_interval_ms > 0",
                n.beat_check_interval_ms > 0,
            ),
            ("naming.probe_interval_ms > 0", n.probe_interval_ms > 0),
            (
                "limits.max_config_bytes > 0",
                self.limits.max_config_bytes > 0,
            ),
            (
                "limits.max_body_bytes >= max_config_bytes",
                self.limits.max_body_bytes >= self.limits.max_config_bytes,
            ),
            ("limits.max_page_size > 0", self.limits.max_page_size > 0),
            (
                "config.history_purge_interval_ms > 0",
                self.config.history_purge_interval_ms > 0,
            ),
            (
                "audit.purge_interval_ms > 0",
                self.audit.purge_interval_ms > 0,
            ),
        ];
        for (what, ok) in checks {
            if !ok {
                return Err(SettingsError::Invalid(what.to_string()));
            }
        }
        self.validate_security()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_nacos() {
        let s = Settings::default();
        assert_eq!(s.http_port, 8848);
        assert_eq!(s.effective_grpc_port(8848).unwrap(), 9848);
        assert_eq!(s.naming.beat_timeout_ms, 15_000);
        assert_eq!(s.naming.delete_timeout_ms, 30_000);
        assert_eq!(s.limits.max_config_bytes, 10 * 1024 * 1024);
        s.validate().unwrap();
    }

    #[test]
    fn partial_toml_keeps_defaults() {
        let s: Settings =
            toml::from_str("http_port = 1\n[naming]\nbeat_timeout_ms = 300\n").unwrap();
        assert_eq!(s.http_port, 1);
        assert_eq!(s.naming.beat_timeout_ms, 300);
        assert_eq!(s.naming.delete_timeout_ms, 30_000);
        assert!(toml::from_str::<Settings>("bogus = 1").is_err());
        assert!(s.effective_grpc_port(65000).is_err());
    }
}
