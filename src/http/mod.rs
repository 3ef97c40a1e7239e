//! What the two HTTP edges (the JSON API in `routes`, the pages in `web`) share: the state every
//! handler reaches, who the client is, and the server on the wire (`wire`).

pub mod error;
pub mod export;
pub mod json;
pub mod paging;
pub mod schema;
pub mod wire;

use crate::config::Settings;
use crate::service::audit::Origin;
use crate::service::{Client, Ctx};
use actix_web::HttpRequest;
use std::net::IpAddr;
use std::sync::Arc;

/// What every handler can reach.
pub struct AppState {
    pub ctx: Ctx,
    pub settings: Arc<Settings>,
}

impl AppState {
    /// The link a provisioned person follows to claim their account.
    pub fn claim_url(&self, token: &str) -> String {
        format!("{}/claim?token={token}", self.settings.public_url)
    }
}

/// The client of a request: the connecting address, or, when that is a trusted proxy
/// (TRUSTED_PROXIES), the right-most `X-Forwarded-For` hop that is not one (hops further left
/// were written by whoever sent the request, and could be anything). Without TRUSTED_PROXIES the
/// header is ignored: anyone could send it.
pub fn client(req: &HttpRequest) -> Client {
    let peer = req.peer_addr().map(|a| a.ip());
    let trusted = req.app_data::<actix_web::web::Data<AppState>>().map(|s| &s.settings.trusted_proxies);
    let ip = match (peer, trusted) {
        (Some(peer), Some(trusted)) if trusted.contains(&peer) => {
            let hops = req
                .headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect::<Vec<_>>();
            let mut client = peer;
            for hop in hops.iter().rev() {
                match hop.parse::<IpAddr>() {
                    Ok(ip) if trusted.contains(&ip) => client = ip,
                    Ok(ip) => {
                        client = ip;
                        break;
                    }
                    // Not an address: nothing to its left can be believed either.
                    Err(_) => break,
                }
            }
            Some(client)
        }
        _ => peer,
    };
    Client { ip: ip.map_or_else(|| "unknown".into(), |ip| ip.to_string()) }
}

/// Where a request came from, as the audit log records it: the client's address (as `client`
/// finds it) and its User-Agent, cut to a sane length.
pub fn origin(req: &HttpRequest) -> Origin {
    let ip = client(req).ip;
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().filter(|c| !c.is_control()).take(256).collect::<String>())
        .filter(|ua| !ua.is_empty());
    Origin { ip: (ip != "unknown").then_some(ip), user_agent }
}

tokio::task_local! {
    /// The id of the request being handled, for its log lines.
    static REQUEST_ID: String;
}

/// The request id of the request this task is handling, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(String::clone).ok()
}

/// The client's `X-Request-Id` when it is a sane one (1-128 of `A-Z a-z 0-9 . _ : -`), else a
/// new UUID: a client's id lets it follow its own request through our logs; anything else could
/// forge or break log lines.
pub fn request_id_of(req: &HttpRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Runs a request's handling with its id in scope for the log lines written on its way.
pub async fn with_request_id<F: std::future::Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}
