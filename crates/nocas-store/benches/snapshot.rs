//! Criterion benchmarks of the streamed snapshot paths over a state of
//! 2,000 configs of 4 KiB with 5 history records each: installing a
//! snapshot file (check pass and bounded transactions), writing a dump of
//! the store into a file (and syncing it), reading one back record by record, and the streamed content
//! digest. Regression guards for `stream` and `snapshot`; the end-to-end
//! figures at 10k and 100k configs come from `scripts/scale.sh`.

use std::io::{BufReader, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nocas_store::Store;
use nocas_store::stream::read_dump;
use serde::Serialize;

const CONFIGS: usize = 2_000;
const VERSIONS: usize = 5;

/// The parts of a dump, as a snapshot names them (rows pass through as
/// bytes, so their content does not matter here).
#[derive(Serialize, Default)]
struct Dump {
    sm_meta: Vec<(String, Vec<u8>)>,
    namespaces: Vec<(String, Vec<u8>)>,
    services: Vec<(String, Vec<u8>)>,
    instances: Vec<(String, Vec<u8>)>,
    configs: Vec<(String, Vec<u8>)>,
    history: Vec<(u64, Vec<u8>)>,
    history_by_config: Vec<(String, u64)>,
    auth: Vec<(String, Vec<u8>)>,
    locks: Vec<(String, Vec<u8>)>,
    overrides: Vec<(String, Vec<u8>)>,
    format: u32,
}

fn dump_bytes() -> Vec<u8> {
    let content: Vec<u8> = (0..4096).map(|i| b' ' + (i % 95) as u8).collect();
    let mut d = Dump {
        format: 2,
        ..Dump::default()
    };
    d.sm_meta.push(("applied".into(), vec![0x92, 0xc0, 0x80]));
    let mut nid = 0u64;
    for c in 0..CONFIGS {
        let key = format!("public+SCALE+bench-{c}");
        d.configs.push((key.clone(), content.clone()));
        for _ in 0..VERSIONS {
            nid += 1;
            d.history.push((nid, content.clone()));
            d.history_by_config.push((key.clone(), nid));
        }
    }
    rmp_serde::to_vec_named(&d).unwrap_or_else(|e| panic!("encode: {e}"))
}

fn install(store: &Store, bytes: &[u8]) {
    let (part, mut f) = store
        .new_snapshot_file()
        .unwrap_or_else(|e| panic!("part: {e}"));
    f.write_all(bytes).unwrap_or_else(|e| panic!("write: {e}"));
    store
        .install_snapshot(b"meta", Some(1), &part, "bench", 16 << 20)
        .unwrap_or_else(|e| panic!("install: {e}"));
}

fn snapshot(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let bytes = dump_bytes();
    let store = Store::open(&dir.path().join("a.redb")).unwrap_or_else(|e| panic!("open: {e}"));
    install(&store, &bytes);
    let out = dir.path().join("out.snap");

    let mut g = c.benchmark_group("snapshot");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(10);
    g.bench_function("install", |b| b.iter(|| install(&store, &bytes)));
    g.bench_function("write_dump", |b| {
        b.iter(|| {
            let f = std::fs::File::create(&out).unwrap_or_else(|e| panic!("create: {e}"));
            store
                .write_snapshot(&f)
                .unwrap_or_else(|e| panic!("dump: {e}"))
        })
    });
    g.bench_function("read_dump", |b| {
        b.iter(|| {
            let mut n = 0usize;
            read_dump(BufReader::new(bytes.as_slice()), |_| {
                n += 1;
                Ok(())
            })
            .unwrap_or_else(|e| panic!("read: {e}"));
            n
        })
    });
    g.bench_function("content_digest", |b| {
        b.iter(|| {
            store
                .content_digest()
                .unwrap_or_else(|e| panic!("digest: {e}"))
        })
    });
    g.finish();
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
