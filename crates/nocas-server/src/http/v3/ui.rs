//! The web console's own endpoints (`/nacos/v3/console/...`): what a page
//! needs in one call that the Nacos API spreads over many — the caller's
//! access per namespace, a summary of counts and running totals, the gRPC
//! clients with what each holds — plus content checks and diffs computed
//! by `nocas-console`.
//!
//! Read-only: nothing here changes state, and nothing here is needed by an
//! SDK. Every change the console makes goes through the public API, under
//! the same access checks as any other caller.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use nocas_core::auth::{Action, AuthState, Resource, ResourceKind};
use nocas_core::error::ValidationError;
use nocas_core::names::NamespaceId;
use nocas_proto::http::NamespaceJson;

use super::ok;
use crate::app::{AppRef, now_ms};
use crate::error::V2Reply;
use crate::http::naming::catalog_rows;
use crate::http::params::{Paging, Params};
use crate::ops::namespace as ns_ops;

/// `GET /v3/console/session`: who the caller is and what it may do in
/// each namespace, so screens it may not change are shown read-only.
pub async fn session(State(app): State<AppRef>, p: Params) -> Response {
    let namespaces = ns_ops::list(&app);
    let state = app.node.state().read();
    let auth = state.auth();
    let user = p.user.clone();
    let admin = match &user {
        None => !app.auth.enabled(),
        Some(u) => auth.is_admin(u),
    };
    let access: Vec<Value> = namespaces
        .iter()
        .map(|n| {
            let id = ns_id(n);
            let may = |action| {
                admin
                    || user
                        .as_deref()
                        .is_some_and(|u| may_act(auth, u, id, action))
            };
            json!({"namespace": id, "read": may(Action::Read), "write": may(Action::Write)})
        })
        .collect();
    ok(json!({
        "authEnabled": app.auth.enabled(),
        "username": user,
        "admin": admin,
        "namespaces": access,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /v3/console/summary`: counts of what this node holds and the
/// running totals the overview turns into rates.
pub async fn summary(State(app): State<AppRef>, p: Params) -> Response {
    // A caller sees counts of the namespaces it may read; node-wide figures
    // (connections, listeners) only an administrator.
    let admin = match &p.user {
        None => true,
        Some(u) => app.node.state().read().auth().is_admin(u),
    };
    let namespaces: Vec<_> = {
        let all = ns_ops::list(&app);
        let state = app.node.state().read();
        all.into_iter()
            .filter(|n| {
                admin
                    || p.user
                        .as_deref()
                        .is_some_and(|u| may_act(state.auth(), u, ns_id(n), Action::Read))
            })
            .collect()
    };
    let (mut services, mut instances, mut healthy) = (0usize, 0usize, 0usize);
    for n in &namespaces {
        let Ok(id) = NamespaceId::parse(Some(n.namespace.as_str())) else {
            continue;
        };
        for row in catalog_rows(&app, &id, None, None) {
            services += 1;
            instances += row.ip_count;
            healthy += row.healthy_instance_count;
        }
    }
    let readable: std::collections::HashSet<&str> = namespaces.iter().map(ns_id).collect();
    let configs = {
        let state = app.node.state().read();
        state
            .configs()
            .iter()
            .filter(|(k, r)| r.formal.is_some() && readable.contains(k.namespace.as_str()))
            .count()
    };
    let conns = app.conns.registered();
    let listens: usize = conns.iter().map(|c| c.listen_count()).sum();
    let subscriptions: usize = conns.iter().map(|c| c.subscription_count()).sum();
    let long_polls = app.hub.held_watchers();
    ok(json!({
        "nodeId": app.node.id(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeMs": app.started.elapsed().as_millis() as u64,
        "time": now_ms(),
        "counts": {
            "namespaces": namespaces.len(),
            "services": services,
            "instances": instances,
            "healthyInstances": healthy,
            "unhealthyInstances": instances - healthy,
            "configs": configs,
            "connections": admin.then_some(conns.len()),
            "listeners": admin.then_some(listens + long_polls),
            "longPolls": admin.then_some(long_polls),
            "subscriptions": admin.then_some(subscriptions),
        },
        "totals": app.metrics.totals(),
    }))
}

/// `GET /v3/console/clients`: a page of this node's gRPC connections,
/// newest first, optionally those whose address contains `ip`.
pub async fn clients(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let paging = Paging::from_params(&p, 20, app.settings.limits.max_page_size)?;
    let filter = p.get("ip").unwrap_or("");
    let mut conns: Vec<_> = app
        .conns
        .registered()
        .into_iter()
        .filter(|c| c.peer.to_string().contains(filter))
        .collect();
    conns.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(a.id.cmp(&b.id)));
    let total = conns.len();
    let items: Vec<Value> = paging
        .slice(conns)
        .into_iter()
        .map(|c| {
            let info = c.info();
            json!({
                "clientId": &*c.id,
                "address": c.peer.to_string(),
                "sdk": info.version,
                "appName": info.labels.get("AppName").cloned().unwrap_or_default(),
                "namespace": info.tenant,
                "createTime": c.created_ms,
                "lastActiveTime": c.last_active_ms(),
                "registered": app.soft.owned_by(&c.owner()).len(),
                "subscribed": c.subscription_count(),
                "listening": c.listen_count(),
            })
        })
        .collect();
    Ok(ok(page(total, &paging, items)))
}

/// `GET /v3/console/client?clientId=`: everything one connection
/// registered, subscribed to and listens to.
pub async fn client(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let id = p.required("clientId")?;
    let c = app.conns.by_id(id).ok_or_else(|| {
        crate::error::ApiError::NotFound(format!("no client with id {id} on this node"))
    })?;
    let info = c.info();
    let registered: Vec<Value> = app
        .soft
        .owned_by(&c.owner())
        .into_iter()
        .map(|(k, i)| {
            json!({
                "namespace": k.namespace.as_str(),
                "groupName": k.group.as_str(),
                "serviceName": k.service.as_str(),
                "ip": &*i.ip,
                "port": i.port,
                "clusterName": i.cluster.as_str(),
            })
        })
        .collect();
    let subscribed: Vec<Value> = c
        .subscriptions()
        .into_iter()
        .map(|(k, clusters)| {
            json!({
                "namespace": k.namespace.as_str(),
                "groupName": k.group.as_str(),
                "serviceName": k.service.as_str(),
                "clusters": clusters,
            })
        })
        .collect();
    let listening: Vec<Value> = c
        .listen_md5s()
        .into_iter()
        .map(|(k, md5)| {
            json!({
                "namespace": k.namespace.as_str(),
                "groupName": k.group.as_str(),
                "dataId": k.data_id.as_str(),
                "md5": md5,
            })
        })
        .collect();
    Ok(ok(json!({
        "clientId": &*c.id,
        "address": c.peer.to_string(),
        "sdk": info.version,
        "namespace": info.tenant,
        "labels": info.labels,
        "createTime": c.created_ms,
        "lastActiveTime": c.last_active_ms(),
        "registered": registered,
        "subscribed": subscribed,
        "listening": listening,
    })))
}

/// `GET /v3/console/cs/config`: a config's released version, its beta (or
/// null) and its last change (or null), for the detail page in one call.
pub async fn config(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = super::config::key(&p)?;
    let formal = super::config::formal_detail(&app, &key)?;
    let beta = super::config::beta_detail(&app, &key).ok();
    let paging = Paging {
        page_no: 1,
        page_size: 1,
    };
    let last = crate::ops::config::history_page(&app, key, paging)
        .await?
        .page_items
        .into_iter()
        .next()
        .map(super::config::history_v3)
        .transpose()?;
    Ok(ok(
        json!({"config": formal, "beta": beta, "lastChange": last}),
    ))
}

/// `POST /v3/console/cs/config/check` (`type`, `content`): whether the
/// content parses as its type, and where it does not.
pub async fn check(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let kind = p.get("type").unwrap_or("text").to_string();
    let content = p
        .raw("content")
        .ok_or(ValidationError::Missing { field: "content" })?;
    let content = bounded(&app, "content", content)?;
    // Parsing is CPU work: off the async workers.
    let verdict = tokio::task::spawn_blocking(move || nocas_console::check::check(&kind, &content))
        .await
        .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    Ok(ok(match verdict {
        Ok(()) => json!({"valid": true}),
        Err(problem) => json!({"valid": false, "problem": problem}),
    }))
}

/// `POST /v3/console/diff` (`left`, `right`): the side-by-side rows of two
/// texts, each at most a config's size.
pub async fn diff(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let left = bounded(&app, "left", p.raw("left").unwrap_or(""))?;
    let right = bounded(&app, "right", p.raw("right").unwrap_or(""))?;
    let rows =
        tokio::task::spawn_blocking(move || nocas_console::diff::side_by_side(&left, &right))
            .await
            .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
    Ok(ok(rows))
}

/// `text` owned, if it is no larger than a config may be.
fn bounded(app: &AppRef, field: &'static str, text: &str) -> Result<String, ValidationError> {
    let max = app.settings.limits.max_config_bytes;
    if text.len() > max {
        return Err(ValidationError::Invalid {
            field,
            reason: format!("holds {} bytes, more than a config may ({max})", text.len()),
        });
    }
    Ok(text.to_string())
}

/// A namespace's id as the API spells it (`public`, where the list says "").
fn ns_id(n: &NamespaceJson) -> &str {
    if n.namespace.is_empty() {
        nocas_core::names::PUBLIC_NAMESPACE
    } else {
        &n.namespace
    }
}

/// Whether `user` may take `action` on the configs or services of
/// namespace `id` as a whole.
fn may_act(auth: &AuthState, user: &str, id: &str, action: Action) -> bool {
    [ResourceKind::Config, ResourceKind::Naming]
        .into_iter()
        .any(|kind| auth.allows(user, &Resource::new(id, "", kind, ""), action))
}

fn page(total: usize, paging: &Paging, items: Vec<Value>) -> Value {
    json!({
        "totalCount": total,
        "pageNumber": paging.page_no,
        "pagesAvailable": total.div_ceil(paging.page_size.max(1)),
        "pageItems": items,
    })
}
