//! A tiny run of every scenario against a real in-process server, checking
//! that the tool's output is well-formed: JSON that reads back, every
//! expected row present, no failed operation, and the side-by-side report
//! built from it. Nothing here asserts a timing.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use nocas_bench::report::Report;
use nocas_bench::{Cli, run};
use nocas_testkit::TestServer;

async fn bench(args: &[&str]) -> nocas_bench::Output {
    let mut argv = vec!["nocas-bench"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    run(cli).await.unwrap_or_else(|e| panic!("{argv:?}: {e:#}"))
}

/// The command line of a tiny load run against `http`/`grpc`.
fn tiny(
    http: &str,
    grpc: &str,
    label: &str,
    json: &std::path::Path,
    scenario: &[&str],
) -> Vec<String> {
    let mut a: Vec<String> = [
        "nocas-bench",
        "--server",
        http,
        "--grpc",
        grpc,
        "--label",
        label,
        "--seconds",
        "0.2",
        "--warmup-ms",
        "0",
        "--workers",
        "2",
        "--count",
        "50",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push("--json".into());
    a.push(json.to_str().unwrap_or_default().to_string());
    a.extend(scenario.iter().map(|s| s.to_string()));
    a
}

/// The report's line starting with `prefix`.
fn line_of(table: &str, prefix: &str) -> String {
    table
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {table}"))
        .to_string()
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A tiny curve: 2 key counts × 2 loads of each of the four scenarios.
const CURVE: [&str; 11] = [
    "curve",
    "--keys",
    "1,3",
    "--loads",
    "1,2",
    "--base-workers",
    "1",
    "--base-subscribers",
    "2",
    "--rounds",
    "2",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_curve_has_every_point_of_every_scenario() {
    let server = TestServer::start().await;
    let http = server.running().http_addr().to_string();
    let grpc = server.running().grpc_addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("curve.json");
    let argv = tiny(&http, &grpc, "nocas", &json, &CURVE);
    let out = run(Cli::try_parse_from(&argv).unwrap()).await.unwrap();
    let mut points = Vec::new();
    for row in &out.report.rows {
        points.push(format!("{} {}", row.scenario, row.variant));
        assert_eq!(row.get("errors").unwrap_or(0.0), 0.0, "{row:?}");
        if row.scenario == "push-curve" {
            assert_eq!(row.get("missed"), Some(0.0), "{row:?}");
            // Every subscriber got every service's change, every round.
            let (k, c) = match row.variant.as_str() {
                "K=1 C=2" => (1.0, 2.0),
                "K=1 C=4" => (1.0, 4.0),
                "K=3 C=2" => (3.0, 2.0),
                "K=3 C=4" => (3.0, 4.0),
                v => panic!("unexpected push point {v}"),
            };
            assert_eq!(row.get("pushes"), Some(k * c * 2.0), "{row:?}");
        } else {
            assert!(row.get("ops_per_s").unwrap_or(0.0) > 0.0, "{row:?}");
        }
    }
    let mut want = Vec::new();
    for s in ["register-curve", "list-curve", "config-get-curve"] {
        for p in ["K=1 W=1", "K=1 W=2", "K=3 W=1", "K=3 W=2"] {
            want.push(format!("{s} {p}"));
        }
    }
    for p in ["K=1 C=2", "K=1 C=4", "K=3 C=2", "K=3 C=4"] {
        want.push(format!("push-curve {p}"));
    }
    assert_eq!(points, want);
    let back: Report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(back.rows.len(), want.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_writes_well_formed_results() {
    let server = TestServer::start().await;
    let http = server.running().http_addr().to_string();
    let grpc = server.running().grpc_addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("nocas.json");
    let pid = std::process::id().to_string();
    let out = bench(&[
        "--server",
        &http,
        "--grpc",
        &grpc,
        "--label",
        "nocas",
        "--json",
        json.to_str().unwrap(),
        "suite",
        "--smoke",
        "--pid",
        &pid,
    ])
    .await;

    let text = std::fs::read_to_string(&json).unwrap();
    let report: Report = serde_json::from_str(&text).unwrap();
    // Same rows and metrics as returned (values differ in the last bits:
    // JSON floats do not round-trip exactly).
    let shape = |r: &Report| {
        r.rows
            .iter()
            .map(|row| {
                let names: Vec<String> = row.metrics.iter().map(|m| m.name.clone()).collect();
                (row.scenario.clone(), row.variant.clone(), names)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&report), shape(&out.report));
    assert_eq!(report.label, "nocas");
    let has = |scenario: &str, variant: &str| {
        report
            .rows
            .iter()
            .find(|r| r.scenario == scenario && r.variant == variant)
            .unwrap_or_else(|| panic!("no {scenario}/{variant} row in {text}"))
    };
    for scenario in ["register", "list", "config-get", "publish"] {
        for via in ["http", "grpc"] {
            let row = has(scenario, via);
            assert_eq!(row.get("errors"), Some(0.0), "{scenario}/{via}: {row:?}");
            assert!(
                row.get("ok").unwrap_or(0.0) > 0.0,
                "{scenario}/{via}: {row:?}"
            );
            assert!(row.get("ops_per_s").unwrap_or(0.0) > 0.0, "{row:?}");
        }
    }
    for scenario in ["push", "listen"] {
        for s in ["S=1", "S=5"] {
            let row = has(scenario, s);
            assert_eq!(row.get("missed"), Some(0.0), "{scenario}/{s}: {row:?}");
            let n: f64 = s[2..].parse().unwrap();
            assert_eq!(row.get("pushes"), Some(n * 2.0), "{scenario}/{s}: {row:?}");
        }
    }
    for variant in ["start", "100 instances", "1000 instances", "+20 configs"] {
        assert!(has("footprint", variant).get("rss_mib").unwrap_or(0.0) > 0.0);
    }
    assert!(
        has("connections", "10 connections")
            .get("rss_after_mib")
            .is_some()
    );
    // Every subcommand's own flags parse (the suite calls scenarios
    // directly).
    let conns = bench(&[
        "--server",
        &http,
        "--grpc",
        &grpc,
        "connections",
        "--connections",
        "3",
        "--pid",
        &pid,
    ])
    .await;
    assert_eq!(conns.report.rows[0].variant, "3 connections");
    for heading in ["### register", "### push", "### footprint", "| variant |"] {
        assert!(
            out.markdown.contains(heading),
            "{heading} in {}",
            out.markdown
        );
    }

    // The ceiling: a bare hello-world served by the tool, loaded by it.
    let hello_addr = free_addr().to_string();
    let hello = tokio::spawn({
        let a = hello_addr.clone();
        async move { bench(&["--server", &a, "hello", "--size", "64"]).await }
    });
    let ceiling_json = dir.path().join("ceiling.json");
    let mut ceiling = None;
    for _ in 0..200 {
        let argv = tiny(
            &hello_addr,
            &hello_addr,
            "ceiling",
            &ceiling_json,
            &["ceiling", "--path", "/hello"],
        );
        let cli = Cli::try_parse_from(&argv).unwrap();
        match run(cli).await {
            Ok(o) if o.report.rows[0].get("errors") == Some(0.0) => {
                ceiling = Some(o);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let ceiling = ceiling.expect("the hello server answered");
    assert!(ceiling.report.rows[0].get("ok").unwrap_or(0.0) > 0.0);
    hello.abort();

    // Start-up of a server command (the tool's own hello server).
    let start_addr = free_addr().to_string();
    let exe = env!("CARGO_BIN_EXE_nocas-bench");
    let startup = bench(&[
        "--server",
        &start_addr,
        "startup",
        "--runs",
        "1",
        "--",
        exe,
        "--server",
        &start_addr,
        "hello",
    ])
    .await;
    let row = &startup.report.rows[0];
    assert_eq!(
        (row.scenario.as_str(), row.get("runs")),
        ("startup", Some(1.0))
    );
    assert!(row.get("idle_rss_mib").unwrap_or(0.0) > 0.0, "{row:?}");

    // The side-by-side report from result files (ours against itself as
    // the peer: every ratio is 1).
    let peer = dir.path().join("peer.json");
    let mut as_peer = report.clone();
    as_peer.label = "rnacos".into();
    std::fs::write(&peer, serde_json::to_vec(&as_peer).unwrap()).unwrap();
    let table = bench(&[
        "report",
        json.to_str().unwrap(),
        peer.to_str().unwrap(),
        ceiling_json.to_str().unwrap(),
    ])
    .await
    .markdown;
    assert!(
        table.contains("| scenario | variant | metric | nocas | rnacos |"),
        "{table}"
    );
    let line = |prefix: &str| line_of(&table, prefix);
    // Reads are compared with the ceiling, writes are not.
    let list = line("| list | http | ops_per_s |");
    assert!(list.contains("| 1.00 |") && list.ends_with("% |"), "{list}");
    let register = line("| register | http | ops_per_s |");
    assert!(register.ends_with("| 1.00 | - |"), "{register}");
    server.stop().await;
}

/// The ceiling server answers the client scenarios like a server (no
/// failed operation, no missed push, answers the size of Nocas's), the
/// redb ceiling commits, and the report compares each row with the
/// ceiling's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ceilings_answer_every_client_scenario() {
    let (http, grpc) = (free_addr().to_string(), free_addr().to_string());
    let serving = tokio::spawn({
        let (h, g) = (http.clone(), grpc.clone());
        async move { bench(&["--server", &h, "--grpc", &g, "ceiling-server"]).await }
    });
    let dir = tempfile::tempdir().unwrap();
    // The server is up once a registration goes through.
    let reg_json = dir.path().join("c-register.json");
    let mut up = false;
    for _ in 0..200 {
        let argv = tiny(&http, &grpc, "ceiling", &reg_json, &["register"]);
        if let Ok(o) = run(Cli::try_parse_from(&argv).unwrap()).await
            && o.report.rows.iter().all(|r| r.get("errors") == Some(0.0))
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(up, "the ceiling server answered registrations");
    let mut files = vec![reg_json];
    for (name, rest) in [
        ("list", vec!["list"]),
        ("get", vec!["config-get"]),
        (
            "push",
            vec!["push", "--subscribers", "1,5", "--rounds", "2"],
        ),
        ("curve", CURVE.to_vec()),
    ] {
        let json = dir.path().join(format!("c-{name}.json"));
        let argv = tiny(&http, &grpc, "ceiling", &json, &rest);
        let out = run(Cli::try_parse_from(&argv).unwrap()).await.unwrap();
        for row in &out.report.rows {
            assert_eq!(row.get("errors").unwrap_or(0.0), 0.0, "{row:?}");
            assert_eq!(row.get("missed").unwrap_or(0.0), 0.0, "{row:?}");
            if !row.scenario.starts_with("push") {
                assert!(row.get("ops_per_s").unwrap_or(0.0) > 0.0, "{row:?}");
            }
            if row.scenario == "list" {
                // Ten instances, as a server would list them.
                assert!(row.get("resp_bytes").unwrap_or(0.0) > 2000.0, "{row:?}");
            }
        }
        files.push(json);
    }
    let redb_json = dir.path().join("c-redb.json");
    let db_dir = dir.path().to_str().unwrap().to_string();
    let redb = bench(&[
        "--seconds",
        "0.2",
        "--json",
        redb_json.to_str().unwrap(),
        "--label",
        "ceiling",
        "redb-publish",
        "--dir",
        &db_dir,
        "--batch",
        "4",
    ])
    .await;
    let row = &redb.report.rows[0];
    assert_eq!(
        (row.scenario.as_str(), row.variant.as_str()),
        ("publish", "redb")
    );
    assert!(row.get("ops_per_s").unwrap_or(0.0) > 0.0, "{row:?}");
    assert_eq!(row.get("batch"), Some(4.0));
    files.push(redb_json);
    serving.abort();

    // Nocas's rows against the ceiling's: a percentage for throughput, a
    // multiple for latency.
    let server = TestServer::start().await;
    let (nh, ng) = (
        server.running().http_addr().to_string(),
        server.running().grpc_addr().to_string(),
    );
    let ours = dir.path().join("nocas.json");
    let argv = tiny(&nh, &ng, "nocas", &ours, &["publish", "--via", "grpc"]);
    let published = run(Cli::try_parse_from(&argv).unwrap()).await.unwrap();
    // Nocas says how large its group commit's batches were.
    assert!(published.report.rows[0].get("batch").unwrap_or(0.0) >= 1.0);
    let ours_reg = dir.path().join("nocas-reg.json");
    let argv = tiny(&nh, &ng, "nocas", &ours_reg, &["register"]);
    run(Cli::try_parse_from(&argv).unwrap()).await.unwrap();
    server.stop().await;
    let mut args = vec!["report".to_string()];
    args.extend(
        [ours, ours_reg]
            .iter()
            .map(|p| p.to_str().unwrap().to_string()),
    );
    args.extend(files.iter().map(|p| p.to_str().unwrap().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let table = bench(&refs).await.markdown;
    let line = |prefix: &str| line_of(&table, prefix);
    assert!(
        line("| register | grpc | ops_per_s |").ends_with("% |"),
        "{table}"
    );
    assert!(
        line("| register | grpc | p99_ms |").ends_with("× |"),
        "{table}"
    );
    assert!(
        line("| publish | grpc | ops_per_s |").ends_with("% |"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_durable_ceiling_commits_publishes_before_answering() {
    let (http, grpc) = (free_addr().to_string(), free_addr().to_string());
    let dir = tempfile::tempdir().unwrap();
    let durable = dir.path().join("durable");
    let serving = tokio::spawn({
        let (h, g) = (http.clone(), grpc.clone());
        let d = durable.to_str().unwrap().to_string();
        async move {
            bench(&[
                "--server",
                &h,
                "--grpc",
                &g,
                "ceiling-server",
                "--durable-dir",
                &d,
            ])
            .await
        }
    });
    let json = dir.path().join("c-publish.json");
    let mut rows = Vec::new();
    for _ in 0..200 {
        let argv = tiny(
            &http,
            &grpc,
            "ceiling",
            &json,
            &["publish", "--via", "http,grpc"],
        );
        if let Ok(o) = run(Cli::try_parse_from(&argv).unwrap()).await
            && o.report.rows.iter().all(|r| r.get("errors") == Some(0.0))
        {
            rows = o.report.rows;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), 2, "both publish rows answered without errors");
    for row in &rows {
        assert!(row.get("ops_per_s").unwrap_or(0.0) > 0.0, "{row:?}");
    }
    // The publishes are in the database, not only in memory.
    let db = durable.join("ceiling-publish.redb");
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    assert!(size > 0, "{} holds the publishes", db.display());
    serving.abort();
}
