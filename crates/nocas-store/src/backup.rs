//! Backup files: a consistent dump of the applied state with a header
//! that says what it is (applied log position, content digest), and
//! restoring one into a fresh store.
//!
//! Layout: the line `NOCAS-BACKUP 1`, one line of JSON ([`BackupHeader`]),
//! then `bytes` bytes of the encoded [`StateDump`]. Owns the format; what
//! the applied marker means is the caller's business.

use std::io::{BufRead, Read};

use md5::Digest;
use serde::{Deserialize, Serialize};

use crate::snapshot::StateDump;
use crate::{Store, StoreError};

/// The first line of every backup.
pub const MAGIC: &str = "NOCAS-BACKUP 1";

/// What a backup file says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupHeader {
    /// Format version (1).
    pub format: u32,
    /// When it was taken (ms since the epoch).
    pub created_ms: u64,
    /// The node that took it.
    pub node_id: u64,
    /// The log index of the last entry applied in it.
    pub applied_index: Option<u64>,
    /// That entry's term.
    pub applied_term: Option<u64>,
    /// MD5 of the content (the state without the applied marker): what
    /// `GET /nacos/v2/core/cluster/node/self/digest` answers on a node
    /// holding exactly this state.
    pub digest: String,
    /// Length of the dump that follows.
    pub bytes: u64,
    /// The server's version.
    pub version: String,
}

/// Why a backup could not be read.
fn bad(reason: impl Into<String>) -> StoreError {
    StoreError::Backup(reason.into())
}

impl StateDump {
    /// MD5 of the content (everything but the applied marker).
    pub fn content_digest(&self) -> Result<String, StoreError> {
        let bytes = self.without_marker().to_bytes()?;
        Ok(hex::encode(md5::Md5::digest(&bytes)))
    }
}

/// Encodes a backup: header fields (digest and length are filled in here)
/// and the dump.
pub fn encode_backup(mut header: BackupHeader, dump: &StateDump) -> Result<Vec<u8>, StoreError> {
    let body = dump.to_bytes()?;
    header.digest = dump.content_digest()?;
    header.bytes = body.len() as u64;
    let head = serde_json::to_string(&header).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::with_capacity(body.len() + head.len() + 32);
    out.extend_from_slice(MAGIC.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(head.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&body);
    Ok(out)
}

/// The header of an encoded backup, and where its dump starts.
pub fn decode_header(bytes: &[u8]) -> Result<(BackupHeader, usize), StoreError> {
    let magic_end = MAGIC.len() + 1;
    if bytes.len() < magic_end || &bytes[..MAGIC.len()] != MAGIC.as_bytes() {
        return Err(bad(
            "not a Nocas backup (its first line is not NOCAS-BACKUP 1)",
        ));
    }
    let rest = &bytes[magic_end..];
    let end = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| bad("no header line"))?;
    let header: BackupHeader =
        serde_json::from_slice(&rest[..end]).map_err(|e| bad(format!("unreadable header: {e}")))?;
    Ok((header, magic_end + end + 1))
}

/// Reads a backup and checks it: magic, header, length and digest.
pub fn decode_backup(r: impl Read) -> Result<(BackupHeader, StateDump), StoreError> {
    let mut r = std::io::BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| bad(e.to_string()))?;
    if line.trim_end() != MAGIC {
        return Err(bad(
            "not a Nocas backup (its first line is not NOCAS-BACKUP 1)",
        ));
    }
    line.clear();
    r.read_line(&mut line).map_err(|e| bad(e.to_string()))?;
    let header: BackupHeader =
        serde_json::from_str(&line).map_err(|e| bad(format!("unreadable header: {e}")))?;
    if header.format != 1 {
        return Err(bad(format!(
            "format {} is newer than this Nocas",
            header.format
        )));
    }
    let mut body = Vec::new();
    r.take(header.bytes.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| bad(e.to_string()))?;
    if body.len() as u64 != header.bytes {
        return Err(bad(format!(
            "truncated or padded: {} bytes of state where the header says {}",
            body.len(),
            header.bytes
        )));
    }
    let dump = StateDump::from_bytes(&body)?;
    let digest = dump.content_digest()?;
    if digest != header.digest {
        return Err(bad(format!(
            "damaged: its content digest is {digest}, the header says {}",
            header.digest
        )));
    }
    Ok((header, dump))
}

impl Store {
    /// Whether nothing was ever stored here: no log entry, no vote, no
    /// applied state.
    pub fn is_fresh(&self) -> Result<bool, StoreError> {
        Ok(self.last_log()?.is_none()
            && self.applied_marker()?.is_none()
            && self.raft_meta("vote")?.is_none())
    }

    /// Installs a backup's state into a fresh store as applied state with
    /// no log behind it: a node started on it forms a new cluster (or
    /// joins one as a new member) holding exactly this content.
    pub fn restore(&self, dump: &StateDump) -> Result<(), StoreError> {
        if !self.is_fresh()? {
            return Err(bad(
                "the data directory already holds a store; restore into an empty one",
            ));
        }
        self.install_state(&dump.without_marker())?;
        self.put_raft_meta(RESTORED, b"1", true)
    }

    /// Whether this store was restored and its state is not yet in a
    /// snapshot (see [`RESTORED`]).
    pub fn restored_pending(&self) -> Result<bool, StoreError> {
        Ok(self.raft_meta(RESTORED)?.is_some())
    }

    /// The restored state is now in a snapshot that replaced the log.
    pub fn restored_done(&self) -> Result<(), StoreError> {
        self.remove_raft_meta(RESTORED)
    }
}

/// Raft metadata key set by a restore: the state came from a backup, not
/// from the log, so the node must snapshot it and purge the log before a
/// new member could be sent log entries that do not contain it.
pub const RESTORED: &str = "restored-from-backup";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_check_their_length_and_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.redb")).unwrap();
        let dump = store.dump_state().unwrap();
        let header = BackupHeader {
            format: 1,
            created_ms: 1,
            node_id: 1,
            applied_index: Some(3),
            applied_term: Some(1),
            digest: String::new(),
            bytes: 0,
            version: "test".into(),
        };
        let bytes = encode_backup(header, &dump).unwrap();
        let (h, back) = decode_backup(bytes.as_slice()).unwrap();
        assert_eq!(h.digest, dump.content_digest().unwrap());
        assert_eq!(back.content_digest().unwrap(), h.digest);
        assert_eq!(decode_header(&bytes).unwrap().0, h);
        let cut = &bytes[..bytes.len() - 1];
        assert!(
            decode_backup(cut)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            decode_backup(longer.as_slice())
                .unwrap_err()
                .to_string()
                .contains("padded")
        );
        assert!(
            decode_backup(&b"PK\x03\x04"[..])
                .unwrap_err()
                .to_string()
                .contains("not a Nocas backup")
        );

        // Restore: only into a fresh store, and it marks the store.
        let fresh = Store::open(&dir.path().join("b.redb")).unwrap();
        fresh.restore(&back).unwrap();
        assert!(fresh.restored_pending().unwrap());
        assert_eq!(fresh.content_digest().unwrap(), h.digest);
        assert!(
            fresh.restore(&back).is_ok(),
            "no log or marker yet: still fresh"
        );
        fresh.append_log(&[(1, vec![1])]).unwrap();
        assert!(
            fresh
                .restore(&back)
                .unwrap_err()
                .to_string()
                .contains("empty one")
        );
        fresh.restored_done().unwrap();
        assert!(!fresh.restored_pending().unwrap());
    }
}
