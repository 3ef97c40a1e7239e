//! The claim page: a provisioned person takes over their account through the link an admin sent.

use super::forms::{invitation, signed_out, Claim, Failed};
use super::session::{self, Session};
use super::{layout, page, redirect, WebError};
use crate::error::Error;
use crate::http::error::ApiError;
use crate::http::{client, AppState};
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
    let claim: Claim = claimable.into();
    let now = state.ctx.now();
    let (org_name, bound) = (claim.org_name.clone(), claim.bound.clone());
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
                (invitation(now, &claim))
                p.muted { "You are signed in as " (s.email) ". Claiming moves the account's project, API key and agents to you." }
                form method="post" action="/claim" {
                    input type="hidden" name="token" value=(token);
                    input type="hidden" name="csrf" value=(s.csrf);
                    button #claim-submit type="submit" { "Claim account" }
                }
            }
        },
        None => {
            return Ok(signed_out(StatusCode::OK, &state, &claim, &here, "", Failed::Nothing));
        }
    };
    Ok(page(StatusCode::OK, layout("Claim your account", session.as_ref(), body)))
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ClaimForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let token = form.token.clone().unwrap_or_default();
    let page_of = (&client(&req), session.token_hash);
    match claims::claim(&state.ctx, &token, &session.user_id, Some(page_of)).await {
        Ok(c) => Ok(redirect(&format!(
            "/claimed?project={}{}",
            c.project_id,
            if c.skip_onboarding { "" } else { "&onboarding=1" }
        ))),
        Err(e) => refusal(e, Some(&session)),
    }
}

#[derive(Deserialize)]
pub struct ClaimedQuery {
    project: Option<String>,
    onboarding: Option<String>,
}

/// After a claim: what the person received (the organization, the project, its keys and
/// agents keep working), then onboarding or the dashboard.
pub async fn claimed(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<ClaimedQuery>,
) -> Result<HttpResponse, WebError> {
    let org = match &session.active_org {
        Some(id) => organizations::name(&state.ctx, id).await?,
        None => None,
    };
    let project = q.project.clone().unwrap_or_default();
    let keys = match &session.active_org {
        Some(org) => {
            let actor = crate::service::Actor::person(session.user_id.clone(), org.clone());
            let page = crate::domain::PageRequest { limit: 1000, after: None };
            crate::service::keys::list(&state.ctx, actor, Some(session.user_id.clone()), page)
                .await?
                .items
                .into_iter()
                .filter(|k| k.project_id.as_str() == project)
                .collect()
        }
        None => Vec::new(),
    };
    let next = if q.onboarding.is_some() { "/onboarding" } else { "/team" };
    let body = html! {
        section.card.narrow {
            h1 #claimed-title { "The account is yours" }
            p role="status" { "You joined " strong #claimed-org { (org.unwrap_or_default()) } "." }
            p { "You received its project " code.id #claimed-project { (project) } ", with its agents and "
                (keys.len()) @if keys.len() == 1 { " API key" } @else { " API keys" } ", which keep working:" }
            ul #claimed-keys {
                @for k in &keys { li { code { (k.hint) "…" } " " span.muted { "(" (k.ceiling.as_str()) ")" } } }
            }
            p.muted { "The keys themselves went to the admin who provisioned you (keys are shown once); make keys of your own under " a href="/team/keys" { "API keys" } "." }
            p { a.button #claimed-continue href=(next) { "Continue" } }
        }
    };
    Ok(page(StatusCode::OK, layout("Account claimed", Some(&session), body)))
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
    session.check_post(&req, form.csrf.as_deref())?;
    accounts::set_name(&state.ctx, &session.user_id, form.name.as_deref().unwrap_or("")).await?;
    Ok(redirect("/team"))
}
