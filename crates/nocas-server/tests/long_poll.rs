//! Long polling (`/v1/cs/configs/listener`): answers at once on a differing
//! MD5, holds otherwise and answers within milliseconds of a change, or
//! empty at the timeout.

use std::time::{Duration, Instant};

use nocas_testkit::{Http, Reply, TestServer};

const CFG: &str = "/nacos/v1/cs/configs";
const LISTEN: &str = "/nacos/v1/cs/configs/listener";

fn md5(s: &str) -> String {
    nocas_core::config::md5_hex(s)
}

async fn poll(
    h: &Http,
    s: &TestServer,
    listening: &str,
    timeout_ms: u64,
    ip: Option<&str>,
) -> Reply {
    let t = timeout_ms.to_string();
    let mut headers = vec![("Long-Pulling-Timeout", t.as_str())];
    if let Some(ip) = ip {
        headers.push(("X-Forwarded-For", ip));
    }
    h.call(
        "POST",
        &s.url(LISTEN),
        &[],
        Some(&[("Listening-Configs", listening)]),
        &headers,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_at_once_when_md5_differs() {
    let s = TestServer::start().await;
    let h = Http::new();
    h.post(
        &s.url(CFG),
        &[("dataId", "d"), ("group", "G"), ("content", "v1")],
    )
    .await;
    let t0 = Instant::now();
    let r = poll(&h, &s, "d\u{2}G\u{2}stale\u{1}", 30_000, None).await;
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(r.body, "d%02G%01\n");
    // Empty MD5 for an existing config: changed. Empty MD5 and no config: not.
    let r = poll(&h, &s, "d\u{2}G\u{2}\u{1}", 30_000, None).await;
    assert_eq!(r.body, "d%02G%01\n");
    let r = h
        .call(
            "POST",
            &s.url(LISTEN),
            &[],
            Some(&[("Listening-Configs", "nope\u{2}G\u{2}\u{1}")]),
            &[
                ("Long-Pulling-Timeout", "30000"),
                ("Long-Pulling-Timeout-No-Hangup", "true"),
            ],
        )
        .await;
    assert_eq!(r.body.trim(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_then_answers_promptly_on_change_with_tenant_echoed() {
    let s = TestServer::start_with(|st| st.config.long_poll_min_ms = 10_000).await;
    let h = Http::new();
    h.post(
        &s.url(CFG),
        &[
            ("dataId", "d"),
            ("group", "G"),
            ("tenant", "dev"),
            ("content", "v1"),
        ],
    )
    .await;
    let listening = format!("d\u{2}G\u{2}{}\u{2}dev\u{1}", md5("v1"));
    let waiter = {
        let h = h.clone();
        let url = s.url(LISTEN);
        tokio::spawn(async move {
            let t0 = Instant::now();
            let r = h
                .call(
                    "POST",
                    &url,
                    &[],
                    Some(&[("Listening-Configs", &listening)]),
                    &[("Long-Pulling-Timeout", "30000")],
                )
                .await;
            (r, Instant::now(), t0)
        })
    };
    // Wait until the poll is held, then change the config.
    nocas_testkit::wait_until(Duration::from_secs(5), "poll held", || async {
        s.running().app().hub.held_watchers() == 1
    })
    .await;
    let changed_at = Instant::now();
    h.post(
        &s.url(CFG),
        &[
            ("dataId", "d"),
            ("group", "G"),
            ("tenant", "dev"),
            ("content", "v2"),
        ],
    )
    .await;
    let (r, answered_at, t0) = waiter.await.unwrap();
    assert_eq!(r.body, "d%02G%02dev%01\n");
    let lag = answered_at.duration_since(changed_at);
    assert!(
        lag < Duration::from_secs(2),
        "answered {lag:?} after the change"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(9),
        "must not wait for the timeout"
    );
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("no-cache,no-store")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_answer_at_timeout_and_unrelated_changes_do_not_wake() {
    let s = TestServer::start_with(|st| {
        st.config.long_poll_min_ms = 300;
        st.config.long_poll_margin_ms = 0;
    })
    .await;
    let h = Http::new();
    h.post(
        &s.url(CFG),
        &[("dataId", "d"), ("group", "G"), ("content", "v1")],
    )
    .await;
    let listening = format!("d\u{2}G\u{2}{}\u{1}", md5("v1"));
    let t0 = Instant::now();
    let other = {
        let h = h.clone();
        let url = s.url(CFG);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            h.post(
                &url,
                &[("dataId", "other"), ("group", "G"), ("content", "x")],
            )
            .await;
            // Same content again: MD5 unchanged, must not answer.
            h.post(&url, &[("dataId", "d"), ("group", "G"), ("content", "v1")])
                .await;
        })
    };
    let r = poll(&h, &s, &listening, 300, None).await;
    other.await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "answered early: {:?}",
        t0.elapsed()
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.trim(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beta_aware_and_bad_requests() {
    let s = TestServer::start().await;
    let h = Http::new();
    h.post(
        &s.url(CFG),
        &[("dataId", "b"), ("group", "G"), ("content", "stable")],
    )
    .await;
    h.call(
        "POST",
        &s.url(CFG),
        &[],
        Some(&[("dataId", "b"), ("group", "G"), ("content", "beta")]),
        &[("betaIps", "10.7.7.7")],
    )
    .await;
    let listening = format!("b\u{2}G\u{2}{}\u{1}", md5("stable"));
    // The beta IP holds the stable MD5 but is served the beta: changed.
    let r = poll(&h, &s, &listening, 30_000, Some("10.7.7.7")).await;
    assert_eq!(r.body, "b%02G%01\n");
    // Without a timeout header the poll is short and answers at once.
    let r = h
        .post(&s.url(LISTEN), &[("Listening-Configs", &listening)])
        .await;
    assert_eq!(r.body.trim(), "");
    for bad in ["", "junk", "a\u{2}b\u{1}", "bad id\u{2}G\u{2}\u{1}"] {
        let r = h
            .call(
                "POST",
                &s.url(LISTEN),
                &[],
                Some(&[("Listening-Configs", bad)]),
                &[("Long-Pulling-Timeout", "30000")],
            )
            .await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
    }
}
