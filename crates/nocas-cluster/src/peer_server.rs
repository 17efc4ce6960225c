//! The Raft port: answers peers' Raft RPCs, forwarded writes, membership
//! changes, status queries and soft-state replication. Every call must
//! carry the cluster secret when one is set, and bodies are bounded.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde::de::DeserializeOwned;

use nocas_core::command::Command;

use crate::network::{APPEND, SNAPSHOT, VOTE};
use crate::node::{ELECT, Forward, MEMBERS, Node, READ_INDEX, STATUS, WRITE, WRITE_AS};
use crate::peer::{CONTENT_TYPE, MembershipOp, SECRET_HEADER, decode, encode};
use crate::soft_sync::{
    BEAT, DIGEST, LEAVE, PULL, SYNC, SoftBeat, SoftDigest, SoftLeave, SoftPull, SoftSync,
};

#[derive(Clone)]
struct Peer {
    node: Node,
    secret: Option<Arc<str>>,
}

fn reply<T: Serialize>(v: &T) -> Response {
    match encode(v) {
        Ok(b) => ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

fn body<T: DeserializeOwned>(b: &Bytes) -> Result<T, Response> {
    decode(b)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad peer message: {e}")).into_response())
}

/// Constant-time comparison of the presented secret.
fn secret_ok(headers: &HeaderMap, secret: &str) -> bool {
    let Some(given) = headers.get(SECRET_HEADER).map(|v| v.as_bytes()) else {
        return false;
    };
    let want = secret.as_bytes();
    let mut diff = given.len() ^ want.len();
    for (i, b) in want.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ b);
    }
    diff == 0
}

async fn authenticate(State(p): State<Peer>, req: Request, next: Next) -> Response {
    if let Some(s) = &p.secret
        && !secret_ok(req.headers(), s)
    {
        return (StatusCode::UNAUTHORIZED, "cluster secret required").into_response();
    }
    let mut resp = next.run(req).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&crate::version::protocol().to_string()) {
        resp.headers_mut()
            .insert(crate::version::PROTOCOL_HEADER, v);
    }
    resp
}

async fn append(State(p): State<Peer>, b: Bytes) -> Response {
    let req = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    reply(&p.node.raft().append_entries(req).await)
}

async fn vote(State(p): State<Peer>, b: Bytes) -> Response {
    let req = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    reply(&p.node.raft().vote(req).await)
}

async fn snapshot(State(p): State<Peer>, b: Bytes) -> Response {
    let req = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    reply(&p.node.raft().install_snapshot(req).await)
}

async fn write(State(p): State<Peer>, b: Bytes) -> Response {
    let cmd: Command = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    reply(&p.node.write_local(cmd, None).await.map(|(r, _)| r))
}

async fn read_index(State(p): State<Peer>) -> Response {
    // Batched with this leader's own reads and other followers'.
    reply(&p.node.batched_leader_read_index().await)
}

async fn write_as(State(p): State<Peer>, b: Bytes) -> Response {
    let fwd: Forward = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    reply(&p.node.write_local(fwd.cmd, fwd.actor).await)
}

async fn members(State(p): State<Peer>, b: Bytes) -> Response {
    let op: MembershipOp = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    reply(&p.node.change_membership_here(op).await)
}

async fn status(State(p): State<Peer>) -> Response {
    reply(&p.node.status())
}

async fn sync(State(p): State<Peer>, b: Bytes) -> Response {
    let msg: SoftSync = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if let Some(r) = p.node.replicator() {
        r.on_sync(msg, now_ms());
    }
    reply(&())
}

async fn digest(State(p): State<Peer>, b: Bytes) -> Response {
    let msg: SoftDigest = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let need = match p.node.replicator() {
        Some(r) => r.on_digest(msg, now_ms()),
        None => Vec::new(),
    };
    reply(&need)
}

async fn beat(State(p): State<Peer>, b: Bytes) -> Response {
    let msg: SoftBeat = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let ack = p
        .node
        .replicator()
        .and_then(|r| r.on_beat(&msg.key, &msg.instance, now_ms()));
    reply(&ack)
}

async fn leave(State(p): State<Peer>, b: Bytes) -> Response {
    let msg: SoftLeave = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if let Some(r) = p.node.replicator() {
        r.on_leave(msg);
    }
    reply(&())
}

async fn pull(State(p): State<Peer>, b: Bytes) -> Response {
    let msg: SoftPull = match body(&b) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match p.node.replicator() {
        Some(r) => reply(&r.on_pull(msg)),
        None => (StatusCode::NOT_FOUND, "not clustered").into_response(),
    }
}

/// A leader handing over asks this node to stand for election now.
async fn elect(State(p): State<Peer>) -> Response {
    match p.node.raft().trigger().elect().await {
        Ok(()) => reply(&()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The router of the Raft port.
pub fn router(node: Node, secret: Option<String>, max_body_bytes: usize) -> Router {
    let p = Peer {
        node,
        secret: secret.map(Arc::from),
    };
    Router::new()
        .route(APPEND, post(append))
        .route(VOTE, post(vote))
        .route(SNAPSHOT, post(snapshot))
        .route(WRITE, post(write))
        .route(WRITE_AS, post(write_as))
        .route(READ_INDEX, post(read_index))
        .route(MEMBERS, post(members))
        .route(STATUS, post(status))
        .route(ELECT, post(elect))
        .route(SYNC, post(sync))
        .route(DIGEST, post(digest))
        .route(BEAT, post(beat))
        .route(LEAVE, post(leave))
        .route(PULL, post(pull))
        .layer(middleware::from_fn_with_state(p.clone(), authenticate))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        let mut h = HeaderMap::new();
        assert!(!secret_ok(&h, "s3cret"));
        h.insert(SECRET_HEADER, "s3cret".parse().unwrap());
        assert!(secret_ok(&h, "s3cret"));
        assert!(!secret_ok(&h, "s3cre"));
        assert!(!secret_ok(&h, "s3cretX"));
        h.insert(SECRET_HEADER, "S3cret".parse().unwrap());
        assert!(!secret_ok(&h, "s3cret"));
    }
}
