//! The `nocas` command: `nocas server` runs a server.
//!
//! Settings come from a TOML file (`--config`), then `NOCAS_*` environment
//! variables, then flags, each overriding the one before. This binary holds
//! no business logic: it parses, starts `nocas_server`, and waits for a
//! signal to stop it.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use nocas_server::Settings;

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
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "NOCAS_LOG", default_value = "info,openraft=warn")]
    log: String,
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
    stop_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await.context("unclean shutdown")?;
    tracing::info!("stopped");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => {
            let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
                .with_context(|| format!("invalid log filter '{}'", args.log))?;
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .init();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(serve(args))
        }
    }
}
