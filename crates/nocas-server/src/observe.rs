//! Who is asking, and how requests went: the actor of the request being
//! handled (for the audit trail), the HTTP middleware that times every
//! request for the metrics, the request log and the slow-request log, and
//! the same bookkeeping for gRPC requests.
//!
//! Owns the request-scoped context (a task-local set around each request,
//! made into an audit [`Actor`] only when the request writes) and what is
//! logged about a request: method, route template, status, time and
//! client address, never the query string, body or headers, so no
//! password or token can reach a log line from here. Must not decide
//! access (that is `http::guard` and `grpc::guard`).

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Uri};
use axum::response::Response;
use nocas_core::audit::Actor;

use crate::app::AppRef;
use crate::metrics::Exception;
use crate::settings::ReadConsistency;

/// What is known of the caller while a request is handled (kept cheap:
/// nothing is formatted unless the request writes).
#[derive(Debug, Default)]
pub struct RequestCtx {
    peer: Option<IpAddr>,
    forwarded: Option<HeaderValue>,
    user: Option<String>,
    via: &'static str,
}

impl RequestCtx {
    /// A gRPC request from `peer`.
    pub fn grpc(peer: IpAddr) -> Self {
        Self {
            peer: Some(peer),
            via: "grpc",
            ..Self::default()
        }
    }

    fn actor(&self) -> Actor {
        Actor {
            user: self.user.clone(),
            ip: self.peer.map(|p| p.to_string()).unwrap_or_default(),
            forwarded: self.forwarded.as_ref().and_then(first_hop),
            via: self.via.to_string(),
        }
    }
}

tokio::task_local! {
    static CTX: RefCell<RequestCtx>;
}

/// Runs `fut` with `ctx` as the request's context.
pub async fn with_ctx<F: std::future::Future>(ctx: RequestCtx, fut: F) -> F::Output {
    CTX.scope(RefCell::new(ctx), fut).await
}

/// The actor of the request being handled, if any.
pub fn current_actor() -> Option<Actor> {
    CTX.try_with(|c| c.borrow().actor()).ok()
}

/// Names the authenticated user of the request being handled.
pub fn set_user(user: Option<&str>) {
    let _ = CTX.try_with(|c| c.borrow_mut().user = user.map(str::to_owned));
}

/// The first address a forwarding header names.
fn first_hop(v: &HeaderValue) -> Option<String> {
    v.to_str()
        .ok()
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .map(str::to_owned)
}

/// The peer address of a request, and the forwarding header it carries
/// (`X-Forwarded-For`, else `X-Real-IP`), kept as sent.
fn client_addr(req: &Request) -> (Option<IpAddr>, Option<HeaderValue>) {
    let (xff, real) = crate::http::params::forwarding_headers(req.headers());
    let forwarded = xff.or(real).cloned();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
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

/// The layer that times every HTTP request, counts it, logs it when asked
/// (or when slow) and runs it with its context set. A plain tower layer
/// around the whole router (not `Router::layer`, which wraps and boxes
/// every route once more): no boxed future, no boxed service per request.
///
/// Every route is a static path, so a routed request's (canonical) path
/// is its route template; the router's fallback marks its answers
/// [`Unrouted`], and those are counted under no route, so the metrics'
/// label set stays as small as the route table.
#[derive(Clone)]
pub struct HttpLayer {
    app: AppRef,
}

impl HttpLayer {
    /// A layer over `app`'s metrics and settings.
    pub fn new(app: AppRef) -> Self {
        Self { app }
    }
}

impl<S> tower::Layer<S> for HttpLayer {
    type Service = HttpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpService {
            inner,
            app: self.app.clone(),
        }
    }
}

/// Marks a response that no route answered (the router's fallback).
#[derive(Debug, Clone, Copy)]
pub struct Unrouted;

/// See [`HttpLayer`].
#[derive(Clone)]
pub struct HttpService<S> {
    inner: S,
    app: AppRef,
}

/// What is noted of a request before it runs.
struct Seen {
    app: AppRef,
    started: Instant,
    method: axum::http::Method,
    /// The request's URI: its path is the route, if one answered.
    uri: Uri,
    peer: Option<IpAddr>,
    fuzzy: bool,
}

/// Whether a request must pass a read barrier first: a config or naming
/// read, with linearizable reads configured or `consistent=true` asked.
fn wants_barrier(app: &AppRef, req: &Request) -> bool {
    let read = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    // Cheapest tests first: most requests ask for no consistent read.
    let asked = app.settings.consistency.reads == ReadConsistency::Linearizable
        || req
            .uri()
            .query()
            .is_some_and(|q| has_pair(q, "consistent=true"));
    if !(read && asked) {
        return false;
    }
    let route = req.uri().path();
    [
        "/nacos/v1/cs/",
        "/nacos/v2/cs/",
        "/nacos/v1/ns/",
        "/nacos/v2/ns/",
        "/nacos/v3/client/",
        "/nacos/v3/admin/cs/",
        "/nacos/v3/admin/ns/",
    ]
    .iter()
    .any(|p| route.starts_with(p))
}

/// Whether the query string `q` holds the pair `kv` exactly (a substring
/// search first, so a query without it is not split).
fn has_pair(q: &str, kv: &str) -> bool {
    q.contains(kv) && q.split('&').any(|p| p == kv)
}

impl<S> tower::Service<Request> for HttpService<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures::future::Either<
        HttpFuture<S::Future>,
        futures::future::BoxFuture<'static, Result<Response, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let (peer, forwarded) = client_addr(&req);
        let barrier = wants_barrier(&self.app, &req);
        let seen = Seen {
            app: self.app.clone(),
            started: Instant::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            peer,
            fuzzy: req
                .uri()
                .query()
                .is_some_and(|q| has_pair(q, "search=blur")),
        };
        let ctx = RequestCtx {
            peer,
            forwarded,
            user: None,
            via: "http",
        };
        if barrier {
            // The service polled ready is the one called; a clone stays.
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            let app = self.app.clone();
            return futures::future::Either::Right(Box::pin(async move {
                if let Err(e) = app.node.read_barrier().await {
                    let path = req.uri().path().to_string();
                    let resp = crate::http::params::render_for_path(
                        &path,
                        crate::error::ApiError::Unavailable(format!(
                            "consistent read not possible: {e}"
                        )),
                    );
                    // Not routed yet: counted under no route, so that
                    // unknown paths cannot grow the label set.
                    http_done(seen, resp.status().as_u16(), false);
                    return Ok(resp);
                }
                HttpFuture {
                    inner: CTX.scope(RefCell::new(ctx), inner.call(req)),
                    seen: Some(seen),
                }
                .await
            }));
        }
        futures::future::Either::Left(HttpFuture {
            inner: CTX.scope(RefCell::new(ctx), self.inner.call(req)),
            seen: Some(seen),
        })
    }
}

pin_project_lite::pin_project! {
    /// The future of [`HttpService`].
    pub struct HttpFuture<F> {
        #[pin]
        inner: tokio::task::futures::TaskLocalFuture<RefCell<RequestCtx>, F>,
        seen: Option<Seen>,
    }
}

impl<F, E> std::future::Future for HttpFuture<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let (Ok(resp), Some(seen)) = (&out, this.seen.take()) {
            let routed = resp.extensions().get::<Unrouted>().is_none();
            http_done(seen, resp.status().as_u16(), routed);
        }
        Poll::Ready(out)
    }
}

fn http_done(seen: Seen, status: u16, routed: bool) {
    let Seen {
        app,
        started,
        method,
        uri,
        peer,
        fuzzy,
    } = seen;
    let took = started.elapsed();
    let route = routed.then(|| uri.path());
    app.metrics.observe_http(&method, route, status, took);
    if let Some(r) = route
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
    log_request(
        &app,
        "http",
        method.as_str(),
        route.unwrap_or("-"),
        status,
        took,
        peer,
    );
}

/// Records a gRPC request of `type_name` that answered `code` in `took`.
pub fn grpc_done(app: &AppRef, type_name: &str, code: i32, took: Duration, peer: IpAddr) {
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
    log_request(app, "grpc", "", class, status, took, Some(peer));
}

fn log_request(
    app: &AppRef,
    via: &'static str,
    method: &str,
    route: &str,
    status: u16,
    took: Duration,
    peer: Option<IpAddr>,
) {
    let slow = app.settings.log.slow_request_ms;
    let is_slow = slow > 0 && took >= Duration::from_millis(slow);
    if !is_slow && !app.settings.log.requests {
        return;
    }
    let ms = took.as_secs_f64() * 1000.0;
    let client = peer.map(|p| p.to_string()).unwrap_or_default();
    if is_slow {
        app.metrics.count_slow();
        tracing::warn!(target: "nocas::slow", via, method, route, status, took_ms = ms, client, "slow request");
    } else {
        tracing::info!(target: "nocas::request", via, method, route, status, took_ms = ms, client, "request");
    }
}

#[cfg(test)]
mod tests {
    use super::has_pair;

    #[test]
    fn pairs_match_whole() {
        assert!(has_pair("consistent=true", "consistent=true"));
        assert!(has_pair(
            "dataId=a&consistent=true&group=g",
            "consistent=true"
        ));
        assert!(!has_pair("inconsistent=true", "consistent=true"));
        assert!(!has_pair("consistent=trueish", "consistent=true"));
        assert!(!has_pair("dataId=consistent%3Dtrue", "consistent=true"));
        assert!(!has_pair("", "search=blur"));
    }
}
