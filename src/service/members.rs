//! The members of an organization: listing them, changing their role and provisioner access,
//! and removing them (every key they hold there dies with the membership). An organization
//! never loses its last owner, however many such changes run at once.

use super::audit::{self, By};
use super::organizations::member_named;
use super::{authority, resolve_org, Actor, Authority, Ctx};
use crate::clock::Millis;
use crate::db::{Conn, Tx};
use crate::domain::{Cursor, EventType, OrgId, Page, PageRequest, Role, Scope, UserId, UserN};
use crate::error::{Error, Result};
use crate::store;
use crate::store::members::MemberItem;

/// What a PATCH asks to change; at least one of the two.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemberChange {
    pub role: Option<Role>,
    pub is_provisioner: Option<bool>,
}

/// A member who was removed, and how many live keys of theirs were revoked with it.
pub struct Removed {
    pub member: MemberItem,
    pub keys_revoked: usize,
}

fn no_such_member() -> Error {
    Error::NotFound("No member of this organization has that user id.".into())
}

/// The actor's standing as the database has it inside this write: a key's cached role may be a
/// moment old when another request changes it concurrently, and the owner rules must not act
/// on that.
fn standing_now(conn: &Conn, actor: &Actor) -> Result<Authority> {
    let mut auth = authority(conn, actor)?;
    if let Actor::Key(caller) = actor {
        let m = store::orgs::membership(conn, &auth.user, &auth.org)?.ok_or(Error::InvalidApiKey(
            "The API key is not valid; check it, or ask an admin for a new one.",
        ))?;
        auth.role = m.role.min(caller.ceiling);
        auth.is_provisioner = m.is_provisioner;
    }
    Ok(auth)
}

/// The organization's members, placeholders included, in the order they joined. Admins and
/// owners only.
pub async fn list(ctx: &Ctx, actor: Actor, page: PageRequest) -> Result<Page<MemberItem>> {
    let after = match &page.after {
        None => None,
        Some(c) => {
            let bad = || Error::InvalidCursor;
            Some((c.number(0, 2).ok_or_else(bad)?, UserN(c.number(1, 2).ok_or_else(bad)?)))
        }
    };
    let (limit, now) = (page.limit, ctx.now());
    let rows = ctx
        .db
        .read(move |c| {
            let auth = authority(c, &actor)?;
            auth.require_scope(Scope::Members)?;
            auth.require_admin()?;
            Ok::<_, Error>(store::members::list(c, &auth.org, now, after, limit + 1)?)
        })
        .await?;
    Ok(Page::from_rows(rows, limit, |m| Cursor::new(vec![m.joined_at.to_string(), m.user_n.0.to_string()])))
}

/// Whether someone acting as `actor` may make `change` to `target`: owners change anyone;
/// admins change members only, never make an owner, and leave provisioner access to owners
/// (as `set-provisioner` does).
fn may_change(actor: &Authority, target: &MemberItem, change: &MemberChange) -> Result<()> {
    actor.require_admin()?;
    if actor.role == Role::Owner {
        return Ok(());
    }
    if target.role != Role::Member {
        return Err(Error::InsufficientRole(format!(
            "Admins may change members only; this person is {}. Ask an owner.",
            target.role.as_str()
        )));
    }
    if change.role == Some(Role::Owner) {
        return Err(Error::InsufficientRole("Only an owner may make someone an owner.".into()));
    }
    if change.is_provisioner.is_some() {
        return Err(Error::InsufficientRole(
            "Only an owner may change provisioner access; this key's role is admin.".into(),
        ));
    }
    Ok(())
}

fn pending_provision() -> Error {
    Error::Conflict(
        "pending_provision",
        "This member is a pending provision nobody has claimed yet: cancel the provision instead (DELETE /v1/team/provisions/{id}), or wait until it is claimed.".into(),
    )
}

/// Refuses a change that would leave the organization without an owner. The caller holds the
/// organization's lock (`store::members::lock_org`), so the count cannot move underneath.
fn keep_an_owner(tx: &Tx, org: &OrgId, target: &MemberItem) -> Result<()> {
    if target.role == Role::Owner && store::members::count_owners(tx, org)? <= 1 {
        return Err(Error::LastOwner);
    }
    Ok(())
}

/// Applies a permitted change. Every key of the member acts with the new role and access from
/// its very next request.
fn change_in(
    tx: &Tx,
    by: &By,
    org: &OrgId,
    mut target: MemberItem,
    change: MemberChange,
    now: Millis,
) -> Result<MemberItem> {
    if target.placeholder {
        return Err(pending_provision());
    }
    let before = (target.role, target.is_provisioner);
    if let Some(role) = change.role.filter(|r| *r != target.role) {
        if role != Role::Owner {
            keep_an_owner(tx, org, &target)?;
        }
        store::members::set_role(tx, org, target.user_n, role)?;
        target.role = role;
    }
    if let Some(on) = change.is_provisioner {
        store::members::set_provisioner(tx, org, target.user_n, on)?;
        target.is_provisioner = on;
    }
    tx.keys_changed();
    let mut data = audit::data([
        ("userId", target.user_id.as_str().into()),
        ("role", target.role.as_str().into()),
        ("isProvisioner", target.is_provisioner.into()),
    ]);
    if before.0 != target.role {
        data.insert("previousRole".into(), before.0.as_str().into());
    }
    if before.1 != target.is_provisioner {
        data.insert("wasProvisioner".into(), before.1.into());
    }
    audit::event(tx, by, org, EventType::MemberUpdated, ("user", target.user_id.to_string()), data, now)?;
    Ok(target)
}

/// Ends the membership, revokes every key the person holds in the organization and drops their
/// credit limit there, in one transaction.
fn remove_in(tx: &Tx, by: &By, org: &OrgId, target: MemberItem, now: Millis) -> Result<Removed> {
    if target.placeholder {
        return Err(pending_provision());
    }
    keep_an_owner(tx, org, &target)?;
    store::members::delete(tx, org, target.user_n)?;
    let keys_revoked = store::keys::revoke_all_of(tx, target.user_n, org, now)?;
    store::members::delete_credit_limit(tx, org, &target.user_id)?;
    tx.keys_changed();
    let data = audit::data([
        ("userId", target.user_id.as_str().into()),
        ("role", target.role.as_str().into()),
        ("apiKeysRevoked", keys_revoked.into()),
    ]);
    audit::event(tx, by, org, EventType::MemberRemoved, ("user", target.user_id.to_string()), data, now)?;
    Ok(Removed { member: target, keys_revoked })
}

/// An owner or admin changes a member's role or provisioner access (the API).
pub async fn update(ctx: &Ctx, actor: Actor, user: &str, change: MemberChange) -> Result<MemberItem> {
    if change.role.is_none() && change.is_provisioner.is_none() {
        return Err(Error::InvalidField("Give 'role', 'isProvisioner' or both.".into()));
    }
    let user = UserId::parse(user);
    let now = ctx.now();
    let by = By::actor(&actor);
    ctx.db
        .write(move |tx| {
            let auth = authority(tx, &actor)?;
            auth.require_scope(Scope::Members)?;
            auth.require_admin()?;
            store::members::lock_org(tx, &auth.org)?;
            let auth = standing_now(tx, &actor)?;
            let target = match &user {
                Some(u) => store::members::get(tx, &auth.org, u, now)?.ok_or_else(no_such_member)?,
                None => return Err(no_such_member()),
            };
            may_change(&auth, &target, &change)?;
            change_in(tx, &by, &auth.org, target, change, now)
        })
        .await
}

/// An owner (or an admin, for a member) removes someone from the organization; anyone may leave
/// it themselves. The last owner can do neither (the API).
pub async fn remove(ctx: &Ctx, actor: Actor, user: &str) -> Result<Removed> {
    let user = UserId::parse(user);
    let now = ctx.now();
    let by = By::actor(&actor);
    ctx.db
        .write(move |tx| {
            let auth = authority(tx, &actor)?;
            auth.require_scope(Scope::Members)?;
            store::members::lock_org(tx, &auth.org)?;
            let auth = standing_now(tx, &actor)?;
            let target = match &user {
                Some(u) => store::members::get(tx, &auth.org, u, now)?,
                None => None,
            };
            let leaving = target.as_ref().is_some_and(|t| t.user_id == auth.user);
            if !leaving {
                auth.require_admin()?;
            }
            let target = target.ok_or_else(no_such_member)?;
            if !leaving && auth.role != Role::Owner && target.role != Role::Member {
                return Err(Error::InsufficientRole(format!(
                    "Admins may remove members only; this person is {}. Ask an owner.",
                    target.role.as_str()
                )));
            }
            remove_in(tx, &by, &auth.org, target, now)
        })
        .await
}

/// The member an operator names (user id or email) in the organization they name.
fn named(tx: &Tx, org: &str, who: &str, vouched: bool, now: Millis) -> Result<(OrgId, MemberItem)> {
    let org = resolve_org(tx, org)?;
    store::members::lock_org(tx, &org)?;
    let m = member_named(tx, &org, who, vouched)?;
    let target = store::members::get(tx, &org, &m.user_id, now)?.ok_or_else(no_such_member)?;
    Ok((org, target))
}

/// An operator sets a member's role (command line). Named by email, the address must be
/// verified, as for provisioner access.
pub async fn set_role_by_operator(ctx: &Ctx, org: String, who: String, role: Role) -> Result<MemberItem> {
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let (org, target) = named(tx, &org, &who, true, now)?;
            change_in(
                tx,
                &By::operator(),
                &org,
                target,
                MemberChange { role: Some(role), is_provisioner: None },
                now,
            )
        })
        .await
}

/// An operator removes a member from an organization (command line).
pub async fn remove_by_operator(ctx: &Ctx, org: String, who: String) -> Result<Removed> {
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let (org, target) = named(tx, &org, &who, false, now)?;
            remove_in(tx, &By::operator(), &org, target, now)
        })
        .await
}
