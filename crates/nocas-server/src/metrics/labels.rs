//! Label values, each drawn from a bounded set: a label never takes a
//! data id, service name, IP, connection id or any other value a client
//! can make up without limit.

use axum::http::Method;

/// The `uri` label of an HTTP request: the matched route template
/// without the `/nacos` context path (as Spring reports it), or, with no
/// route, `NOT_FOUND` / `REDIRECTION` / `UNKNOWN` by status.
pub fn http_uri(route: Option<&str>, status: u16) -> String {
    match route {
        Some(r) => {
            let r = r.strip_prefix("/nacos").unwrap_or(r);
            if r.is_empty() || r == "/" {
                "root".to_string()
            } else {
                r.to_string()
            }
        }
        None if (300..400).contains(&status) => "REDIRECTION".to_string(),
        None if status == 404 => "NOT_FOUND".to_string(),
        None => "UNKNOWN".to_string(),
    }
}

/// The `method` label: a standard method's name, else `OTHER`.
pub fn http_method(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The `outcome` label (Spring's status class names).
pub fn http_outcome(status: u16) -> &'static str {
    match status {
        100..=199 => "INFORMATIONAL",
        200..=299 => "SUCCESS",
        300..=399 => "REDIRECTION",
        400..=499 => "CLIENT_ERROR",
        500..=599 => "SERVER_ERROR",
        _ => "UNKNOWN",
    }
}

/// Request types the server answers, with their Nacos module; any other
/// type a client sends is counted as `unknown`.
const GRPC_CLASSES: &[(&str, &str)] = &[
    ("ServerCheckRequest", "unknown"),
    ("HealthCheckRequest", "internal"),
    ("InstanceRequest", "naming"),
    ("PersistentInstanceRequest", "naming"),
    ("BatchInstanceRequest", "naming"),
    ("ServiceQueryRequest", "naming"),
    ("SubscribeServiceRequest", "naming"),
    ("ServiceListRequest", "naming"),
    ("NamingFuzzyWatchRequest", "naming"),
    ("ConfigQueryRequest", "config"),
    ("ConfigPublishRequest", "config"),
    ("ConfigRemoveRequest", "config"),
    ("ConfigBatchListenRequest", "config"),
    ("ConfigFuzzyWatchRequest", "config"),
    ("LockOperationRequest", "lock"),
    ("ServerLoaderInfoRequest", "internal"),
    ("ServerReloadRequest", "internal"),
    ("ClientDetectionRequest", "internal"),
];

/// The `requestClass` and `module` labels of a gRPC request type.
pub fn grpc_class(type_name: &str) -> (&'static str, &'static str) {
    GRPC_CLASSES
        .iter()
        .find(|(c, _)| *c == type_name)
        .copied()
        .unwrap_or(("unknown", "unknown"))
}

/// SDK families a connection's client version may name.
const SDKS: &[(&str, &str)] = &[
    ("java", "java"),
    ("go", "go"),
    ("golang", "go"),
    ("python", "python"),
    ("node", "nodejs"),
    ("nodejs", "nodejs"),
    ("js", "nodejs"),
    ("rust", "rust"),
    ("csharp", "csharp"),
    ("c#", "csharp"),
    ("dotnet", "csharp"),
    ("cpp", "cpp"),
    ("c++", "cpp"),
    ("php", "php"),
    ("nocas", "nocas"),
];

/// The `sdk` and `version` labels of a client version string such as
/// `Nacos-Java-Client:v2.5.1` (`major.minor` only; anything else is
/// `other` / `unknown`).
pub fn sdk(client_version: &str) -> (&'static str, String) {
    let lower = client_version.to_ascii_lowercase();
    let (name, ver) = match lower.split_once(':') {
        Some((n, v)) => (n, v),
        None => (lower.as_str(), ""),
    };
    let family = name
        .split(['-', '_', ' ', '/'])
        .filter(|p| !p.is_empty() && *p != "nacos" && *p != "client" && *p != "sdk")
        .find_map(|p| SDKS.iter().find(|(k, _)| *k == p).map(|(_, v)| *v))
        .or_else(|| name.contains("nocas").then_some("nocas"))
        .unwrap_or("other");
    let ver = ver.trim().trim_start_matches('v');
    let mut parts = ver.split('.');
    let version = match (parts.next(), parts.next()) {
        (Some(a), Some(b))
            if !a.is_empty()
                && a.len() <= 3
                && a.bytes().all(|c| c.is_ascii_digit())
                && !b.is_empty()
                && b.len() <= 3
                && b.bytes().all(|c| c.is_ascii_digit()) =>
        {
            format!("{a}.{b}")
        }
        _ => "unknown".to_string(),
    };
    (family, version)
}

/// The `module` a connection declared in its labels (`config`,
/// `naming`, `lock`), else `unknown`.
pub fn conn_module(declared: Option<&str>) -> &'static str {
    match declared {
        Some("config") => "config",
        Some("naming") => "naming",
        Some("lock") => "lock",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_lose_the_context_path() {
        assert_eq!(
            http_uri(Some("/nacos/v1/cs/configs"), 200),
            "/v1/cs/configs"
        );
        assert_eq!(http_uri(Some("/metrics"), 200), "/metrics");
        assert_eq!(http_uri(None, 404), "NOT_FOUND");
        assert_eq!(http_uri(None, 500), "UNKNOWN");
    }

    #[test]
    fn sdk_versions_are_bounded() {
        assert_eq!(sdk("Nacos-Java-Client:v2.5.1"), ("java", "2.5".to_string()));
        assert_eq!(sdk("Nacos-Go-Client:v2.2.7"), ("go", "2.2".to_string()));
        assert_eq!(sdk("Nacos-Rust-Client:0.4.2"), ("rust", "0.4".to_string()));
        assert_eq!(sdk("anything:1.2.3.4"), ("other", "1.2".to_string()));
        assert_eq!(sdk("x-9f8e7d6c"), ("other", "unknown".to_string()));
        assert_eq!(
            sdk("Nacos-Java-Client:v12345.1"),
            ("java", "unknown".to_string())
        );
    }

    #[test]
    fn unknown_request_types_collapse() {
        assert_eq!(
            grpc_class("ConfigQueryRequest"),
            ("ConfigQueryRequest", "config")
        );
        assert_eq!(grpc_class("MadeUp123Request"), ("unknown", "unknown"));
    }
}
