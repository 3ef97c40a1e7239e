//! The credits page: the pool and a picture of its use over 30 days; each member's use (with
//! their own picture), their limit (prefilled, and a warning when it is exceeded) and a form to
//! set it for anyone in the organization; the ledger with its member column, in pages that say
//! how many there are. Owners grant, admins set limits: the same service functions as the API,
//! and each form shows only where the authority rule allows it. A refused form comes back with
//! what was typed and the error beside its field.

use super::charts::{self, Series};
use super::viewer::{redirect_done, Viewer};
use super::{app_layout, field_error, page, time_cell, Nav, Refused, WebError};
use crate::domain::{Credits, Cursor, LimitPeriod, Member, PageRequest, Role, UserId};
use crate::error::Error;
use crate::http::AppState;
use crate::service::authority::Act;
use crate::service::credits::{self, Limit};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

/// Ledger entries a page shows.
const LEDGER_PAGE: u32 = 50;

#[derive(Deserialize, Default)]
pub struct CreditsQuery {
    done: Option<String>,
    /// The ledger page's start (its cursor) and number.
    before: Option<String>,
    page: Option<u32>,
}

fn period_words(p: LimitPeriod) -> &'static str {
    match p {
        LimitPeriod::Day => "per day",
        LimitPeriod::Month => "per month",
        LimitPeriod::Total => "in total",
    }
}

/// One row of the use table: a member (or a former user who consumed), their use and limit.
struct Row {
    user_id: UserId,
    who: String,
    role: Option<Role>,
    used: Credits,
    limit: Option<Limit>,
}

fn over(l: &Limit) -> bool {
    l.used.thousandths() > l.amount.thousandths()
}

pub async fn overview(
    state: web::Data<AppState>,
    viewer: Viewer,
    q: web::Query<CreditsQuery>,
) -> Result<HttpResponse, WebError> {
    render(&state, &viewer, &q, StatusCode::OK, None).await
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    q: &CreditsQuery,
    status: StatusCode,
    refused: Option<Refused>,
) -> Result<HttpResponse, WebError> {
    let actor = viewer.actor();
    let now = state.ctx.now();
    let (usage, balance) =
        credits::usage(&state.ctx, actor.clone(), PageRequest { limit: 1000, after: None }).await?;
    let may_limit = viewer.may(Act::SetCreditLimit { target_role: Role::Member });
    // Limits can be set for anyone in the organization, not only who already spent.
    let members: Vec<Member> = if may_limit {
        crate::service::team::active_members(&state.ctx, actor.clone(), 1000).await?
    } else {
        Vec::new()
    };
    let (daily, ledger_size) =
        credits::daily_use(&state.ctx, actor.clone(), charts::first_day(now) * charts::DAY_MS).await?;
    let before = match q.before.as_deref() {
        None => None,
        Some(c) => Some(Cursor::parse(c).ok_or_else(|| {
            WebError::Status(
                StatusCode::BAD_REQUEST,
                "That page link is broken; start from the first page.".into(),
            )
        })?),
    };
    let page_no = if before.is_some() { q.page.unwrap_or(2).max(2) } else { 1 };
    let ledger =
        credits::ledger(&state.ctx, actor, None, PageRequest { limit: LEDGER_PAGE, after: before }).await?;

    let mut rows: Vec<Row> = usage
        .items
        .into_iter()
        .map(|u| Row {
            who: u.email.clone().unwrap_or_else(|| "(a user since deleted)".into()),
            role: members.iter().find(|m| m.user_id == u.user_id).map(|m| m.role),
            user_id: u.user_id,
            used: u.used,
            limit: u.limit,
        })
        .collect();
    for m in members.iter().filter(|m| !m.placeholder) {
        if !rows.iter().any(|r| r.user_id == m.user_id) {
            let who = m.email.clone().or(m.name.clone()).unwrap_or_else(|| m.user_id.to_string());
            rows.push(Row {
                user_id: m.user_id.clone(),
                who,
                role: Some(m.role),
                used: Credits::from_thousandths(0),
                limit: None,
            });
        }
    }
    rows.sort_by(|a, b| b.used.thousandths().cmp(&a.used.thousandths()).then(a.who.cmp(&b.who)));
    let exceeded: Vec<&Row> = rows.iter().filter(|r| r.limit.as_ref().is_some_and(over)).collect();

    let l = viewer.locale;
    let series = [Series { name: "used", class: "use" }];
    let mut pool: Vec<(i64, Vec<f64>)> = Vec::new();
    for d in &daily {
        let v = d.used.thousandths() as f64 / 1000.0;
        match pool.iter_mut().find(|(day, _)| *day == d.day) {
            Some((_, vals)) => vals[0] += v,
            None => pool.push((d.day, vec![v])),
        }
    }
    let spark_of = |user: &UserId| -> Vec<(i64, f64)> {
        daily
            .iter()
            .filter(|d| d.user_id.as_ref() == Some(user))
            .map(|d| (d.day, d.used.thousandths() as f64 / 1000.0))
            .collect()
    };
    let r = refused.as_ref();
    let grant_error = Refused::error(r, "grant", "amount");
    let first = i64::from(page_no - 1) * i64::from(LEDGER_PAGE) + 1;
    let body = html! {
        (viewer.flash(q.done.as_deref()))
        @if !exceeded.is_empty() {
            p.warning #over-limit role="alert" {
                @if exceeded.len() == 1 { "1 member is over their limit: " } @else { (exceeded.len()) " members are over their limit: " }
                @for (i, e) in exceeded.iter().enumerate() {
                    @if i > 0 { "; " }
                    @if let Some(lim) = &e.limit { (e.who) " (" (l.credits(lim.used)) " of " (l.credits(lim.amount)) " " (period_words(lim.period)) ")" }
                }
                "."
            }
        }
        section.card {
            h1 { "Credits" }
            p #credits-balance { "Left: " strong { (l.credits(balance.left())) } " of " (l.credits(balance.granted)) " granted (" (l.credits(balance.used)) " used)." }
            (charts::bars("credits-chart", "Credits used by the pool", &series, &pool, now, l))
            @if viewer.may(Act::GrantCredits) {
                form method="post" action="/team/credits/grant" {
                    input type="hidden" name="csrf" value=(viewer.csrf());
                    label for="grant-amount" { "Grant credits to the pool" }
                    div.row {
                        input #grant-amount type="text" name="amount" inputmode="decimal" placeholder="100" required maxlength="20"
                            value=(Refused::value(r, "grant", "amount").unwrap_or_default())
                            aria-invalid=[grant_error.as_ref().map(|_| "true")] aria-describedby=[grant_error.as_ref().map(|_| "grant-amount-error")];
                        label.visually-hidden for="grant-reason" { "Reason" }
                        input #grant-reason type="text" name="reason" placeholder="Reason (optional)" maxlength="200"
                            value=(Refused::value(r, "grant", "reason").unwrap_or_default());
                        button #grant-submit type="submit" { "Grant" }
                    }
                    (field_error("grant-amount", grant_error.as_deref()))
                }
            }
        }
        section.card {
            h2 { "Use by member" }
            @if rows.is_empty() {
                p.muted { "Nobody has used credits yet." }
            } @else {
                table.stack #usage {
                    thead { tr { th { "Member" } th.num { "Used" } th { "Last 30 days" } th { "Limit" } @if may_limit { th { span.visually-hidden { "Set a limit" } } } } }
                    tbody {
                        @for (i, u) in rows.iter().enumerate() {
                            @let form = format!("limit-{}", u.user_id);
                            @let may = u.role.is_some_and(|role| viewer.may(Act::SetCreditLimit { target_role: role }));
                            @let err = Refused::error(r, &form, "amount");
                            @let amount = Refused::value(r, &form, "amount").or_else(|| u.limit.as_ref().map(|x| x.amount.to_string()));
                            @let period = Refused::value(r, &form, "period").or_else(|| u.limit.as_ref().map(|x| x.period.as_str().to_string())).unwrap_or_else(|| "month".into());
                            tr data-user=(u.user_id) {
                                td data-label="Member" { (u.who) }
                                td.num data-label="Used" { (l.credits(u.used)) }
                                td data-label="Last 30 days" { (charts::spark(&format!("spark-{i}"), &format!("Use of {}", u.who), &spark_of(&u.user_id), now)) }
                                td data-label="Limit" {
                                    @if let Some(lim) = &u.limit {
                                        span class=[over(lim).then_some("over")] { (l.credits(lim.used)) " of " (l.credits(lim.amount)) " " (period_words(lim.period)) }
                                        @if over(lim) { " " span.pill.bad { "over the limit" } }
                                    } @else { span.muted { "none" } }
                                }
                                @if may_limit {
                                    td.actions {
                                        @if may {
                                            form.row method="post" action={ "/team/credits/limits/" (u.user_id) } {
                                                input type="hidden" name="csrf" value=(viewer.csrf());
                                                label.visually-hidden for={ "limit-" (u.user_id) } { "Limit for " (u.who) }
                                                input.compact id={ "limit-" (u.user_id) } type="text" name="amount" inputmode="decimal" placeholder="none" maxlength="20"
                                                    value=(amount.unwrap_or_default())
                                                    aria-invalid=[err.as_ref().map(|_| "true")] aria-describedby=[err.as_ref().map(|_| format!("limit-{}-error", u.user_id))];
                                                label.visually-hidden for={ "period-" (u.user_id) } { "Period of the limit for " (u.who) }
                                                select.compact id={ "period-" (u.user_id) } name="period" {
                                                    @for p in [LimitPeriod::Day, LimitPeriod::Month, LimitPeriod::Total] {
                                                        option value=(p.as_str()) selected[period == p.as_str()] { (period_words(p)) }
                                                    }
                                                }
                                                button.secondary.small type="submit" { "Set" span.visually-hidden { " the limit for " (u.who) } }
                                            }
                                            (field_error(&format!("limit-{}", u.user_id), err.as_deref()))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 #ledger-title { "Ledger" }
            @if ledger.items.is_empty() {
                p.muted { "No grants or uses yet." }
            } @else {
                p.muted #ledger-showing { "Showing " (l.int(first)) "–" (l.int(first + ledger.items.len() as i64 - 1)) " of " (l.int(ledger_size)) }
                table.stack #ledger aria-labelledby="ledger-title" {
                    thead { tr { th { "When" } th { "Member" } th { "What" } th.num { "Amount" } th { "Reason" } } }
                    tbody {
                        @for e in &ledger.items {
                            tr {
                                td data-label="When" { (time_cell(now, e.created_at)) }
                                td data-label="Member" {
                                    @if let Some(email) = &e.user_email { (email) }
                                    @else if e.user_id.is_some() { span.muted { "(a user since deleted)" } }
                                    @else { span.muted { "—" } }
                                }
                                td data-label="What" { @if e.kind == "grant" { "granted" } @else { "used" } }
                                td.num data-label="Amount" { @if e.kind == "grant" { "+" } @else { "−" } (l.credits(e.amount)) }
                                td data-label="Reason" { (e.reason.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
                @if page_no > 1 || ledger.next.is_some() {
                    nav.pager aria-label="Ledger pages" {
                        @if page_no > 1 { a #ledger-first href="/team/credits#ledger-title" { "Newest entries" } }
                        @if let Some(next) = &ledger.next {
                            a #ledger-next href={ "/team/credits?before=" (next.encode()) "&page=" (page_no + 1) "#ledger-title" } { "Older entries" }
                        }
                    }
                }
            }
        }
    };
    Ok(page(status, app_layout("Credits", viewer, Nav::Credits, body)))
}

#[derive(Deserialize)]
pub struct GrantForm {
    amount: Option<String>,
    reason: Option<String>,
    csrf: Option<String>,
}

/// A form's refusal, shown on the page again: a bad amount or period (400), or what the
/// service refused as invalid. Anything else is the error page.
fn refusal(
    form: String,
    field: &'static str,
    e: Error,
    values: Vec<(&'static str, String)>,
) -> Result<Refused, WebError> {
    match e {
        Error::InvalidField(message) => Ok(Refused { form, field, message, values }),
        e => Err(e.into()),
    }
}

pub async fn grant(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<GrantForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, form.csrf.as_deref())?;
    let typed = form.amount.clone().unwrap_or_default();
    let values = vec![("amount", typed.clone()), ("reason", form.reason.clone().unwrap_or_default())];
    let outcome = match Credits::parse(typed.trim()) {
        Err(m) => Err(Error::InvalidField(m)),
        Ok(amount) => {
            let reason = form.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
            credits::grant(&state.ctx, viewer.actor(), amount, reason, None).await.map(|_| amount)
        }
    };
    match outcome {
        Ok(amount) => {
            let message = format!("{} credits are granted to the pool.", viewer.locale.credits(amount));
            Ok(redirect_done(&state, "/team/credits", "granted", &message))
        }
        Err(e) => {
            let refused = refusal("grant".into(), "amount", e, values)?;
            render(&state, &viewer, &CreditsQuery::default(), StatusCode::BAD_REQUEST, Some(refused)).await
        }
    }
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
    viewer: Viewer,
    user: web::Path<String>,
    form: web::Form<LimitForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, form.csrf.as_deref())?;
    let typed = form.amount.clone().unwrap_or_default();
    let values = vec![("amount", typed.clone()), ("period", form.period.clone().unwrap_or_default())];
    let limit = match typed.trim() {
        "" => Ok(None),
        a => match (Credits::parse(a), form.period.as_deref().and_then(LimitPeriod::parse)) {
            (Err(m), _) => Err(Error::InvalidField(m)),
            (Ok(_), None) => {
                Err(Error::InvalidField("Choose a period: per day, per month or in total.".into()))
            }
            (Ok(amount), Some(period)) => Ok(Some((amount, period))),
        },
    };
    let outcome = match limit {
        Ok(limit) => credits::set_limit(&state.ctx, viewer.actor(), &user, limit).await.map(|_| limit),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(limit) => {
            let who = crate::service::team::member(&state.ctx, viewer.actor(), &user)
                .await
                .ok()
                .and_then(|m| m.email.or(m.name))
                .unwrap_or_else(|| "this member".into());
            let message = match limit {
                Some((amount, period)) => {
                    format!(
                        "The limit for {who} is {} credits {}.",
                        viewer.locale.credits(amount),
                        period_words(period)
                    )
                }
                None => format!("{who} has no limit now."),
            };
            Ok(redirect_done(&state, "/team/credits", "limit_set", &message))
        }
        Err(e) => {
            let refused = refusal(format!("limit-{user}"), "amount", e, values)?;
            render(&state, &viewer, &CreditsQuery::default(), StatusCode::BAD_REQUEST, Some(refused)).await
        }
    }
}
