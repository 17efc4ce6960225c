//! `nocas apply` and `nocas diff`: YAML documents describing namespaces,
//! configs, services, persistent instances, users, roles and permissions,
//! compared with what a server holds, as a plan (create / update /
//! delete, with content diffs) that `apply` then carries out.
//!
//! Owns the file format (docs/apply.md), the comparison and the order of
//! changes. What an apply creates is marked (configs with the tag
//! [`MARK_TAG`], services and instances with the metadata
//! [`MARK_KEY`]`=`[`MARK_VALUE`]) so that `--prune` deletes only what an
//! earlier apply made. Namespaces, users, roles and permissions carry no
//! mark and are never pruned. Secrets never come from the YAML: a user's
//! password is read from an environment variable or a file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::Api;
use crate::cmd_access::{self, secret_from_file};
use crate::cmd_config::{self, type_of, unified};
use crate::cmd_naming::{self, NewInstance};
use crate::error::{CliError, Result};
use crate::output::{self, Format};
use crate::{Global, ns_param};

/// The config tag marking a config an apply created.
pub const MARK_TAG: &str = "nocas-apply";
/// The metadata key marking a service or instance an apply created.
pub const MARK_KEY: &str = "managed-by";
/// Its value.
pub const MARK_VALUE: &str = "nocas-apply";

/// `nocas apply`.
#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    g: Global,
    /// YAML files or directories (every `*.yaml` / `*.yml` below, in name
    /// order).
    #[arg(short = 'f', long = "file", required = true)]
    files: Vec<PathBuf>,
    /// Print the plan only.
    #[arg(long)]
    dry_run: bool,
    /// Also delete what an earlier apply created and the files no longer
    /// declare.
    #[arg(long)]
    prune: bool,
}

/// `nocas diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    #[command(flatten)]
    g: Global,
    /// YAML files or directories.
    #[arg(short = 'f', long = "file", required = true)]
    files: Vec<PathBuf>,
    /// Count what `apply --prune` would delete as drift too.
    #[arg(long)]
    prune: bool,
}

// ----- the file format ---------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NsDoc {
    id: String,
    name: Option<String>,
    #[serde(default)]
    desc: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigDoc {
    namespace: Option<String>,
    group: Option<String>,
    data_id: String,
    #[serde(rename = "type")]
    config_type: Option<String>,
    #[serde(default)]
    desc: String,
    #[serde(default)]
    app_name: String,
    #[serde(default)]
    tags: Vec<String>,
    content: Option<String>,
    file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceDoc {
    namespace: Option<String>,
    group: Option<String>,
    name: String,
    #[serde(default)]
    protect_threshold: f64,
    #[serde(default)]
    metadata: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct InstanceDoc {
    namespace: Option<String>,
    group: Option<String>,
    service: String,
    ip: String,
    port: u16,
    cluster: Option<String>,
    weight: Option<f64>,
    enabled: Option<bool>,
    #[serde(default)]
    metadata: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SecretFrom {
    env: Option<String>,
    file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UserDoc {
    username: String,
    password_from: SecretFrom,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RoleDoc {
    role: String,
    username: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PermDoc {
    role: String,
    resource: String,
    action: String,
}

/// One desired object, resolved (defaults filled, files read).
#[derive(Debug, Clone, PartialEq)]
enum Want {
    Namespace {
        id: String,
        name: String,
        desc: String,
    },
    Config {
        ns: String,
        group: String,
        data_id: String,
        config_type: String,
        desc: String,
        app: String,
        tags: BTreeSet<String>,
        content: String,
    },
    Service {
        ns: String,
        group: String,
        name: String,
        threshold: f64,
        metadata: BTreeMap<String, String>,
    },
    Instance {
        ns: String,
        group: String,
        service: String,
        ip: String,
        port: u16,
        cluster: String,
        weight: f64,
        enabled: bool,
        metadata: BTreeMap<String, String>,
    },
    User {
        username: String,
        password: String,
    },
    Role {
        role: String,
        username: String,
    },
    Permission {
        role: String,
        resource: String,
        action: String,
    },
}

impl Want {
    /// Changes apply in this order (deletions in the reverse one).
    fn rank(&self) -> u8 {
        match self {
            Self::Namespace { .. } => 0,
            Self::Service { .. } => 1,
            Self::Instance { .. } => 2,
            Self::Config { .. } => 3,
            Self::User { .. } => 4,
            Self::Role { .. } => 5,
            Self::Permission { .. } => 6,
        }
    }

    /// What it is, for people: `config dev/G/app.yaml`.
    fn label(&self) -> String {
        match self {
            Self::Namespace { id, .. } => format!("namespace {id}"),
            Self::Config {
                ns, group, data_id, ..
            } => format!("config {ns}/{group}/{data_id}"),
            Self::Service {
                ns, group, name, ..
            } => format!("service {ns}/{group}/{name}"),
            Self::Instance {
                ns,
                group,
                service,
                ip,
                port,
                cluster,
                ..
            } => format!("instance {ns}/{group}/{service} {ip}:{port} ({cluster})"),
            Self::User { username, .. } => format!("user {username}"),
            Self::Role { role, username } => format!("role {role} of {username}"),
            Self::Permission {
                role,
                resource,
                action,
            } => format!("permission {action} on {resource} for {role}"),
        }
    }
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn metadata_of(m: &Map<String, Value>, mark: bool) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = m
        .iter()
        .map(|(k, v)| (k.clone(), scalar_string(v)))
        .collect();
    if mark {
        out.insert(MARK_KEY.into(), MARK_VALUE.into());
    }
    out
}

/// The YAML files a path names, in name order.
fn yaml_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| CliError::io(path.display(), e))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| CliError::io(path.display(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

fn doc<T: for<'de> Deserialize<'de>>(v: Value, at: &str) -> Result<T> {
    serde_json::from_value(v).map_err(|e| CliError::Usage(format!("{at}: {e}")))
}

/// Reads every document of the files into desired objects. `default_ns`
/// is the namespace of documents that name none.
fn load(paths: &[PathBuf], default_ns: &str) -> Result<Vec<Want>> {
    let mut files = Vec::new();
    for p in paths {
        yaml_files(p, &mut files)?;
    }
    let mut parsed = Vec::with_capacity(files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| CliError::io(file.display(), e))?;
        let docs = yaml_rust2::YamlLoader::load_from_str(&text);
        parsed.push((file, docs));
    }
    // A YAML file a config takes its content from is content, not a
    // manifest, wherever it lies.
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut content_files = BTreeSet::new();
    for (file, docs) in &parsed {
        let dir = file.parent().unwrap_or(Path::new("."));
        for y in docs.iter().flatten() {
            if y["kind"].as_str() == Some("Config")
                && let Some(f) = y["file"].as_str()
            {
                content_files.insert(canonical(&dir.join(f)));
            }
        }
    }
    let mut wants: Vec<Want> = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (file, docs) in parsed {
        if content_files.contains(&canonical(&file)) {
            continue;
        }
        let docs = docs.map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
        let dir = file.parent().unwrap_or(Path::new("."));
        for (n, y) in docs.iter().enumerate() {
            let at = format!("{} (document {})", file.display(), n + 1);
            let mut v = output::from_yaml(y);
            if v.is_null() {
                continue;
            }
            let Some(obj) = v.as_object_mut() else {
                return Err(CliError::Usage(format!("{at}: not a mapping")));
            };
            let kind = obj
                .remove("kind")
                .and_then(|k| k.as_str().map(str::to_owned))
                .ok_or_else(|| CliError::Usage(format!("{at}: no kind")))?;
            let ns_of = |ns: &Option<String>| ns_param(ns.as_deref().unwrap_or(default_ns));
            let group_of = |g: &Option<String>, default: &str| {
                g.clone()
                    .filter(|g| !g.trim().is_empty())
                    .unwrap_or_else(|| default.to_string())
            };
            let want = match kind.as_str() {
                "Namespace" => {
                    let d: NsDoc = doc(v, &at)?;
                    Want::Namespace {
                        name: d.name.unwrap_or_else(|| d.id.clone()),
                        id: d.id,
                        desc: d.desc,
                    }
                }
                "Config" => {
                    let d: ConfigDoc = doc(v, &at)?;
                    let content = match (d.content, d.file) {
                        (Some(c), None) => c,
                        (None, Some(f)) => {
                            let p = dir.join(f);
                            std::fs::read_to_string(&p).map_err(|e| CliError::io(p.display(), e))?
                        }
                        _ => {
                            return Err(CliError::Usage(format!(
                                "{at}: a config needs exactly one of content and file"
                            )));
                        }
                    };
                    if content.trim().is_empty() {
                        return Err(CliError::Usage(format!("{at}: the content is empty")));
                    }
                    let mut tags: BTreeSet<String> = d
                        .tags
                        .iter()
                        .map(|t| t.trim().to_string())
                        .filter(|t| !t.is_empty())
                        .collect();
                    tags.insert(MARK_TAG.into());
                    Want::Config {
                        ns: ns_of(&d.namespace),
                        group: group_of(&d.group, "DEFAULT_GROUP"),
                        config_type: d.config_type.unwrap_or_else(|| type_of(&d.data_id).into()),
                        data_id: d.data_id,
                        desc: d.desc,
                        app: d.app_name,
                        tags,
                        content,
                    }
                }
                "Service" => {
                    let d: ServiceDoc = doc(v, &at)?;
                    if !(0.0..=1.0).contains(&d.protect_threshold) {
                        return Err(CliError::Usage(format!(
                            "{at}: protectThreshold must be between 0 and 1"
                        )));
                    }
                    Want::Service {
                        ns: ns_of(&d.namespace),
                        group: group_of(&d.group, "DEFAULT_GROUP"),
                        name: d.name,
                        threshold: d.protect_threshold,
                        metadata: metadata_of(&d.metadata, true),
                    }
                }
                "Instance" => {
                    let d: InstanceDoc = doc(v, &at)?;
                    Want::Instance {
                        ns: ns_of(&d.namespace),
                        group: group_of(&d.group, "DEFAULT_GROUP"),
                        service: d.service,
                        ip: d.ip,
                        port: d.port,
                        cluster: group_of(&d.cluster, "DEFAULT"),
                        weight: d.weight.unwrap_or(1.0),
                        enabled: d.enabled.unwrap_or(true),
                        metadata: metadata_of(&d.metadata, true),
                    }
                }
                "User" => {
                    let d: UserDoc = doc(v, &at)?;
                    let password = match (&d.password_from.env, &d.password_from.file) {
                        (Some(var), None) => std::env::var(var).map_err(|_| {
                            CliError::Usage(format!(
                                "{at}: environment variable {var} (the password of {}) is not set",
                                d.username
                            ))
                        })?,
                        (None, Some(f)) => secret_from_file(&dir.join(f))?,
                        _ => {
                            return Err(CliError::Usage(format!(
                                "{at}: passwordFrom needs exactly one of env and file"
                            )));
                        }
                    };
                    Want::User {
                        username: d.username,
                        password,
                    }
                }
                "Role" => {
                    let d: RoleDoc = doc(v, &at)?;
                    Want::Role {
                        role: d.role,
                        username: d.username,
                    }
                }
                "Permission" => {
                    let d: PermDoc = doc(v, &at)?;
                    if !matches!(d.action.as_str(), "r" | "w" | "rw") {
                        return Err(CliError::Usage(format!("{at}: action must be r, w or rw")));
                    }
                    Want::Permission {
                        role: d.role,
                        resource: d.resource,
                        action: d.action,
                    }
                }
                other => {
                    return Err(CliError::Usage(format!(
                        "{at}: unknown kind {other} (Namespace, Config, Service, Instance, User, Role, Permission)"
                    )));
                }
            };
            let label = want.label();
            if let Some(first) = seen.insert(label.clone(), at.clone()) {
                return Err(CliError::Usage(format!(
                    "{at}: {label} is declared twice (first in {first})"
                )));
            }
            wants.push(want);
        }
    }
    wants.sort_by_key(Want::rank);
    Ok(wants)
}

// ----- the plan ----------------------------------------------------------------

/// One change.
#[derive(Debug, Clone)]
enum Step {
    Create(Want),
    /// The desired state and what differs.
    Update(Want, Vec<String>),
    Delete(Want),
}

#[derive(Debug, Default)]
struct Plan {
    steps: Vec<Step>,
    unchanged: usize,
}

fn str_of(v: &Value, k: &str) -> String {
    scalar_string(&v[k])
}

fn map_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), scalar_string(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn tag_set(s: &str) -> BTreeSet<String> {
    s.split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn differs(a: f64, b: f64) -> bool {
    (a - b).abs() > 1e-9
}

/// What the server holds, read once per kind.
#[derive(Default)]
struct Seen {
    namespaces: Option<Vec<Value>>,
    users: Option<BTreeSet<String>>,
    roles: Option<Vec<Value>>,
    perms: Option<Vec<Value>>,
    instances: HashMap<(String, String, String), Vec<Value>>,
}

async fn instances_of<'a>(
    api: &Api,
    seen: &'a mut Seen,
    ns: &str,
    group: &str,
    service: &str,
) -> Result<&'a Vec<Value>> {
    let key = (ns.to_string(), group.to_string(), service.to_string());
    if !seen.instances.contains_key(&key) {
        let list = cmd_naming::instances(api, ns, group, service).await?;
        seen.instances.insert(key.clone(), list);
    }
    Ok(seen.instances.get(&key).map_or(&EMPTY, |v| v))
}

static EMPTY: Vec<Value> = Vec::new();

async fn plan(api: &Api, wants: &[Want], prune: bool) -> Result<Plan> {
    let mut p = Plan::default();
    let mut seen = Seen::default();
    for w in wants {
        let step = match w {
            Want::Namespace { id, name, desc } => {
                if seen.namespaces.is_none() {
                    seen.namespaces = Some(cmd_access::namespaces(api).await?);
                }
                let found = seen.namespaces.iter().flatten().find(|n| {
                    ns_param(n["namespace"].as_str().unwrap_or_default()) == ns_param(id)
                });
                match found {
                    None => Some(Step::Create(w.clone())),
                    Some(n) => {
                        let mut what = Vec::new();
                        if str_of(n, "namespaceShowName") != *name {
                            what.push("name".into());
                        }
                        if str_of(n, "namespaceDesc") != *desc {
                            what.push("description".into());
                        }
                        (!what.is_empty()).then(|| Step::Update(w.clone(), what))
                    }
                }
            }
            Want::Config {
                ns,
                group,
                data_id,
                config_type,
                desc,
                app,
                tags,
                content,
            } => match cmd_config::fetch(api, ns, group, data_id).await? {
                None => Some(Step::Create(w.clone())),
                Some(c) => {
                    let mut what = Vec::new();
                    let now = str_of(&c, "content");
                    if now != *content {
                        what.push(format!(
                            "content\n{}",
                            unified(&now, content, "current", "desired")
                        ));
                    }
                    if str_of(&c, "type") != *config_type {
                        what.push(format!("type {} -> {config_type}", str_of(&c, "type")));
                    }
                    if str_of(&c, "desc") != *desc {
                        what.push("description".into());
                    }
                    if str_of(&c, "appName") != *app {
                        what.push("appName".into());
                    }
                    if tag_set(&str_of(&c, "configTags")) != *tags {
                        what.push("tags".into());
                    }
                    (!what.is_empty()).then(|| Step::Update(w.clone(), what))
                }
            },
            Want::Service {
                ns,
                group,
                name,
                threshold,
                metadata,
            } => match cmd_naming::service(api, ns, group, name).await? {
                None => Some(Step::Create(w.clone())),
                Some(s) => {
                    let mut what = Vec::new();
                    if differs(s["protectThreshold"].as_f64().unwrap_or(0.0), *threshold) {
                        what.push("protectThreshold".into());
                    }
                    if map_of(&s["metadata"]) != *metadata {
                        what.push("metadata".into());
                    }
                    (!what.is_empty()).then(|| Step::Update(w.clone(), what))
                }
            },
            Want::Instance {
                ns,
                group,
                service,
                ip,
                port,
                cluster,
                weight,
                enabled,
                metadata,
            } => {
                let list = instances_of(api, &mut seen, ns, group, service).await?;
                let found = list.iter().find(|i| {
                    i["ip"] == ip.as_str()
                        && i["port"].as_u64() == Some(u64::from(*port))
                        && i["clusterName"] == cluster.as_str()
                });
                match found {
                    None => Some(Step::Create(w.clone())),
                    Some(i) if i["ephemeral"].as_bool() == Some(true) => {
                        return Err(CliError::Failed(format!(
                            "{}: an ephemeral instance is registered there; apply manages persistent ones",
                            w.label()
                        )));
                    }
                    Some(i) => {
                        let mut what = Vec::new();
                        if differs(i["weight"].as_f64().unwrap_or(1.0), *weight) {
                            what.push("weight".into());
                        }
                        if i["enabled"].as_bool() != Some(*enabled) {
                            what.push("enabled".into());
                        }
                        if map_of(&i["metadata"]) != *metadata {
                            what.push("metadata".into());
                        }
                        (!what.is_empty()).then(|| Step::Update(w.clone(), what))
                    }
                }
            }
            Want::User { username, .. } => {
                if seen.users.is_none() {
                    seen.users = Some(cmd_access::users(api).await?.into_iter().collect());
                }
                (!seen.users.iter().flatten().any(|u| u == username))
                    .then(|| Step::Create(w.clone()))
            }
            Want::Role { role, username } => {
                if seen.roles.is_none() {
                    seen.roles = Some(cmd_access::roles(api).await?);
                }
                (!seen
                    .roles
                    .iter()
                    .flatten()
                    .any(|r| r["role"] == role.as_str() && r["username"] == username.as_str()))
                .then(|| Step::Create(w.clone()))
            }
            Want::Permission {
                role,
                resource,
                action,
            } => {
                if seen.perms.is_none() {
                    seen.perms = Some(cmd_access::permissions(api).await?);
                }
                (!seen.perms.iter().flatten().any(|r| {
                    r["role"] == role.as_str()
                        && r["resource"] == resource.as_str()
                        && r["action"] == action.as_str()
                }))
                .then(|| Step::Create(w.clone()))
            }
        };
        match step {
            Some(s) => p.steps.push(s),
            None => p.unchanged += 1,
        }
    }
    if prune {
        let mut doomed = prunable(api, wants).await?;
        doomed.sort_by_key(|w| std::cmp::Reverse(w.rank()));
        p.steps.extend(doomed.into_iter().map(Step::Delete));
    }
    Ok(p)
}

/// What carries the mark on the server but is no longer declared.
async fn prunable(api: &Api, wants: &[Want]) -> Result<Vec<Want>> {
    let declared: BTreeSet<String> = wants.iter().map(Want::label).collect();
    let mut out = Vec::new();
    let marked = |m: &Value| m[MARK_KEY] == MARK_VALUE;
    for n in cmd_access::namespaces(api).await? {
        let ns = ns_param(n["namespace"].as_str().unwrap_or_default());
        let configs = crate::all_pages(
            api,
            "/nacos/v3/admin/cs/config/list",
            crate::pairs![
                "namespaceId" => &ns,
                "dataId" => "",
                "groupName" => "",
                "search" => "blur",
                "configTags" => MARK_TAG,
            ],
        )
        .await?;
        for c in configs {
            let w = Want::Config {
                ns: ns.clone(),
                group: str_of(&c, "groupName"),
                data_id: str_of(&c, "dataId"),
                config_type: String::new(),
                desc: String::new(),
                app: String::new(),
                tags: BTreeSet::new(),
                content: String::new(),
            };
            if !declared.contains(&w.label()) {
                out.push(w);
            }
        }
        for s in cmd_naming::services(api, &ns).await? {
            let (group, name) = (str_of(&s, "groupName"), str_of(&s, "name"));
            for i in cmd_naming::instances(api, &ns, &group, &name).await? {
                if i["ephemeral"].as_bool() == Some(false) && marked(&i["metadata"]) {
                    let w = Want::Instance {
                        ns: ns.clone(),
                        group: group.clone(),
                        service: name.clone(),
                        ip: str_of(&i, "ip"),
                        port: i["port"]
                            .as_u64()
                            .and_then(|p| u16::try_from(p).ok())
                            .unwrap_or(0),
                        cluster: str_of(&i, "clusterName"),
                        weight: 1.0,
                        enabled: true,
                        metadata: BTreeMap::new(),
                    };
                    if !declared.contains(&w.label()) {
                        out.push(w);
                    }
                }
            }
            let detail = cmd_naming::service(api, &ns, &group, &name).await?;
            if detail.is_some_and(|d| marked(&d["metadata"])) {
                let w = Want::Service {
                    ns: ns.clone(),
                    group,
                    name,
                    threshold: 0.0,
                    metadata: BTreeMap::new(),
                };
                if !declared.contains(&w.label()) {
                    out.push(w);
                }
            }
        }
    }
    Ok(out)
}

fn print_plan(p: &Plan) {
    for s in &p.steps {
        match s {
            Step::Create(w) => println!("+ {}", w.label()),
            Step::Update(w, what) => {
                let short: Vec<&str> = what
                    .iter()
                    .map(|x| x.split('\n').next().unwrap_or_default())
                    .collect();
                println!("~ {} ({})", w.label(), short.join(", "));
                for x in what {
                    if let Some((_, diff)) = x.split_once('\n') {
                        for line in diff.lines() {
                            println!("    {line}");
                        }
                    }
                }
            }
            Step::Delete(w) => println!("- {}", w.label()),
        }
    }
    let count = |f: fn(&Step) -> bool| p.steps.iter().filter(|s| f(s)).count();
    println!(
        "Plan: {} to create, {} to update, {} to delete, {} unchanged.",
        count(|s| matches!(s, Step::Create(_))),
        count(|s| matches!(s, Step::Update(..))),
        count(|s| matches!(s, Step::Delete(_))),
        p.unchanged
    );
}

fn plan_json(p: &Plan) -> Value {
    let steps: Vec<Value> = p
        .steps
        .iter()
        .map(|s| {
            let (op, w, what) = match s {
                Step::Create(w) => ("create", w, Vec::new()),
                Step::Update(w, what) => ("update", w, what.clone()),
                Step::Delete(w) => ("delete", w, Vec::new()),
            };
            serde_json::json!({"op": op, "object": w.label(), "changes": what})
        })
        .collect();
    serde_json::json!({"steps": steps, "unchanged": p.unchanged})
}

fn show(g: &Global, p: &Plan) {
    match g.output {
        Format::Table => print_plan(p),
        f => output::print_object(f, &plan_json(p), &[]),
    }
}

async fn carry_out(api: &Api, step: &Step) -> Result<()> {
    let update = matches!(step, Step::Update(..));
    match step {
        Step::Create(w) | Step::Update(w, _) => match w {
            Want::Namespace { id, name, desc } => {
                cmd_access::put_namespace(api, id, name, desc, update).await
            }
            Want::Config {
                ns,
                group,
                data_id,
                config_type,
                desc,
                app,
                tags,
                content,
            } => {
                let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                cmd_config::publish(
                    api,
                    ns,
                    group,
                    data_id,
                    content,
                    config_type,
                    Some(desc),
                    Some(&tags.join(",")),
                    Some(app),
                )
                .await
            }
            Want::Service {
                ns,
                group,
                name,
                threshold,
                metadata,
            } => {
                let m = serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into());
                cmd_naming::put_service(api, ns, group, name, *threshold, &m, update).await
            }
            Want::Instance {
                ns,
                group,
                service,
                ip,
                port,
                cluster,
                weight,
                enabled,
                metadata,
            } => {
                cmd_naming::put_instance(
                    api,
                    &NewInstance {
                        ns,
                        group,
                        service,
                        ip,
                        port: *port,
                        cluster,
                        weight: *weight,
                        enabled: *enabled,
                        metadata: serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into()),
                        ephemeral: false,
                    },
                    update,
                )
                .await
            }
            Want::User { username, password } => {
                cmd_access::create_user(api, username, password).await
            }
            Want::Role { role, username } => cmd_access::add_role(api, role, username).await,
            Want::Permission {
                role,
                resource,
                action,
            } => cmd_access::add_permission(api, role, resource, action).await,
        },
        Step::Delete(w) => match w {
            Want::Config {
                ns, group, data_id, ..
            } => cmd_config::remove(api, ns, group, data_id).await,
            Want::Service {
                ns, group, name, ..
            } => cmd_naming::delete_service(api, ns, group, name).await,
            Want::Instance {
                ns,
                group,
                service,
                ip,
                port,
                cluster,
                ..
            } => cmd_naming::deregister(api, ns, group, service, ip, *port, cluster, false).await,
            other => Err(CliError::Failed(format!(
                "{} is never pruned",
                other.label()
            ))),
        },
    }
}

/// `nocas apply`.
pub async fn run_apply(a: ApplyArgs) -> Result<u8> {
    let wants = load(&a.files, &a.g.namespace)?;
    let api = a.g.connect().await?;
    let p = plan(&api, &wants, a.prune).await?;
    show(&a.g, &p);
    if a.dry_run || p.steps.is_empty() {
        return Ok(0);
    }
    let n = p.steps.len();
    for (i, s) in p.steps.iter().enumerate() {
        let (verb, w) = match s {
            Step::Create(w) => ("created", w),
            Step::Update(w, _) => ("updated", w),
            Step::Delete(w) => ("deleted", w),
        };
        carry_out(&api, s)
            .await
            .map_err(|e| CliError::Failed(format!("[{}/{n}] {}: {e}", i + 1, w.label())))?;
        eprintln!("[{}/{n}] {verb} {}", i + 1, w.label());
    }
    Ok(0)
}

/// `nocas diff`: exit 1 when the server differs from the files.
pub async fn run_diff(a: DiffArgs) -> Result<u8> {
    let wants = load(&a.files, &a.g.namespace)?;
    let api = a.g.connect().await?;
    let p = plan(&api, &wants, a.prune).await?;
    show(&a.g, &p);
    Ok(u8::from(!p.steps.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn documents_resolve_with_defaults_files_and_marks() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "order.yaml", "port: 8080\n");
        write(d.path(), "pw", "s3cret\nignored\n");
        let f = write(
            d.path(),
            "all.yaml",
            "kind: Config\ndataId: order.yaml\nfile: order.yaml\ntags: [b, a]\n---\n\
             kind: Namespace\nid: dev\n---\n\
             kind: Instance\nservice: order\nip: 10.0.0.1\nport: 80\nmetadata: {zone: 1}\n---\n\
             kind: User\nusername: alice\npasswordFrom: {file: pw}\n",
        );
        let w = load(&[d.path().to_path_buf()], "dev").unwrap();
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(matches!(&w[0], Want::Namespace { id, name, .. } if id == "dev" && name == "dev"));
        match &w[1] {
            Want::Instance {
                ns,
                cluster,
                weight,
                metadata,
                ..
            } => {
                assert_eq!(
                    (ns.as_str(), cluster.as_str(), *weight),
                    ("dev", "DEFAULT", 1.0)
                );
                assert_eq!(metadata["zone"], "1");
                assert_eq!(metadata[MARK_KEY], MARK_VALUE);
            }
            other => panic!("{other:?}"),
        }
        match &w[2] {
            Want::Config {
                group,
                config_type,
                tags,
                content,
                ..
            } => {
                assert_eq!(
                    (group.as_str(), config_type.as_str()),
                    ("DEFAULT_GROUP", "yaml")
                );
                assert_eq!(content, "port: 8080\n");
                assert_eq!(tags.iter().collect::<Vec<_>>(), ["a", "b", MARK_TAG]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&w[3], Want::User { password, .. } if password == "s3cret"));
        let _ = f;
    }

    #[test]
    fn bad_documents_say_where_and_why() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            (
                "kind: Config\ndataId: a\n",
                "exactly one of content and file",
            ),
            (
                "kind: Config\ndataId: a\ncontent: x\npassword: y\n",
                "unknown field `password`",
            ),
            (
                "kind: User\nusername: u\npassword: p\n",
                "unknown field `password`",
            ),
            ("kind: Widget\n", "unknown kind Widget"),
            ("dataId: a\n", "no kind"),
            (
                "kind: Permission\nrole: r\nresource: '*:*:*'\naction: x\n",
                "r, w or rw",
            ),
            (
                "kind: User\nusername: u\npasswordFrom: {env: NOCAS_TEST_SURELY_UNSET}\n",
                "NOCAS_TEST_SURELY_UNSET",
            ),
            (
                "kind: Namespace\nid: a\n---\nkind: Namespace\nid: a\n",
                "declared twice",
            ),
        ];
        for (text, want) in cases {
            let f = write(d.path(), "x.yaml", text);
            let e = load(&[f], "").unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("x.yaml"), "{text}: {e}");
        }
    }
}
