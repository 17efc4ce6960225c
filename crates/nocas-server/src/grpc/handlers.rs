//! gRPC request handlers: decode the JSON body leniently, validate into
//! domain values, call the shared `ops`, and answer with the response type
//! the SDK expects (errors as that type with `resultCode` 500, or as
//! `ErrorResponse` when the request itself is unusable).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use nocas_core::command::{Command, Outcome};
use nocas_core::error::{CommandError, ValidationError};
use nocas_core::lock::{LeaseLimits, LockKey, LockOp};
use nocas_core::names::{
    ClusterName, ConfigGroup, ConfigKey, ConfigTag, DataId, GroupName, NamespaceId, ServiceKey,
    parse_grouped_service, parse_ip,
};
use nocas_core::naming::instance::check_weight;
use nocas_core::naming::metadata::from_json_value;
use nocas_core::naming::{BeatTimings, Instance};
use nocas_proto::grpc::{
    BaseResponse, BatchInstanceRequest, ConfigBase, ConfigBatchListenRequest,
    ConfigChangeBatchListenResponse, ConfigContext, ConfigPublishRequest, ConfigQueryRequest,
    ConfigQueryResponse, FuzzyWatchRequest, InstanceRequest, InstanceResponse, InstanceWire,
    LockOperationRequest, LockOperationResponse, NamingBase, Payload, RequestBase, ResponseBase,
    ServiceInfoResponse, ServiceListRequest, ServiceListResponse, ServiceQueryRequest,
    SubscribeServiceRequest, payload,
};

use crate::app::{App, now_ms};
use crate::auth::Need;
use crate::error::ApiError;
use crate::grpc::conn::{Connection, FuzzyKind};
use crate::grpc::fuzzy;
use crate::grpc::guard;
use crate::ops::config::{self as config_ops, Listened, PublishInput};
use crate::ops::naming::{self as naming_ops, ViewName};
use crate::push::Subscriber;
use nocas_core::auth::Action;

/// Nacos: the request is not valid.
pub const INVALID_PARAM: i32 = 400;
/// Nacos: no handler for the request type.
pub const NO_HANDLER: i32 = 302;
/// `NO_RIGHT`: bad token or missing permission (clients log in again).
pub const NO_RIGHT: i32 = 403;
/// Nacos: the request could not be parsed.
pub const BAD_GATEWAY: i32 = 502;
/// Nacos: the connection is not registered.
pub const UN_REGISTER: i32 = 301;
/// Nacos: config not found (in `ConfigQueryResponse`).
pub const CONFIG_NOT_FOUND: i32 = 300;

/// The gRPC error code of an API error.
fn error_code(e: &ApiError) -> i32 {
    match e {
        ApiError::Invalid(_) | ApiError::BadRequest(_) | ApiError::TooLarge(_) => INVALID_PARAM,
        ApiError::NotFound(_) => 404,
        ApiError::Command(c) => match c {
            CommandError::NamespaceNotFound(_)
            | CommandError::InstanceNotFound(_)
            | CommandError::ServiceNotFound(_)
            | CommandError::ConfigNotFound => 404,
            CommandError::CasMismatch => 500,
            _ => INVALID_PARAM,
        },
        ApiError::Busy(_) => 503,
        ApiError::Forbidden(_) => NO_RIGHT,
        ApiError::Unavailable(_) | ApiError::Internal(_) => 500,
        ApiError::DiskFull(_) => 507,
    }
}

/// An error answer of type `type_name`.
pub fn error_payload(
    type_name: &str,
    code: i32,
    message: impl Into<String>,
    request_id: Option<String>,
) -> Payload {
    payload(
        type_name,
        &BaseResponse {
            base: ResponseBase::fail(code, message, request_id),
        },
        HashMap::new(),
    )
}

fn decode<T: DeserializeOwned>(type_name: &str, body: &[u8]) -> Result<T, Box<Payload>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error_payload(
            "ErrorResponse",
            BAD_GATEWAY,
            format!("Invalid request {type_name}: {e}"),
            None,
        ))
    })
}

fn answer<T: Serialize>(type_name: &str, body: &T) -> Payload {
    payload(type_name, body, HashMap::new())
}

fn fail(type_name: &str, e: &ApiError, request_id: Option<String>) -> Payload {
    error_payload(type_name, error_code(e), e.to_string(), request_id)
}

/// Handles one client request on connection `conn`.
///
/// `meta` are the payload's metadata headers (where SDKs put the token).
pub async fn dispatch(
    app: &crate::app::AppRef,
    conn: &Arc<Connection>,
    type_name: &str,
    body: &[u8],
    meta: Option<&HashMap<String, String>>,
) -> Payload {
    macro_rules! run {
        ($req:ty, $resp:expr, $need:expr, $f:expr) => {{
            let req: $req = match decode(type_name, body) {
                Ok(r) => r,
                Err(p) => return *p,
            };
            let rid = req_id(&req);
            if app.auth.enabled() {
                let need: Need = $need(&req);
                match guard::check(app, meta, Some(&req.base().headers), &need) {
                    Ok(Some(subject)) => conn.set_subject(subject),
                    Ok(None) => {}
                    Err(denied) => {
                        return fail($resp, &ApiError::Forbidden(denied.to_string()), rid);
                    }
                }
            }
            match $f(req).await {
                Ok(p) => p,
                Err(e) => fail($resp, &e, rid),
            }
        }};
    }
    match type_name {
        "HealthCheckRequest" => answer(
            "HealthCheckResponse",
            &BaseResponse {
                base: ResponseBase::ok(request_id_of(body)),
            },
        ),
        "InstanceRequest" => run!(
            InstanceRequest,
            "InstanceResponse",
            |r: &InstanceRequest| guard::access(guard::naming(&r.naming), true),
            |r| instance(app, conn, r, false)
        ),
        "PersistentInstanceRequest" => run!(
            InstanceRequest,
            "InstanceResponse",
            |r: &InstanceRequest| guard::access(guard::naming(&r.naming), true),
            |r| instance(app, conn, r, true)
        ),
        "BatchInstanceRequest" => run!(
            BatchInstanceRequest,
            "BatchInstanceResponse",
            |r: &BatchInstanceRequest| guard::access(guard::naming(&r.naming), true),
            |r| batch(app, conn, r)
        ),
        "ServiceQueryRequest" => run!(
            ServiceQueryRequest,
            "QueryServiceResponse",
            |r: &ServiceQueryRequest| guard::access(guard::naming(&r.naming), false),
            |r| query(app, r)
        ),
        "SubscribeServiceRequest" => run!(
            SubscribeServiceRequest,
            "SubscribeServiceResponse",
            |r: &SubscribeServiceRequest| guard::access(guard::naming(&r.naming), false),
            |r| subscribe(app, conn, r)
        ),
        "ServiceListRequest" => run!(
            ServiceListRequest,
            "ServiceListResponse",
            |r: &ServiceListRequest| guard::access(guard::naming_list(&r.naming), false),
            |r| list(app, r)
        ),
        "ConfigQueryRequest" => run!(
            ConfigQueryRequest,
            "ConfigQueryResponse",
            |r: &ConfigQueryRequest| guard::access(guard::config(&r.config), false),
            |r| config_query(app, conn, r)
        ),
        "ConfigPublishRequest" => run!(
            ConfigPublishRequest,
            "ConfigPublishResponse",
            |r: &ConfigPublishRequest| guard::access(guard::config(&r.config), true),
            |r| config_publish(app, conn, r)
        ),
        "ConfigRemoveRequest" => run!(
            ConfigQueryRequest,
            "ConfigRemoveResponse",
            |r: &ConfigQueryRequest| guard::access(guard::config(&r.config), true),
            |r| config_remove(app, conn, r)
        ),
        "ConfigBatchListenRequest" => run!(
            ConfigBatchListenRequest,
            "ConfigChangeBatchListenResponse",
            |r: &ConfigBatchListenRequest| Need::Access(guard::listened(r), Action::Read),
            |r| config_listen(app, conn, r)
        ),
        "ConfigFuzzyWatchRequest" => run!(
            FuzzyWatchRequest,
            "ConfigFuzzyWatchResponse",
            |r: &FuzzyWatchRequest| fuzzy::need(FuzzyKind::Config, r),
            |r| fuzzy::watch(app, conn, FuzzyKind::Config, r)
        ),
        "NamingFuzzyWatchRequest" => run!(
            FuzzyWatchRequest,
            "NamingFuzzyWatchResponse",
            |r: &FuzzyWatchRequest| fuzzy::need(FuzzyKind::Naming, r),
            |r| fuzzy::watch(app, conn, FuzzyKind::Naming, r)
        ),
        "LockOperationRequest" => run!(
            LockOperationRequest,
            "LockOperationResponse",
            |_: &LockOperationRequest| Need::Authenticated,
            |r| lock_operation(app, conn, r)
        ),
        "ServerLoaderInfoRequest" if guard::check(app, meta, None, &Need::Admin).is_err() => {
            error_payload(
                "ErrorResponse",
                NO_RIGHT,
                "authorization failed!".to_string(),
                request_id_of(body),
            )
        }
        "ServerLoaderInfoRequest" => answer(
            "ServerLoaderInfoResponse",
            &serde_json::json!({
                "resultCode": 200,
                "errorCode": 0,
                "success": true,
                "requestId": request_id_of(body),
                "loaderMetrics": {
                    "conCount": app.conns.count().to_string(),
                    "sdkConCount": app.conns.count().to_string(),
                    "load": "0",
                    "cpu": "0",
                },
            }),
        ),
        other => error_payload(
            "ErrorResponse",
            NO_HANDLER,
            format!("RequestHandler Not Found: {other}"),
            request_id_of(body),
        ),
    }
}

/// The request id in a body, if any.
pub fn request_id_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Id {
        #[serde(default)]
        request_id: Option<String>,
    }
    serde_json::from_slice::<Id>(body)
        .ok()
        .and_then(|i| i.request_id)
}

trait HasBase {
    fn base(&self) -> &RequestBase;
}

macro_rules! has_base {
    ($($t:ty => $($path:ident).+;)*) => {$(
        impl HasBase for $t {
            fn base(&self) -> &RequestBase {
                &self.$($path).+
            }
        }
    )*};
}

has_base! {
    InstanceRequest => naming.base;
    BatchInstanceRequest => naming.base;
    ServiceQueryRequest => naming.base;
    SubscribeServiceRequest => naming.base;
    ServiceListRequest => naming.base;
    ConfigQueryRequest => config.base;
    ConfigPublishRequest => config.base;
    ConfigBatchListenRequest => base;
    LockOperationRequest => base;
    FuzzyWatchRequest => base;
}

fn req_id<T: HasBase>(r: &T) -> Option<String> {
    r.base().request_id.clone()
}

pub(crate) fn service_key(n: &NamingBase) -> Result<ServiceKey, ValidationError> {
    let ns = NamespaceId::parse(n.namespace.as_deref())?;
    let (g, s) = parse_grouped_service(n.service_name.as_deref(), n.group_name.as_deref())?;
    Ok(ServiceKey::new(ns, g, s))
}

fn instance_from_wire(app: &App, w: &InstanceWire, ephemeral: bool) -> Result<Instance, ApiError> {
    let port = u16::try_from(w.port).map_err(|_| ValidationError::Invalid {
        field: "port",
        reason: format!("{} is out of range 0-65535", w.port),
    })?;
    let md_value = serde_json::Value::Object(w.metadata.clone().into_iter().collect());
    let metadata = from_json_value("metadata", &md_value)?;
    app.metadata_limits().check("metadata", &metadata)?;
    Ok(Instance {
        ip: parse_ip(w.ip.as_deref())?,
        port,
        cluster: ClusterName::parse(w.cluster_name.as_deref())?,
        weight: check_weight(w.weight)?,
        healthy: w.healthy,
        enabled: w.enabled,
        ephemeral,
        metadata: Arc::new(metadata),
    })
}

fn instance_ok(kind: Option<String>, rid: Option<String>) -> Payload {
    answer(
        "InstanceResponse",
        &InstanceResponse {
            base: ResponseBase::ok(rid),
            kind,
        },
    )
}

/// `InstanceRequest` (ephemeral, owned by the connection, whatever the
/// instance's own flag says, as in Nacos) and `PersistentInstanceRequest`.
async fn instance(
    app: &App,
    conn: &Connection,
    r: InstanceRequest,
    persistent: bool,
) -> Result<Payload, ApiError> {
    let key = service_key(&r.naming)?;
    let wire = r.instance.clone().unwrap_or_default();
    let inst = instance_from_wire(app, &wire, !persistent)?;
    let rid = r.naming.base.request_id.clone();
    match r.kind.as_deref() {
        Some("registerInstance") => naming_ops::register(app, &key, inst, conn.owner()).await?,
        Some("deregisterInstance") => {
            naming_ops::deregister(app, &key, &inst.key(), !persistent).await?
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "Unsupported request type {}",
                other.unwrap_or("")
            )));
        }
    }
    Ok(instance_ok(r.kind, rid))
}

/// `BatchInstanceRequest`: replaces what the connection has in the service.
async fn batch(app: &App, conn: &Connection, r: BatchInstanceRequest) -> Result<Payload, ApiError> {
    let key = service_key(&r.naming)?;
    let rid = r.naming.base.request_id.clone();
    let kind = r.kind.clone();
    let max = app.settings.limits.max_instances_per_service;
    if r.instances.len() > max {
        return Err(crate::ops::naming::too_many_instances(&key, max));
    }
    let mut instances = Vec::with_capacity(r.instances.len());
    for w in &r.instances {
        if !w.ephemeral {
            return Err(ApiError::BadRequest(
                "Batch registration does not allow persistent instance registration".into(),
            ));
        }
        let inst = instance_from_wire(app, w, true)?;
        let timings = BeatTimings::for_metadata(&inst.metadata, app.beat_defaults())?;
        instances.push((inst, timings));
    }
    match kind.as_deref() {
        Some("batchRegisterInstance") => {}
        Some("batchDeregisterInstance") => instances.clear(),
        other => {
            return Err(ApiError::BadRequest(format!(
                "Unsupported request type {}",
                other.unwrap_or("")
            )));
        }
    }
    let has_persistent = app
        .node
        .state()
        .read()
        .instances(&key)
        .is_some_and(|m| !m.is_empty());
    if has_persistent && !instances.is_empty() {
        return Err(ApiError::Command(CommandError::EphemeralMismatch(format!(
            "Current service {} is persistent service, can't register ephemeral instance.",
            key.grouped_name()
        ))));
    }
    let change = app
        .soft
        .replace_owned(&key, &conn.owner(), instances, now_ms());
    app.soft_change(&key, change);
    Ok(answer(
        "BatchInstanceResponse",
        &InstanceResponse {
            base: ResponseBase::ok(rid),
            kind,
        },
    ))
}

async fn query(app: &App, r: ServiceQueryRequest) -> Result<Payload, ApiError> {
    let key = service_key(&r.naming)?;
    let raw = r.cluster.unwrap_or_default();
    let clusters = ClusterName::parse_list(Some(&raw))?;
    // Serialized once per change of the service, shared with HTTP readers
    // and pushes.
    let view =
        naming_ops::cached_view(app, &key, &raw, &clusters, r.healthy_only, ViewName::Plain)?;
    Ok(answer(
        "QueryServiceResponse",
        &ServiceInfoResponse {
            base: ResponseBase::ok(r.naming.base.request_id),
            service_info: view,
        },
    ))
}

async fn subscribe(
    app: &App,
    conn: &Arc<Connection>,
    r: SubscribeServiceRequest,
) -> Result<Payload, ApiError> {
    let key = service_key(&r.naming)?;
    let raw = r.clusters.unwrap_or_default();
    let clusters = ClusterName::parse_list(Some(&raw))?;
    if r.subscribe {
        conn.add_subscription(&key, &raw);
        let sub: Arc<dyn Subscriber> = conn.clone();
        app.hub.subscribe_service(&key, sub);
    } else {
        conn.remove_subscription(&key);
        app.hub.unsubscribe_service(&key, conn.hub_id);
    }
    let view = naming_ops::cached_view(app, &key, &raw, &clusters, false, ViewName::Plain)?;
    Ok(answer(
        "SubscribeServiceResponse",
        &ServiceInfoResponse {
            base: ResponseBase::ok(r.naming.base.request_id),
            service_info: view,
        },
    ))
}

async fn list(app: &App, r: ServiceListRequest) -> Result<Payload, ApiError> {
    let ns = NamespaceId::parse(r.naming.namespace.as_deref())?;
    let group = GroupName::parse(r.naming.group_name.as_deref())?;
    let page_no = r.page_no.max(1) as usize;
    let page_size = r
        .page_size
        .clamp(1, app.settings.limits.max_page_size as i64) as usize;
    let names = naming_ops::service_names(app, &ns, &group);
    let count = names.len();
    let page = names
        .into_iter()
        .skip((page_no - 1).saturating_mul(page_size))
        .take(page_size)
        .collect();
    Ok(answer(
        "ServiceListResponse",
        &ServiceListResponse {
            base: ResponseBase::ok(r.naming.base.request_id),
            count,
            service_names: page,
        },
    ))
}

pub(crate) fn config_key(c: &ConfigBase) -> Result<ConfigKey, ValidationError> {
    Ok(ConfigKey::new(
        NamespaceId::parse(c.tenant.as_deref())?,
        ConfigGroup::parse(c.group.as_deref())?,
        DataId::parse(c.data_id.as_deref())?,
    ))
}

async fn config_query(
    app: &App,
    conn: &Connection,
    r: ConfigQueryRequest,
) -> Result<Payload, ApiError> {
    let key = config_key(&r.config)?;
    let tag = ConfigTag::parse(r.tag.as_deref())?;
    let rid = r.config.base.request_id.clone();
    let resp = match config_ops::served(app, &key, &conn.client_ip(), tag.as_ref()) {
        Some(s) => ConfigQueryResponse {
            base: ResponseBase::ok(rid),
            content: Some(s.content.to_string()),
            encrypted_data_key: Some(s.encrypted_data_key),
            content_type: Some(s.config_type),
            md5: Some(s.md5.to_string()),
            last_modified: s.modified_ms,
            beta: s.beta,
            tag: s.tag,
        },
        None => ConfigQueryResponse {
            base: ResponseBase::fail(CONFIG_NOT_FOUND, "config data not exist", rid),
            ..Default::default()
        },
    };
    Ok(answer("ConfigQueryResponse", &resp))
}

fn addition(map: &HashMap<String, serde_json::Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
    .filter(|s| !s.trim().is_empty())
}

async fn config_publish(
    app: &App,
    conn: &Connection,
    r: ConfigPublishRequest,
) -> Result<Payload, ApiError> {
    let key = config_key(&r.config)?;
    let a = &r.addition_map;
    let s = |k: &str| addition(a, k).unwrap_or_default();
    let meta = nocas_core::config::ConfigMeta {
        config_type: nocas_core::config::item::normalize_type(addition(a, "type").as_deref()),
        desc: s("desc"),
        app_name: s("appName"),
        config_tags: s("config_tags"),
        usage: s("use"),
        effect: s("effect"),
        schema: s("schema"),
        encrypted_data_key: s("encryptedDataKey"),
    };
    let input = PublishInput {
        key,
        content: r
            .content
            .clone()
            .ok_or(ValidationError::Missing { field: "content" })?,
        meta,
        tag: ConfigTag::parse(addition(a, "tag").as_deref())?,
        beta_ips: addition(a, "betaIps"),
        cas_md5: r.cas_md5.clone(),
        src_ip: conn.client_ip(),
        src_user: s("src_user"),
    };
    config_ops::publish(app, input).await?;
    Ok(answer(
        "ConfigPublishResponse",
        &BaseResponse {
            base: ResponseBase::ok(r.config.base.request_id),
        },
    ))
}

async fn config_remove(
    app: &App,
    conn: &Connection,
    r: ConfigQueryRequest,
) -> Result<Payload, ApiError> {
    let key = config_key(&r.config)?;
    let tag = ConfigTag::parse(r.tag.as_deref())?;
    config_ops::remove(app, key, tag, conn.client_ip(), String::new()).await?;
    Ok(answer(
        "ConfigRemoveResponse",
        &BaseResponse {
            base: ResponseBase::ok(r.config.base.request_id),
        },
    ))
}

/// `LockOperationRequest`: the connection (on this node) is the holder;
/// the lease is counted in log time.
async fn lock_operation(
    app: &App,
    conn: &Connection,
    r: LockOperationRequest,
) -> Result<Payload, ApiError> {
    let l = r.lock_instance.unwrap_or_default();
    let key = LockKey::parse(l.lock_type.as_deref(), l.key.as_deref())?;
    let op = match r.lock_operation_enum.as_deref() {
        Some("ACQUIRE") => {
            let expired_time = l.expired_time.ok_or(ValidationError::Missing {
                field: "expiredTime",
            })?;
            let limits = LeaseLimits {
                default_ms: app.settings.lock.default_expire_ms,
                max_ms: app.settings.lock.max_expire_ms,
            };
            LockOp::Acquire {
                lease_ms: limits.lease(expired_time),
            }
        }
        Some("RELEASE") => LockOp::Release,
        _ => {
            return Err(ApiError::BadRequest(
                "There is no Handler of such operations!".into(),
            ));
        }
    };
    let holder = format!("{}/{}", app.node.id(), conn.id);
    let granted = match app.write(Command::Lock { key, holder, op }).await? {
        Outcome::Lock { granted } => granted,
        _ => false,
    };
    Ok(answer(
        "LockOperationResponse",
        &LockOperationResponse {
            base: ResponseBase::ok(r.base.request_id),
            result: granted,
        },
    ))
}

async fn config_listen(
    app: &App,
    conn: &Arc<Connection>,
    r: ConfigBatchListenRequest,
) -> Result<Payload, ApiError> {
    let max = app.settings.limits.max_listen_keys;
    if conn.listen_count() + r.config_listen_contexts.len() > max && r.listen {
        return Err(ApiError::BadRequest(format!(
            "a connection listens to at most {max} configs"
        )));
    }
    let mut items = Vec::with_capacity(r.config_listen_contexts.len());
    for c in &r.config_listen_contexts {
        let tenant = c.tenant.clone().unwrap_or_default();
        let key = ConfigKey::new(
            NamespaceId::parse(Some(&tenant))?,
            ConfigGroup::parse(c.group.as_deref())?,
            DataId::parse(c.data_id.as_deref())?,
        );
        items.push(Listened {
            key,
            md5: c.md5.clone().unwrap_or_default(),
            tenant,
        });
    }
    let mut changed_configs = Vec::new();
    if r.listen {
        for l in &items {
            conn.add_listen(&l.key, &l.tenant, &l.md5);
            let sub: Arc<dyn Subscriber> = conn.clone();
            app.hub.listen_config(&l.key, sub);
        }
        for i in config_ops::changed(app, &items, &conn.client_ip()) {
            let l = &items[i];
            changed_configs.push(ConfigContext {
                group: l.key.group.to_string(),
                data_id: l.key.data_id.to_string(),
                tenant: l.tenant.clone(),
            });
        }
    } else {
        for l in &items {
            conn.remove_listen(&l.key);
            app.hub.unlisten_config(&l.key, conn.hub_id);
        }
    }
    Ok(answer(
        "ConfigChangeBatchListenResponse",
        &ConfigChangeBatchListenResponse {
            base: ResponseBase::ok(r.base.request_id),
            changed_configs,
        },
    ))
}
