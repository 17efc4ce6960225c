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

use axum::Json;
use axum::extract::Path;
use clap::Parser;
use nocas_axum::{NocasApp, init_tracing};
use serde_json::{Value, json};

#[path = "common/mod.rs"]
mod common;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: common::Common,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8081)]
    port: u16,
    /// Version registered in metadata (gray routing picks by it).
    #[arg(long, default_value = "v1")]
    version: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log = init_tracing(&args.common.log_level)?;
    let listener = args.common.listen(args.port).await?;
    let addr = listener.local_addr()?;
    let options = args.common.options("order-service");
    let version = args.version.clone();
    let v = version.clone();
    let app = NocasApp::new("order-service")
        .client_options(options)
        .env(args.common.env.clone())
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
