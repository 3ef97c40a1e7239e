//! The server's notion of "now". Production reads the system clock; tests move it forward
//! instead of sleeping, so expiry is tested without waiting for time to pass.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> Millis {
        chrono::Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every server and sweep sharing it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// RFC 3339 UTC with milliseconds, as the contract fixes: `2026-11-29T20:15:03.123Z`.
pub fn format(ms: Millis) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        // Unreachable for times we store; a visible marker beats a panic.
        None => "invalid-time".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_in_utc() {
        assert_eq!(format(1_795_983_303_123), "2026-11-29T20:15:03.123Z");
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn advance_moves_now_forward() {
        let c = Clock::default();
        let before = c.now();
        c.advance(std::time::Duration::from_secs(86_400));
        assert!(c.now() - before >= 86_400_000);
    }
}
