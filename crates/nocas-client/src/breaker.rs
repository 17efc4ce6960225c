//! A circuit breaker per server, and the backoff between retries.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::options::{BreakerPolicy, RetryPolicy};

/// Breaker states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; counts consecutive failures.
    Closed(u32),
    /// Calls are refused until the instant.
    Open(Instant),
    /// One probe call is in flight.
    HalfOpen,
}

/// One server's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    state: BreakerState,
    policy: BreakerPolicy,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            state: BreakerState::Closed(0),
            policy,
        }
    }

    /// Current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a call may go to this server now (an open breaker whose time
    /// is up lets one probe through and becomes half-open).
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed(_) => true,
            BreakerState::Open(until) if now >= until => {
                self.state = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open(_) | BreakerState::HalfOpen => false,
        }
    }

    /// Records a success: closed again.
    pub fn success(&mut self) {
        self.state = BreakerState::Closed(0);
    }

    /// Records a failure: opens after enough in a row (a failed probe opens
    /// it again at once).
    pub fn failure(&mut self, now: Instant) {
        self.state = match self.state {
            BreakerState::Closed(n) if n + 1 < self.policy.failure_threshold => {
                BreakerState::Closed(n + 1)
            }
            _ => BreakerState::Open(now + self.policy.open_for),
        };
    }
}

/// The sleep before retry `attempt` (1-based): full jitter over an
/// exponentially growing ceiling.
pub fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let ceiling = policy
        .base
        .checked_mul(1u32 << attempt.min(20))
        .unwrap_or(policy.max)
        .min(policy.max);
    let ms = ceiling.as_millis() as u64;
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_half_opens_and_closes() {
        let policy = BreakerPolicy {
            failure_threshold: 2,
            open_for: Duration::from_millis(100),
        };
        let mut b = Breaker::new(policy);
        let t = Instant::now();
        assert!(b.allow(t));
        b.failure(t);
        assert_eq!(b.state(), BreakerState::Closed(1));
        b.failure(t);
        assert!(matches!(b.state(), BreakerState::Open(_)));
        assert!(!b.allow(t + Duration::from_millis(50)));
        assert!(
            b.allow(t + Duration::from_millis(100)),
            "probe after open_for"
        );
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(
            !b.allow(t + Duration::from_millis(100)),
            "one probe at a time"
        );
        b.failure(t + Duration::from_millis(100));
        assert!(
            matches!(b.state(), BreakerState::Open(_)),
            "failed probe reopens"
        );
        assert!(b.allow(t + Duration::from_millis(300)));
        b.success();
        assert_eq!(b.state(), BreakerState::Closed(0));
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
        };
        for attempt in 1..10 {
            let ceiling = Duration::from_millis((10u64 << attempt).min(50));
            for _ in 0..50 {
                assert!(backoff(&p, attempt) < ceiling);
            }
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| backoff(&p, 3)).collect();
        assert!(spread.len() > 5, "jitter spreads the sleeps");
    }
}
