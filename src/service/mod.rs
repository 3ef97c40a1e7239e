//! Every rule and use case, one file per capability. The edges (the JSON API, the pages, the
//! command line, the background jobs) parse their input, call one function here and render its
//! result; this layer decides who may do what, what is valid and what commits together (the
//! store marks the key cache stale itself, see `store`). It is the only caller of the
//! store and names no database engine.

pub mod accounts;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod author;
pub mod authority;
pub mod claims;
pub mod credits;
pub mod events;
pub mod idempotency;
pub mod keys;
mod limits;
pub mod maintenance;
pub mod members;
pub mod organizations;
pub mod provisioning;
pub mod scim;
mod scim_grant;
pub mod scim_groups;
pub mod shown;
pub mod ssrf;
pub mod team;
pub mod verify;
pub mod webhooks;

use crate::clock::{Clock, Millis};
use crate::db::{Conn, Db};
use crate::domain::{OrgId, UserId};
use crate::error::{Error, Result};
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::serverkey::ServerKey;
use crate::store;
use std::sync::Arc;

pub use auth::Caller;
pub use authority::{authorize, principal, Act, Grant, KeyAction, KeyTarget, Principal, Strength};

/// Who may create an account on the web pages.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignupMode {
    /// Only someone following a claim link (and operators, on the command line).
    #[default]
    Claim,
    /// Anyone; an address must be verified by mail before its account starts or joins an
    /// organization. Needs SMTP.
    Open,
    /// Nobody: accounts come from operators only.
    Off,
}

/// The settings that shape the rules.
#[derive(Clone, Debug)]
pub struct Rules {
    pub key_prefix: String,
    pub provision_ttl_ms: Millis,
    pub signup: SignupMode,
    /// Where people reach the server: links in mail start with it.
    pub public_url: String,
    /// Provisions a minute per person (and four times that per client address); 0: no limit.
    pub provision_rate_limit: u32,
    /// Tries a minute per sign-in form and client address; 0: no limit.
    pub form_rate_limit: u32,
    /// How long audit rows are kept.
    pub audit_retention_ms: Millis,
    /// `credits.low` fires when a pool falls below this percentage of what was granted.
    pub credits_low_percent: u32,
    /// Webhooks may go to loopback, private and link-local addresses (internal receivers).
    pub webhook_allow_private: bool,
}

/// What every use case reaches: the database, the clock, the rules, and the state that makes
/// them fast or fair (the key cache, the limits, the mail thread).
#[derive(Clone)]
pub struct Ctx {
    pub db: Db,
    pub clock: Clock,
    pub rules: Arc<Rules>,
    keys: Arc<auth::KeyState>,
    limits: Arc<limits::Limits>,
    mailer: Mailer,
    /// Seals the webhooks' signing secrets; None for commands that never touch them.
    pub server_key: Option<Arc<ServerKey>>,
    /// The application's metrics (off unless METRICS): the same handle the database counts
    /// its commits into.
    pub metrics: Metrics,
}

impl Ctx {
    pub fn new(db: Db, clock: Clock, rules: Rules, mailer: Mailer) -> Ctx {
        let limits = limits::Limits::new(db.engine(), rules.provision_rate_limit, rules.form_rate_limit);
        Ctx {
            metrics: db.metrics(),
            db,
            clock,
            rules: Arc::new(rules),
            keys: Arc::default(),
            limits: Arc::new(limits),
            mailer,
            server_key: None,
        }
    }

    pub fn with_server_key(mut self, key: ServerKey) -> Ctx {
        self.server_key = Some(Arc::new(key));
        self
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Whether mail can be sent (pages say what to do when not).
    pub fn mail_enabled(&self) -> bool {
        self.mailer.enabled()
    }
}

/// Who is on the other end of a request, as far as limits (and records) go.
#[derive(Clone, Debug, Default)]
pub struct Client {
    /// The client's address (`unknown` when there is none).
    pub ip: String,
}

/// Who acts, and from where (the client address and User-Agent its records name: captured
/// when the edge makes the actor, inside the request, so records written on the database's own
/// thread still name them).
#[derive(Clone)]
pub struct Actor {
    pub who: Who,
    origin: audit::Origin,
}

/// The credential behind an actor.
#[derive(Clone)]
pub enum Who {
    /// An API key: its user, organization and role, as verified.
    Key(Arc<Caller>),
    /// A signed-in person, in the organization their dashboard shows.
    Person { user: UserId, org: OrgId },
}

impl Actor {
    pub fn key(caller: Arc<Caller>) -> Actor {
        Actor { who: Who::Key(caller), origin: audit::Origin::current() }
    }

    pub fn person(user: UserId, org: OrgId) -> Actor {
        Actor { who: Who::Person { user, org }, origin: audit::Origin::current() }
    }

    /// Where the request that made this actor came from.
    pub fn origin(&self) -> &audit::Origin {
        &self.origin
    }

    /// The key, when a key acts.
    pub fn caller(&self) -> Option<&Arc<Caller>> {
        match &self.who {
            Who::Key(c) => Some(c),
            Who::Person { .. } => None,
        }
    }
}

/// Where a page of a list in row order starts: after the row number its cursor holds (lists whose
/// cursor is one row number: keys, the ledger, the audit log, endpoints, deliveries).
fn row_cursor(page: &crate::domain::PageRequest) -> Result<Option<i64>> {
    page.after.as_ref().map(|c| c.number(0, 1).ok_or(Error::InvalidCursor)).transpose()
}

/// An organization given as its id, domain or name (the command line); a name two
/// organizations share is refused rather than guessed.
fn resolve_org(conn: &Conn, needle: &str) -> Result<OrgId> {
    let mut ids = store::orgs::find_orgs(conn, needle)?;
    match ids.len() {
        0 => Err(Error::NotFound(format!("No organization has the id, domain or name '{needle}'."))),
        1 => Ok(ids.remove(0)),
        n => Err(Error::AmbiguousOrganization { needle: needle.to_string(), n }),
    }
}
