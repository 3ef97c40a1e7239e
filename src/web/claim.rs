//! The claim page: a provisioned person takes over their account through the link an admin sent.

use super::auth::{login_form, signup_form};
use super::session::{self, check_origin, Session};
use super::{layout, page, redirect, WebError};
use crate::app::AppState;
use crate::config::SignupMode;
use crate::domain::DisplayName;
use crate::error::ApiError;
use crate::{clock, ops, store};
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

/// A page for a link that cannot be claimed, titled by why.
fn refusal(e: &ApiError, session: Option<&Session>) -> HttpResponse {
    let title = match e.code() {
        "token_expired" => "This claim link has expired",
        "already_claimed" => "This account has already been claimed",
        "invalid_token" => "This claim link is not valid",
        _ => "This account cannot be claimed",
    };
    page(
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
    )
}

async fn page_for(req: &HttpRequest, state: &AppState, token: &str) -> Result<HttpResponse, WebError> {
    let session = session::current(req).await?;
    let now = state.clock.now();
    let t = token.to_string();
    let found = state.db.read(move |conn| Ok(ops::claimable(conn, &t, now))).await?;
    let (p, org_name) = match found {
        Ok(x) => x,
        Err(e) => return Ok(refusal(&e, session.as_ref())),
    };
    let here = format!("/claim?token={token}");
    let body = match &session {
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
                p.muted { "This link expires at " (clock::format(p.expires_at)) "." }
            }
        },
        None => html! {
            section.card {
                h1 { "Claim your account" }
                p { "You have been given an account in " strong #claim-org { (org_name) } ". Sign up or log in first; you will come back here to claim it." }
                div.columns {
                    @if state.settings.signup != SignupMode::Off {
                        div { h2 { "New here? Sign up" } (signup_form(&here, "", None)) }
                    }
                    div { h2 { "Have an account? Log in" } (login_form(&here, "", None)) }
                }
            }
        },
    };
    Ok(page(StatusCode::OK, layout("Claim your account", session.as_ref(), body)))
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    if let Err(secs) = state.allow_form("claim", &req) {
        return Err(too_many(secs));
    }
    page_for(&req, &state, q.token.as_deref().unwrap_or("")).await
}

fn too_many(secs: u64) -> WebError {
    WebError::Status(
        StatusCode::TOO_MANY_REQUESTS,
        format!("Too many tries from your address. Try again in {secs} seconds."),
    )
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ClaimForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    session.check_csrf(form.csrf.as_deref())?;
    if let Err(secs) = state.allow_form("claim", &req) {
        return Err(too_many(secs));
    }
    let token = form.token.clone().unwrap_or_default();
    let now = state.clock.now();
    let (user_id, hash) = (session.user_id.clone(), session.token_hash);
    let mode = state.settings.signup;
    let claimed = state
        .db
        .write(move |tx| {
            let c = ops::claim(tx, mode, &token, &user_id, now)?;
            store::sessions::set_active_org(tx, &hash, &c.org_id)?;
            Ok(c)
        })
        .await;
    match claimed {
        Ok(c) if !c.skip_onboarding => Ok(redirect("/onboarding")),
        Ok(_) => Ok(redirect("/team")),
        Err(e) if e.status().is_client_error() => Ok(refusal(&e, Some(&session))),
        Err(e) => Err(e.into()),
    }
}

pub async fn onboarding_page(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, WebError> {
    let org = match session.active_org_id.clone() {
        Some(id) => state.db.read(move |conn| Ok(store::orgs::org_name(conn, &id)?)).await?,
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
    let name = match form.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        None => None,
        Some(n) => Some(
            DisplayName::parse("Your name", n, 100)
                .map_err(|m| WebError::Status(StatusCode::BAD_REQUEST, m))?
                .as_str()
                .to_string(),
        ),
    };
    let user_id = session.user_id.clone();
    state
        .db
        .write(move |tx| {
            tx.keeps_keys();
            Ok(store::orgs::set_name(tx, &user_id, name.as_deref())?)
        })
        .await?;
    Ok(redirect("/team"))
}
