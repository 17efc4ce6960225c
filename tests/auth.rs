//! Auth end to end: login with the official `nacos-sdk` crate, per-namespace
//! permissions over HTTP v1, v2 and gRPC, refused tokens (forged, expired,
//! `alg=none`, foreign key), no bypass by user agent or path spelling,
//! lockout, durable users, and the start-up rules (short secret, auth off
//! only on loopback).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use nacos_sdk::api::config::ConfigServiceBuilder;
use nacos_sdk::api::naming::{NamingServiceBuilder, ServiceInstance};
use nacos_sdk::api::props::ClientProps;
use nocas_testkit::grpc::RawGrpc;
use nocas_testkit::{Http, TestServer, wait_until};
use serde_json::{Value, json};

const ADMIN_PW: &str = "admin-secret-pw";
const WAIT: Duration = Duration::from_secs(15);

async fn server() -> TestServer {
    TestServer::start_with(|s| {
        s.auth.enabled = true;
        s.auth.admin_password = Some(ADMIN_PW.into());
    })
    .await
}

async fn login(s: &TestServer, user: &str, pw: &str) -> Option<String> {
    let r = Http::new()
        .post(
            &s.url("/nacos/v1/auth/login"),
            &[("username", user), ("password", pw)],
        )
        .await;
    (r.status == 200).then(|| r.json()["accessToken"].as_str().unwrap_or("").to_string())
}

/// Creates `user` with `action` on namespace `ns` (role `<user>-role`).
async fn user_with(s: &TestServer, admin: &str, user: &str, ns: &str, action: &str) {
    let http = Http::new();
    let role = format!("{user}-role");
    for (path, form) in [
        (
            "/nacos/v1/auth/users",
            vec![("username", user), ("password", "pw-of-user")],
        ),
        (
            "/nacos/v1/auth/roles",
            vec![("role", role.as_str()), ("username", user)],
        ),
    ] {
        let mut form = form;
        form.push(("accessToken", admin));
        let r = http.post(&s.url(path), &form).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let resource = format!("{ns}:*:*");
    let r = http
        .post(
            &s.url("/nacos/v1/auth/permissions"),
            &[
                ("role", role.as_str()),
                ("resource", resource.as_str()),
                ("action", action),
                ("accessToken", admin),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

fn token_payload(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An HS256 token signed with `key`.
fn signed(key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

async fn grpc_call(s: &TestServer, type_name: &str, body: Value, token: Option<&str>) -> Value {
    let mut c = RawGrpc::connect(s.running().grpc_addr()).await;
    c.open_stream(true, true).await;
    let mut headers = HashMap::new();
    if let Some(t) = token {
        headers.insert("accessToken".to_string(), t.to_string());
    }
    let p = nocas_proto::grpc::payload(type_name, &body, headers);
    c.call_raw(p).await.1
}

#[tokio::test]
async fn sdk_login_then_register_subscribe_publish_listen() {
    let s = server().await;
    let admin = login(&s, "nacos", ADMIN_PW).await.expect("admin login");
    user_with(&s, &admin, "alice", "team-a", "rw").await;
    let cache = tempfile::tempdir().unwrap();
    let props = |user: &str, pw: &str| {
        ClientProps::new()
            .server_addr(s.running().http_addr().to_string())
            .namespace("team-a")
            .cache_dir(cache.path())
            .auth_username(user)
            .auth_password(pw)
    };
    let naming = NamingServiceBuilder::new(props("alice", "pw-of-user"))
        .enable_auth_plugin_http()
        .build()
        .await
        .expect("naming client");
    naming
        .register_instance(
            "orders".into(),
            Some("G".into()),
            ServiceInstance {
                ip: "127.0.0.1".into(),
                port: 7001,
                ..Default::default()
            },
        )
        .await
        .expect("register with a token");
    let seen = naming
        .select_instances("orders".into(), Some("G".into()), vec![], true, true)
        .await
        .expect("subscribe and list with a token");
    assert_eq!(seen.len(), 1);
    let config = ConfigServiceBuilder::new(props("alice", "pw-of-user"))
        .enable_auth_plugin_http()
        .build()
        .await
        .expect("config client");
    assert!(
        config
            .publish_config("app.yaml".into(), "G".into(), "k: 1".into(), None)
            .await
            .expect("publish with a token")
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    struct L(tokio::sync::mpsc::UnboundedSender<String>);
    impl nacos_sdk::api::config::ConfigChangeListener for L {
        fn notify(&self, r: nacos_sdk::api::config::ConfigResponse) {
            let _ = self.0.send(r.content().to_string());
        }
    }
    config
        .add_listener("app.yaml".into(), "G".into(), std::sync::Arc::new(L(tx)))
        .await
        .expect("listen with a token");
    config
        .publish_config("app.yaml".into(), "G".into(), "k: 2".into(), None)
        .await
        .expect("second publish");
    let got = tokio::time::timeout(WAIT, async {
        while let Some(c) = rx.recv().await {
            if c == "k: 2" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "listener saw the change");
    // Without credentials the same SDK is refused.
    let anon = NamingServiceBuilder::new(
        ClientProps::new()
            .server_addr(s.running().http_addr().to_string())
            .namespace("team-a")
            .cache_dir(cache.path()),
    )
    .build()
    .await
    .expect("anonymous client");
    let refused = anon
        .register_instance(
            "orders".into(),
            Some("G".into()),
            ServiceInstance {
                ip: "127.0.0.1".into(),
                port: 7002,
                ..Default::default()
            },
        )
        .await;
    assert!(refused.is_err(), "anonymous register must fail");
    // Wrong password: login fails, so does the call.
    assert!(login(&s, "alice", "wrong").await.is_none());
}

#[tokio::test]
async fn read_on_one_namespace_gives_nothing_else() {
    let s = server().await;
    let http = Http::new();
    let admin = login(&s, "nacos", ADMIN_PW).await.expect("admin login");
    for ns in ["team-a", "team-b"] {
        let r = http
            .post(
                &s.url("/nacos/v1/cs/configs"),
                &[
                    ("tenant", ns),
                    ("dataId", "d"),
                    ("group", "G"),
                    ("content", ns),
                    ("accessToken", admin.as_str()),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    user_with(&s, &admin, "reader", "team-a", "r").await;
    let t = login(&s, "reader", "pw-of-user")
        .await
        .expect("reader login");
    let t = t.as_str();
    // HTTP v1.
    let get = |ns: &'static str, tok: &str| {
        let http = http.clone();
        let url = s.url("/nacos/v1/cs/configs");
        let tok = tok.to_string();
        async move {
            http.get(
                &url,
                &[
                    ("tenant", ns),
                    ("dataId", "d"),
                    ("group", "G"),
                    ("accessToken", &tok),
                ],
            )
            .await
        }
    };
    let r = get("team-a", t).await;
    assert_eq!((r.status, r.body.as_str()), (200, "team-a"));
    assert_eq!(get("team-b", t).await.status, 403);
    let w = http
        .post(
            &s.url("/nacos/v1/cs/configs"),
            &[
                ("tenant", "team-a"),
                ("dataId", "d"),
                ("group", "G"),
                ("content", "x"),
                ("accessToken", t),
            ],
        )
        .await;
    assert_eq!(w.status, 403, "read-only user cannot write");
    let wb = http
        .post(
            &s.url("/nacos/v1/cs/configs"),
            &[
                ("tenant", "team-b"),
                ("dataId", "d"),
                ("group", "G"),
                ("content", "x"),
                ("accessToken", t),
            ],
        )
        .await;
    assert_eq!(wb.status, 403, "nor write another namespace");
    // HTTP v2, token in the Authorization header.
    let v2 = |ns: &'static str| {
        let http = http.clone();
        let url = s.url("/nacos/v2/cs/config");
        let bearer = format!("Bearer {t}");
        async move {
            http.call(
                "GET",
                &url,
                &[("namespaceId", ns), ("dataId", "d"), ("group", "G")],
                None,
                &[("Authorization", bearer.as_str())],
            )
            .await
        }
    };
    assert_eq!(v2("team-a").await.status, 200);
    let denied = v2("team-b").await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["code"], 403);
    // Naming over v1 in B, and writes in A.
    let reg = http
        .post(
            &s.url("/nacos/v1/ns/instance"),
            &[
                ("namespaceId", "team-a"),
                ("serviceName", "svc"),
                ("ip", "10.0.0.1"),
                ("port", "80"),
                ("accessToken", t),
            ],
        )
        .await;
    assert_eq!(reg.status, 403);
    // gRPC: reads in A pass, reads in B (query, subscribe, listen) and
    // writes in A are refused with errorCode 403.
    let q = |ns: &str| json!({"dataId": "d", "group": "G", "tenant": ns, "headers": {}});
    let ok = grpc_call(&s, "ConfigQueryRequest", q("team-a"), Some(t)).await;
    assert_eq!(ok["content"], "team-a", "{ok}");
    for (ty, body) in [
        ("ConfigQueryRequest", q("team-b")),
        (
            "ConfigBatchListenRequest",
            json!({"listen": true, "configListenContexts": [
                {"dataId": "d", "group": "G", "tenant": "team-a", "md5": ""},
                {"dataId": "d", "group": "G", "tenant": "team-b", "md5": ""}], "headers": {}}),
        ),
        (
            "SubscribeServiceRequest",
            json!({"namespace": "team-b", "serviceName": "svc", "groupName": "G",
                   "subscribe": true, "clusters": "", "headers": {}}),
        ),
        (
            "ServiceQueryRequest",
            json!({"namespace": "team-b", "serviceName": "svc", "groupName": "G",
                   "cluster": "", "healthyOnly": false, "headers": {}}),
        ),
        (
            "ConfigPublishRequest",
            json!({"dataId": "d", "group": "G", "tenant": "team-a", "content": "x", "headers": {}}),
        ),
        (
            "InstanceRequest",
            json!({"namespace": "team-a", "serviceName": "svc", "groupName": "G",
                   "type": "registerInstance", "instance": {"ip": "10.0.0.1", "port": 80,
                   "weight": 1.0, "enabled": true, "healthy": true, "ephemeral": true,
                   "clusterName": "DEFAULT", "metadata": {}}, "headers": {}}),
        ),
    ] {
        let r = grpc_call(&s, ty, body, Some(t)).await;
        assert_eq!(r["errorCode"], 403, "{ty}: {r}");
        assert_ne!(r["resultCode"], 200, "{ty}: {r}");
    }
    // The token in the body's headers counts too (some SDKs put it there).
    let in_body = json!({"dataId": "d", "group": "G", "tenant": "team-a",
                         "headers": {"accessToken": t}});
    let r = grpc_call(&s, "ConfigQueryRequest", in_body, None).await;
    assert_eq!(r["content"], "team-a", "{r}");
    // Admin-only endpoints.
    let users = http
        .get(&s.url("/nacos/v1/auth/users"), &[("accessToken", t)])
        .await;
    assert_eq!(users.status, 403);
    let users = http
        .get(
            &s.url("/nacos/v1/auth/users"),
            &[("accessToken", admin.as_str())],
        )
        .await;
    assert_eq!(users.status, 200);
    assert!(
        !users.body.contains("argon2"),
        "hashes never leave: {}",
        users.body
    );
    // A user may change its own password, not another's.
    let own = http
        .put(
            &s.url("/nacos/v1/auth/users"),
            &[
                ("username", "reader"),
                ("newPassword", "new-pw"),
                ("accessToken", t),
            ],
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    let other = http
        .put(
            &s.url("/nacos/v1/auth/users"),
            &[
                ("username", "nacos"),
                ("newPassword", "x"),
                ("accessToken", t),
            ],
        )
        .await;
    assert_eq!(other.status, 403);
    assert!(login(&s, "reader", "new-pw").await.is_some());
}

#[tokio::test]
async fn forged_expired_none_and_foreign_tokens_are_refused() {
    let s = server().await;
    let http = Http::new();
    let admin = login(&s, "nacos", ADMIN_PW).await.expect("admin login");
    let secret_text = std::fs::read_to_string(s.dir.path().join("token-secret")).unwrap();
    let secret = STANDARD.decode(secret_text.trim()).unwrap();
    // The admin's credential generation, read from its real token.
    let real: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(admin.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let generation = real["gen"].clone();
    assert!(generation.is_u64(), "tokens carry a generation: {real}");
    let claims = |exp: u64| json!({"sub": "nacos", "exp": exp, "gen": generation});
    // Sanity: our own key signs a token the server takes.
    let good = signed(&secret, &claims(now_s() + 600));
    let expired = signed(&secret, &claims(now_s() - 10));
    let foreign = signed(&[9u8; 32], &claims(now_s() + 600));
    let none = format!(
        "{}.",
        token_payload(
            &json!({"alg": "none", "typ": "JWT"}),
            &claims(now_s() + 600)
        )
    );
    // The admin's real token with the user swapped in the claims.
    let mut parts: Vec<&str> = admin.split('.').collect();
    let swapped = URL_SAFE_NO_PAD
        .encode(json!({"sub": "root", "exp": now_s() + 600, "gen": generation}).to_string());
    parts[1] = &swapped;
    let forged = parts.join(".");
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims(now_s() + 600),
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap();
    let list = |tok: String| {
        let http = http.clone();
        let url = s.url("/nacos/v1/ns/service/list");
        async move {
            http.get(
                &url,
                &[("pageNo", "1"), ("pageSize", "10"), ("accessToken", &tok)],
            )
            .await
            .status
        }
    };
    assert_eq!(list(good.clone()).await, 200);
    for (what, tok) in [
        ("expired", expired.clone()),
        ("foreign key", foreign.clone()),
        ("alg=none", none.clone()),
        ("forged claims", forged.clone()),
        ("HS512", hs512.clone()),
        ("garbage", "abc.def.ghi".to_string()),
    ] {
        assert_eq!(list(tok.clone()).await, 403, "HTTP accepted a {what} token");
        let r = grpc_call(
            &s,
            "ServiceListRequest",
            json!({"namespace": "public", "groupName": "DEFAULT_GROUP", "pageNo": 1, "pageSize": 10, "headers": {}}),
            Some(&tok),
        )
        .await;
        assert_eq!(r["errorCode"], 403, "gRPC accepted a {what} token: {r}");
    }
    let r = http
        .call(
            "GET",
            &s.url("/nacos/v1/ns/service/list"),
            &[],
            None,
            &[
                ("User-Agent", "Nacos-Server"),
                ("serverIdentity", "security"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "a server user agent is no pass");
    let r = http
        .call(
            "GET",
            &s.url("/nacos/v1/ns/service/list"),
            &[],
            None,
            &[("X-Forwarded-For", "127.0.0.1"), ("X-Real-IP", "127.0.0.1")],
        )
        .await;
    assert_eq!(r.status, 403, "a source address is no pass");
}

#[tokio::test]
async fn path_spellings_reach_the_same_decision() {
    let s = server().await;
    let http = Http::new();
    let admin = login(&s, "nacos", ADMIN_PW).await.expect("admin login");
    let r = http
        .post(
            &s.url("/nacos/v1/cs/configs"),
            &[
                ("dataId", "secret"),
                ("group", "G"),
                ("content", "s3cr3t"),
                ("accessToken", admin.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let q = [("dataId", "secret"), ("group", "G")];
    for path in [
        "/nacos/v1/cs/configs",
        "//nacos/v1/cs/configs",
        "/nacos//v1/cs/configs",
        "/nacos/v1/cs/configs/",
        "/nacos/v1/cs/./configs",
        "/nacos/v1/auth/login/%2e%2e/%2e%2e/cs/configs",
        "/nacos/v1/auth/%2E%2E/cs/configs",
        "/nacos/V1/CS/Configs",
        "/NACOS/v1/cs/configs",
    ] {
        let url = format!("{}{path}", s.base);
        let anon = http.get(&url, &q).await;
        assert_eq!(anon.status, 403, "{path} without a token: {}", anon.body);
        assert!(!anon.body.contains("s3cr3t"));
        let mut with = q.to_vec();
        with.push(("accessToken", admin.as_str()));
        let ok = http.get(&url, &with).await;
        assert_eq!(
            (ok.status, ok.body.as_str()),
            (200, "s3cr3t"),
            "{path} with a token"
        );
    }
}

#[tokio::test]
async fn repeated_bad_logins_lock_the_user_for_that_address() {
    let s = TestServer::start_with(|s| {
        s.auth.enabled = true;
        s.auth.admin_password = Some(ADMIN_PW.into());
        s.auth.lockout_ms = 1_500;
    })
    .await;
    for _ in 0..5 {
        assert!(login(&s, "nacos", "bad").await.is_none());
    }
    let http = Http::new();
    let r = http
        .post(
            &s.url("/nacos/v1/auth/login"),
            &[("username", "nacos"), ("password", ADMIN_PW)],
        )
        .await;
    assert_eq!(r.status, 403, "locked even with the right password");
    assert!(r.body.contains("try again later"), "{}", r.body);
    // A forged forwarding header does not move the caller to another address.
    let spoofed = http
        .call(
            "POST",
            &s.url("/nacos/v1/auth/login"),
            &[],
            Some(&[("username", "nacos"), ("password", ADMIN_PW)][..]),
            &[("X-Forwarded-For", "10.1.2.3")],
        )
        .await;
    assert_eq!(spoofed.status, 403);
    // The lock ends.
    wait_until(WAIT, "lock to end", || async {
        login(&s, "nacos", ADMIN_PW).await.is_some()
    })
    .await;
}

#[tokio::test]
async fn users_and_the_secret_survive_a_restart() {
    let s = server().await;
    let admin = login(&s, "nacos", ADMIN_PW).await.expect("admin login");
    user_with(&s, &admin, "bob", "team-b", "rw").await;
    let bob = login(&s, "bob", "pw-of-user").await.expect("bob login");
    let dir = s.stop().await;
    // Restarted without an admin password: the stored admin stays.
    let s = TestServer::start_in(dir, |s| {
        s.auth.enabled = true;
    })
    .await;
    assert!(login(&s, "bob", "pw-of-user").await.is_some());
    assert!(login(&s, "nacos", ADMIN_PW).await.is_some());
    // The token issued before the restart is still valid (same secret).
    let r = Http::new()
        .get(
            &s.url("/nacos/v1/cs/configs"),
            &[
                ("tenant", "team-b"),
                ("dataId", "x"),
                ("group", "G"),
                ("accessToken", &bob),
            ],
        )
        .await;
    assert_eq!(
        r.status, 404,
        "allowed, and the config does not exist: {}",
        r.body
    );
}

#[tokio::test]
async fn start_up_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = nocas_testkit::test_settings(dir.path());
    s.auth.enabled = true;
    s.auth.token_secret = Some("too-short".into());
    let err = nocas_server::start(s)
        .await
        .err()
        .expect("short secret refused");
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    let mut s = nocas_testkit::test_settings(dir.path());
    s.bind = "0.0.0.0".parse().unwrap();
    let err = nocas_server::start(s)
        .await
        .err()
        .expect("open bind without auth refused");
    assert!(err.to_string().contains("--insecure-no-auth"), "{err}");
    // The binary says why and exits.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nocas"))
        .args([
            "server",
            "--auth",
            "--token-secret",
            "short",
            "--http-port",
            "0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("bin-data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("at least 32 bytes"), "{text}");
    // Auth off (the default): tokens are ignored and login still answers.
    let s = TestServer::start().await;
    let r = Http::new()
        .post(
            &s.url("/nacos/v1/auth/login"),
            &[("username", "nacos"), ("password", "whatever")],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = Http::new()
        .get(
            &s.url("/nacos/v1/ns/service/list"),
            &[("accessToken", "junk")],
        )
        .await;
    assert_eq!(r.status, 200);
}

/// Nacos 3's login path (the Java client 3.x tries it first) answers as v1
/// does, and its token works on v1 routes.
#[tokio::test]
async fn v3_login_path_gives_the_same_token() {
    let s = server().await;
    let http = Http::new();
    let r = http
        .post(
            &s.url("/nacos/v3/auth/user/login"),
            &[("username", "nacos"), ("password", ADMIN_PW)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let token = v["accessToken"].as_str().expect("token").to_string();
    assert_eq!(v["username"], "nacos");
    assert_eq!(v["globalAdmin"], true);
    assert!(
        r.header("authorization")
            .is_some_and(|h| h.starts_with("Bearer "))
    );
    let r = http
        .get(
            &s.url("/nacos/v1/auth/users"),
            &[("pageNo", "1"), ("pageSize", "10"), ("accessToken", &token)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let wrong = http
        .post(
            &s.url("/nacos/v3/auth/user/login"),
            &[("username", "nacos"), ("password", "wrong")],
        )
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
}
