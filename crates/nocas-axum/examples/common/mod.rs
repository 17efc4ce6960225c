//! What both examples share: the registry flags and the client options.

use std::path::PathBuf;
use std::time::Duration;

use nocas_axum::nocas_client::ClientOptions;

/// Registry and logging flags.
#[derive(clap::Args)]
pub struct Common {
    /// Registry servers (HTTP `host:port`, comma-separated).
    #[arg(long, env = "NOCAS_SERVERS", default_value = "127.0.0.1:8848")]
    pub servers: String,
    /// Environment: the namespace to register in and read config from.
    #[arg(long, env = "NOCAS_ENV", default_value = "")]
    pub env: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Log level until the config says otherwise.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Failover cache directory (default: `<temp>/nocas-cache/<app>`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

impl Common {
    /// Client options for the application `app`.
    pub fn options(&self, app: &str) -> ClientOptions {
        let cache = self
            .cache_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("nocas-cache").join(app));
        ClientOptions::new(&self.servers)
            .app_name(app)
            .request_timeout(Duration::from_secs(2))
            .cache_dir(cache)
    }

    /// Binds the listener.
    pub async fn listen(&self, port: u16) -> std::io::Result<tokio::net::TcpListener> {
        tokio::net::TcpListener::bind((self.bind.as_str(), port)).await
    }
}
