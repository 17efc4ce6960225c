//! Free space on the data directory's file system, and the reserve that
//! durable writes keep.
//!
//! Owns only the measurement. The Raft proposer asks [`SpaceGuard::check`]
//! before it appends a batch, so a full disk refuses new writes with a clear
//! error instead of failing inside the database (where a failed write would
//! stop the node). Reads never ask.

use std::path::{Path, PathBuf};

/// Bytes free for an unprivileged writer on the file system holding `dir`.
pub fn available_bytes(dir: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Refuses writes while the data directory's file system has less than a
/// reserve free.
#[derive(Debug, Clone)]
pub struct SpaceGuard {
    /// The data directory.
    pub dir: PathBuf,
    /// Writes are refused below this many free bytes (0: never).
    pub min_free_bytes: u64,
}

/// Why the guard refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "disk full: {free} bytes free on the file system of {dir}, writes need at least {need} \
     (storage.min_free_bytes); free some space and retry"
)]
pub struct DiskFull {
    /// The data directory.
    pub dir: String,
    /// Bytes free.
    pub free: u64,
    /// Bytes the write would leave at least.
    pub need: u64,
}

impl SpaceGuard {
    /// `Ok` when a write of about `bytes` leaves the reserve free. A file
    /// system that cannot be measured is not a reason to refuse.
    pub fn check(&self, bytes: u64) -> Result<(), DiskFull> {
        if self.min_free_bytes == 0 {
            return Ok(());
        }
        match available_bytes(&self.dir) {
            Ok(free) if free < self.min_free_bytes.saturating_add(bytes) => Err(DiskFull {
                dir: self.dir.display().to_string(),
                free,
                need: self.min_free_bytes.saturating_add(bytes),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_and_refuses_below_the_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let free = available_bytes(dir.path()).unwrap();
        assert!(free > 0);
        let ok = SpaceGuard {
            dir: dir.path().into(),
            min_free_bytes: 1,
        };
        assert!(ok.check(0).is_ok());
        let off = SpaceGuard {
            dir: dir.path().into(),
            min_free_bytes: 0,
        };
        assert!(off.check(u64::MAX).is_ok());
        let full = SpaceGuard {
            dir: dir.path().into(),
            min_free_bytes: u64::MAX / 2,
        };
        let e = full.check(0).unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
    }
}
