//! Shared test helpers: start a server (in-process or as a real process) on
//! free loopback ports, wait for conditions with deadlines, make HTTP calls.
//!
//! Ports are never fixed: the HTTP port is chosen so that its gRPC
//! neighbour (HTTP + 1000) is free too, and a start that loses a race for a
//! port is retried on another.

pub mod grpc;
pub mod linearizable;
pub mod prom;
pub mod tls;

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub use nocas_server::Settings;

/// Test ports come from here: below Linux's ephemeral range (32768 and
/// up), so no outgoing connection's source port can take one between the
/// check and the bind (a node's Raft port did once, and another test's
/// cluster answered on it).
const PORTS: std::ops::RangeInclusive<u16> = 10_000..=31_000;

/// The next candidate port: a counter shared by every test of the
/// process, starting at a point spread by process id.
fn next_candidate() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let span = PORTS.end() - PORTS.start();
    if NEXT.load(Ordering::Relaxed) == 0 {
        let seed = PORTS.start() + (std::process::id() % u32::from(span)) as u16;
        let _ = NEXT.compare_exchange(0, seed, Ordering::Relaxed, Ordering::Relaxed);
    }
    let p = NEXT.fetch_add(7, Ordering::Relaxed);
    if PORTS.contains(&p) {
        p
    } else {
        NEXT.store(*PORTS.start() + 7, Ordering::Relaxed);
        *PORTS.start()
    }
}

/// Picks a port `p` such that `p` and `p + 1000` are free on 127.0.0.1 now.
pub fn free_port_pair() -> u16 {
    loop {
        let p = next_candidate();
        let a = TcpListener::bind(("127.0.0.1", p));
        let b = TcpListener::bind(("127.0.0.1", p + 1000));
        if a.is_ok() && b.is_ok() {
            return p;
        }
    }
}

/// Settings for a test server: loopback, free ports, data in `dir`, and
/// short timers so Nacos's 15 s / 30 s timelines run in well under a second.
pub fn test_settings(dir: &Path) -> Settings {
    let mut s = Settings {
        data_dir: dir.to_path_buf(),
        http_port: free_port_pair(),
        ..Default::default()
    };
    s.naming.beat_check_interval_ms = 50;
    s.naming.probe_interval_ms = 100;
    s.naming.probe_timeout_ms = 200;
    s.config.long_poll_min_ms = 100;
    s.config.long_poll_margin_ms = 50;
    s.raft.heartbeat_ms = 50;
    s.raft.election_min_ms = 150;
    s.raft.election_max_ms = 300;
    s
}

/// A server running inside the test process.
pub struct TestServer {
    running: Option<nocas_server::Running>,
    /// Its data directory (deleted on drop unless kept).
    pub dir: tempfile::TempDir,
    /// Base URL, `http://127.0.0.1:PORT`.
    pub base: String,
}

impl TestServer {
    /// Starts a server with test settings changed by `tune`.
    pub async fn start_with(tune: impl Fn(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, tune).await
    }

    /// Starts a server with test settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server on an existing data directory.
    pub async fn start_in(dir: tempfile::TempDir, tune: impl Fn(&mut Settings)) -> Self {
        let mut last_err = None;
        for _ in 0..5 {
            let mut s = test_settings(dir.path());
            tune(&mut s);
            match nocas_server::start(s).await {
                Ok(running) => {
                    let base = format!("http://{}", running.http_addr());
                    return Self {
                        running: Some(running),
                        dir,
                        base,
                    };
                }
                Err(nocas_server::ServerError::Bind { .. }) => continue,
                Err(e) => last_err = Some(e.to_string()),
            }
            if last_err.is_some() {
                break;
            }
        }
        panic!("test server did not start: {last_err:?}");
    }

    /// The running server.
    pub fn running(&self) -> &nocas_server::Running {
        self.running.as_ref().expect("server running")
    }

    /// URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Shuts the server down cleanly and returns its data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
        self.dir
    }
}

/// Waits until `cond` holds, polling every 10 ms; panics with `what` after
/// `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A small HTTP client for tests.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

/// A response: status and body text.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: String,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

impl Http {
    /// A client with no proxy and a 30 s timeout.
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    /// A client trusting only the CA certificates in `ca_pem` (for servers
    /// with TLS), presenting `identity_pem` (certificate and key) if given.
    pub fn with_ca(ca_pem: &[u8], identity_pem: Option<&[u8]>) -> Self {
        let mut b = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .tls_built_in_root_certs(false);
        for c in reqwest::Certificate::from_pem_bundle(ca_pem).expect("CA PEM") {
            b = b.add_root_certificate(c);
        }
        if let Some(id) = identity_pem {
            b = b.identity(reqwest::Identity::from_pem(id).expect("identity PEM"));
        }
        Self {
            client: b.build().expect("https client"),
        }
    }

    /// Sends `method url` with `query` parameters and an optional form body;
    /// panics if the request cannot be sent.
    pub async fn call(
        &self,
        method: &str,
        url: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.try_call(method, url, query, form, headers)
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    /// Like [`Http::call`], but a failure to send is an error.
    pub async fn try_call(
        &self,
        method: &str,
        url: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, url).query(query);
        if let Some(form) = form {
            let body = serde_urlencoded_pairs(form);
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.map_err(|e| e.to_string())?;
        Ok(Reply {
            status,
            body,
            headers,
        })
    }

    /// GET with query parameters.
    pub async fn get(&self, url: &str, query: &[(&str, &str)]) -> Reply {
        self.call("GET", url, query, None, &[]).await
    }

    /// POST with a form body.
    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Reply {
        self.call("POST", url, &[], Some(form), &[]).await
    }

    /// PUT with a form body.
    pub async fn put(&self, url: &str, form: &[(&str, &str)]) -> Reply {
        self.call("PUT", url, &[], Some(form), &[]).await
    }

    /// DELETE with query parameters.
    pub async fn delete(&self, url: &str, query: &[(&str, &str)]) -> Reply {
        self.call("DELETE", url, query, None, &[]).await
    }

    /// Sends a raw request body with a content type.
    pub async fn raw(&self, method: &str, url: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = self
            .client
            .request(method, url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        Reply {
            status,
            body,
            headers,
        }
    }
}

fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&urlencode(k));
        out.push('=');
        out.push_str(&urlencode(v));
    }
    out
}

/// Percent-encodes a form value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A `nocas` server running as a child process.
pub struct ServerProcess {
    child: Child,
    bin: PathBuf,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Extra arguments it was started with.
    pub args: Vec<String>,
    /// HTTP address.
    pub http: SocketAddr,
    /// gRPC address.
    pub grpc: SocketAddr,
    /// Time from spawn to the "listening" line.
    pub startup: Duration,
}

impl ServerProcess {
    /// Starts `bin server` on HTTP `port` with `args`; `None` if it did not
    /// come up (a port was taken).
    pub fn spawn_on(bin: &Path, data_dir: &Path, port: u16, args: &[&str]) -> Option<Self> {
        Self::try_spawn(bin, data_dir, port, args)
    }

    /// [`ServerProcess::spawn_on`] with extra environment variables.
    pub fn spawn_on_env(
        bin: &Path,
        data_dir: &Path,
        port: u16,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Option<Self> {
        Self::try_spawn_env(bin, data_dir, port, args, None, env)
    }

    /// Starts `bin server` on free ports with `args` (and `--data-dir`).
    pub fn spawn(bin: &Path, data_dir: &Path, args: &[&str]) -> Self {
        Self::spawn_logging(bin, data_dir, args, None)
    }

    /// [`ServerProcess::spawn`], writing the server's log (stderr) to
    /// `log.0` with the log filter `log.1`.
    pub fn spawn_logging(
        bin: &Path,
        data_dir: &Path,
        args: &[&str],
        log: Option<(&Path, &str)>,
    ) -> Self {
        for _ in 0..5 {
            let port = free_port_pair();
            if let Some(p) = Self::try_spawn_logging(bin, data_dir, port, args, log) {
                return p;
            }
        }
        panic!("nocas server did not start");
    }

    fn try_spawn(bin: &Path, data_dir: &Path, port: u16, args: &[&str]) -> Option<Self> {
        Self::try_spawn_logging(bin, data_dir, port, args, None)
    }

    fn try_spawn_logging(
        bin: &Path,
        data_dir: &Path,
        port: u16,
        args: &[&str],
        log: Option<(&Path, &str)>,
    ) -> Option<Self> {
        Self::try_spawn_env(bin, data_dir, port, args, log, &[])
    }

    fn try_spawn_env(
        bin: &Path,
        data_dir: &Path,
        port: u16,
        args: &[&str],
        log: Option<(&Path, &str)>,
        env: &[(&str, &str)],
    ) -> Option<Self> {
        let mut all: Vec<String> = vec![
            "server".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--http-port".into(),
            port.to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let started = Instant::now();
        let mut child = Command::new(bin)
            .args(&all)
            .env_remove("NOCAS_HTTP_PORT")
            .env_remove("NOCAS_GRPC_PORT")
            .env_remove("NOCAS_DATA_DIR")
            .env(
                "NOCAS_LOG",
                match log {
                    Some((_, filter)) => filter.to_string(),
                    None => std::env::var("NOCAS_TEST_LOG").unwrap_or_else(|_| "warn".into()),
                },
            )
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(match log {
                Some((path, _)) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("open the log file"),
                ),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("spawn nocas");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        };
        let startup = started.elapsed();
        let (http, grpc) = parse_listening(&line)?;
        Some(Self {
            child,
            bin: bin.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            http,
            grpc,
            startup,
        })
    }

    /// Base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Base URL over TLS.
    pub fn https_base(&self) -> String {
        format!("https://{}", self.http)
    }

    /// Kills the process with SIGKILL.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) with a pid we own and a valid signal number.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        self.child.wait().expect("wait")
    }

    /// Waits (bounded) for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal (SIGSTOP, SIGCONT...) to the process.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) with a pid we own and a valid signal number.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    /// Starts the same server again on the same port and data directory.
    pub fn restart(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let bin = self.bin.clone();
        let dir = self.data_dir.clone();
        let port = self.http.port();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(p) = Self::try_spawn(&bin, &dir, port, &args) {
                *self = p;
                return;
            }
            assert!(Instant::now() < deadline, "restart failed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `nocas listening http=ADDR grpc=ADDR`.
pub fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = line.strip_prefix("nocas listening ")?;
    let mut http = None;
    let mut grpc = None;
    for part in rest.split_whitespace() {
        if let Some(v) = part.strip_prefix("http=") {
            http = v.parse().ok();
        } else if let Some(v) = part.strip_prefix("grpc=") {
            grpc = v.parse().ok();
        }
    }
    Some((http?, grpc?))
}

/// A free port on 127.0.0.1 (nothing listens on it right now), outside
/// the ephemeral range.
pub fn free_port() -> u16 {
    loop {
        let p = next_candidate();
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// Settings for cluster tests: fast elections and soft-state timers.
pub const FAST_CLUSTER_TOML: &str = "\
[raft]
heartbeat_ms = 50
election_min_ms = 300
election_max_ms = 600
write_timeout_ms = 3000
rpc_timeout_ms = 1000
[naming]
beat_check_interval_ms = 50
[cluster.soft]
digest_interval_ms = 100
handover_ms = 1000
";

/// A cluster of `nocas` processes on loopback.
pub struct ClusterProcesses {
    bin: PathBuf,
    /// Root of the nodes' data directories.
    pub dir: tempfile::TempDir,
    /// `--members` value.
    pub members: String,
    ports: Vec<(u16, u16)>,
    extra: Vec<String>,
    /// The nodes (None while stopped); node N is `nodes[N - 1]`.
    pub nodes: Vec<Option<ServerProcess>>,
}

impl ClusterProcesses {
    /// Starts `n` nodes with `toml` settings and extra `args`.
    pub fn spawn(bin: &Path, n: usize, toml: &str, args: &[&str]) -> Self {
        Self::spawn_prepared(bin, n, toml, args, |_, _| {})
    }

    /// [`ClusterProcesses::spawn`], calling `prepare(node, data_dir)`
    /// before a node first starts on a directory (to restore a backup
    /// into it, say).
    pub fn spawn_prepared(
        bin: &Path,
        n: usize,
        toml: &str,
        args: &[&str],
        prepare: impl Fn(usize, &Path),
    ) -> Self {
        let mut dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("cluster.toml");
        std::fs::write(&cfg, toml).expect("write settings");
        for attempt in 0..5 {
            let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port_pair(), free_port())).collect();
            let members = ports
                .iter()
                .map(|(h, r)| format!("127.0.0.1:{h}:{r}"))
                .collect::<Vec<_>>()
                .join(",");
            let mut extra = vec!["--config".to_string(), cfg.display().to_string()];
            extra.extend(args.iter().map(|s| s.to_string()));
            let mut c = Self {
                bin: bin.to_path_buf(),
                dir,
                members,
                ports,
                extra,
                nodes: Vec::new(),
            };
            let mut ok = true;
            for i in 1..=n {
                let data = c.dir.path().join(format!("node{i}"));
                if !data.exists() {
                    prepare(i, &data);
                }
                match c.start_node(i) {
                    Some(p) => c.nodes.push(Some(p)),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                return c;
            }
            assert!(attempt < 4, "cluster did not start");
            c.nodes.clear();
            dir = c.dir;
        }
        unreachable!()
    }

    fn start_node(&self, i: usize) -> Option<ServerProcess> {
        let data = self.dir.path().join(format!("node{i}"));
        let id = i.to_string();
        let mut args: Vec<&str> = vec!["--members", &self.members, "--node-id", &id];
        args.extend(self.extra.iter().map(String::as_str));
        ServerProcess::spawn_on(&self.bin, &data, self.ports[i - 1].0, &args)
    }

    /// HTTP base URL of node `i` (1-based).
    pub fn base(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i - 1].0)
    }

    /// Member entry (`host:http:raft`) of node `i`.
    pub fn member(&self, i: usize) -> String {
        format!("127.0.0.1:{}:{}", self.ports[i - 1].0, self.ports[i - 1].1)
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i - 1].take() {
            p.kill9();
        }
    }

    /// Stops node `i` with SIGTERM (a graceful shutdown) and waits for it.
    pub fn terminate(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i - 1].take() {
            p.terminate();
        }
    }

    /// Pauses node `i` (SIGSTOP).
    pub fn pause(&self, i: usize) {
        if let Some(p) = &self.nodes[i - 1] {
            p.signal(libc::SIGSTOP);
        }
    }

    /// Resumes node `i` (SIGCONT).
    pub fn resume(&self, i: usize) {
        if let Some(p) = &self.nodes[i - 1] {
            p.signal(libc::SIGCONT);
        }
    }

    /// Starts node `i` again on its ports and data.
    pub fn restart(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(p) = self.start_node(i) {
                self.nodes[i - 1] = Some(p);
                return;
            }
            assert!(Instant::now() < deadline, "node {i} did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts node `i` again with extra environment variables (a node of
    /// another version, in the mixed-version tests).
    pub fn restart_env(&mut self, i: usize, env: &[(&str, &str)]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let data = self.dir.path().join(format!("node{i}"));
            let id = i.to_string();
            let mut args: Vec<&str> = vec!["--members", &self.members, "--node-id", &id];
            args.extend(self.extra.iter().map(String::as_str));
            if let Some(p) =
                ServerProcess::spawn_on_env(&self.bin, &data, self.ports[i - 1].0, &args, env)
            {
                self.nodes[i - 1] = Some(p);
                return;
            }
            assert!(Instant::now() < deadline, "node {i} did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Indexes (1-based) of running nodes.
    pub fn alive(&self) -> Vec<usize> {
        (1..=self.nodes.len())
            .filter(|i| self.nodes[i - 1].is_some())
            .collect()
    }

    /// The leader as seen by a running node, if any.
    pub async fn leader(&self, http: &Http) -> Option<usize> {
        for i in self.alive() {
            let url = format!("{}/nacos/v2/core/cluster/node/self", self.base(i));
            if let Ok(r) = http.try_call("GET", &url, &[], None, &[]).await
                && let Some(l) = r.json()["data"]["extendInfo"]["raftMetaData"]["leader"].as_u64()
                && self.nodes.get(l as usize - 1).is_some_and(Option::is_some)
            {
                return Some(l as usize);
            }
        }
        None
    }

    /// Waits until a running node leads.
    pub async fn wait_leader(&self, http: &Http, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.leader(http).await {
                return l;
            }
            assert!(Instant::now() < deadline, "no leader within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (last applied, digest) of node `i`.
    pub async fn digest(&self, http: &Http, i: usize) -> Option<(u64, String)> {
        let url = format!("{}/nacos/v2/core/cluster/node/self/digest", self.base(i));
        let r = http.try_call("GET", &url, &[], None, &[]).await.ok()?;
        let v = r.json();
        Some((
            v["data"]["lastApplied"].as_u64()?,
            v["data"]["digest"].as_str()?.to_string(),
        ))
    }

    /// Waits until every running node applied the same log and holds the
    /// same state; returns the digest.
    pub async fn wait_converged(&self, http: &Http, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let mut seen = Vec::new();
            for i in self.alive() {
                seen.push(self.digest(http, i).await);
            }
            if let Some(Some(first)) = seen.first()
                && seen.iter().all(|d| d.as_ref() == Some(first))
            {
                return first.1.clone();
            }
            assert!(
                Instant::now() < deadline,
                "nodes did not converge: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Raises this process's open-file limit to at least `want` (up to the
/// hard limit); answers the limit now in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}
