//! The `order-service` and `gateway` examples as real processes against a
//! Nocas server: registration with routes, a live log-level change, the
//! gray split through the gateway, the gateway serving while the registry
//! is down, automatic re-registration when it returns, and deregistration
//! on SIGTERM.
//!
//! The example programs are found in the target directory beside the test
//! binary: plain `cargo test` builds them, and `scripts/test.sh` builds them
//! before running `cargo test --all-targets` (which builds examples as test
//! harnesses instead).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use nocas_axum::GrayRule;
use nocas_testkit::{Http, TestServer, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);
const NS: &str = "examples-it";

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not built: build the examples first with `cargo build -p nocas-axum --examples` \
         (scripts/test.sh does; plain `cargo test` does too, `--all-targets` does not)",
        path.display()
    );
    path
}

/// A running example; killed on drop.
struct Proc {
    child: Child,
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(name: &str, args: &[&str]) -> Self {
        let mut child = Command::new(example(name))
            .args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let l = lines.clone();
        let marker = format!("{name} listening on ");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix(&marker) {
                    let _ = tx.send(a.trim().to_string());
                }
                l.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("{name} did not start"))
            .parse()
            .unwrap();
        Self { child, addr, lines }
    }

    fn saw(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on a child we own with a valid signal.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn instances(h: &Http, s: &TestServer) -> Vec<Value> {
    match h
        .try_call(
            "GET",
            &s.url("/nacos/v1/ns/instance/list"),
            &[("namespaceId", NS), ("serviceName", "order-service")],
            None,
            &[],
        )
        .await
    {
        Ok(r) if r.status == 200 => r.json()["hosts"].as_array().cloned().unwrap_or_default(),
        _ => Vec::new(),
    }
}

async fn publish(h: &Http, s: &TestServer, data_id: &str, content: &str) {
    let r = h
        .post(
            &s.url("/nacos/v1/cs/configs"),
            &[
                ("tenant", NS),
                ("dataId", data_id),
                ("group", "DEFAULT_GROUP"),
                ("content", content),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Sends `ids` through the gateway; returns (answered, version per id).
async fn through_gateway(
    gw: &Proc,
    ids: impl Iterator<Item = String>,
) -> Vec<(String, u16, String, String)> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for id in ids {
        match http
            .get(gw.url("/orders"))
            .header("x-request-id", &id)
            .send()
            .await
        {
            Ok(r) => {
                let status = r.status().as_u16();
                let v = r
                    .headers()
                    .get("x-upstream-version")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let body = r.text().await.unwrap_or_default();
                out.push((id, status, v, body));
            }
            Err(e) => out.push((id, 0, String::new(), e.to_string())),
        }
    }
    out
}

fn gateway(server: &str, cache: &str) -> Proc {
    Proc::spawn(
        "gateway",
        &[
            "--servers",
            server,
            "--env",
            NS,
            "--port",
            "0",
            "--cache-dir",
            cache,
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_service_and_gateway() {
    let s = TestServer::start().await;
    let port = s.running().http_addr().port();
    let server = s.running().http_addr().to_string();
    let h = Http::new();
    let caches = tempfile::tempdir().unwrap();
    let cache = |n: &str| caches.path().join(n).to_string_lossy().into_owned();
    publish(
        &h,
        &s,
        "gateway.yaml",
        "gray:\n  version: v2\n  percent: 25\n",
    )
    .await;

    let common = |version: &'static str, c: String| {
        vec![
            "--servers".to_string(),
            server.clone(),
            "--env".into(),
            NS.into(),
            "--port".into(),
            "0".into(),
            "--version".into(),
            version.into(),
            "--cache-dir".into(),
            c,
        ]
    };
    let a1 = common("v1", cache("v1"));
    let v1 = Proc::spawn(
        "order-service",
        &a1.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let a2 = common("v2", cache("v2"));
    let mut v2 = Proc::spawn(
        "order-service",
        &a2.iter().map(String::as_str).collect::<Vec<_>>(),
    );

    wait_until(WAIT, "both versions registered", || async {
        instances(&h, &s).await.len() == 2
    })
    .await;
    let listed = instances(&h, &s).await;
    let mut versions: Vec<&str> = listed
        .iter()
        .map(|i| i["metadata"]["version"].as_str().unwrap())
        .collect();
    versions.sort();
    assert_eq!(versions, ["v1", "v2"]);
    for i in &listed {
        assert_eq!(i["metadata"]["env"], NS);
        assert_eq!(
            i["metadata"]["routes"],
            "GET /orders,GET /orders/{id},POST /orders,GET /health"
        );
    }

    // Log level: debug lines appear once the config says so.
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(v1.url("/orders")).send().await.unwrap().status(),
        200
    );
    assert!(!v1.saw("listing orders"), "debug is off at start");
    let t0 = Instant::now();
    publish(&h, &s, "order-service.yaml", "log:\n  level: debug\n").await;
    wait_until(WAIT, "log level changed", || async {
        v1.saw("log level changed")
    })
    .await;
    let applied = t0.elapsed();
    wait_until(WAIT, "debug line logged", || async {
        let _ = http.get(v1.url("/orders")).send().await;
        v1.saw("listing orders")
    })
    .await;
    eprintln!("log level applied {applied:?} after the publish");

    // The gateway splits by the gray rule, exactly as the rule says per id.
    let gw = gateway(&server, &cache("gw"));
    let rule = GrayRule::new("v2", 25.0);
    wait_until(WAIT, "gateway routes to both", || async {
        let r = through_gateway(&gw, (0..40).map(|i| format!("warm-{i}"))).await;
        r.iter().all(|x| x.1 == 200)
            && r.iter().any(|x| x.2 == "v2")
            && r.iter().any(|x| x.2 == "v1")
    })
    .await;
    let answers = through_gateway(&gw, (0..1000).map(|i| format!("id-{i}"))).await;
    let mut to_v2 = 0;
    for (id, status, v, body) in &answers {
        assert_eq!(*status, 200, "{id}: {body}");
        let expected = if rule.is_gray(id) { "v2" } else { "v1" };
        assert_eq!(v, expected, "{id}");
        assert!(body.contains(expected), "{body}");
        to_v2 += usize::from(v == "v2");
    }
    eprintln!("gateway: {to_v2} of 1000 requests to v2 (rule 25%)");

    // Registry down: the gateway keeps serving from what it knows.
    let dir = s.stop().await;
    let down = through_gateway(&gw, (0..200).map(|i| format!("down-{i}"))).await;
    let failed: Vec<_> = down.iter().filter(|x| x.1 != 200).collect();
    assert!(
        failed.is_empty(),
        "failed with the registry down: {failed:?}"
    );
    // A gateway started while the registry is down serves from its disk
    // cache, with the gray rule from the cached config.
    drop(gw);
    let t0 = Instant::now();
    let gw = gateway(&server, &cache("gw"));
    let cold = through_gateway(&gw, (0..200).map(|i| format!("id-{i}"))).await;
    eprintln!(
        "gateway restarted with the registry down: serving after {:?}",
        t0.elapsed()
    );
    for (id, status, v, body) in &cold {
        assert_eq!(*status, 200, "{id}: {body}");
        assert_eq!(v, if rule.is_gray(id) { "v2" } else { "v1" }, "{id}");
    }

    // Back: both services register again by themselves.
    let s = TestServer::start_in(dir, move |st| st.http_port = port).await;
    wait_until(
        WAIT,
        "re-registered after the registry returned",
        || async { instances(&h, &s).await.len() == 2 },
    )
    .await;

    // SIGTERM: v2 deregisters before it exits; the gateway moves to v1.
    let status = v2.terminate();
    assert!(status.success(), "{status:?}");
    assert!(v2.saw("deregistered"));
    assert!(v2.saw("order-service stopped"));
    wait_until(WAIT, "v2 gone from the registry", || async {
        let l = instances(&h, &s).await;
        l.len() == 1 && l[0]["metadata"]["version"] == "v1"
    })
    .await;
    wait_until(WAIT, "gateway routes everything to v1", || async {
        let r = through_gateway(&gw, (0..50).map(|i| format!("after-{i}"))).await;
        r.iter().all(|x| x.1 == 200 && x.2 == "v1")
    })
    .await;
}
