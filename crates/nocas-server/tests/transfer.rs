//! Config export, import and clone in Nacos's ZIP layout, over v1, the v3
//! admin API and the v3 console API, and their access checks.

use std::io::{Cursor, Read, Write};

use nocas_testkit::{Http, TestServer};
use serde_json::{Value, json};

fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, body) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn entries(bytes: &[u8]) -> Vec<(String, String)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            (f.name().unwrap().to_string(), s)
        })
        .collect()
}

/// POSTs `file` as multipart field `file` (plus a decoy field first).
async fn upload(url: &str, token: Option<&str>, file: &[u8]) -> (u16, Value) {
    let boundary = "nocas-test-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.zip\"\r\nContent-Type: application/zip\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut req = reqwest::Client::new()
        .post(url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    // v1 errors are plain text.
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post_json(url: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn download(url: &str, token: Option<&str>) -> (u16, Option<String>, Vec<u8>) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let disposition = resp
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_string());
    (status, disposition, resp.bytes().await.unwrap().to_vec())
}

async fn publish(h: &Http, s: &TestServer, ns: &str, data_id: &str, content: &str, app: &str) {
    let r = h
        .post(
            &s.url("/nacos/v3/admin/cs/config"),
            &[
                ("namespaceId", ns),
                ("groupName", "G"),
                ("dataId", data_id),
                ("content", content),
                ("type", "yaml"),
                ("appName", app),
                ("desc", "d: 'x'"),
                ("configTags", "t1,t2"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn data_ids(h: &Http, s: &TestServer, ns: &str) -> Vec<String> {
    let r = h
        .get(
            &s.url("/nacos/v3/admin/cs/config/list"),
            &[("namespaceId", ns), ("pageNo", "1"), ("pageSize", "50")],
        )
        .await;
    let mut v: Vec<String> = r.json()["data"]["pageItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["groupName"].as_str().unwrap(),
                i["dataId"].as_str().unwrap()
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zips_travel_between_namespaces_in_both_layouts() {
    let s = TestServer::start().await;
    let h = Http::new();
    for ns in ["dev", "prod"] {
        let r = h
            .post(
                &s.url("/nacos/v3/admin/core/namespace"),
                &[("namespaceId", ns), ("namespaceName", ns)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    publish(&h, &s, "dev", "order.prod.yaml", "a: 1", "order-svc").await;
    publish(&h, &s, "dev", "b.yaml", "b: 1", "").await;

    // v1 layout: entries, then .meta.yml with the application only.
    let (status, disposition, bytes) = download(
        &s.url("/nacos/v1/cs/configs?export=true&tenant=dev&ids="),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let disposition = disposition.unwrap();
    assert!(
        disposition.starts_with("attachment;filename=nacos_config_export_")
            && disposition.ends_with(".zip"),
        "{disposition}"
    );
    let e = entries(&bytes);
    assert_eq!(e[0], ("G/order.prod.yaml".into(), "a: 1".into()));
    assert_eq!(
        e[2],
        (
            ".meta.yml".into(),
            "G.order.prod~yaml.app=order-svc\r\n".into()
        )
    );

    // v2 layout, filtered by data id wildcard.
    let (_, _, v2) = download(
        &s.url("/nacos/v1/cs/configs?exportV2=true&tenant=dev&dataId=order*"),
        None,
    )
    .await;
    let e = entries(&v2);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(
        e[1].1,
        "metadata:\n- appName: order-svc\n  configTags: t1,t2\n  dataId: order.prod.yaml\n  desc: 'd: ''x'''\n  group: G\n  type: yaml\n"
    );
    let (_, _, all_v2) = download(
        &s.url("/nacos/v3/admin/cs/config/export?namespaceId=dev"),
        None,
    )
    .await;

    // Import (v1) into prod, then again: ABORT stops at the first one there.
    let (status, r) = upload(
        &s.url("/nacos/v1/cs/configs?import=true&namespace=prod"),
        None,
        &all_v2,
    )
    .await;
    assert_eq!((status, r["code"].as_i64()), (200, Some(200)), "{r}");
    assert_eq!(r["data"], json!({"succCount": 2, "skipCount": 0}));
    assert_eq!(
        data_ids(&h, &s, "prod").await,
        ["G/b.yaml", "G/order.prod.yaml"]
    );
    let copied = h
        .get(
            &s.url("/nacos/v3/admin/cs/config"),
            &[
                ("namespaceId", "prod"),
                ("groupName", "G"),
                ("dataId", "order.prod.yaml"),
            ],
        )
        .await
        .json();
    assert_eq!(copied["data"]["appName"], "order-svc");
    assert_eq!(copied["data"]["desc"], "d: 'x'");
    assert_eq!(copied["data"]["configTags"], "t1,t2");
    let (_, r) = upload(
        &s.url("/nacos/v1/cs/configs?import=true&namespace=prod"),
        None,
        &all_v2,
    )
    .await;
    assert_eq!(r["data"]["succCount"], 0);
    assert_eq!(
        r["data"]["failData"],
        json!([{"dataId": "order.prod.yaml", "group": "G"}])
    );
    assert_eq!(
        r["data"]["skipData"],
        json!([{"dataId": "b.yaml", "group": "G"}])
    );

    // v3: strays are reported; the old layout and non-ZIPs are refused.
    let mut with_stray = entries(&all_v2);
    with_stray.insert(0, ("README".into(), "hi".into()));
    with_stray.insert(0, ("G/new.yaml".into(), "n: 1".into()));
    let refs: Vec<(&str, &str)> = with_stray
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (_, r) = upload(
        &s.url("/nacos/v3/console/cs/config/import?namespaceId=prod&policy=OVERWRITE"),
        None,
        &zip_of(&refs),
    )
    .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"]["succCount"], 2);
    assert_eq!(r["data"]["unrecognizedCount"], 2);
    assert_eq!(
        r["data"]["unrecognizedData"],
        json!([{"itemName": "Item not found in metadata: G/new.yaml"}, {"itemName": "README"}])
    );
    let (_, r) = upload(
        &s.url("/nacos/v3/admin/cs/config/import?namespaceId=prod"),
        None,
        &bytes,
    )
    .await;
    assert_eq!(
        (r["code"].as_i64(), r["data"].clone()),
        (Some(100002), json!({"succCount": 0}))
    );
    let (_, r) = upload(
        &s.url("/nacos/v3/admin/cs/config/import?namespaceId=prod"),
        None,
        b"plain text",
    )
    .await;
    assert_eq!(r["code"], 100005);
    let (_, r) = upload(
        &s.url("/nacos/v3/admin/cs/config/import?namespaceId=nowhere"),
        None,
        &all_v2,
    )
    .await;
    assert_eq!(r["code"], 22001);
    // v1 imports also take the old layout; the type follows the extension.
    let (_, r) = upload(
        &s.url("/nacos/v1/cs/configs?import=true&namespace=prod&policy=SKIP"),
        None,
        &zip_of(&[
            ("G2/x.json", "{}"),
            (".meta.yml", "G2.x~json.app=x-app\r\n"),
        ]),
    )
    .await;
    assert_eq!(r["data"], json!({"succCount": 1, "skipCount": 0}), "{r}");
    let x = h
        .get(
            &s.url("/nacos/v3/admin/cs/config"),
            &[
                ("namespaceId", "prod"),
                ("groupName", "G2"),
                ("dataId", "x.json"),
            ],
        )
        .await
        .json();
    assert_eq!(
        (x["data"]["type"].as_str(), x["data"]["appName"].as_str()),
        (Some("json"), Some("x-app"))
    );

    // Clone: v1 renames, admin by configId, console needs its target.
    let ids = h
        .get(
            &s.url("/nacos/v3/admin/cs/config/list"),
            &[
                ("namespaceId", "dev"),
                ("pageNo", "1"),
                ("pageSize", "50"),
                ("dataId", "b.yaml"),
                ("search", "accurate"),
            ],
        )
        .await
        .json();
    let b_id: u64 = ids["data"]["pageItems"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (_, r) = post_json(
        &s.url("/nacos/v1/cs/configs?clone=true&tenant=prod&policy=ABORT"),
        None,
        json!([{"cfgId": b_id, "dataId": "b-copy.yaml", "group": "COPIES"}]),
    )
    .await;
    assert_eq!(
        (r["code"].as_i64(), r["message"].as_str()),
        (Some(200), Some("Clone Completed Successfully")),
        "{r}"
    );
    assert!(
        data_ids(&h, &s, "prod")
            .await
            .contains(&"COPIES/b-copy.yaml".to_string())
    );
    let (_, r) = post_json(
        &s.url("/nacos/v3/admin/cs/config/clone?namespaceId=prod&policy=SKIP"),
        None,
        json!([{"configId": b_id}]),
    )
    .await;
    assert_eq!(
        r["data"],
        json!({"succCount": 0, "skipCount": 1, "skipData": [{"dataId": "b.yaml", "group": "G"}]}),
        "{r}"
    );
    let (status, r) = post_json(
        &s.url("/nacos/v3/console/cs/config/clone"),
        None,
        json!([{"cfgId": b_id}]),
    )
    .await;
    assert_eq!(status, 400, "{r}");
    let (_, r) = post_json(
        &s.url("/nacos/v3/console/cs/config/clone?targetNamespaceId=prod"),
        None,
        json!([]),
    )
    .await;
    assert_eq!(r["code"], 100006);
    // A batch delete naming a namespace deletes only there; without one,
    // any config with those ids (Nacos's admin call).
    let id = b_id.to_string();
    let r = h
        .delete(
            &s.url("/nacos/v3/admin/cs/config/batch"),
            &[("ids", id.as_str()), ("namespaceId", "prod")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        data_ids(&h, &s, "dev")
            .await
            .contains(&"G/b.yaml".to_string())
    );
    let r = h
        .delete(
            &s.url("/nacos/v3/admin/cs/config/batch"),
            &[("ids", id.as_str())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !data_ids(&h, &s, "dev")
            .await
            .contains(&"G/b.yaml".to_string())
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_respect_namespace_permissions() {
    let s = TestServer::start_with(|st| {
        st.auth.enabled = true;
        st.auth.admin_password = Some("admin-pass".into());
        st.auth.token_secret = Some("0123456789abcdef0123456789abcdef".into());
    })
    .await;
    let h = Http::new();
    let login = |user: &'static str, pw: &'static str| {
        let h = Http::new();
        let url = s.url("/nacos/v1/auth/login");
        async move {
            let r = h.post(&url, &[("username", user), ("password", pw)]).await;
            r.json()["accessToken"].as_str().unwrap().to_string()
        }
    };
    let admin = login("nacos", "admin-pass").await;
    let a = admin.as_str();
    for (path, form) in [
        (
            "/nacos/v3/admin/core/namespace",
            vec![("namespaceId", "dev"), ("namespaceName", "dev")],
        ),
        (
            "/nacos/v3/admin/core/namespace",
            vec![("namespaceId", "prod"), ("namespaceName", "prod")],
        ),
        (
            "/nacos/v3/admin/core/namespace",
            vec![("namespaceId", "ops"), ("namespaceName", "ops")],
        ),
        (
            "/nacos/v3/admin/cs/config",
            vec![
                ("namespaceId", "ops"),
                ("groupName", "G"),
                ("dataId", "ops-secret.yaml"),
                ("content", "k: 2"),
            ],
        ),
        (
            "/nacos/v3/admin/cs/config",
            vec![
                ("namespaceId", "prod"),
                ("groupName", "G"),
                ("dataId", "secret.yaml"),
                ("content", "k: 1"),
            ],
        ),
        (
            "/nacos/v3/auth/user",
            vec![("username", "dev-user"), ("password", "dev-pw")],
        ),
        (
            "/nacos/v3/auth/role",
            vec![("role", "dev-role"), ("username", "dev-user")],
        ),
        (
            "/nacos/v3/auth/permission",
            vec![
                ("role", "dev-role"),
                ("resource", "dev:*:*"),
                ("action", "rw"),
            ],
        ),
        (
            "/nacos/v3/auth/permission",
            vec![
                ("role", "dev-role"),
                ("resource", "prod:*:*"),
                ("action", "r"),
            ],
        ),
        (
            "/nacos/v3/auth/user",
            vec![("username", "g1-user"), ("password", "g1-pw")],
        ),
        (
            "/nacos/v3/auth/role",
            vec![("role", "g1-role"), ("username", "g1-user")],
        ),
        (
            "/nacos/v3/auth/permission",
            vec![
                ("role", "g1-role"),
                ("resource", "dev:G1:*"),
                ("action", "rw"),
            ],
        ),
    ] {
        let r = h
            .call(
                "POST",
                &s.url(path),
                &[("accessToken", a)],
                Some(&form),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let dev = login("dev-user", "dev-pw").await;
    let d = Some(dev.as_str());
    // The flags that make a v1 call an export or import are read the same
    // way by the check and the handler: a publish spelled as an "export"
    // is still a write, an import flag set to false does not pick the
    // import's namespace for the check.
    let sneaky = h
        .call(
            "POST",
            &s.url("/nacos/v1/cs/configs"),
            &[("accessToken", dev.as_str()), ("export", "1")],
            Some(&[
                ("tenant", "prod"),
                ("group", "G"),
                ("dataId", "secret.yaml"),
                ("content", "owned: true"),
            ]),
            &[],
        )
        .await;
    assert_eq!(sneaky.status, 403, "{}", sneaky.body);
    let (status, _) = post_json(
        &s.url("/nacos/v1/cs/configs?import=false&clone=true&namespace=dev&tenant=prod"),
        d,
        json!([{"cfgId": 1}]),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = download(
        &s.url("/nacos/v3/console/cs/config/export2?namespaceId=ops"),
        d,
    )
    .await;
    assert_eq!(status, 403, "export of a namespace it may not read");
    let (_, _, bytes) = download(
        &s.url("/nacos/v3/console/cs/config/export2?namespaceId=prod"),
        Some(a),
    )
    .await;
    let (status, _) = upload(
        &s.url("/nacos/v3/console/cs/config/import?namespaceId=prod"),
        d,
        &bytes,
    )
    .await;
    assert_eq!(status, 403, "import into a namespace it may not write");
    let (status, r) = upload(
        &s.url("/nacos/v1/cs/configs?import=true&namespace=dev"),
        d,
        &bytes,
    )
    .await;
    assert_eq!(
        (status, r["data"]["succCount"].as_i64()),
        (200, Some(1)),
        "{r}"
    );
    // The v1 import names its namespace `namespace`: `tenant` is not it.
    let (status, _) = upload(
        &s.url("/nacos/v1/cs/configs?import=true&namespace=prod&tenant=dev"),
        d,
        &bytes,
    )
    .await;
    assert_eq!(status, 403);
    // Cloning a config it may not read into one it may write is refused.
    let list = h
        .get(
            &s.url("/nacos/v3/admin/cs/config/list"),
            &[
                ("namespaceId", "ops"),
                ("pageNo", "1"),
                ("pageSize", "5"),
                ("accessToken", a),
            ],
        )
        .await
        .json();
    let id: u64 = list["data"]["pageItems"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (status, r) = post_json(
        &s.url("/nacos/v3/console/cs/config/clone?targetNamespaceId=dev&policy=OVERWRITE"),
        d,
        json!([{"cfgId": id, "dataId": "stolen.yaml"}]),
    )
    .await;
    assert_eq!(status, 403, "{r}");
    assert!(r["data"].as_str().unwrap().contains("may not read"), "{r}");
    // A user limited to one group cannot bring configs of another group
    // by naming its own group in the query.
    let g1 = login("g1-user", "g1-pw").await;
    let (status, r) = upload(
        &s.url("/nacos/v3/console/cs/config/import?namespaceId=dev&group=G1&policy=OVERWRITE"),
        Some(g1.as_str()),
        &bytes,
    )
    .await;
    assert_eq!(status, 403, "{r}");
    // The import was recorded as the token's user.
    let hist = h
        .get(
            &s.url("/nacos/v3/admin/cs/history/list"),
            &[
                ("namespaceId", "dev"),
                ("groupName", "G"),
                ("dataId", "secret.yaml"),
                ("pageNo", "1"),
                ("pageSize", "1"),
                ("accessToken", a),
            ],
        )
        .await
        .json();
    assert_eq!(
        hist["data"]["pageItems"][0]["srcUser"], "dev-user",
        "{hist}"
    );
    s.stop().await;
}

/// The v3 admin config as (type, content, appName, desc).
async fn config_of(
    h: &Http,
    s: &TestServer,
    ns: &str,
    group: &str,
    data_id: &str,
) -> Option<Value> {
    let r = h
        .get(
            &s.url("/nacos/v3/admin/cs/config"),
            &[
                ("namespaceId", ns),
                ("groupName", group),
                ("dataId", data_id),
            ],
        )
        .await;
    (r.status == 200).then(|| r.json()["data"].clone())
}

/// A Nacos v2 `.metadata.yml` for `(group, dataId, type)` rows.
fn metadata(rows: &[(&str, &str, &str)]) -> String {
    let mut out = String::from("metadata:\n");
    for (g, d, t) in rows {
        out.push_str(&format!(
            "- dataId: '{d}'\n  group: '{g}'\n  type: {t}\n  appName: app-{t}\n  desc: desc of {t}\n"
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_are_all_or_nothing_and_every_shape_travels() {
    let s = TestServer::start_with(|st| st.limits.max_import_entries = 12).await;
    let h = Http::new();
    for ns in ["mig", "back"] {
        let r = h
            .post(
                &s.url("/nacos/v3/admin/core/namespace"),
                &[("namespaceId", ns), ("namespaceName", ns)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // A ZIP laid out as Nacos writes one: Chinese names, dots, every type,
    // a 10 MiB content (the largest a config may hold).
    let big = "k=v\n".repeat(10 * 1024 * 1024 / 4);
    let rows = [
        ("订单组", "订单服务.yaml", "yaml"),
        ("G", "a.b.c.properties", "properties"),
        ("G", "cfg.json", "json"),
        ("G", "cfg.xml", "xml"),
        ("G", "page.html", "html"),
        ("G", "plain", "text"),
        ("G", "app.toml", "toml"),
        ("G.dots", "big.properties", "properties"),
    ];
    let contents = [
        "名称: 订单\nport: 8080\n",
        "a.b=1\n",
        "{\"a\": [1, 2]}",
        "<a><b>1</b></a>",
        "<p>hi</p>",
        "just text",
        "a = 1\n",
        big.as_str(),
    ];
    let meta = metadata(&rows);
    let mut files: Vec<(String, &str)> = rows
        .iter()
        .zip(contents)
        .map(|((g, d, _), c)| (format!("{g}/{d}"), c))
        .collect();
    files.push((".metadata.yml".into(), &meta));
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    let nacos_zip = zip_of(&refs);
    let (status, r) = upload(
        &s.url("/nacos/v3/admin/cs/config/import?namespaceId=mig"),
        None,
        &nacos_zip,
    )
    .await;
    assert_eq!((status, r["code"].as_i64()), (200, Some(0)), "{r}");
    assert_eq!(r["data"]["succCount"], 8, "{r}");
    for ((g, d, t), c) in rows.iter().zip(contents) {
        let got = config_of(&h, &s, "mig", g, d).await.unwrap();
        assert_eq!(got["type"], *t, "{g}/{d}");
        assert_eq!(got["appName"], format!("app-{t}"));
        assert_eq!(got["desc"], format!("desc of {t}"));
        assert!(got["content"] == c, "{g}/{d}: content differs");
    }

    // What Nocas exports is laid out as Nacos's: entries group/dataId and
    // a metadata list, and imports back to the same configs elsewhere.
    let (_, _, exported) = download(
        &s.url("/nacos/v3/admin/cs/config/export?namespaceId=mig"),
        None,
    )
    .await;
    let e = entries(&exported);
    let mut names: Vec<&str> = e.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    let mut want: Vec<String> = rows.iter().map(|(g, d, _)| format!("{g}/{d}")).collect();
    want.push(".metadata.yml".into());
    want.sort();
    assert_eq!(names, want);
    let meta_out = &e.iter().find(|(n, _)| n == ".metadata.yml").unwrap().1;
    assert!(
        meta_out.starts_with("metadata:\n- ") && meta_out.contains("dataId: 订单服务.yaml"),
        "{meta_out}"
    );
    let (_, r) = upload(
        &s.url("/nacos/v3/admin/cs/config/import?namespaceId=back"),
        None,
        &exported,
    )
    .await;
    assert_eq!(r["data"]["succCount"], 8, "{r}");
    let fields = |v: Option<Value>| {
        let v = v.unwrap_or_default();
        ["content", "md5", "type", "appName", "desc", "configTags"].map(|f| v[f].clone())
    };
    for (g, d, _) in rows {
        assert_eq!(
            fields(config_of(&h, &s, "back", g, d).await),
            fields(config_of(&h, &s, "mig", g, d).await),
            "{g}/{d}"
        );
    }

    // ABORT with one config there already writes none of the others.
    let before = data_ids(&h, &s, "back").await;
    let abort_zip = zip_of(&[
        ("N/new-1", "n: 1"),
        ("G/plain", "replaced?"),
        ("N/new-2", "n: 2"),
    ]);
    let (_, r) = upload(
        &s.url("/nacos/v1/cs/configs?import=true&namespace=back&policy=ABORT"),
        None,
        &abort_zip,
    )
    .await;
    assert_eq!(r["code"], 200, "{r}");
    assert_eq!(r["data"]["succCount"], 0, "{r}");
    assert_eq!(
        r["data"]["failData"],
        json!([{"dataId": "plain", "group": "G"}])
    );
    assert_eq!(
        r["data"]["skipData"],
        json!([{"dataId": "new-1", "group": "N"}, {"dataId": "new-2", "group": "N"}])
    );
    assert_eq!(data_ids(&h, &s, "back").await, before);
    assert_eq!(
        config_of(&h, &s, "back", "G", "plain").await.unwrap()["content"],
        "just text"
    );
    // SKIP writes the others; OVERWRITE replaces.
    let (_, r) = upload(
        &s.url("/nacos/v1/cs/configs?import=true&namespace=back&policy=SKIP"),
        None,
        &abort_zip,
    )
    .await;
    assert_eq!(r["data"]["succCount"], 2, "{r}");
    assert_eq!(
        r["data"]["skipData"],
        json!([{"dataId": "plain", "group": "G"}])
    );
    let (_, r) = upload(
        &s.url("/nacos/v1/cs/configs?import=true&namespace=back&policy=OVERWRITE"),
        None,
        &abort_zip,
    )
    .await;
    assert_eq!(r["data"]["succCount"], 3, "{r}");
    assert_eq!(
        config_of(&h, &s, "back", "G", "plain").await.unwrap()["content"],
        "replaced?"
    );

    // Bad uploads: a clear refusal, nothing changed.
    let before = data_ids(&h, &s, "back").await;
    let bomb_entry = "a".repeat(10 * 1024 * 1024 + 1);
    let many: Vec<(String, &str)> = (0..13).map(|i| (format!("M/c{i}"), "x")).collect();
    let many_refs: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    let cases: Vec<(&str, Vec<u8>, i64, &str)> = vec![
        (
            "not a ZIP",
            b"PK\x03\x04 this is no zip".to_vec(),
            100005,
            "empty",
        ),
        (
            "a path escaping its directory",
            zip_of(&[("N/fine", "ok"), ("../x", "evil")]),
            100004,
            "not group/dataid",
        ),
        (
            "an absolute path",
            zip_of(&[("/etc/x", "evil")]),
            100004,
            "not group/dataid",
        ),
        (
            "a ZIP bomb (one entry over 10 MiB unpacked)",
            zip_of(&[("N/fine", "ok"), ("N/bomb", &bomb_entry)]),
            100004,
            "too large",
        ),
        (
            "more entries than limits.max_import_entries",
            zip_of(&many_refs),
            100004,
            "max_import_entries",
        ),
    ];
    for (what, file, code, reason) in cases {
        assert!(file.len() < 200_000, "{what}: the upload itself is small");
        let (status, r) = upload(
            &s.url("/nacos/v3/admin/cs/config/import?namespaceId=back&policy=OVERWRITE"),
            None,
            &file,
        )
        .await;
        assert_eq!(
            (status, r["code"].as_i64()),
            (200, Some(code)),
            "{what}: {r}"
        );
        assert!(
            r["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(reason),
            "{what}: {r}"
        );
        assert_eq!(data_ids(&h, &s, "back").await, before, "{what}");
    }
    // An empty content refuses the whole import and names the entry.
    let (status, r) = upload(
        &s.url("/nacos/v1/cs/configs?import=true&namespace=back&policy=OVERWRITE"),
        None,
        &zip_of(&[("N/new-3", "n: 3"), ("N/empty", "")]),
    )
    .await;
    assert_eq!(status, 400, "{r}");
    assert!(
        r.as_str()
            .unwrap()
            .contains("config N/empty: content is blank"),
        "{r}"
    );
    assert_eq!(data_ids(&h, &s, "back").await, before);
}
