//! The web console: a single-page app served from the binary, plus the two
//! things it needs that the Nacos API does not offer — content checks per
//! config type ([`check`]) and side-by-side diffs ([`diff`]).
//!
//! Owns the static assets under `assets/` (compiled in with
//! `include_str!`, so nothing is fetched at run time) and the response
//! headers that confine them (CSP without inline script or eval, no
//! framing, no sniffing). The pages talk to the server only through its
//! HTTP API, like any other client.
//!
//! Architecture invariant: this crate knows nothing about the server's
//! state; it does not depend on `nocas-server` or `nocas-core`, and every
//! page works with the same calls and permissions as an API user.

pub mod check;
pub mod diff;

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Where the console lives; the pages use absolute paths under it.
pub const BASE: &str = "/nacos";

/// The console's Content-Security-Policy: only its own files, no inline
/// script or style, no eval, no framing, API calls to its own origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// One compiled-in file.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    gzip: OnceLock<Vec<u8>>,
}

impl Asset {
    const fn new(body: &'static str, content_type: &'static str) -> Self {
        Self {
            body,
            content_type,
            gzip: OnceLock::new(),
        }
    }

    fn gzipped(&self) -> &[u8] {
        self.gzip.get_or_init(|| {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            // Writing to a Vec cannot fail.
            let _ = enc.write_all(self.body.as_bytes());
            enc.finish().unwrap_or_default()
        })
    }

    fn respond(&self, req: &HeaderMap) -> Response {
        let gzip = req
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let mut resp = if gzip && !self.gzipped().is_empty() {
            let mut r = self.gzipped().to_vec().into_response();
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        } else {
            self.body.into_response()
        };
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        // The files change only with the binary; revalidating is cheap and
        // an upgrade is seen at once.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        secure(h);
        resp
    }
}

/// Adds the console's security headers to `h`.
pub fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

static INDEX: Asset = Asset::new(
    include_str!("../assets/index.html"),
    "text/html; charset=utf-8",
);
static CSS: Asset = Asset::new(include_str!("../assets/app.css"), "text/css; charset=utf-8");
static ICON: Asset = Asset::new(include_str!("../assets/icon.svg"), "image/svg+xml");
/// The script, in the order its parts depend on each other.
static JS: Asset = Asset::new(
    concat!(
        include_str!("../assets/js/core.js"),
        include_str!("../assets/js/i18n.js"),
        include_str!("../assets/js/editor.js"),
        include_str!("../assets/js/overview.js"),
        include_str!("../assets/js/namespaces.js"),
        include_str!("../assets/js/configs.js"),
        include_str!("../assets/js/services.js"),
        include_str!("../assets/js/clients.js"),
        include_str!("../assets/js/cluster.js"),
        include_str!("../assets/js/audit.js"),
        include_str!("../assets/js/access.js"),
        include_str!("../assets/js/main.js"),
    ),
    "text/javascript; charset=utf-8",
);

/// Total size of the files a first visit loads, uncompressed.
pub fn first_load_bytes() -> usize {
    INDEX.body.len() + CSS.body.len() + ICON.body.len() + JS.body.len()
}

/// Total size of the files a first visit loads, gzip-compressed.
pub fn first_load_gzip_bytes() -> usize {
    [&INDEX, &CSS, &ICON, &JS]
        .iter()
        .map(|a| a.gzipped().len())
        .sum()
}

/// The console's routes: `/` and `/nacos/` lead to the app, its files are
/// under `/nacos/console/`. Paths are lower case (the server lowercases
/// paths before routing) and `/nacos/` arrives as `/nacos`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let files: [(&str, &'static Asset); 5] = [
        (BASE, &INDEX),
        ("/nacos/index.html", &INDEX),
        ("/nacos/console/app.js", &JS),
        ("/nacos/console/app.css", &CSS),
        ("/nacos/console/icon.svg", &ICON),
    ];
    files.into_iter().fold(
        Router::new().route("/", get(|| async { Redirect::temporary("/nacos/") })),
        |r, (path, asset)| {
            r.route(
                path,
                get(move |h: HeaderMap| async move { asset.respond(&h) }),
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn serves_the_app_with_its_security_headers() {
        let app: Router = router();
        let req = axum::http::Request::get("/nacos")
            .header("accept-encoding", "gzip, br")
            .body(axum::body::Body::empty())
            .expect("request");
        let resp = app.oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), axum::http::StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_ENCODING], "gzip");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"));
    }

    #[test]
    fn the_first_load_is_small() {
        assert!(first_load_gzip_bytes() < 300 * 1024);
        assert!(first_load_gzip_bytes() < first_load_bytes());
    }

    #[test]
    fn pages_carry_no_inline_script_or_style() {
        let html = INDEX.body;
        assert!(!html.contains("<script>") && !html.contains("style="));
        assert!(!JS.body.contains("eval("));
    }
}
