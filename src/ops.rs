//! The flows the API, the command line and (later) the web pages share. Each takes the
//! transaction it runs in, so everything a flow writes commits together or not at all.

use crate::clock::{self, Millis};
use crate::config::SignupMode;
use crate::domain::{Credits, DisplayName, Domain, Email, ProvisionRole, ProvisionStatus, Role};
use crate::error::{is_unique_violation, ApiError};
use crate::keys::{self, new_id};
use crate::store;
use crate::store::email_tokens::Purpose;
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
    let name =
        DisplayName::parse("The organization name", &new.name, 200).map_err(ApiError::invalid_field)?;
    let name = name.as_str();
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
    // Verified: the orchestrator owns the domain it maps addresses onto.
    store::orgs::insert_user(tx, &user_id, &address, true, true, now)?;
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
        // Whoever signed up with an address nobody verified does not get what is meant for
        // the address's owner.
        Some(id) if !store::orgs::user(tx, &id)?.is_some_and(|u| u.email_verified) => {
            return Err(unverified_address(&email));
        }
        Some(id) => id,
        None => {
            let id = new_id();
            // Verified: an operator names the address.
            store::orgs::insert_user(tx, &id, &email, false, true, now)?;
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
    store::keys::insert_key(tx, &key, &user_id, org_id, project_n, Role::Owner, now)?;
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
        store::keys::insert_key(tx, &key, user_id, org_id, project_n, role, now)?;
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

fn unverified_address(email: &str) -> ApiError {
    ApiError::conflict(
        "email_unverified",
        format!(
            "An account with the address {email} exists, but nobody has verified that the address is its holder's, so it is not given this. Ask its holder to verify it (the link mailed at sign-up), or, if you know the account is theirs, run `provisiond user verify --email {email}` first."
        ),
    )
}

/// Turns a member's provisioner flag on or off; the member is given by user id or email (an
/// email only when verified: it must name the person it reaches).
pub fn set_provisioner(
    tx: &Transaction,
    org_id: &str,
    user_id_or_email: &str,
    on: bool,
) -> Result<store::orgs::MemberRow, ApiError> {
    let mut m = store::orgs::find_member(tx, org_id, user_id_or_email)?
        .ok_or_else(|| ApiError::not_found("No member of this organization has that user id or email."))?;
    if on && m.user_id != user_id_or_email && !m.email_verified {
        return Err(ApiError::conflict(
            "email_unverified",
            "That member's email address is not verified, so it does not prove who they are; name them by user id instead.",
        ));
    }
    store::orgs::set_provisioner(tx, org_id, &m.user_id, on)?;
    m.is_provisioner = on;
    Ok(m)
}

/// A new person with email and password (already hashed), in no organization yet, with an
/// unverified address. `SIGNUP` decides who may: in `claim` mode only someone holding a live
/// claim link (`claim_token`).
pub fn sign_up(
    tx: &Transaction,
    mode: SignupMode,
    claim_token: Option<&str>,
    email: &Email,
    password_hash: &str,
    now: Millis,
) -> Result<String, ApiError> {
    signup_allowed(mode, claim_token)?;
    if let (SignupMode::Claim, Some(token)) = (mode, claim_token) {
        claimable(tx, token, now)?;
    }
    let address = email.as_string();
    if store::orgs::user_id_by_email(tx, &address)?.is_some() {
        return Err(ApiError::conflict(
            "user_exists",
            "An account with this email already exists; log in instead.",
        ));
    }
    let id = new_id();
    store::orgs::insert_user(tx, &id, &address, false, false, now)?;
    store::orgs::set_password(tx, &id, password_hash)?;
    Ok(id)
}

/// Whether `SIGNUP` lets anyone sign up, as far as can be told without the database: in `claim`
/// mode the claim link must also be live (`claimable`).
pub fn signup_allowed(mode: SignupMode, claim_token: Option<&str>) -> Result<(), ApiError> {
    match (mode, claim_token) {
        (SignupMode::Off, _) => Err(ApiError::forbidden(
            "signup_closed",
            "Accounts on this server are created by its operator; ask them for one.",
        )),
        (SignupMode::Claim, None) => Err(ApiError::forbidden(
            "signup_needs_claim",
            "Accounts on this server are created through a claim link from your admin; open that link to sign up.",
        )),
        _ => Ok(()),
    }
}

/// How long a mailed verification link works.
pub const VERIFY_LINK_TTL_MS: Millis = 24 * 3_600_000;
/// How long a mailed password-reset link works.
pub const RESET_LINK_TTL_MS: Millis = 3_600_000;

/// A link to mail: the token (secret) and the address it goes to.
pub struct MailLink {
    pub token: String,
    pub email: String,
}

/// A verification link for the user's address, or None when it is verified already (or the
/// account cannot sign in).
pub fn issue_verification(
    tx: &Transaction,
    user_id: &str,
    now: Millis,
) -> Result<Option<MailLink>, ApiError> {
    let Some(u) = store::orgs::user(tx, user_id)? else { return Ok(None) };
    let Some(email) = u.email.filter(|_| !u.email_verified && !u.placeholder && !u.api_only) else {
        return Ok(None);
    };
    let token = keys::new_claim_token()?;
    store::email_tokens::insert(
        tx,
        &token.hash,
        user_id,
        Purpose::Verify,
        &email,
        now,
        now + VERIFY_LINK_TTL_MS,
    )?;
    Ok(Some(MailLink { token: token.secret, email }))
}

/// A password-reset link for the account at `email`, or None when there is no account there
/// that signs in with a password (the caller answers the same either way).
pub fn issue_reset(tx: &Transaction, email: &str, now: Millis) -> Result<Option<MailLink>, ApiError> {
    let Some(login) = store::orgs::login_by_email(tx, email)? else { return Ok(None) };
    if login.api_only {
        return Ok(None);
    }
    let token = keys::new_claim_token()?;
    store::email_tokens::insert(
        tx,
        &token.hash,
        &login.user_id,
        Purpose::Reset,
        email,
        now,
        now + RESET_LINK_TTL_MS,
    )?;
    Ok(Some(MailLink { token: token.secret, email: email.to_string() }))
}

fn link_refused(what: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_token",
        format!("This {what} link is not valid: it was used already, replaced by a newer one, or has expired. Ask for a new one."),
    )
}

/// Takes a mailed link: live, of this purpose, and still for the address the account has now.
fn take_link(tx: &Transaction, token: &str, purpose: Purpose, now: Millis) -> Result<String, ApiError> {
    let what = match purpose {
        Purpose::Verify => "verification",
        Purpose::Reset => "password reset",
    };
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(link_refused(what));
    }
    let row = store::email_tokens::take(tx, &keys::hash(&token.to_ascii_lowercase()), purpose)?
        .filter(|r| r.expires_at > now)
        .ok_or_else(|| link_refused(what))?;
    let user = store::orgs::user(tx, &row.user_id)?.ok_or_else(|| link_refused(what))?;
    if user.email.as_deref() != Some(row.email.as_str()) || user.placeholder {
        return Err(link_refused(what));
    }
    Ok(row.user_id)
}

/// The person followed the link mailed to their address: it reaches them.
pub fn verify_email(tx: &Transaction, token: &str, now: Millis) -> Result<String, ApiError> {
    let user_id = take_link(tx, token, Purpose::Verify, now)?;
    store::orgs::set_verified(tx, &user_id)?;
    Ok(user_id)
}

/// Sets a new password through a mailed link. Following the link also proves the address, and
/// every session of the account ends (whoever had the old password is signed out).
pub fn reset_password(
    tx: &Transaction,
    token: &str,
    password_hash: &str,
    now: Millis,
) -> Result<String, ApiError> {
    let user_id = take_link(tx, token, Purpose::Reset, now)?;
    store::orgs::set_password(tx, &user_id, password_hash)?;
    store::orgs::set_verified(tx, &user_id)?;
    store::sessions::delete_of_user(tx, &user_id, None)?;
    store::email_tokens::delete_of_user(tx, &user_id, Purpose::Reset)?;
    Ok(user_id)
}

/// A new password for a person (the command line, or the person themselves signed in): every
/// session but `keep` ends, and so does every reset link.
pub fn set_password(
    tx: &Transaction,
    user_id: &str,
    password_hash: &str,
    keep: Option<&[u8; 32]>,
) -> Result<(), ApiError> {
    store::orgs::set_password(tx, user_id, password_hash)?;
    store::sessions::delete_of_user(tx, user_id, keep)?;
    store::email_tokens::delete_of_user(tx, user_id, Purpose::Reset)?;
    Ok(())
}

/// An operator vouches that an address is its account holder's.
pub fn vouch_for_email(tx: &Transaction, email: &Email) -> Result<String, ApiError> {
    let address = email.as_string();
    let user_id = store::orgs::user_id_by_email(tx, &address)?
        .ok_or_else(|| ApiError::not_found(format!("No account has the email {address}.")))?;
    store::orgs::set_verified(tx, &user_id)?;
    Ok(user_id)
}

/// A signed-in person starts an organization and owns it. Only where anyone may sign up
/// (`SIGNUP=open`), and only with a verified address; elsewhere operators create organizations.
pub fn start_org(
    tx: &Transaction,
    key_prefix: &str,
    mode: SignupMode,
    user_id: &str,
    name: &str,
    now: Millis,
) -> Result<Access, ApiError> {
    if mode != SignupMode::Open {
        return Err(ApiError::forbidden(
            "signup_closed",
            "Organizations on this server are created by its operator; ask them, or an admin for a claim link.",
        ));
    }
    let user = store::orgs::user(tx, user_id)?
        .ok_or_else(|| ApiError::unauthorized("invalid_session", "Your account no longer exists."))?;
    let email = user.email.filter(|_| user.email_verified).ok_or_else(|| {
        ApiError::forbidden(
            "email_unverified",
            "Verify your email address first: follow the link we mailed you (you can ask for a new one on your account page).",
        )
    })?;
    let email = Email::parse(&email).map_err(ApiError::internal)?;
    let new = NewOrg {
        name: name.to_string(),
        domain: None,
        owner_email: email,
        provisioner: false,
        credits: None,
    };
    create_org(tx, key_prefix, &new, now)
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
/// With `SIGNUP=open` (`mode`), only an account with a verified address may join this way.
pub fn claim(
    tx: &Transaction,
    mode: SignupMode,
    token: &str,
    claimer_id: &str,
    now: Millis,
) -> Result<Claimed, ApiError> {
    let (p, org_name) = claimable(tx, token, now)?;
    let claimer = store::orgs::user(tx, claimer_id)?.ok_or_else(|| {
        ApiError::unauthorized("invalid_api_key", "Your account no longer exists; sign up again.")
    })?;
    if mode == SignupMode::Open && !claimer.email_verified && !claimer.placeholder {
        return Err(ApiError::forbidden(
            "email_unverified",
            "Verify your email address before joining an organization: follow the link we mailed you, then open this claim link again.",
        ));
    }
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
        store::sessions::move_to_user(tx, &claimer.id, &p.user_id)?;
        store::email_tokens::move_to_user(tx, &claimer.id, &p.user_id)?;
        // Free the email before the placeholder takes it.
        store::orgs::delete_user(tx, &claimer.id)?;
        store::orgs::activate_placeholder(tx, &p.user_id, &claimer)?;
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
