//! The webhooks page: endpoints with their recent deliveries; add (secret shown once), send a
//! test event, rotate the secret, enable or disable, delete (confirmed first).

use super::session::Session;
use super::team::{person, secret_row, show_once, CsrfForm};
use super::{app_layout, confirm_page, flash_of, page, redirect, time_cell, Nav, WebError};
use crate::domain::{EventFilter, PageRequest};
use crate::http::AppState;
use crate::service::webhooks::{self, WebhookInput};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<DoneQuery>,
) -> Result<HttpResponse, WebError> {
    let actor = person(&session)?;
    let endpoints =
        webhooks::list(&state.ctx, actor.clone(), PageRequest { limit: 100, after: None }).await?;
    let mut with_log = Vec::new();
    for e in endpoints.items {
        let id = e.row.id.to_string();
        let log =
            webhooks::deliveries(&state.ctx, actor.clone(), &id, PageRequest { limit: 10, after: None })
                .await?;
        with_log.push((e, log.items));
    }
    let now = state.ctx.now();
    let body = html! {
        (flash_of(q.done.as_deref()))
        section.card {
            h1 { "Webhooks" }
            p.muted { "Endpoints receive the organization's events, signed per the Standard Webhooks specification." }
            form method="post" action="/team/webhooks" {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="hook-url" { "Endpoint URL" }
                input #hook-url type="text" name="url" inputmode="url" placeholder="https://hooks.example.com/provisiond" required maxlength="2048";
                label for="hook-events" { "Events " span.muted { "(comma-separated types, or * for all)" } }
                input #hook-events type="text" name="events" value="*" required maxlength="500";
                label for="hook-description" { "Description " span.muted { "(optional)" } }
                input #hook-description type="text" name="description" maxlength="500";
                button #hook-create type="submit" { "Add endpoint" }
            }
        }
        @for (e, log) in &with_log {
            section.card data-webhook=(e.row.id) {
                h2 { code.id { (e.row.url) } }
                p {
                    @if e.row.enabled { span.pill { "enabled" } } @else { span.pill { "disabled" } " " (e.row.disabled_reason.clone().unwrap_or_default()) }
                    " · events: " (e.events.names().join(", "))
                    @if let Some(d) = &e.row.description { " · " (d) }
                }
                div.row {
                    form.inline method="post" action={ "/team/webhooks/" (e.row.id) "/test" } {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button.secondary.small type="submit" aria-label={ "Send a test event to " (e.row.url) } { "Send test event" }
                    }
                    form.inline method="post" action={ "/team/webhooks/" (e.row.id) "/enabled" } {
                        input type="hidden" name="csrf" value=(session.csrf);
                        input type="hidden" name="on" value=(if e.row.enabled { "false" } else { "true" });
                        button.secondary.small type="submit" { (if e.row.enabled { "Disable" } else { "Enable" }) }
                    }
                    form.inline method="post" action={ "/team/webhooks/" (e.row.id) "/rotate" } {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button.secondary.small type="submit" aria-label={ "Rotate the signing secret of " (e.row.url) } { "Rotate secret" }
                    }
                    a.button.danger.small href={ "/team/webhooks/" (e.row.id) "/delete" } aria-label={ "Delete the endpoint " (e.row.url) } { "Delete…" }
                }
                details.edit {
                    summary { "Edit" }
                    form method="post" action={ "/team/webhooks/" (e.row.id) "/edit" } {
                        input type="hidden" name="csrf" value=(session.csrf);
                        label for={ "url-" (e.row.id) } { "Endpoint URL" }
                        input id={ "url-" (e.row.id) } type="text" name="url" value=(e.row.url) required maxlength="2048";
                        label for={ "events-" (e.row.id) } { "Events " span.muted { "(comma-separated types, or *)" } }
                        input id={ "events-" (e.row.id) } type="text" name="events" value=(e.events.names().join(", ")) required maxlength="500";
                        label for={ "description-" (e.row.id) } { "Description" }
                        input id={ "description-" (e.row.id) } type="text" name="description" value=(e.row.description.clone().unwrap_or_default()) maxlength="500";
                        button.secondary type="submit" { "Save" }
                    }
                }
                @if log.is_empty() {
                    p.muted { "No deliveries yet." }
                } @else {
                    table.stack {
                        thead { tr { th { "Event" } th { "Status" } th { "Attempts" } th { "Last answer" } th { "When" } } }
                        tbody {
                            @for d in log {
                                tr {
                                    td data-label="Event" { code { (d.event_type) } }
                                    td data-label="Status" { (d.status) }
                                    td data-label="Attempts" { (d.attempts) }
                                    td data-label="Last answer" {
                                        @if let Some(s) = d.last_status { (s) } @else if let Some(e) = &d.last_error { (e) } @else { span.muted { "—" } }
                                    }
                                    td data-label="When" { (time_cell(now, d.last_at.unwrap_or(d.created_at))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, app_layout("Webhooks", &session, Some(Nav::Webhooks), body)))
}

#[derive(Deserialize)]
pub struct NewForm {
    url: Option<String>,
    events: Option<String>,
    description: Option<String>,
    csrf: Option<String>,
}

fn bad(m: String) -> WebError {
    WebError::Status(StatusCode::BAD_REQUEST, m)
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<NewForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let names = form.events.as_deref().unwrap_or("*").split(',').map(str::trim).filter(|n| !n.is_empty());
    let events = EventFilter::parse(names).map_err(bad)?;
    let input = WebhookInput {
        url: form.url.clone(),
        events: Some(events),
        description: Some(
            form.description.as_deref().map(str::trim).filter(|d| !d.is_empty()).map(str::to_string),
        ),
        enabled: None,
    };
    let created = webhooks::create(&state.ctx, person(&session)?, input).await?;
    let body = html! {
        section.card {
            h1 { "Endpoint added" }
            p role="status" { "Verify deliveries with this signing secret. " strong { "It is shown only this once." } }
            (secret_row("Signing secret", "webhook-secret", &created.secret))
            p { a href="/team/webhooks" { "Back to webhooks" } }
        }
    };
    show_once(&state, &session, "Endpoint added", body).await
}

/// Saves an endpoint's URL, events and description (the form's fields, all of them).
pub async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    form: web::Form<NewForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let names = form.events.as_deref().unwrap_or("").split(',').map(str::trim).filter(|n| !n.is_empty());
    let events = EventFilter::parse(names).map_err(bad)?;
    let change = WebhookInput {
        url: form.url.clone(),
        events: Some(events),
        description: Some(
            form.description.as_deref().map(str::trim).filter(|d| !d.is_empty()).map(str::to_string),
        ),
        enabled: None,
    };
    webhooks::update(&state.ctx, person(&session)?, &id, change).await?;
    Ok(redirect("/team/webhooks?done=webhook_saved"))
}

pub async fn test(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf())?;
    webhooks::test(&state.ctx, person(&session)?, &id).await?;
    Ok(redirect("/team/webhooks?done=test_sent"))
}

#[derive(Deserialize)]
pub struct EnabledForm {
    on: Option<String>,
    csrf: Option<String>,
}

pub async fn set_enabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    form: web::Form<EnabledForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let on = form.on.as_deref() == Some("true");
    let change = WebhookInput { enabled: Some(on), ..Default::default() };
    webhooks::update(&state.ctx, person(&session)?, &id, change).await?;
    Ok(redirect(if on { "/team/webhooks?done=webhook_on" } else { "/team/webhooks?done=webhook_off" }))
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf())?;
    let rotated = webhooks::rotate_secret(&state.ctx, person(&session)?, &id).await?;
    let body = html! {
        section.card {
            h1 { "Secret rotated" }
            p role="status" { "For 24 hours deliveries carry signatures by both the old and the new secret. " strong { "The new one is shown only this once." } }
            (secret_row("Signing secret", "webhook-secret", &rotated.secret))
            p { a href="/team/webhooks" { "Back to webhooks" } }
        }
    };
    show_once(&state, &session, "Secret rotated", body).await
}

pub async fn delete_page(session: Session, id: web::Path<String>) -> Result<HttpResponse, WebError> {
    Ok(confirm_page(
        &session,
        "Delete this endpoint?",
        "Nothing more is sent to it, and its delivery log is deleted with it.",
        &format!("/team/webhooks/{id}/delete"),
        "Delete the endpoint",
        "/team/webhooks",
    ))
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf())?;
    webhooks::delete(&state.ctx, person(&session)?, &id).await?;
    Ok(redirect("/team/webhooks?done=webhook_deleted"))
}
