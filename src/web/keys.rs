//! API keys on the dashboard: everyone's own ("Your API keys": create, rotate with a grace
//! period, revoke; a new key shown once), and for admins and owners a member's keys, named by
//! the member's address. Each key has a page with its verifications per day (valid and
//! refused). Revoked and expired keys are hidden until asked for. The same service functions
//! as `/v1/keys`; a control shows only where the authority rule allows it.

use super::charts::{self, Series};
use super::people::{secret_row, show_once};
use super::viewer::{redirect_done, ButtonPost, Viewer};
use super::{app_layout, confirm_page, field_error, fmt, page, time_cell, Confirm, FromFields, Nav, Refused};
use super::{Repeating, WebError};
use crate::clock::Millis;
use crate::domain::{KeyRecord, PageRequest, Role, Scope, Scopes, UserId};
use crate::error::Error;
use crate::http::AppState;
use crate::service::authority::{Act, KeyAction};
use crate::service::keys::{self, IssuedKey};
use crate::service::{team, verify};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct KeysQuery {
    user: Option<String>,
    done: Option<String>,
    /// Show revoked and expired keys too.
    all: Option<String>,
}

pub(super) fn live(k: &KeyRecord, now: Millis) -> bool {
    k.revoked_at.is_none_or(|at| at > now) && k.expires_at.is_none_or(|at| at > now)
}

/// The scopes whose routes act by role (the organization's administration); a key with none of
/// them does the same whatever its role, so its role is not worth showing.
const ROLE_SCOPES: [Scope; 6] =
    [Scope::Provisions, Scope::Members, Scope::Keys, Scope::Audit, Scope::Webhooks, Scope::CreditsRead];

/// The role a key acts as (its ceiling and its holder's role, the lesser), when it matters.
fn acts_as(k: &KeyRecord) -> Option<Role> {
    ROLE_SCOPES.iter().any(|s| k.scopes.has(*s)).then(|| k.holder_role.unwrap_or(Role::Member).min(k.ceiling))
}

fn scopes_text(s: Scopes) -> String {
    if s == Scopes::ALL {
        "all".into()
    } else {
        s.names().join(", ")
    }
}

fn label_of(k: &KeyRecord) -> String {
    match &k.name {
        Some(n) => format!("{n} ({}…)", k.hint),
        None => format!("{}…", k.hint),
    }
}

/// The label of key `id`, looked up as the viewer (for the pages that name it before and after
/// acting on it).
async fn label(state: &AppState, viewer: &Viewer, id: &str) -> Result<String, WebError> {
    Ok(label_of(&keys::get(&state.ctx, viewer.actor(), id).await?))
}

/// A key's label for the confirmation before `action` on it, refused (as the action would be)
/// when the rule does not let the viewer take it: seeing a key is not acting on it.
async fn label_to(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    action: KeyAction,
) -> Result<String, WebError> {
    let k = keys::get(&state.ctx, viewer.actor(), id).await?;
    viewer.require(Act::OnKey { target: keys::target(&k), action })?;
    Ok(label_of(&k))
}

fn status_of(k: &KeyRecord, now: Millis) -> Markup {
    html! {
        @if let Some(at) = k.revoked_at.filter(|at| *at <= now) { "revoked " (time_cell(now, at)) }
        @else if let Some(at) = k.revoked_at { "replaced; works until " (fmt::words(at)) }
        @else if let Some(at) = k.expires_at { @if at <= now { "expired" } @else { "expires " (time_cell(now, at)) } }
        @else { "active" }
    }
}

fn keys_table(viewer: &Viewer, id: &str, keys: &[&KeyRecord], now: Millis) -> Markup {
    html! {
        @if keys.is_empty() {
            p.muted { "No keys." }
        } @else {
            table.stack id=(id) {
                thead { tr { th { "Key" } th { "Name" } th { "Scopes" } th { "Role" } th { "Created" } th { "Last used" } th { "Status" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for k in keys {
                        @let label = k.name.clone().unwrap_or_else(|| k.hint.clone());
                        @let target = keys::target(k);
                        tr data-key=(k.id) {
                            td data-label="Key" { a href={ "/team/keys/" (k.id) } { code { (k.hint) "…" } } }
                            td data-label="Name" { (k.name.clone().unwrap_or_default()) }
                            td data-label="Scopes" { (scopes_text(k.scopes)) }
                            td data-label="Role" { @if let Some(r) = acts_as(k) { (r.as_str()) } @else { span.muted title="Its scopes do not depend on a role" { "—" } } }
                            td data-label="Created" { (time_cell(now, k.created_at)) }
                            td data-label="Last used" { @if let Some(at) = k.last_used_at { (time_cell(now, at)) } @else { span.muted { "never" } } }
                            td data-label="Status" { (status_of(k, now)) }
                            td.actions {
                                @if live(k, now) && k.revoked_at.is_none() && viewer.may(Act::OnKey { target, action: KeyAction::Rotate }) {
                                    a.button.secondary.small href={ "/team/keys/" (k.id) "/rotate" } data-action="rotate" { "Rotate…" span.visually-hidden { " key " (label) } }
                                }
                                @if live(k, now) && viewer.may(Act::OnKey { target, action: KeyAction::Revoke }) {
                                    a.button.danger.small href={ "/team/keys/" (k.id) "/revoke" } data-action="revoke" { "Revoke…" span.visually-hidden { " key " (label) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The keys a list shows (live ones unless `all`), and a link to the rest.
fn shown(keys: &[KeyRecord], all: bool, now: Millis) -> (Vec<&KeyRecord>, usize) {
    let hidden = keys.iter().filter(|k| !live(k, now)).count();
    (keys.iter().filter(|k| all || live(k, now)).collect(), hidden)
}

pub async fn list(
    state: web::Data<AppState>,
    viewer: Viewer,
    q: web::Query<KeysQuery>,
) -> Result<HttpResponse, WebError> {
    render(&state, &viewer, &q, StatusCode::OK, None).await
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    q: &KeysQuery,
    status: StatusCode,
    refused: Option<Refused>,
) -> Result<HttpResponse, WebError> {
    let actor = viewer.actor();
    let me = viewer.principal.user.clone();
    let mine =
        keys::list(&state.ctx, actor.clone(), Some(me.clone()), PageRequest { limit: 1000, after: None })
            .await?;
    let member = match q.user.as_deref().and_then(UserId::parse).filter(|u| *u != me) {
        Some(u) => {
            let m = team::member(&state.ctx, actor.clone(), u.as_str()).await?;
            let list =
                keys::list(&state.ctx, actor, Some(u), PageRequest { limit: 1000, after: None }).await?;
            Some((m, list))
        }
        None => None,
    };
    let now = state.ctx.now();
    let all = q.all.is_some();
    let toggle = |hidden: usize, user: Option<&UserId>| {
        let base = match user {
            Some(u) => format!("/team/keys?user={u}"),
            None => "/team/keys".to_string(),
        };
        let sep = if user.is_some() { "&" } else { "?" };
        html! {
            @if all { p { a.show-all href=(base) { "Hide revoked and expired keys" } } }
            @else if hidden > 0 { p { a.show-all href={ (base) (sep) "all=1" } { "Show " (hidden) " revoked or expired key" @if hidden != 1 { "s" } } } }
        }
    };
    let r = refused.as_ref();
    let name_error = Refused::error(r, "key", "name");
    let form_error = Refused::error(r, "key", "form");
    let body = html! {
        (viewer.flash(q.done.as_deref()))
        @if let Some((m, keys)) = &member {
            @let (rows, hidden) = shown(&keys.items, all, now);
            section.card #member-keys {
                h1 { "Keys of " (super::team::member_name(m)) }
                (keys_table(viewer, "member-keys-table", &rows, now))
                (toggle(hidden, Some(&m.user_id)))
                p { a href="/team?tab=active" { "Back to the team" } }
            }
        }
        @let (rows, hidden) = shown(&mine.items, all, now);
        section.card #your-keys {
            h1 { "Your API keys" }
            p.muted { "Keys act as you in this organization (at most your role). A new key is shown once." }
            (keys_table(viewer, "your-keys-table", &rows, now))
            (toggle(hidden, None))
            @if viewer.may(Act::ListKeys { of: None }) {
                form method="post" action="/team/keys" {
                    input type="hidden" name="csrf" value=(viewer.csrf());
                    h2 { "New key" }
                    label for="key-name" { "Name " span.muted { "(optional, e.g. laptop, CI)" } }
                    input #key-name type="text" name="name" maxlength="100" value=(Refused::value(r, "key", "name").unwrap_or_default())
                        aria-invalid=[name_error.as_ref().map(|_| "true")] aria-describedby=[name_error.as_ref().map(|_| "key-name-error")];
                    (field_error("key-name", name_error.as_deref()))
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
                    (field_error("key-form", form_error.as_deref()))
                    button #key-create type="submit" { "Create key" }
                }
            }
        }
    };
    Ok(page(status, app_layout("API keys", viewer, Nav::Keys, body)))
}

/// A key's page: what it is, and its verifications per day over the last 30 days.
pub async fn key_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let now = state.ctx.now();
    let (k, days) = verify::daily(&state.ctx, viewer.actor(), &id, charts::first_day(now)).await?;
    let holder = team::member(&state.ctx, viewer.actor(), k.user_id.as_str()).await.ok();
    let series = [Series { name: "valid", class: "ok" }, Series { name: "refused", class: "bad-bar" }];
    let daily: charts::Daily = days.iter().map(|(d, v, r)| (*d, vec![*v as f64, *r as f64])).collect();
    let l = viewer.locale;
    let (valid, refused) = days.iter().fold((0, 0), |(a, b), (_, v, r)| (a + v, b + r));
    let body = html! {
        section.card #key {
            h1 { "Key " code { (k.hint) "…" } @if let Some(n) = &k.name { " · " (n) } }
            table.stack #key-facts {
                tbody {
                    tr { th scope="row" { "Holder" } td { (holder.as_ref().map(super::team::member_name).unwrap_or_else(|| "(no longer a member)".into())) } }
                    tr { th scope="row" { "Scopes" } td { (scopes_text(k.scopes)) } }
                    tr { th scope="row" { "Role" } td { @if let Some(r) = acts_as(&k) { (r.as_str()) } @else { "— (its scopes do not depend on a role)" } } }
                    tr { th scope="row" { "Created" } td { (time_cell(now, k.created_at)) } }
                    tr { th scope="row" { "Last used" } td { @if let Some(at) = k.last_used_at { (time_cell(now, at)) } @else { "never" } } }
                    tr { th scope="row" { "Status" } td { (status_of(&k, now)) } }
                }
            }
            h2 { "Verifications" }
            p.muted { "How often the platform's services checked this key (POST /v1/keys/verify), per day: "
                (l.int(valid)) " valid and " (l.int(refused)) " refused in the last " (charts::DAYS) " days. Counts reach this page within a minute." }
            (charts::bars("verifications-chart", "Verifications of this key", &series, &daily, now, l))
            p { a href="/team/keys" { "Back to the keys" } }
        }
    };
    Ok(page(StatusCode::OK, app_layout("API key", &viewer, Nav::Keys, body)))
}

/// The new-key form: checkboxes repeat `scope`.
#[derive(Default)]
pub struct NewKeyForm {
    name: Option<String>,
    expires: Option<String>,
    csrf: Option<String>,
    scopes: Vec<String>,
}

impl FromFields for NewKeyForm {
    fn field(&mut self, name: &str, value: String) {
        match name {
            "name" => self.name = Some(value),
            "expires_in" => self.expires = Some(value),
            "csrf" => self.csrf = Some(value),
            "scope" => self.scopes.push(value),
            _ => {}
        }
    }
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
    viewer: Viewer,
    Repeating(form): Repeating<NewKeyForm>,
) -> Result<HttpResponse, WebError> {
    let NewKeyForm { name, expires, csrf, scopes } = form;
    viewer.session.check_post(&req, csrf.as_deref())?;
    let refuse = |field: &'static str, message: String| {
        let values = vec![("name", name.clone().unwrap_or_default())];
        Refused { form: "key".into(), field, message, values }
    };
    let expires_in_ms = match expires.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(e) => match e.parse::<i64>().ok().filter(|s| (60..=31_536_000).contains(s)) {
            Some(s) => Some(s * 1000),
            None => {
                let r = refuse("form", "Choose when the key expires.".into());
                return render(&state, &viewer, &KeysQuery::default(), StatusCode::BAD_REQUEST, Some(r))
                    .await;
            }
        },
    };
    let scopes = if scopes.is_empty() {
        None
    } else {
        match Scopes::parse(scopes.iter().map(String::as_str)) {
            Ok(s) => Some(s),
            Err(m) => {
                let r = refuse("form", m);
                return render(&state, &viewer, &KeysQuery::default(), StatusCode::BAD_REQUEST, Some(r))
                    .await;
            }
        }
    };
    let org = viewer.principal.org.clone();
    match keys::create_as_person(
        &state.ctx,
        &viewer.session.user_id,
        &org,
        name.clone(),
        expires_in_ms,
        scopes,
    )
    .await
    {
        Ok(k) => {
            let what = match &name {
                Some(n) if !n.trim().is_empty() => format!("The key “{}” works now.", n.trim()),
                _ => "The key works now.".into(),
            };
            let body = new_key_page("Key created", &what, &k);
            show_once(&state, &viewer.session, "Key created", body).await
        }
        Err(Error::InvalidField(m)) => {
            let field = if m.contains("'name'") { "name" } else { "form" };
            let r = refuse(field, m);
            render(&state, &viewer, &KeysQuery::default(), StatusCode::BAD_REQUEST, Some(r)).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let label = label_to(&state, &viewer, &id, KeyAction::Revoke).await?;
    Ok(confirm_page(
        &viewer,
        Confirm {
            title: format!("Revoke the key {label}?"),
            what: format!("The key {label} stops working at once, for every program that uses it. This cannot be undone."),
            action: format!("/team/keys/{id}/revoke"),
            button: "Revoke the key",
            back: "/team/keys".into(),
            fields: Vec::new(),
            extra: html! {},
            nav: Nav::Keys,
        },
    ))
}

pub async fn revoke(
    state: web::Data<AppState>,
    viewer: ButtonPost,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let label = label(&state, &viewer, &id).await?;
    keys::revoke(&state.ctx, viewer.actor(), &id).await?;
    let message = format!("The key {label} is revoked; it no longer works.");
    Ok(redirect_done(&state, "/team/keys", "key_revoked", &message))
}

/// The grace periods a rotation on the page offers (seconds).
const GRACE: [(u32, &str); 4] =
    [(0, "none: it stops at once"), (3_600, "1 hour"), (21_600, "6 hours"), (86_400, "24 hours")];

pub async fn rotate_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let label = label_to(&state, &viewer, &id, KeyAction::Rotate).await?;
    let extra = html! {
        label for="grace" { "The old key keeps working for" }
        select #grace name="grace" {
            @for (secs, text) in GRACE { option value=(secs) selected[secs == 0] { (text) } }
        }
    };
    Ok(confirm_page(
        &viewer,
        Confirm {
            title: format!("Rotate the key {label}?"),
            what: format!("A new key replaces {label}, with the same name, role and scopes; the old one stops working when the grace period you choose ends."),
            action: format!("/team/keys/{id}/rotate"),
            button: "Rotate the key",
            back: "/team/keys".into(),
            fields: Vec::new(),
            extra,
            nav: Nav::Keys,
        },
    ))
}

#[derive(Deserialize)]
pub struct RotateForm {
    grace: Option<String>,
    csrf: Option<String>,
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
    form: web::Form<RotateForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, form.csrf.as_deref())?;
    let grace = form
        .grace
        .as_deref()
        .and_then(|g| g.parse::<u32>().ok())
        .filter(|g| GRACE.iter().any(|(s, _)| s == g));
    let grace = grace.unwrap_or(0);
    let k = keys::rotate(&state.ctx, viewer.actor(), &id, i64::from(grace) * 1000).await?;
    let what = if grace == 0 {
        "The new key works now; the old one no longer does.".to_string()
    } else {
        let until = state.ctx.now() + i64::from(grace) * 1000;
        format!("The new key works now; the old one keeps working until {}.", fmt::words(until))
    };
    let body = new_key_page("Key rotated", &what, &k);
    show_once(&state, &viewer.session, "Key rotated", body).await
}
