//! Core and auth routes of Nacos 3: `/nacos/v3/admin/core/*` (namespaces,
//! cluster, state) and `/nacos/v3/auth/*` (users, roles, permissions).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use nocas_core::auth::{self as domain, Action, UserRecord};
use nocas_core::command::{AuthCommand, Command};
use nocas_core::names::NamespaceId;
use nocas_proto::http::V2Result;

use super::ok;
use crate::app::AppRef;
use crate::error::{ApiError, V2Reply};
use crate::http::auth as v1;
use crate::http::params::Params;
use crate::ops::namespace as ns_ops;
use nocas_core::error::ValidationError;

/// A namespace as Nacos 3 shows it (public is `public`, not empty).
fn namespace_v3(mut n: nocas_proto::http::NamespaceJson) -> nocas_proto::http::NamespaceJson {
    if n.namespace.is_empty() {
        n.namespace = nocas_core::names::PUBLIC_NAMESPACE.to_string();
    }
    n
}

/// `GET /v3/admin/core/namespace/list`.
pub async fn namespaces(State(app): State<AppRef>) -> Response {
    ok(ns_ops::list(&app)
        .into_iter()
        .map(namespace_v3)
        .collect::<Vec<_>>())
}

/// `GET /v3/admin/core/namespace`.
pub async fn namespace(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let id = NamespaceId::parse(Some(p.required("namespaceId")?))?;
    Ok(ok(namespace_v3(ns_ops::get(&app, &id)?)))
}

/// `POST /v3/admin/core/namespace` (an empty `namespaceId` gets a new id).
pub async fn create_namespace(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let name = ns_ops::check_name(p.get("namespaceName"))?;
    let desc = ns_ops::check_desc(p.get("namespaceDesc"))?;
    ns_ops::create(&app, p.get("namespaceId"), name, desc).await?;
    Ok(ok(true))
}

/// `PUT /v3/admin/core/namespace`.
pub async fn update_namespace(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let id = NamespaceId::parse(Some(p.required("namespaceId")?))?;
    let name = ns_ops::check_name(p.get("namespaceName"))?;
    let desc = ns_ops::check_desc(p.get("namespaceDesc"))?;
    ns_ops::update(&app, id, name, desc).await?;
    Ok(ok(true))
}

/// `DELETE /v3/admin/core/namespace`.
pub async fn delete_namespace(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let id = NamespaceId::parse(Some(p.required("namespaceId")?))?;
    ns_ops::delete(&app, id).await?;
    Ok(ok(true))
}

/// `GET /v3/admin/core/namespace/check`: how many namespaces have this id
/// (0 or 1).
pub async fn check_namespace(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let id = NamespaceId::parse(Some(p.required("namespaceId")?))?;
    Ok(ok(u8::from(ns_ops::exists(&app, &id))))
}

/// The server state map Nacos's consoles and SDKs read.
fn state_map(app: &AppRef) -> Value {
    let s = app.node.status();
    let cluster = s.members.len() > 1 || !app.settings.cluster.members.is_empty();
    let mut m = json!({
        "startup_mode": if cluster { "cluster" } else { "standalone" },
        "function_mode": null,
        "version": env!("CARGO_PKG_VERSION"),
        "server_port": app.http_addr.port().to_string(),
        "datasource_platform": "",
        "plugin_datasource_log_enabled": "false",
        "maxContent": app.settings.limits.max_config_bytes.to_string(),
        "isManageCapacity": "false",
        "isCapacityLimitCheck": "false",
        "auth_enabled": app.auth.enabled().to_string(),
        "auth_system_type": "nacos",
        "auth_admin_request": (app.auth.enabled()
            && !app.node.state().read().auth().has_admin())
        .to_string(),
        "login_page_enabled": app.auth.enabled().to_string(),
        "console_ui_enabled": app.settings.console.enabled.to_string(),
    });
    if cluster && let Some(o) = m.as_object_mut() {
        o.insert(
            "election_timeout_ms".into(),
            json!(app.settings.raft.election_max_ms.to_string()),
        );
    }
    m
}

/// `GET /v3/admin/core/state`.
pub async fn state(State(app): State<AppRef>) -> Response {
    ok(state_map(&app))
}

/// `GET /v1/console/server/state`: the bare map.
pub async fn v1_state(State(app): State<AppRef>) -> Response {
    Json(state_map(&app)).into_response()
}

// ----- auth ------------------------------------------------------------------

/// `POST /v3/auth/user`.
pub async fn create_user(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(v1::create_user_op(&app, &p).await?))
}

/// `PUT /v3/auth/user`.
pub async fn update_user(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(v1::update_user_op(&app, &p).await?))
}

/// `DELETE /v3/auth/user`.
pub async fn delete_user(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(v1::delete_user_op(&app, &p).await?))
}

/// `GET /v3/auth/user/list`.
pub async fn users(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(v1::users_page(&app, &p)?))
}

/// `GET /v3/auth/user/search?username=`: user names containing it.
pub async fn search_users(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let want = p.required("username")?.to_string();
    let state = app.node.state().read();
    let names: Vec<&str> = state
        .auth()
        .users()
        .filter(|u| u.contains(want.as_str()))
        .collect();
    Ok(ok(names))
}

/// `POST /v3/auth/user/admin`: sets the first administrator (`nacos`)
/// while there is none; its password is `password`, else a generated one,
/// answered once.
pub async fn init_admin(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    if app.node.state().read().auth().has_admin() {
        return Ok(Json(V2Result {
            code: 409,
            message: "have admin user cannot use it.".into(),
            data: Value::Null,
        })
        .into_response());
    }
    let password = p
        .get("password")
        .map(str::to_owned)
        .unwrap_or_else(crate::auth::random_password);
    let password_hash = v1::hash(&app, password.clone()).await?;
    let username = domain::DEFAULT_ADMIN.to_string();
    app.write(Command::Auth(AuthCommand::InitAdmin {
        username: username.clone(),
        record: UserRecord { password_hash },
    }))
    .await?;
    Ok(ok(json!({"username": username, "password": password})))
}

/// `POST /v3/auth/role`.
pub async fn add_role(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(v1::add_role_op(&app, &p).await?))
}

/// `DELETE /v3/auth/role`.
pub async fn delete_role(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(v1::delete_role_op(&app, &p).await?))
}

/// `GET /v3/auth/role/list`.
pub async fn roles(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(v1::roles_page(&app, &p)?))
}

/// `GET /v3/auth/role/search?role=`: role names containing it.
pub async fn search_roles(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let want = p.required("role")?.to_string();
    let state = app.node.state().read();
    let mut names: Vec<&str> = state
        .auth()
        .roles()
        .map(|(r, _)| r)
        .filter(|r| r.contains(want.as_str()))
        .collect();
    names.dedup();
    Ok(ok(names))
}

/// `POST /v3/auth/permission`.
pub async fn add_permission(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(v1::add_permission_op(&app, &p).await?))
}

/// `DELETE /v3/auth/permission`.
pub async fn delete_permission(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(v1::delete_permission_op(&app, &p).await?))
}

/// `GET /v3/auth/permission/list`.
pub async fn permissions(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(v1::permissions_page(&app, &p)?))
}

/// `GET /v3/auth/permission?role=&resource=&action=`: whether the role
/// already has that resource with that action (or `rw`).
pub async fn has_permission(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let role = p.required("role")?.to_string();
    let resource = p.required("resource")?.to_string();
    let action = Action::parse(p.required("action")?)?;
    let state = app.node.state().read();
    let dup = state.auth().permissions().any(|x| {
        x.role == role
            && x.resource == resource
            && (x.action == action || x.action == Action::ReadWrite)
    });
    Ok(ok(dup))
}

/// `GET /nacos/v3/admin/core/ops/backup` (a Nocas addition, administrators
/// only): a backup file of the durable state (`nocas backup` saves it,
/// `nocas restore` builds a data directory from it). Headers say the
/// applied index and the content digest.
pub async fn backup(State(app): State<AppRef>) -> V2Reply<Response> {
    use futures::StreamExt;
    let now = u64::try_from(crate::app::now_ms()).unwrap_or(0);
    let backup = app
        .node
        .backup(env!("CARGO_PKG_VERSION"), now)
        .await
        .map_err(|e| crate::error::V2(e.into()))?;
    let header = backup.header;
    let length = backup.head.len() as u64 + header.bytes;
    // Streamed from the file: the state is never in memory whole.
    let head = futures::stream::once(std::future::ready(Ok::<_, std::io::Error>(
        axum::body::Bytes::from(backup.head),
    )));
    let body = tokio_util::io::ReaderStream::with_capacity(
        tokio::fs::File::from_std(backup.body),
        256 * 1024,
    );
    let name = format!("nocas-backup-{now}.bak");
    let mut resp = axum::body::Body::from_stream(head.chain(body)).into_response();
    let h = resp.headers_mut();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = axum::http::HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put("content-type", "application/octet-stream".into());
    put("content-length", length.to_string());
    put(
        "content-disposition",
        format!("attachment; filename={name}"),
    );
    put("x-nocas-digest", header.digest);
    put(
        "x-nocas-applied",
        header
            .applied_index
            .map_or_else(|| "-".into(), |i| i.to_string()),
    );
    Ok(resp)
}

/// `GET /v3/admin/core/audit` (administrators; Nocas addition): the audit
/// trail, newest first. Filters: `kind`, `op`, `user`, `ip`, `target`
/// (substring), `from` / `to` (epoch milliseconds, `to` exclusive);
/// paging with `pageNo` / `pageSize`.
pub async fn audit(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let paging =
        crate::http::params::Paging::from_params(&p, 100, app.settings.limits.max_page_size)?;
    let text = |name: &str| {
        p.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let time = |name: &'static str| -> Result<Option<i64>, nocas_core::error::ValidationError> {
        Ok(p.u64_opt(name)?
            .map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
    };
    let q = nocas_core::audit::AuditQuery {
        kind: text("kind"),
        op: text("op"),
        user: text("user"),
        ip: text("ip"),
        target: text("target"),
        from_ms: time("from")?,
        to_ms: time("to")?,
    };
    let store = app.node.store().clone();
    let (no, size) = (paging.page_no, paging.page_size);
    let page = tokio::task::spawn_blocking(move || store.audit_page(&q, no, size))
        .await
        .map_err(|e| crate::error::V2(crate::error::ApiError::Internal(e.to_string())))?
        .map_err(|e| crate::error::V2(crate::error::ApiError::Internal(e.to_string())))?;
    let items: Vec<Value> = page
        .items
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id.to_string(),
                "logIndex": r.id >> nocas_core::audit::ID_SHIFT,
                "time": r.at_ms,
                "user": r.actor.user,
                "ip": r.actor.ip,
                "forwardedFor": r.actor.forwarded,
                "via": r.actor.via,
                "kind": r.kind,
                "op": r.op,
                "target": r.target,
                "detail": r.detail,
            })
        })
        .collect();
    Ok(ok(nocas_proto::http::Page {
        total_count: page.total,
        page_number: no,
        pages_available: page.total.div_ceil(size),
        page_items: items,
    }))
}

/// The command of `POST /ops/raft` (`{groupId, command, value}`), from a
/// JSON body (what Nacos reads) or, as Nacos's maintainer SDK sends it,
/// form or query parameters.
fn raft_command(query: Option<&str>, body: &[u8]) -> Result<(String, String), ApiError> {
    let mut fields = std::collections::HashMap::new();
    let trimmed = body.trim_ascii();
    if trimmed.starts_with(b"{") {
        let v: serde_json::Map<String, Value> = serde_json::from_slice(trimmed)
            .map_err(|e| ApiError::BadRequest(format!("the body is not a JSON object: {e}")))?;
        for (k, v) in v {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            fields.insert(k, text);
        }
    } else {
        for (k, v) in form_urlencoded::parse(trimmed) {
            fields.insert(k.into_owned(), v.into_owned());
        }
    }
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        fields
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    let command = fields
        .remove("command")
        .filter(|c| !c.is_empty())
        .ok_or(ValidationError::Missing { field: "command" })?;
    Ok((command, fields.remove("value").unwrap_or_default()))
}

/// `POST /v1/core/ops/raft`, `/v2/core/ops/raft`, `/v3/admin/core/ops/raft`
/// (administrators): Nacos's Raft operations. `doSnapshot` builds a
/// snapshot on this node now (its `value`, the peer to snapshot, must be
/// empty or this node: Nocas does not snapshot other nodes remotely) and
/// answers once it is kept. Nocas has one Raft group, so `groupId` is
/// ignored; the other commands are refused with the Nocas way to do them.
async fn raft_ops(app: &AppRef, query: Option<&str>, body: &[u8]) -> Result<u64, ApiError> {
    let (command, value) = raft_command(query, body)?;
    match command.as_str() {
        "doSnapshot" => {
            let me = app.node.me();
            let value = value.trim();
            let names_me = value.is_empty()
                || value == format!("{}:{}", me.host, me.raft)
                || value == me.to_string();
            if !names_me {
                return Err(ApiError::BadRequest(format!(
                    "doSnapshot snapshots the node it is sent to; send it to {value} itself"
                )));
            }
            Ok(app
                .node
                .snapshot_now(std::time::Duration::from_millis(
                    app.settings.raft.snapshot_timeout_ms,
                ))
                .await?)
        }
        "transferLeader" | "resetRaftCluster" | "removePeer" | "removePeers" | "changePeers" => {
            Err(ApiError::BadRequest(format!(
                "{command} is not supported: membership changes go through \
                 /nacos/v2/core/cluster/node (nocas cluster add|remove), and a stopping \
                 leader hands leadership over by itself"
            )))
        }
        other => Err(ApiError::BadRequest(format!(
            "unknown command {other:?} (supported: doSnapshot)"
        ))),
    }
}

/// `POST /v2/core/ops/raft` and `/v3/admin/core/ops/raft`.
pub async fn raft_ops_v2(
    State(app): State<AppRef>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> V2Reply<Json<V2Result<String>>> {
    let index = raft_ops(&app, query.as_deref(), &body)
        .await
        .map_err(crate::error::V2)?;
    Ok(Json(V2Result::ok(format!("snapshot at index {index}"))))
}

/// `POST /v1/core/ops/raft`.
pub async fn raft_ops_v1(
    State(app): State<AppRef>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    match raft_ops(&app, query.as_deref(), &body).await {
        Ok(index) => Json(nocas_proto::http::RestResult {
            code: 200,
            message: None,
            data: Some(format!("snapshot at index {index}")),
        })
        .into_response(),
        Err(e) => e.into_v1(),
    }
}
