//! A clean restart keeps every durable thing and no soft state; clients
//! come back through beats.

use nocas_testkit::{Http, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_state_survives_restart_and_ephemeral_does_not() {
    let s = TestServer::start().await;
    let h = Http::new();
    h.post(
        &s.url("/nacos/v1/console/namespaces"),
        &[("customNamespaceId", "dev"), ("namespaceName", "Dev")],
    )
    .await;
    h.post(
        &s.url("/nacos/v1/cs/configs"),
        &[
            ("dataId", "c"),
            ("group", "G"),
            ("tenant", "dev"),
            ("content", "v1"),
        ],
    )
    .await;
    h.post(
        &s.url("/nacos/v1/cs/configs"),
        &[
            ("dataId", "c"),
            ("group", "G"),
            ("tenant", "dev"),
            ("content", "v2"),
        ],
    )
    .await;
    h.post(
        &s.url("/nacos/v1/ns/service"),
        &[("serviceName", "svc"), ("protectThreshold", "0.4")],
    )
    .await;
    h.post(
        &s.url("/nacos/v1/ns/instance"),
        &[
            ("serviceName", "p"),
            ("ip", "10.0.0.1"),
            ("port", "1"),
            ("ephemeral", "false"),
        ],
    )
    .await;
    h.post(
        &s.url("/nacos/v1/ns/instance"),
        &[("serviceName", "e"), ("ip", "10.0.0.2"), ("port", "2")],
    )
    .await;

    // What an operator set on the persistent instance, and a lock.
    let r = h
        .call(
            "PUT",
            &s.url("/nacos/v1/ns/instance"),
            &[],
            Some(&[
                ("serviceName", "p"),
                ("ip", "10.0.0.1"),
                ("port", "1"),
                ("ephemeral", "false"),
                ("weight", "7"),
                ("metadata", r#"{"op":"set"}"#),
            ]),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut lock = nocas_testkit::grpc::RawGrpc::ready(s.running().grpc_addr()).await;
    let (_, b) = lock
        .call(
            "LockOperationRequest",
            serde_json::json!({"lockInstance": {"key": "held", "expiredTime": 600000, "lockType": "NACOS_LOCK"}, "lockOperationEnum": "ACQUIRE"}),
        )
        .await;
    assert_eq!(b["result"], true, "{b}");
    drop(lock);

    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |_| {}).await;
    let p = h
        .get(
            &s.url("/nacos/v1/ns/instance"),
            &[("serviceName", "p"), ("ip", "10.0.0.1"), ("port", "1")],
        )
        .await
        .json();
    assert_eq!(
        (p["weight"].as_f64(), p["metadata"]["op"].as_str()),
        (Some(7.0), Some("set")),
        "{p}"
    );
    let mut other = nocas_testkit::grpc::RawGrpc::ready(s.running().grpc_addr()).await;
    let (_, b) = other
        .call(
            "LockOperationRequest",
            serde_json::json!({"lockInstance": {"key": "held", "expiredTime": 1000, "lockType": "NACOS_LOCK"}, "lockOperationEnum": "ACQUIRE"}),
        )
        .await;
    assert_eq!(
        b["result"], false,
        "the lock is still held after a restart: {b}"
    );

    assert_eq!(
        h.get(
            &s.url("/nacos/v1/cs/configs"),
            &[("dataId", "c"), ("group", "G"), ("tenant", "dev")]
        )
        .await
        .body,
        "v2"
    );
    let hist = h
        .get(
            &s.url("/nacos/v1/cs/history"),
            &[
                ("search", "accurate"),
                ("dataId", "c"),
                ("group", "G"),
                ("tenant", "dev"),
            ],
        )
        .await
        .json();
    assert_eq!(hist["totalCount"], 2);
    let ns = h
        .get(&s.url("/nacos/v1/console/namespaces"), &[])
        .await
        .json();
    assert_eq!(ns["data"][1]["namespaceShowName"], "Dev");
    let svc = h
        .get(&s.url("/nacos/v1/ns/service"), &[("serviceName", "svc")])
        .await
        .json();
    assert_eq!(svc["protectThreshold"], 0.4);
    let p = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "p")],
        )
        .await
        .json();
    assert_eq!(p["hosts"].as_array().unwrap().len(), 1);
    // Ephemeral instances are gone; a light beat says so, a full beat restores.
    let e = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "e")],
        )
        .await
        .json();
    assert!(e["hosts"].as_array().unwrap().is_empty());
    let b = h
        .put(
            &s.url("/nacos/v1/ns/instance/beat"),
            &[("serviceName", "e"), ("ip", "10.0.0.2"), ("port", "2")],
        )
        .await
        .json();
    assert_eq!(b["code"], 20404);
    let beat = r#"{"ip":"10.0.0.2","port":2,"serviceName":"DEFAULT_GROUP@@e","cluster":"DEFAULT","weight":1}"#;
    let b = h
        .put(
            &s.url("/nacos/v1/ns/instance/beat"),
            &[("serviceName", "e"), ("beat", beat)],
        )
        .await
        .json();
    assert_eq!(b["code"], 10200);
    let e = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "e")],
        )
        .await
        .json();
    assert_eq!(e["hosts"].as_array().unwrap().len(), 1);
    // History ids continue where they stopped.
    h.post(
        &s.url("/nacos/v1/cs/configs"),
        &[
            ("dataId", "c"),
            ("group", "G"),
            ("tenant", "dev"),
            ("content", "v3"),
        ],
    )
    .await;
    let hist = h
        .get(
            &s.url("/nacos/v1/cs/history"),
            &[
                ("search", "accurate"),
                ("dataId", "c"),
                ("group", "G"),
                ("tenant", "dev"),
            ],
        )
        .await
        .json();
    let ids: Vec<&str> = hist["pageItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["3", "2", "1"]);
}
