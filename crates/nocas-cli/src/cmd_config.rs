//! `nocas config ...`: one config at a time, lists, history, diffs,
//! rollback, ZIP export and import, and a watch that prints changes as they
//! are published.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::{Api, Body};
use crate::error::{CliError, Result};
use crate::output::{self, Format};
use crate::{Global, all_pages, pairs, tenant};

const CONFIG: &str = "/nacos/v3/admin/cs/config";
const HISTORY: &str = "/nacos/v3/admin/cs/history";

/// `nocas config`.
#[derive(Args, Debug)]
pub struct ConfigCmd {
    #[command(flatten)]
    g: Global,
    #[command(subcommand)]
    action: ConfigAction,
}

/// A config's name.
#[derive(Args, Debug, Clone)]
pub struct Name {
    /// Data id.
    pub data_id: String,
    /// Group.
    #[arg(short, long, default_value = "DEFAULT_GROUP")]
    pub group: String,
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Print a config's content (`-o json|yaml`: with its fields).
    Get(Name),
    /// Publish a config: content from --content, --file or standard input.
    Put {
        #[command(flatten)]
        name: Name,
        /// The content.
        #[arg(long, conflicts_with = "file")]
        content: Option<String>,
        /// Read the content from this file (`-`: standard input).
        #[arg(short, long)]
        file: Option<PathBuf>,
        /// Type: text, json, xml, yaml, html, properties, toml [default:
        /// from the data id's extension].
        #[arg(short = 't', long = "type")]
        config_type: Option<String>,
        /// Description.
        #[arg(long)]
        desc: Option<String>,
        /// Tags, comma separated.
        #[arg(long)]
        tags: Option<String>,
        /// Application.
        #[arg(long)]
        app: Option<String>,
    },
    /// Delete a config.
    Rm(Name),
    /// List configs (`*` in --data-id or --group matches anything).
    Ls {
        /// Data id pattern.
        #[arg(long, default_value = "")]
        data_id: String,
        /// Group pattern.
        #[arg(short, long, default_value = "")]
        group: String,
        /// Application.
        #[arg(long)]
        app: Option<String>,
        /// Tags, comma separated.
        #[arg(long)]
        tags: Option<String>,
    },
    /// A config's history, newest first; with --nid, that version's content.
    History {
        #[command(flatten)]
        name: Name,
        /// A history id.
        #[arg(long)]
        nid: Option<u64>,
    },
    /// Show how a config differs from a history version (--nid) or from a
    /// local file (--file); exit 1 when it does.
    Diff {
        #[command(flatten)]
        name: Name,
        /// Compare with this history version.
        #[arg(long, conflicts_with = "file")]
        nid: Option<u64>,
        /// Compare with this file.
        #[arg(short, long)]
        file: Option<PathBuf>,
    },
    /// Undo the history entry --nid: publish the version it replaced or
    /// deleted, or delete the config its insert created (as Nacos's console).
    Rollback {
        #[command(flatten)]
        name: Name,
        /// The history id.
        #[arg(long)]
        nid: u64,
    },
    /// Export configs as a Nacos ZIP (with `.metadata.yml`).
    Export {
        /// Write here (`-`: standard output).
        #[arg(short, long)]
        file: PathBuf,
        /// Data id pattern.
        #[arg(long)]
        data_id: Option<String>,
        /// Group.
        #[arg(short, long)]
        group: Option<String>,
        /// Application.
        #[arg(long)]
        app: Option<String>,
    },
    /// Import a Nacos ZIP into the namespace.
    Import {
        /// The ZIP file.
        file: PathBuf,
        /// What to do with configs that exist already.
        #[arg(long, value_enum, default_value = "abort")]
        policy: Policy,
    },
    /// Print a config now and every time it changes.
    Watch {
        #[command(flatten)]
        name: Name,
        /// Stop after this many changes.
        #[arg(long)]
        count: Option<u64>,
        /// Long-poll timeout in milliseconds.
        #[arg(long, default_value = "30000")]
        poll_ms: u64,
    },
}

/// `--policy`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Policy {
    /// Import nothing if any config exists already.
    Abort,
    /// Leave existing configs.
    Skip,
    /// Replace existing configs.
    Overwrite,
}

impl Policy {
    fn wire(self) -> &'static str {
        match self {
            Self::Abort => "ABORT",
            Self::Skip => "SKIP",
            Self::Overwrite => "OVERWRITE",
        }
    }
}

/// The type a data id's extension implies (as Nacos infers it).
pub fn type_of(data_id: &str) -> &'static str {
    let ext = data_id
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "yml" | "yaml" => "yaml",
        "json" => "json",
        "xml" => "xml",
        "htm" | "html" => "html",
        "properties" => "properties",
        "toml" => "toml",
        _ => "text",
    }
}

/// Reads a file, `-` being standard input.
pub fn read_input(path: &std::path::Path) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| CliError::io("standard input", e))?;
        Ok(buf)
    } else {
        std::fs::read(path).map_err(|e| CliError::io(path.display(), e))
    }
}

fn text(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| CliError::Usage(format!("{what} is not UTF-8 text")))
}

/// A config's fields, or `None`.
pub async fn fetch(api: &Api, ns: &str, group: &str, data_id: &str) -> Result<Option<Value>> {
    if api.legacy() {
        let v = api
            .get_opt(
                V1_CONFIGS,
                pairs![
                    "show" => "all",
                    "tenant" => tenant(ns),
                    "group" => group,
                    "dataId" => data_id,
                ],
            )
            .await?;
        return Ok(v.map(v1_shape));
    }
    api.get_opt(
        CONFIG,
        pairs!["namespaceId" => ns, "groupName" => group, "dataId" => data_id],
    )
    .await
}

const V1_CONFIGS: &str = "/nacos/v1/cs/configs";
const V1_HISTORY: &str = "/nacos/v1/cs/history";

/// A v1 config, page item or history entry with the v3 field names added
/// (`groupName`, `namespaceId`, `modifyTime`).
fn v1_shape(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        let copy = |o: &mut serde_json::Map<String, Value>, from: &str, to: &str| {
            if !o.contains_key(to)
                && let Some(x) = o.get(from).cloned()
            {
                o.insert(to.into(), x);
            }
        };
        copy(o, "group", "groupName");
        copy(o, "tenant", "namespaceId");
        copy(o, "lastModifiedTime", "modifyTime");
        copy(o, "config_tags", "configTags");
        if let Some(Value::Number(n)) = o.get("id") {
            let id = Value::String(n.to_string());
            o.insert("id".into(), id);
        }
    }
    v
}

/// Configs of a namespace (`*` in the data id or group matches anything).
pub async fn list(
    api: &Api,
    ns: &str,
    data_id: &str,
    group: &str,
    app: Option<String>,
    tags: Option<String>,
) -> Result<Vec<Value>> {
    if api.legacy() {
        let rows = all_pages(
            api,
            V1_CONFIGS,
            pairs![
                "search" => "blur",
                "tenant" => tenant(ns),
                "dataId" => data_id,
                "group" => group,
                "appName" => app,
                "config_tags" => tags,
            ],
        )
        .await?;
        return Ok(rows.into_iter().map(v1_shape).collect());
    }
    all_pages(
        api,
        &format!("{CONFIG}/list"),
        pairs![
            "namespaceId" => ns,
            "dataId" => data_id,
            "groupName" => group,
            "search" => "blur",
            "appName" => app,
            "configTags" => tags,
        ],
    )
    .await
}

/// Publishes a config.
#[allow(clippy::too_many_arguments)]
pub async fn publish(
    api: &Api,
    ns: &str,
    group: &str,
    data_id: &str,
    content: &str,
    config_type: &str,
    desc: Option<&str>,
    tags: Option<&str>,
    app: Option<&str>,
) -> Result<()> {
    if api.legacy() {
        api.post(
            V1_CONFIGS,
            pairs![
                "tenant" => tenant(ns),
                "group" => group,
                "dataId" => data_id,
                "content" => content,
                "type" => config_type,
                "desc" => desc,
                "config_tags" => tags,
                "appName" => app,
            ],
        )
        .await?;
        return Ok(());
    }
    api.post(
        CONFIG,
        pairs![
            "namespaceId" => ns,
            "groupName" => group,
            "dataId" => data_id,
            "content" => content,
            "type" => config_type,
            "desc" => desc,
            "configTags" => tags,
            "appName" => app,
        ],
    )
    .await?;
    Ok(())
}

/// Deletes a config.
pub async fn remove(api: &Api, ns: &str, group: &str, data_id: &str) -> Result<()> {
    if api.legacy() {
        api.delete(
            V1_CONFIGS,
            pairs!["tenant" => tenant(ns), "group" => group, "dataId" => data_id],
        )
        .await?;
        return Ok(());
    }
    api.delete(
        CONFIG,
        pairs!["namespaceId" => ns, "groupName" => group, "dataId" => data_id],
    )
    .await?;
    Ok(())
}

/// A unified diff of two texts (empty when equal).
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn time(ms: &Value) -> String {
    let Some(ms) = ms
        .as_i64()
        .or_else(|| ms.as_str().and_then(|s| s.parse().ok()))
    else {
        return "-".into();
    };
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(crate) async fn run(c: ConfigCmd) -> Result<u8> {
    let g = &c.g;
    let api = g.connect().await?;
    let ns = g.ns();
    match c.action {
        ConfigAction::Get(n) => {
            let v = fetch(&api, &ns, &n.group, &n.data_id)
                .await?
                .ok_or_else(|| not_found(&n))?;
            match g.output {
                Format::Table => {
                    let content = v["content"].as_str().unwrap_or_default();
                    std::io::stdout()
                        .write_all(content.as_bytes())
                        .map_err(|e| CliError::io("standard output", e))?;
                }
                f => output::print_object(f, &v, &[]),
            }
        }
        ConfigAction::Put {
            name,
            content,
            file,
            config_type,
            desc,
            tags,
            app,
        } => {
            let content = match (content, file) {
                (Some(c), _) => c,
                (None, Some(f)) => text(read_input(&f)?, &f.display().to_string())?,
                (None, None) => {
                    return Err(CliError::Usage(
                        "give the content with --content or --file (- for standard input)".into(),
                    ));
                }
            };
            let t = config_type.unwrap_or_else(|| type_of(&name.data_id).into());
            publish(
                &api,
                &ns,
                &name.group,
                &name.data_id,
                &content,
                &t,
                desc.as_deref(),
                tags.as_deref(),
                app.as_deref(),
            )
            .await?;
            eprintln!("published {}/{} in {ns}", name.group, name.data_id);
        }
        ConfigAction::Rm(n) => {
            remove(&api, &ns, &n.group, &n.data_id).await?;
            eprintln!("deleted {}/{} in {ns}", n.group, n.data_id);
        }
        ConfigAction::Ls {
            data_id,
            group,
            app,
            tags,
        } => {
            let rows = list(&api, &ns, &data_id, &group, app, tags).await?;
            let rows: Vec<Value> = rows
                .into_iter()
                .map(|mut r| {
                    r["modified"] = json!(time(&r["modifyTime"]));
                    r
                })
                .collect();
            output::print_rows(
                g.output,
                &rows,
                &[
                    ("DATA ID", "dataId"),
                    ("GROUP", "groupName"),
                    ("TYPE", "type"),
                    ("APP", "appName"),
                    ("MD5", "md5"),
                    ("MODIFIED (UTC)", "modified"),
                ],
            );
        }
        ConfigAction::History { name, nid: None } => {
            let rows = if api.legacy() {
                all_pages(
                    &api,
                    V1_HISTORY,
                    pairs![
                        "search" => "accurate",
                        "tenant" => tenant(&ns),
                        "group" => &name.group,
                        "dataId" => &name.data_id,
                    ],
                )
                .await?
                .into_iter()
                .map(v1_shape)
                .collect()
            } else {
                all_pages(
                    &api,
                    &format!("{HISTORY}/list"),
                    pairs![
                        "namespaceId" => &ns,
                        "groupName" => &name.group,
                        "dataId" => &name.data_id,
                    ],
                )
                .await?
            };
            let rows: Vec<Value> = rows
                .into_iter()
                .map(|mut r| {
                    r["modified"] = json!(time(&r["modifyTime"]));
                    r["op"] = json!(r["opType"].as_str().unwrap_or_default().trim());
                    r
                })
                .collect();
            output::print_rows(
                g.output,
                &rows,
                &[
                    ("NID", "id"),
                    ("OP", "op"),
                    ("PUBLISH", "publishType"),
                    ("USER", "srcUser"),
                    ("IP", "srcIp"),
                    ("MD5", "md5"),
                    ("TIME (UTC)", "modified"),
                ],
            );
        }
        ConfigAction::History {
            name,
            nid: Some(nid),
        } => {
            let v = history_entry(&api, &ns, &name, nid).await?;
            match g.output {
                Format::Table => print!("{}", v["content"].as_str().unwrap_or_default()),
                f => output::print_object(f, &v, &[]),
            }
        }
        ConfigAction::Diff { name, nid, file } => {
            let current = fetch(&api, &ns, &name.group, &name.data_id).await?;
            let now = current
                .as_ref()
                .and_then(|v| v["content"].as_str())
                .unwrap_or_default()
                .to_string();
            let here = format!("{ns}/{}/{}", name.group, name.data_id);
            let (old, old_name) = match (nid, file) {
                (Some(nid), _) => {
                    let v = history_entry(&api, &ns, &name, nid).await?;
                    (
                        v["content"].as_str().unwrap_or_default().to_string(),
                        format!("{here} (history {nid})"),
                    )
                }
                (None, Some(f)) => (
                    text(read_input(&f)?, &f.display().to_string())?,
                    f.display().to_string(),
                ),
                (None, None) => {
                    return Err(CliError::Usage(
                        "give --nid or --file to compare with".into(),
                    ));
                }
            };
            let d = unified(&old, &now, &old_name, &here);
            print!("{d}");
            return Ok(u8::from(!d.is_empty()));
        }
        ConfigAction::Rollback { name, nid } => {
            let v = history_entry(&api, &ns, &name, nid).await?;
            let op = v["opType"].as_str().unwrap_or_default().trim().to_string();
            if op == "I" {
                remove(&api, &ns, &name.group, &name.data_id).await?;
                eprintln!(
                    "history {nid} created {}/{}: deleted it",
                    name.group, name.data_id
                );
            } else {
                let content = v["content"].as_str().unwrap_or_default();
                let t = v["type"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| type_of(&name.data_id));
                let current = fetch(&api, &ns, &name.group, &name.data_id).await?;
                let keep = |f: &str| {
                    current
                        .as_ref()
                        .and_then(|c| c[f].as_str().map(str::to_owned))
                };
                publish(
                    &api,
                    &ns,
                    &name.group,
                    &name.data_id,
                    content,
                    t,
                    keep("desc").as_deref(),
                    keep("configTags").as_deref(),
                    v["appName"].as_str().or(keep("appName").as_deref()),
                )
                .await?;
                eprintln!(
                    "rolled {}/{} back to the version history {nid} recorded",
                    name.group, name.data_id
                );
            }
        }
        ConfigAction::Export {
            file,
            data_id,
            group,
            app,
        } => {
            let (path, query) = if api.legacy() {
                (
                    V1_CONFIGS.to_string(),
                    pairs![
                        "exportV2" => "true",
                        "tenant" => tenant(&ns),
                        "dataId" => data_id.unwrap_or_default(),
                        "group" => group.unwrap_or_default(),
                        "appName" => app,
                        "ids" => "",
                    ],
                )
            } else {
                (
                    format!("{CONFIG}/export"),
                    pairs![
                        "namespaceId" => &ns,
                        "dataId" => data_id,
                        "groupName" => group,
                        "appName" => app,
                    ],
                )
            };
            let (status, bytes) = api
                .send_bytes(Method::GET, &path, &query, Body::Empty)
                .await?;
            if !status.is_success() || !bytes.starts_with(b"PK") {
                return Err(CliError::Server(crate::api::reason(
                    status,
                    &String::from_utf8_lossy(&bytes),
                )));
            }
            write_output(&file, &bytes)?;
            eprintln!(
                "exported {} bytes from {ns} to {}",
                bytes.len(),
                file.display()
            );
        }
        ConfigAction::Import { file, policy } => {
            let bytes = read_input(&file)?;
            eprintln!("importing {} bytes into {ns}...", bytes.len());
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "import.zip".into());
            let (path, query) = if api.legacy() {
                (
                    V1_CONFIGS.to_string(),
                    pairs![
                        "import" => "true",
                        "namespace" => tenant(&ns),
                        "policy" => policy.wire(),
                    ],
                )
            } else {
                (
                    format!("{CONFIG}/import"),
                    pairs!["namespaceId" => &ns, "policy" => policy.wire()],
                )
            };
            let report = api
                .call(Method::POST, &path, query, Body::File(name, bytes))
                .await?;
            match g.output {
                Format::Table => {
                    println!(
                        "imported {}, skipped {}",
                        report["succCount"], report["skipCount"]
                    );
                    for (what, key) in [("failed", "failData"), ("skipped", "skipData")] {
                        for i in report[key].as_array().into_iter().flatten() {
                            println!("  {what}: {}/{}", cell(i, "group"), cell(i, "dataId"));
                        }
                    }
                    for i in report["unrecognizedData"].as_array().into_iter().flatten() {
                        println!("  unrecognized: {}", cell(i, "itemName"));
                    }
                }
                f => output::print_object(f, &report, &[]),
            }
            let failed = report["failData"].as_array().is_some_and(|a| !a.is_empty());
            return Ok(u8::from(failed));
        }
        ConfigAction::Watch {
            name,
            count,
            poll_ms,
        } => watch(&api, g, &ns, &name, count, poll_ms).await?,
    }
    Ok(0)
}

fn cell(v: &Value, f: &str) -> String {
    output::cell(v, f)
}

fn not_found(n: &Name) -> CliError {
    CliError::Server(format!("config {}/{} not found", n.group, n.data_id))
}

async fn history_entry(api: &Api, ns: &str, n: &Name, nid: u64) -> Result<Value> {
    let found = if api.legacy() {
        api.get_opt(
            V1_HISTORY,
            pairs![
                "tenant" => tenant(ns),
                "group" => &n.group,
                "dataId" => &n.data_id,
                "nid" => nid,
            ],
        )
        .await?
        .map(v1_shape)
    } else {
        api.get_opt(
            HISTORY,
            pairs![
                "namespaceId" => ns,
                "groupName" => &n.group,
                "dataId" => &n.data_id,
                "nid" => nid,
            ],
        )
        .await?
    };
    found.ok_or_else(|| {
        CliError::Server(format!(
            "history {nid} of {}/{} not found",
            n.group, n.data_id
        ))
    })
}

fn write_output(file: &std::path::Path, bytes: &[u8]) -> Result<()> {
    if file.as_os_str() == "-" {
        std::io::stdout()
            .write_all(bytes)
            .map_err(|e| CliError::io("standard output", e))
    } else {
        std::fs::write(file, bytes).map_err(|e| CliError::io(file.display(), e))
    }
}

/// Prints the config, then every change, using the long poll every Nacos
/// server answers (`/v1/cs/configs/listener`).
async fn watch(
    api: &Api,
    g: &Global,
    ns: &str,
    n: &Name,
    count: Option<u64>,
    poll_ms: u64,
) -> Result<()> {
    let tenant = if ns == "public" { "" } else { ns };
    let mut md5 = String::new();
    let mut seen = 0u64;
    let mut first = true;
    loop {
        if !first {
            let key = format!("{}\u{2}{}\u{2}{md5}\u{2}{tenant}\u{1}", n.data_id, n.group);
            let resp = api
                .response_within(
                    Method::POST,
                    "/nacos/v1/cs/configs/listener",
                    &[],
                    Body::Form(vec![("Listening-Configs".into(), key)]),
                    Some(Duration::from_millis(poll_ms + 10_000)),
                    &[("Long-Pulling-Timeout", poll_ms.to_string())],
                )
                .await;
            let changed = match resp {
                Ok(r) if r.status().is_success() => {
                    !r.text().await.unwrap_or_default().trim().is_empty()
                }
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    return Err(CliError::Server(crate::api::reason(status, &body)));
                }
                // A server that went away: the next call tries the others.
                Err(CliError::Unreachable(e)) => {
                    eprintln!("nocas: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !changed {
                continue;
            }
        }
        let v = fetch(api, ns, &n.group, &n.data_id).await?;
        let new_md5 = v
            .as_ref()
            .and_then(|v| v["md5"].as_str())
            .unwrap_or_default()
            .to_string();
        if !first && new_md5 == md5 {
            continue;
        }
        md5 = new_md5;
        let stamp = v
            .as_ref()
            .map(|v| time(&v["modifyTime"]))
            .unwrap_or_else(|| "-".into());
        match g.output {
            Format::Table => {
                let mut out = std::io::stdout();
                let body = match &v {
                    Some(v) => {
                        let content = v["content"].as_str().unwrap_or_default();
                        let end = if content.ends_with('\n') { "" } else { "\n" };
                        format!(
                            "# {}/{} md5={md5} modified {stamp} UTC\n{content}{end}",
                            n.group, n.data_id
                        )
                    }
                    None => format!("# {}/{} deleted\n", n.group, n.data_id),
                };
                out.write_all(body.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(|e| CliError::io("standard output", e))?;
            }
            Format::Json => {
                println!("{}", v.clone().unwrap_or(Value::Null));
            }
            Format::Yaml => print!("---\n{}", output::yaml(&v.clone().unwrap_or(Value::Null))),
        }
        if !first {
            seen += 1;
            if count.is_some_and(|c| seen >= c) {
                return Ok(());
            }
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_civil() {
        assert_eq!(time(&json!(0)), "1970-01-01 00:00:00");
        assert_eq!(time(&json!(1_709_251_199_000i64)), "2024-02-29 23:59:59");
        assert_eq!(time(&json!("x")), "-");
    }

    #[test]
    fn types_follow_extensions() {
        assert_eq!(type_of("a.YML"), "yaml");
        assert_eq!(type_of("a.b.properties"), "properties");
        assert_eq!(type_of("plain"), "text");
    }

    #[test]
    fn diffs_are_unified() {
        assert_eq!(unified("a\n", "a\n", "x", "y"), "");
        let d = unified("a\nb\n", "a\nc\n", "old", "new");
        assert!(d.starts_with("--- old\n+++ new\n"), "{d}");
        assert!(d.contains("-b\n+c\n"), "{d}");
    }
}
