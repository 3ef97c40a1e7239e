//! The SCIM page (owners): what an identity provider needs to connect (the base URL, a token
//! shown once), which group makes admins, and the last changes it made. The same service
//! functions as `/v1/keys` and `/v1/scim/settings`, under the same rules.

use super::people::{secret_row, show_once};
use super::viewer::Viewer;
use super::{app_layout, page, redirect, time_cell, Nav, WebError};
use crate::domain::{PageRequest, Scope, Scopes};
use crate::http::AppState;
use crate::service::authority::{Act, KeyAction};
use crate::service::{keys, scim_groups};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ScimQuery {
    done: Option<String>,
}

pub async fn overview(
    state: web::Data<AppState>,
    viewer: Viewer,
    q: web::Query<ScimQuery>,
) -> Result<HttpResponse, WebError> {
    let actor = viewer.actor();
    // Owners only: the settings' read refuses anyone else, before anything is shown.
    let admin_group = scim_groups::admin_group(&state.ctx, actor.clone()).await?;
    let changes = scim_groups::recent_changes(&state.ctx, actor.clone(), 20).await?;
    let tokens = keys::list(&state.ctx, actor, None, PageRequest { limit: 1000, after: None }).await?;
    let tokens: Vec<_> = tokens.items.into_iter().filter(|k| k.scopes.has(Scope::Scim)).collect();
    let base = format!("{}{}", state.settings.public_url.trim_end_matches('/'), crate::scim::PREFIX);
    let now = state.ctx.now();
    let saved = match q.done.as_deref() {
        Some("saved") => "The admin group is saved; roles follow it from now on.",
        _ => "",
    };
    let body = html! {
        div.flash-region role="status" aria-live="polite" {
            @if !saved.is_empty() { p.flash #flash { (saved) } }
        }
        section.card #scim {
            h1 { "SCIM provisioning" }
            p.muted {
                "Your identity provider (Okta, Microsoft Entra ID, …) adds, deactivates and removes the people of this "
                "organization over SCIM 2.0. Deactivated people's keys and sessions stop working at once. "
                "Owners are beyond its reach. docs/scim.md walks through connecting Okta and Entra ID."
            }
            (secret_row("SCIM base URL", "scim-base-url", &base))
            h2 { "Tokens" }
            @if tokens.is_empty() {
                p.muted { "No SCIM token yet." }
            } @else {
                table.stack #scim-tokens {
                    thead { tr { th { "Token" } th { "Name" } th { "Created" } th { "Last used" } th { "Status" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for k in &tokens {
                            @let live = super::keys::live(k, now);
                            @let revocable = live && viewer.may(Act::OnKey { target: keys::target(k), action: KeyAction::Revoke });
                            tr data-key=(k.id) {
                                td data-label="Token" { code { (k.hint) "…" } }
                                td data-label="Name" { (k.name.clone().unwrap_or_default()) }
                                td data-label="Created" { (time_cell(now, k.created_at)) }
                                td data-label="Last used" { @if let Some(at) = k.last_used_at { (time_cell(now, at)) } @else { span.muted { "never" } } }
                                td data-label="Status" { @if live { "active" } @else { "revoked or expired" } }
                                td.actions data-label="Actions" {
                                    @if revocable { a.button.danger.small href={ "/team/keys/" (k.id) "/revoke" } { "Revoke…" } }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/team/scim/token" {
                input type="hidden" name="csrf" value=(viewer.csrf());
                label for="scim-token-name" { "Name " span.muted { "(optional, e.g. Okta)" } }
                input #scim-token-name type="text" name="name" maxlength="100";
                button #scim-token-create type="submit" { "Make a SCIM token" }
            }
            h2 { "Admin group" }
            form method="post" action="/team/scim/settings" {
                input type="hidden" name="csrf" value=(viewer.csrf());
                label for="scim-admin-group" {
                    "Members of this SCIM group are admins, everyone else SCIM manages a member " span.muted { "(empty: SCIM leaves roles alone)" }
                }
                input #scim-admin-group type="text" name="admin_group" maxlength="255" value=(admin_group.as_deref().unwrap_or(""));
                button.secondary #scim-admin-group-save type="submit" { "Save" }
            }
            h2 { "Last changes" }
            @if changes.is_empty() {
                p.muted { "Nothing yet." }
            } @else {
                table.stack #scim-changes {
                    thead { tr { th { "When" } th { "Action" } th { "Target" } th { "What" } } }
                    tbody {
                        @for e in &changes {
                            tr {
                                td data-label="When" { (time_cell(now, e.created_at)) }
                                td data-label="Action" { code { (e.action) } }
                                td data-label="Target" { (e.target_type) " " code.id { (e.target_id) } }
                                td data-label="What" { code { (e.details.clone().unwrap_or_default()) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, app_layout("SCIM", &viewer, Nav::Scim, body)))
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: Option<String>,
    name: Option<String>,
}

/// A new SCIM token for the signed-in owner, shown once.
pub async fn make_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, form.csrf.as_deref())?;
    let org = viewer.principal.org.clone();
    let name = form.name.clone().filter(|n| !n.trim().is_empty());
    let k = keys::create_as_person(&state.ctx, &viewer.session.user_id, &org, name, None, Some(Scopes::SCIM))
        .await?;
    let base = format!("{}{}", state.settings.public_url.trim_end_matches('/'), crate::scim::PREFIX);
    let body = html! {
        section.card {
            h1 { "SCIM token made" }
            p role="status" { "Give it to your identity provider as the bearer token, with the base URL. " strong { "It is shown only this once." } }
            (secret_row("SCIM base URL", "scim-base-url", &base))
            (secret_row("SCIM token", "api-key", &k.api_key))
            p { a href="/team/scim" { "Back to SCIM" } }
        }
    };
    show_once(&state, &viewer.session, "SCIM token made", body).await
}

#[derive(Deserialize)]
pub struct SettingsForm {
    csrf: Option<String>,
    admin_group: Option<String>,
}

pub async fn save_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<SettingsForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, form.csrf.as_deref())?;
    let group = form.admin_group.clone().filter(|g| !g.trim().is_empty());
    scim_groups::set_admin_group(&state.ctx, viewer.actor(), group).await?;
    Ok(redirect("/team/scim?done=saved"))
}
