//! Group commit: many concurrent writes share one log entry.
//!
//! Callers queue commands; one task takes everything queued, stamps it with
//! the clock and proposes it as a single [`Batch`]. While that entry is being
//! fsynced, new commands queue up and become the next entry, so the number
//! of fsyncs stays flat as the write rate grows.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use nocas_core::Millis;
use nocas_core::audit::Actor;
use nocas_core::command::{Batch, Command, CommandResult};

use crate::error::ClusterError;
use crate::types::Raft;
use nocas_store::space::SpaceGuard;

struct Proposal {
    cmd: Command,
    actor: Option<Actor>,
    reply: oneshot::Sender<Result<(CommandResult, u64), ClusterError>>,
}

/// Handle to the proposing task.
#[derive(Clone)]
pub(crate) struct Proposer {
    tx: mpsc::Sender<Proposal>,
    /// While `true`, queued commands wait instead of being proposed (a
    /// leadership hand-over in progress).
    hold: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

fn wall_clock_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

impl Proposer {
    /// Starts the task. `queue` bounds waiting commands; `max_batch` bounds
    /// the commands in one entry.
    pub(crate) fn spawn(
        raft: Raft,
        queue: usize,
        max_batch: usize,
        observer: Option<std::sync::Arc<dyn crate::ClusterObserver>>,
        space: Option<SpaceGuard>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let (hold, hold_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(run(raft, rx, max_batch.max(1), observer, space, hold_rx));
        Self {
            tx,
            hold: std::sync::Arc::new(hold),
        }
    }

    /// Holds (`true`) or releases proposals. Held commands stay queued; a
    /// command proposed after leadership moved fails with
    /// [`ClusterError::NoLeader`] and the caller sends it to the new leader.
    pub(crate) fn hold(&self, on: bool) {
        self.hold.send_replace(on);
    }

    /// Proposes one command on behalf of `actor` and waits for its result
    /// and the index of the log entry that carried it (applied here).
    pub(crate) async fn propose(
        &self,
        cmd: Command,
        actor: Option<Actor>,
    ) -> Result<(CommandResult, u64), ClusterError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Proposal { cmd, actor, reply })
            .await
            .map_err(|_| ClusterError::ShuttingDown)?;
        rx.await.map_err(|_| ClusterError::ShuttingDown)?
    }
}

async fn run(
    raft: Raft,
    mut rx: mpsc::Receiver<Proposal>,
    max_batch: usize,
    observer: Option<std::sync::Arc<dyn crate::ClusterObserver>>,
    space: Option<SpaceGuard>,
    mut hold: tokio::sync::watch::Receiver<bool>,
) {
    let mut last_now: Millis = 0;
    loop {
        if *hold.borrow() && hold.wait_for(|h| !*h).await.is_err() {
            return;
        }
        let Some(first) = rx.recv().await else {
            return;
        };
        // A hold that began while waiting for work applies to it too.
        if *hold.borrow() && hold.wait_for(|h| !*h).await.is_err() {
            return;
        }
        let mut proposals = vec![first];
        while proposals.len() < max_batch {
            match rx.try_recv() {
                Ok(p) => proposals.push(p),
                Err(_) => break,
            }
        }
        // Time never goes backwards in the log, even if the wall clock does.
        last_now = wall_clock_ms().max(last_now);
        // A full disk refuses the batch before anything is appended: a
        // write failing inside the log store would stop the node.
        if let Some(guard) = &space {
            let bytes = proposals.iter().map(|p| p.cmd.storage_estimate()).sum();
            if let Err(full) = guard.check(bytes) {
                tracing::warn!(error = %full, "write refused");
                for p in proposals {
                    let _ = p.reply.send(Err(ClusterError::DiskFull(full.to_string())));
                }
                continue;
            }
        }
        let mut commands = Vec::with_capacity(proposals.len());
        let mut actors = Vec::with_capacity(proposals.len());
        let mut replies = Vec::with_capacity(proposals.len());
        for p in proposals {
            commands.push(p.cmd);
            actors.push(p.actor);
            replies.push(p.reply);
        }
        if actors.iter().all(Option::is_none) {
            actors.clear();
        }
        if let Some(o) = &observer {
            o.batch_proposed(commands.len());
        }
        let batch = Batch {
            now_ms: last_now,
            commands,
            actors,
        };
        match raft.client_write(batch).await {
            Ok(resp) => {
                let index = resp.log_id.index;
                for (reply, result) in replies.into_iter().zip(resp.data) {
                    let _ = reply.send(Ok((result, index)));
                }
            }
            Err(e) => {
                let err = map_write_error(&e);
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}

fn map_write_error(
    e: &openraft::error::RaftError<
        u64,
        openraft::error::ClientWriteError<u64, openraft::BasicNode>,
    >,
) -> ClusterError {
    use openraft::error::{ClientWriteError, RaftError};
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => ClusterError::NoLeader,
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            ClusterError::Raft(c.to_string())
        }
        RaftError::Fatal(f) => match f {
            openraft::error::Fatal::Stopped => ClusterError::ShuttingDown,
            other => ClusterError::Storage(other.to_string()),
        },
    }
}
