//! Nacos 3 fuzzy watch over raw gRPC on a standalone server: the first
//! sync in batches then its finish notice, change notices, repeated syncs,
//! limits and their error codes, cancelling. The cross-node case is in the
//! workspace's `tests/cluster.rs`.

use std::collections::BTreeSet;
use std::time::Duration;

use nocas_testkit::grpc::RawGrpc;
use nocas_testkit::{Http, TestServer};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// The next frame the server pushed (any type).
async fn next(c: &mut RawGrpc) -> (String, Value) {
    let rx = c.from_server.as_mut().expect("stream open");
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a frame in time")
        .expect("stream open")
}

/// Frames until one satisfies `done` (returned last).
async fn until(c: &mut RawGrpc, done: impl Fn(&str, &Value) -> bool) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    loop {
        let (t, b) = next(c).await;
        let stop = done(&t, &b);
        seen.push((t, b));
        if stop {
            return seen;
        }
    }
}

fn watch(kind: &str, pattern: &str, received: &[String], initializing: bool) -> Value {
    json!({
        "headers": {}, "module": kind, "namespace": "public",
        "groupKeyPattern": pattern, "receivedGroupKeys": received,
        "watchType": "WATCH", "initializing": initializing,
    })
}

async fn publish(h: &Http, s: &TestServer, data_id: &str, content: &str) {
    let r = h
        .post(
            &s.url("/nacos/v1/cs/configs"),
            &[("dataId", data_id), ("group", "G"), ("content", content)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The ADD keys of a sync and whether its finish notice came, reading
/// frames until the finish notice.
async fn initial_sync(
    c: &mut RawGrpc,
    sync_type: &str,
    key_field: &str,
) -> (BTreeSet<String>, usize) {
    let frames = until(c, |t, b| {
        t == sync_type && b["syncType"] == "FINISH_FUZZY_WATCH_INIT_NOTIFY"
    })
    .await;
    let mut keys = BTreeSet::new();
    let mut batches = 0;
    for (t, b) in frames.iter().filter(|(t, _)| t == sync_type) {
        if b["syncType"] == "FUZZY_WATCH_INIT_NOTIFY" {
            batches += 1;
            let total = b["totalBatch"].as_u64().unwrap_or(0) as usize;
            assert!(
                b["currentBatch"].as_u64().unwrap_or(0) as usize <= total,
                "{t}: {b}"
            );
            for ctx in b["contexts"].as_array().cloned().unwrap_or_default() {
                assert!(
                    ctx["changedType"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("ADD_"),
                    "{ctx}"
                );
                keys.insert(ctx[key_field].as_str().unwrap_or("").to_string());
            }
        }
    }
    (keys, batches)
}

/// Starts watching `pattern` (`kind`: `Config` or `Naming`) as a new
/// client; returns the keys of the first sync and its number of batches.
async fn start(c: &mut RawGrpc, kind: &str, pattern: &str) -> (BTreeSet<String>, usize) {
    let module = kind.to_lowercase();
    let (t, b) = c
        .call(
            &format!("{kind}FuzzyWatchRequest"),
            watch(&module, pattern, &[], true),
        )
        .await;
    assert_eq!(
        (t, b["resultCode"].as_u64()),
        (format!("{kind}FuzzyWatchResponse"), Some(200)),
        "{b}"
    );
    let key_field = if kind == "Config" {
        "groupKey"
    } else {
        "serviceKey"
    };
    initial_sync(c, &format!("{kind}FuzzyWatchSyncRequest"), key_field).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_fuzzy_watch_syncs_a_thousand_keys_then_notices() {
    let s = TestServer::start_with(|st| st.limits.max_fuzzy_matched_keys = 2_000).await;
    let h = Http::new();
    // 1,000 matching configs, some others.
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (h, base) = (h.clone(), s.url("/nacos/v1/cs/configs"));
        tasks.push(tokio::spawn(async move {
            for i in (w..1_000).step_by(8) {
                let id = format!("app-{i:04}");
                let r = h
                    .post(&base, &[("dataId", &id), ("group", "G"), ("content", "x")])
                    .await;
                assert_eq!(r.status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.expect("publisher");
    }
    publish(&h, &s, "other", "x").await;

    let mut c = RawGrpc::ready(s.running().grpc_addr()).await;
    let (keys, batches) = start(&mut c, "Config", "public>>G>>app-*").await;
    assert_eq!(keys.len(), 1_000);
    assert_eq!(batches, 50, "batches of 20");
    assert!(
        keys.contains("app-0042+G+public"),
        "group keys dataId+group+namespace"
    );

    // A new matching config, a change, a delete: notices; others: none.
    publish(&h, &s, "unrelated", "x").await;
    publish(&h, &s, "app-new", "1").await;
    let frames = until(&mut c, |t, _| t == "ConfigFuzzyWatchChangeNotifyRequest").await;
    let (_, n) = frames.last().cloned().unwrap_or_default();
    assert_eq!(n["groupKey"], "app-new+G+public", "{n}");
    assert_eq!(n["changeType"], "CONFIG_CHANGED");
    publish(&h, &s, "app-new", "2").await;
    let (_, n) = until(&mut c, |t, _| t == "ConfigFuzzyWatchChangeNotifyRequest")
        .await
        .pop()
        .unwrap_or_default();
    assert_eq!(
        (n["groupKey"].as_str(), n["changeType"].as_str()),
        (Some("app-new+G+public"), Some("CONFIG_CHANGED"))
    );
    let r = h
        .delete(
            &s.url("/nacos/v1/cs/configs"),
            &[("dataId", "app-new"), ("group", "G")],
        )
        .await;
    assert_eq!(r.status, 200);
    let (_, n) = until(&mut c, |t, _| t == "ConfigFuzzyWatchChangeNotifyRequest")
        .await
        .pop()
        .unwrap_or_default();
    assert_eq!(
        (n["groupKey"].as_str(), n["changeType"].as_str()),
        (Some("app-new+G+public"), Some("DELETE_CONFIG"))
    );

    // Watching again with what the client holds (one stale key, one
    // missing): a diff sync, no finish notice.
    let mut held: Vec<String> = keys.iter().skip(1).cloned().collect();
    held.push("app-gone+G+public".into());
    let (_, b) = c
        .call(
            "ConfigFuzzyWatchRequest",
            watch("config", "public>>G>>app-*", &held, false),
        )
        .await;
    assert_eq!(b["resultCode"], 200, "{b}");
    let (t, diff) = next(&mut c).await;
    assert_eq!(
        (t.as_str(), diff["syncType"].as_str()),
        (
            "ConfigFuzzyWatchSyncRequest",
            Some("FUZZY_WATCH_DIFF_SYNC_NOTIFY")
        ),
        "{diff}"
    );
    let mut changes: Vec<(String, String)> = diff["contexts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|x| {
            (
                x["groupKey"].as_str().unwrap_or("").to_string(),
                x["changedType"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    changes.sort();
    let first = keys.iter().next().cloned().unwrap_or_default();
    assert_eq!(
        changes,
        vec![
            (first, "ADD_CONFIG".to_string()),
            ("app-gone+G+public".to_string(), "DELETE_CONFIG".to_string())
        ]
    );

    // Cancelled: no more notices for it.
    let mut cancel = watch("config", "public>>G>>app-*", &[], false);
    cancel["watchType"] = json!("CANCEL_WATCH");
    let (_, b) = c.call("ConfigFuzzyWatchRequest", cancel).await;
    assert_eq!(b["resultCode"], 200);
    let (_, b) = c
        .call(
            "ConfigFuzzyWatchRequest",
            watch("config", "public>>G>>zz-*", &[], true),
        )
        .await;
    assert_eq!(b["resultCode"], 200);
    let frames = until(&mut c, |t, b| {
        t == "ConfigFuzzyWatchSyncRequest" && b["syncType"] == "FINISH_FUZZY_WATCH_INIT_NOTIFY"
    })
    .await;
    assert_eq!(
        frames.len(),
        1,
        "nothing matches: only the finish notice {frames:?}"
    );
    publish(&h, &s, "app-after-cancel", "x").await;
    publish(&h, &s, "zz-1", "x").await;
    let frames = until(&mut c, |t, _| t == "ConfigFuzzyWatchChangeNotifyRequest").await;
    let (_, n) = frames.last().cloned().unwrap_or_default();
    assert_eq!(
        n["groupKey"], "zz-1+G+public",
        "the cancelled pattern is silent: {frames:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_fuzzy_watch_limits_and_bad_patterns() {
    let s = TestServer::start_with(|st| {
        st.limits.max_fuzzy_patterns = 3;
        st.limits.max_fuzzy_matched_keys = 5;
    })
    .await;
    let h = Http::new();
    for i in 0..8 {
        publish(&h, &s, &format!("k-{i}"), "x").await;
    }
    let mut c = RawGrpc::ready(s.running().grpc_addr()).await;
    // Over the match limit: 50311, the watch is kept, the list cut.
    let (t, b) = c
        .call(
            "ConfigFuzzyWatchRequest",
            watch("config", "public>>G>>k-*", &[], true),
        )
        .await;
    assert_eq!(t, "ConfigFuzzyWatchResponse");
    assert_eq!(
        (b["resultCode"].as_u64(), b["errorCode"].as_u64()),
        (Some(500), Some(50311)),
        "{b}"
    );
    let (keys, _) = initial_sync(&mut c, "ConfigFuzzyWatchSyncRequest", "groupKey").await;
    assert_eq!(keys.len(), 5);
    for p in ["public>>G>>a*", "public>>G>>b*"] {
        let (_, b) = c
            .call("ConfigFuzzyWatchRequest", watch("config", p, &[], false))
            .await;
        assert_eq!(b["resultCode"], 200, "{b}");
    }
    // Over the pattern limit: 50310, the same response type.
    let (t, b) = c
        .call(
            "ConfigFuzzyWatchRequest",
            watch("config", "public>>G>>c*", &[], false),
        )
        .await;
    assert_eq!(
        (t.as_str(), b["errorCode"].as_u64()),
        ("ConfigFuzzyWatchResponse", Some(50310)),
        "{b}"
    );
    // Naming patterns are counted apart.
    let (t, b) = c
        .call(
            "NamingFuzzyWatchRequest",
            watch("naming", "public>>G>>c*", &[], false),
        )
        .await;
    assert_eq!(
        (t.as_str(), b["resultCode"].as_u64()),
        ("NamingFuzzyWatchResponse", Some(200)),
        "{b}"
    );
    // Bad patterns and watch types: an error of the right type, with a reason.
    for (what, body) in [
        ("no pattern", json!({"watchType": "WATCH"})),
        ("two parts", watch("config", "public>>G", &[], true)),
        ("bad namespace", watch("config", "bad ns!>>G>>*", &[], true)),
        (
            "bad type",
            json!({"groupKeyPattern": "public>>G>>*", "watchType": "LOOK"}),
        ),
    ] {
        let (t, b) = c.call("ConfigFuzzyWatchRequest", body).await;
        assert_eq!(t, "ConfigFuzzyWatchResponse", "{what}");
        assert_eq!(b["resultCode"], 500, "{what}: {b}");
        assert_ne!(b["errorCode"], 0, "{what}: {b}");
        assert!(
            b["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {b}"
        );
    }
}

async fn register(h: &Http, s: &TestServer, svc: &str, port: &str) {
    let r = h
        .post(
            &s.url("/nacos/v1/ns/instance"),
            &[("serviceName", svc), ("ip", "10.0.0.1"), ("port", port)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_fuzzy_watch_syncs_services_then_notices_coming_and_going() {
    let s = TestServer::start().await;
    let h = Http::new();
    for i in 0..25 {
        register(&h, &s, &format!("order-{i:02}"), "8080").await;
    }
    register(&h, &s, "payment", "8080").await;
    let mut c = RawGrpc::ready(s.running().grpc_addr()).await;
    let (keys, batches) = start(&mut c, "Naming", "public>>DEFAULT_GROUP>>order-*").await;
    assert_eq!(keys.len(), 25);
    assert_eq!(batches, 3, "batches of 10");
    assert!(keys.contains("public@@DEFAULT_GROUP@@order-07"), "{keys:?}");

    // A second instance of a known service: no notice; a new service: ADD;
    // its last instance gone: DELETE.
    register(&h, &s, "order-03", "8081").await;
    register(&h, &s, "order-new", "8080").await;
    let frames = until(&mut c, |t, _| t == "NamingFuzzyWatchChangeNotifyRequest").await;
    let (_, n) = frames.last().cloned().unwrap_or_default();
    assert_eq!(
        n["serviceKey"], "public@@DEFAULT_GROUP@@order-new",
        "{frames:?}"
    );
    assert_eq!(n["changedType"], "ADD_SERVICE");
    assert_eq!(n["syncType"], "FUZZY_WATCH_RESOURCE_CHANGED");
    let r = h
        .delete(
            &s.url("/nacos/v1/ns/instance"),
            &[
                ("serviceName", "order-new"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let (_, n) = until(&mut c, |t, _| t == "NamingFuzzyWatchChangeNotifyRequest")
        .await
        .pop()
        .unwrap_or_default();
    assert_eq!(
        (n["serviceKey"].as_str(), n["changedType"].as_str()),
        (
            Some("public@@DEFAULT_GROUP@@order-new"),
            Some("DELETE_SERVICE")
        )
    );
}
