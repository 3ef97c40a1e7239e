//! Credits: exact amounts (integer thousandths) and the periods a per-user limit counts over.

use serde::Serialize;

/// An amount of credits, held as integer thousandths so sums never drift. Positive amounts up to
/// `Credits::MAX` parse; JSON shows at most 3 decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Credits(i64);

impl Credits {
    /// 10^12 credits: far beyond any real pool, and small enough that every amount and sum is
    /// exact as a JSON (double-precision) number.
    pub const MAX: Credits = Credits(1_000_000_000_000_000);

    pub fn from_thousandths(n: i64) -> Credits {
        Credits(n)
    }

    pub fn thousandths(self) -> i64 {
        self.0
    }

    /// A positive decimal like `12`, `0.5` or `2.125`: digits, an optional point, at most 3
    /// decimals, no sign or exponent.
    pub fn parse(text: &str) -> Result<Credits, String> {
        let bad = || {
            format!(
                "'{text}' is not an amount: use a number greater than 0 with at most 3 decimals, e.g. 2.5."
            )
        };
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || (text.contains('.') && frac.is_empty()) {
            return Err(bad());
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 3 {
            return Err(format!("'{text}' has more than 3 decimals; amounts are counted in thousandths."));
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 13 {
            return Err(format!("'{text}' is larger than the largest amount ({}).", Credits::MAX));
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let frac: i64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
        let n = whole * 1000 + frac;
        if n == 0 {
            return Err("The amount must be greater than 0.".into());
        }
        if n > Credits::MAX.0 {
            return Err(format!("'{text}' is larger than the largest amount ({}).", Credits::MAX));
        }
        Ok(Credits(n))
    }

    /// From a JSON number, by its shortest decimal text (so 0.1 is exactly 100 thousandths).
    pub fn from_json(n: &serde_json::Number) -> Result<Credits, String> {
        let text = if let Some(i) = n.as_i64() {
            if i <= 0 {
                return Err("The amount must be greater than 0.".into());
            }
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            match n.as_f64() {
                Some(f) if f.is_finite() && f > 0.0 => f.to_string(),
                _ => return Err("The amount must be greater than 0.".into()),
            }
        };
        Credits::parse(&text)
    }

    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).filter(|n| *n <= Credits::MAX.0).map(Credits)
    }
    /// As the API writes it: a number with at most three decimals.
    pub fn json(self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl std::fmt::Display for Credits {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (whole, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

impl Serialize for Credits {
    /// A whole amount as an integer, otherwise the nearest double — exact to 3 decimals for
    /// every amount up to `MAX`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

/// What a per-user credit limit counts over: the UTC calendar day or month, or all time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitPeriod {
    Day,
    Month,
    Total,
}

impl LimitPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitPeriod::Day => "day",
            LimitPeriod::Month => "month",
            LimitPeriod::Total => "total",
        }
    }

    pub fn parse(s: &str) -> Option<LimitPeriod> {
        match s {
            "day" => Some(LimitPeriod::Day),
            "month" => Some(LimitPeriod::Month),
            "total" => Some(LimitPeriod::Total),
            _ => None,
        }
    }

    /// The start of the window `at` falls in (ms): midnight UTC of its day, the first of its
    /// month, or 0 for all time. Two instants share a window exactly when this is equal, which
    /// is what lets one UPDATE both reset a rolled-over window and count into it.
    pub fn window_start(self, at: i64) -> i64 {
        use chrono::{Datelike, TimeZone};
        let Some(t) = chrono::DateTime::from_timestamp_millis(at) else { return 0 };
        let start = match self {
            LimitPeriod::Total => return 0,
            LimitPeriod::Day => chrono::Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0),
            LimitPeriod::Month => chrono::Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0),
        };
        start.single().map(|s| s.timestamp_millis()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(Credits::parse("12").unwrap().thousandths(), 12_000);
        assert_eq!(Credits::parse("0.5").unwrap().thousandths(), 500);
        assert_eq!(Credits::parse("2.125").unwrap().thousandths(), 2_125);
        assert_eq!(Credits::parse("0.100").unwrap().thousandths(), 100);
        assert_eq!(Credits::parse("007.0010").unwrap().thousandths(), 7_001);
        assert_eq!(Credits::parse("1000000000000").unwrap(), Credits::MAX);
        for bad in [
            "",
            "-1",
            "0",
            "0.000",
            "1.2345",
            "1e3",
            ".5",
            "5.",
            "1,5",
            " 1",
            "abc",
            "1000000000000.001",
            "99999999999999",
        ] {
            assert!(Credits::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_numbers_by_their_decimal_text() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        assert_eq!(Credits::from_json(&n("0.1")).unwrap().thousandths(), 100);
        assert_eq!(Credits::from_json(&n("0.001")).unwrap().thousandths(), 1);
        assert_eq!(Credits::from_json(&n("3")).unwrap().thousandths(), 3000);
        assert!(Credits::from_json(&n("0.0001")).is_err());
        assert!(Credits::from_json(&n("-2")).is_err());
        assert!(Credits::from_json(&n("0")).is_err());
        assert!(Credits::from_json(&n("1e300")).is_err());
    }

    #[test]
    fn shows_at_most_three_decimals() {
        assert_eq!(Credits(1500).to_string(), "1.5");
        assert_eq!(Credits(1).to_string(), "0.001");
        assert_eq!(Credits(3000).to_string(), "3");
        assert_eq!(serde_json::to_string(&Credits(2_125)).unwrap(), "2.125");
        assert_eq!(serde_json::to_string(&Credits(3000)).unwrap(), "3");
        assert_eq!(serde_json::to_string(&Credits(999_999_999_999_999)).unwrap(), "999999999999.999");
    }

    #[test]
    fn limit_windows_are_utc_calendar_days_and_months() {
        // 2026-11-29T20:15:03.123Z
        let t = 1_795_983_303_123;
        assert_eq!(LimitPeriod::Day.window_start(t), 1_795_910_400_000); // 2026-11-29T00:00Z
        assert_eq!(LimitPeriod::Month.window_start(t), 1_793_491_200_000); // 2026-11-01T00:00Z
        assert_eq!(LimitPeriod::Total.window_start(t), 0);
        assert_eq!(LimitPeriod::Day.window_start(1_795_910_400_000), 1_795_910_400_000);
        assert_eq!(LimitPeriod::Day.window_start(1_795_910_399_999), 1_795_824_000_000);
    }
}
