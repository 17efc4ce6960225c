//! Live settings read from the service's config: `log.level`, `timeout.ms`,
//! `mode` (`normal`, `mock`, `debug`) and `mock.<path>` bodies, plus any
//! other key for the application. The config may be YAML (nested keys are
//! joined with dots) or Java properties. Readers load the current settings
//! without locks ([`arc_swap`]); a config change swaps in a new snapshot.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use yaml_rust2::{Yaml, YamlLoader};

/// How requests are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Handlers answer.
    #[default]
    Normal,
    /// Every route answers its `mock.<path>` body; handlers are not called.
    Mock,
    /// Handlers answer; each request and response is logged with timings.
    Debug,
}

/// One snapshot of the live settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveSettings {
    /// `log.level`.
    pub log_level: Option<String>,
    /// `timeout.ms`: longest time a request may take.
    pub timeout: Option<Duration>,
    /// `mode`.
    pub mode: Mode,
    /// `mock.<path>` bodies by path.
    pub mocks: HashMap<String, String>,
    /// Every key, flattened.
    pub values: HashMap<String, String>,
}

fn flatten_yaml(prefix: &str, y: &Yaml, out: &mut HashMap<String, String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match y {
        Yaml::Hash(h) => {
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Real(r) => r.clone(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => continue,
                };
                flatten_yaml(&join(&key), v, out);
            }
        }
        Yaml::String(s) | Yaml::Real(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Yaml::Integer(i) => {
            out.insert(prefix.to_string(), i.to_string());
        }
        Yaml::Boolean(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        _ => {}
    }
}

/// Flattens YAML or properties content into dotted keys.
pub fn parse_values(content: &str) -> HashMap<String, String> {
    if let Ok(docs) = YamlLoader::load_from_str(content)
        && let Some(doc @ Yaml::Hash(_)) = docs.first()
    {
        let mut out = HashMap::new();
        flatten_yaml("", doc, &mut out);
        return out;
    }
    java_properties::read(content.as_bytes()).unwrap_or_default()
}

impl LiveSettings {
    /// Settings from config content (empty content: defaults).
    pub fn parse(content: &str) -> Self {
        let values = parse_values(content);
        let mode = match values
            .get("mode")
            .map(|m| m.trim().to_ascii_lowercase())
            .as_deref()
        {
            Some("mock") => Mode::Mock,
            Some("debug") => Mode::Debug,
            _ => Mode::Normal,
        };
        let mocks = values
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("mock.").map(|p| (p.to_string(), v.clone())))
            .collect();
        Self {
            log_level: values.get("log.level").map(|s| s.trim().to_string()),
            timeout: values
                .get("timeout.ms")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis),
            mode,
            mocks,
            values,
        }
    }

    /// The mock body of a request path (`/orders` matches `mock./orders`
    /// and `mock.orders`).
    pub fn mock_for(&self, path: &str) -> Option<&String> {
        self.mocks
            .get(path)
            .or_else(|| self.mocks.get(path.trim_start_matches('/')))
    }
}

/// The live settings, shared by every request (cheap to clone).
#[derive(Clone, Default)]
pub struct LiveConfig {
    current: Arc<ArcSwap<LiveSettings>>,
}

impl LiveConfig {
    /// The current snapshot (lock-free).
    pub fn load(&self) -> Arc<LiveSettings> {
        self.current.load_full()
    }

    /// Replaces the snapshot.
    pub fn store(&self, s: LiveSettings) {
        self.current.store(Arc::new(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_nested_and_dotted_keys() {
        let s = LiveSettings::parse(
            "log:\n  level: debug\ntimeout.ms: 250\nmode: mock\nmock:\n  /orders: '[1,2]'\n",
        );
        assert_eq!(s.log_level.as_deref(), Some("debug"));
        assert_eq!(s.timeout, Some(Duration::from_millis(250)));
        assert_eq!(s.mode, Mode::Mock);
        assert_eq!(s.mock_for("/orders").map(String::as_str), Some("[1,2]"));
    }

    #[test]
    fn properties() {
        let s = LiveSettings::parse(
            "log.level=warn\ntimeout.ms=100\nmode=debug\nmock.orders={\"a\":1}\n",
        );
        assert_eq!(s.log_level.as_deref(), Some("warn"));
        assert_eq!(s.mode, Mode::Debug);
        assert_eq!(s.mock_for("/orders").map(String::as_str), Some("{\"a\":1}"));
        assert_eq!(LiveSettings::parse(""), LiveSettings::default());
    }
}
