//! `nocas migrate --from URL --to URL`: copies namespaces, configs (with
//! type, description, tags and application where the source tells them)
//! and services with their persistent instances from a running
//! Nacos-compatible server into another, idempotently, with a report.
//!
//! Reads the source only through the v1 Open API every Nacos-compatible
//! server answers (Nacos 1.x/2.x/3.x with its compatibility switches,
//! r-nacos, Nocas), and writes through the same v3 calls as the other
//! commands. Ephemeral instances are not copied: their clients register
//! them again wherever they connect.

use std::collections::BTreeSet;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::api::{Api, Body, Conn};
use crate::cmd_config::{self, type_of};
use crate::cmd_naming::{self, NewInstance};
use crate::error::{CliError, Result};
use crate::output::{self, Format};
use crate::{Global, cmd_access, ns_param, pairs};

/// `nocas migrate`.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    g: Global,
    /// The source server (any Nacos-compatible one); several, comma
    /// separated, are tried in turn.
    #[arg(long, value_delimiter = ',', required = true)]
    from: Vec<String>,
    /// The target server [default: --server].
    #[arg(long, value_delimiter = ',')]
    to: Vec<String>,
    /// User on the source.
    #[arg(long, env = "NOCAS_FROM_USERNAME")]
    from_username: Option<String>,
    /// Its password.
    #[arg(long, env = "NOCAS_FROM_PASSWORD", hide_env_values = true)]
    from_password: Option<String>,
    /// Only these namespaces (ids, comma separated; `public` for the
    /// public one) [default: all].
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Report what would change without writing.
    #[arg(long)]
    dry_run: bool,
}

/// What happened to each kind of object.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Tally {
    /// New on the target.
    pub created: usize,
    /// Changed on the target.
    pub updated: usize,
    /// Already the same.
    pub unchanged: usize,
    /// Could not be copied.
    pub failed: usize,
}

/// The migration report.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// Namespaces.
    pub namespaces: Tally,
    /// Configs.
    pub configs: Tally,
    /// Services.
    pub services: Tally,
    /// Persistent instances.
    pub instances: Tally,
    /// Ephemeral instances seen and left alone.
    pub ephemeral_skipped: usize,
    /// What failed, and why.
    pub failures: Vec<String>,
}

enum Outcome {
    Created,
    Updated,
    Unchanged,
}

fn count(t: &mut Tally, failures: &mut Vec<String>, what: String, r: Result<Outcome>) {
    match r {
        Ok(Outcome::Created) => t.created += 1,
        Ok(Outcome::Updated) => t.updated += 1,
        Ok(Outcome::Unchanged) => t.unchanged += 1,
        Err(e) => {
            t.failed += 1;
            failures.push(format!("{what}: {e}"));
        }
    }
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The source's namespaces: (id as v1 spells it, name, description).
async fn source_namespaces(src: &Api) -> Result<Vec<(String, String, String)>> {
    let v = src.get("/nacos/v1/console/namespaces", Vec::new()).await?;
    let list = v.as_array().cloned().unwrap_or_default();
    Ok(list
        .iter()
        .map(|n| {
            (
                s(n, "namespace"),
                s(n, "namespaceShowName"),
                s(n, "namespaceDesc"),
            )
        })
        .collect())
}

/// One source config with every field the source tells.
#[derive(Debug, Clone)]
struct Cfg {
    group: String,
    data_id: String,
    content: String,
    config_type: String,
    desc: String,
    app: String,
    tags: String,
}

async fn source_configs(src: &Api, tenant: &str) -> Result<Vec<Cfg>> {
    let mut out = Vec::new();
    let size = 100usize;
    for page in 1usize.. {
        let v = src
            .get(
                "/nacos/v1/cs/configs",
                pairs![
                    "search" => "accurate",
                    "dataId" => "",
                    "group" => "",
                    "tenant" => tenant,
                    "pageNo" => page,
                    "pageSize" => size,
                ],
            )
            .await?;
        let items = v["pageItems"].as_array().cloned().unwrap_or_default();
        let n = items.len();
        for i in items {
            let mut c = Cfg {
                group: s(&i, "group"),
                data_id: s(&i, "dataId"),
                content: s(&i, "content"),
                config_type: s(&i, "type"),
                desc: s(&i, "desc"),
                app: s(&i, "appName"),
                tags: s(&i, "configTags"),
            };
            // Nacos answers the remaining fields on `show=all`; servers
            // that do not (r-nacos) answer the content itself, whose
            // Content-Type still tells json, xml and html apart.
            let (detail, content_type) = detail(src, tenant, &c.group, &c.data_id).await;
            if let Some(d) = detail {
                for (field, key) in [
                    (&mut c.config_type, "type"),
                    (&mut c.desc, "desc"),
                    (&mut c.app, "appName"),
                    (&mut c.tags, "configTags"),
                ] {
                    if field.is_empty() {
                        *field = s(&d, key);
                    }
                }
            } else if c.config_type.is_empty() {
                let mime = content_type.to_ascii_lowercase();
                for (prefix, t) in [
                    ("application/json", "json"),
                    ("application/xml", "xml"),
                    ("text/xml", "xml"),
                    ("text/html", "html"),
                ] {
                    if mime.starts_with(prefix) {
                        c.config_type = t.into();
                    }
                }
            }
            if c.config_type.is_empty() {
                c.config_type = type_of(&c.data_id).into();
            }
            out.push(c);
        }
        let total = v["totalCount"].as_u64().unwrap_or(0) as usize;
        if n < size || out.len() >= total {
            break;
        }
    }
    Ok(out)
}

/// `GET /v1/cs/configs?show=all`: the fields when the server gives them
/// (an object naming this config), and the answer's Content-Type.
async fn detail(src: &Api, tenant: &str, group: &str, data_id: &str) -> (Option<Value>, String) {
    let query = pairs![
        "show" => "all",
        "dataId" => data_id,
        "group" => group,
        "tenant" => tenant,
    ];
    let Ok(resp) = src
        .response(
            reqwest::Method::GET,
            "/nacos/v1/cs/configs",
            &query,
            Body::Empty,
        )
        .await
    else {
        return (None, String::new());
    };
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !resp.status().is_success() {
        return (None, content_type);
    }
    let v: Option<Value> = resp.json().await.ok();
    let v = v.filter(|d| d["dataId"] == data_id && d.get("content").is_some());
    (v, content_type)
}

fn tag_set(s: &str) -> BTreeSet<String> {
    s.split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

async fn copy_config(dst: &Api, ns: &str, c: &Cfg, dry: bool) -> Result<Outcome> {
    let now = cmd_config::fetch(dst, ns, &c.group, &c.data_id).await?;
    let outcome = match &now {
        None => Outcome::Created,
        Some(n)
            if s(n, "content") == c.content
                && s(n, "type") == c.config_type
                && s(n, "desc") == c.desc
                && s(n, "appName") == c.app
                && tag_set(&s(n, "configTags")) == tag_set(&c.tags) =>
        {
            return Ok(Outcome::Unchanged);
        }
        Some(_) => Outcome::Updated,
    };
    if !dry {
        cmd_config::publish(
            dst,
            ns,
            &c.group,
            &c.data_id,
            &c.content,
            &c.config_type,
            Some(&c.desc),
            Some(&c.tags),
            Some(&c.app),
        )
        .await?;
    }
    Ok(outcome)
}

/// The source's services of a namespace: (group, name).
async fn source_services(src: &Api, ns: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let size = 100usize;
    for page in 1usize.. {
        let v = src
            .get(
                "/nacos/v1/ns/catalog/services",
                pairs![
                    "namespaceId" => ns,
                    "pageNo" => page,
                    "pageSize" => size,
                    "withInstances" => false,
                    "hasIpCount" => false,
                ],
            )
            .await?;
        let list = v["serviceList"].as_array().cloned().unwrap_or_default();
        let n = list.len();
        for svc in list {
            let (mut group, mut name) = (s(&svc, "groupName"), s(&svc, "name"));
            if let Some((g, n)) = name.split_once("@@") {
                (group, name) = (g.to_string(), n.to_string());
            }
            if group.is_empty() {
                group = "DEFAULT_GROUP".into();
            }
            out.push((group, name));
        }
        let total = v["count"].as_u64().unwrap_or(0) as usize;
        if n < size || out.len() >= total {
            break;
        }
    }
    Ok(out)
}

/// A source service's record (threshold, metadata): plain name and group
/// first (Nacos), then the grouped name (r-nacos ignores `groupName`).
async fn source_service(src: &Api, ns: &str, group: &str, name: &str) -> Result<Value> {
    let grouped = format!("{group}@@{name}");
    let mut last = None;
    for (svc, grp) in [(name, Some(group)), (grouped.as_str(), None)] {
        match src
            .get(
                "/nacos/v1/ns/service",
                pairs!["namespaceId" => ns, "serviceName" => svc, "groupName" => grp],
            )
            .await
        {
            Ok(v) if v.is_object() && (v["name"].is_string() || v["serviceName"].is_string()) => {
                return Ok(v);
            }
            Ok(v) => last = Some(CliError::Server(format!("unexpected answer {v}"))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| CliError::Server("no answer".into())))
}

fn metadata_map(v: &Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(s(&json!({ "x": v }), "x"))))
            .collect(),
        // r-nacos's catalog writes metadata as a JSON string.
        Value::String(text) => serde_json::from_str::<Value>(text)
            .ok()
            .map(|v| metadata_map(&v))
            .unwrap_or_default(),
        _ => serde_json::Map::new(),
    }
}

async fn copy_service(
    dst: &Api,
    ns: &str,
    group: &str,
    name: &str,
    rec: &Value,
    dry: bool,
) -> Result<Outcome> {
    let threshold = rec["protectThreshold"].as_f64().unwrap_or(0.0);
    let metadata = metadata_map(&rec["metadata"]);
    let now = cmd_naming::service(dst, ns, group, name).await?;
    let outcome = match &now {
        None => Outcome::Created,
        Some(n)
            if (n["protectThreshold"].as_f64().unwrap_or(0.0) - threshold).abs() < 1e-9
                && metadata_map(&n["metadata"]) == metadata =>
        {
            return Ok(Outcome::Unchanged);
        }
        Some(_) => Outcome::Updated,
    };
    if !dry {
        let m = Value::Object(metadata).to_string();
        cmd_naming::put_service(
            dst,
            ns,
            group,
            name,
            threshold,
            &m,
            matches!(outcome, Outcome::Updated),
        )
        .await?;
    }
    Ok(outcome)
}

async fn source_instances(src: &Api, ns: &str, group: &str, name: &str) -> Result<Vec<Value>> {
    let v = src
        .get(
            "/nacos/v1/ns/instance/list",
            pairs![
                "namespaceId" => ns,
                "serviceName" => format!("{group}@@{name}"),
                "groupName" => group,
                "healthyOnly" => false,
            ],
        )
        .await?;
    Ok(v["hosts"].as_array().cloned().unwrap_or_default())
}

async fn copy_instance(
    dst: &Api,
    ns: &str,
    group: &str,
    name: &str,
    i: &Value,
    existing: &[Value],
    dry: bool,
) -> Result<Outcome> {
    let ip = s(i, "ip");
    let port = i["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| CliError::Server(format!("instance {ip} has no valid port")))?;
    let mut cluster = s(i, "clusterName");
    if cluster.is_empty() {
        cluster = "DEFAULT".into();
    }
    let weight = i["weight"].as_f64().unwrap_or(1.0);
    let enabled = i["enabled"].as_bool().unwrap_or(true);
    let metadata = metadata_map(&i["metadata"]);
    let found = existing.iter().find(|e| {
        e["ip"] == ip.as_str()
            && e["port"].as_u64() == Some(u64::from(port))
            && e["clusterName"] == cluster.as_str()
    });
    let outcome = match found {
        None => Outcome::Created,
        Some(e)
            if (e["weight"].as_f64().unwrap_or(1.0) - weight).abs() < 1e-9
                && e["enabled"].as_bool() == Some(enabled)
                && metadata_map(&e["metadata"]) == metadata =>
        {
            return Ok(Outcome::Unchanged);
        }
        Some(_) => Outcome::Updated,
    };
    if !dry {
        cmd_naming::register(
            dst,
            &NewInstance {
                ns,
                group,
                service: name,
                ip: &ip,
                port,
                cluster: &cluster,
                weight,
                enabled,
                metadata: Value::Object(metadata).to_string(),
                ephemeral: false,
            },
        )
        .await?;
    }
    Ok(outcome)
}

/// `nocas migrate`.
pub async fn run(a: MigrateArgs) -> Result<u8> {
    let timeout = Duration::from_millis(a.g.timeout_ms.max(1));
    let src = Api::connect(&Conn {
        servers: a.from.clone(),
        username: a.from_username.clone(),
        password: a.from_password.clone(),
        token: None,
        timeout,
        api: crate::api::ApiChoice::V1,
        ca_file: a.g.ca_file.clone(),
    })
    .await
    .map_err(|e| CliError::Failed(format!("source: {e}")))?;
    let mut g = a.g.clone();
    if !a.to.is_empty() {
        g.server = a.to.clone();
    }
    let dst = g
        .connect()
        .await
        .map_err(|e| CliError::Failed(format!("target: {e}")))?;
    let only: BTreeSet<String> = a.only.iter().map(|n| ns_param(n)).collect();
    let mut r = Report::default();
    let dst_namespaces: BTreeSet<String> = cmd_access::namespaces(&dst)
        .await?
        .iter()
        .map(|n| ns_param(&s(n, "namespace")))
        .collect();
    for (tenant, ns_name, ns_desc) in source_namespaces(&src).await? {
        let ns = ns_param(&tenant);
        // r-nacos lists a marker of its own snapshots as a namespace.
        if (!only.is_empty() && !only.contains(&ns)) || ns == "__already_sync" {
            continue;
        }
        if ns != "public" {
            let outcome = if dst_namespaces.contains(&ns) {
                Ok(Outcome::Unchanged)
            } else if a.dry_run {
                Ok(Outcome::Created)
            } else {
                let name = if ns_name.is_empty() {
                    ns.clone()
                } else {
                    ns_name
                };
                cmd_access::put_namespace(&dst, &ns, &name, &ns_desc, false)
                    .await
                    .map(|()| Outcome::Created)
            };
            let failed = outcome.is_err();
            count(
                &mut r.namespaces,
                &mut r.failures,
                format!("namespace {ns}"),
                outcome,
            );
            if failed {
                continue;
            }
        }
        let configs = source_configs(&src, &tenant).await?;
        for c in &configs {
            let what = format!("config {ns}/{}/{}", c.group, c.data_id);
            let outcome = copy_config(&dst, &ns, c, a.dry_run).await;
            count(&mut r.configs, &mut r.failures, what, outcome);
        }
        // Naming speaks `public` for the public namespace on every server.
        let services = source_services(&src, &ns).await?;
        for (group, name) in &services {
            let label = format!("service {ns}/{group}/{name}");
            let rec = match source_service(&src, &ns, group, name).await {
                Ok(rec) => rec,
                Err(e) => {
                    count(&mut r.services, &mut r.failures, label, Err(e));
                    continue;
                }
            };
            let outcome = copy_service(&dst, &ns, group, name, &rec, a.dry_run).await;
            let failed = outcome.is_err();
            count(&mut r.services, &mut r.failures, label, outcome);
            if failed {
                continue;
            }
            let existing = cmd_naming::instances(&dst, &ns, group, name).await?;
            for i in source_instances(&src, &ns, group, name).await? {
                if i["ephemeral"].as_bool().unwrap_or(true) {
                    r.ephemeral_skipped += 1;
                    continue;
                }
                let what = format!(
                    "instance {ns}/{group}/{name} {}:{}",
                    s(&i, "ip"),
                    s(&i, "port")
                );
                let outcome = copy_instance(&dst, &ns, group, name, &i, &existing, a.dry_run).await;
                count(&mut r.instances, &mut r.failures, what, outcome);
            }
        }
        eprintln!(
            "namespace {ns}: {} configs, {} services",
            configs.len(),
            services.len()
        );
    }
    print_report(&g, &r, a.dry_run);
    Ok(u8::from(!r.failures.is_empty()))
}

fn print_report(g: &Global, r: &Report, dry: bool) {
    match g.output {
        Format::Table => {
            let rows: Vec<Value> = [
                ("namespaces", r.namespaces),
                ("configs", r.configs),
                ("services", r.services),
                ("persistent instances", r.instances),
            ]
            .iter()
            .map(|(k, t)| {
                json!({"kind": k, "created": t.created, "updated": t.updated,
                       "unchanged": t.unchanged, "failed": t.failed})
            })
            .collect();
            if dry {
                println!("dry run: nothing was written");
            }
            output::print_rows(
                Format::Table,
                &rows,
                &[
                    ("KIND", "kind"),
                    ("CREATED", "created"),
                    ("UPDATED", "updated"),
                    ("UNCHANGED", "unchanged"),
                    ("FAILED", "failed"),
                ],
            );
            if r.ephemeral_skipped > 0 {
                println!(
                    "{} ephemeral instances left to their clients to register again",
                    r.ephemeral_skipped
                );
            }
            for f in &r.failures {
                println!("failed: {f}");
            }
        }
        f => output::print_object(f, &serde_json::to_value(r).unwrap_or_default(), &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_arrives_as_objects_or_json_text() {
        let want: serde_json::Map<String, Value> =
            [("a".to_string(), json!("1")), ("b".to_string(), json!("x"))]
                .into_iter()
                .collect();
        assert_eq!(metadata_map(&json!({"a": 1, "b": "x"})), want);
        assert_eq!(metadata_map(&json!("{\"a\":\"1\",\"b\":\"x\"}")), want);
        assert!(metadata_map(&json!(null)).is_empty());
    }
}
