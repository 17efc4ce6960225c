//! Active probes of persistent instances in clusters whose health checker
//! is TCP or HTTP. Only the leader probes; a health flip is a durable
//! command, so every node sees it.
//!
//! As in Nacos: an instance turns unhealthy after `probe_fail_threshold`
//! failed probes in a row (at once when the connection is refused) and
//! healthy again after `probe_ok_threshold` good ones.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use tokio::net::TcpStream;

use nocas_core::command::Command;
use nocas_core::names::ServiceKey;
use nocas_core::naming::{HealthChecker, InstanceKey};

use crate::app::AppRef;
use crate::health::Ticker;
use crate::metrics::{CheckKind, Metrics};

/// One thing to probe.
#[derive(Debug, Clone)]
struct Target {
    service: ServiceKey,
    instance: InstanceKey,
    host: String,
    port: u16,
    checker: HealthChecker,
    healthy: bool,
}

/// A probe's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Up,
    Down,
    /// Connection refused: down at once.
    Refused,
}

fn targets(app: &AppRef) -> Vec<Target> {
    let state = app.node.state().read();
    let mut out = Vec::new();
    for (key, rec) in state.all_services() {
        let probed: Vec<_> = rec
            .clusters
            .iter()
            .filter(|(_, c)| c.health_checker != HealthChecker::None)
            .collect();
        if probed.is_empty() {
            continue;
        }
        let Some(instances) = state.instances(key) else {
            continue;
        };
        for (ikey, inst) in instances {
            if let Some((_, c)) = probed.iter().find(|(name, _)| **name == ikey.cluster) {
                out.push(Target {
                    service: key.clone(),
                    instance: ikey.clone(),
                    host: inst.ip.to_string(),
                    port: if c.use_instance_port {
                        inst.port
                    } else {
                        c.check_port
                    },
                    checker: c.health_checker.clone(),
                    healthy: inst.healthy,
                });
            }
        }
    }
    out
}

fn refused(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::ConnectionRefused
}

async fn probe(
    client: &reqwest::Client,
    t: &Target,
    timeout: Duration,
    metrics: &Metrics,
) -> Verdict {
    match &t.checker {
        HealthChecker::None => Verdict::Up,
        HealthChecker::Tcp => {
            metrics.health_checked(CheckKind::Tcp);
            let addr = format!("{}:{}", t.host, t.port);
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(_)) => Verdict::Up,
                Ok(Err(e)) if refused(&e) => Verdict::Refused,
                _ => Verdict::Down,
            }
        }
        HealthChecker::Http {
            path,
            headers,
            expected_code,
        } => {
            metrics.health_checked(CheckKind::Http);
            let host = match t.host.parse::<std::net::IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, t.port).to_string(),
                Err(_) => format!("{}:{}", t.host, t.port),
            };
            let path = if path.starts_with('/') {
                path.clone()
            } else {
                format!("/{path}")
            };
            let mut req = client
                .get(format!("http://{host}{path}"))
                .timeout(timeout)
                .header("User-Agent", "Nocas-Health-Checker");
            for pair in headers.split('|') {
                if let Some((k, v)) = pair.split_once(':') {
                    req = req.header(k.trim(), v.trim());
                }
            }
            match req.send().await {
                Ok(resp) if resp.status().as_u16() == *expected_code => Verdict::Up,
                Ok(_) => Verdict::Down,
                Err(e) if e.is_connect() && !e.is_timeout() => Verdict::Refused,
                Err(_) => Verdict::Down,
            }
        }
    }
}

/// Probes every `probe_interval_ms` until stopped.
pub async fn run(app: AppRef, stop: tokio::sync::watch::Receiver<bool>) {
    let n = app.settings.naming.clone();
    let timeout = Duration::from_millis(n.probe_timeout_ms);
    let client = match reqwest::Client::builder().no_proxy().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP probe client; probes are off");
            return;
        }
    };
    // Consecutive (failures, successes) per instance.
    let mut streaks: HashMap<(ServiceKey, InstanceKey), (u32, u32)> = HashMap::new();
    let mut ticker = Ticker::new(n.probe_interval_ms, stop);
    while ticker.next().await {
        if !app.node.is_leader() {
            streaks.clear();
            continue;
        }
        let targets = targets(&app);
        let results: Vec<(Target, Verdict)> = futures::stream::iter(targets)
            .map(|t| {
                let client = &client;
                let metrics = &app.metrics;
                async move {
                    let v = probe(client, &t, timeout, metrics).await;
                    (t, v)
                }
            })
            .buffer_unordered(n.probe_concurrency.max(1))
            .collect()
            .await;
        let mut seen = std::collections::HashSet::new();
        for (t, verdict) in results {
            let id = (t.service.clone(), t.instance.clone());
            seen.insert(id.clone());
            let streak = streaks.entry(id).or_insert((0, 0));
            let flip = match verdict {
                Verdict::Up => {
                    *streak = (0, streak.1.saturating_add(1));
                    (!t.healthy && streak.1 >= n.probe_ok_threshold).then_some(true)
                }
                Verdict::Down | Verdict::Refused => {
                    *streak = (streak.0.saturating_add(1), 0);
                    let now = verdict == Verdict::Refused || streak.0 >= n.probe_fail_threshold;
                    (t.healthy && now).then_some(false)
                }
            };
            if let Some(healthy) = flip {
                tracing::info!(service = %t.service, instance = %t.instance, healthy, "probe changed health");
                let cmd = Command::SetInstanceHealth {
                    key: t.service,
                    instance: t.instance,
                    healthy,
                    from_probe: true,
                };
                if let Err(e) = app.write(cmd).await {
                    tracing::warn!(error = %e, "cannot record probe result");
                }
            }
        }
        streaks.retain(|k, _| seen.contains(k));
    }
}
