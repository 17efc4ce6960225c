//! Criterion benchmarks of the HTTP read paths, in process (no sockets):
//! the user-space cost of a config get and an instance list through the
//! full HTTP service (the router and its outer layers), beside a bare axum handler serving 1 KiB (the same
//! baseline `nocas-bench hello` serves over TCP). Compare the medians in
//! one run; `scripts/bench-vs-rnacos.sh` measures the same paths over
//! loopback against r-nacos.

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use nocas_testkit::TestServer;
use tower::ServiceExt;

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri)
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("request {uri}: {e}"))
}

async fn drain<S>(svc: &S, uri: &str) -> usize
where
    S: tower::Service<
            Request<Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone,
{
    let resp = svc
        .clone()
        .oneshot(get_req(uri))
        .await
        .unwrap_or_else(|e| match e {});
    assert!(resp.status().is_success(), "{uri}: {}", resp.status());
    let body = resp.into_body().collect().await;
    body.map(|b| b.to_bytes().len()).unwrap_or(0)
}

fn reads(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let (server, nocas) = rt.block_on(async {
        let server = TestServer::start().await;
        let http = reqwest::Client::new();
        let content = "a".repeat(1024);
        let ok = http
            .post(server.url("/nacos/v1/cs/configs"))
            .form(&[
                ("dataId", "bench"),
                ("group", "DEFAULT_GROUP"),
                ("content", &content),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("publish: {e}"));
        assert!(ok.status().is_success());
        for port in 0..10 {
            let port = (20_000 + port).to_string();
            let ok = http
                .post(server.url("/nacos/v1/ns/instance"))
                .form(&[
                    ("serviceName", "bench"),
                    ("ip", "10.0.0.1"),
                    ("port", port.as_str()),
                    ("ephemeral", "false"),
                ])
                .send()
                .await
                .unwrap_or_else(|e| panic!("register: {e}"));
            assert!(ok.status().is_success());
        }
        let router = nocas_server::http::service(server.running().app().clone(), false);
        (server, router)
    });
    let body = "a".repeat(1024);
    let hello = axum::Router::new().route("/", get(move || std::future::ready(body.clone())));

    let mut g = c.benchmark_group("http");
    g.bench_function("hello_1k", |b| b.to_async(&rt).iter(|| drain(&hello, "/")));
    g.bench_function("config_get_1k", |b| {
        b.to_async(&rt).iter(|| {
            drain(
                &nocas,
                "/nacos/v1/cs/configs?dataId=bench&group=DEFAULT_GROUP",
            )
        })
    });
    g.bench_function("instance_list_10", |b| {
        b.to_async(&rt)
            .iter(|| drain(&nocas, "/nacos/v1/ns/instance/list?serviceName=bench"))
    });
    g.finish();
    rt.block_on(server.stop());
}

criterion_group!(benches, reads);
criterion_main!(benches);
