//! The Raft log over the redb store: entries, vote, committed marker.
//!
//! Appends are durable (fsynced) before the flush callback fires. Several
//! client commands share one entry (see `crate::proposer`), which is how
//! one fsync serves many writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// The log store (and its reader: they share the database).
#[derive(Clone, Debug)]
pub struct LogStore {
    store: Store,
    committed: Arc<AtomicU64>,
}

impl LogStore {
    /// A log store over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            committed: Arc::new(AtomicU64::new(0)),
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
        let rows: Vec<(u64, Vec<u8>)> = entries
            .into_iter()
            .map(|e| Ok((e.get_log_id().index, encode(&e)?)))
            .collect::<Result<_, StorageErr>>()?;
        let store = self.store.clone();
        let res = tokio::task::spawn_blocking(move || store.append_log(&rows)).await;
        match res {
            Ok(Ok(())) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Ok(Err(e)) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_err(e))
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageErr> {
        let store = self.store.clone();
        blocking(move || store.truncate_log(log_id.index).map_err(write_err)).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageErr> {
        let marker = encode(&log_id)?;
        let store = self.store.clone();
        blocking(move || store.purge_log(log_id.index, &marker).map_err(write_err)).await
    }
}
