//! Rate limits and the log-in throttle. One process (SQLite) keeps them in memory; several
//! replicas (PostgreSQL) keep them in the database, so that two replicas do not double a limit
//! nor halve a throttle.

use super::{Client, Ctx};
use crate::clock::Millis;
use crate::db::{Engine, Tx};
use crate::domain::UserId;
use crate::error::{Error, Result};
use crate::ratelimit::RateLimit;
use crate::store;
use std::collections::HashMap;
use std::sync::Mutex;

pub(super) struct Limits {
    provision_rate: u32,
    form_rate: u32,
    /// In memory: when this process is the only one serving its database.
    memory: Option<Memory>,
}

struct Memory {
    /// Per person (whatever key or page they use).
    provisions: RateLimit,
    /// Per client address: four times the per-person rate, so several people behind one address
    /// are not starved by one another, while one address still cannot flood.
    provisions_per_client: RateLimit,
    /// Per sign-in form and client address.
    forms: RateLimit,
    throttle: LoginThrottle,
}

impl Limits {
    pub(super) fn new(engine: Engine, provision_rate: u32, form_rate: u32) -> Limits {
        let memory = (engine == Engine::Sqlite).then(|| Memory {
            provisions: RateLimit::new(provision_rate),
            provisions_per_client: RateLimit::new(provision_rate.saturating_mul(4)),
            forms: RateLimit::new(form_rate),
            throttle: LoginThrottle::default(),
        });
        Limits { provision_rate, form_rate, memory }
    }
}

/// Whose budget a token bucket is. Each part is ours (a form's name, a user id) or a parsed client
/// address, and each kind has its own prefix, so no two buckets share a key (in memory, or in the
/// one table replicas share).
enum Bucket<'a> {
    /// A sign-in form (a name in our code, without ':') from one client address.
    Form(&'static str, &'a Client),
    User(&'a UserId),
    Address(&'a Client),
}

impl Bucket<'_> {
    fn key(&self) -> String {
        match self {
            Bucket::Form(form, client) => {
                debug_assert!(!form.contains(':'), "a form's name ends at the first ':'");
                format!("form:{form}:{}", client.ip)
            }
            Bucket::User(person) => format!("user:{person}"),
            Bucket::Address(client) => format!("ip:{}", client.ip),
        }
    }
}

/// A token bucket of `per_minute` in the database; Err with the seconds to wait when empty.
fn take_shared(tx: &Tx, key: &str, per_minute: u32, now: Millis) -> Result<()> {
    if per_minute == 0 {
        return Ok(());
    }
    let cap = f64::from(per_minute);
    let per_ms = cap / 60_000.0;
    match store::limits::take(tx, key, cap, per_ms, now)? {
        None => Ok(()),
        Some(left) => Err(Error::RateLimited(((1.0 - left) / per_ms / 1000.0).ceil().max(1.0) as u64)),
    }
}

impl Ctx {
    /// One more try at a sign-in form (`form` names it) from `client`, or the seconds to wait.
    pub async fn allow_form(&self, form: &'static str, client: &Client) -> Result<()> {
        let key = Bucket::Form(form, client).key();
        let now = self.now();
        match &self.limits.memory {
            Some(m) => m.forms.take(&key, now).map_err(Error::RateLimited),
            None => {
                let rate = self.limits.form_rate;
                self.db.write(move |tx| take_shared(tx, &key, rate, now)).await
            }
        }
    }
}

/// Counts one provision against the person and the client address, or says when to retry.
/// Nothing is spent when either is out.
pub(super) async fn allow_provision(ctx: &Ctx, person: &UserId, client: &Client) -> Result<()> {
    let (who, ip, now) = (Bucket::User(person).key(), Bucket::Address(client).key(), ctx.now());
    match &ctx.limits.memory {
        Some(m) => {
            m.provisions.peek(&who, now).map_err(Error::RateLimited)?;
            m.provisions_per_client.peek(&ip, now).map_err(Error::RateLimited)?;
            m.provisions.take(&who, now).map_err(Error::RateLimited)?;
            m.provisions_per_client.take(&ip, now).map_err(Error::RateLimited)
        }
        None => {
            let rate = ctx.limits.provision_rate;
            // One transaction: when the address is out, the person's token is not spent.
            ctx.db
                .write(move |tx| {
                    take_shared(tx, &who, rate, now)?;
                    take_shared(tx, &ip, rate.saturating_mul(4), now)
                })
                .await
        }
    }
}

/// Milliseconds `client` must wait before trying `address` again, or None when it may now.
pub(super) async fn login_wait(ctx: &Ctx, address: &str, client: &str) -> Result<Option<Millis>> {
    let now = ctx.now();
    if let Some(m) = &ctx.limits.memory {
        return Ok(m.throttle.wait(address, client, now));
    }
    let (pair_key, address_key) = shared_keys(address, client);
    let (for_pair, for_address) = ctx
        .db
        .read(move |c| {
            Ok::<_, Error>((
                store::limits::failures(c, &pair_key)?,
                store::limits::failures(c, &address_key)?,
            ))
        })
        .await?;
    let wait = |row: Option<(i64, Millis)>, free| {
        row.and_then(|(n, last)| wait_after(u32::try_from(n).unwrap_or(u32::MAX), free, last, now))
    };
    Ok(wait(for_pair, FREE_PER_CLIENT).max(wait(for_address, FREE_PER_ADDRESS)))
}

pub(super) async fn login_failed(ctx: &Ctx, address: &str, client: &str) -> Result<()> {
    let now = ctx.now();
    if let Some(m) = &ctx.limits.memory {
        m.throttle.failed(address, client, now);
        return Ok(());
    }
    let (pair_key, address_key) = shared_keys(address, client);
    ctx.db
        .write(move |tx| {
            store::limits::add_failure(tx, &pair_key, now)?;
            Ok::<_, Error>(store::limits::add_failure(tx, &address_key, now)?)
        })
        .await
}

pub(super) async fn login_succeeded(ctx: &Ctx, address: &str, client: &str) -> Result<()> {
    if let Some(m) = &ctx.limits.memory {
        m.throttle.succeeded(address, client);
        return Ok(());
    }
    let (pair_key, address_key) = shared_keys(address, client);
    ctx.db
        .write(move |tx| {
            store::limits::clear_failures(tx, &pair_key)?;
            Ok::<_, Error>(store::limits::clear_failures(tx, &address_key)?)
        })
        .await
}

/// Forgets what has not been touched for an hour (the cleanup job).
pub(super) fn forget_idle(tx: &Tx, now: Millis) -> Result<()> {
    Ok(store::limits::delete_idle(tx, now - 3_600_000)?)
}

/// Slows down password guessing without letting a stranger lock anyone out. Failures count per
/// address *and client*: after a few from one client, that client waits before its next try for
/// that address, twice as long each time (up to 15 minutes), while the account's owner, trying
/// from elsewhere, is not held up. Failures per address from all clients together have a much
/// higher allowance, so guessing spread over many clients still slows down. A success clears
/// both counts.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<Failures, (u32, Millis)>>,
}

/// Whose failures a count holds. A typed address is anything at all (any length, any
/// character), so counts are told apart by their kind, never by a joined string: no address,
/// however crafted, names another address's count from one client.
#[derive(Hash, PartialEq, Eq)]
enum Failures {
    /// One address from one client.
    Pair { address: String, client: String },
    /// One address from all clients together.
    Address(String),
}

impl Failures {
    fn pair(address: &str, client: &str) -> Failures {
        Failures::Pair { address: address.to_string(), client: client.to_string() }
    }

    fn address(address: &str) -> Failures {
        Failures::Address(address.to_string())
    }
}

/// Free failures for one address from one client.
const FREE_PER_CLIENT: u32 = 5;
/// Free failures for one address from all clients together.
const FREE_PER_ADDRESS: u32 = 50;
const MAX_WAIT_MS: Millis = 15 * 60_000;
/// Beyond this many tracked entries, those idle for an hour are dropped.
const MAX_TRACKED: usize = 100_000;

/// The database's names for an address's failures from one client, and from all: hashed,
/// because the address is whatever was typed into the form (any length, any character). The
/// pair's hash covers the address's length before the address and the client, so two different
/// pairs never hash the same input; the prefixes keep the two kinds apart.
fn shared_keys(address: &str, client: &str) -> (String, String) {
    let mut pair = blake3::Hasher::new();
    pair.update(&(address.len() as u64).to_le_bytes()).update(address.as_bytes()).update(client.as_bytes());
    (
        format!("pair:{}", pair.finalize().to_hex()),
        format!("address:{}", blake3::hash(address.as_bytes()).to_hex()),
    )
}

fn wait_after(failures: u32, free: u32, last: Millis, now: Millis) -> Option<Millis> {
    if failures < free {
        return None;
    }
    let wait = (1000_i64 << (failures - free).min(20)).min(MAX_WAIT_MS);
    let left = last + wait - now;
    (left > 0).then_some(left)
}

impl LoginThrottle {
    /// Milliseconds `client` must wait before trying `address` again, or None when it may now.
    pub fn wait(&self, address: &str, client: &str, now: Millis) -> Option<Millis> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let after = |key: Failures, free| map.get(&key).and_then(|&(n, last)| wait_after(n, free, last, now));
        let for_pair = after(Failures::pair(address, client), FREE_PER_CLIENT);
        let for_address = after(Failures::address(address), FREE_PER_ADDRESS);
        for_pair.max(for_address)
    }

    pub fn failed(&self, address: &str, client: &str, now: Millis) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, last)| now - *last < 3_600_000);
        }
        for key in [Failures::pair(address, client), Failures::address(address)] {
            let e = map.entry(key).or_insert((0, now));
            e.0 += 1;
            e.1 = now;
        }
    }

    pub fn succeeded(&self, address: &str, client: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Failures::pair(address, client));
        map.remove(&Failures::address(address));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_five_failures_from_one_client_and_reset_on_success() {
        let t = LoginThrottle::default();
        for i in 0..5 {
            assert_eq!(t.wait("a", "ip1", 0), None, "try {i} is free");
            t.failed("a", "ip1", 0);
        }
        assert_eq!(t.wait("a", "ip1", 0), Some(1000));
        assert_eq!(t.wait("a", "ip1", 1000), None);
        t.failed("a", "ip1", 1000);
        assert_eq!(t.wait("a", "ip1", 1000), Some(2000));
        assert_eq!(t.wait("b", "ip1", 1000), None, "per address");
        assert_eq!(t.wait("a", "ip2", 1000), None, "another client is not held up");
        t.succeeded("a", "ip1");
        assert_eq!(t.wait("a", "ip1", 1000), None);
    }

    #[test]
    fn many_clients_together_slow_down_one_address() {
        let t = LoginThrottle::default();
        for i in 0..FREE_PER_ADDRESS {
            t.failed("a", &format!("ip{i}"), 0);
        }
        assert_eq!(t.wait("a", "fresh", 0), Some(1000));
        assert_eq!(t.wait("b", "fresh", 0), None);
    }

    #[test]
    fn no_address_names_another_count() {
        let t = LoginThrottle::default();
        for i in 0..12 {
            t.failed("pair:a\u{0}ip1", &format!("ip{i}"), 0);
            t.failed("a\u{0}ip1", "x", 0);
        }
        assert_eq!(t.wait("a", "ip1", 0), None);
        assert_eq!(t.wait("a", "ip1\u{0}x", 0), None);
        // In the database: where the address ends is part of the pair's key.
        assert_ne!(shared_keys("a\u{0}b", "c").0, shared_keys("a", "b\u{0}c").0);
        assert_ne!(shared_keys("ab", "c").0, shared_keys("a", "bc").0);
    }
}
