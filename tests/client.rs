//! `nocas-client` against real servers: naming and config, pushes and
//! streams, the official `nacos-sdk` seeing the same data, the failover
//! cache when no server answers, the circuit breaker, redo after the
//! registry comes back, and failover between servers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use nocas_client::{BreakerPolicy, Client, ClientOptions, Instance, RetryPolicy};
use nocas_testkit::{Http, TestServer, wait_until};

const WAIT: Duration = Duration::from_secs(15);

fn opts(s: &TestServer, cache: &std::path::Path) -> ClientOptions {
    ClientOptions::new(&s.running().http_addr().to_string())
        .namespace("client-it")
        .cache_dir(cache)
        .request_timeout(Duration::from_secs(2))
        .health_interval(Duration::from_millis(200))
        .breaker(BreakerPolicy {
            failure_threshold: 2,
            open_for: Duration::from_millis(300),
        })
        .retry(RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
        })
}

fn ports(v: &[Instance]) -> BTreeSet<u16> {
    v.iter().map(|i| i.port).collect()
}

async fn http_ports(h: &Http, s: &TestServer, svc: &str) -> BTreeSet<u64> {
    match h
        .try_call(
            "GET",
            &s.url("/nacos/v1/ns/instance/list"),
            &[("namespaceId", "client-it"), ("serviceName", svc)],
            None,
            &[],
        )
        .await
    {
        Ok(r) if r.status == 200 => r.json()["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["port"].as_u64().unwrap())
            .collect(),
        _ => BTreeSet::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_and_config_with_pushes_and_streams() {
    let s = TestServer::start().await;
    let cache = tempfile::tempdir().unwrap();
    let c = Client::new(opts(&s, cache.path()));
    let n = c.naming();
    n.register(
        "orders",
        None,
        Instance::new("10.0.0.1", 1).with_metadata("version", "v1"),
    )
    .await
    .unwrap();
    assert_eq!(
        ports(&n.healthy_instances("orders", None).await.unwrap()),
        [1].into()
    );
    assert_eq!(
        n.select_one("orders", None).await.unwrap().metadata["version"],
        "v1"
    );

    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    n.subscribe("orders", None, move |v| s2.lock().push(ports(&v.hosts)))
        .await
        .unwrap();
    let mut stream = Box::pin(n.watch("orders", None).await.unwrap());
    assert_eq!(ports(&stream.next().await.unwrap().hosts), [1].into());

    // Another client joins and leaves: both the callback and the stream see it.
    let other_cache = tempfile::tempdir().unwrap();
    let other = Client::new(opts(&s, other_cache.path()));
    other
        .naming()
        .batch_register(
            "orders",
            None,
            vec![Instance::new("10.0.0.2", 2), Instance::new("10.0.0.3", 3)],
        )
        .await
        .unwrap();
    let next = tokio::time::timeout(WAIT, async {
        loop {
            let v = stream.next().await.unwrap();
            if ports(&v.hosts) == [1, 2, 3].into() {
                break;
            }
        }
    })
    .await;
    assert!(next.is_ok(), "stream saw the batch");
    other
        .naming()
        .deregister("orders", None, &Instance::new("10.0.0.2", 2))
        .await
        .unwrap();
    wait_until(WAIT, "callback saw the leave", || async {
        seen.lock().last() == Some(&[1, 3].into())
    })
    .await;
    // Update (re-register with new fields).
    n.update(
        "orders",
        None,
        Instance::new("10.0.0.1", 1).with_weight(5.0),
    )
    .await
    .unwrap();
    wait_until(WAIT, "update visible", || async {
        n.healthy_instances("orders", None)
            .await
            .unwrap()
            .iter()
            .any(|i| i.port == 1 && i.weight == 5.0)
    })
    .await;

    // Config.
    let cfg = c.config();
    assert_eq!(cfg.get("app.yaml", "G").await.unwrap(), None);
    cfg.publish("app.yaml", "G", "v: 1", Some("yaml"))
        .await
        .unwrap();
    assert_eq!(
        cfg.get("app.yaml", "G").await.unwrap().as_deref(),
        Some("v: 1")
    );
    let mut changes = Box::pin(cfg.listen("app.yaml", "G").await.unwrap());
    assert_eq!(
        changes.next().await.unwrap().content.as_deref(),
        Some("v: 1")
    );
    // A change over HTTP is pushed to the listener.
    let h = Http::new();
    h.post(
        &s.url("/nacos/v1/cs/configs"),
        &[
            ("tenant", "client-it"),
            ("dataId", "app.yaml"),
            ("group", "G"),
            ("content", "v: 2"),
        ],
    )
    .await;
    let got = tokio::time::timeout(WAIT, changes.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.content.as_deref(), Some("v: 2"));
    cfg.remove("app.yaml", "G").await.unwrap();
    let got = tokio::time::timeout(WAIT, changes.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.content, None, "removal is a change too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_sees_the_same_data() {
    use nacos_sdk::api::config::ConfigServiceBuilder;
    use nacos_sdk::api::naming::NamingServiceBuilder;
    use nacos_sdk::api::props::ClientProps;
    let s = TestServer::start().await;
    let cache = tempfile::tempdir().unwrap();
    let c = Client::new(opts(&s, cache.path()));
    c.naming()
        .register(
            "shared",
            Some("G"),
            Instance::new("10.1.1.1", 11).with_metadata("k", "v"),
        )
        .await
        .unwrap();
    let sdk_cache = tempfile::tempdir().unwrap();
    let props = || {
        ClientProps::new()
            .server_addr(s.running().http_addr().to_string())
            .namespace("client-it")
            .cache_dir(sdk_cache.path())
    };
    let sdk = NamingServiceBuilder::new(props()).build().await.unwrap();
    let all = sdk
        .get_all_instances("shared".into(), Some("G".into()), vec![], false)
        .await
        .unwrap();
    assert_eq!(
        (all.len(), all[0].port, all[0].metadata["k"].as_str()),
        (1, 11, "v")
    );
    // And the other way round.
    let sdk_cfg = ConfigServiceBuilder::new(props()).build().await.unwrap();
    sdk_cfg
        .publish_config("from-sdk".into(), "G".into(), "hello".into(), None)
        .await
        .unwrap();
    assert_eq!(
        c.config().get("from-sdk", "G").await.unwrap().as_deref(),
        Some("hello")
    );
    sdk.register_instance(
        "shared".into(),
        Some("G".into()),
        nacos_sdk::api::naming::ServiceInstance {
            ip: "10.1.1.2".into(),
            port: 12,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    wait_until(WAIT, "nocas-client sees the SDK's instance", || async {
        ports(
            &c.naming()
                .healthy_instances("shared", Some("G"))
                .await
                .unwrap(),
        ) == [11, 12].into()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_down_at_start_serves_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let addr = s.running().http_addr();
    {
        let c = Client::new(opts(&s, cache.path()));
        c.naming()
            .register("cached", None, Instance::new("10.2.2.2", 22))
            .await
            .unwrap();
        assert_eq!(
            c.naming()
                .healthy_instances("cached", None)
                .await
                .unwrap()
                .len(),
            1
        );
        c.config()
            .publish("cfg", "G", "cached content", None)
            .await
            .unwrap();
        assert!(c.config().get("cfg", "G").await.unwrap().is_some());
    }
    s.stop().await;
    // A new process start: no registry, same cache directory.
    let mut o = ClientOptions::new(&addr.to_string())
        .namespace("client-it")
        .cache_dir(cache.path())
        .request_timeout(Duration::from_millis(500));
    o.connect_timeout = Duration::from_millis(300);
    let c = Client::new(o);
    let t0 = Instant::now();
    let hosts = c.naming().healthy_instances("cached", None).await.unwrap();
    assert_eq!(ports(&hosts), [22].into());
    assert_eq!(
        c.config().get("cfg", "G").await.unwrap().as_deref(),
        Some("cached content")
    );
    assert!(c.naming().select_one("cached", None).await.is_ok());
    eprintln!(
        "served from cache with the registry down in {:?}",
        t0.elapsed()
    );
    // Nothing cached: a clear error.
    assert!(
        c.naming()
            .healthy_instances("never-seen", None)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_killed_mid_run_breaker_cache_and_automatic_reregistration() {
    let s = TestServer::start().await;
    let port = s.running().http_addr().port();
    let cache = tempfile::tempdir().unwrap();
    let c = Client::new(opts(&s, cache.path()));
    c.naming()
        .register("mid", None, Instance::new("10.4.4.4", 44))
        .await
        .unwrap();
    let mut views = Box::pin(c.naming().watch("mid", None).await.unwrap());
    assert_eq!(ports(&views.next().await.unwrap().hosts), [44].into());
    // A service read without a subscription (it needs the server).
    c.naming()
        .register("other", None, Instance::new("10.4.4.9", 49))
        .await
        .unwrap();
    assert_eq!(
        ports(&c.naming().healthy_instances("other", None).await.unwrap()),
        [49].into()
    );

    let dir = s.stop().await;
    // Reads fall back to the cache; once the breaker is open they no longer
    // wait for the dead server.
    let t0 = Instant::now();
    assert_eq!(
        ports(&c.naming().healthy_instances("other", None).await.unwrap()),
        [49].into()
    );
    let first = t0.elapsed();
    let t1 = Instant::now();
    for _ in 0..5 {
        assert_eq!(
            ports(&c.naming().healthy_instances("other", None).await.unwrap()),
            [49].into()
        );
    }
    let later = t1.elapsed() / 5;
    assert!(!c.is_connected());
    eprintln!("registry down: first read from cache after {first:?}, later ones {later:?} each");

    let s = TestServer::start_in(dir, move |st| st.http_port = port).await;
    let h = Http::new();
    wait_until(WAIT, "instance registered again by itself", || async {
        http_ports(&h, &s, "DEFAULT_GROUP@@mid").await == [44].into()
    })
    .await;
    // The subscription is back: a new instance is pushed to the stream.
    h.post(
        &s.url("/nacos/v1/ns/instance"),
        &[
            ("namespaceId", "client-it"),
            ("serviceName", "mid"),
            ("ip", "10.4.4.5"),
            ("port", "45"),
        ],
    )
    .await;
    let back = tokio::time::timeout(WAIT, async {
        loop {
            if ports(&views.next().await.unwrap().hosts) == [44, 45].into() {
                break;
            }
        }
    })
    .await;
    assert!(back.is_ok(), "subscription restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_to_another_server_and_redoes_there() {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let cache = tempfile::tempdir().unwrap();
    let servers = format!("{},{}", a.running().http_addr(), b.running().http_addr());
    let mut o = opts(&a, cache.path());
    o.servers = servers.split(',').map(str::to_owned).collect();
    let c = Client::new(o);
    c.naming()
        .register("fo", None, Instance::new("10.5.5.5", 55))
        .await
        .unwrap();
    let h = Http::new();
    let (first, second) = if http_ports(&h, &a, "DEFAULT_GROUP@@fo").await == [55].into() {
        (a, b)
    } else {
        (b, a)
    };
    first.stop().await;
    wait_until(WAIT, "registered on the other server", || async {
        http_ports(&h, &second, "DEFAULT_GROUP@@fo").await == [55].into()
    })
    .await;
    assert_eq!(
        ports(&c.naming().healthy_instances("fo", None).await.unwrap()),
        [55].into()
    );
}
