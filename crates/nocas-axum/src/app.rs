//! The service builder: routes (recorded for the registry), identity (IP,
//! port, weight, version, environment), the service's own config, and the
//! lifecycle — register at start, follow the config, deregister on
//! shutdown before the server stops.
//!
//! Owns: the registered instance and the config listener task. Must not
//! touch request handling beyond installing [`crate::layer`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use futures::{FutureExt, StreamExt};
use nocas_client::{Client, ClientOptions, ConfigChange, Instance};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::AxumError;
use crate::live::{LiveConfig, LiveSettings};
use crate::logging::LogControl;

/// Metadata key listing the service's routes (`GET /orders,POST /orders`).
pub const ROUTES_KEY: &str = "routes";
/// Metadata key of the environment.
pub const ENV_KEY: &str = "env";

/// Builds and runs an axum service that lives in the registry.
///
/// ```no_run
/// use axum::routing::get;
/// use nocas_axum::NocasApp;
/// # async fn run() -> Result<(), nocas_axum::AxumError> {
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// NocasApp::new("order-service")
///     .servers("127.0.0.1:8848")
///     .env("dev")
///     .version("v1")
///     .get("/orders", || async { "[]" })
///     .serve(listener)
///     .await
/// # }
/// ```
pub struct NocasApp {
    service: String,
    group: Option<String>,
    options: ClientOptions,
    env: Option<String>,
    namespace: Option<String>,
    ip: Option<String>,
    port: Option<u16>,
    weight: f64,
    cluster: String,
    metadata: HashMap<String, String>,
    routes: Vec<String>,
    router: Router,
    config: Option<(String, String)>,
    log: Option<LogControl>,
    live: LiveConfig,
    on_change: Vec<OnChange>,
    deregister_grace: Duration,
}

type OnChange = Arc<dyn Fn(&LiveSettings) + Send + Sync>;

impl NocasApp {
    /// A service named `service`, talking to `127.0.0.1:8848` in the public
    /// namespace, with config `<service>.yaml` in `DEFAULT_GROUP` and its
    /// failover cache in `<temp dir>/nocas-cache/<service>`.
    pub fn new(service: impl Into<String>) -> Self {
        let service = service.into();
        let config = Some((format!("{service}.yaml"), "DEFAULT_GROUP".to_string()));
        Self {
            options: ClientOptions::default()
                .app_name(service.clone())
                .cache_dir(std::env::temp_dir().join("nocas-cache").join(&service)),
            service,
            group: None,
            env: None,
            namespace: None,
            ip: None,
            port: None,
            weight: 1.0,
            cluster: "DEFAULT".into(),
            metadata: HashMap::new(),
            routes: Vec::new(),
            router: Router::new(),
            config,
            log: None,
            live: LiveConfig::default(),
            on_change: Vec::new(),
            deregister_grace: Duration::from_millis(200),
        }
    }

    /// Registry servers (comma-separated `host:port`, HTTP ports).
    pub fn servers(mut self, servers: &str) -> Self {
        self.options.servers = ClientOptions::new(servers).servers;
        self
    }

    /// All client options (servers, timeouts, retries, breaker, cache).
    /// The namespace comes from [`Self::env`] or [`Self::namespace`] when
    /// set.
    pub fn client_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// The environment (`dev`, `test`, `prod`...): the namespace the
    /// service registers in and reads its config from, and metadata `env`.
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into()).filter(|e| !e.is_empty());
        self
    }

    /// The namespace, when it differs from the environment's name.
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// The group (default `DEFAULT_GROUP`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// The IP registered (default: the listener's, or else the host's
    /// first non-loopback address).
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    /// The port registered (default: the listener's).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The load-balancing weight (default 1).
    pub fn weight(mut self, weight: f64) -> Self {
        self.weight = weight;
        self
    }

    /// The cluster (default `DEFAULT`).
    pub fn cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = cluster.into();
        self
    }

    /// The version (metadata `version`, used by gray routing).
    pub fn version(self, version: impl Into<String>) -> Self {
        self.metadata(crate::gray::VERSION_KEY, version)
    }

    /// A metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The service's config (default `<service>.yaml` in `DEFAULT_GROUP`).
    pub fn config(mut self, data_id: impl Into<String>, group: impl Into<String>) -> Self {
        self.config = Some((data_id.into(), group.into()));
        self
    }

    /// No config: the live settings stay at their defaults.
    pub fn without_config(mut self) -> Self {
        self.config = None;
        self
    }

    /// Where `log.level` goes (see [`crate::init_tracing`]).
    pub fn log_control(mut self, log: LogControl) -> Self {
        self.log = Some(log);
        self
    }

    /// Calls `f` with each new snapshot of the settings (the first before
    /// the service serves), e.g. to derive a [`crate::GrayRule`].
    pub fn on_config(mut self, f: impl Fn(&LiveSettings) + Send + Sync + 'static) -> Self {
        self.on_change.push(Arc::new(f));
        self
    }

    /// How long to wait between deregistering and stopping the server, so
    /// callers learn of the change before connections are refused
    /// (default 200 ms).
    pub fn deregister_grace(mut self, grace: Duration) -> Self {
        self.deregister_grace = grace;
        self
    }

    fn record(mut self, route: String, path: &str, mr: MethodRouter) -> Self {
        self.routes.push(route);
        self.router = self.router.route(path, mr);
        self
    }

    /// Adds a route; recorded by path (methods unknown).
    pub fn route(self, path: &str, mr: MethodRouter) -> Self {
        self.record(path.to_string(), path, mr)
    }

    /// Adds a GET route.
    pub fn get<H: Handler<T, ()>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.record(format!("GET {path}"), path, routing::get(handler))
    }

    /// Adds a POST route.
    pub fn post<H: Handler<T, ()>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.record(format!("POST {path}"), path, routing::post(handler))
    }

    /// Adds a PUT route.
    pub fn put<H: Handler<T, ()>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.record(format!("PUT {path}"), path, routing::put(handler))
    }

    /// Adds a DELETE route.
    pub fn delete<H: Handler<T, ()>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.record(format!("DELETE {path}"), path, routing::delete(handler))
    }

    /// Merges a router whose routes are described by `routes` (e.g.
    /// `["GET /orders", "POST /orders"]`), for routers built elsewhere or
    /// with state.
    pub fn merge(mut self, router: Router, routes: &[&str]) -> Self {
        self.routes.extend(routes.iter().map(|r| r.to_string()));
        self.router = self.router.merge(router);
        self
    }

    /// Sets the fallback handler (not recorded as a route).
    pub fn fallback<H: Handler<T, ()>, T: 'static>(mut self, handler: H) -> Self {
        self.router = self.router.fallback(handler);
        self
    }

    /// The live settings handlers can read (also an `Extension`).
    pub fn live(&self) -> LiveConfig {
        self.live.clone()
    }

    /// The routes recorded so far.
    pub fn routes(&self) -> &[String] {
        &self.routes
    }

    fn namespace_id(&self) -> String {
        self.namespace
            .clone()
            .or_else(|| self.env.clone())
            .unwrap_or_else(|| self.options.namespace.clone())
    }

    fn instance(&self, local: SocketAddr) -> Instance {
        let ip = self.ip.clone().unwrap_or_else(|| detect_ip(local.ip()));
        let mut i = Instance::new(ip, self.port.unwrap_or(local.port())).with_weight(self.weight);
        i.cluster = self.cluster.clone();
        i.metadata = self.metadata.clone();
        if let Some(env) = &self.env {
            i.metadata.insert(ENV_KEY.into(), env.clone());
        }
        if !self.routes.is_empty() {
            i.metadata.insert(ROUTES_KEY.into(), self.routes.join(","));
        }
        i
    }

    /// Connects, reads the config, registers, and returns the service ready
    /// to serve on `listener`. When the registry is down, the service
    /// starts anyway: the config comes from the disk cache if there is one,
    /// and the registration is redone as soon as a server answers.
    pub async fn start(self, listener: TcpListener) -> Result<Started, AxumError> {
        if self.service.is_empty() {
            return Err(AxumError::Invalid("the service name is empty".into()));
        }
        let local = listener.local_addr()?;
        let mut options = self.options.clone();
        options.namespace = self.namespace_id();
        let client = Client::new(options);
        let watcher = match &self.config {
            Some((data_id, group)) => Some(
                follow_config(
                    &client,
                    data_id,
                    group,
                    self.live.clone(),
                    self.log.clone(),
                    self.on_change.clone(),
                )
                .await?,
            ),
            None => None,
        };
        let instance = self.instance(local);
        let group = self.group.clone();
        match client
            .naming()
            .register(&self.service, group.as_deref(), instance.clone())
            .await
        {
            Ok(()) => tracing::info!(
                service = %self.service,
                addr = %instance.addr(),
                namespace = %self.namespace_id(),
                "registered"
            ),
            Err(e) if e.is_retryable() => tracing::warn!(
                service = %self.service,
                error = %e,
                "registry unreachable; registering as soon as it answers"
            ),
            Err(e) => return Err(e.into()),
        }
        Ok(Started {
            router: crate::layer::apply(self.router, self.live.clone()),
            listener,
            client,
            service: self.service,
            group,
            instance,
            live: self.live,
            watcher,
            grace: self.deregister_grace,
        })
    }

    /// [`Self::start`], then serve until Ctrl-C or SIGTERM; deregisters
    /// before the server stops.
    pub async fn serve(self, listener: TcpListener) -> Result<(), AxumError> {
        self.start(listener).await?.serve(shutdown_signal()).await
    }
}

/// The host's address to register: the listener's own if it is specific,
/// else the first non-loopback address, else loopback.
fn detect_ip(bound: IpAddr) -> String {
    if !bound.is_unspecified() {
        return bound.to_string();
    }
    match local_ip_address::local_ip() {
        Ok(ip) => ip.to_string(),
        Err(_) => "127.0.0.1".into(),
    }
}

async fn follow_config(
    client: &Client,
    data_id: &str,
    group: &str,
    live: LiveConfig,
    log: Option<LogControl>,
    on_change: Vec<OnChange>,
) -> Result<JoinHandle<()>, AxumError> {
    let mut changes = Box::pin(client.config().listen(data_id, group).await?);
    let apply = move |c: ConfigChange| {
        let next = LiveSettings::parse(c.content.as_deref().unwrap_or(""));
        let previous = live.load();
        if let Some(log) = &log
            && previous.log_level != next.log_level
        {
            let level = next.log_level.as_deref().unwrap_or(log.initial());
            match log.set_level(level) {
                Ok(()) => tracing::info!(level, "log level changed"),
                Err(e) => tracing::warn!(error = %e, "log.level ignored"),
            }
        }
        for f in &on_change {
            f(&next);
        }
        live.store(next);
    };
    // The first item (the current content, or the cached one) is applied
    // before the service serves its first request.
    if let Some(Some(first)) = changes.next().now_or_never() {
        apply(first);
    }
    Ok(tokio::spawn(async move {
        while let Some(c) = changes.next().await {
            apply(c);
        }
    }))
}

/// A service registered and ready to serve.
pub struct Started {
    router: Router,
    listener: TcpListener,
    client: Client,
    service: String,
    group: Option<String>,
    instance: Instance,
    live: LiveConfig,
    watcher: Option<JoinHandle<()>>,
    grace: Duration,
}

impl Started {
    /// The client (naming and config) the service uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The instance registered.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, AxumError> {
        Ok(self.listener.local_addr()?)
    }

    /// The live settings.
    pub fn live(&self) -> LiveConfig {
        self.live.clone()
    }

    /// Serves until `shutdown` completes; then deregisters, waits the
    /// grace period, stops taking connections and finishes the requests in
    /// flight.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AxumError> {
        let Started {
            router,
            listener,
            client,
            service,
            group,
            instance,
            watcher,
            grace,
            ..
        } = self;
        let deregistering = Arc::new(client.clone());
        let stop = async move {
            shutdown.await;
            match deregistering
                .naming()
                .deregister(&service, group.as_deref(), &instance)
                .await
            {
                Ok(()) => {
                    tracing::info!(service = %service, addr = %instance.addr(), "deregistered")
                }
                Err(e) => tracing::warn!(error = %e, "deregistration failed"),
            }
            tokio::time::sleep(grace).await;
        };
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await;
        if let Some(w) = watcher {
            w.abort();
        }
        drop(client);
        Ok(served?)
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
