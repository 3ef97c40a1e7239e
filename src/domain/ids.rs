//! Ids: the public ids clients see (one type per kind of object) and the row numbers only the
//! database links by.

use serde::{Deserialize, Serialize};

/// A public id (UUID v4, canonical lowercase text). One type per kind of object, so a user id
/// cannot be passed where an organization id is meant.
macro_rules! public_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn new() -> $name {
                $name(uuid::Uuid::new_v4().to_string())
            }

            /// An id as a client wrote it: a UUID in canonical lowercase form, or nothing (the
            /// caller answers "not found", as for an id that does not exist).
            pub fn parse(s: &str) -> Option<$name> {
                let u = uuid::Uuid::parse_str(s).ok()?;
                (u.hyphenated().to_string() == s).then(|| $name(s.to_string()))
            }

            /// An id read back from the database (trusted: only ids we made are stored).
            pub fn from_stored(s: String) -> $name {
                $name(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

public_id!(OrgId);
public_id!(UserId);
public_id!(ProjectId);
public_id!(ProvisionId);
public_id!(AgentId);
public_id!(KeyId);
public_id!(WebhookId);
public_id!(AuditId);

/// An internal row number (see schema.sql, Keys): never shown, only linked by. One type per
/// table, for the same reason as the public ids.
macro_rules! row_number {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);
    };
}

row_number!(UserN);
row_number!(ProjectN);
row_number!(
    /// An API key's row (its public id is a `KeyId`).
    KeyN
);
