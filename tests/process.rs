//! The real `nocas` binary: durability across `kill -9`, clean shutdown on
//! SIGTERM, and how flags, environment and the settings file combine.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nocas_testkit::{Http, ServerProcess, free_port_pair, parse_listening};
use tokio::sync::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_nocas");

#[derive(Debug, Clone)]
enum Acked {
    Config(String, String),
    Instance(u16),
    Namespace(String),
    Service(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(Path::new(BIN), dir.path(), &[]);
    let base = server.base();
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8u32 {
        let (base, acked, stop) = (base.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let h = Http::new();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let id = format!("w{w}-{n}");
                let (path, form, ack): (&str, Vec<(&str, String)>, Acked) = match n % 4 {
                    0 => {
                        let content = format!("content of {id}");
                        (
                            "/nacos/v1/cs/configs",
                            vec![
                                ("dataId", id.clone()),
                                ("group", "KILL".into()),
                                ("content", content.clone()),
                            ],
                            Acked::Config(id.clone(), content),
                        )
                    }
                    1 => {
                        let port = (w * 10_000 + n) as u16;
                        (
                            "/nacos/v1/ns/instance",
                            vec![
                                ("serviceName", "kill-svc".into()),
                                ("ip", "10.0.0.1".into()),
                                ("port", port.to_string()),
                                ("ephemeral", "false".into()),
                            ],
                            Acked::Instance(port),
                        )
                    }
                    2 => (
                        "/nacos/v1/console/namespaces",
                        vec![
                            ("customNamespaceId", id.clone()),
                            ("namespaceName", id.clone()),
                        ],
                        Acked::Namespace(id.clone()),
                    ),
                    _ => (
                        "/nacos/v1/ns/service",
                        vec![
                            ("serviceName", id.clone()),
                            ("protectThreshold", "0.5".into()),
                        ],
                        Acked::Service(id.clone()),
                    ),
                };
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let url = format!("{base}{path}");
                let req = h.try_call("POST", &url, &[], Some(&form), &[]);
                // A killed server fails the request: only 200s count.
                match tokio::time::timeout(Duration::from_secs(5), req).await {
                    Ok(Ok(reply)) if reply.status == 200 => acked.lock().await.push(ack),
                    _ => break,
                }
            }
        }));
    }
    let t0 = Instant::now();
    while acked.lock().await.len() < 400 {
        assert!(t0.elapsed() < Duration::from_secs(60), "writes too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Kill in the middle of the stream.
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().await.clone();

    server.restart();
    let h = Http::new();
    let base = server.base();
    let instances = h
        .get(
            &format!("{base}/nacos/v1/ns/instance/list"),
            &[("serviceName", "kill-svc")],
        )
        .await
        .json();
    let ports: std::collections::HashSet<u64> = instances["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["port"].as_u64().unwrap())
        .collect();
    let namespaces = h
        .get(&format!("{base}/nacos/v1/console/namespaces"), &[])
        .await
        .body;
    let mut counts = [0usize; 4];
    for a in &acked {
        match a {
            Acked::Config(id, content) => {
                counts[0] += 1;
                let r = h
                    .get(
                        &format!("{base}/nacos/v1/cs/configs"),
                        &[("dataId", id), ("group", "KILL")],
                    )
                    .await;
                assert_eq!(
                    (r.status, &r.body),
                    (200, content),
                    "acked config {id} lost"
                );
            }
            Acked::Instance(port) => {
                counts[1] += 1;
                assert!(
                    ports.contains(&(*port as u64)),
                    "acked instance {port} lost"
                );
            }
            Acked::Namespace(id) => {
                counts[2] += 1;
                assert!(
                    namespaces.contains(&format!("\"{id}\"")),
                    "acked namespace {id} lost"
                );
            }
            Acked::Service(id) => {
                counts[3] += 1;
                let r = h
                    .get(
                        &format!("{base}/nacos/v1/ns/service"),
                        &[("serviceName", id)],
                    )
                    .await;
                assert_eq!(r.status, 200, "acked service {id} lost");
            }
        }
    }
    assert!(
        counts.iter().all(|c| *c > 0),
        "every kind was written: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_held_polls_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(Path::new(BIN), dir.path(), &[]);
    let base = server.base();
    let h = Http::new();
    h.post(
        &format!("{base}/nacos/v1/cs/configs"),
        &[("dataId", "d"), ("group", "G"), ("content", "v")],
    )
    .await;
    let md5 = nocas_core::config::md5_hex("v");
    let listening = format!("d\u{2}G\u{2}{md5}\u{1}");
    let poll = {
        let h = h.clone();
        let url = format!("{base}/nacos/v1/cs/configs/listener");
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let st = server.terminate();
        (st, server)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t0.elapsed()
    );
    let r = poll.await.unwrap();
    assert_eq!(r.status, 200);

    // Everything written before the stop is there after a start.
    let server = ServerProcess::spawn(Path::new(BIN), dir.path(), &[]);
    let r = h
        .get(
            &format!("{}/nacos/v1/cs/configs", server.base()),
            &[("dataId", "d"), ("group", "G")],
        )
        .await;
    assert_eq!(r.body, "v");
}

/// Runs the binary with `args` and `env` and returns the listening line.
fn listening_line(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.arg("server")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for k in [
        "NOCAS_HTTP_PORT",
        "NOCAS_GRPC_PORT",
        "NOCAS_DATA_DIR",
        "NOCAS_BIND",
        "NOCAS_CONFIG",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = BufReader::new(stdout).lines().next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    line
}

#[test]
fn flags_beat_environment_beat_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (file_port, env_port, flag_port) = (free_port_pair(), free_port_pair(), free_port_pair());
    let cfg = dir.path().join("nocas.toml");
    std::fs::write(
        &cfg,
        format!(
            "http_port = {file_port}\ngrpc_port = {}\n",
            file_port + 1000
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();

    let line = listening_line(&["--config", cfg, "--data-dir", data], &[]);
    let (http, grpc) = parse_listening(&line).unwrap();
    assert_eq!(
        (http.port(), grpc.port()),
        (file_port, file_port + 1000),
        "{line}"
    );
    assert!(http.ip().is_loopback(), "binds loopback by default: {line}");

    let e = env_port.to_string();
    let line = listening_line(
        &["--data-dir", data],
        &[("NOCAS_CONFIG", cfg), ("NOCAS_HTTP_PORT", &e)],
    );
    let (http, _) = parse_listening(&line).unwrap();
    assert_eq!(http.port(), env_port, "env beats file: {line}");

    let f = flag_port.to_string();
    let line = listening_line(
        &["--http-port", &f],
        &[
            ("NOCAS_CONFIG", cfg),
            ("NOCAS_HTTP_PORT", &e),
            ("NOCAS_DATA_DIR", data),
        ],
    );
    let (http, grpc) = parse_listening(&line).unwrap();
    assert_eq!(http.port(), flag_port, "flag beats env: {line}");
    // The file's explicit gRPC port still applies.
    assert_eq!(grpc.port(), file_port + 1000, "{line}");

    // Without a gRPC port anywhere, it is HTTP + 1000.
    let line = listening_line(&["--http-port", &f, "--data-dir", data], &[]);
    let (_, grpc) = parse_listening(&line).unwrap();
    assert_eq!(grpc.port(), flag_port + 1000);
}

#[test]
fn bad_settings_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "no_such_setting = 1\n").unwrap();
    let out = Command::new(BIN)
        .args(["server", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no_such_setting"), "{err}");
}

/// `NOCAS_AUTH` (any boolean spelling) turns auth on, with the admin
/// password from `NOCAS_ADMIN_PASSWORD`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port_pair().to_string();
    let mut child = Command::new(BIN)
        .args(["server", "--http-port", &port, "--data-dir"])
        .arg(dir.path().join("data"))
        .env("NOCAS_AUTH", "1")
        .env("NOCAS_ADMIN_PASSWORD", "env-admin-pw")
        .env("NOCAS_LOG", "warn")
        .env_remove("NOCAS_HTTP_PORT")
        .env_remove("NOCAS_GRPC_PORT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().next().and_then(Result::ok)
    })
    .await
    .unwrap()
    .unwrap_or_default();
    let (http, _) = parse_listening(&line).unwrap_or_else(|| panic!("no listening line: {line}"));
    let base = format!("http://{http}");
    let h = Http::new();
    let anon = h
        .get(&format!("{base}/nacos/v1/ns/service/list"), &[])
        .await;
    let login = h
        .post(
            &format!("{base}/nacos/v1/auth/login"),
            &[("username", "nacos"), ("password", "env-admin-pw")],
        )
        .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(anon.status, 403);
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.json()["globalAdmin"], true);
}
