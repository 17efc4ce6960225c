//! Batched ReadIndex: concurrent read barriers share rounds.
//!
//! A caller joins the next round that has not started yet; a round starts
//! only after every caller in it arrived, so the read index it fetches is
//! at least as new as each caller's start (which is what makes the read
//! linearizable). Up to [`MAX_ROUNDS`] rounds run at once; callers that
//! arrive while they all run wait together for the next, so a burst of
//! reads costs a few quorum round trips, not one each.
//! Owns only the batching; what a round fetches is [`Node`]'s business.

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::ClusterError;
use crate::node::Node;

/// Rounds in flight at once.
pub(crate) const MAX_ROUNDS: usize = 1;

type RoundResult = Option<Result<u64, ClusterError>>;

/// The rounds of read-index requests.
#[derive(Default)]
pub(crate) struct ReadBatcher {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The round that callers join (not started yet).
    next: Option<watch::Sender<RoundResult>>,
    /// Rounds running.
    running: usize,
}

impl ReadBatcher {
    /// The read index of a round that started after this call.
    pub(crate) async fn read_index(&self, node: &Node) -> Result<u64, ClusterError> {
        let (mut rx, start) = {
            let mut st = self.state.lock();
            let tx = st.next.get_or_insert_with(|| watch::channel(None).0);
            let rx = tx.subscribe();
            let start = if st.running < MAX_ROUNDS {
                st.running += 1;
                st.next.take()
            } else {
                None
            };
            (rx, start)
        };
        if let Some(round) = start {
            let node = node.clone();
            tokio::spawn(async move { node.reads().run(&node, round).await });
        }
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return Err(ClusterError::ShuttingDown);
            }
        }
    }

    /// Runs `round`, then the rounds that gathered meanwhile.
    async fn run(&self, node: &Node, mut round: watch::Sender<RoundResult>) {
        loop {
            let r = node.fetch_read_index().await;
            let _ = round.send(Some(r));
            let mut st = self.state.lock();
            match st.next.take() {
                Some(next) => round = next,
                None => {
                    st.running -= 1;
                    return;
                }
            }
        }
    }
}
