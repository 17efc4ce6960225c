//! JSON bodies of the HTTP Open API, v1 and v2.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One instance, as in `hosts` of a service view (Nacos `Instance`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceJson {
    /// `ip#port#cluster#group@@service`.
    pub instance_id: String,
    /// IP or host.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// Weight.
    pub weight: f64,
    /// Health.
    pub healthy: bool,
    /// Enabled.
    pub enabled: bool,
    /// Ephemeral.
    pub ephemeral: bool,
    /// Cluster.
    pub cluster_name: String,
    /// `group@@service`.
    pub service_name: String,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Beat interval (ms), derived from metadata.
    pub instance_heart_beat_interval: i64,
    /// Beat timeout (ms), derived from metadata.
    pub instance_heart_beat_time_out: i64,
    /// Delete timeout (ms), derived from metadata.
    pub ip_delete_timeout: i64,
    /// Id generator name.
    pub instance_id_generator: String,
}

/// A service view (Nacos `ServiceInfo`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfoJson {
    /// `group@@service` over HTTP, plain name over gRPC.
    pub name: String,
    /// Group.
    pub group_name: String,
    /// The cluster filter asked for.
    pub clusters: String,
    /// How long clients may cache the view (ms).
    pub cache_millis: i64,
    /// Instances.
    pub hosts: Vec<InstanceJson>,
    /// Time the view was made (ms).
    pub last_ref_time: i64,
    /// Checksum (may be empty).
    pub checksum: String,
    /// Always false (the 2.x spelling).
    #[serde(rename = "allIPs")]
    pub all_ips: bool,
    /// The same, as Nacos 3 spells it.
    #[serde(rename = "allIps", default)]
    pub all_ips_v3: bool,
    /// The protection threshold was reached.
    pub reach_protection_threshold: bool,
    /// Always true.
    pub valid: bool,
}

/// Answer to a v1 beat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BeatJson {
    /// Interval the client should beat at (ms).
    pub client_beat_interval: i64,
    /// 10200 OK, 20404 unknown instance.
    pub code: i32,
    /// Clients may omit the beat body.
    pub light_beat_enabled: bool,
}

/// v1 instance detail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceDetailJson {
    /// `group@@service` (v1 calls it `service`, v2 `serviceName`).
    #[serde(alias = "serviceName")]
    pub service: String,
    /// IP.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// Cluster.
    pub cluster_name: String,
    /// Weight.
    pub weight: f64,
    /// Health.
    pub healthy: bool,
    /// Enabled.
    pub enabled: bool,
    /// Ephemeral.
    pub ephemeral: bool,
    /// Instance id.
    pub instance_id: String,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
}

/// A cluster inside a v1 service detail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterJson {
    /// Cluster name.
    pub name: String,
    /// Health checker JSON (`{"type":"NONE"}` ...).
    pub health_checker: serde_json::Value,
    /// Cluster metadata.
    pub metadata: BTreeMap<String, String>,
    /// Probe port.
    pub check_port: u16,
    /// Probe each instance's own port.
    pub use_i_p_port4_check: bool,
}

/// v1 service detail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDetailV1 {
    /// Namespace.
    pub namespace_id: String,
    /// Group.
    pub group_name: String,
    /// Plain name.
    pub name: String,
    /// Protection threshold.
    pub protect_threshold: f64,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Selector JSON.
    pub selector: serde_json::Value,
    /// Clusters.
    pub clusters: Vec<ClusterJson>,
}

/// v2 service detail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDetailV2 {
    /// Namespace.
    pub namespace: String,
    /// Plain name.
    pub service_name: String,
    /// Group.
    pub group_name: String,
    /// Clusters by name.
    pub cluster_map: BTreeMap<String, ClusterJson>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Protection threshold.
    pub protect_threshold: f64,
    /// Selector JSON.
    pub selector: serde_json::Value,
    /// Kind of instances.
    pub ephemeral: bool,
}

/// v1 service list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceListV1 {
    /// Services in all.
    pub count: usize,
    /// Plain names on this page.
    pub doms: Vec<String>,
}

/// v2 service list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceListV2 {
    /// Services in all.
    pub count: usize,
    /// Plain names on this page.
    pub services: Vec<String>,
}

/// One row of the console's service catalog.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CatalogServiceJson {
    /// Plain name.
    pub name: String,
    /// Group.
    pub group_name: String,
    /// Clusters with instances.
    pub cluster_count: usize,
    /// Instances.
    pub ip_count: usize,
    /// Healthy instances.
    pub healthy_instance_count: usize,
    /// Whether the protection threshold is reached.
    pub trigger_flag: String,
    /// The protection threshold (a Nocas addition the console shows).
    #[serde(default)]
    pub protect_threshold: f32,
}

/// Console catalog page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CatalogJson {
    /// Services in all.
    pub count: usize,
    /// Rows.
    pub service_list: Vec<CatalogServiceJson>,
}

/// A namespace (`/v1/console/namespaces`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceJson {
    /// Id (`""` for public).
    pub namespace: String,
    /// Display name.
    pub namespace_show_name: String,
    /// Description.
    pub namespace_desc: String,
    /// Quota.
    pub quota: u32,
    /// Configs in the namespace.
    pub config_count: usize,
    /// 0 public, 2 custom.
    #[serde(rename = "type")]
    pub kind: u8,
}

/// Nacos `RestResult`: `{code, message, data}` with HTTP-style codes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RestResult<T> {
    /// 200 on success.
    pub code: u16,
    /// Message, if any.
    pub message: Option<String>,
    /// Payload.
    pub data: T,
}

/// Open API v2 envelope: `{code, message, data}`, code 0 on success.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct V2Result<T> {
    /// 0 on success, else a v2 error code.
    pub code: u32,
    /// `success` or the error's abstract.
    pub message: String,
    /// Payload (or error detail).
    pub data: T,
}

impl<T> V2Result<T> {
    /// A success envelope.
    pub fn ok(data: T) -> Self {
        Self {
            code: 0,
            message: "success".into(),
            data,
        }
    }
}

/// A page of results (config search, history).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// Items in all.
    pub total_count: usize,
    /// This page's number (1-based).
    pub page_number: usize,
    /// Pages in all.
    pub pages_available: usize,
    /// Items of this page.
    pub page_items: Vec<T>,
}

/// A config in a search page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigItemJson {
    /// Config id.
    pub id: String,
    /// Data id.
    pub data_id: String,
    /// Group.
    pub group: String,
    /// Content.
    pub content: String,
    /// MD5.
    pub md5: String,
    /// Encrypted data key.
    pub encrypted_data_key: String,
    /// Tenant (`""` for public).
    pub tenant: String,
    /// Application.
    pub app_name: String,
    /// Content type.
    #[serde(rename = "type")]
    pub config_type: String,
}

/// Everything about a config (`show=all`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigAllInfoJson {
    /// Config id.
    pub id: String,
    /// Data id.
    pub data_id: String,
    /// Group.
    pub group: String,
    /// Tenant.
    pub tenant: String,
    /// Application.
    pub app_name: String,
    /// Content.
    pub content: String,
    /// MD5.
    pub md5: String,
    /// Content type.
    #[serde(rename = "type")]
    pub config_type: String,
    /// Creation time (ms).
    pub create_time: i64,
    /// Last change (ms).
    pub modify_time: i64,
    /// Creator.
    pub create_user: String,
    /// Creator's IP.
    pub create_ip: String,
    /// Description.
    pub desc: String,
    /// `use`.
    #[serde(rename = "use")]
    pub usage: String,
    /// `effect`.
    pub effect: String,
    /// `schema`.
    pub schema: String,
    /// Labels.
    pub config_tags: String,
    /// Encrypted data key.
    pub encrypted_data_key: String,
}

/// A history entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HistoryJson {
    /// History id (`nid`), as a string like Nacos.
    pub id: String,
    /// Unused (-1).
    pub last_id: i64,
    /// Data id.
    pub data_id: String,
    /// Group.
    pub group: String,
    /// Tenant.
    pub tenant: String,
    /// Application.
    pub app_name: String,
    /// MD5 (absent in list items).
    pub md5: Option<String>,
    /// Content (absent in list items).
    pub content: Option<String>,
    /// Source IP.
    pub src_ip: String,
    /// User.
    pub src_user: String,
    /// `I`, `U` or `D`.
    pub op_type: String,
    /// `formal` or `gray`.
    pub publish_type: String,
    /// Gray version name.
    pub gray_name: String,
    /// Extra info JSON.
    pub ext_info: String,
    /// Operation time (ms).
    pub created_time: i64,
    /// Version's modification time (ms).
    pub last_modified_time: i64,
    /// Encrypted data key.
    pub encrypted_data_key: Option<String>,
}

/// A config of a namespace (`/history/configs`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigInfoWrapperJson {
    /// Config id.
    pub id: String,
    /// Data id.
    pub data_id: String,
    /// Group.
    pub group: String,
    /// Tenant.
    pub tenant: String,
    /// Application.
    pub app_name: String,
    /// Content type.
    #[serde(rename = "type")]
    pub config_type: String,
    /// Last change (ms).
    pub last_modified: i64,
}

/// A cluster member (`/v1/core/cluster/nodes`, `/v2/core/cluster/node/*`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberJson {
    /// IP.
    pub ip: String,
    /// HTTP port.
    pub port: u16,
    /// `UP`, `DOWN`, `SUSPICIOUS`, `STARTING`.
    pub state: String,
    /// Extra info (raftPort, version, raft state ...).
    pub extend_info: BTreeMap<String, serde_json::Value>,
    /// `ip:port`.
    pub address: String,
    /// Failed accesses.
    pub fail_access_cnt: u32,
    /// Abilities.
    pub abilities: serde_json::Value,
}
