//! Read consistency on a three-node cluster of real processes: a client
//! reading at the node that took its write sees it (read-your-writes, the
//! default); a `consistent=true` read anywhere sees every write
//! acknowledged before it began; on the minority side of a partition such a
//! read fails with 503 instead of answering stale, while a default read
//! still answers. A standalone server in `linearizable` mode answers HTTP
//! and gRPC reads through the same barrier.

use std::path::Path;
use std::time::{Duration, Instant};

use nocas_testkit::grpc::RawGrpc;
use nocas_testkit::{ClusterProcesses, FAST_CLUSTER_TOML, Http, TestServer};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const WAIT: Duration = Duration::from_secs(20);

async fn publish(h: &Http, base: &str, data_id: &str, content: &str) -> u16 {
    h.call(
        "POST",
        &format!("{base}/nacos/v1/cs/configs"),
        &[],
        Some(&[("dataId", data_id), ("group", "G"), ("content", content)]),
        &[],
    )
    .await
    .status
}

async fn get(h: &Http, base: &str, data_id: &str, consistent: bool) -> (u16, String) {
    let mut q = vec![("dataId", data_id), ("group", "G")];
    if consistent {
        q.push(("consistent", "true"));
    }
    let r = h
        .call("GET", &format!("{base}/nacos/v1/cs/configs"), &q, None, &[])
        .await;
    (r.status, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_see_acknowledged_writes_and_the_minority_refuses() {
    let c = ClusterProcesses::spawn(Path::new(BIN), 3, FAST_CLUSTER_TOML, &[]);
    let h = Http::new();
    let leader = c.wait_leader(&h, WAIT).await;
    let followers: Vec<usize> = (1..=3).filter(|i| *i != leader).collect();
    // Read-your-writes at a follower: the write is forwarded to the leader,
    // and the follower answers only once it applied it too.
    let f = c.base(followers[0]);
    for i in 0..100 {
        let v = format!("ryw-{i}");
        assert_eq!(publish(&h, &f, "ryw", &v).await, 200);
        assert_eq!(get(&h, &f, "ryw", false).await, (200, v), "round {i}");
    }
    // Consistent reads at another node than the writer's.
    for i in 0..100 {
        let (w, r) = (c.base(1 + i % 3), c.base(1 + (i + 1) % 3));
        let v = format!("lin-{i}");
        assert_eq!(publish(&h, &w, "lin", &v).await, 200);
        assert_eq!(get(&h, &r, "lin", true).await, (200, v), "round {i}");
    }
    // The minority side: the two others paused.
    let lone = followers[1];
    for i in 1..=3 {
        if i != lone {
            c.pause(i);
        }
    }
    let started = Instant::now();
    let (status, body) = get(&h, &c.base(lone), "lin", true).await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("consistent read"), "{body}");
    assert!(took < Duration::from_secs(10), "refused in {took:?}");
    // A default read answers from what the node holds.
    assert_eq!(get(&h, &c.base(lone), "lin", false).await.0, 200);
    for i in 1..=3 {
        c.resume(i);
    }
    c.wait_leader(&h, WAIT).await;
    let deadline = Instant::now() + WAIT;
    loop {
        if get(&h, &c.base(lone), "lin", true).await == (200, "lin-99".to_string()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "consistent reads back after healing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linearizable_server_answers_http_and_grpc_reads() {
    let s = TestServer::start_with(|st| {
        st.consistency.reads = nocas_server::settings::ReadConsistency::Linearizable;
    })
    .await;
    let h = Http::new();
    let base = s.url("");
    let base = base.trim_end_matches('/');
    assert_eq!(publish(&h, base, "lin", "v1").await, 200);
    assert_eq!(get(&h, base, "lin", false).await, (200, "v1".to_string()));
    let r = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "nothing-here")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut g = RawGrpc::ready(s.running().grpc_addr()).await;
    let (t, b) = g
        .call(
            "ConfigQueryRequest",
            json!({"dataId": "lin", "group": "G", "tenant": "", "headers": {}}),
        )
        .await;
    assert_eq!(
        (t.as_str(), b["content"].as_str()),
        ("ConfigQueryResponse", Some("v1")),
        "{b}"
    );
    s.stop().await;
}
