//! Background health work: the beat timeline of HTTP-registered ephemeral
//! instances ([`sweeper`]), active probes of persistent instances
//! ([`probe`]), and the periodic purge of old config history.

pub mod probe;
pub mod sweeper;

use std::time::Duration;

use nocas_core::command::Command;

use crate::app::{AppRef, now_ms};

/// Purges history older than the retention, from the leader, periodically.
pub async fn purge_history(app: AppRef, mut stop: tokio::sync::watch::Receiver<bool>) {
    let cfg = &app.settings.config;
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.history_purge_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if !app.node.is_leader() {
            continue;
        }
        let before_ms = now_ms() - cfg.history_retention_ms as i64;
        if let Err(e) = app.write(Command::PurgeHistory { before_ms }).await {
            tracing::warn!(error = %e, "history purge failed");
        }
    }
}
