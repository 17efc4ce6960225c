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
