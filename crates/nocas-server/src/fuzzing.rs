//! Entry points for the fuzz targets in `fuzz/` (not an API).
//!
//! Each takes arbitrary bytes and runs them through the same decoding and
//! validation a request from the network meets, without a running server.
//! They must never panic; what they return is irrelevant.

use prost::Message as _;

use nocas_core::naming::MetadataLimits;
use nocas_proto::grpc::{
    BatchInstanceRequest, ConfigBatchListenRequest, ConfigPublishRequest, ConfigQueryRequest,
    InstanceRequest, Payload, ServiceListRequest, ServiceQueryRequest, SubscribeServiceRequest,
    parts,
};

use crate::grpc::{guard as grpc_guard, handlers};
use crate::http::params::Params;
use crate::http::{config, guard as http_guard, parse};

/// A gRPC frame: protobuf `Payload`, then the JSON body of whatever type it
/// claims, then the keys and resources the handlers would derive from it.
pub fn grpc_payload(data: &[u8]) {
    let Ok(p) = Payload::decode(data) else {
        return;
    };
    let (type_name, body) = parts(&p);
    let _ = handlers::request_id_of(body);
    match type_name {
        "InstanceRequest" | "PersistentInstanceRequest" => {
            if let Ok(r) = serde_json::from_slice::<InstanceRequest>(body) {
                let _ = grpc_guard::naming(&r.naming);
            }
        }
        "BatchInstanceRequest" => {
            if let Ok(r) = serde_json::from_slice::<BatchInstanceRequest>(body) {
                let _ = grpc_guard::naming(&r.naming);
            }
        }
        "ServiceQueryRequest" => {
            if let Ok(r) = serde_json::from_slice::<ServiceQueryRequest>(body) {
                let _ = grpc_guard::naming(&r.naming);
            }
        }
        "SubscribeServiceRequest" => {
            if let Ok(r) = serde_json::from_slice::<SubscribeServiceRequest>(body) {
                let _ = grpc_guard::naming(&r.naming);
            }
        }
        "ServiceListRequest" => {
            if let Ok(r) = serde_json::from_slice::<ServiceListRequest>(body) {
                let _ = grpc_guard::naming_list(&r.naming);
            }
        }
        "ConfigQueryRequest" | "ConfigRemoveRequest" => {
            if let Ok(r) = serde_json::from_slice::<ConfigQueryRequest>(body) {
                let _ = grpc_guard::config(&r.config);
            }
        }
        "ConfigPublishRequest" => {
            if let Ok(r) = serde_json::from_slice::<ConfigPublishRequest>(body) {
                let _ = grpc_guard::config(&r.config);
            }
        }
        "ConfigBatchListenRequest" => {
            if let Ok(r) = serde_json::from_slice::<ConfigBatchListenRequest>(body) {
                let _ = grpc_guard::listened(&r);
            }
        }
        _ => {}
    }
}

/// An HTTP request: the first line is the path, the rest a form body; the
/// parameters go through every parser the handlers use, and the access map.
pub fn http_params(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (path, form) = text.split_once('\n').unwrap_or((&text, ""));
    let canonical = http_guard::canonical_path(path);
    let path = canonical.as_deref().unwrap_or(path);
    let pairs: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let p = Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let limits = MetadataLimits {
        max_bytes: 64 * 1024,
        max_entries: 256,
    };
    let _ = parse::service_key(&p);
    let _ = parse::instance(&p, &limits);
    let _ = parse::patch(&p, &limits);
    let _ = parse::beat(&p, &limits);
    let _ = parse::config_key(&p, "tenant");
    let _ = parse::tag(&p);
    let _ = parse::config_meta(&p);
    if let Some(raw) = p.raw("Listening-Configs") {
        let _ = config::parse_listening(raw, 100);
    }
    for method in [axum::http::Method::GET, axum::http::Method::POST] {
        let _ = http_guard::need(&method, path, &p, 100);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn odd_inputs_do_not_panic() {
        for input in [
            &b""[..],
            b"\xff\xfe",
            b"/nacos/v1/ns/instance\nserviceName=%ff%fe&ip=::1&port=99999&metadata={",
            b"/%2e%2e/%2e%2e\nListening-Configs=a%02b%02c%02d%02e%01",
            b"//\nbeat={\"ip\":1}",
        ] {
            super::http_params(input);
            super::grpc_payload(input);
        }
    }
}
