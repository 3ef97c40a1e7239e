//! What can go wrong, in the service layer's words (`Error`). The edges turn it into their own
//! answers: the API through the one mapping in `http::error`, the pages into their messages
//! (`web::WebError`), the command line into its sentence. Internal detail goes to the log, never
//! to a client.

use crate::clock::{self, Millis};
use crate::db::DbError;
use crate::domain::{Credits, ProvisionStatus, Scope};

/// Everything a use case can refuse or fail with. The message (`Display`) is a sentence the
/// person on the other end can act on; it never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    InvalidEmail(String),
    /// A claim token or a mailed link that is unknown, used, cancelled or malformed.
    #[error("{0}")]
    InvalidToken(String),
    #[error("'cursor' is not one this list gave out; start again without it, or pass the 'nextCursor' of the previous page unchanged.")]
    InvalidCursor,
    #[error("This claim link expired at {}; ask your admin for a new one.", clock::format(*.0))]
    TokenExpired(Millis),

    #[error("Send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.")]
    MissingCredentials,
    #[error("{0}")]
    InvalidApiKey(&'static str),
    #[error("This API key expired at {}; ask for a new one.", clock::format(*.0))]
    ExpiredApiKey(Millis),

    #[error("The organization's pool has {left} credits left, less than the {asked} asked for; nothing was debited.")]
    CreditsExceeded { left: Credits, asked: Credits },

    #[error("This user's limit is {limit} {}; {left} of it is left, less than the {asked} asked for; nothing was debited.",
        if *.period == "total" { "in total".to_string() } else { format!("per {}", .period) })]
    UserLimitExceeded { limit: Credits, period: &'static str, left: Credits, asked: Credits },

    #[error("{0}")]
    InsufficientRole(String),
    #[error("This API key does not have the '{}' scope this needs; use a key that has it.", .0.as_str())]
    MissingScope(Scope),
    #[error(
        "This claim link is for another email address: sign in (or sign up) with the address it was sent to."
    )]
    EmailMismatch,
    #[error("This API key's user may not create users: an owner must enable provisioner access for it.")]
    NotAProvisioner,
    #[error("{0}")]
    UserIdMismatch(&'static str),
    #[error("{0}")]
    ApiOnlyUser(&'static str),
    /// The acting person's own address must be verified first.
    #[error("{0}")]
    EmailUnverified(String),
    #[error("{0}")]
    SignupClosed(&'static str),
    #[error("This server does not send mail, so it cannot mail you a reset link. Ask its operator to set a new password for you (provisiond user set-password).")]
    MailOff,
    #[error("Accounts on this server are created through a claim link from your admin; open that link to sign up.")]
    SignupNeedsClaim,
    /// A password that does not match (the same sentence whether or not the account exists).
    #[error("The email or password is wrong.")]
    WrongPassword,
    #[error("Too many failed log-ins for this address. Try again in {0} seconds.")]
    Throttled(u64),
    #[error("Too many requests; retry after {0} seconds.")]
    RateLimited(u64),

    #[error("{0}")]
    NotFound(String),

    #[error("{0}")]
    UserExists(String),
    #[error("An agent with identifier '{0}' already exists in this project.")]
    AgentExists(String),
    #[error("This account has already been claimed.")]
    AlreadyClaimed,
    #[error("Only a pending provision can be cancelled; this one is {}{}.", .status.as_str(),
        .expired_at.map(|t| format!(" (it expired at {})", clock::format(t))).unwrap_or_default())]
    NotPending { status: ProvisionStatus, expired_at: Option<Millis> },
    #[error("This is the organization's last owner: make someone else an owner first.")]
    LastOwner,
    #[error("This API key is revoked already.")]
    KeyRevoked,
    #[error("This Idempotency-Key was used with a different request body; use a new key for a new request.")]
    IdempotencyConflict,
    /// A conflict with its own code; the message is the sentence, never the code.
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("Another organization already has the domain {0}.")]
    DomainTaken(String),
    #[error("Your organization has no email domain, so new users cannot be mapped onto it; an operator sets one with `provisiond org set-domain`.")]
    NoDomain,
    #[error("This grant would take the pool over the largest amount a pool can hold ({}).", Credits::MAX)]
    PoolFull,
    #[error("{n} organizations are named '{needle}'; give the id or the domain instead.")]
    AmbiguousOrganization { needle: String, n: usize },
    /// An address named to receive something (an organization, a role) that nobody verified.
    #[error("An account with the address {0} exists, but nobody has verified that the address is its holder's, so it is not given this. Ask its holder to verify it (the link mailed at sign-up), or, if you know the account is theirs, run `provisiond user verify --email {0}` first.")]
    AddressUnverified(String),
    #[error("That member's email address is not verified, so it does not prove who they are; name them by user id instead.")]
    MemberUnverified,

    /// A webhook URL that points where deliveries may not go (the SSRF guard).
    #[error("{0}")]
    UrlRefused(String),

    #[error("The server is busy right now; try again in a few seconds.")]
    Busy,
    #[error("This server keeps its data in PostgreSQL: back it up with pg_dump (see docs/operating.md, PostgreSQL and replicas).")]
    UsePgDump,
    #[error("storage: {0}")]
    Storage(#[from] DbError),
    #[error("the OS random source failed: {0}")]
    Random(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// There is no safe fallback when the OS random source fails: the request fails.
impl From<getrandom::Error> for Error {
    fn from(e: getrandom::Error) -> Self {
        Error::Random(e.to_string())
    }
}
