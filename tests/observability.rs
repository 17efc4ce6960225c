//! Observability of real processes: every metric the Nocas dashboard and
//! the two official Nacos dashboards query is served; the audit trail
//! records each kind of change once, with its actor, on every node of a
//! cluster; JSON log lines parse; no password, token or config content
//! reaches a log line or the trail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nocas_testkit::grpc::RawGrpc;
use nocas_testkit::{ClusterProcesses, FAST_CLUSTER_TOML, Http, ServerProcess, prom, wait_until};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const WAIT: Duration = Duration::from_secs(30);
const ADMIN_PW: &str = "Obs-Admin-Pw-7c1e";
const TOKEN_SECRET: &str = "an-observability-test-token-secret-0123456789";
const CLUSTER_SECRET: &str = "an-observability-cluster-secret-0123456789";

/// Series (and the labels they are filtered or grouped on) that the two
/// official Nacos dashboards query: `nacos-grafana.json` and
/// `nacos-grafana-upper-2.4.json` in nacos-group/nacos-template (facts
/// read from them and listed in docs/nacos-metrics.md; the dashboards
/// themselves are not part of this project).
const NACOS_DASHBOARD_SERIES: &[(&str, &[&str])] = &[
    ("nacos_monitor", &["module", "name"]),
    ("nacos_config_subscriber", &["version"]),
    ("nacos_timer_seconds_sum", &["module", "name"]),
    ("nacos_timer_seconds_count", &["module", "name"]),
    ("nacos_exception_total", &["name"]),
    (
        "http_server_requests_seconds_sum",
        &["exception", "method", "outcome", "status", "uri"],
    ),
    (
        "http_server_requests_seconds_count",
        &["exception", "method", "outcome", "status", "uri"],
    ),
    (
        "grpc_server_requests_seconds_sum",
        &[
            "errorCode",
            "module",
            "requestClass",
            "success",
            "throwableClass",
        ],
    ),
    (
        "grpc_server_requests_seconds_count",
        &[
            "errorCode",
            "module",
            "requestClass",
            "success",
            "throwableClass",
        ],
    ),
    ("grpc_server_executor", &["module", "type", "name"]),
    ("system_cpu_usage", &[]),
    ("system_load_average_1m", &[]),
];

/// `nacos_monitor` (module, name) pairs the Nacos dashboards read.
const NACOS_MONITOR: &[(&str, &str)] = &[
    ("config", "configCount"),
    ("config", "longPolling"),
    ("config", "getConfig"),
    ("config", "publish"),
    ("config", "notifyTask"),
    ("config", "notifyClientTask"),
    ("naming", "serviceCount"),
    ("naming", "ipCount"),
    ("naming", "subscriberCount"),
    ("naming", "avgPushCost"),
    ("naming", "maxPushCost"),
    ("naming", "totalPush"),
    ("naming", "failedPush"),
    ("naming", "leaderStatus"),
    ("naming", "mysqlHealthCheck"),
    ("naming", "httpHealthCheck"),
    ("naming", "tcpHealthCheck"),
    ("naming", "pushPendingTaskCount"),
    ("core", "longConnection"),
];

/// `nacos_exception_total` names the old Nacos dashboard alerts on.
const NACOS_EXCEPTIONS: &[&str] = &[
    "unhealth",
    "db",
    "illegalArgument",
    "disk",
    "configNotify",
    "leaderSendBeatFailed",
    "nacos",
];

/// What the Nacos dashboards also query and Nocas leaves out: JVM series
/// (no JVM here), and `domCount`, which Nacos itself renamed to
/// `serviceCount` in 2019.
const LEFT_OUT: &[&str] = &[
    "jvm_memory_used_bytes",
    "jvm_memory_max_bytes",
    "jvm_threads_daemon_threads",
    "jvm_gc_pause_seconds_count",
    "domCount",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every metric name the queries of `dashboards/nocas.json` use.
fn dashboard_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("dashboards/nocas.json"))
        .expect("dashboards/nocas.json");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    if k == "expr" || (k == "query" && v.is_string()) {
                        out.push(v.as_str().unwrap_or_default().to_string());
                    } else {
                        walk(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut exprs);
    assert!(exprs.len() > 30, "the dashboard has its queries");
    let mut names = BTreeSet::new();
    for e in &exprs {
        // Template queries: label_values(metric, label).
        let e = e
            .strip_prefix("label_values(")
            .map(|rest| rest.split(',').next().unwrap_or_default().to_string())
            .unwrap_or_else(|| e.clone());
        names.extend(prom::metric_names(&e));
    }
    names
}

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

async fn leader(h: &Http, c: &ClusterProcesses, token: &str) -> Option<usize> {
    for i in 1..=c.nodes.len() {
        let url = format!("{}/nacos/v2/core/cluster/node/self", c.base(i));
        if let Ok(r) = h
            .try_call("GET", &url, &[("accessToken", token)], None, &[])
            .await
            && let Some(l) = r.json()["data"]["extendInfo"]["raftMetaData"]["leader"].as_u64()
        {
            return Some(l as usize);
        }
    }
    None
}

async fn scrape(h: &Http, base: &str) -> Vec<prom::SampleLine> {
    prom::parse(
        &h.get(&format!("{base}/nacos/actuator/prometheus"), &[])
            .await
            .body,
    )
}

async fn audit(h: &Http, base: &str, token: &str) -> Option<Vec<Value>> {
    let r = h
        .try_call(
            "GET",
            &format!("{base}/nacos/v3/admin/core/audit"),
            &[("accessToken", token), ("pageSize", "500")],
            None,
            &[],
        )
        .await
        .ok()?;
    (r.status == 200).then(|| {
        r.json()["data"]["pageItems"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    })
}

/// Writes every kind of durable change through a follower (so each is
/// forwarded to the leader with its actor), checks the audit trail on
/// every node (a fourth added by a membership change included), and
/// checks every metric the dashboards query is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_serves_the_dashboards_metrics_and_one_audit_trail() {
    let toml = format!("{FAST_CLUSTER_TOML}\n[auth]\nlockout_failures = 1000000\n");
    let args = [
        "--auth",
        "--admin-password",
        ADMIN_PW,
        "--token-secret",
        TOKEN_SECRET,
        "--cluster-secret",
        CLUSTER_SECRET,
    ];
    let c = ClusterProcesses::spawn(Path::new(BIN), 3, &toml, &args);
    let h = Http::new();
    let token = std::sync::Arc::new(tokio::sync::Mutex::new(String::new()));
    wait_until(WAIT, "the administrator logs in", || {
        let (h, base, token) = (h.clone(), c.base(1), token.clone());
        async move {
            match login(&h, &base).await {
                Some(t) => {
                    *token.lock().await = t;
                    true
                }
                None => false,
            }
        }
    })
    .await;
    let token = token.lock().await.clone();
    let deadline = std::time::Instant::now() + WAIT;
    let lead = loop {
        if let Some(l) = leader(&h, &c, &token).await {
            break l;
        }
        assert!(std::time::Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let follower = if lead == 1 { 2 } else { 1 };
    let fb = c.base(follower);
    let t = token.as_str();
    let write = |method: &'static str, path: &'static str, form: Vec<(&'static str, String)>| {
        let (h, url) = (h.clone(), format!("{fb}{path}"));
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = h
                .call(method, &url, &[("accessToken", t)], Some(&form), &[])
                .await;
            assert_eq!(r.status, 200, "{method} {url}: {}", r.body);
        }
    };
    write(
        "POST",
        "/nacos/v3/admin/core/namespace",
        vec![
            ("namespaceId", "obs-ns".into()),
            ("namespaceName", "Obs".into()),
        ],
    )
    .await;
    write(
        "POST",
        "/nacos/v1/cs/configs",
        vec![
            ("dataId", "obs.yaml".into()),
            ("group", "G".into()),
            ("content", "secret-content: OBS-CONTENT-91f2".into()),
        ],
    )
    .await;
    write(
        "POST",
        "/nacos/v1/ns/service",
        vec![("serviceName", "obs-svc".into())],
    )
    .await;
    write(
        "POST",
        "/nacos/v1/ns/instance",
        vec![
            ("serviceName", "obs-svc".into()),
            ("ip", "10.1.2.3".into()),
            ("port", "8080".into()),
            ("ephemeral", "false".into()),
        ],
    )
    .await;
    write(
        "POST",
        "/nacos/v1/auth/users",
        vec![
            ("username", "obs-user".into()),
            ("password", "Obs-User-Pw-55aa".into()),
        ],
    )
    .await;
    write(
        "POST",
        "/nacos/v1/auth/roles",
        vec![("role", "obs-role".into()), ("username", "obs-user".into())],
    )
    .await;
    write(
        "POST",
        "/nacos/v1/auth/permissions",
        vec![
            ("role", "obs-role".into()),
            ("resource", "obs-ns:*:*".into()),
            ("action", "r".into()),
        ],
    )
    .await;
    // Over gRPC, with the token in the request headers; and a subscriber
    // whose pushes are acknowledged.
    // gRPC listens on the HTTP port + 1000.
    let http_port: u16 = fb
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let grpc = std::net::SocketAddr::from(([127, 0, 0, 1], http_port + 1000));
    let mut g = RawGrpc::ready(grpc).await;
    let (kind, b) = g
        .call(
            "ConfigPublishRequest",
            json!({"dataId": "obs-grpc.yaml", "group": "G", "tenant": "", "content": "a: 1", "headers": {"accessToken": t}}),
        )
        .await;
    assert_eq!(
        (kind.as_str(), b["resultCode"].as_i64()),
        ("ConfigPublishResponse", Some(200)),
        "{b}"
    );
    let (kind, _) = g
        .call(
            "SubscribeServiceRequest",
            json!({"namespace": "public", "serviceName": "obs-eph", "groupName": "DEFAULT_GROUP", "subscribe": true, "clusters": "", "headers": {"accessToken": t}}),
        )
        .await;
    assert_eq!(kind, "SubscribeServiceResponse");
    let (kind, b) = g
        .call(
            "InstanceRequest",
            json!({"namespace": "public", "serviceName": "obs-eph", "groupName": "DEFAULT_GROUP", "type": "registerInstance",
                   "instance": {"ip": "10.1.2.4", "port": 80}, "headers": {"accessToken": t}}),
        )
        .await;
    assert_eq!(
        (kind.as_str(), b["resultCode"].as_i64()),
        ("InstanceResponse", Some(200)),
        "{b}"
    );
    assert!(g.next_of("NotifySubscriberRequest", WAIT).await.is_some());
    let (kind, _) = g
        .call(
            "ConfigQueryRequest",
            json!({"dataId": "obs.yaml", "group": "G", "tenant": "", "headers": {"accessToken": t}}),
        )
        .await;
    assert_eq!(kind, "ConfigQueryResponse");
    write(
        "DELETE",
        "/nacos/v1/cs/configs",
        vec![("dataId", "obs.yaml".into()), ("group", "G".into())],
    )
    .await;

    // A forwarding header is recorded as a claim beside the real peer.
    let r = h
        .call(
            "POST",
            &format!("{fb}/nacos/v1/cs/configs"),
            &[("accessToken", t)],
            Some(&[("dataId", "obs-fwd.yaml"), ("group", "G"), ("content", "x")]),
            &[("X-Forwarded-For", "203.0.113.9, 10.0.0.1")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Membership: a fourth node joins and is added.
    let (http4, raft4) = (nocas_testkit::free_port_pair(), nocas_testkit::free_port());
    let member4 = format!("127.0.0.1:{http4}:{raft4}");
    let members = format!("{},{member4}", c.members);
    let cfg = c.dir.path().join("cluster.toml");
    let mut args4 = vec![
        "--members",
        &members,
        "--node-id",
        "4",
        "--join",
        "--config",
        cfg.to_str().unwrap_or_default(),
    ];
    args4.extend(args);
    let n4 = ServerProcess::spawn_on(Path::new(BIN), &c.dir.path().join("node4"), http4, &args4)
        .expect("node 4 started");
    write(
        "POST",
        "/nacos/v2/core/cluster/node",
        vec![("address", member4.clone()), ("nodeId", "4".into())],
    )
    .await;
    let bases: Vec<String> = (1..=3).map(|i| c.base(i)).chain([n4.base()]).collect();

    // The trail: each change once, with its actor, on every node.
    let expected: &[(&str, &str, &str, &str)] = &[
        ("namespace", "create", "obs-ns", "http"),
        ("config", "publish", "public/G/obs.yaml", "http"),
        ("config", "delete", "public/G/obs.yaml", "http"),
        ("config", "publish", "public/G/obs-grpc.yaml", "grpc"),
        ("service", "create", "public/DEFAULT_GROUP@@obs-svc", "http"),
        (
            "instance",
            "register",
            "public/DEFAULT_GROUP@@obs-svc 10.1.2.3:8080",
            "http",
        ),
        ("user", "create", "obs-user", "http"),
        ("role", "bind", "obs-role", "http"),
        ("permission", "grant", "obs-role", "http"),
        ("membership", "add", "node 4", "http"),
    ];
    let mut trails: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for base in &bases {
        let deadline = std::time::Instant::now() + WAIT;
        let got = loop {
            if let Some(items) = audit(&h, base, t).await
                && expected.iter().all(|(k, op, target, _)| {
                    items.iter().any(|r| {
                        r["kind"] == *k
                            && r["op"] == *op
                            && r["target"].as_str().unwrap_or("").starts_with(target)
                    })
                })
            {
                break items;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{base}: not every change reached the trail"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for (k, op, target, via) in expected {
            let hits: Vec<&Value> = got
                .iter()
                .filter(|r| {
                    r["kind"] == *k
                        && r["op"] == *op
                        && r["target"].as_str().unwrap_or("").starts_with(target)
                })
                .collect();
            assert_eq!(
                hits.len(),
                1,
                "{base}: {k} {op} {target} recorded once: {hits:#?}"
            );
            let r = hits[0];
            assert_eq!(r["user"], "nacos", "{base}: actor of {k} {op}: {r}");
            assert_eq!(r["ip"], "127.0.0.1", "{base}: address of {k} {op}: {r}");
            assert_eq!(r["via"], *via, "{base}: {r}");
            assert!(r["time"].as_i64().unwrap_or(0) > 0, "{r}");
        }
        let text = serde_json::to_string(&got).unwrap_or_default();
        for secret in [
            ADMIN_PW,
            "Obs-User-Pw-55aa",
            "OBS-CONTENT-91f2",
            t,
            "$argon2",
        ] {
            assert!(!text.contains(secret), "{base}: the trail holds a secret");
        }
        trails.insert(base.clone(), got);
    }
    // The same trail on every node (ids and times too).
    let first = trails.values().next().cloned().unwrap_or_default();
    for (base, trail) in &trails {
        let ids = |t: &Vec<Value>| {
            t.iter()
                .map(|r| (r["id"].clone(), r["time"].clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(trail), ids(&first), "{base} holds the same trail");
    }
    let fwd: Vec<&Value> = first
        .iter()
        .filter(|r| r["target"] == "public/G/obs-fwd.yaml")
        .collect();
    assert_eq!(fwd.len(), 1, "{fwd:?}");
    assert_eq!(fwd[0]["ip"], "127.0.0.1");
    assert_eq!(fwd[0]["forwardedFor"], "203.0.113.9");
    // Filters.
    let r = h
        .call(
            "GET",
            &format!("{}/nacos/v3/admin/core/audit", bases[3]),
            &[
                ("accessToken", t),
                ("kind", "config"),
                ("op", "publish"),
                ("target", "obs-grpc"),
            ],
            None,
            &[],
        )
        .await;
    assert_eq!(r.json()["data"]["totalCount"], 1, "{}", r.body);
    // Not for anonymous callers or other users.
    let r = h
        .call(
            "GET",
            &format!("{}/nacos/v3/admin/core/audit", bases[0]),
            &[],
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 403);

    // Metrics: every name the dashboards query, served by the cluster.
    let mut served: BTreeSet<String> = BTreeSet::new();
    let mut samples = Vec::new();
    wait_until(WAIT, "the push acknowledged in the metrics", || {
        let (h, base) = (h.clone(), c.base(follower));
        async move {
            scrape(&h, &base).await.iter().any(|l| {
                l.name == "nocas_push_latency_seconds_count"
                    && l.labels.get("kind").map(String::as_str) == Some("service")
                    && l.value >= 1.0
            })
        }
    })
    .await;
    for base in &bases {
        let s = scrape(&h, base).await;
        served.extend(s.iter().map(|l| l.name.clone()));
        for (module, name) in NACOS_MONITOR {
            assert!(
                s.iter().any(|l| l.name == "nacos_monitor"
                    && l.labels.get("module").map(String::as_str) == Some(*module)
                    && l.labels.get("name").map(String::as_str) == Some(*name)),
                "{base}: nacos_monitor{{module={module},name={name}}} is served"
            );
        }
        samples.extend(s);
    }
    let missing: Vec<String> = dashboard_names()
        .into_iter()
        .filter(|n| !served.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "dashboards/nocas.json queries names not served: {missing:?}"
    );
    for (name, labels) in NACOS_DASHBOARD_SERIES {
        let series: Vec<&prom::SampleLine> = samples.iter().filter(|l| l.name == *name).collect();
        assert!(!series.is_empty(), "{name} is served");
        for l in &series {
            for label in *labels {
                assert!(
                    l.labels.contains_key(*label),
                    "{name} has label {label}: {:?}",
                    l.labels
                );
            }
        }
    }
    for name in NACOS_EXCEPTIONS {
        assert!(
            samples.iter().any(|l| l.name == "nacos_exception_total"
                && l.labels.get("name").map(String::as_str) == Some(*name)),
            "nacos_exception_total{{name={name}}}"
        );
    }
    for version in ["v1", "v2"] {
        assert!(samples.iter().any(|l| l.name == "nacos_config_subscriber"
            && l.labels.get("version").map(String::as_str) == Some(version)));
    }
    for name in [
        "poolSize",
        "maximumPoolSize",
        "activeCount",
        "inQueueTaskCount",
    ] {
        assert!(samples.iter().any(|l| l.name == "grpc_server_executor"
            && l.labels.get("name").map(String::as_str) == Some(name)
            && l.labels.get("type").map(String::as_str) == Some("grpcSdkServer")));
    }
    // The routes the Nacos dashboards pick out by `uri`.
    for uri in ["/v1/cs/configs", "/v1/ns/instance"] {
        assert!(
            samples
                .iter()
                .any(|l| l.name == "http_server_requests_seconds_count"
                    && l.labels.get("uri").map(String::as_str) == Some(uri)),
            "uri {uri}"
        );
    }
    assert!(
        samples
            .iter()
            .any(|l| l.name == "grpc_server_requests_seconds_count"
                && l.labels.get("requestClass").map(String::as_str)
                    == Some("ConfigPublishRequest"))
    );
    for name in LEFT_OUT {
        assert!(!served.contains(*name), "{name} is left out");
    }
    drop(g);
    drop(n4);
}

/// `--log-format json`: every line parses; the request log and the slow
/// request log name routes and times; no password, token or content
/// reaches any line, at debug level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_parse_and_carry_no_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("server.log");
    let cfg = dir.path().join("nocas.toml");
    std::fs::write(
        &cfg,
        "[config]\nlong_poll_min_ms = 100\nlong_poll_margin_ms = 50\n[log]\nslow_request_ms = 700\n[auth]\nlockout_failures = 1000000\n",
    )
    .expect("settings");
    let server = ServerProcess::spawn_logging(
        Path::new(BIN),
        &dir.path().join("data"),
        &[
            "--auth",
            "--admin-password",
            ADMIN_PW,
            "--log-format",
            "json",
            "--request-log",
            "--config",
            cfg.to_str().unwrap_or_default(),
        ],
        Some((&log, "debug")),
    );
    let base = server.base();
    let h = Http::new();
    let token = login(&h, &base).await.expect("login");
    // A password in the query string too, and a wrong one.
    let r = h
        .call(
            "POST",
            &format!("{base}/nacos/v1/auth/login"),
            &[("username", "nacos"), ("password", ADMIN_PW)],
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .call(
            "POST",
            &format!("{base}/nacos/v1/auth/login"),
            &[],
            Some(&[("username", "nacos"), ("password", "Wrong-Pw-0b9d")]),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
    let t = token.as_str();
    let r = h
        .call(
            "POST",
            &format!("{base}/nacos/v1/auth/users"),
            &[("accessToken", t)],
            Some(&[("username", "logger"), ("password", "Logger-Pw-1a2b")]),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .call(
            "PUT",
            &format!("{base}/nacos/v1/auth/users"),
            &[
                ("accessToken", t),
                ("username", "logger"),
                ("newPassword", "Logger-New-Pw-3c4d"),
            ],
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bearer = format!("Bearer {t}");
    let r = h
        .call(
            "POST",
            &format!("{base}/nacos/v1/cs/configs"),
            &[],
            Some(&[
                ("dataId", "log.yaml"),
                ("group", "G"),
                ("content", "pw: Content-Secret-5e6f"),
            ]),
            &[("Authorization", bearer.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .call(
            "GET",
            &format!("{base}/nacos/v1/cs/configs"),
            &[("dataId", "log.yaml"), ("group", "G"), ("accessToken", t)],
            None,
            &[],
        )
        .await;
    assert_eq!(r.body, "pw: Content-Secret-5e6f");
    let md5 = r.header("content-md5").expect("the config's MD5");
    // A long poll held ~1 s: a slow request.
    let listening = format!("log.yaml\u{2}G\u{2}{md5}\u{1}");
    let r = h
        .call(
            "POST",
            &format!("{base}/nacos/v1/cs/configs/listener"),
            &[("accessToken", t)],
            Some(&[("Listening-Configs", listening.as_str())]),
            &[("Long-Pulling-Timeout", "1000")],
        )
        .await;
    assert_eq!(r.status, 200);
    // 401/403 paths are logged too.
    let r = h
        .call(
            "GET",
            &format!("{base}/nacos/v3/admin/core/audit"),
            &[("accessToken", "not.a.token")],
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
    drop(server);

    let text = std::fs::read_to_string(&log).expect("the log");
    let mut requests = 0;
    let mut slow = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        for secret in [
            ADMIN_PW,
            "Wrong-Pw-0b9d",
            "Logger-Pw-1a2b",
            "Logger-New-Pw-3c4d",
            "Content-Secret-5e6f",
            t,
            "not.a.token",
        ] {
            assert!(!line.contains(secret), "a secret in the log: {line}");
        }
        match v["target"].as_str() {
            Some("nocas::request") => {
                requests += 1;
                assert!(
                    v["route"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("/nacos/")),
                    "{line}"
                );
                assert!(
                    v["took_ms"].is_number() && v["status"].is_number(),
                    "{line}"
                );
            }
            Some("nocas::slow") => {
                slow += 1;
                assert_eq!(v["route"], "/nacos/v1/cs/configs/listener", "{line}");
                assert!(v["took_ms"].as_f64().unwrap_or(0.0) >= 700.0, "{line}");
            }
            _ => {}
        }
    }
    assert!(requests >= 7, "request lines: {requests}\n{text}");
    assert_eq!(slow, 1, "{text}");
}
