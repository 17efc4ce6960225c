//! The Raft log and Raft metadata, as opaque bytes, in the log's own
//! database; and moving a log out of a state file written before the log
//! had one.

use std::path::Path;

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle,
};

use crate::tables::{RAFT_LOG, RAFT_META};
use crate::{Store, StoreError};

impl Store {
    /// Appends (or overwrites) log entries and fsyncs before returning.
    pub fn append_log(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let txn = self.log_write()?;
        let mut bytes = 0;
        {
            let mut t = txn.open_table(RAFT_LOG)?;
            for (index, entry) in entries {
                bytes += entry.len();
                t.insert(*index, entry.as_slice())?;
            }
        }
        txn.commit()?;
        if let Some(o) = self.observer() {
            o.log_appended(entries.len(), bytes, started.elapsed());
        }
        Ok(())
    }

    /// Entries with `start <= index < end`, in order.
    pub fn log_range(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let txn = self.log_read()?;
        let t = txn.open_table(RAFT_LOG)?;
        let mut out = Vec::new();
        if start >= end {
            return Ok(out);
        }
        for item in t.range(start..end)? {
            let (k, v) = item?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The last entry, if any.
    pub fn last_log(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let txn = self.log_read()?;
        let t = txn.open_table(RAFT_LOG)?;
        Ok(t.last()?.map(|(k, v)| (k.value(), v.value().to_vec())))
    }

    /// Number of entries held.
    pub fn log_len(&self) -> Result<u64, StoreError> {
        let txn = self.log_read()?;
        let t = txn.open_table(RAFT_LOG)?;
        Ok(t.len()?)
    }

    /// Deletes entries with `index >= since`, durably.
    pub fn truncate_log(&self, since: u64) -> Result<(), StoreError> {
        let txn = self.log_write()?;
        {
            let mut t = txn.open_table(RAFT_LOG)?;
            t.retain_in(since.., |_, _| false)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Records the purge marker and deletes entries with `index <= upto`,
    /// in one durable transaction, after making the applied state durable
    /// (so a crash never leaves an `applied` marker older than the log's
    /// first entry).
    pub fn purge_log(&self, upto: u64, purged_marker: &[u8]) -> Result<(), StoreError> {
        self.sync()?;
        let txn = self.log_write()?;
        {
            let mut m = txn.open_table(RAFT_META)?;
            m.insert("purged", purged_marker)?;
            let mut t = txn.open_table(RAFT_LOG)?;
            t.retain_in(..=upto, |_, _| false)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// A Raft metadata value (`vote`, `committed`, `purged`).
    pub fn raft_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.log_read()?;
        let t = txn.open_table(RAFT_META)?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    /// Removes a Raft metadata value, durably.
    pub fn remove_raft_meta(&self, key: &str) -> Result<(), StoreError> {
        let txn = self.log_write()?;
        {
            let mut t = txn.open_table(RAFT_META)?;
            t.remove(key)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Stores a Raft metadata value; `durable` fsyncs before returning.
    pub fn put_raft_meta(&self, key: &str, value: &[u8], durable: bool) -> Result<(), StoreError> {
        let mut txn = self.log_write()?;
        if !durable {
            txn.set_durability(Durability::None)?;
        }
        {
            let mut t = txn.open_table(RAFT_META)?;
            t.insert(key, value)?;
        }
        txn.commit()?;
        Ok(())
    }
}

/// Copies the Raft log out of a state file written before the log had a
/// file of its own into `log_path` (nothing to do when `log_path` exists
/// or the state file holds no log). Crash-safe: written into a new file,
/// fsynced, then renamed into place.
pub(crate) fn move_log_out(state: &Database, log_path: &Path) -> Result<(), StoreError> {
    if log_path.exists() {
        return Ok(());
    }
    let read = state.begin_read()?;
    let (log, meta) = match (read.open_table(RAFT_LOG), read.open_table(RAFT_META)) {
        (Ok(log), Ok(meta)) => (log, meta),
        // A state file that never held a log.
        _ => return Ok(()),
    };
    if log.is_empty()? && meta.is_empty()? {
        return Ok(());
    }
    let part = log_path.with_extension("redb.part");
    let io = |source| StoreError::File {
        path: part.clone(),
        source,
    };
    if part.exists() {
        std::fs::remove_file(&part).map_err(io)?;
    }
    {
        let db = Database::create(&part)?;
        let txn = db.begin_write()?;
        {
            let mut to_log = txn.open_table(RAFT_LOG)?;
            for item in log.iter()? {
                let (k, v) = item?;
                to_log.insert(k.value(), v.value())?;
            }
            let mut to_meta = txn.open_table(RAFT_META)?;
            for item in meta.iter()? {
                let (k, v) = item?;
                to_meta.insert(k.value(), v.value())?;
            }
        }
        txn.commit()?;
    }
    std::fs::rename(&part, log_path).map_err(io)?;
    if let Some(dir) = log_path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    tracing::info!(file = %log_path.display(), "moved the Raft log into a file of its own");
    Ok(())
}

/// Drops the log tables of a state file whose log was moved out.
pub(crate) fn drop_moved_log(state: &Database) -> Result<(), StoreError> {
    let held = {
        let read = state.begin_read()?;
        read.list_tables()?
            .any(|t| t.name() == RAFT_LOG.name() || t.name() == RAFT_META.name())
    };
    if held {
        let txn = state.begin_write()?;
        txn.delete_table(RAFT_LOG)?;
        txn.delete_table(RAFT_META)?;
        txn.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db.redb")).unwrap();
        (dir, s)
    }

    #[test]
    fn append_read_truncate_purge() {
        let (_d, s) = store();
        let entries: Vec<(u64, Vec<u8>)> = (1..=10).map(|i| (i, vec![i as u8])).collect();
        s.append_log(&entries).unwrap();
        assert_eq!(s.log_range(3, 6).unwrap().len(), 3);
        assert_eq!(s.last_log().unwrap().unwrap().0, 10);
        s.truncate_log(8).unwrap();
        assert_eq!(s.last_log().unwrap().unwrap().0, 7);
        s.purge_log(4, b"p").unwrap();
        assert_eq!(s.log_range(0, 100).unwrap().first().unwrap().0, 5);
        assert_eq!(s.raft_meta("purged").unwrap().unwrap(), b"p");
        assert_eq!(s.log_len().unwrap(), 3);
    }

    #[test]
    fn meta_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        {
            let s = Store::open(&path).unwrap();
            s.put_raft_meta("vote", b"v1", true).unwrap();
            s.append_log(&[(1, b"e".to_vec())]).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.raft_meta("vote").unwrap().unwrap(), b"v1");
        assert_eq!(s.last_log().unwrap().unwrap().1, b"e");
    }

    /// A state file in the layout before the log had a file of its own:
    /// the log and Raft metadata in it, beside an applied config.
    fn old_layout(path: &Path) {
        let db = Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut log = txn.open_table(RAFT_LOG).unwrap();
            for i in 1..=3u64 {
                log.insert(i, format!("entry {i}").as_bytes()).unwrap();
            }
            let mut meta = txn.open_table(RAFT_META).unwrap();
            meta.insert("vote", b"v7".as_slice()).unwrap();
            let mut sm = txn.open_table(crate::tables::SM_META).unwrap();
            sm.insert(crate::tables::APPLIED, b"a3".as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }

    type Rows = Vec<(u64, Vec<u8>)>;

    fn log_and_vote(s: &Store) -> (Rows, Option<Vec<u8>>) {
        (s.log_range(0, 100).unwrap(), s.raft_meta("vote").unwrap())
    }

    #[test]
    fn an_old_state_file_has_its_log_moved_into_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        old_layout(&path);
        let want = (
            (1..=3u64)
                .map(|i| (i, format!("entry {i}").into_bytes()))
                .collect::<Vec<_>>(),
            Some(b"v7".to_vec()),
        );
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(log_and_vote(&s), want);
            assert_eq!(s.applied_marker().unwrap().unwrap(), b"a3");
            s.close().unwrap();
        }
        assert!(Store::log_file(&path).exists());
        // The state file holds no log any more.
        {
            let db = Database::open(&path).unwrap();
            let read = db.begin_read().unwrap();
            assert!(read.open_table(RAFT_LOG).is_err());
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(log_and_vote(&s), want);
    }

    #[test]
    fn a_move_cut_short_is_done_again_or_finished() {
        let dir = tempfile::tempdir().unwrap();
        // Cut before the rename: a partial file is left; the move starts over.
        let a = dir.path().join("a.redb");
        old_layout(&a);
        let part = Store::log_file(&a).with_extension("redb.part");
        std::fs::write(&part, b"half a database").unwrap();
        let s = Store::open(&a).unwrap();
        assert_eq!(log_and_vote(&s).0.len(), 3);
        assert!(!part.exists());
        drop(s);
        // Cut after the rename, before the state file dropped its copy:
        // the log file wins, the leftover is dropped.
        let b = dir.path().join("b.redb");
        old_layout(&b);
        std::fs::copy(Store::log_file(&a), Store::log_file(&b)).unwrap();
        {
            let s = Store::open(&b).unwrap();
            s.append_log(&[(4, b"entry 4".to_vec())]).unwrap();
            assert_eq!(log_and_vote(&s).0.len(), 4);
        }
        let s = Store::open(&b).unwrap();
        assert_eq!(log_and_vote(&s).0.len(), 4);
    }

    #[test]
    fn a_log_without_its_state_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        Store::open(&path).unwrap().close().unwrap();
        std::fs::remove_file(&path).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("without its state file"), "{err}");
    }
}
