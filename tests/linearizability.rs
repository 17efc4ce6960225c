//! Linearizable reads under faults: a three-node cluster with
//! `[consistency] reads = "linearizable"` takes concurrent writes and reads
//! of a few configs at random nodes while its leader and followers are
//! paused (SIGSTOP) and killed (`kill -9`) and started again (a killed
//! leader also at once, back before the others elect). The history
//! (when each operation was sent and answered, what it wrote or read) is
//! checked per key with a Wing-Gong search (`nocas_testkit::linearizable`):
//! a read never misses a write acknowledged before it began, and never
//! sees one undone. Independently of the search, each key's config history
//! (the order the cluster applied its writes in) must hold every
//! acknowledged write, and hold each write once: a write applied twice (a
//! forwarded write retried after it was taken) is caught there even when
//! no read happened to see it. On failure the history goes to a file under
//! the target directory.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nocas_testkit::linearizable::{Event, Op, check};
use nocas_testkit::{ClusterProcesses, FAST_CLUSTER_TOML, Http};
use parking_lot::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const KEYS: usize = 4;
const CLIENTS: usize = 6;
const RUN: Duration = Duration::from_secs(20);

/// A small xorshift generator (the history need not be reproducible, only
/// varied).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The leader as a node that answers sees it (a paused or killed node
/// does not answer within the client's timeout).
async fn leader_of(h: &Http, bases: &[String]) -> Option<usize> {
    for b in bases {
        let url = format!("{b}/nacos/v2/core/cluster/node/self");
        let call = h.try_call("GET", &url, &[], None, &[]);
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_millis(500), call).await
            && let Some(l) = r.json()["data"]["extendInfo"]["raftMetaData"]["leader"].as_u64()
        {
            return Some(l as usize);
        }
    }
    None
}

/// The values `key` held, in the order the cluster applied them, read from
/// its config history at `base` (an update's record keeps the content it
/// replaced; the insert's record the first content).
async fn applied_sequence(h: &Http, base: &str, key: &str) -> Vec<String> {
    let url = format!("{base}/nacos/v1/cs/history");
    let mut records: Vec<(u64, String)> = Vec::new();
    for page in 1.. {
        let p = page.to_string();
        let r = h
            .get(
                &url,
                &[
                    ("search", "accurate"),
                    ("dataId", key),
                    ("group", "L"),
                    ("pageNo", &p),
                    ("pageSize", "500"),
                ],
            )
            .await
            .json();
        let items = r["pageItems"].as_array().cloned().unwrap_or_default();
        for it in &items {
            let nid: u64 = it["id"].as_str().and_then(|s| s.parse().ok()).unwrap();
            records.push((nid, it["opType"].as_str().unwrap_or_default().to_string()));
        }
        if items.len() < 500 {
            break;
        }
    }
    records.sort();
    let mut seq = Vec::new();
    for (i, (nid, op)) in records.iter().enumerate() {
        // The insert's content is also the first update's: take it only
        // when nothing replaced it.
        if op == "I" && records.get(i + 1).is_some_and(|(_, o)| o == "U") {
            continue;
        }
        let n = nid.to_string();
        let d = h
            .get(&url, &[("dataId", key), ("group", "L"), ("nid", &n)])
            .await
            .json();
        seq.push(d["content"].as_str().unwrap_or_default().to_string());
    }
    let now = h
        .get(
            &format!("{base}/nacos/v1/cs/configs"),
            &[("dataId", key), ("group", "L")],
        )
        .await;
    if now.status == 200 {
        let current = now.body.clone();
        if seq.last() != Some(&current) || records.last().is_some_and(|(_, o)| o == "U") {
            seq.push(current);
        }
    }
    seq
}

/// Writes `history` of the keys in `keys` (times in ms since `t0`), the
/// faults and the applied orders to a file; returns its path.
fn dump(
    t0: Instant,
    history: &[Event],
    keys: &[&str],
    faults: &[(Instant, String)],
    applied: &HashMap<String, Vec<String>>,
) -> std::path::PathBuf {
    let ms = |t: Instant| t.saturating_duration_since(t0).as_secs_f64() * 1000.0;
    let mut out = String::new();
    for (t, f) in faults {
        let _ = writeln!(out, "fault {:.1} {f}", ms(*t));
    }
    for k in keys {
        let _ = writeln!(out, "applied {k} {:?}", applied.get(*k));
        let mut evs: Vec<&Event> = history.iter().filter(|e| e.key == *k).collect();
        evs.sort_by_key(|e| e.start);
        for e in evs {
            let end = e.end.map_or("?".to_string(), |t| format!("{:.1}", ms(t)));
            let _ = writeln!(out, "op {k} {:.1} {end} {:?}", ms(e.start), e.op);
        }
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("linearizability-{}.txt", std::process::id()));
    let _ = std::fs::write(&path, out);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_stay_linearizable_under_pauses_and_kills() {
    // With a pipelined group commit (several entries proposed at once),
    // so entries overlapping in flight are checked too.
    let toml = format!(
        "{}\n[consistency]\nreads = \"linearizable\"\n",
        FAST_CLUSTER_TOML.replace("[raft]\n", "[raft]\npipeline = 4\n")
    );
    let c = Arc::new(Mutex::new(ClusterProcesses::spawn(
        Path::new(BIN),
        3,
        &toml,
        &["--no-console"],
    )));
    let h = Http::new();
    let bases: Vec<String> = {
        let g = c.lock();
        (1..=3).map(|i| g.base(i)).collect()
    };
    // Leader election before the clock starts.
    let deadline = Instant::now() + Duration::from_secs(30);
    while leader_of(&h, &bases).await.is_none() {
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let history = Arc::new(Mutex::new(Vec::<Event>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for cl in 0..CLIENTS {
        let (client, bases, history, stop) =
            (client.clone(), bases.clone(), history.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((cl as u64 + 1) * 0x1000_0001));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let base = &bases[rng.below(3) as usize];
                let key = format!("lin-{}", rng.below(KEYS as u64));
                let url = format!("{base}/nacos/v1/cs/configs");
                if rng.below(2) == 0 {
                    n += 1;
                    let value = format!("c{cl}-{n}");
                    let start = Instant::now();
                    let r = client
                        .post(&url)
                        .form(&[
                            ("dataId", key.as_str()),
                            ("group", "L"),
                            ("content", &value),
                        ])
                        .send()
                        .await;
                    let ok = match r {
                        Ok(r) => r.status() == 200 && r.text().await.is_ok_and(|t| t == "true"),
                        Err(_) => false,
                    };
                    let end = ok.then(Instant::now);
                    history.lock().push(Event {
                        key,
                        op: Op::Write(value),
                        start,
                        end,
                    });
                } else {
                    let start = Instant::now();
                    let r = client
                        .get(&url)
                        .query(&[("dataId", key.as_str()), ("group", "L")])
                        .send()
                        .await;
                    let seen = match r {
                        Ok(r) if r.status() == 200 => r.text().await.ok().map(Some),
                        Ok(r) if r.status() == 404 => Some(None),
                        _ => None,
                    };
                    let end = Instant::now();
                    if let Some(v) = seen {
                        history.lock().push(Event {
                            key,
                            op: Op::Read(v),
                            start,
                            end: Some(end),
                        });
                    }
                }
            }
        }));
    }
    // Faults: pause and kill the leader and followers in turn.
    let started = Instant::now();
    // Every fault and its end (resumed, restarted), with its time.
    let mut timeline: Vec<(Instant, String)> = Vec::new();
    let mut round = 0usize;
    while started.elapsed() < RUN {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let Some(leader) = leader_of(&h, &bases).await else {
            continue;
        };
        let follower = (1..=3).find(|i| *i != leader).unwrap_or(1);
        round += 1;
        let c2 = c.clone();
        match round % 5 {
            1 => {
                timeline.push((Instant::now(), format!("pause leader {leader}")));
                c.lock().pause(leader);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                c.lock().resume(leader);
                timeline.push((Instant::now(), format!("resumed {leader}")));
            }
            2 => {
                timeline.push((Instant::now(), format!("kill follower {follower}")));
                tokio::task::spawn_blocking(move || c2.lock().kill(follower))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(700)).await;
                let c2 = c.clone();
                tokio::task::spawn_blocking(move || c2.lock().restart(follower))
                    .await
                    .unwrap();
                timeline.push((Instant::now(), format!("restarted {follower}")));
            }
            3 => {
                timeline.push((Instant::now(), format!("kill leader {leader}")));
                tokio::task::spawn_blocking(move || c2.lock().kill(leader))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(700)).await;
                let c2 = c.clone();
                tokio::task::spawn_blocking(move || c2.lock().restart(leader))
                    .await
                    .unwrap();
                timeline.push((Instant::now(), format!("restarted {leader}")));
            }
            4 => {
                // Back before the others elect (openraft restores a node
                // that led when it stopped as leader of the same term).
                timeline.push((Instant::now(), format!("kill and restart leader {leader}")));
                tokio::task::spawn_blocking(move || {
                    let mut g = c2.lock();
                    g.kill(leader);
                    g.restart(leader);
                })
                .await
                .unwrap();
                timeline.push((Instant::now(), format!("restarted {leader}")));
            }
            _ => {
                timeline.push((Instant::now(), format!("pause follower {follower}")));
                c.lock().pause(follower);
                tokio::time::sleep(Duration::from_millis(1500)).await;
                c.lock().resume(follower);
                timeline.push((Instant::now(), format!("resumed {follower}")));
            }
        }
    }
    let faults: Vec<&str> = timeline
        .iter()
        .map(|(_, f)| f.as_str())
        .filter(|f| !f.starts_with("resumed") && !f.starts_with("restarted"))
        .collect();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let history = std::mem::take(&mut *history.lock());
    let writes = history
        .iter()
        .filter(|e| matches!(e.op, Op::Write(_)))
        .count();
    let unknown = history.iter().filter(|e| e.end.is_none()).count();
    let reads = history.len() - writes;
    println!(
        "history: {} operations ({writes} writes, {unknown} with unknown outcome, {reads} reads), faults: {faults:?}",
        history.len()
    );
    assert!(
        reads > 100 && writes > 100,
        "too little got through to judge"
    );
    assert!(faults.len() >= 5, "every kind of fault ran: {faults:?}");
    // The order each key's writes were applied in, as the leader has it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        if let Some(l) = leader_of(&h, &bases).await {
            break l;
        }
        assert!(Instant::now() < deadline, "no leader after the faults");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let keys: Vec<String> = (0..KEYS).map(|k| format!("lin-{k}")).collect();
    let mut applied = HashMap::new();
    let mut problems = Vec::new();
    for key in &keys {
        let seq = applied_sequence(&h, &bases[leader - 1], key).await;
        let mut seen = HashMap::new();
        for v in &seq {
            *seen.entry(v.as_str()).or_insert(0) += 1;
        }
        for (v, n) in &seen {
            if *n > 1 {
                problems.push(format!("{key}: '{v}' applied {n} times"));
            }
        }
        for e in history.iter().filter(|e| &e.key == key && e.end.is_some()) {
            if let Op::Write(v) = &e.op
                && !seen.contains_key(v.as_str())
            {
                problems.push(format!("{key}: acknowledged '{v}' never applied"));
            }
        }
        applied.insert(key.clone(), seq);
    }
    let t0 = Instant::now();
    let bad = check(&history, None, 200_000_000);
    println!("checked in {:?}", t0.elapsed());
    if !bad.is_empty() || !problems.is_empty() {
        let mut failed: Vec<&str> = bad.keys().map(String::as_str).collect();
        failed.extend(problems.iter().filter_map(|p| p.split(':').next()));
        failed.sort_unstable();
        failed.dedup();
        let path = dump(started, &history, &failed, &timeline, &applied);
        panic!(
            "not linearizable: {bad:?}; applied order: {problems:?} (faults: {faults:?}; history in {})",
            path.display()
        );
    }
}
