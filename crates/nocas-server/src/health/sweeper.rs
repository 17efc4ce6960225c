//! Runs the beat timeline of beat-owned ephemeral instances: unhealthy after
//! the beat timeout, removed after the delete timeout (per-instance metadata
//! overrides both).

use crate::app::{AppRef, now_ms};
use crate::health::Ticker;

/// Sweeps every `beat_check_interval_ms` until stopped.
pub async fn run(app: AppRef, stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticker = Ticker::new(app.settings.naming.beat_check_interval_ms, stop);
    while ticker.next().await {
        // Right after a pause, beats sent meanwhile are still queued: judge
        // nobody silent until they are in.
        if app.node.soft_recovering().is_some() {
            continue;
        }
        let changed = app.soft.sweep(now_ms());
        if !changed.is_empty() {
            tracing::debug!(services = changed.len(), "beat timeline changed services");
            app.soft_changed(&changed);
        }
    }
}
