//! Config operations: read what a client is served, publish, remove, beta,
//! search, history, and the MD5 comparison listeners rely on.

use std::sync::Arc;

use nocas_core::Millis;
use nocas_core::command::{Command, Publish};
use nocas_core::config::{ConfigMeta, ConfigRecord, HistoryRecord, md5_hex};
use nocas_core::error::{CommandError, ValidationError};
use nocas_core::names::{ConfigKey, ConfigTag, NamespaceId};
use nocas_proto::http::{
    ConfigAllInfoJson, ConfigInfoWrapperJson, ConfigItemJson, HistoryJson, Page,
};

use crate::app::App;
use crate::error::ApiError;
use crate::http::params::Paging;

/// The version a client gets.
#[derive(Debug, Clone)]
pub struct ServedConfig {
    /// Content.
    pub content: Arc<str>,
    /// MD5.
    pub md5: Arc<str>,
    /// Content type.
    pub config_type: String,
    /// Last change (ms).
    pub modified_ms: Millis,
    /// It is the beta.
    pub beta: bool,
    /// The tag served.
    pub tag: Option<String>,
    /// Encrypted data key.
    pub encrypted_data_key: String,
}

/// What a client at `client_ip` reading with `tag` is served.
pub fn served(
    app: &App,
    key: &ConfigKey,
    client_ip: &str,
    tag: Option<&ConfigTag>,
) -> Option<ServedConfig> {
    let state = app.node.state().read();
    let s = state.config(key)?.served(client_ip, tag)?;
    Some(ServedConfig {
        content: s.version.content.clone(),
        md5: s.version.md5.clone(),
        config_type: s.version.meta.config_type.clone(),
        modified_ms: s.version.modified_ms,
        beta: s.beta,
        tag: s.tag.map(|t| t.to_string()),
        encrypted_data_key: s.version.meta.encrypted_data_key.clone(),
    })
}

/// A publish as the edge receives it.
#[derive(Debug, Clone)]
pub struct PublishInput {
    /// Config.
    pub key: ConfigKey,
    /// Content.
    pub content: String,
    /// Descriptive fields.
    pub meta: ConfigMeta,
    /// Tag version.
    pub tag: Option<ConfigTag>,
    /// Beta IPs (`betaIps`), comma separated.
    pub beta_ips: Option<String>,
    /// Expected MD5 (`casMd5`).
    pub cas_md5: Option<String>,
    /// Source IP.
    pub src_ip: String,
    /// User.
    pub src_user: String,
}

/// Validates and publishes.
pub async fn publish(app: &App, input: PublishInput) -> Result<(), ApiError> {
    if input.content.trim().is_empty() {
        return Err(ApiError::Invalid(ValidationError::Blank {
            field: "content",
        }));
    }
    let max = app.settings.limits.max_config_bytes;
    if input.content.len() > max {
        return Err(ApiError::TooLarge(format!("invalid content, over {max}")));
    }
    let beta_ips = input.beta_ips.as_deref().and_then(|raw| {
        let ips: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        (!ips.is_empty()).then_some(ips)
    });
    let md5 = md5_hex(&input.content);
    app.write(Command::PublishConfig(Box::new(Publish {
        key: input.key,
        content: Arc::from(input.content),
        md5: Arc::from(md5),
        meta: input.meta,
        tag: input.tag,
        beta_ips,
        cas_md5: input.cas_md5.filter(|s| !s.trim().is_empty()),
        src_ip: input.src_ip,
        src_user: input.src_user,
    })))
    .await?;
    Ok(())
}

/// Removes the formal (or a tagged) version. Removing nothing is fine.
pub async fn remove(
    app: &App,
    key: ConfigKey,
    tag: Option<ConfigTag>,
    src_ip: String,
    src_user: String,
) -> Result<(), ApiError> {
    app.write(Command::RemoveConfig {
        key,
        tag,
        src_ip,
        src_user,
    })
    .await?;
    Ok(())
}

/// Stops a beta. Stopping none is fine.
pub async fn remove_beta(
    app: &App,
    key: ConfigKey,
    src_ip: String,
    src_user: String,
) -> Result<(), ApiError> {
    app.write(Command::RemoveBeta {
        key,
        src_ip,
        src_user,
    })
    .await?;
    Ok(())
}

/// Promotes the beta to the formal version.
pub async fn promote_beta(
    app: &App,
    key: ConfigKey,
    src_ip: String,
    src_user: String,
) -> Result<(), ApiError> {
    app.write(Command::PromoteBeta {
        key,
        src_ip,
        src_user,
    })
    .await?;
    Ok(())
}

/// The beta of a config, as the console reads it.
pub fn beta_info(app: &App, key: &ConfigKey) -> Option<serde_json::Value> {
    let state = app.node.state().read();
    let rec = state.config(key)?;
    let beta = rec.beta.as_ref()?;
    let v = &beta.version;
    Some(serde_json::json!({
        "id": rec.id.to_string(),
        "dataId": key.data_id.as_str(),
        "group": key.group.as_str(),
        "tenant": key.namespace.as_tenant(),
        "appName": v.meta.app_name,
        "content": &*v.content,
        "md5": &*v.md5,
        "type": v.meta.config_type,
        "betaIps": beta.ips.join(","),
        "encryptedDataKey": v.meta.encrypted_data_key,
        "lastModified": v.modified_ms,
    }))
}

/// Everything about the formal version (`show=all`).
pub fn all_info(app: &App, key: &ConfigKey) -> Option<ConfigAllInfoJson> {
    let state = app.node.state().read();
    let rec = state.config(key)?;
    let v = rec.formal.as_ref()?;
    Some(ConfigAllInfoJson {
        id: rec.id.to_string(),
        data_id: key.data_id.to_string(),
        group: key.group.to_string(),
        tenant: key.namespace.as_tenant().to_string(),
        app_name: v.meta.app_name.clone(),
        content: v.content.to_string(),
        md5: v.md5.to_string(),
        config_type: v.meta.config_type.clone(),
        create_time: v.created_ms,
        modify_time: v.modified_ms,
        create_user: v.create_user.clone(),
        create_ip: v.create_ip.clone(),
        desc: v.meta.desc.clone(),
        usage: v.meta.usage.clone(),
        effect: v.meta.effect.clone(),
        schema: v.meta.schema.clone(),
        config_tags: v.meta.config_tags.clone(),
        encrypted_data_key: v.meta.encrypted_data_key.clone(),
    })
}

/// How a search matches names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    /// Exact match of the given fields (blank = any).
    Accurate,
    /// `*` wildcards (SQL `LIKE` with `*` as `%`); exact without one.
    Blur,
}

/// Filters of a config search.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    /// Data id (or pattern).
    pub data_id: Option<String>,
    /// Group (or pattern).
    pub group: Option<String>,
    /// Application.
    pub app_name: Option<String>,
    /// One of the config's tags.
    pub config_tags: Option<String>,
    /// Content (`*` wildcards).
    pub content: Option<String>,
    /// Config types, any of.
    pub types: Option<Vec<String>>,
}

fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            if !text.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if i == parts.len() - 1 {
            return text.len() >= pos + part.len() && text[pos..].ends_with(part);
        } else {
            match text[pos..].find(part) {
                Some(at) => pos += at + part.len(),
                None => return false,
            }
        }
    }
    true
}

fn matches(mode: SearchMode, want: Option<&str>, have: &str) -> bool {
    match want {
        None => true,
        Some(w) => match mode {
            SearchMode::Accurate => w == have,
            // Nacos turns `*` into SQL's `%` and nothing else: without a
            // `*` a blur search matches exactly (consoles add the stars).
            SearchMode::Blur => glob_match(w, have),
        },
    }
}

fn item_json(key: &ConfigKey, rec: &ConfigRecord) -> Option<ConfigItemJson> {
    let v = rec.formal.as_ref()?;
    Some(ConfigItemJson {
        id: rec.id.to_string(),
        data_id: key.data_id.to_string(),
        group: key.group.to_string(),
        content: v.content.to_string(),
        md5: v.md5.to_string(),
        encrypted_data_key: v.meta.encrypted_data_key.clone(),
        tenant: key.namespace.as_tenant().to_string(),
        app_name: v.meta.app_name.clone(),
        config_type: v.meta.config_type.clone(),
    })
}

/// Searches formal configs of a namespace.
pub fn search(
    app: &App,
    namespace: &NamespaceId,
    mode: SearchMode,
    f: &SearchFilter,
    paging: Paging,
) -> Page<ConfigItemJson> {
    search_with(app, namespace, mode, f, paging, item_json)
}

/// Searches formal configs of a namespace; `render` makes each item of
/// the page.
pub fn search_with<T>(
    app: &App,
    namespace: &NamespaceId,
    mode: SearchMode,
    f: &SearchFilter,
    paging: Paging,
    render: impl Fn(&ConfigKey, &ConfigRecord) -> Option<T>,
) -> Page<T> {
    let state = app.node.state().read();
    let hits: Vec<(&ConfigKey, &ConfigRecord)> = state
        .configs()
        .iter()
        .filter(|(k, _)| &k.namespace == namespace)
        .filter(|(k, _)| matches(mode, f.data_id.as_deref(), k.data_id.as_str()))
        .filter(|(k, _)| matches(mode, f.group.as_deref(), k.group.as_str()))
        .filter(|(_, r)| {
            let Some(v) = r.formal.as_ref() else {
                return false;
            };
            f.app_name.as_deref().is_none_or(|a| v.meta.app_name == a)
                && f.config_tags.as_deref().is_none_or(|want| {
                    want.split(',').map(str::trim).all(|t| {
                        v.meta
                            .config_tags
                            .split(',')
                            .map(str::trim)
                            .any(|have| have == t)
                    })
                })
                && f.content
                    .as_deref()
                    .is_none_or(|c| matches(SearchMode::Blur, Some(c), &v.content))
                && f.types
                    .as_ref()
                    .is_none_or(|ts| ts.contains(&v.meta.config_type))
        })
        .collect();
    let total = hits.len();
    let items = paging
        .slice(hits)
        .into_iter()
        .filter_map(|(k, r)| render(k, r))
        .collect();
    Page {
        total_count: total,
        page_number: paging.page_no,
        pages_available: paging.pages(total),
        page_items: items,
    }
}

/// JSON of a history entry; list items carry no content, as in Nacos.
pub fn history_json(h: &HistoryRecord, with_content: bool) -> HistoryJson {
    HistoryJson {
        id: h.nid.to_string(),
        last_id: -1,
        data_id: h.key.data_id.to_string(),
        group: h.key.group.to_string(),
        tenant: h.key.namespace.as_tenant().to_string(),
        app_name: h.app_name.clone(),
        md5: with_content.then(|| h.md5.to_string()),
        content: with_content.then(|| h.content.to_string()),
        src_ip: h.src_ip.clone(),
        src_user: h.src_user.clone(),
        op_type: h.op_type.code().to_string(),
        publish_type: h.publish_type.clone(),
        gray_name: h.gray_name.clone(),
        ext_info: serde_json::json!({ "type": h.config_type }).to_string(),
        created_time: h.created_ms,
        last_modified_time: h.modified_ms,
        encrypted_data_key: with_content.then(|| h.encrypted_data_key.clone()),
    }
}

async fn store_call<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&nocas_store::Store) -> Result<T, nocas_store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = app.node.store().clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::from)
}

/// A page of a config's history, newest first.
pub async fn history_page(
    app: &App,
    key: ConfigKey,
    paging: Paging,
) -> Result<Page<HistoryJson>, ApiError> {
    let page = store_call(app, move |s| {
        s.history_page(&key, paging.page_no, paging.page_size)
    })
    .await?;
    Ok(Page {
        total_count: page.total,
        page_number: paging.page_no,
        pages_available: paging.pages(page.total),
        page_items: page.items.iter().map(|h| history_json(h, false)).collect(),
    })
}

/// One history entry of a config.
pub async fn history_detail(app: &App, key: ConfigKey, nid: u64) -> Result<HistoryJson, ApiError> {
    let rec = store_call(app, move |s| s.history(nid)).await?;
    match rec {
        Some(h) if h.key == key => Ok(history_json(&h, true)),
        _ => Err(ApiError::NotFound(format!(
            "certain config history for nid = {nid} not exist"
        ))),
    }
}

/// The version before the current one: the newest update or delete entry of
/// the config whose id is `config_id` (Nacos's `previous`).
pub async fn history_previous(
    app: &App,
    key: ConfigKey,
    config_id: u64,
) -> Result<HistoryJson, ApiError> {
    let found = store_call(app, move |s| {
        let page = s.history_page(&key, 1, usize::MAX)?;
        Ok(page
            .items
            .into_iter()
            .find(|h| h.config_id == config_id && h.op_type != nocas_core::config::OpType::Insert))
    })
    .await?;
    found.map(|h| history_json(&h, true)).ok_or_else(|| {
        ApiError::NotFound(format!(
            "previous config history for id = {config_id} not exist"
        ))
    })
}

/// The configs of a namespace (`/history/configs`).
pub fn namespace_configs(app: &App, namespace: &NamespaceId) -> Vec<ConfigInfoWrapperJson> {
    let state = app.node.state().read();
    state
        .configs()
        .iter()
        .filter(|(k, _)| &k.namespace == namespace)
        .filter_map(|(k, r)| {
            let v = r.formal.as_ref()?;
            Some(ConfigInfoWrapperJson {
                id: r.id.to_string(),
                data_id: k.data_id.to_string(),
                group: k.group.to_string(),
                tenant: k.namespace.as_tenant().to_string(),
                app_name: v.meta.app_name.clone(),
                config_type: v.meta.config_type.clone(),
                last_modified: v.modified_ms,
            })
        })
        .collect()
}

/// One key a listener watches, with the MD5 it holds and its tenant as the
/// client spelled it (echoed back so its cache keys match).
#[derive(Debug, Clone)]
pub struct Listened {
    /// Config.
    pub key: ConfigKey,
    /// Client's MD5 (`""` if it has nothing).
    pub md5: String,
    /// Tenant as sent.
    pub tenant: String,
}

/// Indexes of the listened keys whose MD5 differs from what `client_ip` is
/// served now.
pub fn changed(app: &App, items: &[Listened], client_ip: &str) -> Vec<usize> {
    let state = app.node.state().read();
    items
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let current = state.config(&l.key).map_or("", |r| r.md5_for(client_ip));
            current != l.md5
        })
        .map(|(i, _)| i)
        .collect()
}

/// Converts "config not found" command errors for callers that prefer 404.
pub fn not_found() -> ApiError {
    ApiError::Command(CommandError::ConfigNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("app*", "app.yaml"));
        assert!(glob_match("*yaml", "app.yaml"));
        assert!(glob_match("a*y*l", "app.yaml"));
        assert!(!glob_match("b*", "app.yaml"));
        assert!(glob_match("*", "x"));
        assert!(
            !matches(SearchMode::Blur, Some("pp"), "app"),
            "no star: exact"
        );
        assert!(matches(SearchMode::Blur, Some("*pp"), "app"));
        assert!(matches(SearchMode::Blur, Some("app"), "app"));
        assert!(!matches(SearchMode::Accurate, Some("pp"), "app"));
    }
}
