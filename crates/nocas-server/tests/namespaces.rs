//! Namespaces (v1 and v2 console APIs) and isolation of data between them.

use nocas_testkit::{Http, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_crud_v1_and_v2() {
    let s = TestServer::start().await;
    let h = Http::new();
    let ns = s.url("/nacos/v1/console/namespaces");
    let list = h.get(&ns, &[]).await.json();
    assert_eq!(list["code"], 200);
    assert_eq!(list["data"][0]["namespace"], "");
    assert_eq!(list["data"][0]["namespaceShowName"], "public");
    assert_eq!(list["data"][0]["type"], 0);

    let r = h
        .post(
            &ns,
            &[
                ("customNamespaceId", "dev"),
                ("namespaceName", "Development"),
                ("namespaceDesc", "d"),
            ],
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    let r = h
        .post(
            &ns,
            &[("customNamespaceId", "dev"), ("namespaceName", "Again")],
        )
        .await;
    assert_eq!(r.status, 400, "duplicate: {}", r.body);
    let r = h
        .post(
            &ns,
            &[("customNamespaceId", "bad/id"), ("namespaceName", "x")],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post(
            &ns,
            &[("customNamespaceId", "x1"), ("namespaceName", "bad@name")],
        )
        .await;
    assert_eq!(r.status, 400);
    // A blank id gets a generated one.
    let r = h.post(&ns, &[("namespaceName", "Generated")]).await;
    assert_eq!(r.status, 200);
    let list = h.get(&ns, &[]).await.json();
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[1]["namespace"], "dev");
    assert_eq!(items[1]["type"], 2);
    assert_eq!(items[2]["namespace"].as_str().unwrap().len(), 36);

    let exists = h
        .get(
            &ns,
            &[
                ("checkNamespaceIdExist", "true"),
                ("customNamespaceId", "dev"),
            ],
        )
        .await;
    assert_eq!(exists.body, "true");
    let one = h
        .get(&ns, &[("show", "all"), ("namespaceId", "dev")])
        .await
        .json();
    assert_eq!(one["namespaceShowName"], "Development");

    let r = h
        .put(
            &ns,
            &[
                ("namespace", "dev"),
                ("namespaceShowName", "Dev"),
                ("namespaceDesc", "new"),
            ],
        )
        .await;
    assert_eq!(r.body, "true");
    let r = h.delete(&ns, &[("namespaceId", "dev")]).await;
    assert_eq!(r.body, "true");
    let r = h.delete(&ns, &[("namespaceId", "public")]).await;
    assert_eq!(r.status, 400);

    let v2 = s.url("/nacos/v2/console/namespace");
    let r = h
        .post(
            &v2,
            &[("namespaceId", "prod"), ("namespaceName", "Production")],
        )
        .await;
    assert_eq!(r.json()["data"], true);
    let r = h.get(&v2, &[("namespaceId", "prod")]).await.json();
    assert_eq!(r["data"]["namespaceShowName"], "Production");
    let r = h
        .post(&v2, &[("namespaceId", "prod"), ("namespaceName", "P")])
        .await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (400, Some(22002)));
    let r = h
        .put(&v2, &[("namespaceId", "prod"), ("namespaceName", "Prod")])
        .await;
    assert_eq!(r.json()["data"], true);
    let l = h
        .get(&s.url("/nacos/v2/console/namespace/list"), &[])
        .await
        .json();
    assert!(
        l["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["namespaceShowName"] == "Prod")
    );
    let r = h.delete(&v2, &[("namespaceId", "prod")]).await;
    assert_eq!(r.json()["data"], true);
    let r = h.get(&v2, &[("namespaceId", "prod")]).await;
    assert_eq!((r.status, r.json()["code"].as_u64()), (404, Some(22001)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_in_one_namespace_is_invisible_from_another() {
    let s = TestServer::start().await;
    let h = Http::new();
    h.post(
        &s.url("/nacos/v1/console/namespaces"),
        &[("customNamespaceId", "dev"), ("namespaceName", "dev")],
    )
    .await;
    // `test` was never created: writes into it are accepted, as in Nacos.
    for (ns, port) in [("dev", "1"), ("test", "2")] {
        let r = h
            .post(
                &s.url("/nacos/v1/ns/instance"),
                &[
                    ("namespaceId", ns),
                    ("serviceName", "svc"),
                    ("ip", "10.0.0.1"),
                    ("port", port),
                ],
            )
            .await;
        assert_eq!(r.status, 200);
        let r = h
            .post(
                &s.url("/nacos/v1/cs/configs"),
                &[
                    ("tenant", ns),
                    ("dataId", "app"),
                    ("group", "G"),
                    ("content", ns),
                ],
            )
            .await;
        assert_eq!(r.status, 200);
    }
    for (ns, port, content) in [("dev", 1, "dev"), ("test", 2, "test")] {
        let list = h
            .get(
                &s.url("/nacos/v1/ns/instance/list"),
                &[("namespaceId", ns), ("serviceName", "svc")],
            )
            .await
            .json();
        let ports: Vec<u64> = list["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["port"].as_u64().unwrap())
            .collect();
        assert_eq!(ports, vec![port]);
        let c = h
            .get(
                &s.url("/nacos/v1/cs/configs"),
                &[("tenant", ns), ("dataId", "app"), ("group", "G")],
            )
            .await;
        assert_eq!(c.body, content);
    }
    // Nothing in public.
    let list = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "svc")],
        )
        .await
        .json();
    assert!(list["hosts"].as_array().unwrap().is_empty());
    assert_eq!(
        h.get(
            &s.url("/nacos/v1/cs/configs"),
            &[("dataId", "app"), ("group", "G")]
        )
        .await
        .status,
        404
    );
    let services = h
        .get(
            &s.url("/nacos/v1/ns/service/list"),
            &[("pageNo", "1"), ("pageSize", "10")],
        )
        .await
        .json();
    assert_eq!(services["count"], 0);
    let services = h
        .get(
            &s.url("/nacos/v1/ns/service/list"),
            &[("namespaceId", "dev"), ("pageNo", "1"), ("pageSize", "10")],
        )
        .await
        .json();
    assert_eq!(services["doms"], serde_json::json!(["svc"]));
    let ns = h
        .get(&s.url("/nacos/v1/console/namespaces"), &[])
        .await
        .json();
    assert_eq!(ns["data"][1]["configCount"], 1);
}
