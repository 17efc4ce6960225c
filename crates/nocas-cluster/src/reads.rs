//! Batched ReadIndex: concurrent read barriers share one round.
//!
//! A caller joins the next round that has not started yet; a round starts
//! only after every caller in it arrived, so the read index it fetches is
//! at least as new as each caller's start (which is what makes the read
//! linearizable), while a burst of reads costs one quorum round trip.
//! Owns only the batching; what a round fetches is [`Node`]'s business.

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::ClusterError;
use crate::node::Node;

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
    /// A driver is running rounds.
    running: bool,
}

impl ReadBatcher {
    /// The read index of a round that started after this call.
    pub(crate) async fn read_index(&self, node: &Node) -> Result<u64, ClusterError> {
        let (mut rx, drive) = {
            let mut st = self.state.lock();
            let tx = st.next.get_or_insert_with(|| watch::channel(None).0);
            let rx = tx.subscribe();
            let drive = !st.running;
            st.running = true;
            (rx, drive)
        };
        if drive {
            let node = node.clone();
            tokio::spawn(async move { node.reads().drive(&node).await });
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

    /// Runs rounds while callers wait for one.
    async fn drive(&self, node: &Node) {
        loop {
            let round = {
                let mut st = self.state.lock();
                match st.next.take() {
                    Some(r) => r,
                    None => {
                        st.running = false;
                        return;
                    }
                }
            };
            let r = node.fetch_read_index().await;
            let _ = round.send(Some(r));
        }
    }
}
