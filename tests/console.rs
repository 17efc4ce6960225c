//! The web console: how it is served (where, with which headers, moved to
//! a port of its own or turned off), and the whole operator workflow in a
//! real browser — headless Chromium from Debian driven by Playwright for
//! Python, beside the official Python SDK (`tests/interop/console`).
//! `scripts/test.sh` installs both; without them the browser test fails
//! and says so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nocas_testkit::{ServerProcess, TestServer};

const BIN: &str = env!("CARGO_BIN_EXE_nocas");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_console_is_served_at_nacos_with_its_security_headers() {
    let server = TestServer::start().await;
    let http = plain_client();
    let root = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(root.status(), 307);
    assert_eq!(root.headers()["location"], "/nacos/");
    for path in ["/nacos/", "/nacos", "/nacos/index.html"] {
        let page = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        let h = page.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let body = page.text().await.unwrap();
        assert!(body.contains("/nacos/console/app.js"));
    }
    let js = http
        .get(server.url("/nacos/console/app.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-encoding"], "gzip");
    let gz = js.bytes().await.unwrap().len();
    assert!(gz < 300 * 1024, "app.js is {gz} bytes compressed");
    // The console's own API answers like the rest (auth off: an
    // administrator everywhere).
    let json = |path: &str| {
        let req = http.get(server.url(path));
        async move {
            req.send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let session = json("/nacos/v3/console/session").await;
    assert_eq!(session["data"]["admin"], true, "{session}");
    let state = json("/nacos/v1/console/server/state").await;
    assert_eq!(state["console_ui_enabled"], "true");
    server.stop().await;
}

#[tokio::test]
async fn the_console_can_move_to_its_own_port_or_be_turned_off() {
    let http = plain_client();
    let off = TestServer::start_with(|s| s.console.enabled = false).await;
    let r = http.get(off.url("/nacos/")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let api = http
        .get(off.url("/nacos/v3/admin/core/namespace/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200, "the API stays on");
    off.stop().await;

    let port = nocas_testkit::free_port();
    let moved = TestServer::start_with(move |s| s.console.port = Some(port)).await;
    let console = moved.running().console_addr().expect("console address");
    assert_eq!(console.port(), port);
    let r = http.get(moved.url("/nacos/")).send().await.unwrap();
    assert_eq!(r.status(), 404, "not on the HTTP port any more");
    let page = http
        .get(format!("http://{console}/nacos/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // Its pages call the API on their own origin.
    let summary = http
        .get(format!("http://{console}/nacos/v3/console/summary"))
        .send()
        .await
        .unwrap();
    assert_eq!(summary.status(), 200);
    moved.stop().await;
}

#[tokio::test]
async fn console_endpoints_check_content_and_diff_versions() {
    let server = TestServer::start().await;
    let http = nocas_testkit::Http::new();
    let bad = http
        .post(
            &server.url("/nacos/v3/console/cs/config/check"),
            &[("type", "yaml"), ("content", "a: 1\nb: [1, 2\n")],
        )
        .await;
    assert_eq!(bad.status, 200, "{}", bad.body);
    assert_eq!(bad.json()["data"]["valid"], false);
    assert!(bad.json()["data"]["problem"]["line"].as_u64().unwrap() >= 2);
    let good = http
        .post(
            &server.url("/nacos/v3/console/cs/config/check"),
            &[("type", "json"), ("content", "{\"a\": 1}")],
        )
        .await;
    assert_eq!(good.json()["data"]["valid"], true);
    let diff = http
        .post(
            &server.url("/nacos/v3/console/diff"),
            &[("left", "a\nb\n"), ("right", "a\nc\n")],
        )
        .await;
    let rows = diff.json()["data"].clone();
    assert_eq!(rows[0]["kind"], "same");
    assert_eq!(rows[1]["kind"], "changed");
    assert_eq!(rows[1]["left"]["text"], "b");
    assert_eq!(rows[1]["right"]["text"], "c");
    let missing = http
        .post(&server.url("/nacos/v3/console/cs/config/check"), &[])
        .await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    server.stop().await;
}

/// The Python of the SDK virtualenv `scripts/test.sh` makes (it also holds
/// Playwright).
fn venv_python() -> PathBuf {
    let python = root().join(".venv/sdk-v3/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh, which creates it with Playwright",
        python.display()
    );
    python
}

/// Login, configs (create, invalid content, edit, history, diff, roll back,
/// beta, listeners), services live with an SDK, taking an instance offline
/// and the SDK's push, namespaces, read-only users, stored markup rendered
/// as text, 375 px, Chinese, and no error logged by any page. With
/// `NOCAS_CONSOLE_SHOTS=dir` it also saves a screenshot of every page
/// (how `docs/console/` is made).
#[test]
fn console_in_a_real_browser() {
    let python = venv_python();
    let chromium = std::env::var("NOCAS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/test.sh, which installs Debian's chromium"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::spawn(
        Path::new(BIN),
        &dir.path().join("data"),
        &["--auth", "--admin-password", "console-admin-pw"],
    );
    let mut cmd = Command::new(python);
    cmd.arg(root().join("tests/interop/console/console_test.py"))
        .env("NOCAS_ADDR", server.http.to_string())
        .env("NOCAS_ADMIN_PASSWORD", "console-admin-pw")
        .env("NOCAS_CHROMIUM", &chromium)
        .env("NOCAS_TOTAL_TIMEOUT", "240")
        .current_dir(dir.path());
    if let Ok(shots) = std::env::var("NOCAS_CONSOLE_SHOTS") {
        cmd.env("NOCAS_SHOTS", shots);
    }
    let started = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the console test (run scripts/test.sh): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("RESULT: PASS"),
        "console browser test failed ({:?}, {:?}):\n{stdout}\n{stderr}",
        out.status,
        started.elapsed()
    );
    println!("{stdout}");
}
