//! The access check of every gRPC request, when auth is on.
//!
//! Owns the map from a request type and its decoded body to the [`Need`]
//! it requires, and where a gRPC call's token is read: the payload's
//! `metadata.headers["accessToken"]` (what the SDKs send), else the body's
//! `headers` map. Unknown request types are refused by the dispatcher
//! before they get here.

use std::collections::HashMap;

use nocas_core::auth::{Action, Resource, ResourceKind};
use nocas_proto::grpc::{ConfigBase, ConfigBatchListenRequest, NamingBase};

use crate::app::App;
use crate::auth::token::Subject;
use crate::auth::{Denied, Need};
use crate::grpc::handlers::{config_key, service_key};

/// The resource a naming request names (as the handler parses it, else
/// the raw fields).
pub fn naming(n: &NamingBase) -> Resource {
    match service_key(n) {
        Ok(k) => Resource::service(&k),
        Err(_) => Resource::new(
            n.namespace.as_deref().unwrap_or(""),
            n.group_name.as_deref().unwrap_or(""),
            ResourceKind::Naming,
            n.service_name.as_deref().unwrap_or(""),
        ),
    }
}

/// A namespace-wide naming request (service lists).
pub fn naming_list(n: &NamingBase) -> Resource {
    Resource::new(
        n.namespace.as_deref().unwrap_or(""),
        n.group_name.as_deref().unwrap_or(""),
        ResourceKind::Naming,
        "",
    )
}

/// The config a config request names.
pub fn config(c: &ConfigBase) -> Resource {
    match config_key(c) {
        Ok(k) => Resource::config(&k),
        Err(_) => Resource::new(
            c.tenant.as_deref().unwrap_or(""),
            c.group.as_deref().unwrap_or(""),
            ResourceKind::Config,
            c.data_id.as_deref().unwrap_or(""),
        ),
    }
}

/// Every config a batch listen names.
pub fn listened(r: &ConfigBatchListenRequest) -> Vec<Resource> {
    r.config_listen_contexts
        .iter()
        .map(|c| {
            config(&ConfigBase {
                data_id: c.data_id.clone(),
                group: c.group.clone(),
                tenant: c.tenant.clone(),
                ..Default::default()
            })
        })
        .collect()
}

/// Read or write on one resource.
pub fn access(r: Resource, write: bool) -> Need {
    Need::Access(vec![r], if write { Action::Write } else { Action::Read })
}

/// The token of a call: metadata header first, then the body's headers.
fn token<'a>(
    meta: Option<&'a HashMap<String, String>>,
    body_headers: Option<&'a HashMap<String, String>>,
) -> Option<&'a str> {
    [meta, body_headers]
        .into_iter()
        .flatten()
        .find_map(|h| h.get("accessToken"))
        .map(String::as_str)
        .filter(|t| !t.is_empty())
}

/// Decides a call; answers with who the token named.
pub fn check(
    app: &App,
    meta: Option<&HashMap<String, String>>,
    body_headers: Option<&HashMap<String, String>>,
    need: &Need,
) -> Result<Option<Subject>, Denied> {
    if !app.auth.enabled() {
        return Ok(None);
    }
    let token = token(meta, body_headers);
    let verdict = {
        let state = app.node.state().read();
        app.auth.check_subject(state.auth(), token, need)
    };
    match verdict {
        Ok(subject) => {
            crate::observe::set_user(subject.as_ref().map(|s| s.user.as_str()));
            Ok(subject)
        }
        Err(denied) => {
            let user = app.auth.subject(token).map(|s| s.user);
            crate::auth::events::refused(
                app,
                &denied,
                user.as_deref(),
                &crate::auth::events::describe_need(need),
            );
            Err(denied)
        }
    }
}
