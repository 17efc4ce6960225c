//! Snapshots of the applied state: a dump of every state table, taken in one
//! read transaction, that another node (or this one) can install.
//!
//! A snapshot is a file in the store's snapshot directory, written and
//! installed as a stream ([`crate::stream`]): building, sending and
//! installing one takes memory bounded by a batch, not by the state. The
//! `snapshot` table names the current file and holds its metadata (opaque
//! bytes: the Raft layer's). Installing replaces the state tables in
//! bounded transactions; the first one (durable) records that an install is
//! under way, the last one (durable) that it is done, so a crash in between
//! is finished by [`Store::resume_install`] from the same file before
//! anything reads the state.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use md5::Digest;
use redb::{Durability, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::stream::{Form, ROW_TABLES, Record, read_dump, write_dump};
use crate::tables::{
    AUDIT, AUTH, CONFIGS, HISTORY, HISTORY_BY_CONFIG, INSTANCES, LOCKS, NAMESPACES, OVERRIDES,
    SERVICES, SM_META, SNAPSHOT,
};
use crate::{Store, StoreError};

type Rows = Vec<(String, Vec<u8>)>;

/// The dump format this build writes and the newest it reads: 1 = without
/// a format field (before it existed), 2 = with the audit trail.
pub const SNAPSHOT_FORMAT: u32 = 2;

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// Every state table's rows, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateDump {
    sm_meta: Rows,
    namespaces: Rows,
    services: Rows,
    instances: Rows,
    configs: Rows,
    history: Vec<(u64, Vec<u8>)>,
    history_by_config: Vec<(String, u64)>,
    /// Users, roles and permissions (absent from dumps taken before auth).
    #[serde(default)]
    auth: Rows,
    /// Held locks (absent from dumps taken before locks).
    #[serde(default)]
    locks: Rows,
    /// Instance overrides (absent from dumps taken before them).
    #[serde(default)]
    overrides: Rows,
    /// The audit trail (absent from dumps taken before it, and left out
    /// when empty so such dumps keep their digest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    audit: Vec<(u64, Vec<u8>)>,
    /// The format it was written in (0: absent, a dump of format 1). Left
    /// out of the content digest, so digests agree across versions.
    #[serde(default, skip_serializing_if = "is_zero")]
    format: u32,
}

fn rows(
    txn: &redb::ReadTransaction,
    def: TableDefinition<&str, &[u8]>,
) -> Result<Rows, StoreError> {
    let t = txn.open_table(def)?;
    let mut out = Vec::new();
    for item in t.iter()? {
        let (k, v) = item?;
        out.push((k.value().to_string(), v.value().to_vec()));
    }
    Ok(out)
}

impl StateDump {
    /// Encodes the dump.
    pub fn to_bytes(&self) -> Result<Vec<u8>, StoreError> {
        encode("snapshot", self)
    }

    /// Decodes a dump; one of a newer format than this build reads is
    /// refused (installing it would drop what this build does not know).
    pub fn from_bytes(b: &[u8]) -> Result<Self, StoreError> {
        let d: Self = decode("snapshot", b)?;
        if d.format > SNAPSHOT_FORMAT {
            return Err(StoreError::Codec {
                what: "snapshot",
                detail: format!(
                    "format {} is newer than this node reads ({SNAPSHOT_FORMAT}): upgrade this node",
                    d.format
                ),
            });
        }
        Ok(d)
    }

    /// The format the dump was written in (1 for dumps without one).
    pub fn format(&self) -> u32 {
        self.format.max(1)
    }

    /// The dump without its `applied` marker (and its format: what the
    /// content digest covers).
    pub fn without_marker(&self) -> Self {
        let mut d = self.clone();
        d.sm_meta.retain(|(k, _)| k != crate::tables::APPLIED);
        d.format = 0;
        d
    }

    /// How many records it holds, all tables together.
    #[cfg(test)]
    pub(crate) fn record_count(&self) -> usize {
        [
            &self.sm_meta,
            &self.namespaces,
            &self.services,
            &self.instances,
            &self.configs,
            &self.auth,
            &self.locks,
            &self.overrides,
        ]
        .iter()
        .map(|r| r.len())
        .sum::<usize>()
            + self.history.len()
            + self.history_by_config.len()
            + self.audit.len()
    }

    /// The `applied` marker the dump was taken at.
    pub fn applied_marker(&self) -> Option<&[u8]> {
        self.sm_meta
            .iter()
            .find(|(k, _)| k == crate::tables::APPLIED)
            .map(|(_, v)| v.as_slice())
    }
}

impl Store {
    /// Dumps the applied state as of now, in one consistent read.
    pub fn dump_state(&self) -> Result<StateDump, StoreError> {
        let txn = self.read()?;
        let mut history = Vec::new();
        for item in txn.open_table(HISTORY)?.iter()? {
            let (k, v) = item?;
            history.push((k.value(), v.value().to_vec()));
        }
        let mut audit = Vec::new();
        for item in txn.open_table(AUDIT)?.iter()? {
            let (k, v) = item?;
            audit.push((k.value(), v.value().to_vec()));
        }
        let mut history_by_config = Vec::new();
        for item in txn.open_table(HISTORY_BY_CONFIG)?.iter()? {
            let (k, _) = item?;
            let (ck, nid) = k.value();
            history_by_config.push((ck.to_string(), nid));
        }
        Ok(StateDump {
            sm_meta: rows(&txn, SM_META)?,
            namespaces: rows(&txn, NAMESPACES)?,
            services: rows(&txn, SERVICES)?,
            instances: rows(&txn, INSTANCES)?,
            configs: rows(&txn, CONFIGS)?,
            history,
            history_by_config,
            auth: rows(&txn, AUTH)?,
            locks: rows(&txn, LOCKS)?,
            overrides: rows(&txn, OVERRIDES)?,
            audit,
            format: SNAPSHOT_FORMAT,
        })
    }

    /// MD5 of the applied content (everything but the `applied` marker):
    /// equal on nodes that applied the same log. Streamed: the state is
    /// never held in memory.
    pub fn content_digest(&self) -> Result<String, StoreError> {
        digest_of(&self.read()?)
    }

    /// Replaces the applied state with a dump, durably.
    pub fn install_state(&self, dump: &StateDump) -> Result<(), StoreError> {
        let txn = self.write()?;
        for (def, rows) in [
            (SM_META, &dump.sm_meta),
            (NAMESPACES, &dump.namespaces),
            (SERVICES, &dump.services),
            (INSTANCES, &dump.instances),
            (CONFIGS, &dump.configs),
            (AUTH, &dump.auth),
            (LOCKS, &dump.locks),
            (OVERRIDES, &dump.overrides),
        ] {
            let mut t = txn.open_table(def)?;
            t.retain(|_, _| false)?;
            for (k, v) in rows {
                t.insert(k.as_str(), v.as_slice())?;
            }
        }
        {
            let mut t = txn.open_table(HISTORY)?;
            t.retain(|_, _| false)?;
            for (k, v) in &dump.history {
                t.insert(*k, v.as_slice())?;
            }
            let mut t = txn.open_table(HISTORY_BY_CONFIG)?;
            t.retain(|_, _| false)?;
            for (ck, nid) in &dump.history_by_config {
                t.insert((ck.as_str(), *nid), ())?;
            }
            let mut t = txn.open_table(AUDIT)?;
            t.retain(|_, _| false)?;
            for (k, v) in &dump.audit {
                t.insert(*k, v.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The directory snapshot files live in.
    pub fn snapshot_dir(&self) -> &Path {
        &self.snapshots
    }

    /// A new, empty file in the snapshot directory to write or receive a
    /// snapshot into (`*.part` until [`Store::keep_snapshot`] or
    /// [`Store::install_snapshot`] takes it).
    pub fn new_snapshot_file(&self) -> Result<(PathBuf, File), StoreError> {
        let dir = self.snapshot_dir();
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        loop {
            let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.join(format!("{}-{n}.part", std::process::id()));
            match File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => return Ok((path, f)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(file_err(&path, e)),
            }
        }
    }

    /// Writes the applied state, as of one read, into `file` and syncs it;
    /// returns the `applied` marker it was taken at.
    pub fn write_snapshot(&self, file: &File) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.read()?;
        let marker = txn
            .open_table(SM_META)?
            .get(crate::tables::APPLIED)?
            .map(|v| v.value().to_vec());
        let mut w = BufWriter::with_capacity(256 * 1024, file);
        write_dump(&txn, &mut w, Form::Full)?;
        w.flush().map_err(|e| file_err(self.snapshot_dir(), e))?;
        file.sync_all()
            .map_err(|e| file_err(self.snapshot_dir(), e))?;
        Ok(marker)
    }

    /// Makes the snapshot written into `part` the current one, named
    /// `name`, with `meta`, taken at log `index`: renames the file, records
    /// both durably and deletes every other snapshot file. If a snapshot
    /// of a later index became current meanwhile (one installed from the
    /// leader while this one was being written), `part` is deleted instead
    /// and `None` returned: the current snapshot never goes backwards.
    pub fn keep_snapshot(
        &self,
        meta: &[u8],
        index: Option<u64>,
        part: &Path,
        name: &str,
    ) -> Result<Option<PathBuf>, StoreError> {
        let _g = self.snapshot_lock.lock();
        if self.current_index()? > index {
            let _ = std::fs::remove_file(part);
            return Ok(None);
        }
        let path = self.adopt(part, name)?;
        let txn = self.write()?;
        record_current(&txn, meta, index, &path, false)?;
        txn.commit()?;
        self.remove_other_snapshots(&path);
        Ok(Some(path))
    }

    /// The log index the current snapshot was taken at, as recorded
    /// (`None` if there is none, or it was recorded by a version that did
    /// not record indexes).
    fn current_index(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.read_unstaged()?;
        let t = txn.open_table(SNAPSHOT)?;
        Ok(t.get(INDEX)?
            .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
            .map(u64::from_be_bytes))
    }

    fn adopt(&self, part: &Path, name: &str) -> Result<PathBuf, StoreError> {
        let file: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self.snapshot_dir().join(format!("{file}.snap"));
        std::fs::rename(part, &path).map_err(|e| file_err(part, e))?;
        // The rename must be durable before the table names the file.
        File::open(self.snapshot_dir())
            .and_then(|d| d.sync_all())
            .map_err(|e| file_err(self.snapshot_dir(), e))?;
        Ok(path)
    }

    fn remove_other_snapshots(&self, keep: &Path) {
        let Ok(dir) = std::fs::read_dir(self.snapshot_dir()) else {
            return;
        };
        for e in dir.flatten() {
            let p = e.path();
            let stale = p.extension().is_some_and(|x| x == "snap") && p != keep;
            if stale && let Err(err) = std::fs::remove_file(&p) {
                tracing::warn!(file = %p.display(), error = %err, "could not remove an old snapshot");
            }
        }
    }

    /// Removes snapshot files left half written by an earlier process.
    pub fn remove_partial_snapshots(&self) {
        let Ok(dir) = std::fs::read_dir(self.snapshot_dir()) else {
            return;
        };
        for e in dir.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "part") {
                let _ = std::fs::remove_file(&p);
            }
        }
    }

    /// The current snapshot, if any: its metadata and its file, opened
    /// for reading. A snapshot stored by an earlier version inside the
    /// database is moved into a file first.
    pub fn current_snapshot(&self) -> Result<Option<(Vec<u8>, File)>, StoreError> {
        let _g = self.snapshot_lock.lock();
        let (meta, file, old) = {
            let txn = self.read_unstaged()?;
            let t = txn.open_table(SNAPSHOT)?;
            let get = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
                Ok(t.get(k)?.map(|v| v.value().to_vec()))
            };
            (get(META)?, get(FILE)?, get(OLD_DATA)?)
        };
        let Some(meta) = meta else {
            return Ok(None);
        };
        let path = match (file, old) {
            (Some(f), _) => self
                .snapshot_dir()
                .join(String::from_utf8_lossy(&f).as_ref()),
            (None, Some(data)) => {
                let (part, mut f) = self.new_snapshot_file()?;
                f.write_all(&data)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| file_err(&part, e))?;
                let path = self.adopt(&part, "migrated")?;
                let txn = self.write()?;
                record_current(&txn, &meta, None, &path, false)?;
                txn.commit()?;
                path
            }
            (None, None) => return Ok(None),
        };
        let f = File::open(&path).map_err(|e| file_err(&path, e))?;
        Ok(Some((meta, f)))
    }

    /// Installs the snapshot received into `part` (named `name`, with
    /// `meta`, taken at log `index`) as the applied state, replacing it. The file is read through
    /// once to check it before anything is replaced; then it becomes the
    /// current snapshot and its records go into the tables in transactions
    /// of about `batch_bytes`.
    pub fn install_snapshot(
        &self,
        meta: &[u8],
        index: Option<u64>,
        part: &Path,
        name: &str,
        batch_bytes: usize,
    ) -> Result<(), StoreError> {
        let open = |p: &Path| File::open(p).map_err(|e| file_err(p, e));
        read_dump(
            BufReader::with_capacity(256 * 1024, open(part)?),
            |_| Ok(()),
        )?;
        let path = {
            let _g = self.snapshot_lock.lock();
            let path = self.adopt(part, name)?;
            let txn = self.write()?;
            record_current(&txn, meta, index, &path, true)?;
            txn.commit()?;
            self.remove_other_snapshots(&path);
            path
        };
        self.fill_from(&path, batch_bytes)
    }

    /// Finishes an install a crash interrupted, from the current snapshot
    /// file; true if there was one. Call before reading the state.
    pub fn resume_install(&self, batch_bytes: usize) -> Result<bool, StoreError> {
        let file = {
            let txn = self.read_unstaged()?;
            let t = txn.open_table(SNAPSHOT)?;
            if t.get(INSTALLING)?.is_none() {
                return Ok(false);
            }
            t.get(FILE)?.map(|v| v.value().to_vec())
        };
        let Some(file) = file else {
            return Err(StoreError::Codec {
                what: "snapshot",
                detail: "an install was under way but no snapshot file is recorded".into(),
            });
        };
        let path = self
            .snapshot_dir()
            .join(String::from_utf8_lossy(&file).as_ref());
        tracing::warn!(file = %path.display(), "finishing a snapshot install a stop interrupted");
        let txn = self.write()?;
        clear_state(&txn)?;
        txn.commit()?;
        self.fill_from(&path, batch_bytes)?;
        Ok(true)
    }

    /// Writes the records of the (checked) dump in `path` into the cleared
    /// state tables, then clears the install flag durably.
    fn fill_from(&self, path: &Path, batch_bytes: usize) -> Result<(), StoreError> {
        self.fill_records(path, batch_bytes, |_| true)?;
        let txn = self.write()?;
        txn.open_table(SNAPSHOT)?.remove(INSTALLING)?;
        txn.commit()?;
        Ok(())
    }

    /// Writes the records of the dump in `path` that `keep` accepts into
    /// the state tables, in transactions of about `batch_bytes` (not
    /// durable: the caller's last transaction makes them so).
    pub(crate) fn fill_records(
        &self,
        path: &Path,
        batch_bytes: usize,
        keep: impl Fn(&Record<'_>) -> bool,
    ) -> Result<(), StoreError> {
        let f = File::open(path).map_err(|e| file_err(path, e))?;
        let mut batch = Batch::default();
        read_dump(BufReader::with_capacity(256 * 1024, f), |rec| {
            if keep(&rec) {
                batch.push(rec);
            }
            if batch.bytes >= batch_bytes {
                self.flush_batch(&mut batch, Durability::None)?;
            }
            Ok(())
        })?;
        self.flush_batch(&mut batch, Durability::None)
    }

    fn flush_batch(&self, b: &mut Batch, durability: Durability) -> Result<(), StoreError> {
        if b.is_empty() {
            return Ok(());
        }
        let mut txn = self.write()?;
        txn.set_durability(durability)?;
        {
            let mut tables = Vec::new();
            for (name, def) in ROW_TABLES {
                tables.push((name, txn.open_table(def)?));
            }
            for (table, k, v) in b.rows.drain(..) {
                if let Some((_, t)) = tables.iter_mut().find(|(n, _)| *n == table) {
                    t.insert(k.as_str(), v.as_slice())?;
                }
            }
            let mut t = txn.open_table(HISTORY)?;
            for (k, v) in b.history.drain(..) {
                t.insert(k, v.as_slice())?;
            }
            let mut t = txn.open_table(HISTORY_BY_CONFIG)?;
            for (k, nid) in b.by_config.drain(..) {
                t.insert((k.as_str(), nid), ())?;
            }
            let mut t = txn.open_table(AUDIT)?;
            for (k, v) in b.audit.drain(..) {
                t.insert(k, v.as_slice())?;
            }
        }
        txn.commit()?;
        b.bytes = 0;
        Ok(())
    }
}

/// MD5 of the applied content as of `txn` (see [`Store::content_digest`]).
pub(crate) fn digest_of(txn: &redb::ReadTransaction) -> Result<String, StoreError> {
    struct Hasher(md5::Md5);
    impl Write for Hasher {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.update(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = BufWriter::with_capacity(64 * 1024, Hasher(md5::Md5::new()));
    write_dump(txn, &mut h, Form::Content)?;
    let h = h.into_inner().map_err(|e| StoreError::Codec {
        what: "digest",
        detail: e.to_string(),
    })?;
    Ok(hex::encode(h.0.finalize()))
}

/// Keys of the `snapshot` table.
const META: &str = "meta";
const FILE: &str = "file";
const INSTALLING: &str = "installing";
/// The log index the current snapshot was taken at (8 bytes, big endian).
const INDEX: &str = "index";
/// Where versions before streamed snapshots kept the whole snapshot.
const OLD_DATA: &str = "data";

pub(crate) fn file_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::File {
        path: path.to_path_buf(),
        source,
    }
}

fn record_current(
    txn: &redb::WriteTransaction,
    meta: &[u8],
    index: Option<u64>,
    path: &Path,
    installing: bool,
) -> Result<(), StoreError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    {
        let mut t = txn.open_table(SNAPSHOT)?;
        t.insert(META, meta)?;
        t.insert(FILE, name.as_bytes())?;
        t.remove(OLD_DATA)?;
        match index {
            Some(i) => t.insert(INDEX, &i.to_be_bytes()[..])?,
            None => t.remove(INDEX)?,
        };
        if installing {
            t.insert(INSTALLING, &b"1"[..])?;
        }
    }
    if installing {
        clear_state(txn)?;
    }
    Ok(())
}

/// Empties every state table (not the log, not the snapshot table).
fn clear_state(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    for (_, def) in ROW_TABLES {
        txn.delete_table(def)?;
        txn.open_table(def)?;
    }
    txn.delete_table(HISTORY)?;
    txn.open_table(HISTORY)?;
    txn.delete_table(HISTORY_BY_CONFIG)?;
    txn.open_table(HISTORY_BY_CONFIG)?;
    txn.delete_table(AUDIT)?;
    txn.open_table(AUDIT)?;
    Ok(())
}

/// Records read from a dump, waiting for their transaction.
#[derive(Default)]
struct Batch {
    rows: Vec<(&'static str, String, Vec<u8>)>,
    history: Vec<(u64, Vec<u8>)>,
    by_config: Vec<(String, u64)>,
    audit: Vec<(u64, Vec<u8>)>,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, rec: Record<'_>) {
        match rec {
            Record::Row(t, k, v) => {
                self.bytes += k.len() + v.len() + 32;
                self.rows.push((t, k.to_string(), v.to_vec()));
            }
            Record::History(k, v) => {
                self.bytes += v.len() + 16;
                self.history.push((k, v.to_vec()));
            }
            Record::HistoryByConfig(k, nid) => {
                self.bytes += k.len() + 16;
                self.by_config.push((k.to_string(), nid));
            }
            Record::Audit(k, v) => {
                self.bytes += v.len() + 16;
                self.audit.push((k, v.to_vec()));
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
            && self.history.is_empty()
            && self.by_config.is_empty()
            && self.audit.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_and_install() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(&dir.path().join("a.redb")).unwrap();
        let b = Store::open(&dir.path().join("b.redb")).unwrap();
        a.apply(Vec::new(), b"m1".to_vec()).unwrap();
        let dump = a.dump_state().unwrap();
        assert_eq!(dump.applied_marker(), Some(&b"m1"[..]));
        let bytes = dump.to_bytes().unwrap();
        assert_eq!(
            StateDump::from_bytes(&bytes).unwrap().format(),
            SNAPSHOT_FORMAT
        );
        let mut next = dump.clone();
        next.format = SNAPSHOT_FORMAT + 1;
        let e = StateDump::from_bytes(&next.to_bytes().unwrap()).unwrap_err();
        assert!(e.to_string().contains("newer than this node reads"), "{e}");
        b.apply(Vec::new(), b"old".to_vec()).unwrap();
        b.install_state(&StateDump::from_bytes(&bytes).unwrap())
            .unwrap();
        assert_eq!(b.applied_marker().unwrap().unwrap(), b"m1");
    }

    /// A store with some of everything, the applied marker `m`.
    fn filled(path: &Path, m: &[u8]) -> Store {
        let s = Store::open(path).unwrap();
        let txn = s.write().unwrap();
        {
            let mut t = txn.open_table(CONFIGS).unwrap();
            for i in 0..500u32 {
                let v = format!("content {i} é {}", "x".repeat(i as usize));
                t.insert(format!("public+G+d{i}").as_str(), v.as_bytes())
                    .unwrap();
            }
            let mut h = txn.open_table(HISTORY).unwrap();
            let mut by = txn.open_table(HISTORY_BY_CONFIG).unwrap();
            for i in 0..300u64 {
                h.insert(i, &[0xff, 1, 2][..]).unwrap();
                by.insert(("public+G+d1", i), ()).unwrap();
            }
            txn.open_table(AUDIT)
                .unwrap()
                .insert(1, &[200u8; 3][..])
                .unwrap();
            txn.open_table(INSTANCES)
                .unwrap()
                .insert("i", &[1u8][..])
                .unwrap();
        }
        txn.commit().unwrap();
        s.apply(Vec::new(), m.to_vec()).unwrap();
        s
    }

    fn files(s: &Store) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(s.snapshot_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// Copies `from`'s current snapshot into a new part file of `to`.
    fn receive(from: &Store, to: &Store) -> (Vec<u8>, PathBuf) {
        let (meta, mut f) = from.current_snapshot().unwrap().unwrap();
        let (part, mut out) = to.new_snapshot_file().unwrap();
        std::io::copy(&mut f, &mut out).unwrap();
        (meta, part)
    }

    #[test]
    fn a_snapshot_file_is_built_kept_and_installed_in_small_batches() {
        let dir = tempfile::tempdir().unwrap();
        let a = filled(&dir.path().join("a.redb"), b"m1");
        assert!(a.current_snapshot().unwrap().is_none());
        let (part, f) = a.new_snapshot_file().unwrap();
        assert_eq!(a.write_snapshot(&f).unwrap().as_deref(), Some(&b"m1"[..]));
        let kept = a
            .keep_snapshot(b"meta-1", Some(7), &part, "T1:N1/7")
            .unwrap()
            .unwrap();
        assert_eq!(files(&a), ["T1_N1_7.snap"]);
        assert_eq!(kept.file_name().unwrap(), "T1_N1_7.snap");
        let bytes = std::fs::read(&kept).unwrap();
        assert_eq!(bytes, a.dump_state().unwrap().to_bytes().unwrap());

        for batch in [1, 1 << 20] {
            let b = Store::open(&dir.path().join(format!("b{batch}.redb"))).unwrap();
            b.apply(Vec::new(), b"old".to_vec()).unwrap();
            let (meta, part) = receive(&a, &b);
            b.install_snapshot(&meta, Some(7), &part, "s1", batch)
                .unwrap();
            assert_eq!(b.content_digest().unwrap(), a.content_digest().unwrap());
            assert_eq!(b.applied_marker().unwrap().unwrap(), b"m1");
            assert_eq!(files(&b), ["s1.snap"]);
            let (meta, _) = b.current_snapshot().unwrap().unwrap();
            assert_eq!(meta, b"meta-1");
            assert!(!b.resume_install(batch).unwrap(), "nothing to resume");
        }
        // A newer build replaces the kept file.
        let (part, f) = a.new_snapshot_file().unwrap();
        a.write_snapshot(&f).unwrap();
        a.keep_snapshot(b"meta-2", Some(9), &part, "next")
            .unwrap()
            .unwrap();
        assert_eq!(files(&a), ["next.snap"]);
        // One taken at an earlier index than the current one (a build that
        // finished after a newer snapshot was installed) is dropped.
        let (part, f) = a.new_snapshot_file().unwrap();
        a.write_snapshot(&f).unwrap();
        assert!(
            a.keep_snapshot(b"meta-3", Some(8), &part, "late")
                .unwrap()
                .is_none()
        );
        assert_eq!(files(&a), ["next.snap"]);
        assert_eq!(a.current_snapshot().unwrap().unwrap().0, b"meta-2");
        // An install is never refused, and a later build replaces it.
        let b = Store::open(&dir.path().join("c.redb")).unwrap();
        let (meta, part) = receive(&a, &b);
        b.install_snapshot(&meta, Some(9), &part, "from-leader", 1 << 20)
            .unwrap();
        let (part, f) = b.new_snapshot_file().unwrap();
        b.write_snapshot(&f).unwrap();
        assert!(
            b.keep_snapshot(b"meta-4", Some(5), &part, "stale")
                .unwrap()
                .is_none()
        );
        let (part, f) = b.new_snapshot_file().unwrap();
        b.write_snapshot(&f).unwrap();
        b.keep_snapshot(b"meta-5", Some(10), &part, "fresh")
            .unwrap()
            .unwrap();
        assert_eq!(files(&b), ["fresh.snap"]);
    }

    #[test]
    fn a_damaged_snapshot_is_refused_before_the_state_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let a = filled(&dir.path().join("a.redb"), b"m1");
        let (part, f) = a.new_snapshot_file().unwrap();
        a.write_snapshot(&f).unwrap();
        a.keep_snapshot(b"meta", Some(1), &part, "s").unwrap();
        let b = filled(&dir.path().join("b.redb"), b"mine");
        let before = b.content_digest().unwrap();
        let (meta, part) = receive(&a, &b);
        let len = std::fs::metadata(&part).unwrap().len();
        File::options()
            .write(true)
            .open(&part)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let e = b
            .install_snapshot(&meta, Some(1), &part, "s", 1 << 20)
            .unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert_eq!(b.content_digest().unwrap(), before);
        assert_eq!(b.applied_marker().unwrap().unwrap(), b"mine");
        assert!(b.current_snapshot().unwrap().is_none());
    }

    #[test]
    fn an_install_cut_short_is_finished_on_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let a = filled(&dir.path().join("a.redb"), b"m1");
        let (part, f) = a.new_snapshot_file().unwrap();
        a.write_snapshot(&f).unwrap();
        a.keep_snapshot(b"meta", Some(1), &part, "s").unwrap();
        let path = dir.path().join("b.redb");
        {
            let b = filled(&path, b"mine");
            let (meta, part) = receive(&a, &b);
            // The first, durable step of an install, then a stop.
            let kept = b.adopt(&part, "s").unwrap();
            let txn = b.write().unwrap();
            record_current(&txn, &meta, Some(1), &kept, true).unwrap();
            txn.commit().unwrap();
            b.close().unwrap();
        }
        let b = Store::open(&path).unwrap();
        assert!(b.resume_install(1 << 10).unwrap());
        assert_eq!(b.content_digest().unwrap(), a.content_digest().unwrap());
        assert_eq!(b.applied_marker().unwrap().unwrap(), b"m1");
        assert!(!b.resume_install(1 << 10).unwrap());
    }

    #[test]
    fn a_snapshot_kept_inside_the_database_moves_into_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = filled(&dir.path().join("a.redb"), b"m1");
        let old = a.dump_state().unwrap().to_bytes().unwrap();
        let txn = a.write().unwrap();
        {
            let mut t = txn.open_table(SNAPSHOT).unwrap();
            t.insert(META, &b"old-meta"[..]).unwrap();
            t.insert(OLD_DATA, old.as_slice()).unwrap();
        }
        txn.commit().unwrap();
        let (meta, mut f) = a.current_snapshot().unwrap().unwrap();
        assert_eq!(meta, b"old-meta");
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut got).unwrap();
        assert_eq!(got, old);
        assert_eq!(files(&a), ["migrated.snap"]);
        let txn = a.read().unwrap();
        assert!(
            txn.open_table(SNAPSHOT)
                .unwrap()
                .get(OLD_DATA)
                .unwrap()
                .is_none()
        );
    }
}
