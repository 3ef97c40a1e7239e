//! Provisioning: team provisioning (a placeholder with a working key and a claim link), the
//! orchestrator's API-only users, listing and cancelling provisions, and the sweep of expired
//! ones.

use super::organizations::{project_and_key, Access, DEFAULT_PROJECT_NAME};
use super::{authority, limits, Actor, Caller, Client, Ctx};
use crate::clock::Millis;
use crate::db::{DbResult, Tx};
use crate::domain::{
    AgentId, Email, KeyId, OrgId, ProjectId, ProvisionId, ProvisionRole, ProvisionStatus, Role, Scope,
    Scopes, UserId,
};
use crate::error::{Error, Result};
use crate::keys as secrets;
use crate::store;
use crate::store::projects::AgentRow;
use crate::store::provisions::ProvisionRow;

pub struct ProvisionInput {
    pub role: ProvisionRole,
    pub skip_onboarding: bool,
}

/// A provision just made: its record, the key (works at once) and the claim token, each shown
/// only this once.
pub struct Provisioned {
    pub row: ProvisionRow,
    pub api_key: String,
    pub claim_token: String,
}

/// Pre-creates a user in the actor's organization: placeholder user, membership with the given
/// role, project `Default`, its key (acting as at most that role, whoever claims it later),
/// agent `default`, and the provision — in one transaction. Admins and owners only; limited per
/// person and per client address. Ids, the key and the claim token are made before the write,
/// so the one writer thread spends its time on inserts only.
pub async fn provision(
    ctx: &Ctx,
    actor: Actor,
    client: &Client,
    input: ProvisionInput,
) -> Result<Provisioned> {
    if let Actor::Key(c) = &actor {
        // Known without the database: refuse before spending any allowance.
        c.authority().require_scope(Scope::Provisions)?;
        c.authority().require_admin()?;
        limits::allow_provision(ctx, &c.user_id, client).await?;
    }
    let now = ctx.now();
    let role = input.role.role();
    let (skip_onboarding, expires_at) =
        (input.skip_onboarding, now.saturating_add(ctx.rules.provision_ttl_ms));
    let row_of = move |org_id: OrgId, created_by: UserId| ProvisionRow {
        id: ProvisionId::new(),
        org_id,
        user_id: UserId::new(),
        project_id: ProjectId::new(),
        agent_id: AgentId::new(),
        role,
        skip_onboarding,
        status: ProvisionStatus::Pending,
        created_by,
        created_at: now,
        expires_at,
        claimed_at: None,
        claimed_by: None,
    };
    let key = secrets::new_api_key(&ctx.rules.key_prefix)?;
    let token = secrets::new_claim_token()?;
    let person_limit = match &actor {
        Actor::Person { user, .. } => Some(user.clone()),
        Actor::Key(_) => None,
    };
    if let Some(person) = &person_limit {
        limits::allow_provision(ctx, person, client).await?;
    }
    ctx.db
        .write(move |tx| {
            let auth = authority(tx, &actor)?;
            auth.require_scope(Scope::Provisions)?;
            auth.require_admin()?;
            let row = row_of(auth.org, auth.user);
            let user_n = store::orgs::insert_placeholder(tx, &row.user_id, row.expires_at, now)?;
            store::orgs::insert_membership(tx, user_n, &row.org_id, role, false, now)?;
            let project_n = store::projects::insert_project(
                tx,
                &row.project_id,
                &row.org_id,
                user_n,
                DEFAULT_PROJECT_NAME,
                now,
            )?;
            let key_id = KeyId::new();
            let new_key = store::keys::NewKey {
                id: &key_id,
                hash: &key.hash,
                hint: &key.hint,
                user: user_n,
                org: &row.org_id,
                project: project_n,
                ceiling: role,
                name: None,
                scopes: Scopes::ALL,
                expires_at: None,
            };
            store::keys::insert_key(tx, &new_key, now)?;
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
        })
        .await
}

fn not_found() -> Error {
    Error::NotFound("No provision with that id in this organization.".into())
}

/// This organization's provisions, newest first, with their status as of now (admins and owners).
pub async fn list(
    ctx: &Ctx,
    caller: &Caller,
    status: Option<ProvisionStatus>,
    limit: u32,
) -> Result<Vec<ProvisionRow>> {
    caller.authority().require_scope(Scope::Provisions)?;
    caller.authority().require_admin()?;
    let (org, now) = (caller.org_id.clone(), ctx.now());
    ctx.db.read(move |c| Ok(store::provisions::list(c, &org, status, now, limit)?)).await
}

/// One provision of this organization (admins and owners); another organization's is not found.
pub async fn get(ctx: &Ctx, caller: &Caller, id: &str) -> Result<ProvisionRow> {
    caller.authority().require_scope(Scope::Provisions)?;
    caller.authority().require_admin()?;
    let id = ProvisionId::parse(id).ok_or_else(not_found)?;
    let (org, now) = (caller.org_id.clone(), ctx.now());
    ctx.db.read(move |c| store::provisions::get(c, &org, &id, now)?.ok_or_else(not_found)).await
}

/// Cancels a pending provision and deletes what it created (user, membership, project, keys,
/// agents) at once: its key fails from the next request.
pub async fn cancel(ctx: &Ctx, actor: Actor, id: &str) -> Result<()> {
    let id = ProvisionId::parse(id);
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let auth = authority(tx, &actor)?;
            auth.require_scope(Scope::Provisions)?;
            auth.require_admin()?;
            let id = id.ok_or_else(not_found)?;
            let p = store::provisions::get(tx, &auth.org, &id, now)?.ok_or_else(not_found)?;
            if p.status != ProvisionStatus::Pending {
                let expired_at = (p.status == ProvisionStatus::Expired).then_some(p.expires_at);
                return Err(Error::NotPending { status: p.status, expired_at });
            }
            end(tx, &p, ProvisionStatus::Cancelled)?;
            Ok(())
        })
        .await
}

/// Ends a pending provision with `status` and deletes its placeholder user; the foreign keys
/// delete the membership, project, keys and agents with it. False when it was no longer pending.
fn end(tx: &Tx, p: &ProvisionRow, status: ProvisionStatus) -> DbResult<bool> {
    if !store::provisions::end(tx, &p.id, status)? {
        return Ok(false);
    }
    store::orgs::delete_placeholder(tx, &p.user_id)?;
    tx.keys_changed();
    Ok(true)
}

/// Provisions ended per write of the sweep: small enough that writes queued behind one wait
/// only a few milliseconds, large enough that 100k expired provisions don't take 100k commits.
pub const SWEEP_BATCH: u32 = 500;

/// One batch of the sweep: marks pending provisions past their expiry `expired` and deletes what
/// they created. Their keys already failed (see `keys::authenticate`); this only tidies up.
pub(super) fn expire_batch(tx: &Tx, now: Millis) -> Result<usize> {
    let ended = store::provisions::expire_batch(tx, now, SWEEP_BATCH)?;
    if ended > 0 {
        tx.keys_changed();
    }
    Ok(ended)
}

/// The orchestrator flow (`create-user`): an active, API-only member of the caller's
/// organization at the given address moved onto the organization's domain, with its own project
/// and key. The caller must be a provisioner and name themselves in `X-User-ID` (`user_id`)
/// with their verified address; limited like provisioning.
pub async fn create_api_user(
    ctx: &Ctx,
    caller: &Caller,
    client: &Client,
    user_id_header: Option<&str>,
    email: Option<&str>,
) -> Result<(String, Access)> {
    caller.authority().require_scope(Scope::Provisions)?;
    caller.authority().require_provisioner()?;
    let claimed = user_id_header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(Error::UserIdMismatch("Send the X-User-ID header with the email of the API key's owner."))?;
    match &caller.email {
        Some(own) if own.eq_ignore_ascii_case(claimed) && !caller.email_verified => {
            return Err(Error::EmailUnverified(
                "The key owner's email address is not verified, so it cannot vouch for this key: verify it (the link mailed at sign-up) or ask an operator to run `provisiond user verify`.".into(),
            ))
        }
        Some(own) if own.eq_ignore_ascii_case(claimed) => {}
        _ => {
            return Err(Error::UserIdMismatch(
                "X-User-ID does not match the owner of this API key; send the key owner's email.",
            ))
        }
    }
    limits::allow_provision(ctx, &caller.user_id, client).await?;
    let domain = caller.org_domain.clone().ok_or(Error::NoDomain)?;
    let email = email.ok_or_else(|| {
        Error::InvalidEmail("'email' is required, e.g. {\"email\": \"alice@example.com\"}.".into())
    })?;
    let email = Email::parse(email).map_err(Error::InvalidEmail)?.with_domain(&domain);
    let (prefix, now, org) = (ctx.rules.key_prefix.clone(), ctx.now(), caller.org_id.clone());
    ctx.db
        .write(move |tx| {
            let address = email.as_string();
            if store::orgs::user_id_by_email(tx, &address)?.is_some() {
                return Err(Error::UserExists(format!("A user with the email {address} already exists.")));
            }
            let user_id = UserId::new();
            // Verified: the orchestrator owns the domain it maps addresses onto.
            let user_n = store::orgs::insert_user(tx, &user_id, &address, true, true, now)?;
            store::orgs::insert_membership(tx, user_n, &org, Role::Member, false, now)?;
            let access = project_and_key(tx, &prefix, &org, user_id, user_n, Role::Owner, now)?;
            Ok((address, access))
        })
        .await
}
