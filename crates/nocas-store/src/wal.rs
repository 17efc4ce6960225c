//! The Raft log: entries and Raft metadata in an append-only write-ahead
//! log (the `raft-log` crate), a directory of chunk files beside the state
//! file.
//!
//! An append is one sequential write and one `fdatasync`, where a B-tree
//! commit rewrites pages all over its file. Entries are keyed by their
//! index alone (the term is inside the entry's bytes, which this layer
//! does not read). The Raft metadata the cluster layer keeps (`vote`,
//! `committed`, `purged`) is one small map saved as the log's user data,
//! ordered with the entries in the same log.
//!
//! Owns the log directory only; knows nothing of Raft's types and must
//! not touch the state database. Every call blocks (a durable call until
//! its fsync is done) and must run off the async executor's threads.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};

use parking_lot::Mutex;
use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::{Config, RaftLog, Types};

use crate::StoreError;

/// How `raft-log` is to treat Nocas's log: entries by index, bytes as
/// payload, metadata as user data.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LogTypes;

impl Types for LogTypes {
    type LogId = u64;
    type LogPayload = Vec<u8>;
    /// Unused: the vote is kept in the metadata map, which the cluster
    /// layer encodes.
    type Vote = u64;
    type Callback = SyncSender<Result<(), io::Error>>;
    type UserData = Vec<u8>;

    fn log_index(log_id: &u64) -> u64 {
        *log_id
    }

    fn payload_size(payload: &Vec<u8>) -> u64 {
        payload.len() as u64
    }
}

/// Chunk files are this large at most. Purging drops whole chunks, and
/// `raft-log` keeps every entry of the open chunk in memory (it evicts
/// only entries of chunks already closed and fsynced), so this bounds both
/// the disk a purged log keeps and the log's memory.
const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Entries of closed chunks kept in memory for reading back (the cluster
/// layer keeps the newest ones itself).
const CACHE_BYTES: usize = 4 * 1024 * 1024;
const CACHE_ITEMS: usize = 1024;
/// Buffer for reading a chunk back when the log is opened.
const READ_BUFFER_BYTES: usize = 1024 * 1024;

/// An open Raft log.
pub(crate) struct Wal {
    dir: PathBuf,
    log: Mutex<RaftLog<LogTypes>>,
    /// The metadata map as last saved.
    meta: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.dir).finish()
    }
}

impl Wal {
    /// Opens (or creates) the log in `dir`. A record torn by a crash at
    /// the end of the last chunk is cut off: it was never acknowledged.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError::Log {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut config = Config::new(dir.to_string_lossy());
        config.wal.chunk_max_size = Some(CHUNK_BYTES);
        config.wal.read_buffer_size = Some(READ_BUFFER_BYTES);
        config.wal.truncate_incomplete_record = Some(true);
        // Each durable call already waits for its own fsync: no batching
        // delay on top of it.
        config.wal.flush_batch_wait = Some(std::time::Duration::ZERO);
        config.log_cache_capacity = Some(CACHE_BYTES);
        config.log_cache_max_items = Some(CACHE_ITEMS);
        let log = RaftLog::open(Arc::new(config)).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => StoreError::Damaged {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            },
            _ => err(e),
        })?;
        let meta = match log.log_state().user_data.as_deref() {
            Some(bytes) => {
                rmp_serde::from_slice::<BTreeMap<String, Vec<u8>>>(bytes).map_err(|e| {
                    StoreError::Codec {
                        what: "raft metadata",
                        detail: e.to_string(),
                    }
                })?
            }
            None => BTreeMap::new(),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            log: Mutex::new(log),
            meta: Mutex::new(meta),
        })
    }

    fn err(&self, source: io::Error) -> StoreError {
        StoreError::Log {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Runs `write` on the log, then hands what it wrote to the log's
    /// writer thread; with `durable`, waits (after letting go of the log,
    /// so readers go on) until it is fsynced.
    fn write<R>(
        &self,
        durable: bool,
        write: impl FnOnce(&mut RaftLog<LogTypes>) -> Result<R, io::Error>,
    ) -> Result<R, StoreError> {
        let (done, wait) = sync_channel(1);
        let out = {
            let mut log = self.log.lock();
            let out = write(&mut log).map_err(|e| self.err(e))?;
            log.flush(durable, durable.then_some(done))
                .map_err(|e| self.err(e))?;
            out
        };
        if durable {
            wait.recv()
                .map_err(|_| self.err(io::Error::other("the log's writer thread stopped")))?
                .map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    /// Appends `entries` (index, bytes, in increasing index order)
    /// durably. Entries at and after the first one's index are replaced;
    /// entries at or below the purge point are dropped.
    pub(crate) fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        self.write(true, |log| {
            // Entries at or below the purge point are applied and gone
            // already (openraft never sends such; its storage suite does).
            let purged = log.log_state().purged().copied();
            let entries = match purged {
                Some(p) => &entries[entries.partition_point(|(i, _)| *i <= p)..],
                None => entries,
            };
            if let Some((first, _)) = entries.first() {
                truncate(log, *first)?;
            }
            log.append(entries.iter().map(|(i, b)| (*i, b.clone())))?;
            Ok(())
        })
    }

    /// Entries with `start <= index < end`, in order.
    pub(crate) fn range(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let log = self.log.lock();
        log.read(start, end)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))
    }

    /// The last entry, if any.
    pub(crate) fn last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let last = {
            let log = self.log.lock();
            let purged = log.log_state().purged().copied();
            match log.log_state().last().copied() {
                Some(l) if Some(l) != purged => l,
                _ => return Ok(None),
            }
        };
        Ok(self.range(last, last + 1)?.pop())
    }

    /// Removes the entries at `since` and after, durably.
    pub(crate) fn truncate(&self, since: u64) -> Result<(), StoreError> {
        self.write(true, |log| truncate(log, since))
    }

    /// Removes the entries up to `upto` and records `purged` as the
    /// `purged` metadata value, in one durable write.
    pub(crate) fn purge(&self, upto: u64, purged: &[u8]) -> Result<(), StoreError> {
        let mut meta = self.meta.lock();
        let mut next = meta.clone();
        next.insert("purged".into(), purged.to_vec());
        let bytes = encode_meta(&next)?;
        self.write(true, |log| {
            log.save_user_data(Some(bytes))?;
            log.purge(upto)?;
            Ok(())
        })?;
        *meta = next;
        Ok(())
    }

    /// A metadata value.
    pub(crate) fn meta(&self, key: &str) -> Option<Vec<u8>> {
        self.meta.lock().get(key).cloned()
    }

    /// Sets (`Some`) or removes a metadata value; `durable` waits for the
    /// fsync.
    pub(crate) fn set_meta(
        &self,
        key: &str,
        value: Option<&[u8]>,
        durable: bool,
    ) -> Result<(), StoreError> {
        let mut meta = self.meta.lock();
        let mut next = meta.clone();
        match value {
            Some(v) => next.insert(key.to_string(), v.to_vec()),
            None => next.remove(key),
        };
        let bytes = encode_meta(&next)?;
        self.write(durable, |log| {
            log.save_user_data(Some(bytes))?;
            Ok(())
        })?;
        *meta = next;
        Ok(())
    }

    /// Makes everything written so far durable.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        self.write(true, |_| Ok(()))
    }
}

/// Removes the entries at `since` and after from `log` (not flushed).
fn truncate(log: &mut RaftLog<LogTypes>, since: u64) -> Result<(), io::Error> {
    if log.log_state().last().is_none_or(|l| *l < since) {
        return Ok(());
    }
    // The log cuts after the entry before `since`, which it must know:
    // when `since` is the first entry held (a log moved from an earlier
    // version starts wherever that one was purged to), nothing before it
    // is held, so it is marked purged first.
    let first = log.log_state().purged().map_or(0, |p| p + 1);
    if since > first && log.read(since - 1, since).next().is_none() {
        log.purge(since - 1)?;
    }
    log.truncate(since.max(first))?;
    Ok(())
}

fn encode_meta(meta: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(meta).map_err(|e| StoreError::Codec {
        what: "raft metadata",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: std::ops::RangeInclusive<u64>, tag: &str) -> Vec<(u64, Vec<u8>)> {
        r.map(|i| (i, format!("{tag}{i}").into_bytes())).collect()
    }

    #[test]
    fn appends_replace_from_their_first_index_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let w = Wal::open(&path).unwrap();
            w.append(&rows(1..=2, "a")).unwrap();
            w.append(&rows(1..=1, "b")).unwrap();
            assert_eq!(w.range(0, 10).unwrap(), rows(1..=1, "b"));
            w.append(&rows(2..=5, "c")).unwrap();
            w.truncate(4).unwrap();
            w.purge(1, b"p").unwrap();
            w.set_meta("vote", Some(b"v"), true).unwrap();
        }
        let w = Wal::open(&path).unwrap();
        assert_eq!(w.range(0, 10).unwrap(), rows(2..=3, "c"));
        assert_eq!(w.last().unwrap(), rows(3..=3, "c").pop());
        assert_eq!(w.meta("purged").unwrap(), b"p");
        assert_eq!(w.meta("vote").unwrap(), b"v");
        w.purge(3, b"q").unwrap();
        assert_eq!(w.last().unwrap(), None);
        w.append(&rows(4..=4, "d")).unwrap();
        assert_eq!(w.range(0, 10).unwrap(), rows(4..=4, "d"));
    }

    fn chunk(dir: &Path) -> PathBuf {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|f| f.unwrap().path())
            .collect();
        files.sort();
        files.pop().unwrap()
    }

    #[test]
    fn a_torn_last_record_is_cut_and_a_damaged_one_refuses_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let w = Wal::open(&path).unwrap();
            for i in 1..=20 {
                w.append(&rows(i..=i, "x")).unwrap();
            }
        }
        // A crash in the middle of the last write: that record is dropped.
        let file = chunk(&path);
        let len = std::fs::metadata(&file).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(len - 3).unwrap();
        drop(f);
        {
            let w = Wal::open(&path).unwrap();
            assert_eq!(w.range(0, 100).unwrap(), rows(1..=19, "x"));
            w.append(&rows(20..=20, "y")).unwrap();
        }
        // A record damaged in the middle: refused, never read past.
        let mut bytes = std::fs::read(&file).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 8] {
            *b ^= 0xff;
        }
        std::fs::write(&file, &bytes).unwrap();
        let err = Wal::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    }

    #[test]
    fn the_log_keeps_a_bounded_part_of_itself_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let w = Wal::open(&dir.path().join("log")).unwrap();
        // 24 MiB in entries of 16 KiB: six chunks' worth.
        let entry = vec![7u8; 16 * 1024];
        for i in 1..=1536u64 {
            w.append(&[(i, entry.clone())]).unwrap();
        }
        let log = w.log.lock();
        log.drain_cache_evictable();
        let held = log.stat().payload_cache_size as usize;
        // At most the open chunk and the cache.
        assert!(
            held <= 8 * 1024 * 1024,
            "{held} bytes of entries held in memory"
        );
        drop(log);
        assert_eq!(w.range(1, 2).unwrap(), vec![(1, entry.clone())]);
        assert_eq!(w.range(1536, 1537).unwrap(), vec![(1536, entry)]);
    }
}
