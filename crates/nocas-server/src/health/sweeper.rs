//! Runs the beat timeline of beat-owned ephemeral instances: unhealthy after
//! the beat timeout, removed after the delete timeout (per-instance metadata
//! overrides both).

use std::time::Duration;

use crate::app::{AppRef, now_ms};

/// Sweeps every `beat_check_interval_ms` until stopped.
pub async fn run(app: AppRef, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = Duration::from_millis(app.settings.naming.beat_check_interval_ms);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let changed = app.soft.sweep(now_ms());
        if !changed.is_empty() {
            tracing::debug!(services = changed.len(), "beat timeline changed services");
            app.hub.services_changed(&changed);
        }
    }
}
