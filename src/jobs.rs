//! Background jobs on named threads: the cleanup thread, which every `CLEANUP_INTERVAL` sweeps
//! what has expired and writes the key uses noted since last time; and the webhook delivery
//! thread, which sends what the outbox holds.

use crate::service::webhooks::{self, Outcome, Outgoing};
use crate::service::{maintenance, ssrf, Ctx};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The background sweep on its own named thread. Dropping or `stop`ping the handle ends it
/// promptly (it waits on a channel, not a sleep).
pub struct Cleanup {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Cleanup {
    pub fn spawn(ctx: Ctx, every: Duration) -> std::io::Result<Cleanup> {
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("cleanup".into()).spawn(move || loop {
            match rx.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {
                    let started = std::time::Instant::now();
                    match maintenance::tidy(&ctx) {
                        Ok(0) => {}
                        Ok(n) => log::info!(
                            "cleanup: {n} expired provisions removed in {} ms",
                            started.elapsed().as_millis()
                        ),
                        Err(e) => log::warn!("cleanup failed, will retry: {e}"),
                    }
                }
                // A stop message or the handle dropped.
                _ => return,
            }
        })?;
        Ok(Cleanup { stop: Some(tx), thread: Some(thread) })
    }

    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Deliveries in flight at once, per server. A slow receiver holds one of them, never a
/// request or the database writer. What is taken is fair (`webhooks::take_due`: at most 8 per
/// organization, counted on every replica together, organizations taking turns), so one
/// organization holds at most 8 of these; 64 leaves room for others while several
/// organizations' receivers hang at once (each holds a socket and a small task, no thread).
const CONCURRENT_DELIVERIES: usize = 64;
/// How often an idle worker looks for due deliveries (other replicas' events included).
const POLL: Duration = Duration::from_millis(500);
/// An attempt that takes longer has failed (contract: 15 s).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);

/// The webhook delivery worker, on its own named thread with its own small runtime. Stopping
/// abandons attempts in flight: their leases run out and they are sent again (at least once).
pub struct Webhooks {
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl Webhooks {
    pub fn spawn(ctx: Ctx) -> std::io::Result<Webhooks> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let thread = std::thread::Builder::new().name("webhooks".into()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(deliver_until_stopped(ctx, stopped)),
                Err(e) => {
                    log::error!("webhooks: cannot start the delivery runtime, nothing will be delivered: {e}")
                }
            }
        })?;
        Ok(Webhooks { stop: Some(stop), thread: Some(thread) })
    }

    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn deliver_until_stopped(ctx: Ctx, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let allow_private = ctx.rules.webhook_allow_private;
    let client = match http_client(allow_private) {
        Ok(c) => c,
        Err(e) => {
            log::error!("webhooks: cannot build the HTTP client, nothing will be delivered: {e}");
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_DELIVERIES));
    loop {
        let free = slots.available_permits();
        let mut full = false;
        if free > 0 {
            let due = match webhooks::any_due(&ctx).await {
                Ok(true) => webhooks::take_due(&ctx, free as u32).await,
                Ok(false) => Ok(Vec::new()),
                Err(e) => Err(e),
            };
            match due {
                Ok(batch) => {
                    full = batch.len() == free;
                    for sent in batch {
                        let Ok(slot) = slots.clone().acquire_owned().await else { return };
                        let (ctx, client) = (ctx.clone(), client.clone());
                        tokio::spawn(async move {
                            let (outcome, response) = send(&client, &sent, allow_private).await;
                            ctx.metrics.webhook_attempt(matches!(outcome, Outcome::Delivered(_)));
                            if let Err(e) = webhooks::finish(&ctx, &sent, outcome, response).await {
                                log::warn!(
                                    "webhooks: recording delivery {} failed, it will be sent again: {e}",
                                    sent.delivery
                                );
                            }
                            drop(slot);
                        });
                    }
                }
                Err(e) => log::warn!("webhooks: cannot read the outbox, will retry: {e}"),
            }
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// No redirects (a 3xx is a failed attempt: following one could lead anywhere), no proxy from
/// the environment, the 15 s timeout, and unless private addresses are allowed, a resolver
/// that hands the connector only public addresses: the address actually connected to is the
/// one checked, whatever the name resolved to when the endpoint was added.
fn http_client(allow_private: bool) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("provisiond-webhooks/", env!("CARGO_PKG_VERSION")));
    if allow_private {
        builder.build()
    } else {
        builder.dns_resolver(Arc::new(PublicOnly)).build()
    }
}

/// Resolves a name to its public addresses only; a name with none fails to connect.
struct PublicOnly;

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the host resolves only to loopback, private, link-local or metadata addresses")
    }
}

impl std::error::Error for Refused {}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let public: Vec<std::net::SocketAddr> = found.filter(|a| ssrf::address_allowed(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How much of a receiver's answer an attempt keeps, for the delivery's page.
const RESPONSE_EXCERPT: usize = 512;

/// The first bytes of an answer's body, as text without control characters (within the
/// attempt's timeout: a body that trickles is cut where the time ran out).
async fn excerpt(mut r: reqwest::Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < RESPONSE_EXCERPT {
        match r.chunk().await {
            Ok(Some(chunk)) => {
                bytes.extend_from_slice(&chunk[..chunk.len().min(RESPONSE_EXCERPT - bytes.len())])
            }
            _ => break,
        }
    }
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect();
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// One attempt: its outcome, and the first bytes of the receiver's answer.
async fn send(client: &reqwest::Client, sent: &Outgoing, allow_private: bool) -> (Outcome, Option<String>) {
    let failed = |status: Option<u16>, error: String| (Outcome::Failed { status, error }, None);
    let Ok(url) = reqwest::Url::parse(&sent.url) else {
        return failed(None, "the endpoint's URL does not parse".into());
    };
    // An address written as such is never resolved, so the resolver cannot check it.
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    if !allow_private && literal.is_some_and(|ip| !ssrf::address_allowed(ip)) {
        return failed(None, Refused.to_string());
    }
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &sent.event_id)
        .header("webhook-timestamp", sent.timestamp.to_string())
        .header("webhook-signature", &sent.signature)
        .body(sent.body.clone())
        .send()
        .await;
    match answer {
        Ok(r) => {
            let status = r.status();
            let outcome = if status.is_success() {
                Outcome::Delivered(status.as_u16())
            } else if status == reqwest::StatusCode::GONE {
                Outcome::Gone
            } else {
                Outcome::Failed {
                    status: Some(status.as_u16()),
                    error: format!("the receiver answered {status}"),
                }
            };
            (outcome, excerpt(r).await)
        }
        Err(e) => failed(None, describe(&e)),
    }
}

/// What went wrong, without the URL (it may hold the receiver's own token).
fn describe(e: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<Refused>() {
            return Refused.to_string();
        }
        source = s.source();
    }
    if e.is_timeout() {
        format!("no answer within {} seconds", DELIVERY_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect to the receiver".into()
    } else {
        "the request failed before an answer arrived".into()
    }
}
