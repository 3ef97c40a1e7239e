//! The claim page: a provisioned person takes over their account through the link an admin sent.

use super::auth::{login_form, signup_form};
use super::session::{self, check_origin, Session};
use super::{layout, page, redirect, WebError};
use crate::clock;
use crate::error::{ApiError, Error};
use crate::http::{client, AppState};
use crate::service::SignupMode;
use crate::service::{accounts, claims, organizations};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
pub struct ClaimForm {
    token: Option<String>,
    csrf: Option<String>,
}

/// A page for a link that cannot be claimed, titled by why; server faults are the error page.
fn refusal(e: Error, session: Option<&Session>) -> Result<HttpResponse, WebError> {
    let title = match &e {
        Error::TokenExpired(_) => "This claim link has expired",
        Error::AlreadyClaimed => "This account has already been claimed",
        Error::InvalidToken(_) => "This claim link is not valid",
        Error::EmailMismatch => "This claim link is for another email address",
        _ => "This account cannot be claimed",
    };
    let e = ApiError::from(e);
    if e.status().is_server_error() {
        return Err(e.into());
    }
    Ok(page(
        e.status(),
        layout(
            title,
            session,
            html! {
                section.card.narrow {
                    h1 #claim-status { (title) }
                    p.message { (e.message()) }
                    @if session.is_some() { p { a href="/team" { "Go to your dashboard" } } }
                }
            },
        ),
    ))
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    let token = q.token.as_deref().unwrap_or("");
    let session = session::current(&req).await?;
    let claimable = match claims::claimable(&state.ctx, &client(&req), token).await {
        Ok(c) => c,
        Err(e) => return refusal(e, session.as_ref()),
    };
    let org_name = claimable.org_name;
    let bound = claimable.email;
    let here = format!("/claim?token={token}");
    let mismatch =
        session.as_ref().is_some_and(|s| !claims::address_may_claim(bound.as_deref(), Some(&s.email)));
    let body = match &session {
        Some(s) if mismatch => html! {
            section.card.narrow {
                h1 #claim-status { "This claim link is for another email address" }
                p.message #claim-mismatch {
                    "This account in " strong #claim-org { (org_name) } " can only be claimed by "
                    strong { (bound.clone().unwrap_or_default()) } "; you are signed in as " (s.email)
                    ". Log out, then sign up or log in with that address."
                }
                p { a href="/team" { "Go to your dashboard" } }
            }
        },
        Some(s) => html! {
            section.card.narrow {
                h1 { "Claim your account" }
                p { "You have been given an account in " strong #claim-org { (org_name) } "." }
                p.muted { "You are signed in as " (s.email) ". Claiming moves the account's project, API key and agents to you." }
                form method="post" action="/claim" {
                    input type="hidden" name="token" value=(token);
                    input type="hidden" name="csrf" value=(s.csrf);
                    button #claim-submit type="submit" { "Claim account" }
                }
                p.muted { "This link expires at " (clock::format(claimable.expires_at)) "." }
            }
        },
        None => html! {
            section.card {
                h1 { "Claim your account" }
                p { "You have been given an account in " strong #claim-org { (org_name) } ". Sign up or log in first; you will come back here to claim it." }
                @if let Some(b) = &bound {
                    p #claim-bound { "Only the account with the address " strong { (b) } " can claim it: sign up or log in with that address." }
                }
                div.columns {
                    @if state.settings.signup != SignupMode::Off {
                        div { h2 { "New here? Sign up" } (signup_form(&here, bound.as_deref().unwrap_or(""), None)) }
                    }
                    div { h2 { "Have an account? Log in" } (login_form(&here, bound.as_deref().unwrap_or(""), None)) }
                }
            }
        },
    };
    Ok(page(StatusCode::OK, layout("Claim your account", session.as_ref(), body)))
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ClaimForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    session.check_csrf(form.csrf.as_deref())?;
    let token = form.token.clone().unwrap_or_default();
    let page_of = (&client(&req), session.token_hash);
    match claims::claim(&state.ctx, &token, &session.user_id, Some(page_of)).await {
        Ok(c) if !c.skip_onboarding => Ok(redirect("/onboarding")),
        Ok(_) => Ok(redirect("/team")),
        Err(e) => refusal(e, Some(&session)),
    }
}

pub async fn onboarding_page(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, WebError> {
    let org = match &session.active_org {
        Some(id) => organizations::name(&state.ctx, id).await?,
        None => None,
    };
    let body = html! {
        section.card.narrow {
            h1 { "Welcome" @if let Some(o) = &org { " to " (o) } }
            p { "One last thing before your dashboard: how should your team see you?" }
            form method="post" action="/onboarding" {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="onboarding-name" { "Your name" }
                input #onboarding-name type="text" name="name" maxlength="100" value=(session.name.clone().unwrap_or_default());
                button #onboarding-submit type="submit" { "Continue" }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Welcome", Some(&session), body)))
}

#[derive(Deserialize)]
pub struct NameForm {
    name: Option<String>,
    csrf: Option<String>,
}

pub async fn onboarding(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<NameForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    session.check_csrf(form.csrf.as_deref())?;
    accounts::set_name(&state.ctx, &session.user_id, form.name.as_deref().unwrap_or("")).await?;
    Ok(redirect("/team"))
}
