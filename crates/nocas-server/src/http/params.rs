//! Request parameters the Nacos way: from the query string or a
//! form-encoded body, for every method, the query string winning (as a
//! servlet's `getParameter` does), plus the client's IP.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;

use nocas_core::error::ValidationError;

use crate::error::ApiError;

/// Merged request parameters, headers and client address.
#[derive(Debug, Default)]
pub struct Params {
    /// Name/value pairs, first spelling of a name wins; a handful per
    /// request, so a linear scan beats hashing.
    pairs: Vec<(String, String)>,
    /// Request headers.
    pub headers: HeaderMap,
    /// Client IP: `X-Forwarded-For`'s first hop, else `X-Real-IP`, else the
    /// peer address (as Nacos's `RequestUtil.getRemoteIp`).
    pub client_ip: String,
}

fn is_v2(path: &str) -> bool {
    path.get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case("/nacos/v2/"))
}

fn add_pairs(pairs: &mut Vec<(String, String)>, encoded: &[u8]) {
    for (k, v) in form_urlencoded::parse(encoded) {
        if !pairs.iter().any(|(n, _)| *n == *k) {
            pairs.push((k.into_owned(), v.into_owned()));
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let v2 = is_v2(req.uri().path());
        let (mut parts, body) = req.into_parts();
        let headers = std::mem::take(&mut parts.headers);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let form_body = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|ct| {
                ct.get(..33)
                    .is_some_and(|p| p.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
            });
        let mut pairs = Vec::new();
        if let Some(q) = parts.uri.query() {
            add_pairs(&mut pairs, q.as_bytes());
        }
        // A body is read only when there may be one (GETs have none).
        if !axum::body::HttpBody::is_end_stream(&body) {
            let req = Request::from_parts(parts, body);
            let body = Bytes::from_request(req, state).await.map_err(|rej| {
                let err = if rej.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge("request body is larger than the configured limit".into())
                } else {
                    ApiError::BadRequest(format!("cannot read request body: {rej}"))
                };
                if v2 { err.into_v2() } else { err.into_v1() }
            })?;
            if form_body && !body.is_empty() {
                add_pairs(&mut pairs, &body);
            }
        }
        let client_ip = forwarded_ip(&headers)
            .or_else(|| peer.map(|ip| ip.to_string()))
            .unwrap_or_else(|| "127.0.0.1".to_string());
        Ok(Self {
            pairs,
            headers,
            client_ip,
        })
    }
}

fn forwarded_ip(headers: &HeaderMap) -> Option<String> {
    let xff = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let real = headers
        .get("x-real-ip")
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
        let mut all: Vec<(String, String)> = Vec::new();
        for (k, v) in pairs {
            if !all.iter().any(|(n, _)| n == k) {
                all.push((k.to_string(), v.to_string()));
            }
        }
        Self {
            pairs: all,
            ..Default::default()
        }
    }

    /// The raw value, possibly empty.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
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
