//! Login lockout: too many failed logins of one user from one IP within a
//! window lock that (user, IP) pair for a while. In memory, per node,
//! bounded in size.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use nocas_core::Millis;

/// Lockout rules.
#[derive(Debug, Clone, Copy)]
pub struct LockoutRules {
    /// Failures that lock.
    pub failures: u32,
    /// Window they must fall in (ms).
    pub window_ms: u64,
    /// Lock duration (ms).
    pub lock_ms: u64,
    /// Most pairs tracked.
    pub max_entries: usize,
}

#[derive(Default)]
struct Entry {
    failures: VecDeque<Millis>,
    locked_until: Millis,
}

/// Failed-login bookkeeping.
pub struct Lockout {
    rules: LockoutRules,
    pairs: Mutex<HashMap<(String, String), Entry>>,
}

impl Lockout {
    /// Empty bookkeeping.
    pub fn new(rules: LockoutRules) -> Self {
        Self {
            rules,
            pairs: Mutex::new(HashMap::new()),
        }
    }

    /// Until when the pair is locked, if it is at `now`.
    pub fn locked(&self, user: &str, ip: &str, now: Millis) -> Option<Millis> {
        let pairs = self.pairs.lock();
        let e = pairs.get(&(user.to_string(), ip.to_string()))?;
        (e.locked_until > now).then_some(e.locked_until)
    }

    /// Records a failure; returns whether the pair is now locked.
    pub fn fail(&self, user: &str, ip: &str, now: Millis) -> bool {
        let r = self.rules;
        let mut pairs = self.pairs.lock();
        if pairs.len() >= r.max_entries {
            pairs.retain(|_, e| {
                e.locked_until > now
                    || e.failures
                        .back()
                        .is_some_and(|t| now - t < r.window_ms as i64)
            });
            if pairs.len() >= r.max_entries {
                // Still full of live entries: refuse to grow; the oldest
                // failure streaks stay counted.
                return false;
            }
        }
        let e = pairs.entry((user.to_string(), ip.to_string())).or_default();
        while e
            .failures
            .front()
            .is_some_and(|t| now - t >= r.window_ms as i64)
        {
            e.failures.pop_front();
        }
        e.failures.push_back(now);
        if e.failures.len() >= r.failures as usize {
            e.failures.clear();
            e.locked_until = now + r.lock_ms as i64;
            return true;
        }
        false
    }

    /// Forgets the failures of a pair after a good login.
    pub fn succeed(&self, user: &str, ip: &str) {
        self.pairs
            .lock()
            .remove(&(user.to_string(), ip.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> LockoutRules {
        LockoutRules {
            failures: 5,
            window_ms: 300_000,
            lock_ms: 900_000,
            max_entries: 4,
        }
    }

    #[test]
    fn five_failures_in_the_window_lock_the_pair() {
        let l = Lockout::new(rules());
        for i in 0..4 {
            assert!(!l.fail("u", "1.1.1.1", i * 1000));
        }
        assert!(l.locked("u", "1.1.1.1", 5000).is_none());
        assert!(l.fail("u", "1.1.1.1", 5000));
        assert_eq!(l.locked("u", "1.1.1.1", 6000), Some(905_000));
        // Other pairs are not affected.
        assert!(l.locked("u", "2.2.2.2", 6000).is_none());
        assert!(l.locked("v", "1.1.1.1", 6000).is_none());
        assert!(l.locked("u", "1.1.1.1", 905_000).is_none());
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let l = Lockout::new(rules());
        for i in 0..4 {
            l.fail("u", "ip", i);
        }
        assert!(!l.fail("u", "ip", 400_000));
        l.succeed("u", "ip");
        assert!(l.locked("u", "ip", 400_001).is_none());
    }

    #[test]
    fn bounded() {
        let l = Lockout::new(rules());
        for i in 0..10 {
            l.fail(&format!("u{i}"), "ip", 0);
        }
        assert!(l.pairs.lock().len() <= 4);
    }
}
