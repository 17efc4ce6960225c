//! The beat timeline of HTTP-registered ephemeral instances (with short
//! timers), beats re-creating unknown instances, and active probes of
//! persistent instances.

use std::time::{Duration, Instant};

use nocas_testkit::{Http, TestServer, wait_until};
use serde_json::Value;

async fn hosts(h: &Http, s: &TestServer, svc: &str) -> Vec<Value> {
    h.get(
        &s.url("/nacos/v1/ns/instance/list"),
        &[("serviceName", svc)],
    )
    .await
    .json()["hosts"]
        .as_array()
        .unwrap()
        .clone()
}

async fn healthy_of(h: &Http, s: &TestServer, svc: &str) -> Option<bool> {
    hosts(h, s, svc)
        .await
        .first()
        .map(|x| x["healthy"].as_bool().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_instance_goes_unhealthy_then_is_removed() {
    let s = TestServer::start_with(|st| {
        st.naming.beat_interval_ms = 50;
        st.naming.beat_timeout_ms = 300;
        st.naming.delete_timeout_ms = 600;
    })
    .await;
    let h = Http::new();
    let start = Instant::now();
    h.post(
        &s.url("/nacos/v1/ns/instance"),
        &[("serviceName", "exp"), ("ip", "10.0.0.9"), ("port", "1")],
    )
    .await;
    // A second, beating instance keeps the service above the threshold, so
    // the silent one is reported as it is.
    h.post(
        &s.url("/nacos/v1/ns/instance"),
        &[("serviceName", "exp"), ("ip", "10.0.0.9"), ("port", "2")],
    )
    .await;
    let beat = async {
        loop {
            h.put(
                &s.url("/nacos/v1/ns/instance/beat"),
                &[("serviceName", "exp"), ("ip", "10.0.0.9"), ("port", "2")],
            )
            .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let watch = async {
        wait_until(
            Duration::from_secs(5),
            "silent instance unhealthy",
            || async {
                hosts(&h, &s, "exp")
                    .await
                    .iter()
                    .any(|x| x["port"] == 1 && x["healthy"] == false)
            },
        )
        .await;
        let unhealthy_at = start.elapsed();
        wait_until(
            Duration::from_secs(5),
            "silent instance removed",
            || async { hosts(&h, &s, "exp").await.iter().all(|x| x["port"] != 1) },
        )
        .await;
        (unhealthy_at, start.elapsed())
    };
    let (unhealthy_at, removed_at) = tokio::select! {
        r = watch => r,
        _ = beat => unreachable!(),
    };
    assert!(
        unhealthy_at >= Duration::from_millis(300),
        "unhealthy too early: {unhealthy_at:?}"
    );
    assert!(
        removed_at >= Duration::from_millis(600),
        "removed too early: {removed_at:?}"
    );
    let left = hosts(&h, &s, "exp").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["healthy"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_overrides_timeouts_and_beats_revive() {
    // Server defaults are long; the instance's metadata makes them short.
    let s = TestServer::start().await;
    let h = Http::new();
    let md = r#"{"preserved.heart.beat.interval":"50","preserved.heart.beat.timeout":"200","preserved.ip.delete.timeout":"100000"}"#;
    let r = h
        .post(
            &s.url("/nacos/v1/ns/instance"),
            &[
                ("serviceName", "md"),
                ("ip", "10.0.0.8"),
                ("port", "1"),
                ("metadata", md),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = hosts(&h, &s, "md").await;
    assert_eq!(first[0]["instanceHeartBeatInterval"], 50);
    assert_eq!(first[0]["instanceHeartBeatTimeOut"], 200);
    // All unhealthy with threshold 0 means protection: check the detail instead.
    wait_until(
        Duration::from_secs(5),
        "unhealthy by metadata timeout",
        || async {
            let d = h
                .get(
                    &s.url("/nacos/v1/ns/instance"),
                    &[("serviceName", "md"), ("ip", "10.0.0.8"), ("port", "1")],
                )
                .await;
            d.json()["healthy"] == false
        },
    )
    .await;
    let b = h
        .put(
            &s.url("/nacos/v1/ns/instance/beat"),
            &[("serviceName", "md"), ("ip", "10.0.0.8"), ("port", "1")],
        )
        .await
        .json();
    assert_eq!(b["code"], 10200);
    assert_eq!(b["clientBeatInterval"], 50);
    assert_eq!(b["lightBeatEnabled"], true);
    assert_eq!(healthy_of(&h, &s, "md").await, Some(true));

    // Invalid overrides are rejected.
    let bad = r#"{"preserved.heart.beat.interval":"500","preserved.heart.beat.timeout":"100"}"#;
    let r = h
        .post(
            &s.url("/nacos/v1/ns/instance"),
            &[
                ("serviceName", "md"),
                ("ip", "10.0.0.8"),
                ("port", "2"),
                ("metadata", bad),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beats_for_unknown_instances() {
    let s = TestServer::start().await;
    let h = Http::new();
    let beat_url = s.url("/nacos/v1/ns/instance/beat");
    // Light beat for an unknown instance: 20404, so the SDK registers again.
    let r = h
        .put(
            &beat_url,
            &[("serviceName", "gone"), ("ip", "10.0.0.7"), ("port", "7")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["code"], 20404);
    assert!(hosts(&h, &s, "gone").await.is_empty());
    // A beat carrying its JSON re-creates the instance.
    let beat = r#"{"ip":"10.0.0.7","port":7,"weight":2.0,"serviceName":"DEFAULT_GROUP@@gone","cluster":"DEFAULT","metadata":{"app":"x"},"scheduled":false,"period":5000,"stopped":false}"#;
    let r = h
        .put(
            &beat_url,
            &[("serviceName", "DEFAULT_GROUP@@gone"), ("beat", beat)],
        )
        .await;
    assert_eq!(r.json()["code"], 10200, "{}", r.body);
    let got = hosts(&h, &s, "gone").await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["weight"], 2.0);
    assert_eq!(got[0]["metadata"]["app"], "x");
    // v2 beat.
    let r = h
        .put(
            &s.url("/nacos/v2/ns/instance/beat"),
            &[("serviceName", "gone"), ("ip", "10.0.0.7"), ("port", "7")],
        )
        .await;
    assert_eq!(r.json()["data"]["code"], 10200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_and_http_probes_decide_persistent_health() {
    let s = TestServer::start().await;
    let h = Http::new();
    // A live TCP port, and a port with nothing behind it.
    let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live_port = live.local_addr().unwrap().port().to_string();
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    tokio::spawn(async move {
        loop {
            if let Ok((mut sock, _)) = live.accept().await {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 1024];
                    let _ = sock.read(&mut buf).await;
                    let ok = String::from_utf8_lossy(&buf).starts_with("GET /health");
                    let status = if ok {
                        "200 OK"
                    } else {
                        "503 Service Unavailable"
                    };
                    let _ = sock
                        .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes())
                        .await;
                });
            }
        }
    });
    for (port, cluster) in [
        (live_port.as_str(), "TCPC"),
        (dead_port.as_str(), "TCPC"),
        (live_port.as_str(), "HTTPC"),
    ] {
        let r = h
            .post(
                &s.url("/nacos/v1/ns/instance"),
                &[
                    ("serviceName", "probed"),
                    ("ip", "127.0.0.1"),
                    ("port", port),
                    ("clusterName", cluster),
                    ("ephemeral", "false"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let cluster = s.url("/nacos/v1/ns/cluster");
    let r = h
        .put(
            &cluster,
            &[
                ("serviceName", "probed"),
                ("clusterName", "TCPC"),
                ("healthChecker", r#"{"type":"TCP"}"#),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .put(
            &cluster,
            &[
                ("serviceName", "probed"),
                ("clusterName", "HTTPC"),
                (
                    "healthChecker",
                    r#"{"type":"HTTP","path":"/nope","headers":""}"#,
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let health = |port: String, cluster: &'static str| {
        let h = h.clone();
        let url = s.url("/nacos/v1/ns/instance");
        async move {
            h.get(
                &url,
                &[
                    ("serviceName", "probed"),
                    ("ip", "127.0.0.1"),
                    ("port", &port),
                    ("clusterName", cluster),
                ],
            )
            .await
            .json()["healthy"]
                .as_bool()
                .unwrap()
        }
    };
    wait_until(Duration::from_secs(10), "dead TCP port unhealthy", || {
        health(dead_port.clone(), "TCPC").map_false()
    })
    .await;
    wait_until(Duration::from_secs(10), "wrong HTTP path unhealthy", || {
        health(live_port.clone(), "HTTPC").map_false()
    })
    .await;
    assert!(
        health(live_port.clone(), "TCPC").await,
        "live TCP port stays healthy"
    );
    // Manual health is refused while a checker runs.
    let r = h
        .put(
            &s.url("/nacos/v1/ns/health/instance"),
            &[
                ("serviceName", "probed"),
                ("ip", "127.0.0.1"),
                ("port", &dead_port),
                ("clusterName", "TCPC"),
                ("healthy", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Fix the HTTP path: healthy again after enough good probes.
    let r = h
        .put(
            &cluster,
            &[
                ("serviceName", "probed"),
                ("clusterName", "HTTPC"),
                ("healthChecker", r#"{"type":"HTTP","path":"/health"}"#),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    wait_until(Duration::from_secs(10), "right HTTP path healthy", || {
        health(live_port.clone(), "HTTPC")
    })
    .await;
}

trait MapFalse {
    fn map_false(self) -> impl std::future::Future<Output = bool>;
}

impl<F: std::future::Future<Output = bool>> MapFalse for F {
    async fn map_false(self) -> bool {
        !self.await
    }
}
