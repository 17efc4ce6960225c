//! The failover disk cache: the last known service views and configs, one
//! JSON file each, written atomically, read when no server answers
//! (including at start-up).

use std::path::{Path, PathBuf};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::ServiceView;

/// Cache of one namespace.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: Option<PathBuf>,
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

impl DiskCache {
    /// A cache under `root/<namespace>`, or none.
    pub fn new(root: Option<&Path>, namespace: &str) -> Self {
        let ns = if namespace.is_empty() {
            "public"
        } else {
            namespace
        };
        Self {
            dir: root.map(|r| r.join(enc(ns))),
        }
    }

    fn path(&self, kind: &str, a: &str, b: &str) -> Option<PathBuf> {
        Some(
            self.dir
                .as_ref()?
                .join(kind)
                .join(format!("{}@@{}.json", enc(a), enc(b))),
        )
    }

    fn save<T: Serialize>(&self, path: Option<PathBuf>, v: &T) {
        let Some(path) = path else {
            return;
        };
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(v).map_err(std::io::Error::other)?)?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            tracing::warn!(error = %e, path = %path.display(), "cannot write the failover cache");
        }
    }

    fn load<T: DeserializeOwned>(&self, path: Option<PathBuf>) -> Option<T> {
        let bytes = std::fs::read(path?).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores a service view.
    pub fn save_view(&self, view: &ServiceView) {
        self.save(self.path("naming", &view.group, &view.service), view);
    }

    /// The stored view of a service.
    pub fn load_view(&self, group: &str, service: &str) -> Option<ServiceView> {
        self.load(self.path("naming", group, service))
    }

    /// Stores a config's content (`None`: removed).
    pub fn save_config(&self, group: &str, data_id: &str, content: Option<&str>) {
        self.save(self.path("config", group, data_id), &content);
    }

    /// The stored content of a config: `Some(None)` if known to be removed.
    pub fn load_config(&self, group: &str, data_id: &str) -> Option<Option<String>> {
        self.load(self.path("config", group, data_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_survives_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::new(Some(dir.path()), "dev/ns");
        let v = ServiceView {
            service: "a/b".into(),
            group: "G@@x".into(),
            ..Default::default()
        };
        c.save_view(&v);
        assert_eq!(c.load_view("G@@x", "a/b"), Some(v));
        c.save_config("G", "app.yaml", Some("x: 1"));
        assert_eq!(c.load_config("G", "app.yaml"), Some(Some("x: 1".into())));
        c.save_config("G", "gone", None);
        assert_eq!(c.load_config("G", "gone"), Some(None));
        assert_eq!(c.load_config("G", "never"), None);
        let none = DiskCache::new(None, "");
        none.save_view(&ServiceView::default());
        assert!(none.load_view("", "").is_none());
    }
}
