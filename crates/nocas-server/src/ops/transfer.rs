//! Configs moved in and out in Nacos's ZIP layout: export (entries
//! `group/dataId`, then `.meta.yml` with application names — Nacos's v1
//! layout — or `.metadata.yml` with type, description, application and
//! tags), import with a same-config policy (ABORT, SKIP, OVERWRITE), and
//! clone into another namespace.
//!
//! Owns the formats and the policy; an import or clone is one
//! `ImportConfigs` command through the log, decided and written all or
//! nothing (Nacos writes one config at a time and leaves what came before
//! an ABORT). Only released versions travel: beta versions and history
//! never do.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read, Write};

use serde::Serialize;
use yaml_rust2::{Yaml, YamlLoader};

use std::sync::Arc;

use nocas_core::command::{Command, ImportPolicy, Outcome, Publish};
use nocas_core::config::ConfigMeta;
use nocas_core::names::{ConfigGroup, ConfigKey, DataId, NamespaceId};

use crate::app::App;
use crate::error::ApiError;

/// The file of Nacos's v1 export: `group.dataId.app=appName` lines.
pub const META_V1: &str = ".meta.yml";
/// The file of Nacos's v2 export: a YAML list of every config's fields.
pub const META_V2: &str = ".metadata.yml";

/// What to do with a config that exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Stop at the first one; the rest are skipped (earlier ones stay).
    Abort,
    /// Leave it and go on.
    Skip,
    /// Replace it.
    Overwrite,
}

impl Policy {
    /// Parses Nacos's `policy` parameter (default ABORT).
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw.map(str::trim).unwrap_or("") {
            "" => Ok(Self::Abort),
            p if p.eq_ignore_ascii_case("ABORT") => Ok(Self::Abort),
            p if p.eq_ignore_ascii_case("SKIP") => Ok(Self::Skip),
            p if p.eq_ignore_ascii_case("OVERWRITE") => Ok(Self::Overwrite),
            other => Err(ApiError::Invalid(
                nocas_core::error::ValidationError::Invalid {
                    field: "policy",
                    reason: format!("'{other}' is not ABORT, SKIP or OVERWRITE"),
                },
            )),
        }
    }
}

/// Why an import or clone did nothing (Nacos's result codes, answered with
/// HTTP 200 and `{"succCount": 0}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 100001 (v1) / 22001 (v3): the target namespace does not exist.
    #[error("namespace not exist")]
    NoNamespace,
    /// 100002: the metadata file is malformed.
    #[error("Imported metadata is invalid")]
    MetadataIllegal,
    /// 100004: the upload could not be read.
    #[error("Failed to parse data")]
    ParsingFailed,
    /// 100005: nothing importable.
    #[error("Imported file data is empty")]
    Empty,
    /// 100006: a clone named no config.
    #[error("No configuration selected")]
    NoneSelected,
    /// 100004: an entry, or all of them, unpack to more than the limits.
    #[error(
        "Imported file is too large: a config may hold limits.max_config_bytes, an import limits.max_import_bytes in all"
    )]
    TooLarge,
    /// 100004: more entries than `limits.max_import_entries`.
    #[error("Imported file has more entries than limits.max_import_entries")]
    TooManyEntries,
    /// 100004: an entry name that would escape a directory when unpacked
    /// (`../x`, `/x`, `a\\b`): the file is refused whole.
    #[error(
        "Imported file has an entry name that is not group/dataId: '..' or '.' parts, a leading '/' or a backslash"
    )]
    UnsafeName,
}

impl Refusal {
    /// The result code; `v3` picks Nacos 3's code for a missing namespace.
    pub fn code(self, v3: bool) -> i32 {
        match self {
            Self::NoNamespace if v3 => 22001,
            Self::NoNamespace => 100001,
            Self::MetadataIllegal => 100002,
            Self::ParsingFailed | Self::TooLarge | Self::TooManyEntries | Self::UnsafeName => {
                100004
            }
            Self::Empty => 100005,
            Self::NoneSelected => 100006,
        }
    }

    /// Nacos 2's message (v1 answers carry these).
    pub fn v1_message(self) -> &'static str {
        match self {
            Self::NoNamespace => "目标 namespace 不存在",
            Self::MetadataIllegal => "导入的元数据非法",
            Self::ParsingFailed => "解析数据失败",
            Self::Empty => "导入的文件数据为空",
            Self::NoneSelected => "没有选择任何配置",
            Self::TooLarge => "导入的文件过大",
            Self::TooManyEntries => "导入的文件条目过多",
            Self::UnsafeName => "导入的文件条目名称非法",
        }
    }
}

/// One config as it travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Group.
    pub group: String,
    /// Data id.
    pub data_id: String,
    /// Content.
    pub content: String,
    /// Type (empty: inferred from the data id's extension on import).
    pub config_type: String,
    /// Description.
    pub desc: String,
    /// Application.
    pub app_name: String,
    /// Comma-separated tags.
    pub tags: String,
}

/// Which configs an export takes.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// Data id, `*` as wildcard (blank: any).
    pub data_id: String,
    /// Group, `*` as wildcard (blank: any; Nacos matches it exactly).
    pub group: String,
    /// Application, exact (blank: any).
    pub app_name: String,
    /// Config ids (empty: any). Unlike Nacos they never reach outside the
    /// namespace, which the access check is taken on.
    pub ids: Vec<u64>,
}

/// The released configs of `ns` that `sel` picks, in id order.
pub fn select(app: &App, ns: &NamespaceId, sel: &Selection) -> Vec<Item> {
    let ids: std::collections::HashSet<u64> = sel.ids.iter().copied().collect();
    let state = app.node.state().read();
    let mut rows: Vec<(u64, Item)> = state
        .configs()
        .iter()
        .filter(|(k, _)| k.namespace == *ns)
        .filter(|(_, r)| ids.is_empty() || ids.contains(&r.id))
        .filter(|(k, _)| sel.group.is_empty() || wildcard(&sel.group, k.group.as_str()))
        .filter(|(k, _)| sel.data_id.is_empty() || wildcard(&sel.data_id, k.data_id.as_str()))
        .filter_map(|(k, r)| {
            let v = r.formal.as_ref()?;
            if !sel.app_name.is_empty() && v.meta.app_name != sel.app_name {
                return None;
            }
            Some((
                r.id,
                Item {
                    group: k.group.to_string(),
                    data_id: k.data_id.to_string(),
                    content: v.content.to_string(),
                    config_type: v.meta.config_type.clone(),
                    desc: v.meta.desc.clone(),
                    app_name: v.meta.app_name.clone(),
                    tags: v.meta.config_tags.clone(),
                },
            ))
        })
        .collect();
    rows.sort_by_key(|(id, _)| *id);
    rows.into_iter().map(|(_, i)| i).collect()
}

/// Whether `s` matches `pattern`, where `*` stands for any run (Nacos's
/// LIKE with `*` turned into `%`; without `*` it is an exact match).
fn wildcard(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The ZIP of `items`: one entry per config, then the metadata file —
/// `.metadata.yml` when `v2`, else `.meta.yml` (only if some config has an
/// application, as Nacos writes it).
pub fn zip(items: &[Item], v2: bool) -> Result<Vec<u8>, ApiError> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let (y, mo, d, hh, mi, ss) = civil(crate::app::now_ms());
    let mut opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    // Entries carry the export time, as Nacos's do (ZIP times are local
    // calendar fields; Nocas writes UTC).
    if let Ok(at) = zip::DateTime::from_date_and_time(
        u16::try_from(y).unwrap_or(1980),
        mo as u8,
        d as u8,
        hh as u8,
        mi as u8,
        ss as u8,
    ) {
        opts = opts.last_modified_time(at);
    }
    let io = |e: zip::result::ZipError| ApiError::Internal(format!("writing the ZIP: {e}"));
    for i in items {
        w.start_file(format!("{}/{}", i.group, i.data_id), opts)
            .map_err(io)?;
        w.write_all(i.content.as_bytes())
            .map_err(|e| io(e.into()))?;
    }
    let meta = if v2 {
        Some(metadata_v2(items))
    } else {
        let lines: String = items
            .iter()
            .filter(|i| !i.app_name.trim().is_empty())
            .map(|i| format!("{}.{}.app={}\r\n", i.group, tilde(&i.data_id), i.app_name))
            .collect();
        (!lines.is_empty()).then_some(lines)
    };
    if let Some(meta) = meta {
        w.start_file(if v2 { META_V2 } else { META_V1 }, opts)
            .map_err(io)?;
        w.write_all(meta.as_bytes()).map_err(|e| io(e.into()))?;
    }
    Ok(w.finish().map_err(io)?.into_inner())
}

/// The UTC civil time of `ms` since the epoch: year, month, day, hour,
/// minute, second (Howard Hinnant's days-to-civil algorithm).
pub fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
}

/// A data id with its last `.` turned into `~` (the key form of `.meta.yml`).
fn tilde(data_id: &str) -> String {
    match data_id.rfind('.') {
        Some(i) => format!("{}~{}", &data_id[..i], &data_id[i + 1..]),
        None => data_id.to_string(),
    }
}

/// `.metadata.yml` as Nacos (SnakeYAML, block style) writes it: keys in
/// alphabetical order, empty optional fields left out (application is
/// always written).
pub fn metadata_v2(items: &[Item]) -> String {
    if items.is_empty() {
        return "metadata: []\n".into();
    }
    let mut out = String::from("metadata:\n");
    for i in items {
        let mut fields: Vec<(&str, &str)> = vec![("appName", &i.app_name)];
        if !i.tags.is_empty() {
            fields.push(("configTags", &i.tags));
        }
        fields.push(("dataId", &i.data_id));
        if !i.desc.is_empty() {
            fields.push(("desc", &i.desc));
        }
        fields.push(("group", &i.group));
        fields.push(("type", &i.config_type));
        for (n, (k, v)) in fields.into_iter().enumerate() {
            let lead = if n == 0 { "- " } else { "  " };
            out.push_str(&format!("{lead}{k}: {}\n", yaml_scalar(v)));
        }
    }
    out
}

/// A YAML scalar: plain when that reads back as the same string, single
/// quoted when only quoting is needed, double quoted with escapes when it
/// spans lines or holds control characters.
fn yaml_scalar(v: &str) -> String {
    if v.chars().any(|c| c.is_control()) {
        return serde_json::to_string(v).unwrap_or_else(|_| "''".into());
    }
    let reads_back = matches!(
        YamlLoader::load_from_str(&format!("k: {v}")).ok().as_deref(),
        Some([Yaml::Hash(h)]) if h.get(&Yaml::String("k".into())) == Some(&Yaml::String(v.to_string()))
    );
    if !v.is_empty() && reads_back && v.trim() == v {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "''"))
    }
}

/// What an upload holds.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Configs to write, in order.
    pub items: Vec<Item>,
    /// Entries that are not configs, and configs missing from either side.
    pub unrecognized: Vec<String>,
}

/// Reads a Nacos export. `.metadata.yml` (required unless `allow_v1`)
/// gives every config's fields; else `.meta.yml` (or nothing) gives only
/// applications and the type follows the data id's extension.
pub fn parse(bytes: &[u8], allow_v1: bool, limits: Unpack) -> Result<Parsed, Refusal> {
    let (meta, entries) = unzip(bytes, limits)?;
    match meta {
        Some((name, text)) if name == META_V2 => parse_v2(&text, entries),
        Some(_) | None if !allow_v1 => Err(Refusal::MetadataIllegal),
        Some((_, text)) => parse_v1(Some(&text), entries),
        None => parse_v1(None, entries),
    }
}

type Entries = Vec<(String, String)>;

/// How much an upload may unpack to: a ZIP bomb stops here, however small
/// the upload was.
#[derive(Debug, Clone, Copy)]
pub struct Unpack {
    /// Bytes per entry (`limits.max_config_bytes`).
    pub per_entry: usize,
    /// Bytes in all (`limits.max_import_bytes`).
    pub total: usize,
    /// Entries, directories included (`limits.max_import_entries`).
    pub entries: usize,
}

/// Whether an entry name could not escape the directory it is unpacked
/// into: no `.` or `..` part, no empty part (a leading `/`, `//`), no
/// backslash, no NUL.
fn safe_name(name: &str) -> bool {
    let name = name.strip_suffix('/').unwrap_or(name);
    !name.is_empty()
        && !name.contains(['\\', '\0'])
        && name.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

/// The metadata file (the first one at the root) and the other files, in
/// ZIP order; directories are skipped.
fn unzip(bytes: &[u8], limits: Unpack) -> Result<(Option<(String, String)>, Entries), Refusal> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| Refusal::Empty)?;
    if z.len() > limits.entries {
        return Err(Refusal::TooManyEntries);
    }
    // Names first: an unsafe one refuses the file before anything is read.
    for name in z.file_names() {
        if !name.is_ok_and(|n| safe_name(&n)) {
            return Err(Refusal::UnsafeName);
        }
    }
    let mut meta = None;
    let mut entries = Vec::new();
    let mut left = limits.total;
    for n in 0..z.len() {
        let f = z.by_index(n).map_err(|_| Refusal::ParsingFailed)?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().map_err(|_| Refusal::ParsingFailed)?.to_string();
        // Read one byte past what may be kept, to tell "at the limit" from
        // "over it" without trusting the sizes the archive declares.
        let cap = limits.per_entry.min(left);
        let mut text = String::new();
        f.take(cap as u64 + 1)
            .read_to_string(&mut text)
            .map_err(|_| Refusal::ParsingFailed)?;
        if text.len() > cap {
            return Err(Refusal::TooLarge);
        }
        left -= text.len();
        let replaces = match &meta {
            None => name == META_V1 || name == META_V2,
            // `.metadata.yml` says more than `.meta.yml`: it wins.
            Some((held, _)) => held == META_V1 && name == META_V2,
        };
        if replaces {
            meta = Some((name, text));
        } else if name == META_V1 || name == META_V2 {
            continue;
        } else {
            entries.push((name, text));
        }
    }
    Ok((meta, entries))
}

/// `group/dataId`, else `None`.
fn split_entry(name: &str) -> Option<(&str, &str)> {
    let (g, d) = name.split_once('/')?;
    (!d.is_empty() && !d.contains('/')).then_some((g, d))
}

fn parse_v1(meta: Option<&str>, entries: Entries) -> Result<Parsed, Refusal> {
    let mut apps = HashMap::new();
    if let Some(text) = meta {
        for line in text.split(['\r', '\n']).filter(|l| !l.is_empty()) {
            match line.split('=').collect::<Vec<_>>().as_slice() {
                [k, v] if !v.is_empty() => {
                    apps.insert((*k).to_string(), (*v).to_string());
                }
                _ => return Err(Refusal::MetadataIllegal),
            }
        }
    }
    let mut out = Parsed::default();
    for (name, content) in entries {
        let Some((group, data_id)) = split_entry(&name) else {
            out.unrecognized.push(name);
            continue;
        };
        let app_name = apps
            .get(&format!("{group}.{}.app", tilde(data_id)))
            .cloned()
            .unwrap_or_default();
        out.items.push(Item {
            group: group.into(),
            data_id: data_id.into(),
            content,
            config_type: String::new(),
            desc: String::new(),
            app_name,
            tags: String::new(),
        });
    }
    Ok(out)
}

fn parse_v2(text: &str, entries: Entries) -> Result<Parsed, Refusal> {
    let docs = YamlLoader::load_from_str(text).map_err(|_| Refusal::MetadataIllegal)?;
    // The first key of the root mapping, whatever its name (as Nacos).
    let list = match docs.first() {
        Some(Yaml::Hash(h)) => match h.iter().next() {
            Some((_, Yaml::Array(a))) => a.clone(),
            _ => return Err(Refusal::MetadataIllegal),
        },
        _ => return Err(Refusal::MetadataIllegal),
    };
    if list.is_empty() {
        return Err(Refusal::MetadataIllegal);
    }
    let mut wanted = Vec::new();
    for m in &list {
        let Yaml::Hash(h) = m else {
            return Err(Refusal::MetadataIllegal);
        };
        let field = |k: &str| -> String {
            match h.get(&Yaml::String(k.into())) {
                Some(Yaml::String(s)) => s.clone(),
                Some(Yaml::Integer(i)) => i.to_string(),
                Some(Yaml::Real(r)) => r.clone(),
                Some(Yaml::Boolean(b)) => b.to_string(),
                _ => String::new(),
            }
        };
        let item = Item {
            group: field("group"),
            data_id: field("dataId"),
            content: String::new(),
            config_type: field("type"),
            desc: field("desc"),
            app_name: field("appName"),
            tags: field("configTags"),
        };
        if item.group.trim().is_empty()
            || item.data_id.trim().is_empty()
            || item.config_type.trim().is_empty()
        {
            return Err(Refusal::MetadataIllegal);
        }
        wanted.push(item);
    }
    let mut out = Parsed::default();
    let known: std::collections::HashSet<(String, String)> = wanted
        .iter()
        .map(|w| (w.group.clone(), w.data_id.clone()))
        .collect();
    let mut files: BTreeMap<(String, String), String> = BTreeMap::new();
    for (name, content) in entries {
        match split_entry(&name) {
            None => out.unrecognized.push(name),
            Some((g, d)) => {
                if known.contains(&(g.to_string(), d.to_string())) {
                    files.insert((g.to_string(), d.to_string()), content);
                } else {
                    out.unrecognized
                        .push(format!("Item not found in metadata: {name}"));
                }
            }
        }
    }
    for mut w in wanted {
        match files.remove(&(w.group.clone(), w.data_id.clone())) {
            Some(content) => {
                w.content = content;
                out.items.push(w);
            }
            None => out
                .unrecognized
                .push(format!("Item not found in file: {}/{}", w.group, w.data_id)),
        }
    }
    Ok(out)
}

/// A config named in a result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Named {
    /// Data id.
    pub data_id: String,
    /// Group.
    pub group: String,
}

/// What an import or clone did (Nacos's result map).
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Configs written.
    pub succ_count: usize,
    /// Configs left alone.
    pub skip_count: usize,
    /// The config an ABORT stopped at.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fail_data: Vec<Named>,
    /// Configs skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skip_data: Vec<Named>,
    /// Entries that were not configs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unrecognized_count: Option<usize>,
    /// Their names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unrecognized_data: Option<Vec<serde_json::Value>>,
}

/// Who writes, from where.
#[derive(Debug, Clone)]
pub struct Author {
    /// Source IP.
    pub ip: String,
    /// User.
    pub user: String,
}

/// Writes `items` into `ns` under `policy`, all or nothing: every config
/// is checked first (a bad name, an empty or oversized content stops the
/// whole import with a 400 naming it), then one command through the log
/// decides and writes them together. Unlike Nacos, an ABORT that meets an
/// existing config writes nothing (not the configs before it), and a crash
/// leaves either the whole import or none of it.
pub async fn write(
    app: &App,
    ns: &NamespaceId,
    items: Vec<Item>,
    policy: Policy,
    who: &Author,
) -> Result<Report, ApiError> {
    let max = app.settings.limits.max_config_bytes;
    let mut publishes = Vec::with_capacity(items.len());
    for i in items {
        let at = |e: String| ApiError::BadRequest(format!("config {}/{}: {e}", i.group, i.data_id));
        let key = ConfigKey::new(
            ns.clone(),
            ConfigGroup::parse(Some(&i.group)).map_err(|e| at(e.to_string()))?,
            DataId::parse(Some(&i.data_id)).map_err(|e| at(e.to_string()))?,
        );
        if i.content.trim().is_empty() {
            return Err(at("content is blank (Nacos refuses an empty config)".into()));
        }
        if i.content.len() > max {
            return Err(ApiError::TooLarge(format!(
                "config {}/{}: content over limits.max_config_bytes ({max})",
                i.group, i.data_id
            )));
        }
        let config_type = if i.config_type.trim().is_empty() {
            type_of(&i.data_id)
        } else {
            nocas_core::config::item::normalize_type(Some(&i.config_type))
        };
        let md5 = nocas_core::config::md5_hex(&i.content);
        publishes.push(Publish {
            key,
            content: Arc::from(i.content),
            md5: Arc::from(md5),
            meta: ConfigMeta {
                config_type,
                desc: i.desc,
                app_name: i.app_name,
                config_tags: i.tags,
                ..Default::default()
            },
            tag: None,
            beta_ips: None,
            cas_md5: None,
            src_ip: who.ip.clone(),
            src_user: who.user.clone(),
        });
    }
    let names: Vec<Named> = publishes
        .iter()
        .map(|p| Named {
            data_id: p.key.data_id.to_string(),
            group: p.key.group.to_string(),
        })
        .collect();
    if names.is_empty() {
        return Ok(Report::default());
    }
    let policy = match policy {
        Policy::Abort => ImportPolicy::Abort,
        Policy::Skip => ImportPolicy::Skip,
        Policy::Overwrite => ImportPolicy::Overwrite,
    };
    let outcome = app
        .write(Command::ImportConfigs {
            items: publishes,
            policy,
        })
        .await?;
    let Outcome::Imported { written, conflict } = outcome else {
        return Err(ApiError::Internal(
            "an import answered with another outcome".into(),
        ));
    };
    let mut report = Report::default();
    match conflict {
        Some(at) => {
            // Nacos's ABORT report: the one that stopped it failed, the
            // rest were skipped; here the ones before it were not written
            // either, so they are reported skipped too.
            for (i, named) in names.into_iter().enumerate() {
                if i == at {
                    report.fail_data.push(named);
                } else {
                    report.skip_count += 1;
                    report.skip_data.push(named);
                }
            }
        }
        None => {
            for (named, w) in names.into_iter().zip(written) {
                if w {
                    report.succ_count += 1;
                } else {
                    report.skip_count += 1;
                    report.skip_data.push(named);
                }
            }
        }
    }
    Ok(report)
}

/// The type a data id's extension implies (Nacos's `FileTypeEnum`).
fn type_of(data_id: &str) -> String {
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
    .into()
}

/// A clone request: a source config (by id) and the names it gets in the
/// target (blank: the source's).
#[derive(Debug, Clone)]
pub struct CloneOf {
    /// Source config id.
    pub id: u64,
    /// Target group.
    pub group: String,
    /// Target data id.
    pub data_id: String,
}

/// The configs a clone copies, with their source ids and keys (for the
/// access check) and target names, in id order.
pub fn clone_items(app: &App, wanted: &[CloneOf]) -> Vec<(u64, ConfigKey, Item)> {
    // The first request for an id wins, as in Nacos.
    let mut by_id: HashMap<u64, &CloneOf> = HashMap::new();
    for w in wanted {
        by_id.entry(w.id).or_insert(w);
    }
    let state = app.node.state().read();
    let mut rows: Vec<(u64, ConfigKey, Item)> = Vec::new();
    for (k, r) in state.configs() {
        let Some(w) = by_id.get(&r.id) else {
            continue;
        };
        let Some(v) = r.formal.as_ref() else {
            continue;
        };
        let pick = |target: &str, source: &str| {
            if target.trim().is_empty() {
                source.to_string()
            } else {
                target.trim().to_string()
            }
        };
        rows.push((
            r.id,
            k.clone(),
            Item {
                group: pick(&w.group, k.group.as_str()),
                data_id: pick(&w.data_id, k.data_id.as_str()),
                content: v.content.to_string(),
                config_type: v.meta.config_type.clone(),
                desc: v.meta.desc.clone(),
                app_name: v.meta.app_name.clone(),
                tags: String::new(),
            },
        ));
    }
    rows.sort_by_key(|(id, _, _)| *id);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: Unpack = Unpack {
        per_entry: 1 << 20,
        total: 1 << 22,
        entries: 100,
    };

    #[test]
    fn zip_bombs_stop_at_the_limits() {
        let big = "x".repeat(10_000);
        let items: Vec<Item> = (0..5)
            .map(|n| Item {
                content: big.clone(),
                ..item("G", &format!("d{n}"), "")
            })
            .collect();
        let bytes = zip(&items, true).unwrap();
        assert!(bytes.len() < 2_000, "compresses well: {}", bytes.len());
        let tight = |per_entry, total| {
            parse(
                &bytes,
                true,
                Unpack {
                    per_entry,
                    total,
                    entries: 100,
                },
            )
        };
        assert_eq!(tight(9_999, 1 << 20).unwrap_err(), Refusal::TooLarge);
        assert_eq!(tight(10_000, 49_999).unwrap_err(), Refusal::TooLarge);
        assert_eq!(tight(10_000, 60_000).unwrap().items.len(), 5);
    }

    #[test]
    fn unsafe_names_and_too_many_entries_refuse_the_file() {
        for bad in ["../x", "G/../x", "/G/x", "G/./x", "G\\x", "G//x", ".."] {
            let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
            w.start_file("G/fine", zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(b"ok").unwrap();
            w.start_file(bad, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(b"x").unwrap();
            let bytes = w.finish().unwrap().into_inner();
            assert_eq!(
                parse(&bytes, true, BIG).unwrap_err(),
                Refusal::UnsafeName,
                "{bad}"
            );
        }
        assert!(safe_name("G/a..b") && safe_name("组/数据.yaml") && safe_name("G/"));
        let items: Vec<Item> = (0..6).map(|n| item("G", &format!("d{n}"), "")).collect();
        let bytes = zip(&items, true).unwrap();
        let limits = |entries| Unpack { entries, ..BIG };
        // Six configs and the metadata file.
        assert_eq!(parse(&bytes, true, limits(7)).unwrap().items.len(), 6);
        assert_eq!(
            parse(&bytes, true, limits(6)).unwrap_err(),
            Refusal::TooManyEntries
        );
    }

    fn item(group: &str, data_id: &str, app: &str) -> Item {
        Item {
            group: group.into(),
            data_id: data_id.into(),
            content: format!("content of {data_id}"),
            config_type: "yaml".into(),
            desc: String::new(),
            app_name: app.into(),
            tags: String::new(),
        }
    }

    #[test]
    fn wildcards_match_like_nacos() {
        assert!(wildcard("app*", "app.yaml"));
        assert!(wildcard("*.yaml", "app.yaml"));
        assert!(wildcard("*p.y*", "app.yaml"));
        assert!(wildcard("app.yaml", "app.yaml"));
        assert!(!wildcard("app", "app.yaml"));
        assert!(!wildcard("a*x*z", "abz"));
    }

    #[test]
    fn metadata_v2_is_written_as_snakeyaml_does() {
        let mut b = item("DEFAULT_GROUP", "order.properties", "order-svc");
        b.tags = "tag1,tag2".into();
        b.desc = "order service config".into();
        b.config_type = "properties".into();
        let text = metadata_v2(&[item("DEFAULT_GROUP", "application.yaml", ""), b]);
        assert_eq!(
            text,
            "metadata:\n- appName: ''\n  dataId: application.yaml\n  group: DEFAULT_GROUP\n  type: yaml\n\
             - appName: order-svc\n  configTags: tag1,tag2\n  dataId: order.properties\n  desc: order service config\n  group: DEFAULT_GROUP\n  type: properties\n"
        );
        assert_eq!(metadata_v2(&[]), "metadata: []\n");
        assert_eq!(yaml_scalar("true"), "'true'");
        assert_eq!(yaml_scalar("123"), "'123'");
        assert_eq!(yaml_scalar("a: b # c"), "'a: b # c'");
        assert_eq!(yaml_scalar("it's"), "it's");
        assert_eq!(yaml_scalar("two\nlines"), "\"two\\nlines\"");
    }

    #[test]
    fn exports_read_back_in_both_layouts() {
        let mut items = vec![
            item("DEFAULT_GROUP", "order.prod.yaml", "order-svc"),
            item("G1", "noext", ""),
        ];
        items[1].desc = "a: tricky 'desc'".into();
        let v2 = parse(&zip(&items, true).unwrap(), false, BIG).unwrap();
        assert_eq!(v2.items, items);
        assert!(v2.unrecognized.is_empty());
        let v1 = parse(&zip(&items, false).unwrap(), true, BIG).unwrap();
        assert_eq!(v1.items[0].app_name, "order-svc");
        assert_eq!(v1.items[1].app_name, "");
        assert_eq!(v1.items[0].config_type, "", "v1 carries no type");
        assert_eq!(
            parse(&zip(&items, false).unwrap(), false, BIG).unwrap_err(),
            Refusal::MetadataIllegal,
            "v3 imports need .metadata.yml"
        );
    }

    #[test]
    fn v1_meta_lines_use_a_tilde_for_the_last_dot() {
        let bytes = zip(
            &[item("DEFAULT_GROUP", "order.prod.yaml", "order-svc")],
            false,
        )
        .unwrap();
        let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let names: Vec<String> = (0..z.len())
            .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
            .collect();
        assert_eq!(names, ["DEFAULT_GROUP/order.prod.yaml", ".meta.yml"]);
        let mut meta = String::new();
        z.by_name(".meta.yml")
            .unwrap()
            .read_to_string(&mut meta)
            .unwrap();
        assert_eq!(meta, "DEFAULT_GROUP.order.prod~yaml.app=order-svc\r\n");
    }

    #[test]
    fn strays_and_gaps_are_reported_and_bad_metadata_refused() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        for (name, body) in [
            ("G/a.yaml", "a: 1"),
            ("G/extra.yaml", "x: 1"),
            ("README", "hi"),
            ("a/b/c", "deep"),
            (
                META_V2,
                "metadata:\n- dataId: a.yaml\n  group: G\n  type: yaml\n- dataId: gone.yaml\n  group: G\n  type: yaml\n",
            ),
        ] {
            w.start_file(name, o).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        let p = parse(&bytes, false, BIG).unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(
            p.unrecognized,
            [
                "Item not found in metadata: G/extra.yaml",
                "README",
                "a/b/c",
                "Item not found in file: G/gone.yaml"
            ]
        );
        assert_eq!(parse(b"not a zip", true, BIG).unwrap_err(), Refusal::Empty);
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file(META_V2, o).unwrap();
        w.write_all(b"metadata:\n- dataId: a\n  group: G\n")
            .unwrap();
        let no_type = w.finish().unwrap().into_inner();
        assert_eq!(
            parse(&no_type, true, BIG).unwrap_err(),
            Refusal::MetadataIllegal
        );
    }

    #[test]
    fn types_follow_extensions() {
        assert_eq!(type_of("a.YML"), "yaml");
        assert_eq!(type_of("a.htm"), "html");
        assert_eq!(type_of("noext"), "text");
        assert_eq!(Policy::parse(None).unwrap(), Policy::Abort);
        assert_eq!(Policy::parse(Some("overwrite")).unwrap(), Policy::Overwrite);
        assert!(Policy::parse(Some("merge")).is_err());
    }
}
