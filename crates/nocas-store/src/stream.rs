//! Streamed dumps of the applied state.
//!
//! Owns the byte encoding of a dump when it is written or read piece by
//! piece: the same MessagePack a [`StateDump`](crate::StateDump) encodes to
//! (byte for byte, so nodes of earlier versions read these snapshots and
//! digests agree across versions), produced table by table from one read
//! transaction and read back record by record. Snapshots, content digests
//! and installs therefore never hold the whole state in memory. It must not
//! know what a record means: the tables' rows pass through as bytes.

use std::io::{self, BufRead, Write};

use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::StoreError;
use crate::snapshot::SNAPSHOT_FORMAT;
use crate::tables::{
    APPLIED, AUDIT, AUTH, CONFIGS, HISTORY, HISTORY_BY_CONFIG, INSTANCES, LOCKS, NAMESPACES,
    OVERRIDES, SERVICES, SM_META,
};

/// The tables keyed by strings, by the name their part has in a dump.
pub(crate) const ROW_TABLES: [(&str, TableDefinition<&str, &[u8]>); 8] = [
    ("sm_meta", SM_META),
    ("namespaces", NAMESPACES),
    ("services", SERVICES),
    ("instances", INSTANCES),
    ("configs", CONFIGS),
    ("auth", AUTH),
    ("locks", LOCKS),
    ("overrides", OVERRIDES),
];

/// Which form a dump is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Everything, with the applied marker and the format (a snapshot).
    Full,
    /// Without the applied marker and the format: what the content digest
    /// covers.
    Content,
}

fn codec(detail: impl Into<String>) -> StoreError {
    StoreError::Codec {
        what: "snapshot",
        detail: detail.into(),
    }
}

fn io_err(e: io::Error) -> StoreError {
    codec(e.to_string())
}

// ---- writing ----

fn len_header(w: &mut impl Write, n: usize, fix: u8, m16: u8, m32: u8) -> io::Result<()> {
    if n < 16 {
        w.write_all(&[fix | n as u8])
    } else if let Ok(n) = u16::try_from(n) {
        w.write_all(&[m16])?;
        w.write_all(&n.to_be_bytes())
    } else {
        let n = u32::try_from(n).map_err(|_| io::Error::other("more than 2^32 items"))?;
        w.write_all(&[m32])?;
        w.write_all(&n.to_be_bytes())
    }
}

fn map_len(w: &mut impl Write, n: usize) -> io::Result<()> {
    len_header(w, n, 0x80, 0xde, 0xdf)
}

fn array_len(w: &mut impl Write, n: usize) -> io::Result<()> {
    len_header(w, n, 0x90, 0xdc, 0xdd)
}

fn str(w: &mut impl Write, s: &str) -> io::Result<()> {
    let n = s.len();
    if n < 32 {
        w.write_all(&[0xa0 | n as u8])?;
    } else if let Ok(n) = u8::try_from(n) {
        w.write_all(&[0xd9, n])?;
    } else if let Ok(n) = u16::try_from(n) {
        w.write_all(&[0xda])?;
        w.write_all(&n.to_be_bytes())?;
    } else {
        let n = u32::try_from(n).map_err(|_| io::Error::other("string over 4 GiB"))?;
        w.write_all(&[0xdb])?;
        w.write_all(&n.to_be_bytes())?;
    }
    w.write_all(s.as_bytes())
}

fn uint(w: &mut impl Write, v: u64) -> io::Result<()> {
    if v < 128 {
        w.write_all(&[v as u8])
    } else if let Ok(v) = u8::try_from(v) {
        w.write_all(&[0xcc, v])
    } else if let Ok(v) = u16::try_from(v) {
        w.write_all(&[0xcd])?;
        w.write_all(&v.to_be_bytes())
    } else if let Ok(v) = u32::try_from(v) {
        w.write_all(&[0xce])?;
        w.write_all(&v.to_be_bytes())
    } else {
        w.write_all(&[0xcf])?;
        w.write_all(&v.to_be_bytes())
    }
}

/// A byte string as serde encodes a `Vec<u8>`: an array of integers.
fn bytes(w: &mut impl Write, b: &[u8], scratch: &mut Vec<u8>) -> io::Result<()> {
    array_len(w, b.len())?;
    scratch.clear();
    for &x in b {
        if x < 128 {
            scratch.push(x);
        } else {
            scratch.extend_from_slice(&[0xcc, x]);
        }
    }
    w.write_all(scratch)
}

fn io<T>(r: io::Result<T>) -> Result<T, StoreError> {
    r.map_err(io_err)
}

/// One string-keyed table as a part of the dump; `skip` leaves out a key.
fn row_part(
    txn: &ReadTransaction,
    w: &mut impl Write,
    name: &str,
    def: TableDefinition<&str, &[u8]>,
    skip: Option<&str>,
    scratch: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let t = txn.open_table(def)?;
    let skip = match skip {
        Some(k) if t.get(k)?.is_some() => Some(k),
        _ => None,
    };
    let n = t.len()? as usize - usize::from(skip.is_some());
    io(str(w, name))?;
    io(array_len(w, n))?;
    for item in t.iter()? {
        let (k, v) = item?;
        if skip == Some(k.value()) {
            continue;
        }
        io(array_len(w, 2))?;
        io(str(w, k.value()))?;
        io(bytes(w, v.value(), scratch))?;
    }
    Ok(())
}

/// One u64-keyed table as a part of the dump.
fn id_part(
    w: &mut impl Write,
    name: &str,
    t: &redb::ReadOnlyTable<u64, &[u8]>,
    scratch: &mut Vec<u8>,
) -> Result<(), StoreError> {
    io(str(w, name))?;
    io(array_len(w, t.len()? as usize))?;
    for item in t.iter()? {
        let (k, v) = item?;
        io(array_len(w, 2))?;
        io(uint(w, k.value()))?;
        io(bytes(w, v.value(), scratch))?;
    }
    Ok(())
}

/// Writes the applied state as seen by `txn`, in `form`.
pub fn write_dump(txn: &ReadTransaction, w: &mut impl Write, form: Form) -> Result<(), StoreError> {
    let full = form == Form::Full;
    let audit = txn.open_table(AUDIT)?;
    let audit_len = audit.len()?;
    let parts = ROW_TABLES.len() + 2 + usize::from(audit_len > 0) + usize::from(full);
    io(map_len(w, parts))?;
    let mut scratch = Vec::new();
    let marker = if full { None } else { Some(APPLIED) };
    for (name, def) in &ROW_TABLES[..5] {
        let skip = if *name == "sm_meta" { marker } else { None };
        row_part(txn, w, name, *def, skip, &mut scratch)?;
    }
    id_part(w, "history", &txn.open_table(HISTORY)?, &mut scratch)?;
    let by_config = txn.open_table(HISTORY_BY_CONFIG)?;
    io(str(w, "history_by_config"))?;
    io(array_len(w, by_config.len()? as usize))?;
    for item in by_config.iter()? {
        let (k, _) = item?;
        let (ck, nid) = k.value();
        io(array_len(w, 2))?;
        io(str(w, ck))?;
        io(uint(w, nid))?;
    }
    for (name, def) in &ROW_TABLES[5..] {
        row_part(txn, w, name, *def, None, &mut scratch)?;
    }
    if audit_len > 0 {
        id_part(w, "audit", &audit, &mut scratch)?;
    }
    if full {
        io(str(w, "format"))?;
        io(uint(w, u64::from(SNAPSHOT_FORMAT)))?;
    }
    io(w.flush())
}

// ---- reading ----

/// One piece of a dump, as it is read.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A row of a string-keyed table (by its part's name, one of
    /// `ROW_TABLES`).
    Row(&'static str, &'a str, &'a [u8]),
    /// A config history record.
    History(u64, &'a [u8]),
    /// An index row: (config key, history id).
    HistoryByConfig(&'a str, u64),
    /// An audit record.
    Audit(u64, &'a [u8]),
}

struct Reader<R> {
    r: R,
    /// Bytes consumed so far (for error messages).
    at: u64,
}

impl<R: BufRead> Reader<R> {
    fn fail(&self, what: &str) -> StoreError {
        codec(format!("{what} at byte {}", self.at))
    }

    fn byte(&mut self) -> Result<u8, StoreError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), StoreError> {
        self.r.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                self.fail("the dump ends early (truncated)")
            } else {
                io_err(e)
            }
        })?;
        self.at += buf.len() as u64;
        Ok(())
    }

    fn be(&mut self, n: usize) -> Result<u64, StoreError> {
        let mut b = [0u8; 8];
        self.exact(&mut b[8 - n..])?;
        Ok(u64::from_be_bytes(b))
    }

    fn len(
        &mut self,
        fix: u8,
        fix_mask: u8,
        m16: u8,
        m32: u8,
        what: &str,
    ) -> Result<u64, StoreError> {
        let m = self.byte()?;
        if m & !fix_mask == fix {
            Ok(u64::from(m & fix_mask))
        } else if m == m16 {
            self.be(2)
        } else if m == m32 {
            self.be(4)
        } else {
            Err(self.fail(&format!("expected {what}, found marker {m:#04x}")))
        }
    }

    fn map_len(&mut self) -> Result<u64, StoreError> {
        self.len(0x80, 0x0f, 0xde, 0xdf, "a map")
    }

    fn array_len(&mut self) -> Result<u64, StoreError> {
        self.len(0x90, 0x0f, 0xdc, 0xdd, "an array")
    }

    fn pair(&mut self) -> Result<(), StoreError> {
        match self.array_len()? {
            2 => Ok(()),
            n => Err(self.fail(&format!("expected a pair, found {n} items"))),
        }
    }

    fn str<'b>(&mut self, out: &'b mut Vec<u8>) -> Result<&'b str, StoreError> {
        let m = self.byte()?;
        let n = match m {
            0xa0..=0xbf => u64::from(m & 0x1f),
            0xd9 => self.be(1)?,
            0xda => self.be(2)?,
            0xdb => self.be(4)?,
            _ => return Err(self.fail(&format!("expected a string, found marker {m:#04x}"))),
        };
        out.clear();
        out.resize(n as usize, 0);
        self.exact(out)?;
        std::str::from_utf8(out).map_err(|_| self.fail("a key is not UTF-8"))
    }

    fn uint(&mut self) -> Result<u64, StoreError> {
        let m = self.byte()?;
        match m {
            0x00..=0x7f => Ok(u64::from(m)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            _ => Err(self.fail(&format!(
                "expected an unsigned integer, found marker {m:#04x}"
            ))),
        }
    }

    /// A byte string: an array of integers (as serde writes `Vec<u8>`) or
    /// a MessagePack bin.
    fn bytes(&mut self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        out.clear();
        let m = self.byte()?;
        let n = match m {
            0xc4..=0xc6 => {
                let n = self.be(1 << (m - 0xc4))?;
                out.resize(n as usize, 0);
                return self.exact(out);
            }
            0x90..=0x9f => u64::from(m & 0x0f),
            0xdc => self.be(2)?,
            0xdd => self.be(4)?,
            _ => return Err(self.fail(&format!("expected bytes, found marker {m:#04x}"))),
        };
        out.reserve(n as usize);
        let mut left = n;
        while left > 0 {
            let buf = self.r.fill_buf().map_err(io_err)?;
            if buf.is_empty() {
                return Err(self.fail("the dump ends early (truncated)"));
            }
            let mut i = 0;
            while i < buf.len() && left > 0 {
                let x = buf[i];
                if x < 0x80 {
                    out.push(x);
                    i += 1;
                } else if x == 0xcc && i + 1 < buf.len() {
                    out.push(buf[i + 1]);
                    i += 2;
                } else {
                    break;
                }
                left -= 1;
            }
            let stalled = i < buf.len();
            self.r.consume(i);
            self.at += i as u64;
            if left > 0 && stalled {
                // A two-byte integer across the buffer's end, or not a byte.
                match self.byte()? {
                    0xcc => out.push(self.byte()?),
                    m => return Err(self.fail(&format!("expected a byte, found marker {m:#04x}"))),
                }
                left -= 1;
            }
        }
        Ok(())
    }
}

/// What a dump held, besides its records.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    /// Its format (1 when it has none).
    pub format: u32,
    /// Its records, all tables together.
    pub records: u64,
}

/// Reads a dump, handing every record to `f` in order. A dump of a newer
/// format than this build reads, or with a part this build does not know,
/// is refused (installing it would drop what this build does not know).
pub fn read_dump(
    r: impl BufRead,
    mut f: impl FnMut(Record<'_>) -> Result<(), StoreError>,
) -> Result<DumpSummary, StoreError> {
    let mut rd = Reader { r, at: 0 };
    let mut name = Vec::new();
    let mut key = Vec::new();
    let mut val = Vec::new();
    let mut sum = DumpSummary {
        format: 1,
        records: 0,
    };
    let parts = rd.map_len()?;
    for _ in 0..parts {
        let part = rd.str(&mut name)?.to_string();
        if part == "format" {
            let v = rd.uint()?;
            if v > u64::from(SNAPSHOT_FORMAT) {
                return Err(codec(format!(
                    "format {v} is newer than this node reads ({SNAPSHOT_FORMAT}): upgrade this node"
                )));
            }
            sum.format = v as u32;
            continue;
        }
        let table = ROW_TABLES.iter().find(|(n, _)| *n == part).map(|(n, _)| *n);
        let n = rd.array_len()?;
        for _ in 0..n {
            rd.pair()?;
            match (table, part.as_str()) {
                (Some(t), _) => {
                    let k = rd.str(&mut key)?;
                    rd.bytes(&mut val)?;
                    f(Record::Row(t, k, &val))?;
                }
                (None, "history") => {
                    let id = rd.uint()?;
                    rd.bytes(&mut val)?;
                    f(Record::History(id, &val))?;
                }
                (None, "audit") => {
                    let id = rd.uint()?;
                    rd.bytes(&mut val)?;
                    f(Record::Audit(id, &val))?;
                }
                (None, "history_by_config") => {
                    let k = rd.str(&mut key)?;
                    let nid = rd.uint()?;
                    f(Record::HistoryByConfig(k, nid))?;
                }
                (None, other) => {
                    return Err(codec(format!(
                        "unknown part {other:?}: written by a newer Nocas; upgrade this node"
                    )));
                }
            }
            sum.records += 1;
        }
    }
    let mut rest = [0u8; 1];
    match rd.r.read(&mut rest) {
        Ok(0) => Ok(sum),
        Ok(_) => Err(rd.fail("bytes after the end of the dump")),
        Err(e) => Err(io_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StateDump, Store};

    fn sample(store: &Store, audit: bool) {
        use crate::tables::{CONFIGS, HISTORY, HISTORY_BY_CONFIG, SM_META};
        let txn = store.write().unwrap();
        {
            let mut t = txn.open_table(SM_META).unwrap();
            t.insert(APPLIED, &[0x92u8, 0xc0, 0x80, 200][..]).unwrap();
            t.insert("ids", &[1u8, 2, 3][..]).unwrap();
            let mut t = txn.open_table(CONFIGS).unwrap();
            for i in 0..300u32 {
                let v: Vec<u8> = (0..(i * 7 % 600)).map(|j| (j * 31 + i) as u8).collect();
                t.insert(
                    format!("public+G+d{i}-{}", "x".repeat(i as usize % 300)).as_str(),
                    v.as_slice(),
                )
                .unwrap();
            }
            let mut h = txn.open_table(HISTORY).unwrap();
            let mut by = txn.open_table(HISTORY_BY_CONFIG).unwrap();
            for i in [0u64, 1, 127, 128, 255, 256, 65_535, 65_536, 1 << 33] {
                h.insert(i, &[0xffu8, 0, 0x7f, 0x80][..]).unwrap();
                by.insert(("public+G+d1", i), ()).unwrap();
            }
            if audit {
                let mut a = txn.open_table(AUDIT).unwrap();
                a.insert(7u64 << 20, &[9u8; 70_000][..]).unwrap();
            }
        }
        txn.commit().unwrap();
    }

    fn streamed(store: &Store, form: Form) -> Vec<u8> {
        let mut out = Vec::new();
        write_dump(&store.read().unwrap(), &mut out, form).unwrap();
        out
    }

    #[test]
    fn a_streamed_dump_is_byte_for_byte_the_encoded_one() {
        for audit in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("s.redb")).unwrap();
            sample(&store, audit);
            let dump = store.dump_state().unwrap();
            assert_eq!(streamed(&store, Form::Full), dump.to_bytes().unwrap());
            assert_eq!(
                streamed(&store, Form::Content),
                dump.without_marker().to_bytes().unwrap()
            );
        }
    }

    #[test]
    fn a_dump_reads_back_record_by_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        sample(&store, true);
        let bytes = streamed(&store, Form::Full);
        // A tiny buffer puts two-byte integers across its end.
        for cap in [1, 2, 3, 7, 8192] {
            let mut seen = Vec::new();
            let r = io::BufReader::with_capacity(cap, bytes.as_slice());
            let sum = read_dump(r, |rec| {
                seen.push(format!("{rec:?}"));
                Ok(())
            })
            .unwrap();
            assert_eq!(sum.format, SNAPSHOT_FORMAT);
            assert_eq!(sum.records, seen.len() as u64);
            let dump = StateDump::from_bytes(&bytes).unwrap();
            assert_eq!(seen.len(), dump.record_count(), "buffer {cap}");
            assert!(seen.iter().any(|s| s.starts_with("Audit(7340032")));
        }
    }

    #[test]
    fn damaged_newer_and_truncated_dumps_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        sample(&store, false);
        let bytes = streamed(&store, Form::Full);
        let ok = |b: &[u8]| read_dump(b, |_| Ok(()));
        for cut in [1, 10, bytes.len() / 2, bytes.len() - 1] {
            let e = ok(&bytes[..cut]).unwrap_err().to_string();
            assert!(
                e.contains("truncated") || e.contains("expected"),
                "{cut}: {e}"
            );
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(
            ok(&padded)
                .unwrap_err()
                .to_string()
                .contains("after the end")
        );
        let mut newer = bytes.clone();
        let last = newer.len() - 1;
        newer[last] = SNAPSHOT_FORMAT as u8 + 1;
        assert!(
            ok(&newer)
                .unwrap_err()
                .to_string()
                .contains("upgrade this node")
        );
        let mut unknown = bytes.clone();
        let at = unknown.windows(7).position(|w| w == b"configs").unwrap();
        unknown[at..at + 7].copy_from_slice(b"cfgs_v9");
        assert!(
            ok(&unknown)
                .unwrap_err()
                .to_string()
                .contains("unknown part")
        );
    }
}
