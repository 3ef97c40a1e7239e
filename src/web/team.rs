//! The team dashboard: members, pending provisions, and provisioning for admins and owners.

use super::session::{check_origin, Session};
use super::{layout, page, redirect, WebError};
use crate::clock;
use crate::domain::{OrgId, ProvisionRole};
use crate::error::Error;
use crate::http::{client, AppState};
use crate::service::provisioning::{self, ProvisionInput};
use crate::service::Actor;
use crate::service::SignupMode;
use crate::service::{organizations, shown};
use crate::store::orgs::MemberListRow;
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

fn status_of(m: &MemberListRow) -> &'static str {
    if m.placeholder {
        "unclaimed"
    } else if m.api_only {
        "API only"
    } else {
        "active"
    }
}

pub async fn dashboard(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, WebError> {
    let d = organizations::dashboard(&state.ctx, &session.user_id, session.active_org.clone()).await?;
    let Some(org) = d.active_org() else {
        return Ok(page(StatusCode::OK, layout("Team", Some(&session), no_org_page(&state, &session))));
    };
    let admin = org.role.is_admin();
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
        section.card {
            h1 #org-name { (org.name) }
            p.muted { "Your role: " span #my-role { (org.role.as_str()) } }
            h2 { "Members" }
            table #members {
                thead { tr { th { "Email" } th { "Name" } th { "Role" } th { "Status" } } }
                tbody {
                    @for m in &d.members {
                        tr {
                            td { @if let Some(e) = &m.email { (e) } @else { span.muted { "(not claimed yet)" } } }
                            td { (m.name.clone().unwrap_or_default()) }
                            td { (m.role.as_str()) @if m.is_provisioner { " " span.pill { "provisioner" } } }
                            td { span.pill { (status_of(m)) } }
                        }
                    }
                }
            }
        }
        @if admin {
            section.card {
                h2 { "Pending provisions" }
                @if d.pending.is_empty() {
                    p.muted #no-pending { "None. Provisioned users appear here until they claim their account." }
                } @else {
                    table #pending {
                        thead { tr { th { "User ID" } th { "Role" } th { "Created" } th { "Expires" } th {} } }
                        tbody {
                            @for p in &d.pending {
                                tr data-provision=(p.id) {
                                    td { code { (p.user_id) } }
                                    td { (p.role.as_str()) }
                                    td { (clock::format(p.created_at)) }
                                    td { (clock::format(p.expires_at)) }
                                    td {
                                        form.inline method="post" action={ "/team/provisions/" (p.id) "/cancel" } {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            button.danger type="submit" { "Cancel" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Provision new user" }
                p.muted { "Creates an account with a project, an API key that works at once, and a claim link for the person. Unclaimed accounts expire after " (clock::human(state.settings.provision_ttl)) "." }
                form method="post" action="/team/provision" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="provision-role" { "Role" }
                    select #provision-role name="role" {
                        option value="member" selected { "Member" }
                        option value="admin" { "Admin" }
                    }
                    label.check { input #provision-skip type="checkbox" name="skip_onboarding" value="true" checked; "Skip onboarding" }
                    button #provision-submit type="submit" { "Provision" }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Team", Some(&session), body)))
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
    check_origin(&req)?;
    session.check_csrf(form.csrf.as_deref())?;
    let org = form.org_id.as_deref().and_then(OrgId::parse);
    organizations::switch(&state.ctx, &session.user_id, session.token_hash, org).await?;
    Ok(redirect("/team"))
}

/// The person acting in the organization their dashboard shows.
fn person(session: &Session) -> Result<Actor, WebError> {
    match &session.active_org {
        Some(org) => Ok(Actor::Person { user: session.user_id.clone(), org: org.clone() }),
        None => Err(WebError::Redirect("/team".into())),
    }
}

#[derive(Deserialize)]
pub struct ProvisionForm {
    role: Option<String>,
    skip_onboarding: Option<String>,
    csrf: Option<String>,
}

fn secret_row(label: &str, id: &str, value: &str) -> Markup {
    html! {
        label for=(id) { (label) }
        div.secret {
            code id=(id) { (value) }
            button.secondary type="button" data-copy=(id) { "Copy" }
        }
    }
}

pub async fn provision(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ProvisionForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    session.check_csrf(form.csrf.as_deref())?;
    let role = match form.role.as_deref() {
        Some("admin") => ProvisionRole::Admin,
        _ => ProvisionRole::Member,
    };
    // An unchecked checkbox is simply absent from the form.
    let input = ProvisionInput { role, skip_onboarding: form.skip_onboarding.is_some() };
    let p = match provisioning::provision(&state.ctx, person(&session)?, &client(&req), input).await {
        Ok(p) => p,
        Err(Error::InsufficientRole(_)) => {
            return Err(WebError::Status(StatusCode::FORBIDDEN, "Only admins and owners can do this.".into()))
        }
        Err(e) => return Err(e.into()),
    };
    let body = html! {
        section.card {
            h1 { "User provisioned" }
            p { "The API key works now. Send the claim link to the person; it expires at " (clock::format(p.row.expires_at)) ". "
                strong { "The key and the link are shown only this once." } }
            (secret_row("Claim link", "claim-url", &state.claim_url(&p.claim_token)))
            (secret_row("API key", "api-key", &p.api_key))
            (secret_row("User ID", "user-id", p.row.user_id.as_str()))
            (secret_row("Project ID", "project-id", p.row.project_id.as_str()))
            p { a href="/team" { "Back to the team" } }
        }
    };
    show_once(&state, &session, "User provisioned", body).await
}

/// Secrets made by a form post are shown on the page the browser is then sent to, so a reload
/// cannot make them again (see service::shown).
async fn show_once(
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
    Ok(page(StatusCode::OK, layout(&title, Some(&session), maud::PreEscaped(body))))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    session.check_csrf(form.csrf.as_deref())?;
    match provisioning::cancel(&state.ctx, person(&session)?, &id).await {
        Ok(()) => Ok(redirect("/team")),
        Err(Error::InsufficientRole(_)) => {
            Err(WebError::Status(StatusCode::FORBIDDEN, "Only admins and owners can do this.".into()))
        }
        Err(e) => Err(e.into()),
    }
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
    check_origin(&req)?;
    session.check_csrf(form.csrf.as_deref())?;
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
