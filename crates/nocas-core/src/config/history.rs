//! The history record written for every change of a config.
//!
//! As in Nacos, a record keeps the content the operation *replaced* for
//! updates and deletes, and the new content for inserts: a history entry is
//! a version that existed, so "roll back to this entry" means publishing its
//! content again.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::names::ConfigKey;

/// Kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpType {
    /// First publish of the key.
    Insert,
    /// Publish over an existing version.
    Update,
    /// Removal.
    Delete,
}

impl OpType {
    /// Nacos's one-letter code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Insert => "I",
            Self::Update => "U",
            Self::Delete => "D",
        }
    }
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// History id (Nacos's `nid`), increasing.
    pub nid: u64,
    /// Id of the config key.
    pub config_id: u64,
    /// The config.
    pub key: ConfigKey,
    /// Application of the version.
    pub app_name: String,
    /// Content of the version this entry records.
    pub content: Arc<str>,
    /// Its MD5.
    pub md5: Arc<str>,
    /// Content type of the version.
    pub config_type: String,
    /// Encrypted data key of the version.
    pub encrypted_data_key: String,
    /// Source IP of the operation.
    pub src_ip: String,
    /// User of the operation (or empty).
    pub src_user: String,
    /// Operation.
    pub op_type: OpType,
    /// `formal`, or `gray` for beta and tag versions.
    pub publish_type: String,
    /// `beta` or `tag_<tag>` for gray versions, empty for formal.
    pub gray_name: String,
    /// Time of the operation.
    pub created_ms: Millis,
    /// Modification time of the version recorded.
    pub modified_ms: Millis,
}
