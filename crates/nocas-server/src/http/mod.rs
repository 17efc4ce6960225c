//! The HTTP front end (axum): Nacos Open API v1 and v2, console endpoints,
//! health probes and metrics.
//!
//! Handlers are thin: [`params`] merges query and form parameters, [`parse`]
//! validates them into domain values, the `ops` modules do the work, and
//! [`crate::error`] renders failures. Handlers never touch durable state
//! except through `ops`, which writes through the Raft log.

pub mod auth;
pub mod clients;
pub mod config;
pub mod console;
pub mod guard;
pub mod naming;
pub mod params;
pub mod parse;
pub mod transfer;
pub mod v3;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get, post, put};

use crate::app::AppRef;

/// Routes added under a prefix. The routes are flat (full paths in one
/// router): `Router::nest` costs a prefix strip and a nested dispatch on
/// every request.
struct Mount(Router<AppRef>, &'static str);

impl Mount {
    fn route(self, path: &str, method: MethodRouter<AppRef>) -> Self {
        let Mount(r, prefix) = self;
        Mount(r.route(&format!("{prefix}{path}"), method), prefix)
    }
}

/// Builds the router over `app`, with the web console's files when
/// `console`. Every route is a static path (the request timing layer,
/// [`crate::observe::HttpLayer`], takes a routed request's path as its
/// route template); the fallback marks its answers
/// [`crate::observe::Unrouted`].
fn router(app: AppRef, console: bool) -> Router {
    let r = Mount(Router::new(), "/nacos/v1/ns")
        .route(
            "/instance",
            post(naming::v1_register)
                .delete(naming::v1_deregister)
                .put(naming::v1_update)
                .patch(naming::v1_patch)
                .get(naming::v1_detail),
        )
        .route("/instance/list", get(naming::v1_list))
        .route("/instance/beat", put(naming::v1_beat).post(naming::v1_beat))
        .route(
            "/service",
            post(naming::v1_create_service)
                .put(naming::v1_update_service)
                .delete(naming::v1_delete_service)
                .get(naming::v1_get_service),
        )
        .route("/service/list", get(naming::v1_list_services))
        .route("/service/subscribers", get(clients::v1_subscribers))
        .route("/cluster", put(naming::v1_update_cluster))
        .route("/health/instance", put(naming::v1_health))
        .route("/health", put(naming::v1_health))
        .route("/health/server", get(naming::v1_health_server))
        .route("/operator/metrics", get(naming::v1_operator_metrics))
        .route("/ops/metrics", get(naming::v1_operator_metrics))
        .route("/operator/switches", get(naming::v1_switches))
        .route("/catalog/services", get(naming::v1_catalog_services))
        .route("/catalog/instances", get(naming::v1_catalog_instances))
        .0;
    let r = Mount(r, "/nacos/v2/ns")
        .route(
            "/instance",
            post(naming::v2_register)
                .delete(naming::v2_deregister)
                .put(naming::v2_update)
                .patch(naming::v2_patch)
                .get(naming::v2_detail),
        )
        .route("/instance/list", get(naming::v2_list))
        .route("/instance/beat", put(naming::v2_beat))
        .route(
            "/service",
            post(naming::v2_create_service)
                .put(naming::v2_update_service)
                .delete(naming::v2_delete_service)
                .get(naming::v2_get_service),
        )
        .route("/service/list", get(naming::v2_list_services))
        .route("/service/subscribers", get(clients::v2_subscribers))
        .route("/health/instance", put(naming::v2_health))
        .route("/operator/metrics", get(naming::v2_operator_metrics))
        .route("/operator/switches", get(naming::v2_switches))
        .route("/catalog/instances", get(naming::v2_catalog_instances))
        .route("/client/list", get(clients::list))
        .route("/client", get(clients::detail))
        .route("/client/publish/list", get(clients::published))
        .route("/client/subscribe/list", get(clients::subscribed))
        .0;
    let r = Mount(r, "/nacos/v1/cs")
        .route(
            "/configs",
            get(config::v1_get)
                .post(config::v1_publish)
                .delete(config::v1_remove),
        )
        .route("/configs/listener", post(config::v1_listener))
        .route("/configs/beta/promote", post(config::v1_promote_beta))
        .route("/history", get(config::v1_history))
        .route("/history/previous", get(config::v1_history_previous))
        .route("/history/configs", get(config::v1_history_configs))
        .0;
    let r = Mount(r, "/nacos/v2/cs")
        .route(
            "/config",
            get(config::v2_get)
                .post(config::v2_publish)
                .delete(config::v2_remove),
        )
        .route("/config/beta/promote", post(config::v2_promote_beta))
        .route("/client/listen/list", get(clients::listening))
        .route("/history/list", get(config::v2_history_list))
        .route("/history", get(config::v2_history))
        .route("/history/previous", get(config::v2_history_previous))
        .route("/history/configs", get(config::v2_history_configs))
        .0;
    let r = Mount(r, "/nacos")
        .route(
            "/v1/console/namespaces",
            get(console::v1_namespaces)
                .post(console::v1_create_namespace)
                .put(console::v1_update_namespace)
                .delete(console::v1_delete_namespace),
        )
        .route(
            "/v2/console/namespace/list",
            get(console::v2_namespace_list),
        )
        .route(
            "/v2/console/namespace",
            get(console::v2_namespace_get)
                .post(console::v2_namespace_create)
                .put(console::v2_namespace_update)
                .delete(console::v2_namespace_delete),
        )
        .route("/v1/console/health/liveness", get(console::liveness))
        .route("/v1/console/health/readiness", get(console::readiness))
        .route("/v2/console/health/liveness", get(console::v2_liveness))
        .route("/v2/console/health/readiness", get(console::v2_readiness))
        .route("/v1/core/cluster/nodes", get(console::v1_nodes))
        .route("/v2/core/cluster/node/self", get(console::v2_node_self))
        .route(
            "/v2/core/cluster/node/self/digest",
            get(console::v2_node_digest),
        )
        .route(
            "/v2/core/cluster/node",
            post(console::v2_node_add).delete(console::v2_node_remove),
        )
        .route("/v2/core/cluster/node/list", get(console::v2_node_list))
        .route("/v1/core/ops/raft", post(v3::core::raft_ops_v1))
        .route("/v2/core/ops/raft", post(v3::core::raft_ops_v2))
        .route(
            "/v2/core/cluster/node/self/health",
            get(console::v2_node_health),
        )
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/users/login", post(auth::login))
        .route("/v3/auth/user/login", post(auth::login_v3))
        .route(
            "/v1/auth/users",
            get(auth::list_users)
                .post(auth::create_user)
                .put(auth::update_user)
                .delete(auth::delete_user),
        )
        .route(
            "/v1/auth/roles",
            get(auth::list_roles)
                .post(auth::add_role)
                .delete(auth::delete_role),
        )
        .route(
            "/v1/auth/permissions",
            get(auth::list_permissions)
                .post(auth::add_permission)
                .delete(auth::delete_permission),
        )
        .route("/actuator/prometheus", get(console::prometheus));
    let r = v3::mount(r).0;
    let r = r.route("/metrics", get(console::prometheus));
    let r = if console {
        r.merge(nocas_console::router())
    } else {
        r
    };
    // With auth on, every route above is checked; the fallback only answers
    // 404. With auth off the layer is left out (it would cost a boxed
    // future per request for nothing).
    let r = if app.auth.enabled() {
        r.route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::guard,
        ))
    } else {
        r
    };
    r.fallback(console::not_found).with_state(app)
}

/// The whole HTTP service over `app`: paths made canonical before routing
/// (so the access check sees the route a request is served by, however
/// its path was spelled, and the timing layer's path is the route's
/// template), the request timing layer, the body limit, then the
/// `router`. These wrap the router once: a `Router::layer` wraps (and
/// boxes) every route again, which every request pays for.
pub fn service(
    app: AppRef,
    console: bool,
) -> impl tower::Service<
    axum::extract::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone
+ Send
+ Sync
+ 'static {
    let body_limit = app.settings.limits.max_body_bytes;
    tower::ServiceBuilder::new()
        .map_request(guard::canonicalize)
        .layer(crate::observe::HttpLayer::new(app.clone()))
        .layer(DefaultBodyLimit::max(body_limit))
        .service(router(app, console))
}

/// A stored string served as a response body without copying it.
struct SharedStr(std::sync::Arc<str>);

impl AsRef<[u8]> for SharedStr {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A cached JSON document served as a response body without copying it.
struct SharedJson(std::sync::Arc<serde_json::value::RawValue>);

impl AsRef<[u8]> for SharedJson {
    fn as_ref(&self) -> &[u8] {
        self.0.get().as_bytes()
    }
}

/// The bytes of a shared string, without a copy.
pub(crate) fn shared_bytes(s: std::sync::Arc<str>) -> axum::body::Bytes {
    axum::body::Bytes::from_owner(SharedStr(s))
}

/// The body of a shared string.
pub(crate) fn shared_str(s: std::sync::Arc<str>) -> axum::body::Body {
    axum::body::Body::from(shared_bytes(s))
}

/// The body of a shared JSON document.
pub(crate) fn shared_json(v: std::sync::Arc<serde_json::value::RawValue>) -> axum::body::Body {
    axum::body::Body::from(axum::body::Bytes::from_owner(SharedJson(v)))
}
