//! Verified API keys, kept in process so a request with a known key reads no database.
//!
//! Exactness: `Db` empties the cache after every committed write that does not declare it leaves
//! keys alone, before answering anyone; and a fill that raced with such a write is dropped (the
//! epoch check), so a stale caller can never be put back. Expiry needs no write at all: an entry
//! carries the instant its placeholder's provision expires.

use crate::auth::Caller;
use crate::clock::Millis;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// More distinct live keys than this in use at once, and the cache starts over: memory stays
/// bounded under a flood of different keys.
const MAX_ENTRIES: usize = 100_000;

pub struct Entry {
    pub caller: Caller,
    /// For a placeholder: its pending provision's expiry; the key fails from then on.
    pub valid_until: Option<Millis>,
    /// When this key's use was last noted for `lastUsedAt`.
    pub last_noted: AtomicI64,
}

/// The map's keys are blake3 outputs: already uniformly random, so their first 8 bytes are a
/// perfect hash and SipHash would be wasted work on every request.
#[derive(Default)]
pub struct FirstBytes(u64);

impl Hasher for FirstBytes {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for (i, b) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*b) << (8 * i);
        }
    }
}

type Map = HashMap<[u8; 32], Arc<Entry>, BuildHasherDefault<FirstBytes>>;

#[derive(Default)]
pub struct KeyCache {
    map: RwLock<Map>,
    /// Flushes so far: a fill that saw another number may be stale.
    epoch: AtomicU64,
    /// The database's key epoch (see schema.sql, key_epoch) the entries are consistent with.
    db_epoch: AtomicI64,
}

impl KeyCache {
    pub fn get(&self, hash: &[u8; 32]) -> Option<Arc<Entry>> {
        self.map.read().unwrap_or_else(|p| p.into_inner()).get(hash).cloned()
    }

    /// Read before looking a key up in the database; pass to `insert`.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Caches a database answer unless a flush happened since `seen` (the answer may be stale).
    pub fn insert(&self, hash: [u8; 32], entry: Arc<Entry>, seen: u64) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if self.epoch.load(Ordering::Acquire) != seen {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(hash, entry);
    }

    pub fn flush(&self) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }

    /// Empties the cache after a write that took the database's key epoch to `db_epoch`.
    pub fn flush_to(&self, db_epoch: i64) {
        self.flush();
        self.db_epoch.fetch_max(db_epoch, Ordering::AcqRel);
    }

    /// The database's key epoch as just read: newer than what the entries are consistent with
    /// means some process changed keys, so they all go.
    pub fn observe(&self, db_epoch: i64) {
        if db_epoch > self.db_epoch.load(Ordering::Acquire) {
            self.flush_to(db_epoch);
        }
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn entry() -> Arc<Entry> {
        Arc::new(Entry {
            caller: Caller {
                key_id: 1,
                user_id: "u".into(),
                email: None,
                email_verified: true,
                placeholder: false,
                api_only: false,
                org_id: "o".into(),
                org_name: "O".into(),
                org_domain: None,
                role: Role::Member,
                key_ceiling: Role::Owner,
                is_provisioner: false,
                project_id: "p".into(),
                project_n: 1,
            },
            valid_until: None,
            last_noted: AtomicI64::new(0),
        })
    }

    #[test]
    fn a_fill_that_raced_a_flush_is_dropped() {
        let c = KeyCache::default();
        let seen = c.epoch();
        c.flush();
        c.insert([1; 32], entry(), seen);
        assert!(c.get(&[1; 32]).is_none());
        let seen = c.epoch();
        c.insert([1; 32], entry(), seen);
        assert!(c.get(&[1; 32]).is_some());
        c.flush();
        assert!(c.is_empty());
    }
}
