//! The `nocas` command: `nocas server` runs a server, `nocas restore`
//! builds a data directory from a backup, and every other subcommand is a
//! client (`nocas_cli`) speaking to a server over HTTP.
//!
//! Server settings come from a TOML file (`--config`), then `NOCAS_*`
//! environment variables, then flags, each overriding the one before. This
//! binary holds no business logic: it parses, starts `nocas_server` (or
//! hands the command to `nocas_cli`), and waits for a signal to stop it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use nocas_server::{MemberAddr, Settings};

#[derive(Parser)]
#[command(
    name = "nocas",
    version,
    about = "A Nacos-compatible service registry and configuration center"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a server (standalone: embedded storage, no other service needed).
    Server(ServerArgs),
    /// Build a data directory from a backup file (`nocas backup`); a server
    /// started on it holds exactly the backed-up state.
    Restore(RestoreArgs),
    #[command(flatten)]
    Client(nocas_cli::Command),
}

#[derive(Args)]
struct RestoreArgs {
    /// The backup file.
    file: PathBuf,
    /// The data directory to create (it must not hold a store yet).
    #[arg(long, env = "NOCAS_DATA_DIR")]
    data_dir: PathBuf,
}

#[derive(Args)]
struct ServerArgs {
    /// TOML settings file.
    #[arg(long, env = "NOCAS_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded database [default: ./data].
    #[arg(long, env = "NOCAS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long, env = "NOCAS_BIND")]
    bind: Option<IpAddr>,
    /// HTTP port [default: 8848].
    #[arg(long, env = "NOCAS_HTTP_PORT")]
    http_port: Option<u16>,
    /// gRPC port [default: HTTP port + 1000].
    #[arg(long, env = "NOCAS_GRPC_PORT")]
    grpc_port: Option<u16>,
    /// This node's id: its 1-based position in the member list [default: 1].
    #[arg(long, env = "NOCAS_NODE_ID")]
    node_id: Option<u64>,
    /// Cluster members, `host:http[:raft]`, comma separated (node N is the Nth).
    #[arg(long, env = "NOCAS_MEMBERS")]
    members: Option<String>,
    /// File with one member per line (like Nacos's cluster.conf).
    #[arg(long, env = "NOCAS_CLUSTER_CONF")]
    cluster_conf: Option<PathBuf>,
    /// This node's Raft port [default: from its member entry, or HTTP - 1000].
    #[arg(long, env = "NOCAS_RAFT_PORT")]
    raft_port: Option<u16>,
    /// Join a running cluster (then add this node with `nocas cluster add`)
    /// instead of forming a new one with the member list.
    #[arg(long, env = "NOCAS_JOIN", value_parser = BoolishValueParser::new())]
    join: bool,
    /// Secret every node-to-node call must carry.
    #[arg(long, env = "NOCAS_CLUSTER_SECRET")]
    cluster_secret: Option<String>,
    /// Require login: check tokens and permissions on every call.
    #[arg(long, env = "NOCAS_AUTH", value_parser = BoolishValueParser::new())]
    auth: bool,
    /// Token signing secret (base64 or raw, at least 32 bytes) [default:
    /// generated once into the data dir].
    #[arg(long, env = "NOCAS_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
    /// Password of the initial administrator `nacos` [default: generated
    /// and printed once].
    #[arg(long, env = "NOCAS_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Allow listening on a non-loopback address with auth off.
    #[arg(long, env = "NOCAS_INSECURE_NO_AUTH", value_parser = BoolishValueParser::new())]
    insecure_no_auth: bool,
    /// Serve the web console on this port of its own instead of the HTTP
    /// port (it then also answers the HTTP API the console calls).
    #[arg(long, env = "NOCAS_CONSOLE_PORT")]
    console_port: Option<u16>,
    /// Do not serve the web console.
    #[arg(long, env = "NOCAS_NO_CONSOLE", value_parser = BoolishValueParser::new())]
    no_console: bool,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "NOCAS_LOG", default_value = "info,openraft=warn")]
    log: String,
    /// Log line format: `text`, or `json` (one JSON object per line).
    #[arg(long, env = "NOCAS_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log every request (method, route, status, time, client; never the
    /// query, body or headers).
    #[arg(long, env = "NOCAS_REQUEST_LOG", value_parser = BoolishValueParser::new())]
    request_log: bool,
    /// Log requests slower than this many milliseconds (0: off) [default:
    /// 1000].
    #[arg(long, env = "NOCAS_SLOW_REQUEST_MS")]
    slow_request_ms: Option<u64>,
    /// Keep audit records this many days (0: forever) [default: 30].
    #[arg(long, env = "NOCAS_AUDIT_RETENTION_DAYS")]
    audit_retention_days: Option<u64>,
    /// PEM certificate chain: serve HTTP, gRPC and the console over TLS
    /// (reloaded when the file changes).
    #[arg(long, env = "NOCAS_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "NOCAS_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM CA certificates of the cluster: mutual TLS on the Raft port
    /// (each node presents --tls-cert and accepts only peers this CA signed).
    #[arg(long, env = "NOCAS_PEER_CA")]
    peer_ca: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl ServerArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let mut s = match &self.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        if let Some(d) = &self.data_dir {
            s.data_dir = d.clone();
        }
        if let Some(b) = self.bind {
            s.bind = b;
        }
        if let Some(p) = self.http_port {
            s.http_port = p;
        }
        if let Some(p) = self.grpc_port {
            s.grpc_port = Some(p);
        }
        if let Some(path) = &self.cluster_conf {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read cluster conf {}", path.display()))?;
            s.cluster.members = MemberAddr::parse_list(&text)?
                .iter()
                .map(ToString::to_string)
                .collect();
        }
        if let Some(m) = &self.members {
            s.cluster.members = MemberAddr::parse_list(m)?
                .iter()
                .map(ToString::to_string)
                .collect();
        }
        if let Some(id) = self.node_id {
            s.cluster.node_id = id;
        }
        if let Some(p) = self.raft_port {
            s.cluster.raft_port = Some(p);
        }
        if self.join {
            s.cluster.join = true;
        }
        if let Some(secret) = &self.cluster_secret {
            s.cluster.secret = Some(secret.clone());
        }
        if self.auth {
            s.auth.enabled = true;
        }
        if self.insecure_no_auth {
            s.auth.insecure_no_auth = true;
        }
        if let Some(secret) = &self.token_secret {
            s.auth.token_secret = Some(secret.clone());
        }
        if let Some(pw) = &self.admin_password {
            s.auth.admin_password = Some(pw.clone());
        }
        if let Some(port) = self.console_port {
            s.console.port = Some(port);
        }
        if self.no_console {
            s.console.enabled = false;
        }
        if self.request_log {
            s.log.requests = true;
        }
        if let Some(ms) = self.slow_request_ms {
            s.log.slow_request_ms = ms;
        }
        if let Some(p) = &self.tls_cert {
            s.tls.cert = Some(p.clone());
        }
        if let Some(p) = &self.tls_key {
            s.tls.key = Some(p.clone());
        }
        if let Some(p) = &self.peer_ca {
            s.tls.peer_ca = Some(p.clone());
        }
        if let Some(days) = self.audit_retention_days {
            s.audit.retention_ms = days.saturating_mul(24 * 3600 * 1000);
        }
        Ok(s)
    }
}

async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    let running = nocas_server::start(settings)
        .await
        .context("cannot start the server")?;
    println!(
        "nocas listening http={} grpc={}",
        running.http_addr(),
        running.grpc_addr()
    );
    tokio::select! {
        _ = stop_signal() => {}
        Some(why) = running.storage_failed() => {
            // Fail-stop: no graceful shutdown, which would write again.
            tracing::error!(error = %why, "storage failed: stopping now; acknowledged writes are on disk, restart to recover");
            eprintln!("nocas: storage failed: {why}; stopping (fail-stop)");
            std::process::exit(74);
        }
    }
    tracing::info!("shutting down");
    running.shutdown().await.context("unclean shutdown")?;
    tracing::info!("stopped");
    Ok(())
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Client(cmd) => Ok(nocas_cli::main(cmd)),
        Command::Restore(args) => {
            let h = match nocas_server::restore_backup(&args.file, &args.data_dir) {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("nocas: cannot restore {}: {e}", args.file.display());
                    return Ok(ExitCode::from(1));
                }
            };
            println!(
                "restored {} into {}: applied index {}, state digest {}, taken by node {} (version {})",
                args.file.display(),
                args.data_dir.display(),
                h.applied_index
                    .map_or_else(|| "-".into(), |i| i.to_string()),
                h.digest,
                h.node_id,
                h.version
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Server(args) => {
            let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
                .with_context(|| format!("invalid log filter '{}'", args.log))?;
            let fmt = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr);
            match args.log_format {
                LogFormat::Text => fmt.init(),
                LogFormat::Json => fmt
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .init(),
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(serve(args))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
