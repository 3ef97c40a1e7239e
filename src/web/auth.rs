//! Account pages: sign-up, log-in, log-out, address verification, password reset and change.
//! Each handler reads its form and calls one function of `service::accounts`, which holds the
//! rules (who may sign up, throttles, limits, bounded hashing).

use super::forms::{self, login_form, signup_form};
use super::session::{self, check_origin, safe_next, Session};
use super::{layout, page, redirect, WebError};
use crate::error::Error;
use crate::http::{client, AppState};
use crate::passwords;
use crate::service::accounts;
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

impl Credentials {
    /// A log-in or sign-up post, refused unless it came from our own origin: where to go
    /// afterwards (a local path), the address (trimmed) and the password.
    fn read(self, req: &HttpRequest) -> Result<(String, String, String), WebError> {
        check_origin(req)?;
        let next = safe_next(self.next.as_deref());
        Ok((next, self.email.unwrap_or_default().trim().to_string(), self.password.unwrap_or_default()))
    }
}

pub async fn home(req: HttpRequest) -> Result<HttpResponse, WebError> {
    Ok(match session::current(&req).await? {
        Some(_) => redirect("/team"),
        None => redirect("/login"),
    })
}

/// The log-in page; it offers sign-up only where sign-up would take the person (never under
/// `SIGNUP=claim` without a claim link, nor `SIGNUP=off`).
fn login_view(
    state: &AppState,
    status: StatusCode,
    next: &str,
    email: &str,
    error: Option<&str>,
) -> HttpResponse {
    let offer = accounts::signup_offered(&state.ctx, claim_token_in(next)).is_ok();
    signed_out_card(
        status,
        "Log in",
        "Log in",
        html! {
            (login_form(next, email, error))
            @if offer {
                p.muted { "No account yet? " a href={ "/signup?next=" (session::urlencode(next)) } { "Sign up" } }
            } @else {
                p.muted #no-signup { "No account yet? Accounts here come from a claim link an admin sends you." }
            }
        },
    )
}

fn signup_view(status: StatusCode, next: &str, email: &str, error: Option<&str>) -> HttpResponse {
    signed_out_card(
        status,
        "Sign up",
        "Create your account",
        html! {
            (signup_form(next, email, error))
            p.muted { "Have an account? " a href={ "/login?next=" (session::urlencode(next)) } { "Log in" } }
        },
    )
}

/// The pages of someone signed out (log-in, sign-up, password reset) are one narrow card
/// under its heading; each brings only what is in it.
fn signed_out_card(status: StatusCode, title: &str, heading: &str, inside: Markup) -> HttpResponse {
    page(status, layout(title, None, html! { section.card.narrow { h1 { (heading) } (inside) } }))
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
                    @if session.is_some() {
                        p { a href="/team" { "Go to the dashboard" } }
                    } @else {
                        p { a href="/login" { "Log in" } }
                    }
                }
            },
        ),
    )
}

/// A form page showing what went wrong, with the status the error has (and `Retry-After` when
/// the client is to come back later). Server faults become the error page.
fn refused(
    e: Error,
    render: impl FnOnce(StatusCode, &str) -> HttpResponse,
) -> Result<HttpResponse, WebError> {
    let (retry, message) = match &e {
        Error::RateLimited(secs) => {
            (Some(*secs), Some(format!("Too many tries from your address. Try again in {secs} seconds.")))
        }
        Error::Throttled(secs) => (Some(*secs), None),
        Error::Busy => (Some(2), None),
        _ => (None, None),
    };
    let api = crate::http::error::ApiError::from(e);
    if api.status().is_server_error() && retry.is_none() {
        return Err(api.into());
    }
    let mut res = render(api.status(), message.as_deref().unwrap_or(api.message()));
    if let Some(secs) = retry {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(res)
}

/// The claim token in a `next` of the form `/claim?token=…`.
fn claim_token_in(next: &str) -> Option<&str> {
    let token = next.strip_prefix("/claim?token=")?;
    Some(token.split('&').next().unwrap_or(token))
}

pub async fn login_page(state: web::Data<AppState>, q: web::Query<Next>) -> HttpResponse {
    login_view(&state, StatusCode::OK, &safe_next(q.next.as_deref()), "", None)
}

pub async fn signup_page(state: web::Data<AppState>, q: web::Query<Next>) -> HttpResponse {
    let next = safe_next(q.next.as_deref());
    match accounts::signup_offered(&state.ctx, claim_token_in(&next)) {
        Ok(()) => signup_view(StatusCode::OK, &next, "", None),
        Err(e @ Error::SignupNeedsClaim) => {
            notice(StatusCode::FORBIDDEN, "Sign up through your claim link", &e.to_string(), None)
        }
        Err(e) => notice(StatusCode::FORBIDDEN, "Sign-up is closed", &e.to_string(), None),
    }
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, WebError> {
    let (next, email, password) = form.into_inner().read(&req)?;
    match accounts::log_in(&state.ctx, &client(&req), &email, password).await {
        Ok(signed_in) => Ok(signed_in_at(&state, signed_in, &next)),
        Err(e) => {
            let view = |status, m: &str| login_view(&state, status, &next, &email, Some(m));
            sign_in_refused(&req, &state, e, &next, &email, false, view).await
        }
    }
}

/// A refused log-in or sign-up comes back as the page its form was on: on the claim path the
/// claim page (organization and link kept, the error at the form that failed), else `view`
/// (the log-in or sign-up page).
async fn sign_in_refused(
    req: &HttpRequest,
    state: &AppState,
    e: Error,
    next: &str,
    email: &str,
    signing_up: bool,
    view: impl FnOnce(StatusCode, &str) -> HttpResponse,
) -> Result<HttpResponse, WebError> {
    let org = match claim_token_in(next) {
        Some(token) => forms::org_of(state, req, token).await,
        None => None,
    };
    refused(e, |status, m| match &org {
        Some(claim) => {
            let failed = if signing_up { forms::Failed::SignUp(m) } else { forms::Failed::LogIn(m) };
            forms::signed_out(status, state, claim, next, email, failed)
        }
        None => view(status, m),
    })
}

/// Sets the new session's cookie and goes on to `next`.
fn signed_in_at(state: &AppState, signed_in: accounts::SignedIn, next: &str) -> HttpResponse {
    super::secure(HttpResponse::SeeOther())
        .cookie(session::cookie(state, signed_in.token))
        .insert_header((header::LOCATION, next.to_string()))
        .finish()
}

pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, WebError> {
    let (next, email, password) = form.into_inner().read(&req)?;
    let claim = claim_token_in(&next).map(str::to_string);
    match accounts::sign_up(&state.ctx, &client(&req), &email, password, claim).await {
        Ok(accounts::SignedUp::In(signed_in)) => Ok(signed_in_at(&state, signed_in, &next)),
        // The same answer whether or not the address had an account (see `SignedUp`).
        Ok(accounts::SignedUp::CheckMail) => Ok(notice(
            StatusCode::OK,
            "Check your email",
            &format!(
                "We sent a mail to {email}. Follow the link in it to confirm your address, then log in."
            ),
            None,
        )),
        Err(e) => {
            let view = |status, m: &str| signup_view(status, &next, &email, Some(m));
            sign_in_refused(&req, &state, e, &next, &email, true, view).await
        }
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
        accounts::log_out(&state.ctx, &s).await?;
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
    let token = form.token.clone().unwrap_or_default();
    match accounts::verify_email(&state.ctx, &client(&req), &token).await {
        Ok(()) => Ok(notice(
            StatusCode::OK,
            "Your address is verified",
            "Thank you: this address is now confirmed as yours.",
            session.as_ref(),
        )),
        Err(e) => refused(e, |status, m| notice(status, "This link does not work", m, session.as_ref())),
    }
}

fn forgot_view(status: StatusCode, email: &str, error: Option<&str>) -> HttpResponse {
    let title = "Reset your password";
    signed_out_card(
        status,
        title,
        title,
        html! {
            form method="post" action="/password/forgot" {
                @if let Some(e) = error { p.error role="alert" { (e) } }
                label for="forgot-email" { "Email" }
                input #forgot-email type="email" name="email" value=(email) required autocomplete="username";
                button #forgot-submit type="submit" { "Mail me a link" }
            }
        },
    )
}

fn no_mail() -> HttpResponse {
    notice(StatusCode::OK, "Passwords are reset by the operator here", &Error::MailOff.to_string(), None)
}

pub async fn forgot_page(state: web::Data<AppState>) -> HttpResponse {
    if !state.ctx.mail_enabled() {
        return no_mail();
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
    let email = form.email.clone().unwrap_or_default().trim().to_ascii_lowercase();
    match accounts::request_reset(&state.ctx, &client(&req), &email).await {
        Ok(()) => Ok(notice(
            StatusCode::OK,
            "Check your mail",
            &format!("If an account signs in with {email}, we have mailed it a link to choose a new password. The link works for one hour."),
            None,
        )),
        Err(Error::MailOff) => Ok(no_mail()),
        Err(e) => refused(e, |status, m| forgot_view(status, &email, Some(m))),
    }
}

fn reset_view(status: StatusCode, token: &str, error: Option<&str>) -> HttpResponse {
    let title = "Choose a new password";
    signed_out_card(
        status,
        title,
        title,
        html! {
            form method="post" action="/password/reset" {
                @if let Some(e) = error { p.error role="alert" { (e) } }
                input type="hidden" name="token" value=(token);
                label for="reset-password" { "New password (at least " (passwords::MIN_LEN) " characters)" }
                input #reset-password type="password" name="password" required minlength=(passwords::MIN_LEN) autocomplete="new-password";
                button #reset-submit type="submit" { "Set password" }
            }
        },
    )
}

pub async fn reset_page(
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    let token = q.token.clone().unwrap_or_default();
    if !accounts::reset_link_live(&state.ctx, &token).await? {
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
    let password = form.password.clone().unwrap_or_default();
    match accounts::reset_password(&state.ctx, &client(&req), &token, password).await {
        Ok(signed_in) => Ok(signed_in_at(&state, signed_in, "/team")),
        Err(e @ Error::InvalidToken(_)) => {
            Ok(notice(StatusCode::BAD_REQUEST, "This link does not work", &e.to_string(), None))
        }
        Err(e) => refused(e, |status, m| reset_view(status, &token, Some(m))),
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
                @if state.ctx.mail_enabled() {
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
    session.check_post(&req, form.csrf.as_deref())?;
    match accounts::resend_verification(&state.ctx, &client(&req), &session.user_id).await {
        Ok(true) => {
            let msg = format!("We mailed a new verification link to {}.", session.email);
            Ok(account_view(&state, &session, StatusCode::OK, Some(&msg)))
        }
        Ok(false) => Ok(account_view(
            &state,
            &session,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("No mail could be sent right now; try again later."),
        )),
        Err(e) => refused(e, |status, m| account_view(&state, &session, status, Some(m))),
    }
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
    session.check_post(&req, form.csrf.as_deref())?;
    let form = form.into_inner();
    let (current, password) = (form.current.unwrap_or_default(), form.password.unwrap_or_default());
    match accounts::change_password(&state.ctx, &session, current, password).await {
        Ok(()) => Ok(account_view(
            &state,
            &session,
            StatusCode::OK,
            Some("Your password is changed; every other session is signed out."),
        )),
        Err(Error::WrongPassword) => Ok(account_view(
            &state,
            &session,
            StatusCode::UNAUTHORIZED,
            Some("The current password is wrong."),
        )),
        Err(e) => refused(e, |status, m| account_view(&state, &session, status, Some(m))),
    }
}
