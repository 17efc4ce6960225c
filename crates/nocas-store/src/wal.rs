//! The Raft log: entries and Raft metadata in an append-only write-ahead
//! log, a directory of segment files beside the state file.
//!
//! An append is one sequential `write` and one `fdatasync`, where a B-tree
//! commit rewrites pages all over its file. Every change is a record
//! (`[len u32][crc32 u32][kind u8, body]`, little-endian, the checksum over
//! the length and the body): an entry, a cut of the log's tail, a purge of
//! its head, or the Raft metadata map (`vote`, `committed`, `purged`, kept
//! whole, it is small). Opening replays the records in order. Entries are
//! keyed by their index alone (the term is inside the entry's bytes, which
//! this layer does not read); only their places are kept in memory, the
//! bytes are read back from the files.
//!
//! A segment is closed once it holds [`SEGMENT_BYTES`]; the next one starts
//! with the metadata and the purge point, so a segment whose entries are
//! all purged is deleted. A segment is created under a temporary name and
//! renamed once its first records are on disk, so a segment file is never
//! empty. A record torn by a crash at the end of the last segment is cut
//! off on open (it was never acknowledged); any other damaged record
//! refuses the open.
//!
//! Owns the log directory only; knows nothing of Raft's types and must not
//! touch the state database. Every call blocks (a durable call until its
//! fsync is done) and must run off the async executor's threads.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::StoreError;

/// A segment is closed once it holds this many bytes. Purging deletes
/// whole segments, so this bounds the disk a purged log keeps.
const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;
/// The first bytes of every segment file.
const MAGIC: &[u8; 8] = b"NOCASWL1";
/// Bytes of a record's header: length and checksum.
const HEADER: usize = 8;

const ENTRY: u8 = 1;
const TRUNCATE: u8 = 2;
const PURGE: u8 = 3;
const META: u8 = 4;

/// Where an entry's bytes are.
#[derive(Debug, Clone, Copy)]
struct Place {
    segment: u64,
    offset: u64,
    len: u32,
}

#[derive(Debug)]
struct Segment {
    file: Arc<File>,
    /// The highest index ever written to it.
    max_index: Option<u64>,
}

/// What readers see: the log as of the last completed write.
#[derive(Debug, Default)]
struct Index {
    entries: BTreeMap<u64, Place>,
    purged: Option<u64>,
    segments: BTreeMap<u64, Segment>,
}

impl Index {
    fn truncate(&mut self, since: u64) {
        self.entries.split_off(&since);
    }

    fn purge(&mut self, upto: u64) {
        self.entries = self.entries.split_off(&(upto.saturating_add(1)));
        self.purged = Some(self.purged.map_or(upto, |p| p.max(upto)));
    }
}

/// The open segment, written only under the writer lock.
#[derive(Debug)]
struct Writer {
    segment: u64,
    file: Arc<File>,
    len: u64,
    /// Written since the last fsync.
    dirty: bool,
    /// A write or an fsync failed: what is on disk is not known, so no
    /// further write is taken (the node stops; a restart replays the log).
    failed: bool,
}

/// An open Raft log.
pub(crate) struct Wal {
    dir: PathBuf,
    writer: Mutex<Writer>,
    index: RwLock<Index>,
    /// The metadata map as last written.
    meta: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.dir).finish()
    }
}

/// One record to write.
enum Record<'a> {
    Entry(u64, &'a [u8]),
    Truncate(u64),
    Purge(u64),
    Meta(&'a [u8]),
}

impl Record<'_> {
    /// Appends the record to `buf`; returns where its body's payload (an
    /// entry's bytes) starts, relative to `buf`'s start.
    fn encode(&self, buf: &mut Vec<u8>) -> usize {
        let start = buf.len();
        buf.extend_from_slice(&[0; HEADER]);
        let payload = match self {
            Record::Entry(index, bytes) => {
                buf.push(ENTRY);
                buf.extend_from_slice(&index.to_le_bytes());
                let at = buf.len();
                buf.extend_from_slice(bytes);
                at
            }
            Record::Truncate(i) => {
                buf.push(TRUNCATE);
                buf.extend_from_slice(&i.to_le_bytes());
                buf.len()
            }
            Record::Purge(i) => {
                buf.push(PURGE);
                buf.extend_from_slice(&i.to_le_bytes());
                buf.len()
            }
            Record::Meta(bytes) => {
                buf.push(META);
                let at = buf.len();
                buf.extend_from_slice(bytes);
                at
            }
        };
        let len = (buf.len() - start - HEADER) as u32;
        buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        let crc = checksum(len, &buf[start + HEADER..]);
        buf[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
        payload
    }
}

fn checksum(len: u32, body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(body);
    h.finalize()
}

/// The record at `at` in `bytes`, if a whole, intact one is there:
/// `(body, next record's offset)`.
fn parse(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?);
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let end = (at + HEADER).checked_add(len as usize)?;
    let body = bytes.get(at + HEADER..end)?;
    let known = match *body.first()? {
        ENTRY | TRUNCATE | PURGE => body.len() >= 9,
        META => true,
        _ => false,
    };
    (known && checksum(len, body) == crc).then_some((body, end))
}

fn u64_at(body: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&body[1..9]);
    u64::from_le_bytes(b)
}

fn segment_name(segment: u64) -> String {
    format!("{segment:016x}.wal")
}

fn segment_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let hex = name.strip_suffix(".wal")?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

impl Wal {
    /// Opens (or creates) the log in `dir`. A record torn by a crash at
    /// the end of the last segment is cut off: it was never acknowledged.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError::Log {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut numbers = Vec::new();
        for item in std::fs::read_dir(dir).map_err(err)? {
            let path = item.map_err(err)?.path();
            match segment_number(&path) {
                Some(n) => numbers.push(n),
                // A segment whose creation a crash cut short.
                None if path.extension().is_some_and(|e| e == "tmp") => {
                    std::fs::remove_file(&path).map_err(err)?;
                }
                None => {}
            }
        }
        numbers.sort_unstable();
        let mut index = Index::default();
        let mut meta = BTreeMap::new();
        let last = numbers.last().copied();
        for &n in &numbers {
            let path = dir.join(segment_name(n));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(err)?;
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut &file, &mut bytes).map_err(err)?;
            let damaged = |reason: String| StoreError::Damaged {
                path: path.clone(),
                reason,
            };
            if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
                return Err(damaged("not a Nocas log segment".into()));
            }
            let mut max_index = None;
            let mut at = MAGIC.len();
            while at < bytes.len() {
                let Some((body, next)) = parse(&bytes, at) else {
                    // Torn only if it is the last thing written: in the
                    // last segment, with no intact record after it.
                    let torn = Some(n) == last
                        && !(at + 1..bytes.len()).any(|p| parse(&bytes, p).is_some());
                    if !torn {
                        return Err(damaged(format!("damaged record at byte {at}")));
                    }
                    file.set_len(at as u64).map_err(err)?;
                    file.sync_all().map_err(err)?;
                    break;
                };
                match body[0] {
                    ENTRY => {
                        let i = u64_at(body);
                        let len = (body.len() - 9) as u32;
                        let offset = (at + HEADER + 9) as u64;
                        index.entries.insert(
                            i,
                            Place {
                                segment: n,
                                offset,
                                len,
                            },
                        );
                        max_index = Some(max_index.map_or(i, |m: u64| m.max(i)));
                    }
                    TRUNCATE => index.truncate(u64_at(body)),
                    PURGE => index.purge(u64_at(body)),
                    _ => {
                        meta = decode_meta(&body[1..])?;
                    }
                }
                at = next;
            }
            index.segments.insert(
                n,
                Segment {
                    file: Arc::new(file),
                    max_index,
                },
            );
        }
        let writer = match index.segments.last_key_value() {
            Some((&segment, s)) => Writer {
                segment,
                file: s.file.clone(),
                len: s.file.metadata().map_err(err)?.len(),
                dirty: false,
                failed: false,
            },
            None => {
                let (file, len) = create_segment(dir, 1, &meta, None).map_err(err)?;
                let segment = Segment {
                    file: file.clone(),
                    max_index: None,
                };
                index.segments.insert(1, segment);
                Writer {
                    segment: 1,
                    file,
                    len,
                    dirty: false,
                    failed: false,
                }
            }
        };
        let wal = Self {
            dir: dir.to_path_buf(),
            writer: Mutex::new(writer),
            index: RwLock::new(index),
            meta: Mutex::new(meta),
        };
        wal.drop_purged_segments();
        Ok(wal)
    }

    fn err(&self, source: io::Error) -> StoreError {
        StoreError::Log {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Writes `buf` (whole records) at the end of the open segment and,
    /// with `durable`, fsyncs it; then `update` sees the index and where
    /// `buf` landed. Closes the segment if it is full.
    fn write(
        &self,
        w: &mut Writer,
        buf: &[u8],
        durable: bool,
        update: impl FnOnce(&mut Index, u64, u64),
    ) -> Result<(), StoreError> {
        if w.failed {
            return Err(self.err(io::Error::other(
                "an earlier write to the log failed; restart to replay it",
            )));
        }
        let at = w.len;
        if !buf.is_empty() {
            if let Err(e) = w.file.write_all_at(buf, at) {
                // Cut back what part of it landed, so the next write
                // follows whole records.
                if w.file.set_len(at).is_err() {
                    w.failed = true;
                }
                return Err(self.err(e));
            }
            w.len += buf.len() as u64;
            w.dirty = true;
        }
        if durable && w.dirty {
            if let Err(e) = w.file.sync_data() {
                w.failed = true;
                return Err(self.err(e));
            }
            w.dirty = false;
        }
        update(&mut self.index.write(), w.segment, at);
        if w.len >= SEGMENT_BYTES {
            self.rotate(w)?;
        }
        Ok(())
    }

    /// Closes the open segment (fsynced) and starts the next, which begins
    /// with the metadata and the purge point.
    fn rotate(&self, w: &mut Writer) -> Result<(), StoreError> {
        let fail = |w: &mut Writer, e| {
            w.failed = true;
            self.err(e)
        };
        if w.dirty {
            w.file.sync_data().map_err(|e| fail(w, e))?;
            w.dirty = false;
        }
        let next = w.segment + 1;
        let purged = self.index.read().purged;
        let meta = self.meta.lock().clone();
        let (file, len) = create_segment(&self.dir, next, &meta, purged).map_err(|e| fail(w, e))?;
        self.index.write().segments.insert(
            next,
            Segment {
                file: file.clone(),
                max_index: None,
            },
        );
        *w = Writer {
            segment: next,
            file,
            len,
            dirty: false,
            failed: false,
        };
        self.drop_purged_segments();
        Ok(())
    }

    /// Deletes closed segments holding nothing but purged entries (their
    /// metadata is repeated at the start of every later segment).
    fn drop_purged_segments(&self) {
        let mut index = self.index.write();
        let Some(&open) = index.segments.keys().next_back() else {
            return;
        };
        let purged = index.purged;
        let gone: Vec<u64> = index
            .segments
            .iter()
            .take_while(|(n, s)| {
                **n != open && s.max_index.is_none_or(|m| purged.is_some_and(|p| m <= p))
            })
            .map(|(n, _)| *n)
            .collect();
        for n in gone {
            index.segments.remove(&n);
            // Best effort: a segment left behind is replayed and purged
            // again on the next open.
            let _ = std::fs::remove_file(self.dir.join(segment_name(n)));
        }
    }

    /// Appends `entries` (index, bytes, in increasing index order)
    /// durably. Entries at and after the first one's index are replaced;
    /// entries at or below the purge point are dropped.
    pub(crate) fn append(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let mut w = self.writer.lock();
        let (purged, last) = {
            let index = self.index.read();
            (
                index.purged,
                index.entries.last_key_value().map(|(i, _)| *i),
            )
        };
        // Entries at or below the purge point are applied and gone already
        // (openraft never sends such; its storage suite does).
        let entries = match purged {
            Some(p) => &entries[entries.partition_point(|(i, _)| *i <= p)..],
            None => entries,
        };
        let Some((first, _)) = entries.first() else {
            return Ok(());
        };
        let first = *first;
        let mut buf = Vec::with_capacity(entries.iter().map(|(_, b)| b.len() + 32).sum());
        if last.is_some_and(|l| l >= first) {
            Record::Truncate(first).encode(&mut buf);
        }
        let mut places = Vec::with_capacity(entries.len());
        for (i, bytes) in entries {
            let at = Record::Entry(*i, bytes).encode(&mut buf);
            places.push((*i, at as u64, bytes.len() as u32));
        }
        self.write(&mut w, &buf, true, |index, segment, start| {
            index.truncate(first);
            for (i, at, len) in places {
                index.entries.insert(
                    i,
                    Place {
                        segment,
                        offset: start + at,
                        len,
                    },
                );
            }
            let max = entries.last().map_or(first, |(i, _)| *i);
            if let Some(s) = index.segments.get_mut(&segment) {
                s.max_index = Some(s.max_index.map_or(max, |m| m.max(max)));
            }
        })
    }

    /// Entries with `start <= index < end`, in order.
    pub(crate) fn range(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let places: Vec<(u64, Place, Arc<File>)> = {
            let index = self.index.read();
            index
                .entries
                .range(start..end)
                .filter_map(|(i, p)| {
                    let file = index.segments.get(&p.segment)?.file.clone();
                    Some((*i, *p, file))
                })
                .collect()
        };
        places
            .into_iter()
            .map(|(i, p, file)| {
                let mut bytes = vec![0; p.len as usize];
                file.read_exact_at(&mut bytes, p.offset)
                    .map_err(|e| self.err(e))?;
                Ok((i, bytes))
            })
            .collect()
    }

    /// The last entry, if any.
    pub(crate) fn last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let last = self.index.read().entries.last_key_value().map(|(i, _)| *i);
        match last {
            Some(l) => Ok(self.range(l, l + 1)?.pop()),
            None => Ok(None),
        }
    }

    /// How many entries the log holds.
    pub(crate) fn len(&self) -> u64 {
        self.index.read().entries.len() as u64
    }

    /// Removes the entries at `since` and after, durably.
    pub(crate) fn truncate(&self, since: u64) -> Result<(), StoreError> {
        let mut w = self.writer.lock();
        let mut buf = Vec::new();
        Record::Truncate(since).encode(&mut buf);
        self.write(&mut w, &buf, true, |index, _, _| index.truncate(since))
    }

    /// Removes the entries up to `upto` and records `purged` as the
    /// `purged` metadata value, in one durable write.
    pub(crate) fn purge(&self, upto: u64, purged: &[u8]) -> Result<(), StoreError> {
        let mut w = self.writer.lock();
        self.write_meta(
            &mut w,
            |meta| {
                meta.insert("purged".into(), purged.to_vec());
            },
            Some(upto),
            true,
        )?;
        drop(w);
        self.drop_purged_segments();
        Ok(())
    }

    /// A metadata value.
    pub(crate) fn meta(&self, key: &str) -> Option<Vec<u8>> {
        self.meta.lock().get(key).cloned()
    }

    /// Sets (`Some`) or removes a metadata value; `durable` waits for the
    /// fsync.
    pub(crate) fn set_meta(
        &self,
        key: &str,
        value: Option<&[u8]>,
        durable: bool,
    ) -> Result<(), StoreError> {
        let mut w = self.writer.lock();
        self.write_meta(
            &mut w,
            |meta| {
                match value {
                    Some(v) => meta.insert(key.to_string(), v.to_vec()),
                    None => meta.remove(key),
                };
            },
            None,
            durable,
        )
    }

    /// Writes the metadata map as `change` leaves it, and then a purge up
    /// to `purge` if given. The map is replaced before the write, so that
    /// a segment this write opens starts with it; a failed write puts the
    /// old one back.
    fn write_meta(
        &self,
        w: &mut Writer,
        change: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
        purge: Option<u64>,
        durable: bool,
    ) -> Result<(), StoreError> {
        let mut meta = self.meta.lock().clone();
        change(&mut meta);
        let bytes = encode_meta(&meta)?;
        let mut buf = Vec::new();
        Record::Meta(&bytes).encode(&mut buf);
        if let Some(upto) = purge {
            Record::Purge(upto).encode(&mut buf);
        }
        let before = std::mem::replace(&mut *self.meta.lock(), meta);
        let written = self.write(w, &buf, durable, |index, _, _| {
            if let Some(upto) = purge {
                index.purge(upto);
            }
        });
        if written.is_err() {
            *self.meta.lock() = before;
        }
        written
    }

    /// Makes everything written so far durable.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        let mut w = self.writer.lock();
        self.write(&mut w, &[], true, |_, _, _| {})
    }
}

/// Creates segment `n` in `dir`, starting with the metadata and the purge
/// point, durably: written under a temporary name, fsynced, renamed, and
/// the directory fsynced. Returns the file and its length.
fn create_segment(
    dir: &Path,
    n: u64,
    meta: &BTreeMap<String, Vec<u8>>,
    purged: Option<u64>,
) -> Result<(Arc<File>, u64), io::Error> {
    let mut buf = MAGIC.to_vec();
    let bytes = encode_meta(meta).map_err(io::Error::other)?;
    Record::Meta(&bytes).encode(&mut buf);
    if let Some(p) = purged {
        Record::Purge(p).encode(&mut buf);
    }
    let name = dir.join(segment_name(n));
    let tmp = name.with_extension("tmp");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    file.write_all(&buf)?;
    file.sync_all()?;
    std::fs::rename(&tmp, &name)?;
    File::open(dir)?.sync_all()?;
    Ok((Arc::new(file), buf.len() as u64))
}

fn encode_meta(meta: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(meta).map_err(|e| StoreError::Codec {
        what: "raft metadata",
        detail: e.to_string(),
    })
}

fn decode_meta(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Codec {
        what: "raft metadata",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: std::ops::RangeInclusive<u64>, tag: &str) -> Vec<(u64, Vec<u8>)> {
        r.map(|i| (i, format!("{tag}{i}").into_bytes())).collect()
    }

    fn segments(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|f| f.unwrap().path())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn appends_replace_from_their_first_index_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let w = Wal::open(&path).unwrap();
            w.append(&rows(1..=2, "a")).unwrap();
            w.append(&rows(1..=1, "b")).unwrap();
            assert_eq!(w.range(0, 10).unwrap(), rows(1..=1, "b"));
            w.append(&rows(2..=5, "c")).unwrap();
            w.truncate(4).unwrap();
            w.purge(1, b"p").unwrap();
            w.set_meta("vote", Some(b"v"), true).unwrap();
            assert_eq!(w.len(), 2);
        }
        let w = Wal::open(&path).unwrap();
        assert_eq!(w.range(0, 10).unwrap(), rows(2..=3, "c"));
        assert_eq!(w.last().unwrap(), rows(3..=3, "c").pop());
        assert_eq!(w.meta("purged").unwrap(), b"p");
        assert_eq!(w.meta("vote").unwrap(), b"v");
        w.purge(3, b"q").unwrap();
        assert_eq!(w.last().unwrap(), None);
        w.append(&rows(2..=4, "d")).unwrap();
        assert_eq!(w.range(0, 10).unwrap(), rows(4..=4, "d"));
        w.set_meta("vote", None, false).unwrap();
        drop(w);
        let w = Wal::open(&path).unwrap();
        assert_eq!(w.range(0, 10).unwrap(), rows(4..=4, "d"));
        assert_eq!(w.meta("vote"), None);
        assert_eq!(w.meta("purged").unwrap(), b"q");
    }

    #[test]
    fn a_torn_last_record_is_cut_and_a_damaged_one_refuses_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let w = Wal::open(&path).unwrap();
            for i in 1..=20 {
                w.append(&rows(i..=i, "x")).unwrap();
            }
        }
        // A crash in the middle of the last write: that record is dropped.
        let file = segments(&path).pop().unwrap();
        let len = std::fs::metadata(&file).unwrap().len();
        let f = OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(len - 3).unwrap();
        drop(f);
        {
            let w = Wal::open(&path).unwrap();
            assert_eq!(w.range(0, 100).unwrap(), rows(1..=19, "x"));
            w.append(&rows(20..=20, "y")).unwrap();
        }
        // Garbage after the last record (a write whose data never made it
        // to disk whole): cut as well.
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.extend_from_slice(&[0xab; 37]);
        std::fs::write(&file, &bytes).unwrap();
        {
            let w = Wal::open(&path).unwrap();
            assert_eq!(w.last().unwrap(), rows(20..=20, "y").pop());
        }
        // A record damaged in the middle: refused, never read past.
        let mut bytes = std::fs::read(&file).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 8] {
            *b ^= 0xff;
        }
        std::fs::write(&file, &bytes).unwrap();
        let err = Wal::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    }

    #[test]
    fn full_segments_are_closed_and_purged_ones_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let entry = vec![7u8; 64 * 1024];
        let per_segment = SEGMENT_BYTES / entry.len() as u64;
        let total = per_segment * 3;
        {
            let w = Wal::open(&path).unwrap();
            w.set_meta("vote", Some(b"v"), true).unwrap();
            for i in 1..=total {
                w.append(&[(i, entry.clone())]).unwrap();
            }
            assert!(segments(&path).len() >= 3, "{:?}", segments(&path));
            assert_eq!(w.range(1, 2).unwrap(), vec![(1, entry.clone())]);
            w.purge(total - 2, b"p").unwrap();
            // Only the segment still holding entries, and the open one.
            assert!(segments(&path).len() <= 2, "{:?}", segments(&path));
        }
        // A segment whose creation a crash cut short is ignored.
        std::fs::write(path.join(format!("{:016x}.tmp", 99)), b"NOC").unwrap();
        let w = Wal::open(&path).unwrap();
        assert_eq!(w.meta("vote").unwrap(), b"v");
        assert_eq!(w.meta("purged").unwrap(), b"p");
        assert_eq!(w.len(), 2);
        assert_eq!(
            w.range(0, u64::MAX).unwrap(),
            vec![(total - 1, entry.clone()), (total, entry)]
        );
        assert!(segments(&path).iter().all(|p| segment_number(p).is_some()));
    }
}
