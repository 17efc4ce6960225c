//! A rolling restart of a three-node cluster under a steady write load,
//! with Nocas's default Raft timers (election timeout 0.8-1.6 s): each node
//! in turn is taken out of the writers' rotation, stopped with SIGTERM and
//! started again. A stopping leader hands leadership over first, so no
//! write fails; the test prints the worst write latency it saw, per step
//! (the figure the docs quote). Every acknowledged write is on every node
//! at the end.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nocas_testkit::{ClusterProcesses, Http, wait_until};
use parking_lot::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const WAIT: Duration = Duration::from_secs(60);
const WRITERS: usize = 4;

/// Nocas's default Raft timers; only snapshots are made sooner.
const TOML: &str = "[raft]\nsnapshot_after_logs = 2000\n[naming]\nbeat_check_interval_ms = 100\n";

#[derive(Default)]
struct Record {
    /// (step, latency) of every acknowledged write.
    latencies: Vec<(usize, Duration)>,
    /// Failed writes: (step, node, status or error).
    failures: Vec<(usize, usize, String)>,
    /// dataId -> content of every acknowledged write (last wins).
    acked: BTreeMap<String, String>,
}

async fn read(h: &Http, base: &str, id: &str) -> Option<String> {
    let r = h
        .try_call(
            "GET",
            &format!("{base}/nacos/v1/cs/configs"),
            &[("dataId", id), ("group", "R")],
            None,
            &[],
        )
        .await
        .ok()?;
    (r.status == 200).then_some(r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_writes_loses_and_fails_nothing() {
    let mut c = ClusterProcesses::spawn(Path::new(BIN), 3, TOML, &["--no-console"]);
    let h = Http::new();
    c.wait_leader(&h, WAIT).await;
    let bases: Vec<String> = (1..=3).map(|i| c.base(i)).collect();
    // Nodes in the writers' rotation (a load balancer draining one).
    let up: Arc<Vec<AtomicBool>> = Arc::new((0..3).map(|_| AtomicBool::new(true)).collect());
    let step = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let rec = Arc::new(Mutex::new(Record::default()));
    // Warm up: the cluster takes writes everywhere.
    for (i, b) in bases.iter().enumerate() {
        let (h, b) = (h.clone(), b.clone());
        wait_until(WAIT, &format!("node {} takes writes", i + 1), move || {
            let (h, b) = (h.clone(), b.clone());
            async move {
                h.try_call(
                    "POST",
                    &format!("{b}/nacos/v1/cs/configs"),
                    &[],
                    Some(&[("dataId", "warm"), ("group", "R"), ("content", "w")]),
                    &[],
                )
                .await
                .is_ok_and(|r| r.status == 200)
            }
        })
        .await;
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (h, bases, up, step, stop, rec) = (
            h.clone(),
            bases.clone(),
            up.clone(),
            step.clone(),
            stop.clone(),
            rec.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut next = w;
            while !stop.load(Ordering::Relaxed) {
                next = (next + 1) % 3;
                if !up[next].load(Ordering::Acquire) {
                    continue;
                }
                let id = format!("w{w}-{}", n % 50);
                let content = format!("v{n}");
                n += 1;
                let s = step.load(Ordering::Relaxed);
                let t0 = Instant::now();
                let r = h
                    .try_call(
                        "POST",
                        &format!("{}/nacos/v1/cs/configs", bases[next]),
                        &[],
                        Some(&[("dataId", &id), ("group", "R"), ("content", &content)]),
                        &[],
                    )
                    .await;
                let took = t0.elapsed();
                let mut g = rec.lock();
                match r {
                    Ok(r) if r.status == 200 => {
                        g.latencies.push((s, took));
                        g.acked.insert(id, content);
                    }
                    Ok(r) => g
                        .failures
                        .push((s, next + 1, format!("{} {}", r.status, r.body))),
                    Err(e) => g.failures.push((s, next + 1, e)),
                }
            }
        }));
    }
    let settle = || tokio::time::sleep(Duration::from_millis(1500));
    settle().await;
    // The leader first (the case that needs the hand-over), then the rest.
    let first = c.leader(&h).await.expect("a leader");
    let order: Vec<usize> = std::iter::once(first)
        .chain((1..=3).filter(|i| *i != first))
        .collect();
    let mut leaders = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        let leader_before = c.leader(&h).await;
        leaders.push(leader_before);
        step.store(n + 1, Ordering::Relaxed);
        up[i - 1].store(false, Ordering::Release);
        // Let writes in flight to it finish (the writers check before each).
        tokio::time::sleep(Duration::from_millis(200)).await;
        tokio::task::block_in_place(|| c.terminate(i));
        tokio::task::block_in_place(|| c.restart(i));
        let (h2, b) = (h.clone(), c.base(i));
        wait_until(WAIT, &format!("node {i} serves again"), move || {
            let (h, b) = (h2.clone(), b.clone());
            async move { read(&h, &b, "warm").await.is_some() }
        })
        .await;
        up[i - 1].store(true, Ordering::Release);
        settle().await;
    }
    step.store(4, Ordering::Relaxed);
    settle().await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let rec = Arc::try_unwrap(rec).ok().unwrap().into_inner();
    let mut report = String::new();
    for s in 0..=4 {
        let mut l: Vec<Duration> = rec
            .latencies
            .iter()
            .filter(|(x, _)| *x == s)
            .map(|(_, d)| *d)
            .collect();
        l.sort();
        if l.is_empty() {
            continue;
        }
        let what = match s {
            0 => "before".to_string(),
            4 => "after".to_string(),
            n => format!(
                "restart node {}{}",
                order[n - 1],
                if leaders[n - 1] == Some(order[n - 1]) {
                    " (leader)"
                } else {
                    ""
                }
            ),
        };
        report.push_str(&format!(
            "{what}: {} writes, median {:?}, p99 {:?}, worst {:?}\n",
            l.len(),
            l[l.len() / 2],
            l[(l.len() * 99 / 100).min(l.len() - 1)],
            l[l.len() - 1]
        ));
    }
    println!("ROLLING RESTART (leaders before each step: {leaders:?})\n{report}");
    assert!(
        rec.failures.is_empty(),
        "writes failed during the rolling restart: {:?}\n{report}",
        &rec.failures[..rec.failures.len().min(10)]
    );
    assert_eq!(leaders[0], Some(order[0]), "the first node restarted led");
    assert_ne!(
        c.leader(&h).await,
        None,
        "the cluster has a leader after the rolling restart"
    );
    // Every acknowledged write is on every node.
    for i in 1..=3 {
        let (h, b, acked) = (h.clone(), c.base(i), rec.acked.clone());
        wait_until(
            WAIT,
            &format!("node {i} holds every acknowledged write"),
            move || {
                let (h, b, acked) = (h.clone(), b.clone(), acked.clone());
                async move {
                    for (id, content) in &acked {
                        if read(&h, &b, id).await.as_deref() != Some(content.as_str()) {
                            return false;
                        }
                    }
                    true
                }
            },
        )
        .await;
    }
}
