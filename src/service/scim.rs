//! SCIM 2.0 (issue 24, CONTRACT part three): the organization's identity provider provisions its
//! people. Users are the organization's members, existing ones included; the provider's own
//! record of each person (userName, name, emails, ...) is kept beside the membership. It brings
//! people in (an account without a password, verified only for the organization's own domain, a
//! project, no key), deactivates them (`active: false` suspends the membership and revokes every
//! key they hold there; sessions there are refused from the next request), and removes them.
//! Owners are beyond its reach. Every change goes through `authorize(Act::Scim)` and is recorded
//! as `scim` with the events the API raises. Groups and the admin-group setting: `scim_groups`.

use super::audit;
use super::authority::{authorize, principal, Act, Grant};
use super::organizations::DEFAULT_PROJECT_NAME;
use super::scim_grant::{granted, sync_roles, taken};
use super::{members, Actor, Ctx};
use crate::clock::Millis;
use crate::db::{DbError, Tx};
use crate::domain::{Email, EventType, OrgId, ProjectId, Role, ScimMember, ScimUserInput, UserId};
use crate::error::{Error, Result};
use crate::store;
use serde_json::{Map, Value};

/// The most resources one list answers (ServiceProviderConfig, `filter.maxResults`).
pub const MAX_RESULTS: usize = 1000;

pub(super) fn no_such_user() -> Error {
    Error::NotFound("No User with that id in this organization.".into())
}

fn beyond_reach() -> Error {
    Error::Conflict(
        "owner",
        "This person is an owner of the organization, and owners are beyond SCIM's reach: it never changes, deactivates, demotes or removes them. An owner of the organization changes them in provisiond.".into(),
    )
}

/// A userName as the unique key it is (lowercase); it must say something.
fn user_name_key(user_name: &str) -> Result<String> {
    let trimmed = user_name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 255 || trimmed.chars().any(char::is_control) {
        return Err(Error::InvalidField(
            "'userName' must be 1 to 255 characters, without control characters.".into(),
        ));
    }
    Ok(trimmed.to_lowercase())
}

/// The person's address, parsed (an email value that is not an address is refused; a userName
/// that is not one is simply no address).
fn address_of(input: &ScimUserInput) -> Result<Option<Email>> {
    let Some(text) = input.address() else { return Ok(None) };
    match Email::parse(text) {
        Ok(e) => Ok(Some(e)),
        Err(_) if text == input.user_name && !emails_given(input) => Ok(None),
        Err(m) => Err(Error::InvalidEmail(format!("'emails': {m}"))),
    }
}

fn emails_given(input: &ScimUserInput) -> bool {
    input.attributes.get("emails").and_then(Value::as_array).is_some_and(|l| !l.is_empty())
}

/// Whether an address is in the organization's own domain (set by its operator): only then does
/// the provider's word make it verified (CONTRACT part three, "Addresses are identities only when
/// proven").
fn in_own_domain(tx: &Tx, org: &OrgId, address: &Email) -> Result<bool> {
    Ok(store::scim::org_domain(tx, org)?.is_some_and(|d| d == *address.domain()))
}

/// The attributes as stored: every other attribute, and `active` when the provider set it.
fn stored(input: &ScimUserInput) -> String {
    let mut all = input.attributes.clone();
    if let Some(active) = input.active {
        all.insert("active".into(), Value::Bool(active));
    }
    Value::Object(all).to_string()
}

/// The organization's members as SCIM Users, in the order they joined.
pub async fn users(ctx: &Ctx, actor: Actor) -> Result<Vec<ScimMember>> {
    ctx.db
        .read(move |c| {
            let g = authorize(&principal(c, &actor)?, Act::Scim)?;
            Ok(store::scim::members(c, &g.org)?)
        })
        .await
}

/// The members going by `user_name` (compared case-insensitively): what an identity provider asks
/// before it pushes someone (`filter=userName eq "…"`), answered from the index.
pub async fn users_named(ctx: &Ctx, actor: Actor, user_name: String) -> Result<Vec<ScimMember>> {
    ctx.db
        .read(move |c| {
            let g = authorize(&principal(c, &actor)?, Act::Scim)?;
            Ok(store::scim::members_named(c, &g.org, &user_name.trim().to_lowercase())?)
        })
        .await
}

pub async fn user(ctx: &Ctx, actor: Actor, id: &str) -> Result<ScimMember> {
    let id = UserId::parse(id);
    ctx.db
        .read(move |c| {
            let g = authorize(&principal(c, &actor)?, Act::Scim)?;
            let Some(id) = id else { return Err(no_such_user()) };
            store::scim::member_by_id(c, &g.org, &id)?.ok_or_else(no_such_user)
        })
        .await
}

/// A person the provider pushes: a new member (a new account for a new address; an existing
/// account with a verified address joins as it is), with a project and no key.
pub async fn create_user(ctx: &Ctx, actor: Actor, mut input: ScimUserInput) -> Result<ScimMember> {
    // A person pushed without `active` is active (RFC 7643's reading, and what providers assume).
    input.active = Some(input.active.unwrap_or(true));
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let g = granted(tx, &actor)?;
            let org = g.org.clone();
            let key = user_name_key(&input.user_name)?;
            if store::scim::user_name_taken(tx, &org, &key, None)? {
                return Err(taken(format!(
                    "A member of this organization already goes by the userName '{}'; find it with filter=userName eq \"…\" and update it instead.",
                    input.user_name.trim()
                )));
            }
            let address = address_of(&input)?;
            let (user_id, user_n, made_at) = match &address {
                Some(a) => match store::scim::account_at(tx, &a.as_string())? {
                    Some((id, n, verified)) => {
                        if store::memberships::membership(tx, &id, &org)?.is_some() {
                            return Err(taken(format!(
                                "{} is already a member of this organization, under another userName.",
                                a.as_string()
                            )));
                        }
                        if !verified {
                            return Err(Error::AddressUnverified(a.as_string()));
                        }
                        (id, n, None)
                    }
                    None => {
                        let id = UserId::new();
                        let verified = in_own_domain(tx, &org, a)?;
                        let n = store::scim::insert_account(tx, &id, Some(&a.as_string()), verified, now)?;
                        (id, n, Some(now))
                    }
                },
                None => {
                    let id = UserId::new();
                    (id.clone(), store::scim::insert_account(tx, &id, None, false, now)?, Some(now))
                }
            };
            store::memberships::insert_membership(tx, user_n, &org, Role::Member, false, now)?;
            store::projects::insert_project(tx, &ProjectId::new(), &org, user_n, DEFAULT_PROJECT_NAME, now)?;
            let attributes = stored(&input);
            let row = store::scim::IdentityRow {
                user_name: input.user_name.trim(),
                external_id: input.external_id.as_deref(),
                attributes: &attributes,
                account_made_at: made_at,
            };
            store::scim::put_identity(tx, user_n, &org, &row, now)?;
            let mut data = audit::data([
                ("email", address.as_ref().map(Email::as_string).into()),
                ("role", Role::Member.as_str().into()),
                ("isProvisioner", false.into()),
                ("newAccount", made_at.is_some().into()),
                ("userName", input.user_name.trim().into()),
            ]);
            if input.active == Some(false) {
                store::scim::set_suspended(tx, &org, user_n, Some(now))?;
                data.insert("active".into(), false.into());
            }
            audit::event(tx, g.by(), &org, EventType::UserCreated, ("user", user_id.to_string()), data, now)?;
            sync_roles(tx, &g, now)?;
            store::scim::member_by_id(tx, &org, &user_id)?.ok_or_else(no_such_user)
        })
        .await
}

/// A person's record replaced (PUT) or patched (PATCH): `edit` turns the member as they stand
/// into the User as it should be, inside the same transaction (a concurrent change cannot be
/// lost between the read and the write). `active: false` suspends, and anything else restores.
pub async fn update_user<E, F>(ctx: &Ctx, actor: Actor, id: &str, edit: F) -> Result<ScimMember, E>
where
    F: FnOnce(&ScimMember) -> Result<ScimUserInput, E> + Send + 'static,
    E: From<Error> + From<DbError> + Send + 'static,
{
    let (id, now) = (UserId::parse(id), ctx.now());
    ctx.db
        .write(move |tx| {
            let g = granted(tx, &actor)?;
            let target = match &id {
                Some(id) => store::scim::member_by_id(tx, &g.org, id).map_err(Error::from)?,
                None => None,
            };
            let target = target.ok_or_else(no_such_user)?;
            let input = edit(&target)?;
            Ok(apply(tx, &g, target, input, now)?)
        })
        .await
}

/// Writes what changed about a member and records it.
fn apply(tx: &Tx, g: &Grant, target: ScimMember, input: ScimUserInput, now: Millis) -> Result<ScimMember> {
    let org = &g.org;
    let deactivate = input.active == Some(false);
    // Nothing about an owner is the provider's to change: not the membership, and not the
    // address either (an address in the organization's own domain is verified, and a reset
    // mailed there would hand the token's holder the owner's account).
    if target.role == Role::Owner {
        return Err(beyond_reach());
    }
    let key = user_name_key(&input.user_name)?;
    // Another member's userName (or address, for one the provider never touched): compared
    // with everyone but this member, whatever this member went by before.
    if store::scim::user_name_taken(tx, org, &key, Some(target.user_n))? {
        return Err(taken(format!("Another member goes by the userName '{}'.", input.user_name.trim())));
    }
    let mut data =
        audit::data([("userId", target.user_id.as_str().into()), ("role", target.role.as_str().into())]);
    // The account's address follows the provider's only where the address is the provider's:
    // an account it made, in no other organization, or one it made without an address.
    if let Some(a) = address_of(&input)?.map(|a| a.as_string()) {
        let made = target.identity.as_ref().is_some_and(|i| i.account_made_at.is_some());
        let ours = target.email.is_none() || (made && store::scim::other_orgs(tx, target.user_n, org)? == 0);
        if target.email.as_deref() != Some(a.as_str()) && ours {
            if store::scim::account_at(tx, &a)?.is_some_and(|(other, ..)| other != target.user_id) {
                return Err(taken(format!("Another account already has the address {a}.")));
            }
            let verified = in_own_domain(tx, org, &Email::parse(&a).map_err(Error::InvalidEmail)?)?;
            store::scim::set_address(tx, target.user_n, &a, verified)?;
            data.insert("email".into(), a.into());
        }
    }
    let attributes = stored(&input);
    let same = target.identity.as_ref().is_some_and(|i| {
        i.user_name == input.user_name.trim()
            && i.external_id == input.external_id
            && serde_json::from_str::<Value>(&i.attributes).ok()
                == serde_json::from_str::<Value>(&attributes).ok()
    });
    if !same {
        let row = store::scim::IdentityRow {
            user_name: input.user_name.trim(),
            external_id: input.external_id.as_deref(),
            attributes: &attributes,
            account_made_at: target.identity.as_ref().and_then(|i| i.account_made_at),
        };
        store::scim::put_identity(tx, target.user_n, org, &row, now)?;
        data.insert("userName".into(), input.user_name.trim().into());
    }
    if deactivate != target.suspended {
        data.insert("active".into(), (!deactivate).into());
        if deactivate {
            store::scim::set_suspended(tx, org, target.user_n, Some(now))?;
            // Dead for good: reactivation restores the membership, not these keys.
            let revoked = store::keys::revoke_all_of(tx, target.user_n, org, now)?;
            data.insert("apiKeysRevoked".into(), revoked.into());
        } else {
            store::scim::set_suspended(tx, org, target.user_n, None)?;
        }
    }
    if data.len() > 2 {
        audit::event(
            tx,
            g.by(),
            org,
            EventType::MemberUpdated,
            ("user", target.user_id.to_string()),
            data,
            now,
        )?;
    }
    store::scim::member_by_id(tx, org, &target.user_id)?.ok_or_else(no_such_user)
}

/// The provider removes a person from the organization: the membership ends and every key they
/// hold there is revoked (as `DELETE /v1/members/{id}`). Never an owner.
pub async fn delete_user(ctx: &Ctx, actor: Actor, id: &str) -> Result<()> {
    let (id, now) = (UserId::parse(id), ctx.now());
    ctx.db
        .write(move |tx| {
            let g = granted(tx, &actor)?;
            let Some(id) = id else { return Err(no_such_user()) };
            let target = store::scim::member_by_id(tx, &g.org, &id)?.ok_or_else(no_such_user)?;
            if target.role == Role::Owner {
                return Err(beyond_reach());
            }
            let member = store::memberships::get(tx, &g.org, &id, now)?.ok_or_else(no_such_user)?;
            members::remove_in(tx, g.by(), &g.org, member, now)?;
            Ok(())
        })
        .await
}

/// A member's stored attributes, and `active` as the provider last set it (None: it never did,
/// or removed it).
pub fn attributes_of(member: &ScimMember) -> (Map<String, Value>, Option<bool>) {
    let Some(identity) = &member.identity else {
        return (Map::new(), Some(!member.suspended));
    };
    let mut all = match serde_json::from_str::<Value>(&identity.attributes) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let active = all.remove("active").and_then(|a| a.as_bool());
    // Suspension is the membership's: it wins over a stale record.
    let active = if member.suspended { Some(false) } else { active.filter(|a| *a) };
    (all, active)
}
