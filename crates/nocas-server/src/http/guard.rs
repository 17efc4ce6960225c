//! The access check of every HTTP route, when auth is on.
//!
//! Owns the map from a matched route (method + path template) and its
//! parameters to the [`Need`] it requires; anything not listed needs a
//! global administrator, so a new route is closed until it is classified.
//! The decision is taken on the route the request was dispatched to, after
//! the path was made canonical (`canonical_path`), so spelling tricks such
//! as `//`, `/./`, `%2e%2e`, a trailing slash or capitals reach the same
//! decision as the plain path. Parameters are read here once, with the same
//! parsers the handlers use, and handed to the handler.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use nocas_core::auth::{Action, Resource, ResourceKind};

use crate::app::AppRef;
use crate::auth::Need;
use crate::error::ApiError;
use crate::http::params::Params;
use crate::http::transfer::{self, V1Mode};
use crate::http::{config, parse};

/// Checks the caller's token against what the route needs.
pub async fn guard(State(app): State<AppRef>, req: Request, next: Next) -> Response {
    if !app.auth.enabled() {
        return next.run(req).await;
    }
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let v2 = crate::http::params::is_v2(&path);
    let (mut parts, body) = req.into_parts();
    let mut p = match Params::read_ahead(&parts, body, app.settings.limits.max_body_bytes).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let need = need(
        &parts.method,
        &path,
        &p,
        app.settings.limits.max_listen_keys,
    );
    let verdict = {
        let state = app.node.state().read();
        app.auth.check(state.auth(), token_of(&p), &need)
    };
    match verdict {
        Ok(user) => {
            crate::observe::set_user(user.as_deref());
            p.user = user;
            parts.extensions.insert(p);
            next.run(Request::from_parts(parts, Body::empty())).await
        }
        Err(denied) => {
            let user = app.auth.subject(token_of(&p)).map(|s| s.user);
            crate::auth::events::refused(
                &app,
                &denied,
                user.as_deref(),
                &format!(
                    "{} {path} {}",
                    parts.method,
                    crate::auth::events::describe_need(&need)
                ),
            );
            let err = ApiError::Forbidden(denied.to_string());
            if v2 { err.into_v2() } else { err.into_v1() }
        }
    }
}

/// The token a request carries: the `accessToken` parameter, else the
/// `accessToken` header, else `Authorization: Bearer`.
pub fn token_of(p: &Params) -> Option<&str> {
    p.get("accessToken")
        .or_else(|| p.header("accessToken"))
        .or_else(|| {
            p.header("authorization")
                .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
                .map(str::trim)
        })
}

fn action(method: &Method) -> Action {
    if *method == Method::GET || *method == Method::HEAD {
        Action::Read
    } else {
        Action::Write
    }
}

/// The service a naming call names, as the handlers parse it; when that
/// fails (the handler will refuse the call) the raw parameters.
fn naming(p: &Params) -> Resource {
    match parse::service_key(p) {
        Ok(k) => Resource::service(&k),
        Err(_) => Resource::new(
            p.get("namespaceId").unwrap_or(""),
            p.get("groupName").unwrap_or(""),
            ResourceKind::Naming,
            p.get("serviceName").unwrap_or(""),
        ),
    }
}

/// A namespace-wide naming call (lists): the group if given, no name.
fn naming_list(p: &Params) -> Resource {
    Resource::new(
        p.get("namespaceId").unwrap_or(""),
        p.get("groupName").unwrap_or(""),
        ResourceKind::Naming,
        "",
    )
}

/// The config a config call names (namespace parameter `tenant_param`).
fn config(p: &Params, tenant_param: &str) -> Resource {
    match parse::config_key(p, tenant_param) {
        Ok(k) => Resource::config(&k),
        Err(_) => Resource::new(
            p.get(tenant_param).unwrap_or(""),
            p.get("group").unwrap_or(""),
            ResourceKind::Config,
            p.get("dataId").unwrap_or(""),
        ),
    }
}

fn config_list(p: &Params, tenant_param: &str) -> Resource {
    Resource::new(
        p.get(tenant_param).unwrap_or(""),
        p.get("group").unwrap_or(""),
        ResourceKind::Config,
        "",
    )
}

/// Every config a long poll listens to.
fn listened(p: &Params, max_keys: usize) -> Vec<Resource> {
    let raw = p.raw("Listening-Configs").unwrap_or("");
    config::parse_listening(raw, max_keys)
        .map(|items| items.iter().map(|l| Resource::config(&l.key)).collect())
        .unwrap_or_default()
}

/// What a route needs. Unlisted routes need an administrator.
pub fn need(method: &Method, path: &str, p: &Params, max_listen_keys: usize) -> Need {
    let act = action(method);
    let read = *method == Method::GET;
    let admin_unless_read = if read {
        Need::Authenticated
    } else {
        Need::Admin
    };
    if let Some(rest) = path
        .strip_prefix("/nacos/v1/ns")
        .or_else(|| path.strip_prefix("/nacos/v2/ns"))
    {
        return match rest {
            "/instance" | "/service" | "/catalog/instances" => Need::Access(vec![naming(p)], act),
            "/instance/list" | "/service/subscribers" => {
                Need::Access(vec![naming(p)], Action::Read)
            }
            "/instance/beat" | "/cluster" | "/health/instance" | "/health" => {
                Need::Access(vec![naming(p)], Action::Write)
            }
            "/service/list" | "/catalog/services" => {
                Need::Access(vec![naming_list(p)], Action::Read)
            }
            "/health/server" | "/operator/metrics" | "/ops/metrics" | "/operator/switches" => {
                Need::Authenticated
            }
            _ => Need::Admin,
        };
    }
    if let Some(rest) = path
        .strip_prefix("/nacos/v3/admin/ns")
        .or_else(|| path.strip_prefix("/nacos/v3/client/ns"))
    {
        return match rest {
            "/instance" | "/service" => Need::Access(vec![naming(p)], act),
            "/instance/list" | "/service/subscribers" => {
                Need::Access(vec![naming(p)], Action::Read)
            }
            "/instance/partial" | "/instance/metadata/batch" | "/cluster" | "/health/instance" => {
                Need::Access(vec![naming(p)], Action::Write)
            }
            "/service/list" => Need::Access(vec![naming_list(p)], Action::Read),
            "/service/selector/types" | "/health/checkers" | "/ops/metrics" | "/ops/switches" => {
                Need::Authenticated
            }
            "/client/service/publisher/list" | "/client/service/subscriber/list" => {
                Need::Access(vec![naming(p)], Action::Read)
            }
            _ => Need::Admin,
        };
    }
    match path {
        "/nacos/v3/admin/cs/config" | "/nacos/v3/admin/cs/config/beta" => {
            Need::Access(vec![config(p, "namespaceId")], act)
        }
        "/nacos/v3/admin/cs/config/metadata" => {
            Need::Access(vec![config(p, "namespaceId")], Action::Write)
        }
        "/nacos/v3/client/cs/config"
        | "/nacos/v3/console/cs/config"
        | "/nacos/v3/admin/cs/config/listener"
        | "/nacos/v3/admin/cs/history"
        | "/nacos/v3/admin/cs/history/list"
        | "/nacos/v3/admin/cs/history/previous" => {
            Need::Access(vec![config(p, "namespaceId")], Action::Read)
        }
        "/nacos/v3/admin/cs/config/list" | "/nacos/v3/admin/cs/history/configs" => {
            Need::Access(vec![config_list(p, "namespaceId")], Action::Read)
        }
        "/nacos/v3/admin/core/namespace"
        | "/nacos/v3/admin/core/namespace/list"
        | "/nacos/v3/admin/core/namespace/check"
        | "/nacos/v3/admin/core/cluster/node/self"
        | "/nacos/v3/admin/core/cluster/node/list" => admin_unless_read,
        "/nacos/v3/admin/core/state"
        | "/nacos/v3/admin/core/state/liveness"
        | "/nacos/v3/admin/core/state/readiness"
        | "/nacos/v1/console/server/state"
        | "/nacos/v3/auth/user/admin" => Need::Public,
        "/nacos/v3/auth/user" if *method == Method::PUT => {
            Need::AdminOrSelf(p.get("username").unwrap_or("").to_string())
        }
        // Export, import and clone act on a whole namespace.
        "/nacos/v1/cs/configs" => match transfer::v1_mode(method, p) {
            Some(V1Mode::Export | V1Mode::ExportV2) => {
                Need::Access(vec![config_list(p, "tenant")], Action::Read)
            }
            Some(V1Mode::Import) => Need::Access(vec![config_list(p, "namespace")], Action::Write),
            Some(V1Mode::Clone) => Need::Access(vec![config_list(p, "tenant")], Action::Write),
            None => Need::Access(vec![config(p, "tenant")], act),
        },
        "/nacos/v3/admin/cs/config/batch" if p.get("namespaceId").is_some() => {
            Need::Access(vec![config_list(p, "namespaceId")], Action::Write)
        }
        "/nacos/v3/admin/cs/config/export" | "/nacos/v3/console/cs/config/export2" => {
            Need::Access(vec![config_list(p, "namespaceId")], Action::Read)
        }
        "/nacos/v3/admin/cs/config/import"
        | "/nacos/v3/console/cs/config/import"
        | "/nacos/v3/admin/cs/config/clone" => {
            Need::Access(vec![config_list(p, "namespaceId")], Action::Write)
        }
        "/nacos/v3/console/cs/config/clone" => {
            Need::Access(vec![config_list(p, "targetNamespaceId")], Action::Write)
        }
        "/nacos/v1/cs/configs/listener" => Need::Access(listened(p, max_listen_keys), Action::Read),
        "/nacos/v1/cs/configs/beta/promote" => {
            Need::Access(vec![config(p, "tenant")], Action::Write)
        }
        "/nacos/v1/cs/history" | "/nacos/v1/cs/history/previous" => {
            Need::Access(vec![config(p, "tenant")], Action::Read)
        }
        "/nacos/v1/cs/history/configs" => {
            Need::Access(vec![config_list(p, "tenant")], Action::Read)
        }
        "/nacos/v2/cs/config" => Need::Access(vec![config(p, "namespaceId")], act),
        "/nacos/v2/cs/config/beta/promote" => {
            Need::Access(vec![config(p, "namespaceId")], Action::Write)
        }
        "/nacos/v2/cs/history" | "/nacos/v2/cs/history/previous" => {
            Need::Access(vec![config(p, "namespaceId")], Action::Read)
        }
        "/nacos/v2/cs/history/list" => Need::Access(vec![config(p, "namespaceId")], Action::Read),
        "/nacos/v2/cs/history/configs" => {
            Need::Access(vec![config_list(p, "namespaceId")], Action::Read)
        }
        "/nacos/v1/console/namespaces"
        | "/nacos/v2/console/namespace"
        | "/nacos/v2/console/namespace/list"
        | "/nacos/v1/core/cluster/nodes"
        | "/nacos/v2/core/cluster/node"
        | "/nacos/v2/core/cluster/node/list"
        | "/nacos/v2/core/cluster/node/self"
        | "/nacos/v2/core/cluster/node/self/digest"
        | "/nacos/v2/core/cluster/node/self/health" => admin_unless_read,
        "/nacos/v1/console/health/liveness"
        | "/nacos/v1/console/health/readiness"
        | "/nacos/v2/console/health/liveness"
        | "/nacos/v2/console/health/readiness"
        | "/nacos/v1/auth/login"
        | "/nacos/v1/auth/users/login"
        | "/nacos/v3/auth/user/login"
        | "/nacos/actuator/prometheus"
        | "/metrics" => Need::Public,
        // The console's files: its login page must load without a token.
        "/"
        | "/nacos"
        | "/nacos/index.html"
        | "/nacos/console/app.js"
        | "/nacos/console/app.css"
        | "/nacos/console/icon.svg" => Need::Public,
        "/nacos/v3/console/session"
        | "/nacos/v3/console/summary"
        | "/nacos/v3/console/cs/config/check"
        | "/nacos/v3/console/diff" => Need::Authenticated,
        "/nacos/v1/auth/users" if *method == Method::PUT => {
            Need::AdminOrSelf(p.get("username").unwrap_or("").to_string())
        }
        _ => Need::Admin,
    }
}

/// `path` made canonical: repeated slashes merged, `.` and `..` segments
/// resolved (also when percent-encoded), a trailing slash dropped, and
/// ASCII letters lowered (every route is lower case). `None` when the path
/// is canonical already (the common case costs one scan).
pub fn canonical_path(path: &str) -> Option<String> {
    // One scan for what needs work: `//`, `/.`, `%`, an upper-case letter.
    let mut prev = 0u8;
    let suspicious = path.bytes().any(|b| {
        let odd = b == b'%' || b.is_ascii_uppercase() || (prev == b'/' && (b == b'/' || b == b'.'));
        prev = b;
        odd
    }) || (path.len() > 1 && path.ends_with('/'));
    if !suspicious {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let mut out: Vec<String> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s.to_ascii_lowercase()),
        }
    }
    let joined = format!("/{}", out.join("/"));
    // Re-encode what a path may not hold literally.
    let encoded = percent_encoding::utf8_percent_encode(&joined, PATH_UNSAFE).to_string();
    (encoded != path).then_some(encoded)
}

const PATH_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'%');

/// Rewrites a request's path to its canonical form before routing.
pub fn canonicalize(mut req: Request) -> Request {
    if let Some(path) = canonical_path(req.uri().path()) {
        let pq = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse::<axum::http::uri::PathAndQuery>() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths() {
        assert_eq!(canonical_path("/nacos/v1/cs/configs"), None);
        let c = |p: &str| canonical_path(p).unwrap_or_else(|| p.to_string());
        assert_eq!(c("//nacos/v1/cs/configs"), "/nacos/v1/cs/configs");
        assert_eq!(c("/nacos/v1/cs/configs/"), "/nacos/v1/cs/configs");
        assert_eq!(c("/nacos/V1/CS/Configs"), "/nacos/v1/cs/configs");
        assert_eq!(
            c("/nacos/v1/auth/login/%2e%2e/../cs/configs"),
            "/nacos/v1/cs/configs"
        );
        assert_eq!(
            c("/nacos/v1/auth/%2E%2E/cs/./configs"),
            "/nacos/v1/cs/configs"
        );
        assert_eq!(c("/../../nacos/v1/cs/configs"), "/nacos/v1/cs/configs");
        assert_eq!(c("/nacos/v1/cs/configs%2f"), "/nacos/v1/cs/configs");
        assert_eq!(c("/a%20b/"), "/a%20b");
        assert_eq!(c("/"), "/");
    }

    #[test]
    fn routes_map_to_needs() {
        let p = Params::from_pairs([("tenant", "A"), ("group", "G"), ("dataId", "d")]);
        assert_eq!(
            need(&Method::GET, "/nacos/v1/cs/configs", &p, 10),
            Need::Access(
                vec![Resource::new("A", "G", ResourceKind::Config, "d")],
                Action::Read
            )
        );
        assert_eq!(
            need(&Method::POST, "/nacos/v1/cs/configs", &p, 10),
            Need::Access(
                vec![Resource::new("A", "G", ResourceKind::Config, "d")],
                Action::Write
            )
        );
        let n = Params::from_pairs([("serviceName", "G2@@svc"), ("namespaceId", "B")]);
        assert_eq!(
            need(&Method::DELETE, "/nacos/v2/ns/instance", &n, 10),
            Need::Access(
                vec![Resource::new("B", "G2", ResourceKind::Naming, "svc")],
                Action::Write
            )
        );
        assert_eq!(
            need(&Method::GET, "/nacos/v1/auth/users", &p, 10),
            Need::Admin
        );
        assert_eq!(need(&Method::GET, "/nacos/v9/unknown", &p, 10), Need::Admin);
        assert_eq!(
            need(&Method::POST, "/nacos/v1/auth/login", &p, 10),
            Need::Public
        );
        let l = Params::from_pairs([(
            "Listening-Configs",
            "a\u{2}G\u{2}md5\u{2}A\u{1}b\u{2}G\u{2}md5\u{2}B\u{1}",
        )]);
        match need(&Method::POST, "/nacos/v1/cs/configs/listener", &l, 10) {
            Need::Access(r, Action::Read) => assert_eq!(r.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
