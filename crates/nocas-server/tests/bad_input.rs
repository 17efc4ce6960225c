//! Bad input gets a 4xx in Nacos's error shape with a reason; the server
//! never answers 5xx for a client's mistake, keeps serving, and keeps its
//! data.

use nocas_testkit::{Http, TestServer};

/// Method, path, parameters.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_sweep() {
    let s = TestServer::start_with(|st| st.limits.max_body_bytes = 64 * 1024 * 1024).await;
    let h = Http::new();
    // Data that must survive the sweep.
    h.post(
        &s.url("/nacos/v1/cs/configs"),
        &[("dataId", "keep"), ("group", "G"), ("content", "safe")],
    )
    .await;
    h.post(
        &s.url("/nacos/v1/ns/instance"),
        &[
            ("serviceName", "keep"),
            ("ip", "10.0.0.1"),
            ("port", "1"),
            ("ephemeral", "false"),
        ],
    )
    .await;

    let long = "x".repeat(600);
    let cases: Vec<Case> = vec![
        ("POST", "/nacos/v1/ns/instance", vec![]),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![("serviceName", "s"), ("port", "1")],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![("serviceName", "s"), ("ip", "1.1.1.1")],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![("serviceName", "s"), ("ip", "1.1.1.1"), ("port", "abc")],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![("serviceName", "s"), ("ip", "1.1.1.1"), ("port", "-1")],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![("serviceName", "s"), ("ip", "1.1.1.1"), ("port", "65536")],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "1"),
                ("weight", "10001"),
            ],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "1"),
                ("weight", "-0.5"),
            ],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "1"),
                ("weight", "NaN"),
            ],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "1"),
                ("metadata", "not json"),
            ],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "1"),
                ("metadata", "[1,2]"),
            ],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "1"),
                ("metadata", "{\"a\":{\"b\":1}}"),
            ],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "1"),
                ("clusterName", "bad_cluster"),
            ],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![("serviceName", "@@s"), ("ip", "1.1.1.1"), ("port", "1")],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![("serviceName", "a@@b@@c"), ("ip", "1.1.1.1"), ("port", "1")],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![("serviceName", &long), ("ip", "1.1.1.1"), ("port", "1")],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "1"),
                ("namespaceId", "bad ns!"),
            ],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![("serviceName", "s"), ("ip", "bad ip"), ("port", "1")],
        ),
        (
            "POST",
            "/nacos/v1/ns/instance",
            vec![
                ("serviceName", "s"),
                ("ip", "1.1.1.1"),
                ("port", "1"),
                ("healthy", "perhaps"),
            ],
        ),
        (
            "PUT",
            "/nacos/v1/ns/instance/beat",
            vec![("serviceName", "s"), ("beat", "{not json")],
        ),
        (
            "PUT",
            "/nacos/v1/ns/instance/beat",
            vec![("serviceName", "s"), ("beat", "[]")],
        ),
        ("PUT", "/nacos/v1/ns/instance/beat", vec![]),
        ("GET", "/nacos/v1/ns/instance/list", vec![]),
        (
            "GET",
            "/nacos/v1/ns/instance/list",
            vec![("serviceName", "s"), ("clusters", "a_b")],
        ),
        (
            "GET",
            "/nacos/v1/ns/instance/list",
            vec![("serviceName", "s"), ("healthyOnly", "maybe")],
        ),
        (
            "POST",
            "/nacos/v1/ns/service",
            vec![("serviceName", "s"), ("protectThreshold", "2")],
        ),
        (
            "POST",
            "/nacos/v1/ns/service",
            vec![("serviceName", "s"), ("protectThreshold", "abc")],
        ),
        (
            "POST",
            "/nacos/v1/ns/service",
            vec![("serviceName", "s"), ("selector", "junk")],
        ),
        ("GET", "/nacos/v1/ns/service/list", vec![("pageSize", "0")]),
        ("GET", "/nacos/v1/ns/service/list", vec![("pageNo", "x")]),
        (
            "PUT",
            "/nacos/v1/ns/cluster",
            vec![
                ("serviceName", "keep"),
                ("clusterName", "DEFAULT"),
                ("healthChecker", "{\"type\":\"UDP\"}"),
            ],
        ),
        (
            "PUT",
            "/nacos/v1/ns/health/instance",
            vec![("serviceName", "keep"), ("ip", "10.0.0.1"), ("port", "1")],
        ),
        ("GET", "/nacos/v1/cs/configs", vec![]),
        ("GET", "/nacos/v1/cs/configs", vec![("dataId", "d")]),
        (
            "POST",
            "/nacos/v1/cs/configs",
            vec![("dataId", "d"), ("group", "G")],
        ),
        (
            "POST",
            "/nacos/v1/cs/configs",
            vec![("dataId", "d"), ("group", "G"), ("content", "  ")],
        ),
        (
            "POST",
            "/nacos/v1/cs/configs",
            vec![("dataId", "d d"), ("group", "G"), ("content", "c")],
        ),
        (
            "POST",
            "/nacos/v1/cs/configs",
            vec![("dataId", "d"), ("group", "G/x"), ("content", "c")],
        ),
        (
            "POST",
            "/nacos/v1/cs/configs",
            vec![
                ("dataId", "d"),
                ("group", "G"),
                ("content", "c"),
                ("tenant", "../etc"),
            ],
        ),
        (
            "POST",
            "/nacos/v1/cs/configs",
            vec![
                ("dataId", "d"),
                ("group", "G"),
                ("content", "c"),
                ("tag", "waytoolongtagname"),
            ],
        ),
        ("GET", "/nacos/v1/cs/history", vec![("search", "accurate")]),
        (
            "GET",
            "/nacos/v1/cs/history",
            vec![("dataId", "keep"), ("group", "G"), ("nid", "x")],
        ),
        (
            "GET",
            "/nacos/v1/cs/history/previous",
            vec![("dataId", "keep"), ("group", "G")],
        ),
        ("POST", "/nacos/v1/console/namespaces", vec![]),
        (
            "POST",
            "/nacos/v1/console/namespaces",
            vec![("customNamespaceId", &long), ("namespaceName", "n")],
        ),
        (
            "PUT",
            "/nacos/v1/console/namespaces",
            vec![("namespace", "nope"), ("namespaceShowName", "n")],
        ),
        (
            "POST",
            "/nacos/v2/ns/instance",
            vec![("serviceName", "s"), ("ip", "1.1.1.1"), ("port", "99999")],
        ),
        ("POST", "/nacos/v2/cs/config", vec![("dataId", "d")]),
        (
            "GET",
            "/nacos/v2/core/cluster/node/list",
            vec![("state", "SLEEPY")],
        ),
        ("GET", "/nacos/v1/no/such/endpoint", vec![]),
    ];
    for (method, path, params) in &cases {
        let r = h.call(method, &s.url(path), params, None, &[]).await;
        assert!(
            (400..500).contains(&r.status),
            "{method} {path} {params:?} -> {} {}",
            r.status,
            r.body
        );
        assert!(
            !r.body.trim().is_empty(),
            "{method} {path}: a reason is given"
        );
        if path.starts_with("/nacos/v2/") {
            let v = r.json();
            assert!(
                v["code"].as_u64().unwrap() > 0,
                "{method} {path}: v2 shape {v}"
            );
            assert!(
                v["message"].is_string() && v["data"].is_string(),
                "{method} {path}: v2 shape {v}"
            );
        }
    }

    // Bodies that are not forms, not UTF-8, or too large.
    let r = h
        .raw(
            "POST",
            &s.url("/nacos/v1/cs/configs"),
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, b'=', 0x80],
        )
        .await;
    assert!((400..500).contains(&r.status), "{}", r.status);
    let r = h
        .raw(
            "POST",
            &s.url("/nacos/v1/cs/configs"),
            "application/json",
            b"{\"dataId\":\"x\"}".to_vec(),
        )
        .await;
    assert!((400..500).contains(&r.status), "{}", r.status);
    let huge = vec![b'a'; 65 * 1024 * 1024];
    let r = h
        .raw(
            "POST",
            &s.url("/nacos/v1/cs/configs"),
            "application/x-www-form-urlencoded",
            huge,
        )
        .await;
    assert_eq!(r.status, 413);

    // The server still serves, and stored data is intact.
    let r = h
        .get(
            &s.url("/nacos/v1/cs/configs"),
            &[("dataId", "keep"), ("group", "G")],
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "safe"));
    let l = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "keep")],
        )
        .await
        .json();
    assert_eq!(l["hosts"].as_array().unwrap().len(), 1);
    let m = h.get(&s.url("/metrics"), &[]).await;
    assert!(
        m.body
            .contains("nocas_http_requests_total{class=\"5xx\"} 0"),
        "{}",
        m.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_per_service_are_limited() {
    let s = TestServer::start_with(|st| st.limits.max_instances_per_service = 2).await;
    let h = Http::new();
    for ephemeral in ["true", "false"] {
        let svc = format!("full-{ephemeral}");
        let reg = |port: &'static str| {
            let h = h.clone();
            let url = s.url("/nacos/v1/ns/instance");
            let svc = svc.clone();
            async move {
                h.post(
                    &url,
                    &[
                        ("serviceName", svc.as_str()),
                        ("ip", "10.0.0.1"),
                        ("port", port),
                        ("ephemeral", ephemeral),
                    ],
                )
                .await
            }
        };
        assert_eq!(reg("1").await.status, 200);
        assert_eq!(reg("2").await.status, 200);
        let third = reg("3").await;
        assert_eq!(third.status, 400, "{}", third.body);
        assert!(
            third.body.contains("maximum of 2 instances"),
            "{}",
            third.body
        );
        // Updating one that is there is fine.
        assert_eq!(reg("1").await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_connections_per_ip_are_limited() {
    use nocas_proto::grpc::{RequestClient, payload};
    let s = TestServer::start_with(|st| st.limits.max_connections_per_ip = 2).await;
    let addr = s.running().grpc_addr();
    let try_one = || async move {
        let Ok(ep) = tonic::transport::Endpoint::from_shared(format!("http://{addr}")) else {
            return None;
        };
        let ch = ep
            .connect_timeout(std::time::Duration::from_secs(2))
            .connect()
            .await
            .ok()?;
        let mut c = RequestClient::new(ch);
        let p = payload(
            "ServerCheckRequest",
            &serde_json::json!({"headers": {}}),
            Default::default(),
        );
        c.request(p).await.ok().map(|r| r.into_inner())
    };
    let a = nocas_testkit::grpc::RawGrpc::connect(addr).await;
    let b = nocas_testkit::grpc::RawGrpc::connect(addr).await;
    assert!(
        try_one().await.is_none(),
        "a third connection from one IP is refused"
    );
    drop(b);
    nocas_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "a slot to free up",
        || async { try_one().await.is_some() },
    )
    .await;
    drop(a);
}
