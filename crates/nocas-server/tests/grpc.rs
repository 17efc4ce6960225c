//! The gRPC protocol exactly, with a raw client that can misbehave:
//! connection lifecycle, bad frames, push acknowledgement and retry,
//! detection of silent clients, queue overflow, reset on shutdown.

use std::collections::HashMap;
use std::time::Duration;

use nocas_proto::grpc::{Metadata, Payload, payload};
use nocas_testkit::grpc::RawGrpc;
use nocas_testkit::{Http, TestServer, wait_until};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

async fn ready_client(s: &TestServer, auto_ack: bool) -> RawGrpc {
    let mut c = RawGrpc::connect(s.running().grpc_addr()).await;
    let (t, b) = c.call("ServerCheckRequest", json!({"headers": {}})).await;
    assert_eq!(t, "ServerCheckResponse");
    assert_eq!(b["resultCode"], 200);
    c.open_stream(auto_ack, true).await;
    assert!(
        c.next_of("SetupAckRequest", WAIT).await.is_some(),
        "setup acknowledged"
    );
    c
}

fn register(svc: &str, port: u16) -> serde_json::Value {
    json!({
        "namespace": "public", "serviceName": svc, "groupName": "DEFAULT_GROUP",
        "type": "registerInstance",
        "instance": {"ip": "10.0.0.1", "port": port, "metadata": {"k": "v"}},
        "headers": {}, "module": "naming",
    })
}

fn subscribe(svc: &str) -> serde_json::Value {
    json!({"namespace": "public", "serviceName": svc, "groupName": "DEFAULT_GROUP", "subscribe": true, "clusters": "", "headers": {}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_server_check_setup_and_unregistered_calls() {
    let s = TestServer::start_with(|st| st.grpc.setup_grace_ms = 100).await;
    let mut c = RawGrpc::connect(s.running().grpc_addr()).await;
    let (t, b) = c.call("ServerCheckRequest", json!({})).await;
    assert_eq!(t, "ServerCheckResponse");
    let id = b["connectionId"].as_str().unwrap().to_string();
    assert!(id.contains("_127.0.0.1_"), "{id}");
    assert_eq!(b["supportAbilityNegotiation"], true);
    // Before ConnectionSetupRequest: unregistered.
    let (t, b) = c.call("HealthCheckRequest", json!({})).await;
    assert_eq!(
        (t.as_str(), b["errorCode"].as_i64()),
        ("ErrorResponse", Some(301))
    );
    c.open_stream(true, true).await;
    let ack = c.next_of("SetupAckRequest", WAIT).await.unwrap();
    assert_eq!(ack["abilityTable"]["supportPersistentInstanceByGrpc"], true);
    let (t, b) = c
        .call("HealthCheckRequest", json!({"requestId": "7"}))
        .await;
    assert_eq!(t, "HealthCheckResponse");
    assert_eq!(
        (
            b["resultCode"].as_i64(),
            b["errorCode"].as_i64(),
            b["success"].as_bool()
        ),
        (Some(200), Some(0), Some(true))
    );
    assert_eq!(b["requestId"], "7");
    assert!(
        b.get("message").is_none(),
        "absent fields are omitted, not null: {b}"
    );
    let loader = c.call("ServerLoaderInfoRequest", json!({})).await;
    assert_eq!(loader.0, "ServerLoaderInfoResponse");
    assert_eq!(s.running().app().conns.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_error_responses_and_the_connection_carries_on() {
    let s = TestServer::start_with(|st| st.grpc.max_message_bytes = 11 * 1024 * 1024).await;
    let mut c = ready_client(&s, true).await;
    let (t, b) = c.call("NoSuchRequest", json!({})).await;
    assert_eq!(
        (t.as_str(), b["errorCode"].as_i64()),
        ("ErrorResponse", Some(302))
    );
    let garbage = Payload {
        metadata: Some(Metadata {
            r#type: "InstanceRequest".into(),
            client_ip: String::new(),
            headers: HashMap::new(),
        }),
        body: Some(prost_types::Any {
            type_url: String::new(),
            value: b"{not json".to_vec(),
        }),
    };
    let (t, b) = c.call_raw(garbage).await;
    assert_eq!(
        (t.as_str(), b["errorCode"].as_i64()),
        ("ErrorResponse", Some(502))
    );
    let (t, b) = c.call_raw(Payload::default()).await;
    assert_eq!(t, "ErrorResponse", "{b}");
    // Missing fields: the expected type, failed, with a reason.
    let (t, b) = c
        .call("InstanceRequest", json!({"type": "registerInstance"}))
        .await;
    assert_eq!(
        (
            t.as_str(),
            b["resultCode"].as_i64(),
            b["errorCode"].as_i64()
        ),
        ("InstanceResponse", Some(500), Some(400))
    );
    assert!(
        b["message"].as_str().unwrap().contains("serviceName"),
        "{b}"
    );
    let (t, b) = c
        .call(
            "InstanceRequest",
            json!({"serviceName": "s", "type": "jump"}),
        )
        .await;
    assert_eq!(
        (t.as_str(), b["errorCode"].as_i64()),
        ("InstanceResponse", Some(400))
    );
    let mut bad_port = register("s", 1);
    bad_port["instance"]["port"] = json!(70000);
    assert_eq!(
        c.call("InstanceRequest", bad_port).await.1["errorCode"],
        400
    );
    let (t, b) = c
        .call(
            "ConfigPublishRequest",
            json!({"dataId": "bad id", "group": "G", "content": "x"}),
        )
        .await;
    assert_eq!(
        (t.as_str(), b["errorCode"].as_i64()),
        ("ConfigPublishResponse", Some(400))
    );
    // Oversized: refused with a status, and the connection stays usable.
    let huge = payload(
        "ConfigPublishRequest",
        &json!({"dataId": "d", "group": "G", "content": "x".repeat(12 * 1024 * 1024)}),
        HashMap::new(),
    );
    let status = c
        .try_call_raw(huge)
        .await
        .expect_err("oversized payload refused");
    assert!(
        matches!(
            status.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{status}"
    );
    let (t, _) = c.call("HealthCheckRequest", json!({})).await;
    assert_eq!(t, "HealthCheckResponse");
    // A config just under the limit (10 MiB) goes through.
    let big = "y".repeat(10 * 1024 * 1024);
    let (t, b) = c
        .call(
            "ConfigPublishRequest",
            json!({"dataId": "big", "group": "G", "content": big}),
        )
        .await;
    assert_eq!(
        (t.as_str(), b["resultCode"].as_i64()),
        ("ConfigPublishResponse", Some(200)),
        "{b}"
    );
    let (_, b) = c
        .call(
            "ConfigQueryRequest",
            json!({"dataId": "big", "group": "G", "tenant": ""}),
        )
        .await;
    assert_eq!(b["content"].as_str().unwrap().len(), 10 * 1024 * 1024);
    assert_eq!(s.running().app().conns.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_and_config_requests() {
    let s = TestServer::start().await;
    let h = Http::new();
    let mut c = ready_client(&s, true).await;
    let (t, b) = c.call("InstanceRequest", register("svc", 80)).await;
    assert_eq!(
        (t.as_str(), b["type"].as_str()),
        ("InstanceResponse", Some("registerInstance"))
    );
    // Persistent over gRPC survives the connection.
    let mut p = register("durable", 81);
    p["instance"]["ephemeral"] = json!(false);
    assert_eq!(
        c.call("PersistentInstanceRequest", p).await.1["resultCode"],
        200
    );
    let (t, b) = c.call("ServiceQueryRequest", json!({"namespace": "public", "serviceName": "svc", "groupName": "DEFAULT_GROUP", "cluster": "", "healthyOnly": true})).await;
    assert_eq!(t, "QueryServiceResponse");
    assert_eq!(b["serviceInfo"]["name"], "svc", "plain name over gRPC");
    assert_eq!(b["serviceInfo"]["hosts"][0]["port"], 80);
    let (t, b) = c.call("ServiceListRequest", json!({"namespace": "public", "groupName": "DEFAULT_GROUP", "pageNo": 1, "pageSize": 10})).await;
    assert_eq!(t, "ServiceListResponse");
    assert_eq!(b["count"], 2);
    let mut batch = json!({"namespace": "public", "serviceName": "svc", "groupName": "DEFAULT_GROUP", "type": "batchRegisterInstance",
        "instances": [{"ip": "10.0.0.2", "port": 1}, {"ip": "10.0.0.3", "port": 1, "ephemeral": false}]});
    assert_eq!(
        c.call("BatchInstanceRequest", batch.clone()).await.1["errorCode"],
        400,
        "no persistent in a batch"
    );
    batch["instances"][1]["ephemeral"] = json!(true);
    let (t, b) = c.call("BatchInstanceRequest", batch).await;
    assert_eq!(
        (t.as_str(), b["resultCode"].as_i64()),
        ("BatchInstanceResponse", Some(200))
    );
    let l = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "svc")],
        )
        .await
        .json();
    assert_eq!(
        l["hosts"].as_array().unwrap().len(),
        2,
        "the batch replaced the connection's instances: {l}"
    );

    // Config: not found is a ConfigQueryResponse with 300; CAS; listen.
    let (t, b) = c
        .call(
            "ConfigQueryRequest",
            json!({"dataId": "d", "group": "G", "tenant": ""}),
        )
        .await;
    assert_eq!(
        (
            t.as_str(),
            b["resultCode"].as_i64(),
            b["errorCode"].as_i64()
        ),
        ("ConfigQueryResponse", Some(500), Some(300))
    );
    let publish = json!({"dataId": "d", "group": "G", "tenant": "dev", "content": "v1", "additionMap": {"type": "yaml", "appName": "a"}});
    assert_eq!(
        c.call("ConfigPublishRequest", publish).await.1["resultCode"],
        200
    );
    let (_, b) = c
        .call(
            "ConfigQueryRequest",
            json!({"dataId": "d", "group": "G", "tenant": "dev"}),
        )
        .await;
    assert_eq!(
        (
            b["content"].as_str(),
            b["contentType"].as_str(),
            b["beta"].as_bool()
        ),
        (Some("v1"), Some("yaml"), Some(false))
    );
    assert!(b.get("tag").is_none());
    let cas =
        json!({"dataId": "d", "group": "G", "tenant": "dev", "content": "v2", "casMd5": "nope"});
    let (t, b) = c.call("ConfigPublishRequest", cas).await;
    assert_eq!(
        (t.as_str(), b["resultCode"].as_i64()),
        ("ConfigPublishResponse", Some(500))
    );
    let listen = json!({"listen": true, "configListenContexts": [
        {"dataId": "d", "group": "G", "tenant": "dev", "md5": "stale"},
        {"dataId": "e", "group": "G", "tenant": "dev", "md5": ""}]});
    let (t, b) = c.call("ConfigBatchListenRequest", listen).await;
    assert_eq!(t, "ConfigChangeBatchListenResponse");
    assert_eq!(
        b["changedConfigs"],
        json!([{"group": "G", "dataId": "d", "tenant": "dev"}])
    );
    // A change over HTTP is pushed, with the tenant as the listener spelled it.
    h.post(
        &s.url("/nacos/v1/cs/configs"),
        &[
            ("dataId", "e"),
            ("group", "G"),
            ("tenant", "dev"),
            ("content", "x"),
        ],
    )
    .await;
    let push = c
        .next_of("ConfigChangeNotifyRequest", WAIT)
        .await
        .expect("config push");
    assert_eq!(
        (push["dataId"].as_str(), push["tenant"].as_str()),
        (Some("e"), Some("dev"))
    );
    assert!(push["requestId"].is_string());

    // The connection registry, as operators see it.
    c.call("SubscribeServiceRequest", subscribe("svc")).await;
    let subs = h
        .get(
            &s.url("/nacos/v1/ns/service/subscribers"),
            &[("serviceName", "svc")],
        )
        .await
        .json();
    assert_eq!(subs["count"], 1, "{subs}");
    assert_eq!(subs["subscribers"][0]["agent"], "Nocas-Test-Client:1.0");
    assert_eq!(subs["subscribers"][0]["serviceName"], "DEFAULT_GROUP@@svc");
    let ids = h.get(&s.url("/nacos/v2/ns/client/list"), &[]).await.json();
    let id = ids["data"][0].as_str().unwrap().to_string();
    let d = h
        .get(&s.url("/nacos/v2/ns/client"), &[("clientId", &id)])
        .await
        .json();
    assert_eq!(
        (
            d["data"]["clientIp"].as_str(),
            d["data"]["version"].as_str()
        ),
        (Some("127.0.0.1"), Some("Nocas-Test-Client:1.0"))
    );
    let pubs = h
        .get(
            &s.url("/nacos/v2/ns/client/publish/list"),
            &[("clientId", &id)],
        )
        .await
        .json();
    assert_eq!(pubs["data"].as_array().unwrap().len(), 2, "{pubs}");
    let subs = h
        .get(
            &s.url("/nacos/v2/ns/client/subscribe/list"),
            &[("clientId", &id)],
        )
        .await
        .json();
    assert_eq!(subs["data"][0]["serviceName"], "svc");
    let listens = h
        .get(
            &s.url("/nacos/v2/cs/client/listen/list"),
            &[("clientId", &id)],
        )
        .await
        .json();
    assert_eq!(listens["data"].as_array().unwrap().len(), 2);
    let r = h
        .get(&s.url("/nacos/v2/ns/client"), &[("clientId", "nope")])
        .await;
    assert_eq!(r.status, 404);

    drop(c);
    wait_until(WAIT, "connection's ephemeral instances removed", || async {
        let l = h
            .get(
                &s.url("/nacos/v1/ns/instance/list"),
                &[("serviceName", "svc")],
            )
            .await
            .json();
        l["hosts"].as_array().unwrap().is_empty()
    })
    .await;
    let l = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "durable")],
        )
        .await
        .json();
    assert_eq!(
        l["hosts"][0]["ephemeral"], false,
        "persistent instance stays: {l}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_pushes_are_retried_then_given_up() {
    let s = TestServer::start_with(|st| {
        st.grpc.push_timeout_ms = 100;
        st.grpc.push_retries = 3;
    })
    .await;
    let h = Http::new();
    let mut c = ready_client(&s, false).await;
    let (t, b) = c
        .call("SubscribeServiceRequest", subscribe("watched"))
        .await;
    assert_eq!(t, "SubscribeServiceResponse");
    assert_eq!(b["serviceInfo"]["clusters"], "");
    h.post(
        &s.url("/nacos/v1/ns/instance"),
        &[
            ("serviceName", "watched"),
            ("ip", "10.0.0.9"),
            ("port", "1"),
        ],
    )
    .await;
    let mut ids = Vec::new();
    while let Some(p) = c
        .next_of("NotifySubscriberRequest", Duration::from_secs(2))
        .await
    {
        assert_eq!(p["serviceInfo"]["hosts"][0]["ip"], "10.0.0.9");
        ids.push(p["requestId"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 4, "one push and three retries: {ids:?}");
    ids.dedup();
    assert_eq!(ids.len(), 4, "each attempt has its own request id");

    // A client that acknowledges gets each push once, in order, with the
    // full view after every change.
    let mut d = ready_client(&s, true).await;
    d.call("SubscribeServiceRequest", subscribe("watched"))
        .await;
    for port in ["2", "3"] {
        h.post(
            &s.url("/nacos/v1/ns/instance"),
            &[
                ("serviceName", "watched"),
                ("ip", "10.0.0.9"),
                ("port", port),
            ],
        )
        .await;
        let p = d.next_of("NotifySubscriberRequest", WAIT).await.unwrap();
        let ports: Vec<u64> = p["serviceInfo"]["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["port"].as_u64().unwrap())
            .collect();
        assert_eq!(ports.last().copied(), port.parse().ok());
    }
    assert!(
        d.next_of("NotifySubscriberRequest", Duration::from_millis(500))
            .await
            .is_none(),
        "acknowledged pushes are not repeated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_detected_and_dropped() {
    let s = TestServer::start_with(|st| {
        st.grpc.idle_ms = 200;
        st.grpc.detect_interval_ms = 50;
        st.grpc.detect_timeout_ms = 200;
    })
    .await;
    let h = Http::new();
    let mut mute = ready_client(&s, false).await;
    mute.call("InstanceRequest", register("det", 1)).await;
    let mut alive = ready_client(&s, true).await;
    alive.call("InstanceRequest", register("det", 2)).await;
    // The answering client is probed and keeps its instance.
    assert!(
        alive
            .next_of("ClientDetectionRequest", WAIT)
            .await
            .is_some()
    );
    wait_until(WAIT, "silent client's instance removed", || async {
        let l = h
            .get(
                &s.url("/nacos/v1/ns/instance/list"),
                &[("serviceName", "det")],
            )
            .await
            .json();
        let ports: Vec<u64> = l["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["port"].as_u64().unwrap())
            .collect();
        ports == vec![2]
    })
    .await;
    let (t, b) = mute.call("HealthCheckRequest", json!({})).await;
    assert_eq!(
        (t.as_str(), b["errorCode"].as_i64()),
        ("ErrorResponse", Some(301)),
        "the dropped connection is unregistered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_not_buffered() {
    let s = TestServer::start_with(|st| st.grpc.push_queue = 4).await;
    let h = Http::new();
    let mut stuck = RawGrpc::connect(s.running().grpc_addr()).await;
    stuck.call("ServerCheckRequest", json!({})).await;
    stuck.open_stream(false, false).await;
    let app = s.running().app().clone();
    wait_until(WAIT, "stuck client registered", || async {
        app.conns.count() == 1
    })
    .await;
    // Subscriptions to many services: their pushes cannot coalesce.
    for n in 0..32 {
        stuck
            .call("SubscribeServiceRequest", subscribe(&format!("flood{n}")))
            .await;
    }
    stuck.call("InstanceRequest", register("mine", 1)).await;
    let md = format!("{{\"pad\":\"{}\"}}", "p".repeat(16 * 1024));
    let mut port = 1u32;
    // Every registration changes a view; the client reads nothing.
    wait_until(Duration::from_secs(60), "stuck client disconnected", || {
        port += 1;
        let p = port.to_string();
        let svc = format!("flood{}", port % 32);
        let h = h.clone();
        let url = s.url("/nacos/v1/ns/instance");
        let md = md.clone();
        let app = app.clone();
        async move {
            h.post(
                &url,
                &[
                    ("serviceName", svc.as_str()),
                    ("ip", "10.0.0.1"),
                    ("port", &p),
                    ("metadata", &md),
                ],
            )
            .await;
            app.conns.count() == 0
        }
    })
    .await;
    wait_until(WAIT, "its instances went with it", || async {
        let l = h
            .get(
                &s.url("/nacos/v1/ns/instance/list"),
                &[("serviceName", "mine")],
            )
            .await
            .json();
        l["hosts"].as_array().unwrap().is_empty()
    })
    .await;
    // Reconnecting gets the full current view.
    let mut again = ready_client(&s, true).await;
    let (_, b) = again
        .call("SubscribeServiceRequest", subscribe("flood2"))
        .await;
    let expected = (2..=port).filter(|p| p % 32 == 2).count();
    assert_eq!(
        b["serviceInfo"]["hosts"].as_array().unwrap().len(),
        expected
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_sends_connect_reset() {
    let s = TestServer::start().await;
    let mut c = ready_client(&s, true).await;
    let stopping = tokio::spawn(s.stop());
    let reset = c
        .next_of("ConnectResetRequest", WAIT)
        .await
        .expect("reset pushed");
    assert!(reset["requestId"].is_string());
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_publish_wakes_an_http_long_poll() {
    let s = TestServer::start_with(|st| st.config.long_poll_min_ms = 10_000).await;
    let h = Http::new();
    let mut c = ready_client(&s, true).await;
    let listening = "lp\u{2}G\u{2}\u{2}dev\u{1}".to_string();
    let poll = {
        let h = h.clone();
        let url = s.url("/nacos/v1/cs/configs/listener");
        tokio::spawn(async move {
            h.call(
                "POST",
                &url,
                &[],
                Some(&[("Listening-Configs", &listening)]),
                &[("Long-Pulling-Timeout", "30000")],
            )
            .await
        })
    };
    let app = s.running().app().clone();
    wait_until(WAIT, "poll held", || async { app.hub.held_watchers() == 1 }).await;
    let (_, b) = c
        .call(
            "ConfigPublishRequest",
            json!({"dataId": "lp", "group": "G", "tenant": "dev", "content": "v"}),
        )
        .await;
    assert_eq!(b["resultCode"], 200);
    let r = tokio::time::timeout(WAIT, poll)
        .await
        .expect("poll answered before its timeout")
        .unwrap();
    assert_eq!(r.body, "lp%02G%02dev%01\n");
}

/// A change right after a subscription is pushed only once the hold after
/// the subscription has passed (SDKs handle the answer and pushes on
/// different threads; the Java client keeps whichever it handles last),
/// and then with the current view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_push_after_a_subscription_waits_out_the_hold() {
    let s = TestServer::start_with(|st| st.grpc.subscribe_push_hold_ms = 400).await;
    let mut subscriber = ready_client(&s, true).await;
    let mut other = ready_client(&s, true).await;
    let (t, b) = subscriber
        .call("SubscribeServiceRequest", subscribe("held"))
        .await;
    assert_eq!(t, "SubscribeServiceResponse", "{b}");
    let answered = std::time::Instant::now();
    assert_eq!(b["serviceInfo"]["hosts"], json!([]), "{b}");
    let (_, b) = other.call("InstanceRequest", register("held", 7)).await;
    assert_eq!(b["resultCode"], 200, "{b}");
    let push = subscriber
        .next_of("NotifySubscriberRequest", WAIT)
        .await
        .expect("the change is pushed");
    assert!(
        answered.elapsed() >= std::time::Duration::from_millis(390),
        "pushed {:?} after the subscription's answer",
        answered.elapsed()
    );
    assert_eq!(push["serviceInfo"]["hosts"][0]["port"], 7, "{push}");
    // Later changes go at once (no bound asserted: only that they come).
    let (_, b) = other.call("InstanceRequest", register("held", 8)).await;
    assert_eq!(b["resultCode"], 200, "{b}");
    let push = subscriber
        .next_of("NotifySubscriberRequest", WAIT)
        .await
        .expect("the next change is pushed");
    assert_eq!(
        push["serviceInfo"]["hosts"].as_array().map(Vec::len),
        Some(2),
        "{push}"
    );
}
