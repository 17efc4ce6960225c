//! Nacos 3 fuzzy watch over gRPC: a connection watches a pattern
//! (`namespace>>group>>name`) of configs or services, is sent the keys
//! that match in batches (then a finish notice), and from then on a notice
//! whenever a matching key comes or goes (and, for configs, changes).
//!
//! Every node answers from its own copy of the state (configs are
//! replicated by Raft, instances by soft sync), so a change made through
//! any node reaches the watchers of every node. A service "is there" while
//! it has instances.
//!
//! Limits are per connection: `limits.max_fuzzy_patterns` patterns of each
//! kind (error 50310 beyond) and `limits.max_fuzzy_matched_keys` keys per
//! pattern (error 50311: the watch is kept, its list cut there).
//!
//! Owns: fuzzy-watch requests, their syncs and notices. Must not touch:
//! state (reads only).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use nocas_core::auth::{Resource, ResourceKind};
use nocas_core::error::ValidationError;
use nocas_core::fuzzy::{FuzzyPattern, config_group_key, service_key_string};
use nocas_core::names::{NamespaceId, ServiceKey};
use nocas_core::naming::view;
use nocas_proto::grpc::{BaseResponse, FuzzyWatchRequest, Payload, ResponseBase, payload};

use crate::app::{App, AppRef};
use crate::auth::Need;
use crate::error::ApiError;
use crate::grpc::conn::{Connection, Dirty, FuzzyKind, FuzzyWatch};
use crate::grpc::push::ask;
use crate::push::Subscriber;

/// Nacos's error code: too many patterns.
pub const PATTERN_OVER_LIMIT: i32 = 50310;
/// Nacos's error code: a pattern matches too many keys.
pub const MATCH_COUNT_OVER_LIMIT: i32 = 50311;

const INIT: &str = "FUZZY_WATCH_INIT_NOTIFY";
const DIFF: &str = "FUZZY_WATCH_DIFF_SYNC_NOTIFY";
const FINISH: &str = "FINISH_FUZZY_WATCH_INIT_NOTIFY";

impl FuzzyKind {
    fn response(self) -> &'static str {
        match self {
            Self::Config => "ConfigFuzzyWatchResponse",
            Self::Naming => "NamingFuzzyWatchResponse",
        }
    }

    fn is_config(self) -> bool {
        self == Self::Config
    }
}

/// What a fuzzy watch request needs: read access to the pattern's
/// namespace (and group, when the group is not a pattern).
pub fn need(kind: FuzzyKind, r: &FuzzyWatchRequest) -> Need {
    let (ns, group) = match r.group_key_pattern.as_deref().map(FuzzyPattern::parse) {
        Some(Ok(p)) => {
            let group = if p.group.contains('*') {
                String::new()
            } else {
                p.group
            };
            (p.namespace, group)
        }
        _ => (String::new(), String::new()),
    };
    let rk = match kind {
        FuzzyKind::Config => ResourceKind::Config,
        FuzzyKind::Naming => ResourceKind::Naming,
    };
    Need::Access(
        vec![Resource::new(&ns, &group, rk, "")],
        nocas_core::auth::Action::Read,
    )
}

fn error(kind: FuzzyKind, code: i32, msg: &str, rid: Option<String>) -> Payload {
    crate::grpc::handlers::error_payload(kind.response(), code, msg.to_string(), rid)
}

/// The keys matching `p` now, at most `max` (and whether there were more).
fn matching(app: &App, kind: FuzzyKind, p: &FuzzyPattern, max: usize) -> (HashSet<String>, bool) {
    let Ok(ns) = NamespaceId::parse(Some(&p.namespace)) else {
        return (HashSet::new(), false);
    };
    let state = app.node.state().read();
    let keys: Box<dyn Iterator<Item = String>> = match kind {
        FuzzyKind::Config => Box::new(
            state
                .configs()
                .iter()
                .filter(|(k, r)| k.namespace == ns && r.formal.is_some() && p.matches_config(k))
                .map(|(k, _)| config_group_key(k)),
        ),
        FuzzyKind::Naming => Box::new(
            view::service_keys(&state, &app.soft, &ns, None)
                .into_iter()
                .filter(|k| p.matches_service(k) && has_instances(app, &state, k))
                .map(|k| service_key_string(&k)),
        ),
    };
    let mut out = HashSet::new();
    for k in keys {
        if out.len() == max {
            return (out, true);
        }
        out.insert(k);
    }
    (out, false)
}

fn has_instances(app: &App, state: &nocas_core::state::DurableState, key: &ServiceKey) -> bool {
    app.soft.service_len(key) > 0 || state.instances(key).is_some_and(|m| !m.is_empty())
}

/// Handles `ConfigFuzzyWatchRequest` / `NamingFuzzyWatchRequest`.
pub async fn watch(
    app: &AppRef,
    conn: &Arc<Connection>,
    kind: FuzzyKind,
    r: FuzzyWatchRequest,
) -> Result<Payload, ApiError> {
    let rid = r.base.request_id.clone();
    let raw = r
        .group_key_pattern
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or(ValidationError::Missing {
            field: "groupKeyPattern",
        })?;
    let pattern = FuzzyPattern::parse(&raw)?;
    NamespaceId::parse(Some(&pattern.namespace))?;
    let slot = (kind, raw.clone());
    match r.watch_type.as_deref().unwrap_or("WATCH") {
        "WATCH" => {}
        "CANCEL_WATCH" => {
            let mut fuzzy = conn.fuzzy.lock();
            fuzzy.remove(&slot);
            if !fuzzy.keys().any(|(k, _)| *k == kind) {
                app.hub.fuzzy_unwatch(kind.is_config(), conn.hub_id);
            }
            return Ok(ok(kind, rid));
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "Unsupported request type {other}"
            )));
        }
    }
    let limits = &app.settings.limits;
    {
        let fuzzy = conn.fuzzy.lock();
        let held = fuzzy.keys().filter(|(k, _)| *k == kind).count();
        if !fuzzy.contains_key(&slot) && held >= limits.max_fuzzy_patterns {
            return Ok(error(
                kind,
                PATTERN_OVER_LIMIT,
                "fuzzy watch pattern over limit",
                rid,
            ));
        }
    }
    // Told of changes first, then the keys are read: nothing in between
    // is missed (a notice for a key the sync also carries is harmless).
    let sub: Arc<dyn Subscriber> = conn.clone();
    app.hub.fuzzy_watch(kind.is_config(), sub);
    let (matched, full) = matching(app, kind, &pattern, limits.max_fuzzy_matched_keys);
    let received: HashSet<String> = r.received_group_keys.iter().cloned().collect();
    let mut entries: Vec<(String, bool)> = matched
        .difference(&received)
        .map(|k| (k.clone(), true))
        .collect();
    if !full {
        entries.extend(received.difference(&matched).map(|k| (k.clone(), false)));
    }
    entries.sort();
    conn.fuzzy
        .lock()
        .insert(slot, FuzzyWatch { pattern, matched });
    tokio::spawn(sync(
        app.clone(),
        conn.clone(),
        kind,
        raw,
        entries,
        r.initializing,
    ));
    if full {
        return Ok(error(
            kind,
            MATCH_COUNT_OVER_LIMIT,
            "fuzzy watch pattern matched count over limit",
            rid,
        ));
    }
    Ok(ok(kind, rid))
}

fn ok(kind: FuzzyKind, rid: Option<String>) -> Payload {
    payload(
        kind.response(),
        &BaseResponse {
            base: ResponseBase::ok(rid),
        },
        Default::default(),
    )
}

/// Sends one request on the stream until acknowledged (bounded retries).
async fn deliver(app: &App, conn: &Connection, type_name: &str, body: Value) -> bool {
    let g = &app.settings.grpc;
    for _ in 0..=g.push_retries {
        if conn.is_closed() {
            return false;
        }
        match ask(
            conn,
            type_name,
            body.clone(),
            Duration::from_millis(g.push_timeout_ms),
        )
        .await
        {
            Ok(true) => return true,
            Ok(false) => {}
            Err(_) => return false,
        }
    }
    tracing::warn!(conn_id = %conn.id, type_name, "fuzzy watch sync not acknowledged after retries");
    false
}

/// Sends the first (or a repeated) sync of a pattern: the keys to add and
/// remove in batches, then, while the client is initializing, the finish
/// notice.
async fn sync(
    app: AppRef,
    conn: Arc<Connection>,
    kind: FuzzyKind,
    pattern: String,
    entries: Vec<(String, bool)>,
    initializing: bool,
) {
    let (type_name, module, key_field, add, delete, batch) = match kind {
        FuzzyKind::Config => (
            "ConfigFuzzyWatchSyncRequest",
            "config",
            "groupKey",
            "ADD_CONFIG",
            "DELETE_CONFIG",
            app.settings.grpc.fuzzy_config_batch,
        ),
        FuzzyKind::Naming => (
            "NamingFuzzyWatchSyncRequest",
            "naming",
            "serviceKey",
            "ADD_SERVICE",
            "DELETE_SERVICE",
            app.settings.grpc.fuzzy_naming_batch,
        ),
    };
    let still_watched = || conn.fuzzy.lock().contains_key(&(kind, pattern.clone()));
    let batches: Vec<&[(String, bool)]> = entries.chunks(batch.max(1)).collect();
    let total = batches.len();
    for (i, chunk) in batches.into_iter().enumerate() {
        if !still_watched() {
            return;
        }
        let contexts: Vec<Value> = chunk
            .iter()
            .map(|(k, added)| json!({key_field: k, "changedType": if *added { add } else { delete }}))
            .collect();
        let body = json!({
            "headers": {},
            "module": module,
            "groupKeyPattern": pattern,
            "syncType": if initializing { INIT } else { DIFF },
            "contexts": contexts,
            "totalBatch": total,
            "currentBatch": i + 1,
        });
        if !deliver(&app, &conn, type_name, body).await {
            return;
        }
    }
    if initializing && still_watched() {
        let mut body = json!({
            "headers": {},
            "module": module,
            "groupKeyPattern": pattern,
            "syncType": FINISH,
        });
        if let Some(o) = body.as_object_mut() {
            // Nacos's shapes of the finish notice differ by kind.
            let (contexts, n) = match kind {
                FuzzyKind::Config => (None, 0),
                FuzzyKind::Naming => (Some(json!([])), 1),
            };
            if let Some(c) = contexts {
                o.insert("contexts".into(), c);
            }
            o.insert("totalBatch".into(), json!(n));
            o.insert("currentBatch".into(), json!(n));
        }
        deliver(&app, &conn, type_name, body).await;
    }
}

/// The notice for a changed key a connection's patterns match, if the
/// change is news to it (the key came, went, or — a config — changed).
/// Updates what the connection's patterns hold.
pub fn notice(app: &App, conn: &Connection, d: &Dirty) -> Option<(&'static str, Value)> {
    let max = app.settings.limits.max_fuzzy_matched_keys;
    match d {
        Dirty::FuzzyConfig(key) => {
            let exists = app
                .node
                .state()
                .read()
                .config(key)
                .is_some_and(|r| r.formal.is_some());
            let gk = config_group_key(key);
            let mut news = false;
            for ((kind, _), w) in conn.fuzzy.lock().iter_mut() {
                if *kind != FuzzyKind::Config || !w.pattern.matches_config(key) {
                    continue;
                }
                news |= update(w, &gk, exists, max) || (exists && w.matched.contains(&gk));
            }
            news.then(|| {
                (
                    "ConfigFuzzyWatchChangeNotifyRequest",
                    json!({
                        "headers": {},
                        "module": "config",
                        "groupKey": gk,
                        "changeType": if exists { "CONFIG_CHANGED" } else { "DELETE_CONFIG" },
                    }),
                )
            })
        }
        Dirty::FuzzyService(key) => {
            let exists = {
                let state = app.node.state().read();
                has_instances(app, &state, key)
            };
            let sk = service_key_string(key);
            let mut news = false;
            for ((kind, _), w) in conn.fuzzy.lock().iter_mut() {
                if *kind == FuzzyKind::Naming && w.pattern.matches_service(key) {
                    news |= update(w, &sk, exists, max);
                }
            }
            news.then(|| {
                (
                    "NamingFuzzyWatchChangeNotifyRequest",
                    json!({
                        "headers": {},
                        "module": "naming",
                        "serviceKey": sk,
                        "changedType": if exists { "ADD_SERVICE" } else { "DELETE_SERVICE" },
                        "syncType": "FUZZY_WATCH_RESOURCE_CHANGED",
                    }),
                )
            })
        }
        _ => None,
    }
}

/// Adds a key that is there (room permitting) or drops one that is gone;
/// whether the pattern's set changed.
fn update(w: &mut FuzzyWatch, key: &str, exists: bool, max: usize) -> bool {
    if exists {
        !w.matched.contains(key) && w.matched.len() < max && w.matched.insert(key.to_string())
    } else {
        w.matched.remove(key)
    }
}
