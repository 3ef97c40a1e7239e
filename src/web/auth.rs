//! Accounts on the web pages: sign-up, log-in, log-out, address verification, password reset
//! and change. API-only users and placeholders never sign in. Every form here is limited per
//! client address, and passwords are hashed on the bounded password threads (`passwords`), so no
//! flood of these forms can take the server's memory or CPU.

use super::session::{self, check_origin, safe_next, Session};
use super::{layout, page, redirect, WebError};
use crate::app::{AppState, LinkMail};
use crate::config::SignupMode;
use crate::domain::Email;
use crate::error::ApiError;
use crate::{keys, ops, passwords, store};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct Credentials {
    email: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

pub async fn home(req: HttpRequest) -> Result<HttpResponse, WebError> {
    Ok(match session::current(&req).await? {
        Some(_) => redirect("/team"),
        None => redirect("/login"),
    })
}

/// The log-in form; `next` is where to go afterwards (a local path).
pub fn login_form(next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        form method="post" action="/login" {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            input type="hidden" name="next" value=(next);
            label for="login-email" { "Email" }
            input #login-email type="email" name="email" value=(email) required autocomplete="username";
            label for="login-password" { "Password" }
            input #login-password type="password" name="password" required autocomplete="current-password";
            button #login-submit type="submit" { "Log in" }
            p.muted { a href="/password/forgot" { "Forgot your password?" } }
        }
    }
}

pub fn signup_form(next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        form method="post" action="/signup" {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            input type="hidden" name="next" value=(next);
            label for="signup-email" { "Email" }
            input #signup-email type="email" name="email" value=(email) required autocomplete="username";
            label for="signup-password" { "Password (at least " (passwords::MIN_LEN) " characters)" }
            input #signup-password type="password" name="password" required minlength=(passwords::MIN_LEN) autocomplete="new-password";
            button #signup-submit type="submit" { "Sign up" }
        }
    }
}

fn login_view(status: StatusCode, next: &str, email: &str, error: Option<&str>) -> HttpResponse {
    page(
        status,
        layout(
            "Log in",
            None,
            html! {
                section.card.narrow {
                    h1 { "Log in" }
                    (login_form(next, email, error))
                    p.muted { "No account yet? " a href={ "/signup?next=" (session::urlencode(next)) } { "Sign up" } }
                }
            },
        ),
    )
}

fn signup_view(status: StatusCode, next: &str, email: &str, error: Option<&str>) -> HttpResponse {
    page(
        status,
        layout(
            "Sign up",
            None,
            html! {
                section.card.narrow {
                    h1 { "Create your account" }
                    (signup_form(next, email, error))
                    p.muted { "Have an account? " a href={ "/login?next=" (session::urlencode(next)) } { "Log in" } }
                }
            },
        ),
    )
}

/// A page with a heading and a sentence (and a way on).
fn notice(status: StatusCode, title: &str, message: &str, session: Option<&Session>) -> HttpResponse {
    page(
        status,
        layout(
            title,
            session,
            html! {
                section.card.narrow {
                    h1 #notice-title { (title) }
                    p.message { (message) }
                    p { a href="/team" { "Go to the dashboard" } }
                }
            },
        ),
    )
}

/// 429 with `Retry-After`, for a client over a form's limit.
fn too_many(secs: u64, render: impl FnOnce(&str) -> HttpResponse) -> HttpResponse {
    let mut res = render(&format!("Too many tries from your address. Try again in {secs} seconds."));
    *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

/// 503 with `Retry-After` when every password thread is busy.
fn busy(render: impl FnOnce(&str) -> HttpResponse) -> HttpResponse {
    let mut res = render("The server is busy right now; try again in a few seconds.");
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(2u32));
    res
}

/// The claim token in a `next` of the form `/claim?token=…`.
fn claim_token_in(next: &str) -> Option<&str> {
    let token = next.strip_prefix("/claim?token=")?;
    Some(token.split('&').next().unwrap_or(token))
}

pub async fn login_page(q: web::Query<Next>) -> HttpResponse {
    login_view(StatusCode::OK, &safe_next(q.next.as_deref()), "", None)
}

pub async fn signup_page(state: web::Data<AppState>, q: web::Query<Next>) -> HttpResponse {
    let next = safe_next(q.next.as_deref());
    match state.settings.signup {
        SignupMode::Off => notice(
            StatusCode::FORBIDDEN,
            "Sign-up is closed",
            "Accounts on this server are created by its operator; ask them for one.",
            None,
        ),
        SignupMode::Claim if claim_token_in(&next).is_none() => notice(
            StatusCode::FORBIDDEN,
            "Sign up through your claim link",
            "Accounts on this server are created through the claim link your admin sent you; open that link to sign up.",
            None,
        ),
        _ => signup_view(StatusCode::OK, &next, "", None),
    }
}

enum Outcome {
    Ok(String),
    Wrong,
    ApiOnly,
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let email = form.email.unwrap_or_default().trim().to_string();
    let who = email.to_ascii_lowercase();
    let password = form.password.unwrap_or_default();
    let now = state.clock.now();
    let view = |status, msg: &str| login_view(status, &next, &email, Some(msg));
    if let Err(secs) = state.allow_form("login", &req) {
        return Ok(too_many(secs, |m| view(StatusCode::TOO_MANY_REQUESTS, m)));
    }
    let client = crate::app::client_ip(&req);
    if let Some(wait) = state.throttle.wait(&who, &client, now) {
        let secs = (wait + 999) / 1000;
        let msg = format!("Too many failed log-ins for this address. Try again in {secs} seconds.");
        let mut res = view(StatusCode::TOO_MANY_REQUESTS, &msg);
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Ok(res);
    }
    let lookup = who.clone();
    let found = state.db.read(move |conn| Ok(store::orgs::login_by_email(conn, &lookup)?)).await?;
    let outcome = match found {
        Some(l) if l.api_only => Outcome::ApiOnly,
        Some(l) => match passwords::verify_bounded(password, l.password_hash).await {
            Ok(true) => Outcome::Ok(l.user_id),
            Ok(false) => Outcome::Wrong,
            Err(passwords::Busy) => return Ok(busy(|m| view(StatusCode::SERVICE_UNAVAILABLE, m))),
        },
        None => match passwords::verify_bounded(password, None).await {
            Ok(_) => Outcome::Wrong,
            Err(passwords::Busy) => return Ok(busy(|m| view(StatusCode::SERVICE_UNAVAILABLE, m))),
        },
    };
    let user_id = match outcome {
        Outcome::Ok(id) => id,
        Outcome::ApiOnly => {
            let msg = "This account is API-only: it works with its API key, but cannot sign in here.";
            return Ok(view(StatusCode::FORBIDDEN, msg));
        }
        Outcome::Wrong => {
            state.throttle.failed(&who, &client, now);
            return Ok(view(StatusCode::UNAUTHORIZED, "The email or password is wrong."));
        }
    };
    state.throttle.succeeded(&who, &client);
    let token = state
        .db
        .write(move |tx| {
            tx.keeps_keys();
            let first_org = store::orgs::orgs_of_user(tx, &user_id)?.into_iter().next().map(|o| o.org_id);
            session::create(tx, &user_id, first_org.as_deref(), now)
        })
        .await?;
    Ok(signed_in(&state, token, &next))
}

/// Sets the new session's cookie and goes on to `next`.
fn signed_in(state: &AppState, token: String, next: &str) -> HttpResponse {
    super::secure(HttpResponse::SeeOther())
        .cookie(session::cookie(state, token))
        .insert_header((header::LOCATION, next.to_string()))
        .finish()
}

pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let raw = form.email.unwrap_or_default().trim().to_string();
    let password = form.password.unwrap_or_default();
    let view = |status, msg: &str| signup_view(status, &next, &raw, Some(msg));
    if let Err(secs) = state.allow_form("signup", &req) {
        return Ok(too_many(secs, |m| view(StatusCode::TOO_MANY_REQUESTS, m)));
    }
    let mode = state.settings.signup;
    let claim_token = claim_token_in(&next).map(str::to_string);
    // Who may sign up is checked before the (expensive) hash, and again in the write below.
    let now = state.clock.now();
    let allowed = match (mode, claim_token.clone()) {
        (SignupMode::Claim, Some(t)) => {
            state.db.read(move |c| Ok(ops::claimable(c, &t, now).map(|_| ()))).await?
        }
        (m, t) => ops::signup_allowed(m, t.as_deref()),
    };
    if let Err(e) = allowed {
        return Ok(view(e.status(), e.message()));
    }
    let email = match Email::parse(&raw) {
        Ok(e) => e,
        Err(msg) => return Ok(view(StatusCode::BAD_REQUEST, &msg)),
    };
    if let Err(msg) = passwords::acceptable(&password) {
        return Ok(view(StatusCode::BAD_REQUEST, &msg));
    }
    let hash = match passwords::hash_bounded(password).await {
        Ok(h) => h.map_err(ApiError::internal)?,
        Err(passwords::Busy) => return Ok(busy(|m| view(StatusCode::SERVICE_UNAVAILABLE, m))),
    };
    let created = state
        .db
        .write(move |tx| {
            tx.keeps_keys();
            let user_id = ops::sign_up(tx, mode, claim_token.as_deref(), &email, &hash, now)?;
            Ok((user_id.clone(), session::create(tx, &user_id, None, now)?))
        })
        .await;
    match created {
        Ok((user_id, token)) => {
            state.mail_link(LinkMail::Verify, move |tx| ops::issue_verification(tx, &user_id, now));
            Ok(signed_in(&state, token, &next))
        }
        Err(e) if e.status().is_client_error() => Ok(view(e.status(), e.message())),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    if let Some(s) = session::current(&req).await? {
        s.check_csrf(form.csrf.as_deref())?;
        let hash = s.token_hash;
        state
            .db
            .write(move |tx| {
                tx.keeps_keys();
                Ok(store::sessions::delete(tx, &hash)?)
            })
            .await?;
    }
    Ok(super::secure(HttpResponse::SeeOther())
        .cookie(session::removal_cookie(&state))
        .insert_header((header::LOCATION, "/login"))
        .finish())
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
pub struct TokenForm {
    token: Option<String>,
    password: Option<String>,
}

/// The page a verification link opens. Following the link does nothing by itself (mail
/// scanners open links too); the button does.
pub async fn verify_page(req: HttpRequest, q: web::Query<TokenQuery>) -> Result<HttpResponse, WebError> {
    let session = session::current(&req).await?;
    let token = q.token.clone().unwrap_or_default();
    let body = html! {
        section.card.narrow {
            h1 { "Confirm your email address" }
            form method="post" action="/verify" {
                input type="hidden" name="token" value=(token);
                button #verify-submit type="submit" { "Confirm my address" }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Confirm your email address", session.as_ref(), body)))
}

pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    let session = session::current(&req).await?;
    if let Err(secs) = state.allow_form("verify", &req) {
        return Ok(too_many(secs, |m| {
            notice(StatusCode::TOO_MANY_REQUESTS, "Slow down", m, session.as_ref())
        }));
    }
    let token = form.token.clone().unwrap_or_default();
    let now = state.clock.now();
    let done = state
        .db
        // Keys carry whether their owner's address is verified: not kept.
        .write(move |tx| ops::verify_email(tx, &token, now))
        .await;
    Ok(match done {
        Ok(_) => notice(
            StatusCode::OK,
            "Your address is verified",
            "Thank you: this address is now confirmed as yours.",
            session.as_ref(),
        ),
        Err(e) if e.status().is_client_error() => {
            notice(e.status(), "This link does not work", e.message(), session.as_ref())
        }
        Err(e) => return Err(e.into()),
    })
}

fn no_mail(session: Option<&Session>) -> HttpResponse {
    notice(
        StatusCode::OK,
        "Passwords are reset by the operator here",
        "This server does not send mail, so it cannot mail you a reset link. Ask its operator to set a new password for you (provisiond user set-password).",
        session,
    )
}

fn forgot_view(status: StatusCode, email: &str, error: Option<&str>) -> HttpResponse {
    page(
        status,
        layout(
            "Reset your password",
            None,
            html! {
                section.card.narrow {
                    h1 { "Reset your password" }
                    form method="post" action="/password/forgot" {
                        @if let Some(e) = error { p.error role="alert" { (e) } }
                        label for="forgot-email" { "Email" }
                        input #forgot-email type="email" name="email" value=(email) required autocomplete="username";
                        button #forgot-submit type="submit" { "Mail me a link" }
                    }
                }
            },
        ),
    )
}

pub async fn forgot_page(state: web::Data<AppState>) -> HttpResponse {
    if !state.mailer.enabled() {
        return no_mail(None);
    }
    forgot_view(StatusCode::OK, "", None)
}

#[derive(Deserialize)]
pub struct EmailForm {
    email: Option<String>,
}

/// Answers the same whatever the address: whether an account has it is not told here.
pub async fn forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<EmailForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    if !state.mailer.enabled() {
        return Ok(no_mail(None));
    }
    let raw = form.email.clone().unwrap_or_default().trim().to_string();
    if let Err(secs) = state.allow_form("forgot", &req) {
        return Ok(too_many(secs, |m| forgot_view(StatusCode::TOO_MANY_REQUESTS, &raw, Some(m))));
    }
    let email = match Email::parse(&raw) {
        Ok(e) => e.as_string(),
        Err(msg) => return Ok(forgot_view(StatusCode::BAD_REQUEST, &raw, Some(&msg))),
    };
    let now = state.clock.now();
    let shown = email.clone();
    state.mail_link(LinkMail::Reset, move |tx| ops::issue_reset(tx, &email, now));
    Ok(notice(
        StatusCode::OK,
        "Check your mail",
        &format!("If an account signs in with {shown}, we have mailed it a link to choose a new password. The link works for one hour."),
        None,
    ))
}

fn reset_view(status: StatusCode, token: &str, error: Option<&str>) -> HttpResponse {
    page(
        status,
        layout(
            "Choose a new password",
            None,
            html! {
                section.card.narrow {
                    h1 { "Choose a new password" }
                    form method="post" action="/password/reset" {
                        @if let Some(e) = error { p.error role="alert" { (e) } }
                        input type="hidden" name="token" value=(token);
                        label for="reset-password" { "New password (at least " (passwords::MIN_LEN) " characters)" }
                        input #reset-password type="password" name="password" required minlength=(passwords::MIN_LEN) autocomplete="new-password";
                        button #reset-submit type="submit" { "Set password" }
                    }
                }
            },
        ),
    )
}

pub async fn reset_page(
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    let token = q.token.clone().unwrap_or_default();
    let hash = keys::hash(&token.to_ascii_lowercase());
    let now = state.clock.now();
    let live = token.len() == 64
        && state
            .db
            .read(move |c| {
                Ok(store::email_tokens::is_live(c, &hash, store::email_tokens::Purpose::Reset, now)?)
            })
            .await?;
    if !live {
        return Ok(notice(
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "This password reset link is not valid: it was used already, replaced by a newer one, or has expired. Ask for a new one.",
            None,
        ));
    }
    Ok(reset_view(StatusCode::OK, &token, None))
}

pub async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    let token = form.token.clone().unwrap_or_default();
    let view = |status, msg: &str| reset_view(status, &token, Some(msg));
    if let Err(secs) = state.allow_form("reset", &req) {
        return Ok(too_many(secs, |m| view(StatusCode::TOO_MANY_REQUESTS, m)));
    }
    let password = form.password.clone().unwrap_or_default();
    if let Err(msg) = passwords::acceptable(&password) {
        return Ok(view(StatusCode::BAD_REQUEST, &msg));
    }
    let hash = match passwords::hash_bounded(password).await {
        Ok(h) => h.map_err(ApiError::internal)?,
        Err(passwords::Busy) => return Ok(busy(|m| view(StatusCode::SERVICE_UNAVAILABLE, m))),
    };
    let now = state.clock.now();
    let t = token.clone();
    let done = state
        .db
        .write(move |tx| {
            // A reset verifies the address, which keys carry: not kept.
            let user_id = ops::reset_password(tx, &t, &hash, now)?;
            let first_org = store::orgs::orgs_of_user(tx, &user_id)?.into_iter().next().map(|o| o.org_id);
            session::create(tx, &user_id, first_org.as_deref(), now)
        })
        .await;
    match done {
        Ok(session_token) => Ok(signed_in(&state, session_token, "/team")),
        Err(e) if e.status().is_client_error() => {
            Ok(notice(e.status(), "This link does not work", e.message(), None))
        }
        Err(e) => Err(e.into()),
    }
}

fn account_view(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    message: Option<&str>,
) -> HttpResponse {
    let body = html! {
        section.card.narrow {
            h1 { "Your account" }
            @if let Some(m) = message { p.message role="status" { (m) } }
            p { "Email: " strong #account-email { (session.email) } " "
                @if session.email_verified { span.pill #account-verified { "verified" } }
                @else { span.pill #account-unverified { "not verified" } } }
            @if !session.email_verified {
                @if state.mailer.enabled() {
                    form method="post" action="/account/verify" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button.secondary #resend-verification type="submit" { "Mail me a verification link" }
                    }
                } @else {
                    p.muted { "This server does not send mail; an operator can confirm your address (provisiond user verify)." }
                }
            }
            h2 { "Change your password" }
            p.muted { "Every other place you are signed in is signed out." }
            form method="post" action="/account/password" {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="current-password" { "Current password" }
                input #current-password type="password" name="current" required autocomplete="current-password";
                label for="new-password" { "New password (at least " (passwords::MIN_LEN) " characters)" }
                input #new-password type="password" name="password" required minlength=(passwords::MIN_LEN) autocomplete="new-password";
                button #change-password type="submit" { "Change password" }
            }
        }
    };
    page(status, layout("Your account", Some(session), body))
}

pub async fn account_page(state: web::Data<AppState>, session: Session) -> HttpResponse {
    account_view(&state, &session, StatusCode::OK, None)
}

pub async fn resend_verification(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    session.check_csrf(form.csrf.as_deref())?;
    if let Err(secs) = state.allow_form("verify", &req) {
        let msg = format!("Too many tries from your address. Try again in {secs} seconds.");
        return Ok(account_view(&state, &session, StatusCode::TOO_MANY_REQUESTS, Some(&msg)));
    }
    let (user_id, now) = (session.user_id.clone(), state.clock.now());
    let msg = if state.mail_link(LinkMail::Verify, move |tx| ops::issue_verification(tx, &user_id, now)) {
        format!("We mailed a new verification link to {}.", session.email)
    } else {
        "No mail could be sent right now; try again later.".to_string()
    };
    Ok(account_view(&state, &session, StatusCode::OK, Some(&msg)))
}

#[derive(Deserialize)]
pub struct PasswordChange {
    current: Option<String>,
    password: Option<String>,
    csrf: Option<String>,
}

pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<PasswordChange>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    session.check_csrf(form.csrf.as_deref())?;
    let form = form.into_inner();
    let view = |status, msg: &str| account_view(&state, &session, status, Some(msg));
    let (current, password) = (form.current.unwrap_or_default(), form.password.unwrap_or_default());
    if let Err(msg) = passwords::acceptable(&password) {
        return Ok(view(StatusCode::BAD_REQUEST, &msg));
    }
    let user_id = session.user_id.clone();
    let found = state.db.read(move |c| Ok(store::orgs::user(c, &user_id)?)).await?;
    let old_hash = found.and_then(|u| u.password_hash);
    match passwords::verify_bounded(current, old_hash).await {
        Ok(true) => {}
        Ok(false) => return Ok(view(StatusCode::UNAUTHORIZED, "The current password is wrong.")),
        Err(passwords::Busy) => return Ok(busy(|m| view(StatusCode::SERVICE_UNAVAILABLE, m))),
    }
    let hash = match passwords::hash_bounded(password).await {
        Ok(h) => h.map_err(ApiError::internal)?,
        Err(passwords::Busy) => return Ok(busy(|m| view(StatusCode::SERVICE_UNAVAILABLE, m))),
    };
    let (user_id, keep) = (session.user_id.clone(), session.token_hash);
    state
        .db
        .write(move |tx| {
            tx.keeps_keys();
            ops::set_password(tx, &user_id, &hash, Some(&keep))
        })
        .await?;
    Ok(view(StatusCode::OK, "Your password is changed; every other session is signed out."))
}
