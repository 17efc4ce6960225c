//! The instance model, its identity, and the heartbeat timings its metadata
//! can override (Nacos's `preserved.*` keys).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::names::{ClusterName, ServiceKey};
use crate::naming::metadata::Metadata;

/// Metadata key overriding the client beat interval (ms).
pub const META_BEAT_INTERVAL: &str = "preserved.heart.beat.interval";
/// Metadata key overriding the time without beat before unhealthy (ms).
pub const META_BEAT_TIMEOUT: &str = "preserved.heart.beat.timeout";
/// Metadata key overriding the time without beat before removal (ms).
pub const META_DELETE_TIMEOUT: &str = "preserved.ip.delete.timeout";
/// Metadata key naming the instance id generator.
pub const META_ID_GENERATOR: &str = "preserved.instance.id.generator";

/// Largest accepted weight.
pub const MAX_WEIGHT: f64 = 10000.0;

/// One instance of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// IP address or host name.
    pub ip: Arc<str>,
    /// Port.
    pub port: u16,
    /// Cluster the instance belongs to.
    pub cluster: ClusterName,
    /// Load-balancing weight in [0, 10000].
    pub weight: f64,
    /// Health as last decided (beats, probes or an operator).
    pub healthy: bool,
    /// Whether the instance takes traffic.
    pub enabled: bool,
    /// Ephemeral (soft state) or persistent (durable).
    pub ephemeral: bool,
    /// Free-form metadata.
    pub metadata: Arc<Metadata>,
}

impl Instance {
    /// The key that identifies this instance within its service.
    pub fn key(&self) -> InstanceKey {
        InstanceKey {
            cluster: self.cluster.clone(),
            ip: self.ip.clone(),
            port: self.port,
        }
    }

    /// Nacos's default instance id: `ip#port#cluster#group@@service`.
    pub fn instance_id(&self, service: &ServiceKey) -> String {
        format!(
            "{}#{}#{}#{}",
            self.ip,
            self.port,
            self.cluster,
            service.grouped_name()
        )
    }
}

/// Validates a weight: finite and within [0, 10000].
pub fn check_weight(weight: f64) -> Result<f64, ValidationError> {
    if weight.is_finite() && (0.0..=MAX_WEIGHT).contains(&weight) {
        Ok(weight)
    } else {
        Err(ValidationError::Invalid {
            field: "weight",
            reason: "instance format invalid: The weights range from 0.0 to 10000.0".into(),
        })
    }
}

/// What an operator set on an instance (Nacos's instance metadata), kept
/// apart from what its client registered and laid over it wherever the
/// instance is shown: it survives the client registering again, as in
/// Nacos. Weight and enabled replace the registered ones when set; the
/// metadata is put over the registered map key by key, so a registered key
/// it does not name stays.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InstanceOverride {
    /// Weight to show instead of the registered one.
    pub weight: Option<f64>,
    /// Enabled flag to show instead of the registered one.
    pub enabled: Option<bool>,
    /// Metadata put over the registered map.
    pub metadata: Metadata,
}

impl InstanceOverride {
    /// Lays the override over `inst`.
    pub fn apply(&self, inst: &mut Instance) {
        if let Some(w) = self.weight {
            inst.weight = w;
        }
        if let Some(e) = self.enabled {
            inst.enabled = e;
        }
        if !self.metadata.is_empty() {
            let mut md: Metadata = (*inst.metadata).clone();
            for (k, v) in &self.metadata {
                md.insert(k.clone(), v.clone());
            }
            inst.metadata = Arc::new(md);
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.weight.is_none() && self.enabled.is_none() && self.metadata.is_empty()
    }
}

/// Identity of an instance inside a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceKey {
    /// Cluster.
    pub cluster: ClusterName,
    /// IP or host.
    pub ip: Arc<str>,
    /// Port.
    pub port: u16,
}

impl std::fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}@{}", self.ip, self.port, self.cluster)
    }
}

/// A partial update of an instance (HTTP PATCH, metadata batch, health).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstancePatch {
    /// New weight.
    pub weight: Option<f64>,
    /// New enabled flag.
    pub enabled: Option<bool>,
    /// New health.
    pub healthy: Option<bool>,
    /// New metadata (replaces the whole map).
    pub metadata: Option<Arc<Metadata>>,
}

impl InstancePatch {
    /// Applies the patch; returns whether anything changed.
    pub fn apply_to(&self, inst: &mut Instance) -> bool {
        let before = inst.clone();
        if let Some(w) = self.weight {
            inst.weight = w;
        }
        if let Some(e) = self.enabled {
            inst.enabled = e;
        }
        if let Some(h) = self.healthy {
            inst.healthy = h;
        }
        if let Some(m) = &self.metadata {
            inst.metadata = m.clone();
        }
        *inst != before
    }
}

/// How often an HTTP client beats, and when silence makes its instance
/// unhealthy and then removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeatTimings {
    /// Beat interval the client is told to use (ms).
    pub interval_ms: i64,
    /// Silence before the instance is marked unhealthy (ms).
    pub timeout_ms: i64,
    /// Silence before the instance is removed (ms).
    pub delete_ms: i64,
}

impl Default for BeatTimings {
    /// Nacos defaults: beat every 5 s, unhealthy after 15 s, removed after 30 s.
    fn default() -> Self {
        Self {
            interval_ms: 5_000,
            timeout_ms: 15_000,
            delete_ms: 30_000,
        }
    }
}

impl BeatTimings {
    /// Timings for an instance: each `preserved.*` metadata key overrides the
    /// server default. As in Nacos, timeouts shorter than the interval are
    /// rejected.
    pub fn for_metadata(md: &Metadata, defaults: BeatTimings) -> Result<Self, ValidationError> {
        let get = |key: &'static str, default: i64| -> Result<i64, ValidationError> {
            match md.get(key) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ValidationError::Invalid {
                        field: "metadata",
                        reason: format!("'{key}' must be a positive number of milliseconds"),
                    }),
            }
        };
        let t = Self {
            interval_ms: get(META_BEAT_INTERVAL, defaults.interval_ms)?,
            timeout_ms: get(META_BEAT_TIMEOUT, defaults.timeout_ms)?,
            delete_ms: get(META_DELETE_TIMEOUT, defaults.delete_ms)?,
        };
        if (md.contains_key(META_BEAT_INTERVAL)
            || md.contains_key(META_BEAT_TIMEOUT)
            || md.contains_key(META_DELETE_TIMEOUT))
            && (t.timeout_ms < t.interval_ms || t.delete_ms < t.interval_ms)
        {
            return Err(ValidationError::Invalid {
                    field: "metadata",
                    reason: "Instance 'heart beat timeout' and 'ip delete timeout' must greater than 'heart beat interval'".into(),
                });
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_range() {
        assert!(check_weight(0.0).is_ok());
        assert!(check_weight(10000.0).is_ok());
        assert!(check_weight(-0.1).is_err());
        assert!(check_weight(10000.1).is_err());
        assert!(check_weight(f64::NAN).is_err());
    }

    #[test]
    fn timings_from_metadata() {
        let mut md = Metadata::new();
        let d = BeatTimings::default();
        assert_eq!(BeatTimings::for_metadata(&md, d).unwrap(), d);
        md.insert(META_BEAT_INTERVAL.into(), "100".into());
        md.insert(META_BEAT_TIMEOUT.into(), "300".into());
        md.insert(META_DELETE_TIMEOUT.into(), "600".into());
        let t = BeatTimings::for_metadata(&md, d).unwrap();
        assert_eq!((t.interval_ms, t.timeout_ms, t.delete_ms), (100, 300, 600));
        md.insert(META_BEAT_TIMEOUT.into(), "50".into());
        assert!(BeatTimings::for_metadata(&md, d).is_err());
        md.insert(META_BEAT_TIMEOUT.into(), "x".into());
        assert!(BeatTimings::for_metadata(&md, d).is_err());
    }
}
