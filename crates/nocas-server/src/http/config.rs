//! Config endpoints: `/nacos/v1/cs/*` and `/nacos/v2/cs/*`, including the
//! long-poll listener.

use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use nocas_core::error::ValidationError;
use nocas_core::names::{ConfigGroup, ConfigKey, DataId, NamespaceId};
use nocas_proto::http::{RestResult, V2Result};

use crate::app::AppRef;
use crate::error::{ApiError, V1, V1Result, V2, V2Reply};
use crate::http::params::{Paging, Params};
use crate::http::parse;
use crate::ops::config::{
    self as ops, Listened, PublishInput, SearchFilter, SearchMode, ServedConfig,
};

// Header names and fixed values as constants: built at compile time, not
// parsed and checked on every read.
const CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");
const CONFIG_TYPE: HeaderName = HeaderName::from_static("config-type");
const ENCRYPTED_DATA_KEY: HeaderName = HeaderName::from_static("encrypted-data-key");
const IS_BETA: HeaderName = HeaderName::from_static("isbeta");
const VIPSERVER_TAG: HeaderName = HeaderName::from_static("vipserver-tag");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-cache,no-store");
const ZERO: HeaderValue = HeaderValue::from_static("0");
const TRUE: HeaderValue = HeaderValue::from_static("true");

fn no_cache(h: &mut HeaderMap) {
    h.insert(header::PRAGMA, NO_CACHE);
    h.insert(header::CACHE_CONTROL, NO_STORE);
    h.insert(header::EXPIRES, ZERO);
}

fn content_type_for(config_type: &str) -> HeaderValue {
    const JSON: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");
    const XML: HeaderValue = HeaderValue::from_static("application/xml;charset=UTF-8");
    const HTML: HeaderValue = HeaderValue::from_static("text/html;charset=UTF-8");
    const TEXT: HeaderValue = HeaderValue::from_static("text/plain;charset=UTF-8");
    match config_type {
        "json" => JSON,
        "xml" => XML,
        "html" => HTML,
        _ => TEXT,
    }
}

/// The `Config-Type` value: the usual types without a copy.
fn config_type_value(t: &str) -> Option<HeaderValue> {
    Some(match t {
        "text" => HeaderValue::from_static("text"),
        "json" => HeaderValue::from_static("json"),
        "yaml" => HeaderValue::from_static("yaml"),
        "properties" => HeaderValue::from_static("properties"),
        "xml" => HeaderValue::from_static("xml"),
        "html" => HeaderValue::from_static("html"),
        "toml" => HeaderValue::from_static("toml"),
        other => return HeaderValue::from_str(other).ok(),
    })
}

/// `ms` since the epoch as an HTTP date. An HTTP date counts whole
/// seconds, so each worker thread keeps the last one it wrote and shares
/// it while the second is the same (a config read many times in a row).
fn http_date_value(ms: i64) -> Option<HeaderValue> {
    use std::fmt::Write as _;
    thread_local! {
        static LAST: std::cell::RefCell<Option<(u64, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    let ms = ms.max(0) as u64;
    let secs = ms / 1000;
    LAST.with_borrow_mut(|last| {
        if let Some((s, v)) = last.as_ref()
            && *s == secs
        {
            return Some(v.clone());
        }
        let when = UNIX_EPOCH + Duration::from_millis(ms);
        let mut b = String::with_capacity(29);
        write!(b, "{}", httpdate::HttpDate::from(when)).ok()?;
        let v = HeaderValue::from_maybe_shared(axum::body::Bytes::from(b)).ok()?;
        *last = Some((secs, v.clone()));
        Some(v)
    })
}

fn config_headers(h: &mut HeaderMap, s: &ServedConfig) {
    h.reserve(10);
    no_cache(h);
    // The stored MD5 shared, not copied.
    if let Ok(v) = HeaderValue::from_maybe_shared(super::shared_bytes(s.md5.clone())) {
        h.insert(CONTENT_MD5, v);
    }
    if let Some(v) = config_type_value(&s.config_type) {
        h.insert(CONFIG_TYPE, v);
    }
    if let Some(v) = http_date_value(s.modified_ms) {
        h.insert(header::LAST_MODIFIED, v);
    }
    let set = |h: &mut HeaderMap, name: HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(name, v);
        }
    };
    if !s.encrypted_data_key.is_empty() {
        set(h, ENCRYPTED_DATA_KEY, &s.encrypted_data_key);
    }
    if s.beta {
        h.insert(IS_BETA, TRUE);
    }
    if let Some(tag) = &s.tag {
        set(h, VIPSERVER_TAG, tag);
    }
}

/// Who made a change: the authenticated user (auth on, as Nacos records
/// the token's identity), else what the caller says.
pub(crate) fn src_user(p: &Params) -> String {
    match &p.user {
        Some(u) => u.clone(),
        None => p
            .get_any(&["src_user", "srcUser"])
            .unwrap_or("")
            .to_string(),
    }
}

pub(crate) fn publish_input(p: &Params, tenant_param: &str) -> Result<PublishInput, ApiError> {
    let key = parse::config_key(p, tenant_param)?;
    let content = p
        .raw("content")
        .ok_or(ValidationError::Missing { field: "content" })?
        .to_string();
    Ok(PublishInput {
        key,
        content,
        meta: parse::config_meta(p),
        tag: parse::tag(p)?,
        beta_ips: p.header("betaIps").or(p.get("betaIps")).map(str::to_owned),
        cas_md5: p.header("casMd5").or(p.get("casMd5")).map(str::to_owned),
        src_ip: p.client_ip.clone(),
        src_user: src_user(p),
    })
}

fn served_or_404(app: &AppRef, p: &Params, tenant_param: &str) -> Result<ServedConfig, ApiError> {
    let key = parse::config_key(p, tenant_param)?;
    let tag = parse::tag(p)?;
    ops::served(app, &key, &p.client_ip, tag.as_ref()).ok_or_else(ops::not_found)
}

fn search(
    app: &AppRef,
    p: &Params,
    mode_raw: &str,
    tenant_param: &str,
) -> Result<Response, ApiError> {
    let mode = match mode_raw {
        "accurate" => SearchMode::Accurate,
        "blur" => SearchMode::Blur,
        other => {
            return Err(ApiError::Invalid(ValidationError::Invalid {
                field: "search",
                reason: format!("must be accurate or blur, not '{other}'"),
            }));
        }
    };
    let ns = NamespaceId::parse(p.get(tenant_param))?;
    let paging = Paging::from_params(p, 10, app.settings.limits.max_page_size)?;
    let filter = SearchFilter {
        data_id: p.get("dataId").map(str::to_owned),
        group: p.get("group").map(str::to_owned),
        app_name: p.get("appName").map(str::to_owned),
        config_tags: p.get_any(&["config_tags", "configTags"]).map(str::to_owned),
        ..Default::default()
    };
    Ok(Json(ops::search(app, &ns, mode, &filter, paging)).into_response())
}

/// `GET /v1/cs/configs`: content, or `show=all`, `search=...`, `beta=true`,
/// `export=true`, `exportV2=true`.
pub async fn v1_get(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    if let Some(zip) = super::transfer::v1_export(&app, &p) {
        return zip;
    }
    if let Some(mode) = p.get("search") {
        return search(&app, &p, mode, "tenant").map_err(V1);
    }
    if p.bool_or("beta", false)? {
        let key = parse::config_key(&p, "tenant")?;
        let data = ops::beta_info(&app, &key);
        return Ok(Json(RestResult {
            code: 200,
            message: Some("query beta ok".into()),
            data,
        })
        .into_response());
    }
    if p.get("show") == Some("all") {
        let key = parse::config_key(&p, "tenant")?;
        let info = ops::all_info(&app, &key).ok_or_else(ops::not_found)?;
        return Ok(Json(info).into_response());
    }
    let s = served_or_404(&app, &p, "tenant").map_err(V1)?;
    let mut resp = super::shared_str(s.content.clone()).into_response();
    config_headers(resp.headers_mut(), &s);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, content_type_for(&s.config_type));
    Ok(resp)
}

/// `POST /v1/cs/configs`: publish, or `import=true`, `clone=true`.
pub async fn v1_publish(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    if let Some(done) = super::transfer::v1_import_or_clone(&app, &p).await {
        return done;
    }
    let input = publish_input(&p, "tenant").map_err(V1)?;
    ops::publish(&app, input).await?;
    Ok("true".into_response())
}

/// `DELETE /v1/cs/configs`: remove (or stop the beta with `beta=true`).
pub async fn v1_remove(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let key = parse::config_key(&p, "tenant")?;
    if p.bool_or("beta", false)? {
        ops::remove_beta(&app, key, p.client_ip.clone(), src_user(&p)).await?;
        return Ok(Json(RestResult {
            code: 200,
            message: Some("remove beta data ok".into()),
            data: true,
        })
        .into_response());
    }
    let tag = parse::tag(&p)?;
    ops::remove(&app, key, tag, p.client_ip.clone(), src_user(&p)).await?;
    Ok("true".into_response())
}

/// `POST /v1/cs/configs/beta/promote`: the beta becomes the formal version.
pub async fn v1_promote_beta(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let key = parse::config_key(&p, "tenant")?;
    ops::promote_beta(&app, key, p.client_ip.clone(), src_user(&p)).await?;
    Ok("true".into_response())
}

/// `GET /v2/cs/config`.
pub async fn v2_get(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let s = served_or_404(&app, &p, "namespaceId").map_err(V2)?;
    let mut resp = Json(V2Result::ok(s.content.to_string())).into_response();
    config_headers(resp.headers_mut(), &s);
    Ok(resp)
}

/// `POST /v2/cs/config`.
pub async fn v2_publish(State(app): State<AppRef>, p: Params) -> V2Reply<Json<V2Result<bool>>> {
    let input = publish_input(&p, "namespaceId").map_err(V2)?;
    ops::publish(&app, input).await?;
    Ok(Json(V2Result::ok(true)))
}

/// `DELETE /v2/cs/config` (`beta=true` stops the beta).
pub async fn v2_remove(State(app): State<AppRef>, p: Params) -> V2Reply<Json<V2Result<bool>>> {
    let key = parse::config_key(&p, "namespaceId")?;
    if p.bool_or("beta", false)? {
        ops::remove_beta(&app, key, p.client_ip.clone(), src_user(&p)).await?;
    } else {
        let tag = parse::tag(&p)?;
        ops::remove(&app, key, tag, p.client_ip.clone(), src_user(&p)).await?;
    }
    Ok(Json(V2Result::ok(true)))
}

/// `POST /v2/cs/config/beta/promote`.
pub async fn v2_promote_beta(
    State(app): State<AppRef>,
    p: Params,
) -> V2Reply<Json<V2Result<bool>>> {
    let key = parse::config_key(&p, "namespaceId")?;
    ops::promote_beta(&app, key, p.client_ip.clone(), src_user(&p)).await?;
    Ok(Json(V2Result::ok(true)))
}

// ----- history ----------------------------------------------------------

async fn history_page(app: &AppRef, p: &Params, tenant_param: &str) -> Result<Response, ApiError> {
    let key = parse::config_key(p, tenant_param)?;
    let paging = Paging::from_params(p, 100, 500)?;
    Ok(Json(ops::history_page(app, key, paging).await?).into_response())
}

async fn history_detail(
    app: &AppRef,
    p: &Params,
    tenant_param: &str,
) -> Result<nocas_proto::http::HistoryJson, ApiError> {
    let key = parse::config_key(p, tenant_param)?;
    let nid = p
        .u64_opt("nid")?
        .ok_or(ValidationError::Missing { field: "nid" })?;
    ops::history_detail(app, key, nid).await
}

async fn history_previous(
    app: &AppRef,
    p: &Params,
    tenant_param: &str,
) -> Result<nocas_proto::http::HistoryJson, ApiError> {
    let key = parse::config_key(p, tenant_param)?;
    let id = p
        .u64_opt("id")?
        .ok_or(ValidationError::Missing { field: "id" })?;
    ops::history_previous(app, key, id).await
}

/// `GET /v1/cs/history`: a page (`search=accurate`) or one entry (`nid`).
pub async fn v1_history(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    if p.get("nid").is_some() && p.get("search").is_none() {
        return Ok(Json(history_detail(&app, &p, "tenant").await.map_err(V1)?).into_response());
    }
    history_page(&app, &p, "tenant").await.map_err(V1)
}

/// `GET /v1/cs/history/previous`.
pub async fn v1_history_previous(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    Ok(Json(history_previous(&app, &p, "tenant").await.map_err(V1)?).into_response())
}

/// `GET /v1/cs/history/configs`.
pub async fn v1_history_configs(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let ns = NamespaceId::parse(p.get("tenant"))?;
    Ok(Json(ops::namespace_configs(&app, &ns)).into_response())
}

/// `GET /v2/cs/history/list`.
pub async fn v2_history_list(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = parse::config_key(&p, "namespaceId")?;
    let paging = Paging::from_params(&p, 100, 500)?;
    Ok(Json(V2Result::ok(ops::history_page(&app, key, paging).await?)).into_response())
}

/// `GET /v2/cs/history`.
pub async fn v2_history(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(Json(V2Result::ok(
        history_detail(&app, &p, "namespaceId").await.map_err(V2)?,
    ))
    .into_response())
}

/// `GET /v2/cs/history/previous`.
pub async fn v2_history_previous(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    Ok(Json(V2Result::ok(
        history_previous(&app, &p, "namespaceId")
            .await
            .map_err(V2)?,
    ))
    .into_response())
}

/// `GET /v2/cs/history/configs`.
pub async fn v2_history_configs(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let ns = NamespaceId::parse(p.get("namespaceId"))?;
    Ok(Json(V2Result::ok(ops::namespace_configs(&app, &ns))).into_response())
}

// ----- long polling -------------------------------------------------------

const WORD: char = '\u{2}';
const LINE: char = '\u{1}';

/// Parses `Listening-Configs`: records `dataId ^B group ^B md5 [^B tenant] ^A`.
pub fn parse_listening(raw: &str, max_keys: usize) -> Result<Vec<Listened>, ValidationError> {
    let mut out = Vec::new();
    for record in raw.split(LINE) {
        if record.is_empty() {
            continue;
        }
        let f: Vec<&str> = record.split(WORD).collect();
        if f.len() < 3 || f.len() > 4 {
            return Err(ValidationError::Invalid {
                field: "Listening-Configs",
                reason: "invalid probeModify".into(),
            });
        }
        let tenant = f.get(3).copied().unwrap_or("");
        out.push(Listened {
            key: ConfigKey::new(
                NamespaceId::parse(Some(tenant))?,
                ConfigGroup::parse(Some(f[1]))?,
                DataId::parse(Some(f[0]))?,
            ),
            md5: f[2].to_string(),
            tenant: tenant.to_string(),
        });
        if out.len() > max_keys {
            return Err(ValidationError::Invalid {
                field: "Listening-Configs",
                reason: format!("listens to more than {max_keys} configs"),
            });
        }
    }
    if out.is_empty() {
        return Err(ValidationError::Invalid {
            field: "Listening-Configs",
            reason: "invalid probeModify".into(),
        });
    }
    Ok(out)
}

/// The long-poll answer: URL-encoded `dataId ^B group [^B tenant] ^A` per
/// changed key, then a newline.
pub fn encode_changed(items: &[Listened], changed: &[usize]) -> String {
    let mut raw = String::new();
    for &i in changed {
        let l = &items[i];
        raw.push_str(l.key.data_id.as_str());
        raw.push(WORD);
        raw.push_str(l.key.group.as_str());
        if !l.tenant.trim().is_empty() {
            raw.push(WORD);
            raw.push_str(&l.tenant);
        }
        raw.push(LINE);
    }
    let mut out: String = form_urlencoded::byte_serialize(raw.as_bytes()).collect();
    out.push('\n');
    out
}

fn poll_answer(body: String) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    no_cache(resp.headers_mut());
    resp
}

/// `POST /v1/cs/configs/listener`: answers at once when an MD5 differs (or
/// the client asks not to hang), else holds until a change or the timeout.
pub async fn v1_listener(State(app): State<AppRef>, p: Params) -> V1Result<Response> {
    let raw = p
        .raw("Listening-Configs")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("invalid probeModify".into()))
        .map_err(V1)?;
    let items = parse_listening(raw, app.settings.limits.max_listen_keys)?;
    let cfg = &app.settings.config;
    let timeout = p.header("Long-Pulling-Timeout").map(|v| {
        v.parse::<u64>().map_err(|_| ValidationError::Invalid {
            field: "Long-Pulling-Timeout",
            reason: format!("'{v}' is not a number of milliseconds"),
        })
    });
    let timeout = timeout.transpose()?;
    let no_hangup = p
        .header("Long-Pulling-Timeout-No-Hangup")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let client_ip = p.client_ip.clone();

    let Some(timeout) = timeout.filter(|_| !no_hangup) else {
        let changed = ops::changed(&app, &items, &client_ip);
        return Ok(poll_answer(encode_changed(&items, &changed)));
    };
    if app.hub.held_watchers() >= app.settings.limits.max_long_polls {
        return Err(V1(ApiError::Busy("too many held long polls".into())));
    }
    let hold = Duration::from_millis(
        timeout
            .saturating_sub(cfg.long_poll_margin_ms)
            .max(cfg.long_poll_min_ms),
    );
    let deadline = tokio::time::Instant::now() + hold;
    // Register first, then look: a change in between still wakes us.
    let watch = app
        .hub
        .watch_configs(items.iter().map(|l| l.key.clone()).collect());
    loop {
        let changed = ops::changed(&app, &items, &client_ip);
        if !changed.is_empty() || app.hub.is_closing() {
            return Ok(poll_answer(encode_changed(&items, &changed)));
        }
        tokio::select! {
            _ = watch.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {
                return Ok(poll_answer("\n".to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_follow_the_second() {
        let date = |ms| http_date_value(ms).map(|v| v.to_str().unwrap_or("").to_owned());
        assert_eq!(date(0).as_deref(), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
        assert_eq!(date(999).as_deref(), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
        assert_eq!(date(1000).as_deref(), Some("Thu, 01 Jan 1970 00:00:01 GMT"));
        assert_eq!(date(0).as_deref(), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
        assert_eq!(
            date(1_764_633_600_000).as_deref(),
            Some("Tue, 02 Dec 2025 00:00:00 GMT")
        );
        assert_eq!(date(-5).as_deref(), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
    }

    #[test]
    fn listening_round_trip() {
        let raw = "app.yaml\u{2}G\u{2}abc\u{1}db\u{2}G\u{2}\u{2}dev\u{1}";
        let items = parse_listening(raw, 10).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].tenant, "dev");
        assert_eq!(items[1].md5, "");
        let body = encode_changed(&items, &[0, 1]);
        assert_eq!(body, "app.yaml%02G%01db%02G%02dev%01\n");
        assert!(parse_listening("junk", 10).is_err());
        assert!(parse_listening("", 10).is_err());
        assert!(parse_listening(raw, 1).is_err());
    }
}
