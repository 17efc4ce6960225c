//! Background health work: the beat timeline of HTTP-registered ephemeral
//! instances ([`sweeper`]), active probes of persistent instances
//! ([`probe`]), the periodic purge of old config history, and of
//! overrides whose instances are gone.

pub mod probe;
pub mod sweeper;

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use nocas_core::command::Command;
use nocas_core::names::ServiceKey;
use nocas_core::naming::InstanceKey;

use crate::app::{AppRef, now_ms};

/// A periodic tick that ends when the server stops.
pub struct Ticker {
    interval: Interval,
    stop: watch::Receiver<bool>,
}

impl Ticker {
    /// Ticks every `period_ms` (the first tick at once) until `stop` changes.
    pub fn new(period_ms: u64, stop: watch::Receiver<bool>) -> Self {
        let mut interval = tokio::time::interval(Duration::from_millis(period_ms.max(1)));
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { interval, stop }
    }

    /// Waits for the next tick; `false` once the server is stopping.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.interval.tick() => true,
            _ = self.stop.changed() => false,
        }
    }
}

/// Purges history older than the retention, from the leader, periodically.
pub async fn purge_history(app: AppRef, stop: watch::Receiver<bool>) {
    let cfg = &app.settings.config;
    let mut ticker = Ticker::new(cfg.history_purge_interval_ms, stop);
    while ticker.next().await {
        if !app.node.is_leader() {
            continue;
        }
        let before_ms = now_ms() - cfg.history_retention_ms as i64;
        if let Err(e) = app.write(Command::PurgeHistory { before_ms }).await {
            tracing::warn!(error = %e, "history purge failed");
        }
    }
}

/// Purges audit records older than the retention, from the leader,
/// periodically (the purge goes through the log, so every node drops the
/// same records).
pub async fn purge_audit(app: AppRef, stop: watch::Receiver<bool>) {
    let cfg = &app.settings.audit;
    if cfg.retention_ms == 0 {
        return;
    }
    let mut ticker = Ticker::new(cfg.purge_interval_ms, stop);
    while ticker.next().await {
        if !app.node.is_leader()
            || app
                .node
                .cluster_protocol_fresh(Duration::from_millis(app.settings.raft.rpc_timeout_ms))
                .await
                < nocas_cluster::version::AUDIT_COMMANDS
        {
            continue;
        }
        let before_ms = now_ms() - cfg.retention_ms as i64;
        let store = app.node.store().clone();
        let oldest = tokio::task::spawn_blocking(move || store.audit_oldest_ms()).await;
        if !matches!(oldest, Ok(Ok(Some(t))) if t < before_ms) {
            continue;
        }
        if let Err(e) = app.write(Command::PurgeAudit { before_ms }).await {
            tracing::warn!(error = %e, "audit purge failed");
        }
    }
}

/// Drops, from the leader, the override of an instance gone for
/// `naming.override_expire_ms` (checked every `override_check_interval_ms`).
pub async fn expire_overrides(app: AppRef, stop: watch::Receiver<bool>) {
    let n = &app.settings.naming;
    let mut ticker = Ticker::new(n.override_check_interval_ms, stop);
    // Since when each instance with an override has been seen gone.
    let mut gone_since: std::collections::HashMap<(ServiceKey, InstanceKey), i64> =
        std::collections::HashMap::new();
    while ticker.next().await {
        if !app.node.is_leader() {
            gone_since.clear();
            continue;
        }
        let now = now_ms();
        let absent: Vec<(ServiceKey, InstanceKey)> = {
            let state = app.node.state().read();
            state
                .all_overrides()
                .flat_map(|(k, m)| m.keys().map(move |i| (k.clone(), i.clone())))
                .filter(|(k, i)| {
                    app.soft.get(k, i).is_none()
                        && !state.instances(k).is_some_and(|m| m.contains_key(i))
                })
                .collect()
        };
        gone_since.retain(|id, _| absent.contains(id));
        for id in absent {
            let since = *gone_since.entry(id.clone()).or_insert(now);
            if now - since < n.override_expire_ms as i64 {
                continue;
            }
            let (key, instance) = id.clone();
            match app
                .write(Command::SetOverride {
                    key,
                    instance,
                    value: None,
                })
                .await
            {
                Ok(_) => {
                    gone_since.remove(&id);
                }
                Err(e) => tracing::warn!(error = %e, "dropping an expired override failed"),
            }
        }
    }
}
