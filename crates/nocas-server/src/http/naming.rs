//! Naming endpoints: `/nacos/v1/ns/*` and `/nacos/v2/ns/*`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use nocas_core::error::ValidationError;
use nocas_core::names::{ClusterName, GroupName, NamespaceId};
use nocas_core::naming::metadata::parse_metadata;
use nocas_core::naming::service::check_threshold;
use nocas_core::naming::soft::Owner;
use nocas_core::naming::view;
use nocas_core::naming::{ClusterRecord, Selector};
use nocas_proto::http::{CatalogJson, CatalogServiceJson, ServiceListV1, ServiceListV2, V2Result};

use crate::app::AppRef;
use crate::error::{ApiError, V1, V1Result, V2, V2Reply};
use crate::http::params::{Paging, Params};
use crate::http::parse;
use crate::ops::naming::{self as ops, ViewName};

fn ok_text() -> Response {
    "ok".into_response()
}

fn v2_ok<T: serde::Serialize>(data: T) -> Json<V2Result<T>> {
    Json(V2Result::ok(data))
}

// ----- instances --------------------------------------------------------

pub(crate) async fn do_register(app: &AppRef, p: &Params) -> Result<(), ApiError> {
    let key = parse::service_key(p)?;
    let inst = parse::instance(p, &app.metadata_limits())?;
    ops::register(app, &key, inst, Owner::Beat).await
}

pub(crate) async fn do_deregister(app: &AppRef, p: &Params) -> Result<(), ApiError> {
    let key = parse::service_key(p)?;
    let ikey = parse::instance_key(p)?;
    let ephemeral = p.bool_or("ephemeral", true)?;
    ops::deregister(app, &key, &ikey, ephemeral).await
}

/// PUT: replaces what an operator set on the instance (Nacos's instance
/// metadata): weight, enabled and a metadata map shown over the registered
/// one key by key. It outlives the client registering again. Health is
/// left alone.
pub(crate) async fn do_update(app: &AppRef, p: &Params) -> Result<(), ApiError> {
    let key = parse::service_key(p)?;
    let inst = parse::instance(p, &app.metadata_limits())?;
    ops::edit_override(app, &key, &inst.key(), |o| {
        o.weight = Some(inst.weight);
        o.enabled = Some(inst.enabled);
        o.metadata = (*inst.metadata).clone();
    })
    .await
}

/// PATCH and v3 `PUT .../partial`: changes only what is given; a metadata
/// map given replaces the operator's map (registered keys stay shown).
pub(crate) async fn do_patch(app: &AppRef, p: &Params) -> Result<(), ApiError> {
    let key = parse::service_key(p)?;
    let ikey = parse::instance_key(p)?;
    let patch = parse::patch(p, &app.metadata_limits())?;
    ops::edit_override(app, &key, &ikey, |o| {
        if let Some(w) = patch.weight {
            o.weight = Some(w);
        }
        if let Some(e) = patch.enabled {
            o.enabled = Some(e);
        }
        if let Some(md) = &patch.metadata {
            o.metadata = (**md).clone();
        }
    })
    .await
}

pub(crate) fn do_detail(
    app: &AppRef,
    p: &Params,
) -> Result<nocas_proto::http::InstanceDetailJson, ApiError> {
    let key = parse::service_key(p)?;
    let ikey = parse::instance_key(p)?;
    let inst = ops::find(app, &key, &ikey).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no matched ip found! {ikey} in service {}",
            key.grouped_name()
        ))
    })?;
    if p.bool_or("healthyOnly", false)? && !inst.healthy {
        return Err(ApiError::NotFound(format!("no healthy ip found! {ikey}")));
    }
    Ok(ops::instance_detail(&key, &inst))
}

fn do_list(
    app: &AppRef,
    p: &Params,
    cluster_param: &str,
) -> Result<std::sync::Arc<serde_json::value::RawValue>, ApiError> {
    let key = parse::service_key(p)?;
    let raw = p.get(cluster_param).unwrap_or("");
    let clusters = ClusterName::parse_list(Some(raw))?;
    let healthy_only = p.bool_or("healthyOnly", false)?;
    let view = ops::cached_view(app, &key, raw, &clusters, healthy_only, ViewName::Grouped)?;
    if let Some(to) = udp_target(app, p)?
        && let Some(udp) = &app.udp
    {
        udp.listed(app, &key, raw, healthy_only, to);
    }
    Ok(view)
}

/// Where a listing client wants UDP pushes: its `udpPort` at the TCP
/// peer's IP (or at its `clientIP`, when the settings trust it).
fn udp_target(app: &AppRef, p: &Params) -> Result<Option<std::net::SocketAddr>, ApiError> {
    let port = match p.get("udpPort").map(str::trim) {
        None | Some("") => return Ok(None),
        Some(v) => {
            let n = v.parse::<i64>().map_err(|_| ValidationError::Invalid {
                field: "udpPort",
                reason: format!("not a number: {v}"),
            })?;
            // 0 or less: the client takes no pushes.
            if n <= 0 {
                return Ok(None);
            }
            u16::try_from(n).map_err(|_| ValidationError::Invalid {
                field: "udpPort",
                reason: format!("not a port: {v}"),
            })?
        }
    };
    let named = if app.settings.naming.udp_push_trust_client_ip {
        p.get("clientIP").and_then(|ip| ip.trim().parse().ok())
    } else {
        None
    };
    Ok(named
        .or(p.peer)
        .map(|ip| std::net::SocketAddr::new(ip, port)))
}

pub(crate) async fn do_beat(
    app: &AppRef,
    p: &Params,
) -> Result<nocas_proto::http::BeatJson, ApiError> {
    let key = parse::service_key(p)?;
    let (ikey, info) = parse::beat(p, &app.metadata_limits())?;
    ops::beat(app, &key, &ikey, info).await
}

pub(crate) async fn do_health(app: &AppRef, p: &Params) -> Result<(), ApiError> {
    let key = parse::service_key(p)?;
    let ikey = parse::instance_key(p)?;
    let healthy = match p.bool_opt("healthy")? {
        Some(h) => h,
        None => p
            .bool_opt("valid")?
            .ok_or(ValidationError::Missing { field: "healthy" })?,
    };
    ops::set_health(app, &key, &ikey, healthy).await
}

/// `POST /v1/ns/instance`.
pub async fn v1_register(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    do_register(&app, &p).await.map_err(V1)?;
    Ok(ok_text())
}

/// `DELETE /v1/ns/instance`.
pub async fn v1_deregister(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    do_deregister(&app, &p).await.map_err(V1)?;
    Ok(ok_text())
}

/// `PUT /v1/ns/instance`.
pub async fn v1_update(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    do_update(&app, &p).await.map_err(V1)?;
    Ok(ok_text())
}

/// `PATCH /v1/ns/instance`.
pub async fn v1_patch(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    do_patch(&app, &p).await.map_err(V1)?;
    Ok(ok_text())
}

/// `GET /v1/ns/instance`.
pub async fn v1_detail(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(Json(do_detail(&app, &p).map_err(V1)?).into_response())
}

/// `GET /v1/ns/instance/list`.
pub async fn v1_list(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let view = do_list(&app, &p, "clusters").map_err(V1)?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        super::shared_json(view),
    )
        .into_response())
}

/// `PUT /v1/ns/instance/beat`.
pub async fn v1_beat(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(Json(do_beat(&app, &p).await.map_err(V1)?).into_response())
}

/// `PUT /v1/ns/health/instance`.
pub async fn v1_health(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    do_health(&app, &p).await.map_err(V1)?;
    Ok(ok_text())
}

/// `POST /v2/ns/instance`.
pub async fn v2_register(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<&'static str>>> {
    do_register(&app, &p).await.map_err(V2)?;
    Ok(v2_ok("ok"))
}

/// `DELETE /v2/ns/instance`.
pub async fn v2_deregister(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<&'static str>>> {
    do_deregister(&app, &p).await.map_err(V2)?;
    Ok(v2_ok("ok"))
}

/// `PUT /v2/ns/instance`.
pub async fn v2_update(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<&'static str>>> {
    do_update(&app, &p).await.map_err(V2)?;
    Ok(v2_ok("ok"))
}

/// `PATCH /v2/ns/instance`.
pub async fn v2_patch(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<&'static str>>> {
    do_patch(&app, &p).await.map_err(V2)?;
    Ok(v2_ok("ok"))
}

/// `GET /v2/ns/instance`.
pub async fn v2_detail(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let d = do_detail(&app, &p).map_err(V2)?;
    let mut v = serde_json::to_value(&d).map_err(|e| V2(ApiError::Internal(e.to_string())))?;
    if let Some(obj) = v.as_object_mut()
        && let Some(s) = obj.remove("service")
    {
        obj.insert("serviceName".into(), s);
    }
    Ok(v2_ok(v).into_response())
}

/// `GET /v2/ns/instance/list`.
pub async fn v2_list(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let cluster_param = if p.get("clusters").is_some() {
        "clusters"
    } else {
        "clusterName"
    };
    Ok(v2_ok(do_list(&app, &p, cluster_param).map_err(V2)?).into_response())
}

/// `PUT /v2/ns/instance/beat`.
pub async fn v2_beat(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(v2_ok(do_beat(&app, &p).await.map_err(V2)?).into_response())
}

/// `PUT /v2/ns/health/instance`.
pub async fn v2_health(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<&'static str>>> {
    do_health(&app, &p).await.map_err(V2)?;
    Ok(v2_ok("ok"))
}

// ----- services ---------------------------------------------------------

/// The optional fields of a service create or update.
struct ServiceFields {
    threshold: Option<f64>,
    metadata: Option<nocas_core::naming::Metadata>,
    selector: Option<Selector>,
}

fn service_fields(app: &AppRef, p: &Params) -> Result<ServiceFields, ApiError> {
    let threshold = p
        .f64_opt("protectThreshold")?
        .map(check_threshold)
        .transpose()?;
    let metadata = match p.raw("metadata") {
        Some(raw) => Some(parse_metadata(
            "metadata",
            Some(raw),
            &app.metadata_limits(),
        )?),
        None => None,
    };
    let selector = match p.get("selector") {
        Some(raw) => Some(Selector::parse(Some(raw))?),
        None => None,
    };
    Ok(ServiceFields {
        threshold,
        metadata,
        selector,
    })
}

pub(crate) async fn do_create_service(app: &AppRef, p: &Params) -> Result<(), ApiError> {
    let key = parse::service_key(p)?;
    let f = service_fields(app, p)?;
    let ephemeral = p.bool_opt("ephemeral")?;
    ops::create_service(
        app,
        &key,
        f.threshold.unwrap_or(0.0),
        f.metadata.unwrap_or_default(),
        f.selector.unwrap_or_default(),
        ephemeral,
    )
    .await
}

pub(crate) async fn do_update_service(app: &AppRef, p: &Params) -> Result<(), ApiError> {
    let key = parse::service_key(p)?;
    let f = service_fields(app, p)?;
    ops::update_service(app, &key, f.threshold, f.metadata, f.selector).await
}

pub(crate) async fn do_delete_service(app: &AppRef, p: &Params) -> Result<(), ApiError> {
    let key = parse::service_key(p)?;
    ops::delete_service(app, &key).await
}

fn list_names(
    app: &AppRef,
    p: &Params,
    default_size: usize,
) -> Result<(usize, Vec<String>), ApiError> {
    let ns = NamespaceId::parse(p.get("namespaceId"))?;
    let group = GroupName::parse(p.get("groupName"))?;
    let paging = Paging::from_params(p, default_size, app.settings.limits.max_page_size)?;
    let names = ops::service_names(app, &ns, &group);
    let total = names.len();
    Ok((total, paging.slice(names)))
}

/// `POST /v1/ns/service`.
pub async fn v1_create_service(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    do_create_service(&app, &p).await.map_err(V1)?;
    Ok(ok_text())
}

/// `PUT /v1/ns/service`.
pub async fn v1_update_service(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    do_update_service(&app, &p).await.map_err(V1)?;
    Ok(ok_text())
}

/// `DELETE /v1/ns/service`.
pub async fn v1_delete_service(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    do_delete_service(&app, &p).await.map_err(V1)?;
    Ok(ok_text())
}

/// `GET /v1/ns/service`.
pub async fn v1_get_service(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let key = parse::service_key(&p)?;
    Ok(Json(ops::service_detail_v1(&app, &key)?).into_response())
}

/// `GET /v1/ns/service/list`.
pub async fn v1_list_services(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let (count, doms) = list_names(&app, &p, 10).map_err(V1)?;
    Ok(Json(ServiceListV1 { count, doms }).into_response())
}

/// `POST /v2/ns/service`.
pub async fn v2_create_service(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<&'static str>>> {
    do_create_service(&app, &p).await.map_err(V2)?;
    Ok(v2_ok("ok"))
}

/// `PUT /v2/ns/service`.
pub async fn v2_update_service(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<&'static str>>> {
    do_update_service(&app, &p).await.map_err(V2)?;
    Ok(v2_ok("ok"))
}

/// `DELETE /v2/ns/service`.
pub async fn v2_delete_service(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<&'static str>>> {
    do_delete_service(&app, &p).await.map_err(V2)?;
    Ok(v2_ok("ok"))
}

/// `GET /v2/ns/service`.
pub async fn v2_get_service(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = parse::service_key(&p)?;
    Ok(v2_ok(ops::service_detail_v2(&app, &key)?).into_response())
}

/// `GET /v2/ns/service/list`.
pub async fn v2_list_services(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let (count, services) = list_names(&app, &p, 20).map_err(V2)?;
    Ok(v2_ok(ServiceListV2 { count, services }).into_response())
}

/// `PUT /v1/ns/cluster`: a cluster's health checker and metadata.
pub async fn v1_update_cluster(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    do_update_cluster(&app, &p).await.map_err(V1)?;
    Ok(ok_text())
}

/// Sets a cluster's health checker, check port and metadata.
pub(crate) async fn do_update_cluster(app: &AppRef, p: &Params) -> Result<(), ApiError> {
    let key = parse::service_key(p)?;
    let cluster = ClusterName::parse(Some(p.required("clusterName")?))?;
    let checker = ops::parse_checker(p.get("healthChecker"))?;
    let check_port = match p.get("checkPort") {
        Some(v) => nocas_core::names::parse_port(Some(v))?,
        None => 80,
    };
    // Nacos 3's cluster model spells it `useIpPort4Check`.
    let use_instance_port = match p.get_any(&["useInstancePort4Check", "useIpPort4Check"]) {
        Some(v) => crate::http::params::parse_bool("useInstancePort4Check", v)?,
        None => true,
    };
    let metadata = parse_metadata("metadata", p.raw("metadata"), &app.metadata_limits())?;
    let record = ClusterRecord {
        health_checker: checker,
        check_port,
        use_instance_port,
        metadata,
    };
    ops::update_cluster(app, &key, cluster, record).await
}

// ----- console catalog ----------------------------------------------------

/// Services of a namespace with instance counts (the console's catalog),
/// filtered by substrings of name and group.
pub(crate) fn catalog_rows(
    app: &AppRef,
    ns: &NamespaceId,
    name_filter: Option<&str>,
    group_filter: Option<&str>,
) -> Vec<CatalogServiceJson> {
    let state = app.node.state().read();
    view::service_keys(&state, &app.soft, ns, None)
        .into_iter()
        .filter(|k| name_filter.is_none_or(|f| k.service.as_str().contains(f)))
        .filter(|k| group_filter.is_none_or(|f| k.group.as_str().contains(f)))
        .map(|k| {
            let all = view::all_instances(&state, &app.soft, &k);
            let healthy = all.iter().filter(|i| i.healthy).count();
            let clusters: std::collections::BTreeSet<_> =
                all.iter().map(|i| i.cluster.clone()).collect();
            let threshold = state.service(&k).map_or(0.0, |r| r.protect_threshold);
            let triggered = !all.is_empty() && (healthy as f64 / all.len() as f64) <= threshold;
            CatalogServiceJson {
                name: k.service.to_string(),
                group_name: k.group.to_string(),
                cluster_count: clusters.len(),
                ip_count: all.len(),
                healthy_instance_count: healthy,
                trigger_flag: triggered.to_string(),
                protect_threshold: threshold as f32,
            }
        })
        .collect()
}

/// `GET /v1/ns/catalog/services`: services with instance counts.
pub async fn v1_catalog_services(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let ns = NamespaceId::parse(p.get("namespaceId"))?;
    let paging = Paging::from_params(&p, 10, app.settings.limits.max_page_size)?;
    let rows = catalog_rows(
        &app,
        &ns,
        p.get("serviceNameParam"),
        p.get("groupNameParam"),
    );
    let count = rows.len();
    Ok(Json(CatalogJson {
        count,
        service_list: paging.slice(rows),
    })
    .into_response())
}

/// Every instance of a service as clients see it, by cluster, IP, port.
pub(crate) fn sorted_instances(
    app: &AppRef,
    key: &nocas_core::names::ServiceKey,
) -> Vec<nocas_core::naming::Instance> {
    let mut all = {
        let state = app.node.state().read();
        view::all_instances(&state, &app.soft, key)
    };
    all.sort_by(|a, b| (&a.cluster, &a.ip, a.port).cmp(&(&b.cluster, &b.ip, b.port)));
    all
}

fn catalog_instances(app: &AppRef, p: &Params) -> Result<serde_json::Value, ApiError> {
    let key = parse::service_key(p)?;
    let cluster = p
        .get("clusterName")
        .map(|c| ClusterName::parse(Some(c)))
        .transpose()?;
    let paging = Paging::from_params(p, 100, app.settings.limits.max_page_size)?;
    let grouped = key.grouped_name();
    let mut all = sorted_instances(app, &key);
    all.retain(|i| cluster.as_ref().is_none_or(|c| &i.cluster == c));
    let count = all.len();
    let list: Vec<_> = paging
        .slice(all)
        .iter()
        .map(|i| ops::instance_json(app, &key, &grouped, i))
        .collect();
    Ok(serde_json::json!({ "count": count, "list": list }))
}

/// `GET /v1/ns/catalog/instances`.
pub async fn v1_catalog_instances(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(Json(catalog_instances(&app, &p).map_err(V1)?).into_response())
}

/// `GET /v2/ns/catalog/instances`.
pub async fn v2_catalog_instances(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(v2_ok(catalog_instances(&app, &p).map_err(V2)?).into_response())
}

// ----- operator -------------------------------------------------------------

pub(crate) fn metrics_json(app: &AppRef, only_status: bool) -> serde_json::Value {
    if only_status {
        return serde_json::json!({ "status": "UP" });
    }
    let ip_port = crate::http::clients::ip_port_clients(app);
    let ephemeral_clients = ip_port.keys().filter(|k| k.ends_with("#true")).count();
    let persistent_clients = ip_port.len() - ephemeral_clients;
    let connections = app.conns.count();
    let state = app.node.state().read();
    let instances = app.soft.instance_count() + state.instance_count();
    let services = ops::service_count(app, &state);
    serde_json::json!({
        "status": "UP",
        "serviceCount": services,
        "instanceCount": instances,
        "subscribeCount": app.hub.subscription_count(),
        "responsibleInstanceCount": instances,
        "clientCount": connections + ip_port.len(),
        "connectionBasedClientCount": connections,
        "ephemeralIpPortClientCount": ephemeral_clients,
        "persistentIpPortClientCount": persistent_clients,
        "responsibleClientCount": connections + ephemeral_clients,
        "cpu": 0.0,
        "load": 0.0,
        "mem": 0.0,
    })
}

/// `GET /v1/ns/operator/metrics`.
pub async fn v1_operator_metrics(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let only = p.bool_or("onlyStatus", true)?;
    Ok(Json(metrics_json(&app, only)).into_response())
}

/// `GET /v2/ns/operator/metrics`.
pub async fn v2_operator_metrics(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let only = p.bool_or("onlyStatus", true)?;
    Ok(v2_ok(metrics_json(&app, only)).into_response())
}

pub(crate) fn switches_json(app: &AppRef) -> serde_json::Value {
    let n = &app.settings.naming;
    serde_json::json!({
        "name": "00-00---000-NACOS_SWITCH_DOMAIN-000---00-00",
        "clientBeatInterval": n.beat_interval_ms,
        "lightBeatEnabled": n.light_beat_enabled,
        "defaultInstanceEphemeral": true,
        "healthCheckEnabled": true,
        "defaultPushCacheMillis": n.cache_millis,
        "defaultCacheMillis": n.cache_millis,
        "pushEnabled": true,
        "distroEnabled": false,
    })
}

/// `GET /v1/ns/operator/switches`.
pub async fn v1_switches(State(app): State<AppRef>) -> Response {
    Json(switches_json(&app)).into_response()
}

/// `GET /v2/ns/operator/switches`.
pub async fn v2_switches(State(app): State<AppRef>) -> Response {
    v2_ok(switches_json(&app)).into_response()
}

/// `GET /v1/ns/health/server`.
pub async fn v1_health_server(State(app): State<AppRef>) -> Response {
    let services = ops::service_count(&app, &app.node.state().read());
    Json(serde_json::json!({
        "msg": format!(
            "Hello! I am Nacos-Naming and healthy! total services: {services}, local port:{}",
            app.http_addr.port()
        )
    }))
    .into_response()
}
