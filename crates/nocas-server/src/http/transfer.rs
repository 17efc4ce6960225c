//! Config export, import and clone over HTTP, in each API's spelling:
//! v1 (`GET /v1/cs/configs?export=true|exportV2=true`, `POST
//! /v1/cs/configs?import=true|clone=true`), v3 admin (`/v3/admin/cs/config/
//! export|import|clone`) and v3 console (`/v3/console/cs/config/
//! export2|import|clone`). The formats and the policy are
//! [`crate::ops::transfer`]'s; this module reads parameters, the uploaded
//! file and clone lists, and shapes Nacos's answers (business refusals are
//! HTTP 200 with a result code, as in Nacos).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use nocas_core::auth::{Action, Resource};
use nocas_core::error::ValidationError;
use nocas_core::names::NamespaceId;

use crate::app::AppRef;
use crate::error::{ApiError, V1Result, V2Reply};
use crate::http::config::src_user;
use crate::http::params::Params;
use crate::ops::namespace as ns_ops;
use crate::ops::transfer::{self as ops, Author, CloneOf, Policy, Refusal, Report, Selection};

/// Which API a request came in by (names and answers differ).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    V1,
    Admin,
    Console,
}

fn selection(p: &Params) -> Result<Selection, ApiError> {
    let mut ids = Vec::new();
    for id in p.get("ids").unwrap_or("").split(',').map(str::trim) {
        if id.is_empty() {
            continue;
        }
        ids.push(id.parse::<u64>().map_err(|_| ValidationError::Invalid {
            field: "ids",
            reason: format!("'{id}' is not a config id"),
        })?);
    }
    Ok(Selection {
        data_id: p.get("dataId").unwrap_or("").to_string(),
        group: p.get_any(&["group", "groupName"]).unwrap_or("").to_string(),
        app_name: p.get("appName").unwrap_or("").to_string(),
        ids,
    })
}

/// The ZIP download of what `p` selects in namespace parameter `ns_param`.
fn export(app: &AppRef, p: &Params, ns_param: &str, v2: bool) -> Result<Response, ApiError> {
    let ns = NamespaceId::parse(p.get(ns_param))?;
    let items = ops::select(app, &ns, &selection(p)?);
    let bytes = ops::zip(&items, v2)?;
    let stamp = chrono_stamp(crate::app::now_ms());
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment;filename=nacos_config_export_{stamp}.zip"
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `yyyyMMddHHmmss` (UTC) of a time in milliseconds.
fn chrono_stamp(ms: i64) -> String {
    let (y, m, d, hh, mm, ss) = ops::civil(ms);
    format!("{y:04}{m:02}{d:02}{hh:02}{mm:02}{ss:02}")
}

/// The `file` part of a multipart upload, if any.
async fn uploaded_file(p: &Params) -> Result<Option<Vec<u8>>, ApiError> {
    let (Some(body), Some(ct)) = (p.body.clone(), p.header("content-type")) else {
        return Ok(None);
    };
    let Ok(boundary) = multer::parse_boundary(ct) else {
        return Ok(None);
    };
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let bad = |e: multer::Error| {
        ApiError::Invalid(ValidationError::Invalid {
            field: "file",
            reason: format!("malformed upload: {e}"),
        })
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() == Some("file") {
            return Ok(Some(field.bytes().await.map_err(bad)?.to_vec()));
        }
    }
    Ok(None)
}

/// A business answer: `Ok` with the report, or a refusal with its code.
fn answer(api: Api, done: Result<Report, Refusal>, ok_message: &str, empty_data: bool) -> Response {
    let body = match (api, done) {
        (Api::V1, Ok(r)) => json!({"code": 200, "message": ok_message, "data": r}),
        (_, Ok(r)) => json!({"code": 0, "message": "success", "data": r}),
        (api, Err(refusal)) => {
            let data = if empty_data {
                json!({})
            } else {
                json!({"succCount": 0})
            };
            let message = if api == Api::V1 {
                refusal.v1_message().to_string()
            } else {
                refusal.to_string()
            };
            json!({"code": refusal.code(api != Api::V1), "message": message, "data": data})
        }
    };
    Json(body).into_response()
}

/// Who writes: the token's user, else the user parameter of the API
/// (`srcUser` in the console API, `src_user` elsewhere).
fn author(p: &Params, api: Api) -> Author {
    let user_param = if api == Api::Console {
        "srcUser"
    } else {
        "src_user"
    };
    let user = match &p.user {
        Some(u) => u.clone(),
        None => p
            .get(user_param)
            .map(str::to_owned)
            .unwrap_or_else(|| src_user(p)),
    };
    Author {
        ip: p.client_ip.clone(),
        user,
    }
}

/// With auth on, the caller must be allowed to write every config it
/// brings (the route's check covers the namespace, not each group).
fn may_write_all(
    app: &AppRef,
    p: &Params,
    ns: &NamespaceId,
    items: &[ops::Item],
) -> Result<(), ApiError> {
    let Some(user) = &p.user else {
        return Ok(());
    };
    let state = app.node.state().read();
    let auth = state.auth();
    for i in items {
        let r = Resource::new(
            ns.as_str(),
            &i.group,
            nocas_core::auth::ResourceKind::Config,
            &i.data_id,
        );
        if !auth.allows(user, &r, Action::Write) {
            return Err(ApiError::Forbidden(format!(
                "user {user} may not write {}/{} in namespace {ns}",
                i.group, i.data_id
            )));
        }
    }
    Ok(())
}

async fn import(app: &AppRef, p: &Params, api: Api) -> Result<Response, ApiError> {
    let ns_param = if api == Api::V1 {
        "namespace"
    } else {
        "namespaceId"
    };
    let policy = Policy::parse(p.get("policy"))?;
    let Some(file) = uploaded_file(p).await? else {
        return Ok(answer(api, Err(Refusal::Empty), "", true));
    };
    let ns = NamespaceId::parse(p.get(ns_param))?;
    if !ns_ops::exists(app, &ns) {
        return Ok(answer(api, Err(Refusal::NoNamespace), "", false));
    }
    let limits = ops::Unpack {
        per_entry: app.settings.limits.max_config_bytes,
        total: app.settings.limits.max_import_bytes,
        entries: app.settings.limits.max_import_entries,
    };
    let parsed = match ops::parse(&file, api == Api::V1, limits) {
        Ok(parsed) => parsed,
        Err(refusal) => return Ok(answer(api, Err(refusal), "", false)),
    };
    if parsed.items.is_empty() {
        return Ok(answer(api, Err(Refusal::Empty), "", false));
    }
    may_write_all(app, p, &ns, &parsed.items)?;
    let mut report = ops::write(app, &ns, parsed.items, policy, &author(p, api)).await?;
    if !parsed.unrecognized.is_empty() {
        report.unrecognized_count = Some(parsed.unrecognized.len());
        report.unrecognized_data = Some(
            parsed
                .unrecognized
                .into_iter()
                .map(|name| json!({"itemName": name}))
                .collect(),
        );
    }
    Ok(answer(api, Ok(report), "import success", false))
}

/// The clone list of a request body: `[{cfgId, dataId, group}]` (v1,
/// console) or `[{configId, targetGroupName, targetDataId}]` (admin).
fn clone_list(p: &Params, api: Api) -> Result<Vec<CloneOf>, ApiError> {
    let raw = p.body.as_deref().unwrap_or(b"[]");
    let list: Vec<Value> = serde_json::from_slice(raw).map_err(|e| ValidationError::Invalid {
        field: "body",
        reason: format!("is not a JSON list of configs to clone: {e}"),
    })?;
    let (id, group, data_id) = if api == Api::Admin {
        ("configId", "targetGroupName", "targetDataId")
    } else {
        ("cfgId", "group", "dataId")
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut out = Vec::new();
    for v in list.iter().filter(|v| !v.is_null()) {
        let cfg_id = match v.get(id) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or(ValidationError::Invalid {
            field: "body",
            reason: format!("every entry needs a numeric {id}"),
        })?;
        out.push(CloneOf {
            id: cfg_id,
            group: text(v, group),
            data_id: text(v, data_id),
        });
    }
    Ok(out)
}

async fn clone(app: &AppRef, p: &Params, api: Api) -> Result<Response, ApiError> {
    let target_param = match api {
        Api::V1 => "tenant",
        Api::Admin => "namespaceId",
        Api::Console => "targetNamespaceId",
    };
    let policy = Policy::parse(p.get("policy"))?;
    let wanted = clone_list(p, api)?;
    let message = "Clone Completed Successfully";
    if wanted.is_empty() {
        return Ok(answer(api, Err(Refusal::NoneSelected), message, false));
    }
    if api != Api::V1 && p.get(target_param).is_none() {
        return Err(ValidationError::Missing {
            field: "targetNamespaceId",
        }
        .into());
    }
    let ns = NamespaceId::parse(p.get(target_param))?;
    if !ns_ops::exists(app, &ns) {
        return Ok(answer(api, Err(Refusal::NoNamespace), message, false));
    }
    let found = ops::clone_items(app, &wanted);
    if found.is_empty() {
        return Ok(answer(api, Err(Refusal::Empty), message, false));
    }
    // The access check saw only the target namespace: the caller must
    // also be allowed to read every source (named by id only, so the
    // refusal tells nothing about a config the caller may not see).
    if let Some(user) = &p.user {
        let state = app.node.state().read();
        if let Some((id, _, _)) = found.iter().find(|(_, k, _)| {
            !state
                .auth()
                .allows(user, &Resource::config(k), Action::Read)
        }) {
            return Err(ApiError::Forbidden(format!(
                "user {user} may not read config id {id}"
            )));
        }
    }
    let items: Vec<ops::Item> = found.into_iter().map(|(_, _, i)| i).collect();
    may_write_all(app, p, &ns, &items)?;
    let report = ops::write(app, &ns, items, policy, &author(p, api)).await?;
    Ok(answer(api, Ok(report), message, false))
}

/// What a `/v1/cs/configs` request does besides plain config calls. The
/// access check and the handlers both decide with this one function, so
/// they cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Mode {
    /// `GET ?export=true`.
    Export,
    /// `GET ?exportV2=true`.
    ExportV2,
    /// `POST ?import=true`.
    Import,
    /// `POST ?clone=true`.
    Clone,
}

/// The transfer a v1 config request asks for, if any.
pub fn v1_mode(method: &axum::http::Method, p: &Params) -> Option<V1Mode> {
    let on = |name: &'static str| p.bool_or(name, false).unwrap_or(false);
    if *method == axum::http::Method::GET {
        if on("exportV2") {
            return Some(V1Mode::ExportV2);
        }
        if on("export") {
            return Some(V1Mode::Export);
        }
    }
    if *method == axum::http::Method::POST {
        if on("import") {
            return Some(V1Mode::Import);
        }
        if on("clone") {
            return Some(V1Mode::Clone);
        }
    }
    None
}

/// `GET /v1/cs/configs?export=true` (`.meta.yml`) or `exportV2=true`
/// (`.metadata.yml`); `None` when neither is asked for.
pub fn v1_export(app: &AppRef, p: &Params) -> Option<V1Result<Response>> {
    let v2 = match v1_mode(&axum::http::Method::GET, p)? {
        V1Mode::ExportV2 => true,
        V1Mode::Export => false,
        _ => return None,
    };
    Some(export(app, p, "tenant", v2).map_err(Into::into))
}

/// `POST /v1/cs/configs?import=true` or `clone=true`; `None` otherwise.
pub async fn v1_import_or_clone(app: &AppRef, p: &Params) -> Option<V1Result<Response>> {
    match v1_mode(&axum::http::Method::POST, p)? {
        V1Mode::Import => Some(import(app, p, Api::V1).await.map_err(Into::into)),
        V1Mode::Clone => Some(clone(app, p, Api::V1).await.map_err(Into::into)),
        _ => None,
    }
}

/// `GET /v3/admin/cs/config/export` and `/v3/console/cs/config/export2`.
pub async fn v3_export(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(export(&app, &p, "namespaceId", true)?)
}

/// `POST /v3/admin/cs/config/import`.
pub async fn admin_import(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(import(&app, &p, Api::Admin).await?)
}

/// `POST /v3/console/cs/config/import`.
pub async fn console_import(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(import(&app, &p, Api::Console).await?)
}

/// `POST /v3/admin/cs/config/clone`.
pub async fn admin_clone(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(clone(&app, &p, Api::Admin).await?)
}

/// `POST /v3/console/cs/config/clone`.
pub async fn console_clone(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(clone(&app, &p, Api::Console).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names_carry_the_time() {
        assert_eq!(chrono_stamp(0), "19700101000000");
        assert_eq!(chrono_stamp(1_741_944_605_000), "20250314093005");
    }
}
