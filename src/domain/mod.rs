//! Domain types that parse, not validate: once a value has one of these types it is known good,
//! and the error of a failed parse is the sentence the client sees.
//!
//! One file per concept; everything is re-exported here, so `crate::domain::X` names each type.

mod access;
mod credits;
mod email;
mod events;
mod idempotency;
mod ids;
mod names;
mod paging;
mod provisions;
mod records;
mod scim;
mod webhooks;

pub use access::*;
pub use credits::*;
pub use email::*;
pub use events::*;
pub use idempotency::*;
pub use ids::*;
pub use names::*;
pub use paging::*;
pub use provisions::*;
pub use records::*;
pub use scim::*;
pub use webhooks::*;

/// Echoing a 10 KB "email" back in an error helps nobody.
fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}
