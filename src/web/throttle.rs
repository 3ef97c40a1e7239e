//! Slows down password guessing: after a few failed log-ins for one address, each further try
//! must wait, twice as long each time (up to 15 minutes). A success clears the count.

use crate::clock::Millis;
use std::collections::HashMap;
use std::sync::Mutex;

const FREE_FAILURES: u32 = 5;
const MAX_WAIT_MS: Millis = 15 * 60_000;
/// Beyond this many tracked addresses, entries idle for an hour are dropped.
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Millis)>>,
}

impl LoginThrottle {
    /// Milliseconds to wait before `who` may try again, or None when a try is allowed now.
    pub fn wait(&self, who: &str, now: Millis) -> Option<Millis> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (n, last) = *map.get(who)?;
        if n < FREE_FAILURES {
            return None;
        }
        let wait = (1000_i64 << (n - FREE_FAILURES).min(20)).min(MAX_WAIT_MS);
        let left = last + wait - now;
        (left > 0).then_some(left)
    }

    pub fn failed(&self, who: &str, now: Millis) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, last)| now - *last < 3_600_000);
        }
        let e = map.entry(who.to_string()).or_insert((0, now));
        e.0 += 1;
        e.1 = now;
    }

    pub fn succeeded(&self, who: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(who);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_five_failures_and_reset_on_success() {
        let t = LoginThrottle::default();
        for i in 0..5 {
            assert_eq!(t.wait("a", 0), None, "try {i} is free");
            t.failed("a", 0);
        }
        assert_eq!(t.wait("a", 0), Some(1000));
        assert_eq!(t.wait("a", 1000), None);
        t.failed("a", 1000);
        assert_eq!(t.wait("a", 1000), Some(2000));
        assert_eq!(t.wait("b", 1000), None, "per address");
        t.succeeded("a");
        assert_eq!(t.wait("a", 1000), None);
    }
}
