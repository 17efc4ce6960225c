//! Prometheus metrics: request counts by status class, and gauges of what
//! the server holds, refreshed when scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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
