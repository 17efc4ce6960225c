//! Durable commands, what applying them yields, and the events and storage
//! writes they produce.
//!
//! A [`Batch`] is one Raft log entry: many commands proposed together (group
//! commit) and stamped with the leader's clock, so that applying the entry is
//! a pure function of the state and the entry.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::audit::{Actor, AuditRecord};
use crate::auth::{Permission, UserRecord};
use crate::config::{ConfigMeta, ConfigRecord, HistoryRecord};
use crate::error::CommandError;
use crate::lock::{LockKey, LockOp, LockRecord};
use crate::names::{ClusterName, ConfigKey, ConfigTag, NamespaceId, ServiceKey};
use crate::namespace::NamespaceRecord;
use crate::naming::{
    ClusterRecord, Instance, InstanceKey, InstanceOverride, InstancePatch, Metadata, Selector,
    ServiceRecord,
};

/// One log entry's worth of commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Batch {
    /// Leader's clock when the batch was proposed.
    pub now_ms: Millis,
    /// The commands, applied in order.
    pub commands: Vec<Command>,
    /// Who asked for each command (same order; empty when no command has
    /// an actor, and absent from entries written before the audit trail).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actors: Vec<Option<Actor>>,
}

/// A change to durable state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Create a namespace.
    CreateNamespace {
        /// Id.
        id: NamespaceId,
        /// Display name.
        name: String,
        /// Description.
        desc: String,
    },
    /// Rename or re-describe a namespace.
    UpdateNamespace {
        /// Id.
        id: NamespaceId,
        /// Display name.
        name: String,
        /// Description.
        desc: String,
    },
    /// Remove a namespace record.
    DeleteNamespace {
        /// Id.
        id: NamespaceId,
    },
    /// Create a service record.
    CreateService {
        /// Service.
        key: ServiceKey,
        /// Protection threshold.
        protect_threshold: f64,
        /// Metadata.
        metadata: Metadata,
        /// Selector.
        selector: Selector,
        /// Kind of instances it holds.
        ephemeral: bool,
    },
    /// Update a service record (creating it when `upsert`).
    UpdateService {
        /// Service.
        key: ServiceKey,
        /// New threshold.
        protect_threshold: Option<f64>,
        /// New metadata.
        metadata: Option<Metadata>,
        /// New selector.
        selector: Option<Selector>,
        /// Create the record if missing (the service exists in soft state).
        upsert: bool,
        /// Kind, when created.
        ephemeral: bool,
    },
    /// Remove a service record.
    DeleteService {
        /// Service.
        key: ServiceKey,
    },
    /// Set a cluster's health checker and metadata.
    UpdateCluster {
        /// Service.
        key: ServiceKey,
        /// Cluster.
        cluster: ClusterName,
        /// Its settings.
        record: ClusterRecord,
        /// Create the service record if missing.
        upsert: bool,
        /// Kind, when created.
        ephemeral: bool,
    },
    /// Add or replace a persistent instance.
    RegisterInstance {
        /// Service.
        key: ServiceKey,
        /// Instance (`ephemeral == false`).
        instance: Instance,
    },
    /// Remove a persistent instance.
    DeregisterInstance {
        /// Service.
        key: ServiceKey,
        /// Instance.
        instance: InstanceKey,
    },
    /// Partially update a persistent instance.
    UpdateInstance {
        /// Service.
        key: ServiceKey,
        /// Instance.
        instance: InstanceKey,
        /// Changes.
        patch: InstancePatch,
    },
    /// Set (or, with `None`, drop) what an operator laid over an instance
    /// (ephemeral or persistent).
    SetOverride {
        /// Service.
        key: ServiceKey,
        /// Instance.
        instance: InstanceKey,
        /// The override.
        value: Option<InstanceOverride>,
    },
    /// Set a persistent instance's health.
    SetInstanceHealth {
        /// Service.
        key: ServiceKey,
        /// Instance.
        instance: InstanceKey,
        /// New health.
        healthy: bool,
        /// From the server's own probe (allowed whatever the checker).
        from_probe: bool,
    },
    /// Publish a config version.
    PublishConfig(Box<Publish>),
    /// Publish many formal versions at once, all or nothing (a config
    /// import). Under [`ImportPolicy::Abort`], one config that exists
    /// already (or a key given twice) means nothing is written.
    ImportConfigs {
        /// The configs, in the order they were given (formal versions: no
        /// tag, beta or compare-and-swap).
        items: Vec<Publish>,
        /// What to do with a config that exists already.
        policy: ImportPolicy,
    },
    /// Remove the formal version (or a tagged version).
    RemoveConfig {
        /// Config.
        key: ConfigKey,
        /// Tag to remove instead of the formal version.
        tag: Option<ConfigTag>,
        /// Source IP.
        src_ip: String,
        /// User.
        src_user: String,
    },
    /// Stop a beta: remove the beta version.
    RemoveBeta {
        /// Config.
        key: ConfigKey,
        /// Source IP.
        src_ip: String,
        /// User.
        src_user: String,
    },
    /// Promote the beta: publish its content as the formal version and
    /// remove the beta.
    PromoteBeta {
        /// Config.
        key: ConfigKey,
        /// Source IP.
        src_ip: String,
        /// User.
        src_user: String,
    },
    /// Drop history older than a time.
    PurgeHistory {
        /// Entries created before this go.
        before_ms: Millis,
    },
    /// Drop audit records older than a time.
    PurgeAudit {
        /// Records made before this go.
        before_ms: Millis,
    },
    /// Changes no state; only leaves an audit record (for changes made
    /// outside the state machine, such as membership).
    Note {
        /// Kind of object (`membership`).
        kind: String,
        /// What was done.
        op: String,
        /// The object.
        target: String,
        /// What changed.
        detail: String,
    },
    /// Change users, roles or permissions.
    Auth(AuthCommand),
    /// Acquire or release a distributed lock.
    Lock {
        /// The lock.
        key: LockKey,
        /// Who asks.
        holder: String,
        /// What to do.
        op: LockOp,
    },
}

/// A change to users, roles or permissions. Passwords arrive hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AuthCommand {
    /// Create a user.
    CreateUser {
        /// Name.
        username: String,
        /// The record (password hash).
        record: UserRecord,
    },
    /// Create the initial administrator, unless one exists.
    InitAdmin {
        /// Name.
        username: String,
        /// The record (password hash).
        record: UserRecord,
    },
    /// Replace a user's password hash.
    UpdateUser {
        /// Name.
        username: String,
        /// The record (password hash).
        record: UserRecord,
    },
    /// Remove a user and its role bindings.
    DeleteUser {
        /// Name.
        username: String,
    },
    /// Bind a role to a user (creating the role).
    BindRole {
        /// Role.
        role: String,
        /// User.
        username: String,
    },
    /// Unbind a role from a user, or (without a user) remove the role with
    /// all its bindings and permissions.
    UnbindRole {
        /// Role.
        role: String,
        /// User.
        username: Option<String>,
    },
    /// Grant a permission to a role.
    Grant(Permission),
    /// Revoke a permission.
    Revoke(Permission),
}

/// A config publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publish {
    /// Config.
    pub key: ConfigKey,
    /// Content.
    pub content: Arc<str>,
    /// MD5 of the content (computed at the edge).
    pub md5: Arc<str>,
    /// Descriptive fields.
    pub meta: ConfigMeta,
    /// Publish a tagged version.
    pub tag: Option<ConfigTag>,
    /// Publish a beta version for these IPs.
    pub beta_ips: Option<Vec<String>>,
    /// Compare-and-swap: the md5 the publisher expects to replace.
    pub cas_md5: Option<String>,
    /// Source IP.
    pub src_ip: String,
    /// User.
    pub src_user: String,
}

/// What an import does with a config that exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportPolicy {
    /// Write nothing at all.
    Abort,
    /// Leave it, write the others.
    Skip,
    /// Replace it.
    Overwrite,
}

/// What a successful command reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Done.
    Done,
    /// Done; whether the target existed before.
    Removed {
        /// It existed.
        existed: bool,
    },
    /// An import: per item (in the order given), whether it was written;
    /// `conflict` is the first item that stopped an aborted one.
    Imported {
        /// Item i was written.
        written: Vec<bool>,
        /// The first existing (or repeated) item, when the policy aborted.
        conflict: Option<usize>,
    },
    /// A lock operation: whether the lock was acquired or released.
    Lock {
        /// Acquired (free before) or released (held by the asker).
        granted: bool,
    },
}

impl Command {
    /// A rough upper bound of the bytes this command adds to storage (log
    /// entry, state and history): configs count their content twice (the
    /// record and its history entry), everything else a kilobyte.
    pub fn storage_estimate(&self) -> u64 {
        const SMALL: u64 = 1024;
        match self {
            Command::PublishConfig(p) => SMALL + 3 * p.content.len() as u64,
            Command::ImportConfigs { items, .. } => items
                .iter()
                .map(|p| SMALL + 3 * p.content.len() as u64)
                .sum(),
            _ => SMALL,
        }
    }
}

/// Result of one command.
pub type CommandResult = Result<Outcome, CommandError>;

/// A change readers may need to be told about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Event {
    /// A service's instances or record changed.
    Service(ServiceKey),
    /// A config (formal, beta or tag) changed.
    Config(ConfigKey),
    /// A namespace record changed.
    Namespace(NamespaceId),
    /// Users, roles or permissions changed.
    Auth,
    /// Anything may have changed (a snapshot was installed).
    All,
}

/// Receives events after the changes that caused them are applied, in
/// order. Implementations must not block.
pub trait EventSink: Send + Sync {
    /// Handles a batch of events.
    fn publish(&self, events: &[Event]);
}

/// A change to persist, in storage-neutral form.
#[derive(Debug, Clone)]
pub enum Write {
    /// Put or remove a namespace record.
    Namespace(NamespaceId, Option<NamespaceRecord>),
    /// Put or remove a service record.
    Service(ServiceKey, Option<ServiceRecord>),
    /// Put or remove a persistent instance.
    Instance(ServiceKey, InstanceKey, Option<Instance>),
    /// Put or remove a config record.
    Config(ConfigKey, Option<Box<ConfigRecord>>),
    /// Append a history entry.
    History(Box<HistoryRecord>),
    /// Drop history older than a time.
    PurgeHistory {
        /// Cut-off.
        before_ms: Millis,
    },
    /// Append an audit record.
    Audit(Box<AuditRecord>),
    /// Drop audit records older than a time.
    PurgeAudit {
        /// Cut-off.
        before_ms: Millis,
    },
    /// Put or remove a user.
    User(String, Option<UserRecord>),
    /// Add (`true`) or remove a (role, user) binding.
    Role(String, String, bool),
    /// Add (`true`) or remove a permission.
    Permission(Permission, bool),
    /// Put or remove a lock.
    Lock(LockKey, Option<LockRecord>),
    /// Put or remove an instance override.
    Override(ServiceKey, InstanceKey, Option<InstanceOverride>),
    /// Persist the id counters.
    Counters {
        /// Next history id.
        next_history_id: u64,
        /// Next config id.
        next_config_id: u64,
    },
}

/// Everything applying commands produced, besides their results.
#[derive(Debug, Default)]
pub struct Effects {
    /// Storage writes, in order.
    pub writes: Vec<Write>,
    /// Events, in order.
    pub events: Vec<Event>,
}
