//! The audit trail's records: who made a durable change, when, from where,
//! and what it changed.
//!
//! A record is made while a log entry is applied, from the command and the
//! actor the entry carries (see [`crate::command::Batch::actors`]), so every
//! node that applies the log holds the same trail. This module owns what a
//! record says about each kind of command; it never records a config's
//! content, a password, a hash or a token, only names, sizes and digests.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::command::{AuthCommand, Command, Outcome};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Actor {
    /// The authenticated user, when auth is on.
    #[serde(default)]
    pub user: Option<String>,
    /// The address the request came from (the peer of the connection).
    #[serde(default)]
    pub ip: String,
    /// What an `X-Forwarded-For` / `X-Real-IP` header claimed, when one
    /// was sent (not verified: a proxy or the client itself set it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<String>,
    /// How the change arrived: `http`, `grpc` or `system`.
    #[serde(default)]
    pub via: String,
}

impl Actor {
    /// The server itself (timers, expiry).
    pub fn system() -> Self {
        Self {
            user: None,
            ip: String::new(),
            forwarded: None,
            via: "system".into(),
        }
    }
}

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the trail: the log index in the high bits, the command's
    /// place in its entry in the low [`ID_SHIFT`] bits.
    pub id: u64,
    /// The leader's clock when the change was proposed.
    pub at_ms: Millis,
    /// Who.
    pub actor: Actor,
    /// What kind of object: `config`, `namespace`, `service`, `instance`,
    /// `user`, `role`, `permission`, `membership`, `security` (refused
    /// logins and calls, folded with a count in `detail`).
    pub kind: String,
    /// What was done (`publish`, `delete`, `create`, ...).
    pub op: String,
    /// The object (`namespace/group/dataId`, `namespace/group@@service`...).
    pub target: String,
    /// What changed, without secrets or content.
    pub detail: String,
}

/// Bits of an audit id that hold the command's place in its log entry.
pub const ID_SHIFT: u32 = 20;

/// The id of command `pos` of log entry `index`.
pub fn audit_id(index: u64, pos: usize) -> u64 {
    (index << ID_SHIFT) | (pos as u64 & ((1 << ID_SHIFT) - 1))
}

/// What a command changes, as the trail tells it: `(kind, op, target,
/// detail)`; `None` for commands that are not audited (locks, purges,
/// health set by the server's own probe).
pub fn describe(cmd: &Command) -> Option<(&'static str, String, String, String)> {
    let d = |kind: &'static str, op: &str, target: String, detail: String| {
        Some((kind, op.to_string(), target, detail))
    };
    match cmd {
        Command::CreateNamespace { id, name, desc } => d(
            "namespace",
            "create",
            id.to_string(),
            format!("name={name:?} desc={desc:?}"),
        ),
        Command::UpdateNamespace { id, name, desc } => d(
            "namespace",
            "update",
            id.to_string(),
            format!("name={name:?} desc={desc:?}"),
        ),
        Command::DeleteNamespace { id } => d("namespace", "delete", id.to_string(), String::new()),
        Command::CreateService {
            key,
            protect_threshold,
            metadata,
            ephemeral,
            ..
        } => d(
            "service",
            "create",
            key.to_string(),
            format!(
                "protectThreshold={protect_threshold} metadata={} ephemeral={ephemeral}",
                metadata.len()
            ),
        ),
        Command::UpdateService {
            key,
            protect_threshold,
            metadata,
            selector,
            upsert,
            ..
        } => {
            let mut parts = Vec::new();
            if let Some(t) = protect_threshold {
                parts.push(format!("protectThreshold={t}"));
            }
            if let Some(m) = metadata {
                parts.push(format!("metadata={} keys", m.len()));
            }
            if selector.is_some() {
                parts.push("selector".to_string());
            }
            if *upsert {
                parts.push("upsert".to_string());
            }
            d("service", "update", key.to_string(), parts.join(" "))
        }
        Command::DeleteService { key } => d("service", "delete", key.to_string(), String::new()),
        Command::UpdateCluster { key, cluster, .. } => d(
            "service",
            "update-cluster",
            key.to_string(),
            format!("cluster={cluster}"),
        ),
        Command::RegisterInstance { key, instance } => d(
            "instance",
            "register",
            format!("{key} {}", instance.key()),
            format!(
                "weight={} enabled={} healthy={} metadata={} keys",
                instance.weight,
                instance.enabled,
                instance.healthy,
                instance.metadata.len()
            ),
        ),
        Command::DeregisterInstance { key, instance } => d(
            "instance",
            "deregister",
            format!("{key} {instance}"),
            String::new(),
        ),
        Command::UpdateInstance {
            key,
            instance,
            patch,
        } => {
            let mut parts = Vec::new();
            if let Some(w) = patch.weight {
                parts.push(format!("weight={w}"));
            }
            if let Some(e) = patch.enabled {
                parts.push(format!("enabled={e}"));
            }
            if let Some(h) = patch.healthy {
                parts.push(format!("healthy={h}"));
            }
            if let Some(m) = &patch.metadata {
                parts.push(format!("metadata={} keys", m.len()));
            }
            d(
                "instance",
                "update",
                format!("{key} {instance}"),
                parts.join(" "),
            )
        }
        Command::SetOverride {
            key,
            instance,
            value,
        } => {
            let detail = match value {
                None => "cleared".to_string(),
                Some(o) => {
                    let mut parts = Vec::new();
                    if let Some(w) = o.weight {
                        parts.push(format!("weight={w}"));
                    }
                    if let Some(e) = o.enabled {
                        parts.push(format!("enabled={e}"));
                    }
                    if !o.metadata.is_empty() {
                        parts.push(format!("metadata={} keys", o.metadata.len()));
                    }
                    parts.join(" ")
                }
            };
            d("instance", "override", format!("{key} {instance}"), detail)
        }
        Command::SetInstanceHealth {
            key,
            instance,
            healthy,
            from_probe,
        } => {
            if *from_probe {
                None
            } else {
                d(
                    "instance",
                    "set-health",
                    format!("{key} {instance}"),
                    format!("healthy={healthy}"),
                )
            }
        }
        Command::PublishConfig(p) => {
            let op = if p.beta_ips.is_some() {
                "publish-beta"
            } else if p.tag.is_some() {
                "publish-tag"
            } else {
                "publish"
            };
            let mut detail = format!(
                "md5={} size={} type={}",
                p.md5,
                p.content.len(),
                p.meta.config_type
            );
            if let Some(tag) = &p.tag {
                detail.push_str(&format!(" tag={tag}"));
            }
            if let Some(ips) = &p.beta_ips {
                detail.push_str(&format!(" betaIps={}", ips.join(",")));
            }
            if p.cas_md5.is_some() {
                detail.push_str(" cas");
            }
            d("config", op, p.key.to_string(), detail)
        }
        Command::ImportConfigs { items, policy } => d(
            "config",
            "import",
            match items.first() {
                Some(first) => first.key.namespace.to_string(),
                None => String::new(),
            },
            format!(
                "{} configs policy={policy:?}: {}",
                items.len(),
                items
                    .iter()
                    .take(20)
                    .map(|p| format!("{}/{}", p.key.group, p.key.data_id))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ),
        Command::RemoveConfig { key, tag, .. } => d(
            "config",
            if tag.is_some() {
                "delete-tag"
            } else {
                "delete"
            },
            key.to_string(),
            tag.as_ref().map(|t| format!("tag={t}")).unwrap_or_default(),
        ),
        Command::RemoveBeta { key, .. } => d("config", "stop-beta", key.to_string(), String::new()),
        Command::PromoteBeta { key, .. } => {
            d("config", "promote-beta", key.to_string(), String::new())
        }
        Command::Auth(a) => describe_auth(a),
        Command::Note {
            kind,
            op,
            target,
            detail,
        } => Some((note_kind(kind), op.clone(), target.clone(), detail.clone())),
        Command::PurgeHistory { .. } | Command::PurgeAudit { .. } | Command::Lock { .. } => None,
    }
}

/// The kinds a [`Command::Note`] may name (anything else is `other`).
fn note_kind(kind: &str) -> &'static str {
    match kind {
        "membership" => "membership",
        "security" => "security",
        _ => "other",
    }
}

fn describe_auth(a: &AuthCommand) -> Option<(&'static str, String, String, String)> {
    let (kind, op, target, detail) = match a {
        AuthCommand::CreateUser { username, .. } => ("user", "create", username.clone(), ""),
        AuthCommand::InitAdmin { username, .. } => ("user", "init-admin", username.clone(), ""),
        AuthCommand::UpdateUser { username, .. } => {
            ("user", "update", username.clone(), "password changed")
        }
        AuthCommand::DeleteUser { username } => ("user", "delete", username.clone(), ""),
        AuthCommand::BindRole { role, username } => {
            return Some((
                "role",
                "bind".into(),
                role.clone(),
                format!("user={username}"),
            ));
        }
        AuthCommand::UnbindRole { role, username } => {
            return Some((
                "role",
                if username.is_some() {
                    "unbind"
                } else {
                    "delete"
                }
                .into(),
                role.clone(),
                username
                    .as_ref()
                    .map(|u| format!("user={u}"))
                    .unwrap_or_default(),
            ));
        }
        AuthCommand::Grant(p) | AuthCommand::Revoke(p) => {
            let op = if matches!(a, AuthCommand::Grant(_)) {
                "grant"
            } else {
                "revoke"
            };
            return Some((
                "permission",
                op.into(),
                p.role.clone(),
                format!("resource={} action={}", p.resource, p.action.as_str()),
            ));
        }
    };
    Some((kind, op.into(), target, detail.into()))
}

/// Whether a command that ran with `outcome` changed anything worth a
/// record (a removal of something absent changed nothing).
pub fn changed(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Removed { existed } => *existed,
        Outcome::Imported { written, .. } => written.iter().any(|w| *w),
        _ => true,
    }
}

/// Filters of an audit query; every given one must match.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Kind, exactly.
    pub kind: Option<String>,
    /// Operation, exactly.
    pub op: Option<String>,
    /// User, exactly (with auth off there is none).
    pub user: Option<String>,
    /// Client address, exactly.
    pub ip: Option<String>,
    /// Substring of the target.
    pub target: Option<String>,
    /// At or after this time.
    pub from_ms: Option<Millis>,
    /// Before this time.
    pub to_ms: Option<Millis>,
}

impl AuditQuery {
    /// Whether `r` passes every filter.
    pub fn matches(&self, r: &AuditRecord) -> bool {
        self.kind.as_ref().is_none_or(|k| *k == r.kind)
            && self.op.as_ref().is_none_or(|o| *o == r.op)
            && self
                .user
                .as_ref()
                .is_none_or(|u| r.actor.user.as_deref() == Some(u.as_str()))
            && self.ip.as_ref().is_none_or(|i| *i == r.actor.ip)
            && self
                .target
                .as_ref()
                .is_none_or(|t| r.target.contains(t.as_str()))
            && self.from_ms.is_none_or(|f| r.at_ms >= f)
            && self.to_ms.is_none_or(|t| r.at_ms < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserRecord;

    #[test]
    fn ids_order_by_entry_then_position() {
        assert!(audit_id(1, 5) < audit_id(2, 0));
        assert!(audit_id(7, 0) < audit_id(7, 1));
        assert_eq!(audit_id(3, 2) >> ID_SHIFT, 3);
    }

    #[test]
    fn user_changes_never_carry_the_hash() {
        let rec = UserRecord {
            password_hash: "$2b$10$secretsecretsecret".into(),
        };
        for cmd in [
            AuthCommand::CreateUser {
                username: "alice".into(),
                record: rec.clone(),
            },
            AuthCommand::UpdateUser {
                username: "alice".into(),
                record: rec.clone(),
            },
        ] {
            let (kind, _, target, detail) =
                describe(&Command::Auth(cmd)).expect("user changes are audited");
            assert_eq!(kind, "user");
            assert_eq!(target, "alice");
            assert!(!detail.contains("secret"), "{detail}");
        }
    }

    #[test]
    fn purges_and_locks_are_not_audited() {
        assert!(describe(&Command::PurgeHistory { before_ms: 1 }).is_none());
        assert!(describe(&Command::PurgeAudit { before_ms: 1 }).is_none());
    }
}
