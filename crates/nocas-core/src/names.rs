//! Validated names: namespaces, groups, services, clusters, config keys.
//!
//! Every name a client sends is parsed here once, at the edge, into a type
//! that cannot hold an invalid value; the rest of the system trusts it.
//! The rules follow Nacos (`NamingUtils`, `ParamUtils`) where Nacos has one,
//! plus explicit length limits where Nacos relied on its database columns.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// The id of the public namespace as naming spells it. Config spells it `""`.
pub const PUBLIC_NAMESPACE: &str = "public";
/// Group used when a client gives none.
pub const DEFAULT_GROUP: &str = "DEFAULT_GROUP";
/// Cluster used when a client gives none.
pub const DEFAULT_CLUSTER: &str = "DEFAULT";
/// Separator of a grouped service name, `group@@service`.
pub const GROUP_SEPARATOR: &str = "@@";

/// Longest namespace id (Nacos: 128).
pub const MAX_NAMESPACE_LEN: usize = 128;
/// Longest group name (Nacos database column: 128).
pub const MAX_GROUP_LEN: usize = 128;
/// Longest service name.
pub const MAX_SERVICE_LEN: usize = 512;
/// Longest cluster name.
pub const MAX_CLUSTER_LEN: usize = 64;
/// Longest config data id (Nacos database column: 255).
pub const MAX_DATA_ID_LEN: usize = 255;
/// Longest config tag (Nacos: 16).
pub const MAX_TAG_LEN: usize = 16;
/// Longest instance ip or host name.
pub const MAX_IP_LEN: usize = 128;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A namespace id. The public namespace is always `public` here, whether the
    /// client said `public`, `""` (config's spelling) or nothing.
    NamespaceId
);
name_type!(
    /// A naming group (`DEFAULT_GROUP` when absent). Never contains `@@`.
    GroupName
);
name_type!(
    /// A plain service name, without the group prefix.
    ServiceName
);
name_type!(
    /// A cluster name: `^[0-9a-zA-Z-]+$` (Nacos rule).
    ClusterName
);
name_type!(
    /// A config data id: letters, digits and `_-.:`.
    DataId
);
name_type!(
    /// A config group: letters, digits and `_-.:`.
    ConfigGroup
);
name_type!(
    /// A config tag: letters, digits and `_-.:`, at most 16 characters.
    ConfigTag
);

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), ValidationError> {
    // `len` bounds the count of chars: count them only past it.
    if s.len() > max && s.chars().count() > max {
        return Err(ValidationError::TooLong { field, max });
    }
    Ok(())
}

fn check_blank(field: &'static str, s: &str) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        return Err(ValidationError::Blank { field });
    }
    Ok(())
}

fn no_control(field: &'static str, s: &str) -> Result<(), ValidationError> {
    if s.chars().any(|c| c.is_control()) {
        return Err(ValidationError::InvalidChars {
            field,
            allowed: "printable characters",
        });
    }
    Ok(())
}

/// Nacos `ParamUtils.isValid`: Unicode letters or digits, and `_ - . :`.
fn config_chars(field: &'static str, s: &str) -> Result<(), ValidationError> {
    // Bytes first: ids are ASCII nearly always, and this runs per read.
    let ascii_ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':');
    if s.as_bytes().iter().all(ascii_ok)
        || s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        Ok(())
    } else {
        Err(ValidationError::InvalidChars {
            field,
            allowed: "letters, digits and _-.:",
        })
    }
}

impl NamespaceId {
    /// The public namespace.
    pub fn public() -> Self {
        Self(Arc::from(PUBLIC_NAMESPACE))
    }

    /// Parses a namespace id; `None`, `""`, `public` and the string `null`
    /// (which some SDKs send) all mean the public namespace.
    pub fn parse(raw: Option<&str>) -> Result<Self, ValidationError> {
        let s = raw.map(str::trim).unwrap_or("");
        if s.is_empty() || s == PUBLIC_NAMESPACE || s == "null" {
            return Ok(Self::public());
        }
        check_len("namespaceId", s, MAX_NAMESPACE_LEN)?;
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ValidationError::InvalidChars {
                field: "namespaceId",
                allowed: "letters, digits, _ and -",
            });
        }
        Ok(Self(Arc::from(s)))
    }

    /// True for the public namespace.
    pub fn is_public(&self) -> bool {
        &*self.0 == PUBLIC_NAMESPACE
    }

    /// The id as config spells it: `""` for the public namespace.
    pub fn as_tenant(&self) -> &str {
        if self.is_public() { "" } else { &self.0 }
    }
}

impl GroupName {
    /// The default group.
    pub fn default_group() -> Self {
        Self(Arc::from(DEFAULT_GROUP))
    }

    /// Parses a naming group; absent or empty means `DEFAULT_GROUP`.
    pub fn parse(raw: Option<&str>) -> Result<Self, ValidationError> {
        let s = raw.map(str::trim).unwrap_or("");
        if s.is_empty() {
            return Ok(Self::default_group());
        }
        Self::parse_required(s)
    }

    fn parse_required(s: &str) -> Result<Self, ValidationError> {
        check_blank("groupName", s)?;
        check_len("groupName", s, MAX_GROUP_LEN)?;
        no_control("groupName", s)?;
        if separator_at(s).is_some() {
            return Err(ValidationError::Invalid {
                field: "groupName",
                reason: "must not contain '@@'".into(),
            });
        }
        Ok(Self(Arc::from(s)))
    }
}

impl ServiceName {
    /// Parses a plain service name (no `@@`).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        check_blank("serviceName", s)?;
        check_len("serviceName", s, MAX_SERVICE_LEN)?;
        no_control("serviceName", s)?;
        if separator_at(s).is_some() {
            return Err(ValidationError::Invalid {
                field: "serviceName",
                reason: "it should be format as 'groupName@@serviceName'".into(),
            });
        }
        Ok(Self(Arc::from(s)))
    }
}

/// Where `s` holds [`GROUP_SEPARATOR`] first. A byte scan: the general
/// substring search sets up a searcher per call, and names are read on
/// every request.
fn separator_at(s: &str) -> Option<usize> {
    const _: () = assert!(matches!(GROUP_SEPARATOR.as_bytes(), b"@@"));
    s.as_bytes().windows(2).position(|w| w == b"@@")
}

/// Parses `serviceName` as Nacos's `ServiceNameFilter` does: either a plain
/// name (group from `groupName`, default `DEFAULT_GROUP`) or `group@@service`.
pub fn parse_grouped_service(
    service: Option<&str>,
    group: Option<&str>,
) -> Result<(GroupName, ServiceName), ValidationError> {
    let raw = service
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(ValidationError::Missing {
            field: "serviceName",
        })?;
    let split = separator_at(raw).and_then(|i| Some((raw.get(..i)?, raw.get(i + 2..)?)));
    match split {
        Some((g, s)) => {
            if g.trim().is_empty() || s.trim().is_empty() || separator_at(s).is_some() {
                return Err(ValidationError::Invalid {
                    field: "serviceName",
                    reason: format!(
                        "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName': {raw}"
                    ),
                });
            }
            Ok((GroupName::parse_required(g.trim())?, ServiceName::parse(s)?))
        }
        None => Ok((GroupName::parse(group)?, ServiceName::parse(raw)?)),
    }
}

impl ClusterName {
    /// The default cluster (one shared allocation: nearly every instance
    /// is in it).
    pub fn default_cluster() -> Self {
        static DEFAULT: std::sync::LazyLock<Arc<str>> =
            std::sync::LazyLock::new(|| Arc::from(DEFAULT_CLUSTER));
        Self(DEFAULT.clone())
    }

    /// Parses a cluster name; absent or empty means `DEFAULT`.
    pub fn parse(raw: Option<&str>) -> Result<Self, ValidationError> {
        let s = raw.map(str::trim).unwrap_or("");
        if s.is_empty() {
            return Ok(Self::default_cluster());
        }
        if s == DEFAULT_CLUSTER {
            return Ok(Self::default_cluster());
        }
        check_len("clusterName", s, MAX_CLUSTER_LEN)?;
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ValidationError::Invalid {
                field: "clusterName",
                reason: "Instance 'clusterName' should be characters with only 0-9a-zA-Z-.".into(),
            });
        }
        Ok(Self(Arc::from(s)))
    }

    /// Parses a comma-separated cluster filter; empty means "all clusters".
    pub fn parse_list(raw: Option<&str>) -> Result<Vec<ClusterName>, ValidationError> {
        let mut out = Vec::new();
        for part in raw.unwrap_or("").split(',') {
            let part = part.trim();
            if !part.is_empty() {
                out.push(Self::parse(Some(part))?);
            }
        }
        Ok(out)
    }
}

impl DataId {
    /// Parses a data id.
    pub fn parse(raw: Option<&str>) -> Result<Self, ValidationError> {
        let s = raw
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ValidationError::Missing { field: "dataId" })?;
        check_len("dataId", s, MAX_DATA_ID_LEN)?;
        config_chars("dataId", s)?;
        Ok(Self(Arc::from(s)))
    }
}

impl ConfigGroup {
    /// The default group.
    pub fn default_group() -> Self {
        Self(Arc::from(DEFAULT_GROUP))
    }

    /// Parses a config group, which is required on the wire.
    pub fn parse(raw: Option<&str>) -> Result<Self, ValidationError> {
        let s = raw
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ValidationError::Missing { field: "group" })?;
        check_len("group", s, MAX_GROUP_LEN)?;
        config_chars("group", s)?;
        Ok(Self(Arc::from(s)))
    }
}

impl ConfigTag {
    /// Parses an optional tag; empty means none.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, ValidationError> {
        let s = raw.map(str::trim).unwrap_or("");
        if s.is_empty() {
            return Ok(None);
        }
        check_len("tag", s, MAX_TAG_LEN)?;
        config_chars("tag", s)?;
        Ok(Some(Self(Arc::from(s))))
    }
}

/// Identity of a service: namespace, group and plain name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
pub struct ServiceKey {
    /// Namespace the service lives in.
    pub namespace: NamespaceId,
    /// Group of the service.
    pub group: GroupName,
    /// Plain service name.
    pub service: ServiceName,
}

impl ServiceKey {
    /// Builds a key.
    pub fn new(namespace: NamespaceId, group: GroupName, service: ServiceName) -> Self {
        Self {
            namespace,
            group,
            service,
        }
    }

    /// `group@@service`, as HTTP v1 and instance ids spell it.
    pub fn grouped_name(&self) -> String {
        format!("{}{}{}", self.group, GROUP_SEPARATOR, self.service)
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@@{}", self.namespace, self.group, self.service)
    }
}

/// Identity of a config: namespace (tenant), group and data id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
pub struct ConfigKey {
    /// Namespace (config calls it tenant).
    pub namespace: NamespaceId,
    /// Config group.
    pub group: ConfigGroup,
    /// Data id.
    pub data_id: DataId,
}

impl ConfigKey {
    /// Builds a key.
    pub fn new(namespace: NamespaceId, group: ConfigGroup, data_id: DataId) -> Self {
        Self {
            namespace,
            group,
            data_id,
        }
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.group, self.data_id)
    }
}

/// Validates an instance ip or host name.
pub fn parse_ip(raw: Option<&str>) -> Result<Arc<str>, ValidationError> {
    let s = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(ValidationError::Missing { field: "ip" })?;
    check_len("ip", s, MAX_IP_LEN)?;
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '_' | '%' | '[' | ']'))
    {
        return Err(ValidationError::InvalidChars {
            field: "ip",
            allowed: "an IPv4/IPv6 address or a host name",
        });
    }
    Ok(Arc::from(s))
}

/// Parses a port: an integer in 0..=65535.
pub fn parse_port(raw: Option<&str>) -> Result<u16, ValidationError> {
    let s = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(ValidationError::Missing { field: "port" })?;
    let n: i64 = s.parse().map_err(|_| ValidationError::Invalid {
        field: "port",
        reason: format!("'{s}' is not a number"),
    })?;
    u16::try_from(n).map_err(|_| ValidationError::Invalid {
        field: "port",
        reason: format!("{n} is out of range 0-65535"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_namespace_spellings() {
        for raw in [None, Some(""), Some("public"), Some(" null ")] {
            assert!(NamespaceId::parse(raw).unwrap().is_public());
        }
        let ns = NamespaceId::parse(Some("dev-1_a")).unwrap();
        assert_eq!(ns.as_str(), "dev-1_a");
        assert!(NamespaceId::parse(Some("a/b")).is_err());
        assert!(NamespaceId::parse(Some(&"x".repeat(129))).is_err());
        assert_eq!(NamespaceId::public().as_tenant(), "");
    }

    #[test]
    fn grouped_service_names() {
        let (g, s) = parse_grouped_service(Some("G@@svc"), None).unwrap();
        assert_eq!((g.as_str(), s.as_str()), ("G", "svc"));
        let (g, s) = parse_grouped_service(Some(" svc "), Some("G2")).unwrap();
        assert_eq!((g.as_str(), s.as_str()), ("G2", "svc"));
        let (g, _) = parse_grouped_service(Some("svc"), None).unwrap();
        assert_eq!(g.as_str(), DEFAULT_GROUP);
        assert!(parse_grouped_service(Some("@@svc"), None).is_err());
        assert!(parse_grouped_service(Some("g@@"), None).is_err());
        assert!(parse_grouped_service(Some("a@@b@@c"), None).is_err());
        let (g, s) = parse_grouped_service(Some("a@@@b"), None).unwrap();
        assert_eq!((g.as_str(), s.as_str()), ("a", "@b"));
        let (g, s) = parse_grouped_service(Some("组@@服务"), None).unwrap();
        assert_eq!((g.as_str(), s.as_str()), ("组", "服务"));
        assert!(parse_grouped_service(Some("svc"), Some("g@@h")).is_err());
        assert!(parse_grouped_service(None, None).is_err());
        assert!(parse_grouped_service(Some("  "), None).is_err());
    }

    #[test]
    fn cluster_rules() {
        assert_eq!(ClusterName::parse(None).unwrap().as_str(), "DEFAULT");
        assert!(ClusterName::parse(Some("a_b")).is_err());
        assert_eq!(ClusterName::parse_list(Some("A, B,,")).unwrap().len(), 2);
    }

    #[test]
    fn config_names() {
        assert!(DataId::parse(Some("app.yaml")).is_ok());
        assert!(DataId::parse(Some("中文-id:1")).is_ok());
        assert!(DataId::parse(Some("a b")).is_err());
        assert!(DataId::parse(Some("")).is_err());
        assert!(ConfigGroup::parse(None).is_err());
        assert!(ConfigTag::parse(Some(&"t".repeat(17))).is_err());
        assert!(ConfigTag::parse(Some("")).unwrap().is_none());
        // Lengths count characters, not bytes.
        assert!(DataId::parse(Some(&"中".repeat(MAX_DATA_ID_LEN))).is_ok());
        assert!(DataId::parse(Some(&"中".repeat(MAX_DATA_ID_LEN + 1))).is_err());
        assert!(DataId::parse(Some(&"a".repeat(MAX_DATA_ID_LEN + 1))).is_err());
        assert!(DataId::parse(Some("a\u{0}b")).is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port(Some("8080")).unwrap(), 8080);
        assert!(parse_port(Some("-1")).is_err());
        assert!(parse_port(Some("65536")).is_err());
        assert!(parse_port(Some("abc")).is_err());
        assert!(parse_port(None).is_err());
    }
}
