//! The client side of the `nocas` command: everything but `nocas server`.
//!
//! `config`, `service`, `instance`, `ns`, `user`, `role`, `perm` and
//! `cluster` drive a server through its public HTTP API: Nacos 3's admin
//! routes where the server has them, else the v1 API of Nacos 1.x/2.x
//! (each helper picks its route by [`Api::legacy`] and gives the answer the
//! v3 shape), and the long poll every Nacos answers for `watch`; `apply` and `diff` reconcile a
//! registry with YAML files; `backup` streams a Nocas server's state to a
//! file (restoring it is the server's business: `nocas restore`);
//! `migrate` copies a Nacos-compatible server into another.
//!
//! Owns argument parsing and what the user sees. It must not link any
//! server crate: everything goes over HTTP, so what it can do, any
//! client with a token can.

pub mod api;
pub mod apply;
mod cmd_access;
mod cmd_audit;
mod cmd_config;
mod cmd_naming;
pub mod error;
pub mod migrate;
pub mod output;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

pub use crate::api::{Api, Conn};
pub use crate::error::{CliError, Result};
use crate::output::Format;

/// Options every client command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Server address (`host:port` or URL); several (repeated or comma
    /// separated) are tried in turn when one is down.
    #[arg(
        long,
        global = true,
        env = "NOCAS_SERVER",
        value_delimiter = ',',
        default_value = "127.0.0.1:8848"
    )]
    pub server: Vec<String>,
    /// Namespace id (empty or `public`: the public namespace).
    #[arg(
        short = 'n',
        long,
        global = true,
        env = "NOCAS_NAMESPACE",
        default_value = ""
    )]
    pub namespace: String,
    /// User to log in as.
    #[arg(long, global = true, env = "NOCAS_USERNAME")]
    pub username: Option<String>,
    /// Its password.
    #[arg(long, global = true, env = "NOCAS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// An access token to use instead of logging in.
    #[arg(long, global = true, env = "NOCAS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        global = true,
        value_enum,
        default_value = "table"
    )]
    pub output: Format,
    /// Per-request timeout in milliseconds.
    #[arg(long, global = true, env = "NOCAS_TIMEOUT_MS", default_value = "10000")]
    pub timeout_ms: u64,
    /// Which API to speak: Nacos 3's admin API where the server has it,
    /// else the v1 API of Nacos 1.x/2.x.
    #[arg(
        long,
        global = true,
        env = "NOCAS_API",
        value_enum,
        default_value = "auto"
    )]
    pub api: api::ApiChoice,
    /// PEM CA certificates to trust for `https://` servers (besides the
    /// system's).
    #[arg(long, global = true, env = "NOCAS_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
}

impl Global {
    /// Connects to the servers (logging in if a user is given).
    pub async fn connect(&self) -> Result<Api> {
        Api::connect(&Conn {
            servers: self.server.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
            api: self.api,
            ca_file: self.ca_file.clone(),
        })
        .await
    }

    /// The namespace as the v3 API spells it.
    pub fn ns(&self) -> String {
        ns_param(&self.namespace)
    }
}

/// A namespace id as the v1 config API takes it (`""` for the public one).
pub fn tenant(ns: &str) -> &str {
    if ns == "public" { "" } else { ns }
}

/// A namespace id as the v3 API takes it (`public` for the public one).
pub fn ns_param(ns: &str) -> String {
    let ns = ns.trim();
    if ns.is_empty() {
        "public".into()
    } else {
        ns.to_string()
    }
}

/// The client commands (flattened into the `nocas` binary's).
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Configs: get, put, rm, ls, history, diff, rollback, export, import, watch.
    Config(cmd_config::ConfigCmd),
    /// Services: ls, show, create, rm.
    Service(cmd_naming::ServiceCmd),
    /// Instances: ls, register, deregister, offline, online.
    Instance(cmd_naming::InstanceCmd),
    /// Namespaces: ls, create, rm.
    Ns(cmd_access::NsCmd),
    /// Users: ls, create, rm, passwd.
    User(cmd_access::UserCmd),
    /// Role bindings: ls, add, rm.
    Role(cmd_access::RoleCmd),
    /// Permissions of roles: ls, add, rm.
    Perm(cmd_access::PermCmd),
    /// Look at or change a running cluster's membership.
    Cluster(cmd_access::ClusterCmd),
    /// Make the registry match YAML files: print the plan, then apply it.
    Apply(apply::ApplyArgs),
    /// Print how the registry differs from YAML files; exit 1 if it does.
    Diff(apply::DiffArgs),
    /// Stream a consistent copy of a Nocas server's durable state to a file.
    Backup(cmd_access::BackupArgs),
    /// Show the audit trail: who changed what, when, from where.
    Audit(cmd_audit::AuditArgs),
    /// Copy namespaces, configs and services with persistent instances from
    /// a running Nacos-compatible server into another.
    Migrate(migrate::MigrateArgs),
}

/// Runs a client command on a fresh single-threaded runtime; prints the
/// error on stderr and answers the exit code (0 done, 1 failed, 2 usage).
pub fn main(cmd: Command) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nocas: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cmd)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("nocas: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs a client command; answers the exit code it wants (`diff` answers
/// 1 when there are differences).
pub async fn run(cmd: Command) -> Result<u8> {
    match cmd {
        Command::Config(c) => cmd_config::run(c).await,
        Command::Service(c) => cmd_naming::run_service(c).await,
        Command::Instance(c) => cmd_naming::run_instance(c).await,
        Command::Ns(c) => cmd_access::run_ns(c).await,
        Command::Audit(c) => cmd_audit::run(c).await,
        Command::User(c) => cmd_access::run_user(c).await,
        Command::Role(c) => cmd_access::run_role(c).await,
        Command::Perm(c) => cmd_access::run_perm(c).await,
        Command::Cluster(c) => cmd_access::run_cluster(c).await,
        Command::Backup(c) => cmd_access::run_backup(c).await,
        Command::Apply(a) => apply::run_apply(a).await,
        Command::Diff(a) => apply::run_diff(a).await,
        Command::Migrate(a) => migrate::run(a).await,
    }
}

/// Every page of a v3 paged list.
pub async fn all_pages(api: &Api, path: &str, query: api::Pairs) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    let size = 200usize;
    for page in 1.. {
        let mut q = query.clone();
        q.push(("pageNo".into(), page.to_string()));
        q.push(("pageSize".into(), size.to_string()));
        let v = api.get(path, q).await?;
        let items = v["pageItems"].as_array().cloned().unwrap_or_default();
        let n = items.len();
        out.extend(items);
        let total = v["totalCount"].as_u64().unwrap_or(0) as usize;
        if n < size || out.len() >= total {
            break;
        }
    }
    Ok(out)
}
