//! Namespaces: isolated worlds of services and configs.
//!
//! The public namespace always exists and is not stored; custom namespaces
//! are durable records. As in Nacos, data may be written into a namespace id
//! that was never created: a record only names and describes a namespace.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Default quota reported for a namespace (Nacos: 200).
pub const DEFAULT_QUOTA: u32 = 200;
/// Longest namespace display name.
pub const MAX_NAMESPACE_NAME_LEN: usize = 128;
/// Longest namespace description.
pub const MAX_NAMESPACE_DESC_LEN: usize = 256;

/// A custom namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRecord {
    /// Display name.
    pub name: String,
    /// Description.
    pub desc: String,
    /// Quota reported to consoles.
    pub quota: u32,
    /// Creation time.
    pub created_ms: Millis,
}
