//! SCIM 2.0 groups (issue 24): the identity provider's groups of the organization's members, and
//! the one that makes admins (`adminGroup`, set by an owner: `/v1/scim/settings` or the SCIM
//! page). While it is set, a member (never an owner) is an admin exactly when they are in that
//! group, and a member otherwise; each change of role is recorded as `member.updated`.

use super::audit;
use super::authority::{authorize, principal, principal_now, Act, Grant};
use super::scim_grant::{granted, sync_roles, taken};
use super::{Actor, Ctx};
use crate::clock::Millis;
use crate::db::{DbError, Tx};
use crate::domain::{AuditEntry, OrgId, ScimGroup, ScimGroupInput, UserId, UserN};
use crate::error::{Error, Result};
use crate::store;

fn no_such_group() -> Error {
    Error::NotFound("No Group with that id in this organization.".into())
}

/// A display name as the unique key it is (lowercase); it must say something.
fn name_key(name: &str) -> Result<String> {
    let t = name.trim();
    if t.is_empty() || t.chars().count() > 255 || t.chars().any(char::is_control) {
        return Err(Error::InvalidField(
            "'displayName' must be 1 to 255 characters, without control characters.".into(),
        ));
    }
    Ok(t.to_lowercase())
}

/// The members named by user id, as rows: each must be a member of the organization.
fn resolve(tx: &Tx, org: &OrgId, ids: &[String]) -> Result<Vec<UserN>> {
    let mut out: Vec<UserN> = Vec::with_capacity(ids.len());
    for id in ids {
        let member = UserId::parse(id).map(|u| store::scim::member_by_id(tx, org, &u)).transpose()?.flatten();
        let Some(member) = member else {
            return Err(Error::InvalidField(format!(
                "'members': '{}' is not the id of a User of this organization (groups hold Users only).",
                id.chars().take(60).collect::<String>()
            )));
        };
        if !out.contains(&member.user_n) {
            out.push(member.user_n);
        }
    }
    Ok(out)
}

pub async fn groups(ctx: &Ctx, actor: Actor) -> Result<Vec<ScimGroup>> {
    ctx.db
        .read(move |c| {
            let g = authorize(&principal(c, &actor)?, Act::Scim)?;
            Ok(store::scim::groups(c, &g.org)?)
        })
        .await
}

pub async fn group(ctx: &Ctx, actor: Actor, id: &str) -> Result<ScimGroup> {
    let id = id.to_string();
    ctx.db
        .read(move |c| {
            let g = authorize(&principal(c, &actor)?, Act::Scim)?;
            store::scim::group(c, &g.org, &id)?.ok_or_else(no_such_group)
        })
        .await
}

fn record(tx: &Tx, g: &Grant, action: &'static str, group: &ScimGroup, now: Millis) -> Result<()> {
    let data = audit::data([
        ("groupId", group.id.as_str().into()),
        ("displayName", group.display_name.as_str().into()),
        ("members", group.members.len().into()),
    ]);
    Ok(audit::only(tx, g.by(), &g.org, action, ("scim_group", group.id.clone()), data, now)?)
}

pub async fn create_group(ctx: &Ctx, actor: Actor, input: ScimGroupInput) -> Result<ScimGroup> {
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let g = granted(tx, &actor)?;
            let key = name_key(&input.display_name)?;
            if store::scim::group_name_taken(tx, &g.org, &key, None)? {
                return Err(taken(format!("A group named '{}' exists already.", input.display_name.trim())));
            }
            let users = resolve(tx, &g.org, &input.members)?;
            let id = uuid::Uuid::new_v4().to_string();
            let (name, external) = (input.display_name.trim(), input.external_id.as_deref());
            let n = store::scim::insert_group(tx, &id, &g.org, name, external, now)?;
            for user in &users {
                store::scim::add_group_member(tx, n, *user, &g.org)?;
            }
            let group = store::scim::group(tx, &g.org, &id)?.ok_or_else(no_such_group)?;
            record(tx, &g, "scim.group_created", &group, now)?;
            sync_roles(tx, &g, now)?;
            Ok(group)
        })
        .await
}

/// A group replaced (PUT) or patched (PATCH): `edit` turns the group as it stands into the
/// group as it should be, in the same transaction.
pub async fn update_group<E, F>(ctx: &Ctx, actor: Actor, id: &str, edit: F) -> Result<ScimGroup, E>
where
    F: FnOnce(&ScimGroup) -> Result<ScimGroupInput, E> + Send + 'static,
    E: From<Error> + From<DbError> + Send + 'static,
{
    let (id, now) = (id.to_string(), ctx.now());
    ctx.db
        .write(move |tx| {
            let g = granted(tx, &actor)?;
            let current =
                store::scim::group(tx, &g.org, &id).map_err(Error::from)?.ok_or_else(no_such_group)?;
            let input = edit(&current)?;
            Ok(replace(tx, &g, current, input, now)?)
        })
        .await
}

fn replace(tx: &Tx, g: &Grant, current: ScimGroup, input: ScimGroupInput, now: Millis) -> Result<ScimGroup> {
    let key = name_key(&input.display_name)?;
    if store::scim::group_name_taken(tx, &g.org, &key, Some(current.n))? {
        return Err(taken(format!("A group named '{}' exists already.", input.display_name.trim())));
    }
    let wanted = resolve(tx, &g.org, &input.members)?;
    let mut had = Vec::with_capacity(current.members.len());
    for id in &current.members {
        if let Some(m) = store::scim::member_by_id(tx, &g.org, id)? {
            had.push(m.user_n);
        }
    }
    let (name, external) = (input.display_name.trim(), input.external_id.as_deref());
    store::scim::update_group(tx, current.n, name, external, now)?;
    for user in had.iter().filter(|u| !wanted.contains(u)) {
        store::scim::remove_group_member(tx, current.n, *user)?;
    }
    for user in wanted.iter().filter(|u| !had.contains(u)) {
        store::scim::add_group_member(tx, current.n, *user, &g.org)?;
    }
    let group = store::scim::group(tx, &g.org, &current.id)?.ok_or_else(no_such_group)?;
    let changed = group.display_name != current.display_name
        || group.external_id != current.external_id
        || group.members != current.members;
    if changed {
        record(tx, g, "scim.group_updated", &group, now)?;
        sync_roles(tx, g, now)?;
    }
    Ok(group)
}

pub async fn delete_group(ctx: &Ctx, actor: Actor, id: &str) -> Result<()> {
    let (id, now) = (id.to_string(), ctx.now());
    ctx.db
        .write(move |tx| {
            let g = granted(tx, &actor)?;
            let group = store::scim::group(tx, &g.org, &id)?.ok_or_else(no_such_group)?;
            store::scim::delete_group(tx, group.n)?;
            record(tx, &g, "scim.group_deleted", &group, now)?;
            sync_roles(tx, &g, now)
        })
        .await
}

/// The group whose members are admins (owners; the SCIM page and `/v1/scim/settings`).
pub async fn admin_group(ctx: &Ctx, actor: Actor) -> Result<Option<String>> {
    ctx.db
        .read(move |c| {
            let g = authorize(&principal(c, &actor)?, Act::ScimSettings)?;
            Ok(store::scim::admin_group(c, &g.org)?)
        })
        .await
}

/// Names the group whose members are admins (None: SCIM leaves roles as they are). Roles follow
/// at once.
pub async fn set_admin_group(ctx: &Ctx, actor: Actor, name: Option<String>) -> Result<Option<String>> {
    let name = match name.as_deref().map(str::trim) {
        None => None,
        Some(n) => {
            name_key(n).map_err(|_| {
                Error::InvalidField(
                    "'adminGroup' must be a group's name (1 to 255 characters) or null.".into(),
                )
            })?;
            Some(n.to_string())
        }
    };
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let p = principal(tx, &actor)?;
            authorize(&p, Act::ScimSettings)?;
            store::orgs::lock_org(tx, &p.org)?;
            let g = authorize(&principal_now(tx, &actor)?, Act::ScimSettings)?;
            store::scim::set_admin_group(tx, &g.org, name.as_deref(), now)?;
            let data = audit::data([("adminGroup", name.clone().into())]);
            audit::only(
                tx,
                g.by(),
                &g.org,
                "scim.settings_updated",
                ("organization", g.org.to_string()),
                data,
                now,
            )?;
            sync_roles(tx, &g, now)?;
            Ok(name)
        })
        .await
}

/// The last changes made through SCIM, newest first (the SCIM page; owners).
pub async fn recent_changes(ctx: &Ctx, actor: Actor, limit: u32) -> Result<Vec<AuditEntry>> {
    ctx.db
        .read(move |c| {
            let g = authorize(&principal(c, &actor)?, Act::ScimSettings)?;
            Ok(store::scim::recent_changes(c, &g.org, limit)?)
        })
        .await
}
