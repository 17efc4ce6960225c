//! Raft transport over the peer protocol ([`crate::peer`]): append, vote and
//! chunked snapshot installation, each a POST to the target's Raft port.

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::members::MemberAddr;
use crate::peer::{PeerClient, PeerError};
use crate::types::{NodeId, TypeConfig};

/// Path of AppendEntries.
pub const APPEND: &str = "/raft/append";
/// Path of RequestVote.
pub const VOTE: &str = "/raft/vote";
/// Path of InstallSnapshot.
pub const SNAPSHOT: &str = "/raft/snapshot";

/// Creates links to peers.
#[derive(Clone, Debug)]
pub struct PeerNetwork {
    client: PeerClient,
    lease: std::sync::Arc<crate::lease::Lease>,
}

impl PeerNetwork {
    /// A network over `client`, telling `lease` which AppendEntries the
    /// followers accepted.
    pub(crate) fn new(client: PeerClient, lease: std::sync::Arc<crate::lease::Lease>) -> Self {
        Self { client, lease }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        PeerLink {
            target,
            addr: MemberAddr::from_node(node),
            raw: node.addr.clone(),
            client: self.client.clone(),
            lease: self.lease.clone(),
        }
    }
}

/// A link to one peer.
#[derive(Debug)]
pub struct PeerLink {
    target: NodeId,
    addr: Option<MemberAddr>,
    raw: String,
    client: PeerClient,
    lease: std::sync::Arc<crate::lease::Lease>,
}

impl PeerLink {
    async fn rpc<Q, R, E>(
        &self,
        path: &str,
        req: &Q,
        option: &RPCOption,
    ) -> Result<R, RPCError<NodeId, BasicNode, E>>
    where
        Q: Serialize,
        R: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let Some(addr) = &self.addr else {
            let e = std::io::Error::other(format!(
                "node {} has a bad address '{}'",
                self.target, self.raw
            ));
            return Err(RPCError::Unreachable(Unreachable::new(&e)));
        };
        let res: Result<Result<R, E>, PeerError> =
            self.client.call(addr, path, req, option.hard_ttl()).await;
        match res {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new(self.target, remote))),
            Err(PeerError::Unreachable(m)) => Err(RPCError::Unreachable(Unreachable::new(
                &std::io::Error::other(m),
            ))),
            Err(PeerError::Lost(m) | PeerError::Failed(m)) => Err(RPCError::Network(
                NetworkError::new(&std::io::Error::other(m)),
            )),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let sent = std::time::Instant::now();
        let r = self.rpc(APPEND, &rpc, &option).await;
        // Accepted (its vote, hence its lease, moved to this leader):
        // everything but a higher vote.
        if rpc.vote.is_committed()
            && matches!(
                r,
                Ok(AppendEntriesResponse::Success
                    | AppendEntriesResponse::PartialSuccess(_)
                    | AppendEntriesResponse::Conflict)
            )
        {
            self.lease
                .acked(self.target, rpc.vote.leader_id().get_term(), sent);
        }
        r
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.rpc(SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.rpc(VOTE, &rpc, &option).await
    }
}
