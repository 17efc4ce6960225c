//! Backup files: a consistent dump of the applied state with a header
//! that says what it is (applied log position, content digest), and
//! restoring one into a fresh store.
//!
//! Layout: the line `NOCAS-BACKUP 1`, one line of JSON ([`BackupHeader`]),
//! then `bytes` bytes of the encoded dump (the snapshot format,
//! [`crate::stream`]). Both directions stream: a backup is written from one
//! read transaction into a file without a name and sent from it; a restore
//! copies the body into a file, checks it, writes it into the store in
//! bounded transactions and compares the restored content's digest with
//! the header's. Neither holds the state in memory. Owns the format; what
//! the applied marker means is the caller's business.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};

use serde::{Deserialize, Serialize};

use crate::snapshot::{digest_of, file_err};
use crate::stream::{Form, Record, read_dump, write_dump};
use crate::tables::{APPLIED, SM_META};
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

/// The body of a backup being taken: the dump in a file that has no name
/// (it is gone once `file` is dropped), and what the header needs.
#[derive(Debug)]
pub struct BackupBody {
    /// The applied marker the dump was taken at.
    pub marker: Option<Vec<u8>>,
    /// The content digest, from the same read.
    pub digest: String,
    /// The dump's length.
    pub bytes: u64,
    /// The dump, positioned at its start.
    pub file: File,
}

/// Why a backup could not be read.
fn bad(reason: impl Into<String>) -> StoreError {
    StoreError::Backup(reason.into())
}

/// The first two lines of a backup (magic and header) for `header`, with
/// the digest and length of `body` filled in.
pub fn head(
    mut header: BackupHeader,
    body: &BackupBody,
) -> Result<(BackupHeader, Vec<u8>), StoreError> {
    header.digest = body.digest.clone();
    header.bytes = body.bytes;
    let line = serde_json::to_string(&header).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::with_capacity(MAGIC.len() + line.len() + 2);
    out.extend_from_slice(MAGIC.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    Ok((header, out))
}

/// Reads a backup's first two lines and checks them; `r` is left at the
/// start of the dump.
pub fn read_header(r: &mut impl BufRead) -> Result<BackupHeader, StoreError> {
    // Bounded reads: a file that is not a backup may have no line breaks.
    let mut line = String::new();
    r.take(MAGIC.len() as u64 + 1)
        .read_line(&mut line)
        .map_err(|e| bad(e.to_string()))?;
    if line.trim_end() != MAGIC {
        return Err(bad(
            "not a Nocas backup (its first line is not NOCAS-BACKUP 1)",
        ));
    }
    line.clear();
    r.take(64 * 1024)
        .read_line(&mut line)
        .map_err(|e| bad(e.to_string()))?;
    let header: BackupHeader =
        serde_json::from_str(&line).map_err(|e| bad(format!("unreadable header: {e}")))?;
    if header.format != 1 {
        return Err(bad(format!(
            "format {} is newer than this Nocas",
            header.format
        )));
    }
    Ok(header)
}

impl Store {
    /// Whether nothing was ever stored here: no log entry, no vote, no
    /// applied state.
    pub fn is_fresh(&self) -> Result<bool, StoreError> {
        Ok(self.last_log()?.is_none()
            && self.applied_marker()?.is_none()
            && self.raft_meta("vote")?.is_none())
    }

    /// Writes the applied state, as of one read, into a new file of the
    /// snapshot directory that is unlinked at once (only the returned
    /// handle reaches it), with the content digest from the same read.
    pub fn backup_body(&self) -> Result<BackupBody, StoreError> {
        let txn = self.read()?;
        let marker = txn
            .open_table(SM_META)?
            .get(APPLIED)?
            .map(|v| v.value().to_vec());
        let (part, mut file) = self.new_snapshot_file()?;
        let _ = std::fs::remove_file(&part);
        let io = |e| file_err(&part, e);
        {
            let mut w = BufWriter::with_capacity(256 * 1024, &file);
            write_dump(&txn, &mut w, Form::Full)?;
            w.flush().map_err(io)?;
        }
        let digest = digest_of(&txn)?;
        let bytes = file.stream_position().map_err(io)?;
        file.rewind().map_err(io)?;
        Ok(BackupBody {
            marker,
            digest,
            bytes,
            file,
        })
    }

    /// Restores a backup whose header was read from `r` (see
    /// [`read_header`]) into this store, which must be fresh: the dump is
    /// copied into a file (exactly `header.bytes`, else refused as
    /// truncated or padded), checked, written into the state tables in
    /// transactions of about `batch_bytes` without its applied marker, and
    /// its content digest compared with the header's. On an error the
    /// store may hold part of the state: the caller removes it. Marks the
    /// store restored ([`RESTORED`]).
    pub fn restore_from(
        &self,
        header: &BackupHeader,
        r: impl Read,
        batch_bytes: usize,
    ) -> Result<(), StoreError> {
        if !self.is_fresh()? {
            return Err(bad(
                "the data directory already holds a store; restore into an empty one",
            ));
        }
        let (part, mut file) = self.new_snapshot_file()?;
        let result = (|| {
            let copied = std::io::copy(&mut r.take(header.bytes.saturating_add(1)), &mut file)
                .map_err(|e| bad(e.to_string()))?;
            if copied != header.bytes {
                return Err(bad(format!(
                    "truncated or padded: {copied} bytes of state where the header says {}",
                    header.bytes
                )));
            }
            drop(file);
            // A first pass over the whole dump before anything is written.
            let f = File::open(&part).map_err(|e| file_err(&part, e))?;
            read_dump(BufReader::with_capacity(256 * 1024, f), |_| Ok(()))?;
            let marker =
                |rec: &Record<'_>| matches!(rec, Record::Row("sm_meta", k, _) if *k == APPLIED);
            self.fill_records(&part, batch_bytes, |rec| !marker(rec))?;
            let digest = self.content_digest()?;
            if digest != header.digest {
                return Err(bad(format!(
                    "damaged: its content digest is {digest}, the header says {}",
                    header.digest
                )));
            }
            self.put_raft_meta(RESTORED, b"1", true)
        })();
        let _ = std::fs::remove_file(&part);
        result
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
    use crate::tables::CONFIGS;

    fn header() -> BackupHeader {
        BackupHeader {
            format: 1,
            created_ms: 1,
            node_id: 1,
            applied_index: Some(3),
            applied_term: Some(1),
            digest: String::new(),
            bytes: 0,
            version: "test".into(),
        }
    }

    fn parts_in(s: &Store) -> usize {
        std::fs::read_dir(s.snapshot_dir()).map_or(0, |d| d.count())
    }

    #[test]
    fn backups_stream_out_and_back_in_checking_length_and_digest() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(&dir.path().join("a.redb")).unwrap();
        let txn = a.write().unwrap();
        {
            let mut t = txn.open_table(CONFIGS).unwrap();
            for i in 0..200 {
                let v = format!("value-{i}-{}", "x".repeat(i));
                t.insert(format!("public+G+d{i}").as_str(), v.as_bytes())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
        a.apply(Vec::new(), b"m1".to_vec()).unwrap();

        let mut body = a.backup_body().unwrap();
        assert_eq!(body.marker.as_deref(), Some(&b"m1"[..]));
        assert_eq!(body.digest, a.content_digest().unwrap());
        assert_eq!(parts_in(&a), 0, "the body's file has no name");
        let (h, mut bytes) = head(header(), &body).unwrap();
        assert_eq!(
            (h.digest.as_str(), h.bytes),
            (body.digest.as_str(), body.bytes)
        );
        body.file.read_to_end(&mut bytes).unwrap();

        let mut r = bytes.as_slice();
        assert_eq!(read_header(&mut r).unwrap(), h);
        let dump = r;
        assert_eq!(dump.len() as u64, h.bytes);

        // Restored in one-byte batches: same content, no applied marker.
        let b = Store::open(&dir.path().join("b.redb")).unwrap();
        b.restore_from(&h, dump, 1).unwrap();
        assert_eq!(b.content_digest().unwrap(), h.digest);
        assert_eq!(b.applied_marker().unwrap(), None);
        assert!(b.restored_pending().unwrap());
        assert_eq!(parts_in(&b), 0);
        b.append_log(&[(1, vec![1])]).unwrap();
        let e = b.restore_from(&h, dump, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("empty one"), "{e}");
        b.restored_done().unwrap();
        assert!(!b.restored_pending().unwrap());

        let refused = |name: &str, data: &[u8]| {
            let s = Store::open(&dir.path().join(name)).unwrap();
            let e = s.restore_from(&h, data, 1 << 20).unwrap_err().to_string();
            assert_eq!(parts_in(&s), 0, "{name}");
            e
        };
        let e = refused("c.redb", &dump[..dump.len() - 1]);
        assert!(e.contains("truncated"), "{e}");
        let mut longer = dump.to_vec();
        longer.push(0);
        assert!(refused("d.redb", &longer).contains("padded"));
        // One letter of one value changed: the dump reads, the digest
        // tells.
        let mut damaged = dump.to_vec();
        let at = damaged.windows(8).position(|w| w == b"value-17").unwrap();
        damaged[at] = b'V';
        let e = refused("e.redb", &damaged);
        assert!(e.contains("damaged"), "{e}");
        // Cut inside a record: refused by the first pass.
        let mut cut = dump[..dump.len() / 2].to_vec();
        cut.resize(dump.len(), 0);
        let e = refused("f.redb", &cut);
        assert!(!e.is_empty());

        let e = read_header(&mut &b"PK\x03\x04 and no line break"[..]).unwrap_err();
        assert!(e.to_string().contains("not a Nocas backup"), "{e}");
        let mut newer = format!("{MAGIC}\n").into_bytes();
        let mut h2 = h.clone();
        h2.format = 2;
        newer.extend_from_slice(serde_json::to_string(&h2).unwrap().as_bytes());
        newer.push(b'\n');
        let e = read_header(&mut newer.as_slice()).unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
    }
}
