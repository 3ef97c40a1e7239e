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

    /// A separate clock `by` behind this one (for making things as of the past in tests).
    pub fn behind(&self, by: std::time::Duration) -> Clock {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        Clock { offset_ms: Arc::new(AtomicI64::new(self.offset_ms.load(Ordering::Relaxed) - ms)) }
    }

    /// Moves this clock (and every server and sweep sharing it) forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// RFC 3339 UTC with milliseconds, as the contract fixes: `2026-11-29T20:15:03.123Z`. Written
/// digit by digit: answers carry several times each, and chrono's `format` parses its pattern
/// at every call (a few percent of a key verification's time in the profile).
pub fn format(ms: Millis) -> String {
    use chrono::{Datelike, Timelike};
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        // Unreachable for times we store; a visible marker beats a panic.
        return "invalid-time".to_string();
    };
    if !(0..=9999).contains(&t.year()) {
        return t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    }
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, t.year() as u32);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 3, t.timestamp_subsec_millis());
    out.iter().map(|&b| b as char).collect()
}

/// "7 days", "12 hours", "90 minutes": a duration in its largest whole unit, for people.
pub fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = match s {
        s if s % 86_400 == 0 && s > 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 && s > 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 && s > 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// "in 6 days", "3 hours ago", "just now": how far `t` is from `now`, for people (the exact
/// time goes beside it, in a `<time>` element's title).
pub fn relative(now: Millis, t: Millis) -> String {
    let delta = t - now;
    let secs = delta.unsigned_abs() / 1000;
    if secs < 60 {
        return "just now".into();
    }
    // Rounded, not cut: a week's expiry read a moment after it was set is "in 7 days".
    let round = |s: u64, unit: u64| (s + unit / 2) / unit;
    let (n, unit) = match secs {
        s if s < 3_570 => (round(s, 60).max(1), "minute"),
        s if s < 86_400 - 1_800 => (round(s, 3_600), "hour"),
        s if s < 60 * 86_400 => (round(s, 86_400), "day"),
        s => (round(s, 30 * 86_400), "month"),
    };
    let amount = format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if delta > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_times_read_like_speech() {
        let day = 86_400_000;
        assert_eq!(super::relative(0, 6 * day + 5_000), "in 6 days");
        assert_eq!(super::relative(5_000, 7 * day), "in 7 days", "a week, a moment later");
        assert_eq!(super::relative(3 * 3_600_000, 0), "3 hours ago");
        assert_eq!(super::relative(0, 30_000), "just now");
        assert_eq!(super::relative(0, 60_000), "in 1 minute");
        assert_eq!(super::relative(90 * day, 0), "3 months ago");
    }

    use super::*;

    #[test]
    fn formats_with_milliseconds_in_utc() {
        assert_eq!(format(1_795_983_303_123), "2026-11-29T20:15:03.123Z");
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        // As chrono writes it, over centuries, leap days and every millisecond digit.
        let chrono = |ms| {
            chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        };
        let mut ms: Millis = -62_135_596_800_000; // 0001-01-01
        while ms < 253_402_300_799_999 {
            assert_eq!(format(ms), chrono(ms), "{ms}");
            ms += 3_196_799_999_149; // 37 days less 851 ms: every hour, minute, second and millisecond in turn
        }
        assert_eq!(format(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn human_durations() {
        use std::time::Duration;
        assert_eq!(human(Duration::from_secs(7 * 86_400)), "7 days");
        assert_eq!(human(Duration::from_secs(3_600)), "1 hour");
        assert_eq!(human(Duration::from_secs(90)), "90 seconds");
    }

    #[test]
    fn advance_moves_now_forward() {
        let c = Clock::default();
        let before = c.now();
        c.advance(std::time::Duration::from_secs(86_400));
        assert!(c.now() - before >= 86_400_000);
    }
}
