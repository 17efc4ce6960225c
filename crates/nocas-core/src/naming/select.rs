//! Instance selection with the protection threshold, as every read (HTTP
//! list, gRPC query, subscription push) does it.
//!
//! Nacos's rule (`ServiceUtil.selectInstancesWithHealthyProtection`): keep
//! instances of the requested clusters (and enabled ones, when asked); if the
//! healthy share of those is at or below the service's threshold, return all
//! of them, unhealthy ones reported healthy, and say the threshold was
//! reached; otherwise drop unhealthy ones when `healthy_only`.

use crate::names::ClusterName;
use crate::naming::instance::Instance;

/// What a reader asked for.
#[derive(Debug, Clone, Copy)]
pub struct SelectOptions<'a> {
    /// Clusters to include; empty means all.
    pub clusters: &'a [ClusterName],
    /// Return healthy instances only (unless protection kicks in).
    pub healthy_only: bool,
    /// Return enabled instances only.
    pub enabled_only: bool,
}

/// The selection result.
#[derive(Debug, Clone, Default)]
pub struct Selected {
    /// Instances to return, already with the health to report.
    pub hosts: Vec<Instance>,
    /// The protection threshold was reached.
    pub reach_protection_threshold: bool,
}

/// Selects from `all` per `opts` and the service's `threshold`.
pub fn select<'a>(
    all: impl IntoIterator<Item = &'a Instance>,
    threshold: f64,
    opts: SelectOptions<'_>,
) -> Selected {
    let kept: Vec<&Instance> = all
        .into_iter()
        .filter(|i| opts.clusters.is_empty() || opts.clusters.contains(&i.cluster))
        .filter(|i| !opts.enabled_only || i.enabled)
        .collect();
    let healthy = kept.iter().filter(|i| i.healthy).count();
    let threshold = threshold.max(0.0);
    // 0/0 is NaN in Nacos, and NaN <= t is false: an empty set is never protected.
    let reached = !kept.is_empty() && (healthy as f64 / kept.len() as f64) <= threshold;
    if reached {
        let hosts = kept
            .into_iter()
            .map(|i| {
                let mut i = i.clone();
                i.healthy = true;
                i
            })
            .collect();
        return Selected {
            hosts,
            reach_protection_threshold: true,
        };
    }
    let hosts = kept
        .into_iter()
        .filter(|i| !opts.healthy_only || i.healthy)
        .cloned()
        .collect();
    Selected {
        hosts,
        reach_protection_threshold: false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn inst(port: u16, healthy: bool, enabled: bool, cluster: &str) -> Instance {
        Instance {
            ip: Arc::from("10.0.0.1"),
            port,
            cluster: ClusterName::parse(Some(cluster)).unwrap(),
            weight: 1.0,
            healthy,
            enabled,
            ephemeral: true,
            metadata: Default::default(),
        }
    }

    fn opts(healthy_only: bool) -> SelectOptions<'static> {
        SelectOptions {
            clusters: &[],
            healthy_only,
            enabled_only: true,
        }
    }

    #[test]
    fn healthy_only_filters_when_above_threshold() {
        let all = [inst(1, true, true, "A"), inst(2, false, true, "A")];
        let s = select(&all, 0.0, opts(true));
        assert_eq!(s.hosts.len(), 1);
        assert!(!s.reach_protection_threshold);
        let s = select(&all, 0.0, opts(false));
        assert_eq!(s.hosts.len(), 2);
    }

    #[test]
    fn protection_returns_all_as_healthy() {
        let all = [
            inst(1, true, true, "A"),
            inst(2, false, true, "A"),
            inst(3, false, true, "A"),
        ];
        let s = select(&all, 0.5, opts(true));
        assert!(s.reach_protection_threshold);
        assert_eq!(s.hosts.len(), 3);
        assert!(s.hosts.iter().all(|i| i.healthy));
    }

    #[test]
    fn all_unhealthy_with_zero_threshold_is_protected() {
        let all = [inst(1, false, true, "A")];
        let s = select(&all, 0.0, opts(true));
        assert!(s.reach_protection_threshold);
        assert_eq!(s.hosts.len(), 1);
    }

    #[test]
    fn empty_is_never_protected_and_filters_apply() {
        let s = select(std::iter::empty(), 1.0, opts(true));
        assert!(!s.reach_protection_threshold);
        let all = [inst(1, true, false, "A"), inst(2, true, true, "B")];
        let b = [ClusterName::parse(Some("B")).unwrap()];
        let s = select(
            &all,
            0.0,
            SelectOptions {
                clusters: &b,
                healthy_only: false,
                enabled_only: true,
            },
        );
        assert_eq!(s.hosts.len(), 1);
        assert_eq!(s.hosts[0].port, 2);
        let s = select(&all, 0.0, opts(false));
        assert_eq!(s.hosts.len(), 1);
    }
}
