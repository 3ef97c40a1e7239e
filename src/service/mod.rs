//! Every rule and use case, one file per capability. The edges (the JSON API, the pages, the
//! command line, the background jobs) parse their input, call one function here and render its
//! result; this layer decides who may do what, what is valid, what commits together, and when
//! the key cache must stop trusting itself (`Tx::keys_changed`). It is the only caller of the
//! store and names no database engine.

pub mod accounts;
pub mod agents;
pub mod audit;
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
pub mod shown;
pub mod team;
pub mod webhooks;

use crate::clock::{Clock, Millis};
use crate::db::{Conn, Db};
use crate::domain::{OrgId, Role, Scope, Scopes, UserId};
use crate::error::{Error, Result};
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::serverkey::ServerKey;
use crate::store;
use std::sync::Arc;

pub use keys::Caller;

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
    keys: Arc<keys::KeyState>,
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

/// Who acts.
#[derive(Clone)]
pub enum Actor {
    /// An API key: its user, organization and role, as verified.
    Key(Arc<Caller>),
    /// A signed-in person, in the organization their dashboard shows.
    Person { user: UserId, org: OrgId },
}

/// An actor's standing in one organization, as the rules need it.
pub struct Authority {
    pub user: UserId,
    pub org: OrgId,
    pub role: Role,
    pub is_provisioner: bool,
    /// An unclaimed account's key: it uses its own project and manages nothing.
    pub placeholder: bool,
    /// What the key reaches (a signed-in person: everything).
    pub scopes: Scopes,
}

impl Authority {
    /// Administration no scope names (granting credits, setting limits): a key with every scope.
    pub fn require_every_scope(&self) -> Result<()> {
        match Scope::ALL.into_iter().find(|s| !self.scopes.has(*s)) {
            None => Ok(()),
            Some(missing) => Err(Error::MissingScope(missing)),
        }
    }

    pub fn require_scope(&self, scope: Scope) -> Result<()> {
        if self.scopes.has(scope) {
            Ok(())
        } else {
            Err(Error::MissingScope(scope))
        }
    }

    fn require_claimed(&self) -> Result<()> {
        if self.placeholder {
            Err(Error::InsufficientRole(
                "This key belongs to an account nobody has claimed yet: it can use its own project (agents, credits), not manage the organization. Claim the account first.".into(),
            ))
        } else {
            Ok(())
        }
    }

    pub fn require_admin(&self) -> Result<()> {
        self.require_claimed()?;
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(Error::InsufficientRole(format!(
                "This needs an admin or owner; this key's role is {}.",
                self.role.as_str()
            )))
        }
    }

    /// Owner-only actions; `what` completes "Only an owner may …".
    pub fn require_owner(&self, what: &str) -> Result<()> {
        self.require_claimed()?;
        if self.role == Role::Owner {
            Ok(())
        } else {
            Err(Error::InsufficientRole(format!(
                "Only an owner may {what}; this key's role is {}.",
                self.role.as_str()
            )))
        }
    }

    pub fn require_provisioner(&self) -> Result<()> {
        if self.is_provisioner && !self.placeholder {
            Ok(())
        } else {
            Err(Error::NotAProvisioner)
        }
    }
}

/// The actor's standing: from the key as verified, or from the person's membership now.
fn authority(conn: &Conn, actor: &Actor) -> Result<Authority> {
    match actor {
        Actor::Key(c) => Ok(c.authority()),
        Actor::Person { user, org } => {
            let m = store::orgs::membership(conn, user, org)?
                .ok_or_else(|| Error::NotFound("You are not a member of that organization.".into()))?;
            Ok(Authority {
                user: user.clone(),
                org: org.clone(),
                role: m.role,
                is_provisioner: m.is_provisioner,
                placeholder: false,
                scopes: Scopes::ALL,
            })
        }
    }
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
