//! Curves: how the cost of register, list, config get and push grows with
//! the number of services or configs a load is spread over (K) and with
//! the load itself (×1, ×10, ×100 a base number of clients), so a reader
//! sees where each one bends rather than one point.
//!
//! - `register-curve`, `list-curve`, `config-get-curve`: closed-loop gRPC
//!   load from W connections over K services (each with 10 instances, for
//!   list) or K configs of 1 KiB; operation `i` goes to key `i % K`; rows
//!   `K=k W=w` with throughput and latency. A gRPC connection holds one
//!   instance per service, so registrations into few services replace
//!   each other: the hot-service case.
//! - `push-curve`: C subscriber connections each subscribed to all K
//!   services; each round registers a new instance into every one of the K
//!   services at once and times the push of each change to each
//!   subscriber (C × K pushes a round); rows `K=k C=c` with latency.
//!
//! Owns nothing but the measurement; talks to servers only over gRPC.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use nocas_proto::grpc::payload;
use serde_json::json;
use tokio::sync::mpsc;

use crate::client::{Conn, Push};
use crate::load::Limit;
use crate::report::Row;
use crate::scenarios::{
    SUBSCRIPTION_SETTLE, Target, batch_register, grpc_load, http_publish, instance_json, ip_of,
    open_many, run_prefix,
};
use crate::stats::summarize;

/// What a curve run covers.
#[derive(Debug, Clone)]
pub struct CurveSpec {
    /// Services or configs the load is spread over.
    pub keys: Vec<usize>,
    /// Load multipliers.
    pub loads: Vec<usize>,
    /// Workers of the closed-loop scenarios at load ×1.
    pub base_workers: usize,
    /// Subscriber connections of push at load ×1.
    pub base_subscribers: usize,
    /// Push rounds per point.
    pub rounds: usize,
    /// Longest wait for one push round.
    pub round_timeout: Duration,
}

/// Runs every curve; rows in scenario order.
pub async fn curves(t: Target, spec: &CurveSpec, limit: Limit) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(
        spec.keys.iter().chain(&spec.loads).all(|n| *n > 0)
            && spec.base_workers > 0
            && spec.base_subscribers > 0,
        "curve: keys, loads and base counts must be at least 1"
    );
    let mut rows = Vec::new();
    for &k in &spec.keys {
        for &x in &spec.loads {
            rows.push(register(t, k, spec.base_workers * x, limit).await?);
        }
    }
    for &k in &spec.keys {
        let (owner, query) = list_setup(t, k).await?;
        for &x in &spec.loads {
            let w = spec.base_workers * x;
            let r = grpc_load(t, w, limit, query.clone()).await?;
            rows.push(Row::from_load("list-curve", format!("K={k} W={w}"), &r));
        }
        drop(owner);
    }
    for &k in &spec.keys {
        let query = config_setup(t, k).await?;
        for &x in &spec.loads {
            let w = spec.base_workers * x;
            let r = grpc_load(t, w, limit, query.clone()).await?;
            rows.push(Row::from_load(
                "config-get-curve",
                format!("K={k} W={w}"),
                &r,
            ));
        }
    }
    for &k in &spec.keys {
        for &x in &spec.loads {
            let c = spec.base_subscribers * x;
            rows.push(push(t, k, c, spec.rounds, spec.round_timeout).await?);
        }
    }
    Ok(rows)
}

async fn register(t: Target, k: usize, w: usize, limit: Limit) -> anyhow::Result<Row> {
    let p = format!("{}-creg-{k}", run_prefix());
    let k64 = k as u64;
    let req = std::sync::Arc::new(move |i: u64| {
        let body = json!({"namespace": "public", "serviceName": format!("{p}-{}", i % k64),
            "groupName": "DEFAULT_GROUP", "type": "registerInstance",
            "instance": instance_json(&ip_of(i), 8080), "headers": {}});
        payload("InstanceRequest", &body, HashMap::new())
    });
    let r = grpc_load(t, w, limit, req).await?;
    Ok(Row::from_load("register-curve", format!("K={k} W={w}"), &r))
}

/// K services of 10 instances each (kept by the returned connection);
/// the query of operation `i` asks for service `i % K`.
async fn list_setup(t: Target, k: usize) -> anyhow::Result<(Conn, crate::scenarios::GrpcReq)> {
    let p = format!("{}-clist-{k}", run_prefix());
    let mut owner = Conn::open(t.grpc, None).await?;
    for j in 0..k {
        batch_register(&mut owner, &format!("{p}-{j}"), 0, 10).await?;
    }
    let k64 = k as u64;
    let query: crate::scenarios::GrpcReq = std::sync::Arc::new(move |i: u64| {
        payload(
            "ServiceQueryRequest",
            &json!({"namespace": "public", "serviceName": format!("{p}-{}", i % k64),
                "groupName": "DEFAULT_GROUP", "cluster": "", "healthyOnly": false,
                "udpPort": 0, "headers": {}}),
            HashMap::new(),
        )
    });
    Ok((owner, query))
}

/// K configs of 1 KiB; the query of operation `i` asks for config `i % K`.
async fn config_setup(t: Target, k: usize) -> anyhow::Result<crate::scenarios::GrpcReq> {
    let p = format!("{}-cget-{k}", run_prefix());
    let content = "x".repeat(1024);
    for j in 0..k {
        http_publish(t, &format!("{p}-{j}"), &content).await?;
    }
    let k64 = k as u64;
    Ok(std::sync::Arc::new(move |i: u64| {
        payload(
            "ConfigQueryRequest",
            &json!({"dataId": format!("{p}-{}", i % k64), "group": "DEFAULT_GROUP",
                "tenant": "", "tag": "", "headers": {}}),
            HashMap::new(),
        )
    }))
}

/// Connections that register the changes of a push round, at most.
const DRIVERS: usize = 8;

async fn push(
    t: Target,
    k: usize,
    c: usize,
    rounds: usize,
    round_timeout: Duration,
) -> anyhow::Result<Row> {
    if rounds * k > 40_000 {
        bail!("push-curve: rounds × K must stay under 40,000 (ports)");
    }
    let p = format!("{}-cpush-{k}-{c}", run_prefix());
    let services: Vec<String> = (0..k).map(|j| format!("{p}-{j}")).collect();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut subs = open_many(t.grpc, c, 64, Some(tx)).await?;
    // Every connection subscribes to every service, the connections in
    // parallel.
    let subscribing = subs.iter_mut().map(|conn| {
        let services = &services;
        async move {
            for s in services {
                let body = json!({"namespace": "public", "serviceName": s,
                    "groupName": "DEFAULT_GROUP", "subscribe": true, "clusters": "",
                    "headers": {}});
                let (ty, _) = conn.call("SubscribeServiceRequest", body).await?;
                if ty != "SubscribeServiceResponse" {
                    bail!("subscribe failed: {ty}");
                }
            }
            anyhow::Ok(())
        }
    });
    for r in futures::future::join_all(subscribing).await {
        r?;
    }
    tokio::time::sleep(SUBSCRIPTION_SETTLE).await;
    while rx.try_recv().is_ok() {}
    let mut drivers = open_many(t.grpc, k.min(DRIVERS), 8, None).await?;
    let mut samples = Vec::with_capacity(c * k * rounds);
    let mut missed = 0;
    for r in 0..rounds {
        // Service j of round r gets port 20000 + r·K + j: a port names
        // both, so a push is matched without parsing it.
        let base = 20_000 + (r * k) as u64;
        let n = drivers.len();
        let registering = drivers.iter_mut().enumerate().map(|(d, conn)| {
            let services = &services;
            async move {
                let mut started = Vec::new();
                for j in (d..k).step_by(n) {
                    let port = base + j as u64;
                    let reg = json!({"namespace": "public", "serviceName": services[j],
                        "groupName": "DEFAULT_GROUP", "type": "registerInstance",
                        "instance": instance_json("10.99.0.1", port), "headers": {}});
                    let t0 = Instant::now();
                    let (ty, b) = conn.call("InstanceRequest", reg).await?;
                    if b["resultCode"] != 200 {
                        bail!("register failed: {ty} {b}");
                    }
                    started.push((j, t0));
                }
                anyhow::Ok(started)
            }
        });
        let mut t0 = vec![Instant::now(); k];
        let (got, m) = {
            let collecting = collect(&mut rx, c, k, base, round_timeout);
            let (regs, got) = tokio::join!(futures::future::join_all(registering), collecting);
            for started in regs {
                for (j, at) in started? {
                    t0[j] = at;
                }
            }
            got
        };
        samples.extend(
            got.into_iter()
                .map(|(j, at)| at.saturating_duration_since(t0[j])),
        );
        missed += m;
        while rx.try_recv().is_ok() {}
    }
    let s = summarize(&mut samples);
    Ok(Row::new("push-curve", format!("K={k} C={c}"))
        .with("p50_ms", s.p50_ms)
        .with("p99_ms", s.p99_ms)
        .with("max_ms", s.max_ms)
        .with("pushes", s.count as f64)
        .with("missed", missed as f64)
        .with("rounds", rounds as f64))
}

/// The first push of each (connection, service) carrying this round's
/// port of that service: (service, arrival) of each, and how many were
/// missed.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<(usize, Push)>,
    c: usize,
    k: usize,
    base: u64,
    timeout: Duration,
) -> (Vec<(usize, Instant)>, usize) {
    let want = c * k;
    let mut seen = vec![false; want];
    let mut got = Vec::with_capacity(want);
    let deadline = tokio::time::Instant::now() + timeout;
    while got.len() < want {
        let Ok(Some((i, p))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        if p.kind != "NotifySubscriberRequest" {
            continue;
        }
        // A service's push lists its instances of earlier rounds too, but
        // only this round's port is new.
        for port in ports(&p.body) {
            let Some(j) = port
                .checked_sub(base)
                .filter(|j| *j < k as u64)
                .map(|j| j as usize)
            else {
                continue;
            };
            let slot = i * k + j;
            if !seen[slot] {
                seen[slot] = true;
                got.push((j, p.at));
            }
            break;
        }
    }
    let n = got.len();
    (got, want - n)
}

/// The numbers after each `"port":` in a JSON body, without parsing it.
fn ports(body: &[u8]) -> impl Iterator<Item = u64> + '_ {
    const NEEDLE: &[u8] = b"\"port\":";
    memchr::memmem::find_iter(body, NEEDLE).filter_map(|at| {
        let digits = &body[at + NEEDLE.len()..];
        let end = digits
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_read_from_a_push_body() {
        let body = br#"{"hosts":[{"ip":"a","port":20001,"w":1},{"port":8080}],"port":7}"#;
        assert_eq!(super::ports(body).collect::<Vec<_>>(), [20001, 8080, 7]);
        assert_eq!(super::ports(b"\"port\":").count(), 0);
    }
}
