//! `order-service`: an axum service that registers itself (with its routes,
//! version and environment), serves orders, follows its config
//! `order-service.yaml` live (`log.level`, `timeout.ms`, `mode`), and
//! deregisters on Ctrl-C/SIGTERM.
//!
//! ```text
//! cargo run -p nocas-axum --example order-service -- --port 8081 --version v1
//! curl -X POST 'http://127.0.0.1:8848/nacos/v1/cs/configs' \
//!   -d dataId=order-service.yaml -d group=DEFAULT_GROUP -d 'content=log.level: debug'
//! ```

use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use clap::Parser;
use nocas_axum::nocas_client::ClientOptions;
use nocas_axum::{NocasApp, init_tracing};
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// Registry servers (HTTP `host:port`, comma-separated).
    #[arg(long, env = "NOCAS_SERVERS", default_value = "127.0.0.1:8848")]
    servers: String,
    /// Environment: the namespace to register in and read config from.
    #[arg(long, env = "NOCAS_ENV", default_value = "")]
    env: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8081)]
    port: u16,
    /// Version registered in metadata (gray routing picks by it).
    #[arg(long, default_value = "v1")]
    version: String,
    /// Log level until the config says otherwise.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Failover cache directory.
    #[arg(long)]
    cache_dir: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log = init_tracing(&args.log_level)?;
    let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port)).await?;
    let addr = listener.local_addr()?;
    let mut options = ClientOptions::new(&args.servers)
        .app_name("order-service")
        .request_timeout(Duration::from_secs(2));
    options.cache_dir = Some(args.cache_dir.map(Into::into).unwrap_or_else(|| {
        std::env::temp_dir()
            .join("nocas-cache")
            .join("order-service")
    }));
    let version = args.version.clone();
    let v = version.clone();
    let app = NocasApp::new("order-service")
        .client_options(options)
        .env(args.env)
        .version(&version)
        .log_control(log)
        .get("/orders", move || {
            let v = v.clone();
            async move {
                tracing::debug!("listing orders");
                Json(json!({"version": v, "orders": [{"id": 1}, {"id": 2}]}))
            }
        })
        .get("/orders/{id}", move |Path(id): Path<u64>| {
            let v = version.clone();
            async move {
                tracing::debug!(id, "reading an order");
                Json(json!({"version": v, "id": id}))
            }
        })
        .post("/orders", |Json(order): Json<Value>| async move {
            tracing::info!(%order, "order created");
            Json(json!({"created": order}))
        })
        .get("/health", || async { "ok" });
    let started = app.start(listener).await?;
    println!("order-service listening on {addr}");
    started.serve(nocas_axum::shutdown_signal()).await?;
    println!("order-service stopped");
    Ok(())
}
