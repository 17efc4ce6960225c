//! Client options: servers, namespace, timeouts, retries, circuit breaker,
//! cache. Defaults match the Nacos SDKs where they have one.

use std::path::PathBuf;
use std::time::Duration;

/// Retries with exponential backoff and full jitter: before attempt `n`
/// (from 1) the client sleeps a random time in `[0, min(max, base * 2^n))`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub max_attempts: u32,
    /// First backoff ceiling.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }
}

/// A circuit breaker per server: closed; open after `failure_threshold`
/// failures in a row (calls to that server are skipped); after `open_for`,
/// half-open (one probe call); closed again when the probe succeeds.
#[derive(Debug, Clone)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before a probe is allowed.
    pub open_for: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 3,
            open_for: Duration::from_secs(5),
        }
    }
}

/// Everything a client needs to know.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Servers' HTTP addresses (`host:port`); gRPC is port + 1000 unless
    /// `grpc_port_offset` says otherwise.
    pub servers: Vec<String>,
    /// Added to each server's port to find its gRPC port.
    pub grpc_port_offset: u16,
    /// Namespace (`""` or `public` for the public one).
    pub namespace: String,
    /// Application name (a connection label).
    pub app_name: String,
    /// Timeout of connecting to a server.
    pub connect_timeout: Duration,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Circuit breaker per server.
    pub breaker: BreakerPolicy,
    /// Directory of the failover cache (service views and configs); none
    /// means no disk cache.
    pub cache_dir: Option<PathBuf>,
    /// How often an idle connection is health-checked.
    pub health_interval: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            servers: vec!["127.0.0.1:8848".into()],
            grpc_port_offset: 1000,
            namespace: String::new(),
            app_name: "nocas-client".into(),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(3),
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
            cache_dir: None,
            health_interval: Duration::from_secs(5),
        }
    }
}

impl ClientOptions {
    /// Options for these servers (comma-separated `host:port` list).
    pub fn new(servers: &str) -> Self {
        Self {
            servers: servers
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            ..Default::default()
        }
    }

    /// Sets the namespace.
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = ns.into();
        self
    }

    /// Sets the application name.
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = name.into();
        self
    }

    /// Sets the failover cache directory.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Sets the request timeout.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }

    /// Sets the circuit breaker policy.
    pub fn breaker(mut self, b: BreakerPolicy) -> Self {
        self.breaker = b;
        self
    }

    /// Sets the health-check interval.
    pub fn health_interval(mut self, t: Duration) -> Self {
        self.health_interval = t;
        self
    }

    /// gRPC addresses of the servers.
    pub fn grpc_addrs(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| match s.rsplit_once(':') {
                Some((host, port)) => match port.parse::<u16>() {
                    Ok(p) => format!("{host}:{}", p.saturating_add(self.grpc_port_offset)),
                    Err(_) => s.clone(),
                },
                None => format!("{s}:{}", 8848 + self.grpc_port_offset),
            })
            .collect()
    }
}
