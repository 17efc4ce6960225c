//! Request parameters the Nacos way: from the query string or a
//! form-encoded body, for every method, the query string winning (as a
//! servlet's `getParameter` does), plus the client's IP.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;

use nocas_core::error::ValidationError;

use crate::error::ApiError;

/// Merged request parameters, headers and client address.
#[derive(Debug, Default, Clone)]
pub struct Params {
    /// Name/value pairs, first spelling of a name wins; a handful per
    /// request, so a linear scan beats hashing.
    pairs: Pairs,
    /// Request headers.
    pub headers: HeaderMap,
    /// Client IP: `X-Forwarded-For`'s first hop, else `X-Real-IP`, else the
    /// peer address (as Nacos's `RequestUtil.getRemoteIp`). Informational:
    /// the caller chooses those headers.
    pub client_ip: String,
    /// The TCP peer's address, which the caller cannot choose (login
    /// lockout counts by it).
    pub peer: Option<std::net::IpAddr>,
    /// The user the access check authenticated (auth on), who is recorded
    /// as the author of what the request changes.
    pub user: Option<String>,
    /// The raw body when it is not a form (multipart uploads, JSON).
    pub body: Option<Bytes>,
}

/// Whether errors on `path` are rendered in the `{code, message, data}`
/// envelope (v2 and v3).
pub fn is_v2(path: &str) -> bool {
    path.get(..10).is_some_and(|p| {
        p.eq_ignore_ascii_case("/nacos/v2/") || p.eq_ignore_ascii_case("/nacos/v3/")
    })
}

fn is_v3(path: &str) -> bool {
    path.get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case("/nacos/v3/"))
}

/// Decoded name/value pairs in one buffer (two allocations a request,
/// not two a pair).
#[derive(Debug, Default, Clone)]
struct Pairs {
    text: String,
    /// Each pair's name start, name end (= value start) and value end in
    /// `text`.
    spans: Vec<[usize; 3]>,
}

impl Pairs {
    fn with_capacity(bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            spans: Vec::with_capacity(8),
        }
    }

    fn find(&self, name: &str) -> Option<&str> {
        // Names compared as bytes: no char-boundary checks per pair.
        let bytes = self.text.as_bytes();
        self.spans
            .iter()
            .find(|&&[k, v, _]| bytes.get(k..v) == Some(name.as_bytes()))
            .and_then(|&[_, v, end]| self.text.get(v..end))
    }

    /// Adds `name=value` unless `name` is there already.
    fn add(&mut self, name: &str, value: &str) {
        if self.find(name).is_some() {
            return;
        }
        let k = self.text.len();
        self.text.push_str(name);
        let v = self.text.len();
        self.text.push_str(value);
        self.spans.push([k, v, self.text.len()]);
    }
}

/// Adds the pairs of a form-encoded string. Most requests escape nothing
/// (no `%`, no `+`): those are split in one pass, as `form_urlencoded`
/// splits them (empty pieces skipped, a name ending at its first `=`),
/// without its per-pair decoding. A string with an escape goes through
/// `form_urlencoded`; the plain pairs added before the escape was seen
/// are the same pairs it decodes, so adding them again changes nothing.
fn add_pairs(pairs: &mut Pairs, encoded: &[u8]) {
    if let Ok(text) = std::str::from_utf8(encoded)
        && add_plain_pairs(pairs, text)
    {
        return;
    }
    for (k, v) in form_urlencoded::parse(encoded) {
        pairs.add(&k, &v);
    }
}

/// Adds `text`'s pairs while none is escaped; false at the first escape.
fn add_plain_pairs(pairs: &mut Pairs, text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut add = |start: usize, eq: Option<usize>, end: usize| {
        if end > start {
            let (k, v) = match eq {
                Some(eq) => (text.get(start..eq), text.get(eq + 1..end)),
                None => (text.get(start..end), Some("")),
            };
            if let (Some(k), Some(v)) = (k, v) {
                pairs.add(k, v);
            }
        }
    };
    let (mut start, mut eq) = (0, None);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'%' | b'+' => return false,
            b'=' if eq.is_none() => eq = Some(i),
            b'&' => {
                add(start, eq, i);
                (start, eq) = (i + 1, None);
            }
            _ => {}
        }
    }
    add(start, eq, bytes.len());
    true
}

/// Whether a form body should be read for parameters.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| {
            ct.get(..33)
                .is_some_and(|p| p.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        })
}

fn body_error(too_large: bool, detail: &str, v2: bool) -> Response {
    let err = if too_large {
        ApiError::TooLarge("request body is larger than the configured limit".into())
    } else {
        ApiError::BadRequest(format!("cannot read request body: {detail}"))
    };
    if v2 { err.into_v2() } else { err.into_v1() }
}

impl Params {
    fn assemble(parts: &Parts, headers: HeaderMap, body: Option<Bytes>) -> Self {
        // A body is either a form (its pairs join the query's) or raw.
        let (form, raw) = match body.filter(|b| !b.is_empty()) {
            Some(b) if is_form(&headers) => (Some(b), None),
            other => (None, other),
        };
        let query = parts.uri.query();
        let mut pairs =
            Pairs::with_capacity(query.map_or(0, str::len) + form.as_ref().map_or(0, Bytes::len));
        if let Some(q) = query {
            add_pairs(&mut pairs, q.as_bytes());
        }
        if let Some(f) = &form {
            add_pairs(&mut pairs, f);
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let client_ip = forwarded_ip(&headers)
            .or_else(|| peer.map(ip_string))
            .unwrap_or_else(|| "127.0.0.1".to_string());
        // Nacos 3 names a config's group `groupName`: read it wherever the
        // older routes' parsers read `group`.
        if is_v3(parts.uri.path())
            && pairs.find("group").is_none()
            && let Some(g) = pairs.find("groupName").map(str::to_owned)
        {
            pairs.add("group", &g);
        }
        Self {
            pairs,
            headers,
            client_ip,
            peer,
            user: None,
            body: raw,
        }
    }

    /// Reads the parameters of a request whose head stays usable (the
    /// access check reads them before the handler; the handler then takes
    /// them from the request's extensions instead of the spent body).
    pub async fn read_ahead(parts: &Parts, body: Body, max_body: usize) -> Result<Self, Response> {
        let v2 = is_v2(parts.uri.path());
        let bytes = if axum::body::HttpBody::is_end_stream(&body) {
            None
        } else {
            match axum::body::to_bytes(body, max_body).await {
                Ok(b) => Some(b),
                Err(e) => {
                    let too_large = std::error::Error::source(&e)
                        .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                    return Err(body_error(too_large, &e.to_string(), v2));
                }
            }
        };
        Ok(Self::assemble(parts, parts.headers.clone(), bytes))
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(mut req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(read) = req.extensions_mut().remove::<Params>() {
            return Ok(read);
        }
        let v2 = is_v2(req.uri().path());
        let headers = std::mem::take(req.headers_mut());
        // A body is read only when there may be one (GETs have none).
        if axum::body::HttpBody::is_end_stream(req.body()) {
            let (parts, _) = req.into_parts();
            return Ok(Self::assemble(&parts, headers, None));
        }
        let head = clone_head(&req);
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            body_error(
                rej.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                &rej.to_string(),
                v2,
            )
        })?;
        Ok(Self::assemble(&head, headers, Some(bytes)))
    }
}

/// The bits of a request head [`Params::assemble`] reads (URI and peer).
fn clone_head(req: &Request) -> Parts {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.uri = req.uri().clone();
    if let Some(ci) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        parts.extensions.insert(*ci);
    }
    parts
}

/// `X-Forwarded-For` (a named constant: a lookup by `&str` parses the
/// name on every request).
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Real-IP`.
pub(crate) const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// `ip` as text, the way `Display` writes it; IPv4 without the
/// formatting machinery (it runs on every request).
pub(crate) fn ip_string(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut s = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if octet >= 100 {
            s.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            s.push(char::from(b'0' + octet / 10 % 10));
        }
        s.push(char::from(b'0' + octet % 10));
    }
    s
}

/// The first `X-Forwarded-For` and `X-Real-IP` values: one walk over the
/// few headers a request has, instead of hashing both names (this runs on
/// every request; most have neither).
pub(crate) fn forwarding_headers(
    headers: &HeaderMap,
) -> (Option<&HeaderValue>, Option<&HeaderValue>) {
    let (mut xff, mut real) = (None, None);
    for (name, value) in headers {
        if xff.is_none() && *name == X_FORWARDED_FOR {
            xff = Some(value);
        } else if real.is_none() && *name == X_REAL_IP {
            real = Some(value);
        }
    }
    (xff, real)
}

fn forwarded_ip(headers: &HeaderMap) -> Option<String> {
    let (xff, real) = forwarding_headers(headers);
    let xff = xff
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let real = real
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    xff.or(real).map(str::to_owned)
}

/// Parses a boolean the lenient way SDKs spell them (`true`, `True`, `1`...).
pub fn parse_bool(field: &'static str, raw: &str) -> Result<bool, ValidationError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ValidationError::Invalid {
            field,
            reason: format!("'{raw}' is not a boolean"),
        }),
    }
}

impl Params {
    /// Builds params from pairs (tests, and reuse by other front ends).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut all = Pairs::default();
        for (k, v) in pairs {
            all.add(k, v);
        }
        Self {
            pairs: all,
            ..Default::default()
        }
    }

    /// The raw value, possibly empty.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.pairs.find(name)
    }

    /// A non-blank value, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw(name).map(str::trim).filter(|s| !s.is_empty())
    }

    /// The first non-blank value among several spellings.
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }

    /// A required non-blank value.
    pub fn required(&self, name: &'static str) -> Result<&str, ValidationError> {
        self.get(name)
            .ok_or(ValidationError::Missing { field: name })
    }

    /// An optional boolean.
    pub fn bool_opt(&self, name: &'static str) -> Result<Option<bool>, ValidationError> {
        self.get(name).map(|v| parse_bool(name, v)).transpose()
    }

    /// A boolean with a default.
    pub fn bool_or(&self, name: &'static str, default: bool) -> Result<bool, ValidationError> {
        Ok(self.bool_opt(name)?.unwrap_or(default))
    }

    /// An optional float.
    pub fn f64_opt(&self, name: &'static str) -> Result<Option<f64>, ValidationError> {
        self.get(name)
            .map(|v| {
                v.parse::<f64>().map_err(|_| ValidationError::Invalid {
                    field: name,
                    reason: format!("'{v}' is not a number"),
                })
            })
            .transpose()
    }

    /// An optional non-negative integer.
    pub fn u64_opt(&self, name: &'static str) -> Result<Option<u64>, ValidationError> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| ValidationError::Invalid {
                    field: name,
                    reason: format!("'{v}' is not a non-negative integer"),
                })
            })
            .transpose()
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// Paging parameters, validated against the server's limit.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// 1-based page.
    pub page_no: usize,
    /// Page size.
    pub page_size: usize,
}

impl Paging {
    /// Reads `pageNo`/`pageSize` with defaults; sizes above `max` are capped.
    pub fn from_params(
        p: &Params,
        default_size: usize,
        max: usize,
    ) -> Result<Self, ValidationError> {
        let page_no = p.u64_opt("pageNo")?.unwrap_or(1).max(1) as usize;
        let page_size = p.u64_opt("pageSize")?.unwrap_or(default_size as u64) as usize;
        if page_size == 0 {
            return Err(ValidationError::Invalid {
                field: "pageSize",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            page_no,
            page_size: page_size.min(max),
        })
    }

    /// The slice of `items` on this page.
    pub fn slice<T>(&self, items: Vec<T>) -> Vec<T> {
        let skip = (self.page_no - 1).saturating_mul(self.page_size);
        items.into_iter().skip(skip).take(self.page_size).collect()
    }

    /// Pages needed for `total` items.
    pub fn pages(&self, total: usize) -> usize {
        total.div_ceil(self.page_size)
    }
}

/// Renders any error the v1 or v2 way according to the path.
pub fn render_for_path(path: &str, err: ApiError) -> Response {
    if is_v2(path) {
        err.into_v2()
    } else {
        err.into_v1()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_and_first_spelling_wins() {
        let mut p = Pairs::default();
        add_pairs(&mut p, b"a=1&b=x%20y+z&a=2&c=&d");
        add_pairs(&mut p, b"b=form&e=%E4%B8%AD");
        assert_eq!(p.find("a"), Some("1"));
        assert_eq!(p.find("b"), Some("x y z"));
        assert_eq!(p.find("c"), Some(""));
        assert_eq!(p.find("d"), Some(""));
        assert_eq!(p.find("e"), Some("中"));
        assert_eq!(p.find("f"), None);
        assert_eq!(p.spans.len(), 5);
    }

    #[test]
    fn unescaped_pairs_split_as_form_urlencoded_does() {
        let cases: [&[u8]; 15] = [
            b"",
            b"&",
            b"&&a=1&&",
            b"a",
            b"a=",
            b"=v",
            b"a=b=c",
            b"dataId=x.y&group=DEFAULT_GROUP&tenant=",
            b"a=1&a=2&b",
            b"k=\xe4\xb8\xad&z=9",
            b"bad=\xff\xfe&ok=1",
            b"x=1;y=2&y=3",
            b"a=1&b=x%20y&a=3&c",
            b"p=1&q=a+b&p=2",
            b"e=%E4%B8%AD&f=%zz",
        ];
        for case in cases {
            let mut fast = Pairs::default();
            add_pairs(&mut fast, case);
            let mut slow = Pairs::default();
            for (k, v) in form_urlencoded::parse(case) {
                slow.add(&k, &v);
            }
            assert_eq!(fast.text, slow.text, "{case:?}");
            assert_eq!(fast.spans, slow.spans, "{case:?}");
        }
    }

    #[test]
    fn forwarded_ip_prefers_the_first_hop() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, axum::http::HeaderValue::from_static(v));
            }
            h
        };
        assert_eq!(forwarded_ip(&headers(&[])), None);
        assert_eq!(
            forwarded_ip(&headers(&[("x-real-ip", "10.0.0.2"), ("accept", "*/*")])).as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(
            forwarded_ip(&headers(&[
                ("x-real-ip", "10.0.0.2"),
                ("x-forwarded-for", " 10.0.0.1 , 10.0.0.9"),
                ("x-forwarded-for", "10.0.0.7"),
            ]))
            .as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            forwarded_ip(&headers(&[
                ("x-forwarded-for", " "),
                ("x-real-ip", "10.0.0.3")
            ]))
            .as_deref(),
            Some("10.0.0.3")
        );
    }

    #[test]
    fn ip_strings_match_display() {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        for o in [0u8, 1, 9, 10, 42, 99, 100, 127, 199, 200, 255] {
            for ip in [
                Ipv4Addr::new(o, 0, 255, 1),
                Ipv4Addr::new(10, o, 0, o),
                Ipv4Addr::new(o, o, o, o),
            ] {
                assert_eq!(ip_string(IpAddr::V4(ip)), ip.to_string());
            }
        }
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(ip_string(v6), "::1");
        let mapped = IpAddr::V6(Ipv4Addr::new(1, 2, 3, 4).to_ipv6_mapped());
        assert_eq!(ip_string(mapped), mapped.to_string());
    }

    #[test]
    fn bools_and_numbers() {
        assert!(parse_bool("x", "True").unwrap());
        assert!(!parse_bool("x", "FALSE").unwrap());
        assert!(parse_bool("x", "maybe").is_err());
        let p = Params::from_pairs([("a", " 1.5 "), ("b", ""), ("n", "-1")]);
        assert_eq!(p.f64_opt("a").unwrap(), Some(1.5));
        assert_eq!(p.get("b"), None);
        assert!(p.u64_opt("n").is_err());
        assert!(p.required("b").is_err());
    }

    #[test]
    fn paging() {
        let p = Params::from_pairs([("pageNo", "2"), ("pageSize", "2")]);
        let pg = Paging::from_params(&p, 10, 100).unwrap();
        assert_eq!(pg.slice(vec![1, 2, 3, 4, 5]), vec![3, 4]);
        assert_eq!(pg.pages(5), 3);
        let p = Params::from_pairs([("pageSize", "0")]);
        assert!(Paging::from_params(&p, 10, 100).is_err());
    }
}
