//! The official Rust SDK (`nacos-sdk` crate, Nacos 2.x gRPC) against a real
//! server on loopback: naming with pushes, config with listeners, HTTP and
//! gRPC seeing each other's changes, connection-owned instances, and
//! reconnection with redo after a graceful restart.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use nacos_sdk::api::config::{
    ConfigChangeListener, ConfigResponse, ConfigService, ConfigServiceBuilder,
};
use nacos_sdk::api::naming::{
    NamingChangeEvent, NamingEventListener, NamingService, NamingServiceBuilder, ServiceInstance,
};
use nacos_sdk::api::props::ClientProps;
use nocas_testkit::{Http, TestServer, wait_until};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(15);
const CHILD_ADDR: &str = "NOCAS_SDK_CHILD_ADDR";
const CHILD_NS: &str = "NOCAS_SDK_CHILD_NS";

/// Run by `naming_register_list_subscribe_push_and_connection_ownership` as
/// a separate process: registers one instance and waits to be killed.
#[test]
#[ignore = "child process of the Rust SDK tests"]
fn rust_sdk_child() {
    let (Ok(addr), Ok(ns)) = (std::env::var(CHILD_ADDR), std::env::var(CHILD_NS)) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let cache = tempfile::tempdir().unwrap();
        let props = ClientProps::new()
            .server_addr(addr)
            .namespace(ns)
            .cache_dir(cache.path());
        let n = NamingServiceBuilder::new(props).build().await.unwrap();
        n.register_instance("orders".into(), Some("G".into()), instance(1009))
            .await
            .unwrap();
        println!("CHILD READY");
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

fn props(s: &TestServer, ns: &str, cache: &std::path::Path) -> ClientProps {
    ClientProps::new()
        .server_addr(s.running().http_addr().to_string())
        .namespace(ns)
        .app_name("nocas-interop")
        .cache_dir(cache)
}

async fn naming(s: &TestServer, ns: &str, cache: &std::path::Path) -> NamingService {
    NamingServiceBuilder::new(props(s, ns, cache))
        .build()
        .await
        .expect("naming client")
}

async fn config(s: &TestServer, ns: &str, cache: &std::path::Path) -> ConfigService {
    ConfigServiceBuilder::new(props(s, ns, cache))
        .build()
        .await
        .expect("config client")
}

fn instance(port: i32) -> ServiceInstance {
    ServiceInstance {
        ip: "127.0.0.1".into(),
        port,
        metadata: [("version".to_string(), "v1".to_string())].into(),
        ..Default::default()
    }
}

struct Events(mpsc::UnboundedSender<BTreeSet<i32>>);

impl NamingEventListener for Events {
    fn event(&self, e: Arc<NamingChangeEvent>) {
        let ports = e.instances.iter().flatten().map(|i| i.port).collect();
        let _ = self.0.send(ports);
    }
}

struct Changes(mpsc::UnboundedSender<String>);

impl ConfigChangeListener for Changes {
    fn notify(&self, r: ConfigResponse) {
        let _ = self.0.send(r.content().clone());
    }
}

/// Waits for a pushed view equal to `want`.
async fn expect_view(rx: &mut mpsc::UnboundedReceiver<BTreeSet<i32>>, want: &[i32]) {
    let want: BTreeSet<i32> = want.iter().copied().collect();
    let mut last = None;
    let got = tokio::time::timeout(WAIT, async {
        while let Some(v) = rx.recv().await {
            if v == want {
                return true;
            }
            last = Some(v);
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "no push with {want:?}; last {last:?}");
}

async fn http_ports(h: &Http, s: &TestServer, ns: &str, svc: &str) -> BTreeSet<u64> {
    let v = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("namespaceId", ns), ("serviceName", svc)],
        )
        .await
        .json();
    v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["port"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_register_list_subscribe_push_and_connection_ownership() {
    let s = TestServer::start().await;
    let cache = tempfile::tempdir().unwrap();
    let h = Http::new();
    let ns = "rust-naming";
    let svc = "orders".to_string();
    let group = Some("G".to_string());

    let a = naming(&s, ns, cache.path()).await;
    a.register_instance(svc.clone(), group.clone(), instance(1001))
        .await
        .unwrap();
    let all = a
        .get_all_instances(svc.clone(), group.clone(), vec![], false)
        .await
        .unwrap();
    assert_eq!(all.iter().map(|i| i.port).collect::<Vec<_>>(), vec![1001]);
    assert_eq!(all[0].metadata["version"], "v1");

    let (tx, mut rx) = mpsc::unbounded_channel();
    a.subscribe(svc.clone(), group.clone(), vec![], Arc::new(Events(tx)))
        .await
        .unwrap();

    // Another client (another connection) joins and leaves: pushes.
    let b = naming(&s, ns, cache.path()).await;
    b.register_instance(svc.clone(), group.clone(), instance(1002))
        .await
        .unwrap();
    expect_view(&mut rx, &[1001, 1002]).await;
    b.deregister_instance(svc.clone(), group.clone(), instance(1002))
        .await
        .unwrap();
    expect_view(&mut rx, &[1001]).await;

    // An HTTP registration reaches the gRPC subscriber.
    let r = h
        .post(
            &s.url("/nacos/v1/ns/instance"),
            &[
                ("namespaceId", ns),
                ("serviceName", "orders"),
                ("groupName", "G"),
                ("ip", "127.0.0.1"),
                ("port", "1003"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    expect_view(&mut rx, &[1001, 1003]).await;
    h.delete(
        &s.url("/nacos/v1/ns/instance"),
        &[
            ("namespaceId", ns),
            ("serviceName", "orders"),
            ("groupName", "G"),
            ("ip", "127.0.0.1"),
            ("port", "1003"),
        ],
    )
    .await;
    expect_view(&mut rx, &[1001]).await;
    // A gRPC registration is visible over HTTP.
    assert_eq!(http_ports(&h, &s, ns, "G@@orders").await, [1001].into());

    // Batch registration replaces what the connection has in the service.
    b.batch_register_instance(
        svc.clone(),
        group.clone(),
        vec![instance(1004), instance(1005)],
    )
    .await
    .unwrap();
    expect_view(&mut rx, &[1001, 1004, 1005]).await;
    let (names, count) = a.get_service_list(1, 10, group.clone()).await.unwrap();
    assert_eq!((names, count), (vec!["orders".to_string()], 1));

    // Batch deregistration (an empty batch) leaves nothing of B's.
    drop(b);

    // A client process that dies takes its instances with it, promptly.
    // (The SDK keeps its connection in a process-wide runtime, so only the
    // end of the process closes it.)
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "rust_sdk_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ADDR, s.running().http_addr().to_string())
        .env(CHILD_NS, ns)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("CHILD READY"))
    });
    assert!(
        tokio::time::timeout(WAIT, ready).await.unwrap().unwrap(),
        "child registered"
    );
    expect_view(&mut rx, &[1001, 1004, 1005, 1009]).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = std::time::Instant::now();
    expect_view(&mut rx, &[1001, 1004, 1005]).await;
    eprintln!(
        "instance of a killed client removed after {:?}",
        killed.elapsed()
    );
    a.deregister_instance(svc.clone(), group.clone(), instance(1001))
        .await
        .unwrap();
    wait_until(WAIT, "A gone over HTTP", || async {
        !http_ports(&h, &s, ns, "G@@orders").await.contains(&1001)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_publish_get_listen_remove_and_http_interplay() {
    let s = TestServer::start().await;
    let cache = tempfile::tempdir().unwrap();
    let h = Http::new();
    let ns = "rust-config";
    let c = config(&s, ns, cache.path()).await;
    let (d, g) = ("app.yaml".to_string(), "G".to_string());
    assert!(
        c.publish_config(d.clone(), g.clone(), "v: 1".into(), Some("yaml".into()))
            .await
            .unwrap()
    );
    let got = c.get_config(d.clone(), g.clone()).await.unwrap();
    assert_eq!(
        (got.content().as_str(), got.content_type().as_str()),
        ("v: 1", "yaml")
    );
    assert_eq!(got.md5(), &nocas_core::config::md5_hex("v: 1"));
    // Visible over HTTP.
    let r = h
        .get(
            &s.url("/nacos/v1/cs/configs"),
            &[("tenant", ns), ("dataId", "app.yaml"), ("group", "G")],
        )
        .await;
    assert_eq!(r.body, "v: 1");

    let (tx, mut rx) = mpsc::unbounded_channel();
    c.add_listener(d.clone(), g.clone(), Arc::new(Changes(tx)))
        .await
        .unwrap();
    // A publish over gRPC and one over HTTP both reach the listener.
    assert!(
        c.publish_config(d.clone(), g.clone(), "v: 2".into(), Some("yaml".into()))
            .await
            .unwrap()
    );
    let next = tokio::time::timeout(WAIT, async {
        loop {
            if rx.recv().await.as_deref() == Some("v: 2") {
                break;
            }
        }
    })
    .await;
    assert!(next.is_ok(), "listener saw v: 2");
    let r = h
        .post(
            &s.url("/nacos/v1/cs/configs"),
            &[
                ("tenant", ns),
                ("dataId", "app.yaml"),
                ("group", "G"),
                ("content", "v: 3"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let next = tokio::time::timeout(WAIT, async {
        loop {
            if rx.recv().await.as_deref() == Some("v: 3") {
                break;
            }
        }
    })
    .await;
    assert!(next.is_ok(), "listener saw the HTTP publish");

    // CAS over gRPC.
    let stale = c
        .publish_config_cas(
            d.clone(),
            g.clone(),
            "v: 4".into(),
            None,
            "not-the-md5".into(),
        )
        .await;
    assert!(
        !matches!(stale, Ok(true)),
        "a stale CAS must not succeed: {stale:?}"
    );

    assert!(c.remove_config(d.clone(), g.clone()).await.unwrap());
    // This client keeps serving a listened config from its cache (the SDK
    // ignores a not-found on refresh); a fresh client sees it gone.
    let fresh_cache = tempfile::tempdir().unwrap();
    let fresh = config(&s, ns, fresh_cache.path()).await;
    assert!(
        fresh.get_config(d.clone(), g.clone()).await.is_err(),
        "removed config is not found"
    );
    let r = h
        .get(
            &s.url("/nacos/v1/cs/configs"),
            &[("tenant", ns), ("dataId", "app.yaml"), ("group", "G")],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_resets_clients_and_they_redo() {
    let s = TestServer::start().await;
    let port = s.running().http_addr().port();
    let cache = tempfile::tempdir().unwrap();
    let h = Http::new();
    let ns = "rust-redo";
    let a = naming(&s, ns, cache.path()).await;
    a.register_instance("svc".into(), None, instance(2001))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    a.subscribe("svc".into(), None, vec![], Arc::new(Events(tx)))
        .await
        .unwrap();
    expect_view(&mut rx, &[2001]).await;

    let dir = s.stop().await;
    let s = TestServer::start_in(dir, move |st| st.http_port = port).await;
    // The client reconnects by itself and registers again (redo).
    wait_until(
        Duration::from_secs(30),
        "instance re-registered after restart",
        || async { http_ports(&h, &s, ns, "DEFAULT_GROUP@@svc").await == [2001].into() },
    )
    .await;
    // Its subscription is back too (the SDK redoes it on its own 3 s cycle,
    // ignoring the answer): a new instance is pushed.
    let app = s.running().app().clone();
    wait_until(Duration::from_secs(30), "subscription redone", || async {
        app.hub.subscription_count() == 1
    })
    .await;
    let r = h
        .post(
            &s.url("/nacos/v1/ns/instance"),
            &[
                ("namespaceId", ns),
                ("serviceName", "svc"),
                ("ip", "127.0.0.1"),
                ("port", "2002"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    expect_view(&mut rx, &[2001, 2002]).await;
}
