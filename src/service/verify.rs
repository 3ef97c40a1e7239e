//! Verification: the platform's services check a key (its scope, and with `consume` a debit of
//! its user's credits) the way `keys/verify` answers it.

use super::auth::{note_use, note_verification, resolve, Fault};
use super::authority::{authorize, principal, Act, KeyAction, Principal};
use super::idempotency::{self, Idem};
use super::{credits, Actor, Caller, Ctx};
use crate::db::Tx;
use crate::domain::Balance;
use crate::domain::{Credits, KeyId, KeyRecord, Scope};
use crate::error::{Error, Result};
use crate::store;
use std::sync::Arc;

/// What a verification answers (contract, Verification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyCode {
    Valid,
    NotFound,
    Revoked,
    Expired,
    MissingScope,
    CreditsExceeded,
    UserLimitExceeded,
}

impl VerifyCode {
    const ALL: [VerifyCode; 7] = [
        VerifyCode::Valid,
        VerifyCode::NotFound,
        VerifyCode::Revoked,
        VerifyCode::Expired,
        VerifyCode::MissingScope,
        VerifyCode::CreditsExceeded,
        VerifyCode::UserLimitExceeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VerifyCode::Valid => "valid",
            VerifyCode::NotFound => "not_found",
            VerifyCode::Revoked => "revoked",
            VerifyCode::Expired => "expired",
            VerifyCode::MissingScope => "missing_scope",
            VerifyCode::CreditsExceeded => "credits_exceeded",
            VerifyCode::UserLimitExceeded => "user_limit_exceeded",
        }
    }
}

pub struct VerifyInput {
    pub key: String,
    pub scope: Option<Scope>,
    pub consume: Option<(Credits, Option<String>)>,
    /// Honoured only with `consume` (a plain check changes nothing to repeat).
    pub idem: Option<Idem>,
}

/// What a verification with `consume` records for a replay.
#[derive(serde::Serialize, serde::Deserialize)]
struct Consumed {
    code: String,
    granted: i64,
    used: i64,
}

pub struct Verification {
    pub code: VerifyCode,
    /// The key as found (None: not found, or another organization's).
    pub key: Option<Arc<Caller>>,
    /// The pool after a consumption was asked for (debited or not).
    pub credits: Option<Balance>,
}

/// Checks a key for the platform's services, from the key cache (exact: see `resolve`), and with
/// `consume` debits the key's user in the same write that confirms the key is still live. Every
/// answer about a key of the organization counts toward that key's verifications of the day,
/// valid or refused (the key's page draws them).
pub async fn verify(ctx: &Ctx, caller: &Caller, input: VerifyInput) -> Result<Verification> {
    let v = check(ctx, caller, input).await?;
    if let Some(key) = &v.key {
        note_verification(ctx, key.key, v.code == VerifyCode::Valid, ctx.now());
    }
    Ok(v)
}

/// A key's verifications per UTC day from `since` (a day number): (day, valid, refused), for
/// whoever may see the key (its holder, admins and owners).
pub async fn daily(
    ctx: &Ctx,
    actor: Actor,
    id: &str,
    since: i64,
) -> Result<(KeyRecord, Vec<(i64, i64, i64)>)> {
    let not_found = || Error::NotFound("No API key with that id in this organization.".into());
    let id = KeyId::parse(id).ok_or_else(not_found)?;
    ctx.db
        .read(move |c| {
            let p = principal(c, &actor)?;
            let key = store::keys::get(c, &p.org, &id)?.ok_or_else(not_found)?;
            authorize(&p, Act::OnKey { target: super::keys::target(&key), action: KeyAction::List })?;
            let days = store::verifications::daily(c, key.n, since)?;
            Ok((key, days))
        })
        .await
}

async fn check(ctx: &Ctx, caller: &Caller, input: VerifyInput) -> Result<Verification> {
    let grant = authorize(&Principal::of_key(caller), Act::Verify)?;
    let now = ctx.now();
    // The caller was authenticated just now, which looked for changes; this lookup is as exact.
    let looked = Some(ctx.db.key_generation());
    let found = resolve(ctx, &input.key, looked).await?.filter(|e| e.caller.org_id == caller.org_id);
    let Some(entry) = found else {
        return Ok(Verification { code: VerifyCode::NotFound, key: None, credits: None });
    };
    let key = entry.caller.clone();
    let answer = |code, credits| Ok(Verification { code, key: Some(key.clone()), credits });
    match key.fault(now) {
        None => {}
        Some(Fault::Revoked) => return answer(VerifyCode::Revoked, None),
        Some(Fault::Expired(_) | Fault::ProvisionEnded) => return answer(VerifyCode::Expired, None),
    }
    if input.scope.is_some_and(|s| !key.scopes.has(s)) {
        return answer(VerifyCode::MissingScope, None);
    }
    note_use(ctx, &entry, now);
    let Some((amount, reason)) = input.consume else {
        return answer(VerifyCode::Valid, None);
    };
    if !key.scopes.has(Scope::CreditsConsume) {
        return answer(VerifyCode::MissingScope, None);
    }
    let (n, org, user) = (key.key, key.org_id.clone(), key.user_id.clone());
    let idem = input.idem;
    let low = ctx.rules.credits_low_percent;
    let outcome = ctx
        .db
        .write(move |tx| {
            let work = |tx: &Tx| {
                // The debit happens only while the key is live (one statement); a refusal asks
                // whether the key was revoked since the cache answered, which says why.
                let debit = store::credits::Debit {
                    org: &org,
                    user: &user,
                    amount,
                    reason: reason.as_deref(),
                    key: Some(n),
                };
                let (code, b) = match credits::debit_in(tx, grant.by(), low, &debit, now) {
                    Ok(b) => (VerifyCode::Valid, Some(b)),
                    Err(Error::CreditsExceeded { .. } | Error::UserLimitExceeded { .. })
                        if !store::keys::is_live(tx, n, now)? =>
                    {
                        (VerifyCode::Revoked, None)
                    }
                    Err(Error::CreditsExceeded { .. }) => {
                        (VerifyCode::CreditsExceeded, Some(store::credits::balance(tx, &org)?))
                    }
                    Err(Error::UserLimitExceeded { .. }) => {
                        (VerifyCode::UserLimitExceeded, Some(store::credits::balance(tx, &org)?))
                    }
                    Err(e) => return Err(e),
                };
                let record = Consumed {
                    code: code.as_str().to_string(),
                    granted: b.as_ref().map_or(0, |b| b.granted.thousandths()),
                    used: b.as_ref().map_or(0, |b| b.used.thousandths()),
                };
                Ok((record, (code, b)))
            };
            let replay = |_: &Tx, r: Consumed| {
                let code =
                    VerifyCode::ALL.into_iter().find(|c| c.as_str() == r.code).unwrap_or(VerifyCode::Valid);
                let b = Balance {
                    granted: Credits::from_thousandths(r.granted),
                    used: Credits::from_thousandths(r.used),
                    alert: 0,
                };
                Ok((code, (code != VerifyCode::Revoked).then_some(b)))
            };
            idempotency::once(tx, idem.as_ref(), &grant, "POST /v1/keys/verify", now, work, replay)
        })
        .await?;
    answer(outcome.0, outcome.1)
}
