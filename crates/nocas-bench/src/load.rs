//! The closed-loop load driver: W workers, each doing one operation at a
//! time, until a request count or a duration is reached, after a warm-up
//! whose samples are dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::stats::{Summary, summarize};

/// One worker's operation; `i` numbers the operation across all workers.
pub trait Op: Send + 'static {
    /// Does operation `i`; `true` when it succeeded.
    fn call(&mut self, i: u64) -> impl Future<Output = bool> + Send;
}

/// When a run stops.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Operations in all (warm-up excluded); `None`: until `duration`.
    pub count: Option<u64>,
    /// Longest measured time.
    pub duration: Duration,
    /// Warm-up time before measuring.
    pub warmup: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    /// Workers.
    pub workers: usize,
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub errors: u64,
    /// Measured seconds.
    pub seconds: f64,
    /// Successful operations per second.
    pub per_second: f64,
    /// Latency of successful operations.
    pub latency: Summary,
}

/// Runs `ops` (one per worker) under `limit`.
pub async fn drive<O: Op>(ops: Vec<O>, limit: Limit) -> LoadResult {
    let workers = ops.len();
    let next = Arc::new(AtomicU64::new(0));
    let measuring_from = Instant::now() + limit.warmup;
    let deadline = measuring_from + limit.duration;
    let count = limit.count;
    let measured = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = ops
        .into_iter()
        .map(|mut op| {
            let next = next.clone();
            let measured = measured.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                loop {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    let warm = now >= measuring_from;
                    if warm
                        && let Some(c) = count
                        && measured.fetch_add(1, Ordering::Relaxed) >= c
                    {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let t0 = Instant::now();
                    let ok = op.call(i).await;
                    if warm {
                        if ok {
                            lat.push(t0.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                }
                (lat, errors, Instant::now())
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut ended = measuring_from;
    for t in tasks {
        if let Ok((l, e, end)) = t.await {
            lat.extend(l);
            errors += e;
            ended = ended.max(end);
        }
    }
    let seconds = ended
        .saturating_duration_since(measuring_from)
        .as_secs_f64();
    let ok = lat.len() as u64;
    LoadResult {
        workers,
        ok,
        errors,
        seconds,
        per_second: if seconds > 0.0 {
            ok as f64 / seconds
        } else {
            0.0
        },
        latency: summarize(&mut lat),
    }
}
