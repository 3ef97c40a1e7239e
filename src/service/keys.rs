//! API keys: turning a presented key into a caller (through the key cache), issuing keys, and
//! recording their use.

use super::{Authority, Ctx};
use crate::clock::Millis;
use crate::db::{DbResult, Tx};
use crate::domain::{KeyN, OrgId, ProjectN, Role, UserN};
use crate::error::{Error, Result};
use crate::keycache::KeyCache;
use crate::keys as secrets;
use crate::store;
use crate::store::keys::KeyRow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// Who is calling, as their key says: the key's user, organization, project, and the role it
/// acts as (the lesser of the member's role and the key's ceiling).
#[derive(Debug)]
pub struct Caller {
    holder: KeyRow,
    pub role: Role,
}

/// Everything the key's row says (ids, organization, email and whether it is verified, ...).
impl std::ops::Deref for Caller {
    type Target = KeyRow;
    fn deref(&self) -> &KeyRow {
        &self.holder
    }
}

impl Caller {
    pub fn authority(&self) -> Authority {
        Authority {
            user: self.user_id.clone(),
            org: self.org_id.clone(),
            role: self.role,
            is_provisioner: self.is_provisioner,
            placeholder: self.placeholder,
        }
    }
}

/// A cached verification.
struct Entry {
    caller: Arc<Caller>,
    /// For a placeholder: its pending provision's expiry; the key fails from then on.
    valid_until: Option<Millis>,
    /// When this key's use was last noted for `lastUsedAt`.
    last_noted: AtomicI64,
}

/// The key cache and the key uses waiting to be written.
#[derive(Default)]
pub(super) struct KeyState {
    cache: KeyCache<Entry>,
    usage: Mutex<HashMap<KeyN, Millis>>,
}

/// Note a key's use for `lastUsedAt` at most this often; the notes are written in bulk later.
const NOTE_USE_EVERY_MS: Millis = 60_000;

fn invalid_key() -> Error {
    Error::InvalidApiKey("The API key is not valid; check it, or ask an admin for a new one.")
}

/// The one place a key becomes a caller. A revoked key, a deleted user, or a placeholder whose
/// provision is no longer pending and unexpired all fail here, whether or not the sweep has run.
/// Known keys come from the cache, after checking that no process changed what keys mean since
/// they were cached; this path never writes.
pub async fn authenticate(ctx: &Ctx, key: &str) -> Result<Arc<Caller>> {
    let hash = secrets::hash(key);
    let now = ctx.now();
    let generation = ctx.db.refresh_keys().await?;
    let entry = match ctx.keys.cache.get(&hash, generation) {
        Some(e) => e,
        None => {
            let row = ctx.db.read(move |c| store::keys::lookup(c, &hash)).await?.ok_or_else(invalid_key)?;
            let role = row.member_role.min(row.ceiling);
            let caller = Caller { holder: row, role };
            let valid_until = caller.placeholder.then(|| caller.pending_until.unwrap_or(Millis::MIN));
            let last_noted = AtomicI64::new(caller.last_used_at.unwrap_or(0));
            let entry = Arc::new(Entry { caller: Arc::new(caller), valid_until, last_noted });
            ctx.keys.cache.insert(hash, entry.clone(), generation, ctx.db.key_generation());
            entry
        }
    };
    if entry.valid_until.is_some_and(|until| now >= until) {
        return Err(invalid_key());
    }
    let last = entry.last_noted.load(Ordering::Relaxed);
    if now - last >= NOTE_USE_EVERY_MS
        && entry.last_noted.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    {
        ctx.keys.usage.lock().unwrap_or_else(|p| p.into_inner()).insert(entry.caller.key, now);
    }
    Ok(entry.caller.clone())
}

/// Keys the cache holds in the current generation (for tests).
pub async fn cached_keys(ctx: &Ctx) -> Result<usize> {
    Ok(ctx.keys.cache.len(ctx.db.refresh_keys().await?))
}

/// A new key for `user` in `project`, stored as its hash; returns the key (shown once).
pub(super) fn issue(
    tx: &Tx,
    prefix: &str,
    user: UserN,
    org: &OrgId,
    project: ProjectN,
    ceiling: Role,
    now: Millis,
) -> Result<String> {
    let key = secrets::new_api_key(prefix)?;
    let new = store::keys::NewKey { hash: &key.hash, hint: &key.hint, user, org, project, ceiling };
    store::keys::insert_key(tx, &new, now)?;
    Ok(key.secret)
}

/// Replaces the calling key with a new one for the same user, organization and project, with the
/// same ceiling (regenerating never raises what a key can do). The old key is revoked in the same
/// transaction, so it fails from the very next request.
pub async fn regenerate(ctx: &Ctx, caller: &Caller) -> Result<String> {
    let now = ctx.now();
    let prefix = ctx.rules.key_prefix.clone();
    let (key, user, org, project, ceiling) =
        (caller.key, caller.user_n, caller.org_id.clone(), caller.project_n, caller.ceiling);
    ctx.db
        .write(move |tx| {
            if store::keys::revoke(tx, key, now)? == 0 {
                // Revoked by a concurrent regenerate: that one's key is the live one.
                return Err(Error::InvalidApiKey("This API key was just replaced; use the new one."));
            }
            tx.keys_changed();
            issue(tx, &prefix, user, &org, project, ceiling, now)
        })
        .await
}

/// Writes the noted key uses (`lastUsedAt`) in one transaction; returns how many.
pub fn flush_key_usage(ctx: &Ctx) -> Result<usize> {
    let uses: Vec<(KeyN, Millis)> =
        std::mem::take(&mut *ctx.keys.usage.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect();
    if uses.is_empty() {
        return Ok(0);
    }
    let n = uses.len();
    ctx.db.write_blocking(move |tx| -> DbResult<()> {
        for (key, at) in &uses {
            store::keys::touch(tx, *key, *at)?;
        }
        Ok(())
    })?;
    Ok(n)
}
