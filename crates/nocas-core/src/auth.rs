//! Users, roles and permissions: the durable auth state and the access
//! decision over it.
//!
//! Owns the records (a user holds only a password *hash*, made and checked
//! at the edge), the validation of names, resources and actions, and
//! [`AuthState::allows`]. It does not hash passwords, sign tokens or know
//! where a request came from: the server does that and asks here.
//!
//! Resources are Nacos's: `namespace:group:type/name`, where `type` is
//! `naming` or `config`; a permission's resource is a pattern in which `*`
//! matches any run of characters (no other pattern syntax: a permission
//! never becomes a regular expression). Actions are `r`, `w` or `rw`.
//! A user bound to the role [`GLOBAL_ADMIN_ROLE`] may do anything.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// The role of global administrators (Nacos's name).
pub const GLOBAL_ADMIN_ROLE: &str = "ROLE_ADMIN";

/// The initial administrator's user name (Nacos's).
pub const DEFAULT_ADMIN: &str = "nacos";

/// Longest user or role name.
pub const MAX_NAME_LEN: usize = 128;

/// Longest resource pattern.
pub const MAX_RESOURCE_LEN: usize = 512;

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Password hash in PHC string form (argon2id).
    pub password_hash: String,
}

/// What a permission allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Read (`r`).
    Read,
    /// Write (`w`).
    Write,
    /// Both (`rw`).
    ReadWrite,
}

impl Action {
    /// Parses `r`, `w` or `rw` (as Nacos spells them).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.trim() {
            "r" => Ok(Self::Read),
            "w" => Ok(Self::Write),
            "rw" | "wr" => Ok(Self::ReadWrite),
            other => Err(ValidationError::Invalid {
                field: "action",
                reason: format!("'{other}' is not one of r, w, rw"),
            }),
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "r",
            Self::Write => "w",
            Self::ReadWrite => "rw",
        }
    }

    /// Whether holding `self` grants `wanted`.
    pub fn grants(self, wanted: Action) -> bool {
        self == Self::ReadWrite || self == wanted
    }
}

/// The kind of a protected resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// Services and instances.
    Naming,
    /// Configs.
    Config,
}

impl ResourceKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Naming => "naming",
            Self::Config => "config",
        }
    }
}

/// A concrete resource a request touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `namespace:group:type/name`.
    pub path: String,
}

impl Resource {
    /// A resource; an empty namespace is the public one, an empty group or
    /// name matches only patterns with `*` there.
    pub fn new(namespace: &str, group: &str, kind: ResourceKind, name: &str) -> Self {
        let ns = if namespace.is_empty() {
            crate::names::PUBLIC_NAMESPACE
        } else {
            namespace
        };
        Self {
            path: format!("{ns}:{group}:{}/{name}", kind.as_str()),
        }
    }
}

impl Resource {
    /// A service.
    pub fn service(k: &crate::names::ServiceKey) -> Self {
        Self::new(
            k.namespace.as_str(),
            k.group.as_str(),
            ResourceKind::Naming,
            k.service.as_str(),
        )
    }

    /// A config.
    pub fn config(k: &crate::names::ConfigKey) -> Self {
        Self::new(
            k.namespace.as_str(),
            k.group.as_str(),
            ResourceKind::Config,
            k.data_id.as_str(),
        )
    }
}

/// A stored permission.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Permission {
    /// Role it is granted to.
    pub role: String,
    /// Resource pattern.
    pub resource: String,
    /// Action.
    pub action: Action,
}

/// Validates a user or role name: 1..=128 characters of letters, digits,
/// `_`, `-`, `.` and `@`.
pub fn validate_name(field: &'static str, raw: &str) -> Result<String, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValidationError::Missing { field });
    }
    if s.len() > MAX_NAME_LEN {
        return Err(ValidationError::Invalid {
            field,
            reason: format!("longer than {MAX_NAME_LEN} characters"),
        });
    }
    if !s
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
    {
        return Err(ValidationError::Invalid {
            field,
            reason: "only letters, digits, '_', '-', '.' and '@' are allowed".into(),
        });
    }
    Ok(s.to_string())
}

/// Validates a resource pattern. Nacos's console writes `namespace:*:*`;
/// any pattern of printable characters is accepted, and an empty namespace
/// part means the public namespace.
pub fn validate_resource(raw: &str) -> Result<String, ValidationError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ValidationError::Missing { field: "resource" });
    }
    if s.len() > MAX_RESOURCE_LEN || s.chars().any(char::is_control) {
        return Err(ValidationError::Invalid {
            field: "resource",
            reason: format!("at most {MAX_RESOURCE_LEN} printable characters"),
        });
    }
    Ok(match s.strip_prefix(':') {
        Some(rest) => format!("{}:{rest}", crate::names::PUBLIC_NAMESPACE),
        None => s.to_string(),
    })
}

/// Whether `pattern` (with `*` matching any run of characters) matches
/// all of `text`.
pub fn pattern_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let tail: Vec<&str> = parts.collect();
    let Some((last, middle)) = tail.split_last() else {
        // No `*` at all: an exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// All users, role bindings and permissions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthState {
    users: BTreeMap<String, UserRecord>,
    /// (role, user).
    roles: BTreeSet<(String, String)>,
    permissions: BTreeSet<Permission>,
}

impl AuthState {
    /// A user.
    pub fn user(&self, name: &str) -> Option<&UserRecord> {
        self.users.get(name)
    }

    /// User names, in order.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// (role, user) bindings, in order.
    pub fn roles(&self) -> impl Iterator<Item = (&str, &str)> {
        self.roles.iter().map(|(r, u)| (r.as_str(), u.as_str()))
    }

    /// Permissions, in order.
    pub fn permissions(&self) -> impl Iterator<Item = &Permission> {
        self.permissions.iter()
    }

    /// Whether a role is bound to anyone.
    pub fn role_exists(&self, role: &str) -> bool {
        self.roles.iter().any(|(r, _)| r == role)
    }

    /// Roles of a user.
    pub fn roles_of<'a>(&'a self, user: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.roles
            .iter()
            .filter(move |(_, u)| u == user)
            .map(|(r, _)| r.as_str())
    }

    /// Whether a user is a global administrator.
    pub fn is_admin(&self, user: &str) -> bool {
        self.users.contains_key(user)
            && self
                .roles
                .contains(&(GLOBAL_ADMIN_ROLE.to_string(), user.to_string()))
    }

    /// Whether any global administrator exists.
    pub fn has_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|(r, u)| r == GLOBAL_ADMIN_ROLE && self.users.contains_key(u))
    }

    /// Whether `user` may do `action` on `resource`.
    pub fn allows(&self, user: &str, resource: &Resource, action: Action) -> bool {
        if !self.users.contains_key(user) {
            return false;
        }
        if self.is_admin(user) {
            return true;
        }
        self.roles_of(user).any(|role| {
            self.permissions.iter().any(|p| {
                p.role == role
                    && p.action.grants(action)
                    && pattern_matches(&p.resource, &resource.path)
            })
        })
    }

    // ----- changes (called by the state machine only) ------------------

    pub(crate) fn put_user(&mut self, name: String, rec: UserRecord) -> Option<UserRecord> {
        self.users.insert(name, rec)
    }

    /// Removes a user and its role bindings; returns the bindings removed.
    pub(crate) fn remove_user(&mut self, name: &str) -> Option<Vec<(String, String)>> {
        self.users.remove(name)?;
        let gone: Vec<_> = self
            .roles
            .iter()
            .filter(|(_, u)| u == name)
            .cloned()
            .collect();
        for b in &gone {
            self.roles.remove(b);
        }
        Some(gone)
    }

    pub(crate) fn bind(&mut self, role: String, user: String) -> bool {
        self.roles.insert((role, user))
    }

    pub(crate) fn unbind(&mut self, role: &str, user: &str) -> bool {
        self.roles.remove(&(role.to_string(), user.to_string()))
    }

    /// Bindings of a role.
    pub(crate) fn bindings_of(&self, role: &str) -> Vec<(String, String)> {
        self.roles
            .iter()
            .filter(|(r, _)| r == role)
            .cloned()
            .collect()
    }

    /// Permissions of a role.
    pub(crate) fn permissions_of(&self, role: &str) -> Vec<Permission> {
        self.permissions
            .iter()
            .filter(|p| p.role == role)
            .cloned()
            .collect()
    }

    pub(crate) fn grant(&mut self, p: Permission) -> bool {
        self.permissions.insert(p)
    }

    pub(crate) fn revoke(&mut self, p: &Permission) -> bool {
        self.permissions.remove(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(pattern_matches(
            "public:*:*",
            "public:DEFAULT_GROUP:config/a"
        ));
        assert!(pattern_matches("*", ""));
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("a:*:naming/svc", "a:G:naming/svc"));
        assert!(!pattern_matches("a:*:naming/svc", "a:G:naming/svc2"));
        assert!(!pattern_matches("a:*:*", "ab:G:naming/svc"));
        assert!(pattern_matches("a:G:config/app*", "a:G:config/app.yaml"));
        assert!(!pattern_matches("a:G:config/app", "a:G:config/app.yaml"));
        assert!(pattern_matches("a*b*c", "abc"));
        assert!(!pattern_matches("a*bc*c", "abc"));
        assert!(pattern_matches("*.yaml", "x:y:config/z.yaml"));
        // Regex syntax is literal.
        assert!(!pattern_matches("a.:*", "ab:x"));
        assert!(pattern_matches("a.:*", "a.:x"));
    }

    #[test]
    fn actions() {
        assert_eq!(Action::parse("rw").map(Action::as_str).ok(), Some("rw"));
        assert!(Action::parse("x").is_err());
        assert!(Action::ReadWrite.grants(Action::Read));
        assert!(Action::Read.grants(Action::Read));
        assert!(!Action::Read.grants(Action::Write));
    }

    #[test]
    fn names_and_resources() {
        assert!(validate_name("username", "alice@corp.example").is_ok());
        assert!(validate_name("username", "").is_err());
        assert!(validate_name("username", "a b").is_err());
        assert!(validate_name("username", &"x".repeat(129)).is_err());
        assert_eq!(
            validate_resource(":*:*").ok().as_deref(),
            Some("public:*:*")
        );
        assert!(validate_resource("a\nb").is_err());
    }

    #[test]
    fn decisions() {
        let mut s = AuthState::default();
        let rec = UserRecord {
            password_hash: "h".into(),
        };
        s.put_user("admin".into(), rec.clone());
        s.put_user("alice".into(), rec.clone());
        s.bind(GLOBAL_ADMIN_ROLE.into(), "admin".into());
        s.bind("dev".into(), "alice".into());
        s.grant(Permission {
            role: "dev".into(),
            resource: "A:*:*".into(),
            action: Action::Read,
        });
        let in_a = Resource::new("A", "G", ResourceKind::Config, "x");
        let in_b = Resource::new("B", "G", ResourceKind::Config, "x");
        assert!(s.allows("admin", &in_b, Action::Write));
        assert!(s.allows("alice", &in_a, Action::Read));
        assert!(!s.allows("alice", &in_a, Action::Write));
        assert!(!s.allows("alice", &in_b, Action::Read));
        assert!(!s.allows("nobody", &in_a, Action::Read));
        assert!(s.has_admin());
        // Removing a user drops its bindings: a re-created user starts bare.
        assert_eq!(s.remove_user("alice").map(|g| g.len()), Some(1));
        s.put_user("alice".into(), rec);
        assert!(!s.allows("alice", &in_a, Action::Read));
        // Public namespace spelled empty.
        assert_eq!(
            Resource::new("", "G", ResourceKind::Naming, "s").path,
            "public:G:naming/s"
        );
    }
}
