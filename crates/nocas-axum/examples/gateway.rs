//! `gateway`: discovers `order-service` instances and proxies every request
//! to one of them, splitting traffic between versions by the gray rule in
//! its config `gateway.yaml`:
//!
//! ```yaml
//! gray:
//!   version: v2     # instances with metadata version=v2 get...
//!   percent: 20     # ...20 % of requests, by hash of x-request-id
//! ```
//!
//! It keeps serving from its last known view (and from the disk cache at
//! start-up) when the registry is down, and retries a request once on
//! another instance when an instance does not answer.
//!
//! ```text
//! cargo run -p nocas-axum --example gateway -- --port 8080
//! curl -H 'x-request-id: 42' http://127.0.0.1:8080/orders
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use nocas_axum::gray::VERSION_KEY;
use nocas_axum::{GrayRouter, GrayRule, NocasApp, init_tracing};

#[path = "common/mod.rs"]
mod common;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: common::Common,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The service to route to.
    #[arg(long, default_value = "order-service")]
    upstream: String,
    /// Largest request body proxied, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
}

struct Proxy {
    http: reqwest::Client,
    gray: GrayRouter,
    max_body: usize,
}

const REQUEST_ID: &str = "x-request-id";

fn reply(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"code": status.as_u16(), "message": message})),
    )
        .into_response()
}

/// Headers that belong to one connection and are not forwarded.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

async fn proxy(p: Arc<Proxy>, req: Request) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, p.max_body).await {
        Ok(b) => b,
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let mut tried: Vec<String> = Vec::new();
    // One try, and one more on another instance if the first is unreachable.
    for _ in 0..2 {
        let Some(pick) = p.gray.pick_excluding(&id, &tried) else {
            break;
        };
        let target = pick.instance.addr();
        let mut out = p
            .http
            .request(parts.method.clone(), format!("http://{target}{path}"))
            .body(body.clone());
        for (k, v) in &parts.headers {
            if k != axum::http::header::HOST && !hop_by_hop(k) {
                out = out.header(k, v);
            }
        }
        let upstream = match out.header(REQUEST_ID, &id).send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%target, error = %e, "upstream failed; trying another");
                tried.push(target);
                continue;
            }
        };
        let status = upstream.status();
        let headers = upstream.headers().clone();
        let bytes = match upstream.bytes().await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%target, error = %e, "upstream body failed");
                return reply(StatusCode::BAD_GATEWAY, "upstream failed mid-answer");
            }
        };
        let mut resp = Response::new(Body::from(bytes));
        *resp.status_mut() = status;
        for (k, v) in &headers {
            if !hop_by_hop(k) {
                resp.headers_mut().insert(k.clone(), v.clone());
            }
        }
        let version = pick
            .instance
            .metadata
            .get(VERSION_KEY)
            .cloned()
            .unwrap_or_default();
        for (k, v) in [
            ("x-upstream", target),
            ("x-upstream-version", version),
            ("x-gray", pick.gray.to_string()),
            (REQUEST_ID, id.clone()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(HeaderName::from_static(k), v);
            }
        }
        return resp;
    }
    reply(
        StatusCode::SERVICE_UNAVAILABLE,
        "no instance of the upstream service answers",
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log = init_tracing(&args.common.log_level)?;
    let listener = args.common.listen(args.port).await?;
    let addr = listener.local_addr()?;
    let options = args.common.options("gateway");
    let gray = GrayRouter::new(GrayRule::default());
    let p = Arc::new(Proxy {
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(10))
            .build()?,
        gray: gray.clone(),
        max_body: args.max_body,
    });
    let rules = gray.clone();
    let app = NocasApp::new("gateway")
        .client_options(options)
        .env(args.common.env.clone())
        .log_control(log)
        .on_config(move |s| {
            let rule = GrayRule::from_values(&s.values);
            tracing::info!(?rule, "gray rule");
            rules.set_rule(rule);
        })
        .fallback(move |req: Request| proxy(p.clone(), req));
    let started = app.start(listener).await?;
    gray.follow(started.client(), &args.upstream, None).await?;
    println!("gateway listening on {addr}");
    started.serve(nocas_axum::shutdown_signal()).await?;
    println!("gateway stopped");
    Ok(())
}
