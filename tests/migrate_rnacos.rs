//! `nocas migrate` with r-nacos 0.8.8 as the source (the peer the
//! benchmarks compare with): namespaces, configs with their type and
//! description, services with threshold and metadata, persistent
//! instances, copied into Nocas; a second run changes nothing.
//!
//! r-nacos is installed by `scripts/test.sh` into
//! `target/rnacos-test/bin/rnacos` (an unoptimized build); the benchmark
//! script's release build in `target/rnacos/bin/rnacos` serves as well.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nocas_testkit::{Http, TestServer, free_port, free_port_pair, wait_until};
use serde_json::{Value, json};

fn rnacos_bin() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let test = root.join("target/rnacos-test/bin/rnacos");
    let bench = root.join("target/rnacos/bin/rnacos");
    if !test.exists() && bench.exists() {
        return bench;
    }
    assert!(
        test.exists(),
        "{} is missing: scripts/test.sh installs r-nacos 0.8.8 there",
        test.display()
    );
    test
}

struct Rnacos {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Rnacos {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts r-nacos on free loopback ports; starts it again when a probe
/// config does not read back (r-nacos 0.8.8 sometimes loses its Raft apply
/// actor at start and then answers writes it never applies).
async fn start_rnacos(h: &Http) -> Rnacos {
    let bin = rnacos_bin();
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port_pair();
        let child = std::process::Command::new(&bin)
            .current_dir(dir.path())
            .env("RNACOS_HTTP_PORT", port.to_string())
            .env("RNACOS_GRPC_PORT", (port + 1000).to_string())
            .env("RNACOS_HTTP_CONSOLE_PORT", free_port().to_string())
            .env("RNACOS_SDK_HOST", "127.0.0.1")
            .env("RNACOS_DATA_DIR", dir.path().join("data"))
            .env(
                "RNACOS_NAMING_PERPETUAL_INSTANCE_PROBE_INTERVAL_SECOND",
                "0",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let r = Rnacos {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let probe = format!("{}/nacos/v1/cs/configs", r.base);
        let up = async {
            loop {
                let w = h
                    .try_call(
                        "POST",
                        &probe,
                        &[],
                        Some(&[
                            ("dataId", "probe"),
                            ("group", "DEFAULT_GROUP"),
                            ("content", "ok"),
                        ]),
                        &[],
                    )
                    .await;
                if w.is_ok_and(|w| w.status == 200) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            for _ in 0..100 {
                if let Ok(g) = h
                    .try_call(
                        "GET",
                        &probe,
                        &[("dataId", "probe"), ("group", "DEFAULT_GROUP")],
                        None,
                        &[],
                    )
                    .await
                    && g.body == "ok"
                {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            false
        };
        if tokio::time::timeout(Duration::from_secs(20), up).await == Ok(true) {
            // The probe is not part of what the test migrates.
            let r2 = h
                .delete(&probe, &[("dataId", "probe"), ("group", "DEFAULT_GROUP")])
                .await;
            assert_eq!(r2.status, 200, "{}", r2.body);
            return r;
        }
    }
    panic!("r-nacos did not start in 5 attempts");
}

async fn nocas(args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_nocas"))
            .args(args)
            .env_remove("NOCAS_SERVER")
            .env_remove("NOCAS_USERNAME")
            .env_remove("NOCAS_PASSWORD")
            .env_remove("NOCAS_TOKEN")
            .output(),
    )
    .await
    .expect("nocas finished")
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_rnacos_into_nocas() {
    let h = Http::new();
    let src = start_rnacos(&h).await;
    let to = TestServer::start().await;
    let post = |path: &str, form: Vec<(&'static str, &'static str)>| {
        let (h, url) = (h.clone(), format!("{}{path}", src.base));
        async move {
            let r = h.post(&url, &form).await;
            assert_eq!(r.status, 200, "{url} {form:?}: {}", r.body);
        }
    };
    post(
        "/nacos/v1/console/namespaces",
        vec![("customNamespaceId", "dev"), ("namespaceName", "Dev")],
    )
    .await;
    post(
        "/nacos/v1/cs/configs",
        vec![
            ("dataId", "app.json"),
            ("group", "G"),
            ("tenant", "dev"),
            ("content", "{\"a\":1}"),
            ("type", "json"),
            ("desc", "the app"),
        ],
    )
    .await;
    post(
        "/nacos/v1/cs/configs",
        vec![
            ("dataId", "order.yaml"),
            ("group", "DEFAULT_GROUP"),
            ("tenant", "dev"),
            ("content", "a: 1"),
            ("type", "yaml"),
        ],
    )
    .await;
    post(
        "/nacos/v1/cs/configs",
        vec![
            ("dataId", "中文.properties"),
            ("group", "DEFAULT_GROUP"),
            ("content", "k=v"),
        ],
    )
    .await;
    post(
        "/nacos/v1/ns/instance",
        vec![
            ("serviceName", "pay"),
            ("groupName", "G"),
            ("namespaceId", "dev"),
            ("ip", "10.0.0.9"),
            ("port", "80"),
            ("ephemeral", "false"),
            ("weight", "3"),
            ("metadata", "{\"k\":\"v\"}"),
        ],
    )
    .await;
    post(
        "/nacos/v1/ns/service",
        vec![
            ("serviceName", "pay"),
            ("groupName", "G"),
            ("namespaceId", "dev"),
            ("protectThreshold", "0.3"),
            ("metadata", "team=pay"),
        ],
    )
    .await;
    // Wait until r-nacos shows what was written (its writes apply
    // asynchronously).
    wait_until(
        Duration::from_secs(10),
        "r-nacos applied the seed",
        || async {
            let r = h
                .get(
                    &format!("{}/nacos/v1/ns/instance/list", src.base),
                    &[
                        ("serviceName", "G@@pay"),
                        ("namespaceId", "dev"),
                        ("healthyOnly", "false"),
                    ],
                )
                .await;
            r.status == 200 && r.json()["hosts"].as_array().is_some_and(|a| a.len() == 1)
        },
    )
    .await;

    let from = src.base.trim_start_matches("http://").to_string();
    let dest = to.base.trim_start_matches("http://").to_string();
    let (code, out, err) = nocas(&["migrate", "--from", &from, "--to", &dest, "-o", "json"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["namespaces"]["created"], 1, "{r}");
    assert_eq!(r["configs"]["created"], 3, "{r}");
    assert_eq!(r["services"]["created"], 1, "{r}");
    assert_eq!(r["instances"]["created"], 1, "{r}");
    assert_eq!(r["failures"], json!([]), "{r}");

    let get = |ns: &'static str, g: &'static str, d: &'static str| {
        let (h, url) = (h.clone(), to.url("/nacos/v3/admin/cs/config"));
        async move {
            h.get(
                &url,
                &[("namespaceId", ns), ("groupName", g), ("dataId", d)],
            )
            .await
            .json()["data"]
                .clone()
        }
    };
    let app = get("dev", "G", "app.json").await;
    assert_eq!(
        (&app["content"], &app["type"], &app["desc"]),
        (&json!("{\"a\":1}"), &json!("json"), &json!("the app")),
        "{app}"
    );
    let order = get("dev", "DEFAULT_GROUP", "order.yaml").await;
    assert_eq!(
        (&order["content"], &order["type"]),
        (&json!("a: 1"), &json!("yaml")),
        "{order}"
    );
    let cn = get("public", "DEFAULT_GROUP", "中文.properties").await;
    assert_eq!(
        (&cn["content"], &cn["type"]),
        (&json!("k=v"), &json!("properties")),
        "{cn}"
    );
    let svc = h
        .get(
            &to.url("/nacos/v3/admin/ns/service"),
            &[
                ("namespaceId", "dev"),
                ("groupName", "G"),
                ("serviceName", "pay"),
            ],
        )
        .await
        .json();
    assert_eq!(svc["data"]["protectThreshold"], 0.3, "{svc}");
    assert_eq!(svc["data"]["metadata"], json!({"team": "pay"}), "{svc}");
    let inst = h
        .get(
            &to.url("/nacos/v3/admin/ns/instance/list"),
            &[
                ("namespaceId", "dev"),
                ("groupName", "G"),
                ("serviceName", "pay"),
            ],
        )
        .await
        .json();
    assert_eq!(inst["data"][0]["ip"], "10.0.0.9", "{inst}");
    assert_eq!(inst["data"][0]["weight"], 3.0);
    assert_eq!(inst["data"][0]["ephemeral"], false);
    assert_eq!(inst["data"][0]["metadata"], json!({"k": "v"}));

    // Idempotent: a second run finds everything in place.
    let (code, out, err) = nocas(&["migrate", "--from", &from, "--to", &dest, "-o", "json"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    for kind in ["namespaces", "configs", "services", "instances"] {
        assert_eq!(
            (&r[kind]["created"], &r[kind]["updated"]),
            (&json!(0), &json!(0)),
            "{kind}: {r}"
        );
    }
    assert_eq!(r["configs"]["unchanged"], 3, "{r}");
}
