//! Slows down password guessing without letting a stranger lock anyone out. Failures count per
//! address *and client*: after a few from one client, that client waits before its next try for
//! that address, twice as long each time (up to 15 minutes), while the account's owner, trying
//! from elsewhere, is not held up. Failures per address from all clients together have a much
//! higher allowance, so guessing spread over many clients still slows down. A success clears
//! both counts.

use crate::clock::Millis;
use std::collections::HashMap;
use std::sync::Mutex;

/// Free failures for one address from one client.
const FREE_PER_CLIENT: u32 = 5;
/// Free failures for one address from all clients together.
const FREE_PER_ADDRESS: u32 = 50;
const MAX_WAIT_MS: Millis = 15 * 60_000;
/// Beyond this many tracked entries, those idle for an hour are dropped.
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Millis)>>,
}

fn pair(address: &str, client: &str) -> String {
    format!("{address}\u{0}{client}")
}

fn wait_after(failures: u32, free: u32, last: Millis, now: Millis) -> Option<Millis> {
    if failures < free {
        return None;
    }
    let wait = (1000_i64 << (failures - free).min(20)).min(MAX_WAIT_MS);
    let left = last + wait - now;
    (left > 0).then_some(left)
}

impl LoginThrottle {
    /// Milliseconds `client` must wait before trying `address` again, or None when it may now.
    pub fn wait(&self, address: &str, client: &str, now: Millis) -> Option<Millis> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let for_pair =
            map.get(&pair(address, client)).and_then(|&(n, last)| wait_after(n, FREE_PER_CLIENT, last, now));
        let for_address = map.get(address).and_then(|&(n, last)| wait_after(n, FREE_PER_ADDRESS, last, now));
        for_pair.max(for_address)
    }

    pub fn failed(&self, address: &str, client: &str, now: Millis) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, last)| now - *last < 3_600_000);
        }
        for key in [pair(address, client), address.to_string()] {
            let e = map.entry(key).or_insert((0, now));
            e.0 += 1;
            e.1 = now;
        }
    }

    pub fn succeeded(&self, address: &str, client: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&pair(address, client));
        map.remove(address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_five_failures_from_one_client_and_reset_on_success() {
        let t = LoginThrottle::default();
        for i in 0..5 {
            assert_eq!(t.wait("a", "ip1", 0), None, "try {i} is free");
            t.failed("a", "ip1", 0);
        }
        assert_eq!(t.wait("a", "ip1", 0), Some(1000));
        assert_eq!(t.wait("a", "ip1", 1000), None);
        t.failed("a", "ip1", 1000);
        assert_eq!(t.wait("a", "ip1", 1000), Some(2000));
        assert_eq!(t.wait("b", "ip1", 1000), None, "per address");
        assert_eq!(t.wait("a", "ip2", 1000), None, "another client is not held up");
        t.succeeded("a", "ip1");
        assert_eq!(t.wait("a", "ip1", 1000), None);
    }

    #[test]
    fn many_clients_together_slow_down_one_address() {
        let t = LoginThrottle::default();
        for i in 0..FREE_PER_ADDRESS {
            t.failed("a", &format!("ip{i}"), 0);
        }
        assert_eq!(t.wait("a", "fresh", 0), Some(1000));
        assert_eq!(t.wait("b", "fresh", 0), None);
    }
}
