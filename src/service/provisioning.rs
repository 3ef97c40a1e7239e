//! Provisioning: team provisioning (a placeholder with a working key and a claim link), the
//! orchestrator's API-only users, listing and cancelling provisions, and the sweep of expired
//! ones.

use super::audit::{self, By};
use super::authority::{authorize, principal, Act, Principal};
use super::idempotency::{self, Idem};
use super::organizations::{project_and_key, Access, DEFAULT_PROJECT_NAME};
use super::{keys, limits, Actor, Caller, Client, Ctx, Who};
use crate::clock::{self, Millis};
use crate::db::{DbResult, Tx};
use crate::domain::Agent;
use crate::domain::Provision;
use crate::domain::{
    AgentId, Cursor, DisplayName, Email, EventType, KeyId, OrgId, Page, PageRequest, ProjectId, ProvisionId,
    ProvisionRole, ProvisionStatus, Role, UserId,
};
use crate::error::{Error, Result};
use crate::mail::Outgoing;
use crate::secrets;
use crate::store;
use crate::store::provisions::ListFilter;

pub struct ProvisionInput {
    pub role: ProvisionRole,
    pub skip_onboarding: bool,
}

/// The optional fields of a provision (contract, Provisions, more) as the client sent them, each
/// of the JSON type it must have; what they may hold is checked here (`check`).
#[derive(Default)]
pub struct ProvisionOptions {
    pub expires_in_seconds: Option<serde_json::Number>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub send_email: bool,
}

/// A provision's own expiry may be set from a minute to 30 days.
pub const TTL_SECONDS: std::ops::RangeInclusive<u64> = 60..=2_592_000;
/// Longest label (`name`), in characters.
pub const NAME_MAX: usize = 100;
/// Longest `externalId`, in characters.
pub const EXTERNAL_ID_MAX: usize = 255;
/// Largest `metadata`, as compact JSON, in bytes.
pub const METADATA_MAX: usize = 4096;

/// `ProvisionOptions`, checked.
struct Options {
    ttl_ms: Option<Millis>,
    email: Option<String>,
    name: Option<String>,
    external_id: Option<String>,
    metadata: Option<String>,
    send_email: bool,
}

impl ProvisionOptions {
    fn check(self, ctx: &Ctx) -> Result<Options> {
        let ttl_ms = self.expires_in_seconds.as_ref().map(ttl_ms).transpose()?;
        let email = match self.email.as_deref() {
            None => None,
            Some(e) => Some(
                Email::parse(e.trim()).map_err(|m| Error::InvalidEmail(format!("'email': {m}")))?.as_string(),
            ),
        };
        let name = match self.name.as_deref() {
            None => None,
            Some(n) => Some(
                DisplayName::parse("'name'", n, NAME_MAX).map_err(Error::InvalidField)?.as_str().to_string(),
            ),
        };
        let external_id = self.external_id.as_deref().map(external_id).transpose()?;
        let metadata = match self.metadata {
            None => None,
            Some(v @ serde_json::Value::Object(_)) => {
                let text = v.to_string();
                if text.len() > METADATA_MAX {
                    return Err(Error::InvalidField(format!(
                        "'metadata' must be at most {METADATA_MAX} bytes as JSON (got {}).",
                        text.len()
                    )));
                }
                Some(text)
            }
            Some(_) => {
                return Err(Error::InvalidField(
                    "'metadata' must be a JSON object, e.g. {\"team\": \"sales\"}.".into(),
                ))
            }
        };
        if self.send_email {
            check_can_mail(ctx, email.is_some())?;
        }
        Ok(Options { ttl_ms, email, name, external_id, metadata, send_email: self.send_email })
    }
}

/// `expiresInSeconds`, in milliseconds.
fn ttl_ms(n: &serde_json::Number) -> Result<Millis> {
    // 3600.0 is a whole number too (JSON Schema's integers include it).
    let whole = n
        .as_u64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 1e15).map(|f| f as u64));
    whole.filter(|s| TTL_SECONDS.contains(s)).map(|s| s as Millis * 1000).ok_or_else(|| {
        Error::InvalidField(format!(
            "'expiresInSeconds' must be a whole number of seconds from {} to {} (30 days).",
            TTL_SECONDS.start(),
            TTL_SECONDS.end()
        ))
    })
}

/// An `externalId`, as stored and as filtered by: the client's own reference, matched exactly.
fn external_id(s: &str) -> Result<String> {
    let n = s.chars().count();
    if n == 0 || n > EXTERNAL_ID_MAX || s.chars().any(char::is_control) {
        return Err(Error::InvalidField(format!(
            "'externalId' must be 1 to {EXTERNAL_ID_MAX} characters without control characters (got {n})."
        )));
    }
    Ok(s.to_string())
}

/// `sendEmail` needs somewhere to send to and a way to send.
fn check_can_mail(ctx: &Ctx, has_email: bool) -> Result<()> {
    if !has_email {
        return Err(Error::InvalidField(
            "'sendEmail' needs 'email': the address to mail the claim link to.".into(),
        ));
    }
    if !ctx.mail_enabled() {
        return Err(Error::InvalidField(
            "'sendEmail': this server does not send mail (no SMTP_URL is set); leave it out and hand the claimUrl over yourself.".into(),
        ));
    }
    Ok(())
}

/// Queues the claim link for `to`. The link is a credential: it goes into the mail only, never a
/// log line.
fn mail_claim_link(ctx: &Ctx, to: String, org_name: &str, token: &str, expires_at: Millis) {
    let url = format!("{}/claim?token={token}", ctx.rules.public_url);
    let body = format!(
        "You have been given an account in {org_name}.\n\n\
         Open this link to claim it (sign up or log in with this address, {to}):\n\n\
         {url}\n\n\
         The link works until {} (UTC), once. If you did not expect this, ignore this mail.\n",
        crate::clock::format(expires_at)
    );
    let mail = Outgoing { to, subject: format!("Your account in {org_name}"), body };
    if !ctx.mailer.submit(Box::new(move || Some(mail))) {
        log::warn!("the claim link mail was not queued");
    }
}

/// A provision just made: its record, the key (works at once) and the claim token, each shown
/// only this once.
pub struct Provisioned {
    pub row: Provision,
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
    provision_with(ctx, actor, client, input, ProvisionOptions::default(), None).await
}

/// What a provision made under an Idempotency-Key records for a replay: the ids, no secret.
#[derive(serde::Serialize, serde::Deserialize)]
struct Made {
    provision: ProvisionId,
    key: KeyId,
}

/// `provision` with the optional fields: its own expiry (the placeholder's keys fail by it too),
/// an address only whose account may claim it (mailed the link when `sendEmail`), a label, the
/// caller's own reference and metadata.
pub async fn provision_with(
    ctx: &Ctx,
    actor: Actor,
    client: &Client,
    input: ProvisionInput,
    options: ProvisionOptions,
    idem: Option<Idem>,
) -> Result<Provisioned> {
    let options = options.check(ctx)?;
    let role = input.role.role();
    if let Some(c) = actor.caller() {
        // Known without the database: refuse before spending any allowance.
        authorize(&Principal::of_key(c), Act::Provision { role })?;
        limits::allow_provision(ctx, &c.user_id, client).await?;
    }
    let now = ctx.now();
    let (skip_onboarding, expires_at) =
        (input.skip_onboarding, now.saturating_add(options.ttl_ms.unwrap_or(ctx.rules.provision_ttl_ms)));
    let send_to = options.email.clone().filter(|_| options.send_email);
    let Options { email, name, external_id, metadata, .. } = options;
    let row_of = move |org_id: OrgId, created_by: UserId| Provision {
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
        email,
        name,
        external_id,
        metadata,
    };
    let key = secrets::new_api_key(&ctx.rules.key_prefix)?;
    let token = secrets::new_claim_token()?;
    let person_limit = match &actor.who {
        Who::Person { user, .. } => Some(user.clone()),
        Who::Key(_) => None,
    };
    if let Some(person) = &person_limit {
        limits::allow_provision(ctx, person, client).await?;
    }
    let mailing = send_to.is_some();
    let prefix = ctx.rules.key_prefix.clone();
    let (provisioned, org_name) = ctx
        .db
        .write(move |tx| {
            let auth = authorize(&principal(tx, &actor)?, Act::Provision { role })?;
            let org_name = if mailing { store::orgs::org_name(tx, &auth.org)? } else { None };
            let org = auth.org.clone();
            let replay = |tx: &Tx, made: Made| {
                // The same provision, a new key and claim link; the lost response's stop working.
                let gone = || keys::gone_since("provision");
                let p = store::provisions::get(tx, &org, &made.provision, now)?
                    .filter(|p| p.status == ProvisionStatus::Pending)
                    .ok_or_else(gone)?;
                let key = store::keys::get(tx, &org, &made.key)?.ok_or_else(gone)?;
                let api_key = keys::reissue(tx, &prefix, key.n, now)?;
                let token = secrets::new_claim_token()?;
                if !store::provisions::renew_link(tx, &p.id, &token.hash, p.expires_at)? {
                    return Err(gone());
                }
                let org_name = if mailing { store::orgs::org_name(tx, &org)? } else { None };
                Ok((Provisioned { row: p, api_key, claim_token: token.secret }, org_name))
            };
            let work = |tx: &Tx| {
                let row = row_of(auth.org.clone(), auth.user.clone());
                let user_n = store::users::insert_placeholder(tx, &row.user_id, row.expires_at, now)?;
                store::memberships::insert_membership(tx, user_n, &row.org_id, role, false, now)?;
                let project_n = store::projects::insert_project(
                    tx,
                    &row.project_id,
                    &row.org_id,
                    user_n,
                    DEFAULT_PROJECT_NAME,
                    now,
                )?;
                let key_id = KeyId::new();
                let spec = store::keys::KeySpec {
                    user: user_n,
                    org: &row.org_id,
                    project: project_n,
                    // The provision's role, and no more than the provisioner holds: their scopes,
                    // and their key's end (`authority`).
                    ceiling: auth.ceiling.role,
                    name: None,
                    scopes: auth.ceiling.scopes,
                    expires_at: auth.ceiling.ends_at,
                };
                let new_key =
                    store::keys::NewKey { id: &key_id, hash: &key.hash, hint: &key.hint, spec: &spec };
                store::keys::insert_key(tx, &new_key, now)?;
                let agent = Agent {
                    id: row.agent_id.clone(),
                    name: "Default Agent".into(),
                    identifier: "default".into(),
                    parent_identifier: None,
                    created_at: now,
                };
                store::projects::insert_agent(tx, project_n, &agent)?;
                store::provisions::insert(tx, &row, &token.hash)?;
                let mut data = audit::data([
                    ("userId", row.user_id.as_str().into()),
                    ("projectId", row.project_id.as_str().into()),
                    ("apiKeyId", key_id.as_str().into()),
                    ("role", role.as_str().into()),
                    ("expiresAt", clock::format(row.expires_at).into()),
                ]);
                for (field, value) in
                    [("email", &row.email), ("name", &row.name), ("externalId", &row.external_id)]
                {
                    if let Some(v) = value {
                        data.insert(field.into(), v.as_str().into());
                    }
                }
                audit::event(
                    tx,
                    auth.by(),
                    &row.org_id,
                    EventType::ProvisionCreated,
                    ("provision", row.id.to_string()),
                    data,
                    now,
                )?;
                let made = Made { provision: row.id.clone(), key: key_id };
                Ok::<_, Error>((
                    made,
                    (Provisioned { row, api_key: key.secret, claim_token: token.secret }, org_name),
                ))
            };
            idempotency::once(tx, idem.as_ref(), &auth, "POST /v1/team/provisions", now, work, replay)
        })
        .await?;
    if let Some(to) = send_to {
        let org_name = org_name.unwrap_or_default();
        mail_claim_link(ctx, to, &org_name, &provisioned.claim_token, provisioned.row.expires_at);
    }
    Ok(provisioned)
}

fn not_found() -> Error {
    Error::NotFound("No provision with that id in this organization.".into())
}

/// What a provision list is narrowed to.
#[derive(Default)]
pub struct ProvisionFilter {
    pub status: Option<ProvisionStatus>,
    pub external_id: Option<String>,
}

/// This organization's provisions, newest first, with their status as of now (admins and
/// owners); a page after `page.after`, whose cursor is the last row's (`created_at`, row number).
pub async fn list(
    ctx: &Ctx,
    caller: &Caller,
    filter: ProvisionFilter,
    page: PageRequest,
) -> Result<Page<Provision>> {
    authorize(&Principal::of_key(caller), Act::ReadProvisions)?;
    let after = match &page.after {
        None => None,
        Some(c) => {
            Some((c.number(0, 2).ok_or(Error::InvalidCursor)?, c.number(1, 2).ok_or(Error::InvalidCursor)?))
        }
    };
    let filter = ListFilter {
        status: filter.status,
        external_id: filter.external_id.as_deref().map(external_id).transpose()?,
    };
    let (org, now, limit) = (caller.org_id.clone(), ctx.now(), page.limit);
    let rows = ctx.db.read(move |c| store::provisions::page(c, &org, &filter, after, now, limit + 1)).await?;
    let page =
        Page::from_rows(rows, limit, |(p, n)| Cursor::new(vec![p.created_at.to_string(), n.to_string()]));
    Ok(page.map(|(p, _)| p))
}

/// One provision of this organization (admins and owners); another organization's is not found.
pub async fn get(ctx: &Ctx, caller: &Caller, id: &str) -> Result<Provision> {
    authorize(&Principal::of_key(caller), Act::ReadProvisions)?;
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
            let auth = authorize(&principal(tx, &actor)?, Act::ManageProvisions)?;
            let id = id.ok_or_else(not_found)?;
            let p = store::provisions::get(tx, &auth.org, &id, now)?.ok_or_else(not_found)?;
            if p.status != ProvisionStatus::Pending {
                let expired_at = (p.status == ProvisionStatus::Expired).then_some(p.expires_at);
                return Err(Error::NotPending { status: p.status, expired_at });
            }
            end(tx, &p, ProvisionStatus::Cancelled)?;
            let data = audit::data([("userId", p.user_id.as_str().into())]);
            audit::event(
                tx,
                auth.by(),
                &p.org_id,
                EventType::ProvisionCancelled,
                ("provision", p.id.to_string()),
                data,
                now,
            )?;
            Ok(())
        })
        .await
}

/// A claim link just made: the token (shown only this once) and until when it works.
pub struct NewClaimLink {
    pub claim_token: String,
    pub expires_at: Millis,
}

/// A new claim link for a pending provision (admins and owners): the old link stops working at
/// once, and with `expires_in_seconds` the provision (and its key) gets a new expiry counted
/// from now. With `send_email` the link is mailed to the provision's address.
pub async fn renew_claim_link(
    ctx: &Ctx,
    actor: Actor,
    id: &str,
    expires_in_seconds: Option<serde_json::Number>,
    send_email: bool,
) -> Result<NewClaimLink> {
    if let Some(c) = actor.caller() {
        authorize(&Principal::of_key(c), Act::ManageProvisions)?;
    }
    let ttl = expires_in_seconds.as_ref().map(ttl_ms).transpose()?;
    if send_email {
        // Whether the provision has an address is known only in the write.
        check_can_mail(ctx, true)?;
    }
    let id = ProvisionId::parse(id);
    let token = secrets::new_claim_token()?;
    let now = ctx.now();
    let (link, mail_to) = ctx
        .db
        .write(move |tx| {
            let auth = authorize(&principal(tx, &actor)?, Act::ManageProvisions)?;
            let id = id.ok_or_else(not_found)?;
            let p = store::provisions::get(tx, &auth.org, &id, now)?.ok_or_else(not_found)?;
            let not_pending = |status: ProvisionStatus| {
                Error::Conflict(
                    "not_pending",
                    format!(
                        "Only a pending provision gets a new claim link; this one is {}.",
                        status.as_str()
                    ),
                )
            };
            if p.status != ProvisionStatus::Pending {
                return Err(not_pending(p.status));
            }
            if send_email && p.email.is_none() {
                return Err(Error::InvalidField(
                    "'sendEmail': this provision has no 'email' to mail the link to.".into(),
                ));
            }
            let expires_at = ttl.map(|t| now.saturating_add(t)).unwrap_or(p.expires_at);
            if !store::provisions::renew_link(tx, &p.id, &token.hash, expires_at)? {
                // Ended by a claim or a cancel between the read and this write (another replica).
                return Err(Error::Conflict(
                    "not_pending",
                    "Only a pending provision gets a new claim link; this one has just ended.".into(),
                ));
            }
            if expires_at != p.expires_at {
                store::provisions::set_placeholder_until(tx, &p.user_id, expires_at)?;
            }
            let data =
                audit::data([("expiresAt", clock::format(expires_at).into()), ("mailed", send_email.into())]);
            audit::only(
                tx,
                auth.by(),
                &p.org_id,
                "provision.link_renewed",
                ("provision", p.id.to_string()),
                data,
                now,
            )?;
            let mail_to = match (send_email, p.email) {
                (true, Some(to)) => Some((to, store::orgs::org_name(tx, &auth.org)?.unwrap_or_default())),
                _ => None,
            };
            Ok::<_, Error>((NewClaimLink { claim_token: token.secret, expires_at }, mail_to))
        })
        .await?;
    if let Some((to, org_name)) = mail_to {
        mail_claim_link(ctx, to, &org_name, &link.claim_token, link.expires_at);
    }
    Ok(link)
}

/// Ends a pending provision with `status` and deletes its placeholder user; the foreign keys
/// delete the membership, project, keys and agents with it. False when it was no longer pending.
fn end(tx: &Tx, p: &Provision, status: ProvisionStatus) -> DbResult<bool> {
    if !store::provisions::end(tx, &p.id, status)? {
        return Ok(false);
    }
    store::users::delete_placeholder(tx, &p.user_id)?;
    Ok(true)
}

/// Provisions ended per write of the sweep: small enough that writes queued behind one wait
/// only a few milliseconds, large enough that 100k expired provisions don't take 100k commits.
pub const SWEEP_BATCH: u32 = 500;

/// One batch of the sweep: marks pending provisions past their expiry `expired` and deletes what
/// they created, and records each provision's end (set-based, like the deletes: one statement
/// per table for the whole batch). Their keys already failed (see `auth::authenticate`); this
/// only tidies up.
pub(super) fn expire_batch(tx: &Tx, now: Millis) -> Result<usize> {
    let ended = store::provisions::expire_batch(tx, now, SWEEP_BATCH)?;
    let changes = ended
        .iter()
        .map(|p| audit::Change {
            org: &p.org_id,
            action: audit::Action::Event(EventType::ProvisionExpired),
            target: ("provision", p.id.to_string()),
            data: audit::data([
                ("userId", p.user_id.as_str().into()),
                ("expiresAt", clock::format(p.expires_at).into()),
            ]),
        })
        .collect();
    audit::record_all(tx, &By::system(), changes, now)?;
    Ok(ended.len())
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
    idem: Option<Idem>,
) -> Result<(String, Access)> {
    let grant = authorize(&Principal::of_key(caller), Act::CreateApiUser)?;
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
            let work = |tx: &Tx| {
                let address = email.as_string();
                if store::users::user_id_by_email(tx, &address)?.is_some() {
                    return Err(Error::UserExists(format!(
                        "A user with the email {address} already exists."
                    )));
                }
                let user_id = UserId::new();
                // Verified: the orchestrator owns the domain it maps addresses onto.
                let user_n = store::users::insert_user(tx, &user_id, &address, true, true, now)?;
                store::memberships::insert_membership(tx, user_n, &org, Role::Member, false, now)?;
                // Its key is worth at most the provisioner's (`authority`).
                let access = project_and_key(tx, &prefix, &org, user_id, user_n, grant.ceiling, now)?;
                let key = store::keys::list(tx, &org, Some(&access.user_id), None, 1)?
                    .pop()
                    .ok_or(crate::db::DbError::NoRow)?;
                let data = audit::data([
                    ("email", address.as_str().into()),
                    ("apiOnly", true.into()),
                    ("projectId", access.project_id.as_str().into()),
                    ("apiKeyId", key.id.as_str().into()),
                ]);
                audit::event(
                    tx,
                    grant.by(),
                    &org,
                    EventType::UserCreated,
                    ("user", access.user_id.to_string()),
                    data,
                    now,
                )?;
                Ok(((address.clone(), key.id), (address, access)))
            };
            // The same user, a new key; the lost response's stops working.
            let replay = |tx: &Tx, (address, key_id): (String, KeyId)| {
                let key =
                    store::keys::get(tx, &org, &key_id)?.ok_or_else(|| keys::gone_since("user's key"))?;
                let api_key = keys::reissue(tx, &prefix, key.n, now)?;
                let access =
                    Access { org_id: org.clone(), user_id: key.user_id, project_id: key.project_id, api_key };
                Ok((address, access))
            };
            let owner = &grant;
            idempotency::once(tx, idem.as_ref(), owner, "POST /api/v1/admin/create-user", now, work, replay)
        })
        .await
}
