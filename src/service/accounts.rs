//! Accounts on the web pages: sign-up (as `SIGNUP` allows), log-in (throttled so a stranger
//! cannot lock anyone out), sessions, verified addresses, password reset by mail and password
//! changes. Passwords are hashed on the bounded password threads (`passwords`), so no flood of
//! these forms can take the server's memory or CPU.

use super::SignupMode;
use super::{claims, limits, Client, Ctx};
use crate::clock::Millis;
use crate::db::Tx;
use crate::domain::{DisplayName, Email, OrgId, UserId};
use crate::error::{Error, Result};
use crate::mail::Outgoing;
use crate::passwords;
use crate::secrets;
use crate::store;
use crate::store::email_tokens::Purpose;

/// How long a sign-in lasts.
pub const SESSION_TTL_MS: Millis = 14 * 86_400_000;
/// How long a mailed verification link works.
pub const VERIFY_LINK_TTL_MS: Millis = 24 * 3_600_000;
/// How long a mailed password-reset link works.
pub const RESET_LINK_TTL_MS: Millis = 3_600_000;

/// A signed-in person, as their session cookie says.
#[derive(Clone)]
pub struct Session {
    pub token_hash: [u8; 32],
    pub user_id: UserId,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub active_org: Option<OrgId>,
}

/// A new sign-in: the cookie's token (a secret, shown only to the browser).
pub struct SignedIn {
    pub token: String,
}

/// Starts a session for `user`; returns the cookie token.
fn start_session(tx: &Tx, user: &UserId, now: Millis) -> Result<SignedIn> {
    let first_org = store::memberships::orgs_of_user(tx, user)?.into_iter().next().map(|o| o.org_id);
    let token = secrets::new_claim_token()?;
    store::sessions::insert(tx, &token.hash, user, first_org.as_ref(), now, now + SESSION_TTL_MS)?;
    Ok(SignedIn { token: token.secret })
}

/// The live session a cookie token names, if any.
pub async fn session(ctx: &Ctx, token: &str) -> Result<Option<Session>> {
    if token.len() != 64 {
        return Ok(None);
    }
    let (hash, now) = (secrets::hash(token), ctx.now());
    let row = ctx.db.read(move |c| Ok::<_, Error>(store::sessions::lookup(c, &hash, now)?)).await?;
    Ok(row.map(|r| Session {
        token_hash: hash,
        user_id: r.user_id,
        email: r.email.unwrap_or_default(),
        email_verified: r.email_verified,
        name: r.name,
        active_org: r.active_org_id,
    }))
}

pub async fn log_out(ctx: &Ctx, session: &Session) -> Result<()> {
    let hash = session.token_hash;
    ctx.db.write(move |tx| Ok(store::sessions::delete(tx, &hash)?)).await
}

/// Whether `SIGNUP` lets anyone sign up, as far as can be told without the database: in `claim`
/// mode the claim link must also be live.
fn signup_allowed(mode: SignupMode, claim_token: Option<&str>) -> Result<()> {
    match (mode, claim_token) {
        (SignupMode::Off, _) => {
            Err(Error::SignupClosed("Accounts on this server are created by its operator; ask them for one."))
        }
        (SignupMode::Claim, None) => Err(Error::SignupNeedsClaim),
        _ => Ok(()),
    }
}

/// Whether the sign-up form is offered at all (`claim_token`: the link the person follows).
pub fn signup_offered(ctx: &Ctx, claim_token: Option<&str>) -> Result<()> {
    signup_allowed(ctx.rules.signup, claim_token)
}

/// What a sign-up led to.
pub enum SignedUp {
    /// Following a claim link (`SIGNUP=claim`): the new account, signed in to claim at once.
    In(SignedIn),
    /// Open sign-up: a mail went to the address, whether or not it had an account already (a
    /// verification link, or a note that it has one), and nothing else is said, so the form does
    /// not tell a stranger which addresses have accounts here. The person verifies, then logs in.
    CheckMail,
}

/// A new person with an unverified address, in no organization yet. Who may is checked before
/// the (expensive) hash and again in the write. With mail, the address's verification link goes
/// out.
pub async fn sign_up(
    ctx: &Ctx,
    client: &Client,
    email: &str,
    password: String,
    claim_token: Option<String>,
) -> Result<SignedUp> {
    ctx.allow_form("signup", client).await?;
    let (mode, now) = (ctx.rules.signup, ctx.now());
    signup_allowed(mode, claim_token.as_deref())?;
    let bound = match claim_token.clone() {
        None => None,
        Some(t) => {
            ctx.db
                .read(move |c| match claims::claimable_in(c, &t, now) {
                    Ok((p, _)) => Ok(p.email),
                    Err(e) if mode == SignupMode::Claim => Err(e),
                    // Open sign-up does not need the link; a dead one only carries no binding.
                    Err(_) => Ok(None),
                })
                .await?
        }
    };
    let email = Email::parse(email).map_err(Error::InvalidEmail)?;
    // An account the link could not be claimed with would be one nobody asked for.
    if !claims::address_may_claim(bound.as_deref(), Some(&email.as_string())) {
        return Err(Error::EmailMismatch);
    }
    passwords::acceptable(&password).map_err(Error::InvalidField)?;
    let hash = passwords::hash_bounded(password).await.map_err(|_| Error::Busy)?.map_err(Error::Internal)?;
    let address = email.as_string();
    let made = ctx
        .db
        .write(move |tx| {
            signup_allowed(mode, claim_token.as_deref())?;
            let through = match (mode, &claim_token) {
                (SignupMode::Claim, Some(t)) => Some(claims::claimable_in(tx, t, now)?.0.id),
                _ => None,
            };
            let address = email.as_string();
            if store::users::user_id_by_email(tx, &address)?.is_some() {
                if mode == SignupMode::Open {
                    return Ok(None);
                }
                return Err(Error::UserExists(
                    "An account with this email already exists; log in instead.".into(),
                ));
            }
            let id = UserId::new();
            // One claim link, one account: a link is how someone may sign up here, not a way
            // to make accounts for any number of addresses.
            if let Some(provision) = &through {
                if !store::provisions::take_signup(tx, provision, &id)? {
                    return Err(Error::Conflict(
                        "link_used",
                        "An account was already made through this claim link: log in with it to claim, or ask your admin for a new link.".into(),
                    ));
                }
            }
            store::users::insert_user(tx, &id, &address, false, false, now)?;
            store::users::set_password(tx, &id, &hash)?;
            let signed_in = match mode {
                SignupMode::Open => None,
                _ => Some(start_session(tx, &id, now)?),
            };
            Ok(Some((id, signed_in)))
        })
        .await?;
    match made {
        Some((user, signed_in)) => {
            send_verification(ctx, &user);
            Ok(signed_in.map_or(SignedUp::CheckMail, SignedUp::In))
        }
        None => {
            mail_link(ctx, LinkMail::AlreadyThere, move |_| {
                Ok(Some(MailLink { token: String::new(), email: address }))
            });
            Ok(SignedUp::CheckMail)
        }
    }
}

/// Signs a person in with their password. Failures are throttled per address and client: see
/// `LoginThrottle`.
pub async fn log_in(ctx: &Ctx, client: &Client, email: &str, password: String) -> Result<SignedIn> {
    ctx.allow_form("login", client).await?;
    let (who, now) = (email.trim().to_ascii_lowercase(), ctx.now());
    if let Some(wait) = limits::login_wait(ctx, &who, &client.ip).await? {
        return Err(Error::Throttled(((wait + 999) / 1000) as u64));
    }
    // No account has an address that does not parse (and the database is not asked about one).
    let lookup = Email::parse(&who).ok().map(|e| e.as_string());
    let found = match lookup {
        Some(address) => {
            ctx.db.read(move |c| Ok::<_, Error>(store::users::login_by_email(c, &address)?)).await?
        }
        None => None,
    };
    let user = match found {
        // An API-only account has no password: refused like a wrong one, in the same time, so
        // the form does not tell which addresses have accounts of which kind.
        Some(l) if l.api_only => {
            passwords::verify_bounded(password, None).await.map_err(|_| Error::Busy)?;
            None
        }
        Some(l) => passwords::verify_bounded(password, l.password_hash)
            .await
            .map_err(|_| Error::Busy)?
            .then_some(l.user_id),
        None => {
            // The same time spent as for a real account: a missing one is not faster to refuse.
            passwords::verify_bounded(password, None).await.map_err(|_| Error::Busy)?;
            None
        }
    };
    let Some(user) = user else {
        limits::login_failed(ctx, &who, &client.ip).await?;
        return Err(Error::WrongPassword);
    };
    limits::login_succeeded(ctx, &who, &client.ip).await?;
    ctx.db.write(move |tx| start_session(tx, &user, now)).await
}

/// The person's display name (onboarding); empty means none.
pub async fn set_name(ctx: &Ctx, user: &UserId, name: &str) -> Result<()> {
    let name = match name.trim() {
        "" => None,
        n => Some(DisplayName::parse("Your name", n, 100).map_err(Error::InvalidField)?.as_str().to_string()),
    };
    let user = user.clone();
    ctx.db.write(move |tx| Ok(store::users::set_name(tx, &user, name.as_deref())?)).await
}

/// The mails with links in them.
#[derive(Clone, Copy)]
enum LinkMail {
    Verify,
    Reset,
    /// Someone signed up with an address that has an account (no link in it).
    AlreadyThere,
}

/// A link to mail: the token (secret) and the address it goes to.
struct MailLink {
    token: String,
    email: String,
}

impl LinkMail {
    fn mail(self, base: &str, link: MailLink) -> Outgoing {
        let (subject, body) = match self {
            LinkMail::Verify => (
                "Confirm your email address",
                format!(
                    "Confirm that this address is yours by opening this link (it works for 24 hours):\n\n\
                     {base}/verify?token={}\n\n\
                     If you did not sign up at {base}, ignore this mail.\n",
                    link.token
                ),
            ),
            LinkMail::AlreadyThere => (
                "You already have an account",
                format!(
                    "Someone, perhaps you, tried to sign up at {base} with this address, which \
                     already has an account. Log in at {base}/login, or choose a new password at \
                     {base}/password/forgot.\n\n\
                     If it was not you, ignore this mail: nothing was changed.\n"
                ),
            ),
            LinkMail::Reset => (
                "Reset your password",
                format!(
                    "Someone asked to reset the password of your account at {base}. To choose a new \
                     password, open this link within one hour:\n\n\
                     {base}/password/reset?token={}\n\n\
                     If it was not you, ignore this mail: your password stays as it is.\n",
                    link.token
                ),
            ),
        };
        Outgoing { to: link.email, subject: subject.into(), body }
    }
}

/// Mails a link, worked out on the mail thread by `issue` (one write): the request does not wait
/// for the database or the mail server, so it takes the same time whether or not anything is
/// sent. False when mail is off or its queue is full.
fn mail_link<F>(ctx: &Ctx, kind: LinkMail, issue: F) -> bool
where
    F: FnOnce(&Tx) -> Result<Option<MailLink>> + Send + 'static,
{
    let db = ctx.db.clone();
    let base = ctx.rules.public_url.clone();
    ctx.mailer.submit(Box::new(move || {
        let link = match db.write_queued(issue) {
            Ok(Some(link)) => link,
            Ok(None) => return None,
            Err(e) => {
                log::warn!("no mail: the link could not be stored: {e}");
                return None;
            }
        };
        Some(kind.mail(&base, link))
    }))
}

/// Stores a new link for `user` at `email`; returns the token to mail.
fn issue_link(
    tx: &Tx,
    user: &UserId,
    email: &str,
    purpose: Purpose,
    ttl: Millis,
    now: Millis,
) -> Result<MailLink> {
    let token = secrets::new_claim_token()?;
    store::email_tokens::insert(tx, &token.hash, user, purpose, email, now, now + ttl)?;
    Ok(MailLink { token: token.secret, email: email.to_string() })
}

/// Mails a verification link for the user's address, unless it is verified already (or the
/// account cannot sign in). False when no mail could be queued.
pub fn send_verification(ctx: &Ctx, user: &UserId) -> bool {
    let (user, now) = (user.clone(), ctx.now());
    mail_link(ctx, LinkMail::Verify, move |tx| {
        let Some(u) = store::users::user(tx, &user)? else { return Ok(None) };
        match u.email.filter(|_| !u.email_verified && !u.placeholder && !u.api_only) {
            Some(email) => Ok(Some(issue_link(tx, &user, &email, Purpose::Verify, VERIFY_LINK_TTL_MS, now)?)),
            None => Ok(None),
        }
    })
}

/// A new verification link, on the person's request (limited per client address like the
/// other sign-in forms). False when no mail could be queued.
pub async fn resend_verification(ctx: &Ctx, client: &Client, user: &UserId) -> Result<bool> {
    ctx.allow_form("verify", client).await?;
    Ok(send_verification(ctx, user))
}

/// Asks for a password-reset link for the account at `email`. Answers the same whether or not
/// there is one (the mail, if any, goes out from the mail thread).
pub async fn request_reset(ctx: &Ctx, client: &Client, email: &str) -> Result<()> {
    if !ctx.mail_enabled() {
        return Err(no_mail());
    }
    ctx.allow_form("forgot", client).await?;
    let email = Email::parse(email.trim()).map_err(Error::InvalidEmail)?.as_string();
    let now = ctx.now();
    mail_link(ctx, LinkMail::Reset, move |tx| {
        let Some(login) = store::users::login_by_email(tx, &email)? else { return Ok(None) };
        if login.api_only {
            return Ok(None);
        }
        Ok(Some(issue_link(tx, &login.user_id, &email, Purpose::Reset, RESET_LINK_TTL_MS, now)?))
    });
    Ok(())
}

fn no_mail() -> Error {
    Error::MailOff
}

fn link_refused(what: &str) -> Error {
    Error::InvalidToken(format!(
        "This {what} link is not valid: it was used already, replaced by a newer one, or has expired. Ask for a new one."
    ))
}

/// Takes a mailed link: live, of this purpose, and still for the address the account has now.
fn take_link(tx: &Tx, token: &str, purpose: Purpose, now: Millis) -> Result<UserId> {
    let what = match purpose {
        Purpose::Verify => "verification",
        Purpose::Reset => "password reset",
    };
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(link_refused(what));
    }
    let row = store::email_tokens::take(tx, &secrets::hash(&token.to_ascii_lowercase()), purpose)?
        .filter(|r| r.expires_at > now)
        .ok_or_else(|| link_refused(what))?;
    let user = store::users::user(tx, &row.user_id)?.ok_or_else(|| link_refused(what))?;
    if user.email.as_deref() != Some(row.email.as_str()) || user.placeholder {
        return Err(link_refused(what));
    }
    Ok(row.user_id)
}

/// The person followed the link mailed to their address: it reaches them.
pub async fn verify_email(ctx: &Ctx, client: &Client, token: &str) -> Result<()> {
    ctx.allow_form("verify", client).await?;
    let (token, now) = (token.to_string(), ctx.now());
    ctx.db
        .write(move |tx| {
            let user = take_link(tx, &token, Purpose::Verify, now)?;
            store::users::set_verified(tx, &user)?;
            Ok(())
        })
        .await
}

/// Whether a reset link is live (the page that asks for the new password).
pub async fn reset_link_live(ctx: &Ctx, token: &str) -> Result<bool> {
    if token.len() != 64 {
        return Ok(false);
    }
    let (hash, now) = (secrets::hash(&token.to_ascii_lowercase()), ctx.now());
    ctx.db.read(move |c| Ok(store::email_tokens::is_live(c, &hash, Purpose::Reset, now)?)).await
}

/// Sets a new password through a mailed link, and signs the person in. Following the link also
/// proves the address, and every other session of the account ends (whoever had the old password
/// is signed out).
pub async fn reset_password(ctx: &Ctx, client: &Client, token: &str, password: String) -> Result<SignedIn> {
    ctx.allow_form("reset", client).await?;
    passwords::acceptable(&password).map_err(Error::InvalidField)?;
    let hash = passwords::hash_bounded(password).await.map_err(|_| Error::Busy)?.map_err(Error::Internal)?;
    let (token, now) = (token.to_string(), ctx.now());
    ctx.db
        .write(move |tx| {
            let user = take_link(tx, &token, Purpose::Reset, now)?;
            new_password(tx, &user, &hash, None)?;
            store::users::set_verified(tx, &user)?;
            start_session(tx, &user, now)
        })
        .await
}

/// A new password: every session but `keep` ends, and so does every reset link.
fn new_password(tx: &Tx, user: &UserId, hash: &str, keep: Option<&[u8; 32]>) -> Result<()> {
    store::users::set_password(tx, user, hash)?;
    store::sessions::delete_of_user(tx, user, keep)?;
    store::email_tokens::delete_of_user(tx, user, Purpose::Reset)?;
    Ok(())
}

/// A signed-in person changes their password (knowing the current one); their other sessions end.
pub async fn change_password(ctx: &Ctx, session: &Session, current: String, password: String) -> Result<()> {
    passwords::acceptable(&password).map_err(Error::InvalidField)?;
    let user = session.user_id.clone();
    let found = ctx.db.read(move |c| Ok::<_, Error>(store::users::user(c, &user)?)).await?;
    let old = found.and_then(|u| u.password_hash);
    if !passwords::verify_bounded(current, old).await.map_err(|_| Error::Busy)? {
        return Err(Error::WrongPassword);
    }
    let hash = passwords::hash_bounded(password).await.map_err(|_| Error::Busy)?.map_err(Error::Internal)?;
    let (user, keep) = (session.user_id.clone(), session.token_hash);
    ctx.db.write(move |tx| new_password(tx, &user, &hash, Some(&keep))).await
}

/// An operator sets a person's password (command line); every session of theirs ends.
pub async fn set_password_by_operator(ctx: &Ctx, email: &Email, password: String) -> Result<()> {
    passwords::acceptable(&password).map_err(Error::InvalidField)?;
    let address = email.as_string();
    let hash = passwords::hash_bounded(password).await.map_err(|_| Error::Busy)?.map_err(Error::Internal)?;
    ctx.db
        .write(move |tx| {
            let login = store::users::login_by_email(tx, &address)?
                .ok_or_else(|| Error::NotFound(format!("No active account has the email {address}.")))?;
            if login.api_only {
                return Err(Error::ApiOnlyUser("An API-only user never signs in; it has no password."));
            }
            new_password(tx, &login.user_id, &hash, None)
        })
        .await
}

/// An operator vouches that an address is its account holder's.
pub async fn vouch(ctx: &Ctx, email: &Email) -> Result<()> {
    let address = email.as_string();
    ctx.db
        .write(move |tx| {
            let user = store::users::user_id_by_email(tx, &address)?
                .ok_or_else(|| Error::NotFound(format!("No account has the email {address}.")))?;
            store::users::set_verified(tx, &user)?;
            Ok(())
        })
        .await
}
