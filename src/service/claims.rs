//! Claims: the person a provision was made for takes over the account through the claim link.

use super::audit::{self, By};
use super::SignupMode;
use super::{Client, Ctx};
use crate::clock::Millis;
use crate::db::Conn;
use crate::domain::Provision;
use crate::domain::{EventType, ProvisionStatus};
use crate::domain::{OrgId, ProjectId, UserId};
use crate::error::{Error, Result};
use crate::secrets;
use crate::store;

/// A claim link that can be claimed now.
pub struct Claimable {
    pub org_name: String,
    pub expires_at: Millis,
    /// Only an account with this address may claim it.
    pub email: Option<String>,
    /// Who made the provision, as the page names them (their name and address), if still known.
    pub invited_by: Option<String>,
    /// The role the account has in the organization.
    pub role: crate::domain::Role,
}

pub struct Claimed {
    pub org_id: OrgId,
    pub org_name: String,
    pub user_id: UserId,
    pub project_id: ProjectId,
    pub skip_onboarding: bool,
}

fn invalid() -> Error {
    Error::InvalidToken("This claim link is not valid; ask your admin for a new one.".into())
}

/// Whether `email` may claim a provision bound to `bound` (any address may claim an unbound one).
pub fn address_may_claim(bound: Option<&str>, email: Option<&str>) -> bool {
    match (bound, email) {
        (None, _) => true,
        (Some(b), Some(e)) => b.eq_ignore_ascii_case(e),
        (Some(_), None) => false,
    }
}

/// What a claim token points at, or why it cannot be claimed.
pub(super) fn claimable_in(conn: &Conn, token: &str, now: Millis) -> Result<(Provision, String)> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let (p, org_name) = store::provisions::by_token(conn, &secrets::hash(&token.to_ascii_lowercase()))?
        .ok_or_else(invalid)?;
    match p.status {
        ProvisionStatus::Claimed => Err(Error::AlreadyClaimed),
        ProvisionStatus::Cancelled => Err(Error::InvalidToken(
            "This claim link was cancelled by an admin; ask them for a new one.".into(),
        )),
        ProvisionStatus::Expired => Err(Error::TokenExpired(p.expires_at)),
        ProvisionStatus::Pending if now >= p.expires_at => Err(Error::TokenExpired(p.expires_at)),
        ProvisionStatus::Pending => Ok((p, org_name)),
    }
}

/// The claim page: the organization the link is for, or why it cannot be claimed. Limited per
/// client address like the other sign-in forms.
pub async fn claimable(ctx: &Ctx, client: &Client, token: &str) -> Result<Claimable> {
    ctx.allow_form("claim", client).await?;
    let (token, now) = (token.to_string(), ctx.now());
    ctx.db
        .read(move |c| {
            let (p, org_name) = claimable_in(c, &token, now)?;
            let invited_by = store::users::user(c, &p.created_by)?.and_then(|u| match (u.name, u.email) {
                (Some(n), Some(e)) => Some(format!("{n} ({e})")),
                (n, e) => e.or(n),
            });
            Ok(Claimable { org_name, expires_at: p.expires_at, email: p.email, invited_by, role: p.role })
        })
        .await
}

/// Claims a provision for `claimer`. A person in no organization yet (who just signed up)
/// becomes the placeholder: same user id, their email and password. Anyone else receives the
/// project, keys and agents, and the membership unless they already have one (their role stays);
/// the placeholder is deleted. The provisioned key keeps working either way, acting as at most
/// the provision's role. With `SIGNUP=open` only an account with a verified address may join
/// this way. A claim from a page names its `session` (switched to the organization) and is
/// limited per client address like the other sign-in forms; an API claim has credentials.
pub async fn claim(
    ctx: &Ctx,
    token: &str,
    claimer: &UserId,
    page: Option<(&Client, [u8; 32])>,
) -> Result<Claimed> {
    if let Some((client, _)) = page {
        ctx.allow_form("claim", client).await?;
    }
    let session = page.map(|(_, s)| s);
    let from = By::person(claimer);
    let (token, claimer_id, now, mode) = (token.to_string(), claimer.clone(), ctx.now(), ctx.rules.signup);
    ctx.db
        .write(move |tx| {
            let (p, org_name) = claimable_in(tx, &token, now)?;
            let claimer = store::users::user(tx, &claimer_id)?
                .ok_or(Error::InvalidApiKey("Your account no longer exists; sign up again."))?;
            if claimer.api_only {
                return Err(Error::ApiOnlyUser("An API-only user cannot claim an account."));
            }
            if claimer.placeholder {
                return Err(Error::InsufficientRole(
                    "A provisioned account that is not claimed yet cannot claim another one.".into(),
                ));
            }
            if !address_may_claim(p.email.as_deref(), claimer.email.as_deref()) {
                return Err(Error::EmailMismatch);
            }
            let new_person = store::memberships::orgs_of_user(tx, &claimer.id)?.is_empty()
                && store::projects::count_projects_of(tx, &claimer.id)? == 0;
            // A claim never verifies the address (CONTRACT part three): whoever made the
            // provision typed it and holds the same link, so signing up through it proves
            // nothing. The verification mailed at sign-up does.
            if mode == SignupMode::Open && !claimer.email_verified {
                return Err(Error::EmailUnverified(
                    "Verify your email address before joining an organization: follow the link we mailed you, then open this claim link again.".into(),
                ));
            }
            let user_id = if new_person {
                store::sessions::move_to_user(tx, &claimer.id, &p.user_id)?;
                store::email_tokens::move_to_user(tx, &claimer.id, &p.user_id)?;
                // Free the email before the placeholder takes it.
                store::users::delete_user(tx, &claimer.id)?;
                store::users::activate_placeholder(tx, &p.user_id, &claimer)?;
                p.user_id.clone()
            } else {
                store::projects::move_projects_and_keys(tx, &p.user_id, &claimer.id)?;
                if store::memberships::membership(tx, &claimer.id, &p.org_id)?.is_none() {
                    store::memberships::move_membership(tx, &p.user_id, &claimer.id, &p.org_id)?;
                }
                store::users::delete_placeholder(tx, &p.user_id)?;
                claimer.id.clone()
            };
            if !store::provisions::mark_claimed(tx, &p.id, &user_id, now)? {
                return Err(Error::AlreadyClaimed);
            }
            if let Some(hash) = session {
                store::sessions::set_active_org(tx, &hash, &p.org_id)?;
            }
            let data = audit::data([
                ("userId", user_id.as_str().into()),
                ("projectId", p.project_id.as_str().into()),
                ("newAccount", new_person.into()),
            ]);
            // The claimer's account may have just become the placeholder's (a new person).
            let by = from.as_person(&user_id);
            audit::event(tx, &by, &p.org_id, EventType::ProvisionClaimed, ("provision", p.id.to_string()), data, now)?;
            Ok(Claimed {
                org_id: p.org_id,
                org_name,
                user_id,
                project_id: p.project_id,
                skip_onboarding: p.skip_onboarding,
            })
        })
        .await
}
