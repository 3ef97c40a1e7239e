//! The sign-in forms the account pages and the claim page share (log-in, sign-up), and the claim
//! page as someone signed out sees it: both pages build on these, neither on the other.

use super::{layout, page};
use crate::clock::Millis;
use crate::domain::Role;
use crate::http::{client, AppState};
use crate::passwords;
use crate::service::{claims, SignupMode};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::{html, Markup};

/// The log-in form; `next` is where to go afterwards (a local path).
pub fn login_form(next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        form method="post" action="/login" {
            @if let Some(e) = error { p.error #login-error role="alert" { (e) } }
            input type="hidden" name="next" value=(next);
            label for="login-email" { "Email" }
            input #login-email type="email" name="email" value=(email) required autocomplete="username" aria-describedby=[error.map(|_| "login-error")] aria-invalid=[error.map(|_| "true")];
            label for="login-password" { "Password" }
            input #login-password type="password" name="password" required autocomplete="current-password" aria-describedby=[error.map(|_| "login-error")] aria-invalid=[error.map(|_| "true")];
            button #login-submit type="submit" { "Log in" }
            p.muted { a href="/password/forgot" { "Forgot your password?" } }
        }
    }
}

pub fn signup_form(next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        form method="post" action="/signup" {
            @if let Some(e) = error { p.error #signup-error role="alert" { (e) } }
            input type="hidden" name="next" value=(next);
            label for="signup-email" { "Email" }
            input #signup-email type="email" name="email" value=(email) required autocomplete="username" aria-describedby=[error.map(|_| "signup-error")] aria-invalid=[error.map(|_| "true")];
            label for="signup-password" { "Password (at least " (passwords::MIN_LEN) " characters)" }
            input #signup-password type="password" name="password" required minlength=(passwords::MIN_LEN) autocomplete="new-password" aria-describedby=[error.map(|_| "signup-error")] aria-invalid=[error.map(|_| "true")];
            button #signup-submit type="submit" { "Sign up" }
        }
    }
}

/// What the signed-out claim page shows of the link.
pub struct Claim {
    pub org_name: String,
    pub bound: Option<String>,
    pub invited_by: Option<String>,
    pub role: Role,
    pub expires_at: Millis,
}

impl From<claims::Claimable> for Claim {
    fn from(c: claims::Claimable) -> Claim {
        Claim {
            org_name: c.org_name,
            bound: c.email,
            invited_by: c.invited_by,
            role: c.role,
            expires_at: c.expires_at,
        }
    }
}

/// Who invited the person, to which organization and role, and until when the link works: the
/// claim page's first sentence (times in words, the exact one on hover).
pub fn invitation(now: Millis, c: &Claim) -> Markup {
    let article = if c.role == Role::Admin { "an admin" } else { "a member" };
    html! {
        p #claim-invite {
            @if let Some(by) = &c.invited_by { strong #claim-inviter { (by) } " invited you to " } @else { "You are invited to " }
            strong #claim-org { (c.org_name) } " as " strong #claim-role { (article) } ". "
            "The link expires " (super::fmt::time(now, c.expires_at)) "."
        }
    }
}

/// The link's organization, for the claim page shown again after a failed log-in or sign-up;
/// None when the link itself no longer works (the plain form is shown then).
pub async fn org_of(state: &AppState, req: &HttpRequest, token: &str) -> Option<Claim> {
    let c = claims::claimable(&state.ctx, &client(req), token).await.ok()?;
    Some(c.into())
}

/// Which of the claim page's forms failed, and why.
pub enum Failed<'a> {
    Nothing,
    LogIn(&'a str),
    SignUp(&'a str),
}

/// The claim page for someone signed out: sign up or log in, then back here. After a failed
/// try it keeps the organization, the link, the address typed, and the error by its form.
pub fn signed_out(
    status: StatusCode,
    state: &AppState,
    claim: &Claim,
    here: &str,
    email: &str,
    failed: Failed,
) -> HttpResponse {
    let (login_error, signup_error) = match failed {
        Failed::Nothing => (None, None),
        Failed::LogIn(m) => (Some(m), None),
        Failed::SignUp(m) => (None, Some(m)),
    };
    let email = if email.is_empty() { claim.bound.as_deref().unwrap_or("") } else { email };
    let body = html! {
        section.card {
            h1 { "Claim your account" }
            (invitation(state.ctx.now(), claim))
            p { "Sign up or log in first; you will come back here to claim it." }
            @if let Some(b) = &claim.bound {
                p #claim-bound { "Only the account with the address " strong { (b) } " can claim it: sign up or log in with that address." }
            }
            div.columns {
                @if state.settings.signup != SignupMode::Off {
                    div { h2 { "New here? Sign up" } (signup_form(here, email, signup_error)) }
                }
                div { h2 { "Have an account? Log in" } (login_form(here, email, login_error)) }
            }
        }
    };
    page(status, layout("Claim your account", None, body))
}
