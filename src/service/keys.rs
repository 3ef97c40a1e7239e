//! API keys: issuing them (for callers, people and provisions), listing, revoking, rotating and
//! regenerating them.

use super::audit;
use super::author::By;
use super::authority::{authorize, principal, Act, KeyAction, KeyTarget, Principal, Strength};
use super::idempotency::{self, Idem};
use super::{Actor, Caller, Ctx};
use crate::clock::{self, Millis};
use crate::db::Tx;
use crate::domain::KeyRecord;
use crate::domain::{EventType, KeyId, KeyN, OrgId, Page, PageRequest, Role, Scopes, UserId, UserN};
use crate::error::{Error, Result};
use crate::secrets;
use crate::store;

// What the edges and tests named `service::keys::…` before authentication and verification had
// files of their own.
pub use super::auth::{authenticate, cached_keys, flush_key_usage};
pub use super::verify::{verify, Verification, VerifyCode, VerifyInput};

pub(super) use crate::store::keys::KeySpec;

/// A new key, stored as its hash; returns its id and the key (shown once).
pub(super) fn issue_key(tx: &Tx, prefix: &str, spec: &KeySpec, now: Millis) -> Result<(KeyN, KeyId, String)> {
    let key = secrets::new_api_key(prefix)?;
    let id = KeyId::new();
    let new = store::keys::NewKey { id: &id, hash: &key.hash, hint: &key.hint, spec };
    let n = store::keys::insert_key(tx, &new, now)?;
    Ok((n, id, key.secret))
}

/// A new key made for someone (`api_key.created`, with its event): the key as listed and the
/// key itself (shown once).
fn issue_recorded(tx: &Tx, prefix: &str, spec: &KeySpec, by: &By, now: Millis) -> Result<IssuedKey> {
    let (_, id, api_key) = issue_key(tx, prefix, spec, now)?;
    let item = store::keys::get(tx, spec.org, &id)?.ok_or(crate::db::DbError::NoRow)?;
    audit::event(
        tx,
        by,
        spec.org,
        EventType::ApiKeyCreated,
        ("api_key", id.to_string()),
        key_data(&item),
        now,
    )?;
    Ok(IssuedKey { item, api_key })
}

/// Gives an existing key a new secret (same id and everything else); the old secret stops
/// working with this write. For replays of creations whose response was lost.
pub(super) fn reissue(tx: &Tx, prefix: &str, key: KeyN, now: Millis) -> Result<String> {
    let new = secrets::new_api_key(prefix)?;
    if store::keys::replace_secret(tx, key, &new.hash, &new.hint, now)? == 0 {
        return Err(Error::Conflict(
            "idempotency_conflict",
            "What this Idempotency-Key made is gone (cancelled, claimed or deleted); send the request with a new key.".into(),
        ));
    }
    Ok(new.secret)
}

/// Replaces the calling key with a new one for the same user, organization and project, with the
/// same ceiling, name, scopes and expiry (regenerating never raises what a key can do). The old
/// key is revoked in the same transaction, so it fails from the very next request.
pub async fn regenerate(ctx: &Ctx, caller: &Caller) -> Result<String> {
    let grant = authorize(&Principal::of_key(caller), Act::Regenerate)?;
    let now = ctx.now();
    let prefix = ctx.rules.key_prefix.clone();
    let (key, user, org, project, ceiling, name, scopes) = (
        caller.key,
        caller.user_n,
        caller.org_id.clone(),
        caller.project_n,
        caller.ceiling,
        caller.key_name.clone(),
        caller.scopes,
    );
    // Not past the old key's own end (a key in its rotation grace period may regenerate, but
    // what it gets ends with it).
    let expires_at = grant.ceiling.ends_at;
    let (old_id, user_id) = (caller.key_id.clone(), caller.user_id.clone());
    ctx.db
        .write(move |tx| {
            if store::keys::revoke(tx, key, now)? == 0 {
                // Revoked by a concurrent regenerate: that one's key is the live one.
                return Err(Error::InvalidApiKey("This API key was just replaced; use the new one."));
            }
            let spec =
                KeySpec { user, org: &org, project, ceiling, name: name.as_deref(), scopes, expires_at };
            let (_, new_id, api_key) = issue_key(tx, &prefix, &spec, now)?;
            let data =
                audit::data([("userId", user_id.as_str().into()), ("newApiKeyId", new_id.as_str().into())]);
            audit::event(
                tx,
                grant.by(),
                &org,
                EventType::ApiKeyRotated,
                ("api_key", old_id.to_string()),
                data,
                now,
            )?;
            Ok(api_key)
        })
        .await
}

/// Live keys one person may hold in one organization (provisioned and regenerated keys count,
/// but only `POST /v1/keys` is refused at the cap).
pub const MAX_LIVE_KEYS: i64 = 1000;

/// What `POST /v1/keys` asks for.
pub struct NewKeyInput {
    pub name: Option<String>,
    pub expires_in_ms: Option<Millis>,
    pub role: Option<Role>,
    pub scopes: Option<Scopes>,
}

/// A key just made: its listing and the key itself (shown once).
pub struct IssuedKey {
    pub item: KeyRecord,
    pub api_key: String,
}

/// Refuses a new key beyond `MAX_LIVE_KEYS` for one holder in one organization.
fn within_key_cap(tx: &Tx, user: UserN, org: &OrgId, now: Millis) -> Result<()> {
    // Keys are rows: without a cap, one caller could grow the database without end.
    store::keys::lock_holder(tx, user, org)?;
    if store::keys::live_count(tx, user, org, now)? >= MAX_LIVE_KEYS {
        return Err(Error::Conflict(
            "too_many_keys",
            format!("You hold {MAX_LIVE_KEYS} live keys in this organization, the most there may be; revoke some first."),
        ));
    }
    Ok(())
}

/// A new key for the caller's own user and project, acting as at most the caller's role,
/// reaching at most the caller's scopes and ending no later than the caller's key: a key never
/// makes a stronger one (`authority`).
pub async fn create(ctx: &Ctx, caller: &Caller, input: NewKeyInput, idem: Option<Idem>) -> Result<IssuedKey> {
    let now = ctx.now();
    let wanted = Strength {
        role: input.role.unwrap_or(caller.role),
        scopes: input.scopes.unwrap_or(caller.scopes),
        ends_at: input.expires_in_ms.map(|ms| now.saturating_add(ms)),
    };
    let grant = authorize(&Principal::of_key(caller), Act::IssueKey { wanted })?;
    let Strength { role: ceiling, scopes, ends_at: expires_at } = grant.ceiling;
    let prefix = ctx.rules.key_prefix.clone();
    let (user, org, project, name) = (caller.user_n, caller.org_id.clone(), caller.project_n, input.name);
    ctx.db
        .write(move |tx| {
            let work = |tx: &Tx| {
                within_key_cap(tx, user, &org, now)?;
                let spec =
                    KeySpec { user, org: &org, project, ceiling, name: name.as_deref(), scopes, expires_at };
                let issued = issue_recorded(tx, &prefix, &spec, grant.by(), now)?;
                Ok((issued.item.id.clone(), issued))
            };
            let replay = |tx: &Tx, id: KeyId| {
                let item = store::keys::get(tx, &org, &id)?.ok_or_else(|| gone_since("key"))?;
                let api_key = reissue(tx, &prefix, item.n, now)?;
                let item = store::keys::get(tx, &org, &id)?.ok_or(crate::db::DbError::NoRow)?;
                Ok(IssuedKey { item, api_key })
            };
            idempotency::once(tx, idem.as_ref(), &grant, "POST /v1/keys", now, work, replay)
        })
        .await
}

/// A new key for a signed-in person (the dashboard's "Your API keys"), for their own project in
/// the organization, acting as at most their role there, reaching the scopes given (every one
/// when none are), until the expiry given if one is.
pub async fn create_as_person(
    ctx: &Ctx,
    user: &UserId,
    org: &OrgId,
    name: Option<String>,
    expires_in_ms: Option<Millis>,
    scopes: Option<Scopes>,
) -> Result<IssuedKey> {
    let name = match name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        None => None,
        Some(n) => Some(
            crate::domain::DisplayName::parse("name", n, 100)
                .map_err(Error::InvalidField)?
                .as_str()
                .to_string(),
        ),
    };
    let actor = Actor::person(user.clone(), org.clone());
    let (user, org, now, prefix) = (user.clone(), org.clone(), ctx.now(), ctx.rules.key_prefix.clone());
    let expires_at = expires_in_ms.map(|ms| now.saturating_add(ms));
    let scopes = scopes.unwrap_or(Scopes::ALL);
    ctx.db
        .write(move |tx| {
            let p = principal(tx, &actor)?;
            let wanted = Strength { role: p.role(), scopes, ends_at: expires_at };
            let grant = authorize(&p, Act::IssueKey { wanted })?;
            let (user_n, project) = store::projects::first_of(tx, &user, &org)?.ok_or_else(|| {
                Error::NotFound("You have no project in this organization to make a key for.".into())
            })?;
            within_key_cap(tx, user_n, &org, now)?;
            let Strength { role: ceiling, scopes, ends_at: expires_at } = grant.ceiling;
            let spec = KeySpec {
                user: user_n,
                org: &org,
                project,
                ceiling,
                name: name.as_deref(),
                scopes,
                expires_at,
            };
            issue_recorded(tx, &prefix, &spec, grant.by(), now)
        })
        .await
}

/// What the record of a new key says of it (never the key).
fn key_data(item: &KeyRecord) -> serde_json::Map<String, serde_json::Value> {
    let mut data = audit::data([
        ("userId", item.user_id.as_str().into()),
        ("role", item.ceiling.as_str().into()),
        ("scopes", item.scopes.names().into()),
    ]);
    if let Some(name) = &item.name {
        data.insert("name".into(), name.as_str().into());
    }
    if let Some(at) = item.expires_at {
        data.insert("expiresAt".into(), clock::format(at).into());
    }
    data
}

/// A replay whose object was ended since the first request: no fresh secret for it.
pub(super) fn gone_since(what: &str) -> Error {
    Error::Conflict(
        "idempotency_conflict",
        format!("The {what} this Idempotency-Key made has ended since (revoked, cancelled or claimed); send the request again with a new key."),
    )
}

fn key_not_found() -> Error {
    Error::NotFound("No API key with that id in this organization.".into())
}

/// A key as the authority rule weighs it.
/// A key as the authority rule weighs it (pages ask the rule with it what to offer).
pub fn target(item: &KeyRecord) -> KeyTarget<'_> {
    KeyTarget {
        holder: &item.user_id,
        holder_role: item.holder_role,
        key: Strength { role: item.ceiling, scopes: item.scopes, ends_at: item.expires_at },
    }
}

/// The organization's keys for admins and owners (optionally one user's), else the caller's own;
/// newest first.
pub async fn list(
    ctx: &Ctx,
    actor: Actor,
    user: Option<UserId>,
    page: PageRequest,
) -> Result<Page<KeyRecord>> {
    let before = super::row_cursor(&page)?.map(KeyN);
    let limit = page.limit;
    let rows = ctx
        .db
        .read(move |c| {
            let p = principal(c, &actor)?;
            let grant = authorize(&p, Act::ListKeys { of: user.as_ref() })?;
            // Without `userId`: the organization's keys for those who manage it, else one's own.
            let user = match user {
                None if !p.manages_others() => Some(grant.user),
                u => u,
            };
            Ok::<_, Error>(store::keys::list(c, &p.org, user.as_ref(), before, limit + 1)?)
        })
        .await?;
    Ok(Page::from_rows(rows, limit, |k| crate::domain::Cursor::new(vec![k.n.0.to_string()])))
}

/// One key of the organization, for whoever may see it (its holder, admins and owners): what a
/// page names before acting on it.
pub async fn get(ctx: &Ctx, actor: Actor, id: &str) -> Result<KeyRecord> {
    let id = KeyId::parse(id).ok_or_else(key_not_found)?;
    ctx.db
        .read(move |c| {
            let p = principal(c, &actor)?;
            let item = store::keys::get(c, &p.org, &id)?.ok_or_else(key_not_found)?;
            authorize(&p, Act::OnKey { target: target(&item), action: KeyAction::List })?;
            Ok(item)
        })
        .await
}

/// Revokes a key at once: the caller's own, or (admins and owners) any of the organization's.
pub async fn revoke(ctx: &Ctx, actor: Actor, id: &str) -> Result<()> {
    let id = KeyId::parse(id).ok_or_else(key_not_found)?;
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let p = principal(tx, &actor)?;
            let item = store::keys::get(tx, &p.org, &id)?.ok_or_else(key_not_found)?;
            let grant = authorize(&p, Act::OnKey { target: target(&item), action: KeyAction::Revoke })?;
            if store::keys::revoke(tx, item.n, now)? == 0 {
                return Err(Error::KeyRevoked);
            }
            let data = audit::data([("userId", item.user_id.as_str().into())]);
            audit::event(
                tx,
                grant.by(),
                &grant.org,
                EventType::ApiKeyRevoked,
                ("api_key", item.id.to_string()),
                data,
                now,
            )?;
            Ok(())
        })
        .await
}

/// Longest grace period a rotation may give the old key.
pub const MAX_GRACE_MS: Millis = 86_400_000;

/// A new key with the old one's name, role, scopes, project and expiry, at most as strong as
/// the caller (`authority`: never a key of someone stronger, never more than the caller holds,
/// ending no later than the caller's key); the old one keeps working for `grace_ms`, then counts
/// as revoked.
pub async fn rotate(ctx: &Ctx, actor: Actor, id: &str, grace_ms: Millis) -> Result<IssuedKey> {
    let id = KeyId::parse(id).ok_or_else(key_not_found)?;
    let now = ctx.now();
    let prefix = ctx.rules.key_prefix.clone();
    ctx.db
        .write(move |tx| {
            let p = principal(tx, &actor)?;
            let old = store::keys::get(tx, &p.org, &id)?.ok_or_else(key_not_found)?;
            let grant = authorize(&p, Act::OnKey { target: target(&old), action: KeyAction::Rotate })?;
            // Revoked, or rotated already (in its grace period): one replacement per key.
            if old.revoked_at.is_some() {
                return Err(Error::KeyRevoked);
            }
            if old.expires_at.is_some_and(|at| at <= now) {
                return Err(Error::Conflict(
                    "key_expired",
                    "This API key has expired; create a new one.".into(),
                ));
            }
            if store::keys::revoke(tx, old.n, now.saturating_add(grace_ms))? == 0 {
                // Revoked or rotated by a concurrent request on another replica.
                return Err(Error::KeyRevoked);
            }
            let Strength { role: ceiling, scopes, ends_at: expires_at } = grant.ceiling;
            let spec = KeySpec {
                user: old.user_n,
                org: &grant.org,
                project: old.project_n,
                ceiling,
                name: old.name.as_deref(),
                scopes,
                expires_at,
            };
            let (_, new_id, api_key) = issue_key(tx, &prefix, &spec, now)?;
            let item = store::keys::get(tx, &grant.org, &new_id)?.ok_or(crate::db::DbError::NoRow)?;
            let data = audit::data([
                ("userId", old.user_id.as_str().into()),
                ("newApiKeyId", new_id.as_str().into()),
                ("oldKeyWorksUntil", clock::format(now.saturating_add(grace_ms)).into()),
            ]);
            audit::event(
                tx,
                grant.by(),
                &grant.org,
                EventType::ApiKeyRotated,
                ("api_key", old.id.to_string()),
                data,
                now,
            )?;
            Ok(IssuedKey { item, api_key })
        })
        .await
}
