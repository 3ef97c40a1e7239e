//! What an operator scrapes at `/metrics` (METRICS=true): one registry for the process, in the
//! Prometheus text format. It imports nothing of ours, so every layer records into it without
//! reaching upward: the HTTP edge (requests), the service (key cache), the database (writes and
//! commits), the jobs (webhook deliveries, the sweep). Process-wide like Prometheus' own default
//! registry: a process is what gets scraped; with several replicas each is scraped on its own.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::LazyLock;

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub key_cache_hits: IntCounter,
    pub key_cache_misses: IntCounter,
    pub write_batch_size: Histogram,
    pub commit_seconds: Histogram,
    pub provisions: IntGaugeVec,
    pub webhook_pending: IntGauge,
    pub webhook_delivered: IntCounter,
    pub webhook_failures: IntCounter,
    pub sweep_seconds: Histogram,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

pub fn get() -> &'static Metrics {
    &METRICS
}

/// Registers a metric made from constant, valid options; a failure would be a programming error
/// caught by the tests on the first scrape, so it is logged rather than panicking a request.
fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: T) -> T {
    if let Err(e) = registry.register(Box::new(m.clone())) {
        log::error!("metrics: {e}");
    }
    m
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new_custom(Some("provisiond".into()), None).unwrap_or_default();
        // Latency buckets from 1 ms to 10 s: a cached read is ~1 ms, a provision a few, a
        // password hash ~50 ms, a stalled database seconds.
        let latency = vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable_metric())
        };
        Metrics {
            http_requests: register(
                &r,
                counter_vec(
                    "http_requests_total",
                    "HTTP requests by method, route template and status.",
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
            registry: r,
        }
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::error!("metrics: encoding failed: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

fn int_counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric())
}

/// The options above are constants the tests scrape; they cannot fail at run time.
fn unreachable_metric<T>() -> T {
    panic!("a metric's constant options were refused")
}
