//! Criterion benchmark of the storage work of one log entry of 16 config
//! publishes (256-byte contents, new configs), the shape the group commit
//! forms under 32 writers: the fsynced log append while the store's
//! applied-state writer writes the previous entry's staged records (config
//! row, history record and index, counters, `applied` marker) on its
//! own thread, as the state machine and log store do it, against the
//! append alone. Regression guard for `Store::stage` and
//! `Store::append_log`; the end-to-end publish rates come from
//! `nocas-bench publish` side by side with its durable ceiling.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nocas_core::command::{Batch, Command, Effects, Publish};
use nocas_core::config::{ConfigMeta, md5_hex};
use nocas_core::names::{ConfigGroup, ConfigKey, DataId, NamespaceId};
use nocas_core::state::DurableState;
use nocas_store::Store;

const PER_ENTRY: usize = 16;

fn publish(n: u64) -> Command {
    let content: String = (0..256)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let data_id = format!("bench-pub-{n}");
    Command::PublishConfig(Box::new(Publish {
        key: ConfigKey::new(
            NamespaceId::public(),
            ConfigGroup::parse(Some("DEFAULT_GROUP")).unwrap_or_else(|e| panic!("group: {e}")),
            DataId::parse(Some(&data_id)).unwrap_or_else(|e| panic!("data id: {e}")),
        ),
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

/// Next entry: its commands applied to `state` (the writes staged when
/// `stage`), then appended as one log row.
struct Writer {
    store: Store,
    state: DurableState,
    next: u64,
}

impl Writer {
    fn entry(&mut self, stage: bool) {
        let commands: Vec<Command> = (0..PER_ENTRY as u64)
            .map(|i| publish(self.next + i))
            .collect();
        let index = self.next;
        self.next += PER_ENTRY as u64;
        let batch = Batch {
            now_ms: index as i64,
            commands: commands.clone(),
            actors: Vec::new(),
        };
        let row = rmp_serde::to_vec_named(&batch).unwrap_or_else(|e| panic!("encode: {e}"));
        self.store
            .append_log(&[(index, row)])
            .unwrap_or_else(|e| panic!("append: {e}"));
        if stage {
            let mut fx = Effects::default();
            for cmd in commands {
                self.state
                    .apply(index as i64, cmd, &mut fx)
                    .unwrap_or_else(|e| panic!("apply: {e:?}"));
            }
            self.store
                .stage(std::mem::take(&mut fx.writes), index.to_be_bytes().to_vec());
        }
    }
}

fn entries(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut g = c.benchmark_group("publish_entry");
    g.throughput(Throughput::Elements(PER_ENTRY as u64));
    g.sample_size(20);
    for (name, stage) in [("log_only", false), ("log_and_applied", true)] {
        let store = Store::open(&dir.path().join(format!("{name}.redb")))
            .unwrap_or_else(|e| panic!("open: {e}"));
        let mut w = Writer {
            store,
            state: DurableState::new(),
            next: 1,
        };
        g.bench_function(name, |b| b.iter(|| w.entry(stage)));
    }
    g.finish();
}

criterion_group!(benches, entries);
criterion_main!(benches);
