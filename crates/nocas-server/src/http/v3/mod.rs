//! Nacos 3's HTTP API: the admin API (`/nacos/v3/admin/...`: config,
//! naming, core), the client API (`/nacos/v3/client/...`) and the auth API
//! (`/nacos/v3/auth/...`), in Nacos 3's names, defaults and shapes, over
//! the same operations as v1 and v2 (which stay served: Nacos 3 answers
//! 410 for most of them by default, Nocas does not).
//!
//! Every answer is the `{code, message, data}` envelope; errors carry the
//! Nacos error code in `code`, its abstract in `message` and the reason
//! in `data`. A config's group is `groupName` (the parameter parser also
//! reads it where older routes read `group`).
//!
//! Owns: the v3 routes and their shapes. Must not touch: state (only
//! through `ops`), other versions' routes.

mod config;
pub(crate) mod core;
mod naming;
mod ui;

use axum::Json;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use nocas_proto::http::V2Result;
use serde_json::Value;

use super::Mount;
use crate::http::{clients, console, transfer};

/// A success envelope around `data`.
fn ok<T: serde::Serialize>(data: T) -> Response {
    Json(V2Result::ok(data)).into_response()
}

/// `v` with top-level fields renamed (`(from, to)` pairs).
fn renamed(mut v: Value, names: &[(&str, &str)]) -> Value {
    if let Some(o) = v.as_object_mut() {
        for (from, to) in names {
            if let Some(x) = o.remove(*from) {
                o.insert((*to).to_string(), x);
            }
        }
    }
    v
}

/// Adds the v3 routes.
pub(super) fn mount(r: Mount) -> Mount {
    let r = Mount(r.0, "/nacos/v3/admin/cs")
        .route(
            "/config",
            get(config::get)
                .post(config::publish)
                .delete(config::remove),
        )
        .route("/config/batch", delete(config::remove_batch))
        .route("/config/export", get(transfer::v3_export))
        .route("/config/import", post(transfer::admin_import))
        .route("/config/clone", post(transfer::admin_clone))
        .route(
            "/config/metadata",
            put(config::update_metadata).post(config::update_metadata),
        )
        .route("/config/list", get(config::list))
        .route("/config/listener", get(config::listeners))
        .route(
            "/config/beta",
            get(config::get_beta).delete(config::remove_beta),
        )
        .route("/history", get(config::history))
        .route("/history/list", get(config::history_list))
        .route("/history/previous", get(config::history_previous))
        .route("/history/configs", get(config::history_configs))
        .route("/listener", get(config::listeners_of_ip));
    let r = Mount(r.0, "/nacos/v3/admin/ns")
        .route(
            "/service",
            post(naming::create_service)
                .put(naming::update_service)
                .delete(naming::delete_service)
                .get(naming::get_service),
        )
        .route("/service/list", get(naming::list_services))
        .route("/service/subscribers", get(naming::subscribers))
        .route("/service/selector/types", get(naming::selector_types))
        .route(
            "/instance",
            post(naming::register)
                .delete(naming::deregister)
                .put(naming::update)
                .get(naming::detail),
        )
        .route("/instance/partial", put(naming::partial))
        .route(
            "/instance/metadata/batch",
            put(naming::metadata_update).delete(naming::metadata_delete),
        )
        .route("/instance/list", get(naming::list))
        .route("/cluster", put(naming::update_cluster))
        .route("/health/instance", put(naming::health))
        .route("/health/checkers", get(naming::checkers))
        .route("/client/list", get(clients::list))
        .route("/client", get(clients::detail))
        .route("/client/publish/list", get(clients::published))
        .route("/client/subscribe/list", get(clients::subscribed))
        .route(
            "/client/service/publisher/list",
            get(clients::service_publishers),
        )
        .route(
            "/client/service/subscriber/list",
            get(clients::service_subscriber_list),
        )
        .route("/client/distro", get(clients::distro))
        .route("/ops/metrics", get(naming::metrics))
        .route("/ops/switches", get(naming::switches));
    let r = Mount(r.0, "/nacos/v3/admin/core")
        .route("/namespace/list", get(core::namespaces))
        .route(
            "/namespace",
            get(core::namespace)
                .post(core::create_namespace)
                .put(core::update_namespace)
                .delete(core::delete_namespace),
        )
        .route("/namespace/check", get(core::check_namespace))
        .route("/cluster/node/self", get(console::v2_node_self))
        .route("/cluster/node/list", get(console::v2_node_list))
        .route("/state", get(core::state))
        .route("/state/liveness", get(console::v2_liveness))
        .route("/state/readiness", get(console::v2_readiness))
        .route("/ops/backup", get(core::backup))
        .route("/ops/raft", post(core::raft_ops_v2))
        .route("/audit", get(core::audit));
    let r = Mount(r.0, "/nacos/v3/client")
        .route("/cs/config", get(config::client_get))
        .route(
            "/ns/instance",
            post(naming::client_register).delete(naming::deregister),
        )
        .route("/ns/instance/list", get(naming::client_list));
    let r = Mount(r.0, "/nacos/v3/auth")
        .route(
            "/user",
            post(core::create_user)
                .put(core::update_user)
                .delete(core::delete_user),
        )
        .route("/user/list", get(core::users))
        .route("/user/search", get(core::search_users))
        .route("/user/admin", post(core::init_admin))
        .route("/role", post(core::add_role).delete(core::delete_role))
        .route("/role/list", get(core::roles))
        .route("/role/search", get(core::search_roles))
        .route(
            "/permission",
            post(core::add_permission)
                .delete(core::delete_permission)
                .get(core::has_permission),
        )
        .route("/permission/list", get(core::permissions));
    let r = Mount(r.0, "/nacos/v3/console")
        .route("/session", get(ui::session))
        .route("/summary", get(ui::summary))
        .route("/clients", get(ui::clients))
        .route("/client", get(ui::client))
        .route("/cs/config", get(ui::config))
        .route("/cs/config/export2", get(transfer::v3_export))
        .route("/cs/config/import", post(transfer::console_import))
        .route("/cs/config/clone", post(transfer::console_clone))
        .route("/cs/config/check", post(ui::check))
        .route("/diff", post(ui::diff));
    Mount(r.0, "/nacos").route("/v1/console/server/state", get(core::v1_state))
}
