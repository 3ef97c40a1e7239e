//! What an operator scrapes at `/metrics` (METRICS=true), in the Prometheus text format. Each
//! application makes its own `Metrics` handle and registry, so two servers in one process (the
//! tests' twins) never count into each other; with METRICS off the handle is empty and every
//! method returns at once, so a request costs no metric work at all. Labels come only from
//! closed sets (a standard method or `OTHER`, a route template of ours or `unmatched`, a status
//! number): nothing a client sends becomes a label, so no client can make the registry grow.
//! It imports nothing of ours, so every layer records into it without reaching upward: the HTTP
//! edge (requests), the service (key cache), the database (writes and commits), the jobs
//! (webhook deliveries, the sweep).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::Arc;
use std::time::Duration;

/// The application's metrics: on, a registry of its own; off (the default), nothing.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Registered>>);

struct Registered {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    key_cache_hits: IntCounter,
    key_cache_misses: IntCounter,
    write_batch_size: Histogram,
    commit_seconds: Histogram,
    provisions: IntGaugeVec,
    webhook_pending: IntGauge,
    webhook_delivered: IntCounter,
    webhook_failures: IntCounter,
    sweep_seconds: Histogram,
    wal_bytes: IntGauge,
    wal_restarts: IntCounter,
}

/// SQLite's write-ahead log as of a scrape (none on PostgreSQL): the size of its file, and how
/// many times the checkpoint thread restarted it to keep it bounded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wal {
    pub bytes: u64,
    pub restarts: u64,
}

/// A request's method as a label: the standard methods (RFC 9110, and PATCH), everything else
/// `OTHER`. HTTP lets a client invent methods of any length; one label each would let it grow
/// the registry without end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodLabel {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Connect,
    Trace,
    Other,
}

impl MethodLabel {
    /// Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
    pub fn of(method: &str) -> MethodLabel {
        match method {
            "GET" => MethodLabel::Get,
            "HEAD" => MethodLabel::Head,
            "POST" => MethodLabel::Post,
            "PUT" => MethodLabel::Put,
            "PATCH" => MethodLabel::Patch,
            "DELETE" => MethodLabel::Delete,
            "OPTIONS" => MethodLabel::Options,
            "CONNECT" => MethodLabel::Connect,
            "TRACE" => MethodLabel::Trace,
            _ => MethodLabel::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MethodLabel::Get => "GET",
            MethodLabel::Head => "HEAD",
            MethodLabel::Post => "POST",
            MethodLabel::Put => "PUT",
            MethodLabel::Patch => "PATCH",
            MethodLabel::Delete => "DELETE",
            MethodLabel::Options => "OPTIONS",
            MethodLabel::Connect => "CONNECT",
            MethodLabel::Trace => "TRACE",
            MethodLabel::Other => "OTHER",
        }
    }
}

/// A response's status as a label: its number when it is one HTTP defines a class for
/// (100-599), else `other`; at most 501 values.
fn status_label(status: u16) -> String {
    if (100..600).contains(&status) {
        status.to_string()
    } else {
        "other".into()
    }
}

/// The one label of requests no route matched (their paths are the client's, not ours).
const UNMATCHED: &str = "unmatched";

impl Metrics {
    /// Metrics that count, in a registry of their own.
    pub fn on() -> Metrics {
        Metrics(Some(Arc::new(Registered::new())))
    }

    /// Metrics that do nothing (METRICS off, the command line).
    pub fn off() -> Metrics {
        Metrics(None)
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// One answered request. `route` is the template of the route that matched (from our route
    /// table, so ids and tokens stay out of the labels), None when none did.
    pub fn request(&self, method: MethodLabel, route: Option<&str>, status: u16, took: Duration) {
        let Some(m) = &self.0 else { return };
        let route = route.unwrap_or(UNMATCHED);
        m.http_requests.with_label_values(&[method.as_str(), route, &status_label(status)]).inc();
        m.http_duration.with_label_values(&[method.as_str(), route]).observe(took.as_secs_f64());
    }

    pub fn key_cache_hit(&self) {
        if let Some(m) = &self.0 {
            m.key_cache_hits.inc();
        }
    }

    pub fn key_cache_miss(&self) {
        if let Some(m) = &self.0 {
            m.key_cache_misses.inc();
        }
    }

    /// One commit of `writes` writes that took `took`.
    pub fn committed(&self, writes: usize, took: Duration) {
        if let Some(m) = &self.0 {
            m.commit_seconds.observe(took.as_secs_f64());
            m.write_batch_size.observe(writes as f64);
        }
    }

    /// One webhook delivery attempt: the receiver took it (2xx), or not.
    pub fn webhook_attempt(&self, delivered: bool) {
        if let Some(m) = &self.0 {
            if delivered {
                m.webhook_delivered.inc();
            } else {
                m.webhook_failures.inc();
            }
        }
    }

    pub fn swept(&self, took: Duration) {
        if let Some(m) = &self.0 {
            m.sweep_seconds.observe(took.as_secs_f64());
        }
    }

    /// The registry in the Prometheus text exposition format, with the gauges that live in the
    /// database as read for this scrape: provisions by status (our statuses, each given even
    /// when 0), the webhook deliveries waiting and, on SQLite, the WAL. Empty when off.
    pub fn render(
        &self,
        provisions: &[(&'static str, i64)],
        webhooks_pending: i64,
        wal: Option<Wal>,
    ) -> String {
        let Some(m) = &self.0 else { return String::new() };
        for (status, n) in provisions {
            m.provisions.with_label_values(&[status]).set(*n);
        }
        m.webhook_pending.set(webhooks_pending);
        if let Some(wal) = wal {
            m.wal_bytes.set(i64::try_from(wal.bytes).unwrap_or(i64::MAX));
            m.wal_restarts.inc_by(wal.restarts.saturating_sub(m.wal_restarts.get()));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
            log::error!("metrics: encoding failed: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Registers a metric made from constant, valid options; a failure would be a programming error
/// caught by the tests on the first scrape, so it is logged rather than panicking a request.
fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: T) -> T {
    if let Err(e) = registry.register(Box::new(m.clone())) {
        log::error!("metrics: {e}");
    }
    m
}

impl Registered {
    fn new() -> Registered {
        let r = Registry::new_custom(Some("provisiond".into()), None).unwrap_or_default();
        // Latency buckets from 1 ms to 10 s: a cached read is ~1 ms, a provision a few, a
        // password hash ~50 ms, a stalled database seconds.
        let latency = vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable_metric())
        };
        Registered {
            http_requests: register(
                &r,
                counter_vec(
                    "http_requests_total",
                    "HTTP requests by method (standard ones, else OTHER), route template and status.",
                    &["method", "route", "status"],
                ),
            ),
            http_duration: register(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "http_request_duration_seconds",
                        "Time to answer, by method and route template.",
                    )
                    .buckets(latency.clone()),
                    &["method", "route"],
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            key_cache_hits: register(
                &r,
                int_counter("key_cache_hits_total", "API keys answered from the key cache."),
            ),
            key_cache_misses: register(
                &r,
                int_counter("key_cache_misses_total", "API keys read from the database."),
            ),
            write_batch_size: register(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "db_write_batch_size",
                        "Writes committed together (SQLite's group commit; 1 on PostgreSQL).",
                    )
                    .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            commit_seconds: register(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new("db_commit_seconds", "Time a commit takes.").buckets(latency.clone()),
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            provisions: register(
                &r,
                IntGaugeVec::new(
                    Opts::new("provisions", "Provisions by status, as of the scrape."),
                    &["status"],
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            webhook_pending: register(
                &r,
                IntGauge::new(
                    "webhook_deliveries_pending",
                    "Webhook deliveries waiting for an attempt, as of the scrape.",
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            webhook_delivered: register(
                &r,
                int_counter(
                    "webhook_deliveries_delivered_total",
                    "Webhook deliveries a receiver took (2xx).",
                ),
            ),
            webhook_failures: register(
                &r,
                int_counter("webhook_delivery_failures_total", "Webhook delivery attempts that failed."),
            ),
            sweep_seconds: register(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new("sweep_duration_seconds", "Time the cleanup job's sweep takes.")
                        .buckets(vec![0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0]),
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            wal_bytes: register(
                &r,
                IntGauge::new(
                    "db_wal_bytes",
                    "Size of SQLite's write-ahead log file, as of the scrape (restarted once it passes 16 MiB).",
                )
                .unwrap_or_else(|_| unreachable_metric()),
            ),
            wal_restarts: register(
                &r,
                int_counter(
                    "db_wal_restarts_total",
                    "Times the WAL was restarted between two writer batches to keep it bounded.",
                ),
            ),
            registry: r,
        }
    }
}

fn int_counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric())
}

/// The options above are constants the tests scrape; they cannot fail at run time.
fn unreachable_metric<T>() -> T {
    panic!("a metric's constant options were refused")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_standard_methods_are_labels() {
        assert_eq!(MethodLabel::of("PATCH").as_str(), "PATCH");
        for invented in ["get", "PROPFIND", "", &"X".repeat(4000)] {
            assert_eq!(MethodLabel::of(invented), MethodLabel::Other, "{invented:.10}");
        }
        assert_eq!(status_label(404), "404");
        assert_eq!(status_label(999), "other");
    }

    #[test]
    fn off_counts_nothing_and_each_registry_is_its_own() {
        let off = Metrics::off();
        off.request(MethodLabel::Get, None, 200, Duration::ZERO);
        assert_eq!(off.render(&[], 0, None), "");
        let (a, b) = (Metrics::on(), Metrics::on());
        a.key_cache_hit();
        let line = "provisiond_key_cache_hits_total 1";
        assert!(a.render(&[], 0, None).contains(line));
        assert!(!b.render(&[], 0, None).contains(line), "another application's registry");
    }

    #[test]
    fn the_wal_is_shown_as_of_the_scrape() {
        let m = Metrics::on();
        let out = m.render(&[], 0, Some(Wal { bytes: 4096, restarts: 3 }));
        assert!(out.contains("provisiond_db_wal_bytes 4096"), "{out}");
        assert!(out.contains("provisiond_db_wal_restarts_total 3"), "{out}");
        let out = m.render(&[], 0, Some(Wal { bytes: 0, restarts: 5 }));
        assert!(
            out.contains("provisiond_db_wal_bytes 0") && out.contains("provisiond_db_wal_restarts_total 5"),
            "{out}"
        );
    }
}
