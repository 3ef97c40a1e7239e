//! Verified API keys kept in process, so a request with a known key reads no database.
//!
//! Exactness: every entry is tagged with the key generation (`db::KeyGeneration`) current when
//! its lookup started. The generation moves after every committed write that changes what keys
//! mean (in this process, before the write is answered; in another process, noticed before the
//! cache is consulted), and an entry is trusted only while its generation is current. A fill
//! that raced such a write carries the older generation, so a stale answer is never served.
//! The cache knows nothing about what it stores: the key service decides what an entry is.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

/// More distinct live keys than this in use at once, and the cache starts over: memory stays
/// bounded under a flood of different keys.
const MAX_ENTRIES: usize = 100_000;

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

struct Map<V> {
    /// The generation every entry in `entries` was filled in.
    generation: u64,
    entries: HashMap<[u8; 32], Arc<V>, BuildHasherDefault<FirstBytes>>,
}

pub struct KeyCache<V> {
    map: RwLock<Map<V>>,
}

impl<V> Default for KeyCache<V> {
    fn default() -> Self {
        KeyCache { map: RwLock::new(Map { generation: 0, entries: HashMap::default() }) }
    }
}

impl<V> KeyCache<V> {
    /// The entry for `hash`, if it was filled in generation `current`.
    pub fn get(&self, hash: &[u8; 32], current: u64) -> Option<Arc<V>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        if map.generation != current {
            return None;
        }
        map.entries.get(hash).cloned()
    }

    /// Keeps a database answer looked up in generation `seen`, unless the generation has moved
    /// since (`current`): then the answer may be stale and is not kept.
    pub fn insert(&self, hash: [u8; 32], value: Arc<V>, seen: u64, current: u64) {
        if seen != current {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.generation != current || map.entries.len() >= MAX_ENTRIES {
            map.entries.clear();
            map.generation = current;
        }
        map.entries.insert(hash, value);
    }

    /// Entries of generation `current` (for tests and metrics).
    pub fn len(&self, current: u64) -> usize {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        if map.generation == current {
            map.entries.len()
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_only_in_their_generation() {
        let c = KeyCache::<u32>::default();
        c.insert([1; 32], Arc::new(1), 0, 0);
        assert_eq!(c.get(&[1; 32], 0).as_deref(), Some(&1));
        assert!(c.get(&[1; 32], 1).is_none(), "a change moved the generation: not trusted");
        c.insert([2; 32], Arc::new(2), 0, 1);
        assert!(c.get(&[2; 32], 1).is_none(), "a fill that raced a change is dropped");
        c.insert([2; 32], Arc::new(2), 1, 1);
        assert_eq!(c.len(1), 1, "the old generation's entries are gone");
    }
}
