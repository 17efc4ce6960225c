//! `nocas ns|user|role|perm|cluster|backup ...`: namespaces, access
//! control, membership, and the backup download.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use crate::api::{Api, Body};
use crate::error::{CliError, Result};
use crate::output::{self, Format};
use crate::{Global, all_pages, pairs};

const NAMESPACE: &str = "/nacos/v3/admin/core/namespace";
const USER: &str = "/nacos/v3/auth/user";
const ROLE: &str = "/nacos/v3/auth/role";
const PERM: &str = "/nacos/v3/auth/permission";

/// `nocas ns`.
#[derive(Args, Debug)]
pub struct NsCmd {
    #[command(flatten)]
    g: Global,
    #[command(subcommand)]
    action: NsAction,
}

#[derive(Subcommand, Debug)]
enum NsAction {
    /// List namespaces with their config counts.
    Ls,
    /// Create a namespace.
    Create {
        /// Its id.
        id: String,
        /// Display name [default: the id].
        #[arg(long)]
        name: Option<String>,
        /// Description.
        #[arg(long, default_value = "")]
        desc: String,
    },
    /// Delete a namespace.
    Rm {
        /// Its id.
        id: String,
    },
}

const V1_NAMESPACES: &str = "/nacos/v1/console/namespaces";

/// Every namespace.
pub async fn namespaces(api: &Api) -> Result<Vec<Value>> {
    let path = if api.legacy() {
        V1_NAMESPACES.to_string()
    } else {
        format!("{NAMESPACE}/list")
    };
    Ok(api
        .get(&path, Vec::new())
        .await?
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Creates (or with `update`, renames) a namespace.
pub async fn put_namespace(
    api: &Api,
    id: &str,
    name: &str,
    desc: &str,
    update: bool,
) -> Result<()> {
    match (api.legacy(), update) {
        (false, _) => {
            let form =
                pairs!["namespaceId" => id, "namespaceName" => name, "namespaceDesc" => desc];
            if update {
                api.put(NAMESPACE, form).await?;
            } else {
                api.post(NAMESPACE, form).await?;
            }
        }
        (true, false) => {
            let form = pairs![
                "customNamespaceId" => id,
                "namespaceName" => name,
                "namespaceDesc" => desc,
            ];
            expect_true(api.post(V1_NAMESPACES, form).await?, "create namespace")?;
        }
        (true, true) => {
            let form =
                pairs!["namespace" => id, "namespaceShowName" => name, "namespaceDesc" => desc];
            expect_true(api.put(V1_NAMESPACES, form).await?, "update namespace")?;
        }
    }
    Ok(())
}

/// Deletes a namespace.
pub async fn delete_namespace(api: &Api, id: &str) -> Result<()> {
    let path = if api.legacy() {
        V1_NAMESPACES
    } else {
        NAMESPACE
    };
    api.delete(path, pairs!["namespaceId" => id]).await?;
    Ok(())
}

/// The v1 API answers `false` for some refusals, with HTTP 200.
fn expect_true(v: Value, what: &str) -> Result<()> {
    let refused = match &v {
        Value::Bool(b) => !b,
        Value::String(s) => s.trim() == "false",
        _ => false,
    };
    if refused {
        return Err(CliError::Server(format!(
            "{what}: the server answered false"
        )));
    }
    Ok(())
}

/// The v3 route, or Nacos 2's (`/nacos/v1/auth/users|roles|permissions`).
fn auth_path(api: &Api, v3: &'static str) -> &'static str {
    if !api.legacy() {
        return v3;
    }
    match v3 {
        USER => "/nacos/v1/auth/users",
        ROLE => "/nacos/v1/auth/roles",
        _ => "/nacos/v1/auth/permissions",
    }
}

/// The list route of an auth resource (v1 lists on the resource itself).
fn auth_list(api: &Api, v3: &'static str) -> String {
    let base = auth_path(api, v3);
    if api.legacy() {
        base.to_string()
    } else {
        format!("{base}/list")
    }
}

pub(crate) async fn run_ns(c: NsCmd) -> Result<u8> {
    let api = c.g.connect().await?;
    match c.action {
        NsAction::Ls => {
            let rows = namespaces(&api).await?;
            output::print_rows(
                c.g.output,
                &rows,
                &[
                    ("ID", "namespace"),
                    ("NAME", "namespaceShowName"),
                    ("CONFIGS", "configCount"),
                    ("DESCRIPTION", "namespaceDesc"),
                ],
            );
        }
        NsAction::Create { id, name, desc } => {
            let name = name.unwrap_or_else(|| id.clone());
            put_namespace(&api, &id, &name, &desc, false).await?;
            eprintln!("created namespace {id}");
        }
        NsAction::Rm { id } => {
            delete_namespace(&api, &id).await?;
            eprintln!("deleted namespace {id}");
        }
    }
    Ok(0)
}

/// `nocas user`.
#[derive(Args, Debug)]
pub struct UserCmd {
    #[command(flatten)]
    g: Global,
    #[command(subcommand)]
    action: UserAction,
}

/// Where a new password comes from (never the command line's own text
/// unless asked: it would show in the process list).
#[derive(Args, Debug, Clone)]
pub struct NewPassword {
    /// The new password (prefer the file or the environment variable).
    #[arg(long, env = "NOCAS_NEW_PASSWORD", hide_env_values = true)]
    new_password: Option<String>,
    /// Read the new password from this file (first line).
    #[arg(long, conflicts_with = "new_password")]
    new_password_file: Option<PathBuf>,
}

impl NewPassword {
    fn get(&self) -> Result<String> {
        match (&self.new_password, &self.new_password_file) {
            (Some(p), _) if !p.is_empty() => Ok(p.clone()),
            (_, Some(f)) => secret_from_file(f),
            _ => Err(CliError::Usage(
                "give the password with --new-password-file or NOCAS_NEW_PASSWORD".into(),
            )),
        }
    }
}

/// The first line of a file, for secrets.
pub fn secret_from_file(f: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(f).map_err(|e| CliError::io(f.display(), e))?;
    let line = text.lines().next().unwrap_or_default().to_string();
    if line.is_empty() {
        return Err(CliError::Usage(format!("{}: empty", f.display())));
    }
    Ok(line)
}

#[derive(Subcommand, Debug)]
enum UserAction {
    /// List users.
    Ls,
    /// Create a user.
    Create {
        /// User name.
        #[arg(value_name = "USERNAME")]
        user: String,
        #[command(flatten)]
        password: NewPassword,
    },
    /// Delete a user.
    Rm {
        /// User name.
        #[arg(value_name = "USERNAME")]
        user: String,
    },
    /// Change a user's password.
    Passwd {
        /// User name.
        #[arg(value_name = "USERNAME")]
        user: String,
        #[command(flatten)]
        password: NewPassword,
    },
}

/// Every user name.
pub async fn users(api: &Api) -> Result<Vec<String>> {
    Ok(all_pages(
        api,
        &auth_list(api, USER),
        pairs!["search" => "accurate", "username" => ""],
    )
    .await?
    .iter()
    .filter_map(|u| u["username"].as_str().map(str::to_owned))
    .collect())
}

/// Creates a user.
pub async fn create_user(api: &Api, username: &str, password: &str) -> Result<()> {
    api.post(
        auth_path(api, USER),
        pairs!["username" => username, "password" => password],
    )
    .await?;
    Ok(())
}

pub(crate) async fn run_user(c: UserCmd) -> Result<u8> {
    let api = &c.g.connect().await?;
    match c.action {
        UserAction::Ls => {
            let rows: Vec<Value> = users(api)
                .await?
                .into_iter()
                .map(|u| serde_json::json!({ "username": u }))
                .collect();
            output::print_rows(c.g.output, &rows, &[("USER", "username")]);
        }
        UserAction::Create { user, password } => {
            create_user(api, &user, &password.get()?).await?;
            eprintln!("created user {user}");
        }
        UserAction::Rm { user } => {
            api.delete(auth_path(api, USER), pairs!["username" => &user])
                .await?;
            eprintln!("deleted user {user}");
        }
        UserAction::Passwd { user, password } => {
            api.put(
                auth_path(api, USER),
                pairs!["username" => &user, "newPassword" => password.get()?],
            )
            .await?;
            eprintln!("changed the password of {user}");
        }
    }
    Ok(0)
}

/// `nocas role`.
#[derive(Args, Debug)]
pub struct RoleCmd {
    #[command(flatten)]
    g: Global,
    #[command(subcommand)]
    action: RoleAction,
}

#[derive(Subcommand, Debug)]
enum RoleAction {
    /// List role bindings.
    Ls {
        /// Only this user's.
        #[arg(long, default_value = "")]
        user: String,
        /// Only this role's.
        #[arg(long, default_value = "")]
        role: String,
    },
    /// Give a user a role.
    Add {
        /// Role.
        role: String,
        /// User.
        #[arg(value_name = "USERNAME")]
        user: String,
    },
    /// Take a role from a user (or, without one, from everyone).
    Rm {
        /// Role.
        role: String,
        /// User.
        #[arg(value_name = "USERNAME")]
        user: Option<String>,
    },
}

/// Every role binding.
pub async fn roles(api: &Api) -> Result<Vec<Value>> {
    all_pages(
        api,
        &auth_list(api, ROLE),
        pairs!["username" => "", "role" => "", "search" => "accurate"],
    )
    .await
}

/// Binds a role.
pub async fn add_role(api: &Api, role: &str, username: &str) -> Result<()> {
    api.post(
        auth_path(api, ROLE),
        pairs!["role" => role, "username" => username],
    )
    .await?;
    Ok(())
}

pub(crate) async fn run_role(c: RoleCmd) -> Result<u8> {
    let api = &c.g.connect().await?;
    match c.action {
        RoleAction::Ls { user, role } => {
            let rows = all_pages(
                api,
                &auth_list(api, ROLE),
                pairs!["username" => &user, "role" => &role, "search" => "accurate"],
            )
            .await?;
            output::print_rows(c.g.output, &rows, &[("ROLE", "role"), ("USER", "username")]);
        }
        RoleAction::Add { role, user } => {
            add_role(api, &role, &user).await?;
            eprintln!("gave {user} role {role}");
        }
        RoleAction::Rm { role, user } => {
            api.delete(
                auth_path(api, ROLE),
                pairs!["role" => &role, "username" => user.clone()],
            )
            .await?;
            eprintln!(
                "took role {role} from {}",
                user.as_deref().unwrap_or("everyone")
            );
        }
    }
    Ok(0)
}

/// `nocas perm`.
#[derive(Args, Debug)]
pub struct PermCmd {
    #[command(flatten)]
    g: Global,
    #[command(subcommand)]
    action: PermAction,
}

#[derive(Subcommand, Debug)]
enum PermAction {
    /// List permissions.
    Ls {
        /// Only this role's.
        #[arg(long, default_value = "")]
        role: String,
    },
    /// Let a role act on a resource: `namespace:group:config/*` style
    /// patterns, action r, w or rw.
    Add {
        /// Role.
        role: String,
        /// Resource pattern.
        resource: String,
        /// r, w or rw.
        action: String,
    },
    /// Revoke a permission.
    Rm {
        /// Role.
        role: String,
        /// Resource pattern.
        resource: String,
        /// r, w or rw.
        action: String,
    },
}

/// Every permission.
pub async fn permissions(api: &Api) -> Result<Vec<Value>> {
    all_pages(
        api,
        &auth_list(api, PERM),
        pairs!["role" => "", "search" => "accurate"],
    )
    .await
}

/// Grants a permission.
pub async fn add_permission(api: &Api, role: &str, resource: &str, action: &str) -> Result<()> {
    api.post(
        auth_path(api, PERM),
        pairs!["role" => role, "resource" => resource, "action" => action],
    )
    .await?;
    Ok(())
}

pub(crate) async fn run_perm(c: PermCmd) -> Result<u8> {
    let api = &c.g.connect().await?;
    match c.action {
        PermAction::Ls { role } => {
            let rows = all_pages(
                api,
                &auth_list(api, PERM),
                pairs!["role" => &role, "search" => "accurate"],
            )
            .await?;
            output::print_rows(
                c.g.output,
                &rows,
                &[
                    ("ROLE", "role"),
                    ("RESOURCE", "resource"),
                    ("ACTION", "action"),
                ],
            );
        }
        PermAction::Add {
            role,
            resource,
            action,
        } => {
            add_permission(api, &role, &resource, &action).await?;
            eprintln!("role {role} may now {action} {resource}");
        }
        PermAction::Rm {
            role,
            resource,
            action,
        } => {
            api.delete(
                auth_path(api, PERM),
                pairs!["role" => &role, "resource" => &resource, "action" => &action],
            )
            .await?;
            eprintln!("revoked {action} on {resource} from role {role}");
        }
    }
    Ok(0)
}

/// `nocas cluster`.
#[derive(Args, Debug)]
pub struct ClusterCmd {
    #[command(flatten)]
    g: Global,
    #[command(subcommand)]
    action: ClusterAction,
}

#[derive(Subcommand, Debug)]
enum ClusterAction {
    /// List members with their state, the leader, term and last applied entry.
    List,
    /// Add a member (it catches up, then votes).
    Add {
        /// Its address, `host:http` or `host:http:raft`.
        #[arg(long)]
        member: String,
        /// Its node id (default: the next free one).
        #[arg(long)]
        node_id: Option<u64>,
    },
    /// Remove a member.
    Remove {
        /// Its node id.
        #[arg(long)]
        node_id: u64,
    },
}

const CLUSTER: &str = "/nacos/v2/core/cluster/node";

pub(crate) async fn run_cluster(c: ClusterCmd) -> Result<u8> {
    let api = c.g.connect().await?;
    match c.action {
        ClusterAction::List => {
            let members = api.get(&format!("{CLUSTER}/list"), Vec::new()).await?;
            let rows = members.as_array().cloned().unwrap_or_default();
            output::print_rows(
                c.g.output,
                &rows,
                &[
                    ("ID", "extendInfo.nodeId"),
                    ("ADDRESS", "address"),
                    ("STATE", "state"),
                    ("ROLE", "extendInfo.raftMetaData.state"),
                    ("LEADER", "extendInfo.raftMetaData.leader"),
                    ("TERM", "extendInfo.raftMetaData.term"),
                    ("APPLIED", "extendInfo.raftMetaData.lastApplied"),
                ],
            );
        }
        ClusterAction::Add { member, node_id } => {
            // The server answers once the new member caught up (bounded by
            // its `membership_timeout_ms`), which can take far longer than
            // one request's timeout: wait for it.
            let form = pairs!["address" => &member, "nodeId" => node_id];
            let resp = api
                .response_within(
                    Method::POST,
                    CLUSTER,
                    &[],
                    Body::Form(form),
                    Some(std::time::Duration::from_secs(24 * 3600)),
                    &[],
                )
                .await?;
            let status = resp.status();
            let text = resp
                .text()
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
            let v = crate::api::unwrap(status, &text)?;
            let id = match &v {
                serde_json::Value::Number(n) => n.to_string(),
                other => output::cell(other, ""),
            };
            eprintln!("added {member} as node {id}");
        }
        ClusterAction::Remove { node_id } => {
            api.delete(CLUSTER, pairs!["nodeId" => node_id]).await?;
            eprintln!("removed node {node_id}");
        }
    }
    Ok(0)
}

/// `nocas backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    g: Global,
    /// Write the backup here.
    #[arg(short = 'f', long = "file", alias = "out")]
    file: PathBuf,
}

/// The longest a backup download may take.
const BACKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// The route a Nocas server streams its backup from.
pub const BACKUP: &str = "/nacos/v3/admin/core/ops/backup";

pub(crate) async fn run_backup(c: BackupArgs) -> Result<u8> {
    let api = c.g.connect().await?;
    // The download of a large state outlasts the per-request timeout (a
    // 500 MiB backup takes seconds to prepare and seconds to send): bounded
    // by BACKUP_TIMEOUT instead.
    let mut resp = api
        .response_within(
            Method::GET,
            BACKUP,
            &[],
            Body::Empty,
            Some(BACKUP_TIMEOUT),
            &[],
        )
        .await?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(CliError::Server(crate::api::reason(status, &text)));
    }
    let header = |k: &str| {
        resp.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    let (digest, index) = (header("x-nocas-digest"), header("x-nocas-applied"));
    let tmp = c.file.with_extension("partial");
    let mut out = std::fs::File::create(&tmp).map_err(|e| CliError::io(tmp.display(), e))?;
    let mut written = 0u64;
    let mut shown = 0u64;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| CliError::Failed(format!("the backup stream broke: {e}")))?
    {
        out.write_all(&chunk)
            .map_err(|e| CliError::io(tmp.display(), e))?;
        written += chunk.len() as u64;
        if written - shown >= 8 << 20 {
            eprintln!("  {} MiB...", written >> 20);
            shown = written;
        }
    }
    out.sync_all().map_err(|e| CliError::io(tmp.display(), e))?;
    drop(out);
    std::fs::rename(&tmp, &c.file).map_err(|e| CliError::io(c.file.display(), e))?;
    match c.g.output {
        Format::Table => eprintln!(
            "backup of {} written to {}: {written} bytes, applied index {index}, state digest {digest}",
            api.server(),
            c.file.display()
        ),
        f => output::print_object(
            f,
            &serde_json::json!({
                "file": c.file.display().to_string(),
                "bytes": written,
                "applied": index,
                "digest": digest,
                "server": api.server(),
            }),
            &[],
        ),
    }
    Ok(0)
}
