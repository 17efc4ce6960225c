//! The Raft log over the redb store: entries, vote, committed marker.
//!
//! Appends are durable (fsynced) before the flush callback fires. Several
//! client commands share one entry (see `crate::proposer`), which is how
//! one fsync serves many writes.
//!
//! The newest entries are also kept decoded in memory (the tail, bounded
//! by [`TAIL_ENTRIES`] and [`TAIL_BYTES`]): Raft reads every entry back
//! right after appending it, to apply it and to replicate it, and serving
//! those reads from the tail spares a database read, a decode and a hop to
//! the blocking pool per entry in the path of every write. Reads the tail
//! does not cover go to the database.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, RaftLogId};

use nocas_store::Store;

use crate::types::{
    Entry, LogId, StorageErr, TypeConfig, Vote, blocking, decode, encode, read_err, write_err,
};

const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "purged";

/// Most entries the tail keeps.
pub const TAIL_ENTRIES: usize = 64;
/// Most encoded bytes of entries the tail keeps (the newest entry is kept
/// whatever its size).
pub const TAIL_BYTES: usize = 4 * 1024 * 1024;

/// The newest log entries, decoded, with consecutive indexes ending at the
/// log's last entry (or empty).
#[derive(Debug, Default)]
struct Tail {
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

impl Tail {
    fn first(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.get_log_id().index)
    }

    fn last(&self) -> Option<u64> {
        self.entries.back().map(|(e, _)| e.get_log_id().index)
    }

    /// Adds entries just written (overwriting any from their first index
    /// on, as the log did).
    fn push(&mut self, written: Vec<(Entry, usize)>) {
        let Some(first) = written.first().map(|(e, _)| e.get_log_id().index) else {
            return;
        };
        self.truncate(first);
        if self.last().is_some_and(|l| l.saturating_add(1) != first) {
            // Not consecutive (cannot happen with Raft's appends): start over.
            self.entries.clear();
            self.bytes = 0;
        }
        for (e, size) in written {
            self.bytes += size;
            self.entries.push_back((e, size));
        }
        while self.entries.len() > 1
            && (self.entries.len() > TAIL_ENTRIES || self.bytes > TAIL_BYTES)
        {
            if let Some((_, size)) = self.entries.pop_front() {
                self.bytes -= size;
            }
        }
    }

    /// Drops entries with `index >= since`.
    fn truncate(&mut self, since: u64) {
        while self.last().is_some_and(|l| l >= since) {
            if let Some((_, size)) = self.entries.pop_back() {
                self.bytes -= size;
            }
        }
    }

    /// Drops entries with `index <= upto`.
    fn purge(&mut self, upto: u64) {
        while self.first().is_some_and(|f| f <= upto) {
            if let Some((_, size)) = self.entries.pop_front() {
                self.bytes -= size;
            }
        }
    }

    /// Entries with `start <= index < end` if the tail holds all of them
    /// that the log holds.
    fn get(&self, start: u64, end: u64) -> Option<Vec<Entry>> {
        let first = self.first()?;
        let last = self.last()?;
        if start < first {
            return None;
        }
        let end = end.min(last.saturating_add(1));
        if start >= end {
            return Some(Vec::new());
        }
        let from = (start - first) as usize;
        let to = (end - first) as usize;
        Some(
            self.entries
                .range(from..to)
                .map(|(e, _)| e.clone())
                .collect(),
        )
    }
}

/// The log store (and its reader: they share the database and the tail).
#[derive(Clone, Debug)]
pub struct LogStore {
    store: Store,
    committed: Arc<AtomicU64>,
    tail: Arc<Mutex<Tail>>,
}

impl LogStore {
    /// A log store over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            committed: Arc::new(AtomicU64::new(0)),
            tail: Arc::new(Mutex::new(Tail::default())),
        }
    }

    /// The index of the last entry known committed (0 before any), shared
    /// with every clone.
    pub fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    async fn meta<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        key: &'static str,
    ) -> Result<Option<T>, StorageErr> {
        let store = self.store.clone();
        blocking(move || {
            store
                .raft_meta(key)
                .map_err(read_err)?
                .map(|b| decode(&b))
                .transpose()
        })
        .await
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageErr> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => e.saturating_add(1),
            Bound::Excluded(e) => *e,
            Bound::Unbounded => u64::MAX,
        };
        if let Some(entries) = self.tail.lock().get(start, end) {
            return Ok(entries);
        }
        let store = self.store.clone();
        blocking(move || {
            store
                .log_range(start, end)
                .map_err(read_err)?
                .iter()
                .map(|(_, b)| decode(b))
                .collect()
        })
        .await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageErr> {
        let last_purged_log_id: Option<LogId> = self.meta(PURGED).await?;
        let store = self.store.clone();
        let last: Option<Entry> = blocking(move || {
            store
                .last_log()
                .map_err(read_err)?
                .map(|(_, b)| decode(&b))
                .transpose()
        })
        .await?;
        let last_log_id = last.map(|e| *e.get_log_id()).or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageErr> {
        let bytes = encode(vote)?;
        let store = self.store.clone();
        blocking(move || store.put_raft_meta(VOTE, &bytes, true).map_err(write_err)).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageErr> {
        self.meta(VOTE).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageErr> {
        // Kept in memory only (for the metrics): persisting it cost a
        // blocking hop and a transaction on every commit, in the path of
        // every write. After a restart the applied state is the lower
        // bound openraft starts from, and the leader commits the rest
        // again, which is what it does anyway for entries of earlier terms.
        if let Some(c) = committed {
            self.committed.store(c.index, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageErr> {
        // A value an earlier version stored is still a valid lower bound.
        Ok(self.meta::<Option<LogId>>(COMMITTED).await?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageErr>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let rows: Vec<(u64, Vec<u8>)> = entries
            .iter()
            .map(|e| Ok((e.get_log_id().index, encode(e)?)))
            .collect::<Result<_, StorageErr>>()?;
        let sizes: Vec<usize> = rows.iter().map(|(_, b)| b.len()).collect();
        let store = self.store.clone();
        let res = tokio::task::spawn_blocking(move || store.append_log(&rows)).await;
        let err = match res {
            Ok(Ok(())) => {
                self.tail
                    .lock()
                    .push(entries.into_iter().zip(sizes).collect());
                callback.log_io_completed(Ok(()));
                return Ok(());
            }
            Ok(Err(e)) => write_err(e),
            Err(e) => write_err(e),
        };
        // What the failed append left in the log is unknown: read it back
        // from the database from now on.
        *self.tail.lock() = Tail::default();
        callback.log_io_completed(Err(std::io::Error::other(err.to_string())));
        Err(err)
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageErr> {
        // Out of the tail first: a read between the two must not see
        // entries the log is dropping.
        self.tail.lock().truncate(log_id.index);
        let store = self.store.clone();
        blocking(move || store.truncate_log(log_id.index).map_err(write_err)).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageErr> {
        let marker = encode(&log_id)?;
        self.tail.lock().purge(log_id.index);
        let store = self.store.clone();
        blocking(move || store.purge_log(log_id.index, &marker).map_err(write_err)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(index: u64, term: u64) -> (Entry, usize) {
        let e = Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Blank,
        };
        (e, 100)
    }

    fn indexes(v: Option<Vec<Entry>>) -> Option<Vec<(u64, u64)>> {
        v.map(|v| {
            v.iter()
                .map(|e| (e.log_id.index, e.log_id.leader_id.term))
                .collect()
        })
    }

    #[test]
    fn the_tail_serves_only_ranges_it_holds_and_follows_the_log() {
        let mut t = Tail::default();
        assert_eq!(indexes(t.get(0, u64::MAX)), None, "empty: ask the database");
        t.push((5..=9).map(|i| entry(i, 1)).collect());
        assert_eq!(indexes(t.get(4, 6)), None, "starts before the tail");
        assert_eq!(indexes(t.get(5, 7)), Some(vec![(5, 1), (6, 1)]));
        assert_eq!(
            indexes(t.get(8, u64::MAX)),
            Some(vec![(8, 1), (9, 1)]),
            "open end: up to the last entry"
        );
        assert_eq!(indexes(t.get(10, 20)), Some(vec![]), "past the log's end");

        // An append that overwrites (after a leader change) replaces the rest.
        t.push(vec![entry(7, 2)]);
        assert_eq!(indexes(t.get(5, 100)), Some(vec![(5, 1), (6, 1), (7, 2)]));
        t.truncate(6);
        assert_eq!(indexes(t.get(5, 100)), Some(vec![(5, 1)]));
        t.push(vec![entry(6, 3), entry(7, 3)]);
        t.purge(6);
        assert_eq!(indexes(t.get(6, 100)), None, "purged: not the tail's");
        assert_eq!(indexes(t.get(7, 100)), Some(vec![(7, 3)]));
        assert_eq!(t.bytes, 100);

        // A gap (never from Raft) starts the tail over.
        t.push(vec![entry(20, 3)]);
        assert_eq!(indexes(t.get(7, 100)), None);
        assert_eq!(indexes(t.get(20, 21)), Some(vec![(20, 3)]));
    }

    #[test]
    fn the_tail_is_bounded_in_entries_and_bytes_but_keeps_the_newest() {
        let mut t = Tail::default();
        t.push(
            (1..=(TAIL_ENTRIES as u64 + 10))
                .map(|i| entry(i, 1))
                .collect(),
        );
        assert_eq!(t.entries.len(), TAIL_ENTRIES);
        assert_eq!(t.first(), Some(11));
        assert_eq!(t.bytes, TAIL_ENTRIES * 100);
        let (big, _) = entry(TAIL_ENTRIES as u64 + 11, 1);
        t.push(vec![(big, TAIL_BYTES + 1)]);
        assert_eq!(
            t.entries.len(),
            1,
            "one entry over the bytes bound stays alone"
        );
        assert_eq!(t.bytes, TAIL_BYTES + 1);
    }
}
