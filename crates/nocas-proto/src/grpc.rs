//! The Nacos 2.x gRPC protocol: the generated `Payload` and services, and
//! the JSON bodies carried in `Payload.body.value`.
//!
//! Decoding is lenient (every field has a default, unknown fields are
//! ignored), because SDKs omit fields freely; encoding omits absent fields
//! instead of sending `null` (Jackson's NON_NULL), because some SDKs reject
//! `null` for string fields, and always sends the primitives SDKs require.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::http::ServiceInfoJson;

#[allow(missing_docs, clippy::all, non_camel_case_types)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/_.rs"));
}

pub use generated::bi_request_stream_client::BiRequestStreamClient;
pub use generated::bi_request_stream_server::{BiRequestStream, BiRequestStreamServer};
pub use generated::request_client::RequestClient;
pub use generated::request_server::{Request as RequestService, RequestServer};
pub use generated::{Metadata, Payload};

/// Builds a payload of `type_name` around `body`'s JSON.
pub fn payload<T: Serialize>(
    type_name: &str,
    body: &T,
    headers: HashMap<String, String>,
) -> Payload {
    let value = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Payload {
        metadata: Some(Metadata {
            r#type: type_name.to_string(),
            client_ip: String::new(),
            headers,
        }),
        body: Some(prost_types::Any {
            type_url: String::new(),
            value,
        }),
    }
}

/// The type name and JSON body bytes of a payload.
pub fn parts(p: &Payload) -> (&str, &[u8]) {
    let t = p.metadata.as_ref().map_or("", |m| m.r#type.as_str());
    let b = p.body.as_ref().map_or(&[][..], |b| b.value.as_slice());
    (t, b)
}

/// Fields every response carries.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ResponseBase {
    /// 200 success, 500 failure.
    pub result_code: i32,
    /// 0 on success, else an error code.
    pub error_code: i32,
    /// Error text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Echo of the request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `resultCode == 200`.
    pub success: bool,
}

impl ResponseBase {
    /// A success.
    pub fn ok(request_id: Option<String>) -> Self {
        Self {
            result_code: 200,
            error_code: 0,
            message: None,
            request_id,
            success: true,
        }
    }

    /// A failure with an error code and message.
    pub fn fail(error_code: i32, message: impl Into<String>, request_id: Option<String>) -> Self {
        Self {
            result_code: 500,
            error_code,
            message: Some(message.into()),
            request_id,
            success: false,
        }
    }
}

/// Reads `null` as the type's default (SDKs written in Go send `null` for
/// empty maps and lists).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Fields every request carries (headers travel in `Metadata.headers`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestBase {
    /// Request id (pushes need one; unary calls may omit it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Headers (usually empty in the body).
    #[serde(deserialize_with = "null_default")]
    pub headers: HashMap<String, String>,
    /// `naming`, `config`, `internal` (ignored by servers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

/// `ConnectionSetupRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectionSetupRequest {
    /// Base fields.
    #[serde(flatten)]
    pub base: RequestBase,
    /// `Nacos-Java-Client:v2.x.y` and so on.
    pub client_version: Option<String>,
    /// Namespace.
    pub tenant: Option<String>,
    /// Labels (`source`, `module`, `AppName`...).
    #[serde(deserialize_with = "null_default")]
    pub labels: HashMap<String, String>,
    /// Abilities (2.3+ clients); absent for older ones.
    pub ability_table: Option<HashMap<String, bool>>,
}

/// `SetupAckRequest` (server push).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SetupAckRequest {
    /// Base fields.
    #[serde(flatten)]
    pub base: RequestBase,
    /// Server abilities.
    pub ability_table: HashMap<String, bool>,
}

/// `ServerCheckResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerCheckResponse {
    /// Base fields.
    #[serde(flatten)]
    pub base: ResponseBase,
    /// The connection id.
    pub connection_id: String,
    /// Whether the server sends `SetupAckRequest`.
    pub support_ability_negotiation: bool,
}

/// `ConnectResetRequest` (server push).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectResetRequest {
    /// Base fields.
    #[serde(flatten)]
    pub base: RequestBase,
    /// Server to move to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_ip: Option<String>,
    /// Its port, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_port: Option<String>,
    /// The connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
}

/// An instance as SDKs send it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceWire {
    /// Instance id (ignored on input; the server derives it).
    pub instance_id: Option<String>,
    /// IP.
    pub ip: Option<String>,
    /// Port.
    pub port: i64,
    /// Weight.
    pub weight: f64,
    /// Health.
    pub healthy: bool,
    /// Enabled.
    pub enabled: bool,
    /// Ephemeral.
    pub ephemeral: bool,
    /// Cluster.
    pub cluster_name: Option<String>,
    /// Service (ignored: the request says).
    pub service_name: Option<String>,
    /// Metadata (the Go SDK sends `null` for none).
    #[serde(deserialize_with = "null_default")]
    pub metadata: HashMap<String, serde_json::Value>,
}

impl Default for InstanceWire {
    fn default() -> Self {
        Self {
            instance_id: None,
            ip: None,
            port: 0,
            weight: 1.0,
            healthy: true,
            enabled: true,
            ephemeral: true,
            cluster_name: None,
            service_name: None,
            metadata: HashMap::new(),
        }
    }
}

/// Fields of every naming request.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct NamingBase {
    /// Request base.
    #[serde(flatten)]
    pub base: RequestBase,
    /// Namespace.
    pub namespace: Option<String>,
    /// Plain service name.
    pub service_name: Option<String>,
    /// Group.
    pub group_name: Option<String>,
}

/// `InstanceRequest` and `PersistentInstanceRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceRequest {
    /// Naming base.
    #[serde(flatten)]
    pub naming: NamingBase,
    /// `registerInstance` or `deregisterInstance`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The instance.
    pub instance: Option<InstanceWire>,
}

/// `BatchInstanceRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchInstanceRequest {
    /// Naming base.
    #[serde(flatten)]
    pub naming: NamingBase,
    /// `batchRegisterInstance` (or `batchDeregisterInstance`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The instances.
    #[serde(deserialize_with = "null_default")]
    pub instances: Vec<InstanceWire>,
}

/// `InstanceResponse` / `BatchInstanceResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceResponse {
    /// Base fields.
    #[serde(flatten)]
    pub base: ResponseBase,
    /// Echo of the request type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `ServiceQueryRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceQueryRequest {
    /// Naming base.
    #[serde(flatten)]
    pub naming: NamingBase,
    /// Cluster filter (comma list).
    pub cluster: Option<String>,
    /// Healthy instances only.
    pub healthy_only: bool,
    /// Legacy UDP port (ignored).
    pub udp_port: i64,
}

/// `SubscribeServiceRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscribeServiceRequest {
    /// Naming base.
    #[serde(flatten)]
    pub naming: NamingBase,
    /// True to subscribe, false to unsubscribe.
    pub subscribe: bool,
    /// Cluster filter (comma list).
    pub clusters: Option<String>,
}

/// `QueryServiceResponse` / `SubscribeServiceResponse`. The view is
/// generic so a server can embed a view serialized once for many readers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfoResponse<S = ServiceInfoJson> {
    /// Base fields.
    #[serde(flatten)]
    pub base: ResponseBase,
    /// The service view.
    pub service_info: S,
}

/// `ServiceListRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceListRequest {
    /// Naming base.
    #[serde(flatten)]
    pub naming: NamingBase,
    /// 1-based page.
    pub page_no: i64,
    /// Page size.
    pub page_size: i64,
    /// Selector JSON (ignored).
    pub selector: Option<String>,
}

/// `ServiceListResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceListResponse {
    /// Base fields.
    #[serde(flatten)]
    pub base: ResponseBase,
    /// Services in the group.
    pub count: usize,
    /// Plain names on this page.
    pub service_names: Vec<String>,
}

/// `NotifySubscriberRequest` (server push); the view is generic as in
/// [`ServiceInfoResponse`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NotifySubscriberRequest<S = ServiceInfoJson> {
    /// Base fields.
    #[serde(flatten)]
    pub base: RequestBase,
    /// Namespace.
    pub namespace: String,
    /// Plain service name.
    pub service_name: String,
    /// Group.
    pub group_name: String,
    /// The full view.
    pub service_info: S,
}

/// Fields of every config request.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigBase {
    /// Request base.
    #[serde(flatten)]
    pub base: RequestBase,
    /// Data id.
    pub data_id: Option<String>,
    /// Group.
    pub group: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
}

/// `ConfigQueryRequest` / `ConfigRemoveRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigQueryRequest {
    /// Config base.
    #[serde(flatten)]
    pub config: ConfigBase,
    /// Tag.
    pub tag: Option<String>,
}

/// `ConfigQueryResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigQueryResponse {
    /// Base fields.
    #[serde(flatten)]
    pub base: ResponseBase,
    /// Content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Encrypted data key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_data_key: Option<String>,
    /// Content type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// MD5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// Last change (ms).
    pub last_modified: i64,
    /// Beta served.
    pub beta: bool,
    /// Tag served (omitted unless set: some SDKs type it oddly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// `ConfigPublishRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigPublishRequest {
    /// Config base.
    #[serde(flatten)]
    pub config: ConfigBase,
    /// Content.
    pub content: Option<String>,
    /// Compare-and-swap MD5.
    pub cas_md5: Option<String>,
    /// `type`, `desc`, `appName`, `tag`, `betaIps`, `src_user`, `config_tags`...
    #[serde(deserialize_with = "null_default")]
    pub addition_map: HashMap<String, serde_json::Value>,
}

/// One key of a `ConfigBatchListenRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigListenContext {
    /// Group.
    pub group: Option<String>,
    /// Client's MD5.
    pub md5: Option<String>,
    /// Data id.
    pub data_id: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
}

/// `ConfigBatchListenRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigBatchListenRequest {
    /// Request base.
    #[serde(flatten)]
    pub base: RequestBase,
    /// True to add listeners, false to remove.
    pub listen: bool,
    /// Keys.
    #[serde(deserialize_with = "null_default")]
    pub config_listen_contexts: Vec<ConfigListenContext>,
}

/// A changed key in `ConfigChangeBatchListenResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigContext {
    /// Group.
    pub group: String,
    /// Data id.
    pub data_id: String,
    /// Tenant as the client sent it.
    pub tenant: String,
}

/// `ConfigChangeBatchListenResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigChangeBatchListenResponse {
    /// Base fields.
    #[serde(flatten)]
    pub base: ResponseBase,
    /// Keys whose MD5 differs.
    pub changed_configs: Vec<ConfigContext>,
}

/// `ConfigChangeNotifyRequest` (server push).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigChangeNotifyRequest {
    /// Base fields.
    #[serde(flatten)]
    pub base: RequestBase,
    /// Data id.
    pub data_id: String,
    /// Group.
    pub group: String,
    /// Tenant as the listener sent it.
    pub tenant: String,
}

/// Base-only messages: `HealthCheckRequest`, `ClientDetectionRequest`,
/// `ServerCheckRequest`, and acks.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BaseRequest {
    /// Base fields.
    #[serde(flatten)]
    pub base: RequestBase,
}

/// `ConfigFuzzyWatchRequest` and `NamingFuzzyWatchRequest` (Nacos 3).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct FuzzyWatchRequest {
    /// Request base.
    #[serde(flatten)]
    pub base: RequestBase,
    /// The client's namespace (naming; the pattern's own wins).
    pub namespace: Option<String>,
    /// `namespace>>group>>name`.
    pub group_key_pattern: Option<String>,
    /// Keys the client already holds for the pattern.
    #[serde(deserialize_with = "null_default")]
    pub received_group_keys: Vec<String>,
    /// `WATCH` or `CANCEL_WATCH`.
    pub watch_type: Option<String>,
    /// The client has not yet seen the end of the first sync.
    #[serde(alias = "isInitializing")]
    pub initializing: bool,
}

/// The lock in a `LockOperationRequest` (Nacos `LockInstance`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LockInstanceWire {
    /// Lock name.
    pub key: Option<String>,
    /// Lease in ms from now (negative: the server's default).
    pub expired_time: Option<i64>,
    /// Lock type (`NACOS_LOCK`).
    pub lock_type: Option<String>,
    /// Extra parameters (unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
}

/// `LockOperationRequest` (Nacos 3, module `lock`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LockOperationRequest {
    /// Request base.
    #[serde(flatten)]
    pub base: RequestBase,
    /// The lock.
    pub lock_instance: Option<LockInstanceWire>,
    /// `ACQUIRE` or `RELEASE`.
    pub lock_operation_enum: Option<String>,
}

/// `LockOperationResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LockOperationResponse {
    /// Base fields.
    #[serde(flatten)]
    pub base: ResponseBase,
    /// Acquired or released.
    pub result: bool,
}

/// Base-only responses (`HealthCheckResponse`, `ErrorResponse`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BaseResponse {
    /// Base fields.
    #[serde(flatten)]
    pub base: ResponseBase,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_decoding_and_non_null_encoding() {
        let r: InstanceRequest = serde_json::from_str(
            r#"{"namespace":"public","serviceName":"s","type":"registerInstance","instance":{"ip":"1.1.1.1","port":80},"headers":{},"module":"naming"}"#,
        )
        .unwrap();
        let i = r.instance.unwrap();
        assert_eq!(
            (i.weight, i.healthy, i.enabled, i.ephemeral),
            (1.0, true, true, true)
        );
        let q = ConfigQueryResponse {
            base: ResponseBase::ok(None),
            ..Default::default()
        };
        let v = serde_json::to_value(&q).unwrap();
        assert!(v.get("content").is_none() && v.get("tag").is_none() && v.get("message").is_none());
        assert_eq!(v["resultCode"], 200);
        assert_eq!(v["errorCode"], 0);
        assert_eq!(v["success"], true);
        assert_eq!(v["lastModified"], 0);
        assert_eq!(v["beta"], false);
        let p = payload(
            "HealthCheckResponse",
            &BaseResponse::default(),
            HashMap::new(),
        );
        assert_eq!(parts(&p).0, "HealthCheckResponse");
    }

    #[test]
    fn null_maps_and_lists_read_as_empty() {
        // What nacos-sdk-go sends to deregister an instance without metadata.
        let r: InstanceRequest = serde_json::from_str(
            r#"{"headers":null,"namespace":"public","serviceName":"s","type":"deregisterInstance","instance":{"ip":"1.1.1.1","port":80,"weight":1,"enabled":true,"healthy":true,"metadata":null,"clusterName":"","ephemeral":true}}"#,
        )
        .unwrap();
        assert!(r.instance.unwrap().metadata.is_empty());
        let b: BatchInstanceRequest =
            serde_json::from_str(r#"{"instances":null,"headers":null}"#).unwrap();
        assert!(b.instances.is_empty());
        let l: ConfigBatchListenRequest =
            serde_json::from_str(r#"{"listen":true,"configListenContexts":null}"#).unwrap();
        assert!(l.config_listen_contexts.is_empty());
    }
}
