//! Background health work: the beat timeline of HTTP-registered ephemeral
//! instances ([`sweeper`]), active probes of persistent instances
//! ([`probe`]), and the periodic purge of old config history.

pub mod probe;
pub mod sweeper;

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use nocas_core::command::Command;

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
