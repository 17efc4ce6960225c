//! A linearizability checker for histories of one register per key (a
//! config's content): the Wing-Gong search with Lowe's memoization of
//! (operations linearized, register value), as Porcupine does it.
//!
//! An operation is a write of a value or a read that saw a value (or none).
//! Its interval runs from when it was sent to when its answer came back. A
//! write whose outcome is unknown (an error, a timeout, a connection cut)
//! may have taken effect at any point after it was sent, or never: it has
//! no end. Reads that failed tell nothing and are left out. Keys are
//! independent registers, so each is checked alone (linearizability is
//! compositional).

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Wrote this value.
    Write(String),
    /// Read this value (`None`: the key did not exist).
    Read(Option<String>),
}

/// One operation of the history.
#[derive(Debug, Clone)]
pub struct Event {
    /// The register.
    pub key: String,
    /// What it did.
    pub op: Op,
    /// When it was sent.
    pub start: Instant,
    /// When its answer came (`None`: outcome unknown, a write only).
    pub end: Option<Instant>,
}

/// The verdict on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A linearization exists.
    Linearizable,
    /// None exists.
    NotLinearizable,
    /// The search gave up after this many steps (too concurrent a history).
    GaveUp(u64),
}

/// Checks every key of `history` (the register starts as `initial`, the
/// same for every key); returns the keys that are not linearizable, or on
/// which the search gave up after `max_steps`, with their verdicts.
pub fn check(
    history: &[Event],
    initial: Option<&str>,
    max_steps: u64,
) -> BTreeMap<String, Verdict> {
    let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in history {
        by_key.entry(e.key.as_str()).or_default().push(e);
    }
    let mut bad = BTreeMap::new();
    for (key, events) in by_key {
        let v = check_key(&events, initial, max_steps);
        if v != Verdict::Linearizable {
            bad.insert(key.to_string(), v);
        }
    }
    bad
}

/// A node of the doubly linked list of call and return entries.
#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    /// Index of the matching return entry (calls only).
    ret: usize,
    prev: usize,
    next: usize,
}

const NIL: usize = usize::MAX;

fn check_key(events: &[&Event], initial: Option<&str>, max_steps: u64) -> Verdict {
    // Values are numbered; 0 = absent.
    let mut values: std::collections::HashMap<Option<String>, usize> =
        std::collections::HashMap::from([(None, 0)]);
    let mut value_id = |v: Option<&str>| -> usize {
        let next = values.len();
        *values.entry(v.map(str::to_string)).or_insert(next)
    };
    // (is_write, value id) per operation.
    let ops: Vec<(bool, usize)> = events
        .iter()
        .map(|e| match &e.op {
            Op::Write(v) => (true, value_id(Some(v))),
            Op::Read(v) => (false, value_id(v.as_deref())),
        })
        .collect();
    let init = value_id(initial);
    // Time-ordered events: calls and returns; unknown ends go last. At
    // equal times a return comes before a call (intervals are closed at
    // the answer: an operation that started when another one ended may
    // follow it).
    let far = events
        .iter()
        .filter_map(|e| e.end)
        .chain(events.iter().map(|e| e.start))
        .max();
    let mut points: Vec<(Instant, u8, usize, bool)> = Vec::with_capacity(events.len() * 2);
    for (i, e) in events.iter().enumerate() {
        points.push((e.start, 1, i, true));
        match e.end {
            // An operation answered at the instant it was sent still
            // returns after its own call.
            Some(t) if t <= e.start => points.push((e.start, 2, i, false)),
            Some(t) => points.push((t, 0, i, false)),
            None => points.push((far.unwrap_or(e.start), 3, i, false)),
        }
    }
    points.sort_by_key(|a| (a.0, a.1, a.2));
    let n = points.len();
    let mut list: Vec<Entry> = Vec::with_capacity(n + 1);
    let mut ret_of = vec![NIL; events.len()];
    for (pos, p) in points.iter().enumerate() {
        if !p.3 {
            ret_of[p.2] = pos + 1;
        }
    }
    // Entry 0 is the head sentinel.
    list.push(Entry {
        op: NIL,
        is_call: false,
        ret: NIL,
        prev: NIL,
        next: if n > 0 { 1 } else { NIL },
    });
    for (pos, p) in points.iter().enumerate() {
        let idx = pos + 1;
        list.push(Entry {
            op: p.2,
            is_call: p.3,
            ret: if p.3 { ret_of[p.2] } else { NIL },
            prev: idx - 1,
            next: if idx < n { idx + 1 } else { NIL },
        });
    }
    let lift = |list: &mut Vec<Entry>, call: usize| {
        let ret = list[call].ret;
        for e in [call, ret] {
            let (p, nx) = (list[e].prev, list[e].next);
            list[p].next = nx;
            if nx != NIL {
                list[nx].prev = p;
            }
        }
    };
    let unlift = |list: &mut Vec<Entry>, call: usize| {
        let ret = list[call].ret;
        for e in [ret, call] {
            let (p, nx) = (list[e].prev, list[e].next);
            list[p].next = e;
            if nx != NIL {
                list[nx].prev = e;
            }
        }
    };
    let words = events.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, usize)> = HashSet::new();
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut state = init;
    let mut entry = list[0].next;
    let mut steps = 0u64;
    while list[0].next != NIL {
        steps += 1;
        if steps > max_steps {
            return Verdict::GaveUp(steps);
        }
        if entry == NIL {
            // Only unknown-outcome calls are left unplaced after every
            // return was passed; they never must have happened... but
            // every entry is in the list until lifted, so this cannot be
            // reached while the list is non-empty.
            return Verdict::NotLinearizable;
        }
        let e = list[entry];
        if e.is_call {
            let (is_write, v) = ops[e.op];
            let next_state = if is_write {
                Some(v)
            } else if v == state {
                Some(state)
            } else {
                None
            };
            if let Some(ns) = next_state {
                let mut lin = linearized.clone();
                lin[e.op / 64] |= 1 << (e.op % 64);
                if cache.insert((lin.clone(), ns)) {
                    stack.push((entry, state));
                    state = ns;
                    linearized = lin;
                    lift(&mut list, entry);
                    entry = list[0].next;
                    continue;
                }
            }
            entry = e.next;
        } else {
            // An operation returned before it could be placed: undo the
            // last placement and try the next candidate.
            let Some((call, prev_state)) = stack.pop() else {
                return Verdict::NotLinearizable;
            };
            state = prev_state;
            let op = list[call].op;
            linearized[op / 64] &= !(1 << (op % 64));
            unlift(&mut list, call);
            entry = list[call].next;
        }
    }
    Verdict::Linearizable
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ev(t0: Instant, key: &str, op: Op, start: u64, end: Option<u64>) -> Event {
        Event {
            key: key.into(),
            op,
            start: t0 + Duration::from_millis(start),
            end: end.map(|e| t0 + Duration::from_millis(e)),
        }
    }

    fn w(v: &str) -> Op {
        Op::Write(v.into())
    }

    fn r(v: Option<&str>) -> Op {
        Op::Read(v.map(str::to_string))
    }

    #[test]
    fn sequential_and_concurrent_histories() {
        let t = Instant::now();
        // Sequential: write a, read a, write b, read b.
        let ok = vec![
            ev(t, "k", w("a"), 0, Some(10)),
            ev(t, "k", r(Some("a")), 11, Some(20)),
            ev(t, "k", w("b"), 21, Some(30)),
            ev(t, "k", r(Some("b")), 31, Some(40)),
        ];
        assert!(check(&ok, None, 1_000_000).is_empty());
        // A stale read: b was acknowledged before the read began, which saw a.
        let stale = vec![
            ev(t, "k", w("a"), 0, Some(10)),
            ev(t, "k", w("b"), 11, Some(20)),
            ev(t, "k", r(Some("a")), 21, Some(30)),
        ];
        assert_eq!(
            check(&stale, None, 1_000_000).get("k"),
            Some(&Verdict::NotLinearizable)
        );
        // Concurrent write and read: the read may see either value.
        for seen in [None, Some("a")] {
            let h = vec![
                ev(t, "k", w("a"), 0, Some(20)),
                ev(t, "k", r(seen), 5, Some(15)),
            ];
            assert!(check(&h, None, 1_000_000).is_empty(), "{seen:?}");
        }
        // A read cannot see a value nobody wrote.
        let h = vec![ev(t, "k", r(Some("zz")), 0, Some(1))];
        assert!(!check(&h, None, 1_000_000).is_empty());
        // Two reads ordered in time cannot see b then a when a came first.
        let h = vec![
            ev(t, "k", w("a"), 0, Some(5)),
            ev(t, "k", w("b"), 6, Some(100)),
            ev(t, "k", r(Some("b")), 10, Some(20)),
            ev(t, "k", r(Some("a")), 30, Some(40)),
        ];
        assert!(!check(&h, None, 1_000_000).is_empty());
        // An unknown write may take effect late, or never.
        let h = vec![
            ev(t, "k", w("a"), 0, Some(5)),
            ev(t, "k", w("x"), 6, None),
            ev(t, "k", r(Some("a")), 10, Some(20)),
            ev(t, "k", r(Some("x")), 30, Some(40)),
        ];
        assert!(check(&h, None, 1_000_000).is_empty());
        let h = vec![
            ev(t, "k", w("a"), 0, Some(5)),
            ev(t, "k", w("x"), 6, None),
            ev(t, "k", r(Some("a")), 10, Some(20)),
        ];
        assert!(check(&h, None, 1_000_000).is_empty());
        // ...but not before it was sent.
        let h = vec![
            ev(t, "k", r(Some("x")), 0, Some(5)),
            ev(t, "k", w("x"), 6, None),
        ];
        assert!(!check(&h, None, 1_000_000).is_empty());
        // Keys are independent.
        let h = vec![
            ev(t, "k1", w("a"), 0, Some(5)),
            ev(t, "k2", r(None), 6, Some(10)),
        ];
        assert!(check(&h, None, 1_000_000).is_empty());
    }

    #[test]
    fn a_generated_linearizable_history_of_thousands_is_accepted_quickly() {
        // Operations with random intervals around a linearization point;
        // reads return what the points say: linearizable by construction.
        let t = Instant::now();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut ops: Vec<(u64, u64, u64, bool, usize)> = Vec::new();
        for i in 0..3000usize {
            let point = (i as u64) * 3;
            let start = point.saturating_sub(rnd(20));
            let end = point + rnd(20);
            ops.push((point, start, end, rnd(3) == 0, i));
        }
        let mut value: Option<String> = None;
        let mut h = Vec::new();
        for (_, start, end, is_write, i) in &ops {
            if *is_write {
                let v = format!("v{i}");
                value = Some(v.clone());
                h.push(ev(t, "k", w(&v), *start, Some(*end)));
            } else {
                h.push(ev(t, "k", r(value.as_deref()), *start, Some(*end)));
            }
        }
        let v = check(&h, None, 50_000_000);
        assert!(v.is_empty(), "{v:?}");
        // Swap the values of two reads far apart: no longer linearizable.
        let reads: Vec<usize> = h
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(&e.op, Op::Read(Some(_))))
            .map(|(i, _)| i)
            .collect();
        let (a, b) = (reads[10], reads[reads.len() - 10]);
        let (oa, ob) = (h[a].op.clone(), h[b].op.clone());
        h[a].op = ob;
        h[b].op = oa;
        assert_eq!(
            check(&h, None, 50_000_000).get("k"),
            Some(&Verdict::NotLinearizable)
        );
    }
}
