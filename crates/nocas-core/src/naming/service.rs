//! Durable service and cluster records: protection threshold, selector,
//! metadata, and the active health checker of persistent instances.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::error::ValidationError;
use crate::names::ClusterName;
use crate::naming::metadata::Metadata;

/// A service's durable record. Services with only ephemeral instances need
/// none; one exists when created through the API or when a persistent
/// instance is registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Share of healthy instances at or below which all are returned.
    pub protect_threshold: f64,
    /// Service metadata.
    pub metadata: Metadata,
    /// Instance selector.
    pub selector: Selector,
    /// Whether the service holds ephemeral instances (else persistent).
    pub ephemeral: bool,
    /// Per-cluster settings, for clusters that have any.
    #[serde(default)]
    pub clusters: BTreeMap<ClusterName, ClusterRecord>,
    /// Creation time.
    pub created_ms: Millis,
    /// Last change.
    pub modified_ms: Millis,
}

impl ServiceRecord {
    /// A fresh record with defaults.
    pub fn new(ephemeral: bool, now: Millis) -> Self {
        Self {
            protect_threshold: 0.0,
            metadata: Metadata::new(),
            selector: Selector::None,
            ephemeral,
            clusters: BTreeMap::new(),
            created_ms: now,
            modified_ms: now,
        }
    }

    /// The health checker of a cluster (`NONE` unless one was configured).
    pub fn checker(&self, cluster: &ClusterName) -> &HealthChecker {
        self.clusters
            .get(cluster)
            .map(|c| &c.health_checker)
            .unwrap_or(&HealthChecker::None)
    }
}

/// Validates a protection threshold: a number in [0, 1].
pub fn check_threshold(t: f64) -> Result<f64, ValidationError> {
    if t.is_finite() && (0.0..=1.0).contains(&t) {
        Ok(t)
    } else {
        Err(ValidationError::Invalid {
            field: "protectThreshold",
            reason: "must be between 0 and 1".into(),
        })
    }
}

/// A cluster's settings within a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClusterRecord {
    /// Active health check for the cluster's persistent instances.
    pub health_checker: HealthChecker,
    /// Port to probe when not using each instance's own port.
    pub check_port: u16,
    /// Probe each instance's own port (default true).
    pub use_instance_port: bool,
    /// Cluster metadata.
    pub metadata: Metadata,
}

/// How persistent instances of a cluster are probed. Serialized as Nacos's
/// `healthChecker` JSON (`{"type":"TCP"}`, `{"type":"HTTP","path":...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type")]
pub enum HealthChecker {
    /// No probing: health is whatever an operator or client set.
    #[default]
    #[serde(rename = "NONE", alias = "none")]
    None,
    /// A TCP connect must succeed.
    #[serde(rename = "TCP", alias = "tcp")]
    Tcp,
    /// An HTTP GET must answer the expected status.
    #[serde(rename = "HTTP", alias = "http")]
    Http {
        /// Request path.
        #[serde(default)]
        path: String,
        /// Extra request headers, `k:v|k:v` as Nacos spells them.
        #[serde(default)]
        headers: String,
        /// Status that counts as healthy.
        #[serde(default = "default_expected", rename = "expectedResponseCode")]
        expected_code: u16,
    },
}

fn default_expected() -> u16 {
    200
}

impl HealthChecker {
    /// Nacos's name of the checker type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Tcp => "TCP",
            Self::Http { .. } => "HTTP",
        }
    }
}

/// A service's instance selector (`{"type":"none"}` or a label expression).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type")]
pub enum Selector {
    /// No selection.
    #[default]
    #[serde(rename = "none", alias = "NONE")]
    None,
    /// A label expression, stored and echoed.
    #[serde(rename = "label", alias = "LABEL")]
    Label {
        /// The expression as given.
        #[serde(default)]
        expression: String,
    },
}

impl Selector {
    /// Parses the `selector` parameter; empty means none.
    pub fn parse(raw: Option<&str>) -> Result<Self, ValidationError> {
        let s = raw.map(str::trim).unwrap_or("");
        if s.is_empty() {
            return Ok(Self::None);
        }
        let bad = |e: serde_json::Error| ValidationError::Invalid {
            field: "selector",
            reason: format!(
                "must be {{\"type\":\"none\"}} or {{\"type\":\"label\",\"expression\":...}}: {e}"
            ),
        };
        // Through a JSON tree first: Nacos's own clients send `type` twice
        // (a type id and a getter), and the last one wins as in Nacos.
        let tree: serde_json::Value = serde_json::from_str(s).map_err(bad)?;
        serde_json::from_value(tree).map_err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_as_nacos_clients_send_them() {
        assert_eq!(
            Selector::parse(Some(
                r#"{"type":"none","type":"none","contextType":"none"}"#
            ))
            .unwrap(),
            Selector::None
        );
        assert_eq!(
            Selector::parse(Some(r#"{"type":"label","expression":"a=b"}"#)).unwrap(),
            Selector::Label {
                expression: "a=b".into()
            }
        );
        assert!(Selector::parse(Some(r#"{"type":"weird"}"#)).is_err());
        assert!(Selector::parse(Some("{")).is_err());
    }

    #[test]
    fn checker_json_matches_nacos() {
        let c: HealthChecker = serde_json::from_str(r#"{"type":"TCP"}"#).unwrap();
        assert_eq!(c, HealthChecker::Tcp);
        let c: HealthChecker =
            serde_json::from_str(r#"{"type":"HTTP","path":"/h","headers":""}"#).unwrap();
        assert_eq!(
            c,
            HealthChecker::Http {
                path: "/h".into(),
                headers: String::new(),
                expected_code: 200
            }
        );
        assert_eq!(
            serde_json::to_string(&HealthChecker::None).unwrap(),
            r#"{"type":"NONE"}"#
        );
    }

    #[test]
    fn selectors() {
        assert_eq!(Selector::parse(None).unwrap(), Selector::None);
        assert_eq!(
            Selector::parse(Some(r#"{"type":"none"}"#)).unwrap(),
            Selector::None
        );
        assert!(matches!(
            Selector::parse(Some(r#"{"type":"label","expression":"a=b"}"#)).unwrap(),
            Selector::Label { .. }
        ));
        assert!(Selector::parse(Some("junk")).is_err());
        assert!(check_threshold(1.5).is_err());
    }
}
