//! The HTTP side: a list of servers tried in turn, login, Nacos's answer
//! envelope unwrapped into data or an error with the server's reason.
//!
//! Owns transport and authentication only; it knows no resource. It must
//! not print (commands decide what the user sees).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::error::{CliError, Result};

/// How to reach and log in to the servers.
#[derive(Debug, Clone, Default)]
pub struct Conn {
    /// Servers, `host:port` or URLs, tried in order.
    pub servers: Vec<String>,
    /// User to log in as.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<String>,
    /// A token to use instead of logging in.
    pub token: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Which API generation to speak.
    pub api: ApiChoice,
    /// PEM CA certificates to trust for `https://` servers, besides the
    /// system's.
    pub ca_file: Option<std::path::PathBuf>,
}

/// `--api`: which routes the commands use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ApiChoice {
    /// Nacos 3's admin API when the server has it (Nocas, Nacos 3), else
    /// the v1 Open API (Nacos 1.x/2.x).
    #[default]
    Auto,
    /// Nacos 3's admin API (`/nacos/v3/admin/...`, `/nacos/v3/auth/...`).
    V3,
    /// The v1 Open and console API (`/nacos/v1/...`), as Nacos 2.x serves it.
    V1,
}

/// A connected API client (cheap to share by reference).
#[derive(Debug)]
pub struct Api {
    http: reqwest::Client,
    bases: Vec<String>,
    current: AtomicUsize,
    token: Option<String>,
    legacy: bool,
}

/// A request body.
#[derive(Debug, Clone, Default)]
pub enum Body {
    /// None.
    #[default]
    Empty,
    /// Form fields.
    Form(Vec<(String, String)>),
    /// JSON.
    Json(Value),
    /// One file, as multipart field `file`.
    File(String, Vec<u8>),
}

/// Query or form pairs.
pub type Pairs = Vec<(String, String)>;

/// Builds pairs from `(&str, impl ToString)`, leaving out `None`s.
#[macro_export]
macro_rules! pairs {
    ($($k:expr => $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut v: $crate::api::Pairs = Vec::new();
        $( if let Some(x) = $crate::api::opt($v) { v.push(($k.to_string(), x)); } )*
        v
    }};
}

/// Something that may give a parameter value.
pub trait ParamValue {
    /// The value, if any.
    fn param(self) -> Option<String>;
}

impl ParamValue for &str {
    fn param(self) -> Option<String> {
        Some(self.to_string())
    }
}
impl ParamValue for String {
    fn param(self) -> Option<String> {
        Some(self)
    }
}
impl ParamValue for &String {
    fn param(self) -> Option<String> {
        Some(self.clone())
    }
}
impl<T: ParamValue> ParamValue for Option<T> {
    fn param(self) -> Option<String> {
        self.and_then(ParamValue::param)
    }
}
macro_rules! display_param {
    ($($t:ty),*) => {$(
        impl ParamValue for $t {
            fn param(self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}
display_param!(u16, u32, u64, usize, i32, i64, f64, bool);

/// Helper for [`pairs!`].
pub fn opt(v: impl ParamValue) -> Option<String> {
    v.param()
}

/// `host:port` or a URL to a base URL without a trailing slash.
pub fn base_url(server: &str) -> Result<String> {
    let s = server.trim().trim_end_matches('/');
    if s.is_empty() {
        return Err(CliError::Usage("an empty --server".into()));
    }
    let s = s.strip_suffix("/nacos").unwrap_or(s);
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(s.to_string())
    } else if s.contains("://") {
        Err(CliError::Usage(format!(
            "--server {server}: only http and https"
        )))
    } else {
        Ok(format!("http://{s}"))
    }
}

fn transport_failed(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request()
}

impl Api {
    /// Connects: checks the server list and logs in when a user is given.
    pub async fn connect(conn: &Conn) -> Result<Self> {
        let mut bases = Vec::new();
        for s in &conn.servers {
            for one in s.split(',').filter(|x| !x.trim().is_empty()) {
                bases.push(base_url(one)?);
            }
        }
        if bases.is_empty() {
            bases.push("http://127.0.0.1:8848".into());
        }
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .timeout(conn.timeout)
            .connect_timeout(conn.timeout.min(Duration::from_secs(5)));
        if let Some(path) = &conn.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                CliError::Failed(format!("cannot read the CA file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                CliError::Failed(format!("{} holds no PEM certificate: {e}", path.display()))
            })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| CliError::Failed(format!("cannot build an HTTP client: {e}")))?;
        let mut api = Self {
            http,
            bases,
            current: AtomicUsize::new(0),
            token: conn.token.clone().filter(|t| !t.is_empty()),
            legacy: conn.api == ApiChoice::V1,
        };
        if conn.api == ApiChoice::Auto {
            // Nacos 3 and Nocas answer this without a login; Nacos 2 has
            // no such route.
            let (status, _) = api
                .send(Method::GET, "/nacos/v3/admin/core/state", &[], Body::Empty)
                .await?;
            api.legacy = status == StatusCode::NOT_FOUND;
        }
        if api.token.is_none()
            && let Some(user) = &conn.username
        {
            let password = conn.password.clone().unwrap_or_default();
            api.token = Some(api.login(user, &password).await?);
        }
        Ok(api)
    }

    /// Logs in (Nacos 3's route, else Nacos 2's) and returns the token.
    async fn login(&self, user: &str, password: &str) -> Result<String> {
        let form = Body::Form(vec![
            ("username".into(), user.into()),
            ("password".into(), password.into()),
        ]);
        for path in ["/nacos/v3/auth/user/login", "/nacos/v1/auth/login"] {
            let (status, text) = self.send(Method::POST, path, &[], form.clone()).await?;
            if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                continue;
            }
            if !status.is_success() {
                return Err(CliError::Server(format!(
                    "login as {user} failed: {}",
                    reason(status, &text)
                )));
            }
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            let token = v["accessToken"]
                .as_str()
                .or_else(|| v["data"]["accessToken"].as_str());
            return token.map(str::to_owned).ok_or_else(|| {
                CliError::Server(format!("login as {user}: no token in the answer"))
            });
        }
        Err(CliError::Server("the server has no login route".into()))
    }

    /// The server the last call reached.
    pub fn server(&self) -> &str {
        &self.bases[self.current.load(Ordering::Relaxed) % self.bases.len()]
    }

    /// Whether the commands speak the v1 API (Nacos 1.x/2.x) instead of
    /// Nacos 3's.
    pub fn legacy(&self) -> bool {
        self.legacy
    }

    /// The token in use, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Sends a request to the current server, moving on to the next one
    /// when it cannot be reached or answers 502-504 (a node that is down
    /// or has no leader). Answers the status and the body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Body,
    ) -> Result<(StatusCode, String)> {
        let (status, bytes) = self.send_bytes(method, path, query, body).await?;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// [`Api::send`], answering the raw body.
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Body,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let resp = self.response(method, path, query, body).await?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CliError::Failed(format!("reading the answer of {path}: {e}")))?;
        Ok((status, bytes.to_vec()))
    }

    /// The response itself (for streaming), after failover.
    pub async fn response(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Body,
    ) -> Result<reqwest::Response> {
        self.response_within(method, path, query, body, None, &[])
            .await
    }

    /// [`Api::response`] with a timeout of its own (a long poll) and extra
    /// headers.
    pub async fn response_within(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Body,
        timeout: Option<Duration>,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response> {
        let n = self.bases.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut last = String::new();
        for i in 0..n {
            let at = (start + i) % n;
            let url = format!("{}{path}", self.bases[at]);
            let mut req = self.http.request(method.clone(), &url).query(query);
            if let Some(t) = timeout {
                req = req.timeout(t);
            }
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            if let Some(t) = &self.token {
                req = req.bearer_auth(t).header("accessToken", t);
            }
            req = match &body {
                Body::Empty => req,
                Body::Form(f) => req.form(f),
                Body::Json(v) => req.json(v),
                Body::File(name, bytes) => {
                    let (ct, data) = multipart(name, bytes);
                    req.header("content-type", ct).body(data)
                }
            };
            match req.send().await {
                Ok(resp)
                    if matches!(
                        resp.status(),
                        StatusCode::BAD_GATEWAY
                            | StatusCode::SERVICE_UNAVAILABLE
                            | StatusCode::GATEWAY_TIMEOUT
                    ) && i + 1 < n =>
                {
                    last = format!("{url}: {}", resp.status());
                }
                Ok(resp) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Ok(resp);
                }
                Err(e) if transport_failed(&e) => last = format!("{url}: {e}"),
                Err(e) => return Err(CliError::Failed(format!("{url}: {e}"))),
            }
        }
        Err(CliError::Unreachable(last))
    }

    /// A call answering Nacos's envelope (or a bare value): the data, or
    /// an error carrying the server's reason.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: Pairs,
        body: Body,
    ) -> Result<Value> {
        let (status, text) = self.send(method, path, &query, body).await?;
        unwrap(status, &text)
    }

    /// GET.
    pub async fn get(&self, path: &str, query: Pairs) -> Result<Value> {
        self.call(Method::GET, path, query, Body::Empty).await
    }

    /// POST with a form.
    pub async fn post(&self, path: &str, form: Pairs) -> Result<Value> {
        self.call(Method::POST, path, Vec::new(), Body::Form(form))
            .await
    }

    /// PUT with a form.
    pub async fn put(&self, path: &str, form: Pairs) -> Result<Value> {
        self.call(Method::PUT, path, Vec::new(), Body::Form(form))
            .await
    }

    /// DELETE with query parameters.
    pub async fn delete(&self, path: &str, query: Pairs) -> Result<Value> {
        self.call(Method::DELETE, path, query, Body::Empty).await
    }

    /// GET that may find nothing: `None` on 404 (or Nacos's "not exist"
    /// codes).
    pub async fn get_opt(&self, path: &str, query: Pairs) -> Result<Option<Value>> {
        let (status, text) = self.send(Method::GET, path, &query, Body::Empty).await?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = v["code"].as_i64();
        if status == StatusCode::NOT_FOUND || matches!(code, Some(20004 | 21008 | 22001 | 21004)) {
            return Ok(None);
        }
        unwrap(status, &text).map(Some)
    }
}

/// Nacos's envelope to data or an error.
pub fn unwrap(status: StatusCode, text: &str) -> Result<Value> {
    let v: Option<Value> = serde_json::from_str(text).ok();
    if !status.is_success() {
        return Err(CliError::Server(reason(status, text)));
    }
    let Some(v) = v else {
        return Ok(Value::String(text.to_string()));
    };
    match (&v["code"], v.get("data")) {
        (Value::Number(code), Some(data)) if v.get("message").is_some() => match code.as_i64() {
            Some(0 | 200) => Ok(data.clone()),
            _ => Err(CliError::Server(reason(status, text))),
        },
        _ => Ok(v),
    }
}

/// The reason an answer gives: the envelope's data or message, else the
/// text.
pub fn reason(status: StatusCode, text: &str) -> String {
    let detail = match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            // Objects in `data` are results (`{"succCount":0}`), not reasons.
            let pick = |k: &str| match &v[k] {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Null | Value::Object(_) | Value::String(_) => None,
                other => Some(other.to_string()),
            };
            let code = v["code"]
                .as_i64()
                .map(|c| format!(" (code {c})"))
                .unwrap_or_default();
            match (pick("message"), pick("data")) {
                (Some(m), Some(d)) if m != d => format!("{m}: {d}{code}"),
                (Some(m), _) => format!("{m}{code}"),
                (None, Some(d)) => format!("{d}{code}"),
                (None, None) => text.trim().to_string(),
            }
        }
        Err(_) => text.trim().to_string(),
    };
    if detail.is_empty() {
        format!("HTTP {status}")
    } else if status.is_success() {
        detail
    } else {
        format!("HTTP {}: {detail}", status.as_u16())
    }
}

/// A multipart body holding `bytes` as field `file`.
fn multipart(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!(
        "nocas-cli-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let safe: String = name
        .chars()
        .map(|c| if c == '"' || c.is_control() { '_' } else { c })
        .collect();
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe}\"\r\nContent-Type: application/zip\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_unwrap_to_data_or_the_reason() {
        let ok = unwrap(
            StatusCode::OK,
            r#"{"code":0,"message":"success","data":[1]}"#,
        )
        .unwrap();
        assert_eq!(ok, serde_json::json!([1]));
        let bare = unwrap(StatusCode::OK, r#"{"accessToken":"t"}"#).unwrap();
        assert_eq!(bare["accessToken"], "t");
        assert_eq!(unwrap(StatusCode::OK, "ok").unwrap(), "ok");
        let e = unwrap(
            StatusCode::BAD_REQUEST,
            r#"{"code":21008,"message":"resource not found","data":"service G@@s not found!"}"#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "HTTP 400: resource not found: service G@@s not found! (code 21008)"
        );
        let e = unwrap(StatusCode::FORBIDDEN, "authorization failed!").unwrap_err();
        assert_eq!(e.to_string(), "HTTP 403: authorization failed!");
        let e = unwrap(
            StatusCode::OK,
            r#"{"code":100005,"message":"empty","data":{}}"#,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "empty (code 100005)");
    }

    #[test]
    fn servers_become_base_urls() {
        assert_eq!(base_url("127.0.0.1:8848").unwrap(), "http://127.0.0.1:8848");
        assert_eq!(
            base_url("https://n.example/nacos/").unwrap(),
            "https://n.example"
        );
        assert!(base_url("ftp://x").is_err());
        assert!(base_url(" ").is_err());
    }
}
