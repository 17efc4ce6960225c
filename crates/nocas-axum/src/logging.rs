//! Live log level: a `tracing` subscriber whose filter can be replaced at
//! run time (a `tracing_subscriber::reload` handle), so `log.level` in the
//! service's config takes effect without a restart.
//!
//! Owns: the global subscriber it installs and its reload handle. Must not
//! touch the config or the registry; [`crate::NocasApp`] calls
//! [`LogControl::set_level`] when `log.level` changes.

use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

use crate::error::AxumError;

type Setter = dyn Fn(&str) -> Result<(), AxumError> + Send + Sync;

/// Changes the process's log level. Cheap to clone.
#[derive(Clone)]
pub struct LogControl {
    set: Arc<Setter>,
    initial: Arc<str>,
}

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogControl")
    }
}

impl LogControl {
    /// A control that calls `set` with each new level (an `EnvFilter`
    /// directive such as `debug` or `info,my_crate=trace`); `initial` is
    /// the level restored when `log.level` leaves the config. Use it when
    /// the application installs its own subscriber.
    pub fn from_fn(
        initial: &str,
        set: impl Fn(&str) -> Result<(), AxumError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            set: Arc::new(set),
            initial: initial.into(),
        }
    }

    /// The level the process started with.
    pub fn initial(&self) -> &str {
        &self.initial
    }

    /// Applies a level directive.
    pub fn set_level(&self, level: &str) -> Result<(), AxumError> {
        (self.set)(level)
    }
}

/// Installs a global `fmt` subscriber filtered by `default_level` (or
/// `RUST_LOG` when set) and returns the control that changes it.
///
/// Fails if a global subscriber is already installed or the directive is
/// invalid.
pub fn init_tracing(default_level: &str) -> Result<LogControl, AxumError> {
    let initial = std::env::var("RUST_LOG").unwrap_or_else(|_| default_level.to_string());
    let filter = parse(&initial)?;
    let (layer, handle) = reload::Layer::<EnvFilter, Registry>::new(filter);
    tracing_subscriber::registry()
        .with(layer)
        .with(fmt::layer())
        .try_init()
        .map_err(|e| AxumError::Logging(e.to_string()))?;
    Ok(LogControl::from_fn(&initial, move |level| {
        let filter = parse(level)?;
        handle
            .reload(filter)
            .map_err(|e| AxumError::Logging(e.to_string()))
    }))
}

fn parse(level: &str) -> Result<EnvFilter, AxumError> {
    EnvFilter::try_new(level.trim())
        .map_err(|e| AxumError::Logging(format!("bad log level {level:?}: {e}")))
}
