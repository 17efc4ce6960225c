//! Live instances survive what happens to the node their client talks to.
//!
//! Real `nocas` processes in a three-node cluster; official SDK clients
//! spread over them (nacos-sdk-python 3.x, the Java nacos-client 2.x and
//! nacos-sdk-go v2 as processes, the `nacos-sdk` crate in this process),
//! each registering one ephemeral instance of one
//! service and subscribing to it. A monitor reads every node's instance
//! list every 100 ms while the nodes are killed and restarted in turn,
//! restarted gracefully in turn (SIGTERM), one is paused and resumed, and
//! clients are killed — one of them together with its node. Checked: no
//! live instance is missing from a node's answer for more than 1 s, no
//! subscriber is pushed a view without a live instance, and a dead
//! client's instance is gone within the stated bound (the hand-over time
//! plus one digest interval). The measured times are printed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nocas_testkit::{ClusterProcesses, Http, wait_until};
use parking_lot::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const SERVICE: &str = "handover";
/// Longer than the slowest SDK's reconnect and redo (the Python SDK redoes
/// on a fixed 30 s timer; a paused node adds its health-check detection).
const HANDOVER_MS: u64 = 50_000;
const DIGEST_MS: u64 = 100;
/// The stated bound for a client that died with (or while paused on) its
/// node: the hand-over time, one digest interval, and this test's 100 ms
/// sampling.
const GHOST_BOUND_MS: u64 = HANDOVER_MS + DIGEST_MS + 1_000;
const MAX_ABSENCE_MS: u64 = 1_000;
const SETTLE: Duration = Duration::from_secs(90);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

type Views = Arc<Mutex<Vec<(u64, BTreeSet<u16>)>>>;

/// One SDK client: a process (killable) or an in-process `nacos-sdk`.
struct Client {
    sdk: &'static str,
    port: u16,
    child: Option<Child>,
    views: Views,
    killed_at: Option<u64>,
    _rust: Option<nacos_sdk::api::naming::NamingService>,
}

impl Client {
    /// Starts a process that prints `{"event":"view","t":..,"ports":[..]}`
    /// lines (tests/interop/*/soak clients).
    /// Its SDK's cache and logs go to `work/<port>` (stderr too).
    fn process(sdk: &'static str, mut cmd: Command, servers: &str, port: u16, work: &Path) -> Self {
        let dir = work.join(port.to_string());
        std::fs::create_dir_all(&dir).expect("client work dir");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("client log");
        cmd.env("NOCAS_SERVERS", servers)
            .env("NOCAS_SERVICE", SERVICE)
            .env("NOCAS_IP", "10.77.0.1")
            .env("NOCAS_PORT", port.to_string())
            .env("NOCAS_WORKDIR", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {sdk} client: {e}"));
        let views: Views = Arc::default();
        let out = child.stdout.take().expect("stdout");
        let sink = views.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if v["event"] == "view" {
                    let ports = v["ports"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|p| p.as_u64())
                                .map(|p| p as u16)
                                .collect()
                        })
                        .unwrap_or_default();
                    sink.lock().push((v["t"].as_u64().unwrap_or(0), ports));
                }
            }
        });
        Self {
            sdk,
            port,
            child: Some(child),
            views,
            killed_at: None,
            _rust: None,
        }
    }

    fn kill(&mut self) {
        self.killed_at = Some(now_ms());
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct RustViews(Views);

impl nacos_sdk::api::naming::NamingEventListener for RustViews {
    fn event(&self, e: Arc<nacos_sdk::api::naming::NamingChangeEvent>) {
        let ports = e
            .instances
            .iter()
            .flatten()
            .map(|i| i.port as u16)
            .collect();
        self.0.lock().push((now_ms(), ports));
    }
}

async fn rust_client(servers: &str, port: u16, cache: &Path) -> Client {
    use nacos_sdk::api::naming::{NamingServiceBuilder, ServiceInstance};
    use nacos_sdk::api::props::ClientProps;
    let naming = NamingServiceBuilder::new(
        ClientProps::new()
            .server_addr(servers)
            .cache_dir(cache.join(port.to_string())),
    )
    .build()
    .await
    .expect("nacos-sdk client");
    let inst = ServiceInstance {
        ip: "10.77.0.1".into(),
        port: port as i32,
        ..Default::default()
    };
    naming
        .register_instance(SERVICE.into(), None, inst)
        .await
        .expect("register");
    let views: Views = Arc::default();
    naming
        .subscribe(
            SERVICE.into(),
            None,
            vec![],
            Arc::new(RustViews(views.clone())),
        )
        .await
        .expect("subscribe");
    Client {
        sdk: "rust nacos-sdk",
        port,
        child: None,
        views,
        killed_at: None,
        _rust: Some(naming),
    }
}

/// Every node's answer, every 100 ms: (node, time, ports) when it answered.
type Samples = Arc<Mutex<Vec<(usize, u64, BTreeSet<u16>)>>>;

fn spawn_monitor(bases: Vec<String>, samples: Samples, stop: Arc<AtomicBool>) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(400))
        .build()
        .expect("client");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let reads = bases.iter().enumerate().map(|(i, base)| {
                let client = client.clone();
                let url = format!("{base}/nacos/v1/ns/instance/list?serviceName={SERVICE}");
                async move {
                    let r = client.get(url).send().await.ok()?;
                    if !r.status().is_success() {
                        return None;
                    }
                    let v: serde_json::Value = r.json().await.ok()?;
                    let ports = v["hosts"]
                        .as_array()?
                        .iter()
                        .filter_map(|h| h["port"].as_u64())
                        .map(|p| p as u16)
                        .collect::<BTreeSet<u16>>();
                    Some((i + 1, now_ms(), ports))
                }
            });
            let got = futures::future::join_all(reads).await;
            samples.lock().extend(got.into_iter().flatten());
        }
    });
}

async fn node_json(h: &Http, base: &str, path: &str) -> Option<serde_json::Value> {
    let r = h
        .try_call("GET", &format!("{base}{path}"), &[], None, &[])
        .await
        .ok()?;
    (r.status == 200).then(|| serde_json::from_str(&r.body).ok())?
}

async fn node_ports(h: &Http, base: &str) -> Option<BTreeSet<u16>> {
    let v = node_json(
        h,
        base,
        &format!("/nacos/v1/ns/instance/list?serviceName={SERVICE}"),
    )
    .await?;
    Some(
        v["hosts"]
            .as_array()?
            .iter()
            .filter_map(|x| x["port"].as_u64())
            .map(|p| p as u16)
            .collect(),
    )
}

/// Instances held on a node for gone owners (waiting for hand-over).
async fn handing_over(h: &Http, base: &str) -> Option<u64> {
    let v = node_json(h, base, "/nacos/v2/core/cluster/node/self").await?;
    v["data"]["extendInfo"]["softState"]["handover"].as_u64()
}

/// Waits until every node lists exactly `want` and holds nothing for gone
/// owners (every client registered again on a live connection).
async fn settle(c: &ClusterProcesses, h: &Http, want: &BTreeSet<u16>, what: &str) {
    let bases: Vec<String> = (1..=3).map(|i| c.base(i)).collect();
    let want = want.clone();
    wait_until(SETTLE, what, || {
        let (h, bases, want) = (h.clone(), bases.clone(), want.clone());
        async move {
            for b in &bases {
                if node_ports(&h, b).await.as_ref() != Some(&want)
                    || handing_over(&h, b).await != Some(0)
                {
                    return false;
                }
            }
            true
        }
    })
    .await;
}

/// The node whose connection registered `port`.
async fn holder(c: &ClusterProcesses, h: &Http, port: u16) -> Option<usize> {
    for i in c.alive() {
        let ids = node_json(h, &c.base(i), "/nacos/v2/ns/client/list").await?;
        for id in ids["data"].as_array().cloned().unwrap_or_default() {
            let id = id.as_str().unwrap_or_default().to_string();
            let p = node_json(
                h,
                &c.base(i),
                &format!("/nacos/v2/ns/client/publish/list?clientId={id}"),
            )
            .await?;
            if p["data"].to_string().contains(&format!("\"port\":{port}")) {
                return Some(i);
            }
        }
    }
    None
}

/// Longest run of consecutive answers of one node missing `port` within
/// `[from, to)`, from the first answer without it to the next with it:
/// (length, when it began).
fn longest_absence(
    samples: &[(usize, u64, BTreeSet<u16>)],
    node: usize,
    port: u16,
    from: u64,
    to: u64,
) -> (u64, u64) {
    let mut longest = (0, 0);
    let mut missing_since = None;
    for (n, t, ports) in samples {
        if *n != node || *t < from || *t >= to {
            continue;
        }
        match (ports.contains(&port), missing_since) {
            (false, None) => missing_since = Some(*t),
            (true, Some(s)) => {
                if t - s > longest.0 {
                    longest = (t - s, s);
                }
                missing_since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = missing_since
        && to.saturating_sub(s) > longest.0
    {
        longest = (to.saturating_sub(s), s);
    }
    longest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_instances_survive_node_deaths_restarts_and_pauses() {
    let python = root().join(".venv/sdk-v3/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh, which creates the SDK virtualenv",
        python.display()
    );
    let java_jar = root().join("tests/interop/java/target/soak-client.jar");
    let go_bin = root().join("tests/interop/go/soak-client");
    for built in [&java_jar, &go_bin] {
        assert!(
            built.exists(),
            "{} is missing: run scripts/test.sh, which builds the Java and Go clients",
            built.display()
        );
    }
    let toml = format!(
        "[raft]\nheartbeat_ms = 50\nelection_min_ms = 300\nelection_max_ms = 600\n\
         [cluster.soft]\ndigest_interval_ms = {DIGEST_MS}\nhandover_ms = {HANDOVER_MS}\npause_ms = 2000\n"
    );
    // Connection closes and hand-overs are logged, to explain a failure.
    let mut c = ClusterProcesses::spawn(
        Path::new(BIN),
        3,
        &toml,
        &[
            "--log",
            "warn,nocas_server::grpc::push=info,nocas_cluster::soft_sync=info",
        ],
    );
    let h = Http::new();
    c.wait_leader(&h, Duration::from_secs(20)).await;
    let addr = |i: usize| c.base(i)["http://".len()..].to_string();
    // Each client lists the nodes starting from a different one.
    let servers = |k: usize| {
        (0..3)
            .map(|j| addr((k + j) % 3 + 1))
            .collect::<Vec<_>>()
            .join(",")
    };
    let cache = tempfile::tempdir().unwrap();
    let mut clients = Vec::new();
    for k in 0..6 {
        let mut cmd = Command::new(&python);
        cmd.arg(root().join("tests/interop/python/soak_client.py"));
        clients.push(Client::process(
            "python nacos-sdk-python 3.2.0",
            cmd,
            &servers(k),
            20_001 + k as u16,
            cache.path(),
        ));
    }
    for k in 0..3 {
        clients.push(rust_client(&servers(k), 21_001 + k as u16, cache.path()).await);
    }
    for k in 0..2 {
        let mut cmd = Command::new("java");
        cmd.arg("-jar").arg(&java_jar);
        clients.push(Client::process(
            "java nacos-client 2.5.1",
            cmd,
            &servers(k + 1),
            22_001 + k as u16,
            cache.path(),
        ));
        clients.push(Client::process(
            "go nacos-sdk-go 2.3.2",
            Command::new(&go_bin),
            &servers(k + 2),
            23_001 + k as u16,
            cache.path(),
        ));
    }
    let everyone: BTreeSet<u16> = clients.iter().map(|c| c.port).collect();
    settle(&c, &h, &everyone, "every client registered on every node").await;
    let samples: Samples = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    spawn_monitor(
        (1..=3).map(|i| c.base(i)).collect(),
        samples.clone(),
        stop.clone(),
    );
    let started = now_ms();
    let mut spans: Vec<(String, u64, u64)> = Vec::new();

    // Each node in turn killed, then each stopped gracefully; restarted at once.
    for graceful in [false, true] {
        let fault = if graceful { "SIGTERM" } else { "kill -9" };
        for i in 1..=3 {
            let t0 = now_ms();
            tokio::task::block_in_place(|| {
                if graceful {
                    c.terminate(i);
                } else {
                    c.kill(i);
                }
                c.restart(i);
            });
            let what = format!("{fault} + restart node {i}");
            settle(&c, &h, &everyone, &what).await;
            spans.push((what, t0, now_ms()));
        }
    }
    {
        // Paused long enough for clients with a health check (Python: 5 s
        // idle + 3 s timeout) to give up on it and move.
        // The node with the most clients is paused.
        let mut held = [0usize; 3];
        for cl in &clients {
            if let Some(n) = holder(&c, &h, cl.port).await {
                held[n - 1] += 1;
            }
        }
        let node = (1..=3).max_by_key(|n| held[n - 1]).unwrap_or(1);
        let t0 = now_ms();
        c.pause(node);
        tokio::time::sleep(Duration::from_secs(15)).await;
        c.resume(node);
        let what = format!(
            "SIGSTOP 15 s + SIGCONT node {node} ({} clients)",
            held[node - 1]
        );
        settle(&c, &h, &everyone, &what).await;
        spans.push((what, t0, now_ms()));
    }
    // Clients die while their nodes run: gone at once.
    let t0 = now_ms();
    let mut alive = everyone.clone();
    for k in [0, 1] {
        clients[k].kill();
        alive.remove(&clients[k].port);
    }
    settle(&c, &h, &alive, "killed clients gone").await;
    spans.push(("two clients killed".into(), t0, now_ms()));
    let t0 = now_ms();
    // A client dies with its node (paused first, so the node never sees the
    // connection close): gone within the bound.
    let victim = 2;
    let node = holder(&c, &h, clients[victim].port)
        .await
        .expect("a node holds the client's connection");
    c.pause(node);
    clients[victim].kill();
    tokio::task::block_in_place(|| {
        c.kill(node);
        c.restart(node);
    });
    alive.remove(&clients[victim].port);
    settle(&c, &h, &alive, "a client that died with its node is gone").await;
    spans.push((format!("client + its node {node} killed"), t0, now_ms()));
    // Every live subscriber ends with the final view.
    let live: Vec<(u16, Views)> = clients
        .iter()
        .filter(|cl| cl.killed_at.is_none())
        .map(|cl| (cl.port, cl.views.clone()))
        .collect();
    let want = alive.clone();
    wait_until(
        Duration::from_secs(30),
        "every subscriber pushed the final view",
        || {
            let (live, want) = (live.clone(), want.clone());
            async move {
                live.iter()
                    .all(|(_, v)| v.lock().last().is_some_and(|(_, view)| *view == want))
            }
        },
    )
    .await;
    let end = now_ms();
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // ---- Analysis ----
    let samples = samples.lock().clone();
    let mut report = String::new();
    report += &format!(
        "{} samples over {} s; rounds:\n",
        samples.len(),
        (end - started) / 1000
    );
    for (what, t0, t1) in &spans {
        report += &format!("  {what}: settled in {:.1} s\n", (t1 - t0) as f64 / 1000.0);
    }
    let mut failures = Vec::new();
    let mut per_sdk: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for cl in &clients {
        let to = cl.killed_at.unwrap_or(end);
        let (worst, worst_node, worst_at) = (1..=3)
            .map(|n| {
                let (gap, at) = longest_absence(&samples, n, cl.port, started, to);
                (gap, n, at)
            })
            .max()
            .unwrap_or_default();
        let round = spans
            .iter()
            .find(|(_, t0, t1)| (*t0..=*t1).contains(&worst_at))
            .map_or("between rounds", |(what, _, _)| what.as_str());
        let ghost = cl.killed_at.map_or(0, |k| {
            samples
                .iter()
                .filter(|(_, t, p)| *t > k && p.contains(&cl.port))
                .map(|(_, t, _)| t - k)
                .max()
                .unwrap_or(0)
        });
        let e = per_sdk.entry(cl.sdk).or_default();
        e.0 = e.0.max(worst);
        e.1 = e.1.max(ghost);
        report += &format!(
            "  {} port {}: longest absence {} ms{}{}\n",
            cl.sdk,
            cl.port,
            worst,
            if worst > 0 {
                format!(" (node {worst_node}, {round})")
            } else {
                String::new()
            },
            cl.killed_at
                .map(|_| format!(", gone {ghost} ms after its death"))
                .unwrap_or_default()
        );
        if worst > MAX_ABSENCE_MS {
            failures.push(format!("port {} missing for {worst} ms", cl.port));
        }
        if ghost > GHOST_BOUND_MS {
            failures.push(format!(
                "dead client's port {} seen {ghost} ms after",
                cl.port
            ));
        }
        // Once a subscriber has been pushed a view with every client, no
        // later view may lack one still alive at that time.
        let mut complete = false;
        for (t, view) in cl.views.lock().iter() {
            if cl.killed_at.is_some_and(|k| k <= *t) {
                break;
            }
            let missing: Vec<u16> = clients
                .iter()
                .filter(|o| o.killed_at.is_none_or(|k| k > *t))
                .map(|o| o.port)
                .filter(|p| !view.contains(p))
                .collect();
            if missing.is_empty() {
                complete = true;
            } else if complete {
                failures.push(format!(
                    "{} port {} was pushed a view without live {missing:?} at {t}",
                    cl.sdk, cl.port
                ));
            }
        }
    }
    for (sdk, (absence, ghost)) in &per_sdk {
        report +=
            &format!("{sdk}: longest absence {absence} ms, dead instance gone after {ghost} ms\n");
    }
    eprintln!("{report}");
    if !failures.is_empty() {
        // Keep the SDKs' logs for a look.
        let kept = cache.keep();
        report += &format!("SDK logs kept in {}\n", kept.display());
    }
    assert!(failures.is_empty(), "{failures:#?}\n{report}");
}
