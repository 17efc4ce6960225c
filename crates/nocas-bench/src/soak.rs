//! `soak`: long churn against running servers, sampled every minute.
//!
//! Churn: gRPC clients come and go (each connects, registers an ephemeral
//! instance, subscribes to its service, listens to a config, lives 5-30 s,
//! disconnects, and is replaced), a publisher changes configs and
//! persistent instances twice a second. Every minute each server is
//! sampled: RSS, open files and threads from `/proc`, and from its metrics
//! the tasks alive in its runtime, its gRPC connections, and the pushes it
//! made that minute with their mean and p99 latency (change to ack, from
//! the `nocas_push_latency_seconds` histogram). Writes a CSV, an SVG plot
//! and a verdict: flat when, after the warm-up, the last minutes' RSS,
//! open files and tasks are within bounds of the early minutes' and push
//! p99 has not grown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::client::Conn;

/// One sample of one server.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Minute since the start (1-based).
    pub minute: u64,
    /// Server index (0-based).
    pub node: usize,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Open files.
    pub fds: u64,
    /// OS threads.
    pub threads: u64,
    /// Tasks alive in the runtime.
    pub tasks: f64,
    /// gRPC connections.
    pub connections: f64,
    /// Pushes acknowledged this minute.
    pub pushes: f64,
    /// Their mean latency, ms.
    pub push_mean_ms: f64,
    /// Their p99 latency (bucket bound), ms.
    pub push_p99_ms: f64,
}

/// What the soak is run against.
pub struct SoakTarget {
    /// HTTP addresses.
    pub http: Vec<SocketAddr>,
    /// gRPC addresses.
    pub grpc: Vec<SocketAddr>,
    /// Process ids (same order).
    pub pids: Vec<u32>,
}

fn proc_count(pid: u32, what: &str) -> u64 {
    match what {
        "fds" => std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64),
        _ => std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Threads:"))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0),
    }
}

/// The push-latency histogram and two gauges from a scrape.
#[derive(Debug, Default, Clone)]
struct Scrape {
    buckets: BTreeMap<u64, f64>,
    sum: f64,
    count: f64,
    tasks: f64,
    connections: f64,
}

async fn scrape(http: &reqwest::Client, addr: SocketAddr) -> Scrape {
    let text = match http
        .get(format!("http://{addr}/nacos/actuator/prometheus"))
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut s = Scrape::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        if series.starts_with("nocas_push_latency_seconds_bucket") {
            if let Some(le) = series
                .split("le=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            {
                // Bucket bounds in microseconds; +Inf is u64::MAX.
                let bound = if le == "+Inf" {
                    u64::MAX
                } else {
                    (le.parse::<f64>().unwrap_or(0.0) * 1e6) as u64
                };
                *s.buckets.entry(bound).or_default() += v;
            }
        } else if series.starts_with("nocas_push_latency_seconds_sum") {
            s.sum += v;
        } else if series.starts_with("nocas_push_latency_seconds_count") {
            s.count += v;
        } else if series == "nocas_runtime_alive_tasks" {
            s.tasks = v;
        } else if series.starts_with("nocas_grpc_connections") {
            s.connections += v;
        }
    }
    s
}

/// p99 bound (ms) of the pushes between two scrapes.
fn p99_ms(before: &Scrape, now: &Scrape) -> f64 {
    let total = now.count - before.count;
    if total <= 0.0 {
        return 0.0;
    }
    let want = total * 0.99;
    for (bound, n) in &now.buckets {
        let d = n - before.buckets.get(bound).copied().unwrap_or(0.0);
        if d >= want {
            return if *bound == u64::MAX {
                f64::INFINITY
            } else {
                *bound as f64 / 1000.0
            };
        }
    }
    f64::INFINITY
}

/// One churning client's life.
async fn client_life(grpc: SocketAddr, k: u64, life: Duration, stop: Arc<AtomicBool>) {
    let Ok(mut c) = Conn::open(grpc, None).await else {
        return;
    };
    let svc = format!("soak-svc-{}", k % 20);
    let _ = c
        .call(
            "InstanceRequest",
            json!({"namespace": "public", "groupName": "SOAK", "serviceName": svc,
                   "type": "registerInstance", "headers": {},
                   "instance": {"ip": format!("10.{}.{}.{}", (k >> 16) & 255, (k >> 8) & 255, k & 255),
                                "port": 8080, "weight": 1.0, "healthy": true, "enabled": true,
                                "ephemeral": true, "clusterName": "DEFAULT", "metadata": {}}}),
        )
        .await;
    let _ = c
        .call(
            "SubscribeServiceRequest",
            json!({"namespace": "public", "groupName": "SOAK", "serviceName": svc,
                   "clusters": "", "subscribe": true, "headers": {}}),
        )
        .await;
    let _ = c
        .call(
            "ConfigBatchListenRequest",
            json!({"listen": true, "headers": {}, "configListenContexts": [
                {"dataId": format!("soak-cfg-{}", k % 10), "group": "SOAK", "tenant": "", "md5": ""}]}),
        )
        .await;
    let until = Instant::now() + life;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(c);
}

/// Runs the soak for `minutes`, keeping `clients` churning clients per
/// server; writes `csv` and `svg`; returns the samples and the verdict.
pub async fn run(
    t: &SoakTarget,
    minutes: u64,
    clients: usize,
    csv: &Path,
    svg: &Path,
) -> anyhow::Result<(Vec<Sample>, Vec<String>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    // Churning clients: each slot replaces its client when it ends.
    for (node, grpc) in t.grpc.iter().enumerate() {
        for slot in 0..clients {
            let (grpc, stop, seq) = (*grpc, stop.clone(), seq.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = (node * 7919 + slot) as u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = seq.fetch_add(1, Ordering::Relaxed);
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let life = Duration::from_millis(5_000 + (n >> 33) % 25_000);
                    client_life(grpc, k, life, stop.clone()).await;
                }
            }));
        }
    }
    // The publisher: configs and persistent instances, round-robin.
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    {
        let (http, addrs, stop) = (http.clone(), t.http.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let a = addrs[(i as usize) % addrs.len()];
                let _ = http
                    .post(format!("http://{a}/nacos/v1/cs/configs"))
                    .form(&[
                        ("dataId", format!("soak-cfg-{}", i % 10)),
                        ("group", "SOAK".into()),
                        ("content", format!("v{i}")),
                    ])
                    .send()
                    .await;
                let (method, port) = if i.is_multiple_of(2) {
                    (reqwest::Method::POST, 9000 + (i / 2) % 50)
                } else {
                    (reqwest::Method::DELETE, 9000 + (i / 2) % 50)
                };
                let _ = http
                    .request(method, format!("http://{a}/nacos/v1/ns/instance"))
                    .query(&[
                        ("serviceName", format!("soak-svc-{}", i % 20)),
                        ("groupName", "SOAK".into()),
                        ("ip", "10.255.0.1".into()),
                        ("port", port.to_string()),
                        ("ephemeral", "false".into()),
                    ])
                    .send()
                    .await;
                i += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
    }
    let mut last: Vec<Scrape> = Vec::new();
    for a in &t.http {
        last.push(scrape(&http, *a).await);
    }
    let mut samples = Vec::new();
    let started = Instant::now();
    for minute in 1..=minutes {
        let at = started + Duration::from_secs(60 * minute);
        tokio::time::sleep_until(at.into()).await;
        for (node, (addr, pid)) in t.http.iter().zip(&t.pids).enumerate() {
            let now = scrape(&http, *addr).await;
            let prev = &last[node];
            let pushes = now.count - prev.count;
            let s = Sample {
                minute,
                node,
                rss_kib: crate::scenarios::rss_kib(*pid).unwrap_or(0),
                fds: proc_count(*pid, "fds"),
                threads: proc_count(*pid, "threads"),
                tasks: now.tasks,
                connections: now.connections,
                pushes,
                push_mean_ms: if pushes > 0.0 {
                    (now.sum - prev.sum) / pushes * 1000.0
                } else {
                    0.0
                },
                push_p99_ms: p99_ms(prev, &now),
            };
            eprintln!(
                "minute {minute} node {node}: rss {} MiB, fds {}, threads {}, tasks {}, conns {}, pushes {}, push mean {:.1} ms p99 {:.1} ms",
                s.rss_kib / 1024,
                s.fds,
                s.threads,
                s.tasks,
                s.connections,
                s.pushes,
                s.push_mean_ms,
                s.push_p99_ms
            );
            samples.push(s);
            last[node] = now;
        }
        write_csv(csv, &samples)?;
        std::fs::write(svg, plot(&samples, t.http.len()))
            .with_context(|| format!("write {}", svg.display()))?;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    let verdict = judge(&samples, t.http.len());
    Ok((samples, verdict))
}

fn write_csv(path: &Path, samples: &[Sample]) -> anyhow::Result<()> {
    let mut out = String::from(
        "minute,node,rss_kib,open_files,threads,tasks,grpc_connections,pushes,push_mean_ms,push_p99_ms\n",
    );
    for s in samples {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{:.2},{:.2}",
            s.minute,
            s.node + 1,
            s.rss_kib,
            s.fds,
            s.threads,
            s.tasks,
            s.connections,
            s.pushes,
            s.push_mean_ms,
            s.push_p99_ms
        );
    }
    std::fs::write(path, out).with_context(|| format!("write {}", path.display()))
}

/// A value read from a sample.
type Metric = dyn Fn(&Sample) -> f64;

/// Failures of the flatness rules (empty: flat). Warm-up: the first
/// quarter of the run (at least 2 minutes); the early window is the next
/// quarter, the late window the last quarter.
pub fn judge(samples: &[Sample], nodes: usize) -> Vec<String> {
    let minutes = samples.iter().map(|s| s.minute).max().unwrap_or(0);
    let q = (minutes / 4).max(1);
    let warm = q.max(2);
    let early = |s: &&Sample| s.minute > warm && s.minute <= warm + q;
    let late = |s: &&Sample| s.minute > minutes.saturating_sub(q);
    let mut fails = Vec::new();
    if minutes < warm + 2 * q {
        fails.push(format!("too short to judge: {minutes} minutes"));
        return fails;
    }
    for node in 0..nodes {
        let of = |f: &dyn Fn(&&Sample) -> bool, v: &dyn Fn(&Sample) -> f64| -> f64 {
            let xs: Vec<f64> = samples
                .iter()
                .filter(|s| s.node == node)
                .filter(f)
                .map(v)
                .collect();
            if xs.is_empty() {
                0.0
            } else {
                xs.iter().sum::<f64>() / xs.len() as f64
            }
        };
        let rules: [(&str, &Metric, f64, f64); 4] = [
            ("rss_kib", &|s| s.rss_kib as f64, 1.15, 4096.0),
            ("open_files", &|s| s.fds as f64, 1.15, 16.0),
            ("tasks", &|s| s.tasks, 1.15, 64.0),
            ("push_p99_ms", &|s| s.push_p99_ms, 2.0, 50.0),
        ];
        for (name, v, ratio, slack) in rules {
            let (a, b) = (of(&early, v), of(&late, v));
            if b > a * ratio + slack {
                fails.push(format!(
                    "node {}: {name} grew from {a:.1} (early) to {b:.1} (late)",
                    node + 1
                ));
            }
        }
    }
    fails
}

/// A plot of the samples: four panels (RSS, open files, tasks, push p99),
/// one line per node.
fn plot(samples: &[Sample], nodes: usize) -> String {
    const W: f64 = 420.0;
    const H: f64 = 220.0;
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    let panels: [(&str, &Metric); 4] = [
        ("RSS (MiB)", &|s| s.rss_kib as f64 / 1024.0),
        ("open files", &|s| s.fds as f64),
        ("runtime tasks", &|s| s.tasks),
        ("push p99 (ms)", &|s| {
            if s.push_p99_ms.is_finite() {
                s.push_p99_ms
            } else {
                0.0
            }
        }),
    ];
    let minutes = samples.iter().map(|s| s.minute).max().unwrap_or(1).max(1) as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n",
        W * 2.0 + 30.0,
        H * 2.0 + 40.0
    );
    for (i, (title, v)) in panels.iter().enumerate() {
        let (ox, oy) = (
            10.0 + (i % 2) as f64 * (W + 10.0),
            10.0 + (i / 2) as f64 * (H + 10.0),
        );
        let max = samples.iter().map(v).fold(0.0f64, f64::max).max(1e-9) * 1.1;
        let _ = writeln!(
            svg,
            "<rect x=\"{ox}\" y=\"{oy}\" width=\"{W}\" height=\"{H}\" fill=\"none\" stroke=\"#999\"/>\
             <text x=\"{}\" y=\"{}\">{title} (max {:.1})</text>",
            ox + 6.0,
            oy + 14.0,
            max / 1.1
        );
        for node in 0..nodes {
            let pts: Vec<String> = samples
                .iter()
                .filter(|s| s.node == node)
                .map(|s| {
                    let x = ox + 30.0 + (s.minute as f64 / minutes) * (W - 40.0);
                    let y = oy + H - 10.0 - v(s) / max * (H - 30.0);
                    format!("{x:.1},{y:.1}")
                })
                .collect();
            let _ = writeln!(
                svg,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>",
                colors[node % colors.len()],
                pts.join(" ")
            );
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"10\" y=\"{}\">x: minutes 1-{minutes}; one line per node</text></svg>",
        H * 2.0 + 32.0
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(minute: u64, rss: u64, p99: f64) -> Sample {
        Sample {
            minute,
            node: 0,
            rss_kib: rss,
            fds: 100,
            threads: 4,
            tasks: 500.0,
            connections: 10.0,
            pushes: 100.0,
            push_mean_ms: 1.0,
            push_p99_ms: p99,
        }
    }

    #[test]
    fn flat_passes_growth_fails() {
        let flat: Vec<Sample> = (1..=20).map(|m| s(m, 50_000 + m * 10, 5.0)).collect();
        assert!(judge(&flat, 1).is_empty(), "{:?}", judge(&flat, 1));
        let leak: Vec<Sample> = (1..=20).map(|m| s(m, 50_000 + m * 5_000, 5.0)).collect();
        assert!(judge(&leak, 1).iter().any(|f| f.contains("rss_kib")));
        let slow: Vec<Sample> = (1..=20)
            .map(|m| s(m, 50_000, if m > 15 { 500.0 } else { 5.0 }))
            .collect();
        assert!(judge(&slow, 1).iter().any(|f| f.contains("push_p99")));
        assert!(!judge(&flat[..3], 1).is_empty(), "too short");
        assert!(plot(&flat, 1).starts_with("<svg"));
        let a = Scrape {
            buckets: BTreeMap::from([(1000, 0.0), (5000, 0.0), (u64::MAX, 0.0)]),
            count: 0.0,
            ..Default::default()
        };
        let b = Scrape {
            buckets: BTreeMap::from([(1000, 90.0), (5000, 100.0), (u64::MAX, 100.0)]),
            count: 100.0,
            ..Default::default()
        };
        assert_eq!(p99_ms(&a, &b), 5.0);
    }
}
