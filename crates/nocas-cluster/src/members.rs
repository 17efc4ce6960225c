//! Cluster members and their addresses.
//!
//! A member is written `host:http` (the Raft port is then HTTP - 1000, as in
//! Nacos) or `host:http:raft`. Node N of a list is its Nth entry (1-based).
//! In the Raft membership a node's address is stored as `host:http:raft`.

use std::fmt;

use openraft::BasicNode;

use crate::error::ClusterError;
use crate::types::NodeId;

/// Where a member listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberAddr {
    /// Host name or IP.
    pub host: String,
    /// HTTP (Open API) port.
    pub http: u16,
    /// Raft (node-to-node) port.
    pub raft: u16,
}

impl MemberAddr {
    /// Parses `host:http` or `host:http:raft`.
    pub fn parse(raw: &str) -> Result<Self, ClusterError> {
        let bad = |why: &str| ClusterError::Config(format!("member '{raw}': {why}"));
        let parts: Vec<&str> = raw.trim().split(':').collect();
        let port = |s: &str| s.parse::<u16>().map_err(|_| bad("not a port"));
        let (host, http, raft) = match parts.as_slice() {
            [h, p] => {
                let http = port(p)?;
                let raft = http
                    .checked_sub(1000)
                    .filter(|r| *r > 0)
                    .ok_or_else(|| bad("HTTP port - 1000 is not a port; give host:http:raft"))?;
                (*h, http, raft)
            }
            [h, p, r] => (*h, port(p)?, port(r)?),
            _ => return Err(bad("expected host:http or host:http:raft")),
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        Ok(Self {
            host: host.to_string(),
            http,
            raft,
        })
    }

    /// Parses a comma- or newline-separated list (blank lines and `#`
    /// comments ignored, as in Nacos's cluster.conf).
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, ClusterError> {
        raw.split([',', '\n'])
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(Self::parse)
            .collect()
    }

    /// The Raft node value.
    pub fn to_node(&self) -> BasicNode {
        BasicNode {
            addr: self.to_string(),
        }
    }

    /// Reads a Raft node value.
    pub fn from_node(n: &BasicNode) -> Option<Self> {
        Self::parse(&n.addr).ok()
    }

    /// Base URL of its Raft port.
    pub fn raft_url(&self) -> String {
        format!("http://{}:{}", self.host, self.raft)
    }

    /// `host:http`.
    pub fn http_addr(&self) -> String {
        format!("{}:{}", self.host, self.http)
    }
}

impl fmt::Display for MemberAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.host, self.http, self.raft)
    }
}

/// The initial members with their ids (1-based positions).
pub fn numbered(members: &[MemberAddr]) -> Vec<(NodeId, MemberAddr)> {
    members
        .iter()
        .enumerate()
        .map(|(i, m)| (i as NodeId + 1, m.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let m = MemberAddr::parse("10.0.0.1:8848").unwrap();
        assert_eq!((m.http, m.raft), (8848, 7848));
        let m = MemberAddr::parse("h:1:2").unwrap();
        assert_eq!(m.to_string(), "h:1:2");
        assert_eq!(MemberAddr::from_node(&m.to_node()), Some(m));
        assert!(MemberAddr::parse("h:500").is_err());
        assert!(MemberAddr::parse("h").is_err());
        assert!(MemberAddr::parse(":1:2").is_err());
        let l = MemberAddr::parse_list("a:2000, b:2001\n# c\n\nc:2002:3").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(numbered(&l)[2].0, 3);
    }
}
