//! Who is asking, and how requests went: the actor of the request being
//! handled (for the audit trail), the HTTP middleware that times every
//! request for the metrics, the request log and the slow-request log, and
//! the same bookkeeping for gRPC requests.
//!
//! Owns the request-scoped actor (a task-local set around each request)
//! and what is logged about a request: method, route template, status,
//! time and client address, never the query string, body or headers, so
//! no password or token can reach a log line from here. Must not decide
//! access (that is `http::guard` and `grpc::guard`).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use nocas_core::audit::Actor;

use crate::app::AppRef;
use crate::metrics::Exception;

tokio::task_local! {
    static ACTOR: RefCell<Actor>;
}

/// Runs `fut` with `actor` as the request's actor.
pub async fn with_actor<F: std::future::Future>(actor: Actor, fut: F) -> F::Output {
    ACTOR.scope(RefCell::new(actor), fut).await
}

/// The actor of the request being handled, if any.
pub fn current_actor() -> Option<Actor> {
    ACTOR.try_with(|a| a.borrow().clone()).ok()
}

/// Names the authenticated user of the request being handled.
pub fn set_user(user: Option<&str>) {
    let _ = ACTOR.try_with(|a| a.borrow_mut().user = user.map(str::to_owned));
}

/// The peer address of a request, and what a forwarding header claims
/// (`X-Forwarded-For`'s first hop, else `X-Real-IP`).
fn client_addr(req: &Request) -> (String, Option<String>) {
    let h = req.headers();
    let forwarded = h
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .or_else(|| {
            h.get("x-real-ip")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.len() <= 64)
        })
        .map(str::to_owned);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    (peer, forwarded)
}

/// Config routes (for Nacos's config exception counters).
fn is_config_route(route: &str) -> bool {
    route.contains("/cs/")
}

/// The routes that read or write one config (Nacos's `readConfigRt` and
/// `writeConfigRt`).
fn is_config_item_route(route: &str) -> bool {
    matches!(
        route,
        "/nacos/v1/cs/configs"
            | "/nacos/v2/cs/config"
            | "/nacos/v3/client/cs/config"
            | "/nacos/v3/admin/cs/config"
    )
}

/// Times every HTTP request, counts it, logs it when asked (or when slow)
/// and runs it with its actor set.
pub async fn http(State(app): State<AppRef>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let (ip, forwarded) = client_addr(&req);
    let fuzzy = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "search=blur"));
    let actor = Actor {
        user: None,
        ip: ip.clone(),
        forwarded,
        via: "http".into(),
    };
    let resp = with_actor(actor, next.run(req)).await;
    let took = started.elapsed();
    let status = resp.status().as_u16();
    app.metrics
        .observe_http(&method, route.as_deref(), status, took);
    if let Some(r) = route.as_deref()
        && is_config_route(r)
    {
        if is_config_item_route(r) && status < 400 {
            if method == axum::http::Method::GET {
                if fuzzy {
                    app.metrics.config_searched();
                } else {
                    app.metrics.config_read(took);
                }
            } else {
                app.metrics.config_written(took);
            }
        }
        if status == 400 {
            app.metrics.exception(Exception::IllegalArgument);
        } else if status >= 500 {
            app.metrics.exception(Exception::Nacos);
        }
    }
    let route = route.as_deref().unwrap_or("-");
    log_request(&app, "http", method.as_str(), route, status, took, &ip);
    resp
}

/// Records a gRPC request of `type_name` that answered `code` in `took`.
pub fn grpc_done(app: &AppRef, type_name: &str, code: i32, took: Duration, ip: &str) {
    app.metrics.observe_grpc(type_name, code, took);
    if code == 0 {
        match type_name {
            "ConfigQueryRequest" | "ConfigBatchListenRequest" => app.metrics.config_read(took),
            "ConfigPublishRequest" | "ConfigRemoveRequest" => app.metrics.config_written(took),
            _ => {}
        }
    }
    let (class, _) = crate::metrics::labels::grpc_class(type_name);
    let status = u16::try_from(code.clamp(0, 999)).unwrap_or(0);
    log_request(app, "grpc", "", class, status, took, ip);
}

fn log_request(
    app: &AppRef,
    via: &'static str,
    method: &str,
    route: &str,
    status: u16,
    took: Duration,
    ip: &str,
) {
    let ms = took.as_secs_f64() * 1000.0;
    let slow = app.settings.log.slow_request_ms;
    if slow > 0 && took >= Duration::from_millis(slow) {
        app.metrics.count_slow();
        tracing::warn!(target: "nocas::slow", via, method, route, status, took_ms = ms, client = ip, "slow request");
    } else if app.settings.log.requests {
        tracing::info!(target: "nocas::request", via, method, route, status, took_ms = ms, client = ip, "request");
    }
}
