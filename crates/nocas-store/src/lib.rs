//! Durable storage in one redb database.
//!
//! The store owns the file and its tables ([`tables`]): the Raft log and its
//! metadata ([`log`]), the applied durable state and config history
//! ([`state`]), and state-machine snapshots ([`snapshot`]). It knows the
//! domain's record types (from `nocas-core`) but nothing of Raft's types:
//! the cluster layer hands it log entries and Raft metadata as bytes.
//!
//! Durability: log writes commit with [`redb::Durability::Immediate`]
//! (fsync before returning). Applied-state writes are staged in memory
//! ([`Store::stage`]) and written by the next write transaction of any kind
//! — usually the next log append, so one transaction and one fsync carry
//! both — or before any read of the applied tables; they become durable
//! with the next log write or [`Store::sync`]. After a crash the applied
//! state rolls back to a consistent earlier point together with its
//! `applied` marker, and the log replays the rest.
//!
//! Architecture invariant: no knowledge of HTTP, gRPC or Raft types; every
//! call but [`Store::stage`] (which only takes a lock) is blocking and must
//! be run off the async executor's threads.

pub mod backup;
mod codec;
mod error;
pub mod log;
pub mod snapshot;
pub mod space;
pub mod state;
pub mod stream;
pub mod tables;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use redb::{Database, ReadableDatabase};

pub use error::StoreError;
pub use snapshot::StateDump;
pub use state::{AuditPage, HistoryPage};

/// Default page cache: 16 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Told about each durable log append (for metrics); must not block.
pub trait StoreObserver: Send + Sync {
    /// `entries` log entries of `bytes` in all were committed and fsynced
    /// in `took`.
    fn log_appended(&self, entries: usize, bytes: usize, took: std::time::Duration);
}

/// The database behind a node. Cheap to clone; [`Store::close`] releases
/// the file for every clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<RwLock<Option<Arc<Database>>>>,
    observer: Arc<RwLock<Option<Arc<dyn StoreObserver>>>>,
    /// Where snapshot files live (`<name>-snapshots` beside the database).
    snapshots: Arc<PathBuf>,
    /// Held while the current snapshot file changes or is opened.
    snapshot_lock: Arc<Mutex<()>>,
    /// Applied-state writes not yet in a transaction (see [`Store::stage`]).
    staged: Arc<Mutex<state::Staged>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the database file at `path`, creating its tables,
    /// with redb's default page cache.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// Opens the database with a page cache of at most `cache_bytes`. Reads
    /// are served from memory above this layer, so a small cache suffices.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        Self::open_verified(path, cache_bytes, false)
    }

    /// Opens the database; with `verify`, the checksum of every page is
    /// checked first. A file that exists but is empty, is not a database,
    /// is shorter than its recorded layout or fails the check is refused
    /// with [`StoreError::Damaged`] naming it (never opened as an empty
    /// store). A missing file is a new store.
    pub fn open_verified(
        path: &Path,
        cache_bytes: usize,
        verify: bool,
    ) -> Result<Self, StoreError> {
        let damaged = |reason: String| StoreError::Damaged {
            path: path.to_path_buf(),
            reason,
        };
        if let Ok(meta) = std::fs::metadata(path)
            && meta.len() == 0
        {
            return Err(damaged("the file is empty".into()));
        }
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Database::builder()
                .set_cache_size(cache_bytes)
                .set_check_integrity_on_open(verify)
                .create(path)
        }));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => {
                let text = e.to_string();
                let corrupt = matches!(
                    e,
                    redb::DatabaseError::Storage(redb::StorageError::Corrupted(_))
                ) || text.contains("magic number")
                    || text.contains("corrupt");
                if corrupt {
                    return Err(damaged(text));
                }
                return Err(e.into());
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the database code failed reading it".into());
                return Err(damaged(what));
            }
        };
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "nocas".into());
        let store = Self {
            db: Arc::new(RwLock::new(Some(Arc::new(db)))),
            observer: Arc::new(RwLock::new(None)),
            snapshots: Arc::new(path.with_file_name(format!("{stem}-snapshots"))),
            snapshot_lock: Arc::new(Mutex::new(())),
            staged: Arc::new(Mutex::new(state::Staged::default())),
        };
        store.create_tables()?;
        Ok(store)
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        let txn = self.write()?;
        tables::create_all(&txn)?;
        txn.commit()?;
        Ok(())
    }

    /// Makes every earlier commit durable (one fsync).
    pub fn sync(&self) -> Result<(), StoreError> {
        let txn = self.write()?;
        txn.commit()?;
        Ok(())
    }

    /// Makes earlier commits durable and closes the database file (for
    /// every clone); later calls fail with [`StoreError::Closed`].
    pub fn close(&self) -> Result<(), StoreError> {
        if self.db.read().is_some() {
            self.sync()?;
        }
        self.db.write().take();
        Ok(())
    }

    /// Sets who is told about durable log appends (every clone shares it).
    pub fn set_observer(&self, observer: Arc<dyn StoreObserver>) {
        *self.observer.write() = Some(observer);
    }

    fn observer(&self) -> Option<Arc<dyn StoreObserver>> {
        self.observer.read().clone()
    }

    fn db(&self) -> Result<Arc<Database>, StoreError> {
        self.db.read().clone().ok_or(StoreError::Closed)
    }

    /// Begins a write transaction holding the staged applied-state writes
    /// first: redb runs one write transaction at a time, so staged writes
    /// reach the file in the order they were applied, before anything this
    /// transaction writes.
    fn write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let txn = self.db()?.begin_write()?;
        self.write_staged(&txn)?;
        Ok(txn)
    }

    /// Begins a read of the applied tables (staged writes committed first,
    /// so a read sees every applied write).
    fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.flush_staged()?;
        self.read_log()
    }

    /// Begins a read of tables the state machine never writes (the log,
    /// Raft metadata, the current snapshot's record): staged writes are
    /// not needed there and stay staged.
    fn read_log(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.db()?.begin_read()?)
    }
}
