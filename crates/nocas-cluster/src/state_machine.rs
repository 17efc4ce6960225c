//! The state machine adapter: applies committed entries to the in-memory
//! [`DurableState`], persists their writes through the store in one
//! transaction per applied run, then hands the events to the sink.
//!
//! Readers share the state through [`SharedState`]; only this module
//! mutates it.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{EntryPayload, OptionalSend, RaftLogId, RaftSnapshotBuilder, StorageIOError};
use parking_lot::RwLock;

use nocas_core::audit::{self, Actor, AuditRecord};
use nocas_core::command::{CommandResult, Effects, Event, EventSink, Write};
use nocas_core::state::DurableState;
use nocas_store::{StateDump, Store};

use crate::types::{
    AppliedMarker, Entry, LogId, Membership, StorageErr, TypeConfig, blocking, decode, encode,
    read_err, write_err,
};

/// The durable state as readers see it.
pub type SharedState = Arc<RwLock<DurableState>>;

/// The state machine (cheap to clone: clones share everything).
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    state: SharedState,
    applied: Arc<RwLock<AppliedMarker>>,
    sink: Arc<dyn EventSink>,
    snapshot_seq: Arc<AtomicU64>,
}

impl StateMachine {
    /// Loads the applied state from `store`.
    pub async fn open(store: Store, sink: Arc<dyn EventSink>) -> Result<Self, StorageErr> {
        let s = store.clone();
        let (state, marker) = blocking(move || {
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
        })
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
        let store = self.store.clone();
        // Make the applied state durable first: logs up to the snapshot may
        // be purged once it exists.
        let dump = blocking(move || {
            store.sync().map_err(write_err)?;
            store.dump_state().map_err(read_err)
        })
        .await?;
        let (last_log_id, last_membership): AppliedMarker = match dump.applied_marker() {
            Some(b) => decode(b)?,
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
        let data = dump.to_bytes().map_err(read_err)?;
        let meta_bytes = encode(&meta)?;
        let store = self.store.clone();
        let data2 = data.clone();
        blocking(move || store.save_snapshot(&meta_bytes, &data2).map_err(write_err)).await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
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
        let store = self.store.clone();
        let writes = std::mem::take(&mut fx.writes);
        blocking(move || store.apply(&writes, &marker_bytes).map_err(write_err)).await?;
        *self.applied.write() = marker;
        if !fx.events.is_empty() {
            self.sink.publish(&fx.events);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageErr> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageErr> {
        let data = snapshot.into_inner();
        let dump = StateDump::from_bytes(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let meta_bytes = encode(meta)?;
        let store = self.store.clone();
        let state = blocking(move || {
            store.install_state(&dump).map_err(write_err)?;
            store.save_snapshot(&meta_bytes, &data).map_err(write_err)?;
            store.load_state().map_err(read_err)
        })
        .await?;
        *self.state.write() = state;
        *self.applied.write() = (meta.last_log_id, meta.last_membership.clone());
        self.sink.publish(&[Event::All]);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageErr> {
        let store = self.store.clone();
        let stored = blocking(move || store.load_snapshot().map_err(read_err)).await?;
        match stored {
            Some((meta, data)) => Ok(Some(Snapshot {
                meta: decode(&meta)?,
                snapshot: Box::new(Cursor::new(data)),
            })),
            None => Ok(None),
        }
    }
}
