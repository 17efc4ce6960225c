//! The applied durable state: records written by the state machine, loaded
//! back at start-up, and config history queries.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, WriteTransaction};

use nocas_core::audit::{AuditQuery, AuditRecord};
use nocas_core::command::Write;
use nocas_core::config::{ConfigRecord, HistoryRecord};
use nocas_core::names::{ConfigKey, NamespaceId, ServiceKey};
use nocas_core::namespace::NamespaceRecord;
use nocas_core::naming::{Instance, ServiceRecord};
use nocas_core::state::{DurableState, Restored};

use crate::codec::{decode, encode};
use crate::tables::{
    self, APPLIED, AUDIT, AUTH, AuthRow, CONFIGS, COUNTERS, HISTORY, HISTORY_BY_CONFIG, INSTANCES,
    LOCKS, NAMESPACES, OVERRIDES, SERVICES, SM_META,
};
use crate::{Store, StoreError};

/// One page of the audit trail, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// Records matching the query in all.
    pub total: usize,
    /// This page's records.
    pub items: Vec<AuditRecord>,
}

/// One page of a config's history, newest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// Entries of the config in all.
    pub total: usize,
    /// This page's entries.
    pub items: Vec<HistoryRecord>,
}

/// Applied-state writes waiting to be written.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    writes: Vec<Write>,
    applied: Option<Vec<u8>>,
    /// Set when the writer should finish what is staged and stop.
    stop: bool,
    /// Set when writing a taken batch failed: that batch exists only in
    /// the log now, so nothing later may be written over the gap.
    failed: Option<String>,
}

/// The staged writes and the signal that wakes the writer.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    staged: Mutex<Staged>,
    wake: Condvar,
}

impl Shared {
    /// Fails once an applied-state write has failed.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        match &self.staged.lock().failed {
            Some(e) => Err(StoreError::Failed(e.clone())),
            None => Ok(()),
        }
    }
}

/// Writes what is staged into the state database in a transaction of its
/// own, committed durably or not, in the order it was staged: the batch is
/// taken under redb's write lock, so no batch staged later is written
/// before it. A failure after the batch was taken is remembered (see
/// [`Staged::failed`]): a storage error stops Raft, and a restart applies
/// the log again from the last durable `applied` marker.
pub(crate) fn commit_staged(
    db: &Database,
    shared: &Shared,
    durable: bool,
) -> Result<(), StoreError> {
    shared.check()?;
    // Begun even with nothing staged: it waits until a batch another
    // thread took is committed, so a reader after this sees it.
    let mut txn = db.begin_write()?;
    let taken = {
        let mut s = shared.staged.lock();
        if let Some(e) = &s.failed {
            // Failed while this waited for the write lock.
            return Err(StoreError::Failed(e.clone()));
        }
        s.applied.take().map(|a| (std::mem::take(&mut s.writes), a))
    };
    if taken.is_none() && !durable {
        txn.abort()?;
        return Ok(());
    }
    let written = (|| -> Result<(), StoreError> {
        if let Some((writes, applied)) = &taken {
            write_all(&txn, writes)?;
            txn.open_table(SM_META)?
                .insert(APPLIED, applied.as_slice())?;
        }
        if !durable {
            txn.set_durability(Durability::None)?;
        }
        txn.commit()?;
        Ok(())
    })();
    if let Err(e) = &written
        && taken.is_some()
    {
        tracing::error!(error = %e, "writing the applied state failed");
        shared.staged.lock().failed = Some(e.to_string());
    }
    written
}

/// The applied-state writer: a thread that writes staged batches as they
/// come, off the path of the log appends, durably every
/// [`crate::DURABLE_EVERY`]th time. Dropping it (with the last clone of
/// the store) writes what is staged durably and waits for the thread.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn start(db: Arc<RwLock<Option<Arc<Database>>>>, shared: Arc<Shared>) -> Self {
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("nocas-state-writer".into())
            .spawn(move || write_loop(&db, &s))
            .ok();
        if thread.is_none() {
            // No thread: readers, writers and `sync` still write what is
            // staged before they go on, so nothing is lost, only later.
            tracing::warn!("could not start the applied-state writer thread");
        }
        Self {
            shared,
            thread: Mutex::new(thread),
        }
    }

    /// Stops the thread after it wrote what is staged.
    pub(crate) fn stop(&self) {
        self.shared.staged.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_loop(db: &RwLock<Option<Arc<Database>>>, shared: &Shared) {
    let mut since_durable = 0u32;
    loop {
        let stopping = {
            let mut s = shared.staged.lock();
            while s.applied.is_none() && !s.stop {
                shared.wake.wait(&mut s);
            }
            s.stop
        };
        let Some(db) = db.read().clone() else {
            return;
        };
        since_durable += 1;
        let durable = stopping || since_durable >= crate::DURABLE_EVERY;
        if commit_staged(&db, shared, durable).is_err() || stopping {
            return;
        }
        if durable {
            since_durable = 0;
        }
    }
}

impl Store {
    /// Persists one applied batch (its writes and the `applied` marker) in
    /// one transaction, without waiting for an fsync.
    pub fn apply(&self, writes: Vec<Write>, applied: Vec<u8>) -> Result<(), StoreError> {
        self.stage(writes, applied);
        self.flush_staged()
    }

    /// Stages one applied batch (its writes and the `applied` marker)
    /// without writing anything: the applied-state writer writes it soon
    /// after, and any read or write of the applied tables before that
    /// writes it first. Never blocks on the disk: callable from async code.
    pub fn stage(&self, writes: Vec<Write>, applied: Vec<u8>) {
        let mut s = self.staged.staged.lock();
        if s.writes.is_empty() {
            s.writes = writes;
        } else {
            s.writes.extend(writes);
        }
        s.applied = Some(applied);
        drop(s);
        self.staged.wake.notify_one();
    }

    /// Commits the staged writes (without an fsync) if there are any.
    pub fn flush_staged(&self) -> Result<(), StoreError> {
        commit_staged(&*self.db()?, &self.staged, false)
    }

    /// The `applied` marker of the last persisted batch.
    pub fn applied_marker(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(SM_META)?;
        Ok(t.get(APPLIED)?.map(|v| v.value().to_vec()))
    }

    /// Loads the whole durable state into memory.
    pub fn load_state(&self) -> Result<DurableState, StoreError> {
        let txn = self.read()?;
        let mut state = DurableState::new();
        for item in txn.open_table(NAMESPACES)?.iter()? {
            let (k, v) = item?;
            let id = NamespaceId::parse(Some(k.value()))
                .map_err(|_| StoreError::BadKey("namespaces"))?;
            let rec: NamespaceRecord = decode("namespace", v.value())?;
            state.restore(Restored::Namespace(id, rec));
        }
        for item in txn.open_table(SERVICES)?.iter()? {
            let (_, v) = item?;
            let (key, rec): (ServiceKey, ServiceRecord) = decode("service", v.value())?;
            state.restore(Restored::Service(key, Box::new(rec)));
        }
        for item in txn.open_table(INSTANCES)?.iter()? {
            let (_, v) = item?;
            let (key, inst): (ServiceKey, Instance) = decode("instance", v.value())?;
            state.restore(Restored::Instance(key, inst));
        }
        for item in txn.open_table(CONFIGS)?.iter()? {
            let (_, v) = item?;
            let (key, rec): (ConfigKey, ConfigRecord) = decode("config", v.value())?;
            state.restore(Restored::Config(key, Box::new(rec)));
        }
        for item in txn.open_table(AUTH)?.iter()? {
            let (k, v) = item?;
            state.restore(restore_auth(k.value(), v.value())?);
        }
        for item in txn.open_table(OVERRIDES)?.iter()? {
            let (_, v) = item?;
            let (key, ikey, o) = decode("override", v.value())?;
            state.restore(Restored::Override(key, ikey, o));
        }
        for item in txn.open_table(LOCKS)?.iter()? {
            let (_, v) = item?;
            let (key, rec) = decode("lock", v.value())?;
            state.restore(Restored::Lock(key, rec));
        }
        if let Some(v) = txn.open_table(SM_META)?.get(COUNTERS)? {
            let (next_history_id, next_config_id): (u64, u64) = decode("counters", v.value())?;
            state.restore(Restored::Counters {
                next_history_id,
                next_config_id,
            });
        }
        Ok(state)
    }

    /// A page (1-based) of the audit records matching `q`, newest first.
    pub fn audit_page(
        &self,
        q: &AuditQuery,
        page_no: usize,
        page_size: usize,
    ) -> Result<AuditPage, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(AUDIT)?;
        let skip = page_no.saturating_sub(1).saturating_mul(page_size);
        let mut total = 0;
        let mut items = Vec::new();
        for item in t.iter()?.rev() {
            let (_, v) = item?;
            let r: AuditRecord = decode("audit", v.value())?;
            if q.to_ms.is_none() && q.from_ms.is_some_and(|f| r.at_ms < f) {
                // Older records only from here on.
                break;
            }
            if !q.matches(&r) {
                continue;
            }
            if total >= skip && items.len() < page_size {
                items.push(r);
            }
            total += 1;
        }
        Ok(AuditPage { total, items })
    }

    /// Audit records held.
    pub fn audit_len(&self) -> Result<u64, StoreError> {
        let txn = self.read()?;
        Ok(txn.open_table(AUDIT)?.len()?)
    }

    /// The time of the oldest audit record, if any.
    pub fn audit_oldest_ms(&self) -> Result<Option<i64>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(AUDIT)?;
        match t.first()? {
            Some((_, v)) => Ok(Some(decode::<AuditRecord>("audit", v.value())?.at_ms)),
            None => Ok(None),
        }
    }

    /// A page (1-based) of a config's history, newest first.
    pub fn history_page(
        &self,
        key: &ConfigKey,
        page_no: usize,
        page_size: usize,
    ) -> Result<HistoryPage, StoreError> {
        let txn = self.read()?;
        let idx = txn.open_table(HISTORY_BY_CONFIG)?;
        let hist = txn.open_table(HISTORY)?;
        let ck = tables::config_key(key);
        let nids: Vec<u64> = idx
            .range((ck.as_str(), 0)..=(ck.as_str(), u64::MAX))?
            .rev()
            .map(|item| item.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?;
        let skip = page_no.saturating_sub(1).saturating_mul(page_size);
        let mut items = Vec::new();
        for nid in nids.iter().skip(skip).take(page_size) {
            if let Some(v) = hist.get(*nid)? {
                items.push(decode("history", v.value())?);
            }
        }
        Ok(HistoryPage {
            total: nids.len(),
            items,
        })
    }

    /// One history entry.
    pub fn history(&self, nid: u64) -> Result<Option<HistoryRecord>, StoreError> {
        let txn = self.read()?;
        let hist = txn.open_table(HISTORY)?;
        hist.get(nid)?
            .map(|v| decode("history", v.value()))
            .transpose()
    }

    /// The entry of the same config just before `nid`.
    pub fn history_previous(
        &self,
        key: &ConfigKey,
        nid: u64,
    ) -> Result<Option<HistoryRecord>, StoreError> {
        let txn = self.read()?;
        let idx = txn.open_table(HISTORY_BY_CONFIG)?;
        let ck = tables::config_key(key);
        let prev = idx
            .range((ck.as_str(), 0)..(ck.as_str(), nid))?
            .next_back()
            .transpose()?
            .map(|(k, _)| k.value().1);
        drop(idx);
        match prev {
            Some(p) => {
                let hist = txn.open_table(HISTORY)?;
                hist.get(p)?
                    .map(|v| decode("history", v.value()))
                    .transpose()
            }
            None => Ok(None),
        }
    }

    /// Number of history entries held.
    pub fn history_len(&self) -> Result<u64, StoreError> {
        let txn = self.read()?;
        Ok(txn.open_table(HISTORY)?.len()?)
    }
}

fn restore_auth(key: &str, value: &[u8]) -> Result<Restored, StoreError> {
    let mut parts = key.split('\u{1f}');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("u"), Some(user), None) => {
            Ok(Restored::User(user.to_string(), decode("user", value)?))
        }
        (Some("r"), Some(role), Some(user)) => {
            Ok(Restored::Role(role.to_string(), user.to_string()))
        }
        (Some("p"), Some(_), Some(_)) => Ok(Restored::Permission(decode("permission", value)?)),
        _ => Err(StoreError::BadKey("auth")),
    }
}

fn write_all(txn: &WriteTransaction, writes: &[Write]) -> Result<(), StoreError> {
    let mut namespaces = txn.open_table(NAMESPACES)?;
    let mut services = txn.open_table(SERVICES)?;
    let mut instances = txn.open_table(INSTANCES)?;
    let mut configs = txn.open_table(CONFIGS)?;
    let mut history = txn.open_table(HISTORY)?;
    let mut by_config = txn.open_table(HISTORY_BY_CONFIG)?;
    let mut meta = txn.open_table(SM_META)?;
    let mut auth = txn.open_table(AUTH)?;
    let mut locks = txn.open_table(LOCKS)?;
    let mut overrides = txn.open_table(OVERRIDES)?;
    let mut audit = txn.open_table(AUDIT)?;
    for w in writes {
        match w {
            Write::Namespace(id, Some(rec)) => {
                namespaces.insert(id.as_str(), encode("namespace", rec)?.as_slice())?;
            }
            Write::Namespace(id, None) => {
                namespaces.remove(id.as_str())?;
            }
            Write::Service(key, rec) => {
                let k = tables::service_key(key);
                match rec {
                    Some(rec) => {
                        services.insert(k.as_str(), encode("service", &(key, rec))?.as_slice())?;
                    }
                    None => {
                        services.remove(k.as_str())?;
                    }
                }
            }
            Write::Instance(key, ikey, inst) => {
                let k = tables::instance_key(key, ikey);
                match inst {
                    Some(inst) => {
                        instances
                            .insert(k.as_str(), encode("instance", &(key, inst))?.as_slice())?;
                    }
                    None => {
                        instances.remove(k.as_str())?;
                    }
                }
            }
            Write::Config(key, rec) => {
                let k = tables::config_key(key);
                match rec {
                    Some(rec) => {
                        configs.insert(k.as_str(), encode("config", &(key, &**rec))?.as_slice())?;
                    }
                    None => {
                        configs.remove(k.as_str())?;
                    }
                }
            }
            Write::History(h) => {
                history.insert(h.nid, encode("history", &**h)?.as_slice())?;
                by_config.insert((tables::config_key(&h.key).as_str(), h.nid), ())?;
            }
            Write::PurgeHistory { before_ms } => {
                let mut doomed = Vec::new();
                for item in history.iter()? {
                    let (k, v) = item?;
                    let h: HistoryRecord = decode("history", v.value())?;
                    if h.created_ms >= *before_ms {
                        break;
                    }
                    doomed.push((k.value(), tables::config_key(&h.key)));
                }
                for (nid, ck) in doomed {
                    history.remove(nid)?;
                    by_config.remove((ck.as_str(), nid))?;
                }
            }
            Write::Audit(r) => {
                audit.insert(r.id, encode("audit", &**r)?.as_slice())?;
            }
            Write::PurgeAudit { before_ms } => {
                let mut doomed = Vec::new();
                for item in audit.iter()? {
                    let (k, v) = item?;
                    let r: AuditRecord = decode("audit", v.value())?;
                    if r.at_ms >= *before_ms {
                        break;
                    }
                    doomed.push(k.value());
                }
                for id in doomed {
                    audit.remove(id)?;
                }
            }
            Write::User(user, rec) => {
                let k = tables::auth_key(AuthRow::User(user));
                match rec {
                    Some(rec) => {
                        auth.insert(k.as_str(), encode("user", rec)?.as_slice())?;
                    }
                    None => {
                        auth.remove(k.as_str())?;
                    }
                }
            }
            Write::Role(role, user, present) => {
                let k = tables::auth_key(AuthRow::Role(role, user));
                if *present {
                    auth.insert(k.as_str(), &[] as &[u8])?;
                } else {
                    auth.remove(k.as_str())?;
                }
            }
            Write::Permission(p, present) => {
                let k = tables::auth_key(AuthRow::Permission(p));
                if *present {
                    auth.insert(k.as_str(), encode("permission", p)?.as_slice())?;
                } else {
                    auth.remove(k.as_str())?;
                }
            }
            Write::Override(key, ikey, o) => {
                let k = tables::instance_key(key, ikey);
                match o {
                    Some(o) => {
                        overrides
                            .insert(k.as_str(), encode("override", &(key, ikey, o))?.as_slice())?;
                    }
                    None => {
                        overrides.remove(k.as_str())?;
                    }
                }
            }
            Write::Lock(key, rec) => {
                let k = tables::lock_key(key);
                match rec {
                    Some(rec) => {
                        locks.insert(k.as_str(), encode("lock", &(key, rec))?.as_slice())?;
                    }
                    None => {
                        locks.remove(k.as_str())?;
                    }
                }
            }
            Write::Counters {
                next_history_id,
                next_config_id,
            } => {
                meta.insert(
                    COUNTERS,
                    encode("counters", &(next_history_id, next_config_id))?.as_slice(),
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use nocas_core::command::{Command, Effects, Publish};
    use nocas_core::config::{ConfigMeta, md5_hex};
    use nocas_core::names::{ConfigGroup, DataId};

    use super::*;

    fn ckey() -> ConfigKey {
        ConfigKey::new(
            NamespaceId::public(),
            ConfigGroup::parse(Some("G")).unwrap(),
            DataId::parse(Some("d")).unwrap(),
        )
    }

    fn publish(content: &str) -> Command {
        Command::PublishConfig(Box::new(Publish {
            key: ckey(),
            content: Arc::from(content),
            md5: Arc::from(md5_hex(content)),
            meta: ConfigMeta::default(),
            tag: None,
            beta_ips: None,
            cas_md5: None,
            src_ip: "1.1.1.1".into(),
            src_user: String::new(),
        }))
    }

    #[test]
    fn auth_state_round_trips_through_the_store_and_snapshots() {
        use nocas_core::auth::{Action, Permission, UserRecord};
        use nocas_core::command::AuthCommand;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.redb")).unwrap();
        let mut state = DurableState::new();
        let rec = |h: &str| UserRecord {
            password_hash: h.to_string(),
        };
        let perm = Permission {
            role: "dev".into(),
            resource: "A:*:*".into(),
            action: Action::ReadWrite,
        };
        let cmds = [
            AuthCommand::InitAdmin {
                username: "nacos".into(),
                record: rec("h0"),
            },
            AuthCommand::CreateUser {
                username: "alice".into(),
                record: rec("h1"),
            },
            AuthCommand::CreateUser {
                username: "bob".into(),
                record: rec("h2"),
            },
            AuthCommand::BindRole {
                role: "dev".into(),
                username: "alice".into(),
            },
            AuthCommand::BindRole {
                role: "dev".into(),
                username: "bob".into(),
            },
            AuthCommand::Grant(perm.clone()),
            AuthCommand::UpdateUser {
                username: "alice".into(),
                record: rec("h3"),
            },
            AuthCommand::DeleteUser {
                username: "bob".into(),
            },
        ];
        for (i, c) in cmds.into_iter().enumerate() {
            let mut fx = Effects::default();
            state.apply(i as i64, Command::Auth(c), &mut fx).unwrap();
            store
                .apply(std::mem::take(&mut fx.writes), vec![i as u8])
                .unwrap();
        }
        let loaded = store.load_state().unwrap();
        assert_eq!(loaded.auth(), state.auth());
        assert_eq!(loaded.auth().user("alice"), Some(&rec("h3")));
        assert!(loaded.auth().user("bob").is_none());
        assert_eq!(loaded.auth().roles().count(), 2, "admin + alice's binding");
        assert!(loaded.auth().is_admin("nacos"));
        // A snapshot carries it to another node.
        let other = Store::open(&dir.path().join("b.redb")).unwrap();
        other
            .install_state(
                &crate::StateDump::from_bytes(&store.dump_state().unwrap().to_bytes().unwrap())
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(other.load_state().unwrap().auth(), state.auth());
    }

    #[test]
    fn applied_state_round_trips_and_history_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let mut state = DurableState::new();
        {
            let store = Store::open(&path).unwrap();
            for (i, c) in ["a", "b", "c", "d"].iter().enumerate() {
                let mut fx = Effects::default();
                state.apply(i as i64 * 10, publish(c), &mut fx).unwrap();
                store
                    .apply(std::mem::take(&mut fx.writes), vec![i as u8])
                    .unwrap();
            }
            store.sync().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let loaded = store.load_state().unwrap();
        assert_eq!(loaded.config(&ckey()), state.config(&ckey()));
        assert_eq!(store.applied_marker().unwrap().unwrap(), vec![3]);
        let page = store.history_page(&ckey(), 1, 3).unwrap();
        assert_eq!(page.total, 4);
        let nids: Vec<u64> = page.items.iter().map(|h| h.nid).collect();
        assert_eq!(nids, vec![4, 3, 2]);
        assert_eq!(store.history_page(&ckey(), 2, 3).unwrap().items.len(), 1);
        assert_eq!(store.history_previous(&ckey(), 3).unwrap().unwrap().nid, 2);
        assert!(store.history_previous(&ckey(), 1).unwrap().is_none());
        assert_eq!(&*store.history(1).unwrap().unwrap().content, "a");

        let mut fx = Effects::default();
        let mut state = loaded;
        state
            .apply(100, Command::PurgeHistory { before_ms: 25 }, &mut fx)
            .unwrap();
        store
            .apply(std::mem::take(&mut fx.writes), vec![9])
            .unwrap();
        assert_eq!(store.history_len().unwrap(), 1);
        assert_eq!(store.history_page(&ckey(), 1, 10).unwrap().total, 1);
    }

    #[test]
    fn staged_writes_are_read_back_written_in_order_and_made_durable_by_a_purge() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let store = Store::open(&path).unwrap();
        let mut state = DurableState::new();
        let mut fx = Effects::default();
        state.apply(10, publish("a"), &mut fx).unwrap();
        store.stage(std::mem::take(&mut fx.writes), vec![1]);
        // Every read of the applied tables sees it at once.
        assert_eq!(store.history_len().unwrap(), 1);
        assert_eq!(store.applied_marker().unwrap().unwrap(), vec![1]);

        // Two batches staged one after the other keep their order, and the
        // writer thread writes them with nobody reading.
        for (i, c) in ["b", "c"].iter().enumerate() {
            state.apply(20 + i as i64, publish(c), &mut fx).unwrap();
            store.stage(std::mem::take(&mut fx.writes), vec![2 + i as u8]);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let txn = store.read_unstaged().unwrap();
            let marker = txn.open_table(SM_META).unwrap().get(APPLIED).unwrap();
            if marker.map(|v| v.value().to_vec()) == Some(vec![3]) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }

        // A purge makes them durable first: copies of both files taken
        // right after it (what a crash at that instant leaves) hold them,
        // the marker and the log.
        store
            .append_log(&[(1, b"one".to_vec()), (2, b"two".to_vec())])
            .unwrap();
        store.purge_log(1, b"p").unwrap();
        let copy = dir.path().join("copy.redb");
        std::fs::copy(&path, &copy).unwrap();
        let log_copy = Store::log_dir(&copy);
        std::fs::create_dir_all(&log_copy).unwrap();
        for f in std::fs::read_dir(Store::log_dir(&path)).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), log_copy.join(f.file_name())).unwrap();
        }
        let crashed = Store::open(&copy).unwrap();
        assert_eq!(crashed.applied_marker().unwrap().unwrap(), vec![3]);
        let loaded = crashed.load_state().unwrap();
        assert_eq!(loaded.config(&ckey()), state.config(&ckey()));
        assert_eq!(crashed.history_len().unwrap(), 3);
        assert_eq!(crashed.log_range(1, 3).unwrap(), vec![(2, b"two".to_vec())]);
    }

    #[test]
    fn a_failed_applied_write_stops_later_writes_and_log_appends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb")).unwrap();
        store.staged.staged.lock().failed = Some("disk on fire".into());
        let mut state = DurableState::new();
        let mut fx = Effects::default();
        state.apply(10, publish("a"), &mut fx).unwrap();
        store.stage(std::mem::take(&mut fx.writes), vec![1]);
        for err in [
            store.flush_staged().unwrap_err(),
            store.history_len().unwrap_err(),
            store.append_log(&[(1, b"x".to_vec())]).unwrap_err(),
        ] {
            assert!(matches!(err, StoreError::Failed(_)), "{err}");
            assert!(err.to_string().contains("disk on fire"));
        }
    }
}
