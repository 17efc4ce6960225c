//! The Raft log and Raft metadata, as opaque bytes, in the log's own
//! write-ahead log (`wal`'s segment files); and moving a log kept by an earlier
//! version (in the state file, then in a redb file of its own) there.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};

use crate::tables::{RAFT_LOG, RAFT_META};
use crate::wal::Wal;
use crate::{Store, StoreError};

impl Store {
    /// Appends log entries (indexes above every index held; truncate first
    /// to overwrite) and fsyncs before returning.
    pub fn append_log(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        // Refused once an applied-state write failed: see
        // [`StoreError::Failed`].
        self.staged.check()?;
        self.wal()?.append(entries)?;
        if let Some(o) = self.observer() {
            let bytes = entries.iter().map(|(_, e)| e.len()).sum();
            o.log_appended(entries.len(), bytes, started.elapsed());
        }
        Ok(())
    }

    /// Entries with `start <= index < end`, in order.
    pub fn log_range(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.wal()?.range(start, end)
    }

    /// The last entry, if any.
    pub fn last_log(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.wal()?.last()
    }

    /// Number of entries held.
    pub fn log_len(&self) -> Result<u64, StoreError> {
        Ok(self.wal()?.len())
    }

    /// Removes entries with index >= `since`, durably.
    pub fn truncate_log(&self, since: u64) -> Result<(), StoreError> {
        self.staged.check()?;
        self.wal()?.truncate(since)
    }

    /// Removes entries with index <= `upto` and records the purged marker.
    /// The applied state is made durable first: the log is never purged
    /// past what a crash would roll the applied state back to.
    pub fn purge_log(&self, upto: u64, purged_marker: &[u8]) -> Result<(), StoreError> {
        self.sync()?;
        self.wal()?.purge(upto, purged_marker)
    }

    /// A Raft metadata value (`vote`, `committed`, `purged`).
    pub fn raft_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.wal()?.meta(key))
    }

    /// Removes a Raft metadata value, durably.
    pub fn remove_raft_meta(&self, key: &str) -> Result<(), StoreError> {
        self.wal()?.set_meta(key, None, true)
    }

    /// Sets a Raft metadata value; `durable` waits for the fsync.
    pub fn put_raft_meta(&self, key: &str, value: &[u8], durable: bool) -> Result<(), StoreError> {
        self.staged.check()?;
        self.wal()?.set_meta(key, Some(value), durable)
    }
}

/// Moves a Raft log kept in a redb database (`nocas-log.redb`, the layout
/// before the log became a write-ahead log) into a new log in `dir`:
/// written into `<dir>.part`, made durable, renamed into place, and only
/// then is the database file removed. A crash at any step leaves either
/// the database (the move starts again) or the finished log.
pub(crate) fn move_into_wal(old: &Path, dir: &Path) -> Result<(), StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::File { path, source }
    };
    if dir.exists() {
        if old.exists() {
            std::fs::remove_file(old).map_err(io(old))?;
        }
        return Ok(());
    }
    if !old.exists() {
        return Ok(());
    }
    let part = dir.with_extension("part");
    if part.exists() {
        std::fs::remove_dir_all(&part).map_err(io(&part))?;
    }
    {
        let db = Database::open(old)?;
        let read = db.begin_read()?;
        let wal = Wal::open(&part)?;
        if let Ok(meta) = read.open_table(RAFT_META) {
            for item in meta.iter()? {
                let (k, v) = item?;
                wal.set_meta(k.value(), Some(v.value()), false)?;
            }
        }
        if let Ok(log) = read.open_table(RAFT_LOG) {
            let mut batch = Vec::new();
            let mut bytes = 0;
            for item in log.iter()? {
                let (k, v) = item?;
                bytes += v.value().len();
                batch.push((k.value(), v.value().to_vec()));
                if bytes >= 8 * 1024 * 1024 {
                    wal.append(&batch)?;
                    batch.clear();
                    bytes = 0;
                }
            }
            if !batch.is_empty() {
                wal.append(&batch)?;
            }
        }
        wal.sync()?;
    }
    std::fs::rename(&part, dir).map_err(io(dir))?;
    sync_parent(dir)?;
    std::fs::remove_file(old).map_err(io(old))?;
    tracing::info!(dir = %dir.display(), "moved the Raft log into a write-ahead log");
    Ok(())
}

fn sync_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|source| StoreError::File {
                path: parent.to_path_buf(),
                source,
            })?;
    }
    Ok(())
}

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
    fn an_old_state_file_has_its_log_moved_into_the_write_ahead_log() {
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
        assert!(Store::log_dir(&path).is_dir());
        assert!(!crate::old_log_path(&path).exists());
        // The state file holds no log any more.
        {
            let db = Database::open(&path).unwrap();
            let read = db.begin_read().unwrap();
            assert!(read.open_table(RAFT_LOG).is_err());
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(log_and_vote(&s), want);
        // It goes on from there: appended, truncated at its first entry.
        s.append_log(&[(4, b"entry 4".to_vec())]).unwrap();
        s.truncate_log(1).unwrap();
        assert_eq!(s.last_log().unwrap(), None);
        s.append_log(&[(1, b"again".to_vec())]).unwrap();
        assert_eq!(s.log_range(0, 10).unwrap(), vec![(1, b"again".to_vec())]);
    }

    /// `path`'s log as the version before the write-ahead log kept it: in
    /// a redb file of its own (and, if `keep`, still in the state file).
    fn redb_layout(path: &Path, keep: bool) {
        old_layout(path);
        let db = Database::open(path).unwrap();
        move_log_out(&db, &crate::old_log_path(path)).unwrap();
        if !keep {
            drop_moved_log(&db).unwrap();
        }
    }

    #[test]
    fn a_redb_log_is_moved_and_a_move_cut_short_is_done_again_or_finished() {
        let dir = tempfile::tempdir().unwrap();
        // The redb log of the version before.
        let a = dir.path().join("a.redb");
        redb_layout(&a, false);
        {
            let s = Store::open(&a).unwrap();
            assert_eq!(log_and_vote(&s).0.len(), 3);
            assert_eq!(log_and_vote(&s).1.unwrap(), b"v7");
        }
        assert!(!crate::old_log_path(&a).exists());
        // Cut while the state file's log was copied into a redb file: a
        // partial file is left; the move starts over.
        let b = dir.path().join("b.redb");
        old_layout(&b);
        let part = crate::old_log_path(&b).with_extension("redb.part");
        std::fs::write(&part, b"half a database").unwrap();
        let s = Store::open(&b).unwrap();
        assert_eq!(log_and_vote(&s).0.len(), 3);
        assert!(!part.exists());
        drop(s);
        // Cut before the state file dropped its copy, and while the
        // write-ahead log was written: both moves are done again.
        let c = dir.path().join("c.redb");
        redb_layout(&c, true);
        let wal_part = Store::log_dir(&c).with_extension("part");
        std::fs::create_dir_all(&wal_part).unwrap();
        std::fs::write(wal_part.join("junk"), b"half a log").unwrap();
        {
            let s = Store::open(&c).unwrap();
            assert_eq!(log_and_vote(&s).0.len(), 3);
            s.append_log(&[(4, b"entry 4".to_vec())]).unwrap();
        }
        assert!(!wal_part.exists());
        // Cut after the rename, before the redb file was removed: the
        // write-ahead log wins, the leftover is dropped.
        redb_layout(&dir.path().join("d.redb"), false);
        std::fs::rename(
            crate::old_log_path(&dir.path().join("d.redb")),
            crate::old_log_path(&c),
        )
        .unwrap();
        let s = Store::open(&c).unwrap();
        assert_eq!(log_and_vote(&s).0.len(), 4);
        assert!(!crate::old_log_path(&c).exists());
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
