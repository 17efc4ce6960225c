//! Naming over HTTP v1 and v2 against a real server on loopback.

use nocas_testkit::{Http, TestServer};
use serde_json::Value;

fn ports(list: &Value) -> Vec<u64> {
    let mut p: Vec<u64> = list["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["port"].as_u64().unwrap())
        .collect();
    p.sort();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_list_update_deregister_v1() {
    let s = TestServer::start().await;
    let h = Http::new();
    let inst = s.url("/nacos/v1/ns/instance");
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
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    }
    let list = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "orders")],
        )
        .await
        .json();
    assert_eq!(list["name"], "DEFAULT_GROUP@@orders");
    assert_eq!(list["groupName"], "DEFAULT_GROUP");
    assert_eq!(list["clusters"], "");
    assert_eq!(ports(&list), vec![8080, 8081]);
    let host = &list["hosts"][0];
    assert_eq!(
        host["instanceId"],
        "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders"
    );
    assert_eq!(host["metadata"]["version"], "v1");
    assert_eq!(host["ephemeral"], true);
    assert_eq!(host["instanceHeartBeatTimeOut"], 15000);

    // Grouped name in serviceName, query parameters on PUT.
    let r = h
        .call(
            "PUT",
            &inst,
            &[
                ("serviceName", "DEFAULT_GROUP@@orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
                ("weight", "3"),
                ("enabled", "false"),
            ],
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = h
        .get(
            &inst,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await
        .json();
    assert_eq!(d["weight"], 3.0);
    assert_eq!(d["enabled"], false);
    assert_eq!(d["service"], "DEFAULT_GROUP@@orders");
    // An update lays its metadata over the registered map (Nacos).
    assert_eq!(d["metadata"]["version"], "v1", "{d}");
    // Disabled instances are not listed.
    let list = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "orders")],
        )
        .await
        .json();
    assert_eq!(ports(&list), vec![8081]);

    let r = h
        .call(
            "PATCH",
            &inst,
            &[],
            Some(&[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
                ("enabled", "true"),
                ("metadata", r#"{"zone":"a"}"#),
            ]),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = h
        .get(
            &inst,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await
        .json();
    assert_eq!(
        (d["enabled"].as_bool(), d["weight"].as_f64()),
        (Some(true), Some(3.0))
    );
    // A patch's metadata is laid over key by key: the registered key stays.
    assert_eq!(d["metadata"]["version"], "v1", "{d}");
    assert_eq!(d["metadata"]["zone"], "a", "{d}");

    let r = h
        .delete(
            &inst,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    let list = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "orders")],
        )
        .await
        .json();
    assert_eq!(ports(&list), vec![8081]);
    let r = h
        .get(
            &inst,
            &[
                ("serviceName", "orders"),
                ("ip", "10.0.0.1"),
                ("port", "8080"),
            ],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_healthy_only_and_protection_threshold() {
    let s = TestServer::start().await;
    let h = Http::new();
    let inst = s.url("/nacos/v1/ns/instance");
    let list = s.url("/nacos/v1/ns/instance/list");
    // Persistent instances so health can be set by hand.
    for (port, cluster) in [("1", "A"), ("2", "A"), ("3", "B"), ("4", "B")] {
        let r = h
            .post(
                &inst,
                &[
                    ("serviceName", "pay"),
                    ("ip", "10.1.1.1"),
                    ("port", port),
                    ("clusterName", cluster),
                    ("ephemeral", "false"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let got = h
        .get(&list, &[("serviceName", "pay"), ("clusters", "B")])
        .await
        .json();
    assert_eq!(ports(&got), vec![3, 4]);
    assert_eq!(got["clusters"], "B");

    for port in ["1", "2", "3"] {
        let r = h
            .put(
                &s.url("/nacos/v1/ns/health/instance"),
                &[
                    ("serviceName", "pay"),
                    ("ip", "10.1.1.1"),
                    ("port", port),
                    ("clusterName", if port == "3" { "B" } else { "A" }),
                    ("healthy", "false"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // 1 of 4 healthy, threshold 0: healthyOnly filters.
    let got = h
        .get(&list, &[("serviceName", "pay"), ("healthyOnly", "true")])
        .await
        .json();
    assert_eq!(ports(&got), vec![4]);
    assert_eq!(got["reachProtectionThreshold"], false);
    let got = h.get(&list, &[("serviceName", "pay")]).await.json();
    assert_eq!(ports(&got), vec![1, 2, 3, 4]);

    // Threshold 0.5: 25% healthy is below it, so all come back, as healthy.
    let r = h
        .put(
            &s.url("/nacos/v1/ns/service"),
            &[("serviceName", "pay"), ("protectThreshold", "0.5")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = h
        .get(&list, &[("serviceName", "pay"), ("healthyOnly", "true")])
        .await
        .json();
    assert_eq!(got["reachProtectionThreshold"], true);
    assert_eq!(ports(&got), vec![1, 2, 3, 4]);
    assert!(
        got["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["healthy"] == true)
    );

    // Persistent and ephemeral instances don't mix.
    let r = h
        .post(
            &inst,
            &[("serviceName", "pay"), ("ip", "10.1.1.2"), ("port", "9")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("persistent service"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_crud_list_and_paging() {
    let s = TestServer::start().await;
    let h = Http::new();
    let svc = s.url("/nacos/v1/ns/service");
    for name in ["a", "b", "c"] {
        let r = h
            .post(
                &svc,
                &[
                    ("serviceName", name),
                    ("groupName", "G"),
                    ("protectThreshold", "0.3"),
                    ("metadata", "k=v"),
                ],
            )
            .await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    }
    let r = h
        .post(&svc, &[("serviceName", "a"), ("groupName", "G")])
        .await;
    assert_eq!(r.status, 400, "duplicate create: {}", r.body);
    let d = h
        .get(&svc, &[("serviceName", "a"), ("groupName", "G")])
        .await
        .json();
    assert_eq!(d["name"], "a");
    assert_eq!(d["groupName"], "G");
    assert_eq!(d["protectThreshold"], 0.3);
    assert_eq!(d["metadata"]["k"], "v");
    assert_eq!(d["selector"]["type"], "none");

    let page = h
        .get(
            &s.url("/nacos/v1/ns/service/list"),
            &[("groupName", "G"), ("pageNo", "2"), ("pageSize", "2")],
        )
        .await
        .json();
    assert_eq!(page["count"], 3);
    assert_eq!(page["doms"], serde_json::json!(["c"]));
    let v2 = h
        .get(
            &s.url("/nacos/v2/ns/service/list"),
            &[("groupName", "G"), ("pageNo", "1"), ("pageSize", "10")],
        )
        .await
        .json();
    assert_eq!(v2["code"], 0);
    assert_eq!(v2["data"]["services"], serde_json::json!(["a", "b", "c"]));

    // A service with instances cannot be deleted.
    h.post(
        &s.url("/nacos/v1/ns/instance"),
        &[
            ("serviceName", "b"),
            ("groupName", "G"),
            ("ip", "1.1.1.1"),
            ("port", "1"),
        ],
    )
    .await;
    let r = h
        .delete(&svc, &[("serviceName", "b"), ("groupName", "G")])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("not empty"), "{}", r.body);
    let r = h
        .delete(&svc, &[("serviceName", "a"), ("groupName", "G")])
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    let r = h
        .get(&svc, &[("serviceName", "a"), ("groupName", "G")])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let v2 = h
        .get(
            &s.url("/nacos/v2/ns/service"),
            &[("serviceName", "a"), ("groupName", "G")],
        )
        .await;
    assert_eq!(v2.json()["code"], 21008);

    // v2 create / get / update / delete.
    let r = h
        .post(
            &s.url("/nacos/v2/ns/service"),
            &[
                ("serviceName", "z"),
                ("ephemeral", "true"),
                ("protectThreshold", "0.1"),
            ],
        )
        .await;
    assert_eq!(r.json()["data"], "ok");
    let d = h
        .get(&s.url("/nacos/v2/ns/service"), &[("serviceName", "z")])
        .await
        .json();
    assert_eq!(d["data"]["ephemeral"], true);
    assert_eq!(d["data"]["protectThreshold"], 0.1);
    let r = h
        .call(
            "PUT",
            &s.url("/nacos/v2/ns/service"),
            &[("serviceName", "z"), ("protectThreshold", "0.9")],
            None,
            &[],
        )
        .await;
    assert_eq!(r.json()["code"], 0);
    let d = h
        .get(&s.url("/nacos/v2/ns/service"), &[("serviceName", "z")])
        .await
        .json();
    assert_eq!(d["data"]["protectThreshold"], 0.9);
    let r = h
        .delete(&s.url("/nacos/v2/ns/service"), &[("serviceName", "z")])
        .await;
    assert_eq!(r.json()["code"], 0);

    let m = h
        .get(&s.url("/nacos/v1/ns/operator/metrics"), &[])
        .await
        .json();
    assert_eq!(m["status"], "UP");
    let m = h
        .get(
            &s.url("/nacos/v1/ns/operator/metrics"),
            &[("onlyStatus", "false")],
        )
        .await
        .json();
    assert_eq!(m["instanceCount"], 1);
    assert!(m["serviceCount"].as_u64().unwrap() >= 2);
    let cat = h
        .get(
            &s.url("/nacos/v1/ns/catalog/services"),
            &[("pageNo", "1"), ("pageSize", "10")],
        )
        .await
        .json();
    assert_eq!(cat["count"], 2, "{cat}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_instance_api() {
    let s = TestServer::start().await;
    let h = Http::new();
    let inst = s.url("/nacos/v2/ns/instance");
    let r = h
        .post(
            &inst,
            &[
                ("serviceName", "v2svc"),
                ("groupName", "G2"),
                ("ip", "10.2.2.2"),
                ("port", "80"),
                ("weight", "2.5"),
            ],
        )
        .await;
    assert_eq!(
        r.json(),
        serde_json::json!({"code": 0, "message": "success", "data": "ok"})
    );
    let d = h
        .get(
            &inst,
            &[
                ("serviceName", "v2svc"),
                ("groupName", "G2"),
                ("ip", "10.2.2.2"),
                ("port", "80"),
            ],
        )
        .await
        .json();
    assert_eq!(d["data"]["serviceName"], "G2@@v2svc");
    assert_eq!(d["data"]["weight"], 2.5);
    let l = h
        .get(
            &s.url("/nacos/v2/ns/instance/list"),
            &[("serviceName", "v2svc"), ("groupName", "G2")],
        )
        .await
        .json();
    assert_eq!(l["data"]["name"], "G2@@v2svc");
    assert_eq!(l["data"]["hosts"][0]["port"], 80);
    let r = h
        .post(
            &inst,
            &[
                ("serviceName", "v2svc"),
                ("ip", "10.2.2.2"),
                ("port", "80"),
                ("weight", "-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], 21001);
    let r = h.post(&inst, &[("ip", "10.2.2.2"), ("port", "80")]).await;
    assert_eq!(r.json()["code"], 10000);
    let r = h
        .delete(
            &inst,
            &[
                ("serviceName", "v2svc"),
                ("groupName", "G2"),
                ("ip", "10.2.2.2"),
                ("port", "80"),
            ],
        )
        .await;
    assert_eq!(r.json()["data"], "ok");
    let r = h
        .get(
            &inst,
            &[
                ("serviceName", "v2svc"),
                ("groupName", "G2"),
                ("ip", "10.2.2.2"),
                ("port", "80"),
            ],
        )
        .await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (404, Some(20004)));
}

/// What an operator sets on an instance is kept apart from its
/// registration (Nacos's instance metadata): it survives the client
/// registering again, a partial update replaces the operator's map (the
/// registered keys stay shown), and it is dropped once the instance has
/// been gone for the expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_overrides_outlive_registrations_and_expire_with_the_instance() {
    let s = TestServer::start_with(|st| {
        st.naming.override_expire_ms = 300;
        st.naming.override_check_interval_ms = 50;
    })
    .await;
    let h = Http::new();
    let inst = s.url("/nacos/v1/ns/instance");
    let me = [
        ("serviceName", "ovr"),
        ("ip", "10.0.0.9"),
        ("port", "80"),
        ("metadata", r#"{"reg":"r1"}"#),
    ];
    assert_eq!(h.post(&inst, &me).await.status, 200);
    let detail = || async {
        h.get(
            &inst,
            &[("serviceName", "ovr"), ("ip", "10.0.0.9"), ("port", "80")],
        )
        .await
        .json()
    };
    // Taken out of service by an operator, with a note.
    let r = h
        .call(
            "PUT",
            &inst,
            &[],
            Some(&[
                ("serviceName", "ovr"),
                ("ip", "10.0.0.9"),
                ("port", "80"),
                ("enabled", "false"),
                ("metadata", r#"{"upd":"u1"}"#),
            ]),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = detail().await;
    assert_eq!(
        (
            d["enabled"].as_bool(),
            d["metadata"]["reg"].as_str(),
            d["metadata"]["upd"].as_str()
        ),
        (Some(false), Some("r1"), Some("u1")),
        "{d}"
    );
    // The client registers again (a restart, a redo): still out.
    assert_eq!(h.post(&inst, &me).await.status, 200);
    let d = detail().await;
    assert_eq!(d["enabled"], false, "{d}");
    let list = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "ovr")],
        )
        .await
        .json();
    assert_eq!(
        list["hosts"].as_array().map(Vec::len),
        Some(0),
        "disabled instances are not listed: {list}"
    );
    // A partial update's metadata replaces the operator's map.
    let r = h
        .call(
            "PATCH",
            &inst,
            &[],
            Some(&[
                ("serviceName", "ovr"),
                ("ip", "10.0.0.9"),
                ("port", "80"),
                ("metadata", r#"{"part":"p1"}"#),
            ]),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = detail().await;
    assert_eq!(d["metadata"]["part"], "p1", "{d}");
    assert_eq!(d["metadata"]["reg"], "r1", "{d}");
    assert!(d["metadata"].get("upd").is_none(), "{d}");
    assert_eq!(d["enabled"], false, "untouched by the patch: {d}");
    // Gone for longer than the expiry: a new instance at the address
    // starts clean.
    let r = h
        .delete(
            &inst,
            &[("serviceName", "ovr"), ("ip", "10.0.0.9"), ("port", "80")],
        )
        .await;
    assert_eq!(r.status, 200);
    nocas_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "the override expires",
        || async {
            s.running()
                .app()
                .node
                .state()
                .read()
                .overrides(&nocas_core::names::ServiceKey::new(
                    nocas_core::names::NamespaceId::public(),
                    nocas_core::names::GroupName::default_group(),
                    nocas_core::names::ServiceName::parse("ovr").unwrap(),
                ))
                .is_none()
        },
    )
    .await;
    assert_eq!(h.post(&inst, &me).await.status, 200);
    let d = detail().await;
    assert_eq!(d["enabled"], true, "{d}");
    assert!(d["metadata"].get("part").is_none(), "{d}");
}
