//! `nocas-client`: a Rust client for Nocas (and Nacos 2.x) over the gRPC
//! protocol.
//!
//! ```no_run
//! use nocas_client::{Client, ClientOptions, Instance};
//! # async fn run() -> Result<(), nocas_client::ClientError> {
//! let client = Client::new(ClientOptions::new("127.0.0.1:8848").namespace("dev").cache_dir("/tmp/nocas-cache"));
//! client.naming().register("orders", None, Instance::new("10.0.0.5", 8080)).await?;
//! let one = client.naming().select_one("orders", None).await?;
//! client.config().publish("orders.yaml", "DEFAULT_GROUP", "log.level: info", Some("yaml")).await?;
//! let content = client.config().get("orders.yaml", "DEFAULT_GROUP").await?;
//! # let _ = (one, content); Ok(()) }
//! ```
//!
//! Resilience, all configurable in [`ClientOptions`]: several servers with
//! failover; a timeout on every call; retries with exponential backoff and
//! full jitter; a circuit breaker per server; a disk cache of the last known
//! service views and configs, used when no server answers (also at
//! start-up); and redo of registrations, subscriptions and listeners on
//! every new connection.
//!
//! Modules: [`options`], [`model`], [`naming`], [`config`], with `conn`
//! (one connection), `rpc` (failover, retries, breakers, redo), `breaker`
//! and `cache` inside.
//!
//! Architecture invariant: depends on no Nocas crate but `nocas-proto`.

mod breaker;
mod cache;
pub mod config;
mod conn;
pub mod error;
pub mod model;
pub mod naming;
pub mod options;
mod rpc;

use std::sync::Arc;

use tokio::sync::mpsc;

pub use breaker::{Breaker, BreakerState, backoff};
pub use config::ConfigClient;
pub use error::ClientError;
pub use model::{ConfigChange, Instance, ServiceView};
pub use naming::{NamingClient, pick_weighted};
pub use options::{BreakerPolicy, ClientOptions, RetryPolicy};

/// A client: naming and config over one connection (with failover).
#[derive(Clone)]
pub struct Client {
    naming: NamingClient,
    config: ConfigClient,
    rpc: Arc<rpc::RpcClient>,
}

impl Client {
    /// Creates a client; it connects in the background (and on first use).
    /// Needs a Tokio runtime.
    pub fn new(opts: ClientOptions) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let rpc = rpc::RpcClient::new(opts, tx);
        let naming_state = naming::NamingState::new(rpc.clone());
        let config_state = config::ConfigState::new(rpc.clone());
        let (n, c) = (Arc::downgrade(&naming_state), Arc::downgrade(&config_state));
        tokio::spawn(async move {
            while let Some(push) = rx.recv().await {
                match push.kind.as_str() {
                    "NotifySubscriberRequest" => {
                        if let Some(n) = n.upgrade() {
                            n.on_push(&push.body);
                        }
                    }
                    "ConfigChangeNotifyRequest" => {
                        if let Some(c) = c.upgrade() {
                            c.on_push(&push.body);
                        }
                    }
                    _ => {}
                }
            }
        });
        Self {
            naming: NamingClient::new(naming_state),
            config: ConfigClient::new(config_state),
            rpc,
        }
    }

    /// Service discovery.
    pub fn naming(&self) -> &NamingClient {
        &self.naming
    }

    /// Configuration.
    pub fn config(&self) -> &ConfigClient {
        &self.config
    }

    /// Whether a connection to some server is up.
    pub fn is_connected(&self) -> bool {
        self.rpc.is_connected()
    }
}
