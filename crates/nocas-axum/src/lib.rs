//! `nocas-axum`: run an axum service the way the registry expects.
//!
//! - [`NocasApp`] registers the service at start-up (name, IP, port,
//!   weight, version, environment and the routes added through the
//!   builder) and deregisters it on Ctrl-C/SIGTERM before the server stops.
//! - The service's config (`<service>.yaml`, YAML or properties) drives
//!   live behaviour without a restart: `log.level` (through
//!   [`init_tracing`]'s reload handle), `timeout.ms`, and `mode`
//!   (`normal`, `mock` answering from `mock.<route>` bodies, `debug`
//!   logging each request and response). The [`layer`] reads the current
//!   settings lock-free on each request.
//! - [`GrayRouter`] sends a configured share of requests (by a stable hash
//!   of a request id) to instances of a gray `version`, the rest to the
//!   stable one, from instances kept current by pushes.
//! - One setting, [`NocasApp::env`], picks the environment: the namespace
//!   of both registration and config.
//!
//! ```no_run
//! use nocas_axum::{NocasApp, init_tracing};
//! # async fn run() -> Result<(), nocas_axum::AxumError> {
//! let log = init_tracing("info")?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! NocasApp::new("order-service")
//!     .servers("127.0.0.1:8848")
//!     .env("dev")
//!     .version("v1")
//!     .log_control(log)
//!     .get("/orders", || async { "[]" })
//!     .serve(listener) // until Ctrl-C/SIGTERM, then deregisters
//!     .await
//! # }
//! ```
//!
//! Architecture invariant: depends on no Nocas crate but `nocas-client`;
//! it talks to the registry only through it.

pub mod app;
pub mod error;
pub mod gray;
pub mod layer;
pub mod live;
pub mod logging;

pub use app::{NocasApp, Started, shutdown_signal};
pub use error::AxumError;
pub use gray::{GrayRouter, GrayRule, Pick};
pub use live::{LiveConfig, LiveSettings, Mode};
pub use logging::{LogControl, init_tracing};
pub use nocas_client;
