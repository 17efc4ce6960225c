//! Snapshots of the applied state: a dump of every state table, taken in one
//! read transaction, that another node (or this one) can install.

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::tables::{
    AUDIT, AUTH, CONFIGS, HISTORY, HISTORY_BY_CONFIG, INSTANCES, LOCKS, NAMESPACES, OVERRIDES,
    SERVICES, SM_META, SNAPSHOT,
};
use crate::{Store, StoreError};

type Rows = Vec<(String, Vec<u8>)>;

/// A stored snapshot: (metadata, data).
pub type StoredSnapshot = (Vec<u8>, Vec<u8>);

/// The dump format this build writes and the newest it reads: 1 = without
/// a format field (before it existed), 2 = with the audit trail.
pub const SNAPSHOT_FORMAT: u32 = 2;

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// Every state table's rows, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateDump {
    sm_meta: Rows,
    namespaces: Rows,
    services: Rows,
    instances: Rows,
    configs: Rows,
    history: Vec<(u64, Vec<u8>)>,
    history_by_config: Vec<(String, u64)>,
    /// Users, roles and permissions (absent from dumps taken before auth).
    #[serde(default)]
    auth: Rows,
    /// Held locks (absent from dumps taken before locks).
    #[serde(default)]
    locks: Rows,
    /// Instance overrides (absent from dumps taken before them).
    #[serde(default)]
    overrides: Rows,
    /// The audit trail (absent from dumps taken before it, and left out
    /// when empty so such dumps keep their digest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    audit: Vec<(u64, Vec<u8>)>,
    /// The format it was written in (0: absent, a dump of format 1). Left
    /// out of the content digest, so digests agree across versions.
    #[serde(default, skip_serializing_if = "is_zero")]
    format: u32,
}

fn rows(
    txn: &redb::ReadTransaction,
    def: TableDefinition<&str, &[u8]>,
) -> Result<Rows, StoreError> {
    let t = txn.open_table(def)?;
    let mut out = Vec::new();
    for item in t.iter()? {
        let (k, v) = item?;
        out.push((k.value().to_string(), v.value().to_vec()));
    }
    Ok(out)
}

impl StateDump {
    /// Encodes the dump.
    pub fn to_bytes(&self) -> Result<Vec<u8>, StoreError> {
        encode("snapshot", self)
    }

    /// Decodes a dump; one of a newer format than this build reads is
    /// refused (installing it would drop what this build does not know).
    pub fn from_bytes(b: &[u8]) -> Result<Self, StoreError> {
        let d: Self = decode("snapshot", b)?;
        if d.format > SNAPSHOT_FORMAT {
            return Err(StoreError::Codec {
                what: "snapshot",
                detail: format!(
                    "format {} is newer than this node reads ({SNAPSHOT_FORMAT}): upgrade this node",
                    d.format
                ),
            });
        }
        Ok(d)
    }

    /// The format the dump was written in (1 for dumps without one).
    pub fn format(&self) -> u32 {
        self.format.max(1)
    }

    /// The dump without its `applied` marker (and its format: what the
    /// content digest covers).
    pub fn without_marker(&self) -> Self {
        let mut d = self.clone();
        d.sm_meta.retain(|(k, _)| k != crate::tables::APPLIED);
        d.format = 0;
        d
    }

    /// The `applied` marker the dump was taken at.
    pub fn applied_marker(&self) -> Option<&[u8]> {
        self.sm_meta
            .iter()
            .find(|(k, _)| k == crate::tables::APPLIED)
            .map(|(_, v)| v.as_slice())
    }
}

impl Store {
    /// Dumps the applied state as of now, in one consistent read.
    pub fn dump_state(&self) -> Result<StateDump, StoreError> {
        let txn = self.read()?;
        let mut history = Vec::new();
        for item in txn.open_table(HISTORY)?.iter()? {
            let (k, v) = item?;
            history.push((k.value(), v.value().to_vec()));
        }
        let mut audit = Vec::new();
        for item in txn.open_table(AUDIT)?.iter()? {
            let (k, v) = item?;
            audit.push((k.value(), v.value().to_vec()));
        }
        let mut history_by_config = Vec::new();
        for item in txn.open_table(HISTORY_BY_CONFIG)?.iter()? {
            let (k, _) = item?;
            let (ck, nid) = k.value();
            history_by_config.push((ck.to_string(), nid));
        }
        Ok(StateDump {
            sm_meta: rows(&txn, SM_META)?,
            namespaces: rows(&txn, NAMESPACES)?,
            services: rows(&txn, SERVICES)?,
            instances: rows(&txn, INSTANCES)?,
            configs: rows(&txn, CONFIGS)?,
            history,
            history_by_config,
            auth: rows(&txn, AUTH)?,
            locks: rows(&txn, LOCKS)?,
            overrides: rows(&txn, OVERRIDES)?,
            audit,
            format: SNAPSHOT_FORMAT,
        })
    }

    /// MD5 of the applied content (everything but the `applied` marker):
    /// equal on nodes that applied the same log.
    pub fn content_digest(&self) -> Result<String, StoreError> {
        self.dump_state()?.content_digest()
    }

    /// Replaces the applied state with a dump, durably.
    pub fn install_state(&self, dump: &StateDump) -> Result<(), StoreError> {
        let txn = self.write()?;
        for (def, rows) in [
            (SM_META, &dump.sm_meta),
            (NAMESPACES, &dump.namespaces),
            (SERVICES, &dump.services),
            (INSTANCES, &dump.instances),
            (CONFIGS, &dump.configs),
            (AUTH, &dump.auth),
            (LOCKS, &dump.locks),
            (OVERRIDES, &dump.overrides),
        ] {
            let mut t = txn.open_table(def)?;
            t.retain(|_, _| false)?;
            for (k, v) in rows {
                t.insert(k.as_str(), v.as_slice())?;
            }
        }
        {
            let mut t = txn.open_table(HISTORY)?;
            t.retain(|_, _| false)?;
            for (k, v) in &dump.history {
                t.insert(*k, v.as_slice())?;
            }
            let mut t = txn.open_table(HISTORY_BY_CONFIG)?;
            t.retain(|_, _| false)?;
            for (ck, nid) in &dump.history_by_config {
                t.insert((ck.as_str(), *nid), ())?;
            }
            let mut t = txn.open_table(AUDIT)?;
            t.retain(|_, _| false)?;
            for (k, v) in &dump.audit {
                t.insert(*k, v.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Stores the last built snapshot (metadata and data), durably.
    pub fn save_snapshot(&self, meta: &[u8], data: &[u8]) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut t = txn.open_table(SNAPSHOT)?;
            t.insert("meta", meta)?;
            t.insert("data", data)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The last built snapshot, if any: (metadata, data).
    pub fn load_snapshot(&self) -> Result<Option<StoredSnapshot>, StoreError> {
        let txn = self.read()?;
        let t = txn.open_table(SNAPSHOT)?;
        let meta = t.get("meta")?.map(|v| v.value().to_vec());
        let data = t.get("data")?.map(|v| v.value().to_vec());
        Ok(meta.zip(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_and_install() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(&dir.path().join("a.redb")).unwrap();
        let b = Store::open(&dir.path().join("b.redb")).unwrap();
        a.apply(&[], b"m1").unwrap();
        let dump = a.dump_state().unwrap();
        assert_eq!(dump.applied_marker(), Some(&b"m1"[..]));
        let bytes = dump.to_bytes().unwrap();
        assert_eq!(
            StateDump::from_bytes(&bytes).unwrap().format(),
            SNAPSHOT_FORMAT
        );
        let mut next = dump.clone();
        next.format = SNAPSHOT_FORMAT + 1;
        let e = StateDump::from_bytes(&next.to_bytes().unwrap()).unwrap_err();
        assert!(e.to_string().contains("newer than this node reads"), "{e}");
        b.apply(&[], b"old").unwrap();
        b.install_state(&StateDump::from_bytes(&bytes).unwrap())
            .unwrap();
        assert_eq!(b.applied_marker().unwrap().unwrap(), b"m1");
        assert!(b.load_snapshot().unwrap().is_none());
        b.save_snapshot(b"meta", b"data").unwrap();
        assert_eq!(b.load_snapshot().unwrap().unwrap().0, b"meta");
    }
}
