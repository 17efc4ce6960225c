//! Gray (canary) routing on the caller's side: a configured share of
//! requests, chosen by a stable hash of a request id, goes to instances
//! whose metadata `version` is the gray version; the rest goes to the
//! stable version.
//!
//! The hash is xxh3-64 of the id, modulo 10,000 buckets, so a share is
//! honoured to 0.01 % and one request id always lands on the same side (a
//! retried request, or a user id used as request id, stays there). If the
//! chosen side has no healthy instance, the other side serves (fail open).
//!
//! Owns: the rule and the known instances, both swapped lock-free. Must not
//! call the registry on the request path: [`GrayRouter::follow`] keeps the
//! instances current from pushes, and the last view stays when the registry
//! is down.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use nocas_client::{Client, ClientError, Instance, pick_weighted};
use xxhash_rust::xxh3::xxh3_64;

/// Buckets a request id falls into.
pub const BUCKETS: u64 = 10_000;

/// Metadata key that carries an instance's version.
pub const VERSION_KEY: &str = "version";

/// Which share of traffic goes to which version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GrayRule {
    /// Version that gets the gray share (`None`: no gray release).
    pub gray_version: Option<String>,
    /// Share of requests (0–100, in percent) sent to the gray version.
    pub percent: f64,
    /// Version of the rest; `None`: every instance not of the gray version.
    pub stable_version: Option<String>,
}

impl GrayRule {
    /// A rule sending `percent` % of requests to `gray_version`.
    pub fn new(gray_version: impl Into<String>, percent: f64) -> Self {
        Self {
            gray_version: Some(gray_version.into()),
            percent,
            stable_version: None,
        }
    }

    /// The rule in config keys `gray.version`, `gray.percent` and
    /// `gray.stable` (as flattened by [`crate::live::parse_values`]).
    pub fn from_values(values: &HashMap<String, String>) -> Self {
        let non_empty = |k: &str| {
            values
                .get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Self {
            gray_version: non_empty("gray.version"),
            percent: non_empty("gray.percent")
                .and_then(|p| p.trim_end_matches('%').trim().parse::<f64>().ok())
                .filter(|p| p.is_finite())
                .map(|p| p.clamp(0.0, 100.0))
                .unwrap_or(0.0),
            stable_version: non_empty("gray.stable"),
        }
    }

    /// Whether this request id belongs to the gray share.
    pub fn is_gray(&self, request_id: &str) -> bool {
        if self.gray_version.is_none() {
            return false;
        }
        let threshold = (self.percent.clamp(0.0, 100.0) * (BUCKETS as f64) / 100.0).round() as u64;
        bucket(request_id) < threshold
    }
}

/// The bucket (0..[`BUCKETS`]) of a request id.
pub fn bucket(request_id: &str) -> u64 {
    xxh3_64(request_id.as_bytes()) % BUCKETS
}

/// Where one request goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// The instance.
    pub instance: Instance,
    /// Whether it is a gray instance.
    pub gray: bool,
}

struct Inner {
    hosts: ArcSwap<Vec<Instance>>,
    rule: ArcSwap<GrayRule>,
    empty_protection: AtomicBool,
}

/// Routes requests between a gray and a stable version. Cheap to clone.
#[derive(Clone)]
pub struct GrayRouter {
    inner: Arc<Inner>,
}

impl GrayRouter {
    /// A router with a rule and no instances yet.
    pub fn new(rule: GrayRule) -> Self {
        Self {
            inner: Arc::new(Inner {
                hosts: ArcSwap::from_pointee(Vec::new()),
                rule: ArcSwap::from_pointee(rule),
                empty_protection: AtomicBool::new(true),
            }),
        }
    }

    /// Keeps this router's instances current from `client`'s subscription
    /// to a service (pushes; the last view, or the disk cache, when the
    /// registry is down).
    pub async fn follow(
        &self,
        client: &Client,
        service: &str,
        group: Option<&str>,
    ) -> Result<(), ClientError> {
        let r = self.clone();
        client
            .naming()
            .subscribe(service, group, move |view| r.set_hosts(view.healthy()))
            .await
    }

    /// Whether a view with no healthy instance is ignored, keeping the last
    /// non-empty one (Nacos's push-empty protection; on by default): a
    /// restarted registry briefly knows no instance until they register
    /// again, and an empty view would fail every request meanwhile.
    pub fn empty_protection(self, on: bool) -> Self {
        self.inner.empty_protection.store(on, Ordering::Relaxed);
        self
    }

    /// Replaces the known instances (only healthy, enabled ones are used).
    pub fn set_hosts(&self, hosts: Vec<Instance>) {
        let hosts: Vec<Instance> = hosts
            .into_iter()
            .filter(|h| h.healthy && h.enabled)
            .collect();
        if hosts.is_empty() && self.inner.empty_protection.load(Ordering::Relaxed) {
            tracing::debug!("empty view ignored (push-empty protection)");
            return;
        }
        self.inner.hosts.store(Arc::new(hosts));
    }

    /// Replaces the rule.
    pub fn set_rule(&self, rule: GrayRule) {
        self.inner.rule.store(Arc::new(rule));
    }

    /// The current rule.
    pub fn rule(&self) -> Arc<GrayRule> {
        self.inner.rule.load_full()
    }

    /// The known instances.
    pub fn hosts(&self) -> Arc<Vec<Instance>> {
        self.inner.hosts.load_full()
    }

    /// Picks an instance for a request id.
    pub fn pick(&self, request_id: &str) -> Option<Pick> {
        self.pick_excluding(request_id, &[])
    }

    /// Picks an instance for a request id, skipping the given addresses
    /// (`ip:port`) — for a retry after one failed.
    pub fn pick_excluding(&self, request_id: &str, exclude: &[String]) -> Option<Pick> {
        let rule = self.inner.rule.load();
        let hosts = self.inner.hosts.load();
        let usable = hosts.iter().filter(|h| !exclude.contains(&h.addr()));
        let version = |h: &Instance| h.metadata.get(VERSION_KEY).cloned();
        let (gray, stable): (Vec<Instance>, Vec<Instance>) = match &rule.gray_version {
            Some(g) => {
                let (gray, rest): (Vec<Instance>, Vec<Instance>) = usable
                    .cloned()
                    .partition(|h| version(h).as_ref() == Some(g));
                let stable = match &rule.stable_version {
                    Some(s) => rest
                        .into_iter()
                        .filter(|h| version(h).as_ref() == Some(s))
                        .collect(),
                    None => rest,
                };
                (gray, stable)
            }
            None => (Vec::new(), usable.cloned().collect()),
        };
        let want_gray = rule.is_gray(request_id);
        let (first, second) = if want_gray {
            ((&gray, true), (&stable, false))
        } else {
            ((&stable, false), (&gray, true))
        };
        pick_weighted(first.0)
            .map(|i| (i, first.1))
            .or_else(|| pick_weighted(second.0).map(|i| (i, second.1)))
            .map(|(instance, gray)| Pick { instance, gray })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(port: u16, version: &str) -> Instance {
        Instance::new("127.0.0.1", port).with_metadata(VERSION_KEY, version)
    }

    #[test]
    fn rule_from_config_keys() {
        let v = crate::live::parse_values("gray:\n  version: v2\n  percent: 12.5\n");
        let r = GrayRule::from_values(&v);
        assert_eq!(r.gray_version.as_deref(), Some("v2"));
        assert_eq!(r.percent, 12.5);
        let v = crate::live::parse_values("gray.version=v3\ngray.percent=250%\n");
        assert_eq!(GrayRule::from_values(&v).percent, 100.0);
        assert_eq!(GrayRule::from_values(&HashMap::new()), GrayRule::default());
    }

    #[test]
    fn split_follows_the_percentage_and_is_stable_per_id() {
        let router = GrayRouter::new(GrayRule::new("v2", 30.0));
        router.set_hosts(vec![host(1, "v1"), host(2, "v1"), host(3, "v2")]);
        let n = 10_000;
        let gray = (0..n)
            .filter(|i| {
                let p = router.pick(&format!("req-{i}")).unwrap();
                assert_eq!(p.gray, p.instance.port == 3);
                p.gray
            })
            .count();
        let share = gray as f64 * 100.0 / n as f64;
        assert!((share - 30.0).abs() <= 1.5, "gray share {share}%");
        for i in 0..100 {
            let id = format!("user-{i}");
            assert_eq!(
                router.pick(&id).unwrap().gray,
                router.pick(&id).unwrap().gray
            );
        }
    }

    #[test]
    fn empty_side_fails_open_and_exclusion_skips() {
        let router = GrayRouter::new(GrayRule::new("v2", 100.0));
        router.set_hosts(vec![host(1, "v1")]);
        let p = router.pick("x").unwrap();
        assert!(!p.gray);
        assert!(
            router
                .pick_excluding("x", &["127.0.0.1:1".into()])
                .is_none()
        );
        router.set_rule(GrayRule::default());
        router.set_hosts(vec![host(1, "v1"), host(2, "v2")]);
        assert!((0..100).all(|i| router.pick(&i.to_string()).is_some_and(|p| !p.gray)));
        let mut down = host(4, "v2");
        down.healthy = false;
        router.set_hosts(vec![down.clone()]);
        assert!(router.pick("x").is_some(), "empty view ignored");
        let router = router.empty_protection(false);
        router.set_hosts(vec![down]);
        assert!(router.pick("x").is_none());
    }
}
