//! The durable state machine.
//!
//! [`DurableState`] is plain data: namespaces, service records, persistent
//! instances and configs, with the id counters. [`DurableState::apply`]
//! applies one [`Command`] at a given time, returning its result and
//! recording the storage writes and events it caused. It never fails for
//! reasons outside the state (no I/O), so every replica that applies the
//! same log reaches the same state.
//!
//! Config history is write-only here: entries go to storage as writes and
//! are read back from storage, so history never has to fit in memory.

use std::collections::{BTreeMap, HashMap};

use crate::Millis;
use crate::auth::{AuthState, GLOBAL_ADMIN_ROLE, Permission, UserRecord};
use crate::command::{
    AuthCommand, Command, CommandResult, Effects, Event, ImportPolicy, Outcome, Publish, Write,
};
use crate::config::{BetaVersion, ConfigRecord, ConfigVersion, HistoryRecord, OpType};
use crate::error::CommandError;
use crate::lock::{LockKey, LockOp, LockRecord};
use crate::names::{ConfigKey, GroupName, NamespaceId, ServiceKey};
use crate::namespace::{DEFAULT_QUOTA, NamespaceRecord};
use crate::naming::{Instance, InstanceKey, InstanceOverride, ServiceRecord};

/// All durable state, in memory.
#[derive(Debug, Default, Clone)]
pub struct DurableState {
    namespaces: BTreeMap<NamespaceId, NamespaceRecord>,
    services: BTreeMap<ServiceKey, ServiceRecord>,
    instances: HashMap<ServiceKey, BTreeMap<InstanceKey, Instance>>,
    configs: BTreeMap<ConfigKey, ConfigRecord>,
    next_history_id: u64,
    next_config_id: u64,
    instance_count: usize,
    auth: AuthState,
    locks: BTreeMap<LockKey, LockRecord>,
    overrides: HashMap<ServiceKey, BTreeMap<InstanceKey, InstanceOverride>>,
}

/// A stored item, as loaded back at start-up.
#[derive(Debug)]
pub enum Restored {
    /// A namespace record.
    Namespace(NamespaceId, NamespaceRecord),
    /// A service record.
    Service(ServiceKey, Box<ServiceRecord>),
    /// A persistent instance.
    Instance(ServiceKey, Instance),
    /// A config record.
    Config(ConfigKey, Box<ConfigRecord>),
    /// The id counters.
    Counters {
        /// Next history id.
        next_history_id: u64,
        /// Next config id.
        next_config_id: u64,
    },
    /// A user.
    User(String, UserRecord),
    /// A (role, user) binding.
    Role(String, String),
    /// A permission.
    Permission(Permission),
    /// A held lock.
    Lock(LockKey, LockRecord),
    /// An instance override.
    Override(ServiceKey, InstanceKey, InstanceOverride),
}

impl DurableState {
    /// An empty state.
    pub fn new() -> Self {
        Self {
            next_history_id: 1,
            next_config_id: 1,
            ..Default::default()
        }
    }

    /// Adds a stored item while loading.
    pub fn restore(&mut self, item: Restored) {
        match item {
            Restored::Namespace(id, rec) => {
                self.namespaces.insert(id, rec);
            }
            Restored::Service(key, rec) => {
                self.services.insert(key, *rec);
            }
            Restored::Instance(key, inst) => {
                if self
                    .instances
                    .entry(key)
                    .or_default()
                    .insert(inst.key(), inst)
                    .is_none()
                {
                    self.instance_count += 1;
                }
            }
            Restored::Config(key, rec) => {
                self.configs.insert(key, *rec);
            }
            Restored::Counters {
                next_history_id,
                next_config_id,
            } => {
                self.next_history_id = next_history_id.max(1);
                self.next_config_id = next_config_id.max(1);
            }
            Restored::User(name, rec) => {
                self.auth.put_user(name, rec);
            }
            Restored::Role(role, user) => {
                self.auth.bind(role, user);
            }
            Restored::Permission(p) => {
                self.auth.grant(p);
            }
            Restored::Lock(key, rec) => {
                self.locks.insert(key, rec);
            }
            Restored::Override(key, ikey, o) => {
                self.overrides.entry(key).or_default().insert(ikey, o);
            }
        }
    }

    // ----- reads -------------------------------------------------------

    /// Custom namespaces, by id.
    pub fn namespaces(&self) -> &BTreeMap<NamespaceId, NamespaceRecord> {
        &self.namespaces
    }

    /// A service record.
    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceRecord> {
        self.services.get(key)
    }

    /// Service records of a namespace (and group, if given).
    pub fn services_in<'a>(
        &'a self,
        namespace: &'a NamespaceId,
        group: Option<&'a GroupName>,
    ) -> impl Iterator<Item = (&'a ServiceKey, &'a ServiceRecord)> + 'a {
        self.services
            .iter()
            .filter(move |(k, _)| &k.namespace == namespace)
            .filter(move |(k, _)| group.is_none_or(|g| &k.group == g))
    }

    /// All service records.
    pub fn all_services(&self) -> &BTreeMap<ServiceKey, ServiceRecord> {
        &self.services
    }

    /// Persistent instances of a service.
    pub fn instances(&self, key: &ServiceKey) -> Option<&BTreeMap<InstanceKey, Instance>> {
        self.instances.get(key)
    }

    /// Services with persistent instances, and those instances.
    pub fn all_instances(
        &self,
    ) -> impl Iterator<Item = (&ServiceKey, &BTreeMap<InstanceKey, Instance>)> {
        self.instances.iter()
    }

    /// Users, roles and permissions.
    pub fn auth(&self) -> &AuthState {
        &self.auth
    }

    /// What operators laid over the instances of a service.
    pub fn overrides(&self, key: &ServiceKey) -> Option<&BTreeMap<InstanceKey, InstanceOverride>> {
        self.overrides.get(key)
    }

    /// Every instance override.
    pub fn all_overrides(
        &self,
    ) -> impl Iterator<Item = (&ServiceKey, &BTreeMap<InstanceKey, InstanceOverride>)> {
        self.overrides.iter()
    }

    /// Locks as last written (some leases may have run out since).
    pub fn locks(&self) -> &BTreeMap<LockKey, LockRecord> {
        &self.locks
    }

    /// Number of persistent instances.
    pub fn instance_count(&self) -> usize {
        self.instance_count
    }

    /// A config record.
    pub fn config(&self, key: &ConfigKey) -> Option<&ConfigRecord> {
        self.configs.get(key)
    }

    /// All config records, ordered by key.
    pub fn configs(&self) -> &BTreeMap<ConfigKey, ConfigRecord> {
        &self.configs
    }

    /// Number of configs with a formal version in a namespace.
    pub fn config_count_in(&self, namespace: &NamespaceId) -> usize {
        self.configs
            .iter()
            .filter(|(k, r)| &k.namespace == namespace && r.formal.is_some())
            .count()
    }

    // ----- apply -------------------------------------------------------

    /// Applies one command at `now`, recording writes and events in `fx`.
    pub fn apply(&mut self, now: Millis, cmd: Command, fx: &mut Effects) -> CommandResult {
        match cmd {
            Command::CreateNamespace { id, name, desc } => {
                if id.is_public() {
                    return Err(CommandError::NamespaceExists(id.to_string()));
                }
                if self.namespaces.contains_key(&id) {
                    return Err(CommandError::NamespaceExists(id.to_string()));
                }
                let rec = NamespaceRecord {
                    name,
                    desc,
                    quota: DEFAULT_QUOTA,
                    created_ms: now,
                };
                self.namespaces.insert(id.clone(), rec.clone());
                fx.writes.push(Write::Namespace(id.clone(), Some(rec)));
                fx.events.push(Event::Namespace(id));
                Ok(Outcome::Done)
            }
            Command::UpdateNamespace { id, name, desc } => {
                if id.is_public() {
                    return Err(CommandError::PublicNamespace);
                }
                let rec = self
                    .namespaces
                    .get_mut(&id)
                    .ok_or_else(|| CommandError::NamespaceNotFound(id.to_string()))?;
                rec.name = name;
                rec.desc = desc;
                fx.writes
                    .push(Write::Namespace(id.clone(), Some(rec.clone())));
                fx.events.push(Event::Namespace(id));
                Ok(Outcome::Done)
            }
            Command::DeleteNamespace { id } => {
                if id.is_public() {
                    return Err(CommandError::PublicNamespace);
                }
                let existed = self.namespaces.remove(&id).is_some();
                if existed {
                    fx.writes.push(Write::Namespace(id.clone(), None));
                    fx.events.push(Event::Namespace(id));
                }
                Ok(Outcome::Removed { existed })
            }
            Command::CreateService {
                key,
                protect_threshold,
                metadata,
                selector,
                ephemeral,
            } => {
                if self.services.contains_key(&key) {
                    return Err(CommandError::ServiceExists(key.grouped_name()));
                }
                let mut rec = ServiceRecord::new(ephemeral, now);
                rec.protect_threshold = protect_threshold;
                rec.metadata = metadata;
                rec.selector = selector;
                self.put_service(key, rec, fx);
                Ok(Outcome::Done)
            }
            Command::UpdateService {
                key,
                protect_threshold,
                metadata,
                selector,
                upsert,
                ephemeral,
            } => {
                let mut rec = match self.services.get(&key) {
                    Some(r) => r.clone(),
                    None if upsert => ServiceRecord::new(ephemeral, now),
                    None => return Err(CommandError::ServiceNotFound(key.grouped_name())),
                };
                if let Some(t) = protect_threshold {
                    rec.protect_threshold = t;
                }
                if let Some(m) = metadata {
                    rec.metadata = m;
                }
                if let Some(s) = selector {
                    rec.selector = s;
                }
                rec.modified_ms = now;
                self.put_service(key, rec, fx);
                Ok(Outcome::Done)
            }
            Command::DeleteService { key } => {
                if self.instances.get(&key).is_some_and(|m| !m.is_empty()) {
                    return Err(CommandError::ServiceNotEmpty(key.grouped_name()));
                }
                if self.services.remove(&key).is_none() {
                    return Err(CommandError::ServiceNotFound(key.grouped_name()));
                }
                fx.writes.push(Write::Service(key.clone(), None));
                fx.events.push(Event::Service(key));
                Ok(Outcome::Done)
            }
            Command::UpdateCluster {
                key,
                cluster,
                record,
                upsert,
                ephemeral,
            } => {
                let mut rec = match self.services.get(&key) {
                    Some(r) => r.clone(),
                    None if upsert => ServiceRecord::new(ephemeral, now),
                    None => return Err(CommandError::ServiceNotFound(key.grouped_name())),
                };
                rec.clusters.insert(cluster, record);
                rec.modified_ms = now;
                self.put_service(key, rec, fx);
                Ok(Outcome::Done)
            }
            Command::RegisterInstance { key, instance } => {
                match self.services.get(&key) {
                    Some(rec) if rec.ephemeral => {
                        // The edge checked that no ephemeral instance is live;
                        // the record's kind follows the instances registered.
                        let mut rec = rec.clone();
                        rec.ephemeral = false;
                        rec.modified_ms = now;
                        self.put_service(key.clone(), rec, fx);
                    }
                    Some(_) => {}
                    None => self.put_service(key.clone(), ServiceRecord::new(false, now), fx),
                }
                let ikey = instance.key();
                let map = self.instances.entry(key.clone()).or_default();
                let changed = match map.insert(ikey.clone(), instance.clone()) {
                    None => {
                        self.instance_count += 1;
                        true
                    }
                    Some(old) => old != instance,
                };
                if changed {
                    fx.writes
                        .push(Write::Instance(key.clone(), ikey, Some(instance)));
                    fx.events.push(Event::Service(key));
                }
                Ok(Outcome::Done)
            }
            Command::DeregisterInstance { key, instance } => {
                let existed = self.remove_instance(&key, &instance);
                if existed {
                    fx.writes.push(Write::Instance(key.clone(), instance, None));
                    fx.events.push(Event::Service(key));
                }
                Ok(Outcome::Removed { existed })
            }
            Command::UpdateInstance {
                key,
                instance,
                patch,
            } => {
                let inst = self
                    .instances
                    .get_mut(&key)
                    .and_then(|m| m.get_mut(&instance))
                    .ok_or_else(|| CommandError::InstanceNotFound(instance.to_string()))?;
                if patch.apply_to(inst) {
                    let inst = inst.clone();
                    fx.writes
                        .push(Write::Instance(key.clone(), instance, Some(inst)));
                    fx.events.push(Event::Service(key));
                }
                Ok(Outcome::Done)
            }
            Command::SetInstanceHealth {
                key,
                instance,
                healthy,
                from_probe,
            } => {
                if !from_probe {
                    let checker = self
                        .services
                        .get(&key)
                        .map(|r| r.checker(&instance.cluster).type_name())
                        .unwrap_or("NONE");
                    if checker != "NONE" {
                        return Err(CommandError::NotAllowed(format!(
                            "health check type of cluster {} is {checker}: health is decided by the probe",
                            instance.cluster
                        )));
                    }
                }
                let inst = self
                    .instances
                    .get_mut(&key)
                    .and_then(|m| m.get_mut(&instance))
                    .ok_or_else(|| CommandError::InstanceNotFound(instance.to_string()))?;
                if inst.healthy != healthy {
                    inst.healthy = healthy;
                    let inst = inst.clone();
                    fx.writes
                        .push(Write::Instance(key.clone(), instance, Some(inst)));
                    fx.events.push(Event::Service(key));
                }
                Ok(Outcome::Done)
            }
            Command::PublishConfig(p) => self.publish(now, *p, fx),
            Command::ImportConfigs { items, policy } => self.import(now, items, policy, fx),
            Command::RemoveConfig {
                key,
                tag,
                src_ip,
                src_user,
            } => {
                let Some(rec) = self.configs.get_mut(&key) else {
                    return Ok(Outcome::Removed { existed: false });
                };
                let (old, gray) = match &tag {
                    Some(t) => (rec.tags.remove(t), Some(format!("tag_{t}"))),
                    None => (rec.formal.take(), None),
                };
                let Some(old) = old else {
                    return Ok(Outcome::Removed { existed: false });
                };
                let config_id = rec.id;
                self.record_history(
                    now,
                    &key,
                    config_id,
                    &old,
                    OpType::Delete,
                    gray,
                    &src_ip,
                    &src_user,
                    fx,
                );
                self.put_config(key, fx);
                Ok(Outcome::Removed { existed: true })
            }
            Command::RemoveBeta {
                key,
                src_ip,
                src_user,
            } => {
                let Some(rec) = self.configs.get_mut(&key) else {
                    return Ok(Outcome::Removed { existed: false });
                };
                let Some(beta) = rec.beta.take() else {
                    return Ok(Outcome::Removed { existed: false });
                };
                let config_id = rec.id;
                self.record_history(
                    now,
                    &key,
                    config_id,
                    &beta.version,
                    OpType::Delete,
                    Some("beta".into()),
                    &src_ip,
                    &src_user,
                    fx,
                );
                self.put_config(key, fx);
                Ok(Outcome::Removed { existed: true })
            }
            Command::PromoteBeta {
                key,
                src_ip,
                src_user,
            } => {
                let beta = self
                    .configs
                    .get_mut(&key)
                    .and_then(|r| r.beta.take())
                    .ok_or(CommandError::ConfigNotFound)?;
                let v = beta.version;
                let publish = Publish {
                    key: key.clone(),
                    content: v.content,
                    md5: v.md5,
                    meta: v.meta,
                    tag: None,
                    beta_ips: None,
                    cas_md5: None,
                    src_ip,
                    src_user,
                };
                self.publish(now, publish, fx)
            }
            Command::PurgeHistory { before_ms } => {
                fx.writes.push(Write::PurgeHistory { before_ms });
                Ok(Outcome::Done)
            }
            Command::PurgeAudit { before_ms } => {
                fx.writes.push(Write::PurgeAudit { before_ms });
                Ok(Outcome::Done)
            }
            Command::Note { .. } => Ok(Outcome::Done),
            Command::Auth(cmd) => self.apply_auth(cmd, fx),
            Command::Lock { key, holder, op } => Ok(self.apply_lock(now, key, holder, op, fx)),
            Command::SetOverride {
                key,
                instance,
                value,
            } => {
                let value = value.filter(|o| !o.is_empty());
                let old = match &value {
                    Some(o) => self
                        .overrides
                        .entry(key.clone())
                        .or_default()
                        .insert(instance.clone(), o.clone()),
                    None => {
                        let old = self
                            .overrides
                            .get_mut(&key)
                            .and_then(|m| m.remove(&instance));
                        self.overrides.retain(|_, m| !m.is_empty());
                        old
                    }
                };
                if old != value {
                    fx.writes
                        .push(Write::Override(key.clone(), instance, value));
                    fx.events.push(Event::Service(key));
                }
                Ok(Outcome::Done)
            }
        }
    }

    fn apply_lock(
        &mut self,
        now: Millis,
        key: LockKey,
        holder: String,
        op: LockOp,
        fx: &mut Effects,
    ) -> Outcome {
        // Leases that ran out go first; `now` is the log's, so every node
        // drops the same ones.
        let expired: Vec<LockKey> = self
            .locks
            .iter()
            .filter(|(_, r)| !r.held_at(now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.locks.remove(&k);
            fx.writes.push(Write::Lock(k, None));
        }
        let granted = match op {
            LockOp::Acquire { lease_ms } => {
                if self.locks.contains_key(&key) {
                    false
                } else {
                    let rec = LockRecord {
                        holder,
                        acquired_ms: now,
                        until_ms: now.saturating_add(lease_ms.min(i64::MAX as u64) as i64),
                    };
                    // A zero lease is granted and already over.
                    if rec.held_at(now) {
                        self.locks.insert(key.clone(), rec.clone());
                        fx.writes.push(Write::Lock(key, Some(rec)));
                    }
                    true
                }
            }
            LockOp::Release => match self.locks.get(&key) {
                Some(rec) if rec.holder == holder => {
                    self.locks.remove(&key);
                    fx.writes.push(Write::Lock(key, None));
                    true
                }
                _ => false,
            },
        };
        Outcome::Lock { granted }
    }

    fn apply_auth(&mut self, cmd: AuthCommand, fx: &mut Effects) -> CommandResult {
        let auth = &mut self.auth;
        let outcome = match cmd {
            AuthCommand::CreateUser { username, record } => {
                if auth.user(&username).is_some() {
                    return Err(CommandError::UserExists(username));
                }
                auth.put_user(username.clone(), record.clone());
                fx.writes.push(Write::User(username, Some(record)));
                Outcome::Done
            }
            AuthCommand::InitAdmin { username, record } => {
                if auth.has_admin() {
                    return Err(CommandError::NotAllowed(
                        "an administrator exists already".into(),
                    ));
                }
                auth.put_user(username.clone(), record.clone());
                auth.bind(GLOBAL_ADMIN_ROLE.into(), username.clone());
                fx.writes.push(Write::User(username.clone(), Some(record)));
                fx.writes
                    .push(Write::Role(GLOBAL_ADMIN_ROLE.into(), username, true));
                Outcome::Done
            }
            AuthCommand::UpdateUser { username, record } => {
                if auth.user(&username).is_none() {
                    return Err(CommandError::UserNotFound(username));
                }
                auth.put_user(username.clone(), record.clone());
                fx.writes.push(Write::User(username, Some(record)));
                Outcome::Done
            }
            AuthCommand::DeleteUser { username } => {
                if auth.is_admin(&username) {
                    return Err(CommandError::NotAllowed(format!(
                        "cannot delete admin: {username}"
                    )));
                }
                let Some(bindings) = auth.remove_user(&username) else {
                    return Ok(Outcome::Removed { existed: false });
                };
                for (role, user) in bindings {
                    fx.writes.push(Write::Role(role, user, false));
                }
                fx.writes.push(Write::User(username, None));
                Outcome::Removed { existed: true }
            }
            AuthCommand::BindRole { role, username } => {
                if role == GLOBAL_ADMIN_ROLE {
                    return Err(CommandError::NotAllowed(format!(
                        "role '{GLOBAL_ADMIN_ROLE}' is not permitted to create!"
                    )));
                }
                if auth.user(&username).is_none() {
                    return Err(CommandError::UserNotFound(username));
                }
                if !auth.bind(role.clone(), username.clone()) {
                    return Err(CommandError::NotAllowed(format!(
                        "user '{username}' already bound to the role '{role}'!"
                    )));
                }
                fx.writes.push(Write::Role(role, username, true));
                Outcome::Done
            }
            AuthCommand::UnbindRole { role, username } => {
                if role == GLOBAL_ADMIN_ROLE {
                    return Err(CommandError::NotAllowed(format!(
                        "role '{GLOBAL_ADMIN_ROLE}' cannot be removed"
                    )));
                }
                match username {
                    Some(user) => {
                        let existed = auth.unbind(&role, &user);
                        if existed {
                            fx.writes.push(Write::Role(role, user, false));
                        }
                        Outcome::Removed { existed }
                    }
                    None => {
                        let bindings = auth.bindings_of(&role);
                        let perms = auth.permissions_of(&role);
                        let existed = !bindings.is_empty() || !perms.is_empty();
                        for (r, u) in bindings {
                            auth.unbind(&r, &u);
                            fx.writes.push(Write::Role(r, u, false));
                        }
                        for p in perms {
                            auth.revoke(&p);
                            fx.writes.push(Write::Permission(p, false));
                        }
                        Outcome::Removed { existed }
                    }
                }
            }
            AuthCommand::Grant(p) => {
                if !auth.role_exists(&p.role) {
                    return Err(CommandError::RoleNotFound(p.role));
                }
                if !auth.grant(p.clone()) {
                    return Err(CommandError::NotAllowed("permission already exist!".into()));
                }
                fx.writes.push(Write::Permission(p, true));
                Outcome::Done
            }
            AuthCommand::Revoke(p) => {
                let existed = auth.revoke(&p);
                if existed {
                    fx.writes.push(Write::Permission(p, false));
                }
                Outcome::Removed { existed }
            }
        };
        fx.events.push(Event::Auth);
        Ok(outcome)
    }

    fn put_service(&mut self, key: ServiceKey, rec: ServiceRecord, fx: &mut Effects) {
        self.services.insert(key.clone(), rec.clone());
        fx.writes.push(Write::Service(key.clone(), Some(rec)));
        fx.events.push(Event::Service(key));
    }

    fn remove_instance(&mut self, key: &ServiceKey, ikey: &InstanceKey) -> bool {
        let Some(map) = self.instances.get_mut(key) else {
            return false;
        };
        let existed = map.remove(ikey).is_some();
        if existed {
            self.instance_count -= 1;
        }
        if map.is_empty() {
            self.instances.remove(key);
        }
        existed
    }

    /// Writes the current record of `key` (or its removal when empty).
    fn put_config(&mut self, key: ConfigKey, fx: &mut Effects) {
        let rec = match self.configs.get(&key) {
            Some(r) if r.is_empty() => {
                self.configs.remove(&key);
                None
            }
            Some(r) => Some(Box::new(r.clone())),
            None => None,
        };
        fx.writes.push(Write::Config(key.clone(), rec));
        fx.events.push(Event::Config(key));
    }

    fn publish(&mut self, now: Millis, p: Publish, fx: &mut Effects) -> CommandResult {
        let Publish {
            key,
            content,
            md5,
            meta,
            tag,
            beta_ips,
            cas_md5,
            src_ip,
            src_user,
        } = p;
        let existing = self.configs.get(&key);
        let current = existing.and_then(|r| match (&beta_ips, &tag) {
            (Some(_), _) => r.beta.as_ref().map(|b| &b.version),
            (None, Some(t)) => r.tags.get(t),
            (None, None) => r.formal.as_ref(),
        });
        if let (Some(expected), Some(current)) = (&cas_md5, current)
            && &*current.md5 != expected.as_str()
        {
            return Err(CommandError::CasMismatch);
        }
        let old = current.cloned();
        let (created_ms, create_user, create_ip) = match &old {
            Some(o) => (o.created_ms, o.create_user.clone(), o.create_ip.clone()),
            None => (now, src_user.clone(), src_ip.clone()),
        };
        let new = ConfigVersion {
            content,
            md5,
            meta,
            created_ms,
            modified_ms: now,
            create_user,
            create_ip,
            src_user: src_user.clone(),
            src_ip: src_ip.clone(),
        };
        // History keeps the version that existed: the new one for an insert,
        // the replaced one for an update (Nacos semantics).
        let (op, recorded) = match old {
            None => (OpType::Insert, new.clone()),
            Some(o) => (OpType::Update, o),
        };
        let next_id = self.next_config_id;
        let rec = self
            .configs
            .entry(key.clone())
            .or_insert_with(|| ConfigRecord {
                id: next_id,
                ..Default::default()
            });
        if rec.id == next_id {
            self.next_config_id += 1;
        }
        let config_id = rec.id;
        let gray_name = match (beta_ips, tag) {
            (Some(ips), _) => {
                rec.beta = Some(BetaVersion { version: new, ips });
                Some("beta".to_string())
            }
            (None, Some(t)) => {
                let name = format!("tag_{t}");
                rec.tags.insert(t, new);
                Some(name)
            }
            (None, None) => {
                rec.formal = Some(new);
                None
            }
        };
        self.record_history(
            now, &key, config_id, &recorded, op, gray_name, &src_ip, &src_user, fx,
        );
        self.put_config(key, fx);
        Ok(Outcome::Done)
    }

    /// Applies an import: decides every item against the state first, so
    /// an aborted import writes nothing.
    fn import(
        &mut self,
        now: Millis,
        items: Vec<Publish>,
        policy: ImportPolicy,
        fx: &mut Effects,
    ) -> CommandResult {
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        let mut written = Vec::with_capacity(items.len());
        for (i, p) in items.iter().enumerate() {
            let exists = !seen.insert(&p.key)
                || self.configs.get(&p.key).is_some_and(|r| r.formal.is_some());
            match (exists, policy) {
                (true, ImportPolicy::Abort) => {
                    return Ok(Outcome::Imported {
                        written: vec![false; items.len()],
                        conflict: Some(i),
                    });
                }
                (true, ImportPolicy::Skip) => written.push(false),
                _ => written.push(true),
            }
        }
        for (p, write) in items.into_iter().zip(&written) {
            if *write {
                let p = Publish {
                    tag: None,
                    beta_ips: None,
                    cas_md5: None,
                    ..p
                };
                self.publish(now, p, fx)?;
            }
        }
        Ok(Outcome::Imported {
            written,
            conflict: None,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn record_history(
        &mut self,
        now: Millis,
        key: &ConfigKey,
        config_id: u64,
        version: &ConfigVersion,
        op: OpType,
        gray_name: Option<String>,
        src_ip: &str,
        src_user: &str,
        fx: &mut Effects,
    ) {
        let nid = self.next_history_id;
        self.next_history_id += 1;
        let rec = HistoryRecord {
            nid,
            config_id,
            key: key.clone(),
            app_name: version.meta.app_name.clone(),
            content: version.content.clone(),
            md5: version.md5.clone(),
            config_type: version.meta.config_type.clone(),
            encrypted_data_key: version.meta.encrypted_data_key.clone(),
            src_ip: src_ip.to_string(),
            src_user: src_user.to_string(),
            op_type: op,
            publish_type: if gray_name.is_some() {
                "gray"
            } else {
                "formal"
            }
            .into(),
            gray_name: gray_name.unwrap_or_default(),
            created_ms: now,
            modified_ms: version.modified_ms,
        };
        fx.writes.push(Write::History(Box::new(rec)));
        fx.writes.push(Write::Counters {
            next_history_id: self.next_history_id,
            next_config_id: self.next_config_id,
        });
    }
}

#[cfg(test)]
mod tests;
