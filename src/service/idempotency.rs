//! `Idempotency-Key` (contract, Idempotency): the first request with a key does the work and
//! records, in the same transaction, what a replay needs — never a secret: creations record the
//! ids of what they made, and a replay issues fresh secrets for those same objects.

use super::authority::Grant;
use crate::clock::Millis;
use crate::db::Tx;
use crate::domain::IdempotencyKey;
use crate::error::{Error, Result};
use crate::store;
use serde::{de::DeserializeOwned, Serialize};

/// A key is honoured this long.
pub const KEEP_MS: Millis = 24 * 3_600_000;

/// The header's key and the request it came with (the hash of its parsed body).
#[derive(Clone, Debug)]
pub struct Idem {
    pub key: IdempotencyKey,
    pub body_hash: [u8; 32],
}

/// Runs `work` once per (credential, route, key) — `owner` is the grant's
/// `idempotency_owner`: a record answers only the key (or session) that made it, in its
/// organization, never another credential of the same person (CONTRACT part three). The first time its record is kept and `fresh` is
/// returned; a repeat with the same body gets `replay(record)` instead, a repeat with another
/// body 409 `idempotency_conflict`. Without a key, `work` simply runs.
pub(super) fn once<R: Serialize + DeserializeOwned, T>(
    tx: &Tx,
    idem: Option<&Idem>,
    grant: &Grant,
    route: &str,
    now: Millis,
    work: impl FnOnce(&Tx) -> Result<(R, T)>,
    replay: impl FnOnce(&Tx, R) -> Result<T>,
) -> Result<T> {
    let Some(idem) = idem else {
        return Ok(work(tx)?.1);
    };
    let key = idem.key.as_str();
    let owner = grant.idempotency_owner.as_str();
    // A record filed by person before schema 7: its outcome is nobody's to replay now, and
    // doing the work again could do it twice.
    let legacy = format!("user:{}", grant.user);
    if store::idempotency::recall(tx, &legacy, route, key)?.is_some() {
        return Err(Error::IdempotencyConflict);
    }
    if store::idempotency::take(tx, owner, route, key, &idem.body_hash, now, now - KEEP_MS)? {
        let (record, out) = work(tx)?;
        let text = serde_json::to_string(&record).map_err(|e| Error::Internal(e.to_string()))?;
        store::idempotency::finish(tx, owner, route, key, &text)?;
        return Ok(out);
    }
    let (hash, text) = store::idempotency::recall(tx, owner, route, key)?.ok_or(crate::db::DbError::NoRow)?;
    if hash != idem.body_hash {
        return Err(Error::IdempotencyConflict);
    }
    let record =
        serde_json::from_str(&text).map_err(|e| Error::Internal(format!("idempotency record: {e}")))?;
    replay(tx, record)
}
