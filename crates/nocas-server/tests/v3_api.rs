//! Nacos 3's HTTP API (`/nacos/v3/admin`, `/nacos/v3/client`,
//! `/nacos/v3/auth`) against a real server on loopback: shapes, defaults,
//! errors (a 4xx with a non-zero code and a reason, never a 5xx) and
//! visibility between v1 and v3.

use nocas_testkit::{Http, Reply, TestServer};
use serde_json::Value;

/// Asserts a success envelope and returns its `data`.
fn data(r: &Reply) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(v["message"], "success", "{v}");
    v["data"].clone()
}

/// Asserts a 4xx error envelope with a non-zero code and a reason.
fn refused(r: &Reply, code: u64) {
    assert!((400..500).contains(&r.status), "{} {}", r.status, r.body);
    let v = r.json();
    assert_eq!(v["code"].as_u64(), Some(code), "{v}");
    assert!(!v["message"].as_str().unwrap_or("").is_empty(), "{v}");
    assert!(!v["data"].as_str().unwrap_or("").is_empty(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_admin_and_client_routes() {
    let s = TestServer::start().await;
    let h = Http::new();
    let cfg = s.url("/nacos/v3/admin/cs/config");
    let key = [("dataId", "app.yaml"), ("groupName", "G")];
    let r = h
        .post(
            &cfg,
            &[
                ("dataId", "app.yaml"),
                ("groupName", "G"),
                ("content", "a: 1"),
                ("type", "yaml"),
                ("appName", "shop"),
                ("desc", "first"),
            ],
        )
        .await;
    assert_eq!(data(&r), true);
    let d = data(&h.get(&cfg, &key).await);
    assert_eq!(d["dataId"], "app.yaml");
    assert_eq!(d["groupName"], "G");
    assert_eq!(d["namespaceId"], "public");
    assert_eq!(d["content"], "a: 1");
    assert_eq!(d["type"], "yaml");
    assert_eq!(d["appName"], "shop");
    assert_eq!(d["desc"], "first");
    assert!(d["id"].is_string(), "{d}");
    assert_eq!(d["md5"].as_str().map(str::len), Some(32));
    // v1 sees what v3 wrote, and v3 what v1 wrote.
    let v1 = h
        .get(
            &s.url("/nacos/v1/cs/configs"),
            &[("dataId", "app.yaml"), ("group", "G")],
        )
        .await;
    assert_eq!((v1.status, v1.body.as_str()), (200, "a: 1"));
    let r = h
        .post(
            &s.url("/nacos/v1/cs/configs"),
            &[
                ("dataId", "db.properties"),
                ("group", "G"),
                ("content", "x=1"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let d = data(
        &h.get(&cfg, &[("dataId", "db.properties"), ("groupName", "G")])
            .await,
    );
    assert_eq!(d["content"], "x=1");

    // Client API: the content a client is served; an absent config is
    // code 20004 with HTTP 200.
    let client = s.url("/nacos/v3/client/cs/config");
    let d = data(&h.get(&client, &key).await);
    assert_eq!(
        (d["content"].as_str(), d["contentType"].as_str()),
        (Some("a: 1"), Some("yaml"))
    );
    let r = h
        .get(&client, &[("dataId", "none"), ("groupName", "G")])
        .await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (200, Some(20004)));

    // Search: blur (default) and accurate, by content and type too.
    let list = s.url("/nacos/v3/admin/cs/config/list");
    let page = data(&h.get(&list, &[("dataId", "app*")]).await);
    assert_eq!(page["totalCount"], 1, "{page}");
    assert_eq!(page["pageItems"][0]["groupName"], "G");
    let page = data(&h.get(&list, &[("dataId", "app")]).await);
    assert_eq!(
        page["totalCount"], 0,
        "blur without a star is exact: {page}"
    );
    let page = data(
        &h.get(&list, &[("dataId", "app.yaml"), ("search", "accurate")])
            .await,
    );
    assert_eq!(page["totalCount"], 1, "{page}");
    let page = data(&h.get(&list, &[("configDetail", "x=*")]).await);
    assert_eq!(page["pageItems"][0]["dataId"], "db.properties", "{page}");
    let page = data(&h.get(&list, &[("type", "yaml,json")]).await);
    assert_eq!(page["totalCount"], 1, "{page}");
    assert_eq!(page["pageNumber"], 1);
    assert_eq!(page["pagesAvailable"], 1);

    // Beta: published with the betaIps header, read, stopped.
    let r = h
        .call(
            "POST",
            &cfg,
            &[],
            Some(&[
                ("dataId", "app.yaml"),
                ("groupName", "G"),
                ("content", "a: 2"),
            ]),
            &[("betaIps", "10.1.1.1")],
        )
        .await;
    assert_eq!(data(&r), true);
    let beta_url = s.url("/nacos/v3/admin/cs/config/beta");
    let b = data(&h.get(&beta_url, &key).await);
    assert_eq!(
        (b["grayName"].as_str(), b["content"].as_str()),
        (Some("beta"), Some("a: 2"))
    );
    assert!(
        b["grayRule"].as_str().unwrap_or("").contains("10.1.1.1"),
        "{b}"
    );
    assert_eq!(data(&h.delete(&beta_url, &key).await), true);
    refused(&h.get(&beta_url, &key).await, 20004);

    // History: list, one entry, the one before, every config.
    h.post(
        &cfg,
        &[
            ("dataId", "app.yaml"),
            ("groupName", "G"),
            ("content", "a: 3"),
        ],
    )
    .await;
    let hist = data(&h.get(&s.url("/nacos/v3/admin/cs/history/list"), &key).await);
    assert!(hist["totalCount"].as_u64().unwrap_or(0) >= 2, "{hist}");
    let newest = &hist["pageItems"][0];
    assert_eq!(newest["groupName"], "G");
    assert_eq!(newest["namespaceId"], "public");
    let nid = newest["id"].as_str().unwrap_or("").to_string();
    let mut q = key.to_vec();
    q.push(("nid", &nid));
    let one = data(&h.get(&s.url("/nacos/v3/admin/cs/history"), &q).await);
    // An entry keeps the version its change replaced (as in Nacos).
    assert_eq!(one["content"], "a: 1", "{one}");
    let config_id = d_id(&h, &cfg, &key).await;
    let mut q = key.to_vec();
    q.push(("id", &config_id));
    let prev = data(
        &h.get(&s.url("/nacos/v3/admin/cs/history/previous"), &q)
            .await,
    );
    assert!(prev["content"].is_string(), "{prev}");
    let all = data(
        &h.get(
            &s.url("/nacos/v3/admin/cs/history/configs"),
            &[("namespaceId", "")],
        )
        .await,
    );
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");

    // Description and tags change alone.
    let mut q = key.to_vec();
    q.push(("desc", "second"));
    q.push(("configTags", "t9"));
    let before = data(&h.get(&cfg, &key).await);
    assert_eq!(
        data(
            &h.put(&s.url("/nacos/v3/admin/cs/config/metadata"), &q)
                .await
        ),
        true
    );
    let after = data(&h.get(&cfg, &key).await);
    assert_eq!(
        (after["desc"].as_str(), after["configTags"].as_str()),
        (Some("second"), Some("t9")),
        "{after}"
    );
    assert_eq!(after["content"], before["content"]);
    assert_eq!(after["md5"], before["md5"]);

    // Listener queries answer their shapes.
    let l = data(
        &h.get(&s.url("/nacos/v3/admin/cs/config/listener"), &key)
            .await,
    );
    assert_eq!(l["queryType"], "config");
    assert!(l["listenersStatus"].is_object());
    let l = data(
        &h.get(
            &s.url("/nacos/v3/admin/cs/listener"),
            &[("ip", "127.0.0.1")],
        )
        .await,
    );
    assert_eq!(l["queryType"], "ip");

    // Bad input: 4xx, a code, a reason.
    refused(&h.get(&cfg, &[("dataId", "app.yaml")]).await, 10000);
    refused(&h.get(&cfg, &[("groupName", "G")]).await, 10000);
    refused(
        &h.post(&cfg, &[("dataId", "x"), ("groupName", "G")]).await,
        10000,
    );
    refused(&h.get(&list, &[("search", "fuzzy")]).await, 20002);
    refused(
        &h.get(
            &cfg,
            &[
                ("dataId", "app.yaml"),
                ("groupName", "G"),
                ("namespaceId", "no such/ns"),
            ],
        )
        .await,
        22000,
    );
    refused(
        &h.delete(&s.url("/nacos/v3/admin/cs/config/batch"), &[("ids", "x")])
            .await,
        20002,
    );

    // Batch delete by ids, then single delete; then 404/20004.
    let id = d_id(&h, &cfg, &[("dataId", "db.properties"), ("groupName", "G")]).await;
    let r = h
        .delete(&s.url("/nacos/v3/admin/cs/config/batch"), &[("ids", &id)])
        .await;
    assert_eq!(data(&r), true);
    refused(
        &h.get(&cfg, &[("dataId", "db.properties"), ("groupName", "G")])
            .await,
        20004,
    );
    assert_eq!(data(&h.delete(&cfg, &key).await), true);
    refused(&h.get(&cfg, &key).await, 20004);
}

async fn d_id(h: &Http, cfg: &str, key: &[(&str, &str)]) -> String {
    data(&h.get(cfg, key).await)["id"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_admin_and_client_routes() {
    let s = TestServer::start().await;
    let h = Http::new();
    let svc = s.url("/nacos/v3/admin/ns/service");
    let inst = s.url("/nacos/v3/admin/ns/instance");
    let r = h
        .post(
            &svc,
            &[
                ("serviceName", "orders"),
                ("ephemeral", "true"),
                ("protectThreshold", "0.2"),
                ("metadata", r#"{"team":"a"}"#),
            ],
        )
        .await;
    assert_eq!(data(&r), "ok");
    refused(&h.post(&svc, &[("serviceName", "orders")]).await, 21007);
    let d = data(&h.get(&svc, &[("serviceName", "orders")]).await);
    assert_eq!(d["namespaceId"], "public", "{d}");
    assert_eq!(d["groupName"], "DEFAULT_GROUP");
    assert_eq!(d["serviceName"], "orders");
    assert_eq!(d["metadata"]["team"], "a");
    assert_eq!(d["protectThreshold"], 0.2);

    for port in ["8080", "8081"] {
        let r = h
            .post(
                &inst,
                &[
                    ("serviceName", "orders"),
                    ("ip", "10.0.0.1"),
                    ("port", port),
                    ("metadata", r#"{"version":"v1"}"#),
                ],
            )
            .await;
        assert_eq!(data(&r), "ok");
    }
    // v1 lists what v3 registered.
    let v1 = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "orders")],
        )
        .await
        .json();
    assert_eq!(v1["hosts"].as_array().map(Vec::len), Some(2), "{v1}");

    let one = [
        ("serviceName", "orders"),
        ("ip", "10.0.0.1"),
        ("port", "8080"),
    ];
    let d = data(&h.get(&inst, &one).await);
    assert_eq!(
        (d["port"].as_u64(), d["serviceName"].as_str()),
        (Some(8080), Some("DEFAULT_GROUP@@orders"))
    );
    assert_eq!(d["clusterName"], "DEFAULT");
    // A partial update lays its metadata over the registered map.
    let mut q = one.to_vec();
    q.push(("metadata", r#"{"zone":"z1"}"#));
    q.push(("weight", "2"));
    assert_eq!(
        data(
            &h.put(&s.url("/nacos/v3/admin/ns/instance/partial"), &q)
                .await
        ),
        "ok"
    );
    let d = data(&h.get(&inst, &one).await);
    assert_eq!(d["metadata"]["version"], "v1", "{d}");
    assert_eq!(d["metadata"]["zone"], "z1", "{d}");
    assert_eq!(d["weight"], 2.0);
    // Metadata batch: laid over every instance, then keys removed.
    let batch = s.url("/nacos/v3/admin/ns/instance/metadata/batch");
    let r = h
        .put(
            &batch,
            &[("serviceName", "orders"), ("metadata", r#"{"env":"prod"}"#)],
        )
        .await;
    let updated = data(&r)["updated"].clone();
    assert_eq!(updated.as_array().map(Vec::len), Some(2), "{updated}");
    assert!(
        updated[0]
            .as_str()
            .unwrap_or("")
            .ends_with(":DEFAULT:ephemeral"),
        "{updated}"
    );
    let r = h
        .call(
            "DELETE",
            &batch,
            &[
                ("serviceName", "orders"),
                ("metadata", r#"{"env":""}"#),
                (
                    "instances",
                    r#"[{"ip":"10.0.0.1","port":8081,"clusterName":"DEFAULT"}]"#,
                ),
            ],
            None,
            &[],
        )
        .await;
    assert_eq!(data(&r)["updated"].as_array().map(Vec::len), Some(1));
    let list = data(
        &h.get(
            &s.url("/nacos/v3/admin/ns/instance/list"),
            &[("serviceName", "orders")],
        )
        .await,
    );
    let hosts = list.as_array().cloned().unwrap_or_default();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0]["metadata"]["env"], "prod", "{list}");
    assert!(hosts[1]["metadata"].get("env").is_none(), "{list}");
    let none = data(
        &h.get(
            &s.url("/nacos/v3/admin/ns/instance/list"),
            &[("serviceName", "orders"), ("clusterName", "other")],
        )
        .await,
    );
    assert_eq!(none, serde_json::json!([]));
    refused(
        &h.get(
            &s.url("/nacos/v3/admin/ns/instance/list"),
            &[("serviceName", "nobody")],
        )
        .await,
        20004,
    );

    // Service list, with counts or with instances.
    let page = data(&h.get(&s.url("/nacos/v3/admin/ns/service/list"), &[]).await);
    assert_eq!(page["totalCount"], 1, "{page}");
    let item = &page["pageItems"][0];
    assert_eq!(
        (item["name"].as_str(), item["ipCount"].as_u64()),
        (Some("orders"), Some(2))
    );
    assert_eq!(item["healthyInstanceCount"], 2);
    let page = data(
        &h.get(
            &s.url("/nacos/v3/admin/ns/service/list"),
            &[("withInstances", "true")],
        )
        .await,
    );
    let hosts = &page["pageItems"][0]["clusterMap"]["DEFAULT"]["hosts"];
    assert_eq!(hosts.as_array().map(Vec::len), Some(2), "{page}");
    let subs = data(
        &h.get(
            &s.url("/nacos/v3/admin/ns/service/subscribers"),
            &[("serviceName", "orders")],
        )
        .await,
    );
    assert_eq!(subs["totalCount"], 0);
    assert_eq!(
        data(
            &h.get(&s.url("/nacos/v3/admin/ns/service/selector/types"), &[])
                .await
        ),
        serde_json::json!(["none", "label"])
    );

    // Cluster, health checkers, ops.
    let r = h
        .put(
            &s.url("/nacos/v3/admin/ns/cluster"),
            &[
                ("serviceName", "orders"),
                ("clusterName", "DEFAULT"),
                ("checkPort", "81"),
                ("useIpPort4Check", "false"),
                ("healthChecker", r#"{"type":"TCP"}"#),
            ],
        )
        .await;
    assert_eq!(data(&r), "ok");
    let d = data(&h.get(&svc, &[("serviceName", "orders")]).await);
    let cluster = &d["clusterMap"]["DEFAULT"];
    assert_eq!(cluster["clusterName"], "DEFAULT", "{d}");
    assert_eq!(cluster["healthyCheckPort"], 81, "{d}");
    assert_eq!(cluster["useInstancePortForCheck"], false, "{d}");
    assert_eq!(cluster["healthChecker"]["type"], "TCP", "{d}");
    let c = data(
        &h.get(&s.url("/nacos/v3/admin/ns/health/checkers"), &[])
            .await,
    );
    assert_eq!(c["TCP"]["type"], "TCP");
    let m = data(&h.get(&s.url("/nacos/v3/admin/ns/ops/metrics"), &[]).await);
    assert_eq!(m, serde_json::json!({"status": "UP"}));
    let m = data(
        &h.get(
            &s.url("/nacos/v3/admin/ns/ops/metrics"),
            &[("onlyStatus", "false")],
        )
        .await,
    );
    assert_eq!(m["instanceCount"], 2, "{m}");
    // Clients as Nacos counts them: the two HTTP registrations are two
    // ip:port clients.
    assert_eq!(m["ephemeralIpPortClientCount"], 2, "{m}");
    assert_eq!(m["clientCount"], 2, "{m}");
    let ids = data(&h.get(&s.url("/nacos/v3/admin/ns/client/list"), &[]).await);
    assert_eq!(
        ids,
        serde_json::json!(["10.0.0.1:8080#true", "10.0.0.1:8081#true"])
    );
    let c = data(
        &h.get(
            &s.url("/nacos/v3/admin/ns/client"),
            &[("clientId", "10.0.0.1:8080#true")],
        )
        .await,
    );
    assert_eq!(
        (c["clientType"].as_str(), c["ephemeral"].as_bool()),
        (Some("ipPort"), Some(true)),
        "{c}"
    );
    let published = data(
        &h.get(
            &s.url("/nacos/v3/admin/ns/client/publish/list"),
            &[("clientId", "10.0.0.1:8080#true")],
        )
        .await,
    );
    assert_eq!(published[0]["serviceName"], "orders", "{published}");
    refused(
        &h.get(
            &s.url("/nacos/v3/admin/ns/client"),
            &[("clientId", "nobody")],
        )
        .await,
        20004,
    );
    let pubs = data(
        &h.get(
            &s.url("/nacos/v3/admin/ns/client/service/publisher/list"),
            &[("serviceName", "orders"), ("port", "8081")],
        )
        .await,
    );
    assert_eq!(
        pubs,
        serde_json::json!([{"clientId": "10.0.0.1:8081#true", "ip": "10.0.0.1", "port": 8081, "clusterName": "DEFAULT"}])
    );
    let subs = data(
        &h.get(
            &s.url("/nacos/v3/admin/ns/client/service/subscriber/list"),
            &[("serviceName", "orders")],
        )
        .await,
    );
    assert_eq!(subs, serde_json::json!([]));
    let d = data(
        &h.get(
            &s.url("/nacos/v3/admin/ns/client/distro"),
            &[("ip", "10.0.0.1"), ("port", "8081")],
        )
        .await,
    );
    assert!(
        d["responsibleServer"]
            .as_str()
            .is_some_and(|a| a.contains(':')),
        "{d}"
    );
    let sw = data(&h.get(&s.url("/nacos/v3/admin/ns/ops/switches"), &[]).await);
    assert_eq!(sw["defaultInstanceEphemeral"], true);

    // Client API: register, beat, list, deregister.
    let ci = s.url("/nacos/v3/client/ns/instance");
    let me = [("serviceName", "pay"), ("ip", "10.0.0.2"), ("port", "9000")];
    assert_eq!(data(&h.post(&ci, &me).await), "ok");
    let mut beat = me.to_vec();
    beat.push(("heartBeat", "true"));
    assert_eq!(data(&h.post(&ci, &beat).await), "ok");
    let r = h
        .post(
            &ci,
            &[
                ("serviceName", "pay"),
                ("ip", "10.0.0.3"),
                ("port", "1"),
                ("heartBeat", "true"),
            ],
        )
        .await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (200, Some(21003)));
    let listed = data(
        &h.get(
            &s.url("/nacos/v3/client/ns/instance/list"),
            &[("serviceName", "pay")],
        )
        .await,
    );
    assert_eq!(listed[0]["port"], 9000, "{listed}");
    assert_eq!(data(&h.delete(&ci, &me).await), "ok");
    let listed = data(
        &h.get(
            &s.url("/nacos/v3/client/ns/instance/list"),
            &[("serviceName", "pay")],
        )
        .await,
    );
    assert_eq!(listed, serde_json::json!([]));

    // Bad input.
    refused(
        &h.post(&inst, &[("ip", "10.0.0.1"), ("port", "1")]).await,
        10000,
    );
    refused(
        &h.post(
            &inst,
            &[("serviceName", "orders"), ("ip", "10.0.0.1"), ("port", "x")],
        )
        .await,
        20002,
    );
    refused(
        &h.post(
            &inst,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "1"),
                ("weight", "-1"),
            ],
        )
        .await,
        21001,
    );
    refused(
        &h.put(&batch, &[("serviceName", "orders"), ("instances", "[{")])
            .await,
        10000,
    );
    refused(
        &h.put(
            &batch,
            &[
                ("serviceName", "orders"),
                ("metadata", "{}"),
                ("instances", "[{"),
            ],
        )
        .await,
        20002,
    );
    refused(&h.delete(&svc, &[("serviceName", "nobody")]).await, 21008);
    // The service still has instances.
    refused(&h.delete(&svc, &[("serviceName", "orders")]).await, 21009);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_routes() {
    let s = TestServer::start().await;
    let h = Http::new();
    let ns = s.url("/nacos/v3/admin/core/namespace");
    let list = data(
        &h.get(&s.url("/nacos/v3/admin/core/namespace/list"), &[])
            .await,
    );
    assert_eq!(list[0]["namespace"], "public", "{list}");
    assert_eq!(list[0]["type"], 0);
    let r = h
        .post(
            &ns,
            &[
                ("namespaceId", "dev"),
                ("namespaceName", "Dev"),
                ("namespaceDesc", "d"),
            ],
        )
        .await;
    assert_eq!(data(&r), true);
    refused(
        &h.post(&ns, &[("namespaceId", "dev"), ("namespaceName", "Dev")])
            .await,
        22002,
    );
    let d = data(&h.get(&ns, &[("namespaceId", "dev")]).await);
    assert_eq!(
        (d["namespace"].as_str(), d["namespaceShowName"].as_str()),
        (Some("dev"), Some("Dev"))
    );
    let check = s.url("/nacos/v3/admin/core/namespace/check");
    assert_eq!(data(&h.get(&check, &[("namespaceId", "dev")]).await), 1);
    assert_eq!(data(&h.get(&check, &[("namespaceId", "nope")]).await), 0);
    let r = h
        .put(
            &ns,
            &[("namespaceId", "dev"), ("namespaceName", "Development")],
        )
        .await;
    assert_eq!(data(&r), true);
    assert_eq!(
        data(&h.get(&ns, &[("namespaceId", "dev")]).await)["namespaceShowName"],
        "Development"
    );
    // A config in the namespace, through v3, is seen by v1 with tenant=dev.
    let r = h
        .post(
            &s.url("/nacos/v3/admin/cs/config"),
            &[
                ("dataId", "d"),
                ("groupName", "G"),
                ("namespaceId", "dev"),
                ("content", "c"),
            ],
        )
        .await;
    assert_eq!(data(&r), true);
    let v1 = h
        .get(
            &s.url("/nacos/v1/cs/configs"),
            &[("dataId", "d"), ("group", "G"), ("tenant", "dev")],
        )
        .await;
    assert_eq!(v1.body, "c");
    assert_eq!(data(&h.delete(&ns, &[("namespaceId", "dev")]).await), true);
    refused(&h.get(&ns, &[("namespaceId", "dev")]).await, 22001);
    refused(&h.get(&ns, &[]).await, 10000);
    refused(&h.post(&ns, &[("namespaceId", "x")]).await, 10000);

    let st = data(&h.get(&s.url("/nacos/v3/admin/core/state"), &[]).await);
    assert_eq!(st["startup_mode"], "standalone");
    assert_eq!(st["auth_enabled"], "false");
    assert!(st["version"].is_string());
    let bare = h
        .get(&s.url("/nacos/v1/console/server/state"), &[])
        .await
        .json();
    assert_eq!(bare["startup_mode"], "standalone");
    assert_eq!(
        data(
            &h.get(&s.url("/nacos/v3/admin/core/state/liveness"), &[])
                .await
        ),
        "ok"
    );
    assert_eq!(
        data(
            &h.get(&s.url("/nacos/v3/admin/core/state/readiness"), &[])
                .await
        ),
        "ok"
    );
    let me = data(
        &h.get(&s.url("/nacos/v3/admin/core/cluster/node/self"), &[])
            .await,
    );
    assert_eq!(me["state"], "UP", "{me}");
    let nodes = data(
        &h.get(&s.url("/nacos/v3/admin/core/cluster/node/list"), &[])
            .await,
    );
    assert_eq!(nodes.as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_ops_build_a_snapshot_now_and_refuse_what_nocas_does_not_do() {
    let s = TestServer::start().await;
    let h = Http::new();
    let cfg = s.url("/nacos/v1/cs/configs");
    for i in 0..20 {
        let r = h
            .post(
                &cfg,
                &[
                    ("dataId", &format!("d{i}")),
                    ("group", "G"),
                    ("content", "x"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let index = |d: &Value| -> u64 {
        d.as_str()
            .and_then(|t| t.strip_prefix("snapshot at index "))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no index in {d}"))
    };
    // v3 and v2: the JSON body Nacos reads.
    let ops = s.url("/nacos/v3/admin/core/ops/raft");
    let body = br#"{"groupId":"naming_persistent_service_v2","command":"doSnapshot","value":""}"#;
    let r = h.raw("POST", &ops, "application/json", body.to_vec()).await;
    let first = index(&data(&r));
    assert!(first >= 20, "{first}");
    let bytes = |m: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix("nocas_raft_snapshot_bytes "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let m = h.get(&s.url("/metrics"), &[]).await.body;
    assert!(bytes(&m) > 0.0, "{m}");
    assert!(
        m.contains("nocas_raft_snapshot_build_seconds_count 1"),
        "{m}"
    );
    h.post(
        &cfg,
        &[("dataId", "later"), ("group", "G"), ("content", "y")],
    )
    .await;
    let r = h
        .raw(
            "POST",
            &s.url("/nacos/v2/core/ops/raft"),
            "application/json",
            br#"{"command":"doSnapshot"}"#.to_vec(),
        )
        .await;
    assert!(index(&data(&r)) > first);
    // v1, with form parameters as Nacos's maintainer SDK sends them.
    let r = h
        .post(
            &s.url("/nacos/v1/core/ops/raft"),
            &[("command", "doSnapshot")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["code"], 200, "{}", r.body);
    // Refusals: a clear 4xx with the reason.
    let r = h
        .raw(
            "POST",
            &ops,
            "application/json",
            br#"{"command":"transferLeader","value":"127.0.0.1:7848"}"#.to_vec(),
        )
        .await;
    refused(&r, 20002);
    assert!(r.body.contains("not supported"), "{}", r.body);
    refused(
        &h.raw(
            "POST",
            &ops,
            "application/json",
            br#"{"command":"fly"}"#.to_vec(),
        )
        .await,
        20002,
    );
    refused(
        &h.raw("POST", &ops, "application/json", b"{}".to_vec())
            .await,
        10000,
    );
    refused(
        &h.raw("POST", &ops, "application/json", b"{not json".to_vec())
            .await,
        20002,
    );
    let r = h
        .raw(
            "POST",
            &ops,
            "application/json",
            br#"{"command":"doSnapshot","value":"10.9.9.9:7848"}"#.to_vec(),
        )
        .await;
    refused(&r, 20002);
    assert!(r.body.contains("send it to 10.9.9.9:7848"), "{}", r.body);
    let r = h
        .post(&s.url("/nacos/v1/core/ops/raft"), &[("command", "fly")])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("unknown command"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v3_route_refuses_missing_parameters_with_a_4xx() {
    let s = TestServer::start().await;
    let h = Http::new();
    let routes = [
        ("GET", "/nacos/v3/admin/cs/config"),
        ("POST", "/nacos/v3/admin/cs/config"),
        ("DELETE", "/nacos/v3/admin/cs/config"),
        ("DELETE", "/nacos/v3/admin/cs/config/batch"),
        ("PUT", "/nacos/v3/admin/cs/config/metadata"),
        ("GET", "/nacos/v3/admin/cs/config/listener"),
        ("GET", "/nacos/v3/admin/cs/config/beta"),
        ("DELETE", "/nacos/v3/admin/cs/config/beta"),
        ("GET", "/nacos/v3/admin/cs/history"),
        ("GET", "/nacos/v3/admin/cs/history/list"),
        ("GET", "/nacos/v3/admin/cs/history/previous"),
        ("GET", "/nacos/v3/admin/cs/listener"),
        ("POST", "/nacos/v3/admin/ns/service"),
        ("PUT", "/nacos/v3/admin/ns/service"),
        ("DELETE", "/nacos/v3/admin/ns/service"),
        ("GET", "/nacos/v3/admin/ns/service"),
        ("GET", "/nacos/v3/admin/ns/service/subscribers"),
        ("POST", "/nacos/v3/admin/ns/instance"),
        ("PUT", "/nacos/v3/admin/ns/instance"),
        ("DELETE", "/nacos/v3/admin/ns/instance"),
        ("GET", "/nacos/v3/admin/ns/instance"),
        ("PUT", "/nacos/v3/admin/ns/instance/partial"),
        ("PUT", "/nacos/v3/admin/ns/instance/metadata/batch"),
        ("DELETE", "/nacos/v3/admin/ns/instance/metadata/batch"),
        ("GET", "/nacos/v3/admin/ns/instance/list"),
        ("PUT", "/nacos/v3/admin/ns/cluster"),
        ("PUT", "/nacos/v3/admin/ns/health/instance"),
        ("GET", "/nacos/v3/admin/ns/client"),
        ("GET", "/nacos/v3/admin/ns/client/service/publisher/list"),
        ("GET", "/nacos/v3/admin/ns/client/service/subscriber/list"),
        ("GET", "/nacos/v3/admin/ns/client/distro"),
        ("GET", "/nacos/v3/admin/core/namespace"),
        ("POST", "/nacos/v3/admin/core/namespace"),
        ("PUT", "/nacos/v3/admin/core/namespace"),
        ("DELETE", "/nacos/v3/admin/core/namespace"),
        ("GET", "/nacos/v3/admin/core/namespace/check"),
        ("GET", "/nacos/v3/client/cs/config"),
        ("POST", "/nacos/v3/client/ns/instance"),
        ("DELETE", "/nacos/v3/client/ns/instance"),
        ("GET", "/nacos/v3/client/ns/instance/list"),
        ("POST", "/nacos/v3/auth/user"),
        ("PUT", "/nacos/v3/auth/user"),
        ("DELETE", "/nacos/v3/auth/user"),
        ("GET", "/nacos/v3/auth/user/search"),
        ("POST", "/nacos/v3/auth/role"),
        ("DELETE", "/nacos/v3/auth/role"),
        ("GET", "/nacos/v3/auth/role/search"),
        ("POST", "/nacos/v3/auth/permission"),
        ("DELETE", "/nacos/v3/auth/permission"),
        ("GET", "/nacos/v3/auth/permission"),
        ("POST", "/nacos/v3/auth/user/login"),
    ];
    for (method, path) in routes {
        let r = h.call(method, &s.url(path), &[], None, &[]).await;
        assert!(
            (400..500).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
        let v = r.json();
        assert!(
            v["code"].as_u64().is_some_and(|c| c != 0),
            "{method} {path}: {v}"
        );
        assert!(
            v["data"].as_str().is_some_and(|d| !d.is_empty())
                || v["message"].as_str().is_some_and(|d| !d.is_empty()),
            "{method} {path}: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_routes_and_checks_with_auth_on() {
    let s = TestServer::start_with(|st| {
        st.auth.enabled = true;
        st.auth.admin_password = Some("admin-pass".into());
        st.auth.token_secret = Some("0123456789abcdef0123456789abcdef".into());
    })
    .await;
    let h = Http::new();
    // No token: refused on admin and client routes alike (403, an envelope).
    let r = h
        .get(
            &s.url("/nacos/v3/admin/cs/config"),
            &[("dataId", "a"), ("groupName", "G")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["code"], 403);
    // State and health answer without a token.
    assert_eq!(
        data(&h.get(&s.url("/nacos/v3/admin/core/state"), &[]).await)["auth_enabled"],
        "true"
    );
    let login = h
        .post(
            &s.url("/nacos/v3/auth/user/login"),
            &[("username", "nacos"), ("password", "admin-pass")],
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.json()["accessToken"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let t = [("accessToken", token.as_str())];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut q: Vec<(&str, &str)> = vec![("accessToken", token.as_str())];
        q.extend_from_slice(extra);
        q
    };
    // The first administrator exists: user/admin refuses (code 409).
    let r = h.post(&s.url("/nacos/v3/auth/user/admin"), &[]).await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (200, Some(409)));

    let user = s.url("/nacos/v3/auth/user");
    let r = h
        .call(
            "POST",
            &user,
            &t,
            Some(&[("username", "alice"), ("password", "pw-alice")]),
            &[],
        )
        .await;
    assert_eq!(data(&r), "create user ok!");
    let users = data(&h.get(&s.url("/nacos/v3/auth/user/list"), &with(&[])).await);
    assert_eq!(users["totalCount"], 2, "{users}");
    assert!(
        users["pageItems"][0].get("password").is_none(),
        "no hashes: {users}"
    );
    let found = data(
        &h.get(
            &s.url("/nacos/v3/auth/user/search"),
            &with(&[("username", "ali")]),
        )
        .await,
    );
    assert_eq!(found, serde_json::json!(["alice"]));
    let role = s.url("/nacos/v3/auth/role");
    let r = h
        .call(
            "POST",
            &role,
            &t,
            Some(&[("role", "dev"), ("username", "alice")]),
            &[],
        )
        .await;
    assert_eq!(data(&r), "add role ok!");
    let roles = data(
        &h.get(
            &s.url("/nacos/v3/auth/role/list"),
            &with(&[("username", "alice")]),
        )
        .await,
    );
    assert_eq!(roles["pageItems"][0]["role"], "dev", "{roles}");
    let found = data(
        &h.get(
            &s.url("/nacos/v3/auth/role/search"),
            &with(&[("role", "de")]),
        )
        .await,
    );
    assert_eq!(found, serde_json::json!(["dev"]));
    let perm = s.url("/nacos/v3/auth/permission");
    let grant = [
        ("role", "dev"),
        ("resource", "public:G:config/*"),
        ("action", "r"),
    ];
    let r = h.call("POST", &perm, &t, Some(&grant), &[]).await;
    assert_eq!(data(&r), "add permission ok!");
    let mut q = with(&[]);
    q.extend_from_slice(&grant);
    assert_eq!(data(&h.get(&perm, &q).await), true);
    let perms = data(
        &h.get(
            &s.url("/nacos/v3/auth/permission/list"),
            &with(&[("role", "dev")]),
        )
        .await,
    );
    assert_eq!(perms["pageItems"][0]["action"], "r", "{perms}");

    // Alice reads G's configs through v3, and may not write them.
    let alice = h
        .post(
            &s.url("/nacos/v3/auth/user/login"),
            &[("username", "alice"), ("password", "pw-alice")],
        )
        .await
        .json()["accessToken"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let cfg = s.url("/nacos/v3/admin/cs/config");
    let r = h
        .call(
            "POST",
            &cfg,
            &t,
            Some(&[("dataId", "a"), ("groupName", "G"), ("content", "v")]),
            &[],
        )
        .await;
    assert_eq!(data(&r), true);
    let read = h
        .get(
            &cfg,
            &[("dataId", "a"), ("groupName", "G"), ("accessToken", &alice)],
        )
        .await;
    assert_eq!(data(&read)["content"], "v");
    let write = h
        .call(
            "POST",
            &cfg,
            &[("accessToken", alice.as_str())],
            Some(&[("dataId", "a"), ("groupName", "G"), ("content", "w")]),
            &[],
        )
        .await;
    assert_eq!(write.status, 403, "{}", write.body);
    let other = h
        .get(
            &cfg,
            &[("dataId", "a"), ("groupName", "H"), ("accessToken", &alice)],
        )
        .await;
    assert_eq!(other.status, 403, "{}", other.body);
    // Alice may change her own password, not another's.
    let r = h
        .call(
            "PUT",
            &user,
            &[("accessToken", alice.as_str())],
            Some(&[("username", "alice"), ("newPassword", "pw2")]),
            &[],
        )
        .await;
    assert_eq!(data(&r), "update user ok!");
    let r = h
        .call(
            "PUT",
            &user,
            &[("accessToken", alice.as_str())],
            Some(&[("username", "nacos"), ("newPassword", "pw2")]),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);

    let r = h.call("DELETE", &perm, &q, None, &[]).await;
    assert_eq!(data(&r), "delete permission ok!");
    let r = h
        .call(
            "DELETE",
            &role,
            &with(&[("role", "dev"), ("username", "alice")]),
            None,
            &[],
        )
        .await;
    assert_eq!(data(&r), "delete role of user alice ok!");
    let r = h
        .call("DELETE", &user, &with(&[("username", "alice")]), None, &[])
        .await;
    assert_eq!(data(&r), "delete user ok!");
}
