//! Config routes of Nacos 3: `/nacos/v3/admin/cs/*` and
//! `/nacos/v3/client/cs/config`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use nocas_core::config::{ConfigRecord, ConfigVersion};
use nocas_core::error::ValidationError;
use nocas_core::fuzzy::config_group_key;
use nocas_core::names::{ConfigKey, NamespaceId};
use nocas_proto::http::V2Result;

use super::{ok, renamed};
use crate::app::AppRef;
use crate::error::{ApiError, V2, V2Reply};
use crate::http::config::{publish_input, src_user};
use crate::http::params::{Paging, Params};
use crate::http::parse;
use crate::ops::config::{self as ops, SearchFilter, SearchMode};

/// The config named by `dataId`, `groupName` (both required) and
/// `namespaceId` (blank: public).
pub(super) fn key(p: &Params) -> Result<ConfigKey, ApiError> {
    if p.get("groupName").is_none() && p.get("group").is_none() {
        return Err(ValidationError::Missing { field: "groupName" }.into());
    }
    if p.get("dataId").is_none() {
        return Err(ValidationError::Missing { field: "dataId" }.into());
    }
    Ok(parse::config_key(p, "namespaceId")?)
}

/// Nacos 3's `ConfigBasicInfo` of a version.
fn basic(key: &ConfigKey, id: u64, v: &ConfigVersion) -> Value {
    json!({
        "id": id.to_string(),
        "namespaceId": key.namespace.as_str(),
        "groupName": key.group.as_str(),
        "dataId": key.data_id.as_str(),
        "md5": &*v.md5,
        "type": v.meta.config_type,
        "appName": v.meta.app_name,
        "createTime": v.created_ms,
        "modifyTime": v.modified_ms,
    })
}

/// Nacos 3's `ConfigDetailInfo`.
fn detail(key: &ConfigKey, id: u64, v: &ConfigVersion) -> Value {
    let mut d = basic(key, id, v);
    if let Some(o) = d.as_object_mut() {
        o.insert("content".into(), json!(&*v.content));
        o.insert("desc".into(), json!(v.meta.desc));
        o.insert("encryptedDataKey".into(), json!(v.meta.encrypted_data_key));
        o.insert("createUser".into(), json!(v.create_user));
        o.insert("createIp".into(), json!(v.create_ip));
        o.insert("configTags".into(), json!(v.meta.config_tags));
    }
    d
}

fn record(app: &AppRef, key: &ConfigKey) -> Option<ConfigRecord> {
    app.node.state().read().config(key).cloned()
}

/// `GET /v3/admin/cs/config`.
pub async fn get(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(formal_detail(&app, &key(&p)?)?))
}

/// The released version of a config, in Nacos 3's `ConfigDetailInfo`.
pub(super) fn formal_detail(app: &AppRef, key: &ConfigKey) -> Result<Value, ApiError> {
    let rec = record(app, key).ok_or_else(ops::not_found)?;
    let v = rec.formal.as_ref().ok_or_else(ops::not_found)?;
    Ok(detail(key, rec.id, v))
}

/// `POST /v3/admin/cs/config`.
pub async fn publish(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    key(&p)?;
    let input = publish_input(&p, "namespaceId").map_err(V2)?;
    ops::publish(&app, input).await?;
    Ok(ok(true))
}

/// `PUT|POST /v3/admin/cs/config/metadata`: changes a config's `desc`
/// and `configTags` (the content and everything else stay; the MD5 does
/// not change, so listeners are not woken).
pub async fn update_metadata(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = key(&p)?;
    let rec = record(&app, &key).ok_or_else(ops::not_found)?;
    let v = rec.formal.ok_or_else(ops::not_found)?;
    let mut meta = v.meta.clone();
    if let Some(d) = p.raw("desc") {
        meta.desc = d.to_string();
    }
    if let Some(t) = p.raw("configTags") {
        meta.config_tags = t.to_string();
    }
    ops::publish(
        &app,
        ops::PublishInput {
            key,
            content: v.content.to_string(),
            meta,
            tag: None,
            beta_ips: None,
            cas_md5: Some(v.md5.to_string()),
            src_ip: p.client_ip.clone(),
            src_user: src_user(&p),
        },
    )
    .await?;
    Ok(ok(true))
}

/// `DELETE /v3/admin/cs/config` (with `tag`: that tagged version).
pub async fn remove(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = key(&p)?;
    let tag = parse::tag(&p)?;
    ops::remove(&app, key, tag, p.client_ip.clone(), src_user(&p)).await?;
    Ok(ok(true))
}

/// `DELETE /v3/admin/cs/config/batch`: by config ids (`ids=1,2,3`);
/// unknown ids are skipped.
pub async fn remove_batch(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let raw = p.required("ids")?;
    let mut ids = Vec::new();
    for id in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        ids.push(id.parse::<u64>().map_err(|_| ValidationError::Invalid {
            field: "ids",
            reason: format!("'{id}' is not a config id"),
        })?);
    }
    // With `namespaceId` (what the console sends; checked as a write on
    // that namespace) only configs there; without it, as in Nacos, any
    // config with those ids (administrators only).
    let ns = p
        .get("namespaceId")
        .map(|n| NamespaceId::parse(Some(n)))
        .transpose()?;
    let keys: Vec<ConfigKey> = {
        let state = app.node.state().read();
        state
            .configs()
            .iter()
            .filter(|(k, r)| ns.as_ref().is_none_or(|n| k.namespace == *n) && ids.contains(&r.id))
            .map(|(k, _)| k.clone())
            .collect()
    };
    for key in keys {
        ops::remove(&app, key, None, p.client_ip.clone(), src_user(&p)).await?;
    }
    Ok(ok(true))
}

/// `GET /v3/admin/cs/config/list`: `search=blur` (default) or `accurate`
/// over `dataId`, `groupName`, `appName`, `configTags`, `type` (comma
/// list) and `configDetail` (content).
pub async fn list(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let mode = match p.get("search").unwrap_or("blur") {
        "blur" => SearchMode::Blur,
        "accurate" => SearchMode::Accurate,
        other => {
            return Err(V2(ValidationError::Invalid {
                field: "search",
                reason: format!("must be blur or accurate, not '{other}'"),
            }
            .into()));
        }
    };
    let ns = NamespaceId::parse(p.get("namespaceId"))?;
    let paging = Paging::from_params(&p, 100, app.settings.limits.max_page_size)?;
    let filter = SearchFilter {
        data_id: p.get("dataId").map(str::to_owned),
        group: p.get("groupName").map(str::to_owned),
        app_name: p.get("appName").map(str::to_owned),
        config_tags: p.get("configTags").map(str::to_owned),
        content: p.get("configDetail").map(str::to_owned),
        types: p.get("type").map(|t| {
            t.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        }),
    };
    let page = ops::search_with(&app, &ns, mode, &filter, paging, |k, r| {
        r.formal.as_ref().map(|v| basic(k, r.id, v))
    });
    Ok(ok(page))
}

/// `GET /v3/admin/cs/config/listener`: the clients (gRPC connections at
/// this node) listening to a config, with the MD5 each is served.
pub async fn listeners(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = key(&p)?;
    // Each listener's MD5 is the one it last reported (as Nacos shows it),
    // so a client that has not caught up shows an older MD5.
    let mut status = serde_json::Map::new();
    for c in app.conns.registered() {
        if let Some((_, md5)) = c.listen_md5s().into_iter().find(|(k, _)| *k == key) {
            status.insert(c.client_ip(), json!(md5));
        }
    }
    Ok(ok(
        json!({"queryType": "config", "listenersStatus": status}),
    ))
}

/// `GET /v3/admin/cs/listener?ip=`: what the clients at one IP listen to
/// (group keys `dataId+group+namespace`), with the MD5 each is served.
pub async fn listeners_of_ip(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let ip = p.required("ip")?.to_string();
    let ns = p
        .get("namespaceId")
        .map(|n| NamespaceId::parse(Some(n)))
        .transpose()?;
    let mut status = serde_json::Map::new();
    for c in app.conns.registered() {
        if c.client_ip() != ip {
            continue;
        }
        for (k, md5) in c.listen_md5s() {
            if ns.as_ref().is_some_and(|n| *n != k.namespace) {
                continue;
            }
            status.insert(config_group_key(&k), json!(md5));
        }
    }
    Ok(ok(json!({"queryType": "ip", "listenersStatus": status})))
}

/// `GET /v3/admin/cs/config/beta`: the beta as Nacos 3's `ConfigGrayInfo`.
pub async fn get_beta(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(ok(beta_detail(&app, &key(&p)?)?))
}

/// The beta version of a config with its rule and IPs.
pub(super) fn beta_detail(app: &AppRef, key: &ConfigKey) -> Result<Value, ApiError> {
    let rec = record(app, key).ok_or_else(ops::not_found)?;
    let beta = rec
        .beta
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("Config is not in beta.".into()))?;
    let mut d = detail(key, rec.id, &beta.version);
    if let Some(o) = d.as_object_mut() {
        let rule = json!({
            "type": "beta",
            "version": "1.0.0",
            "expr": beta.ips.join(","),
            "priority": i32::MAX,
        });
        o.insert("grayName".into(), json!("beta"));
        o.insert("grayRule".into(), json!(rule.to_string()));
        o.insert("betaIps".into(), json!(beta.ips.join(",")));
    }
    Ok(d)
}

/// `DELETE /v3/admin/cs/config/beta`: stops the beta.
pub async fn remove_beta(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = key(&p)?;
    ops::remove_beta(&app, key, p.client_ip.clone(), src_user(&p)).await?;
    Ok(ok(true))
}

/// A v1/v2 history entry in Nacos 3's names.
pub(super) fn history_v3(h: nocas_proto::http::HistoryJson) -> Result<Value, ApiError> {
    let v = serde_json::to_value(h).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut v = renamed(
        v,
        &[
            ("group", "groupName"),
            ("tenant", "namespaceId"),
            ("createdTime", "createTime"),
            ("lastModifiedTime", "modifyTime"),
        ],
    );
    if let Some(o) = v.as_object_mut()
        && o.get("namespaceId").and_then(Value::as_str) == Some("")
    {
        o.insert(
            "namespaceId".into(),
            json!(nocas_core::names::PUBLIC_NAMESPACE),
        );
    }
    Ok(v)
}

/// `GET /v3/admin/cs/history/list`.
pub async fn history_list(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = key(&p)?;
    let paging = Paging::from_params(&p, 100, 500)?;
    let page = ops::history_page(&app, key, paging).await?;
    let items = page
        .page_items
        .into_iter()
        .map(history_v3)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(json!({
        "totalCount": page.total_count,
        "pageNumber": page.page_number,
        "pagesAvailable": page.pages_available,
        "pageItems": items,
    })))
}

/// `GET /v3/admin/cs/history?nid=`.
pub async fn history(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = key(&p)?;
    let nid = p
        .u64_opt("nid")?
        .ok_or(ValidationError::Missing { field: "nid" })?;
    Ok(ok(history_v3(ops::history_detail(&app, key, nid).await?)?))
}

/// `GET /v3/admin/cs/history/previous?id=`.
pub async fn history_previous(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = key(&p)?;
    let id = p
        .u64_opt("id")?
        .ok_or(ValidationError::Missing { field: "id" })?;
    Ok(ok(history_v3(ops::history_previous(&app, key, id).await?)?))
}

/// `GET /v3/admin/cs/history/configs`: every config of a namespace.
pub async fn history_configs(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let ns = NamespaceId::parse(p.get("namespaceId"))?;
    let state = app.node.state().read();
    let items: Vec<Value> = state
        .configs()
        .iter()
        .filter(|(k, _)| k.namespace == ns)
        .filter_map(|(k, r)| r.formal.as_ref().map(|v| basic(k, r.id, v)))
        .collect();
    Ok(ok(items))
}

/// `GET /v3/client/cs/config`: what this client (by its IP) is served,
/// in Nacos 3's shape; an absent config is `code` 20004 with HTTP 200.
pub async fn client_get(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = key(&p)?;
    let tag = parse::tag(&p)?;
    let Some(s) = ops::served(&app, &key, &p.client_ip, tag.as_ref()) else {
        return Ok(Json(V2Result {
            code: 20004,
            message: "resource not found".into(),
            data: Value::Null,
        })
        .into_response());
    };
    Ok(ok(json!({
        "content": &*s.content,
        "encryptedDataKey": s.encrypted_data_key,
        "contentType": s.config_type,
        "md5": &*s.md5,
        "lastModified": s.modified_ms,
        "beta": s.beta,
        "tag": s.tag,
        "resultCode": 200,
        "errorCode": 0,
        "message": null,
        "requestId": null,
        "success": true,
    })))
}
