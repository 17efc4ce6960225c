//! Prometheus metrics: request counts by status class, and gauges of what
//! the server holds, refreshed when scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// What the server counts.
pub struct Metrics {
    registry: Registry,
    by_class: [Counter; 5],
    instances: Family<KindLabel, Gauge>,
    services: Gauge,
    configs: Gauge,
    namespaces: Gauge,
    connections: Family<KindLabel, Gauge>,
    raft_last_applied: Gauge,
    raft_term: Gauge,
    grpc_requests: Counter,
    push_seconds: Histogram,
    push_micros: Counter,
    push_count: Counter,
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

/// Values sampled at scrape time.
#[derive(Debug, Default, Clone)]
pub struct Sample {
    /// Ephemeral instances.
    pub ephemeral_instances: i64,
    /// Persistent instances.
    pub persistent_instances: i64,
    /// Services.
    pub services: i64,
    /// Configs.
    pub configs: i64,
    /// Custom namespaces (plus public).
    pub namespaces: i64,
    /// Held HTTP long polls.
    pub long_polls: i64,
    /// gRPC connections.
    pub grpc_connections: i64,
    /// Last applied log index.
    pub last_applied: i64,
    /// Raft term.
    pub term: i64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nocas");
        let requests = Family::<StatusLabel, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by status class",
            requests.clone(),
        );
        let by_class = ["1xx", "2xx", "3xx", "4xx", "5xx"]
            .map(|class| requests.get_or_create(&StatusLabel { class }).clone());
        let instances = Family::<KindLabel, Gauge>::default();
        registry.register("instances", "Registered instances", instances.clone());
        let services = Gauge::default();
        registry.register("services", "Services", services.clone());
        let configs = Gauge::default();
        registry.register("configs", "Configs", configs.clone());
        let namespaces = Gauge::default();
        registry.register(
            "namespaces",
            "Namespaces, public included",
            namespaces.clone(),
        );
        let connections = Family::<KindLabel, Gauge>::default();
        registry.register(
            "connections",
            "Open client connections and held long polls",
            connections.clone(),
        );
        let raft_last_applied = Gauge::default();
        registry.register(
            "raft_last_applied",
            "Index of the last applied log entry",
            raft_last_applied.clone(),
        );
        let raft_term = Gauge::default();
        registry.register("raft_term", "Current Raft term", raft_term.clone());
        let grpc_requests = Counter::default();
        registry.register(
            "grpc_requests",
            "gRPC requests answered",
            grpc_requests.clone(),
        );
        // 0.5 ms .. ~8 s.
        let push_seconds = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 15),
        );
        registry.register(
            "push_ack_seconds",
            "Time from sending a push to its acknowledgement",
            push_seconds.clone(),
        );
        let push_micros = Counter::default();
        let push_count = Counter::default();
        Self {
            registry,
            by_class,
            instances,
            services,
            configs,
            namespaces,
            connections,
            raft_last_applied,
            raft_term,
            grpc_requests,
            push_seconds,
            push_micros,
            push_count,
        }
    }

    /// Counts one answered gRPC request.
    pub fn count_grpc(&self) {
        self.grpc_requests.inc();
    }

    /// Records an acknowledged push that took `took` from send to ack.
    pub fn observe_push(&self, took: std::time::Duration) {
        self.push_seconds.observe(took.as_secs_f64());
        self.push_micros.inc_by(took.as_micros() as u64);
        self.push_count.inc();
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

    /// Counts one answered request.
    pub fn count_status(&self, status: u16) {
        let i = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[i].inc();
    }

    /// Renders the text exposition after taking `sample`.
    pub fn render(&self, s: &Sample) -> String {
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
        self.raft_last_applied.set(s.last_applied);
        self.raft_term.set(s.term);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_gauges() {
        let m = Metrics::new();
        m.count_status(200);
        m.count_status(404);
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
            text.contains("nocas_instances{kind=\"ephemeral\"} 0"),
            "{text}"
        );
    }
}
