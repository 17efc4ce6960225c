//! The config-driven middleware: on each request it loads the current
//! [`LiveSettings`] (lock-free) and applies `mode` and `timeout.ms`.
//!
//! - `mode: normal`: the handler answers, bounded by `timeout.ms` (answer
//!   504 with a reason when it runs out).
//! - `mode: mock`: the `mock.<route>` body answers (JSON when it parses as
//!   JSON, else text); the handler is not called. A route without a mock
//!   body answers 501 with a reason.
//! - `mode: debug`: like normal, and each request and response is logged
//!   (method, path, status, time, and bodies up to [`DEBUG_BODY_LIMIT`]
//!   bytes) at INFO under the target `nocas_axum::debug`, whatever the log
//!   level of the rest.
//!
//! Owns: request handling policy. Must not touch the registry or the
//! config center; it only reads [`LiveConfig`].

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::live::{LiveConfig, LiveSettings, Mode};

/// Largest body `debug` mode logs; larger bodies are logged by size only.
pub const DEBUG_BODY_LIMIT: usize = 16 * 1024;

/// Adds the live layer to a router (every route and the fallback), and
/// makes the [`LiveConfig`] available to handlers as an `Extension`.
pub fn apply(router: Router, live: LiveConfig) -> Router {
    router
        .layer(middleware::from_fn_with_state(live.clone(), live_layer))
        .layer(axum::Extension(live))
}

fn error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({"code": status.as_u16(), "message": message});
    (status, axum::Json(body)).into_response()
}

/// The middleware function (see the module docs).
pub async fn live_layer(State(live): State<LiveConfig>, req: Request, next: Next) -> Response {
    let settings = live.load();
    match settings.mode {
        Mode::Mock => mock(&settings, &req),
        Mode::Normal => bounded(settings.timeout, next.run(req)).await,
        Mode::Debug => debug(settings.timeout, req, next).await,
    }
}

async fn bounded(timeout: Option<Duration>, fut: impl Future<Output = Response>) -> Response {
    match timeout {
        None => fut.await,
        Some(t) => match tokio::time::timeout(t, fut).await {
            Ok(r) => r,
            Err(_) => error(
                StatusCode::GATEWAY_TIMEOUT,
                format!("request timed out after {} ms (timeout.ms)", t.as_millis()),
            ),
        },
    }
}

fn mock(settings: &LiveSettings, req: &Request) -> Response {
    let path = req.uri().path();
    let body = settings.mock_for(path).or_else(|| {
        req.extensions()
            .get::<MatchedPath>()
            .and_then(|m| settings.mock_for(m.as_str()))
    });
    match body {
        Some(b) => {
            let ct = if serde_json_like(b) {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            let mut r = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, ct)],
                Body::from(b.clone()),
            )
                .into_response();
            r.headers_mut()
                .insert("x-nocas-mock", HeaderValue::from_static("true"));
            r
        }
        None => error(
            StatusCode::NOT_IMPLEMENTED,
            format!("mode is mock and the config has no mock.{path} body"),
        ),
    }
}

/// Whether a mock body looks like JSON (object or array), to set its
/// content type.
fn serde_json_like(s: &str) -> bool {
    let t = s.trim();
    (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'))
}

async fn buffer(body: Body, exact: Option<u64>) -> Result<(Body, Option<Bytes>), Body> {
    match exact {
        Some(n) if n as usize <= DEBUG_BODY_LIMIT => {
            match axum::body::to_bytes(body, DEBUG_BODY_LIMIT).await {
                Ok(b) => Ok((Body::from(b.clone()), Some(b))),
                // The body failed while being read: pass an empty one on;
                // the handler sees what a broken client sent.
                Err(_) => Err(Body::empty()),
            }
        }
        _ => Ok((body, None)),
    }
}

fn show(b: &Option<Bytes>, size: Option<u64>) -> String {
    match (b, size) {
        (Some(b), _) => String::from_utf8_lossy(b).into_owned(),
        (None, Some(n)) => format!("<{n} bytes>"),
        (None, None) => "<streamed>".into(),
    }
}

async fn debug(timeout: Option<Duration>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let req_size = body.size_hint().exact();
    let (body, req_bytes) = match buffer(body, req_size).await {
        Ok(x) => x,
        Err(empty) => (empty, None),
    };
    tracing::info!(
        target: "nocas_axum::debug",
        method = %parts.method,
        uri = %parts.uri,
        body = %show(&req_bytes, req_size),
        "request"
    );
    let (method, uri) = (parts.method.clone(), parts.uri.clone());
    let resp = bounded(timeout, next.run(Request::from_parts(parts, body))).await;
    let (rparts, rbody) = resp.into_parts();
    let resp_size = rbody.size_hint().exact();
    let (rbody, resp_bytes) = match buffer(rbody, resp_size).await {
        Ok(x) => x,
        Err(empty) => (empty, None),
    };
    tracing::info!(
        target: "nocas_axum::debug",
        method = %method,
        uri = %uri,
        status = rparts.status.as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        body = %show(&resp_bytes, resp_size),
        "response"
    );
    Response::from_parts(rparts, rbody)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn call(router: &Router, path: &str) -> (StatusCode, String) {
        let resp = router
            .clone()
            .oneshot(Request::builder().uri(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn router(live: &LiveConfig) -> Router {
        apply(
            Router::new()
                .route("/orders", get(|| async { "real" }))
                .route("/orders/{id}", get(|| async { "one" }))
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        "late"
                    }),
                ),
            live.clone(),
        )
    }

    #[tokio::test]
    async fn modes_switch_live() {
        let live = LiveConfig::default();
        let r = router(&live);
        assert_eq!(call(&r, "/orders").await, (StatusCode::OK, "real".into()));

        live.store(LiveSettings::parse(
            "mode: mock\nmock:\n  /orders: '[1]'\n  /orders/{id}: '{\"id\":0}'\n",
        ));
        assert_eq!(call(&r, "/orders").await, (StatusCode::OK, "[1]".into()));
        assert_eq!(
            call(&r, "/orders/7").await,
            (StatusCode::OK, "{\"id\":0}".into())
        );
        let (status, body) = call(&r, "/slow").await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
        assert!(body.contains("mock./slow"), "{body}");

        live.store(LiveSettings::parse("mode: debug\n"));
        assert_eq!(call(&r, "/orders").await, (StatusCode::OK, "real".into()));

        live.store(LiveSettings::parse("timeout.ms: 50\n"));
        let (status, body) = call(&r, "/slow").await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert!(body.contains("50 ms"), "{body}");
        assert_eq!(call(&r, "/orders").await, (StatusCode::OK, "real".into()));
    }
}
