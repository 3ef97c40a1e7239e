//! Who a record names as the author of a change (`By`: a key, a person, an operator, the
//! server) and where the request came from (`Origin`). `authority` makes a key's or a person's
//! author from a grant; `audit` writes it into the record.

use super::Caller;
use crate::domain::UserId;
use std::future::Future;

/// Where a request came from, for the audit log: set for the whole of a request by the HTTP
/// edge (`scope`), read when a change's author is made (`authority::Grant::by`). A task-local rather than a
/// parameter of every use case: it is the same for everything one request does, and a use case
/// called from the command line or a job simply finds none.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

tokio::task_local! {
    static ORIGIN: Origin;
}

impl Origin {
    /// Runs `f` (a request's handling) with this origin.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        ORIGIN.scope(self, f).await
    }

    pub fn current() -> Origin {
        ORIGIN.try_with(Origin::clone).unwrap_or_default()
    }
}

/// Who made a change, as the record names them.
#[derive(Clone, Debug)]
pub struct By {
    pub(super) kind: &'static str,
    pub(super) id: Option<String>,
    /// Whose address to record (a key's holder, a signed-in person).
    pub(super) user: Option<UserId>,
    pub(super) origin: Origin,
}

impl By {
    /// An API key (its id; the holder's address beside it). Only `authority` makes these: a
    /// key's change is recorded through the `Grant` that allowed it.
    pub(super) fn key(caller: &Caller) -> By {
        By {
            kind: "api_key",
            id: Some(caller.key_id.to_string()),
            user: Some(caller.user_id.clone()),
            origin: Origin::current(),
        }
    }

    pub fn person(user: &UserId) -> By {
        By { kind: "user", id: Some(user.to_string()), user: Some(user.clone()), origin: Origin::current() }
    }

    /// The organization's identity provider acting through its SCIM token: the same key (its
    /// id; the owner who made it beside it), recorded as `scim`. Only `authority` makes these,
    /// from a grant of `Act::Scim`.
    pub(super) fn into_scim(self) -> By {
        By { kind: "scim", ..self }
    }

    /// The same author, from where the request came (captured when the edge made the actor).
    pub(super) fn from(mut self, origin: &Origin) -> By {
        self.origin = origin.clone();
        self
    }

    /// The person acting (a key's holder), if a person acts.
    pub fn user(&self) -> Option<&UserId> {
        self.user.as_ref()
    }

    /// The same request, acting as another person (whose account a claim has just become).
    pub fn as_person(&self, user: &UserId) -> By {
        By { kind: "user", id: Some(user.to_string()), user: Some(user.clone()), origin: self.origin.clone() }
    }

    /// Someone at the server's command line.
    pub fn operator() -> By {
        By { kind: "operator", id: None, user: None, origin: Origin::default() }
    }

    /// The server itself (the sweep; a pool running low).
    pub fn system() -> By {
        By { kind: "system", id: None, user: None, origin: Origin::default() }
    }
}
