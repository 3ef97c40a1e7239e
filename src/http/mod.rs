//! What the two HTTP edges (the JSON API in `routes`, the pages in `web`) share: the state every
//! handler reaches, who the client is, and the server on the wire (`wire`).

pub mod wire;

use crate::config::Settings;
use crate::service::{Client, Ctx};
use actix_web::HttpRequest;
use std::sync::Arc;

/// What every handler can reach.
pub struct AppState {
    pub ctx: Ctx,
    pub settings: Arc<Settings>,
    /// Dashboard results with secrets in them, waiting to be shown once.
    pub shown: crate::web::team::ShowOnce,
}

impl AppState {
    /// The link a provisioned person follows to claim their account.
    pub fn claim_url(&self, token: &str) -> String {
        format!("{}/claim?token={token}", self.settings.public_url)
    }
}

/// The client of a request: the connecting address. Behind a reverse proxy that is the proxy,
/// so limits apply to all clients together (documented in the README).
pub fn client(req: &HttpRequest) -> Client {
    Client { ip: req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into()) }
}
