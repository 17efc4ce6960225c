//! Metric cardinality: after a warm-up that uses every route and request
//! type once, 10,000 more services and 1,000 more gRPC connections (each
//! registering, subscribing and listening under names of its own, plus
//! junk request types and unknown paths) add no series.

use std::time::Duration;

use futures::StreamExt;
use nocas_testkit::grpc::RawGrpc;
use nocas_testkit::{Http, TestServer, prom, raise_fd_limit, wait_until};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn register(svc: &str, ip: &str) -> Value {
    json!({
        "namespace": "public", "serviceName": svc, "groupName": "DEFAULT_GROUP",
        "type": "registerInstance",
        "instance": {"ip": ip, "port": 8080, "metadata": {"k": "v"}},
        "headers": {}, "module": "naming",
    })
}

fn subscribe(svc: &str) -> Value {
    json!({"namespace": "public", "serviceName": svc, "groupName": "DEFAULT_GROUP", "subscribe": true, "clusters": "", "headers": {}})
}

fn listen(data_id: &str) -> Value {
    json!({"listen": true, "configListenContexts": [
        {"dataId": data_id, "group": "G", "tenant": "", "md5": ""}], "headers": {}})
}

/// What one client does: everything the warm-up does, under its own names.
async fn client_workload(c: &mut RawGrpc, i: usize) {
    let svc = format!("card-svc-{i}");
    let (t, _) = c.call("SubscribeServiceRequest", subscribe(&svc)).await;
    assert_eq!(t, "SubscribeServiceResponse");
    let (t, b) = c
        .call(
            "InstanceRequest",
            register(&svc, &format!("10.9.{}.{}", i / 250, i % 250)),
        )
        .await;
    assert_eq!(
        (t.as_str(), b["resultCode"].as_i64()),
        ("InstanceResponse", Some(200)),
        "{b}"
    );
    let (t, _) = c
        .call(
            "ConfigBatchListenRequest",
            listen(&format!("card-{i}.yaml")),
        )
        .await;
    assert_eq!(t, "ConfigChangeBatchListenResponse");
    let (t, _) = c
        .call(
            "ConfigQueryRequest",
            json!({"dataId": format!("card-{i}.yaml"), "group": "G", "tenant": "", "headers": {}}),
        )
        .await;
    assert_eq!(t, "ConfigQueryResponse");
    // A request type nobody handles, named after the client.
    let (t, _) = c
        .call(&format!("Junk{i}Request"), json!({"headers": {}}))
        .await;
    assert!(t.contains("Response"), "{t}");
}

async fn http_workload(h: &Http, s: &TestServer, i: usize) {
    let r = h
        .post(
            &s.url("/nacos/v1/ns/instance"),
            &[
                ("serviceName", &format!("card-http-{i}")),
                ("ip", &format!("10.8.{}.{}", i / 250, i % 250)),
                ("port", "80"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn series(h: &Http, s: &TestServer) -> Vec<String> {
    let text = h.get(&s.url("/metrics"), &[]).await.body;
    let mut keys: Vec<String> = prom::parse(&text)
        .into_iter()
        .map(|l| format!("{}{:?}", l.name, l.labels))
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_services_and_a_thousand_connections_add_no_series() {
    assert!(
        raise_fd_limit(8192) >= 4096,
        "the test needs 4096 open files (ulimit -n)"
    );
    let s = TestServer::start_with(|st| {
        st.limits.max_connections_per_ip = 5_000;
        st.naming.beat_timeout_ms = 300_000;
        st.naming.delete_timeout_ms = 600_000;
    })
    .await;
    let h = Http::new();
    // Warm-up: every route and request type the load uses, once.
    http_workload(&h, &s, 0).await;
    assert_eq!(
        h.get(&s.url("/nacos/v1/ns/no/such/route/0"), &[])
            .await
            .status,
        404
    );
    let mut first = RawGrpc::ready(s.running().grpc_addr()).await;
    client_workload(&mut first, 0).await;
    let pushed = first
        .next_of("NotifySubscriberRequest", WAIT)
        .await
        .is_some();
    assert!(pushed, "the warm-up's subscription was pushed");
    wait_until(WAIT, "the push acknowledged", || {
        let h = h.clone();
        let url = s.url("/metrics");
        async move {
            let text = h.get(&url, &[]).await.body;
            prom::parse(&text).iter().any(|l| {
                l.name == "nocas_push_latency_seconds_count"
                    && l.labels.get("kind").map(String::as_str) == Some("service")
                    && l.value >= 1.0
            })
        }
    })
    .await;
    let before = series(&h, &s).await;
    // A routed request is counted under its route, an unrouted one under
    // NOT_FOUND, never its path.
    let uris: Vec<String> = prom::parse(&h.get(&s.url("/metrics"), &[]).await.body)
        .into_iter()
        .filter(|l| l.name == "http_server_requests_seconds_count")
        .filter_map(|l| l.labels.get("uri").cloned())
        .collect();
    assert!(uris.iter().any(|u| u == "/v1/ns/instance"), "{uris:?}");
    assert!(uris.iter().any(|u| u == "NOT_FOUND"), "{uris:?}");
    assert!(!uris.iter().any(|u| u.contains("no/such")), "{uris:?}");

    // 10,000 services over HTTP.
    futures::stream::iter(1..10_000)
        .for_each_concurrent(16, |i| {
            let (h, s) = (&h, &s);
            async move { http_workload(h, s, i).await }
        })
        .await;
    for i in 1..50 {
        let path = format!("/nacos/v1/ns/no/such/route/{i}");
        assert_eq!(h.get(&s.url(&path), &[]).await.status, 404);
    }
    // 1,000 connections, each with names of its own.
    let addr = s.running().grpc_addr();
    let clients: Vec<RawGrpc> = futures::stream::iter(1..=1_000)
        .map(|i| async move {
            let mut c = RawGrpc::ready(addr).await;
            client_workload(&mut c, i).await;
            c
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(clients.len(), 1_000);
    let text = h.get(&s.url("/metrics"), &[]).await.body;
    let samples = prom::parse(&text);
    let value = |name: &str, label: Option<(&str, &str)>| {
        samples
            .iter()
            .find(|l| {
                l.name == name
                    && label.is_none_or(|(k, v)| l.labels.get(k).map(String::as_str) == Some(v))
            })
            .map(|l| l.value)
    };
    assert_eq!(
        value("nocas_connections", Some(("kind", "grpc"))),
        Some(1_001.0)
    );
    assert!(value("nocas_services", None).unwrap_or(0.0) >= 11_000.0);
    let after = series(&h, &s).await;
    let added: Vec<&String> = after.iter().filter(|k| !before.contains(k)).collect();
    let gone: Vec<&String> = before.iter().filter(|k| !after.contains(k)).collect();
    assert!(
        added.is_empty() && gone.is_empty(),
        "series changed under load: {} before, {} after; added {added:#?}; gone {gone:#?}",
        before.len(),
        after.len()
    );
    drop(clients);
    drop(first);
    s.stop().await;
}
