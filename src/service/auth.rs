//! Who is calling: a presented API key becomes a caller through the key cache, which stays exact
//! (see `keycache`); the keys' uses are noted here and written in bulk for `lastUsedAt`.

use super::Ctx;
use crate::clock::Millis;
use crate::db::DbResult;
use crate::domain::{KeyN, Role};
use crate::error::{Error, Result};
use crate::keycache::KeyCache;
use crate::secrets;
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
    /// When the key stops working by itself, if it does: its expiry, the end of a rotation's
    /// grace period, or (a placeholder's) its provision's expiry, whichever comes first.
    pub fn ends_at(&self) -> Option<Millis> {
        let provision_ends = if self.placeholder { self.pending_until } else { None };
        [self.expires_at, self.revoked_at, provision_ends].into_iter().flatten().min()
    }

    /// When the key ends whatever happens to its holder: its expiry or the end of a rotation's
    /// grace period (a placeholder's provision may still be claimed, which lifts its end).
    pub fn ends_by_itself(&self) -> Option<Millis> {
        [self.expires_at, self.revoked_at].into_iter().flatten().min()
    }

    /// Why the key does not work at `now`, if it does not.
    pub(super) fn fault(&self, now: Millis) -> Option<Fault> {
        if self.member_role.is_none() || self.revoked_at.is_some_and(|at| at <= now) {
            return Some(Fault::Revoked);
        }
        if self.placeholder {
            let until = self.pending_until.unwrap_or(Millis::MIN);
            if now >= until {
                return Some(Fault::ProvisionEnded);
            }
        }
        match self.expires_at {
            Some(at) if now >= at => Some(Fault::Expired(at)),
            _ => None,
        }
    }
}

pub(super) enum Fault {
    /// Revoked (or rotated past its grace period, or its holder left the organization).
    Revoked,
    /// Its own expiry passed.
    Expired(Millis),
    /// An unclaimed provision's key, past the provision's expiry.
    ProvisionEnded,
}

/// A cached key row.
pub(super) struct Entry {
    pub(super) caller: Arc<Caller>,
    /// When this key's use was last noted for `lastUsedAt`.
    last_noted: AtomicI64,
}

/// The key cache, the key uses waiting to be written, and the verifications counted since the
/// last flush: at most one entry per key and UTC day, (valid, refused).
#[derive(Default)]
pub(super) struct KeyState {
    cache: KeyCache<Entry>,
    usage: Mutex<HashMap<KeyN, Millis>>,
    verified: Mutex<HashMap<(KeyN, i64), (i64, i64)>>,
    /// The UTC day whose turn last pruned the stored counts.
    pruned_day: AtomicI64,
}

/// Verification counts are kept this many days.
const VERIFICATIONS_KEPT_DAYS: i64 = 90;

/// Counts one verification of `key` at `now`, valid or refused, for the key's page; written
/// with the key uses (`flush_key_usage`).
pub(super) fn note_verification(ctx: &Ctx, key: KeyN, valid: bool, now: Millis) {
    let day = now.div_euclid(86_400_000);
    let mut counts = ctx.keys.verified.lock().unwrap_or_else(|p| p.into_inner());
    let c = counts.entry((key, day)).or_insert((0, 0));
    if valid {
        c.0 += 1;
    } else {
        c.1 += 1;
    }
}

/// Note a key's use for `lastUsedAt` at most this often; the notes are written in bulk later.
const NOTE_USE_EVERY_MS: Millis = 60_000;

fn invalid_key() -> Error {
    Error::InvalidApiKey("The API key is not valid; check it, or ask an admin for a new one.")
}

/// The key's row, from the cache after checking that no process changed what keys mean since
/// it was cached, else from the database. Revoked and expired keys are cached too (a flood of
/// them reads no database); what they mean is decided at each use, against the clock.
///
/// `looked`: the generation as of a look for other processes' changes made moments ago in this
/// same request (verification: authenticating the caller looked), so it is not made twice; on
/// PostgreSQL each look is a round trip.
pub(super) async fn resolve(ctx: &Ctx, key: &str, looked: Option<u64>) -> Result<Option<Arc<Entry>>> {
    let hash = secrets::hash(key);
    let generation = match looked {
        Some(g) => g,
        None => ctx.db.refresh_keys().await?,
    };
    if let Some(e) = ctx.keys.cache.get(&hash, generation) {
        ctx.metrics.key_cache_hit();
        return Ok(Some(e));
    }
    ctx.metrics.key_cache_miss();
    let Some(row) = ctx.db.read(move |c| store::keys::lookup(c, &hash)).await? else {
        return Ok(None);
    };
    let role = row.member_role.unwrap_or(Role::Member).min(row.ceiling);
    let last_noted = AtomicI64::new(row.last_used_at.unwrap_or(0));
    let entry = Arc::new(Entry { caller: Arc::new(Caller { holder: row, role }), last_noted });
    ctx.keys.cache.insert(hash, entry.clone(), generation, ctx.db.key_generation());
    Ok(Some(entry))
}

pub(super) fn note_use(ctx: &Ctx, entry: &Entry, now: Millis) {
    let last = entry.last_noted.load(Ordering::Relaxed);
    if now - last >= NOTE_USE_EVERY_MS
        && entry.last_noted.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    {
        ctx.keys.usage.lock().unwrap_or_else(|p| p.into_inner()).insert(entry.caller.key, now);
    }
}

/// The one place a key becomes a caller. A revoked key, an expired one, a removed member's, or
/// a placeholder's whose provision is no longer pending and unexpired all fail here, whether or
/// not the sweep has run. This path never writes.
pub async fn authenticate(ctx: &Ctx, key: &str) -> Result<Arc<Caller>> {
    let now = ctx.now();
    let entry = resolve(ctx, key, None).await?.ok_or_else(invalid_key)?;
    match entry.caller.fault(now) {
        None => {}
        Some(Fault::Expired(at)) => return Err(Error::ExpiredApiKey(at)),
        Some(Fault::Revoked | Fault::ProvisionEnded) => return Err(invalid_key()),
    }
    note_use(ctx, &entry, now);
    Ok(entry.caller.clone())
}

/// Keys the cache holds in the current generation (for tests).
pub async fn cached_keys(ctx: &Ctx) -> Result<usize> {
    Ok(ctx.keys.cache.len(ctx.db.refresh_keys().await?))
}

/// Writes the noted key uses (`lastUsedAt`) and the verifications counted since last time in
/// one transaction (counts added to what other servers wrote); the first flush of a UTC day also
/// forgets counts past their 90 days. Returns how many keys' uses were written. Counts a failed
/// write could not store are kept for the next flush.
pub fn flush_key_usage(ctx: &Ctx) -> Result<usize> {
    let uses: Vec<(KeyN, Millis)> =
        std::mem::take(&mut *ctx.keys.usage.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect();
    let counted: Vec<((KeyN, i64), (i64, i64))> =
        std::mem::take(&mut *ctx.keys.verified.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .collect();
    let today = ctx.now().div_euclid(86_400_000);
    let prune = ctx.keys.pruned_day.swap(today, Ordering::Relaxed) != today;
    if uses.is_empty() && counted.is_empty() && !prune {
        return Ok(0);
    }
    let n = uses.len();
    let to_write = counted.clone();
    let written = ctx.db.write_blocking(move |tx| -> DbResult<()> {
        for (key, at) in &uses {
            store::keys::touch(tx, *key, *at)?;
        }
        for ((key, day), (valid, refused)) in &to_write {
            store::verifications::add(tx, *key, *day, *valid, *refused)?;
        }
        if prune {
            store::verifications::prune(tx, today - VERIFICATIONS_KEPT_DAYS)?;
        }
        Ok(())
    });
    if written.is_err() {
        // Put the counts back (with any counted meanwhile), so none is lost to a failed write.
        let mut counts = ctx.keys.verified.lock().unwrap_or_else(|p| p.into_inner());
        for (k, (v, r)) in counted {
            let c = counts.entry(k).or_insert((0, 0));
            c.0 += v;
            c.1 += r;
        }
    }
    written?;
    Ok(n)
}
