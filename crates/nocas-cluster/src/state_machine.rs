//! The state machine adapter: applies committed entries to the in-memory
//! [`DurableState`], stages their writes in the store (written by the
//! store's applied-state writer, off the path of the log appends; see
//! [`Store::stage`]), then hands the events to the sink.
//!
//! Readers share the state through [`SharedState`]; only this module
//! mutates it.
//!
//! Snapshots are files ([`nocas_store::snapshot`]): built by streaming the
//! state tables into one, received chunk by chunk into another, installed
//! in bounded transactions. No step holds the whole state in memory besides
//! the [`DurableState`] itself. The current snapshot never goes backwards:
//! a build that finishes after a newer snapshot was installed is dropped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{EntryPayload, OptionalSend, RaftLogId, RaftSnapshotBuilder, StorageIOError};
use parking_lot::{Mutex, RwLock};

use nocas_core::audit::{self, Actor, AuditRecord};
use nocas_core::command::{CommandResult, Effects, Event, EventSink, Write};
use nocas_core::state::DurableState;
use nocas_store::{Store, StoreError};

use crate::types::{
    AppliedMarker, Entry, LogId, Membership, StorageErr, TypeConfig, blocking, decode, encode,
    read_err, write_err,
};

/// The durable state as readers see it.
pub type SharedState = Arc<RwLock<DurableState>>;

/// The part file holding a received snapshot: the one it was received
/// into when `file` is that one, else a copy of `file` (the snapshot may
/// have come another way, such as the storage suite handing a built one
/// over directly).
fn received_file(
    store: &Store,
    mut file: std::fs::File,
    receiving: Option<PathBuf>,
) -> std::io::Result<PathBuf> {
    use std::io::{Seek, SeekFrom};
    use std::os::unix::fs::MetadataExt;
    let given = file.metadata()?;
    if let Some(p) = receiving {
        match std::fs::metadata(&p) {
            Ok(m) if m.dev() == given.dev() && m.ino() == given.ino() => {
                file.sync_all()?;
                return Ok(p);
            }
            _ => {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    let (p, mut out) = store.new_snapshot_file().map_err(std::io::Error::other)?;
    file.seek(SeekFrom::Start(0))?;
    std::io::copy(&mut file, &mut out)?;
    out.sync_all()?;
    Ok(p)
}

/// About how many bytes of records one transaction of a snapshot install
/// writes.
pub const INSTALL_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// The state machine (cheap to clone: clones share everything).
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    state: SharedState,
    applied: Arc<RwLock<AppliedMarker>>,
    sink: Arc<dyn EventSink>,
    snapshot_seq: Arc<AtomicU64>,
    /// The file the snapshot being received is written into.
    receiving: Arc<Mutex<Option<PathBuf>>>,
    observer: Arc<RwLock<Option<Arc<dyn crate::ClusterObserver>>>>,
}

impl StateMachine {
    /// Loads the applied state from `store`.
    pub async fn open(store: Store, sink: Arc<dyn EventSink>) -> Result<Self, StorageErr> {
        let s = store.clone();
        let (state, marker) = blocking(move || {
            s.remove_partial_snapshots();
            s.resume_install(INSTALL_BATCH_BYTES).map_err(write_err)?;
            let state = s.load_state().map_err(read_err)?;
            let marker: AppliedMarker = match s.applied_marker().map_err(read_err)? {
                Some(b) => decode(&b)?,
                None => (None, Membership::default()),
            };
            Ok((state, marker))
        })
        .await?;
        Ok(Self {
            store,
            state: Arc::new(RwLock::new(state)),
            applied: Arc::new(RwLock::new(marker)),
            sink,
            snapshot_seq: Arc::new(AtomicU64::new(0)),
            receiving: Arc::new(Mutex::new(None)),
            observer: Arc::new(RwLock::new(None)),
        })
    }

    /// Sets who is told about snapshots built and installed (every clone
    /// shares it).
    pub fn set_observer(&self, observer: Option<Arc<dyn crate::ClusterObserver>>) {
        *self.observer.write() = observer;
    }

    fn observer(&self) -> Option<Arc<dyn crate::ClusterObserver>> {
        self.observer.read().clone()
    }

    /// The shared durable state.
    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId> {
        self.applied.read().0
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageErr> {
        let started = std::time::Instant::now();
        let store = self.store.clone();
        // Make the applied state durable first: logs up to the snapshot may
        // be purged once it exists.
        let (part, marker) = blocking(move || {
            store.sync().map_err(write_err)?;
            let (part, f) = store.new_snapshot_file().map_err(write_err)?;
            let marker = store.write_snapshot(&f).map_err(write_err);
            if marker.is_err() {
                let _ = std::fs::remove_file(&part);
            }
            Ok((part, marker?))
        })
        .await?;
        let (last_log_id, last_membership): AppliedMarker = match marker {
            Some(b) => decode(&b)?,
            None => (None, Membership::default()),
        };
        let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match last_log_id {
            Some(l) => format!("{}-{}-{seq}", l.leader_id, l.index),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        let meta_bytes = encode(&meta)?;
        let store = self.store.clone();
        let id = meta.snapshot_id.clone();
        let index = last_log_id.map(|l| l.index);
        let kept = blocking(move || {
            match store
                .keep_snapshot(&meta_bytes, index, &part, &id)
                .map_err(write_err)?
            {
                Some(path) => Ok(Some(std::fs::File::open(&path).map_err(read_err)?)),
                None => Ok(None),
            }
        })
        .await?;
        let Some(file) = kept else {
            // A snapshot installed from the leader while this one was
            // written is newer: it stays current and is what was "built".
            tracing::info!(id = %meta.snapshot_id, "snapshot built after a newer one was installed; dropped");
            return match self.get_current_snapshot().await? {
                Some(current) => Ok(current),
                None => Err(write_err(StoreError::Codec {
                    what: "snapshot",
                    detail: "a newer snapshot was current but is gone".into(),
                })),
            };
        };
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let took = started.elapsed();
        tracing::info!(
            id = %meta.snapshot_id,
            bytes,
            took_ms = took.as_millis() as u64,
            "snapshot built"
        );
        if let Some(o) = self.observer() {
            o.snapshot_built(bytes, took);
        }
        Ok(Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<AppliedMarker, StorageErr> {
        Ok(self.applied.read().clone())
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<CommandResult>>, StorageErr>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut fx = Effects::default();
        let mut responses = Vec::new();
        let mut marker = self.applied.read().clone();
        {
            let mut state = self.state.write();
            for entry in entries {
                let log_id = *entry.get_log_id();
                marker.0 = Some(log_id);
                match entry.payload {
                    EntryPayload::Blank => responses.push(Vec::new()),
                    EntryPayload::Normal(batch) => {
                        let now = batch.now_ms;
                        let mut actors = batch.actors.into_iter();
                        let results = batch
                            .commands
                            .into_iter()
                            .enumerate()
                            .map(|(pos, cmd)| {
                                let actor = actors.next().flatten();
                                let change = audit::describe(&cmd);
                                let r = state.apply(now, cmd, &mut fx);
                                if let (Some((kind, op, target, detail)), Ok(outcome)) =
                                    (change, &r)
                                    && audit::changed(outcome)
                                {
                                    fx.writes.push(Write::Audit(Box::new(AuditRecord {
                                        id: audit::audit_id(log_id.index, pos),
                                        at_ms: now,
                                        actor: actor.unwrap_or_else(Actor::system),
                                        kind: kind.to_string(),
                                        op,
                                        target,
                                        detail,
                                    })));
                                }
                                r
                            })
                            .collect();
                        responses.push(results);
                    }
                    EntryPayload::Membership(m) => {
                        marker.1 = Membership::new(Some(log_id), m);
                        responses.push(Vec::new());
                    }
                }
            }
        }
        let marker_bytes = encode(&marker)?;
        // Staged, not written: the store's applied-state writer writes it
        // on its own thread, so applying costs no transaction and no
        // blocking hop, and the next log append does not wait for it. The
        // entries are in the log already; after a crash they are applied
        // again from the durable marker.
        self.store
            .stage(std::mem::take(&mut fx.writes), marker_bytes);
        *self.applied.write() = marker;
        if !fx.events.is_empty() {
            self.sink.publish(&fx.events);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageErr> {
        let store = self.store.clone();
        let (part, file) = blocking(move || store.new_snapshot_file().map_err(write_err)).await?;
        if let Some(old) = self.receiving.lock().replace(part) {
            // A newer snapshot replaces one whose transfer stopped.
            let _ = std::fs::remove_file(old);
        }
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        mut snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageErr> {
        use tokio::io::AsyncWriteExt;
        let started = std::time::Instant::now();
        let signature = Some(meta.signature());
        let io = |e: std::io::Error| {
            StorageErr::from(StorageIOError::read_snapshot(signature.clone(), &e))
        };
        snapshot.flush().await.map_err(io)?;
        let file = snapshot.into_std().await;
        let receiving = self.receiving.lock().take();
        let store = self.store.clone();
        let sig = signature.clone();
        let part = blocking(move || {
            received_file(&store, file, receiving)
                .map_err(|e| StorageErr::from(StorageIOError::read_snapshot(sig, &e)))
        })
        .await?;
        let meta_bytes = encode(meta)?;
        let store = self.store.clone();
        let id = meta.snapshot_id.clone();
        let index = meta.last_log_id.map(|l| l.index);
        let sig = signature.clone();
        let (state, bytes) = blocking(move || {
            let bytes = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            store
                .install_snapshot(&meta_bytes, index, &part, &id, INSTALL_BATCH_BYTES)
                .map_err(|e| StorageErr::from(StorageIOError::read_snapshot(sig, &e)))?;
            Ok((store.load_state().map_err(read_err)?, bytes))
        })
        .await?;
        let took = started.elapsed();
        tracing::info!(
            id = %meta.snapshot_id,
            bytes,
            took_ms = took.as_millis() as u64,
            "snapshot installed"
        );
        if let Some(o) = self.observer() {
            o.snapshot_installed(bytes, took);
        }
        *self.state.write() = state;
        *self.applied.write() = (meta.last_log_id, meta.last_membership.clone());
        self.sink.publish(&[Event::All]);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageErr> {
        let store = self.store.clone();
        let stored = blocking(move || store.current_snapshot().map_err(read_err)).await?;
        match stored {
            Some((meta, file)) => Ok(Some(Snapshot {
                meta: decode(&meta)?,
                snapshot: Box::new(tokio::fs::File::from_std(file)),
            })),
            None => Ok(None),
        }
    }
}
