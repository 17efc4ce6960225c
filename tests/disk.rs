//! Disk faults on real processes: a full disk (a small tmpfs mounted by
//! the test; skipped with a message where mounting is not allowed) refuses
//! writes with 507 while reads keep working, and writes work again once
//! space returns; a write failing inside the store stops the node
//! (fail-stop) without losing an acknowledged write; a damaged database
//! file stops the start with a message naming it; a cluster node whose
//! file was damaged is wiped and catches up from its peers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nocas_testkit::{ClusterProcesses, FAST_CLUSTER_TOML, Http, ServerProcess, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_nocas");
const WAIT: Duration = Duration::from_secs(30);

/// A tmpfs of `mib` MiB mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u64) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system of `dir` with `filler` until at most `leave`
/// bytes are free.
fn fill(dir: &Path, filler: &Path, leave: u64) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(filler)
        .unwrap();
    let chunk = vec![0x5au8; 64 << 10];
    loop {
        let free = nocas_store::space::available_bytes(dir).unwrap();
        if free <= leave {
            break;
        }
        let n = (free - leave).min(chunk.len() as u64) as usize;
        if f.write_all(&chunk[..n]).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
}

async fn publish(h: &Http, base: &str, id: &str, content: &str) -> u16 {
    match h
        .try_call(
            "POST",
            &format!("{base}/nacos/v1/cs/configs"),
            &[],
            Some(&[("dataId", id), ("group", "G"), ("content", content)]),
            &[],
        )
        .await
    {
        Ok(r) => r.status,
        Err(_) => 0,
    }
}

async fn read(h: &Http, base: &str, id: &str) -> Option<String> {
    let r = h
        .get(
            &format!("{base}/nacos/v1/cs/configs"),
            &[("dataId", id), ("group", "G")],
        )
        .await;
    (r.status == 200).then_some(r.body)
}

fn settings(dir: &Path, toml: &str) -> PathBuf {
    let p = dir.join("settings.toml");
    std::fs::write(&p, toml).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_reads_and_recovers() {
    let Some(fs) = Tmpfs::mount(48) else {
        eprintln!(
            "SKIPPED a_full_disk_refuses_writes_keeps_reads_and_recovers: cannot mount a tmpfs here (needs root)"
        );
        return;
    };
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = settings(cfg_dir.path(), "[storage]\nmin_free_bytes = 8388608\n");
    let data = fs.path().join("data");
    let mut s = ServerProcess::spawn(
        Path::new(BIN),
        &data,
        &["--no-console", "--config", cfg.to_str().unwrap()],
    );
    let h = Http::new();
    let base = s.base();
    for i in 0..20 {
        assert_eq!(
            publish(&h, &base, &format!("c{i}"), &format!("v{i}")).await,
            200
        );
    }
    let filler = fs.path().join("filler");
    fill(fs.path(), &filler, 4 << 20);
    // Full: the write is refused with a reason, nothing is written.
    let r = h
        .try_call(
            "POST",
            &format!("{base}/nacos/v1/cs/configs"),
            &[],
            Some(&[("dataId", "late"), ("group", "G"), ("content", "x")]),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 507, "{}", r.body);
    assert!(r.body.contains("disk full"), "{}", r.body);
    let r = h
        .try_call(
            "POST",
            &format!("{base}/nacos/v2/cs/config"),
            &[],
            Some(&[("dataId", "late"), ("group", "G"), ("content", "x")]),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 507, "{}", r.body);
    assert_eq!(r.json()["code"], 30000, "{}", r.body);
    let r = h
        .try_call(
            "POST",
            &format!("{base}/nacos/v1/ns/instance"),
            &[],
            Some(&[
                ("serviceName", "p"),
                ("ip", "10.0.0.1"),
                ("port", "1"),
                ("ephemeral", "false"),
            ]),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 507, "{}", r.body);
    // Reads keep working.
    for i in 0..20 {
        assert_eq!(
            read(&h, &base, &format!("c{i}")).await,
            Some(format!("v{i}"))
        );
    }
    assert_eq!(read(&h, &base, "late").await, None);
    // Space returns: writes work again.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(publish(&h, &base, "late", "x").await, 200);
    assert_eq!(read(&h, &base, "late").await.as_deref(), Some("x"));
    // Everything acknowledged survives a kill -9.
    s.kill9();
    s.restart();
    let base = s.base();
    for i in 0..20 {
        assert_eq!(
            read(&h, &base, &format!("c{i}")).await,
            Some(format!("v{i}"))
        );
    }
    assert_eq!(read(&h, &base, "late").await.as_deref(), Some("x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_failing_in_the_store_stops_the_node_without_losing_acknowledged_writes() {
    let Some(fs) = Tmpfs::mount(48) else {
        eprintln!(
            "SKIPPED a_write_failing_in_the_store_stops_the_node...: cannot mount a tmpfs here (needs root)"
        );
        return;
    };
    // No reserve: the write reaches the store and fails there (ENOSPC, the
    // same path as a failed fsync).
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = settings(cfg_dir.path(), "[storage]\nmin_free_bytes = 0\n");
    let data = fs.path().join("data");
    let mut s = ServerProcess::spawn(
        Path::new(BIN),
        &data,
        &["--no-console", "--config", cfg.to_str().unwrap()],
    );
    let h = Http::new();
    let base = s.base();
    for i in 0..20 {
        assert_eq!(
            publish(&h, &base, &format!("c{i}"), &format!("v{i}")).await,
            200
        );
    }
    let filler = fs.path().join("filler");
    fill(fs.path(), &filler, 0);
    let big = "x".repeat(2 << 20);
    let mut acked_after_full = Vec::new();
    for i in 0..5 {
        let id = format!("big{i}");
        if publish(&h, &base, &id, &big).await == 200 {
            acked_after_full.push(id);
        }
    }
    let status = s
        .wait_exit(WAIT)
        .expect("the node stops when its store fails");
    assert_eq!(status.code(), Some(74), "fail-stop exit status");
    // Space returns; the node starts again with every acknowledged write.
    std::fs::remove_file(&filler).unwrap();
    s.restart();
    let base = s.base();
    for i in 0..20 {
        assert_eq!(
            read(&h, &base, &format!("c{i}")).await,
            Some(format!("v{i}"))
        );
    }
    for id in &acked_after_full {
        assert_eq!(read(&h, &base, id).await.as_deref(), Some(big.as_str()));
    }
    assert_eq!(publish(&h, &base, "after", "ok").await, 200);
}

/// Runs `nocas server` on `data` and returns its exit status and stderr
/// (it must exit by itself within the wait).
fn start_refused(data: &Path) -> (std::process::ExitStatus, String) {
    let port = nocas_testkit::free_port_pair();
    let mut child = Command::new(BIN)
        .args(["server", "--no-console", "--data-dir"])
        .arg(data)
        .args(["--http-port", &port.to_string()])
        .env("NOCAS_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read as _;
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on a damaged file instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A way to damage a file.
type Damage = Box<dyn Fn(&Path)>;

/// Overwrites `len` bytes of `file` at `at` with a pattern.
fn scribble(file: &Path, at: u64, len: usize) {
    use std::io::{Seek as _, SeekFrom, Write as _};
    let mut f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&vec![0xa7; len]).unwrap();
    f.sync_all().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_file_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = ServerProcess::spawn(Path::new(BIN), &data, &["--no-console"]);
    let h = Http::new();
    for i in 0..50 {
        assert_eq!(
            publish(&h, &s.base(), &format!("c{i}"), &"v".repeat(500)).await,
            200
        );
    }
    s.terminate();
    drop(s);
    let file = nocas_server::store_path(&data);
    let good = std::fs::read(&file).unwrap();
    let len = good.len() as u64;
    let cases: [(&str, Damage); 4] = [
        (
            "empty",
            Box::new(|f| std::fs::File::create(f).map(|_| ()).unwrap()),
        ),
        (
            "truncated",
            Box::new(move |f| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(f)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap()
            }),
        ),
        ("header overwritten", Box::new(|f| scribble(f, 0, 512))),
        (
            // Everything after the first page: whatever pages are in use
            // (free ones hold nothing to check, so a smaller scribble
            // could land on free pages only).
            "pages overwritten",
            Box::new(move |f| scribble(f, 4096, (len - 4096) as usize)),
        ),
    ];
    for (what, damage) in cases {
        std::fs::write(&file, &good).unwrap();
        damage(&file);
        let (status, err) = start_refused(&data);
        assert!(!status.success(), "{what}: started");
        assert!(
            err.contains(&file.display().to_string()) && err.contains("damaged"),
            "{what}: the message names the file: {err}"
        );
    }
    // The intact file still starts and serves everything.
    std::fs::write(&file, &good).unwrap();
    let s = ServerProcess::spawn(Path::new(BIN), &data, &["--no-console"]);
    for i in 0..50 {
        assert_eq!(
            read(&h, &s.base(), &format!("c{i}")).await,
            Some("v".repeat(500))
        );
    }
}

/// The documented recovery of a cluster node with a damaged file: remove
/// it from the membership, wipe its data directory, start it with
/// `--join`, add it again; it catches up from its peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_with_a_damaged_file_is_wiped_and_catches_up() {
    let mut c = ClusterProcesses::spawn(Path::new(BIN), 3, FAST_CLUSTER_TOML, &["--no-console"]);
    let h = Http::new();
    c.wait_leader(&h, WAIT).await;
    for i in 0..30 {
        let (h, base, id) = (h.clone(), c.base(1), format!("c{i}"));
        wait_until(WAIT, "publish", move || {
            let (h, base, id) = (h.clone(), base.clone(), id.clone());
            async move { publish(&h, &base, &id, "v").await == 200 }
        })
        .await;
    }
    c.wait_converged(&h, WAIT).await;
    c.terminate(3);
    let data3 = c.dir.path().join("node3");
    let file = nocas_server::store_path(&data3);
    // The header: a damage every open finds. (Pages in the middle of the
    // file may be free ones, which hold nothing to check.)
    scribble(&file, 0, 512);
    let (status, err) = start_refused(&data3);
    assert!(!status.success() && err.contains("damaged"), "{err}");
    // Remove node 3, wipe it, start it in join mode, add it back.
    let cli = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let server1 = c.base(1)["http://".len()..].to_string();
    cli(&["cluster", "--server", &server1, "remove", "--node-id", "3"]);
    std::fs::remove_dir_all(&data3).unwrap();
    let member3 = c.member(3);
    let cfg = c.dir.path().join("cluster.toml");
    let port3: u16 = member3.split(':').nth(1).unwrap().parse().unwrap();
    let n3 = ServerProcess::spawn_on(
        Path::new(BIN),
        &data3,
        port3,
        &[
            "--members",
            &c.members,
            "--node-id",
            "3",
            "--join",
            "--no-console",
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
    .expect("node 3 starts on a wiped directory");
    cli(&[
        "cluster",
        "--server",
        &server1,
        "add",
        "--member",
        &member3,
        "--node-id",
        "3",
    ]);
    let base3 = n3.base();
    wait_until(WAIT, "node 3 caught up", || {
        let (h, base) = (h.clone(), base3.clone());
        async move {
            let mut all = true;
            for i in 0..30 {
                all &= read(&h, &base, &format!("c{i}")).await.as_deref() == Some("v");
            }
            all
        }
    })
    .await;
    assert_eq!(publish(&h, &base3, "after", "w").await, 200);
    let base1 = c.base(1);
    wait_until(WAIT, "a write through node 3 reaches node 1", || {
        let (h, base) = (h.clone(), base1.clone());
        async move { read(&h, &base, "after").await.as_deref() == Some("w") }
    })
    .await;
}
