//! The flows the API, the command line and (later) the web pages share. Each takes the
//! transaction it runs in, so everything a flow writes commits together or not at all.

use crate::clock::{self, Millis};
use crate::domain::{Credits, Domain, Email, ProvisionRole, ProvisionStatus, Role};
use crate::error::{is_unique_violation, ApiError};
use crate::keys::{self, new_id};
use crate::store;
use crate::store::projects::AgentRow;
use crate::store::provisions::ProvisionRow;
use rusqlite::Transaction;
use std::time::Duration;

pub const DEFAULT_PROJECT_NAME: &str = "Default";

pub struct NewOrg {
    pub name: String,
    pub domain: Option<Domain>,
    pub owner_email: Email,
    pub provisioner: bool,
    /// An opening grant to the organization's credit pool.
    pub credits: Option<Credits>,
}

/// A user's fresh access to one organization: their project there and its key (shown once).
pub struct Access {
    pub org_id: String,
    pub user_id: String,
    pub project_id: String,
    pub api_key: String,
}

/// Creates an organization and its owner (reusing the user when the email is known), with the
/// owner's project and key.
pub fn create_org(tx: &Transaction, key_prefix: &str, new: &NewOrg, now: Millis) -> Result<Access, ApiError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_field("The organization name must be 1-200 characters."));
    }
    if let Some(d) = &new.domain {
        if store::orgs::domain_taken(tx, d.as_str())? {
            return Err(ApiError::conflict(
                "domain_taken",
                format!("Another organization already has the domain {}.", d.as_str()),
            ));
        }
    }
    let org_id = new_id();
    store::orgs::insert_org(tx, &org_id, name, new.domain.as_ref().map(Domain::as_str), now)?;
    let owner = add_member(tx, key_prefix, &org_id, &new.owner_email, Role::Owner, new.provisioner, now)?;
    if let Some(credits) = new.credits {
        grant_credits(tx, &org_id, None, credits, Some("opening grant"), now)?;
    }
    Ok(owner)
}

/// Resolves an organization given as its id, domain or name; a name two organizations share is
/// refused rather than guessed.
pub fn resolve_org(conn: &rusqlite::Connection, needle: &str) -> Result<String, ApiError> {
    let mut ids = store::orgs::find_orgs(conn, needle)?;
    match ids.len() {
        0 => Err(ApiError::not_found(format!("No organization has the id, domain or name '{needle}'."))),
        1 => Ok(ids.remove(0)),
        n => Err(ApiError::conflict(
            "ambiguous_organization",
            format!("{n} organizations are named '{needle}'; give the id or the domain instead."),
        )),
    }
}

pub fn grant_credits(
    tx: &Transaction,
    org_id: &str,
    by: Option<&str>,
    amount: Credits,
    reason: Option<&str>,
    now: Millis,
) -> Result<store::credits::Balance, ApiError> {
    if !store::credits::grant(tx, org_id, by, amount, reason, now)? {
        // Valid on its own; what stands in the way is what the pool already holds.
        return Err(ApiError::conflict(
            "pool_full",
            format!(
                "This grant would take the pool over the largest amount a pool can hold ({}).",
                Credits::MAX
            ),
        ));
    }
    Ok(store::credits::balance(tx, org_id)?)
}

/// The orchestrator flow: an active, API-only member of the caller's organization, with its own
/// project and key, at `email` (already moved onto the organization's domain).
pub fn create_api_user(
    tx: &Transaction,
    key_prefix: &str,
    org_id: &str,
    email: &Email,
    now: Millis,
) -> Result<(String, Access), ApiError> {
    let address = email.as_string();
    if store::orgs::user_id_by_email(tx, &address)?.is_some() {
        return Err(ApiError::conflict(
            "user_exists",
            format!("A user with the email {address} already exists."),
        ));
    }
    let user_id = new_id();
    store::orgs::insert_user(tx, &user_id, Some(&address), "active", true, now)?;
    store::orgs::insert_membership(tx, &user_id, org_id, Role::Member, false, now)?;
    let access = project_and_key(tx, key_prefix, org_id, user_id, now)?;
    Ok((address, access))
}

/// Adds a person (created when the email is new) to an organization with their own project and
/// key. 409 when they are already a member.
pub fn add_member(
    tx: &Transaction,
    key_prefix: &str,
    org_id: &str,
    email: &Email,
    role: Role,
    provisioner: bool,
    now: Millis,
) -> Result<Access, ApiError> {
    let email = email.as_string();
    let user_id = match store::orgs::user_id_by_email(tx, &email)? {
        Some(id) => id,
        None => {
            let id = new_id();
            store::orgs::insert_user(tx, &id, Some(&email), "active", false, now)?;
            id
        }
    };
    store::orgs::insert_membership(tx, &user_id, org_id, role, provisioner, now).map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::conflict("user_exists", format!("{email} is already a member of this organization."))
        } else {
            e.into()
        }
    })?;
    project_and_key(tx, key_prefix, org_id, user_id, now)
}

/// A member's own project in the organization, and a key for it.
fn project_and_key(
    tx: &Transaction,
    key_prefix: &str,
    org_id: &str,
    user_id: String,
    now: Millis,
) -> Result<Access, ApiError> {
    let project_id = new_id();
    let project_n =
        store::projects::insert_project(tx, &project_id, org_id, &user_id, DEFAULT_PROJECT_NAME, now)?;
    let key = keys::new_api_key(key_prefix)?;
    store::keys::insert_key(tx, &key, &user_id, org_id, project_n, now)?;
    Ok(Access { org_id: org_id.to_string(), user_id, project_id, api_key: key.secret })
}

pub struct Provisioned {
    pub row: ProvisionRow,
    pub api_key: String,
    pub claim_token: String,
}

/// What `provision` needs from the settings.
pub struct ProvisionSettings<'a> {
    pub key_prefix: &'a str,
    pub ttl: Duration,
}

/// Everything a provision needs besides SQL — ids, the key, the claim token — made before the
/// write, so the one writer thread spends its time on inserts only.
pub struct ProvisionPlan {
    row: ProvisionRow,
    key: keys::Issued,
    token: keys::Issued,
}

impl ProvisionPlan {
    pub fn new(
        org_id: &str,
        created_by: &str,
        role: ProvisionRole,
        skip_onboarding: bool,
        settings: &ProvisionSettings,
        now: Millis,
    ) -> Result<ProvisionPlan, ApiError> {
        let ttl_ms = i64::try_from(settings.ttl.as_millis()).unwrap_or(i64::MAX);
        let row = ProvisionRow {
            id: new_id(),
            org_id: org_id.to_string(),
            user_id: new_id(),
            project_id: new_id(),
            agent_id: new_id(),
            role: role.role().as_str().into(),
            skip_onboarding,
            status: ProvisionStatus::Pending.as_str().into(),
            created_by: created_by.to_string(),
            created_at: now,
            expires_at: now.saturating_add(ttl_ms),
            claimed_at: None,
            claimed_by: None,
        };
        Ok(ProvisionPlan {
            row,
            key: keys::new_api_key(settings.key_prefix)?,
            token: keys::new_claim_token()?,
        })
    }

    /// Pre-creates the user in `tx`: placeholder user, membership, project `Default`, its key,
    /// agent `default`, and the provision row.
    pub fn apply(self, tx: &Transaction) -> Result<Provisioned, ApiError> {
        let ProvisionPlan { row, key, token } = self;
        let (now, org_id, user_id, project_id) = (row.created_at, &row.org_id, &row.user_id, &row.project_id);
        let role = Role::parse(&row.role).unwrap_or(Role::Member);
        store::orgs::insert_placeholder(tx, user_id, row.expires_at, now)?;
        store::orgs::insert_membership(tx, user_id, org_id, role, false, now)?;
        let project_n =
            store::projects::insert_project(tx, project_id, org_id, user_id, DEFAULT_PROJECT_NAME, now)?;
        store::keys::insert_key(tx, &key, user_id, org_id, project_n, now)?;
        let agent = AgentRow {
            id: row.agent_id.clone(),
            name: "Default Agent".into(),
            identifier: "default".into(),
            parent_identifier: None,
            created_at: now,
        };
        store::projects::insert_agent(tx, project_n, &agent)?;
        store::provisions::insert(tx, &row, &token.hash)?;
        Ok(Provisioned { row, api_key: key.secret, claim_token: token.secret })
    }
}

/// `ProvisionPlan::new` then `apply`, for callers that are not on the hot path.
pub fn provision(
    tx: &Transaction,
    org_id: &str,
    created_by: &str,
    role: ProvisionRole,
    skip_onboarding: bool,
    settings: &ProvisionSettings,
    now: Millis,
) -> Result<Provisioned, ApiError> {
    ProvisionPlan::new(org_id, created_by, role, skip_onboarding, settings, now)?.apply(tx)
}

/// Cancels a pending provision and deletes what it created, at once.
pub fn cancel(tx: &Transaction, org_id: &str, id: &str, now: Millis) -> Result<(), ApiError> {
    let p = store::provisions::get(tx, org_id, id, now)?.ok_or_else(provision_not_found)?;
    if p.status != ProvisionStatus::Pending.as_str() {
        let when = match p.status.as_str() {
            "expired" => format!(" (it expired at {})", clock::format(p.expires_at)),
            _ => String::new(),
        };
        return Err(ApiError::conflict(
            "not_pending",
            format!("Only a pending provision can be cancelled; this one is {}{when}.", p.status),
        ));
    }
    end(tx, &p.id, &p.user_id, ProvisionStatus::Cancelled)?;
    Ok(())
}

/// Ends a pending provision with `status` and deletes its placeholder user; the foreign keys
/// delete the membership, project, keys and agents with it. False when it was no longer pending.
pub fn end(tx: &Transaction, id: &str, user_id: &str, status: ProvisionStatus) -> Result<bool, ApiError> {
    if !store::provisions::end(tx, id, status)? {
        return Ok(false);
    }
    store::orgs::delete_placeholder(tx, user_id)?;
    Ok(true)
}

pub fn provision_not_found() -> ApiError {
    ApiError::not_found("No provision with that id in this organization.")
}

/// Gives an organization its email domain (unique across organizations).
pub fn set_domain(tx: &Transaction, org_id: &str, domain: &Domain) -> Result<(), ApiError> {
    if store::orgs::domain_taken(tx, domain.as_str())? {
        return Err(ApiError::conflict(
            "domain_taken",
            format!("Another organization already has the domain {}.", domain.as_str()),
        ));
    }
    store::orgs::set_domain(tx, org_id, domain.as_str())?;
    Ok(())
}

/// Turns a member's provisioner flag on or off; the member is given by user id or email.
pub fn set_provisioner(
    tx: &Transaction,
    org_id: &str,
    user_id_or_email: &str,
    on: bool,
) -> Result<store::orgs::MemberRow, ApiError> {
    let mut m = store::orgs::find_member(tx, org_id, user_id_or_email)?
        .ok_or_else(|| ApiError::not_found("No member of this organization has that user id or email."))?;
    store::orgs::set_provisioner(tx, org_id, &m.user_id, on)?;
    m.is_provisioner = on;
    Ok(m)
}

/// A new person with email and password (already hashed), in no organization yet.
pub fn sign_up(
    tx: &Transaction,
    email: &Email,
    password_hash: &str,
    now: Millis,
) -> Result<String, ApiError> {
    let address = email.as_string();
    if store::orgs::user_id_by_email(tx, &address)?.is_some() {
        return Err(ApiError::conflict(
            "user_exists",
            "An account with this email already exists; log in instead.",
        ));
    }
    let id = new_id();
    store::orgs::insert_user(tx, &id, Some(&address), "active", false, now)?;
    store::orgs::set_password(tx, &id, password_hash)?;
    Ok(id)
}

pub struct Claimed {
    pub org_id: String,
    pub org_name: String,
    pub user_id: String,
    pub project_id: String,
    pub skip_onboarding: bool,
}

/// What a claim token points at, or why it cannot be claimed.
pub fn claimable(
    conn: &rusqlite::Connection,
    token: &str,
    now: Millis,
) -> Result<(ProvisionRow, String), ApiError> {
    let invalid = || {
        ApiError::bad_request("invalid_token", "This claim link is not valid; ask your admin for a new one.")
    };
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let (p, org_name) =
        store::provisions::by_token(conn, &keys::hash(&token.to_ascii_lowercase()))?.ok_or_else(invalid)?;
    match p.status.as_str() {
        "claimed" => Err(ApiError::conflict("already_claimed", "This account has already been claimed.")),
        "cancelled" => Err(ApiError::bad_request(
            "invalid_token",
            "This claim link was cancelled by an admin; ask them for a new one.",
        )),
        "expired" => Err(token_expired(p.expires_at)),
        _ if now >= p.expires_at => Err(token_expired(p.expires_at)),
        _ => Ok((p, org_name)),
    }
}

fn token_expired(at: Millis) -> ApiError {
    ApiError::bad_request(
        "token_expired",
        format!("This claim link expired at {}; ask your admin for a new one.", clock::format(at)),
    )
}

/// Claims a provision for `claimer`. A person in no organization yet (who just signed up)
/// becomes the placeholder: same user id, their email and password. Anyone else receives the
/// project, keys and agents, and the membership unless they already have one (their role stays);
/// the placeholder is deleted. The provisioned key keeps working either way.
pub fn claim(tx: &Transaction, token: &str, claimer_id: &str, now: Millis) -> Result<Claimed, ApiError> {
    let (p, org_name) = claimable(tx, token, now)?;
    let claimer = store::orgs::user(tx, claimer_id)?.ok_or_else(|| {
        ApiError::unauthorized("invalid_api_key", "Your account no longer exists; sign up again.")
    })?;
    if claimer.api_only {
        return Err(ApiError::forbidden("api_only_user", "An API-only user cannot claim an account."));
    }
    if claimer.placeholder {
        return Err(ApiError::forbidden(
            "insufficient_role",
            "A provisioned account that is not claimed yet cannot claim another one.",
        ));
    }
    let new_person = store::orgs::orgs_of_user(tx, &claimer.id)?.is_empty()
        && store::projects::count_projects_of(tx, &claimer.id)? == 0;
    let user_id = if new_person {
        let email = claimer.email.clone().unwrap_or_default();
        store::sessions::move_to_user(tx, &claimer.id, &p.user_id)?;
        // Free the email before the placeholder takes it.
        store::orgs::delete_user(tx, &claimer.id)?;
        store::orgs::activate_placeholder(
            tx,
            &p.user_id,
            &email,
            claimer.password_hash.as_deref(),
            claimer.name.as_deref(),
        )?;
        p.user_id.clone()
    } else {
        store::projects::move_projects_and_keys(tx, &p.user_id, &claimer.id)?;
        if store::orgs::membership_role(tx, &claimer.id, &p.org_id)?.is_none() {
            store::orgs::move_membership(tx, &p.user_id, &claimer.id, &p.org_id)?;
        }
        store::orgs::delete_placeholder(tx, &p.user_id)?;
        claimer.id.clone()
    };
    if !store::provisions::mark_claimed(tx, &p.id, &user_id, now)? {
        return Err(ApiError::conflict("already_claimed", "This account has already been claimed."));
    }
    Ok(Claimed {
        org_id: p.org_id,
        org_name,
        user_id,
        project_id: p.project_id,
        skip_onboarding: p.skip_onboarding,
    })
}
