//! Three-node clusters of real processes on loopback: forwarding and
//! replication, soft state across nodes, leader loss mid-stream, quorum loss
//! and healing, catch-up by snapshot, SDK failover, membership changes.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nocas_testkit::{ClusterProcesses, FAST_CLUSTER_TOML, Http, wait_until};
use tokio::sync::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const WAIT: Duration = Duration::from_secs(20);

/// At most this many clusters run at once: each is three processes, and
/// more at a time starve a 2-core machine into missing its timeouts.
static CLUSTERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(3);

/// A running cluster and its place among those running at once.
struct Cluster {
    c: ClusterProcesses,
    _slot: tokio::sync::SemaphorePermit<'static>,
}

impl std::ops::Deref for Cluster {
    type Target = ClusterProcesses;
    fn deref(&self) -> &ClusterProcesses {
        &self.c
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut ClusterProcesses {
        &mut self.c
    }
}

/// Waits for a slot among the clusters running at once.
fn slot() -> tokio::sync::SemaphorePermit<'static> {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current()
            .block_on(CLUSTERS.acquire())
            .expect("semaphore open")
    })
}

/// A cluster with fast timers; `raft_extra` goes into the `[raft]` table.
fn cluster(n: usize, raft_extra: &str) -> Cluster {
    let slot = slot();
    let toml = FAST_CLUSTER_TOML.replace("[raft]\n", &format!("[raft]\n{raft_extra}"));
    Cluster {
        c: ClusterProcesses::spawn(Path::new(BIN), n, &toml, &[]),
        _slot: slot,
    }
}

async fn ports(h: &Http, base: &str, svc: &str) -> BTreeSet<u64> {
    match h
        .try_call(
            "GET",
            &format!("{base}/nacos/v1/ns/instance/list"),
            &[("serviceName", svc)],
            None,
            &[],
        )
        .await
    {
        Ok(r) if r.status == 200 => r.json()["hosts"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["port"].as_u64()).collect())
            .unwrap_or_default(),
        _ => BTreeSet::new(),
    }
}

async fn publish(h: &Http, base: &str, data_id: &str, content: &str) -> Option<u16> {
    h.try_call(
        "POST",
        &format!("{base}/nacos/v1/cs/configs"),
        &[],
        Some(&[("dataId", data_id), ("group", "G"), ("content", content)]),
        &[],
    )
    .await
    .ok()
    .map(|r| r.status)
}

async fn get(h: &Http, base: &str, data_id: &str) -> Option<String> {
    let r = h
        .try_call(
            "GET",
            &format!("{base}/nacos/v1/cs/configs"),
            &[("dataId", data_id), ("group", "G")],
            None,
            &[],
        )
        .await
        .ok()?;
    (r.status == 200).then_some(r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_anywhere_reads_everywhere_and_soft_state_spreads() {
    let c = cluster(3, "");
    let h = Http::new();
    let leader = c.wait_leader(&h, WAIT).await;
    let follower = (1..=3).find(|i| *i != leader).unwrap();
    // A write at a follower is forwarded to the leader.
    assert_eq!(publish(&h, &c.base(follower), "fwd", "v1").await, Some(200));
    for i in 1..=3 {
        let base = c.base(i);
        wait_until(WAIT, "config on every node", || {
            let (h, base) = (h.clone(), base.clone());
            async move { get(&h, &base, "fwd").await.as_deref() == Some("v1") }
        })
        .await;
    }
    // A persistent instance (through the log) and an ephemeral one (soft
    // state owned by the node that took it) are seen on every node.
    let r = h
        .post(
            &format!("{}/nacos/v1/ns/instance", c.base(1)),
            &[
                ("serviceName", "p"),
                ("ip", "10.0.0.1"),
                ("port", "1"),
                ("ephemeral", "false"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .post(
            &format!("{}/nacos/v1/ns/instance", c.base(2)),
            &[("serviceName", "e"), ("ip", "10.0.0.2"), ("port", "2")],
        )
        .await;
    assert_eq!(r.status, 200);
    for i in 1..=3 {
        let base = c.base(i);
        wait_until(WAIT, "instances on every node", || {
            let (h, base) = (h.clone(), base.clone());
            async move {
                ports(&h, &base, "p").await == [1].into()
                    && ports(&h, &base, "e").await == [2].into()
            }
        })
        .await;
    }
    // Beats reach the owner from any node; a deregistration spreads.
    let b = h
        .put(
            &format!("{}/nacos/v1/ns/instance/beat", c.base(3)),
            &[("serviceName", "e"), ("ip", "10.0.0.2"), ("port", "2")],
        )
        .await;
    assert_eq!(
        b.json()["code"],
        10200,
        "beat forwarded to the owner: {}",
        b.body
    );
    h.delete(
        &format!("{}/nacos/v1/ns/instance", c.base(2)),
        &[("serviceName", "e"), ("ip", "10.0.0.2"), ("port", "2")],
    )
    .await;
    let base3 = c.base(3);
    wait_until(WAIT, "deregistration seen by node 3", || {
        let (h, base) = (h.clone(), base3.clone());
        async move { ports(&h, &base, "e").await.is_empty() }
    })
    .await;
    c.wait_converged(&h, WAIT).await;
    // The member list shows everyone up and agreeing on the leader.
    let list = h
        .get(
            &format!("{}/nacos/v2/core/cluster/node/list", c.base(1)),
            &[],
        )
        .await
        .json();
    let members = list["data"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert!(members.iter().all(|m| m["state"] == "UP"), "{list}");
    assert!(
        members
            .iter()
            .all(|m| m["extendInfo"]["raftMetaData"]["leader"] == leader as u64),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_mid_stream_loses_no_acknowledged_write() {
    let mut c = cluster(3, "");
    let h = Http::new();
    let leader = c.wait_leader(&h, WAIT).await;
    // An ephemeral instance owned by the leader (no beats needed: long timeouts).
    let r = h
        .post(
            &format!("{}/nacos/v1/ns/instance", c.base(leader)),
            &[("serviceName", "owned"), ("ip", "10.9.9.9"), ("port", "9")],
        )
        .await;
    assert_eq!(r.status, 200);
    for i in 1..=3 {
        let base = c.base(i);
        wait_until(WAIT, "owned instance replicated", || {
            let (h, base) = (h.clone(), base.clone());
            async move { ports(&h, &base, "owned").await == [9].into() }
        })
        .await;
    }
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 1..=3usize {
        let (base, acked, stop, h) = (c.base(w), acked.clone(), stop.clone(), h.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let id = format!("k{w}-{n}");
                if publish(&h, &base, &id, &format!("v-{id}")).await == Some(200) {
                    acked.lock().await.push(id);
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    wait_until(WAIT, "writes flowing", || async {
        acked.lock().await.len() >= 50
    })
    .await;
    let killed_at = Instant::now();
    c.kill(leader);
    let before = acked.lock().await.len();
    wait_until(
        WAIT,
        "writes succeed again after the leader died",
        || async { acked.lock().await.len() > before + 20 },
    )
    .await;
    let failover = killed_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    let new_leader = c.wait_leader(&h, WAIT).await;
    assert_ne!(new_leader, leader);
    c.wait_converged(&h, WAIT).await;
    let acked = acked.lock().await.clone();
    for i in c.alive() {
        for id in &acked {
            assert_eq!(
                get(&h, &c.base(i), id).await,
                Some(format!("v-{id}")),
                "node {i} lacks acked {id}"
            );
        }
    }
    eprintln!(
        "writes resumed {failover:?} after the leader was killed; {} acked",
        acked.len()
    );
    // The dead node's ephemeral instance (its HTTP client never beats
    // again) leaves the survivors' views after the hand-over time, and
    // returns when its client registers elsewhere.
    for i in c.alive() {
        let base = c.base(i);
        wait_until(WAIT, "dead owner's instance dropped", || {
            let (h, base) = (h.clone(), base.clone());
            async move { ports(&h, &base, "owned").await.is_empty() }
        })
        .await;
    }
    let survivor = c.alive()[0];
    h.post(
        &format!("{}/nacos/v1/ns/instance", c.base(survivor)),
        &[("serviceName", "owned"), ("ip", "10.9.9.9"), ("port", "9")],
    )
    .await;
    for i in c.alive() {
        let base = c.base(i);
        wait_until(WAIT, "re-registered instance everywhere", || {
            let (h, base) = (h.clone(), base.clone());
            async move { ports(&h, &base, "owned").await == [9].into() }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_quorum_fails_writes_fast_and_the_cluster_heals() {
    let mut c = cluster(3, "");
    let h = Http::new();
    c.wait_leader(&h, WAIT).await;
    assert_eq!(publish(&h, &c.base(1), "before", "x").await, Some(200));
    c.wait_converged(&h, WAIT).await;
    c.kill(2);
    c.kill(3);
    let t0 = Instant::now();
    let r = h
        .call(
            "POST",
            &format!("{}/nacos/v1/cs/configs", c.base(1)),
            &[],
            Some(&[("dataId", "during"), ("group", "G"), ("content", "y")]),
            &[],
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("no leader"), "{}", r.body);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "failed within 5 s, took {:?}",
        t0.elapsed()
    );
    // v2 says it in its own shape.
    let r = h
        .call(
            "POST",
            &format!("{}/nacos/v2/cs/config", c.base(1)),
            &[],
            Some(&[("dataId", "during"), ("group", "G"), ("content", "y")]),
            &[],
        )
        .await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (503, Some(30000)));
    // Reads still work.
    assert_eq!(get(&h, &c.base(1), "before").await.as_deref(), Some("x"));
    c.restart(2);
    c.restart(3);
    c.wait_leader(&h, WAIT).await;
    let base = c.base(1);
    wait_until(WAIT, "writes work again", || {
        let (h, base) = (h.clone(), base.clone());
        async move { publish(&h, &base, "after", "z").await == Some(200) }
    })
    .await;
    c.wait_converged(&h, WAIT).await;
    for i in 1..=3 {
        assert_eq!(get(&h, &c.base(i), "after").await.as_deref(), Some("z"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_node_catches_up_by_snapshot() {
    let mut c = cluster(3, "snapshot_after_logs = 50\nkeep_logs = 5\n");
    let h = Http::new();
    c.wait_leader(&h, WAIT).await;
    c.kill(3);
    let leader = c.wait_leader(&h, WAIT).await;
    for n in 0..300 {
        assert_eq!(
            publish(&h, &c.base(leader), &format!("lag{n}"), "v").await,
            Some(200)
        );
    }
    let t0 = Instant::now();
    c.restart(3);
    let digest = c.wait_converged(&h, Duration::from_secs(60)).await;
    eprintln!(
        "node 3 caught up 300+ entries in {:?} (digest {digest})",
        t0.elapsed()
    );
    assert_eq!(get(&h, &c.base(3), "lag299").await.as_deref(), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_can_be_added_and_removed_at_run_time() {
    let c = cluster(3, "");
    let h = Http::new();
    c.wait_leader(&h, WAIT).await;
    assert_eq!(publish(&h, &c.base(1), "seed", "s").await, Some(200));
    // A fourth node joins: it starts in join mode, then is added.
    let (http4, raft4) = (nocas_testkit::free_port_pair(), nocas_testkit::free_port());
    let member4 = format!("127.0.0.1:{http4}:{raft4}");
    let members = format!("{},{member4}", c.members);
    let cfg = c.dir.path().join("cluster.toml");
    let data4 = c.dir.path().join("node4");
    let n4 = nocas_testkit::ServerProcess::spawn_on(
        Path::new(BIN),
        &data4,
        http4,
        &[
            "--members",
            &members,
            "--node-id",
            "4",
            "--join",
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
    .expect("node 4 started");
    let out = std::process::Command::new(BIN)
        .args([
            "cluster",
            "--server",
            &c.base(2)["http://".len()..],
            "add",
            "--member",
            &member4,
            "--node-id",
            "4",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base4 = format!("http://127.0.0.1:{http4}");
    wait_until(WAIT, "node 4 caught up", || {
        let (h, base) = (h.clone(), base4.clone());
        async move { get(&h, &base, "seed").await.as_deref() == Some("s") }
    })
    .await;
    let out = std::process::Command::new(BIN)
        .args(["cluster", "--server", &c.base(1)["http://".len()..], "list"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        listing.lines().filter(|l| l.contains("UP")).count(),
        4,
        "{listing}"
    );
    // Remove it again.
    let out = std::process::Command::new(BIN)
        .args([
            "cluster",
            "--server",
            &c.base(1)["http://".len()..],
            "remove",
            "--node-id",
            "4",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = h
        .get(
            &format!("{}/nacos/v2/core/cluster/node/list", c.base(1)),
            &[],
        )
        .await
        .json();
    assert_eq!(list["data"].as_array().unwrap().len(), 3, "{list}");
    drop(n4);
    assert_eq!(
        publish(&h, &c.base(3), "after-remove", "ok").await,
        Some(200)
    );
}

struct Views(tokio::sync::mpsc::UnboundedSender<BTreeSet<i32>>);

impl nacos_sdk::api::naming::NamingEventListener for Views {
    fn event(&self, e: Arc<nacos_sdk::api::naming::NamingChangeEvent>) {
        let _ = self
            .0
            .send(e.instances.iter().flatten().map(|i| i.port).collect());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_clients_of_a_killed_node_move_and_redo() {
    use nacos_sdk::api::naming::{NamingServiceBuilder, ServiceInstance};
    use nacos_sdk::api::props::ClientProps;
    let mut c = cluster(3, "");
    let h = Http::new();
    c.wait_leader(&h, WAIT).await;
    let servers = (1..=3)
        .map(|i| c.base(i)["http://".len()..].to_string())
        .collect::<Vec<_>>()
        .join(",");
    let cache = tempfile::tempdir().unwrap();
    let naming = NamingServiceBuilder::new(
        ClientProps::new()
            .server_addr(servers)
            .cache_dir(cache.path()),
    )
    .build()
    .await
    .unwrap();
    let inst = ServiceInstance {
        ip: "10.3.3.3".into(),
        port: 3001,
        ..Default::default()
    };
    naming
        .register_instance("sdk".into(), None, inst)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    naming
        .subscribe("sdk".into(), None, vec![], Arc::new(Views(tx)))
        .await
        .unwrap();
    // Which node holds the client's connection?
    let mut holder = None;
    for i in 1..=3 {
        let l = h
            .get(&format!("{}/nacos/v2/ns/client/list", c.base(i)), &[])
            .await
            .json();
        if !l["data"].as_array().unwrap().is_empty() {
            holder = Some(i);
        }
    }
    let holder = holder.expect("a node holds the connection");
    for i in 1..=3 {
        let base = c.base(i);
        wait_until(WAIT, "instance seen everywhere", || {
            let (h, base) = (h.clone(), base.clone());
            async move { ports(&h, &base, "DEFAULT_GROUP@@sdk").await == [3001].into() }
        })
        .await;
    }
    c.kill(holder);
    // The client reconnects to a survivor and registers again there (redo).
    let survivors = c.alive();
    let redone = async {
        loop {
            for &i in &survivors {
                let ids = h
                    .get(&format!("{}/nacos/v2/ns/client/list", c.base(i)), &[])
                    .await
                    .json();
                for id in ids["data"].as_array().cloned().unwrap_or_default() {
                    let id = id.as_str().unwrap_or_default().to_string();
                    let p = h
                        .get(
                            &format!("{}/nacos/v2/ns/client/publish/list", c.base(i)),
                            &[("clientId", &id)],
                        )
                        .await
                        .json();
                    if p["data"].to_string().contains("\"port\":3001") {
                        return i;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let new_holder = tokio::time::timeout(Duration::from_secs(40), redone)
        .await
        .expect("re-registered on a survivor");
    assert_ne!(new_holder, holder);
    for &i in &survivors {
        let base = c.base(i);
        wait_until(WAIT, "instance seen on every survivor", || {
            let (h, base) = (h.clone(), base.clone());
            async move { ports(&h, &base, "DEFAULT_GROUP@@sdk").await == [3001].into() }
        })
        .await;
    }
    // Its subscription moved too: a change made on any survivor is pushed.
    let app_subscribed = async {
        loop {
            let mut total = 0;
            for &i in &survivors {
                let m = h
                    .get(
                        &format!("{}/nacos/v1/ns/operator/metrics", c.base(i)),
                        &[("onlyStatus", "false")],
                    )
                    .await
                    .json();
                total += m["subscribeCount"].as_u64().unwrap_or(0);
            }
            if total > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(40), app_subscribed)
        .await
        .expect("subscription redone");
    for &i in &survivors {
        h.post(
            &format!("{}/nacos/v1/ns/instance", c.base(i)),
            &[
                ("serviceName", "sdk"),
                ("ip", "10.3.3.4"),
                ("port", &format!("{}", 3100 + i)),
            ],
        )
        .await;
    }
    let want: BTreeSet<i32> = std::iter::once(3001)
        .chain(survivors.iter().map(|i| 3100 + *i as i32))
        .collect();
    let got = tokio::time::timeout(WAIT, async {
        while let Some(v) = rx.recv().await {
            if v == want {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "pushed view with every instance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_secret_guards_node_to_node_calls() {
    let _slot = slot();
    let toml = FAST_CLUSTER_TOML.to_string();
    let c = ClusterProcesses::spawn(
        Path::new(BIN),
        3,
        &toml,
        &[
            "--cluster-secret",
            "a-long-shared-cluster-secret-0123456789",
        ],
    );
    let h = Http::new();
    c.wait_leader(&h, WAIT).await;
    assert_eq!(publish(&h, &c.base(2), "guarded", "v").await, Some(200));
    c.wait_converged(&h, WAIT).await;
    // Without the secret the Raft port refuses, whatever the call.
    let raft = c.member(1).rsplit(':').next().unwrap().to_string();
    for path in [
        "/raft/vote",
        "/raft/append",
        "/raft/write",
        "/raft/write-as",
        "/soft/sync",
    ] {
        let r = h
            .raw(
                "POST",
                &format!("http://127.0.0.1:{raft}{path}"),
                "application/msgpack",
                vec![0x80],
            )
            .await;
        assert_eq!(r.status, 401, "{path}");
    }
}

/// Auth in a cluster: users go through the log, a token from one node is
/// good on every node (shared token secret), anonymous calls are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_state_is_replicated_and_tokens_work_on_every_node() {
    let _slot = slot();
    const PW: &str = "cluster-admin-pw";
    // The test polls logins until replication catches up: no lockout here
    // (it has its own test).
    let toml = format!("{FAST_CLUSTER_TOML}\n[auth]\nlockout_failures = 1000000\n");
    let c = ClusterProcesses::spawn(
        Path::new(BIN),
        3,
        &toml,
        &[
            "--auth",
            "--admin-password",
            PW,
            "--token-secret",
            "a-shared-token-secret-of-at-least-32-bytes",
            "--cluster-secret",
            "a-long-shared-cluster-secret-0123456789",
        ],
    );
    let h = Http::new();
    let login = |base: String, user: &'static str, pw: &'static str| {
        let h = h.clone();
        async move {
            let r = h
                .try_call(
                    "POST",
                    &format!("{base}/nacos/v1/auth/login"),
                    &[],
                    Some(&[("username", user), ("password", pw)]),
                    &[],
                )
                .await
                .ok()?;
            (r.status == 200).then(|| r.json()["accessToken"].as_str().unwrap_or("").to_string())
        }
    };
    let admin = Arc::new(Mutex::new(String::new()));
    wait_until(WAIT, "the administrator to exist", || {
        let login = login(c.base(1), "nacos", PW);
        let admin = admin.clone();
        async move {
            match login.await {
                Some(t) => {
                    *admin.lock().await = t;
                    true
                }
                None => false,
            }
        }
    })
    .await;
    let admin = admin.lock().await.clone();
    // A user created through node 2 (a follower or the leader).
    wait_until(WAIT, "a user created through node 2", || {
        let h = h.clone();
        let url = format!("{}/nacos/v1/auth/users", c.base(2));
        let admin = admin.clone();
        async move {
            h.try_call(
                "POST",
                &url,
                &[("accessToken", admin.as_str())],
                Some(&[("username", "carol"), ("password", "carol-pw")]),
                &[],
            )
            .await
            .is_ok_and(|r| r.status == 200 || r.body.contains("already exist"))
        }
    })
    .await;
    // ... logs in on node 3 once replicated.
    wait_until(WAIT, "the user to log in on node 3", || {
        let l = login(c.base(3), "carol", "carol-pw");
        async move { l.await.is_some() }
    })
    .await;
    // A token issued by node 1 is valid on node 3; no token is not.
    let list = |base: String, token: Option<String>| {
        let h = h.clone();
        async move {
            let mut q = vec![];
            if let Some(t) = &token {
                q.push(("accessToken", t.as_str()));
            }
            h.call(
                "GET",
                &format!("{base}/nacos/v2/core/cluster/node/list"),
                &q,
                None,
                &[],
            )
            .await
            .status
        }
    };
    assert_eq!(list(c.base(3), Some(admin.clone())).await, 200);
    assert_eq!(list(c.base(3), None).await, 403);
    assert_eq!(list(c.base(2), Some("forged.token.here".into())).await, 403);
}

/// An update of an ephemeral instance at a node that does not own it is
/// made at the owner too, so it reaches every node and is not undone by
/// the owner's next set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_of_an_instance_owned_elsewhere_reach_every_node() {
    let c = cluster(3, "");
    let h = Http::new();
    c.wait_leader(&h, WAIT).await;
    let inst = [("serviceName", "upd"), ("ip", "10.0.0.9"), ("port", "9")];
    let r = h
        .post(&format!("{}/nacos/v1/ns/instance", c.base(1)), &inst)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let weight = |i: usize| {
        let (h, base) = (h.clone(), c.base(i));
        async move {
            let r = h
                .try_call(
                    "GET",
                    &format!("{base}/nacos/v1/ns/instance/list"),
                    &[("serviceName", "upd")],
                    None,
                    &[],
                )
                .await
                .ok()?;
            r.json()["hosts"][0]["weight"].as_f64()
        }
    };
    for i in 1..=3 {
        wait_until(WAIT, "instance everywhere", || async move {
            weight(i).await == Some(1.0)
        })
        .await;
    }
    // Node 2 changes the weight of node 1's instance; node 3 can only
    // learn it from node 1.
    let mut form = inst.to_vec();
    form.push(("weight", "5"));
    let r = h
        .put(&format!("{}/nacos/v1/ns/instance", c.base(2)), &form)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(weight(2).await, Some(5.0), "read-your-write at node 2");
    for i in 1..=3 {
        wait_until(WAIT, "the new weight on every node", || async move {
            weight(i).await == Some(5.0)
        })
        .await;
    }
}

/// gRPC address of node `i` (HTTP port + 1000).
fn grpc_addr(c: &ClusterProcesses, i: usize) -> std::net::SocketAddr {
    let base = c.base(i);
    let http: u16 = base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in base URL");
    std::net::SocketAddr::from(([127, 0, 0, 1], http + 1000))
}

async fn lock_op(c: &mut nocas_testkit::grpc::RawGrpc, op: &str, lease: i64) -> bool {
    let (t, b) = c
        .call(
            "LockOperationRequest",
            serde_json::json!({
                "lockInstance": {"key": "leader-kill", "expiredTime": lease, "lockType": "NACOS_LOCK"},
                "lockOperationEnum": op,
            }),
        )
        .await;
    assert_eq!(t, "LockOperationResponse", "{b}");
    b["result"].as_bool() == Some(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_kill_does_not_give_a_lock_two_holders() {
    use nocas_testkit::grpc::RawGrpc;
    const LEASE_MS: u64 = 6_000;
    let mut c = cluster(3, "");
    let h = Http::new();
    let leader = c.wait_leader(&h, WAIT).await;
    let follower = (1..=3).find(|i| *i != leader).unwrap_or(1);
    // Taken through a follower (forwarded to the leader's log).
    let mut holder = RawGrpc::ready(grpc_addr(&c, follower)).await;
    let asked_at = Instant::now();
    assert!(lock_op(&mut holder, "ACQUIRE", LEASE_MS as i64).await);
    let survivors: Vec<usize> = (1..=3).filter(|i| *i != leader).collect();
    let mut contenders = Vec::new();
    for &n in &survivors {
        for _ in 0..2 {
            contenders.push(RawGrpc::ready(grpc_addr(&c, n)).await);
        }
    }
    tokio::task::block_in_place(|| c.kill(leader));
    // Everyone on the surviving nodes keeps trying (through the election);
    // a call that fails while there is no leader is simply not a grant.
    let grants = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for mut cl in contenders {
        let (grants, stop) = (grants.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if lock_op(&mut cl, "ACQUIRE", 60_000).await {
                    grants.lock().await.push(asked_at.elapsed());
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    wait_until(
        WAIT,
        "the lease runs out and one contender gets the lock",
        || {
            let grants = grants.clone();
            async move { !grants.lock().await.is_empty() }
        },
    )
    .await;
    // Every contender tries a while longer: nobody else gets it.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let grants = grants.lock().await.clone();
    assert_eq!(grants.len(), 1, "two holders: {grants:?}");
    assert!(
        grants[0] >= Duration::from_millis(LEASE_MS),
        "granted {:?} after the first holder asked, within its {LEASE_MS} ms lease",
        grants[0]
    );
    // The first holder's lease is over: it can no longer release.
    assert!(!lock_op(&mut holder, "RELEASE", -1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fuzzy_watcher_on_one_node_hears_of_changes_made_through_another() {
    use nocas_testkit::grpc::RawGrpc;
    let c = cluster(3, "");
    let h = Http::new();
    c.wait_leader(&h, WAIT).await;
    let mut w = RawGrpc::ready(grpc_addr(&c, 1)).await;
    for (kind, pattern) in [
        ("Config", "public>>G>>x-*"),
        ("Naming", "public>>DEFAULT_GROUP>>x-*"),
    ] {
        let (_, b) = w
            .call(
                &format!("{kind}FuzzyWatchRequest"),
                serde_json::json!({"groupKeyPattern": pattern, "receivedGroupKeys": [], "watchType": "WATCH", "initializing": true}),
            )
            .await;
        assert_eq!(b["resultCode"], 200, "{b}");
        let fin = w
            .next_of(&format!("{kind}FuzzyWatchSyncRequest"), WAIT)
            .await
            .expect("finish notice");
        assert_eq!(fin["syncType"], "FINISH_FUZZY_WATCH_INIT_NOTIFY");
    }
    // Through node 2: a config, then an instance.
    assert_eq!(publish(&h, &c.base(2), "x-1", "v").await, Some(200));
    let n = w
        .next_of("ConfigFuzzyWatchChangeNotifyRequest", WAIT)
        .await
        .expect("config notice at node 1");
    assert_eq!(
        (n["groupKey"].as_str(), n["changeType"].as_str()),
        (Some("x-1+G+public"), Some("CONFIG_CHANGED"))
    );
    let r = h
        .post(
            &format!("{}/nacos/v1/ns/instance", c.base(2)),
            &[("serviceName", "x-svc"), ("ip", "10.1.1.1"), ("port", "80")],
        )
        .await;
    assert_eq!(r.status, 200);
    let n = w
        .next_of("NamingFuzzyWatchChangeNotifyRequest", WAIT)
        .await
        .expect("naming notice at node 1");
    assert_eq!(
        (n["serviceKey"].as_str(), n["changedType"].as_str()),
        (Some("public@@DEFAULT_GROUP@@x-svc"), Some("ADD_SERVICE"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_seeds_a_new_cluster_and_reaches_a_member_added_later() {
    let h = Http::new();
    // The backup: a standalone node's state.
    let src = nocas_testkit::TestServer::start().await;
    for i in 0..20 {
        let r = h
            .post(
                &src.url("/nacos/v1/cs/configs"),
                &[
                    ("dataId", format!("restored-{i}").as_str()),
                    ("group", "G"),
                    ("content", "from the backup"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seed.bak");
    let out = std::process::Command::new(BIN)
        .args(["backup", "-f", file.to_str().unwrap(), "-o", "json"])
        .args(["--server", &src.base["http://".len()..]])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = info["digest"].as_str().unwrap().to_string();

    // Two members restored from it form a new cluster holding exactly it.
    let slot = slot();
    let c = Cluster {
        c: ClusterProcesses::spawn_prepared(
            Path::new(BIN),
            2,
            FAST_CLUSTER_TOML,
            &[],
            |_, data| {
                let out = std::process::Command::new(BIN)
                    .args([
                        "restore",
                        file.to_str().unwrap(),
                        "--data-dir",
                        data.to_str().unwrap(),
                    ])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            },
        ),
        _slot: slot,
    };
    c.wait_leader(&h, WAIT).await;
    for i in 1..=2 {
        let d = h
            .get(
                &format!("{}/nacos/v2/core/cluster/node/self/digest", c.base(i)),
                &[],
            )
            .await
            .json();
        assert_eq!(d["data"]["digest"], digest.as_str(), "node {i}: {d}");
        assert_eq!(
            get(&h, &c.base(i), "restored-7").await.as_deref(),
            Some("from the backup")
        );
    }
    assert_eq!(publish(&h, &c.base(2), "after", "a").await, Some(200));

    // A third member, added later with an empty directory, gets the
    // restored state too (by snapshot: the log never held it).
    let (http3, raft3) = (nocas_testkit::free_port_pair(), nocas_testkit::free_port());
    let member3 = format!("127.0.0.1:{http3}:{raft3}");
    let members = format!("{},{member3}", c.members);
    let cfg = c.dir.path().join("cluster.toml");
    let _n3 = nocas_testkit::ServerProcess::spawn_on(
        Path::new(BIN),
        &c.dir.path().join("node3"),
        http3,
        &[
            "--members",
            &members,
            "--node-id",
            "3",
            "--join",
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
    .expect("node 3 started");
    // Until the restored state is snapshotted, adding is refused (retry).
    wait_until(WAIT, "node 3 added", || {
        let (server, member) = (c.base(1)["http://".len()..].to_string(), member3.clone());
        async move {
            std::process::Command::new(BIN)
                .args([
                    "cluster",
                    "--server",
                    &server,
                    "add",
                    "--member",
                    &member,
                    "--node-id",
                    "3",
                ])
                .output()
                .is_ok_and(|o| o.status.success())
        }
    })
    .await;
    let base3 = format!("http://127.0.0.1:{http3}");
    wait_until(
        WAIT,
        "node 3 has the restored and the later configs",
        || {
            let (h, base) = (h.clone(), base3.clone());
            async move {
                get(&h, &base, "restored-7").await.as_deref() == Some("from the backup")
                    && get(&h, &base, "after").await.as_deref() == Some("a")
            }
        },
    )
    .await;
    wait_until(WAIT, "all three digests agree", || {
        let (h, bases) = (h.clone(), [c.base(1), c.base(2), base3.clone()]);
        async move {
            let mut ds = Vec::new();
            for b in &bases {
                let d = h
                    .get(&format!("{b}/nacos/v2/core/cluster/node/self/digest"), &[])
                    .await
                    .json();
                ds.push(d["data"]["digest"].clone());
            }
            ds.iter().all(|d| d == &ds[0])
        }
    })
    .await;
}
