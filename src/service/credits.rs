//! Credits: one pool per organization, shared by all of its users, and the ledger of every grant
//! and consumption.

use super::audit::{self, By};
use super::authority::{authorize, principal, Act, Principal};
use super::idempotency::{self, Idem};
use super::{resolve_org, Actor, Caller, Ctx};
use crate::clock::Millis;
use crate::db::Tx;
use crate::domain::{Balance, LedgerEntry};
use crate::domain::{Credits, Cursor, EventType, LimitPeriod, OrgId, Page, PageRequest, UserId};
use crate::error::{Error, Result};
use crate::store;
use crate::store::credits::{Debit, LimitRow};

pub async fn balance(ctx: &Ctx, caller: &Caller) -> Result<Balance> {
    authorize(&Principal::of_key(caller), Act::ReadBalance)?;
    let org = caller.org_id.clone();
    ctx.db.read(move |c| Ok(store::credits::balance(c, &org)?)).await
}

/// Debits the pool and records it against the caller, or refuses (402) and debits nothing when
/// the pool does not cover the whole amount.
pub async fn consume(
    ctx: &Ctx,
    caller: &Caller,
    amount: Credits,
    reason: Option<String>,
    idem: Option<Idem>,
) -> Result<Balance> {
    let grant = authorize(&Principal::of_key(caller), Act::Consume)?;
    let (org, user, now) = (caller.org_id.clone(), caller.user_id.clone(), ctx.now());
    let low = ctx.rules.credits_low_percent;
    ctx.db
        .write(move |tx| {
            let work = |tx: &Tx| {
                let debit = Debit { org: &org, user: &user, amount, reason: reason.as_deref(), key: None };
                debit_in(tx, grant.by(), low, &debit, now).map(|b| (Kept::of(&b), b))
            };
            let owner = &grant;
            idempotency::once(tx, idem.as_ref(), owner, "POST /api/v1/credits/consume", now, work, |_, k| {
                Ok(k.balance())
            })
        })
        .await
}

/// A balance as an idempotent debit or grant answered it, kept to answer a replay the same way.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    granted: i64,
    used: i64,
}

impl Kept {
    fn of(b: &Balance) -> Kept {
        Kept { granted: b.granted.thousandths(), used: b.used.thousandths() }
    }

    fn balance(&self) -> Balance {
        Balance {
            granted: Credits::from_thousandths(self.granted),
            used: Credits::from_thousandths(self.used),
            alert: 0,
        }
    }
}

/// Debits the pool in `tx` for `user` (with `key`: only while that key is live, else it
/// answers as if the pool did not cover it; the caller tells which), or refuses and debits
/// nothing: when the user's credit
/// limit (if any) has no room for the whole amount in the current window (402
/// `user_limit_exceeded`), or the pool does not cover it (402 `credits_exceeded`). The one debit
/// path: consumption and key verification both come here. On a refusal nothing it wrote stays,
/// even if the caller commits (verification answers a refusal, it does not fail).
pub(super) fn debit_in(tx: &Tx, by: &By, low_percent: u32, debit: &Debit, now: Millis) -> Result<Balance> {
    let Debit { org, user, amount, .. } = *debit;
    let counted = match store::credits::limit_of(tx, org, user)? {
        None => false,
        Some(l) => {
            let period = period_of(&l)?;
            let window = period.window_start(now);
            if !store::credits::take_from_limit(tx, org, user, window, amount)? {
                let used = if l.window_start == window { l.used.thousandths() } else { 0 };
                let left = Credits::from_thousandths((l.amount.thousandths() - used).max(0));
                return Err(Error::UserLimitExceeded {
                    limit: l.amount,
                    period: period.as_str(),
                    left,
                    asked: amount,
                });
            }
            true
        }
    };
    let ok = store::credits::consume(tx, debit, now)?;
    let b = store::credits::balance(tx, org)?;
    if !ok {
        if counted {
            store::credits::give_back_to_limit(tx, org, user, amount)?;
        }
        return Err(Error::CreditsExceeded { left: b.left(), asked: amount });
    }
    alert_in(tx, by, org, &b, low_percent, now)?;
    Ok(b)
}

/// How low a pool is: 0 fine, 1 below `low_percent` of what was granted, 2 empty. A pool never
/// granted anything is fine: there is nothing to run low of.
fn alert_level(b: &Balance, low_percent: u32) -> i64 {
    let (granted, left) = (i128::from(b.granted.thousandths()), i128::from(b.left().thousandths()));
    if granted == 0 {
        0
    } else if left <= 0 {
        2
    } else if left * 100 < granted * i128::from(low_percent) {
        1
    } else {
        0
    }
}

/// Records the pool's level when it changed, in `tx`: going down fires `credits.low` and then
/// `credits.depleted` once per crossing; going back up (a grant) re-arms them.
fn alert_in(tx: &Tx, by: &By, org: &OrgId, b: &Balance, low_percent: u32, now: Millis) -> Result<()> {
    let level = alert_level(b, low_percent);
    if level == b.alert {
        return Ok(());
    }
    store::credits::set_alert(tx, org, level)?;
    for crossed in (b.alert + 1)..=level {
        let kind = if crossed == 1 { EventType::CreditsLow } else { EventType::CreditsDepleted };
        let data = audit::data([
            ("balance", b.left().json()),
            ("granted", b.granted.json()),
            ("thresholdPercent", low_percent.into()),
        ]);
        audit::event(tx, by, org, kind, ("organization", org.to_string()), data, now)?;
    }
    Ok(())
}

fn period_of(l: &LimitRow) -> Result<LimitPeriod> {
    LimitPeriod::parse(&l.period).ok_or_else(|| {
        Error::Internal(format!("credit limit period '{}' is not one the schema allows", l.period))
    })
}

/// A user's credit limit as of now: `used` is what counts in the current window (0 once a
/// window has rolled over, though the row holds the last one's until the next debit).
pub struct Limit {
    pub period: LimitPeriod,
    pub amount: Credits,
    pub used: Credits,
    /// The start of the current window; none for `total`.
    pub window_start: Option<Millis>,
}

impl Limit {
    fn current(l: &LimitRow, now: Millis) -> Result<Limit> {
        let period = period_of(l)?;
        let window = period.window_start(now);
        let used = if l.window_start == window { l.used } else { Credits::from_thousandths(0) };
        let window_start = (period != LimitPeriod::Total).then_some(window);
        Ok(Limit { period, amount: l.amount, used, window_start })
    }
}

/// One user's consumption from the pool, and their limit.
pub struct Usage {
    pub user_id: UserId,
    pub email: Option<String>,
    pub used: Credits,
    pub limit: Option<Limit>,
}

/// Consumption per user (everyone who consumed or has a limit), a page at a time in user id
/// order, and the pool's total use (owners, admins, provisioners).
pub async fn usage(ctx: &Ctx, actor: Actor, page: PageRequest) -> Result<(Page<Usage>, Balance)> {
    let after = match &page.after {
        None => None,
        Some(c) => Some(c.text(0, 1).and_then(UserId::parse).ok_or(Error::InvalidCursor)?),
    };
    let (limit, now) = (page.limit, ctx.now());
    let (rows, balance) = ctx
        .db
        .read(move |c| {
            let auth = authorize(&principal(c, &actor)?, Act::ReadUsage)?;
            Ok::<_, Error>((
                store::credits::usage(c, &auth.org, after.as_ref(), limit + 1)?,
                store::credits::balance(c, &auth.org)?,
            ))
        })
        .await?;
    let page = Page::from_rows(rows, limit, |r| Cursor::new(vec![r.user_id.to_string()]));
    let mut items = Vec::with_capacity(page.items.len());
    for r in page.items {
        let limit = r.limit.as_ref().map(|l| Limit::current(l, now)).transpose()?;
        items.push(Usage { user_id: r.user_id, email: r.email, used: r.used, limit });
    }
    Ok((Page { items, next: page.next }, balance))
}

/// The organization's ledger, newest first, optionally one user's (owners, admins,
/// provisioners). A `user` that is not a user id is refused (400), not answered with nothing.
pub async fn ledger(
    ctx: &Ctx,
    actor: Actor,
    user: Option<&str>,
    page: PageRequest,
) -> Result<Page<LedgerEntry>> {
    let user = user
        .map(|u| {
            UserId::parse(u).ok_or_else(|| Error::InvalidField("'userId' must be a user id (a UUID).".into()))
        })
        .transpose()?;
    let before = super::row_cursor(&page)?;
    let limit = page.limit;
    let rows = ctx
        .db
        .read(move |c| {
            let auth = authorize(&principal(c, &actor)?, Act::ReadUsage)?;
            Ok::<_, Error>(store::credits::ledger(c, &auth.org, user.as_ref(), before, limit + 1)?)
        })
        .await?;
    Ok(Page::from_rows(rows, limit, |r| Cursor::new(vec![r.id.to_string()])))
}

/// What one user (None: a user since deleted, or a grant without one) consumed on one UTC day
/// (days since the epoch).
pub struct DailyUse {
    pub user_id: Option<UserId>,
    pub day: i64,
    pub used: Credits,
}

/// The credits page's numbers beyond a page of the ledger: what was consumed per user and
/// UTC day since `since`, and how many entries the ledger holds (owners, admins, provisioners).
pub async fn daily_use(ctx: &Ctx, actor: Actor, since: Millis) -> Result<(Vec<DailyUse>, i64)> {
    ctx.db
        .read(move |c| {
            let auth = authorize(&principal(c, &actor)?, Act::ReadUsage)?;
            let days = store::credits::daily_use(c, &auth.org, since)?
                .into_iter()
                .map(|(user_id, day, used)| DailyUse { user_id, day, used })
                .collect();
            Ok((days, store::credits::ledger_size(c, &auth.org)?))
        })
        .await
}

/// Caps what one member may consume from the pool per UTC day, UTC month or in total (owners and
/// admins, with a key holding every scope); `None` removes the cap. A new cap counts what the
/// member already consumed in the current window, so one set mid-month covers the whole month.
pub async fn set_limit(
    ctx: &Ctx,
    actor: Actor,
    user: &str,
    limit: Option<(Credits, LimitPeriod)>,
) -> Result<(UserId, Option<Limit>)> {
    let user = UserId::parse(user);
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let p = principal(tx, &actor)?;
            let not_member = || Error::NotFound("No member of this organization has that user id.".into());
            let user = user.ok_or_else(not_member)?;
            // Whether the caller may manage the organization's limits at all comes first: a
            // member is told so, not whether someone is a member.
            authorize(&p, Act::SetCreditLimit { target_role: crate::domain::Role::Member })?;
            let target = store::memberships::membership(tx, &user, &p.org)?.ok_or_else(not_member)?;
            let auth = authorize(&p, Act::SetCreditLimit { target_role: target.role })?;
            let author = auth.by();
            let data = match &limit {
                Some((amount, period)) => {
                    audit::data([("amount", amount.json()), ("period", period.as_str().into())])
                }
                None => audit::data([("amount", serde_json::Value::Null)]),
            };
            audit::only(tx, author, &auth.org, "credits.limit_set", ("user", user.to_string()), data, now)?;
            let Some((amount, period)) = limit else {
                store::credits::remove_limit(tx, &auth.org, &user)?;
                return Ok((user, None));
            };
            let window_start = period.window_start(now);
            let used = store::credits::consumed_since(tx, &auth.org, &user, window_start)?;
            let row = LimitRow { period: period.as_str().to_string(), amount, used, window_start };
            store::credits::set_limit(tx, &auth.org, &user, &row)?;
            let limit = Limit::current(&row, now)?;
            Ok((user, Some(limit)))
        })
        .await
}

/// Adds to the pool in `tx`; 409 when it would go over the largest amount a pool can hold.
pub(super) fn grant_in(
    tx: &Tx,
    author: &By,
    low_percent: u32,
    org: &OrgId,
    amount: Credits,
    reason: Option<&str>,
    now: Millis,
) -> Result<Balance> {
    // The ledger names the person who granted (none for an operator).
    if !store::credits::grant(tx, org, author.user(), amount, reason, now)? {
        // Valid on its own; what stands in the way is what the pool already holds.
        return Err(Error::PoolFull);
    }
    let b = store::credits::balance(tx, org)?;
    let mut data = audit::data([("amount", amount.json()), ("balance", b.left().json())]);
    if let Some(r) = reason {
        data.insert("reason".into(), r.into());
    }
    audit::event(tx, author, org, EventType::CreditsGranted, ("organization", org.to_string()), data, now)?;
    // A grant never lowers the level; the percentage used is recomputed (it may re-arm).
    alert_in(tx, author, org, &b, low_percent, now)?;
    Ok(b)
}

/// An owner grants credits to their organization's pool.
pub async fn grant(
    ctx: &Ctx,
    actor: Actor,
    amount: Credits,
    reason: Option<String>,
    idem: Option<Idem>,
) -> Result<Balance> {
    let now = ctx.now();
    let low = ctx.rules.credits_low_percent;
    ctx.db
        .write(move |tx| {
            let auth = authorize(&principal(tx, &actor)?, Act::GrantCredits)?;
            let work = |tx: &Tx| {
                grant_in(tx, auth.by(), low, &auth.org, amount, reason.as_deref(), now)
                    .map(|b| (Kept::of(&b), b))
            };
            idempotency::once(tx, idem.as_ref(), &auth, "POST /api/v1/admin/credits", now, work, |_, k| {
                Ok(k.balance())
            })
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
    let (now, low) = (ctx.now(), ctx.rules.credits_low_percent);
    ctx.db
        .write(move |tx| {
            let org = resolve_org(tx, &org)?;
            grant_in(tx, &By::operator(), low, &org, amount, reason.as_deref(), now)
        })
        .await
}
