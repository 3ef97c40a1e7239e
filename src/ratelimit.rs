//! Token buckets: each key (an API key, a user, an IP address) may take `per_minute` actions a
//! minute, in bursts of up to that many. A leaked admin key can then create hundreds of users a
//! minute, not millions.

use crate::clock::Millis;
use std::collections::HashMap;
use std::sync::Mutex;

/// Beyond this many tracked keys, buckets that have refilled completely are forgotten.
const MAX_TRACKED: usize = 100_000;

pub struct RateLimit {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Millis)>>,
}

impl RateLimit {
    /// `per_minute == 0` means unlimited.
    pub fn new(per_minute: u32) -> RateLimit {
        RateLimit { per_minute, buckets: Mutex::default() }
    }

    /// Takes one token for `who`, or says how many seconds until one is available.
    pub fn take(&self, who: &str, now: Millis) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let cap = f64::from(self.per_minute);
        let per_ms = cap / 60_000.0;
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (tokens, at)| *tokens + (now - *at) as f64 * per_ms < cap);
        }
        let (tokens, at) = map.entry(who.to_string()).or_insert((cap, now));
        *tokens = (*tokens + (now - *at).max(0) as f64 * per_ms).min(cap);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / per_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }

    /// Whether `take` would succeed, without spending anything.
    pub fn peek(&self, who: &str, now: Millis) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some((tokens, at)) = map.get(who) else { return Ok(()) };
        let per_ms = f64::from(self.per_minute) / 60_000.0;
        let tokens = (tokens + (now - at).max(0) as f64 * per_ms).min(f64::from(self.per_minute));
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - tokens) / per_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_up_to_the_rate_then_refills() {
        let r = RateLimit::new(3);
        assert!(r.take("a", 0).is_ok());
        assert!(r.take("a", 0).is_ok());
        assert!(r.take("a", 0).is_ok());
        assert_eq!(r.take("a", 0), Err(20), "one token every 20 s at 3 a minute");
        assert!(r.take("b", 0).is_ok(), "per key");
        assert!(r.take("a", 20_000).is_ok());
        assert!(RateLimit::new(0).take("a", 0).is_ok());
    }

    #[test]
    fn peek_spends_nothing() {
        let r = RateLimit::new(1);
        assert!(r.peek("a", 0).is_ok());
        assert!(r.peek("a", 0).is_ok());
        assert!(r.take("a", 0).is_ok());
        assert!(r.peek("a", 0).is_err());
    }
}
