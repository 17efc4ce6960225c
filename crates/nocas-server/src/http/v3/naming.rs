//! Naming routes of Nacos 3: `/nacos/v3/admin/ns/*` and
//! `/nacos/v3/client/ns/instance*`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use nocas_core::error::ValidationError;
use nocas_core::names::{ClusterName, NamespaceId, ServiceKey, parse_ip, parse_port};
use nocas_core::naming::metadata::parse_metadata;
use nocas_core::naming::{Instance, InstanceKey, view};

use super::{ok, renamed};
use crate::app::AppRef;
use crate::error::{ApiError, V2Reply};
use crate::http::naming as shared;
use crate::http::params::{Paging, Params};
use crate::http::parse;
use crate::ops::naming as ops;

fn instance_values(app: &AppRef, key: &ServiceKey, list: &[Instance]) -> Vec<Value> {
    let grouped = key.grouped_name();
    list.iter()
        .filter_map(|i| serde_json::to_value(ops::instance_json(app, key, &grouped, i)).ok())
        .collect()
}

/// `POST /v3/admin/ns/service`.
pub async fn create_service(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    shared::do_create_service(&app, &p).await?;
    Ok(ok("ok"))
}

/// `PUT /v3/admin/ns/service`.
pub async fn update_service(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    shared::do_update_service(&app, &p).await?;
    Ok(ok("ok"))
}

/// `DELETE /v3/admin/ns/service`.
pub async fn delete_service(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    shared::do_delete_service(&app, &p).await?;
    Ok(ok("ok"))
}

/// `GET /v3/admin/ns/service`: Nacos 3's `ServiceDetailInfo`.
pub async fn get_service(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = parse::service_key(&p)?;
    let d = ops::service_detail_v2(&app, &key)?;
    let mut v = serde_json::to_value(d).map_err(|e| ApiError::Internal(e.to_string()))?;
    // Nacos 3's `ClusterInfo` names (the 2.x ones kept alongside).
    if let Some(clusters) = v.get_mut("clusterMap").and_then(Value::as_object_mut) {
        for c in clusters.values_mut() {
            if let Some(o) = c.as_object_mut() {
                for (from, to) in [
                    ("name", "clusterName"),
                    ("checkPort", "healthyCheckPort"),
                    ("useIPPort4Check", "useInstancePortForCheck"),
                ] {
                    if let Some(x) = o.get(from).cloned() {
                        o.insert(to.to_string(), x);
                    }
                }
            }
        }
    }
    Ok(ok(renamed(v, &[("namespace", "namespaceId")])))
}

/// `GET /v3/admin/ns/service/list`: a page of services with counts
/// (`serviceNameParam`, `groupNameParam` filter by substring;
/// `ignoreEmptyService` drops services without instances; `withInstances`
/// lists each service's instances by cluster instead).
pub async fn list_services(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let ns = NamespaceId::parse(p.get("namespaceId"))?;
    let paging = Paging::from_params(&p, 100, app.settings.limits.max_page_size)?;
    let mut rows = shared::catalog_rows(
        &app,
        &ns,
        p.get("serviceNameParam"),
        p.get("groupNameParam"),
    );
    if p.bool_or("ignoreEmptyService", false)? {
        rows.retain(|r| r.ip_count > 0);
    }
    let total = rows.len();
    let page = paging.slice(rows);
    let items: Vec<Value> = if p.bool_or("withInstances", false)? {
        let mut out = Vec::new();
        for r in page {
            let key = ServiceKey::new(
                ns.clone(),
                nocas_core::names::GroupName::parse(Some(&r.group_name))?,
                nocas_core::names::ServiceName::parse(&r.name)?,
            );
            let all = shared::sorted_instances(&app, &key);
            let mut clusters: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for (i, v) in all.iter().zip(instance_values(&app, &key, &all)) {
                clusters.entry(i.cluster.to_string()).or_default().push(v);
            }
            let metadata = app
                .node
                .state()
                .read()
                .service(&key)
                .map(|s| s.metadata.clone())
                .unwrap_or_default();
            let cluster_map: serde_json::Map<String, Value> = clusters
                .into_iter()
                .map(|(c, hosts)| (c.clone(), json!({"clusterName": c, "hosts": hosts})))
                .collect();
            out.push(json!({
                "namespaceId": ns.as_str(),
                "serviceName": r.name,
                "groupName": r.group_name,
                "metadata": metadata,
                "clusterMap": cluster_map,
            }));
        }
        out
    } else {
        page.into_iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect()
    };
    Ok(ok(json!({
        "totalCount": total,
        "pageNumber": paging.page_no,
        "pagesAvailable": paging.pages(total),
        "pageItems": items,
    })))
}

/// `GET /v3/admin/ns/service/subscribers`: a page of Nacos 3's
/// `SubscriberInfo` (the subscribers at this node).
pub async fn subscribers(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = parse::service_key(&p)?;
    let paging = Paging::from_params(&p, 100, app.settings.limits.max_page_size)?;
    let all: Vec<Value> = crate::http::clients::service_subscribers(&app, &p)?
        .into_iter()
        .map(|s| {
            json!({
                "namespaceId": key.namespace.as_str(),
                "groupName": key.group.as_str(),
                "serviceName": key.service.as_str(),
                "ip": s["ip"],
                "port": s["port"],
                "agent": s["agent"],
                "appName": s["app"],
                "address": s["addrStr"],
            })
        })
        .collect();
    let total = all.len();
    Ok(ok(json!({
        "totalCount": total,
        "pageNumber": paging.page_no,
        "pagesAvailable": paging.pages(total),
        "pageItems": paging.slice(all),
    })))
}

/// `GET /v3/admin/ns/service/selector/types`.
pub async fn selector_types() -> Response {
    ok(["none", "label"])
}

/// `POST /v3/admin/ns/instance`.
pub async fn register(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    shared::do_register(&app, &p).await?;
    Ok(ok("ok"))
}

/// `DELETE /v3/admin/ns/instance` and `/v3/client/ns/instance`.
pub async fn deregister(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    shared::do_deregister(&app, &p).await?;
    Ok(ok("ok"))
}

/// `PUT /v3/admin/ns/instance`: weight, enabled and metadata (laid over).
pub async fn update(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    shared::do_update(&app, &p).await?;
    Ok(ok("ok"))
}

/// `PUT /v3/admin/ns/instance/partial`: only what is given.
pub async fn partial(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    shared::do_patch(&app, &p).await?;
    Ok(ok("ok"))
}

/// `GET /v3/admin/ns/instance`: one instance.
pub async fn detail(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = parse::service_key(&p)?;
    let ikey = parse::instance_key(&p)?;
    let inst = ops::find(&app, &key, &ikey).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no matched ip found! {ikey} in service {}",
            key.grouped_name()
        ))
    })?;
    let grouped = key.grouped_name();
    Ok(ok(ops::instance_json(&app, &key, &grouped, &inst)))
}

/// `GET /v3/admin/ns/instance/list`: every instance (disabled ones too),
/// of one cluster if `clusterName` is given, healthy ones with
/// `healthyOnly`.
pub async fn list(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = parse::service_key(&p)?;
    if !view::service_exists(&app.node.state().read(), &app.soft, &key) {
        return Err(
            ApiError::NotFound(format!("service {} is not found!", key.grouped_name())).into(),
        );
    }
    let clusters = ClusterName::parse_list(p.get("clusterName"))?;
    let healthy_only = p.bool_or("healthyOnly", false)?;
    let mut all = shared::sorted_instances(&app, &key);
    all.retain(|i| clusters.is_empty() || clusters.contains(&i.cluster));
    all.retain(|i| !healthy_only || i.healthy);
    // A Nocas addition for large services (the console uses it): with
    // `pageNo`, one page of the list and its total instead of the list.
    if p.get("pageNo").is_some() {
        let paging = Paging::from_params(&p, 50, app.settings.limits.max_page_size)?;
        let total = all.len();
        let pages = paging.pages(total);
        let page = paging.slice(all);
        return Ok(ok(json!({
            "totalCount": total,
            "pageNumber": paging.page_no,
            "pagesAvailable": pages,
            "pageItems": instance_values(&app, &key, &page),
        })));
    }
    Ok(ok(instance_values(&app, &key, &all)))
}

/// The instances a metadata batch names: `instances` as a JSON array of
/// `{ip, port, clusterName}`; none (or blank) means every instance.
fn batch_targets(app: &AppRef, key: &ServiceKey, p: &Params) -> Result<Vec<Instance>, ApiError> {
    let all = shared::sorted_instances(app, key);
    let Some(raw) = p.get("instances") else {
        return Ok(all);
    };
    let wanted: Vec<Value> = serde_json::from_str(raw).map_err(|e| ValidationError::Invalid {
        field: "instances",
        reason: format!("is not a JSON array: {e}"),
    })?;
    let mut keys = Vec::new();
    for w in &wanted {
        let port = match &w["port"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        keys.push(InstanceKey {
            ip: parse_ip(w["ip"].as_str())?,
            port: parse_port(Some(&port))?,
            cluster: ClusterName::parse(w["clusterName"].as_str())?,
        });
    }
    Ok(all
        .into_iter()
        .filter(|i| keys.contains(&i.key()))
        .collect())
}

async fn metadata_batch(app: &AppRef, p: &Params, remove: bool) -> Result<Value, ApiError> {
    let key = parse::service_key(p)?;
    let metadata = parse_metadata(
        "metadata",
        Some(p.required("metadata")?),
        &app.metadata_limits(),
    )?;
    let targets = batch_targets(app, &key, p)?;
    let mut updated = Vec::new();
    for inst in targets {
        ops::edit_override(app, &key, &inst.key(), |o| {
            for (k, v) in &metadata {
                if remove {
                    o.metadata.remove(k);
                } else {
                    o.metadata.insert(k.clone(), v.clone());
                }
            }
        })
        .await?;
        updated.push(format!(
            "{}:{}:unknown:{}:{}",
            inst.ip,
            inst.port,
            inst.cluster,
            if inst.ephemeral {
                "ephemeral"
            } else {
                "persist"
            }
        ));
    }
    Ok(json!({ "updated": updated }))
}

/// `PUT /v3/admin/ns/instance/metadata/batch`: lays `metadata` over each
/// named instance's.
pub async fn metadata_update(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(metadata_batch(&app, &p, false).await?))
}

/// `DELETE /v3/admin/ns/instance/metadata/batch`: removes the keys of
/// `metadata` from each named instance's.
pub async fn metadata_delete(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(metadata_batch(&app, &p, true).await?))
}

/// `PUT /v3/admin/ns/cluster`.
pub async fn update_cluster(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    shared::do_update_cluster(&app, &p).await?;
    Ok(ok("ok"))
}

/// `PUT /v3/admin/ns/health/instance`.
pub async fn health(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    shared::do_health(&app, &p).await?;
    Ok(ok("ok"))
}

/// `GET /v3/admin/ns/health/checkers`.
pub async fn checkers() -> Response {
    ok(json!({
        "TCP": {"type": "TCP"},
        "HTTP": {"type": "HTTP", "path": "", "headers": "", "expectedResponseCode": 200},
        "MYSQL": {"type": "MYSQL", "user": null, "pwd": null, "cmd": null},
        "NONE": {"type": "NONE"},
    }))
}

/// `GET /v3/admin/ns/ops/metrics` (`onlyStatus` defaults to true).
pub async fn metrics(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let only = p.bool_or("onlyStatus", true)?;
    Ok(ok(shared::metrics_json(&app, only)))
}

/// `GET /v3/admin/ns/ops/switches`.
pub async fn switches(State(app): State<AppRef>) -> Response {
    ok(shared::switches_json(&app))
}

/// `POST /v3/client/ns/instance`: registers, or with `heartBeat=true`
/// beats an instance registered over HTTP.
pub async fn client_register(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    if p.bool_or("heartBeat", false)? {
        let beat = shared::do_beat(&app, &p).await?;
        if beat.code != 10200 {
            return Ok(axum::response::IntoResponse::into_response(axum::Json(
                nocas_proto::http::V2Result {
                    code: 21003,
                    message: "instance not found".into(),
                    data: Value::Null,
                },
            )));
        }
        return Ok(ok("ok"));
    }
    shared::do_register(&app, &p).await?;
    Ok(ok("ok"))
}

/// `GET /v3/client/ns/instance/list`: the enabled instances a client is
/// served (of the clusters in `clusterName`, all if none; the protection
/// threshold applies).
pub async fn client_list(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = parse::service_key(&p)?;
    let raw = p.get("clusterName").unwrap_or("");
    let clusters = ClusterName::parse_list(Some(raw))?;
    let view = ops::cached_view(&app, &key, raw, &clusters, false, ops::ViewName::Grouped)?;
    let v: Value =
        serde_json::from_str(view.get()).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ok(v
        .get("hosts")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()))))
}
