//! Group commit: many concurrent writes share one log entry.
//!
//! Callers queue commands; one task takes everything queued, stamps it with
//! the clock and proposes it as a single [`Batch`]. While that entry is being
//! fsynced, new commands queue up and become the next entry, so the number
//! of fsyncs stays flat as the write rate grows.
//!
//! Pipelined: up to `pipeline` entries are proposed and not yet applied at
//! once. Entries are handed to Raft in order by this one task (so the clock
//! they carry never goes backwards in the log); their results are awaited
//! by a task each, so the next entry is appended and replicated while the
//! previous ones wait for a quorum.

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

/// What the proposing task does with queued commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Propose them.
    Run,
    /// Keep them queued (a leadership hand-over in progress).
    Hold,
    /// Answer them [`ClusterError::NoLeader`] without proposing (a leader
    /// stopping without a successor: nothing of theirs is in the log, so
    /// the caller may safely send them to the next leader).
    Refuse,
}

/// Handle to the proposing task.
#[derive(Clone)]
pub(crate) struct Proposer {
    tx: mpsc::Sender<Proposal>,
    mode: std::sync::Arc<tokio::sync::watch::Sender<Mode>>,
    /// Held by the task from taking a batch until Raft has it:
    /// [`Proposer::set_mode`] takes it to know no batch is being handed
    /// over.
    busy: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// One permit per entry proposed and not yet answered.
    inflight: std::sync::Arc<tokio::sync::Semaphore>,
    pipeline: u32,
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
        pipeline: usize,
        observer: Option<std::sync::Arc<dyn crate::ClusterObserver>>,
        space: Option<SpaceGuard>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let (mode, mode_rx) = tokio::sync::watch::channel(Mode::Run);
        let busy = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        let pipeline = pipeline.clamp(1, 1024) as u32;
        let inflight = std::sync::Arc::new(tokio::sync::Semaphore::new(pipeline as usize));
        tokio::spawn(run(
            raft,
            rx,
            max_batch.max(1),
            observer,
            space,
            Gate {
                mode: mode_rx,
                busy: busy.clone(),
                inflight: inflight.clone(),
            },
        ));
        Self {
            tx,
            mode: std::sync::Arc::new(mode),
            busy,
            inflight,
            pipeline,
        }
    }

    /// The current mode.
    pub(crate) fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Switches what happens to queued commands and returns once no batch
    /// is being proposed any more: after `set_mode(Mode::Hold)` the log
    /// gets nothing from this proposer until the mode changes. A command
    /// proposed after leadership moved fails with
    /// [`ClusterError::NoLeader`] and the caller sends it to the new leader.
    pub(crate) async fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
        drop(self.busy.lock().await);
        // And every entry proposed has its answer (is applied or failed).
        drop(self.inflight.acquire_many(self.pipeline).await);
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

/// The task's side of [`Mode`], the busy lock and the pipeline.
struct Gate {
    mode: tokio::sync::watch::Receiver<Mode>,
    busy: std::sync::Arc<tokio::sync::Mutex<()>>,
    inflight: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Gate {
    /// Waits until proposing is allowed and returns the busy guard, or
    /// `Err(())` when commands are to be refused (or the handle is gone).
    async fn enter(&mut self) -> Result<tokio::sync::OwnedMutexGuard<()>, ()> {
        loop {
            let guard = self.busy.clone().lock_owned().await;
            // The mode is read under the lock: a mode set before
            // `set_mode` took the lock is seen here.
            match *self.mode.borrow() {
                Mode::Run => return Ok(guard),
                Mode::Refuse => return Err(()),
                Mode::Hold => {}
            }
            drop(guard);
            if self.mode.wait_for(|m| *m != Mode::Hold).await.is_err() {
                return Err(());
            }
        }
    }
}

async fn run(
    raft: Raft,
    mut rx: mpsc::Receiver<Proposal>,
    max_batch: usize,
    observer: Option<std::sync::Arc<dyn crate::ClusterObserver>>,
    space: Option<SpaceGuard>,
    mut gate: Gate,
) {
    let mut last_now: Millis = 0;
    loop {
        let Some(first) = rx.recv().await else {
            return;
        };
        // The gate first, then a place in the pipeline, waited for under
        // the busy lock: a hold never waits for a place this task holds.
        let Ok(busy) = gate.enter().await else {
            let _ = first.reply.send(Err(ClusterError::NoLeader));
            continue;
        };
        let Ok(slot) = gate.inflight.clone().acquire_owned().await else {
            return;
        };
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
        // Handed to Raft in order; answered in its own task.
        let sent = raft.client_write_ff(batch).await;
        drop(busy);
        match sent {
            Err(fatal) => {
                let err = map_write_error(&openraft::error::RaftError::Fatal(fatal));
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
            Ok(answer) => {
                tokio::spawn(async move {
                    let result = match answer.await {
                        Ok(Ok(resp)) => Ok(resp),
                        Ok(Err(api)) => Err(openraft::error::RaftError::APIError(api)),
                        // The core stopped before answering.
                        Err(_) => Err(openraft::error::RaftError::Fatal(
                            openraft::error::Fatal::Stopped,
                        )),
                    };
                    match result {
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
                    drop(slot);
                });
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
