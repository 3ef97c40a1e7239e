//! The credits page: the pool, each member's use and limit, the ledger; owners grant, admins
//! set limits (the same service functions as the API, with the same rules).

use super::session::Session;
use super::team::person;
use super::{app_layout, flash_of, page, redirect, time_cell, Nav, WebError};
use crate::domain::{Credits, LimitPeriod, PageRequest};
use crate::http::AppState;
use crate::service::credits;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn overview(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<DoneQuery>,
) -> Result<HttpResponse, WebError> {
    let actor = person(&session)?;
    let (usage, balance) =
        credits::usage(&state.ctx, actor.clone(), PageRequest { limit: 1000, after: None }).await?;
    let ledger = credits::ledger(&state.ctx, actor, None, PageRequest { limit: 100, after: None }).await?;
    let now = state.ctx.now();
    let body = html! {
        (flash_of(q.done.as_deref()))
        section.card {
            h1 { "Credits" }
            p #credits-balance { "Left: " strong { (balance.left()) } " of " (balance.granted) " granted (" (balance.used) " used)." }
            form method="post" action="/team/credits/grant" {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="grant-amount" { "Grant credits to the pool " span.muted { "(owners)" } }
                div.row {
                    input #grant-amount type="text" name="amount" inputmode="decimal" placeholder="100" required maxlength="20";
                    label.visually-hidden for="grant-reason" { "Reason" }
                    input #grant-reason type="text" name="reason" placeholder="Reason (optional)" maxlength="200";
                    button #grant-submit type="submit" { "Grant" }
                }
            }
        }
        section.card {
            h2 { "Use by member" }
            @if usage.items.is_empty() {
                p.muted { "Nobody has used credits yet." }
            } @else {
                table.stack #usage {
                    thead { tr { th { "Member" } th { "Used" } th { "Limit" } th { span.visually-hidden { "Set a limit" } } } }
                    tbody {
                        @for u in &usage.items {
                            @let who = u.email.clone().unwrap_or_else(|| u.user_id.to_string());
                            tr {
                                td data-label="Member" { (who) }
                                td data-label="Used" { (u.used) }
                                td data-label="Limit" {
                                    @if let Some(l) = &u.limit { (l.used) " of " (l.amount) " per " (l.period.as_str()) } @else { span.muted { "none" } }
                                }
                                td.actions data-label="Set a limit" {
                                    form.row method="post" action={ "/team/credits/limits/" (u.user_id) } {
                                        input type="hidden" name="csrf" value=(session.csrf);
                                        label.visually-hidden for={ "limit-" (u.user_id) } { "Limit for " (who) }
                                        input.compact id={ "limit-" (u.user_id) } type="text" name="amount" inputmode="decimal" placeholder="none" maxlength="20";
                                        label.visually-hidden for={ "period-" (u.user_id) } { "Period of the limit for " (who) }
                                        select.compact id={ "period-" (u.user_id) } name="period" {
                                            option value="day" { "per day" } option value="month" selected { "per month" } option value="total" { "in total" }
                                        }
                                        button.secondary.small type="submit" aria-label={ "Set the limit for " (who) } { "Set" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "Ledger" }
            @if ledger.items.is_empty() {
                p.muted { "No grants or uses yet." }
            } @else {
                table.stack #ledger {
                    thead { tr { th { "When" } th { "What" } th { "Amount" } th { "Reason" } } }
                    tbody {
                        @for r in &ledger.items {
                            tr {
                                td data-label="When" { (time_cell(now, r.created_at)) }
                                td data-label="What" { (r.kind) }
                                td data-label="Amount" { (r.amount) }
                                td data-label="Reason" { (r.reason.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, app_layout("Credits", &session, Some(Nav::Credits), body)))
}

#[derive(Deserialize)]
pub struct GrantForm {
    amount: Option<String>,
    reason: Option<String>,
    csrf: Option<String>,
}

fn amount(text: Option<&str>) -> Result<Credits, WebError> {
    Credits::parse(text.unwrap_or("").trim()).map_err(|m| WebError::Status(StatusCode::BAD_REQUEST, m))
}

pub async fn grant(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<GrantForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let amount = amount(form.amount.as_deref())?;
    let reason = form.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    credits::grant(&state.ctx, person(&session)?, amount, reason, None).await?;
    Ok(redirect("/team/credits?done=granted"))
}

#[derive(Deserialize)]
pub struct LimitForm {
    amount: Option<String>,
    period: Option<String>,
    csrf: Option<String>,
}

pub async fn set_limit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: web::Path<String>,
    form: web::Form<LimitForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let limit = match form.amount.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => {
            let period = form.period.as_deref().and_then(LimitPeriod::parse).ok_or_else(|| {
                WebError::Status(
                    StatusCode::BAD_REQUEST,
                    "Choose a period: per day, per month or in total.".into(),
                )
            })?;
            Some((amount(Some(a))?, period))
        }
    };
    credits::set_limit(&state.ctx, person(&session)?, &user, limit).await?;
    Ok(redirect("/team/credits?done=limit_set"))
}
