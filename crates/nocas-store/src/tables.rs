//! Every table, in one place, and how keys are spelled.
//!
//! Composite keys join validated names with `\x1f` (unit separator), which
//! no valid name contains, so keys sort by namespace, then group, then name.

use redb::{TableDefinition, WriteTransaction};

use nocas_core::names::{ConfigKey, ServiceKey};
use nocas_core::naming::InstanceKey;

use crate::error::StoreError;

/// Raft log: index → encoded entry (in the redb log file of earlier
/// versions, read only to move it into the write-ahead log).
pub const RAFT_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
/// Raft metadata: `vote`, `committed`, `purged` → encoded value (as
/// [`RAFT_LOG`]).
pub const RAFT_META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
/// State-machine metadata: `applied`, `counters` → encoded value.
pub const SM_META: TableDefinition<&str, &[u8]> = TableDefinition::new("sm_meta");
/// Namespace id → record.
pub const NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("namespaces");
/// Service key → record.
pub const SERVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("services");
/// Instance key → (service key, instance).
pub const INSTANCES: TableDefinition<&str, &[u8]> = TableDefinition::new("instances");
/// Config key → record.
pub const CONFIGS: TableDefinition<&str, &[u8]> = TableDefinition::new("configs");
/// History id → record.
pub const HISTORY: TableDefinition<u64, &[u8]> = TableDefinition::new("history");
/// (config key, history id) → (), to list a config's history.
pub const HISTORY_BY_CONFIG: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("history_by_config");
/// Users, role bindings and permissions, keyed by [`auth_key`].
pub const AUTH: TableDefinition<&str, &[u8]> = TableDefinition::new("auth");
/// Instance overrides: [`instance_key`] → (service key, instance key,
/// override).
pub const OVERRIDES: TableDefinition<&str, &[u8]> = TableDefinition::new("overrides");
/// Held locks: [`lock_key`] → (lock key, record).
pub const LOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("locks");
/// Audit id → record (ids grow with the log, so this is time order).
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Last built snapshot: `meta`, `data` → bytes.
pub const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");

/// Key of the `applied` marker in [`SM_META`].
pub const APPLIED: &str = "applied";
/// Key of the id counters in [`SM_META`].
pub const COUNTERS: &str = "counters";

/// Creates the applied state's tables (in the state database).
pub(crate) fn create_state(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(SM_META)?;
    txn.open_table(NAMESPACES)?;
    txn.open_table(SERVICES)?;
    txn.open_table(INSTANCES)?;
    txn.open_table(CONFIGS)?;
    txn.open_table(HISTORY)?;
    txn.open_table(HISTORY_BY_CONFIG)?;
    txn.open_table(SNAPSHOT)?;
    txn.open_table(AUTH)?;
    txn.open_table(LOCKS)?;
    txn.open_table(OVERRIDES)?;
    txn.open_table(AUDIT)?;
    Ok(())
}

const SEP: char = '\u{1f}';

/// `namespace SEP group SEP service`.
pub fn service_key(k: &ServiceKey) -> String {
    format!("{}{SEP}{}{SEP}{}", k.namespace, k.group, k.service)
}

/// Service key, then `SEP cluster SEP ip SEP port`.
pub fn instance_key(k: &ServiceKey, i: &InstanceKey) -> String {
    format!(
        "{}{SEP}{}{SEP}{}{SEP}{}",
        service_key(k),
        i.cluster,
        i.ip,
        i.port
    )
}

/// What a row of [`AUTH`] holds.
pub enum AuthRow<'a> {
    /// `u SEP user`: the user record.
    User(&'a str),
    /// `r SEP role SEP user`: a binding (empty value).
    Role(&'a str, &'a str),
    /// `p SEP role SEP resource SEP action`: the permission.
    Permission(&'a nocas_core::auth::Permission),
}

/// Key of an [`AUTH`] row (names and resources hold no control
/// characters, so `SEP` cannot occur inside them).
pub fn auth_key(row: AuthRow<'_>) -> String {
    match row {
        AuthRow::User(u) => format!("u{SEP}{u}"),
        AuthRow::Role(r, u) => format!("r{SEP}{r}{SEP}{u}"),
        AuthRow::Permission(p) => {
            format!(
                "p{SEP}{}{SEP}{}{SEP}{}",
                p.role,
                p.resource,
                p.action.as_str()
            )
        }
    }
}

/// `namespace SEP group SEP dataId`.
pub fn config_key(k: &ConfigKey) -> String {
    format!("{}{SEP}{}{SEP}{}", k.namespace, k.group, k.data_id)
}

/// `type SEP key` (lock types and keys hold no control characters).
pub fn lock_key(k: &nocas_core::lock::LockKey) -> String {
    format!("{}{SEP}{}", k.lock_type, k.key)
}
