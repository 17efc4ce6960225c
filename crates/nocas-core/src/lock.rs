//! Distributed locks (Nacos 3's `LockOperationRequest`): named leases, each
//! held by one holder until it releases it or the lease runs out.
//!
//! Locks are durable state: every acquire and release is a command in the
//! Raft log, and time enters only as the batch's `now_ms`, so every node
//! decides the same (two holders are impossible while the log is
//! linearizable). Unlike Nacos's built-in lock, a lock remembers its
//! holder: only the holder may release it (fencing); a holder that
//! disappears loses the lock when its lease runs out.
//!
//! Owns: the lock table's rules. Must not touch: connections, storage.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::error::ValidationError;

/// The only lock type Nacos defines.
pub const NACOS_LOCK: &str = "NACOS_LOCK";

/// Longest lock key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// A lock's identity: its type and key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LockKey {
    /// Lock type (`NACOS_LOCK`).
    pub lock_type: String,
    /// Lock name.
    pub key: String,
}

impl LockKey {
    /// Validates a type and key from a client.
    pub fn parse(lock_type: Option<&str>, key: Option<&str>) -> Result<Self, ValidationError> {
        let lock_type = lock_type.unwrap_or("").trim();
        if lock_type.is_empty() {
            return Err(ValidationError::Missing { field: "lockType" });
        }
        if lock_type != NACOS_LOCK {
            return Err(ValidationError::Invalid {
                field: "lockType",
                reason: format!("lockType: {lock_type} is not exist."),
            });
        }
        let key = key.unwrap_or("");
        if key.is_empty() {
            return Err(ValidationError::Missing { field: "key" });
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(ValidationError::Invalid {
                field: "key",
                reason: format!("is longer than {MAX_KEY_BYTES} bytes"),
            });
        }
        if key.chars().any(char::is_control) {
            return Err(ValidationError::Invalid {
                field: "key",
                reason: "contains a control character".into(),
            });
        }
        Ok(Self {
            lock_type: lock_type.to_string(),
            key: key.to_string(),
        })
    }
}

/// A held lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Who holds it (a connection, as the server names it).
    pub holder: String,
    /// When it was acquired (log time).
    pub acquired_ms: Millis,
    /// When the lease runs out (log time).
    pub until_ms: Millis,
}

impl LockRecord {
    /// Whether the lease still runs at `now`.
    pub fn held_at(&self, now: Millis) -> bool {
        self.until_ms > now
    }
}

/// What to do with a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockOp {
    /// Take it for `lease_ms` if nobody holds it.
    Acquire {
        /// Lease length.
        lease_ms: u64,
    },
    /// Give it back (only its holder can).
    Release,
}

/// Lease settings (Nacos `nacos.lock.default_expire_time` and
/// `nacos.lock.max_expire_time`).
#[derive(Debug, Clone, Copy)]
pub struct LeaseLimits {
    /// Lease when the client asks for none (a negative `expiredTime`).
    pub default_ms: u64,
    /// Longest lease granted.
    pub max_ms: u64,
}

impl Default for LeaseLimits {
    fn default() -> Self {
        Self {
            default_ms: 30_000,
            max_ms: 1_800_000,
        }
    }
}

impl LeaseLimits {
    /// The lease for a client's `expiredTime` (ms from now; negative: the
    /// default).
    pub fn lease(&self, expired_time: i64) -> u64 {
        if expired_time < 0 {
            self.default_ms
        } else {
            (expired_time as u64).min(self.max_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_leases() {
        assert!(LockKey::parse(Some("NACOS_LOCK"), Some("orders")).is_ok());
        assert!(LockKey::parse(Some("OTHER"), Some("orders")).is_err());
        assert!(LockKey::parse(None, Some("orders")).is_err());
        assert!(LockKey::parse(Some("NACOS_LOCK"), Some("")).is_err());
        assert!(LockKey::parse(Some("NACOS_LOCK"), Some("a\u{1f}b")).is_err());
        let l = LeaseLimits::default();
        assert_eq!(l.lease(-1), 30_000);
        assert_eq!(l.lease(5), 5);
        assert_eq!(l.lease(i64::MAX), 1_800_000);
    }
}
