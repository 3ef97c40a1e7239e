//! What the team page's controls do: provisioning (a refused form comes back with what was
//! typed and the error at its field), a new claim link and cancelling (each confirmed first,
//! naming the person), a member's role (making someone an owner is confirmed first) and
//! provisioner access, removing a member, switching organization and starting one. Every
//! message afterwards names whom it was about; results with a secret are shown once.

use super::session::Session;
use super::team::{member_name, person_of, provision_view, Prefill};
use super::viewer::{redirect_done, ButtonPost, Viewer};
use super::{app_layout, confirm_page, page, redirect, time_cell, Confirm, Nav, WebError};
use crate::domain::{OrgId, ProvisionRole, Role};
use crate::error::Error;
use crate::http::{client, AppState};
use crate::service::authority::Act;
use crate::service::members::{self, MemberChange};
use crate::service::provisioning::{self, ProvisionInput, ProvisionOptions};
use crate::service::{organizations, shown, team};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

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

/// Which field of the provisioning form an error is about (the service names it in quotes).
fn field_of(message: &str) -> &'static str {
    [("'email'", "email"), ("'name'", "name"), ("'externalId'", "external_id")]
        .into_iter()
        .find(|(quoted, _)| message.contains(quoted))
        .map_or("form", |(_, field)| field)
}

pub async fn provision(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: web::Form<ProvisionForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, form.csrf.as_deref())?;
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
    let p =
        match provisioning::provision_with(&state.ctx, viewer.actor(), &client(&req), input, options, None)
            .await
        {
            Ok(p) => p,
            Err(e @ (Error::InvalidField(_) | Error::InvalidEmail(_))) => {
                let message = e.to_string();
                let fill = Prefill {
                    email: form.email.clone(),
                    name: form.name.clone(),
                    external_id: form.external_id.clone(),
                    role: form.role.clone(),
                    error: Some((field_of(&message), message)),
                };
                return Ok(provision_view(&state, &viewer, StatusCode::BAD_REQUEST, &fill));
            }
            Err(e) => return Err(e.into()),
        };
    let now = state.ctx.now();
    let who = person_of(&p.row);
    let body = html! {
        section.card {
            h1 { "User provisioned: " (who) }
            p role="status" { "The API key for " strong { (who) } " (" (p.row.role.as_str()) ") works now. Send them the claim link; it expires " (time_cell(now, p.row.expires_at)) ". "
                strong { "The key and the link are shown only this once." } }
            (secret_row("Claim link", "claim-url", &state.claim_url(&p.claim_token)))
            (secret_row("API key", "api-key", &p.api_key))
            (secret_row("User ID", "user-id", p.row.user_id.as_str()))
            (secret_row("Project ID", "project-id", p.row.project_id.as_str()))
            p { a href="/team?tab=pending" { "Back to the team" } }
        }
    };
    show_once(&state, &viewer.session, &format!("User provisioned: {who}"), body).await
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
    viewer: Viewer,
    q: web::Query<ShownQuery>,
) -> Result<HttpResponse, WebError> {
    let id = q.id.as_deref().unwrap_or("");
    let session = &viewer.session;
    let Some((title, body)) = shown::take(&state.ctx, session.seal_key, &session.user_id, id).await? else {
        return Err(WebError::Status(
            StatusCode::NOT_FOUND,
            "This result has already been shown: keys and claim links are shown only once. Cancel the provision and make a new one if they were lost.".into(),
        ));
    };
    Ok(page(StatusCode::OK, app_layout(&title, &viewer, Nav::Team, maud::PreEscaped(body))))
}

/// The confirmation before acting on a pending provision (a new claim link, a cancel): both
/// name the person it is for, post to the provision's `act` and go back to the pending list.
async fn provision_confirm(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    act: &str,
    button: &'static str,
    words: impl FnOnce(&str) -> (String, String),
) -> Result<HttpResponse, WebError> {
    viewer.require(Act::ManageProvisions)?;
    let (title, what) = words(&person_of(&team::provision(&state.ctx, viewer.actor(), id).await?));
    Ok(confirm_page(
        viewer,
        Confirm {
            title,
            what,
            action: format!("/team/provisions/{id}/{act}"),
            button,
            back: "/team?tab=pending".into(),
            fields: Vec::new(),
            extra: html! {},
            nav: Nav::Provisions,
        },
    ))
}

/// The confirmation before a new claim link: the current one stops working.
pub async fn renew_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    provision_confirm(&state, &viewer, &id, "renew", "Make a new link", |who| {
        (
            format!("A new claim link for {who}?"),
            format!("The link {who} has now stops working at once; the new one is shown to you once, to send them. Their API key keeps working."),
        )
    })
    .await
}

/// A new claim link for a pending provision (the old one stops working), shown once.
pub async fn renew(
    state: web::Data<AppState>,
    viewer: ButtonPost,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let p = team::provision(&state.ctx, viewer.actor(), &id).await?;
    let who = person_of(&p);
    let link = provisioning::renew_claim_link(&state.ctx, viewer.actor(), &id, None, false).await?;
    let now = state.ctx.now();
    let body = html! {
        section.card {
            h1 { "New claim link for " (who) }
            p role="status" { "The previous link no longer opens. This one expires " (time_cell(now, link.expires_at)) ". "
                strong { "It is shown only this once." } }
            (secret_row("Claim link", "claim-url", &state.claim_url(&link.claim_token)))
            p { a href="/team?tab=pending" { "Back to the provisions" } }
        }
    };
    show_once(&state, &viewer.session, &format!("New claim link for {who}"), body).await
}

/// The confirmation before a cancel: it revokes a working key.
pub async fn cancel_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    provision_confirm(&state, &viewer, &id, "cancel", "Cancel the provision", |who| {
        (
            format!("Cancel the provision for {who}?"),
            format!("The API key made for {who} stops working at once and their claim link no longer opens. This cannot be undone."),
        )
    })
    .await
}

pub async fn cancel(
    state: web::Data<AppState>,
    viewer: ButtonPost,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let p = team::provision(&state.ctx, viewer.actor(), &id).await?;
    provisioning::cancel(&state.ctx, viewer.actor(), &id).await?;
    let message = format!("The provision for {} is cancelled; its key no longer works.", person_of(&p));
    Ok(redirect_done(&state, "/team?tab=pending", "cancelled", &message))
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: Option<String>,
    back: Option<String>,
    confirmed: Option<String>,
    csrf: Option<String>,
}

/// Where a team form goes back to: the list as it was (tab and search), never elsewhere.
fn back_to(back: Option<&str>) -> String {
    match back {
        Some(b) if b.starts_with("/team?") && super::session::safe_next(Some(b)) == b => b.to_string(),
        _ => "/team".to_string(),
    }
}

pub async fn change_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    user: web::Path<String>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, form.csrf.as_deref())?;
    let role = form.role.as_deref().and_then(Role::parse).ok_or_else(|| {
        WebError::Status(StatusCode::BAD_REQUEST, "Choose a role: owner, admin or member.".into())
    })?;
    let back = back_to(form.back.as_deref());
    let m = team::member(&state.ctx, viewer.actor(), &user).await?;
    let who = member_name(&m);
    // Making someone an owner hands over everything, their keys included: asked first (and only
    // of someone the rule lets do it).
    if role == Role::Owner && m.role != Role::Owner && form.confirmed.as_deref() != Some("yes") {
        let change = Act::ChangeMember {
            target: &m.user_id,
            target_role: m.role,
            role: Some(role),
            provisioner: None,
        };
        viewer.require(change)?;
        return Ok(confirm_page(
            &viewer,
            Confirm {
                title: format!("Make {who} an owner?"),
                what: format!("Owners may do everything here: grant credits, change provisioner access, make and remove other owners — {who} too, from now on, and every key {who} holds acts with it."),
                action: format!("/team/members/{user}/role"),
                button: "Make them an owner",
                back: back.clone(),
                fields: vec![("role", "owner".into()), ("back", back), ("confirmed", "yes".into())],
                extra: html! {},
                nav: Nav::Team,
            },
        ));
    }
    let change = MemberChange { role: Some(role), is_provisioner: None };
    members::update(&state.ctx, viewer.actor(), &user, change).await?;
    let message = format!("{who} is now {}; their keys act with it from their next request.", article(role));
    Ok(redirect_done(&state, &back, "role_changed", &message))
}

fn article(role: Role) -> String {
    match role {
        Role::Owner => "an owner".into(),
        Role::Admin => "an admin".into(),
        Role::Member => "a member".into(),
    }
}

#[derive(Deserialize)]
pub struct ProvisionerForm {
    on: Option<String>,
    back: Option<String>,
    csrf: Option<String>,
}

pub async fn set_provisioner(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    user: web::Path<String>,
    form: web::Form<ProvisionerForm>,
) -> Result<HttpResponse, WebError> {
    viewer.session.check_post(&req, form.csrf.as_deref())?;
    let on = form.on.as_deref() == Some("true");
    let change = MemberChange { role: None, is_provisioner: Some(on) };
    let m = members::update(&state.ctx, viewer.actor(), &user, change).await?;
    let who = member_name(&m);
    let (done, message) = if on {
        ("provisioner_on", format!("{who} is a provisioner now."))
    } else {
        ("provisioner_off", format!("{who} is no longer a provisioner."))
    };
    Ok(redirect_done(&state, &back_to(form.back.as_deref()), done, &message))
}

/// The confirmation before removing a member: every key they hold here stops working.
pub async fn remove_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    user: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let m = team::member(&state.ctx, viewer.actor(), &user).await?;
    viewer.require(Act::RemoveMember { target: &m.user_id, target_role: m.role })?;
    let who = member_name(&m);
    Ok(confirm_page(
        &viewer,
        Confirm {
            title: format!("Remove {who}?"),
            what: format!("{who} leaves the organization, and every API key {who} holds in it stops working at once. To bring them back, provision them again."),
            action: format!("/team/members/{user}/remove"),
            button: "Remove the member",
            back: "/team".into(),
            fields: Vec::new(),
            extra: html! {},
            nav: Nav::Team,
        },
    ))
}

pub async fn remove(
    state: web::Data<AppState>,
    viewer: ButtonPost,
    user: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let removed = members::remove(&state.ctx, viewer.actor(), &user).await?;
    let message = format!(
        "{} is removed; the {} key{} they held here stopped working.",
        member_name(&removed.member),
        removed.keys_revoked,
        if removed.keys_revoked == 1 { "" } else { "s" }
    );
    Ok(redirect_done(&state, "/team", "removed", &message))
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
