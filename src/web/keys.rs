//! API keys on the dashboard: everyone's own ("Your API keys": create, rotate, revoke; a new key
//! shown once), and for admins and owners a member's keys (rotate, revoke). The same service
//! functions as `/v1/keys`, with the same rules.

use super::session::Session;
use super::team::{person, secret_row, show_once, CsrfForm};
use super::{app_layout, confirm_page, flash_of, page, redirect, time_cell, Nav, WebError};
use crate::domain::KeyRecord;
use crate::domain::{PageRequest, Scope, Scopes, UserId};
use crate::http::AppState;
use crate::service::keys::{self, IssuedKey};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct KeysQuery {
    user: Option<String>,
    done: Option<String>,
}

fn keys_table(keys: &[KeyRecord], now: i64) -> Markup {
    html! {
        @if keys.is_empty() {
            p.muted { "No keys." }
        } @else {
            table.stack {
                thead { tr { th { "Key" } th { "Name" } th { "Role" } th { "Created" } th { "Last used" } th { "Status" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for k in keys {
                        @let live = k.revoked_at.is_none_or(|at| at > now) && k.expires_at.is_none_or(|at| at > now);
                        @let label = k.name.clone().unwrap_or_else(|| k.hint.clone());
                        tr data-key=(k.id) {
                            td data-label="Key" { code { (k.hint) "…" } }
                            td data-label="Name" { (k.name.clone().unwrap_or_default()) }
                            td data-label="Role" { (k.ceiling.as_str()) }
                            td data-label="Created" { (time_cell(now, k.created_at)) }
                            td data-label="Last used" { @if let Some(at) = k.last_used_at { (time_cell(now, at)) } @else { span.muted { "never" } } }
                            td data-label="Status" {
                                @if let Some(at) = k.revoked_at.filter(|at| *at <= now) { "revoked " (time_cell(now, at)) }
                                @else if let Some(at) = k.revoked_at { "replaced; works until " (time_cell(now, at)) }
                                @else if let Some(at) = k.expires_at { @if at <= now { "expired" } @else { "expires " (time_cell(now, at)) } }
                                @else { "active" }
                            }
                            td.actions data-label="Actions" {
                                @if live && k.revoked_at.is_none() {
                                    a.button.secondary.small href={ "/team/keys/" (k.id) "/rotate" } aria-label={ "Rotate key " (label) } { "Rotate…" }
                                }
                                @if live {
                                    a.button.danger.small href={ "/team/keys/" (k.id) "/revoke" } aria-label={ "Revoke key " (label) } { "Revoke…" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<KeysQuery>,
) -> Result<HttpResponse, WebError> {
    let actor = person(&session)?;
    let mine = keys::list(
        &state.ctx,
        actor.clone(),
        Some(session.user_id.clone()),
        PageRequest { limit: 1000, after: None },
    )
    .await?;
    let member = match q.user.as_deref().and_then(UserId::parse).filter(|u| *u != session.user_id) {
        Some(u) => Some((
            u.clone(),
            keys::list(&state.ctx, actor, Some(u), PageRequest { limit: 1000, after: None }).await?,
        )),
        None => None,
    };
    let now = state.ctx.now();
    let body = html! {
        (flash_of(q.done.as_deref()))
        @if let Some((user, keys)) = &member {
            section.card #member-keys {
                h1 { "Keys of member " code.id { (user) } }
                (keys_table(&keys.items, now))
                p { a href="/team?tab=active" { "Back to the team" } }
            }
        }
        section.card #your-keys {
            h1 { "Your API keys" }
            p.muted { "Keys act as you in this organization (at most your role). A new key is shown once." }
            (keys_table(&mine.items, now))
            form method="post" action="/team/keys" {
                input type="hidden" name="csrf" value=(session.csrf);
                h2 { "New key" }
                label for="key-name" { "Name " span.muted { "(optional, e.g. laptop, CI)" } }
                input #key-name type="text" name="name" maxlength="100";
                label for="key-expiry" { "Expires" }
                select #key-expiry name="expires_in" {
                    option value="" selected { "never" }
                    option value="2592000" { "in 30 days" }
                    option value="7776000" { "in 90 days" }
                    option value="31536000" { "in a year" }
                }
                fieldset.scopes {
                    legend { "Scopes " span.muted { "(none checked: every scope)" } }
                    @for scope in Scope::ALL {
                        label.check { input type="checkbox" name="scope" value=(scope.as_str()); (scope.as_str()) }
                    }
                }
                button #key-create type="submit" { "Create key" }
            }
        }
    };
    Ok(page(StatusCode::OK, app_layout("API keys", &session, Some(Nav::Keys), body)))
}

/// The new-key form: checkboxes repeat `scope`, which a plain struct cannot take.
fn new_key_form(body: &[u8]) -> (Option<String>, Option<String>, Option<String>, Vec<String>) {
    let (mut name, mut expires, mut csrf, mut scopes) = (None, None, None, Vec::new());
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "name" => name = Some(v.into_owned()),
            "expires_in" => expires = Some(v.into_owned()),
            "csrf" => csrf = Some(v.into_owned()),
            "scope" => scopes.push(v.into_owned()),
            _ => {}
        }
    }
    (name, expires, csrf, scopes)
}

fn new_key_page(title: &str, what: &str, k: &IssuedKey) -> Markup {
    html! {
        section.card {
            h1 { (title) }
            p role="status" { (what) " " strong { "It is shown only this once." } }
            (secret_row("API key", "api-key", &k.api_key))
            p { a href="/team/keys" { "Back to your keys" } }
        }
    }
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    if body.len() > super::MAX_FORM {
        return Err(WebError::Status(StatusCode::PAYLOAD_TOO_LARGE, "This form is too large.".into()));
    }
    let (name, expires, csrf, scopes) = new_key_form(&body);
    session.check_post(&req, csrf.as_deref())?;
    let org = session.active_org.clone().ok_or_else(|| WebError::Redirect("/team".into()))?;
    let bad = |m: String| WebError::Status(StatusCode::BAD_REQUEST, m);
    let expires_in_ms = match expires.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(e) => Some(
            e.parse::<i64>()
                .ok()
                .filter(|s| (60..=31_536_000).contains(s))
                .ok_or_else(|| bad("Choose when the key expires.".into()))?
                * 1000,
        ),
    };
    let scopes = if scopes.is_empty() {
        None
    } else {
        Some(Scopes::parse(scopes.iter().map(String::as_str)).map_err(bad)?)
    };
    let k = keys::create_as_person(&state.ctx, &session.user_id, &org, name, expires_in_ms, scopes).await?;
    let body = new_key_page("Key created", "The key works now.", &k);
    show_once(&state, &session, "Key created", body).await
}

pub async fn revoke_page(session: Session, id: web::Path<String>) -> Result<HttpResponse, WebError> {
    Ok(confirm_page(
        &session,
        "Revoke this key?",
        "It stops working at once, for every program that uses it. This cannot be undone.",
        &format!("/team/keys/{id}/revoke"),
        "Revoke the key",
        "/team/keys",
    ))
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf())?;
    keys::revoke(&state.ctx, person(&session)?, &id).await?;
    Ok(redirect("/team/keys?done=key_revoked"))
}

pub async fn rotate_page(session: Session, id: web::Path<String>) -> Result<HttpResponse, WebError> {
    Ok(confirm_page(
        &session,
        "Rotate this key?",
        "A new key replaces it, with the same name, role and scopes; the old one stops working at once.",
        &format!("/team/keys/{id}/rotate"),
        "Rotate the key",
        "/team/keys",
    ))
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf())?;
    let k = keys::rotate(&state.ctx, person(&session)?, &id, 0).await?;
    let body = new_key_page("Key rotated", "The new key works now; the old one no longer does.", &k);
    show_once(&state, &session, "Key rotated", body).await
}
