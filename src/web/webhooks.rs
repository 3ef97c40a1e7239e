//! The webhooks page: endpoints with their health, a picture of their deliveries per day
//! (delivered and failed) and their recent deliveries; add one (its event types chosen from a
//! list; the secret shown once), send a test event, rotate the secret, enable or disable, delete
//! (confirmed first). Each delivery has a page: every attempt's time, status or error and the
//! start of the answer, the next attempt, the payload, and Resend. A refused form comes back with
//! what was typed and the error beside its field.

use super::charts::{self, Series};
use super::people::{secret_row, show_once};
use super::viewer::{redirect_done, ButtonPost, Viewer};
use super::{app_layout, confirm_page, field_error, page, time_cell, Confirm, FromFields, Nav, Refused};
use super::{Repeating, WebError};
use crate::domain::{Delivery, EventFilter, EventType, PageRequest};
use crate::error::Error;
use crate::http::AppState;
use crate::service::webhooks::{self, Endpoint, WebhookInput};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

/// A delivery's state in words.
fn state_of(d: &Delivery) -> &'static str {
    match d.status.as_str() {
        "delivered" => "delivered",
        "failed" => "failed",
        _ if d.attempts > 0 => "retrying",
        _ => "queued",
    }
}

/// The receiver's last answer: its status and what went wrong.
fn answer_of(d: &Delivery) -> Markup {
    html! {
        @match (d.last_status, &d.last_error) {
            (Some(s), Some(e)) => { (s) " · " (e) }
            (Some(s), None) => { (s) }
            (None, Some(e)) => { (e) }
            (None, None) => { span.muted { "—" } }
        }
    }
}

/// An endpoint's health from its latest deliveries: failing when the latest attempted one
/// failed.
fn failing(log: &[Delivery]) -> Option<&Delivery> {
    log.iter().find(|d| d.attempts > 0).filter(|d| d.status != "delivered")
}

/// The event types a form chose: `*`, or the types checked.
fn events_of(chosen: &[String]) -> Result<EventFilter, String> {
    if chosen.is_empty() {
        return Err("Choose the events to send: every event, or at least one type.".into());
    }
    if chosen.iter().any(|c| c == "*") {
        return EventFilter::parse(["*"]);
    }
    EventFilter::parse(chosen.iter().map(String::as_str))
}

fn event_boxes(id: &str, current: &EventFilter, error: Option<&str>) -> Markup {
    let all = *current == EventFilter::All;
    let has = |t: EventType| match current {
        EventFilter::All => false,
        EventFilter::Only(v) => v.contains(&t),
    };
    html! {
        fieldset.scopes id=(id) aria-describedby=[error.map(|_| format!("{id}-error"))] {
            legend { "Events" }
            label.check { input type="checkbox" name="event" value="*" checked[all]; strong { "Every event" } }
            @for t in EventType::ALL {
                label.check { input type="checkbox" name="event" value=(t.as_str()) checked[has(t)]; (t.as_str()) }
            }
        }
        (field_error(id, error))
    }
}

pub async fn list(
    state: web::Data<AppState>,
    viewer: Viewer,
    q: web::Query<DoneQuery>,
) -> Result<HttpResponse, WebError> {
    render(&state, &viewer, q.done.as_deref(), StatusCode::OK, None).await
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    done: Option<&str>,
    status: StatusCode,
    refused: Option<Refused>,
) -> Result<HttpResponse, WebError> {
    let actor = viewer.actor();
    let endpoints =
        webhooks::list(&state.ctx, actor.clone(), PageRequest { limit: 100, after: None }).await?;
    let now = state.ctx.now();
    let daily = webhooks::daily(&state.ctx, actor.clone(), charts::first_day(now) * charts::DAY_MS).await?;
    let mut with_log = Vec::new();
    for e in endpoints.items {
        let id = e.row.id.to_string();
        let log =
            webhooks::deliveries(&state.ctx, actor.clone(), &id, PageRequest { limit: 10, after: None })
                .await?;
        with_log.push((e, log.items));
    }
    let r = refused.as_ref();
    let new_events = match Refused::value(r, "new", "events") {
        Some(v) => EventFilter::parse(v.split(',').filter(|s| !s.is_empty())).unwrap_or(EventFilter::All),
        None => EventFilter::All,
    };
    let series = [Series { name: "delivered", class: "ok" }, Series { name: "failed", class: "bad-bar" }];
    let body = html! {
        (viewer.flash(done))
        section.card {
            h1 { "Webhooks" }
            p.muted { "Endpoints receive the organization's events, signed per the Standard Webhooks specification." }
            form method="post" action="/team/webhooks" {
                input type="hidden" name="csrf" value=(viewer.csrf());
                @let url_error = Refused::error(r, "new", "url");
                label for="hook-url" { "Endpoint URL" }
                input #hook-url type="text" name="url" inputmode="url" placeholder="https://hooks.example.com/provisiond" required maxlength="2048"
                    value=(Refused::value(r, "new", "url").unwrap_or_default())
                    aria-invalid=[url_error.as_ref().map(|_| "true")] aria-describedby=[url_error.as_ref().map(|_| "hook-url-error")];
                (field_error("hook-url", url_error.as_deref()))
                (event_boxes("hook-events", &new_events, Refused::error(r, "new", "events").as_deref()))
                label for="hook-description" { "Description " span.muted { "(optional)" } }
                input #hook-description type="text" name="description" maxlength="500" value=(Refused::value(r, "new", "description").unwrap_or_default());
                (field_error("hook-form", Refused::error(r, "new", "form").as_deref()))
                button #hook-create type="submit" { "Add endpoint" }
            }
        }
        @for (e, log) in &with_log {
            @let id = e.row.id.to_string();
            @let form = format!("edit-{id}");
            @let bad = failing(log);
            @let days: charts::Daily = daily.iter().filter(|(w, ..)| *w == e.row.id).map(|(_, d, ok, failed)| (*d, vec![*ok as f64, *failed as f64])).collect();
            section.card data-webhook=(id) {
                h2 { code.id { (e.row.url) } }
                p.health {
                    @if !e.row.enabled { span.pill.bad { "disabled" } " " (e.row.disabled_reason.clone().unwrap_or_default()) }
                    @else if let Some(d) = bad { span.pill.bad.failing { "failing" } " the last attempt " (time_cell(now, d.last_at.unwrap_or(d.created_at))) ": " (answer_of(d))
                        @if d.status == "pending" { "; next attempt " (time_cell(now, d.next_at)) } }
                    @else { span.pill.good { "enabled" } }
                    " · events: " (e.events.names().join(", "))
                    @if let Some(d) = &e.row.description { " · " (d) }
                }
                (charts::bars(&format!("deliveries-chart-{id}"), &format!("Deliveries to {}", e.row.url), &series, &days, now, viewer.locale))
                div.row {
                    @if e.row.enabled {
                        form.inline method="post" action={ "/team/webhooks/" (id) "/test" } {
                            input type="hidden" name="csrf" value=(viewer.csrf());
                            button.secondary.small type="submit" { "Send test event" span.visually-hidden { " to " (e.row.url) } }
                        }
                    }
                    form.inline method="post" action={ "/team/webhooks/" (id) "/enabled" } {
                        input type="hidden" name="csrf" value=(viewer.csrf());
                        input type="hidden" name="on" value=(if e.row.enabled { "false" } else { "true" });
                        button.secondary.small type="submit" { (if e.row.enabled { "Disable" } else { "Enable" }) span.visually-hidden { " " (e.row.url) } }
                    }
                    form.inline method="post" action={ "/team/webhooks/" (id) "/rotate" } {
                        input type="hidden" name="csrf" value=(viewer.csrf());
                        button.secondary.small type="submit" { "Rotate secret" span.visually-hidden { " of " (e.row.url) } }
                    }
                    a.button.danger.small href={ "/team/webhooks/" (id) "/delete" } { "Delete…" span.visually-hidden { " the endpoint " (e.row.url) } }
                }
                details.edit open[refused.as_ref().is_some_and(|x| x.form == form)] {
                    summary { "Edit" span.visually-hidden { " " (e.row.url) } }
                    form method="post" action={ "/team/webhooks/" (id) "/edit" } {
                        input type="hidden" name="csrf" value=(viewer.csrf());
                        @let url_error = Refused::error(r, &form, "url");
                        label for={ "url-" (id) } { "Endpoint URL" }
                        input id={ "url-" (id) } type="text" name="url" required maxlength="2048"
                            value=(Refused::value(r, &form, "url").unwrap_or_else(|| e.row.url.clone()))
                            aria-invalid=[url_error.as_ref().map(|_| "true")] aria-describedby=[url_error.as_ref().map(|_| format!("url-{id}-error"))];
                        (field_error(&format!("url-{id}"), url_error.as_deref()))
                        (event_boxes(&format!("events-{id}"), &e.events, Refused::error(r, &form, "events").as_deref()))
                        label for={ "description-" (id) } { "Description" }
                        input id={ "description-" (id) } type="text" name="description" value=(Refused::value(r, &form, "description").unwrap_or_else(|| e.row.description.clone().unwrap_or_default())) maxlength="500";
                        button.secondary type="submit" { "Save" }
                    }
                }
                @if log.is_empty() {
                    p.muted { "No deliveries yet." }
                } @else {
                    table.stack.deliveries {
                        thead { tr { th { "Event" } th { "State" } th.num { "Attempts" } th { "Last answer" } th { "When" } } }
                        tbody {
                            @for d in log {
                                tr data-event=(d.event_id) {
                                    td data-label="Event" { a href={ "/team/webhooks/" (id) "/deliveries/" (d.event_id) } { code { (d.event_type) } } }
                                    td data-label="State" {
                                        (state_of(d))
                                        @if d.status == "pending" && d.attempts > 0 { br; span.muted { "next " (time_cell(now, d.next_at)) } }
                                    }
                                    td.num data-label="Attempts" { (d.attempts) }
                                    td data-label="Last answer" { (answer_of(d)) }
                                    td data-label="When" { (time_cell(now, d.last_at.unwrap_or(d.created_at))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(status, app_layout("Webhooks", viewer, Nav::Webhooks, body)))
}

/// A delivery's page: each attempt, the next one, the payload as sent, and Resend.
pub async fn delivery(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<(String, String)>,
    q: web::Query<DoneQuery>,
) -> Result<HttpResponse, WebError> {
    let (id, event) = path.into_inner();
    let d = webhooks::delivery(&state.ctx, viewer.actor(), &id, &event).await?;
    let now = state.ctx.now();
    let payload = serde_json::to_string_pretty(&d.payload).unwrap_or_default();
    let dl = &d.delivery;
    let body = html! {
        (viewer.flash(q.done.as_deref()))
        section.card #delivery {
            h1 { "Delivery of " code { (dl.event_type) } }
            p { "To " code.id { (d.endpoint.row.url) } ". Event " code.id { (dl.event_id) } " (its " code { "webhook-id" } "), made " (time_cell(now, dl.created_at)) "." }
            p #delivery-state {
                "State: " strong { (state_of(dl)) }
                @if d.in_flight { " — an attempt is running now." }
                @else if dl.status == "pending" { " — next attempt " (time_cell(now, dl.next_at)) "." }
            }
            @if !d.in_flight && d.endpoint.row.enabled {
                form method="post" action={ "/team/webhooks/" (id) "/deliveries/" (dl.event_id) "/resend" } {
                    input type="hidden" name="csrf" value=(viewer.csrf());
                    button #resend type="submit" { "Resend" span.visually-hidden { " this event" } }
                    span.muted { " A new attempt now, with the same webhook-id: receivers that dedupe on it see one event." }
                }
            }
            h2 { "Attempts" }
            @if d.attempts.is_empty() {
                p.muted { "None yet." }
            } @else {
                table.stack #attempts {
                    thead { tr { th.num { "#" } th { "When" } th { "Answer" } th { "Response" } } }
                    tbody {
                        @for a in &d.attempts {
                            tr {
                                td.num data-label="#" { (a.attempt) }
                                td data-label="When" { (time_cell(now, a.at)) }
                                td data-label="Answer" {
                                    @match (a.status, &a.error) {
                                        (Some(s), _) if (200..300).contains(&s) => { span.pill.good { (s) } }
                                        (Some(s), Some(e)) => { span.pill.bad { (s) } " " (e) }
                                        (Some(s), None) => { span.pill.bad { (s) } }
                                        (None, Some(e)) => { span.pill.bad { "no answer" } " " (e) }
                                        (None, None) => { span.muted { "—" } }
                                    }
                                }
                                td data-label="Response" { @if let Some(r) = &a.response { code.id { (r) } } @else { span.muted { "—" } } }
                            }
                        }
                    }
                }
            }
            h2 { "Payload" }
            pre.payload #payload { (payload) }
            p { a href="/team/webhooks" { "Back to webhooks" } }
        }
    };
    Ok(page(StatusCode::OK, app_layout("Webhook delivery", &viewer, Nav::Webhooks, body)))
}

pub async fn resend(
    state: web::Data<AppState>,
    viewer: ButtonPost,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WebError> {
    let (id, event) = path.into_inner();
    let d = webhooks::resend(&state.ctx, viewer.actor(), &id, &event).await?;
    let message =
        format!("The {} event is sent again; its attempt shows below within seconds.", d.event_type);
    Ok(redirect_done(&state, &format!("/team/webhooks/{id}/deliveries/{event}"), "resent", &message))
}

/// An endpoint form's fields: `event` repeats (checkboxes).
#[derive(Default)]
pub struct HookForm {
    url: String,
    events: Vec<String>,
    description: String,
    csrf: Option<String>,
}

impl FromFields for HookForm {
    fn field(&mut self, name: &str, value: String) {
        match name {
            "url" => self.url = value,
            "event" => self.events.push(value),
            "description" => self.description = value,
            "csrf" => self.csrf = Some(value),
            _ => {}
        }
    }
}

impl HookForm {
    /// What the form asks of an endpoint, adding or editing it: its URL, events and description.
    fn input(&self) -> Result<WebhookInput, Error> {
        let events = events_of(&self.events).map_err(|m| Error::InvalidField(format!("Events: {m}")))?;
        Ok(WebhookInput {
            url: Some(self.url.clone()),
            events: Some(events),
            description: description(&self.description),
            enabled: None,
        })
    }
}

/// Which field of an endpoint form an error is about.
fn refusal(form: String, e: Error, f: &HookForm) -> Result<Refused, WebError> {
    let (field, message) = match e {
        Error::UrlRefused(m) => ("url", m),
        Error::InvalidField(m) if m.starts_with("Events:") => ("events", m),
        Error::InvalidField(m) if m.contains("'description'") => ("form", m),
        Error::InvalidField(m) => ("url", m),
        Error::Conflict("too_many_webhooks", m) => ("form", m),
        e => return Err(e.into()),
    };
    let values =
        vec![("url", f.url.clone()), ("events", f.events.join(",")), ("description", f.description.clone())];
    Ok(Refused { form, field, message, values })
}

fn description(d: &str) -> Option<Option<String>> {
    Some(Some(d.trim().to_string()).filter(|d| !d.is_empty()))
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    Repeating(f): Repeating<HookForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, f.csrf.as_deref())?;
    let outcome = match f.input() {
        Ok(input) => webhooks::create(&state.ctx, viewer.actor(), input).await,
        Err(e) => Err(e),
    };
    let created = match outcome {
        Ok(c) => c,
        Err(e) => {
            let refused = refusal("new".into(), e, &f)?;
            return render(&state, &viewer, None, StatusCode::BAD_REQUEST, Some(refused)).await;
        }
    };
    let url = created.endpoint.row.url.clone();
    let body = html! {
        section.card {
            h1 { "Endpoint added: " code.id { (url) } }
            p role="status" { "Verify deliveries to " (url) " with this signing secret. " strong { "It is shown only this once." } }
            (secret_row("Signing secret", "webhook-secret", &created.secret))
            p { a href="/team/webhooks" { "Back to webhooks" } }
        }
    };
    show_once(&state, &viewer.session, "Endpoint added", body).await
}

/// Saves an endpoint's URL, events and description (the form's fields, all of them).
pub async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
    Repeating(f): Repeating<HookForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, f.csrf.as_deref())?;
    let outcome = match f.input() {
        Ok(change) => webhooks::update(&state.ctx, viewer.actor(), &id, change).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(e) => Ok(redirect_done(
            &state,
            "/team/webhooks",
            "webhook_saved",
            &format!("The endpoint {} is saved.", e.row.url),
        )),
        Err(e) => {
            let refused = refusal(format!("edit-{id}"), e, &f)?;
            render(&state, &viewer, None, StatusCode::BAD_REQUEST, Some(refused)).await
        }
    }
}

async fn url_of(state: &AppState, viewer: &Viewer, id: &str) -> Result<String, WebError> {
    Ok(webhooks::get(&state.ctx, viewer.actor(), id).await?.row.url)
}

pub async fn test(
    state: web::Data<AppState>,
    viewer: ButtonPost,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    webhooks::test(&state.ctx, viewer.actor(), &id).await?;
    let url = url_of(&state, &viewer, &id).await?;
    Ok(redirect_done(
        &state,
        "/team/webhooks",
        "test_sent",
        &format!("A test event is on its way to {url}; its delivery shows below."),
    ))
}

#[derive(Deserialize)]
pub struct EnabledForm {
    on: Option<String>,
    csrf: Option<String>,
}

pub async fn set_enabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
    form: web::Form<EnabledForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, form.csrf.as_deref())?;
    let on = form.on.as_deref() == Some("true");
    let change = WebhookInput { enabled: Some(on), ..Default::default() };
    let e: Endpoint = webhooks::update(&state.ctx, viewer.actor(), &id, change).await?;
    let (done, message) = if on {
        ("webhook_on", format!("The endpoint {} is enabled.", e.row.url))
    } else {
        ("webhook_off", format!("The endpoint {} is disabled; nothing is sent to it.", e.row.url))
    };
    Ok(redirect_done(&state, "/team/webhooks", done, &message))
}

pub async fn rotate(
    state: web::Data<AppState>,
    viewer: ButtonPost,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let rotated = webhooks::rotate_secret(&state.ctx, viewer.actor(), &id).await?;
    let url = rotated.endpoint.row.url.clone();
    let body = html! {
        section.card {
            h1 { "Secret rotated for " code.id { (url) } }
            p role="status" { "For 24 hours deliveries carry signatures by both the old and the new secret. " strong { "The new one is shown only this once." } }
            (secret_row("Signing secret", "webhook-secret", &rotated.secret))
            p { a href="/team/webhooks" { "Back to webhooks" } }
        }
    };
    show_once(&state, &viewer.session, "Secret rotated", body).await
}

pub async fn delete_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let url = url_of(&state, &viewer, &id).await?;
    Ok(confirm_page(
        &viewer,
        Confirm {
            title: format!("Delete the endpoint {url}?"),
            what: format!("Nothing more is sent to {url}, and its delivery log is deleted with it."),
            action: format!("/team/webhooks/{id}/delete"),
            button: "Delete the endpoint",
            back: "/team/webhooks".into(),
            fields: Vec::new(),
            extra: html! {},
            nav: Nav::Webhooks,
        },
    ))
}

pub async fn delete(
    state: web::Data<AppState>,
    viewer: ButtonPost,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let url = url_of(&state, &viewer, &id).await?;
    webhooks::delete(&state.ctx, viewer.actor(), &id).await?;
    Ok(redirect_done(&state, "/team/webhooks", "webhook_deleted", &format!("The endpoint {url} is deleted.")))
}
