//! Nacos 3 fuzzy-watch patterns: `namespace>>group>>name`, where group and
//! name may use `*` the way Nacos matches them, and the key strings the
//! watch protocol names configs and services by.
//!
//! The matching rules are Nacos's, quirks included (a `*` only in the
//! middle never matches; `.*` means "starts with `.`"): the Java client
//! re-checks every notice against its patterns with the same rules, so a
//! different matcher would send notices the client drops.
//!
//! Owns: parsing and matching patterns, group and service key strings.
//! Must not touch: watchers, connections.

use crate::error::ValidationError;
use crate::names::{ConfigKey, PUBLIC_NAMESPACE, ServiceKey};

/// Separator of a pattern's parts.
pub const PATTERN_SEPARATOR: &str = ">>";

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;

/// A parsed fuzzy-watch pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FuzzyPattern {
    /// Namespace (exact; blank is `public`).
    pub namespace: String,
    /// Group pattern.
    pub group: String,
    /// Data id or service name pattern.
    pub name: String,
}

impl FuzzyPattern {
    /// Parses `namespace>>group>>name`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bad = |reason: &str| ValidationError::Invalid {
            field: "groupKeyPattern",
            reason: reason.to_string(),
        };
        if raw.len() > MAX_PATTERN_BYTES {
            return Err(bad(&format!("is longer than {MAX_PATTERN_BYTES} bytes")));
        }
        let mut parts = raw.splitn(3, PATTERN_SEPARATOR);
        let (Some(ns), Some(group), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("must be namespace>>group>>name"));
        };
        if group.is_empty() || name.is_empty() {
            return Err(bad("needs a group and a name pattern"));
        }
        let ns = ns.trim();
        Ok(Self {
            namespace: if ns.is_empty() {
                PUBLIC_NAMESPACE.to_string()
            } else {
                ns.to_string()
            },
            group: group.to_string(),
            name: name.to_string(),
        })
    }

    /// Whether a resource in `namespace` and `group` named `name` matches.
    pub fn matches(&self, namespace: &str, group: &str, name: &str) -> bool {
        let namespace = if namespace.is_empty() {
            PUBLIC_NAMESPACE
        } else {
            namespace
        };
        self.namespace == namespace
            && item_matches(&self.group, group)
            && item_matches(&self.name, name)
    }

    /// Whether a config matches.
    pub fn matches_config(&self, key: &ConfigKey) -> bool {
        self.matches(
            key.namespace.as_str(),
            key.group.as_str(),
            key.data_id.as_str(),
        )
    }

    /// Whether a service matches.
    pub fn matches_service(&self, key: &ServiceKey) -> bool {
        self.matches(
            key.namespace.as_str(),
            key.group.as_str(),
            key.service.as_str(),
        )
    }
}

/// One part of a pattern against a value, as Nacos matches them.
fn item_matches(pattern: &str, value: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == value;
    }
    if pattern == "*" {
        return true;
    }
    let bare: String = pattern.chars().filter(|c| *c != '*').collect();
    match (pattern.starts_with('*'), pattern.ends_with('*')) {
        (true, true) => value.contains(&bare),
        (true, false) => value.ends_with(&bare),
        (false, true) => value.starts_with(&bare),
        (false, false) => false,
    }
}

fn escape(s: &str) -> String {
    s.replace('%', "%25").replace('+', "%2B")
}

/// A config's group key as the watch protocol names it:
/// `dataId+group+namespace`, with `%` and `+` escaped.
pub fn config_group_key(key: &ConfigKey) -> String {
    format!(
        "{}+{}+{}",
        escape(key.data_id.as_str()),
        escape(key.group.as_str()),
        escape(key.namespace.as_str())
    )
}

/// A service's key as the watch protocol names it:
/// `namespace@@group@@service`.
pub fn service_key_string(key: &ServiceKey) -> String {
    format!(
        "{}@@{}@@{}",
        key.namespace.as_str(),
        key.group.as_str(),
        key.service.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{ConfigGroup, DataId, NamespaceId};

    #[test]
    fn patterns_match_as_nacos_matches_them() {
        let p = FuzzyPattern::parse("public>>DEFAULT_GROUP>>app-*").unwrap();
        assert!(p.matches("public", "DEFAULT_GROUP", "app-a"));
        assert!(p.matches("", "DEFAULT_GROUP", "app-"));
        assert!(!p.matches("dev", "DEFAULT_GROUP", "app-a"));
        assert!(!p.matches("public", "G", "app-a"));
        let m = |pat: &str, v: &str| item_matches(pat, v);
        assert!(m("*", "anything"));
        assert!(m("**", "anything"));
        assert!(m("*mid*", "a-mid-b"));
        assert!(m("*tail", "x-tail"));
        assert!(!m("*tail", "tail-x"));
        assert!(m("head*", "head-x"));
        assert!(!m("a*b", "ab"), "a star only in the middle never matches");
        assert!(m(".*", ".hidden"));
        assert!(!m(".*", "visible"));
        assert!(m("exact", "exact"));
        assert!(!m("exact", "exact2"));
        let blank = FuzzyPattern::parse(">>G>>*").unwrap();
        assert_eq!(blank.namespace, "public");
        assert!(FuzzyPattern::parse("public>>G").is_err());
        assert!(FuzzyPattern::parse("public>>>>x").is_err());
        assert!(FuzzyPattern::parse("public>>G>>").is_err());
        assert_eq!(
            FuzzyPattern::parse("ns>>G>>a>>b").unwrap().name,
            "a>>b",
            "the name keeps what follows"
        );
    }

    #[test]
    fn key_strings() {
        let k = ConfigKey::new(
            NamespaceId::public(),
            ConfigGroup::parse(Some("G")).unwrap(),
            DataId::parse(Some("app.yaml")).unwrap(),
        );
        assert_eq!(config_group_key(&k), "app.yaml+G+public");
        assert_eq!(escape("a+b%"), "a%2Bb%25");
    }
}
