//! The `nocas` command as a user runs it: every client command against a
//! real server (with a dead server first in `--server`, so each call also
//! fails over), output formats, exit codes, login, tokens, declarative
//! apply with prune, backup under write load and restore, and migration
//! from one running server into another.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nocas_testkit::{Http, TestServer, free_port, wait_until};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const ADMIN_PW: &str = "admin-pass";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

fn command(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_nocas"));
    c.args(args);
    for k in [
        "NOCAS_SERVER",
        "NOCAS_NAMESPACE",
        "NOCAS_USERNAME",
        "NOCAS_PASSWORD",
        "NOCAS_TOKEN",
        "NOCAS_NEW_PASSWORD",
        "NOCAS_DATA_DIR",
        "NOCAS_API",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::null()).kill_on_drop(true);
    c
}

async fn run_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let out = tokio::time::timeout(Duration::from_secs(60), command(args, env).output())
        .await
        .unwrap_or_else(|_| panic!("nocas {args:?} did not finish"))
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn run(args: &[&str]) -> Out {
    run_env(args, &[]).await
}

/// `--server DEAD,LIVE`: every call first meets a closed port.
fn servers(s: &TestServer) -> String {
    format!(
        "127.0.0.1:{},{}",
        free_port(),
        s.base.trim_start_matches("http://")
    )
}

fn ok(o: &Out) {
    assert_eq!(o.code, 0, "stdout: {}\nstderr: {}", o.stdout, o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_drives_configs_services_instances_and_namespaces() {
    drive_everything("auto").await;
}

/// The same commands over the v1 API, as they drive a Nacos 2.x server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_drives_the_same_over_the_v1_api_of_nacos_2() {
    drive_everything("v1").await;
}

async fn drive_everything(api: &str) {
    let s = TestServer::start().await;
    let srv = servers(&s);
    let at = |args: &[&str]| {
        let mut v: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
        v.extend(["--server".into(), srv.clone(), "--api".into(), api.into()]);
        v
    };
    let go = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs).await
    };
    ok(&go(at(&["ns", "create", "dev", "--name", "Development"])).await);
    let ns = go(at(&["ns", "ls", "-o", "json"])).await;
    ok(&ns);
    assert!(
        ns.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["namespace"] == "dev" && n["namespaceShowName"] == "Development"),
        "{}",
        ns.stdout
    );

    // Configs: put from a file and from the command line, get, ls.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.yaml");
    std::fs::write(&file, "a: 1\n").unwrap();
    let f = file.to_str().unwrap();
    ok(&go(at(&[
        "config", "put", "app.yaml", "-f", f, "-n", "dev", "--tags", "t1", "--desc", "d",
    ]))
    .await);
    let got = go(at(&["config", "get", "app.yaml", "-n", "dev"])).await;
    ok(&got);
    assert_eq!(got.stdout, "a: 1\n");
    let got = go(at(&[
        "config", "get", "app.yaml", "-n", "dev", "-o", "json",
    ]))
    .await;
    let v = got.json();
    assert_eq!(
        (
            v["type"].as_str(),
            v["configTags"].as_str(),
            v["desc"].as_str()
        ),
        (Some("yaml"), Some("t1"), Some("d"))
    );
    ok(&go(at(&[
        "config",
        "put",
        "app.yaml",
        "--content",
        "a: 2\n",
        "-n",
        "dev",
    ]))
    .await);
    let ls = go(at(&["config", "ls", "-n", "dev", "-o", "json"])).await;
    assert_eq!(ls.json()[0]["dataId"], "app.yaml", "{}", ls.stdout);
    let table = go(at(&["config", "ls", "-n", "dev"])).await;
    assert!(
        table.stdout.starts_with("DATA ID") && table.stdout.contains("app.yaml"),
        "{}",
        table.stdout
    );
    let yaml = go(at(&["config", "ls", "-n", "dev", "-o", "yaml"])).await;
    assert!(yaml.stdout.contains("dataId: app.yaml"), "{}", yaml.stdout);

    // History, diff (exit 1 on a difference), rollback.
    let h = go(at(&[
        "config", "history", "app.yaml", "-n", "dev", "-o", "json",
    ]))
    .await;
    let h = h.json();
    assert_eq!(h.as_array().unwrap().len(), 2, "{h}");
    let update_nid = h[0]["id"].as_str().unwrap().to_string();
    assert_eq!(h[0]["opType"].as_str().map(str::trim), Some("U"));
    let d = go(at(&[
        "config",
        "diff",
        "app.yaml",
        "-n",
        "dev",
        "--nid",
        &update_nid,
    ]))
    .await;
    assert_eq!(d.code, 1, "{}", d.stderr);
    assert!(d.stdout.contains("-a: 1\n+a: 2"), "{}", d.stdout);
    let same = dir.path().join("same.yaml");
    std::fs::write(&same, "a: 2\n").unwrap();
    let d = go(at(&[
        "config",
        "diff",
        "app.yaml",
        "-n",
        "dev",
        "--file",
        same.to_str().unwrap(),
    ]))
    .await;
    assert_eq!((d.code, d.stdout.as_str()), (0, ""), "{}", d.stderr);
    ok(&go(at(&[
        "config",
        "rollback",
        "app.yaml",
        "-n",
        "dev",
        "--nid",
        &update_nid,
    ]))
    .await);
    assert_eq!(
        go(at(&["config", "get", "app.yaml", "-n", "dev"]))
            .await
            .stdout,
        "a: 1\n"
    );

    // Export, import (ABORT refuses a second time with exit 1), overwrite.
    let zip = dir.path().join("dev.zip");
    ok(&go(at(&[
        "config",
        "export",
        "-n",
        "dev",
        "-f",
        zip.to_str().unwrap(),
    ]))
    .await);
    ok(&go(at(&["ns", "create", "prod"])).await);
    let imp = go(at(&[
        "config",
        "import",
        zip.to_str().unwrap(),
        "-n",
        "prod",
    ]))
    .await;
    ok(&imp);
    assert!(imp.stdout.contains("imported 1"), "{}", imp.stdout);
    let again = go(at(&[
        "config",
        "import",
        zip.to_str().unwrap(),
        "-n",
        "prod",
    ]))
    .await;
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(
        again.stdout.contains("failed: DEFAULT_GROUP/app.yaml"),
        "{}",
        again.stdout
    );
    ok(&go(at(&[
        "config",
        "import",
        zip.to_str().unwrap(),
        "-n",
        "prod",
        "--policy",
        "overwrite",
    ]))
    .await);
    assert_eq!(
        go(at(&["config", "get", "app.yaml", "-n", "prod"]))
            .await
            .stdout,
        "a: 1\n"
    );

    // Watch: the current content, then a change published elsewhere.
    let args = at(&["config", "watch", "app.yaml", "-n", "dev", "--count", "1"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = command(&refs, &[]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("watch printed the config")
        .unwrap()
        .unwrap();
    assert!(
        first.starts_with("# DEFAULT_GROUP/app.yaml md5="),
        "{first}"
    );
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "a: 1");
    let h = Http::new();
    let r = h
        .post(
            &s.url("/nacos/v3/admin/cs/config"),
            &[
                ("namespaceId", "dev"),
                ("groupName", "DEFAULT_GROUP"),
                ("dataId", "app.yaml"),
                ("content", "a: 3"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut rest = Vec::new();
    let read = async {
        while let Some(l) = lines.next_line().await.unwrap() {
            rest.push(l);
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("watch printed the change and stopped");
    assert_eq!(rest.get(1).map(String::as_str), Some("a: 3"), "{rest:?}");
    assert!(child.wait().await.unwrap().success());

    // Services and instances.
    for ip in ["10.0.0.1", "10.0.0.2"] {
        ok(&go(at(&[
            "instance", "register", "order", "--ip", ip, "--port", "8080", "-m", "zone=a", "-n",
            "dev",
        ]))
        .await);
    }
    let svc = go(at(&["service", "ls", "-n", "dev", "-o", "json"]))
        .await
        .json();
    assert_eq!(svc[0]["name"], "order");
    assert_eq!(svc[0]["ipCount"], 2);
    let addr = ["order", "--ip", "10.0.0.1", "--port", "8080", "-n", "dev"];
    ok(&go(at(&[&["instance", "offline"][..], &addr].concat())).await);
    let list = go(at(&["instance", "ls", "order", "-n", "dev", "-o", "json"]))
        .await
        .json();
    let one = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ip"] == "10.0.0.1")
        .unwrap()
        .clone();
    assert_eq!(
        (one["enabled"].as_bool(), one["ephemeral"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(one["metadata"], json!({"zone": "a"}));
    ok(&go(at(&[&["instance", "online"][..], &addr].concat())).await);
    ok(&go(at(&[&["instance", "deregister"][..], &addr].concat())).await);
    let show = go(at(&["service", "show", "order", "-n", "dev", "-o", "json"]))
        .await
        .json();
    assert_eq!(show["instances"].as_array().unwrap().len(), 1, "{show}");
    let rm = go(at(&["service", "rm", "order", "-n", "dev"])).await;
    assert_eq!(rm.code, 1);
    assert!(rm.stderr.contains("not empty"), "{}", rm.stderr);

    // Errors: a missing config, usage, nothing reachable.
    let miss = go(at(&["config", "get", "nope", "-n", "dev"])).await;
    assert_eq!(miss.code, 1);
    assert!(
        miss.stderr.contains("config DEFAULT_GROUP/nope not found"),
        "{}",
        miss.stderr
    );
    let usage = run(&["config", "frobnicate"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    let usage = go(at(&["config", "put", "x"])).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    let dead = format!("127.0.0.1:{}", free_port());
    let down = run(&["ns", "ls", "--server", &dead]).await;
    assert_eq!(down.code, 1);
    assert!(
        down.stderr.contains("no server answered"),
        "{}",
        down.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_logs_in_and_manages_users_roles_and_permissions() {
    access("auto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_manages_access_over_the_v1_api_of_nacos_2() {
    access("v1").await;
}

async fn access(api: &str) {
    let s = TestServer::start_with(|st| {
        st.auth.enabled = true;
        st.auth.admin_password = Some(ADMIN_PW.into());
    })
    .await;
    let srv = servers(&s);
    let as_admin = [
        ("NOCAS_SERVER", srv.as_str()),
        ("NOCAS_USERNAME", "nacos"),
        ("NOCAS_PASSWORD", ADMIN_PW),
        ("NOCAS_API", api),
    ];
    let anon = run_env(&["ns", "ls"], &[("NOCAS_SERVER", srv.as_str())]).await;
    assert_eq!(anon.code, 1);
    assert!(anon.stderr.contains("HTTP 40"), "{}", anon.stderr);
    let bad = run_env(&["ns", "ls", "--password", "wrong"], &as_admin).await;
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("login as nacos failed"),
        "{}",
        bad.stderr
    );

    ok(&run_env(&["ns", "create", "dev"], &as_admin).await);
    let with_pw = [&as_admin[..], &[("NOCAS_NEW_PASSWORD", "bob-secret-1")]].concat();
    ok(&run_env(&["user", "create", "bob"], &with_pw).await);
    let no_pw = run_env(&["user", "create", "carol"], &as_admin).await;
    assert_eq!(no_pw.code, 2, "{}", no_pw.stderr);
    ok(&run_env(&["role", "add", "dev-rw", "bob"], &as_admin).await);
    ok(&run_env(&["perm", "add", "dev-rw", "dev:*:*", "rw"], &as_admin).await);
    let users = run_env(&["user", "ls", "-o", "json"], &as_admin)
        .await
        .json();
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "bob"),
        "{users}"
    );
    let roles = run_env(&["role", "ls", "--user", "bob", "-o", "json"], &as_admin)
        .await
        .json();
    assert_eq!(roles, json!([{"role": "dev-rw", "username": "bob"}]));
    let perms = run_env(&["perm", "ls", "--role", "dev-rw", "-o", "json"], &as_admin)
        .await
        .json();
    assert_eq!(perms[0]["resource"], "dev:*:*", "{perms}");

    let as_bob = [
        ("NOCAS_SERVER", srv.as_str()),
        ("NOCAS_USERNAME", "bob"),
        ("NOCAS_PASSWORD", "bob-secret-1"),
        ("NOCAS_API", api),
    ];
    ok(&run_env(
        &["config", "put", "a", "--content", "x", "-n", "dev"],
        &as_bob,
    )
    .await);
    let refused = run_env(&["config", "put", "a", "--content", "x"], &as_bob).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("HTTP 403"), "{}", refused.stderr);

    // A token instead of a password.
    let h = Http::new();
    let r = h
        .post(
            &s.url("/nacos/v1/auth/login"),
            &[("username", "bob"), ("password", "bob-secret-1")],
        )
        .await;
    let token = r.json()["accessToken"].as_str().unwrap().to_string();
    let got = run_env(
        &["config", "get", "a", "-n", "dev"],
        &[
            ("NOCAS_SERVER", srv.as_str()),
            ("NOCAS_TOKEN", token.as_str()),
        ],
    )
    .await;
    ok(&got);
    assert_eq!(got.stdout, "x");

    let pw_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pw_file.path(), "bob-secret-2\n").unwrap();
    ok(&run_env(
        &[
            "user",
            "passwd",
            "bob",
            "--new-password-file",
            pw_file.path().to_str().unwrap(),
        ],
        &as_admin,
    )
    .await);
    let old = run_env(&["config", "get", "a", "-n", "dev"], &as_bob).await;
    assert_eq!(old.code, 1, "{}", old.stderr);
    ok(&run_env(&["perm", "rm", "dev-rw", "dev:*:*", "rw"], &as_admin).await);
    ok(&run_env(&["role", "rm", "dev-rw", "bob"], &as_admin).await);
    ok(&run_env(&["user", "rm", "bob"], &as_admin).await);
    let users = run_env(&["user", "ls", "-o", "json"], &as_admin)
        .await
        .json();
    assert!(
        !users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "bob"),
        "{users}"
    );
    // The audit trail: who did what.
    let trail = run_env(&["audit", "--kind", "config", "-o", "json"], &as_admin)
        .await
        .json();
    let rows = trail.as_array().cloned().unwrap_or_default();
    assert!(
        rows.iter().any(|r| r["user"] == "bob"
            && r["op"] == "publish"
            && r["target"] == "dev/DEFAULT_GROUP/a"),
        "{trail}"
    );
    assert!(rows.iter().all(|r| r["kind"] == "config"), "{trail}");
    let table = run_env(&["audit", "--user", "nacos", "--since", "1h"], &as_admin).await;
    ok(&table);
    for want in [
        "TIME",
        "WHO",
        "user",
        "create",
        "bob",
        "permission",
        "grant",
    ] {
        assert!(table.stdout.contains(want), "{want}: {}", table.stdout);
    }
    assert!(!table.stdout.contains("bob-secret"), "{}", table.stdout);
    let by_bob = run_env(&["audit", "--user", "bob", "-o", "json"], &as_bob).await;
    assert_eq!(by_bob.code, 1, "only administrators read the trail");
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_plans_applies_converges_and_prunes() {
    let s = TestServer::start_with(|st| {
        st.auth.enabled = true;
        st.auth.admin_password = Some(ADMIN_PW.into());
    })
    .await;
    let srv = servers(&s);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("files")).unwrap();
    write(&d.join("files"), "order.yaml", "port: 8080\n");
    write(d, "secret", "alice-pw-1\n");
    let manifest = |with_service: bool| {
        let mut m = String::from(
            "kind: Namespace\nid: staging\nname: Staging\ndesc: pre-production\n---\n\
             kind: Config\nnamespace: staging\ngroup: ORDER\ndataId: order.yaml\nfile: files/order.yaml\ndesc: order settings\ntags: [order]\nappName: order\n---\n\
             kind: Config\nnamespace: staging\ndataId: flags.properties\ncontent: |\n  beta=true\n---\n\
             kind: User\nusername: alice\npasswordFrom: {file: secret}\n---\n\
             kind: Role\nrole: staging-rw\nusername: alice\n---\n\
             kind: Permission\nrole: staging-rw\nresource: 'staging:*:*'\naction: rw\n",
        );
        if with_service {
            m.push_str(
                "---\nkind: Service\nnamespace: staging\nname: payment\nprotectThreshold: 0.5\nmetadata: {team: pay}\n\
                 ---\nkind: Instance\nnamespace: staging\nservice: payment\nip: 10.1.0.1\nport: 9000\nweight: 2\nmetadata: {zone: a}\n",
            );
        }
        m
    };
    write(d, "registry.yaml", &manifest(true));
    let env = [
        ("NOCAS_SERVER", srv.as_str()),
        ("NOCAS_USERNAME", "nacos"),
        ("NOCAS_PASSWORD", ADMIN_PW),
    ];
    let files = d.to_str().unwrap();

    let dry = run_env(&["apply", "-f", files, "--dry-run"], &env).await;
    ok(&dry);
    assert!(
        dry.stdout
            .contains("Plan: 8 to create, 0 to update, 0 to delete, 0 unchanged."),
        "{}",
        dry.stdout
    );
    let drift = run_env(&["diff", "-f", files], &env).await;
    assert_eq!(drift.code, 1, "{}", drift.stdout);
    let first = run_env(&["apply", "-f", files], &env).await;
    ok(&first);
    assert!(first.stderr.contains("[8/8] created"), "{}", first.stderr);
    // A second apply changes nothing; diff agrees.
    let second = run_env(&["apply", "-f", files], &env).await;
    ok(&second);
    assert!(
        second
            .stdout
            .contains("Plan: 0 to create, 0 to update, 0 to delete, 8 unchanged."),
        "{}",
        second.stdout
    );
    ok(&run_env(&["diff", "-f", files], &env).await);

    // What landed, as the API shows it.
    let as_alice = [
        ("NOCAS_SERVER", srv.as_str()),
        ("NOCAS_USERNAME", "alice"),
        ("NOCAS_PASSWORD", "alice-pw-1"),
    ];
    let cfg = run_env(
        &[
            "config",
            "get",
            "order.yaml",
            "-g",
            "ORDER",
            "-n",
            "staging",
            "-o",
            "json",
        ],
        &as_alice,
    )
    .await;
    ok(&cfg);
    let cfg = cfg.json();
    assert_eq!(cfg["content"], "port: 8080\n");
    assert_eq!(cfg["appName"], "order");
    let tags: std::collections::BTreeSet<&str> =
        cfg["configTags"].as_str().unwrap().split(',').collect();
    assert_eq!(tags, ["nocas-apply", "order"].into());
    let inst = run_env(
        &["instance", "ls", "payment", "-n", "staging", "-o", "json"],
        &env,
    )
    .await
    .json();
    assert_eq!(inst[0]["weight"], 2.0);
    assert_eq!(
        inst[0]["metadata"],
        json!({"zone": "a", "managed-by": "nocas-apply"})
    );

    // Drift: an operator takes the instance offline and edits the config.
    ok(&run_env(
        &[
            "instance", "offline", "payment", "--ip", "10.1.0.1", "--port", "9000", "-n", "staging",
        ],
        &env,
    )
    .await);
    ok(&run_env(
        &[
            "config",
            "put",
            "order.yaml",
            "-g",
            "ORDER",
            "-n",
            "staging",
            "--content",
            "port: 1\n",
            "--tags",
            "nocas-apply,order",
            "--desc",
            "order settings",
            "--app",
            "order",
        ],
        &env,
    )
    .await);
    let drift = run_env(&["diff", "-f", files], &env).await;
    assert_eq!(drift.code, 1);
    assert!(
        drift
            .stdout
            .contains("~ config staging/ORDER/order.yaml (content)"),
        "{}",
        drift.stdout
    );
    assert!(
        drift.stdout.contains("-port: 1\n") && drift.stdout.contains("+port: 8080"),
        "{}",
        drift.stdout
    );
    assert!(
        drift
            .stdout
            .contains("~ instance staging/DEFAULT_GROUP/payment 10.1.0.1:9000 (DEFAULT) (enabled)"),
        "{}",
        drift.stdout
    );
    ok(&run_env(&["apply", "-f", files], &env).await);
    ok(&run_env(&["diff", "-f", files], &env).await);

    // Dropping the service from the files: only --prune deletes it, and
    // only what an apply made (a config made by hand stays).
    ok(&run_env(
        &[
            "config",
            "put",
            "manual.txt",
            "-n",
            "staging",
            "--content",
            "mine",
        ],
        &env,
    )
    .await);
    write(d, "registry.yaml", &manifest(false));
    ok(&run_env(&["apply", "-f", files], &env).await);
    assert_eq!(
        run_env(
            &["instance", "ls", "payment", "-n", "staging", "-o", "json"],
            &env
        )
        .await
        .json()
        .as_array()
        .unwrap()
        .len(),
        1
    );
    let pruned = run_env(&["diff", "-f", files, "--prune"], &env).await;
    assert_eq!(pruned.code, 1);
    assert!(pruned.stdout.contains("- instance staging/DEFAULT_GROUP/payment 10.1.0.1:9000 (DEFAULT)\n- service staging/DEFAULT_GROUP/payment\n"), "{}", pruned.stdout);
    ok(&run_env(&["apply", "-f", files, "--prune"], &env).await);
    ok(&run_env(&["diff", "-f", files, "--prune"], &env).await);
    let svc = run_env(&["service", "ls", "-n", "staging", "-o", "json"], &env)
        .await
        .json();
    assert_eq!(svc, json!([]));
    ok(&run_env(&["config", "get", "manual.txt", "-n", "staging"], &env).await);

    // Bad files: exit 2 with where and why, nothing applied.
    write(
        d,
        "bad.yaml",
        "kind: User\nusername: eve\npassword: inline\n",
    );
    let bad = run_env(&["apply", "-f", files], &env).await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("bad.yaml (document 1): unknown field `password`"),
        "{}",
        bad.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_taken_under_writes_restores_to_the_same_state() {
    let s = TestServer::start().await;
    let srv = servers(&s);
    let h = Http::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (h, url, stop) = (h.clone(), s.url("/nacos/v3/admin/cs/config"), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("load-{}", n % 50);
                let content = format!("n: {n}");
                let r = h
                    .post(
                        &url,
                        &[
                            ("dataId", id.as_str()),
                            ("groupName", "G"),
                            ("content", content.as_str()),
                        ],
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.body);
                n += 1;
            }
            n
        })
    };
    wait_until(Duration::from_secs(10), "writes under way", || async {
        let r = h
            .get(
                &s.url("/nacos/v3/admin/cs/config"),
                &[("dataId", "load-10"), ("groupName", "G")],
            )
            .await;
        r.status == 200
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.bak");
    let b = run(&[
        "backup",
        "-f",
        file.to_str().unwrap(),
        "--server",
        &srv,
        "-o",
        "json",
    ])
    .await;
    ok(&b);
    let info = b.json();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > 10, "{written} writes");
    let digest = info["digest"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 32, "{info}");

    // Restore into a new data directory; a server started there holds
    // exactly the backed-up state.
    let restored = tempfile::tempdir().unwrap();
    let data = restored.path().join("data");
    let r = run(&[
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .await;
    ok(&r);
    assert!(r.stdout.contains(&digest), "{}", r.stdout);
    let again = run(&[
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .await;
    assert_eq!(again.code, 1);
    assert!(
        again
            .stderr
            .contains("restore into an empty data directory"),
        "{}",
        again.stderr
    );
    let damaged = dir.path().join("damaged.bak");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&damaged, &bytes).unwrap();
    let bad = run(&[
        "restore",
        damaged.to_str().unwrap(),
        "--data-dir",
        dir.path().join("x").to_str().unwrap(),
    ])
    .await;
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("damaged") || bad.stderr.contains("codec"),
        "{}",
        bad.stderr
    );
    assert!(!dir.path().join("x").join("nocas.redb").exists());
    assert!(!dir.path().join("x").join("nocas-log").exists());

    let data_dir = tempfile::TempDir::new_in(restored.path()).unwrap();
    std::fs::remove_dir(data_dir.path()).unwrap();
    std::fs::rename(&data, data_dir.path()).unwrap();
    let t = TestServer::start_in(data_dir, |_| {}).await;
    let now = h
        .get(&t.url("/nacos/v2/core/cluster/node/self/digest"), &[])
        .await
        .json();
    assert_eq!(now["data"]["digest"], digest.as_str(), "{now}");
    let copy = h
        .get(
            &t.url("/nacos/v3/admin/cs/config"),
            &[("dataId", "load-10"), ("groupName", "G")],
        )
        .await;
    assert_eq!(copy.status, 200, "{}", copy.body);
    // The restored node takes writes.
    let r = h
        .post(
            &t.url("/nacos/v3/admin/cs/config"),
            &[("dataId", "after"), ("groupName", "G"), ("content", "x")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_a_running_server_idempotently() {
    let from = TestServer::start().await;
    let to = TestServer::start().await;
    let h = Http::new();
    let post = |url: String, form: Vec<(&'static str, &'static str)>| {
        let h = h.clone();
        async move {
            let r = h.post(&url, &form).await;
            assert_eq!(r.status, 200, "{url}: {}", r.body);
        }
    };
    post(
        from.url("/nacos/v1/console/namespaces"),
        vec![
            ("customNamespaceId", "dev"),
            ("namespaceName", "Dev"),
            ("namespaceDesc", "development"),
        ],
    )
    .await;
    post(
        from.url("/nacos/v1/cs/configs"),
        vec![
            ("dataId", "a.yaml"),
            ("group", "G"),
            ("tenant", "dev"),
            ("content", "a: 1"),
            ("type", "yaml"),
            ("desc", "the a"),
            ("config_tags", "x,y"),
            ("appName", "app-a"),
        ],
    )
    .await;
    post(
        from.url("/nacos/v1/cs/configs"),
        vec![
            ("dataId", "p"),
            ("group", "DEFAULT_GROUP"),
            ("content", "public one"),
        ],
    )
    .await;
    post(
        from.url("/nacos/v1/ns/service"),
        vec![
            ("serviceName", "pay"),
            ("groupName", "G"),
            ("namespaceId", "dev"),
            ("protectThreshold", "0.3"),
            ("metadata", "team=pay"),
        ],
    )
    .await;
    post(
        from.url("/nacos/v1/ns/instance"),
        vec![
            ("serviceName", "pay"),
            ("groupName", "G"),
            ("namespaceId", "dev"),
            ("ip", "10.0.0.9"),
            ("port", "80"),
            ("ephemeral", "false"),
            ("weight", "3"),
            ("metadata", "{\"k\":\"v\"}"),
        ],
    )
    .await;
    post(
        from.url("/nacos/v1/ns/instance"),
        vec![
            ("serviceName", "live"),
            ("ip", "10.0.0.8"),
            ("port", "81"),
            ("ephemeral", "true"),
        ],
    )
    .await;

    let from_addr = from.base.trim_start_matches("http://").to_string();
    let to_addr = to.base.trim_start_matches("http://").to_string();
    let m = run(&[
        "migrate", "--from", &from_addr, "--to", &to_addr, "-o", "json",
    ])
    .await;
    ok(&m);
    let r = m.json();
    assert_eq!(r["namespaces"]["created"], 1, "{r}");
    assert_eq!(r["configs"]["created"], 2, "{r}");
    assert_eq!(r["services"]["created"], 2, "{r}");
    assert_eq!(r["instances"]["created"], 1, "{r}");
    assert_eq!(r["ephemeral_skipped"], 1, "{r}");
    let cfg = h
        .get(
            &to.url("/nacos/v3/admin/cs/config"),
            &[
                ("namespaceId", "dev"),
                ("groupName", "G"),
                ("dataId", "a.yaml"),
            ],
        )
        .await
        .json();
    assert_eq!(
        [
            &cfg["data"]["content"],
            &cfg["data"]["type"],
            &cfg["data"]["desc"],
            &cfg["data"]["configTags"],
            &cfg["data"]["appName"]
        ],
        [
            &json!("a: 1"),
            &json!("yaml"),
            &json!("the a"),
            &json!("x,y"),
            &json!("app-a")
        ]
    );
    let svc = h
        .get(
            &to.url("/nacos/v3/admin/ns/service"),
            &[
                ("namespaceId", "dev"),
                ("groupName", "G"),
                ("serviceName", "pay"),
            ],
        )
        .await
        .json();
    assert_eq!(svc["data"]["protectThreshold"], 0.3, "{svc}");
    assert_eq!(svc["data"]["metadata"], json!({"team": "pay"}));
    let inst = h
        .get(
            &to.url("/nacos/v3/admin/ns/instance/list"),
            &[
                ("namespaceId", "dev"),
                ("groupName", "G"),
                ("serviceName", "pay"),
            ],
        )
        .await
        .json();
    assert_eq!(inst["data"][0]["weight"], 3.0, "{inst}");
    assert_eq!(inst["data"][0]["ephemeral"], false);
    assert_eq!(inst["data"][0]["metadata"], json!({"k": "v"}));

    // Again: nothing changes.
    let m = run(&[
        "migrate", "--from", &from_addr, "--to", &to_addr, "-o", "json",
    ])
    .await;
    ok(&m);
    let r = m.json();
    for kind in ["namespaces", "configs", "services", "instances"] {
        assert_eq!(r[kind]["created"], 0, "{kind}: {r}");
        assert_eq!(r[kind]["updated"], 0, "{kind}: {r}");
    }
    assert_eq!(r["configs"]["unchanged"], 2, "{r}");
    // The table report.
    let t = run(&[
        "migrate",
        "--from",
        &from_addr,
        "--to",
        &to_addr,
        "--dry-run",
    ])
    .await;
    ok(&t);
    assert!(
        t.stdout.contains("dry run") && t.stdout.contains("KIND"),
        "{}",
        t.stdout
    );
}
