//! Durable storage: the Raft log in a write-ahead log, the applied state
//! in a redb database.
//!
//! The store owns the files and their tables ([`tables`]): the Raft log and
//! its metadata ([`log`], kept by `wal`, an append-only log of segment files)
//! in the directory `<name>-log/`, the applied durable state and config
//! history ([`state`]) and state-machine snapshots ([`snapshot`]) in
//! `<name>.redb`. It knows the domain's record types (from `nocas-core`)
//! but nothing of Raft's types: the cluster layer hands it log entries and
//! Raft metadata as bytes. Logs of earlier versions (in `<name>.redb`, then
//! in `<name>-log.redb`) are moved into the write-ahead log on open.
//!
//! Durability: a log append is one sequential write and one `fdatasync`
//! before it returns. Applied-state writes are staged in memory
//! ([`Store::stage`]) and written by the store's applied-state writer (a
//! thread of its own, so writing them is off the path of the next log
//! append), or before any read or write of the applied tables, whichever
//! comes first; every [`DURABLE_EVERY`]th of those commits, a log purge,
//! [`Store::sync`] and [`Store::close`] make them durable. After a crash
//! the applied state rolls back to a consistent earlier point together with
//! its `applied` marker, and the log (never purged past a durable marker)
//! replays the rest.
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
mod wal;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use redb::{Database, ReadableDatabase};

pub use error::StoreError;
pub use snapshot::StateDump;
pub use state::{AuditPage, HistoryPage};

/// Default page cache: 16 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The applied-state writer makes its commits durable (one fsync) at least
/// every this many commits, bounding what a crash makes the log replay.
pub const DURABLE_EVERY: u32 = 16;

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
    /// The applied state's database.
    db: Arc<RwLock<Option<Arc<Database>>>>,
    /// The Raft log.
    wal: Arc<RwLock<Option<Arc<wal::Wal>>>>,
    observer: Arc<RwLock<Option<Arc<dyn StoreObserver>>>>,
    /// Where snapshot files live (`<name>-snapshots` beside the database).
    snapshots: Arc<PathBuf>,
    /// Held while the current snapshot file changes or is opened.
    snapshot_lock: Arc<Mutex<()>>,
    /// Applied-state writes not yet in a transaction (see [`Store::stage`]).
    staged: Arc<state::Shared>,
    /// The applied-state writer's thread, stopped when the last clone goes.
    writer: Arc<state::Writer>,
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
    /// store). A missing file is a new store; its Raft log goes in
    /// [`Store::log_dir`] beside it. A store written by an earlier version
    /// has its log moved there first (crash-safe: copied, made durable,
    /// renamed into place, and only then dropped from where it was).
    pub fn open_verified(
        path: &Path,
        cache_bytes: usize,
        verify: bool,
    ) -> Result<Self, StoreError> {
        let damaged = |path: &Path, reason: String| StoreError::Damaged {
            path: path.to_path_buf(),
            reason,
        };
        let log_path = log_path(path);
        if let Some(log) = [&log_path, &old_log_path(path)]
            .into_iter()
            .find(|p| !path.exists() && p.exists())
        {
            return Err(damaged(
                log,
                format!(
                    "a Raft log without its state file {}; move it away to start empty",
                    path.display()
                ),
            ));
        }
        let db = open_db(path, cache_bytes, verify)?;
        {
            let txn = db.begin_write()?;
            tables::create_state(&txn)?;
            txn.commit()?;
        }
        // Earlier layouts: the log in the state file, then in a redb file
        // of its own; each is moved on, crash-safely, before it is dropped.
        let old_log = old_log_path(path);
        if !log_path.exists() {
            log::move_log_out(&db, &old_log)?;
        }
        log::drop_moved_log(&db)?;
        log::move_into_wal(&old_log, &log_path)?;
        let wal = wal::Wal::open(&log_path)?;
        let stem = stem(path);
        let db = Arc::new(RwLock::new(Some(Arc::new(db))));
        let staged = Arc::new(state::Shared::default());
        let writer = Arc::new(state::Writer::start(db.clone(), staged.clone()));
        Ok(Self {
            db,
            wal: Arc::new(RwLock::new(Some(Arc::new(wal)))),
            observer: Arc::new(RwLock::new(None)),
            snapshots: Arc::new(path.with_file_name(format!("{stem}-snapshots"))),
            snapshot_lock: Arc::new(Mutex::new(())),
            staged,
            writer,
        })
    }

    /// The Raft log's directory beside the state file at `path`.
    pub fn log_dir(path: &Path) -> PathBuf {
        log_path(path)
    }

    /// Writes what is staged and makes every earlier commit of both
    /// databases durable (one fsync each).
    pub fn sync(&self) -> Result<(), StoreError> {
        state::commit_staged(&*self.db()?, &self.staged, true)?;
        self.wal()?.sync()
    }

    /// Stops the applied-state writer, makes earlier commits durable and
    /// closes the database files (for every clone); later calls fail with
    /// [`StoreError::Closed`].
    pub fn close(&self) -> Result<(), StoreError> {
        self.writer.stop();
        if self.db.read().is_some() {
            self.sync()?;
        }
        self.db.write().take();
        self.wal.write().take();
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

    fn wal(&self) -> Result<Arc<wal::Wal>, StoreError> {
        self.wal.read().clone().ok_or(StoreError::Closed)
    }

    /// Begins a write transaction on the applied state, after writing what
    /// is staged in a transaction of its own (so staged writes reach the
    /// file in the order they were applied, before anything this
    /// transaction writes).
    fn write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let db = self.db()?;
        state::commit_staged(&db, &self.staged, false)?;
        Ok(db.begin_write()?)
    }

    /// Begins a read of the applied tables (staged writes committed first,
    /// so a read sees every applied write).
    fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        let db = self.db()?;
        state::commit_staged(&db, &self.staged, false)?;
        Ok(db.begin_read()?)
    }

    /// Begins a read of state-database tables the state machine never
    /// writes (the current snapshot's record): staged writes are not
    /// needed there and stay staged.
    fn read_unstaged(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.db()?.begin_read()?)
    }
}

/// `<stem>-log` (a directory) beside `path`.
fn log_path(path: &Path) -> PathBuf {
    path.with_file_name(format!("{}-log", stem(path)))
}

/// `<stem>-log.redb` beside `path`: where the log was kept before it was a
/// write-ahead log.
fn old_log_path(path: &Path) -> PathBuf {
    path.with_file_name(format!("{}-log.redb", stem(path)))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "nocas".into())
}

/// Opens (or creates) one database; a file that is empty, is not a
/// database, is shorter than its recorded layout or fails the check is
/// refused with [`StoreError::Damaged`] naming it.
fn open_db(path: &Path, cache_bytes: usize, verify: bool) -> Result<Database, StoreError> {
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
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => {
            let text = e.to_string();
            let corrupt = matches!(
                e,
                redb::DatabaseError::Storage(redb::StorageError::Corrupted(_))
            ) || text.contains("magic number")
                || text.contains("corrupt");
            if corrupt {
                Err(damaged(text))
            } else {
                Err(e.into())
            }
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the database code failed reading it".into());
            Err(damaged(what))
        }
    }
}
