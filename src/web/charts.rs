//! Pictures of use, drawn on the server as SVG (no script, nothing from elsewhere): a day per
//! bar over the last days, stacked by series (valid and refused, delivered and failed), with a
//! sentence that says the same for those who do not see it. Colours come from the stylesheet's
//! classes, so dark mode recolours them.

use super::fmt::{self, Locale};
use crate::clock::Millis;
use maud::{html, Markup};

pub const DAY_MS: Millis = 86_400_000;
/// How far back the charts reach, in days (today included).
pub const DAYS: i64 = 30;

/// The UTC day number of a time (days since the epoch).
pub fn day_of(at: Millis) -> i64 {
    at.div_euclid(DAY_MS)
}

/// The first day a chart drawn at `now` shows.
pub fn first_day(now: Millis) -> i64 {
    day_of(now) - (DAYS - 1)
}

/// One stacked part of a bar: its name (in the legend and the hover text) and its CSS class.
pub struct Series {
    pub name: &'static str,
    pub class: &'static str,
}

/// The values of a chart: per day (day number), one value per series.
pub type Daily = Vec<(i64, Vec<f64>)>;

fn iso_day(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn value_text(locale: Locale, v: f64) -> String {
    if v.fract() == 0.0 {
        locale.int(v as i64)
    } else {
        locale.credits(crate::domain::Credits::from_thousandths((v * 1000.0).round() as i64))
    }
}

/// A stacked bar chart of the last `DAYS` days ending today (`now`). Each day with something
/// in it is one bar (`g[data-day]`), so a test counts the days that had use.
pub fn bars(id: &str, title: &str, series: &[Series], daily: &Daily, now: Millis, locale: Locale) -> Markup {
    let first = first_day(now);
    let shown: Vec<&(i64, Vec<f64>)> = daily
        .iter()
        .filter(|(d, v)| *d >= first && *d <= day_of(now) && v.iter().any(|x| *x > 0.0))
        .collect();
    let max = shown.iter().map(|(_, v)| v.iter().sum::<f64>()).fold(0.0, f64::max);
    let totals: Vec<f64> = (0..series.len())
        .map(|i| shown.iter().map(|(_, v)| v.get(i).copied().unwrap_or(0.0)).sum())
        .collect();
    let (w, h, gap) = (20.0, 100.0, 4.0);
    let summary = if shown.is_empty() {
        format!("{title}: nothing in the last {DAYS} days.")
    } else {
        let parts: Vec<String> = series
            .iter()
            .zip(&totals)
            .map(|(s, t)| format!("{} {}", value_text(locale, *t), s.name))
            .collect();
        format!("{title}, last {DAYS} days: {} on {} days.", parts.join(", "), shown.len())
    };
    html! {
        figure.chart id=(id) {
            svg viewBox={ "0 0 " (DAYS as f64 * w) " " (h + 2.0) } role="img" aria-label=(summary) preserveAspectRatio="none" focusable="false" {
                line.axis x1="0" y1=(h + 1.0) x2=(DAYS as f64 * w) y2=(h + 1.0) {}
                @for (d, values) in &shown {
                    @let x = (*d - first) as f64 * w + gap / 2.0;
                    @let hover = format!("{}: {}", fmt::day(*d * DAY_MS), series.iter().zip(values.iter()).map(|(s, v)| format!("{} {}", value_text(locale, *v), s.name)).collect::<Vec<_>>().join(", "));
                    g data-day=(iso_day(*d)) {
                        title { (hover) }
                        @let mut top = h;
                        @for (i, s) in series.iter().enumerate() {
                            @let v = values.get(i).copied().unwrap_or(0.0);
                            @if v > 0.0 {
                                @let bh = (v / max * h).max(1.5);
                                @let y = { top -= bh; top };
                                rect class=(s.class) x=(x) y=(y) width=(w - gap) height=(bh) data-value=(v) {}
                            }
                        }
                    }
                }
            }
            figcaption {
                span.muted { (fmt::day(first * DAY_MS)) }
                span.legend {
                    @for s in series { span.key { span class={ "swatch " (s.class) } {} (s.name) } }
                    @if max > 0.0 { span.muted { "· top " (value_text(locale, max)) " a day" } }
                }
                span.muted { "today" }
            }
            p.visually-hidden { (summary) }
        }
    }
}

/// A small bar chart for a table row (a member's use): one bar per day with use.
pub fn spark(id: &str, label: &str, daily: &[(i64, f64)], now: Millis) -> Markup {
    let first = first_day(now);
    let shown: Vec<&(i64, f64)> = daily.iter().filter(|(d, v)| *d >= first && *v > 0.0).collect();
    let max = shown.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let (w, h) = (4.0, 20.0);
    html! {
        svg.spark id=(id) viewBox={ "0 0 " (DAYS as f64 * w) " " (h) } role="img" aria-label=(format!("{label}: use on {} of the last {DAYS} days", shown.len())) preserveAspectRatio="none" focusable="false" {
            @for (d, v) in shown {
                @let bh = (v / max * h).max(1.0);
                rect.bar data-day=(iso_day(*d)) x=((*d - first) as f64 * w) y=(h - bh) width=(w - 1.0) height=(bh) {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_day_with_something_in_it() {
        let now = 100 * DAY_MS + 5;
        let series = [Series { name: "valid", class: "ok" }, Series { name: "refused", class: "bad" }];
        let daily =
            vec![(100, vec![3.0, 1.0]), (99, vec![0.0, 0.0]), (80, vec![2.0, 0.0]), (60, vec![9.0, 9.0])];
        let svg = bars("c", "Verifications", &series, &daily, now, Locale::ENGLISH).into_string();
        assert_eq!(
            svg.matches("data-day=").count(),
            2,
            "today and day 80; empty and too old days are not drawn"
        );
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("5 valid, 1 refused on 2 days"), "{svg}");
        let spark = spark("s", "m", &[(100, 1.0), (90, 2.0), (10, 3.0)], now).into_string();
        assert_eq!(spark.matches("data-day=").count(), 2);
    }
}
