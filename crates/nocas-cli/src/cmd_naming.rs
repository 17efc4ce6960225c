//! `nocas service ...` and `nocas instance ...` over Nacos 3's naming
//! admin API.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::Api;
use crate::error::{CliError, Result};
use crate::output::{self, Format};
use crate::{Global, all_pages, pairs};

const SERVICE: &str = "/nacos/v3/admin/ns/service";
const INSTANCE: &str = "/nacos/v3/admin/ns/instance";

/// `nocas service`.
#[derive(Args, Debug)]
pub struct ServiceCmd {
    #[command(flatten)]
    g: Global,
    #[command(subcommand)]
    action: ServiceAction,
}

/// A service's name.
#[derive(Args, Debug, Clone)]
pub struct SvcName {
    /// Service name.
    pub service: String,
    /// Group.
    #[arg(short, long, default_value = "DEFAULT_GROUP")]
    pub group: String,
}

#[derive(Subcommand, Debug)]
enum ServiceAction {
    /// List services with their instance counts.
    Ls {
        /// Group (empty: all).
        #[arg(short, long, default_value = "")]
        group: String,
        /// Only names containing this.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// A service's fields, clusters and instances.
    Show(SvcName),
    /// Create a service record.
    Create {
        #[command(flatten)]
        name: SvcName,
        /// Protection threshold, 0-1.
        #[arg(long, default_value = "0")]
        threshold: f64,
        /// Metadata, `key=value` (repeat).
        #[arg(short, long = "metadata", value_parser = key_value)]
        metadata: Vec<(String, String)>,
    },
    /// Delete a service (it must have no instances).
    Rm(SvcName),
}

/// `nocas instance`.
#[derive(Args, Debug)]
pub struct InstanceCmd {
    #[command(flatten)]
    g: Global,
    #[command(subcommand)]
    action: InstanceAction,
}

/// An instance's address.
#[derive(Args, Debug, Clone)]
pub struct Addr {
    #[command(flatten)]
    svc: SvcName,
    /// IP.
    #[arg(long)]
    ip: String,
    /// Port.
    #[arg(long)]
    port: u16,
    /// Cluster.
    #[arg(short, long, default_value = "DEFAULT")]
    cluster: String,
}

#[derive(Subcommand, Debug)]
enum InstanceAction {
    /// List a service's instances (disabled and unhealthy ones too).
    Ls {
        #[command(flatten)]
        svc: SvcName,
        /// Only this cluster.
        #[arg(short, long)]
        cluster: Option<String>,
    },
    /// Register an instance: persistent unless --ephemeral (an ephemeral
    /// one registered this way goes when no beat keeps it).
    Register {
        #[command(flatten)]
        addr: Addr,
        /// Weight.
        #[arg(long, default_value = "1")]
        weight: f64,
        /// Metadata, `key=value` (repeat).
        #[arg(short, long = "metadata", value_parser = key_value)]
        metadata: Vec<(String, String)>,
        /// Ephemeral instead of persistent.
        #[arg(long)]
        ephemeral: bool,
        /// Register it disabled (out of service).
        #[arg(long)]
        disabled: bool,
    },
    /// Deregister an instance.
    Deregister(Addr),
    /// Take an instance out of service (enabled=false, kept registered).
    Offline(Addr),
    /// Put an instance back in service.
    Online(Addr),
}

/// `key=value`.
pub fn key_value(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not key=value")),
    }
}

/// Metadata pairs as the JSON text the API takes.
pub fn metadata_json(pairs: &[(String, String)]) -> String {
    let m: BTreeMap<&str, &str> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    json!(m).to_string()
}

/// A service's detail, or `None`.
pub async fn service(api: &Api, ns: &str, group: &str, name: &str) -> Result<Option<Value>> {
    let path = if api.legacy() { V1_SERVICE } else { SERVICE };
    let v = api
        .get_opt(
            path,
            pairs!["namespaceId" => ns, "groupName" => group, "serviceName" => name],
        )
        .await?;
    Ok(v.map(|mut v| {
        // Nacos 2 says `name` and lists clusters; shape it as v3 does.
        if api.legacy() {
            if v.get("serviceName").is_none() {
                v["serviceName"] = v["name"].clone();
            }
            if v.get("clusterMap").is_none() {
                let clusters: serde_json::Map<String, Value> = v["clusters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| (output::cell(c, "name"), c.clone()))
                    .map(|(k, mut c)| {
                        c["clusterName"] = json!(k);
                        (k, c)
                    })
                    .collect();
                v["clusterMap"] = Value::Object(clusters);
            }
        }
        v
    }))
}

const V1_SERVICE: &str = "/nacos/v1/ns/service";
const V1_INSTANCE: &str = "/nacos/v1/ns/instance";

/// Creates (or, with `update`, replaces the fields of) a service record.
pub async fn put_service(
    api: &Api,
    ns: &str,
    group: &str,
    name: &str,
    threshold: f64,
    metadata: &str,
    update: bool,
) -> Result<()> {
    let form = pairs![
        "namespaceId" => ns,
        "groupName" => group,
        "serviceName" => name,
        "protectThreshold" => threshold,
        "metadata" => metadata,
    ];
    let path = if api.legacy() { V1_SERVICE } else { SERVICE };
    if update {
        api.put(path, form).await?;
    } else {
        api.post(path, form).await?;
    }
    Ok(())
}

/// Deletes a service record.
pub async fn delete_service(api: &Api, ns: &str, group: &str, name: &str) -> Result<()> {
    api.delete(
        if api.legacy() { V1_SERVICE } else { SERVICE },
        pairs!["namespaceId" => ns, "groupName" => group, "serviceName" => name],
    )
    .await?;
    Ok(())
}

/// Every service of a namespace: (group, name) pairs.
pub async fn services(api: &Api, ns: &str) -> Result<Vec<Value>> {
    services_like(api, ns, "", "").await
}

/// Services of a namespace whose group and name contain the given texts
/// (empty: any).
pub async fn services_like(api: &Api, ns: &str, group: &str, name: &str) -> Result<Vec<Value>> {
    if !api.legacy() {
        return all_pages(
            api,
            &format!("{SERVICE}/list"),
            pairs!["namespaceId" => ns, "groupNameParam" => group, "serviceNameParam" => name],
        )
        .await;
    }
    // Nacos 2's console catalog: `{count, serviceList}`.
    let mut out = Vec::new();
    let size = 100usize;
    for page in 1usize.. {
        let v = api
            .get(
                "/nacos/v1/ns/catalog/services",
                pairs![
                    "namespaceId" => ns,
                    "groupNameParam" => group,
                    "serviceNameParam" => name,
                    "pageNo" => page,
                    "pageSize" => size,
                    "hasIpCount" => false,
                ],
            )
            .await?;
        let list = v["serviceList"].as_array().cloned().unwrap_or_default();
        let n = list.len();
        out.extend(list);
        if n < size || out.len() as u64 >= v["count"].as_u64().unwrap_or(0) {
            break;
        }
    }
    Ok(out)
}

/// A service's instances (empty when the service does not exist).
pub async fn instances(api: &Api, ns: &str, group: &str, name: &str) -> Result<Vec<Value>> {
    if api.legacy() {
        // Nacos 2's instance list leaves out disabled instances; its
        // console catalog lists them all, one cluster at a time.
        let Some(svc) = service(api, ns, group, name).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for cluster in svc["clusterMap"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let v = api
                .get(
                    "/nacos/v1/ns/catalog/instances",
                    pairs![
                        "namespaceId" => ns,
                        "groupName" => group,
                        "serviceName" => name,
                        "clusterName" => cluster,
                        "pageNo" => 1usize,
                        "pageSize" => 10_000usize,
                    ],
                )
                .await?;
            out.extend(v["list"].as_array().cloned().unwrap_or_default());
        }
        return Ok(out);
    }
    let v = api
        .get_opt(
            &format!("{INSTANCE}/list"),
            pairs!["namespaceId" => ns, "groupName" => group, "serviceName" => name],
        )
        .await?;
    Ok(v.and_then(|v| v.as_array().cloned()).unwrap_or_default())
}

/// One instance to register.
#[derive(Debug, Clone)]
pub struct NewInstance<'a> {
    /// Namespace (v3 spelling).
    pub ns: &'a str,
    /// Group.
    pub group: &'a str,
    /// Service.
    pub service: &'a str,
    /// IP.
    pub ip: &'a str,
    /// Port.
    pub port: u16,
    /// Cluster.
    pub cluster: &'a str,
    /// Weight.
    pub weight: f64,
    /// In service.
    pub enabled: bool,
    /// Metadata as JSON text.
    pub metadata: String,
    /// Ephemeral.
    pub ephemeral: bool,
}

/// Registers an instance.
pub async fn register(api: &Api, i: &NewInstance<'_>) -> Result<()> {
    put_instance(api, i, false).await
}

/// Registers an instance, or with `update` sets what an operator sets
/// (weight, enabled, metadata: Nacos keeps these apart from the
/// registration, so they outlive the client registering again).
pub async fn put_instance(api: &Api, i: &NewInstance<'_>, update: bool) -> Result<()> {
    let method = if update { Method::PUT } else { Method::POST };
    api.call(
        method,
        if api.legacy() { V1_INSTANCE } else { INSTANCE },
        Vec::new(),
        crate::api::Body::Form(pairs![
            "namespaceId" => i.ns,
            "groupName" => i.group,
            "serviceName" => i.service,
            "ip" => i.ip,
            "port" => i.port,
            "clusterName" => i.cluster,
            "weight" => i.weight,
            "enabled" => i.enabled,
            "healthy" => true,
            "metadata" => &i.metadata,
            "ephemeral" => i.ephemeral,
        ]),
    )
    .await?;
    Ok(())
}

/// Deregisters an instance (`ephemeral` must match what it is).
#[allow(clippy::too_many_arguments)]
pub async fn deregister(
    api: &Api,
    ns: &str,
    group: &str,
    service: &str,
    ip: &str,
    port: u16,
    cluster: &str,
    ephemeral: bool,
) -> Result<()> {
    api.delete(
        if api.legacy() { V1_INSTANCE } else { INSTANCE },
        pairs![
            "namespaceId" => ns,
            "groupName" => group,
            "serviceName" => service,
            "ip" => ip,
            "port" => port,
            "clusterName" => cluster,
            "ephemeral" => ephemeral,
        ],
    )
    .await?;
    Ok(())
}

async fn find(api: &Api, ns: &str, a: &Addr) -> Result<Value> {
    instances(api, ns, &a.svc.group, &a.svc.service)
        .await?
        .into_iter()
        .find(|i| {
            i["ip"] == a.ip.as_str()
                && i["port"].as_u64() == Some(u64::from(a.port))
                && i["clusterName"] == a.cluster.as_str()
        })
        .ok_or_else(|| {
            CliError::Server(format!(
                "no instance {}:{} in cluster {} of {}/{}",
                a.ip, a.port, a.cluster, a.svc.group, a.svc.service
            ))
        })
}

const INSTANCE_COLUMNS: [(&str, &str); 7] = [
    ("IP", "ip"),
    ("PORT", "port"),
    ("CLUSTER", "clusterName"),
    ("WEIGHT", "weight"),
    ("HEALTHY", "healthy"),
    ("ENABLED", "enabled"),
    ("EPHEMERAL", "ephemeral"),
];

pub(crate) async fn run_service(c: ServiceCmd) -> Result<u8> {
    let g = &c.g;
    let api = g.connect().await?;
    let ns = g.ns();
    match c.action {
        ServiceAction::Ls { group, name } => {
            let rows = services_like(&api, &ns, &group, &name).await?;
            output::print_rows(
                g.output,
                &rows,
                &[
                    ("SERVICE", "name"),
                    ("GROUP", "groupName"),
                    ("CLUSTERS", "clusterCount"),
                    ("INSTANCES", "ipCount"),
                    ("HEALTHY", "healthyInstanceCount"),
                ],
            );
        }
        ServiceAction::Show(n) => {
            let mut v = service(&api, &ns, &n.group, &n.service)
                .await?
                .ok_or_else(|| {
                    CliError::Server(format!("service {}/{} not found", n.group, n.service))
                })?;
            let inst = instances(&api, &ns, &n.group, &n.service).await?;
            match g.output {
                Format::Table => {
                    output::print_object(
                        Format::Table,
                        &v,
                        &[
                            ("service", "serviceName"),
                            ("group", "groupName"),
                            ("namespace", "namespaceId"),
                            ("threshold", "protectThreshold"),
                            ("metadata", "metadata"),
                            ("selector", "selector.type"),
                        ],
                    );
                    let clusters: Vec<Value> = v["clusterMap"]
                        .as_object()
                        .map(|m| m.values().cloned().collect())
                        .unwrap_or_default();
                    if !clusters.is_empty() {
                        println!();
                        output::print_rows(
                            Format::Table,
                            &clusters,
                            &[
                                ("CLUSTER", "clusterName"),
                                ("CHECKER", "healthChecker.type"),
                                ("CHECK PORT", "healthyCheckPort"),
                                ("USE INSTANCE PORT", "useInstancePortForCheck"),
                            ],
                        );
                    }
                    println!();
                    output::print_rows(Format::Table, &inst, &INSTANCE_COLUMNS);
                }
                f => {
                    v["instances"] = Value::Array(inst);
                    output::print_object(f, &v, &[]);
                }
            }
        }
        ServiceAction::Create {
            name,
            threshold,
            metadata,
        } => {
            put_service(
                &api,
                &ns,
                &name.group,
                &name.service,
                threshold,
                &metadata_json(&metadata),
                false,
            )
            .await?;
            eprintln!("created service {}/{} in {ns}", name.group, name.service);
        }
        ServiceAction::Rm(n) => {
            delete_service(&api, &ns, &n.group, &n.service).await?;
            eprintln!("deleted service {}/{} in {ns}", n.group, n.service);
        }
    }
    Ok(0)
}

pub(crate) async fn run_instance(c: InstanceCmd) -> Result<u8> {
    let g = &c.g;
    let api = g.connect().await?;
    let ns = g.ns();
    match c.action {
        InstanceAction::Ls { svc, cluster } => {
            let mut rows = instances(&api, &ns, &svc.group, &svc.service).await?;
            if let Some(c) = cluster {
                rows.retain(|i| i["clusterName"] == c.as_str());
            }
            let mut cols = INSTANCE_COLUMNS.to_vec();
            cols.push(("METADATA", "metadata"));
            output::print_rows(g.output, &rows, &cols);
        }
        InstanceAction::Register {
            addr,
            weight,
            metadata,
            ephemeral,
            disabled,
        } => {
            register(
                &api,
                &NewInstance {
                    ns: &ns,
                    group: &addr.svc.group,
                    service: &addr.svc.service,
                    ip: &addr.ip,
                    port: addr.port,
                    cluster: &addr.cluster,
                    weight,
                    enabled: !disabled,
                    metadata: metadata_json(&metadata),
                    ephemeral,
                },
            )
            .await?;
            eprintln!(
                "registered {}:{} in {}/{}",
                addr.ip, addr.port, addr.svc.group, addr.svc.service
            );
        }
        InstanceAction::Deregister(a) => {
            let found = find(&api, &ns, &a).await?;
            let ephemeral = found["ephemeral"].as_bool().unwrap_or(true);
            deregister(
                &api,
                &ns,
                &a.svc.group,
                &a.svc.service,
                &a.ip,
                a.port,
                &a.cluster,
                ephemeral,
            )
            .await?;
            eprintln!(
                "deregistered {}:{} from {}/{}",
                a.ip, a.port, a.svc.group, a.svc.service
            );
        }
        InstanceAction::Offline(a) => set_enabled(&api, &ns, &a, false).await?,
        InstanceAction::Online(a) => set_enabled(&api, &ns, &a, true).await?,
    }
    Ok(0)
}

async fn set_enabled(api: &Api, ns: &str, a: &Addr, enabled: bool) -> Result<()> {
    let found = find(api, ns, a).await?;
    if api.legacy() {
        // Nacos 2's update replaces weight and metadata too: send them.
        put_instance(
            api,
            &NewInstance {
                ns,
                group: &a.svc.group,
                service: &a.svc.service,
                ip: &a.ip,
                port: a.port,
                cluster: &a.cluster,
                weight: found["weight"].as_f64().unwrap_or(1.0),
                enabled,
                metadata: found["metadata"].to_string(),
                ephemeral: found["ephemeral"].as_bool().unwrap_or(true),
            },
            true,
        )
        .await?;
        eprintln!(
            "{}:{} in {}/{} is {}",
            a.ip,
            a.port,
            a.svc.group,
            a.svc.service,
            if enabled { "online" } else { "offline" }
        );
        return Ok(());
    }
    api.put(
        &format!("{INSTANCE}/partial"),
        pairs![
            "namespaceId" => ns,
            "groupName" => &a.svc.group,
            "serviceName" => &a.svc.service,
            "ip" => &a.ip,
            "port" => a.port,
            "clusterName" => &a.cluster,
            "ephemeral" => found["ephemeral"].as_bool().unwrap_or(true),
            "enabled" => enabled,
        ],
    )
    .await?;
    eprintln!(
        "{}:{} in {}/{} is {}",
        a.ip,
        a.port,
        a.svc.group,
        a.svc.service,
        if enabled { "online" } else { "offline" }
    );
    Ok(())
}
