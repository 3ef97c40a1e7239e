//! The team dashboard: members and provisions as one list with status tabs, search and pages;
//! provisioning (a dialog, or its own page without JavaScript); changing a member's role or
//! provisioner access and removing them, each destructive step confirmed first; a message after
//! every action.

use super::session::Session;
use super::{app_layout, confirm_page, flash_of, page, redirect, time_cell, Nav, WebError};
use crate::clock;
use crate::domain::Member;
use crate::domain::Provision;
use crate::domain::{OrgId, ProvisionRole, Role};
use crate::error::Error;
use crate::http::{client, AppState};
use crate::service::members::{self, MemberChange};
use crate::service::provisioning::{self, ProvisionInput, ProvisionOptions};
use crate::service::team::{self, Rows, Tab, TeamPage};
use crate::service::Actor;
use crate::service::SignupMode;
use crate::service::{organizations, shown};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

fn no_org_page(state: &AppState, session: &Session) -> Markup {
    let open = state.settings.signup == SignupMode::Open;
    html! {
        section.card.narrow {
            h1 { "You are not in an organization yet" }
            @if !open {
                p { "Open the claim link an admin sent you. Organizations on this server are created by its operator." }
            } @else if !session.email_verified {
                p { "Open the claim link an admin sent you, or start your own organization once your address is verified: follow the link we mailed you (or ask for a new one on " a href="/account" { "your account page" } ")." }
            } @else {
                p { "Open the claim link an admin sent you, or start your own organization." }
                form method="post" action="/orgs" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="org-name" { "Organization name" }
                    input #org-name type="text" name="name" required maxlength="200";
                    button #org-create type="submit" { "Create organization" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct TeamQuery {
    tab: Option<String>,
    q: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

/// What the list link keeps: the tab, the search and the page.
fn team_link(tab: Tab, q: Option<&str>, page: u32) -> String {
    let mut link = format!("/team?tab={}", tab.as_str());
    if let Some(q) = q.filter(|q| !q.is_empty()) {
        link.push_str("&q=");
        link.push_str(&url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>());
    }
    if page > 1 {
        link.push_str(&format!("&page={page}"));
    }
    link
}

fn tab_label(tab: Tab) -> &'static str {
    match tab {
        Tab::Active => "Active",
        Tab::Pending => "Pending",
        Tab::Claimed => "Claimed",
        Tab::Cancelled => "Cancelled",
        Tab::Expired => "Expired",
    }
}

pub async fn dashboard(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<TeamQuery>,
) -> Result<HttpResponse, WebError> {
    let d = organizations::dashboard(&state.ctx, &session.user_id, session.active_org.clone()).await?;
    let Some(org) = d.active_org() else {
        let body = no_org_page(&state, &session);
        return Ok(page(StatusCode::OK, app_layout("Team", &session, None, body)));
    };
    let tab = Tab::parse(query.tab.as_deref());
    let page_no = query.page.as_deref().and_then(|p| p.parse::<u32>().ok()).filter(|p| *p >= 1).unwrap_or(1);
    let actor = Actor::person(session.user_id.clone(), org.org_id.clone());
    let list = team::page(&state.ctx, actor, tab, query.q.clone(), page_no).await?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let now = state.ctx.now();
    let body = html! {
        @if d.orgs.len() > 1 {
            form.switcher method="post" action="/team/switch" {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="org-switch" { "Organization" }
                select #org-switch name="org_id" {
                    @for o in &d.orgs {
                        option value=(o.org_id) selected[o.org_id == org.org_id] { (o.name) " (" (o.role.as_str()) ")" }
                    }
                }
                button.secondary #org-switch-submit type="submit" { "Switch" }
            }
        }
        div.page-head {
            div {
                h1 #org-name { (org.name) }
                p.muted { "Your role: " span #my-role { (org.role.as_str()) } }
            }
            @if list.admin {
                a.button #provision-open href="/team/provision" data-dialog="provision-dialog" { "Provision new user" }
            }
        }
        (flash_of(query.done.as_deref()))
        section.card {
            @if list.admin {
                nav.tabs aria-label="Team" {
                    @for (t, n) in &list.counts {
                        a href=(team_link(*t, q, 1)) aria-current=[(*t == list.tab).then_some("page")] id={ "tab-" (t.as_str()) } {
                            (tab_label(*t)) " " span.count { "(" (n) ")" }
                        }
                    }
                }
            } @else {
                h2 { "Members" }
            }
            form.search method="get" action="/team" role="search" {
                input type="hidden" name="tab" value=(list.tab.as_str());
                label for="team-search" { "Search by email, name or external ID" }
                div.row {
                    input #team-search type="search" name="q" value=(q.unwrap_or("")) maxlength="200";
                    button.secondary #team-search-submit type="submit" { "Search" }
                }
            }
            (showing(&list))
            @match &list.rows {
                Rows::Members(rows) => (members_table(&session, list.admin, rows, now)),
                Rows::Provisions(rows) => (provisions_table(&session, rows, now)),
            }
            (pager(&list, q, page_no))
        }
        @if list.admin {
            dialog #provision-dialog aria-labelledby="provision-dialog-title" {
                h2 #provision-dialog-title { "Provision new user" }
                (provision_form(&state, &session, "dialog"))
            }
        }
    };
    let nav = if list.tab == Tab::Active { Nav::Team } else { Nav::Provisions };
    Ok(page(StatusCode::OK, app_layout("Team", &session, Some(nav), body)))
}

/// "Showing 1–100 of 106": never a silent cut.
fn showing(list: &TeamPage) -> Markup {
    let shown = match &list.rows {
        Rows::Members(r) => r.len(),
        Rows::Provisions(r) => r.len(),
    } as i64;
    let first = i64::from(list.offset) + 1;
    html! {
        p.muted #showing aria-live="polite" {
            @if shown == 0 {
                "Nothing here" @if list.total > 0 { " on this page (" (list.total) " in all)" } "."
            } @else {
                "Showing " (first) "–" (first + shown - 1) " of " (list.total)
            }
        }
    }
}

fn pager(list: &TeamPage, q: Option<&str>, page_no: u32) -> Markup {
    let more = i64::from(list.offset) + i64::from(team::PAGE) < list.total;
    html! {
        @if page_no > 1 || more {
            nav.pager aria-label="Pages" {
                @if page_no > 1 {
                    a #page-prev href=(team_link(list.tab, q, page_no - 1)) { "Previous page" }
                }
                @if more {
                    a #page-next href=(team_link(list.tab, q, page_no + 1)) { "Next page" }
                }
            }
        }
    }
}

fn members_table(session: &Session, admin: bool, rows: &[Member], now: i64) -> Markup {
    html! {
        @if !rows.is_empty() {
            table.stack #members {
                thead { tr { th { "Email" } th { "Name" } th { "Role" } th { "Joined" } @if admin { th { span.visually-hidden { "Actions" } } } } }
                tbody {
                    @for m in rows {
                        @let me = m.user_id == session.user_id;
                        @let who = m.email.clone().unwrap_or_else(|| m.user_id.to_string());
                        tr data-user=(m.user_id) {
                            td data-label="Email" { (who) @if me { " " span.you { "(you)" } } @if m.api_only { " " span.pill { "API only" } } }
                            td data-label="Name" { (m.name.clone().unwrap_or_default()) }
                            td data-label="Role" { (m.role.as_str()) @if m.is_provisioner { " " span.pill { "provisioner" } } }
                            td data-label="Joined" { (time_cell(now, m.joined_at)) }
                            @if admin {
                                td.actions data-label="Actions" {
                                    @if !me {
                                        form.inline method="post" action={ "/team/members/" (m.user_id) "/role" } {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            label.visually-hidden for={ "role-" (m.user_id) } { "Role of " (who) }
                                            select.compact id={ "role-" (m.user_id) } name="role" {
                                                @for r in [Role::Member, Role::Admin, Role::Owner] {
                                                    option value=(r.as_str()) selected[r == m.role] { (r.as_str()) }
                                                }
                                            }
                                            button.secondary.small type="submit" aria-label={ "Change role of " (who) } { "Change role" }
                                        }
                                        form.inline method="post" action={ "/team/members/" (m.user_id) "/provisioner" } {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            input type="hidden" name="on" value=(if m.is_provisioner { "false" } else { "true" });
                                            button.secondary.small type="submit" aria-label={ (if m.is_provisioner { "Remove provisioner access of " } else { "Give provisioner access to " }) (who) } {
                                                (if m.is_provisioner { "Remove provisioner" } else { "Make provisioner" })
                                            }
                                        }
                                        a.button.secondary.small href={ "/team/keys?user=" (m.user_id) } aria-label={ "Keys of " (who) } { "Keys" }
                                        a.button.danger.small href={ "/team/members/" (m.user_id) "/remove" } aria-label={ "Remove " (who) } { "Remove…" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn provisions_table(session: &Session, rows: &[Provision], now: i64) -> Markup {
    html! {
        @if !rows.is_empty() {
            table.stack #provisions {
                thead { tr { th { "Person" } th { "Role" } th { "Status" } th { "Created" } th { "Expires" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for p in rows {
                        @let who = p.email.clone().or(p.name.clone()).unwrap_or_else(|| "(no address given)".into());
                        tr data-provision=(p.id) {
                            td data-label="Person" {
                                (who)
                                @if let (Some(_), Some(n)) = (&p.email, &p.name) { br; span.muted { (n) } }
                                @if let Some(x) = &p.external_id { br; span.muted { "External ID: " (x) } }
                            }
                            td data-label="Role" { (p.role.as_str()) }
                            td data-label="Status" { span.pill { (p.status.as_str()) } }
                            td data-label="Created" { (time_cell(now, p.created_at)) }
                            td data-label="Expires" {
                                @if let Some(at) = p.claimed_at { "claimed " (time_cell(now, at)) } @else { (time_cell(now, p.expires_at)) }
                            }
                            td.actions data-label="Actions" {
                                @if p.status.as_str() == "pending" {
                                    form.inline method="post" action={ "/team/provisions/" (p.id) "/renew" } {
                                        input type="hidden" name="csrf" value=(session.csrf);
                                        button.secondary.small type="submit" aria-label={ "New claim link for " (who) } { "New claim link" }
                                    }
                                    a.button.danger.small href={ "/team/provisions/" (p.id) "/cancel" } aria-label={ "Cancel the provision for " (who) } { "Cancel…" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The provisioning form, in the dialog and on its own page.
fn provision_form(state: &AppState, session: &Session, id: &str) -> Markup {
    let ttl = clock::human(state.settings.provision_ttl);
    html! {
        form method="post" action="/team/provision" {
            input type="hidden" name="csrf" value=(session.csrf);
            p.muted { "Creates an account with a project, an API key that works at once, and a claim link for the person." }
            label for={ (id) "-email" } { "Email " span.muted { "(optional: only this address may claim it)" } }
            input id={ (id) "-email" } type="email" name="email" maxlength="254" autocomplete="off";
            label for={ (id) "-name" } { "Label " span.muted { "(optional, e.g. their name)" } }
            input id={ (id) "-name" } type="text" name="name" maxlength="100";
            label for={ (id) "-external" } { "External ID " span.muted { "(optional: your own reference, searchable)" } }
            input id={ (id) "-external" } type="text" name="external_id" maxlength="255";
            label for={ (id) "-role" } { "Role" }
            select id={ (id) "-role" } name="role" {
                option value="member" selected { "Member" }
                option value="admin" { "Admin" }
            }
            label for={ (id) "-expiry" } { "Unclaimed, it expires after" }
            select id={ (id) "-expiry" } name="expires_in" {
                option value="" selected { (ttl) " (the default)" }
                option value="86400" { "1 day" }
                option value="259200" { "3 days" }
                option value="1209600" { "14 days" }
                option value="2592000" { "30 days" }
            }
            label.check { input id={ (id) "-skip" } type="checkbox" name="skip_onboarding" value="true" checked; "Skip onboarding" }
            div.row {
                button id={ (id) "-submit" } type="submit" { "Provision" }
                @if id == "dialog" {
                    button.secondary type="button" data-close="provision-dialog" { "Close" }
                } @else {
                    a.button.secondary href="/team" { "Back" }
                }
            }
        }
    }
}

/// The provisioning form on a page of its own (without JavaScript, the button opens this).
pub async fn provision_page(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, WebError> {
    let body = html! {
        section.card.narrow {
            h1 { "Provision new user" }
            (provision_form(&state, &session, "provision"))
        }
    };
    Ok(page(StatusCode::OK, app_layout("Provision new user", &session, Some(Nav::Team), body)))
}

#[derive(Deserialize)]
pub struct SwitchForm {
    org_id: Option<String>,
    csrf: Option<String>,
}

pub async fn switch(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<SwitchForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let org = form.org_id.as_deref().and_then(OrgId::parse);
    organizations::switch(&state.ctx, &session.user_id, session.token_hash, org).await?;
    Ok(redirect("/team"))
}

/// The person acting in the organization their dashboard shows.
pub(super) fn person(session: &Session) -> Result<Actor, WebError> {
    match &session.active_org {
        Some(org) => Ok(Actor::person(session.user_id.clone(), org.clone())),
        None => Err(WebError::Redirect("/team".into())),
    }
}

#[derive(Deserialize)]
pub struct ProvisionForm {
    role: Option<String>,
    skip_onboarding: Option<String>,
    email: Option<String>,
    name: Option<String>,
    external_id: Option<String>,
    expires_in: Option<String>,
    csrf: Option<String>,
}

pub(super) fn secret_row(label: &str, id: &str, value: &str) -> Markup {
    html! {
        label for=(id) { (label) }
        div.secret {
            code id=(id) { (value) }
            button.secondary type="button" data-copy=(id) aria-label={ "Copy " (label.to_lowercase()) } { "Copy" }
        }
    }
}

fn only_admins() -> WebError {
    WebError::Status(StatusCode::FORBIDDEN, "Only admins and owners can do this.".into())
}

pub async fn provision(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ProvisionForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let role = match form.role.as_deref() {
        Some("admin") => ProvisionRole::Admin,
        _ => ProvisionRole::Member,
    };
    let given =
        |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let options = ProvisionOptions {
        expires_in_seconds: given(&form.expires_in).and_then(|s| s.parse::<u64>().ok()).map(Into::into),
        email: given(&form.email),
        name: given(&form.name),
        external_id: given(&form.external_id),
        ..Default::default()
    };
    // An unchecked checkbox is simply absent from the form.
    let input = ProvisionInput { role, skip_onboarding: form.skip_onboarding.is_some() };
    let p = match provisioning::provision_with(
        &state.ctx,
        person(&session)?,
        &client(&req),
        input,
        options,
        None,
    )
    .await
    {
        Ok(p) => p,
        Err(Error::InsufficientRole(_)) => return Err(only_admins()),
        Err(e) => return Err(e.into()),
    };
    let now = state.ctx.now();
    let body = html! {
        section.card {
            h1 { "User provisioned" }
            p role="status" { "The API key works now. Send the claim link to the person; it expires " (time_cell(now, p.row.expires_at)) ". "
                strong { "The key and the link are shown only this once." } }
            (secret_row("Claim link", "claim-url", &state.claim_url(&p.claim_token)))
            (secret_row("API key", "api-key", &p.api_key))
            (secret_row("User ID", "user-id", p.row.user_id.as_str()))
            (secret_row("Project ID", "project-id", p.row.project_id.as_str()))
            p { a href="/team?tab=pending" { "Back to the team" } }
        }
    };
    show_once(&state, &session, "User provisioned", body).await
}

/// Secrets made by a form post are shown on the page the browser is then sent to, so a reload
/// cannot make them again (see service::shown).
pub(super) async fn show_once(
    state: &AppState,
    session: &Session,
    title: &str,
    body: Markup,
) -> Result<HttpResponse, WebError> {
    let id = shown::put(&state.ctx, session.seal_key, &session.user_id, title, body.into_string()).await?;
    Ok(redirect(&format!("/team/shown?id={id}")))
}

#[derive(Deserialize)]
pub struct ShownQuery {
    id: Option<String>,
}

pub async fn shown(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<ShownQuery>,
) -> Result<HttpResponse, WebError> {
    let id = q.id.as_deref().unwrap_or("");
    let Some((title, body)) = shown::take(&state.ctx, session.seal_key, &session.user_id, id).await? else {
        return Err(WebError::Status(
            StatusCode::NOT_FOUND,
            "This result has already been shown: keys and claim links are shown only once. Cancel the provision and make a new one if they were lost.".into(),
        ));
    };
    Ok(page(StatusCode::OK, app_layout(&title, &session, Some(Nav::Team), maud::PreEscaped(body))))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

impl CsrfForm {
    pub fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// A new claim link for a pending provision (the old one stops working), shown once.
pub async fn renew(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf())?;
    let link = provisioning::renew_claim_link(&state.ctx, person(&session)?, &id, None, false).await?;
    let now = state.ctx.now();
    let body = html! {
        section.card {
            h1 { "New claim link" }
            p role="status" { "The previous link no longer opens. This one works until " (time_cell(now, link.expires_at)) ". "
                strong { "It is shown only this once." } }
            (secret_row("Claim link", "claim-url", &state.claim_url(&link.claim_token)))
            p { a href="/team?tab=pending" { "Back to the provisions" } }
        }
    };
    show_once(&state, &session, "New claim link", body).await
}

/// The confirmation before a cancel: it revokes a working key.
pub async fn cancel_page(session: Session, id: web::Path<String>) -> Result<HttpResponse, WebError> {
    Ok(confirm_page(
        &session,
        "Cancel this provision?",
        "Its API key stops working at once and its claim link no longer opens. This cannot be undone.",
        &format!("/team/provisions/{id}/cancel"),
        "Cancel the provision",
        "/team?tab=pending",
    ))
}

pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    match provisioning::cancel(&state.ctx, person(&session)?, &id).await {
        Ok(()) => Ok(redirect("/team?tab=pending&done=cancelled")),
        Err(Error::InsufficientRole(_)) => Err(only_admins()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: Option<String>,
    csrf: Option<String>,
}

pub async fn change_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: web::Path<String>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let role = form.role.as_deref().and_then(Role::parse).ok_or_else(|| {
        WebError::Status(StatusCode::BAD_REQUEST, "Choose a role: owner, admin or member.".into())
    })?;
    let change = MemberChange { role: Some(role), is_provisioner: None };
    members::update(&state.ctx, person(&session)?, &user, change).await?;
    Ok(redirect("/team?done=role_changed"))
}

#[derive(Deserialize)]
pub struct ProvisionerForm {
    on: Option<String>,
    csrf: Option<String>,
}

pub async fn set_provisioner(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: web::Path<String>,
    form: web::Form<ProvisionerForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let on = form.on.as_deref() == Some("true");
    let change = MemberChange { role: None, is_provisioner: Some(on) };
    members::update(&state.ctx, person(&session)?, &user, change).await?;
    Ok(redirect(if on { "/team?done=provisioner_on" } else { "/team?done=provisioner_off" }))
}

/// The confirmation before removing a member: every key they hold here stops working.
pub async fn remove_page(session: Session, user: web::Path<String>) -> Result<HttpResponse, WebError> {
    Ok(confirm_page(
        &session,
        "Remove this member?",
        "They leave the organization, and every API key they hold in it stops working at once. To bring them back, provision them again.",
        &format!("/team/members/{user}/remove"),
        "Remove the member",
        "/team",
    ))
}

pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    user: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    members::remove(&state.ctx, person(&session)?, &user).await?;
    Ok(redirect("/team?done=removed"))
}

#[derive(Deserialize)]
pub struct OrgForm {
    name: Option<String>,
    csrf: Option<String>,
}

/// A signed-in person starts an organization and owns it; their key for it is shown once.
pub async fn create_org(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<OrgForm>,
) -> Result<HttpResponse, WebError> {
    session.check_post(&req, form.csrf.as_deref())?;
    let name = form.name.clone().unwrap_or_default();
    let access = organizations::start(&state.ctx, &session.user_id, session.token_hash, name).await?;
    let body = html! {
        section.card {
            h1 { "Organization created" }
            p { "You own it. Your API key for its project is shown only this once." }
            (secret_row("API key", "api-key", &access.api_key))
            p { a href="/team" { "Go to the dashboard" } }
        }
    };
    show_once(&state, &session, "Organization created", body).await
}
