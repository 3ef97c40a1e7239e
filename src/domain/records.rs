//! The records the store reads and the service hands to the edges: a provision, a member, an
//! agent, a key as listings show it, the pool's balance and its ledger, a webhook delivery, an
//! audit entry and what an audit list asks for. One model for every layer (the store fills
//! them, the service returns them, the edges render them), so no edge names the store.

use super::{
    AgentId, Credits, KeyId, KeyN, OrgId, ProjectId, ProjectN, ProvisionId, ProvisionStatus, Role, Scopes,
    UserId, UserN,
};
use crate::clock::Millis;

/// A provision: who pre-created whom, and how it ended.
#[derive(Clone, Debug)]
pub struct Provision {
    pub id: ProvisionId,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub project_id: ProjectId,
    pub agent_id: AgentId,
    pub role: Role,
    pub skip_onboarding: bool,
    pub status: ProvisionStatus,
    pub created_by: UserId,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub claimed_at: Option<Millis>,
    pub claimed_by: Option<UserId>,
    /// Only an account with this address (lowercase) may claim.
    pub email: Option<String>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    /// A JSON object, as text.
    pub metadata: Option<String>,
}

/// A provision as the team page lists it: who made it and who claimed it, by address.
#[derive(Clone, Debug)]
pub struct ListedProvision {
    pub provision: Provision,
    pub created_by: Option<String>,
    pub claimed_by: Option<String>,
    /// Its row number: the rest of its place in the list.
    pub n: i64,
}

/// A member of an organization, placeholders included.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub user_n: UserN,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub role: Role,
    pub is_provisioner: bool,
    pub placeholder: bool,
    pub api_only: bool,
    /// When the membership began (the list's sort key, with `user_n`).
    pub joined_at: Millis,
}

/// An agent of a project.
#[derive(Clone, Debug)]
pub struct Agent {
    pub id: AgentId,
    pub name: String,
    pub identifier: String,
    pub parent_identifier: Option<String>,
    pub created_at: Millis,
}

/// An organization's credit pool.
#[derive(Clone, Copy, Debug)]
pub struct Balance {
    pub granted: Credits,
    pub used: Credits,
    /// How low the pool was last recorded to be (see schema.sql, `credits_alert`).
    pub alert: i64,
}

impl Balance {
    pub fn left(&self) -> Credits {
        Credits::from_thousandths(self.granted.thousandths() - self.used.thousandths())
    }
}

/// One grant or consumption in the ledger.
#[derive(Clone, Debug)]
pub struct LedgerEntry {
    pub id: i64,
    pub kind: String,
    pub amount: Credits,
    pub user_id: Option<UserId>,
    pub reason: Option<String>,
    pub created_at: Millis,
    /// The user's address now (None: no user, or one since deleted).
    pub user_email: Option<String>,
}

/// A webhook delivery: one event to one endpoint, and its attempts.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub n: i64,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub next_at: Millis,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_at: Option<Millis>,
    pub created_at: Millis,
}

/// A row of the audit log.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub n: i64,
    pub id: String,
    pub org_id: String,
    pub action: String,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub target_type: String,
    pub target_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Option<String>,
    pub created_at: Millis,
}

/// What a list asks for; every filter is optional.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// An action, or a family of them: `member.*`.
    pub action: Option<String>,
    /// The actor's id (a user's or an API key's), or the acting person's address.
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
}

/// A key as listings show it (never the key itself).
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub n: KeyN,
    pub id: KeyId,
    pub name: Option<String>,
    pub hint: String,
    pub user_id: UserId,
    pub user_n: UserN,
    pub project_id: ProjectId,
    pub project_n: ProjectN,
    pub ceiling: Role,
    pub scopes: Scopes,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    /// The holder's role in the key's organization; None once they left it.
    pub holder_role: Option<Role>,
}
