//! All SQL lives here, one file per table family. A store function takes a `&Conn` (a read) or a
//! `&Tx` (a write in progress: the caller decides what commits together) and returns rows of its
//! own; nothing here knows about HTTP, pages or who is calling.
//!
//! A function whose statement changes what an existing API key means (a row the key cache's
//! `keys::lookup` reads: the key, its user, membership, organization or project) marks the
//! cache stale itself with `Tx::keys_changed`, next to the SQL, so no caller has to remember;
//! `key_meaning` (a test) fails when one does not.

pub mod audit;
pub mod copy;
pub mod credits;
pub mod email_tokens;
pub mod events;
pub mod idempotency;
#[cfg(test)]
mod key_meaning;
pub mod keys;
pub mod limits;
pub mod memberships;
pub mod orgs;
pub mod projects;
pub mod provisions;
pub mod scim;
pub mod sessions;
pub mod shown;
pub mod terms;
pub mod users;
pub mod verifications;
pub mod webhooks;
