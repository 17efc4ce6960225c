//! What applications see: instances, service views, config changes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One instance of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// IP or host.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// Load-balancing weight (0 = never picked).
    pub weight: f64,
    /// Health.
    pub healthy: bool,
    /// Takes traffic.
    pub enabled: bool,
    /// Ephemeral (lives with this client's connection) or persistent.
    pub ephemeral: bool,
    /// Cluster.
    pub cluster: String,
    /// Metadata (version, zone, routes...).
    pub metadata: HashMap<String, String>,
}

impl Instance {
    /// An ephemeral, healthy, enabled instance of weight 1 in cluster `DEFAULT`.
    pub fn new(ip: impl Into<String>, port: u16) -> Self {
        Self {
            ip: ip.into(),
            port,
            weight: 1.0,
            healthy: true,
            enabled: true,
            ephemeral: true,
            cluster: "DEFAULT".into(),
            metadata: HashMap::new(),
        }
    }

    /// Adds a metadata entry.
    pub fn with_metadata(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.metadata.insert(k.into(), v.into());
        self
    }

    /// Sets the weight.
    pub fn with_weight(mut self, w: f64) -> Self {
        self.weight = w;
        self
    }

    /// `ip:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    pub(crate) fn key(&self) -> (String, u16, String) {
        (self.ip.clone(), self.port, self.cluster.clone())
    }
}

/// A service's instances as last known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ServiceView {
    /// Service name.
    pub service: String,
    /// Group.
    pub group: String,
    /// Instances (healthy or not).
    pub hosts: Vec<Instance>,
    /// When the server made the view (ms).
    pub last_ref_time: i64,
}

impl ServiceView {
    /// Healthy, enabled instances.
    pub fn healthy(&self) -> Vec<Instance> {
        self.hosts
            .iter()
            .filter(|i| i.healthy && i.enabled)
            .cloned()
            .collect()
    }
}

/// A config's new content (`None`: removed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigChange {
    /// Data id.
    pub data_id: String,
    /// Group.
    pub group: String,
    /// Content, or `None` when the config was removed.
    pub content: Option<String>,
}
