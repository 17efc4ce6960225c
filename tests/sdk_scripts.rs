//! The official SDKs of other languages, driven by scripts as applications
//! use them, against the real binary: over HTTP v1, `nacos-sdk-python` 2.0.x
//! (`nacos.NacosClient`) and the npm `nacos` 2.x package; over gRPC,
//! `nacos-sdk-python` 3.x (its `v2.nacos` API), nacos-sdk-go v2 (a
//! program in `tests/interop/go/cmd/features`) and the Java nacos-client,
//! newest 2.x and 3.x (`tests/interop/java/features`, built once per
//! client line), and a Spring Cloud Alibaba application
//! (`tests/interop/java/spring`). `scripts/test.sh` installs
//! and builds them; without them these tests fail and say so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nocas_testkit::ServerProcess;

const BIN: &str = env!("CARGO_BIN_EXE_nocas");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of an SDK virtualenv made by `scripts/test.sh`.
fn venv_python(venv: &str) -> PathBuf {
    let python = root().join(format!(".venv/{venv}/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh, which creates the SDK virtualenv",
        python.display()
    );
    python
}

/// A server with a short `cacheMillis`, so polling SDKs refresh quickly.
fn server(dir: &Path) -> ServerProcess {
    let cfg = dir.join("nocas.toml");
    std::fs::write(&cfg, "[naming]\ncache_millis = 1000\n").unwrap();
    let data = dir.join("data");
    ServerProcess::spawn(Path::new(BIN), &data, &["--config", cfg.to_str().unwrap()])
}

/// Runs an SDK script with a deadline; panics with its output unless it passes.
fn run_script(mut cmd: Command, what: &str, server: &ServerProcess) {
    cmd.env("NOCAS_ADDR", server.http.to_string())
        .env("NOCAS_TOTAL_TIMEOUT", "120");
    let started = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run the {what} (run scripts/test.sh to install it): {e}")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("RESULT: PASS"),
        "{what} failed ({:?}, {:?}):\n{stdout}\n{stderr}",
        out.status,
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(150));
}

#[test]
fn python_sdk_v1_naming_config_and_watcher() {
    let python = venv_python("sdk-v1");
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut cmd = Command::new(python);
    cmd.arg(root().join("tests/interop/python/v1_sdk.py"))
        .current_dir(dir.path());
    run_script(cmd, "Python SDK v1 script", &server);
}

#[test]
fn node_sdk_naming_subscribe_config_and_listener() {
    let modules = root().join("tests/interop/node/node_modules");
    assert!(
        modules.join("nacos").exists(),
        "{} is missing: run scripts/test.sh, which installs the npm packages",
        modules.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut cmd = Command::new("node");
    cmd.arg(root().join("tests/interop/node/v1_sdk.js"))
        .env("NODE_PATH", &modules)
        .current_dir(dir.path());
    run_script(cmd, "Node SDK script", &server);
}

/// The Node SDK's subscriber learns of joins and leaves by UDP push, long
/// before its next poll: the server keeps the default 10 s `cacheMillis`
/// and the script allows 2 s per change.
#[test]
fn node_sdk_subscriber_gets_udp_pushes() {
    let modules = root().join("tests/interop/node/node_modules");
    assert!(
        modules.join("nacos").exists(),
        "{} is missing: run scripts/test.sh, which installs the npm packages",
        modules.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(Path::new(BIN), &dir.path().join("data"), &[]);
    let mut cmd = Command::new("node");
    cmd.arg(root().join("tests/interop/node/udp_push.js"))
        .env("NODE_PATH", &modules)
        .current_dir(dir.path());
    run_script(cmd, "Node SDK UDP push script", &server);
}

#[test]
fn python_sdk_v3_grpc_naming_push_config_and_listener() {
    let python = venv_python("sdk-v3");
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut cmd = Command::new(python);
    cmd.arg(root().join("tests/interop/python/v3_grpc.py"))
        .current_dir(dir.path());
    run_script(cmd, "Python SDK v3 (gRPC) script", &server);
}

/// The same gRPC scenario with auth on: the SDK logs in with a user that may
/// read and write only the test's namespace.
#[test]
fn python_sdk_v3_grpc_with_login() {
    let python = venv_python("sdk-v3");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nocas.toml");
    std::fs::write(&cfg, "[naming]\ncache_millis = 1000\n").unwrap();
    let server = ServerProcess::spawn(
        Path::new(BIN),
        &dir.path().join("data"),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--auth",
            "--admin-password",
            "admin-pw-for-py",
        ],
    );
    let base = format!("http://{}", server.http);
    py_user_setup(&nocas_testkit::Http::new(), &base);
    let mut cmd = Command::new(python);
    cmd.arg(root().join("tests/interop/python/v3_grpc.py"))
        .env("NOCAS_USERNAME", "py")
        .env("NOCAS_PASSWORD", "py-pw")
        .env("NOCAS_NAMESPACE", "py-ns")
        .current_dir(dir.path());
    run_script(cmd, "Python SDK v3 (gRPC) script with login", &server);
}

/// Creates user `py` (password `py-pw`) with read and write on namespace
/// `py-ns`, as the administrator `nacos` (password `admin-pw-for-py`).
fn py_user_setup(http: &nocas_testkit::Http, base: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let login = http
            .post(
                &format!("{base}/nacos/v1/auth/login"),
                &[("username", "nacos"), ("password", "admin-pw-for-py")],
            )
            .await;
        assert_eq!(login.status, 200, "{}", login.body);
        let admin = login.json()["accessToken"].as_str().unwrap().to_string();
        for (path, form) in [
            (
                "/nacos/v1/auth/users",
                vec![("username", "py"), ("password", "py-pw")],
            ),
            (
                "/nacos/v1/auth/roles",
                vec![("role", "py-role"), ("username", "py")],
            ),
            (
                "/nacos/v1/auth/permissions",
                vec![
                    ("role", "py-role"),
                    ("resource", "py-ns:*:*"),
                    ("action", "rw"),
                ],
            ),
        ] {
            let mut form = form;
            form.push(("accessToken", admin.as_str()));
            let r = http.post(&format!("{base}{path}"), &form).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
        }
    });
}

/// The same scenario over TLS: HTTPS login and gRPC over TLS, the server's
/// certificate signed by a CA made here (the SDK always presents a client
/// certificate too; the client ports do not ask for one).
#[test]
fn python_sdk_v3_grpc_over_tls_with_login() {
    let python = venv_python("sdk-v3");
    let dir = tempfile::tempdir().unwrap();
    let ca = nocas_testkit::tls::TestCa::new("nocas-test-ca");
    let ca_file = ca.write_ca(dir.path(), "ca.pem");
    let server_files = ca.write_leaf(dir.path(), "server");
    let client_files = ca.write_leaf(dir.path(), "client");
    let cfg = dir.path().join("nocas.toml");
    std::fs::write(&cfg, "[naming]\ncache_millis = 1000\n").unwrap();
    let server = ServerProcess::spawn(
        Path::new(BIN),
        &dir.path().join("data"),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--auth",
            "--admin-password",
            "admin-pw-for-py",
            "--tls-cert",
            server_files.cert.to_str().unwrap(),
            "--tls-key",
            server_files.key.to_str().unwrap(),
        ],
    );
    let https = nocas_testkit::Http::with_ca(ca.pem().as_bytes(), None);
    py_user_setup(&https, &server.https_base());
    let mut cmd = Command::new(python);
    cmd.arg(root().join("tests/interop/python/v3_grpc.py"))
        .env("NOCAS_USERNAME", "py")
        .env("NOCAS_PASSWORD", "py-pw")
        .env("NOCAS_NAMESPACE", "py-ns")
        .env("NOCAS_TLS_CA", &ca_file)
        .env("NOCAS_TLS_CERT", &client_files.cert)
        .env("NOCAS_TLS_KEY", &client_files.key)
        .current_dir(dir.path());
    run_script(
        cmd,
        "Python SDK v3 (gRPC) script over TLS with login",
        &server,
    );
}

/// The `nacos-sdk` crate built with its `tls` feature (its own workspace in
/// `tests/interop/rust-tls`, built by `scripts/test.sh`): HTTPS login, then
/// registration, subscription, config publish, read and push over gRPC
/// with TLS.
#[test]
fn rust_sdk_crate_over_tls_with_login() {
    let bin = root().join("target/rust-tls/debug/nacos-rust-tls");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which builds it",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = nocas_testkit::tls::TestCa::new("nocas-test-ca");
    let ca_file = ca.write_ca(dir.path(), "ca.pem");
    let leaf = ca.write_leaf(dir.path(), "server");
    let server = ServerProcess::spawn(
        Path::new(BIN),
        &dir.path().join("data"),
        &[
            "--auth",
            "--admin-password",
            "admin-pw-for-rust",
            "--tls-cert",
            leaf.cert.to_str().unwrap(),
            "--tls-key",
            leaf.key.to_str().unwrap(),
        ],
    );
    let mut cmd = Command::new(bin);
    cmd.env("NOCAS_USERNAME", "nacos")
        .env("NOCAS_PASSWORD", "admin-pw-for-rust")
        .env("NACOS_CLIENT_TLS_CA_CERT", &ca_file)
        .env("SSL_CERT_FILE", &ca_file)
        .current_dir(dir.path());
    run_script(cmd, "nacos-sdk crate over TLS", &server);
}

/// The Go SDK feature program, built by `scripts/test.sh`.
fn go_features() -> Command {
    let bin = root().join("tests/interop/go/features");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which builds the Go programs",
        bin.display()
    );
    Command::new(bin)
}

#[test]
fn go_sdk_naming_push_config_cas_and_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let mut cmd = go_features();
    cmd.current_dir(dir.path());
    run_script(cmd, "Go SDK feature program", &server);
}

#[test]
fn go_sdk_with_login() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(
        Path::new(BIN),
        &dir.path().join("data"),
        &["--auth", "--admin-password", "admin-pw-for-go"],
    );
    let mut cmd = go_features();
    cmd.env("NOCAS_USERNAME", "nacos")
        .env("NOCAS_PASSWORD", "admin-pw-for-go")
        .current_dir(dir.path());
    run_script(cmd, "Go SDK feature program with login", &server);
}

/// The Java feature program built against nacos-client `line` ("2" or
/// "3"), by `scripts/test.sh`.
/// `java -jar` of a program under `tests/interop/java`, built by
/// scripts/test.sh.
fn java_jar(rel: &str) -> Command {
    let jar = root().join("tests/interop/java").join(rel);
    assert!(
        jar.exists(),
        "{} is missing: run scripts/test.sh, which builds the Java programs",
        jar.display()
    );
    let mut cmd = Command::new("java");
    cmd.arg("-jar").arg(jar);
    cmd
}

/// Runs a Java program against a fresh server, with auth on and a login
/// when `login`.
fn java_run(jar: &str, what: &str, login: bool) {
    let dir = tempfile::tempdir().unwrap();
    let server = if login {
        ServerProcess::spawn(
            Path::new(BIN),
            &dir.path().join("data"),
            &["--auth", "--admin-password", "admin-pw-for-java"],
        )
    } else {
        server(dir.path())
    };
    let mut cmd = java_jar(jar);
    if login {
        cmd.env("NOCAS_USERNAME", "nacos")
            .env("NOCAS_PASSWORD", "admin-pw-for-java");
    }
    cmd.current_dir(dir.path());
    run_script(cmd, &format!("{what} (login: {login})"), &server);
}

fn java_features(line: &str, login: bool) {
    java_run(
        &format!("features/target/features-{line}.jar"),
        &format!("Java nacos-client {line}.x feature program"),
        login,
    );
}

#[test]
fn java_client_2x_naming_config_cas_and_namespaces() {
    java_features("2", false);
}

#[test]
fn java_client_2x_with_login() {
    java_features("2", true);
}

#[test]
fn java_client_3x_naming_config_cas_and_namespaces() {
    java_features("3", false);
}

#[test]
fn java_client_3x_with_login() {
    java_features("3", true);
}

/// The official v3 admin client (nacos-maintainer-client 3.2.1) drives
/// config, namespace, service and instance administration.
#[test]
fn java_maintainer_client_administers_configs_namespaces_services_instances() {
    java_run(
        "maintainer/target/maintainer.jar",
        "Java nacos-maintainer-client program",
        false,
    );
}

#[test]
fn java_maintainer_client_with_login() {
    java_run(
        "maintainer/target/maintainer.jar",
        "Java nacos-maintainer-client program",
        true,
    );
}

/// Kills a child process when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Spring Boot application with Spring Cloud Alibaba's discovery and
/// config starters (`tests/interop/java/spring`, its Java client is 3.x)
/// starts against Nocas, registers itself, and a `@RefreshScope` bean
/// sees a config change published over HTTP, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_cloud_alibaba_app_registers_and_refreshes() {
    use nocas_testkit::{Http, wait_until};
    let jar = root().join("tests/interop/java/spring/target/spring-app.jar");
    assert!(
        jar.exists(),
        "{} is missing: run scripts/test.sh, which builds the Spring app",
        jar.display()
    );
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
                        ("dataId", "spring-app.properties"),
                        ("group", "DEFAULT_GROUP"),
                        ("content", content),
                    ],
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    publish("demo.message=v1").await;
    let port = nocas_testkit::free_port();
    let app = Command::new("java")
        .arg(format!(
            "-DJM.LOG.PATH={}",
            dir.path().join("logs").display()
        ))
        .arg(format!(
            "-DJM.SNAPSHOT.PATH={}",
            dir.path().join("snapshot").display()
        ))
        .arg("-jar")
        .arg(&jar)
        .arg("--spring.cloud.nacos.discovery.graceful-shutdown-wait-time=0")
        .env("NOCAS_ADDR", server.http.to_string())
        .env("PORT", port.to_string())
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("java");
    let _app = Killed(app);
    let wait = Duration::from_secs(90);
    let list = format!("{}/nacos/v1/ns/instance/list", server.base());
    wait_until(wait, "the Spring app registered", || {
        let (h, list) = (h.clone(), list.clone());
        async move {
            h.try_call("GET", &list, &[("serviceName", "spring-app")], None, &[])
                .await
                .is_ok_and(|r| {
                    r.status == 200
                        && r.json()["hosts"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|x| x["port"] == port))
                })
        }
    })
    .await;
    let message = format!("http://127.0.0.1:{port}/message");
    let says = |want: &'static str| {
        let (h, url) = (h.clone(), message.clone());
        async move {
            h.try_call("GET", &url, &[], None, &[])
                .await
                .is_ok_and(|r| r.status == 200 && r.body.trim() == want)
        }
    };
    wait_until(wait, "the app reads v1", || says("v1")).await;
    publish("demo.message=v2").await;
    wait_until(Duration::from_secs(20), "the bean refreshed to v2", || {
        says("v2")
    })
    .await;
}
