//! The leader's read lease: linearizable reads without a quorum round while
//! a quorum of followers has recently accepted this leader.
//!
//! Owns the record of when each follower last accepted an AppendEntries
//! (heartbeats included) of this leader's term, stamped with when it was
//! *sent*. A follower that accepted one will not vote for anyone else for
//! openraft's leader lease (`election_max_ms`) after it received it, and
//! will not stand itself before an election timeout (`election_min_ms`)
//! has passed since. So until `sent + election_min_ms` no other leader can
//! be elected without one of them — provided enough of them acked that the
//! rest, plus this leader (openraft 0.9 lets a leader grant a vote: its own
//! vote is not refreshed by its heartbeats), cannot form a quorum: the
//! lease needs acks from a quorum of the voters counted *without* this
//! node. The read index is then this leader's commit index, once it has
//! applied an entry of its own term. A hand-over suspends the lease for
//! good (the leader is about to vote for its successor).
//!
//! Does not decide reads by itself: [`crate::node::Node`] asks
//! [`Lease::valid_until`] and falls back to a quorum round when it says no.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::types::NodeId;

/// Acks of followers, by node.
#[derive(Debug, Default)]
pub struct Lease {
    /// Follower -> (term, send time of the newest accepted AppendEntries).
    acks: Mutex<HashMap<NodeId, (u64, Instant)>>,
    suspended: AtomicBool,
}

impl Lease {
    /// A follower accepted an AppendEntries of `term` sent at `sent`.
    pub fn acked(&self, follower: NodeId, term: u64, sent: Instant) {
        let mut a = self.acks.lock();
        let e = a.entry(follower).or_insert((term, sent));
        if (term, sent) > *e {
            *e = (term, sent);
        }
    }

    /// Stops lease reads for good (a hand-over began).
    pub fn suspend(&self) {
        self.suspended.store(true, Ordering::SeqCst);
    }

    /// Until when reads may skip the quorum round, for a leader of `term`
    /// whose voters other than itself are `followers`; `None` when the
    /// lease does not hold.
    pub fn valid_until(&self, term: u64, followers: &[NodeId], lease: Duration) -> Option<Instant> {
        if self.suspended.load(Ordering::SeqCst) || followers.is_empty() {
            return None;
        }
        let voters = followers.len() + 1;
        let quorum = voters / 2 + 1;
        if quorum > followers.len() {
            return None;
        }
        let a = self.acks.lock();
        let mut sent: Vec<Instant> = followers
            .iter()
            .filter_map(|f| a.get(f).filter(|(t, _)| *t == term).map(|(_, s)| *s))
            .collect();
        if sent.len() < quorum {
            return None;
        }
        sent.sort_unstable_by(|x, y| y.cmp(x));
        Some(sent[quorum - 1] + lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quorum_of_followers_must_have_acked_this_term() {
        let l = Lease::default();
        let now = Instant::now();
        let d = Duration::from_millis(800);
        // Three voters: both followers must have acked.
        l.acked(2, 5, now);
        assert_eq!(l.valid_until(5, &[2, 3], d), None);
        l.acked(3, 4, now);
        assert_eq!(l.valid_until(5, &[2, 3], d), None, "an ack of an old term");
        l.acked(3, 5, now - Duration::from_millis(100));
        assert_eq!(
            l.valid_until(5, &[2, 3], d),
            Some(now - Duration::from_millis(100) + d),
            "the older of the two"
        );
        // Five voters: three of four followers.
        for f in [2, 3, 4] {
            l.acked(f, 5, now);
        }
        assert_eq!(l.valid_until(5, &[2, 3, 4, 5], d), Some(now + d));
        assert_eq!(l.valid_until(5, &[], d), None, "standalone needs no lease");
        l.suspend();
        assert_eq!(l.valid_until(5, &[2, 3], d), None);
    }
}
