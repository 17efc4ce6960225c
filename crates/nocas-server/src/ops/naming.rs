//! Naming operations: instances, beats, services, clusters.

use std::collections::BTreeMap;
use std::sync::Arc;

use nocas_core::command::{Command, Outcome};
use nocas_core::error::{CommandError, ValidationError};
use nocas_core::names::{ClusterName, GroupName, NamespaceId, ServiceKey};
use nocas_core::naming::instance::{
    META_BEAT_INTERVAL, META_BEAT_TIMEOUT, META_DELETE_TIMEOUT, META_ID_GENERATOR,
};
use nocas_core::naming::select::SelectOptions;
use nocas_core::naming::soft::{BeatAck, Owner};
use nocas_core::naming::view;
use nocas_core::naming::{
    BeatTimings, ClusterRecord, HealthChecker, Instance, InstanceKey, InstanceOverride, Metadata,
    Selector, ServiceRecord,
};
use nocas_proto::http::{
    BeatJson, ClusterJson, InstanceDetailJson, InstanceJson, ServiceDetailV1, ServiceDetailV2,
    ServiceInfoJson,
};

use crate::app::{App, now_ms};
use crate::error::ApiError;

/// Beat answer code: OK.
pub const BEAT_OK: i32 = 10200;
/// Beat answer code: unknown instance, register again.
pub const BEAT_NOT_FOUND: i32 = 20404;

fn mismatch(key: &ServiceKey, service_kind: &str, instance_kind: &str) -> ApiError {
    ApiError::Command(CommandError::EphemeralMismatch(format!(
        "Current service {} is {service_kind} service, can't register {instance_kind} instance.",
        key.grouped_name()
    )))
}

/// Registers (or replaces) an instance. Ephemeral instances go to the soft
/// registry under `owner`; persistent ones through the log.
pub async fn register(
    app: &App,
    key: &ServiceKey,
    instance: Instance,
    owner: Owner,
) -> Result<(), ApiError> {
    let max = app.settings.limits.max_instances_per_service;
    if instance.ephemeral {
        let timings = BeatTimings::for_metadata(&instance.metadata, app.beat_defaults())?;
        if app.soft.service_len(key) >= max && app.soft.get(key, &instance.key()).is_none() {
            return Err(too_many_instances(key, max));
        }
        let has_persistent = app
            .node
            .state()
            .read()
            .instances(key)
            .is_some_and(|m| !m.is_empty());
        if has_persistent {
            return Err(mismatch(key, "persistent", "ephemeral"));
        }
        let change = app.soft.register(key, instance, owner, timings, now_ms());
        app.soft_change(key, change);
        Ok(())
    } else {
        if app.soft.service_len(key) > 0 {
            return Err(mismatch(key, "ephemeral", "persistent"));
        }
        let full = app
            .node
            .state()
            .read()
            .instances(key)
            .is_some_and(|m| m.len() >= max && !m.contains_key(&instance.key()));
        if full {
            return Err(too_many_instances(key, max));
        }
        app.write(Command::RegisterInstance {
            key: key.clone(),
            instance,
        })
        .await?;
        Ok(())
    }
}

/// The error when a service is full (`limits.max_instances_per_service`).
pub fn too_many_instances(key: &ServiceKey, max: usize) -> ApiError {
    ApiError::BadRequest(format!(
        "service {} already holds the maximum of {max} instances",
        key.grouped_name()
    ))
}

/// Removes an instance, looking first where `ephemeral` says and then in the
/// other store (SDKs often omit the flag). Removing nothing is fine.
pub async fn deregister(
    app: &App,
    key: &ServiceKey,
    ikey: &InstanceKey,
    ephemeral: bool,
) -> Result<(), ApiError> {
    let in_durable = || {
        app.node
            .state()
            .read()
            .instances(key)
            .is_some_and(|m| m.contains_key(ikey))
    };
    if (ephemeral || !in_durable()) && app.soft.deregister(key, ikey, now_ms()) {
        app.soft_changed(std::slice::from_ref(key));
        return Ok(());
    }
    if in_durable() {
        app.write(Command::DeregisterInstance {
            key: key.clone(),
            instance: ikey.clone(),
        })
        .await?;
    }
    Ok(())
}

/// Changes what an operator laid over an existing instance (weight,
/// enabled, metadata put over the registered map), as Nacos keeps it:
/// apart from the registration, so it outlives the client registering
/// again. `edit` gets the current override (empty if none).
pub async fn edit_override(
    app: &App,
    key: &ServiceKey,
    ikey: &InstanceKey,
    edit: impl FnOnce(&mut InstanceOverride),
) -> Result<(), ApiError> {
    let not_found = || {
        ApiError::Command(CommandError::InstanceNotFound(format!(
            "{ikey} in service {}",
            key.grouped_name()
        )))
    };
    let (mut shown, mut value) = {
        let state = app.node.state().read();
        let registered = match app.soft.get(key, ikey) {
            Some(si) => si.instance,
            None => state
                .instances(key)
                .and_then(|m| m.get(ikey))
                .cloned()
                .ok_or_else(not_found)?,
        };
        let value = state
            .overrides(key)
            .and_then(|m| m.get(ikey))
            .cloned()
            .unwrap_or_default();
        (registered, value)
    };
    edit(&mut value);
    value.apply(&mut shown);
    app.metadata_limits().check("metadata", &shown.metadata)?;
    app.write(Command::SetOverride {
        key: key.clone(),
        instance: ikey.clone(),
        value: Some(value),
    })
    .await?;
    Ok(())
}

/// Finds one instance, as clients see it.
pub fn find(app: &App, key: &ServiceKey, ikey: &InstanceKey) -> Option<Instance> {
    view::instance(&app.node.state().read(), &app.soft, key, ikey)
}

/// What the `beat` parameter carries (Nacos `RsInfo`).
#[derive(Debug, Clone)]
pub struct BeatInfo {
    /// Instance to re-create if unknown.
    pub instance: Instance,
}

/// Handles an HTTP beat.
pub async fn beat(
    app: &App,
    key: &ServiceKey,
    ikey: &InstanceKey,
    info: Option<BeatInfo>,
) -> Result<BeatJson, ApiError> {
    let light = app.settings.naming.light_beat_enabled;
    let owner = app.soft.get(key, ikey).map(|si| si.owner);
    let ack = match owner {
        // Another node owns it and runs its timeline: the beat goes there,
        // unless that node is gone or cannot be asked; then the instance
        // is taken over here (the hand-over of an HTTP client).
        Some(Owner::Peer(peer)) => {
            let asked = if app.node.owner_gone(peer) {
                None
            } else {
                app.node.forward_beat(peer.node, key, ikey).await.ok()
            };
            match asked {
                Some(Some(ack)) => Some(ack),
                _ => adopt(app, key, ikey)?,
            }
        }
        Some(_) => {
            let ack = app.soft.beat(key, ikey, now_ms());
            if ack.is_some_and(|a| a.recovered) {
                app.soft_changed(std::slice::from_ref(key));
            }
            ack
        }
        None => None,
    };
    if let Some(ack) = ack {
        return Ok(BeatJson {
            client_beat_interval: ack.interval_ms,
            code: BEAT_OK,
            light_beat_enabled: light,
        });
    }
    match info {
        Some(info) => {
            let interval = BeatTimings::for_metadata(&info.instance.metadata, app.beat_defaults())?
                .interval_ms;
            register(app, key, info.instance, Owner::Beat).await?;
            Ok(BeatJson {
                client_beat_interval: interval,
                code: BEAT_OK,
                light_beat_enabled: light,
            })
        }
        None => Ok(BeatJson {
            client_beat_interval: app.settings.naming.beat_interval_ms as i64,
            code: BEAT_NOT_FOUND,
            light_beat_enabled: light,
        }),
    }
}

/// Takes over an instance held for a gone node, for an HTTP client that
/// beats here; `None` if it is not held here.
fn adopt(app: &App, key: &ServiceKey, ikey: &InstanceKey) -> Result<Option<BeatAck>, ApiError> {
    let Some(si) = app.soft.get(key, ikey) else {
        return Ok(None);
    };
    let timings = BeatTimings::for_metadata(&si.instance.metadata, app.beat_defaults())?;
    let Some(change) = app.soft.adopt(key, ikey, Owner::Beat, timings, now_ms()) else {
        return Ok(None);
    };
    tracing::debug!(service = %key.grouped_name(), instance = %ikey, "beat took over an instance of a gone node");
    app.soft_change(key, change);
    Ok(Some(BeatAck {
        interval_ms: timings.interval_ms,
        recovered: false,
    }))
}

/// Sets a persistent instance's health by hand (clusters without an active
/// checker only). Unknown instances are ignored, as in Nacos.
pub async fn set_health(
    app: &App,
    key: &ServiceKey,
    ikey: &InstanceKey,
    healthy: bool,
) -> Result<(), ApiError> {
    let exists = app
        .node
        .state()
        .read()
        .instances(key)
        .is_some_and(|m| m.contains_key(ikey));
    if !exists {
        return Ok(());
    }
    match app
        .write(Command::SetInstanceHealth {
            key: key.clone(),
            instance: ikey.clone(),
            healthy,
            from_probe: false,
        })
        .await
    {
        Err(ApiError::Command(CommandError::NotAllowed(_))) => {
            Err(ApiError::Command(CommandError::NotAllowed(format!(
                "health check is still working, service: {}, cluster: {}",
                key.grouped_name(),
                ikey.cluster
            ))))
        }
        other => other.map(|_| ()),
    }
}

fn derived(md: &Metadata, key: &'static str, default: i64) -> i64 {
    md.get(key)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// The JSON of one instance.
pub fn instance_json(app: &App, key: &ServiceKey, grouped: &str, inst: &Instance) -> InstanceJson {
    let d = app.beat_defaults();
    let md = &inst.metadata;
    InstanceJson {
        instance_id: inst.instance_id(key),
        ip: inst.ip.to_string(),
        port: inst.port,
        weight: inst.weight,
        healthy: inst.healthy,
        enabled: inst.enabled,
        ephemeral: inst.ephemeral,
        cluster_name: inst.cluster.to_string(),
        service_name: grouped.to_string(),
        metadata: (**md).clone(),
        instance_heart_beat_interval: derived(md, META_BEAT_INTERVAL, d.interval_ms),
        instance_heart_beat_time_out: derived(md, META_BEAT_TIMEOUT, d.timeout_ms),
        ip_delete_timeout: derived(md, META_DELETE_TIMEOUT, d.delete_ms),
        instance_id_generator: md
            .get(META_ID_GENERATOR)
            .cloned()
            .unwrap_or_else(|| "simple".into()),
    }
}

/// The instance detail of v1/v2 `GET /instance`.
pub fn instance_detail(key: &ServiceKey, inst: &Instance) -> InstanceDetailJson {
    InstanceDetailJson {
        service: key.grouped_name(),
        ip: inst.ip.to_string(),
        port: inst.port,
        cluster_name: inst.cluster.to_string(),
        weight: inst.weight,
        healthy: inst.healthy,
        enabled: inst.enabled,
        ephemeral: inst.ephemeral,
        instance_id: inst.instance_id(key),
        metadata: (*inst.metadata).clone(),
    }
}

/// How a service view is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewName {
    /// `group@@service` (HTTP).
    Grouped,
    /// Plain service name (gRPC).
    Plain,
}

/// Builds the service view a reader gets.
pub fn service_view(
    app: &App,
    key: &ServiceKey,
    clusters_raw: &str,
    clusters: &[ClusterName],
    healthy_only: bool,
    naming: ViewName,
) -> ServiceInfoJson {
    let grouped = key.grouped_name();
    let selected = {
        let state = app.node.state().read();
        view::select_instances(
            &state,
            &app.soft,
            key,
            SelectOptions {
                clusters,
                healthy_only,
                enabled_only: true,
            },
        )
    };
    let mut hosts: Vec<InstanceJson> = selected
        .hosts
        .iter()
        .map(|i| instance_json(app, key, &grouped, i))
        .collect();
    hosts.sort_by(|a, b| (&a.cluster_name, &a.ip, a.port).cmp(&(&b.cluster_name, &b.ip, b.port)));
    ServiceInfoJson {
        name: match naming {
            ViewName::Grouped => grouped,
            ViewName::Plain => key.service.to_string(),
        },
        group_name: key.group.to_string(),
        clusters: clusters_raw.to_string(),
        cache_millis: app.settings.naming.cache_millis as i64,
        hosts,
        last_ref_time: crate::app::monotonic_ms(),
        checksum: String::new(),
        all_ips: false,
        all_ips_v3: false,
        reach_protection_threshold: selected.reach_protection_threshold,
        valid: true,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ViewKey {
    key: ServiceKey,
    clusters: String,
    healthy_only: bool,
    naming: ViewName,
}

/// Service views serialized once per change and shared by every reader
/// and subscriber until the service changes again.
#[derive(Default)]
pub struct ViewCache {
    map: crate::push::KeyMap<ViewKey, ((u64, u64), Arc<serde_json::value::RawValue>)>,
}

/// Most views kept; beyond it the cache starts over.
const MAX_CACHED_VIEWS: usize = 100_000;

/// The serialized view a reader gets (see [`service_view`]), from the cache
/// when the service has not changed since it was made.
pub fn cached_view(
    app: &App,
    key: &ServiceKey,
    clusters_raw: &str,
    clusters: &[ClusterName],
    healthy_only: bool,
    naming: ViewName,
) -> Result<Arc<serde_json::value::RawValue>, ApiError> {
    let vk = ViewKey {
        key: key.clone(),
        clusters: clusters_raw.to_string(),
        healthy_only,
        naming,
    };
    let rev = app.hub.service_revision(key);
    if let Some(hit) = app.views.map.get(&vk)
        && hit.0 == rev
    {
        return Ok(hit.1.clone());
    }
    let view = service_view(app, key, clusters_raw, clusters, healthy_only, naming);
    let raw: Arc<serde_json::value::RawValue> = serde_json::value::to_raw_value(&view)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .into();
    if app.views.map.len() >= MAX_CACHED_VIEWS {
        app.views.map.clear();
    }
    app.views.map.insert(vk, (rev, raw.clone()));
    Ok(raw)
}

/// Whether the service has live ephemeral instances (decides the kind of
/// a record created for it).
fn soft_kind(app: &App, key: &ServiceKey) -> bool {
    app.soft.service_len(key) > 0
}

/// Creates a service record.
pub async fn create_service(
    app: &App,
    key: &ServiceKey,
    protect_threshold: f64,
    metadata: Metadata,
    selector: Selector,
    ephemeral: Option<bool>,
) -> Result<(), ApiError> {
    let ephemeral = ephemeral.unwrap_or_else(|| soft_kind(app, key));
    app.write(Command::CreateService {
        key: key.clone(),
        protect_threshold,
        metadata,
        selector,
        ephemeral,
    })
    .await?;
    Ok(())
}

/// Updates a service record; a service known only by its ephemeral
/// instances gets a record.
pub async fn update_service(
    app: &App,
    key: &ServiceKey,
    protect_threshold: Option<f64>,
    metadata: Option<Metadata>,
    selector: Option<Selector>,
) -> Result<(), ApiError> {
    let in_soft = soft_kind(app, key);
    app.write(Command::UpdateService {
        key: key.clone(),
        protect_threshold,
        metadata,
        selector,
        upsert: in_soft,
        ephemeral: in_soft,
    })
    .await?;
    Ok(())
}

/// Deletes a service: it must have no instances.
pub async fn delete_service(app: &App, key: &ServiceKey) -> Result<(), ApiError> {
    if soft_kind(app, key) {
        return Err(ApiError::Command(CommandError::ServiceNotEmpty(
            key.grouped_name(),
        )));
    }
    app.write(Command::DeleteService { key: key.clone() })
        .await?;
    Ok(())
}

/// Sets a cluster's health checker and metadata.
pub async fn update_cluster(
    app: &App,
    key: &ServiceKey,
    cluster: ClusterName,
    record: ClusterRecord,
) -> Result<(), ApiError> {
    let in_soft = soft_kind(app, key);
    app.write(Command::UpdateCluster {
        key: key.clone(),
        cluster,
        record,
        upsert: in_soft,
        ephemeral: in_soft,
    })
    .await?;
    Ok(())
}

fn cluster_json(name: &str, rec: Option<&ClusterRecord>) -> ClusterJson {
    let default = ClusterRecord {
        health_checker: HealthChecker::None,
        check_port: 80,
        use_instance_port: true,
        metadata: Metadata::new(),
    };
    let rec = rec.unwrap_or(&default);
    ClusterJson {
        name: name.to_string(),
        health_checker: serde_json::to_value(&rec.health_checker).unwrap_or_default(),
        metadata: rec.metadata.clone(),
        check_port: rec.check_port,
        use_i_p_port4_check: rec.use_instance_port,
    }
}

/// A service's record (or the defaults, for one known only by instances)
/// and its clusters. `None` if the service does not exist.
fn service_parts(
    app: &App,
    key: &ServiceKey,
) -> Option<(ServiceRecord, BTreeMap<String, ClusterJson>)> {
    let state = app.node.state().read();
    if !view::service_exists(&state, &app.soft, key) {
        return None;
    }
    let rec = state
        .service(key)
        .cloned()
        .unwrap_or_else(|| ServiceRecord::new(true, 0));
    let mut clusters = BTreeMap::new();
    for inst in view::all_instances(&state, &app.soft, key) {
        let name = inst.cluster.to_string();
        let cj = cluster_json(&name, rec.clusters.get(&inst.cluster));
        clusters.entry(name).or_insert(cj);
    }
    for (name, c) in &rec.clusters {
        clusters
            .entry(name.to_string())
            .or_insert_with(|| cluster_json(name.as_str(), Some(c)));
    }
    let mut rec = rec;
    if app.soft.service_len(key) > 0 {
        rec.ephemeral = true;
    }
    Some((rec, clusters))
}

fn selector_json(s: &Selector) -> serde_json::Value {
    match s {
        Selector::None => serde_json::json!({"type": "none", "contextType": "NONE"}),
        Selector::Label { expression } => {
            serde_json::json!({"type": "label", "expression": expression, "contextType": "CMDB"})
        }
    }
}

fn service_not_found(key: &ServiceKey) -> ApiError {
    ApiError::Command(CommandError::ServiceNotFound(format!(
        "{} (namespace {})",
        key.grouped_name(),
        key.namespace
    )))
}

/// v1 service detail.
pub fn service_detail_v1(app: &App, key: &ServiceKey) -> Result<ServiceDetailV1, ApiError> {
    let (rec, clusters) = service_parts(app, key).ok_or_else(|| service_not_found(key))?;
    Ok(ServiceDetailV1 {
        namespace_id: key.namespace.to_string(),
        group_name: key.group.to_string(),
        name: key.service.to_string(),
        protect_threshold: rec.protect_threshold,
        metadata: rec.metadata.clone(),
        selector: selector_json(&rec.selector),
        clusters: clusters.into_values().collect(),
    })
}

/// v2 service detail.
pub fn service_detail_v2(app: &App, key: &ServiceKey) -> Result<ServiceDetailV2, ApiError> {
    let (rec, clusters) = service_parts(app, key).ok_or_else(|| service_not_found(key))?;
    Ok(ServiceDetailV2 {
        namespace: key.namespace.to_string(),
        service_name: key.service.to_string(),
        group_name: key.group.to_string(),
        cluster_map: clusters,
        metadata: rec.metadata.clone(),
        protect_threshold: rec.protect_threshold,
        selector: selector_json(&rec.selector),
        ephemeral: rec.ephemeral,
    })
}

/// Service names of a namespace and group, sorted, with the total.
pub fn service_names(app: &App, namespace: &NamespaceId, group: &GroupName) -> Vec<String> {
    let state = app.node.state().read();
    view::service_keys(&state, &app.soft, namespace, Some(group))
        .into_iter()
        .filter(|k| view::service_exists(&state, &app.soft, k))
        .map(|k| k.service.to_string())
        .collect()
}

/// Parses the `healthChecker` JSON of a cluster update.
pub fn parse_checker(raw: Option<&str>) -> Result<HealthChecker, ValidationError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(HealthChecker::None),
        Some(s) => serde_json::from_str(s).map_err(|e| ValidationError::Invalid {
            field: "healthChecker",
            reason: format!("must be {{\"type\":\"NONE|TCP|HTTP\", ...}}: {e}"),
        }),
    }
}

/// An instance with the given fields (ephemeral flag included).
#[allow(clippy::too_many_arguments)]
pub fn new_instance(
    ip: Arc<str>,
    port: u16,
    cluster: ClusterName,
    weight: f64,
    healthy: bool,
    enabled: bool,
    ephemeral: bool,
    metadata: Metadata,
) -> Instance {
    Instance {
        ip,
        port,
        cluster,
        weight,
        healthy,
        enabled,
        ephemeral,
        metadata: Arc::new(metadata),
    }
}

/// Outcome of a removal, for endpoints that report it.
pub fn existed(o: Outcome) -> bool {
    matches!(o, Outcome::Removed { existed: true })
}

/// Number of distinct services (with a record or any instance).
pub fn service_count(app: &App, state: &nocas_core::state::DurableState) -> usize {
    let mut keys: std::collections::HashSet<ServiceKey> =
        state.all_services().keys().cloned().collect();
    keys.extend(state.all_instances().map(|(k, _)| k.clone()));
    let durable = keys.len();
    durable
        + app
            .soft
            .all_service_keys()
            .into_iter()
            .filter(|k| !keys.contains(k))
            .count()
}
