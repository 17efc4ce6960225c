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
        self.sync()
    }
}
