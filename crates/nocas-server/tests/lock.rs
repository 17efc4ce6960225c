//! Nacos 3 distributed locks over raw gRPC (`LockOperationRequest`) on a
//! standalone server: one holder under contention, fencing, leases in log
//! time, bad requests. The cluster case (leader killed) is in the
//! workspace's `tests/cluster.rs`.

use std::time::Duration;

use nocas_testkit::grpc::RawGrpc;
use nocas_testkit::{TestServer, wait_until};
use serde_json::{Value, json};

fn lock(op: &str, key: &str, expired_time: Value) -> Value {
    json!({
        "headers": {}, "module": "lock",
        "lockInstance": {"key": key, "expiredTime": expired_time, "lockType": "NACOS_LOCK"},
        "lockOperationEnum": op,
    })
}

/// The operation's result, asserting a well-formed success response.
async fn op(c: &mut RawGrpc, op_name: &str, key: &str, lease: i64) -> bool {
    let (t, b) = c
        .call("LockOperationRequest", lock(op_name, key, json!(lease)))
        .await;
    assert_eq!(t, "LockOperationResponse", "{b}");
    assert_eq!(b["resultCode"], 200, "{b}");
    b["result"].as_bool().expect("a boolean result")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_connections_contend_and_only_the_holder_releases() {
    let s = TestServer::start().await;
    let addr = s.running().grpc_addr();
    let first = RawGrpc::ready(addr).await;
    drop(first);
    let mut c = RawGrpc::connect(addr).await;
    c.call("ServerCheckRequest", json!({})).await;
    c.open_stream(true, true).await;
    let ack = c
        .next_of("SetupAckRequest", Duration::from_secs(10))
        .await
        .expect("setup ack");
    assert_eq!(ack["abilityTable"]["lock"], true, "{ack}");
    assert_eq!(ack["abilityTable"]["fuzzyWatch"], true, "{ack}");
    assert_eq!(
        ack["abilityTable"]["supportPersistentInstanceByGrpc"], true,
        "{ack}"
    );

    // Twenty connections race for the same lock: exactly one gets it.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        tasks.push(tokio::spawn(async move {
            let mut c = RawGrpc::ready(addr).await;
            let got = op(&mut c, "ACQUIRE", "orders", 60_000).await;
            (got, c)
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.expect("task"));
    }
    let holders: Vec<usize> = (0..20).filter(|i| clients[*i].0).collect();
    assert_eq!(holders.len(), 1, "holders: {holders:?}");
    let h = holders[0];
    let other = (h + 1) % 20;
    // Not re-entrant; a non-holder cannot release it.
    assert!(!op(&mut clients[h].1, "ACQUIRE", "orders", 60_000).await);
    assert!(!op(&mut clients[other].1, "RELEASE", "orders", -1).await);
    assert!(!op(&mut clients[other].1, "ACQUIRE", "orders", 60_000).await);
    // The holder releases it; then another takes it.
    assert!(op(&mut clients[h].1, "RELEASE", "orders", -1).await);
    assert!(!op(&mut clients[h].1, "RELEASE", "orders", -1).await);
    assert!(op(&mut clients[other].1, "ACQUIRE", "orders", 60_000).await);
    // Other keys are independent.
    assert!(op(&mut clients[h].1, "ACQUIRE", "payments", 60_000).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holders_lock_is_free_when_its_lease_runs_out() {
    let s = TestServer::start().await;
    let addr = s.running().grpc_addr();
    let mut holder = RawGrpc::ready(addr).await;
    assert!(op(&mut holder, "ACQUIRE", "job", 800).await);
    drop(holder);
    let mut next = RawGrpc::ready(addr).await;
    // Still held right after its holder went away...
    assert!(!op(&mut next, "ACQUIRE", "job", 60_000).await);
    // ...and free once the lease is over.
    let next = tokio::sync::Mutex::new(next);
    wait_until(Duration::from_secs(10), "the lease runs out", || async {
        op(&mut *next.lock().await, "ACQUIRE", "job", 60_000).await
    })
    .await;
    // A negative lease is the default one (30 s here): still held.
    let mut c = RawGrpc::ready(addr).await;
    assert!(op(&mut c, "ACQUIRE", "default-lease", -1).await);
    let lock = &s.running().app().node.state().read().locks().clone();
    let rec = lock
        .iter()
        .find(|(k, _)| k.key == "default-lease")
        .map(|(_, r)| r.clone())
        .expect("held");
    assert_eq!(rec.until_ms - rec.acquired_ms, 30_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lock_requests_get_error_responses() {
    let s = TestServer::start().await;
    let mut c = RawGrpc::ready(s.running().grpc_addr()).await;
    let cases = [
        ("no expiredTime", lock("ACQUIRE", "k", Value::Null)),
        ("no key", lock("ACQUIRE", "", json!(1000))),
        (
            "unknown type",
            json!({"lockInstance": {"key": "k", "expiredTime": 1, "lockType": "OTHER"}, "lockOperationEnum": "ACQUIRE"}),
        ),
        ("unknown operation", lock("EXPIRE", "k", json!(1000))),
        ("no lock", json!({"lockOperationEnum": "ACQUIRE"})),
    ];
    for (what, body) in cases {
        let (t, b) = c.call("LockOperationRequest", body).await;
        assert_eq!(t, "LockOperationResponse", "{what}: {b}");
        assert_eq!(b["resultCode"], 500, "{what}: {b}");
        assert_ne!(b["errorCode"], 0, "{what}: {b}");
        assert!(
            b["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {b}"
        );
    }
    // The connection still works.
    assert!(op(&mut c, "ACQUIRE", "k", 1000).await);
}
