//! The Go/Gin example service (`examples/go-gin`, nacos-sdk-go) against a
//! real `nocas` process, checked from outside: registration with version
//! and zone metadata, settings from its config applied without a restart,
//! calls to another service through healthy-instance selection with
//! retries (one downstream killed), deregistration on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nocas_testkit::{Http, ServerProcess, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const WAIT: Duration = Duration::from_secs(20);

struct Service {
    child: Child,
    port: u16,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/go-gin/go-gin");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which builds the Go example",
        bin.display()
    );
    bin
}

/// Starts the example and waits for its `ready <port>` line.
fn start(server: &ServerProcess, work: &Path, env: &[(&str, &str)]) -> Service {
    let mut cmd = Command::new(example());
    cmd.env("NOCAS_ADDR", server.http.to_string())
        .env("PORT", "0")
        .env("WORK_DIR", work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the go-gin example");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(out).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    let line = rx.recv_timeout(WAIT).expect("ready line");
    let port = line
        .strip_prefix("ready ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    Service { child, port }
}

async fn hosts(h: &Http, server: &ServerProcess, svc: &str) -> Vec<serde_json::Value> {
    h.get(
        &format!("{}/nacos/v1/ns/instance/list", server.base()),
        &[("serviceName", svc)],
    )
    .await
    .json()["hosts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn get_json(h: &Http, port: u16, path: &str) -> Option<(u16, serde_json::Value)> {
    let r = h
        .try_call(
            "GET",
            &format!("http://127.0.0.1:{port}{path}"),
            &[],
            None,
            &[],
        )
        .await
        .ok()?;
    Some((r.status, serde_json::from_str(&r.body).ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_gin_service_registers_reloads_calls_and_deregisters() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(Path::new(BIN), &dir.path().join("data"), &[]);
    let h = Http::new();
    let publish = |content: &'static str| {
        let (h, url) = (h.clone(), format!("{}/nacos/v1/cs/configs", server.base()));
        async move {
            let r = h
                .post(
                    &url,
                    &[
                        ("dataId", "orders.yaml"),
                        ("group", "DEFAULT_GROUP"),
                        ("type", "yaml"),
                        ("content", content),
                    ],
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    publish("log.level: info\nfeature.greeting: false\ngreeting: hi\n").await;
    let work = dir.path().join("work");
    let inv_a = start(
        &server,
        &work,
        &[
            ("SERVICE", "inventory"),
            ("VERSION", "v1"),
            ("ZONE", "zone-a"),
        ],
    );
    let inv_b = start(
        &server,
        &work,
        &[
            ("SERVICE", "inventory"),
            ("VERSION", "v2"),
            ("ZONE", "zone-b"),
        ],
    );
    let orders = start(
        &server,
        &work,
        &[
            ("SERVICE", "orders"),
            ("VERSION", "v1"),
            ("ZONE", "zone-a"),
            ("DOWNSTREAM", "inventory"),
        ],
    );
    // Registered with its metadata.
    let o = hosts(&h, &server, "orders").await;
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0]["port"], orders.port);
    assert_eq!(o[0]["metadata"]["version"], "v1");
    assert_eq!(o[0]["metadata"]["zone"], "zone-a");
    // Settings from its config, then changed without a restart.
    let (status, hello) = get_json(&h, orders.port, "/hello").await.expect("hello");
    assert_eq!(status, 200);
    assert_eq!(
        (hello["greeting"].as_str(), hello["logLevel"].as_str()),
        (Some("hello"), Some("info"))
    );
    publish("log.level: debug\nfeature.greeting: true\ngreeting: hi from nocas\n").await;
    wait_until(WAIT, "the new settings applied", || {
        let h = h.clone();
        let port = orders.port;
        async move {
            get_json(&h, port, "/hello")
                .await
                .is_some_and(|(_, v)| v["greeting"] == "hi from nocas" && v["logLevel"] == "debug")
        }
    })
    .await;
    // Calls go through to the downstream service.
    let (status, call) = get_json(&h, orders.port, "/call").await.expect("call");
    assert_eq!(status, 200, "{call}");
    assert_eq!(call["downstream"]["service"], "inventory");
    // A downstream instance dies; calls keep working (retried on the other
    // one until the registry's push removes it).
    let dead = inv_a.port;
    drop(inv_a);
    for _ in 0..20 {
        let (status, call) = get_json(&h, orders.port, "/call").await.expect("call");
        assert_eq!(status, 200, "{call}");
        assert_eq!(
            call["via"],
            format!("127.0.0.1:{}", inv_b.port),
            "only the live instance answers"
        );
    }
    wait_until(WAIT, "the killed instance gone from the registry", || {
        let (h, server) = (h.clone(), &server);
        async move {
            hosts(&h, server, "inventory")
                .await
                .iter()
                .all(|x| x["port"] != dead)
        }
    })
    .await;
    // SIGTERM: deregistered, then the process ends cleanly.
    let mut inv_b = inv_b;
    let sent = Command::new("kill")
        .args(["-TERM", &inv_b.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    wait_until(WAIT, "the stopped instance deregistered", || {
        let (h, server) = (h.clone(), &server);
        async move { hosts(&h, server, "inventory").await.is_empty() }
    })
    .await;
    let status = tokio::task::block_in_place(|| inv_b.child.wait()).expect("wait");
    assert!(status.success(), "{status:?}");
    // With no downstream left, a call fails with a reason, not a hang.
    let (status, call) = get_json(&h, orders.port, "/call").await.expect("call");
    assert_eq!(status, 502, "{call}");
}
