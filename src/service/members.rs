//! The members of an organization: listing them, changing their role and provisioner access,
//! and removing them (every key they hold there dies with the membership). An organization
//! never loses its last owner, however many such changes run at once.

use super::audit::{self, By};
use super::authority::{authorize, principal, principal_now, Act};
use super::organizations::member_named;
use super::{resolve_org, Actor, Ctx};
use crate::clock::Millis;
use crate::db::Tx;
use crate::domain::Member;
use crate::domain::{Cursor, EventType, OrgId, Page, PageRequest, Role, UserId, UserN};
use crate::error::{Error, Result};
use crate::store;

/// What a PATCH asks to change; at least one of the two.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemberChange {
    pub role: Option<Role>,
    pub is_provisioner: Option<bool>,
}

/// A member who was removed, and how many live keys of theirs were revoked with it.
pub struct Removed {
    pub member: Member,
    pub keys_revoked: usize,
}

fn no_such_member() -> Error {
    Error::NotFound("No member of this organization has that user id.".into())
}

/// The organization's members, placeholders included, in the order they joined. Admins and
/// owners only.
pub async fn list(ctx: &Ctx, actor: Actor, page: PageRequest) -> Result<Page<Member>> {
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
            let auth = authorize(&principal(c, &actor)?, Act::ListMembers)?;
            Ok::<_, Error>(store::memberships::list(c, &auth.org, now, after, limit + 1)?)
        })
        .await?;
    Ok(Page::from_rows(rows, limit, |m| Cursor::new(vec![m.joined_at.to_string(), m.user_n.0.to_string()])))
}

fn pending_provision() -> Error {
    Error::Conflict(
        "pending_provision",
        "This member is a pending provision nobody has claimed yet: cancel the provision instead (DELETE /v1/team/provisions/{id}), or wait until it is claimed.".into(),
    )
}

/// Refuses a change that would leave the organization without an owner. The caller holds the
/// organization's lock (`store::orgs::lock_org`), so the count cannot move underneath.
fn keep_an_owner(tx: &Tx, org: &OrgId, target: &Member) -> Result<()> {
    if target.role == Role::Owner && store::memberships::count_owners(tx, org)? <= 1 {
        return Err(Error::LastOwner);
    }
    Ok(())
}

/// Applies a permitted change. Every key of the member acts with the new role and access from
/// its very next request.
pub(super) fn change_in(
    tx: &Tx,
    by: &By,
    org: &OrgId,
    mut target: Member,
    change: MemberChange,
    now: Millis,
) -> Result<Member> {
    if target.placeholder {
        return Err(pending_provision());
    }
    let before = (target.role, target.is_provisioner);
    if let Some(role) = change.role.filter(|r| *r != target.role) {
        if role != Role::Owner {
            keep_an_owner(tx, org, &target)?;
        }
        store::memberships::set_role(tx, org, target.user_n, role)?;
        target.role = role;
    }
    if let Some(on) = change.is_provisioner {
        store::memberships::set_provisioner(tx, org, target.user_n, on)?;
        target.is_provisioner = on;
    }
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
pub(super) fn remove_in(tx: &Tx, by: &By, org: &OrgId, target: Member, now: Millis) -> Result<Removed> {
    if target.placeholder {
        return Err(pending_provision());
    }
    keep_an_owner(tx, org, &target)?;
    store::memberships::delete(tx, org, target.user_n)?;
    let keys_revoked = store::keys::revoke_all_of(tx, target.user_n, org, now)?;
    store::credits::remove_limit(tx, org, &target.user_id)?;
    let data = audit::data([
        ("userId", target.user_id.as_str().into()),
        ("role", target.role.as_str().into()),
        ("apiKeysRevoked", keys_revoked.into()),
    ]);
    audit::event(tx, by, org, EventType::MemberRemoved, ("user", target.user_id.to_string()), data, now)?;
    Ok(Removed { member: target, keys_revoked })
}

/// An owner or admin changes a member's role or provisioner access (the API).
pub async fn update(ctx: &Ctx, actor: Actor, user: &str, change: MemberChange) -> Result<Member> {
    if change.role.is_none() && change.is_provisioner.is_none() {
        return Err(Error::InvalidField("Give 'role', 'isProvisioner' or both.".into()));
    }
    let user = UserId::parse(user);
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            // Refused before anything is read for those who may not change members at all.
            let p = principal(tx, &actor)?;
            authorize(&p, Act::ListMembers)?;
            store::orgs::lock_org(tx, &p.org)?;
            let p = principal_now(tx, &actor)?;
            let target = match &user {
                Some(u) => store::memberships::get(tx, &p.org, u, now)?.ok_or_else(no_such_member)?,
                None => return Err(no_such_member()),
            };
            let act = Act::ChangeMember {
                target: &target.user_id,
                target_role: target.role,
                role: change.role,
                provisioner: change.is_provisioner,
            };
            let grant = authorize(&p, act)?;
            change_in(tx, grant.by(), &grant.org, target, change, now)
        })
        .await
}

/// An owner (or an admin, for a member) removes someone from the organization; anyone may leave
/// it themselves. The last owner can do neither (the API).
pub async fn remove(ctx: &Ctx, actor: Actor, user: &str) -> Result<Removed> {
    let user = UserId::parse(user);
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let p = principal(tx, &actor)?;
            store::orgs::lock_org(tx, &p.org)?;
            let p = principal_now(tx, &actor)?;
            let target = match &user {
                Some(u) => store::memberships::get(tx, &p.org, u, now)?,
                None => None,
            };
            let Some(target) = target else {
                // Whether the caller may remove anyone is answered before whether the id is a
                // member (only admins learn who is).
                authorize(&p, Act::RemoveMember { target: &UserId::new(), target_role: Role::Member })?;
                return Err(no_such_member());
            };
            let grant =
                authorize(&p, Act::RemoveMember { target: &target.user_id, target_role: target.role })?;
            remove_in(tx, grant.by(), &grant.org, target, now)
        })
        .await
}

/// The member an operator names (user id or email) in the organization they name.
fn named(tx: &Tx, org: &str, who: &str, vouched: bool, now: Millis) -> Result<(OrgId, Member)> {
    let org = resolve_org(tx, org)?;
    store::orgs::lock_org(tx, &org)?;
    let m = member_named(tx, &org, who, vouched)?;
    let target = store::memberships::get(tx, &org, &m.user_id, now)?.ok_or_else(no_such_member)?;
    Ok((org, target))
}

/// An operator sets a member's role (command line). Named by email, the address must be
/// verified, as for provisioner access.
pub async fn set_role_by_operator(ctx: &Ctx, org: String, who: String, role: Role) -> Result<Member> {
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
