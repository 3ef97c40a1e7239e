//! The audit log page: who did what in the organization, newest first (admins and owners).

use super::session::Session;
use super::team::person;
use super::{app_layout, page, time_cell, Nav, WebError};
use crate::domain::AuditFilter;
use crate::domain::{Cursor, PageRequest};
use crate::http::AppState;
use crate::service::audit;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
    cursor: Option<String>,
}

pub async fn log(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let action = query.action.as_deref().map(str::trim).filter(|a| !a.is_empty()).map(str::to_string);
    if action.as_ref().is_some_and(|a| a.chars().count() > 100 || a.chars().any(char::is_control)) {
        return Err(WebError::Status(StatusCode::BAD_REQUEST, "That is not an action name.".into()));
    }
    let after = match query.cursor.as_deref() {
        None => None,
        Some(c) => Some(Cursor::parse(c).ok_or_else(|| {
            WebError::Status(
                StatusCode::BAD_REQUEST,
                "That page link is broken; start from the first page.".into(),
            )
        })?),
    };
    let filter = AuditFilter { action: action.clone(), ..Default::default() };
    let rows = audit::list(&state.ctx, person(&session)?, filter, PageRequest { limit: 100, after }).await?;
    let now = state.ctx.now();
    let body = html! {
        section.card {
            h1 { "Audit log" }
            p.muted { "Every change in this organization, newest first: by whom, from where, to what." }
            form.search method="get" action="/team/audit" role="search" {
                label for="audit-action" { "Only this action (e.g. member.updated)" }
                div.row {
                    input #audit-action type="search" name="action" value=(action.as_deref().unwrap_or("")) maxlength="100";
                    button.secondary type="submit" { "AuditFilter" }
                }
            }
            @if rows.items.is_empty() {
                p.muted { "Nothing recorded yet." }
            } @else {
                table.stack #audit {
                    thead { tr { th { "When" } th { "Action" } th { "By" } th { "Target" } th { "From" } } }
                    tbody {
                        @for e in &rows.items {
                            tr {
                                td data-label="When" { (time_cell(now, e.created_at)) }
                                td data-label="Action" { code { (e.action) } }
                                td data-label="By" {
                                    (e.actor_email.clone().unwrap_or_else(|| e.actor_type.clone()))
                                    @if e.actor_type == "api_key" { " " span.muted { "(API key)" } }
                                }
                                td data-label="Target" { (e.target_type) " " code.id { (e.target_id) } }
                                td data-label="From" { (e.ip.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = &rows.next {
                nav.pager aria-label="Pages" {
                    a #audit-next href={ "/team/audit?cursor=" (next.encode()) @if let Some(a) = &action { "&action=" (url::form_urlencoded::byte_serialize(a.as_bytes()).collect::<String>()) } } { "Older entries" }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, app_layout("Audit log", &session, Some(Nav::Audit), body)))
}
