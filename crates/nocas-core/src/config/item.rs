//! A config item and what a given reader is served.

use std::collections::BTreeMap;
use std::sync::Arc;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::names::ConfigTag;

/// Lower-case hex MD5 of the UTF-8 bytes of `content`, as Nacos computes it.
pub fn md5_hex(content: &str) -> String {
    hex::encode(Md5::digest(content.as_bytes()))
}

/// Descriptive fields that travel with a published version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigMeta {
    /// Content type (`text`, `json`, `yaml`, `properties`, `xml`, `html`, `toml`).
    pub config_type: String,
    /// Free-text description.
    pub desc: String,
    /// Owning application.
    pub app_name: String,
    /// Comma-separated labels.
    pub config_tags: String,
    /// Nacos's `use` field.
    pub usage: String,
    /// Nacos's `effect` field.
    pub effect: String,
    /// Nacos's `schema` field.
    pub schema: String,
    /// Data key of an encrypted config.
    pub encrypted_data_key: String,
}

/// Config types Nacos knows; anything else is stored as `text`.
pub const CONFIG_TYPES: &[&str] = &["text", "json", "xml", "yaml", "html", "properties", "toml"];

/// Normalizes a config type: unknown or absent types become `text`.
pub fn normalize_type(raw: Option<&str>) -> String {
    let t = raw
        .map(|s| s.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if CONFIG_TYPES.contains(&t.as_str()) {
        t
    } else {
        "text".into()
    }
}

/// One version of a config's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigVersion {
    /// The content.
    pub content: Arc<str>,
    /// Its MD5.
    pub md5: Arc<str>,
    /// Descriptive fields.
    pub meta: ConfigMeta,
    /// When this key was first created.
    pub created_ms: Millis,
    /// Last change of this version.
    pub modified_ms: Millis,
    /// Who created it (user or source IP).
    pub create_user: String,
    /// Source IP of the creator.
    pub create_ip: String,
    /// Who last changed it.
    pub src_user: String,
    /// Source IP of the last change.
    pub src_ip: String,
}

/// A beta (gray) version and the client IPs that see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BetaVersion {
    /// The beta content.
    pub version: ConfigVersion,
    /// Client IPs served the beta.
    pub ips: Vec<String>,
}

/// Everything stored under one config key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ConfigRecord {
    /// Stable id of the key (Nacos's config `id`), assigned at first publish.
    pub id: u64,
    /// The formal version, served to everyone not in the beta.
    pub formal: Option<ConfigVersion>,
    /// The beta version.
    pub beta: Option<BetaVersion>,
    /// Tagged versions, served to readers that ask for the tag.
    #[serde(default)]
    pub tags: BTreeMap<ConfigTag, ConfigVersion>,
}

/// What a reader is served.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// The version served.
    pub version: &'a ConfigVersion,
    /// It is the beta.
    pub beta: bool,
    /// The tag served, if a tagged version.
    pub tag: Option<&'a ConfigTag>,
}

impl ConfigRecord {
    /// True when no version remains.
    pub fn is_empty(&self) -> bool {
        self.formal.is_none() && self.beta.is_none() && self.tags.is_empty()
    }

    /// The version a client at `client_ip` reading with `tag` gets: the
    /// tagged version when a tag is asked for (nothing if it does not exist);
    /// else the beta when the IP is listed; else the formal version.
    pub fn served(&self, client_ip: &str, tag: Option<&ConfigTag>) -> Option<Served<'_>> {
        if let Some(tag) = tag {
            return self.tags.get_key_value(tag).map(|(t, v)| Served {
                version: v,
                beta: false,
                tag: Some(t),
            });
        }
        if let Some(beta) = &self.beta
            && beta.ips.iter().any(|ip| ip == client_ip)
        {
            return Some(Served {
                version: &beta.version,
                beta: true,
                tag: None,
            });
        }
        self.formal.as_ref().map(|v| Served {
            version: v,
            beta: false,
            tag: None,
        })
    }

    /// MD5 a listener at `client_ip` should compare with (`""` if nothing).
    pub fn md5_for(&self, client_ip: &str) -> &str {
        self.served(client_ip, None)
            .map(|s| &*s.version.md5)
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_nacos() {
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex("hello"), "5d41402abc4b2a76b9719d911017c592");
        // Nacos hashes the UTF-8 bytes.
        assert_eq!(md5_hex("中文"), "a7bac2239fcdcb3a067903d8077c4a07");
    }

    #[test]
    fn types_normalize() {
        assert_eq!(normalize_type(Some("YAML")), "yaml");
        assert_eq!(normalize_type(Some("exe")), "text");
        assert_eq!(normalize_type(None), "text");
    }

    fn version(content: &str) -> ConfigVersion {
        ConfigVersion {
            content: Arc::from(content),
            md5: Arc::from(md5_hex(content)),
            meta: ConfigMeta::default(),
            created_ms: 0,
            modified_ms: 0,
            create_user: String::new(),
            create_ip: String::new(),
            src_user: String::new(),
            src_ip: String::new(),
        }
    }

    #[test]
    fn beta_and_tags_are_served_by_ip_and_tag() {
        let tag = ConfigTag::parse(Some("t1")).unwrap().unwrap();
        let mut rec = ConfigRecord {
            formal: Some(version("f")),
            beta: Some(BetaVersion {
                version: version("b"),
                ips: vec!["1.1.1.1".into()],
            }),
            ..Default::default()
        };
        rec.tags.insert(tag.clone(), version("t"));
        assert_eq!(&*rec.served("2.2.2.2", None).unwrap().version.content, "f");
        let s = rec.served("1.1.1.1", None).unwrap();
        assert!(s.beta);
        assert_eq!(&*s.version.content, "b");
        assert_eq!(
            &*rec.served("1.1.1.1", Some(&tag)).unwrap().version.content,
            "t"
        );
        let other = ConfigTag::parse(Some("t2")).unwrap().unwrap();
        assert!(rec.served("1.1.1.1", Some(&other)).is_none());
        assert_eq!(rec.md5_for("2.2.2.2"), md5_hex("f"));
        rec.formal = None;
        assert_eq!(rec.md5_for("2.2.2.2"), "");
    }
}
