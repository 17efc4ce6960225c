//! Revocation on a three-node cluster with auth: removing a role stops the
//! pushes it allowed on an open gRPC connection at another node; changing a
//! password or deleting the user makes its tokens worthless on every node
//! and stops all its pushes; refused logins and calls reach the audit trail
//! of every node (folded, with a count) and the metrics.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use nocas_testkit::grpc::RawGrpc;
use nocas_testkit::{ClusterProcesses, FAST_CLUSTER_TOML, Http, prom, wait_until};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const WAIT: Duration = Duration::from_secs(30);
const ADMIN_PW: &str = "Revoke-Admin-Pw-51d3";
const TOKEN_SECRET: &str = "a-revocation-test-token-secret-0123456789abc";
const CLUSTER_SECRET: &str = "a-revocation-cluster-secret-0123456789abcdef";

async fn login(h: &Http, base: &str, user: &str, pw: &str) -> Option<String> {
    let r = h
        .try_call(
            "POST",
            &format!("{base}/nacos/v1/auth/login"),
            &[],
            Some(&[("username", user), ("password", pw)]),
            &[],
        )
        .await
        .ok()?;
    (r.status == 200).then(|| r.json()["accessToken"].as_str().unwrap_or("").to_string())
}

/// Calls with the admin token, retrying while the cluster settles.
async fn admin(h: &Http, method: &str, url: &str, form: &[(&str, &str)], token: &str) {
    let mut q: Vec<(&str, &str)> = form.to_vec();
    q.push(("accessToken", token));
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let r = h.try_call(method, url, &q, None, &[]).await;
        match r {
            Ok(r) if r.status == 200 => return,
            other if std::time::Instant::now() > deadline => {
                panic!("{method} {url}: {:?}", other.map(|r| (r.status, r.body)))
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Status of reading config `c1` with `token` at `base`.
async fn read_status(h: &Http, base: &str, token: &str) -> u16 {
    h.get(
        &format!("{base}/nacos/v1/cs/configs"),
        &[("dataId", "c1"), ("group", "G"), ("accessToken", token)],
    )
    .await
    .status
}

/// Waits until reading `c1` with `token` gets `status` on every node.
async fn wait_status_everywhere(
    h: &Http,
    c: &ClusterProcesses,
    token: &str,
    status: u16,
    what: &str,
) {
    for i in 1..=3 {
        let (h, base, t) = (h.clone(), c.base(i), token.to_string());
        wait_until(WAIT, &format!("node {i} {what}"), move || {
            let (h, base, t) = (h.clone(), base.clone(), t.clone());
            async move { read_status(&h, &base, &t).await == status }
        })
        .await;
    }
}

fn with_token(type_name: &str, body: Value, token: &str) -> nocas_proto::grpc::Payload {
    let headers = HashMap::from([("accessToken".to_string(), token.to_string())]);
    nocas_proto::grpc::payload(type_name, &body, headers)
}

async fn list_len(h: &Http, base: &str, what: &str, conn: &str, token: &str) -> usize {
    let path = match what {
        "subscribe" => "/nacos/v2/ns/client/subscribe/list",
        _ => "/nacos/v2/cs/client/listen/list",
    };
    let r = h
        .get(
            &format!("{base}{path}"),
            &[("clientId", conn), ("accessToken", token)],
        )
        .await;
    r.json()["data"].as_array().map_or(usize::MAX, Vec::len)
}

fn counter(samples: &[prom::SampleLine], name: &str, kind: Option<&str>) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && kind.is_none_or(|k| s.labels.get("kind").map(String::as_str) == Some(k))
        })
        .map(|s| s.value)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_access_stops_tokens_and_pushes_on_every_node() {
    let toml = format!(
        "{FAST_CLUSTER_TOML}\n[auth]\nlockout_failures = 1000000\n[audit]\nsecurity_flush_ms = 100\n"
    );
    let args = [
        "--auth",
        "--admin-password",
        ADMIN_PW,
        "--token-secret",
        TOKEN_SECRET,
        "--cluster-secret",
        CLUSTER_SECRET,
    ];
    let c = ClusterProcesses::spawn(Path::new(BIN), 3, &toml, &args);
    let h = Http::new();
    let tok = std::sync::Arc::new(tokio::sync::Mutex::new(String::new()));
    wait_until(WAIT, "the administrator logs in", || {
        let (h, base, tok) = (h.clone(), c.base(1), tok.clone());
        async move {
            match login(&h, &base, "nacos", ADMIN_PW).await {
                Some(t) => {
                    *tok.lock().await = t;
                    true
                }
                None => false,
            }
        }
    })
    .await;
    let root = tok.lock().await.clone();
    let b1 = c.base(1);
    let u = |base: &str, p: &str| format!("{base}/nacos/v1/auth/{p}");
    // alice reads configs through role `ra` and services through `rb`.
    admin(
        &h,
        "POST",
        &u(&b1, "users"),
        &[("username", "alice"), ("password", "alice-pw-1")],
        &root,
    )
    .await;
    admin(
        &h,
        "POST",
        &u(&b1, "users"),
        &[("username", "bob"), ("password", "bob-pw-1")],
        &root,
    )
    .await;
    for (role, resource) in [("ra", "public:*:config/*"), ("rb", "public:*:naming/*")] {
        admin(
            &h,
            "POST",
            &u(&b1, "roles"),
            &[("role", role), ("username", "alice")],
            &root,
        )
        .await;
        admin(
            &h,
            "POST",
            &u(&b1, "permissions"),
            &[("role", role), ("resource", resource), ("action", "r")],
            &root,
        )
        .await;
    }
    admin(
        &h,
        "POST",
        &format!("{b1}/nacos/v1/cs/configs"),
        &[("dataId", "c1"), ("group", "G"), ("content", "v1")],
        &root,
    )
    .await;

    // alice logs in at node 2 and opens a gRPC connection at node 3.
    let b2 = c.base(2);
    let b3 = c.base(3);
    let deadline = std::time::Instant::now() + WAIT;
    let alice = loop {
        if let Some(t) = login(&h, &b2, "alice", "alice-pw-1").await {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "alice logs in at node 2"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let grpc3 = c.nodes[2].as_ref().expect("node 3").grpc;
    let mut g = RawGrpc::connect(grpc3).await;
    let (_, check) = g.call("ServerCheckRequest", json!({"headers": {}})).await;
    let conn_id = check["connectionId"].as_str().unwrap().to_string();
    g.open_stream(true, true).await;
    assert!(g.next_of("SetupAckRequest", WAIT).await.is_some());
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, sub) = g
            .call_raw(with_token(
                "SubscribeServiceRequest",
                json!({"namespace": "public", "groupName": "G", "serviceName": "s1",
                       "clusters": "", "subscribe": true, "headers": {}}),
                &alice,
            ))
            .await;
        if sub["resultCode"] == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "subscribe: {sub}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, listen) = g
        .call_raw(with_token(
            "ConfigBatchListenRequest",
            json!({"listen": true, "headers": {}, "configListenContexts": [
                {"dataId": "c1", "group": "G", "tenant": "", "md5": ""}]}),
            &alice,
        ))
        .await;
    assert_eq!(listen["resultCode"], 200, "{listen}");
    // Pushes arrive while alice may read.
    admin(
        &h,
        "POST",
        &format!("{b1}/nacos/v1/cs/configs"),
        &[("dataId", "c1"), ("group", "G"), ("content", "v2")],
        &root,
    )
    .await;
    assert!(g.next_of("ConfigChangeNotifyRequest", WAIT).await.is_some());

    // Role rb removed at node 1: node 3 drops the subscription at once.
    admin(
        &h,
        "DELETE",
        &u(&b1, "roles"),
        &[("role", "rb"), ("username", "alice")],
        &root,
    )
    .await;
    wait_until(WAIT, "node 3 drops the service subscription", || {
        let (h, b3, id, root) = (h.clone(), b3.clone(), conn_id.clone(), root.clone());
        async move { list_len(&h, &b3, "subscribe", &id, &root).await == 0 }
    })
    .await;
    assert_eq!(list_len(&h, &b3, "listen", &conn_id, &root).await, 1);
    // A change of s1 is not pushed; the config change after it is.
    admin(
        &h,
        "POST",
        &format!("{b1}/nacos/v1/ns/instance"),
        &[
            ("serviceName", "s1"),
            ("groupName", "G"),
            ("ip", "10.0.0.1"),
            ("port", "80"),
            ("ephemeral", "false"),
        ],
        &root,
    )
    .await;
    admin(
        &h,
        "POST",
        &format!("{b1}/nacos/v1/cs/configs"),
        &[("dataId", "c1"), ("group", "G"), ("content", "v3")],
        &root,
    )
    .await;
    let rx = g.from_server.as_mut().unwrap();
    let got = tokio::time::timeout(WAIT, async {
        let mut frames = Vec::new();
        while let Some((t, _)) = rx.recv().await {
            let done = t == "ConfigChangeNotifyRequest";
            frames.push(t);
            if done {
                break;
            }
        }
        frames
    })
    .await
    .expect("the config push");
    assert!(
        !got.iter().any(|t| t == "NotifySubscriberRequest"),
        "a service push reached a reader without the right: {got:?}"
    );

    // Password changed at node 1: the token is worthless on every node,
    // and node 3 stops all of alice's pushes.
    for i in 1..=3 {
        assert_eq!(read_status(&h, &c.base(i), &alice).await, 200);
    }
    admin(
        &h,
        "PUT",
        &u(&b1, "users"),
        &[("username", "alice"), ("newPassword", "alice-pw-2")],
        &root,
    )
    .await;
    wait_status_everywhere(&h, &c, &alice, 403, "refuses the old token").await;
    wait_until(WAIT, "node 3 drops the config listener", || {
        let (h, b3, id, root) = (h.clone(), b3.clone(), conn_id.clone(), root.clone());
        async move { list_len(&h, &b3, "listen", &id, &root).await == 0 }
    })
    .await;
    // The new password gives a token that works; deleting alice ends it.
    let fresh = login(&h, &b2, "alice", "alice-pw-2")
        .await
        .expect("new password");
    wait_status_everywhere(&h, &c, &fresh, 200, "takes the new token").await;
    admin(
        &h,
        "DELETE",
        &u(&b2, "users"),
        &[("username", "alice")],
        &root,
    )
    .await;
    wait_status_everywhere(&h, &c, &fresh, 403, "refuses a deleted user's token").await;

    // Refusals: three bad logins for alice at node 2, and bob (no right)
    // reading c1 twice at node 3.
    for _ in 0..3 {
        assert!(login(&h, &b2, "alice", "wrong").await.is_none());
    }
    let bob = login(&h, &b3, "bob", "bob-pw-1")
        .await
        .expect("bob logs in");
    for _ in 0..2 {
        assert_eq!(read_status(&h, &b3, &bob).await, 403);
    }
    for i in 1..=3 {
        let (h, base, root) = (h.clone(), c.base(i), root.clone());
        wait_until(
            WAIT,
            &format!("node {i} holds the security records"),
            move || {
                let (h, base, root) = (h.clone(), base.clone(), root.clone());
                async move {
                    let r = h
                        .get(
                            &format!("{base}/nacos/v3/admin/core/audit"),
                            &[
                                ("kind", "security"),
                                ("pageSize", "100"),
                                ("accessToken", &root),
                            ],
                        )
                        .await;
                    let items = r.json()["data"]["pageItems"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let failed: u64 = items
                        .iter()
                        .filter(|a| a["op"] == "login-failed" && a["target"] == "alice")
                        .map(count_of)
                        .sum();
                    let denied: u64 = items
                        .iter()
                        .filter(|a| a["op"] == "denied" && a["user"] == "bob")
                        .map(count_of)
                        .sum();
                    let from_loopback = items.iter().all(|a| a["ip"] == "127.0.0.1");
                    failed == 3 && denied == 2 && from_loopback
                }
            },
        )
        .await;
    }
    let m2 = prom::parse(
        &h.get(&format!("{b2}/nacos/actuator/prometheus"), &[])
            .await
            .body,
    );
    assert!(counter(&m2, "nocas_auth_failures_total", Some("login")) >= 3.0);
    let m3 = prom::parse(
        &h.get(&format!("{b3}/nacos/actuator/prometheus"), &[])
            .await
            .body,
    );
    assert!(counter(&m3, "nocas_auth_failures_total", Some("denied")) >= 2.0);
    assert!(counter(&m3, "nocas_auth_failures_total", Some("token")) >= 1.0);
    assert!(counter(&m3, "nocas_push_revoked_total", None) >= 2.0);
}

fn count_of(a: &Value) -> u64 {
    a["detail"]
        .as_str()
        .and_then(|d| d.strip_prefix("count="))
        .and_then(|d| d.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
