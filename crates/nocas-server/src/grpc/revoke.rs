//! Pushes stop the moment their reader loses the right to them.
//!
//! Owns the sweep that runs whenever users, roles or permissions change
//! (on every node: the change arrives through the log): each connection
//! whose latest token named a user is checked again. A user deleted or
//! whose password changed (the token's credential generation no longer
//! matches) loses every subscription, config listener and fuzzy watch of
//! the connection; a user who lost read access to some services or configs
//! loses those. The connection itself stays open, so instances it
//! registered stay; its next request is refused by the ordinary check.
//!
//! Does not decide access itself ([`crate::auth::Auth::decide`] does) and
//! never touches durable state.

use nocas_core::auth::{Action, Resource};

use crate::app::{App, AppRef};
use crate::auth::{Auth, Need};

/// What one sweep cut.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Service subscriptions dropped.
    pub subscriptions: usize,
    /// Config listeners dropped.
    pub listens: usize,
    /// Connections whose token was revoked.
    pub revoked: usize,
}

/// Checks every connection's subscriptions and listeners against the
/// current users, roles and permissions, dropping what is no longer
/// allowed.
pub fn sweep(app: &App) -> Cut {
    let mut cut = Cut::default();
    if !app.auth.enabled() {
        return cut;
    }
    for conn in app.conns.registered() {
        let Some(subject) = conn.subject() else {
            continue;
        };
        let state = app.node.state().read();
        let auth = state.auth();
        let revoked = Auth::decide(auth, &subject, &Need::Authenticated).is_err();
        // Kept only while the subject may still read the resource.
        let lost = |r: Resource| {
            revoked || Auth::decide(auth, &subject, &Need::Access(vec![r], Action::Read)).is_err()
        };
        let gone_subs: Vec<_> = conn
            .subscriptions()
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| lost(Resource::service(k)))
            .collect();
        let gone_listens: Vec<_> = conn
            .listens()
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| lost(Resource::config(k)))
            .collect();
        drop(state);
        for k in &gone_subs {
            conn.remove_subscription(k);
            app.hub.unsubscribe_service(k, conn.hub_id);
        }
        for k in &gone_listens {
            conn.remove_listen(k);
            app.hub.unlisten_config(k, conn.hub_id);
        }
        if revoked {
            conn.fuzzy.lock().clear();
            app.hub.fuzzy_unwatch(true, conn.hub_id);
            app.hub.fuzzy_unwatch(false, conn.hub_id);
            cut.revoked += 1;
        }
        if !gone_subs.is_empty() || !gone_listens.is_empty() || revoked {
            tracing::info!(
                conn_id = %conn.id,
                user = %subject.user,
                revoked,
                subscriptions = gone_subs.len(),
                listens = gone_listens.len(),
                "access lost: pushes stopped"
            );
        }
        cut.subscriptions += gone_subs.len();
        cut.listens += gone_listens.len();
    }
    cut
}

/// Sweeps after every change of users, roles or permissions, until the
/// server stops.
pub async fn run(app: AppRef, mut stop: tokio::sync::watch::Receiver<bool>) {
    if !app.auth.enabled() {
        return;
    }
    loop {
        tokio::select! {
            _ = app.hub.auth_changed() => {}
            _ = stop.changed() => return,
        }
        let cut = sweep(&app);
        app.metrics
            .pushes_revoked(cut.subscriptions as u64 + cut.listens as u64);
    }
}
