//! The team dashboard: members and provisions as one list with status tabs, a search and pages
//! (keyset: a deep page costs what the first does); the provisioning form (a dialog, or its
//! own page without JavaScript). Each control shows only when the authority rule allows the
//! viewer its action; the actions themselves are in `people`.

use super::session::Session;
use super::viewer::Viewer;
use super::{app_layout, layout, page, time_cell, Nav, WebError};
use crate::clock::{self, Millis};
use crate::domain::{Keyset, ListedProvision, Member, ProvisionStatus, Role};
use crate::http::AppState;
use crate::service::authority::Act;
use crate::service::team::{self, Rows, Tab, TeamPage};
use crate::service::SignupMode;
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
    after: Option<String>,
    before: Option<String>,
    done: Option<String>,
}

/// A link into the list: the tab, the search, and (past the first page) the page's number and
/// where it starts.
pub fn team_link(tab: Tab, q: Option<&str>, at: Option<(u32, &str, &str)>) -> String {
    let mut link = format!("/team?tab={}", tab.as_str());
    if let Some(q) = q.filter(|q| !q.is_empty()) {
        link.push_str("&q=");
        link.push_str(&url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>());
    }
    if let Some((page, way, key)) = at {
        if page > 1 {
            link.push_str(&format!("&page={page}&{way}={key}"));
        }
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
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<TeamQuery>,
) -> Result<HttpResponse, WebError> {
    let (orgs, active) = team::orgs(&state.ctx, &session.user_id, session.active_org.clone()).await?;
    let Some(org) = active.map(|i| &orgs[i]) else {
        let body = no_org_page(&state, &session);
        return Ok(page(StatusCode::OK, layout("Team", Some(&session), body)));
    };
    let viewer = Viewer::of(&req, session, org.org_id.clone()).await?;
    let tab = Tab::parse(query.tab.as_deref());
    let key = |k: &Option<String>| k.as_deref().and_then(Keyset::parse_key);
    let page_no = query.page.as_deref().and_then(|p| p.parse::<u32>().ok()).filter(|p| *p >= 1).unwrap_or(1);
    let at = match (key(&query.after), key(&query.before)) {
        (Some((t, n)), _) => Keyset::After(t, n),
        (None, Some((t, n))) => Keyset::Before(t, n),
        (None, None) => Keyset::First,
    };
    let page_no = if at == Keyset::First { 1 } else { page_no };
    let list = team::page(&state.ctx, viewer.actor(), tab, query.q.clone(), at, page_no).await?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let now = state.ctx.now();
    // The list as it is now, for the forms to come back to (the page itself starts again).
    let back = team_link(list.tab, q, None);
    let body = html! {
        @if orgs.len() > 1 {
            form.switcher method="post" action="/team/switch" {
                input type="hidden" name="csrf" value=(viewer.csrf());
                label for="org-switch" { "Organization" }
                select #org-switch name="org_id" {
                    @for o in &orgs {
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
            @if viewer.may(Act::Provision { role: Role::Member }) {
                a.button #provision-open href="/team/provision" data-dialog="provision-dialog" { "Provision new user" }
            }
        }
        (viewer.flash(query.done.as_deref()))
        section.card {
            @if list.admin {
                nav.tabs aria-label="Team" {
                    @for (t, n) in &list.counts {
                        a href=(team_link(*t, q, None)) aria-current=[(*t == list.tab).then_some("page")] id={ "tab-" (t.as_str()) } {
                            (tab_label(*t)) " " span.count { "(" (viewer.locale.int(*n)) ")" }
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
            (showing(&viewer, &list))
            @match &list.rows {
                Rows::Members(rows) => (members_table(&viewer, rows, now, &back)),
                Rows::Provisions(rows) => (provisions_table(&viewer, list.tab, rows, now)),
            }
            (pager(&list, q, page_no))
        }
        @if viewer.may(Act::Provision { role: Role::Member }) {
            dialog #provision-dialog aria-labelledby="provision-dialog-title" {
                h2 #provision-dialog-title { "Provision new user" }
                (provision_form(&state, &viewer, "dialog", &Prefill::default()))
            }
        }
    };
    let nav = if list.tab == Tab::Active { Nav::Team } else { Nav::Provisions };
    Ok(page(StatusCode::OK, app_layout("Team", &viewer, nav, body)))
}

/// "Showing 1–100 of 106": never a silent cut.
fn showing(viewer: &Viewer, list: &TeamPage) -> Markup {
    let shown = match &list.rows {
        Rows::Members(r) => r.len(),
        Rows::Provisions(r) => r.len(),
    } as i64;
    let first = i64::from(list.offset) + 1;
    let l = viewer.locale;
    html! {
        p.muted #showing aria-live="polite" {
            @if shown == 0 {
                "Nothing here" @if list.total > 0 { " on this page (" (l.int(list.total)) " in all)" } "."
            } @else {
                "Showing " (l.int(first)) "–" (l.int(first + shown - 1)) " of " (l.int(list.total))
            }
        }
    }
}

fn pager(list: &TeamPage, q: Option<&str>, page_no: u32) -> Markup {
    let shown = match &list.rows {
        Rows::Members(r) => r.len(),
        Rows::Provisions(r) => r.len(),
    } as i64;
    let more = i64::from(list.offset) + shown < list.total;
    let prev = match (page_no, &list.first_key) {
        (2, _) => Some(team_link(list.tab, q, None)),
        (p, Some(k)) if p > 2 => Some(team_link(list.tab, q, Some((p - 1, "before", k)))),
        _ => None,
    };
    let next = match (&list.last_key, more) {
        (Some(k), true) => Some(team_link(list.tab, q, Some((page_no + 1, "after", k)))),
        _ => None,
    };
    html! {
        @if prev.is_some() || next.is_some() {
            nav.pager aria-label="Pages" {
                @if let Some(p) = &prev { a #page-prev href=(p) { "Previous page" } }
                @if let Some(n) = &next { a #page-next href=(n) { "Next page" } }
            }
        }
    }
}

/// The roles the viewer may give `m` (the rule asked for each), their current one first.
fn roles_offered(viewer: &Viewer, m: &Member) -> Vec<Role> {
    [Role::Member, Role::Admin, Role::Owner]
        .into_iter()
        .filter(|r| {
            *r == m.role
                || viewer.may(Act::ChangeMember {
                    target: &m.user_id,
                    target_role: m.role,
                    role: Some(*r),
                    provisioner: None,
                })
        })
        .collect()
}

fn members_table(viewer: &Viewer, rows: &[Member], now: Millis, back: &str) -> Markup {
    let me = &viewer.principal.user;
    html! {
        @if !rows.is_empty() {
            table.stack #members {
                thead { tr { th { "Email" } th { "Name" } th { "Role" } th { "Joined" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for m in rows {
                        @let mine = m.user_id == *me;
                        @let who = m.email.clone().unwrap_or_else(|| m.name.clone().unwrap_or_else(|| "(no address)".into()));
                        @let roles = if mine { Vec::new() } else { roles_offered(viewer, m) };
                        @let provisioner = !mine && viewer.may(Act::ChangeMember { target: &m.user_id, target_role: m.role, role: None, provisioner: Some(!m.is_provisioner) });
                        @let removable = !mine && viewer.may(Act::RemoveMember { target: &m.user_id, target_role: m.role });
                        @let keys = !mine && viewer.may(Act::ListKeys { of: Some(&m.user_id) });
                        tr data-user=(m.user_id) {
                            td data-label="Email" { (who) @if mine { " " span.you { "(you)" } } @if m.api_only { " " span.pill { "API only" } } }
                            td data-label="Name" { (m.name.clone().unwrap_or_default()) }
                            td data-label="Role" { (m.role.as_str()) @if m.is_provisioner { " " span.pill { "provisioner" } } }
                            td data-label="Joined" { (time_cell(now, m.joined_at)) }
                            td.actions {
                                @if roles.len() > 1 {
                                    form.inline method="post" action={ "/team/members/" (m.user_id) "/role" } {
                                        input type="hidden" name="csrf" value=(viewer.csrf());
                                        input type="hidden" name="back" value=(back);
                                        label.visually-hidden for={ "role-" (m.user_id) } { "Role of " (who) }
                                        select.compact id={ "role-" (m.user_id) } name="role" {
                                            @for r in &roles { option value=(r.as_str()) selected[*r == m.role] { (r.as_str()) } }
                                        }
                                        button.secondary.small type="submit" data-action="role" { "Change role" span.visually-hidden { " of " (who) } }
                                    }
                                }
                                @if provisioner {
                                    form.inline method="post" action={ "/team/members/" (m.user_id) "/provisioner" } {
                                        input type="hidden" name="csrf" value=(viewer.csrf());
                                        input type="hidden" name="back" value=(back);
                                        input type="hidden" name="on" value=(if m.is_provisioner { "false" } else { "true" });
                                        button.secondary.small type="submit" data-action="provisioner" {
                                            (if m.is_provisioner { "Remove provisioner" } else { "Make provisioner" })
                                            span.visually-hidden { ": " (who) }
                                        }
                                    }
                                }
                                @if keys {
                                    a.button.secondary.small href={ "/team/keys?user=" (m.user_id) } data-action="keys" { "Keys" span.visually-hidden { " of " (who) } }
                                }
                                @if removable {
                                    a.button.danger.small href={ "/team/members/" (m.user_id) "/remove" } data-action="remove" { "Remove…" span.visually-hidden { " " (who) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A provision's person as lists and messages name them: address, else label.
pub fn person_of(p: &crate::domain::Provision) -> String {
    p.email.clone().or(p.name.clone()).unwrap_or_else(|| "(no address given)".into())
}

fn provisions_table(viewer: &Viewer, tab: Tab, rows: &[ListedProvision], now: Millis) -> Markup {
    let manage = viewer.may(Act::ManageProvisions);
    let again = |p: &crate::domain::Provision| viewer.may(Act::Provision { role: p.role });
    let when = match tab {
        Tab::Claimed => "Claimed",
        Tab::Cancelled => "Ended",
        Tab::Expired => "Expired",
        _ => "Expires",
    };
    html! {
        @if !rows.is_empty() {
            table.stack #provisions {
                thead { tr { th { "Person" } th { "Role" } th { "Created" } th { (when) } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for l in rows {
                        @let p = &l.provision;
                        @let who = person_of(p);
                        tr data-provision=(p.id) {
                            td data-label="Person" {
                                (who)
                                @if let (Some(_), Some(n)) = (&p.email, &p.name) { br; span.muted { (n) } }
                                @if let Some(x) = &p.external_id { br; span.muted { "External ID: " (x) } }
                            }
                            td data-label="Role" { (p.role.as_str()) }
                            td data-label="Created" {
                                (time_cell(now, p.created_at))
                                @if let Some(by) = &l.created_by { br; span.muted.by { "by " (by) } }
                            }
                            td data-label=(when) {
                                @match p.status {
                                    ProvisionStatus::Claimed => {
                                        @if let Some(at) = p.claimed_at { (time_cell(now, at)) }
                                        br; span.muted.claimer { "by " (l.claimed_by.clone().unwrap_or_else(|| "an account since deleted".into())) }
                                    }
                                    ProvisionStatus::Cancelled => { "cancelled" }
                                    _ => { (time_cell(now, p.expires_at)) }
                                }
                            }
                            td.actions {
                                @if p.status == ProvisionStatus::Pending && manage {
                                    a.button.secondary.small href={ "/team/provisions/" (p.id) "/renew" } data-action="renew" { "New claim link…" span.visually-hidden { " for " (who) } }
                                    a.button.danger.small href={ "/team/provisions/" (p.id) "/cancel" } data-action="cancel" { "Cancel…" span.visually-hidden { " the provision for " (who) } }
                                }
                                @if matches!(p.status, ProvisionStatus::Expired | ProvisionStatus::Cancelled) && again(p) {
                                    a.button.secondary.small href=(again_link(p)) data-action="again" { "Provision again" span.visually-hidden { ": " (who) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The provisioning form filled in as an ended provision was.
fn again_link(p: &crate::domain::Provision) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("role", p.role.as_str());
    for (k, v) in [("email", &p.email), ("name", &p.name), ("external_id", &p.external_id)] {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    format!("/team/provision?{}", q.finish())
}

/// What the provisioning form starts with (a provision made again), and the error of a refused
/// try beside its field.
#[derive(Default, Deserialize)]
pub struct Prefill {
    pub email: Option<String>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub role: Option<String>,
    #[serde(skip)]
    pub error: Option<(&'static str, String)>,
}

/// The provisioning form, in the dialog and on its own page.
pub fn provision_form(state: &AppState, viewer: &Viewer, id: &str, fill: &Prefill) -> Markup {
    let ttl = clock::human(state.settings.provision_ttl);
    let err = |field: &str| fill.error.as_ref().filter(|(f, _)| *f == field).map(|(_, m)| m.as_str());
    let err_id = |field: &str| format!("{id}-{field}-error");
    let admin_ok = viewer.may(Act::Provision { role: Role::Admin });
    let role = fill.role.as_deref().unwrap_or("member");
    html! {
        form method="post" action="/team/provision" {
            input type="hidden" name="csrf" value=(viewer.csrf());
            p.muted { "Creates an account with a project, an API key that works at once, and a claim link for the person." }
            @for (field, label, hint, value, kind, max) in [
                ("email", "Email", "(optional: only this address may claim it)", &fill.email, "email", "254"),
                ("name", "Label", "(optional, e.g. their name)", &fill.name, "text", "100"),
                ("external_id", "External ID", "(optional: your own reference, searchable)", &fill.external_id, "text", "255"),
            ] {
                label for={ (id) "-" (field.replace('_', "-")) } { (label) " " span.muted { (hint) } }
                input id={ (id) "-" (field.replace('_', "-")) } type=(kind) name=(field) maxlength=(max) autocomplete="off" value=(value.clone().unwrap_or_default())
                    aria-invalid=[err(field).map(|_| "true")] aria-describedby=[err(field).map(|_| err_id(field))];
                @if let Some(m) = err(field) { p.field-error id=(err_id(field)) { (m) } }
            }
            label for={ (id) "-role" } { "Role" }
            select id={ (id) "-role" } name="role" {
                option value="member" selected[role == "member"] { "Member" }
                @if admin_ok { option value="admin" selected[role == "admin"] { "Admin" } }
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
            @if let Some(m) = err("form") { p.error role="alert" { (m) } }
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

/// The provisioning form on a page of its own (without JavaScript, the button opens this; a
/// refused try comes back here with what was typed).
pub fn provision_view(state: &AppState, viewer: &Viewer, status: StatusCode, fill: &Prefill) -> HttpResponse {
    let body = html! {
        section.card.narrow {
            h1 { "Provision new user" }
            (provision_form(state, viewer, "provision", fill))
        }
    };
    page(status, app_layout("Provision new user", viewer, Nav::Team, body))
}

pub async fn provision_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    fill: web::Query<Prefill>,
) -> Result<HttpResponse, WebError> {
    Ok(provision_view(&state, &viewer, StatusCode::OK, &fill))
}

/// How a page writes a member for people: their address, else their name.
pub fn member_name(m: &Member) -> String {
    m.email.clone().or(m.name.clone()).unwrap_or_else(|| m.user_id.to_string())
}
