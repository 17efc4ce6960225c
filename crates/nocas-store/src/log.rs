//! The Raft log and Raft metadata, as opaque bytes.

use redb::{Durability, ReadableTable, ReadableTableMetadata};

use crate::tables::{RAFT_LOG, RAFT_META};
use crate::{Store, StoreError};

impl Store {
    /// Appends (or overwrites) log entries and fsyncs before returning.
    /// Also makes every earlier applied-state commit durable.
    pub fn append_log(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let txn = self.write()?;
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
        let txn = self.read_log()?;
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
        let txn = self.read_log()?;
        let t = txn.open_table(RAFT_LOG)?;
        Ok(t.last()?.map(|(k, v)| (k.value(), v.value().to_vec())))
    }

    /// Number of entries held.
    pub fn log_len(&self) -> Result<u64, StoreError> {
        let txn = self.read_log()?;
        let t = txn.open_table(RAFT_LOG)?;
        Ok(t.len()?)
    }

    /// Deletes entries with `index >= since`, durably.
    pub fn truncate_log(&self, since: u64) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut t = txn.open_table(RAFT_LOG)?;
            t.retain_in(since.., |_, _| false)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Records the purge marker and deletes entries with `index <= upto`,
    /// in one durable transaction.
    pub fn purge_log(&self, upto: u64, purged_marker: &[u8]) -> Result<(), StoreError> {
        let txn = self.write()?;
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
        let txn = self.read_log()?;
        let t = txn.open_table(RAFT_META)?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    /// Removes a Raft metadata value, durably.
    pub fn remove_raft_meta(&self, key: &str) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut t = txn.open_table(RAFT_META)?;
            t.remove(key)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Stores a Raft metadata value; `durable` fsyncs before returning.
    pub fn put_raft_meta(&self, key: &str, value: &[u8], durable: bool) -> Result<(), StoreError> {
        let mut txn = self.write()?;
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
}
