//! Mixed versions in one cluster: every peer message and reply carries the
//! sender's protocol, and features an older member could not read wait
//! until every member has them. A node of the next version (a fake one:
//! the test-only `NOCAS_TEST_PROTOCOL`) joins a cluster of this version,
//! catches up by snapshot, takes writes, and is replaced by this version
//! again; a node of the previous protocol makes the others leave out
//! audit records it could not read (and count them), until it is
//! upgraded. Every node holds the same state throughout.

use std::path::Path;
use std::time::Duration;

use nocas_testkit::{ClusterProcesses, FAST_CLUSTER_TOML, Http, prom, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const WAIT: Duration = Duration::from_secs(30);
const ADMIN_PW: &str = "Versions-Admin-Pw-3e1";

async fn login(h: &Http, base: &str) -> Option<String> {
    let r = h
        .try_call(
            "POST",
            &format!("{base}/nacos/v1/auth/login"),
            &[],
            Some(&[("username", "nacos"), ("password", ADMIN_PW)]),
            &[],
        )
        .await
        .ok()?;
    (r.status == 200).then(|| r.json()["accessToken"].as_str().unwrap_or("").to_string())
}

/// (protocol, cluster protocol) a node reports for itself.
async fn protocols(h: &Http, base: &str, token: &str) -> Option<(u64, u64)> {
    let r = h
        .try_call(
            "GET",
            &format!("{base}/nacos/v2/core/cluster/node/self"),
            &[("accessToken", token)],
            None,
            &[],
        )
        .await
        .ok()?;
    let e = &r.json()["data"]["extendInfo"];
    Some((e["protocol"].as_u64()?, e["clusterProtocol"].as_u64()?))
}

async fn wait_protocols(h: &Http, c: &ClusterProcesses, token: &str, want: [(u64, u64); 3]) {
    for (i, w) in want.iter().enumerate() {
        let (h, base, token, w) = (h.clone(), c.base(i + 1), token.to_string(), *w);
        wait_until(
            WAIT,
            &format!("node {} reports protocols {w:?}", i + 1),
            move || {
                let (h, base, token) = (h.clone(), base.clone(), token.clone());
                async move { protocols(&h, &base, &token).await == Some(w) }
            },
        )
        .await;
    }
}

async fn publish(h: &Http, base: &str, token: &str, id: &str, content: &str) -> bool {
    h.try_call(
        "POST",
        &format!("{base}/nacos/v1/cs/configs"),
        &[("accessToken", token)],
        Some(&[("dataId", id), ("group", "V"), ("content", content)]),
        &[],
    )
    .await
    .is_ok_and(|r| r.status == 200)
}

async fn digest(h: &Http, base: &str, token: &str) -> Option<String> {
    let r = h
        .try_call(
            "GET",
            &format!("{base}/nacos/v2/core/cluster/node/self/digest"),
            &[("accessToken", token)],
            None,
            &[],
        )
        .await
        .ok()?;
    r.json()["data"]["digest"].as_str().map(str::to_string)
}

async fn converged(h: &Http, c: &ClusterProcesses, token: &str) {
    let (h, bases, token) = (
        h.clone(),
        (1..=3).map(|i| c.base(i)).collect::<Vec<_>>(),
        token.to_string(),
    );
    wait_until(WAIT, "every node holds the same state", move || {
        let (h, bases, token) = (h.clone(), bases.clone(), token.clone());
        async move {
            let mut seen = Vec::new();
            for b in &bases {
                seen.push(digest(&h, b, &token).await);
            }
            seen[0].is_some() && seen.iter().all(|d| *d == seen[0])
        }
    })
    .await;
}

async fn security_records(h: &Http, base: &str, token: &str) -> Vec<Value> {
    let r = h
        .get(
            &format!("{base}/nacos/v3/admin/core/audit"),
            &[("kind", "security"), ("accessToken", token)],
        )
        .await;
    r.json()["data"]["pageItems"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn skipped(h: &Http, base: &str) -> f64 {
    prom::parse(
        &h.get(&format!("{base}/nacos/actuator/prometheus"), &[])
            .await
            .body,
    )
    .iter()
    .filter(|s| s.name == "nocas_audit_skipped_total")
    .map(|s| s.value)
    .sum()
}

async fn bad_login(h: &Http, base: &str, user: &str) {
    let r = h
        .try_call(
            "POST",
            &format!("{base}/nacos/v1/auth/login"),
            &[],
            Some(&[("username", user), ("password", "wrong")]),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_and_a_previous_version_share_the_cluster() {
    // Snapshots soon, so a restarted node catches up by one.
    let toml = format!(
        "{}\n[auth]\nlockout_failures = 1000000\n[audit]\nsecurity_flush_ms = 100\n",
        FAST_CLUSTER_TOML.replacen(
            "[raft]\n",
            "[raft]\nsnapshot_after_logs = 50\nkeep_logs = 5\n",
            1
        )
    );
    let args = [
        "--no-console",
        "--auth",
        "--admin-password",
        ADMIN_PW,
        "--token-secret",
        "a-versions-test-token-secret-0123456789abcdef",
        "--cluster-secret",
        "a-versions-test-cluster-secret-0123456789abcd",
    ];
    let mut c = ClusterProcesses::spawn(Path::new(BIN), 3, &toml, &args);
    let h = Http::new();
    let mut token = String::new();
    let deadline = std::time::Instant::now() + WAIT;
    while token.is_empty() {
        if let Some(t) = login(&h, &c.base(1)).await {
            token = t;
        } else {
            assert!(std::time::Instant::now() < deadline, "admin login");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let p = nocas_cluster::version::PROTOCOL as u64;
    wait_protocols(&h, &c, &token, [(p, p), (p, p), (p, p)]).await;

    // A node of the next version: node 3, upgraded while writes go on, so
    // it catches up by snapshot.
    tokio::task::block_in_place(|| c.terminate(3));
    for i in 0..120 {
        assert!(publish(&h, &c.base(1 + i % 2), &token, &format!("a{i}"), "x").await);
    }
    let next = (p + 1).to_string();
    tokio::task::block_in_place(|| c.restart_env(3, &[("NOCAS_TEST_PROTOCOL", &next)]));
    wait_protocols(&h, &c, &token, [(p, p), (p, p), (p + 1, p)]).await;
    for i in 1..=3 {
        let b = c.base(i);
        let (h2, t2) = (h.clone(), token.clone());
        wait_until(WAIT, &format!("node {i} takes writes"), move || {
            let (h, b, t) = (h2.clone(), b.clone(), t2.clone());
            async move { publish(&h, &b, &t, &format!("n{i}"), "next").await }
        })
        .await;
    }
    converged(&h, &c, &token).await;
    // Security events (protocol 3) are written while every member reads them.
    bad_login(&h, &c.base(1), "mallory").await;
    for i in 1..=3 {
        let (h2, b, t) = (h.clone(), c.base(i), token.clone());
        wait_until(
            WAIT,
            &format!("node {i} holds the security record"),
            move || {
                let (h, b, t) = (h2.clone(), b.clone(), t.clone());
                async move {
                    security_records(&h, &b, &t)
                        .await
                        .iter()
                        .any(|r| r["target"] == "mallory")
                }
            },
        )
        .await;
    }

    // A node of the previous protocol (2): the others leave the security
    // records out, and count them.
    tokio::task::block_in_place(|| c.terminate(3));
    tokio::task::block_in_place(|| c.restart_env(3, &[("NOCAS_TEST_PROTOCOL", "2")]));
    wait_protocols(&h, &c, &token, [(p, 2), (p, 2), (2, 2)]).await;
    let before = skipped(&h, &c.base(1)).await;
    bad_login(&h, &c.base(1), "trudy").await;
    let (h2, b1) = (h.clone(), c.base(1));
    wait_until(WAIT, "node 1 left the record out", move || {
        let (h, b) = (h2.clone(), b1.clone());
        async move { skipped(&h, &b).await > before }
    })
    .await;
    assert!(publish(&h, &c.base(3), &token, "old", "prev").await);
    converged(&h, &c, &token).await;
    assert!(
        !security_records(&h, &c.base(1), &token)
            .await
            .iter()
            .any(|r| r["target"] == "trudy"),
        "a record the old member could not read was written"
    );

    // And back to this version everywhere: records are written again.
    tokio::task::block_in_place(|| c.terminate(3));
    tokio::task::block_in_place(|| c.restart(3));
    wait_protocols(&h, &c, &token, [(p, p), (p, p), (p, p)]).await;
    bad_login(&h, &c.base(2), "eve").await;
    for i in 1..=3 {
        let (h2, b, t) = (h.clone(), c.base(i), token.clone());
        wait_until(WAIT, &format!("node {i} holds the new record"), move || {
            let (h, b, t) = (h2.clone(), b.clone(), t.clone());
            async move {
                security_records(&h, &b, &t)
                    .await
                    .iter()
                    .any(|r| r["target"] == "eve")
            }
        })
        .await;
    }
    converged(&h, &c, &token).await;
}
