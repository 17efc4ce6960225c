//! Which protocol each node speaks, so nodes of two versions can share a
//! cluster during a rolling upgrade (and a downgrade back).
//!
//! Owns the protocol number of this build, the one every peer message and
//! reply carries (header [`PROTOCOL_HEADER`]), what this node has heard
//! from each peer, and the cluster's protocol: the lowest any member
//! speaks (a member not heard from yet counts as the oldest, 1). A feature
//! that writes something an older node could not read (a new command
//! variant, a new record kind) is used only once the cluster's protocol
//! has it; until then the writer leaves it out (and counts that), so a
//! node of the next version can join a cluster of this one, and leave it
//! again, without ever writing what this one cannot read.
//!
//! Snapshots carry their format ([`SNAPSHOT_FORMAT`]); a node refuses to
//! install a snapshot of a newer format than it reads, instead of
//! dropping what it does not know.
//!
//! Protocols: 1 = before this registry (no header); 2 = audit trail
//! (`Command::Note`, `Command::PurgeAudit`, `/raft/write-as`); 3 = security
//! events in the trail, `/raft/elect`, snapshot format 2.

use std::collections::HashMap;
use std::sync::OnceLock;

use parking_lot::Mutex;

/// Header carrying the sender's protocol on every peer call and reply.
pub const PROTOCOL_HEADER: &str = "x-nocas-protocol";

/// The protocol of this build.
pub const PROTOCOL: u32 = 3;

/// The snapshot format this build writes and the newest it reads.
pub use nocas_store::snapshot::SNAPSHOT_FORMAT;

/// Protocol that added the audit trail's commands.
pub const AUDIT_COMMANDS: u32 = 2;

/// Protocol that added security events in the trail.
pub const SECURITY_EVENTS: u32 = 3;

/// The protocol this process speaks: [`PROTOCOL`], unless the test-only
/// variable `NOCAS_TEST_PROTOCOL` says otherwise (the mixed-version tests
/// run a "next" and a "previous" node with it).
pub fn protocol() -> u32 {
    static P: OnceLock<u32> = OnceLock::new();
    *P.get_or_init(|| {
        std::env::var("NOCAS_TEST_PROTOCOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(PROTOCOL)
    })
}

/// What this node heard each peer (by member address) speak.
#[derive(Debug, Default)]
pub struct Versions {
    heard: Mutex<HashMap<String, u32>>,
}

impl Versions {
    /// Records that the peer at `addr` speaks `protocol`.
    pub fn heard(&self, addr: &str, protocol: u32) {
        let mut h = self.heard.lock();
        if h.get(addr) != Some(&protocol)
            && let Some(old) = h.insert(addr.to_string(), protocol)
        {
            tracing::info!(
                peer = addr,
                from = old,
                to = protocol,
                "peer protocol changed"
            );
        }
    }

    /// What the peer at `addr` was heard to speak.
    pub fn of(&self, addr: &str) -> Option<u32> {
        self.heard.lock().get(addr).copied()
    }

    /// The lowest protocol among this node and the peers at `addrs` (one
    /// not heard from counts as 1).
    pub fn cluster(&self, addrs: impl IntoIterator<Item = String>) -> u32 {
        let h = self.heard.lock();
        addrs
            .into_iter()
            .map(|a| h.get(&a).copied().unwrap_or(1))
            .fold(protocol(), u32::min)
    }
}

/// Reads the protocol header of a peer message (absent: 1).
pub fn from_header(v: Option<&[u8]>) -> u32 {
    v.and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_speaks_its_oldest_member() {
        let v = Versions::default();
        assert_eq!(v.cluster(Vec::<String>::new()), protocol());
        assert_eq!(v.cluster(["a".to_string()]), 1, "not heard from: oldest");
        v.heard("a", PROTOCOL + 1);
        v.heard("b", 2);
        assert_eq!(v.cluster(["a".to_string()]), PROTOCOL);
        assert_eq!(v.cluster(["a".to_string(), "b".to_string()]), 2);
        assert_eq!(from_header(None), 1);
        assert_eq!(from_header(Some(b"7")), 7);
        assert_eq!(from_header(Some(b"x")), 1);
    }
}
