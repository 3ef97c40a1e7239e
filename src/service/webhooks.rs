//! Webhook endpoints (contract, Webhooks and events): managing them, and the delivery worker's
//! side of sending (what is due, signed per the Standard Webhooks specification, and what each
//! attempt came to). The worker itself, and the HTTP client, are in `jobs`; which addresses a
//! delivery may reach, in `ssrf`.

use super::audit::{self, Action, By, Change};
use super::authority::{authorize, principal, Act, Grant};
use super::ssrf::address_allowed;
use super::{Actor, Ctx};
use crate::clock::Millis;
use crate::db::Conn;
use crate::domain::Delivery;
use crate::domain::{Cursor, EventFilter, OrgId, Page, PageRequest, WebhookId, WebhookUrl};
use crate::error::{Error, Result};
use crate::store;
use crate::store::webhooks::{WebhookChange, WebhookRow};
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use std::net::IpAddr;

/// Endpoints per organization: enough for any real platform, and a bound on the fan-out of
/// every event.
pub const MAX_ENDPOINTS: i64 = 50;
/// After a rotation the previous secret signs too, for this long (contract: 24 h).
const OVERLAP_MS: Millis = 24 * 3_600_000;
/// Deliveries in flight at once, on every replica together (contract part three, "Fair
/// delivery"): an endpoint that hangs holds at most 4 of them, an organization at most 8, and
/// organizations take turns for what is free, so one organization's slow or failing receivers
/// cannot hold back another's deliveries.
pub const IN_FLIGHT: store::webhooks::InFlight = store::webhooks::InFlight { per_endpoint: 4, per_org: 8 };
/// A delivery taken by a worker is not taken again for this long: longer than an attempt can
/// take (the 15 s timeout), so only a worker that died leaves one to be taken again.
const LEASE_MS: Millis = 60_000;
/// When to try again after the 1st, 2nd, … failed attempt (contract: about 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h); after the last, the delivery has failed.
pub const RETRY_AFTER_MS: [Millis; 7] =
    [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
const DESCRIPTION_MAX: usize = 500;

/// An endpoint as the API shows it.
pub struct Endpoint {
    pub row: WebhookRow,
    pub events: EventFilter,
}

impl From<WebhookRow> for Endpoint {
    fn from(row: WebhookRow) -> Endpoint {
        let events = EventFilter::from_stored(&row.events);
        Endpoint { row, events }
    }
}

/// A new endpoint, with its signing secret (shown once).
pub struct Created {
    pub endpoint: Endpoint,
    pub secret: String,
}

/// What a client asks to change (PATCH) or set (POST: url and events required).
#[derive(Default)]
pub struct WebhookInput {
    pub url: Option<String>,
    pub events: Option<EventFilter>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

fn manager(conn: &Conn, actor: &Actor) -> Result<Grant> {
    authorize(&principal(conn, actor)?, Act::ManageWebhooks)
}

fn not_found() -> Error {
    Error::NotFound("No webhook endpoint with that id in this organization.".into())
}

fn parse_id(id: &str) -> Result<WebhookId> {
    WebhookId::parse(id).ok_or_else(not_found)
}

fn check_description(d: &Option<String>) -> Result<()> {
    match d {
        Some(d) if d.chars().count() > DESCRIPTION_MAX || d.chars().any(char::is_control) => {
            Err(Error::InvalidField(format!(
                "'description' must be at most {DESCRIPTION_MAX} characters with no control characters."
            )))
        }
        _ => Ok(()),
    }
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes (the form the Standard
/// Webhooks libraries take).
/// A new signing secret for endpoint `id`: as shown once, and sealed for the database.
fn new_secret(ctx: &Ctx, id: &WebhookId) -> Result<(String, Vec<u8>)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes));
    let sealed = seal(ctx, &secret, id)?;
    Ok((secret, sealed))
}

fn seal(ctx: &Ctx, secret: &str, id: &WebhookId) -> Result<Vec<u8>> {
    let key = ctx.server_key.as_ref().ok_or_else(|| {
        Error::Conflict(
            "webhooks_off",
            "Webhooks are off on this server: its operator must set SECRET_KEY (the same on every replica)."
                .into(),
        )
    })?;
    key.seal(secret.as_bytes(), id.as_str().as_bytes()).map_err(Error::Internal)
}

pub async fn create(ctx: &Ctx, actor: Actor, input: WebhookInput) -> Result<Created> {
    let url = input.url.ok_or_else(|| {
        Error::InvalidField("'url' is required: the http(s) address events are sent to.".into())
    })?;
    let events = input.events.ok_or_else(|| {
        Error::InvalidField("'events' is required: a list of event types, or [\"*\"] for every type.".into())
    })?;
    let description = input.description.flatten();
    check_description(&Some(description.clone().unwrap_or_default()))?;
    let url = check_url(ctx, &url).await?;
    let id = WebhookId::new();
    let (secret, sealed) = new_secret(ctx, &id)?;
    let now = ctx.now();
    let row = ctx
        .db
        .write(move |tx| {
            let who = manager(tx, &actor)?;
            if store::webhooks::count(tx, &who.org)? >= MAX_ENDPOINTS {
                return Err(Error::Conflict(
                    "too_many_webhooks",
                    format!("An organization may have at most {MAX_ENDPOINTS} webhook endpoints; delete one first."),
                ));
            }
            let stored_events = events.to_stored();
            store::webhooks::insert(
                tx,
                &store::webhooks::NewWebhook {
                    id: &id,
                    org: &who.org,
                    url: url.as_sent(),
                    events: &stored_events,
                    description: description.as_deref(),
                    sealed_secret: &sealed,
                },
                now,
            )?;
            record(tx, who.by(), &who.org, "webhook.created", &id, audit::data([("url", (&url).into()), ("events", events.names().into())]), now)?;
            store::webhooks::get(tx, &who.org, &id)?.ok_or_else(not_found)
        })
        .await?;
    Ok(Created { endpoint: row.into(), secret })
}

/// The audit row of a change to endpoint `id` of `org`.
fn record(
    tx: &crate::db::Tx,
    by: &By,
    org: &OrgId,
    action: &'static str,
    id: &WebhookId,
    data: serde_json::Map<String, Value>,
    now: Millis,
) -> Result<()> {
    let change = Change { org, action: Action::Only(action), target: ("webhook", id.to_string()), data };
    Ok(audit::record(tx, by, change, now)?)
}

pub async fn list(ctx: &Ctx, actor: Actor, page: PageRequest) -> Result<Page<Endpoint>> {
    let before = super::row_cursor(&page)?;
    let limit = page.limit;
    ctx.db
        .read(move |c| {
            let who = manager(c, &actor)?;
            let rows = store::webhooks::list(c, &who.org, before, limit + 1)?;
            Ok(Page::from_rows(rows, limit, |w| Cursor::new(vec![w.n.to_string()])).map(Endpoint::from))
        })
        .await
}

pub async fn get(ctx: &Ctx, actor: Actor, id: &str) -> Result<Endpoint> {
    let id = parse_id(id)?;
    ctx.db
        .read(move |c| {
            let who = manager(c, &actor)?;
            Ok(store::webhooks::get(c, &who.org, &id)?.ok_or_else(not_found)?.into())
        })
        .await
}

pub async fn update(ctx: &Ctx, actor: Actor, id: &str, input: WebhookInput) -> Result<Endpoint> {
    let id = parse_id(id)?;
    if let Some(d) = &input.description {
        check_description(d)?;
    }
    let url = match &input.url {
        Some(u) => Some(check_url(ctx, u).await?),
        None => None,
    };
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let who = manager(tx, &actor)?;
            let events = input.events.as_ref().map(EventFilter::to_stored);
            let change = WebhookChange {
                url: url.as_ref().map(WebhookUrl::as_sent),
                events: events.as_deref(),
                description: input.description.as_ref().map(|d| d.as_deref()),
                enabled: input.enabled,
            };
            if !store::webhooks::update(tx, &who.org, &id, &change, now)? {
                return Err(not_found());
            }
            let mut data = serde_json::Map::new();
            if let Some(u) = &url {
                data.insert("url".into(), u.into());
            }
            if let Some(e) = &input.events {
                data.insert("events".into(), e.names().into());
            }
            if let Some(on) = input.enabled {
                data.insert("enabled".into(), on.into());
            }
            record(tx, who.by(), &who.org, "webhook.updated", &id, data, now)?;
            Ok(store::webhooks::get(tx, &who.org, &id)?.ok_or_else(not_found)?.into())
        })
        .await
}

pub async fn delete(ctx: &Ctx, actor: Actor, id: &str) -> Result<()> {
    let id = parse_id(id)?;
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let who = manager(tx, &actor)?;
            if !store::webhooks::delete(tx, &who.org, &id)? {
                return Err(not_found());
            }
            record(tx, who.by(), &who.org, "webhook.deleted", &id, serde_json::Map::new(), now)
        })
        .await
}

/// A new signing secret (shown once); the previous one keeps signing for 24 hours, so
/// receivers can switch without missing a delivery.
pub async fn rotate_secret(ctx: &Ctx, actor: Actor, id: &str) -> Result<Created> {
    let id = parse_id(id)?;
    let (secret, sealed) = new_secret(ctx, &id)?;
    let now = ctx.now();
    let row = ctx
        .db
        .write(move |tx| {
            let who = manager(tx, &actor)?;
            if !store::webhooks::rotate_secret(tx, &who.org, &id, &sealed, now + OVERLAP_MS, now)? {
                return Err(not_found());
            }
            record(tx, who.by(), &who.org, "webhook.secret_rotated", &id, serde_json::Map::new(), now)?;
            store::webhooks::get(tx, &who.org, &id)?.ok_or_else(not_found)
        })
        .await?;
    Ok(Created { endpoint: row.into(), secret })
}

pub async fn deliveries(ctx: &Ctx, actor: Actor, id: &str, page: PageRequest) -> Result<Page<Delivery>> {
    let id = parse_id(id)?;
    let before = super::row_cursor(&page)?;
    let limit = page.limit;
    ctx.db
        .read(move |c| {
            let who = manager(c, &actor)?;
            let w = store::webhooks::get(c, &who.org, &id)?.ok_or_else(not_found)?;
            let rows = store::webhooks::deliveries(c, w.n, before, limit + 1)?;
            Ok(Page::from_rows(rows, limit, |d| Cursor::new(vec![d.n.to_string()])))
        })
        .await
}

/// A delivery as its page shows it: the delivery, whether an attempt is running now, the event
/// as it is sent (JSON), and every attempt.
pub struct DeliveryDetail {
    pub endpoint: Endpoint,
    pub delivery: Delivery,
    pub in_flight: bool,
    pub payload: Value,
    pub attempts: Vec<store::webhooks::AttemptRow>,
}

fn no_delivery() -> Error {
    Error::NotFound("This endpoint has no delivery of that event.".into())
}

/// One delivery of an endpoint, by its event's id (an endpoint gets each event once).
pub async fn delivery(ctx: &Ctx, actor: Actor, id: &str, event: &str) -> Result<DeliveryDetail> {
    let id = parse_id(id)?;
    let (event, now) = (event.to_string(), ctx.now());
    ctx.db
        .read(move |c| {
            let who = manager(c, &actor)?;
            let w = store::webhooks::get(c, &who.org, &id)?.ok_or_else(not_found)?;
            let (delivery, leased, org, data, attempts) =
                store::webhooks::delivery(c, w.n, &event)?.ok_or_else(no_delivery)?;
            let payload =
                audit::event_json(&delivery.event_id, &delivery.event_type, delivery.created_at, &org, &data);
            let in_flight = delivery.status == "pending" && leased.is_some_and(|l| l > now);
            Ok(DeliveryDetail { endpoint: w.into(), delivery, in_flight, payload, attempts })
        })
        .await
}

/// Sends a delivery again: a new attempt of the same event (the same `webhook-id`), due now and
/// taken by the workers within the fair-delivery limits like any other. A delivery still waiting
/// for a retry is tried now instead. If the attempt fails, retries follow from the delivery's
/// attempts so far (one past its last scheduled retry is not retried again: resend it again).
pub async fn resend(ctx: &Ctx, actor: Actor, id: &str, event: &str) -> Result<Delivery> {
    let id = parse_id(id)?;
    let (event, now) = (event.to_string(), ctx.now());
    ctx.db
        .write(move |tx| {
            let who = manager(tx, &actor)?;
            let w = enabled(tx, &who.org, &id)?;
            let (d, ..) = store::webhooks::delivery(tx, w.n, &event)?.ok_or_else(no_delivery)?;
            if !store::webhooks::resend(tx, d.n, now)? {
                return Err(Error::Conflict(
                    "delivery_in_flight",
                    "This delivery is being attempted right now; its outcome shows within seconds.".into(),
                ));
            }
            let data = audit::data([("eventId", d.event_id.clone().into())]);
            record(tx, who.by(), &who.org, "webhook.delivery_resent", &id, data, now)?;
            let (d, ..) = store::webhooks::delivery(tx, w.n, &event)?.ok_or_else(no_delivery)?;
            Ok(d)
        })
        .await
}

/// Every endpoint's deliveries per UTC day since `since`: (endpoint, day, delivered, failed).
pub async fn daily(ctx: &Ctx, actor: Actor, since: Millis) -> Result<Vec<(WebhookId, i64, i64, i64)>> {
    ctx.db
        .read(move |c| {
            let who = manager(c, &actor)?;
            Ok(store::webhooks::daily(c, &who.org, since)?)
        })
        .await
}

/// The organization's endpoint `id`, which must be enabled to be sent anything (a test, a resend).
fn enabled(tx: &Conn, org: &OrgId, id: &WebhookId) -> Result<WebhookRow> {
    let w = store::webhooks::get(tx, org, id)?.ok_or_else(not_found)?;
    if !w.enabled {
        return Err(Error::Conflict(
            "webhook_disabled",
            "This endpoint is disabled; enable it (PATCH {\"enabled\": true}) to send it anything.".into(),
        ));
    }
    Ok(w)
}

/// Queues a `webhook.test` event for this endpoint alone; returns its id.
pub async fn test(ctx: &Ctx, actor: Actor, id: &str) -> Result<String> {
    let id = parse_id(id)?;
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let who = manager(tx, &actor)?;
            let w = enabled(tx, &who.org, &id)?;
            let event = audit::new_event_id();
            let data =
                serde_json::json!({"webhookId": id.as_str(), "message": "A test event from provisiond."});
            store::webhooks::queue_for(tx, w.n, &event, &who.org, "webhook.test", &data.to_string(), now)?;
            record(
                tx,
                who.by(),
                &who.org,
                "webhook.tested",
                &id,
                audit::data([("eventId", event.clone().into())]),
                now,
            )?;
            Ok(event)
        })
        .await
}

/// A webhook URL a client gave (see `WebhookUrl::parse`) whose host, unless
/// WEBHOOK_ALLOW_PRIVATE, resolves only to public addresses now. The worker checks again the
/// address it actually connects to, at every delivery (a name can change).
async fn check_url(ctx: &Ctx, text: &str) -> Result<WebhookUrl> {
    let url = WebhookUrl::parse(text).map_err(Error::InvalidField)?;
    if !ctx.rules.webhook_allow_private {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(url::Host::Domain(name)) => match tokio::net::lookup_host((name, port)).await {
                Ok(found) => found.map(|a| a.ip()).collect(),
                Err(_) => {
                    return Err(Error::UrlRefused(format!(
                        "The host '{name}' does not resolve; check the URL (webhook endpoints must be reachable when they are added)."
                    )))
                }
            },
            None => Vec::new(),
        };
        // Which address a name resolved to is not told: it maps the server's own network.
        if addrs.iter().any(|ip| !address_allowed(*ip)) {
            let what = match url.host() {
                Some(url::Host::Domain(name)) => format!("The host '{name}' resolves to"),
                _ => "The URL's host is".to_string(),
            };
            return Err(Error::UrlRefused(format!(
                "{what} a loopback, private, link-local, metadata or other special-purpose address, where webhooks are not sent. Operators with internal receivers set WEBHOOK_ALLOW_PRIVATE=true."
            )));
        }
        if addrs.is_empty() {
            return Err(Error::UrlRefused("The URL's host resolves to no address.".into()));
        }
    }
    Ok(url)
}

// ---- The delivery worker's side --------------------------------------------------------

/// A delivery ready to send: where, the body, and the Standard Webhooks headers.
pub struct Outgoing {
    pub delivery: i64,
    pub webhook: i64,
    pub attempts: i64,
    pub url: String,
    pub event_id: String,
    pub timestamp: i64,
    pub body: String,
    pub signature: String,
}

/// The `webhook-signature` value for one secret: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` keyed by the secret's decoded bytes.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String> {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or_else(|| Error::Internal("a stored webhook secret is not whsec_<base64>".into()))?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
        .map_err(|_| Error::Internal("HMAC refused the key".into()))?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())))
}

/// Whether anything is due (a read, so an idle worker does not queue writes).
pub async fn any_due(ctx: &Ctx) -> Result<bool> {
    if ctx.server_key.is_none() {
        // Nothing can be signed; deliveries wait for a server key.
        return Ok(false);
    }
    let now = ctx.now();
    ctx.db.read(move |c| Ok::<_, Error>(store::webhooks::any_due(c, now, IN_FLIGHT)?)).await
}

/// Takes up to `limit` due deliveries for this worker, fairly and within `IN_FLIGHT` (see
/// `store::webhooks::take_due`), signed and ready to send.
pub async fn take_due(ctx: &Ctx, limit: u32) -> Result<Vec<Outgoing>> {
    let now = ctx.now();
    let due = ctx
        .db
        .write(move |tx| {
            Ok::<_, Error>(store::webhooks::take_due(tx, now, now + LEASE_MS, limit, IN_FLIGHT)?)
        })
        .await?;
    let key = ctx.server_key.as_ref().ok_or_else(|| Error::Internal("no server key (SECRET_KEY)".into()))?;
    let timestamp = now.div_euclid(1000);
    let mut out = Vec::with_capacity(due.len());
    for d in due {
        let open = |sealed: &[u8]| -> Result<String> {
            let bytes = key.open(sealed, d.webhook_id.as_bytes()).map_err(Error::Internal)?;
            String::from_utf8(bytes).map_err(|_| Error::Internal("a webhook secret is not text".into()))
        };
        let body = audit::event_json(&d.event_id, &d.event_type, d.event_at, &d.event_org, &d.event_data)
            .to_string();
        let mut signature = sign(&open(&d.secret)?, &d.event_id, timestamp, &body)?;
        if let (Some(previous), Some(until)) = (&d.previous_secret, d.previous_until) {
            if until > now {
                signature = format!("{signature} {}", sign(&open(previous)?, &d.event_id, timestamp, &body)?);
            }
        }
        out.push(Outgoing {
            delivery: d.delivery,
            webhook: d.webhook,
            attempts: d.attempts,
            url: d.url,
            event_id: d.event_id,
            timestamp,
            body,
            signature,
        });
    }
    Ok(out)
}

/// What one attempt came to.
pub enum Outcome {
    /// A 2xx answer.
    Delivered(u16),
    /// 410 Gone: the receiver wants no more; the endpoint is disabled.
    Gone,
    /// Any other answer, a timeout, a refused address or a connection that failed.
    Failed { status: Option<u16>, error: String },
}

/// Records an attempt (with the first bytes of the receiver's answer, `response`, kept in the
/// delivery's attempts): delivered; failed and due again after the backoff; or failed for good
/// after the last retry, or at once on 410 (which disables the endpoint).
pub async fn finish(ctx: &Ctx, sent: &Outgoing, outcome: Outcome, response: Option<String>) -> Result<()> {
    let now = ctx.now();
    let (delivery, webhook, attempt) = (sent.delivery, sent.webhook, sent.attempts as usize);
    ctx.db
        .write(move |tx| {
            let (status, error, delivered, next_at) = match &outcome {
                Outcome::Delivered(s) => (Some(i64::from(*s)), None, true, None),
                Outcome::Gone => (Some(410), Some("410 Gone: endpoint disabled".to_string()), false, None),
                Outcome::Failed { status, error } => (
                    status.map(i64::from),
                    Some(error.clone()),
                    false,
                    RETRY_AFTER_MS.get(attempt).map(|d| now + d),
                ),
            };
            let attempt = store::webhooks::Attempt {
                delivery,
                status,
                error: error.as_deref(),
                response: response.as_deref(),
                delivered,
                next_at,
            };
            store::webhooks::finish(tx, &attempt, now)?;
            if matches!(outcome, Outcome::Gone) {
                store::webhooks::disable(tx, webhook, "the receiver answered 410 Gone", now)?;
                if let Some((org, id)) = store::webhooks::owner(tx, webhook)? {
                    record(
                        tx,
                        &By::system(),
                        &org,
                        "webhook.disabled",
                        &id,
                        audit::data([("reason", "410 Gone".into())]),
                        now,
                    )?;
                }
            }
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_specification_says() {
        // The specification's own example (standard-webhooks, spec/standard-webhooks.md).
        let got = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(got, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(sign("not-a-secret", "m", 1, "{}").is_err());
    }
}
