//! Console and core endpoints: namespaces, health probes, cluster members,
//! login (when auth is off), Prometheus metrics.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use nocas_cluster::{MemberAddr, MembershipOp, NodeStatus};
use nocas_core::error::ValidationError;
use nocas_core::names::NamespaceId;
use nocas_proto::http::{MemberJson, RestResult, V2Result};

use crate::app::AppRef;
use crate::error::{ApiError, V1Result, V2, V2Reply};
use crate::http::params::Params;
use crate::metrics::{RaftSample, Sample};
use crate::ops::namespace as ops;

// ----- namespaces -----------------------------------------------------------

/// `GET /v1/console/namespaces` (also `show=all` and `checkNamespaceIdExist`).
pub async fn v1_namespaces(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    if p.bool_or("checkNamespaceIdExist", false)? {
        let id = NamespaceId::parse(Some(p.required("customNamespaceId")?))?;
        return Ok(Json(ops::exists(&app, &id)).into_response());
    }
    if p.get("show") == Some("all") {
        let id = NamespaceId::parse(p.get("namespaceId"))?;
        return Ok(Json(ops::get(&app, &id)?).into_response());
    }
    Ok(Json(RestResult {
        code: 200,
        message: None,
        data: ops::list(&app),
    })
    .into_response())
}

/// `POST /v1/console/namespaces`.
pub async fn v1_create_namespace(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let name = ops::check_name(p.get("namespaceName"))?;
    let desc = ops::check_desc(p.get("namespaceDesc"))?;
    ops::create(&app, p.get("customNamespaceId"), name, desc).await?;
    Ok(Json(true).into_response())
}

/// `PUT /v1/console/namespaces`.
pub async fn v1_update_namespace(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let id = NamespaceId::parse(Some(p.required("namespace")?))?;
    let name = ops::check_name(p.get_any(&["namespaceShowName", "namespaceName"]))?;
    let desc = ops::check_desc(p.get("namespaceDesc"))?;
    ops::update(&app, id, name, desc).await?;
    Ok(Json(true).into_response())
}

/// `DELETE /v1/console/namespaces`.
pub async fn v1_delete_namespace(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let id = NamespaceId::parse(Some(p.required("namespaceId")?))?;
    ops::delete(&app, id).await?;
    Ok(Json(true).into_response())
}

/// `GET /v2/console/namespace/list`.
pub async fn v2_namespace_list(State(app): State<AppRef>) -> Response {
    Json(V2Result::ok(ops::list(&app))).into_response()
}

/// `GET /v2/console/namespace`.
pub async fn v2_namespace_get(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let id = NamespaceId::parse(Some(p.required("namespaceId")?))?;
    Ok(Json(V2Result::ok(ops::get(&app, &id)?)).into_response())
}

/// `POST /v2/console/namespace`.
pub async fn v2_namespace_create(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<bool>>> {
    let name = ops::check_name(p.get("namespaceName"))?;
    let desc = ops::check_desc(p.get("namespaceDesc"))?;
    ops::create(&app, p.get("namespaceId"), name, desc).await?;
    Ok(Json(V2Result::ok(true)))
}

/// `PUT /v2/console/namespace`.
pub async fn v2_namespace_update(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<bool>>> {
    let id = NamespaceId::parse(Some(p.required("namespaceId")?))?;
    let name = ops::check_name(p.get("namespaceName"))?;
    let desc = ops::check_desc(p.get("namespaceDesc"))?;
    ops::update(&app, id, name, desc).await?;
    Ok(Json(V2Result::ok(true)))
}

/// `DELETE /v2/console/namespace`.
pub async fn v2_namespace_delete(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<bool>>> {
    let id = NamespaceId::parse(Some(p.required("namespaceId")?))?;
    ops::delete(&app, id).await?;
    Ok(Json(V2Result::ok(true)))
}

// ----- health -----------------------------------------------------------------

fn ready(app: &AppRef) -> bool {
    app.node.status().leader.is_some()
}

/// `GET /v1/console/health/liveness`.
pub async fn liveness() -> &'static str {
    "OK"
}

/// `GET /v1/console/health/readiness`: ready while the cluster has a leader.
pub async fn readiness(State(app): State<AppRef>) -> Response {
    if ready(&app) {
        "OK".into_response()
    } else {
        ApiError::Unavailable("no leader".into()).into_v1()
    }
}

/// `GET /v2/console/health/liveness`.
pub async fn v2_liveness() -> Response {
    Json(V2Result::ok("ok")).into_response()
}

/// `GET /v2/console/health/readiness`.
pub async fn v2_readiness(State(app): State<AppRef>) -> Response {
    if ready(&app) {
        Json(V2Result::ok("ok")).into_response()
    } else {
        ApiError::Unavailable("no leader".into()).into_v2()
    }
}

// ----- cluster members --------------------------------------------------------

fn member_json(id: u64, addr: &MemberAddr, status: Option<&NodeStatus>) -> MemberJson {
    let mut extend = BTreeMap::new();
    extend.insert(
        "raftPort".to_string(),
        serde_json::json!(addr.raft.to_string()),
    );
    extend.insert(
        "version".into(),
        serde_json::json!(env!("CARGO_PKG_VERSION")),
    );
    extend.insert("nodeId".into(), serde_json::json!(id));
    if let Some(st) = status {
        extend.insert("protocol".into(), serde_json::json!(st.protocol));
        extend.insert(
            "clusterProtocol".into(),
            serde_json::json!(st.cluster_protocol),
        );
        extend.insert(
            "raftMetaData".into(),
            serde_json::json!({
                "leader": st.leader,
                "term": st.term,
                "state": st.state,
                "lastLogIndex": st.last_log_index,
                "lastApplied": st.last_applied,
                "voter": st.voters.contains(&id),
            }),
        );
        if let Some(soft) = &st.soft {
            extend.insert(
                "softState".into(),
                serde_json::json!({
                    "incarnation": soft.incarnation,
                    "local": soft.local,
                    "replicated": soft.replicated,
                    "handover": soft.handover,
                }),
            );
        }
    }
    MemberJson {
        ip: addr.host.clone(),
        port: addr.http,
        state: if status.is_some() { "UP" } else { "DOWN" }.into(),
        extend_info: extend,
        address: addr.http_addr(),
        fail_access_cnt: 0,
        abilities: serde_json::json!({
            "remoteAbility": {"supportRemoteConnection": true, "grpcReportEnabled": true},
            "configAbility": {"supportRemoteMetrics": false},
            "namingAbility": {"supportJraft": true},
        }),
    }
}

/// Every member with the status it reports (unreachable ones are `DOWN`).
async fn members(app: &AppRef) -> Vec<MemberJson> {
    let node = &app.node;
    let timeout = std::time::Duration::from_millis(500);
    let lookups = node.members().into_iter().map(|(id, addr)| async move {
        let status = if id == node.id() {
            Some(node.status())
        } else {
            node.peer_status(&addr, timeout).await
        };
        member_json(id, &addr, status.as_ref())
    });
    futures::future::join_all(lookups).await
}

/// `GET /v1/core/cluster/nodes`.
pub async fn v1_nodes(State(app): State<AppRef>, p: Params) -> Response {
    let keyword = p.get("keyword").unwrap_or("").to_string();
    let data: Vec<_> = members(&app)
        .await
        .into_iter()
        .filter(|m| m.address.starts_with(&keyword))
        .collect();
    Json(RestResult {
        code: 200,
        message: None,
        data,
    })
    .into_response()
}

/// `GET /v2/core/cluster/node/self`.
pub async fn v2_node_self(State(app): State<AppRef>) -> Response {
    let node = &app.node;
    let status = node.status();
    Json(V2Result::ok(member_json(
        node.id(),
        node.me(),
        Some(&status),
    )))
    .into_response()
}

/// `GET /v2/core/cluster/node/list`: every member, its state, the leader,
/// term and last applied index each reports.
pub async fn v2_node_list(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let address = p.get("address").unwrap_or("").to_string();
    let state = match p.get("state") {
        None => None,
        Some(s) => {
            let s = s.to_ascii_uppercase();
            if !["UP", "DOWN", "SUSPICIOUS", "STARTING", "ISOLATION"].contains(&s.as_str()) {
                return Err(V2(ApiError::Invalid(ValidationError::Invalid {
                    field: "state",
                    reason: format!("Illegal state: {s}"),
                })));
            }
            Some(s)
        }
    };
    let data: Vec<_> = members(&app)
        .await
        .into_iter()
        .filter(|m| m.address.starts_with(&address))
        .filter(|m| state.as_deref().is_none_or(|s| m.state == s))
        .collect();
    Ok(Json(V2Result::ok(data)).into_response())
}

/// `GET /v2/core/cluster/node/self/health`.
pub async fn v2_node_health(State(app): State<AppRef>) -> Response {
    let state = if ready(&app) { "UP" } else { "DOWN" };
    Json(V2Result::ok(state)).into_response()
}

/// `POST /v2/core/cluster/node`: adds a member (`address` =
/// `host:http[:raft]`, `nodeId` defaults to the next free id).
pub async fn v2_node_add(State(app): State<AppRef>, p: Params) -> V2Reply<Json<V2Result<u64>>> {
    let addr = p.required("address")?.to_string();
    MemberAddr::parse(&addr).map_err(|e| V2(e.into()))?;
    let id = match p.u64_opt("nodeId")? {
        Some(id) => id,
        None => {
            app.node
                .members()
                .iter()
                .map(|(id, _)| *id)
                .max()
                .unwrap_or(0)
                + 1
        }
    };
    app.node
        .change_membership(MembershipOp::Add {
            id,
            addr: addr.clone(),
        })
        .await
        .map_err(|e| V2(e.into()))?;
    note_membership(&app, "add", id, &addr).await;
    Ok(Json(V2Result::ok(id)))
}

/// `DELETE /v2/core/cluster/node`: removes member `nodeId`.
pub async fn v2_node_remove(State(app): State<AppRef>, p: Params) -> V2Reply<Json<V2Result<bool>>> {
    let id = p
        .u64_opt("nodeId")?
        .ok_or(ValidationError::Missing { field: "nodeId" })?;
    app.node
        .change_membership(MembershipOp::Remove { id })
        .await
        .map_err(|e| V2(e.into()))?;
    note_membership(&app, "remove", id, "").await;
    Ok(Json(V2Result::ok(true)))
}

/// Records a done membership change in the audit trail (the change itself
/// is Raft's own entry, which carries no actor).
async fn note_membership(app: &AppRef, op: &str, id: u64, addr: &str) {
    if !app
        .audit_writable(nocas_cluster::version::AUDIT_COMMANDS)
        .await
    {
        return;
    }
    let note = nocas_core::command::Command::Note {
        kind: "membership".into(),
        op: op.into(),
        target: format!("node {id}"),
        detail: if addr.is_empty() {
            String::new()
        } else {
            format!("address={addr}")
        },
    };
    if let Err(e) = app.write(note).await {
        tracing::warn!(error = %e, "membership change done, but its audit record was not written");
    }
}

/// `GET /v2/core/cluster/node/self/digest`: a digest of this node's applied
/// state (equal on nodes that applied the same log) and its index.
pub async fn v2_node_digest(State(app): State<AppRef>) -> V2Reply<Response> {
    let (applied, digest) = app.node.state_digest().await.map_err(|e| V2(e.into()))?;
    Ok(Json(V2Result::ok(serde_json::json!({
        "nodeId": app.node.id(),
        "lastApplied": applied,
        "digest": digest,
    })))
    .into_response())
}

// ----- auth (disabled) ----------------------------------------------------------

// ----- metrics ------------------------------------------------------------------

/// `GET /metrics` (and `/nacos/actuator/prometheus`): OpenMetrics text
/// when the scraper asks for it (Prometheus does), else the same text as
/// Prometheus's own format.
pub async fn prometheus(State(app): State<AppRef>, headers: HeaderMap) -> Response {
    let store = app.node.store().clone();
    let audit_records = tokio::task::spawn_blocking(move || store.audit_len())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0) as i64;
    let sample = sample(&app, audit_records);
    let mut resp = app.metrics.render(&sample).into_response();
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if openmetrics {
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        } else {
            "text/plain; version=0.0.4; charset=utf-8"
        }),
    );
    resp
}

/// What the server holds right now, for the metrics.
fn sample(app: &AppRef, audit_records: i64) -> Sample {
    let status = app.node.status();
    let mut s = {
        let state = app.node.state().read();
        let services = crate::ops::naming::service_count(app, &state);
        Sample {
            ephemeral_instances: app.soft.instance_count() as i64,
            persistent_instances: state.instance_count() as i64,
            services: services as i64,
            configs: state
                .configs()
                .values()
                .filter(|r| r.formal.is_some())
                .count() as i64,
            namespaces: state.namespaces().len() as i64 + 1,
            ..Default::default()
        }
    };
    s.long_polls = app.hub.held_watchers() as i64;
    s.udp_subscriptions = app.udp.as_ref().map_or(0, |u| u.subscriber_count()) as i64;
    s.http_publishers = app.soft.owned_count(&nocas_core::naming::soft::Owner::Beat) as i64;
    let mut by_module: std::collections::BTreeMap<&'static str, i64> = Default::default();
    let mut by_sdk: std::collections::BTreeMap<(&'static str, String), i64> = Default::default();
    for c in app.conns.registered() {
        s.grpc_connections += 1;
        let info = c.info();
        *by_module
            .entry(crate::metrics::labels::conn_module(
                info.labels.get("module").map(String::as_str),
            ))
            .or_default() += 1;
        *by_sdk
            .entry(crate::metrics::labels::sdk(&info.version))
            .or_default() += 1;
        if c.listen_count() > 0 {
            s.config_listening_connections += 1;
        }
        s.grpc_subscriptions += c.subscription_count() as i64;
        let (services, configs) = c.dirty_counts();
        s.naming_push_pending += services as i64;
        s.config_push_pending += configs as i64;
        s.grpc_publishers += app.soft.owned_count(&c.owner()) as i64;
    }
    s.connections_by_module = by_module.into_iter().collect();
    s.connections_by_sdk = by_sdk.into_iter().collect();
    s.raft = RaftSample {
        term: status.term as i64,
        last_log_index: status.last_log_index.unwrap_or(0) as i64,
        committed: status.committed.unwrap_or(0) as i64,
        last_applied: status.last_applied.unwrap_or(0) as i64,
        snapshot: status.snapshot.unwrap_or(0) as i64,
        is_leader: status.leader == Some(status.id),
        voters: status.voters.len() as i64,
        replication_lag: replication_lag(app),
    };
    if let Some(rep) = app.node.replicator() {
        s.soft_peers = rep
            .peer_lag()
            .into_iter()
            .map(|(peer, pending, heard)| {
                (
                    peer,
                    pending as i64,
                    heard.map_or(-1.0, |d| d.as_secs_f64()),
                )
            })
            .collect();
    }
    s.audit_records = audit_records;
    s
}

/// Leader only: how many entries each follower is behind.
fn replication_lag(app: &AppRef) -> Vec<(u64, i64)> {
    let m = app.node.raft().metrics().borrow().clone();
    let last = m.last_log_index.unwrap_or(0);
    match &m.replication {
        Some(rep) => rep
            .iter()
            .filter(|(id, _)| **id != m.id)
            .map(|(id, matched)| {
                let at = matched.as_ref().map_or(0, |l| l.index);
                (*id, last.saturating_sub(at) as i64)
            })
            .collect(),
        None => Vec::new(),
    }
}

/// Fallback for unknown paths.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    let mut resp = crate::http::params::render_for_path(
        uri.path(),
        ApiError::NotFound(format!("no such endpoint: {}", uri.path())),
    );
    resp.extensions_mut().insert(crate::observe::Unrouted);
    resp
}
