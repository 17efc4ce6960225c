//! Refused logins and calls, counted and written to the audit trail.
//!
//! Owns the aggregation of security events between flushes: events of the
//! same kind, from the same address, by the same user, on the same target
//! become one record with a count, so a client retrying with a bad password
//! (or a scanner) cannot make the log grow with every attempt. A flush
//! writes at most [`MAX_KEYS`] records through the Raft log (as
//! `Command::Note`, kind `security`, carrying the caller as the actor), so
//! every node holds the same trail; what does not fit is counted in one
//! more record.
//!
//! Does not decide anything: the auth checks call [`SecurityEvents::record`]
//! after deciding. Calls without any token are counted in metrics only
//! (anonymous noise, such as an SDK configured without credentials).

use std::collections::HashMap;
use std::time::Duration;

use nocas_core::audit::Actor;
use nocas_core::command::Command;
use parking_lot::Mutex;

use crate::app::{AppRef, now_ms};
use crate::metrics::AuthFailure;

/// Most distinct records one flush writes.
pub const MAX_KEYS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    kind: AuthFailure,
    user: Option<String>,
    ip: String,
    forwarded: Option<String>,
    via: String,
    target: String,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    count: u64,
    first_ms: i64,
    last_ms: i64,
}

/// Security events waiting for the next flush.
#[derive(Default)]
pub struct SecurityEvents {
    pending: Mutex<(HashMap<Key, Seen>, u64)>,
}

impl SecurityEvents {
    /// An empty aggregator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a refusal of `kind` on `target` by the request being handled
    /// (its address and transport from the request context); `user` is who
    /// the token named, or who tried to log in.
    pub fn record(&self, kind: AuthFailure, user: Option<&str>, target: &str) {
        let actor = crate::observe::current_actor().unwrap_or_else(Actor::system);
        let key = Key {
            kind,
            user: user.map(|u| truncate(u, 128)),
            ip: actor.ip,
            forwarded: actor.forwarded,
            via: actor.via,
            target: truncate(target, 512),
        };
        let now = now_ms();
        let mut p = self.pending.lock();
        if let Some(seen) = p.0.get_mut(&key) {
            seen.count += 1;
            seen.last_ms = now;
        } else if p.0.len() < MAX_KEYS {
            p.0.insert(
                key,
                Seen {
                    count: 1,
                    first_ms: now,
                    last_ms: now,
                },
            );
        } else {
            p.1 += 1;
        }
    }

    /// Takes what is pending: one note per key, plus one counting the
    /// events that did not fit.
    fn take(&self) -> Vec<(Command, Actor)> {
        let (events, overflow) = {
            let mut p = self.pending.lock();
            (std::mem::take(&mut p.0), std::mem::take(&mut p.1))
        };
        let mut out: Vec<(Command, Actor)> = events
            .into_iter()
            .map(|(k, s)| {
                let op = match k.kind {
                    AuthFailure::Login => "login-failed",
                    AuthFailure::Locked => "login-locked",
                    AuthFailure::Token => "token-refused",
                    AuthFailure::Denied => "denied",
                };
                let cmd = Command::Note {
                    kind: "security".into(),
                    op: op.into(),
                    target: k.target,
                    detail: format!("count={} first={} last={}", s.count, s.first_ms, s.last_ms),
                };
                let actor = Actor {
                    user: k.user,
                    ip: k.ip,
                    forwarded: k.forwarded,
                    via: k.via,
                };
                (cmd, actor)
            })
            .collect();
        if overflow > 0 {
            out.push((
                Command::Note {
                    kind: "security".into(),
                    op: "overflow".into(),
                    target: String::new(),
                    detail: format!("count={overflow} (more distinct events than one flush holds)"),
                },
                Actor::system(),
            ));
        }
        out
    }
}

/// Counts a refusal in the metrics and, unless the call carried no token
/// at all, records it for the trail. `user` is who the token named (or who
/// tried to log in); `target` what was asked for.
pub fn refused(app: &crate::app::App, denied: &super::Denied, user: Option<&str>, target: &str) {
    use super::Denied;
    use super::token::TokenError;
    let kind = match denied {
        Denied::NoRight => AuthFailure::Denied,
        Denied::Token(_) => AuthFailure::Token,
    };
    app.metrics.auth_failure(kind);
    if !matches!(denied, Denied::Token(TokenError::Missing)) {
        app.security.record(kind, user, target);
    }
}

/// What a [`super::Need`] asks for, as an audit target.
pub fn describe_need(need: &super::Need) -> String {
    use super::Need;
    match need {
        Need::Public => "public".into(),
        Need::Authenticated => "any".into(),
        Need::Admin => "admin".into(),
        Need::AdminOrSelf(who) => format!("admin-or-self:{who}"),
        Need::Access(resources, action) => {
            let mut s = String::new();
            for (i, r) in resources.iter().take(8).enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&r.path);
            }
            if resources.len() > 8 {
                s.push_str(&format!(",+{}", resources.len() - 8));
            }
            format!("{s} {}", action.as_str())
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Writes pending events every `audit.security_flush_ms`, and once more
/// when the server stops.
pub async fn run(app: AppRef, mut stop: tokio::sync::watch::Receiver<bool>) {
    if !app.auth.enabled() {
        return;
    }
    let every = Duration::from_millis(app.settings.audit.security_flush_ms.max(10));
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            _ = stop.changed() => true,
        };
        let pending = app.security.take();
        if !pending.is_empty()
            && !app
                .audit_writable(nocas_cluster::version::SECURITY_EVENTS)
                .await
        {
            continue;
        }
        for (cmd, actor) in pending {
            if let Err(e) = app.node.write_as(cmd, Some(actor)).await {
                tracing::warn!(error = %e, "cannot write a security event to the audit trail");
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_fold_into_one_record_and_overflow_is_counted() {
        let ev = SecurityEvents::new();
        for _ in 0..5 {
            ev.record(AuthFailure::Login, Some("alice"), "alice");
        }
        ev.record(AuthFailure::Denied, Some("bob"), "public:G:config/d r");
        for i in 0..(MAX_KEYS + 3) {
            ev.record(AuthFailure::Login, Some("x"), &format!("t{i}"));
        }
        let out = ev.take();
        assert_eq!(out.len(), MAX_KEYS + 1);
        let details: Vec<String> = out
            .iter()
            .filter_map(|(c, _)| match c {
                Command::Note {
                    op, target, detail, ..
                } => Some(format!("{op} {target} {detail}")),
                _ => None,
            })
            .collect();
        assert!(
            details
                .iter()
                .any(|d| d.starts_with("login-failed alice count=5 "))
        );
        assert!(details.iter().any(|d| d.starts_with("denied public:G")));
        assert!(details.iter().any(|d| d.starts_with("overflow  count=5 ")));
        assert!(ev.take().is_empty());
        assert_eq!(truncate("ab", 1), "a…");
    }
}
