//! How the pages write numbers and times for people: numbers grouped the way the browser's
//! language does (`Accept-Language`), times as words ("in 6 days") with the exact UTC time in
//! words on hover and the machine form only in the markup's `datetime`.

use crate::clock::{self, Millis};
use crate::domain::Credits;
use actix_web::http::header;
use actix_web::HttpRequest;
use maud::{html, Markup};

/// How a language groups digits and marks decimals. A handful of conventions covers the
/// languages people use; anything unknown reads as English.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locale {
    group: &'static str,
    decimal: char,
}

impl Default for Locale {
    fn default() -> Locale {
        Locale::ENGLISH
    }
}

impl Locale {
    pub const ENGLISH: Locale = Locale { group: ",", decimal: '.' };
    const DOTS: Locale = Locale { group: ".", decimal: ',' };
    /// French, Russian, Nordic, Polish, ...: a narrow no-break space between groups.
    const SPACES: Locale = Locale { group: "\u{202f}", decimal: ',' };
    const SWISS: Locale = Locale { group: "\u{2019}", decimal: '.' };

    /// The first language of an `Accept-Language` value we know a convention for (by its
    /// preference order as written; weights other than 0 are not ranked: browsers list in order).
    pub fn from_accept_language(value: &str) -> Locale {
        for part in value.split(',').take(8) {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            if pieces.any(|p| p.trim().replace(' ', "") == "q=0") {
                continue;
            }
            let (lang, region) = tag.split_once('-').unwrap_or((tag.as_str(), ""));
            let found = match (lang, region) {
                ("de", "ch") | ("it", "ch") | ("fr", "ch") => Some(Locale::SWISS),
                ("pt", "pt") => Some(Locale::SPACES),
                ("en" | "ja" | "zh" | "ko" | "he" | "th" | "hi", _) => Some(Locale::ENGLISH),
                ("de" | "nl" | "it" | "es" | "pt" | "da" | "id" | "tr" | "el" | "ro" | "hr" | "sl", _) => {
                    Some(Locale::DOTS)
                }
                (
                    "fr" | "ru" | "uk" | "pl" | "cs" | "sk" | "sv" | "fi" | "nb" | "no" | "nn" | "hu" | "bg"
                    | "lt" | "lv" | "et",
                    _,
                ) => Some(Locale::SPACES),
                _ => None,
            };
            if let Some(l) = found {
                return l;
            }
        }
        Locale::ENGLISH
    }

    pub fn of(req: &HttpRequest) -> Locale {
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(Locale::from_accept_language)
            .unwrap_or_default()
    }

    /// A whole number, grouped by thousands.
    pub fn int(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3 + 1);
        if n < 0 {
            out.push('-');
        }
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(self.group);
            }
            out.push(d);
        }
        out
    }

    /// An amount of credits: grouped, with its decimals (at most 3, trailing zeros dropped).
    pub fn credits(self, c: Credits) -> String {
        let t = c.thousandths();
        let (whole, frac) = (t / 1000, (t % 1000).abs());
        let mut out = if whole == 0 && t < 0 { "-0".to_string() } else { self.int(whole) };
        if frac != 0 {
            out.push(self.decimal);
            out.push_str(format!("{frac:03}").trim_end_matches('0'));
        }
        out
    }
}

/// "Tuesday 5 December 2026, 20:38 UTC": the exact time as a person reads it.
pub fn words(at: Millis) -> String {
    match chrono::DateTime::from_timestamp_millis(at) {
        Some(t) => t.format("%A %-d %B %Y, %H:%M UTC").to_string(),
        None => "an unknown time".into(),
    }
}

/// "5 Dec 2026": a day, short.
pub fn day(at: Millis) -> String {
    match chrono::DateTime::from_timestamp_millis(at) {
        Some(t) => t.format("%-d %b %Y").to_string(),
        None => "?".into(),
    }
}

/// A time as people say it ("in 6 days"), the exact time in words on hover and the machine
/// form in `datetime` (never in the visible text).
pub fn time(now: Millis, at: Millis) -> Markup {
    html! { time datetime=(clock::format(at)) title=(words(at)) { (clock::relative(now, at)) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_as_the_browser_language_does() {
        let big = Credits::from_thousandths(1_007_524_650);
        assert_eq!(Locale::from_accept_language("en-US,en;q=0.9").credits(big), "1,007,524.65");
        assert_eq!(Locale::from_accept_language("de-DE,de;q=0.9,en;q=0.8").credits(big), "1.007.524,65");
        assert_eq!(Locale::from_accept_language("fr-FR").credits(big), "1\u{202f}007\u{202f}524,65");
        assert_eq!(Locale::from_accept_language("de-CH").credits(big), "1\u{2019}007\u{2019}524.65");
        assert_eq!(Locale::from_accept_language("xx, de;q=0.5").int(12345), "12.345");
        assert_eq!(Locale::from_accept_language("").int(999), "999");
        assert_eq!(Locale::ENGLISH.int(-1234567), "-1,234,567");
        assert_eq!(Locale::ENGLISH.credits(Credits::from_thousandths(2_500)), "2.5");
        assert_eq!(Locale::ENGLISH.credits(Credits::from_thousandths(75_000)), "75");
    }

    #[test]
    fn exact_times_read_as_words() {
        assert_eq!(words(1_795_983_303_123), "Sunday 29 November 2026, 20:15 UTC");
        assert_eq!(day(1_795_983_303_123), "29 Nov 2026");
        let t = time(0, 86_400_000 * 6).into_string();
        assert!(
            t.contains(">in 6 days<") && t.contains("title=\"Wednesday 7 January 1970, 00:00 UTC\""),
            "{t}"
        );
    }
}
