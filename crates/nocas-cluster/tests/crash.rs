//! Crash tests the openraft suite does not cover: a process killed with
//! SIGKILL in the middle of a stream of writes loses none it acknowledged,
//! and its state (including the history id counter) is consistent when it
//! starts again.
//!
//! The writer runs as a child process: this same test binary, re-executed
//! to run the ignored `crash_child` test.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command as Proc, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nocas_cluster::{MemberAddr, Node, NodeConfig, RaftSettings};
use nocas_core::command::{Command, Event, EventSink, Publish};
use nocas_core::config::{ConfigMeta, md5_hex};
use nocas_core::names::{ConfigGroup, ConfigKey, DataId, NamespaceId};
use nocas_core::naming::soft::SoftRegistry;
use nocas_store::Store;

const CHILD_ENV: &str = "NOCAS_CRASH_CHILD_DIR";

struct NullSink;

impl EventSink for NullSink {
    fn publish(&self, _events: &[Event]) {}
}

fn key(i: u64) -> ConfigKey {
    ConfigKey::new(
        NamespaceId::public(),
        ConfigGroup::parse(Some("CRASH")).unwrap(),
        DataId::parse(Some(&format!("d{i}"))).unwrap(),
    )
}

fn publish(i: u64) -> Command {
    let content = format!("content-{i}");
    Command::PublishConfig(Box::new(Publish {
        key: key(i),
        md5: Arc::from(md5_hex(&content)),
        content: Arc::from(content),
        meta: ConfigMeta::default(),
        tag: None,
        beta_ips: None,
        cas_md5: None,
        src_ip: "127.0.0.1".into(),
        src_user: String::new(),
    }))
}

fn settings() -> RaftSettings {
    RaftSettings {
        heartbeat_ms: 50,
        election_min_ms: 150,
        election_max_ms: 300,
        // Snapshot and purge often, so crashes also land around compaction.
        snapshot_after_logs: 50,
        keep_logs: 10,
        ..Default::default()
    }
}

async fn start(dir: &Path) -> Node {
    let store = Store::open(&dir.join("nocas.redb")).unwrap();
    let me = MemberAddr::parse("127.0.0.1:18848:17848").unwrap();
    let cfg = NodeConfig {
        id: 1,
        me: me.clone(),
        members: vec![me],
        secret: None,
        join: false,
        raft: settings(),
        soft: Default::default(),
        space: None,
        peer_tls: None,
    };
    Node::start(
        cfg,
        store,
        Arc::new(NullSink),
        Arc::new(SoftRegistry::new()),
    )
    .await
    .unwrap()
}

#[test]
#[ignore = "child process of the crash tests"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let base: u64 = std::env::var("NOCAS_CRASH_BASE").unwrap().parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let node = Arc::new(start(Path::new(&dir)).await);
        println!("READY");
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..16u64 {
            let node = node.clone();
            tasks.spawn(async move {
                for n in 0.. {
                    let i = base + n * 16 + w;
                    node.write(publish(i)).await.unwrap().unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {i}").unwrap();
                    out.flush().unwrap();
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    });
}

/// Runs a child writing from `base`, kills it after `kill_after` acks, and
/// returns the acknowledged ids.
fn crash_round(dir: &Path, base: u64, kill_after: usize) -> Vec<u64> {
    let mut child = Proc::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .env("NOCAS_CRASH_BASE", base.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.len() < kill_after {
        assert!(
            Instant::now() < deadline,
            "child too slow: {} acks",
            acked.len()
        );
        let Some(Ok(line)) = lines.next() else {
            panic!("child exited early after {} acks", acked.len());
        };
        if let Some(i) = line.strip_prefix("ACK ") {
            acked.push(i.parse().unwrap());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Acks already written before the kill count too.
    for line in lines.map_while(Result::ok) {
        if let Some(i) = line.strip_prefix("ACK ") {
            acked.push(i.parse().unwrap());
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut all_acked = Vec::new();
    for round in 0..2u64 {
        let d = dir.path().to_path_buf();
        let acked = tokio::task::spawn_blocking(move || crash_round(&d, round * 1_000_000, 300))
            .await
            .unwrap();
        all_acked.extend(acked);

        let node = start(dir.path()).await;
        {
            let state = node.state().read();
            for i in &all_acked {
                let rec = state.config(&key(*i));
                let content = rec
                    .and_then(|r| r.formal.as_ref())
                    .map(|v| v.content.to_string());
                assert_eq!(
                    content,
                    Some(format!("content-{i}")),
                    "acked write {i} lost"
                );
            }
        }
        // The history counter survived: a new write gets a fresh history id.
        let before = node.store().history_len().unwrap();
        node.write(publish(999_999_999)).await.unwrap().unwrap();
        assert_eq!(node.store().history_len().unwrap(), before + 1);
        node.write(Command::RemoveConfig {
            key: key(999_999_999),
            tag: None,
            src_ip: String::new(),
            src_user: String::new(),
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(node.store().history_len().unwrap(), before + 2);
        node.shutdown().await.unwrap();
    }
}
