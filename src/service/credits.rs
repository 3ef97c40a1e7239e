//! Credits: one pool per organization, shared by all of its users, and the ledger of every grant
//! and consumption.

use super::{authority, resolve_org, Actor, Caller, Ctx};
use crate::clock::Millis;
use crate::db::Tx;
use crate::domain::{Credits, OrgId, Scope, UserId};
use crate::error::{Error, Result};
use crate::store;
use crate::store::credits::{Balance, UsageRow};

pub async fn balance(ctx: &Ctx, caller: &Caller) -> Result<Balance> {
    caller.authority().require_scope(Scope::CreditsRead)?;
    let org = caller.org_id.clone();
    ctx.db.read(move |c| Ok(store::credits::balance(c, &org)?)).await
}

/// Debits the pool and records it against the caller, or refuses (402) and debits nothing when
/// the pool does not cover the whole amount.
pub async fn consume(ctx: &Ctx, caller: &Caller, amount: Credits, reason: Option<String>) -> Result<Balance> {
    caller.authority().require_scope(Scope::CreditsConsume)?;
    let (org, user, now) = (caller.org_id.clone(), caller.user_id.clone(), ctx.now());
    ctx.db.write(move |tx| debit_in(tx, &org, &user, amount, reason.as_deref(), now)).await
}

/// Debits the pool in `tx` for `user`, or refuses and debits nothing.
pub(super) fn debit_in(
    tx: &Tx,
    org: &OrgId,
    user: &UserId,
    amount: Credits,
    reason: Option<&str>,
    now: Millis,
) -> Result<Balance> {
    let ok = store::credits::consume(tx, org, user, amount, reason, now)?;
    let b = store::credits::balance(tx, org)?;
    if !ok {
        return Err(Error::CreditsExceeded { left: b.left(), asked: amount });
    }
    Ok(b)
}

/// Consumption per user, largest first, and the pool's total use (owners, admins, provisioners).
pub async fn usage(ctx: &Ctx, caller: &Caller) -> Result<(Vec<UsageRow>, Balance)> {
    let auth = caller.authority();
    auth.require_scope(Scope::CreditsRead)?;
    if auth.placeholder || !(auth.role.is_admin() || auth.is_provisioner) {
        return Err(Error::InsufficientRole(
            "Usage is visible to owners, admins and provisioners only.".into(),
        ));
    }
    let org = caller.org_id.clone();
    ctx.db.read(move |c| Ok((store::credits::usage(c, &org)?, store::credits::balance(c, &org)?))).await
}

/// Adds to the pool in `tx`; 409 when it would go over the largest amount a pool can hold.
pub(super) fn grant_in(
    tx: &Tx,
    org: &OrgId,
    by: Option<&UserId>,
    amount: Credits,
    reason: Option<&str>,
    now: Millis,
) -> Result<Balance> {
    if !store::credits::grant(tx, org, by, amount, reason, now)? {
        // Valid on its own; what stands in the way is what the pool already holds.
        return Err(Error::PoolFull);
    }
    Ok(store::credits::balance(tx, org)?)
}

/// An owner grants credits to their organization's pool.
pub async fn grant(ctx: &Ctx, actor: Actor, amount: Credits, reason: Option<String>) -> Result<Balance> {
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let auth = authority(tx, &actor)?;
            auth.require_every_scope()?;
            auth.require_owner("grant credits")?;
            grant_in(tx, &auth.org, Some(&auth.user), amount, reason.as_deref(), now)
        })
        .await
}

/// An operator grants credits to an organization given by id, domain or name (command line).
pub async fn grant_by_operator(
    ctx: &Ctx,
    org: String,
    amount: Credits,
    reason: Option<String>,
) -> Result<Balance> {
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let org = resolve_org(tx, &org)?;
            grant_in(tx, &org, None, amount, reason.as_deref(), now)
        })
        .await
}
