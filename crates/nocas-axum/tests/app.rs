//! `nocas-axum` against a real Nocas server in the test process: the
//! registration (routes, version, environment as namespace), live config
//! (mock, timeout), deregistration on shutdown before the process lets go
//! of its connection, a service starting while the registry is down, and
//! the gray split over 10,000 request ids from instances in the registry.

use std::collections::BTreeSet;
use std::time::Duration;

use nocas_axum::nocas_client::{BreakerPolicy, Client, ClientOptions, Instance, RetryPolicy};
use nocas_axum::{GrayRouter, GrayRule, NocasApp};
use nocas_testkit::{Http, TestServer, wait_until};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(15);
const NS: &str = "axum-it";

fn opts(http: &str, cache: &std::path::Path) -> ClientOptions {
    let mut o = ClientOptions::new(http)
        .cache_dir(cache)
        .request_timeout(Duration::from_millis(800))
        .health_interval(Duration::from_millis(200))
        .breaker(BreakerPolicy {
            failure_threshold: 2,
            open_for: Duration::from_millis(300),
        })
        .retry(RetryPolicy {
            max_attempts: 2,
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
        });
    o.connect_timeout = Duration::from_millis(300);
    o
}

async fn hosts(h: &Http, s: &TestServer, svc: &str) -> Vec<Value> {
    let r = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("namespaceId", NS), ("serviceName", svc)],
        )
        .await;
    r.json()["hosts"].as_array().cloned().unwrap_or_default()
}

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_follows_config_and_deregisters_on_shutdown() {
    let s = TestServer::start().await;
    let server = s.running().http_addr().to_string();
    let cache = tempfile::tempdir().unwrap();
    let admin = Client::new(opts(&server, cache.path()).namespace(NS));
    admin
        .config()
        .publish(
            "orders.yaml",
            "DEFAULT_GROUP",
            "timeout.ms: 5000\n",
            Some("yaml"),
        )
        .await
        .unwrap();

    let started = NocasApp::new("orders")
        .client_options(opts(&server, cache.path()))
        .env(NS)
        .version("v7")
        .metadata("zone", "z1")
        .get("/orders", || async { "real orders" })
        .get("/orders/{id}", || async { "one order" })
        .get("/slow", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "late"
        })
        .start(listener().await)
        .await
        .unwrap();
    let addr = started.local_addr().unwrap();
    let live = started.live();
    assert_eq!(
        live.load().timeout,
        Some(Duration::from_secs(5)),
        "config read before serving"
    );
    let client = started.client().clone();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let serving = tokio::spawn(started.serve(async move {
        let _ = stop_rx.await;
    }));

    let h = Http::new();
    let listed = hosts(&h, &s, "orders").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let md = &listed[0]["metadata"];
    assert_eq!(listed[0]["port"].as_u64(), Some(u64::from(addr.port())));
    assert_eq!(listed[0]["ip"].as_str(), Some("127.0.0.1"));
    assert_eq!(md["version"], "v7");
    assert_eq!(md["env"], NS);
    assert_eq!(md["zone"], "z1");
    assert_eq!(md["routes"], "GET /orders,GET /orders/{id},GET /slow");

    let url = |p: &str| format!("http://{addr}{p}");
    assert_eq!(get(&url("/orders")).await, (200, "real orders".into()));

    // mode: mock answers from the config, live.
    admin
        .config()
        .publish(
            "orders.yaml",
            "DEFAULT_GROUP",
            "mode: mock\nmock:\n  /orders: '[{\"id\":9}]'\n  /orders/{id}: '{\"id\":0}'\n",
            Some("yaml"),
        )
        .await
        .unwrap();
    wait_until(WAIT, "mock mode", || async {
        get(&url("/orders")).await == (200, "[{\"id\":9}]".into())
    })
    .await;
    assert_eq!(get(&url("/orders/3")).await, (200, "{\"id\":0}".into()));

    // timeout.ms bounds requests, live.
    admin
        .config()
        .publish(
            "orders.yaml",
            "DEFAULT_GROUP",
            "timeout.ms=100\n",
            Some("properties"),
        )
        .await
        .unwrap();
    wait_until(WAIT, "timeout applied", || async {
        live.load().timeout == Some(Duration::from_millis(100))
    })
    .await;
    let (status, body) = get(&url("/slow")).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(get(&url("/orders")).await, (200, "real orders".into()));

    // Shutdown: deregistered before serve returns, while this process's
    // connection is still up (so not by the connection closing).
    stop_tx.send(()).unwrap();
    serving.await.unwrap().unwrap();
    assert!(client.is_connected());
    assert!(hosts(&h, &s, "orders").await.is_empty());
    assert!(
        reqwest::get(url("/orders")).await.is_err(),
        "server stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_with_the_registry_down_and_registers_when_it_comes_up() {
    let cache = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let port = s.running().http_addr().port();
    let server = s.running().http_addr().to_string();
    // A previous run left the config in the cache.
    {
        let c = Client::new(opts(&server, cache.path()).namespace(NS));
        c.config()
            .publish(
                "cold.yaml",
                "DEFAULT_GROUP",
                "timeout.ms: 1234\nfeature: on\n",
                None,
            )
            .await
            .unwrap();
        assert!(
            c.config()
                .get("cold.yaml", "DEFAULT_GROUP")
                .await
                .unwrap()
                .is_some()
        );
    }
    let dir = s.stop().await;

    let started = NocasApp::new("cold")
        .client_options(opts(&server, cache.path()))
        .env(NS)
        .get("/ping", || async { "pong" })
        .start(listener().await)
        .await
        .unwrap();
    let live = started.live().load();
    assert_eq!(
        live.timeout,
        Some(Duration::from_millis(1234)),
        "config from the cache"
    );
    assert_eq!(live.values.get("feature").map(String::as_str), Some("on"));
    let addr = started.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let serving = tokio::spawn(started.serve(async move {
        let _ = stop_rx.await;
    }));
    assert_eq!(
        get(&format!("http://{addr}/ping")).await,
        (200, "pong".into())
    );

    let s = TestServer::start_in(dir, move |st| st.http_port = port).await;
    let h = Http::new();
    wait_until(WAIT, "registered once the registry is up", || async {
        hosts(&h, &s, "cold").await.len() == 1
    })
    .await;
    stop_tx.send(()).unwrap();
    serving.await.unwrap().unwrap();
    assert!(hosts(&h, &s, "cold").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gray_split_over_ten_thousand_request_ids() {
    let s = TestServer::start().await;
    let server = s.running().http_addr().to_string();
    let cache = tempfile::tempdir().unwrap();
    let c = Client::new(opts(&server, cache.path()).namespace(NS));
    let versions = [(1, "v1"), (2, "v1"), (3, "v2"), (4, "v2")];
    for (port, v) in versions {
        c.naming()
            .register(
                "pay",
                None,
                Instance::new("127.0.0.1", port).with_metadata("version", v),
            )
            .await
            .unwrap();
    }
    c.config()
        .publish(
            "gw.yaml",
            "DEFAULT_GROUP",
            "gray:\n  version: v2\n  percent: 20\n",
            None,
        )
        .await
        .unwrap();

    // The rule comes from the gateway's config, the instances from the
    // registry, as in the gateway example.
    let gray = GrayRouter::new(GrayRule::default());
    let rules = gray.clone();
    let started = NocasApp::new("gw")
        .client_options(opts(&server, cache.path()))
        .env(NS)
        .config("gw.yaml", "DEFAULT_GROUP")
        .on_config(move |s| rules.set_rule(GrayRule::from_values(&s.values)))
        .start(listener().await)
        .await
        .unwrap();
    gray.follow(started.client(), "pay", None).await.unwrap();
    wait_until(WAIT, "instances known", || async {
        gray.hosts().len() == 4
    })
    .await;
    assert_eq!(gray.rule().percent, 20.0);

    let check = |expected: f64| {
        let n = 10_000;
        let mut ports = BTreeSet::new();
        let mut to_gray = 0;
        for i in 0..n {
            let pick = gray.pick(&format!("req-{i}")).unwrap();
            let v = pick.instance.metadata["version"].clone();
            assert_eq!(pick.gray, v == "v2");
            to_gray += usize::from(pick.gray);
            ports.insert(pick.instance.port);
        }
        let share = to_gray as f64 * 100.0 / n as f64;
        eprintln!("gray share {share:.2}% for a rule of {expected}%");
        assert!(
            (share - expected).abs() <= 1.5,
            "share {share}% vs {expected}%"
        );
        ports
    };
    assert_eq!(
        check(20.0),
        [1, 2, 3, 4].into(),
        "every instance gets traffic"
    );

    // The rule changes live.
    c.config()
        .publish(
            "gw.yaml",
            "DEFAULT_GROUP",
            "gray.version=v2\ngray.percent=65\n",
            None,
        )
        .await
        .unwrap();
    wait_until(WAIT, "new rule", || async { gray.rule().percent == 65.0 }).await;
    check(65.0);

    // An instance leaving is pushed to the router.
    c.naming()
        .deregister("pay", None, &Instance::new("127.0.0.1", 3))
        .await
        .unwrap();
    wait_until(WAIT, "instance gone", || async { gray.hosts().len() == 3 }).await;
    assert!((0..1000).all(|i| gray.pick(&i.to_string()).unwrap().instance.port != 3));
}
