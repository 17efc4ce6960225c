//! Client introspection (`/nacos/v2/ns/client*`): the gRPC connections this
//! node holds, what each registered, subscribed to and listens to.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use nocas_proto::http::V2Result;

use std::collections::BTreeMap;

use nocas_core::names::ServiceKey;
use nocas_core::naming::InstanceKey;
use nocas_core::naming::soft::Owner;

use crate::app::AppRef;
use crate::error::{ApiError, V2, V2Reply};
use crate::grpc::conn::Connection;
use crate::http::params::Params;

/// A client as Nacos counts them: a gRPC connection, or the `ip:port` of
/// instances registered over HTTP (`ip:port#true` for ephemeral ones
/// kept alive by beats at this node, `ip:port#false` for persistent ones).
enum Client {
    Connection(std::sync::Arc<Connection>),
    IpPort {
        id: String,
        ephemeral: bool,
        instances: Vec<(ServiceKey, InstanceKey)>,
    },
}

/// The instances registered over HTTP, by `ip:port` client id.
pub(crate) fn ip_port_clients(app: &AppRef) -> BTreeMap<String, Vec<(ServiceKey, InstanceKey)>> {
    let mut out: BTreeMap<String, Vec<(ServiceKey, InstanceKey)>> = BTreeMap::new();
    for k in app.soft.all_service_keys() {
        app.soft.for_each_instance(&k, |si| {
            if si.owner == Owner::Beat {
                let i = si.instance.key();
                out.entry(format!("{}:{}#true", i.ip, i.port))
                    .or_default()
                    .push((k.clone(), i));
            }
        });
    }
    let state = app.node.state().read();
    for (k, m) in state.all_instances() {
        for i in m.keys() {
            out.entry(format!("{}:{}#false", i.ip, i.port))
                .or_default()
                .push((k.clone(), i.clone()));
        }
    }
    out
}

fn client(app: &AppRef, p: &Params) -> Result<Client, ApiError> {
    let id = p.required("clientId")?;
    if let Some(c) = app.conns.by_id(id).filter(|c| c.is_registered()) {
        return Ok(Client::Connection(c));
    }
    let missing = || ApiError::NotFound(format!("clientId [ {id} ] not exist"));
    let ephemeral = id.ends_with("#true");
    let instances = ip_port_clients(app).remove(id).ok_or_else(missing)?;
    Ok(Client::IpPort {
        id: id.to_string(),
        ephemeral,
        instances,
    })
}

/// `GET /v2/ns/client/list`: ids of the clients (connections, then
/// `ip:port#ephemeral` clients of HTTP registrations).
pub async fn list(State(app): State<AppRef>) -> Response {
    let mut ids: Vec<String> = app
        .conns
        .registered()
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    ids.extend(ip_port_clients(&app).into_keys());
    Json(V2Result::ok(ids)).into_response()
}

/// `GET /v2/ns/client`: one client.
pub async fn detail(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let data = match client(&app, &p).map_err(V2)? {
        Client::Connection(c) => {
            let info = c.info();
            json!({
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
            })
        }
        Client::IpPort {
            id,
            ephemeral,
            instances,
        } => {
            let last = instances
                .iter()
                .filter_map(|(k, i)| app.soft.get(k, i))
                .map(|si| si.last_beat_ms)
                .max()
                .unwrap_or(0);
            json!({
                "clientId": id,
                "ephemeral": ephemeral,
                "lastUpdatedTime": last,
                "clientType": "ipPort",
            })
        }
    };
    Ok(Json(V2Result::ok(data)).into_response())
}

/// `GET /v2/ns/client/publish/list`: the instances it registered.
pub async fn published(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let owned = match client(&app, &p).map_err(V2)? {
        Client::Connection(c) => app.soft.owned_by(&c.owner()),
        Client::IpPort { instances, .. } => instances,
    };
    let data: Vec<Value> = owned
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

/// The connection a client id names (subscriptions and listeners are
/// connections'; an `ip:port` client has none).
fn connection(app: &AppRef, p: &Params) -> Result<Option<std::sync::Arc<Connection>>, ApiError> {
    Ok(match client(app, p)? {
        Client::Connection(c) => Some(c),
        Client::IpPort { .. } => None,
    })
}

/// `GET /v2/ns/client/subscribe/list`: the services it subscribed to.
pub async fn subscribed(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let Some(c) = connection(&app, &p).map_err(V2)? else {
        return Ok(Json(V2Result::ok(Vec::<Value>::new())).into_response());
    };
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
    let Some(c) = connection(&app, &p).map_err(V2)? else {
        return Ok(Json(V2Result::ok(Vec::<Value>::new())).into_response());
    };
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
    let entry =
        |id: String, ip: String, port: u16, agent: String, app_name: String, cluster: String| {
            json!({
                "clientId": id,
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
                c.id.to_string(),
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
                a.to_string(),
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

/// `GET /v3/admin/ns/client/service/publisher/list`: who registered the
/// instances of a service (`ip`, `port` filter): a connection's id, an
/// `ip:port#true|false` client for HTTP registrations, or no id for
/// instances another node's clients registered.
pub async fn service_publishers(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let key = crate::http::parse::service_key(&p)?;
    let ip = p.get("ip").map(str::to_owned);
    let port = p.get("port").and_then(|v| v.parse::<u16>().ok());
    let keep = |i_ip: &str, i_port: u16| {
        ip.as_deref().is_none_or(|x| x == i_ip) && port.is_none_or(|x| x == i_port)
    };
    let mut out: Vec<Value> = Vec::new();
    let publisher = |id: Option<String>, i: &nocas_core::naming::Instance| json!({"clientId": id, "ip": &*i.ip, "port": i.port, "clusterName": i.cluster.as_str()});
    app.soft.for_each_instance(&key, |si| {
        let i = &si.instance;
        if !keep(&i.ip, i.port) {
            return;
        }
        let id = match &si.owner {
            Owner::Connection(c) => Some(c.to_string()),
            Owner::Beat => Some(format!("{}:{}#true", i.ip, i.port)),
            Owner::Peer(_) => None,
        };
        out.push(publisher(id, i));
    });
    if let Some(m) = app.node.state().read().instances(&key) {
        for i in m.values().filter(|i| keep(&i.ip, i.port)) {
            out.push(publisher(Some(format!("{}:{}#false", i.ip, i.port)), i));
        }
    }
    Ok(Json(V2Result::ok(out)).into_response())
}

/// `GET /v3/admin/ns/client/service/subscriber/list`: the subscribers of a
/// service at this node.
pub async fn service_subscriber_list(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    let out: Vec<Value> = service_subscribers(&app, &p)
        .map_err(V2)?
        .into_iter()
        .map(|s| {
            json!({
                "clientId": s["clientId"],
                "appName": s["app"],
                "agent": s["agent"],
                "address": s["addrStr"],
            })
        })
        .collect();
    Ok(Json(V2Result::ok(out)).into_response())
}

/// `GET /v3/admin/ns/client/distro?ip=&port=`: the node responsible for
/// an HTTP client. Any node takes any client's beats in Nocas: the node
/// asked answers itself.
pub async fn distro(State(app): State<AppRef>, p: Params) -> V2Reply<Response> {
    p.required("ip").map_err(|e| V2(e.into()))?;
    p.required("port").map_err(|e| V2(e.into()))?;
    Ok(Json(V2Result::ok(
        json!({"responsibleServer": app.http_addr.to_string()}),
    ))
    .into_response())
}
