//! Turning HTTP parameters into validated domain values, shared by the v1
//! and v2 handlers. v2 spells a few parameters differently; callers pass
//! the spelling they use.

use std::sync::Arc;

use nocas_core::config::ConfigMeta;
use nocas_core::config::item::normalize_type;
use nocas_core::error::ValidationError;
use nocas_core::names::{
    ClusterName, ConfigGroup, ConfigKey, ConfigTag, DataId, NamespaceId, ServiceKey,
    parse_grouped_service, parse_ip, parse_port,
};
use nocas_core::naming::instance::check_weight;
use nocas_core::naming::metadata::{from_json_value, parse_metadata};
use nocas_core::naming::{Instance, InstanceKey, InstancePatch, MetadataLimits};

use crate::http::params::Params;
use crate::ops::naming::BeatInfo;

/// `namespaceId` + `serviceName` (maybe `group@@name`) + `groupName`.
pub fn service_key(p: &Params) -> Result<ServiceKey, ValidationError> {
    let ns = NamespaceId::parse(p.get("namespaceId"))?;
    let (g, s) = parse_grouped_service(p.raw("serviceName"), p.get("groupName"))?;
    Ok(ServiceKey::new(ns, g, s))
}

/// `clusterName` (or the legacy `cluster`).
pub fn cluster(p: &Params) -> Result<ClusterName, ValidationError> {
    ClusterName::parse(p.get_any(&["clusterName", "cluster"]))
}

/// `ip` + `port` + cluster.
pub fn instance_key(p: &Params) -> Result<InstanceKey, ValidationError> {
    Ok(InstanceKey {
        ip: parse_ip(p.get("ip"))?,
        port: parse_port(p.raw("port"))?,
        cluster: cluster(p)?,
    })
}

/// A full instance from register/update parameters.
pub fn instance(p: &Params, limits: &MetadataLimits) -> Result<Instance, ValidationError> {
    let key = instance_key(p)?;
    let weight = check_weight(p.f64_opt("weight")?.unwrap_or(1.0))?;
    let enabled = match p.bool_opt("enabled")? {
        Some(e) => e,
        None => p.bool_or("enable", true)?,
    };
    let metadata = parse_metadata("metadata", p.raw("metadata"), limits)?;
    Ok(Instance {
        ip: key.ip,
        port: key.port,
        cluster: key.cluster,
        weight,
        healthy: p.bool_or("healthy", true)?,
        enabled,
        ephemeral: p.bool_or("ephemeral", true)?,
        metadata: Arc::new(metadata),
    })
}

/// The fields a PATCH gives.
pub fn patch(p: &Params, limits: &MetadataLimits) -> Result<InstancePatch, ValidationError> {
    let metadata = match p.get("metadata") {
        Some(raw) => Some(Arc::new(parse_metadata("metadata", Some(raw), limits)?)),
        None => None,
    };
    Ok(InstancePatch {
        weight: p.f64_opt("weight")?.map(check_weight).transpose()?,
        enabled: p.bool_opt("enabled")?,
        healthy: None,
        metadata,
    })
}

/// The `beat` JSON (Nacos `RsInfo`/`BeatInfo`), if sent. Its ip, port and
/// cluster win over the query's; returns the instance key to beat and what
/// to re-create if the instance is unknown.
pub fn beat(
    p: &Params,
    limits: &MetadataLimits,
) -> Result<(InstanceKey, Option<BeatInfo>), ValidationError> {
    let Some(raw) = p.get("beat") else {
        return Ok((instance_key(p)?, None));
    };
    let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| ValidationError::Invalid {
        field: "beat",
        reason: format!("is not valid JSON: {e}"),
    })?;
    if !v.is_object() {
        return Err(ValidationError::Invalid {
            field: "beat",
            reason: "must be a JSON object".into(),
        });
    }
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let ip = parse_ip(s("ip").as_deref().or(p.get("ip")))?;
    let port_str = match v.get("port") {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        _ => p.raw("port").map(str::to_owned),
    };
    let port = parse_port(port_str.as_deref())?;
    let cluster = ClusterName::parse(
        s("cluster")
            .as_deref()
            .or(p.get_any(&["clusterName", "cluster"])),
    )?;
    let weight = match v.get("weight").and_then(|w| w.as_f64()) {
        Some(w) => check_weight(w)?,
        None => 1.0,
    };
    let metadata = match v.get("metadata") {
        Some(m) => from_json_value("metadata", m)?,
        None => Default::default(),
    };
    limits.check("metadata", &metadata)?;
    let key = InstanceKey {
        ip: ip.clone(),
        port,
        cluster: cluster.clone(),
    };
    let instance = Instance {
        ip,
        port,
        cluster,
        weight,
        healthy: true,
        enabled: true,
        ephemeral: true,
        metadata: Arc::new(metadata),
    };
    Ok((key, Some(BeatInfo { instance })))
}

/// Config key from `dataId`, `group` and the tenant parameter (`tenant` in
/// v1, `namespaceId` in v2). Also returns the tenant as the client spelled it.
pub fn config_key(p: &Params, tenant_param: &str) -> Result<ConfigKey, ValidationError> {
    let ns = NamespaceId::parse(p.get(tenant_param))?;
    Ok(ConfigKey::new(
        ns,
        ConfigGroup::parse(p.get("group"))?,
        DataId::parse(p.get("dataId"))?,
    ))
}

/// The optional `tag`.
pub fn tag(p: &Params) -> Result<Option<ConfigTag>, ValidationError> {
    ConfigTag::parse(p.get("tag"))
}

/// Descriptive fields of a publish. `src_user_param` is `src_user` (v1) or
/// `srcUser` (v2).
pub fn config_meta(p: &Params) -> ConfigMeta {
    let s = |names: &[&str]| p.get_any(names).unwrap_or("").to_string();
    ConfigMeta {
        config_type: normalize_type(p.get("type")),
        desc: s(&["desc"]),
        app_name: s(&["appName"]),
        config_tags: s(&["config_tags", "configTags"]),
        usage: s(&["use"]),
        effect: s(&["effect"]),
        schema: s(&["schema"]),
        encrypted_data_key: s(&["encryptedDataKey"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_params() {
        let l = MetadataLimits::default();
        let p = Params::from_pairs([
            ("ip", "10.0.0.1"),
            ("port", "8080"),
            ("weight", "2"),
            ("enable", "false"),
            ("metadata", r#"{"v":"1"}"#),
            ("cluster", "C1"),
        ]);
        let i = instance(&p, &l).unwrap();
        assert_eq!(i.port, 8080);
        assert!(!i.enabled);
        assert_eq!(i.cluster.as_str(), "C1");
        assert_eq!(i.metadata["v"], "1");
        for (k, v) in [
            ("port", "x"),
            ("port", "70000"),
            ("weight", "10001"),
            ("metadata", "[1]"),
            ("healthy", "perhaps"),
        ] {
            let mut pairs = vec![("ip", "1.1.1.1"), ("port", "1")];
            pairs.retain(|(pk, _)| *pk != k);
            pairs.push((k, v));
            assert!(instance(&Params::from_pairs(pairs), &l).is_err(), "{k}={v}");
        }
    }

    #[test]
    fn beat_json() {
        let l = MetadataLimits::default();
        let p = Params::from_pairs([(
            "beat",
            r#"{"ip":"1.2.3.4","port":81,"cluster":"C","weight":2.0,"metadata":{"a":"b"},"serviceName":"G@@s"}"#,
        )]);
        let (k, info) = beat(&p, &l).unwrap();
        assert_eq!((&*k.ip, k.port, k.cluster.as_str()), ("1.2.3.4", 81, "C"));
        assert_eq!(info.unwrap().instance.metadata["a"], "b");
        let p = Params::from_pairs([("ip", "1.2.3.4"), ("port", "81")]);
        let (_, info) = beat(&p, &l).unwrap();
        assert!(info.is_none());
        assert!(beat(&Params::from_pairs([("beat", "{")]), &l).is_err());
    }
}
