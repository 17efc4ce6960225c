//! Config over HTTP v1 and v2: publish/get/remove with Nacos's headers,
//! search, CAS, beta (gray) release, tags, history and rollback, limits.

use nocas_testkit::{Http, TestServer};

const CFG: &str = "/nacos/v1/cs/configs";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_get_remove_with_headers() {
    let s = TestServer::start().await;
    let h = Http::new();
    let r = h
        .post(
            &s.url(CFG),
            &[
                ("dataId", "app.yaml"),
                ("group", "G"),
                ("content", "a: 1\n中文"),
                ("type", "yaml"),
                ("appName", "shop"),
                ("desc", "d"),
            ],
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    let r = h
        .get(&s.url(CFG), &[("dataId", "app.yaml"), ("group", "G")])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "a: 1\n中文");
    assert_eq!(r.header("content-md5").unwrap(), md5("a: 1\n中文"));
    assert_eq!(r.header("config-type").as_deref(), Some("yaml"));
    assert!(r.header("last-modified").is_some());
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("no-cache,no-store")
    );
    // `public` and "" are the same namespace.
    let r2 = h
        .get(
            &s.url(CFG),
            &[("dataId", "app.yaml"), ("group", "G"), ("tenant", "public")],
        )
        .await;
    assert_eq!(r2.body, r.body);

    let all = h
        .get(
            &s.url(CFG),
            &[("dataId", "app.yaml"), ("group", "G"), ("show", "all")],
        )
        .await
        .json();
    assert_eq!(all["appName"], "shop");
    assert_eq!(all["desc"], "d");
    assert_eq!(all["type"], "yaml");
    assert_eq!(all["createIp"], "127.0.0.1");

    let r = h
        .delete(&s.url(CFG), &[("dataId", "app.yaml"), ("group", "G")])
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    let r = h
        .get(&s.url(CFG), &[("dataId", "app.yaml"), ("group", "G")])
        .await;
    assert_eq!((r.status, r.body.as_str()), (404, "config data not exist"));
    // Deleting what does not exist is fine.
    let r = h
        .delete(&s.url(CFG), &[("dataId", "app.yaml"), ("group", "G")])
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
}

fn md5(s: &str) -> String {
    nocas_core::config::md5_hex(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_accurate_and_blur() {
    let s = TestServer::start().await;
    let h = Http::new();
    for (d, g, tags) in [
        ("app.yaml", "G1", "x,y"),
        ("app.json", "G1", "y"),
        ("db.yaml", "G2", ""),
    ] {
        h.post(
            &s.url(CFG),
            &[
                ("dataId", d),
                ("group", g),
                ("content", "c"),
                ("config_tags", tags),
            ],
        )
        .await;
    }
    let page = |q: Vec<(&'static str, &'static str)>| {
        let h = h.clone();
        let url = s.url(CFG);
        async move { h.get(&url, &q).await.json() }
    };
    let p = page(vec![
        ("search", "accurate"),
        ("dataId", "app.yaml"),
        ("group", ""),
        ("pageNo", "1"),
        ("pageSize", "10"),
    ])
    .await;
    assert_eq!(p["totalCount"], 1);
    assert_eq!(p["pageItems"][0]["dataId"], "app.yaml");
    let p = page(vec![
        ("search", "blur"),
        ("dataId", "app*"),
        ("pageNo", "1"),
        ("pageSize", "1"),
    ])
    .await;
    assert_eq!(p["totalCount"], 2);
    assert_eq!(p["pagesAvailable"], 2);
    assert_eq!(p["pageItems"].as_array().unwrap().len(), 1);
    let p = page(vec![
        ("search", "blur"),
        ("dataId", "*yaml"),
        ("pageNo", "1"),
        ("pageSize", "10"),
    ])
    .await;
    assert_eq!(p["totalCount"], 2);
    // Without a `*` a blur search is exact, as in Nacos (SQL LIKE).
    let p = page(vec![("search", "blur"), ("dataId", "yaml")]).await;
    assert_eq!(p["totalCount"], 0);
    let p = page(vec![("search", "blur"), ("dataId", "db.yaml")]).await;
    assert_eq!(p["totalCount"], 1);
    let p = page(vec![
        ("search", "accurate"),
        ("group", "G1"),
        ("config_tags", "y"),
        ("pageNo", "1"),
        ("pageSize", "10"),
    ])
    .await;
    assert_eq!(p["totalCount"], 2);
    let r = h
        .get(
            &s.url(CFG),
            &[("search", "fuzzy"), ("pageNo", "1"), ("pageSize", "10")],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_publish() {
    let s = TestServer::start().await;
    let h = Http::new();
    h.post(
        &s.url(CFG),
        &[("dataId", "cas"), ("group", "G"), ("content", "v1")],
    )
    .await;
    let r = h
        .call(
            "POST",
            &s.url(CFG),
            &[],
            Some(&[("dataId", "cas"), ("group", "G"), ("content", "v2")]),
            &[("casMd5", "0000")],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let m = md5("v1");
    let r = h
        .call(
            "POST",
            &s.url(CFG),
            &[],
            Some(&[("dataId", "cas"), ("group", "G"), ("content", "v2")]),
            &[("casMd5", &m)],
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    assert_eq!(
        h.get(&s.url(CFG), &[("dataId", "cas"), ("group", "G")])
            .await
            .body,
        "v2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beta_release_serves_listed_ips_until_stopped_or_promoted() {
    let s = TestServer::start().await;
    let h = Http::new();
    let key = [("dataId", "gray"), ("group", "G")];
    h.post(
        &s.url(CFG),
        &[("dataId", "gray"), ("group", "G"), ("content", "stable")],
    )
    .await;
    let r = h
        .call(
            "POST",
            &s.url(CFG),
            &[],
            Some(&[("dataId", "gray"), ("group", "G"), ("content", "canary")]),
            &[("betaIps", "10.9.9.9,10.9.9.8")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let as_ip = |ip: &'static str| {
        let h = h.clone();
        let url = s.url(CFG);
        async move {
            h.call("GET", &url, &key, None, &[("X-Forwarded-For", ip)])
                .await
        }
    };
    let r = as_ip("10.9.9.9").await;
    assert_eq!(r.body, "canary");
    assert_eq!(r.header("isbeta").as_deref(), Some("true"));
    let r = as_ip("10.1.1.1").await;
    assert_eq!(r.body, "stable");
    assert!(r.header("isbeta").is_none());
    let beta = h
        .get(
            &s.url(CFG),
            &[("dataId", "gray"), ("group", "G"), ("beta", "true")],
        )
        .await
        .json();
    assert_eq!(beta["data"]["betaIps"], "10.9.9.9,10.9.9.8");
    assert_eq!(beta["data"]["content"], "canary");

    // Stop the beta: everyone gets the formal version.
    let r = h
        .delete(
            &s.url(CFG),
            &[("dataId", "gray"), ("group", "G"), ("beta", "true")],
        )
        .await;
    assert_eq!(r.json()["data"], true);
    assert_eq!(as_ip("10.9.9.9").await.body, "stable");

    // Promote a new beta: its content becomes formal, the beta is gone.
    h.call(
        "POST",
        &s.url(CFG),
        &[],
        Some(&[("dataId", "gray"), ("group", "G"), ("content", "canary2")]),
        &[("betaIps", "10.9.9.9")],
    )
    .await;
    let r = h
        .post(&s.url("/nacos/v1/cs/configs/beta/promote"), &key)
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    assert_eq!(as_ip("10.1.1.1").await.body, "canary2");
    let r = as_ip("10.9.9.9").await;
    assert_eq!(r.body, "canary2");
    assert!(r.header("isbeta").is_none());
    let r = h
        .post(&s.url("/nacos/v1/cs/configs/beta/promote"), &key)
        .await;
    assert_eq!(r.status, 404, "nothing to promote: {}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_served_to_readers_asking_for_them() {
    let s = TestServer::start().await;
    let h = Http::new();
    h.post(
        &s.url(CFG),
        &[("dataId", "t"), ("group", "G"), ("content", "plain")],
    )
    .await;
    h.post(
        &s.url(CFG),
        &[
            ("dataId", "t"),
            ("group", "G"),
            ("content", "tagged"),
            ("tag", "blue"),
        ],
    )
    .await;
    assert_eq!(
        h.get(&s.url(CFG), &[("dataId", "t"), ("group", "G")])
            .await
            .body,
        "plain"
    );
    let r = h
        .get(
            &s.url(CFG),
            &[("dataId", "t"), ("group", "G"), ("tag", "blue")],
        )
        .await;
    assert_eq!(r.body, "tagged");
    assert_eq!(
        h.get(
            &s.url(CFG),
            &[("dataId", "t"), ("group", "G"), ("tag", "red")]
        )
        .await
        .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_list_detail_previous_and_rollback() {
    let s = TestServer::start().await;
    let h = Http::new();
    for v in ["v1", "v2", "v3"] {
        h.post(
            &s.url(CFG),
            &[
                ("dataId", "h"),
                ("group", "G"),
                ("content", v),
                ("src_user", "alice"),
            ],
        )
        .await;
    }
    h.delete(&s.url(CFG), &[("dataId", "h"), ("group", "G")])
        .await;
    let page = h
        .get(
            &s.url("/nacos/v1/cs/history"),
            &[
                ("search", "accurate"),
                ("dataId", "h"),
                ("group", "G"),
                ("pageNo", "1"),
                ("pageSize", "10"),
            ],
        )
        .await
        .json();
    assert_eq!(page["totalCount"], 4);
    let items = page["pageItems"].as_array().unwrap();
    let ops: Vec<&str> = items
        .iter()
        .map(|i| i["opType"].as_str().unwrap())
        .collect();
    assert_eq!(ops, vec!["D", "U", "U", "I"], "newest first");
    assert_eq!(items[3]["srcUser"], "alice");
    assert_eq!(items[3]["srcIp"], "127.0.0.1");
    assert!(items[0]["content"].is_null(), "list items carry no content");
    // Detail: the update entries hold the version they replaced.
    let nid = items[1]["id"].as_str().unwrap().to_string();
    let d = h
        .get(
            &s.url("/nacos/v1/cs/history"),
            &[("nid", &nid), ("dataId", "h"), ("group", "G")],
        )
        .await
        .json();
    assert_eq!(d["content"], "v2");
    assert_eq!(d["md5"], md5("v2"));
    // Detail of another config's entry is refused.
    let r = h
        .get(
            &s.url("/nacos/v1/cs/history"),
            &[("nid", &nid), ("dataId", "other"), ("group", "G")],
        )
        .await;
    assert_eq!(r.status, 404);

    // Roll back = publish an old version again.
    let r = h
        .post(
            &s.url(CFG),
            &[
                ("dataId", "h"),
                ("group", "G"),
                ("content", d["content"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        h.get(&s.url(CFG), &[("dataId", "h"), ("group", "G")])
            .await
            .body,
        "v2"
    );

    // previous: the version before the current one, by config id.
    h.post(
        &s.url(CFG),
        &[("dataId", "h"), ("group", "G"), ("content", "v5")],
    )
    .await;
    let all = h
        .get(
            &s.url(CFG),
            &[("dataId", "h"), ("group", "G"), ("show", "all")],
        )
        .await
        .json();
    let id = all["id"].as_str().unwrap().to_string();
    let prev = h
        .get(
            &s.url("/nacos/v1/cs/history/previous"),
            &[("id", &id), ("dataId", "h"), ("group", "G")],
        )
        .await
        .json();
    assert_eq!(prev["content"], "v2");

    let configs = h
        .get(&s.url("/nacos/v1/cs/history/configs"), &[("tenant", "")])
        .await
        .json();
    assert_eq!(configs[0]["dataId"], "h");

    // v2.
    let v2 = h
        .get(
            &s.url("/nacos/v2/cs/history/list"),
            &[("dataId", "h"), ("group", "G")],
        )
        .await
        .json();
    assert_eq!(v2["data"]["totalCount"], 6);
    let d2 = h
        .get(
            &s.url("/nacos/v2/cs/history"),
            &[("dataId", "h"), ("group", "G"), ("nid", &nid)],
        )
        .await
        .json();
    assert_eq!(d2["data"]["content"], "v2");
    let p2 = h
        .get(
            &s.url("/nacos/v2/cs/history/previous"),
            &[("dataId", "h"), ("group", "G"), ("id", &id)],
        )
        .await
        .json();
    assert_eq!(p2["data"]["content"], "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_config_api() {
    let s = TestServer::start().await;
    let h = Http::new();
    let url = s.url("/nacos/v2/cs/config");
    let r = h
        .post(
            &url,
            &[
                ("dataId", "v2"),
                ("group", "G"),
                ("namespaceId", "dev"),
                ("content", "x=1"),
                ("type", "properties"),
            ],
        )
        .await;
    assert_eq!(
        r.json(),
        serde_json::json!({"code": 0, "message": "success", "data": true})
    );
    let r = h
        .get(
            &url,
            &[("dataId", "v2"), ("group", "G"), ("namespaceId", "dev")],
        )
        .await;
    assert_eq!(r.json()["data"], "x=1");
    assert_eq!(r.header("config-type").as_deref(), Some("properties"));
    let r = h.get(&url, &[("dataId", "v2"), ("group", "G")]).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        serde_json::json!({"code": 20004, "message": "resource not found", "data": "config data not exist"})
    );
    let r = h.post(&url, &[("dataId", "v2"), ("group", "G")]).await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (400, Some(10000)));
    let r = h
        .post(
            &url,
            &[("dataId", "bad id"), ("group", "G"), ("content", "x")],
        )
        .await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (400, Some(20002)));
    let r = h
        .delete(
            &url,
            &[("dataId", "v2"), ("group", "G"), ("namespaceId", "dev")],
        )
        .await;
    assert_eq!(r.json()["data"], true);
    assert_eq!(
        h.get(
            &url,
            &[("dataId", "v2"), ("group", "G"), ("namespaceId", "dev")]
        )
        .await
        .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_size_limit_is_a_setting() {
    let s = TestServer::start_with(|st| st.limits.max_config_bytes = 1024).await;
    let h = Http::new();
    let big = "x".repeat(1025);
    let r = h
        .post(
            &s.url(CFG),
            &[("dataId", "big"), ("group", "G"), ("content", &big)],
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.body);
    let ok = "x".repeat(1024);
    let r = h
        .post(
            &s.url(CFG),
            &[("dataId", "big"), ("group", "G"), ("content", &ok)],
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_mib_config_by_default() {
    let s = TestServer::start().await;
    let h = Http::new();
    let content = "y".repeat(10 * 1024 * 1024);
    let r = h
        .post(
            &s.url(CFG),
            &[("dataId", "huge"), ("group", "G"), ("content", &content)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .get(&s.url(CFG), &[("dataId", "huge"), ("group", "G")])
        .await;
    assert_eq!(r.body.len(), content.len());
    let r = h
        .post(
            &s.url(CFG),
            &[
                ("dataId", "huge"),
                ("group", "G"),
                ("content", &format!("{content}z")),
            ],
        )
        .await;
    assert_eq!(r.status, 413);
}
