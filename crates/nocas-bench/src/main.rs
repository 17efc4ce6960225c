//! `nocas-bench`: load generator for any Nacos-compatible server (Nocas or a
//! peer), by address, over loopback.
//!
//! Scenarios so far: `push` (time from a registration to the push reaching
//! every subscriber) and `connections` (server memory per connection). Each
//! prints a markdown table and can write JSON. Everything is bounded in
//! time and count.
//!
//! Architecture invariant: talks to servers only over their public
//! protocols; no server internals.

mod client;
mod stats;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::client::{Conn, Push};
use crate::stats::{Summary, summarize};

#[derive(Parser)]
#[command(
    name = "nocas-bench",
    about = "Load generator for Nacos-compatible servers"
)]
struct Cli {
    /// Server HTTP address; gRPC is HTTP port + 1000 unless --grpc is given.
    #[arg(long, default_value = "127.0.0.1:8848")]
    server: SocketAddr,
    /// Server gRPC address.
    #[arg(long)]
    grpc: Option<SocketAddr>,
    /// Write results as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Register an instance, time until every subscriber has the push.
    Push {
        /// Subscriber counts to run, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "1,1000")]
        subscribers: Vec<usize>,
        /// Registrations timed per subscriber count.
        #[arg(long, default_value_t = 30)]
        rounds: usize,
        /// Longest wait for one round's pushes (ms).
        #[arg(long, default_value_t = 10_000)]
        round_timeout_ms: u64,
    },
    /// Publish configs as fast as the server acknowledges them.
    Publish {
        /// Concurrent publishers (one connection each).
        #[arg(long, default_value_t = 64)]
        workers: usize,
        /// Publishes in all.
        #[arg(long, default_value_t = 20_000)]
        count: usize,
        /// Content size in bytes.
        #[arg(long, default_value_t = 256)]
        size: usize,
    },
    /// Open connections and read the server's RSS before and after.
    Connections {
        /// Connections to open.
        #[arg(long, default_value_t = 5000)]
        count: usize,
        /// Server process id (for /proc/PID/status).
        #[arg(long)]
        pid: u32,
    },
}

/// Raises this process's open-files limit to the hard limit.
fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")
}

/// Opens `n` connections, at most `parallel` at a time; each one's pushes
/// go to `tx` tagged with its index.
async fn open_many(
    grpc: SocketAddr,
    n: usize,
    parallel: usize,
    tx: Option<mpsc::UnboundedSender<(usize, Push)>>,
) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + parallel).min(n);
        let batch = (start..end).map(|i| {
            let tx = tx.clone();
            async move {
                let (ptx, mut prx) = mpsc::unbounded_channel::<Push>();
                let conn = Conn::open(grpc, tx.as_ref().map(|_| ptx)).await?;
                if let Some(tx) = tx {
                    tokio::spawn(async move {
                        while let Some(p) = prx.recv().await {
                            if tx.send((i, p)).is_err() {
                                break;
                            }
                        }
                    });
                }
                anyhow::Ok(conn)
            }
        });
        for c in futures::future::join_all(batch).await {
            conns.push(c?);
        }
        start = end;
    }
    Ok(conns)
}

#[derive(Serialize)]
struct PushResult {
    subscribers: usize,
    rounds: usize,
    missed: usize,
    latency: Summary,
}

fn ports_of(body: &serde_json::Value) -> Vec<u64> {
    body["serviceInfo"]["hosts"]
        .as_array()
        .map(|h| h.iter().filter_map(|x| x["port"].as_u64()).collect())
        .unwrap_or_default()
}

async fn push_scenario(
    grpc: SocketAddr,
    s: usize,
    rounds: usize,
    round_timeout: Duration,
) -> anyhow::Result<PushResult> {
    let service = format!("bench-push-{}-{s}", std::process::id());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut subs = open_many(grpc, s, 64, Some(tx)).await?;
    let sub = json!({"namespace": "public", "serviceName": service, "groupName": "DEFAULT_GROUP", "subscribe": true, "clusters": "", "headers": {}});
    for c in &mut subs {
        let (t, _) = c.call("SubscribeServiceRequest", sub.clone()).await?;
        if t != "SubscribeServiceResponse" {
            bail!("subscribe failed: {t}");
        }
    }
    let mut driver = Conn::open(grpc, None).await?;
    let mut samples = Vec::with_capacity(s * rounds);
    let mut missed = 0;
    for r in 0..rounds {
        let port = 20_000 + r as u64;
        let reg = json!({"namespace": "public", "serviceName": service, "groupName": "DEFAULT_GROUP", "type": "registerInstance",
            "instance": {"ip": "10.99.0.1", "port": port}, "headers": {}});
        let mut seen = vec![false; s];
        let mut got = 0;
        let t0 = Instant::now();
        let (t, b) = driver.call("InstanceRequest", reg).await?;
        if b["resultCode"] != 200 {
            bail!("register failed: {t} {b}");
        }
        let deadline = tokio::time::Instant::now() + round_timeout;
        while got < s {
            let Ok(Some((i, p))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                break;
            };
            if p.kind == "NotifySubscriberRequest" && !seen[i] && ports_of(&p.body).contains(&port)
            {
                seen[i] = true;
                got += 1;
                samples.push(p.at.saturating_duration_since(t0));
            }
        }
        missed += s - got;
    }
    Ok(PushResult {
        subscribers: s,
        rounds,
        missed,
        latency: summarize(&mut samples),
    })
}

#[derive(Serialize)]
struct PublishResult {
    workers: usize,
    count: usize,
    failed: usize,
    seconds: f64,
    per_second: f64,
    latency: Summary,
}

async fn publish_scenario(
    grpc: SocketAddr,
    workers: usize,
    count: usize,
    size: usize,
) -> anyhow::Result<PublishResult> {
    let conns = open_many(grpc, workers, 64, None).await?;
    let content = "x".repeat(size);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks = conns.into_iter().map(|mut conn| {
        let next = next.clone();
        let content = content.clone();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let body = json!({"dataId": format!("bench-{i}"), "group": "BENCH", "tenant": "", "content": content, "headers": {}});
                let t0 = Instant::now();
                match conn.call("ConfigPublishRequest", body).await {
                    Ok((_, b)) if b["resultCode"] == 200 => lat.push(t0.elapsed()),
                    _ => failed += 1,
                }
            }
            (lat, failed)
        })
    });
    let mut lat = Vec::with_capacity(count);
    let mut failed = 0;
    for r in futures::future::join_all(tasks).await {
        let (l, f) = r?;
        lat.extend(l);
        failed += f;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(PublishResult {
        workers,
        count,
        failed,
        seconds,
        per_second: lat.len() as f64 / seconds,
        latency: summarize(&mut lat),
    })
}

#[derive(Serialize)]
struct ConnResult {
    connections: usize,
    rss_before_kib: u64,
    rss_after_kib: u64,
    bytes_per_connection: u64,
    connections_per_gib: u64,
}

async fn connections_scenario(
    grpc: SocketAddr,
    count: usize,
    pid: u32,
) -> anyhow::Result<ConnResult> {
    let before = rss_kib(pid)?;
    let conns = open_many(grpc, count, 64, None).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid)?;
    let per = (after.saturating_sub(before) * 1024) / count.max(1) as u64;
    let result = ConnResult {
        connections: conns.len(),
        rss_before_kib: before,
        rss_after_kib: after,
        bytes_per_connection: per,
        connections_per_gib: (1u64 << 30).checked_div(per).unwrap_or(0),
    };
    drop(conns);
    Ok(result)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    raise_nofile();
    let grpc = cli.grpc.unwrap_or_else(|| {
        let mut g = cli.server;
        g.set_port(cli.server.port().saturating_add(1000));
        g
    });
    let out = match cli.scenario {
        Scenario::Push {
            subscribers,
            rounds,
            round_timeout_ms,
        } => {
            let mut results = Vec::new();
            println!("| subscribers | rounds | pushes | missed | p50 ms | p99 ms | max ms |");
            println!("|---|---|---|---|---|---|---|");
            for s in subscribers {
                let r =
                    push_scenario(grpc, s, rounds, Duration::from_millis(round_timeout_ms)).await?;
                println!(
                    "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
                    r.subscribers,
                    r.rounds,
                    r.latency.count,
                    r.missed,
                    r.latency.p50_ms,
                    r.latency.p99_ms,
                    r.latency.max_ms
                );
                results.push(r);
            }
            json!({"scenario": "push", "results": results})
        }
        Scenario::Publish {
            workers,
            count,
            size,
        } => {
            let r = publish_scenario(grpc, workers, count, size).await?;
            println!("| workers | publishes | failed | seconds | per second | p50 ms | p99 ms |");
            println!("|---|---|---|---|---|---|---|");
            println!(
                "| {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.2} |",
                r.workers,
                r.latency.count,
                r.failed,
                r.seconds,
                r.per_second,
                r.latency.p50_ms,
                r.latency.p99_ms
            );
            json!({"scenario": "publish", "result": r})
        }
        Scenario::Connections { count, pid } => {
            let r = connections_scenario(grpc, count, pid).await?;
            println!(
                "| connections | RSS before KiB | RSS after KiB | bytes/connection | connections/GiB |"
            );
            println!("|---|---|---|---|---|");
            println!(
                "| {} | {} | {} | {} | {} |",
                r.connections,
                r.rss_before_kib,
                r.rss_after_kib,
                r.bytes_per_connection,
                r.connections_per_gib
            );
            json!({"scenario": "connections", "result": r})
        }
    };
    if let Some(path) = cli.json {
        std::fs::write(&path, serde_json::to_vec_pretty(&out)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}
