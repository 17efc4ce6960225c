//! Client introspection (`/nacos/v2/ns/client*`): the gRPC connections this
//! node holds, what each registered, subscribed to and listens to.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use nocas_proto::http::V2Result;

use crate::app::AppRef;
use crate::error::{ApiError, V2, V2Reply};
use crate::grpc::conn::Connection;
use crate::http::params::Params;

fn client(app: &AppRef, p: &Params) -> Result<std::sync::Arc<Connection>, ApiError> {
    let id = p.required("clientId")?;
    app.conns
        .by_id(id)
        .filter(|c| c.is_registered())
        .ok_or_else(|| ApiError::NotFound(format!("clientId [ {id} ] not exist")))
}

/// `GET /v2/ns/client/list`: ids of the connections.
pub async fn list(State(app): State<AppRef>) -> Response {
    let ids: Vec<String> = app
        .conns
        .registered()
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    Json(V2Result::ok(ids)).into_response()
}

/// `GET /v2/ns/client`: one connection.
pub async fn detail(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let c = client(&app, &p).map_err(V2)?;
    let info = c.info();
    let data = json!({
        "clientId": &*c.id,
        "ephemeral": true,
        "lastUpdatedTime": c.last_active_ms(),
        "createTime": c.created_ms,
        "clientType": "connection",
        "connectType": "GRPC",
        "appName": info.labels.get("AppName").cloned().unwrap_or_else(|| "-".into()),
        "version": info.version,
        "tenant": info.tenant,
        "labels": info.labels,
        "clientIp": c.peer.ip().to_string(),
        "clientPort": c.peer.port(),
        "subscriptionCount": c.subscription_count(),
        "listenCount": c.listen_count(),
    });
    Ok(Json(V2Result::ok(data)).into_response())
}

/// `GET /v2/ns/client/publish/list`: the instances it registered.
pub async fn published(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let c = client(&app, &p).map_err(V2)?;
    let data: Vec<Value> = app
        .soft
        .owned_by(&c.owner())
        .into_iter()
        .map(|(k, i)| {
            json!({
                "namespace": k.namespace.as_str(),
                "group": k.group.as_str(),
                "serviceName": k.service.as_str(),
                "registeredInstance": {"ip": &*i.ip, "port": i.port, "cluster": i.cluster.as_str()},
            })
        })
        .collect();
    Ok(Json(V2Result::ok(data)).into_response())
}

/// `GET /v2/ns/client/subscribe/list`: the services it subscribed to.
pub async fn subscribed(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let c = client(&app, &p).map_err(V2)?;
    let addr = c.peer.to_string();
    let data: Vec<Value> = c
        .subscriptions()
        .into_iter()
        .map(|(k, clusters)| {
            json!({
                "namespace": k.namespace.as_str(),
                "group": k.group.as_str(),
                "serviceName": k.service.as_str(),
                "subscriberInfo": {"addr": addr, "agent": c.info().version, "clusters": clusters},
            })
        })
        .collect();
    Ok(Json(V2Result::ok(data)).into_response())
}

/// `GET /v2/cs/client/listen/list` (Nocas): the configs it listens to.
pub async fn listening(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let c = client(&app, &p).map_err(V2)?;
    let data: Vec<Value> = c
        .listens()
        .into_iter()
        .map(|(k, tenant)| json!({"dataId": k.data_id.as_str(), "group": k.group.as_str(), "tenant": tenant}))
        .collect();
    Ok(Json(V2Result::ok(data)).into_response())
}

/// The subscribers of a service at this node, as Nacos lists them: gRPC
/// connections and UDP (HTTP) subscribers.
pub(crate) fn service_subscribers(app: &AppRef, p: &Params) -> Result<Vec<Value>, ApiError> {
    let key = crate::http::parse::service_key(p)?;
    let entry = |ip: String, port: u16, agent: String, app_name: String, cluster: String| {
        json!({
            "addrStr": format!("{ip}:{port}"),
            "agent": agent,
            "app": app_name,
            "ip": ip,
            "port": port,
            "namespaceId": key.namespace.as_str(),
            "serviceName": key.grouped_name(),
            "cluster": cluster,
        })
    };
    let mut out: Vec<Value> = app
        .conns
        .registered()
        .iter()
        .filter_map(|c| {
            let clusters = c.subscription(&key)?;
            let info = c.info();
            Some(entry(
                c.peer.ip().to_string(),
                c.peer.port(),
                info.version,
                info.labels
                    .get("AppName")
                    .cloned()
                    .unwrap_or_else(|| "unknown".into()),
                clusters,
            ))
        })
        .collect();
    if let Some(udp) = &app.udp {
        for a in udp.subscribers(&key) {
            out.push(entry(
                a.ip().to_string(),
                a.port(),
                "udp".into(),
                "unknown".into(),
                String::new(),
            ));
        }
    }
    out.sort_by(|a, b| a["addrStr"].as_str().cmp(&b["addrStr"].as_str()));
    Ok(out)
}

fn page(p: &Params, all: Vec<Value>) -> Result<Value, ApiError> {
    let paging = crate::http::params::Paging::from_params(p, 1000, 1000)?;
    let count = all.len();
    Ok(json!({"subscribers": paging.slice(all), "count": count}))
}

/// `GET /v1/ns/service/subscribers`.
pub async fn v1_subscribers(
    State(app): State<AppRef>,
    p: Params,
) -> crate::error::V1Result<Response> {
    let all = service_subscribers(&app, &p).map_err(crate::error::V1)?;
    Ok(Json(page(&p, all).map_err(crate::error::V1)?).into_response())
}

/// `GET /v2/ns/service/subscribers`.
pub async fn v2_subscribers(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let all = service_subscribers(&app, &p).map_err(V2)?;
    Ok(Json(V2Result::ok(page(&p, all).map_err(V2)?)).into_response())
}
