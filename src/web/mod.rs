//! The HTML pages: sign-up, log-in, the claim flow, onboarding and the team dashboard. Server
//! rendered with maud (escaped by construction); they work without JavaScript, except the copy
//! buttons.

pub mod audit;
pub mod auth;
pub mod charts;
pub mod claim;
pub mod credits;
pub mod fmt;
pub mod forms;
pub mod keys;
pub mod people;
pub mod scim;
pub mod session;
pub mod team;
pub mod viewer;
pub mod webhooks;

use crate::error::Error;
use crate::http::error::ApiError;
use crate::service::authority::Act;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse, ResponseError};
use maud::{html, Markup, DOCTYPE};
use session::Session;
use viewer::Viewer;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(auth::home))
        .route("/static/style.css", web::get().to(style))
        .route("/static/app.js", web::get().to(script))
        .service(
            web::resource("/login").route(web::get().to(auth::login_page)).route(web::post().to(auth::login)),
        )
        .service(
            web::resource("/signup")
                .route(web::get().to(auth::signup_page))
                .route(web::post().to(auth::signup)),
        )
        .route("/logout", web::post().to(auth::logout))
        .service(
            web::resource("/verify")
                .route(web::get().to(auth::verify_page))
                .route(web::post().to(auth::verify)),
        )
        .service(
            web::resource("/password/forgot")
                .route(web::get().to(auth::forgot_page))
                .route(web::post().to(auth::forgot)),
        )
        .service(
            web::resource("/password/reset")
                .route(web::get().to(auth::reset_page))
                .route(web::post().to(auth::reset)),
        )
        .route("/account", web::get().to(auth::account_page))
        .route("/account/verify", web::post().to(auth::resend_verification))
        .route("/account/password", web::post().to(auth::change_password))
        .service(
            web::resource("/claim").route(web::get().to(claim::show)).route(web::post().to(claim::submit)),
        )
        .route("/claimed", web::get().to(claim::claimed))
        .service(
            web::resource("/onboarding")
                .route(web::get().to(claim::onboarding_page))
                .route(web::post().to(claim::onboarding)),
        )
        .route("/team", web::get().to(team::dashboard))
        .route("/team/switch", web::post().to(people::switch))
        .service(
            web::resource("/team/provision")
                .route(web::get().to(team::provision_page))
                .route(web::post().to(people::provision)),
        )
        .route("/team/shown", web::get().to(people::shown))
        .service(
            web::resource("/team/provisions/{id}/cancel")
                .route(web::get().to(people::cancel_page))
                .route(web::post().to(people::cancel)),
        )
        .service(
            web::resource("/team/provisions/{id}/renew")
                .route(web::get().to(people::renew_page))
                .route(web::post().to(people::renew)),
        )
        .route("/team/members/{id}/role", web::post().to(people::change_role))
        .route("/team/members/{id}/provisioner", web::post().to(people::set_provisioner))
        .service(
            web::resource("/team/members/{id}/remove")
                .route(web::get().to(people::remove_page))
                .route(web::post().to(people::remove)),
        )
        .route("/team/audit", web::get().to(audit::log))
        .route("/team/audit/export", web::get().to(audit::export))
        .route("/team/credits", web::get().to(credits::overview))
        .route("/team/credits/grant", web::post().to(credits::grant))
        .route("/team/credits/limits/{id}", web::post().to(credits::set_limit))
        .service(
            web::resource("/team/webhooks")
                .route(web::get().to(webhooks::list))
                .route(web::post().to(webhooks::create)),
        )
        .route("/team/webhooks/{id}/test", web::post().to(webhooks::test))
        .route("/team/webhooks/{id}/edit", web::post().to(webhooks::edit))
        .route("/team/webhooks/{id}/enabled", web::post().to(webhooks::set_enabled))
        .route("/team/webhooks/{id}/rotate", web::post().to(webhooks::rotate))
        .route("/team/webhooks/{id}/deliveries/{event}", web::get().to(webhooks::delivery))
        .route("/team/webhooks/{id}/deliveries/{event}/resend", web::post().to(webhooks::resend))
        .service(
            web::resource("/team/webhooks/{id}/delete")
                .route(web::get().to(webhooks::delete_page))
                .route(web::post().to(webhooks::delete)),
        )
        .service(
            web::resource("/team/keys").route(web::get().to(keys::list)).route(web::post().to(keys::create)),
        )
        .route("/team/keys/{id}", web::get().to(keys::key_page))
        .service(
            web::resource("/team/keys/{id}/revoke")
                .route(web::get().to(keys::revoke_page))
                .route(web::post().to(keys::revoke)),
        )
        .service(
            web::resource("/team/keys/{id}/rotate")
                .route(web::get().to(keys::rotate_page))
                .route(web::post().to(keys::rotate)),
        )
        .route("/team/scim", web::get().to(scim::overview))
        .route("/team/scim/token", web::post().to(scim::make_token))
        .route("/team/scim/settings", web::post().to(scim::save_settings))
        .route("/orgs", web::post().to(people::create_org));
}

/// The headers every page carries: it loads nothing from elsewhere, runs only our own script,
/// can't be framed, and doesn't leak claim links to other sites through `Referer`. (JSON
/// responses are not rendered by browsers and skip them: they are on every agent's hot path.)
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "same-origin"),
];

pub(crate) fn secure(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    for h in SECURITY_HEADERS {
        res.insert_header(h);
    }
    res
}

async fn style() -> HttpResponse {
    secure(HttpResponse::Ok())
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("static/style.css"))
}

async fn script() -> HttpResponse {
    secure(HttpResponse::Ok())
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("static/app.js"))
}

/// What a page handler fails with: a redirect, or a page that says what went wrong.
#[derive(Debug)]
pub enum WebError {
    Redirect(String),
    Status(StatusCode, String),
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            WebError::Redirect(to) => write!(f, "redirect to {to}"),
            WebError::Status(s, m) => write!(f, "{s}: {m}"),
        }
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError::Status(e.status(), e.message().to_string())
    }
}

/// A page says what the API would say (the same status and sentence); pages that explain a
/// refusal in their own words match on the `Error` itself.
impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        ApiError::from(e).into()
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::Redirect(_) => StatusCode::SEE_OTHER,
            WebError::Status(s, _) => *s,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            WebError::Redirect(to) => redirect(to),
            WebError::Status(status, message) => page(
                *status,
                layout(
                    "Something is not right",
                    session::signed_in().as_ref(),
                    html! {
                        section.card {
                            h1 { "Something is not right" }
                            p.message { (message) }
                            p { a href="/team" { "Go to the dashboard" } }
                        }
                    },
                ),
            ),
        }
    }
}

/// A page for a path nothing serves, with the signed-in header when there is a session (the
/// API's paths answer JSON instead: see `app`).
pub async fn not_found_page(req: actix_web::HttpRequest) -> HttpResponse {
    let session = session::current(&req).await.ok().flatten();
    let body = html! {
        section.card.narrow {
            h1 { "There is no page here" }
            p { "The address may be mistyped, or the page moved." }
            p { a href="/team" { "Go to the dashboard" } }
        }
    };
    page(StatusCode::NOT_FOUND, layout("Not found", session.as_ref(), body))
}

/// Largest form a page accepts: far more than any of ours needs.
pub const MAX_FORM: usize = 16 * 1024;

/// Form bodies: an unreadable or oversized form gets a page saying which, not the API's JSON.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default().limit(MAX_FORM).error_handler(|e, _req| {
        let page = match e {
            actix_web::error::UrlencodedError::Overflow { .. } => WebError::Status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "This form is larger than {} KiB; shorten what you typed and send it again.",
                    MAX_FORM / 1024
                ),
            ),
            _ => WebError::Status(
                StatusCode::BAD_REQUEST,
                "This form could not be read; go back, reload the page and try again.".into(),
            ),
        };
        page.into()
    })
}

/// A form whose fields may repeat (checkboxes sharing a name), which `web::Form` cannot read:
/// the body, at most `MAX_FORM`, read into `T` one field at a time. The new-key and webhook
/// forms both take it.
pub struct Repeating<T>(pub T);

/// A form `Repeating` can read.
pub trait FromFields: Default {
    /// Takes one field, as sent (a repeated name comes once per value).
    fn field(&mut self, name: &str, value: String);
}

impl<T: FromFields + 'static> actix_web::FromRequest for Repeating<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await?;
            if body.len() > MAX_FORM {
                let large = WebError::Status(StatusCode::PAYLOAD_TOO_LARGE, "This form is too large.".into());
                return Err(large.into());
            }
            let mut form = T::default();
            for (name, value) in url::form_urlencoded::parse(&body) {
                form.field(&name, value.into_owned());
            }
            Ok(Repeating(form))
        })
    }
}

pub fn redirect(to: &str) -> HttpResponse {
    secure(HttpResponse::SeeOther()).insert_header((header::LOCATION, to.to_string())).finish()
}

pub fn page(status: StatusCode, body: Markup) -> HttpResponse {
    secure(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        // Pages may show a key or a claim link once; never keep them in a cache.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.into_string())
}

/// The sections of the signed-in app, in its sidebar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Team,
    Provisions,
    Keys,
    Credits,
    Audit,
    Webhooks,
    Scim,
}

/// The sidebar, in order: each section with its address and name. A section shows only to a
/// viewer the authority rule lets see it (`shown`).
const SIDEBAR: [(Nav, &str, &str); 7] = [
    (Nav::Team, "/team", "Team"),
    (Nav::Provisions, "/team?tab=pending", "Provisions"),
    (Nav::Keys, "/team/keys", "API keys"),
    (Nav::Credits, "/team/credits", "Credits"),
    (Nav::Audit, "/team/audit", "Audit log"),
    (Nav::Webhooks, "/team/webhooks", "Webhooks"),
    (Nav::Scim, "/team/scim", "SCIM"),
];

/// Whether the viewer may see a section: what its page reads, asked of the rule.
fn shown(viewer: &Viewer, section: Nav) -> bool {
    match section {
        Nav::Team => viewer.may(Act::ViewTeam),
        Nav::Provisions => viewer.may(Act::ReadProvisions),
        Nav::Keys => viewer.may(Act::ListKeys { of: None }),
        Nav::Credits => viewer.may(Act::ReadUsage),
        Nav::Audit => viewer.may(Act::ReadAudit),
        Nav::Webhooks => viewer.may(Act::ManageWebhooks),
        Nav::Scim => viewer.may(Act::ScimSettings),
    }
}

/// A page of the organization: the header, and the sidebar with the sections the viewer may see.
pub fn app_layout(title: &str, viewer: &Viewer, current: Nav, body: Markup) -> Markup {
    layout(
        title,
        Some(&viewer.session),
        html! {
            div.app {
                nav.sidebar aria-label="Sections" {
                    ul {
                        @for (section, href, label) in SIDEBAR {
                            @if shown(viewer, section) {
                                li { a href=(href) aria-current=[(section == current).then_some("page")] { (label) } }
                            }
                        }
                    }
                }
                div.content { (body) }
            }
        },
    )
}

/// A confirmation before a consequential action: what will happen to what (named), the
/// button that does it, and the way back. The action itself is a POST only this page's form
/// makes, with `fields` carried along and `extra` (a choice such as a grace period) inside it.
pub struct Confirm<'a> {
    pub title: String,
    pub what: String,
    pub action: String,
    pub button: &'a str,
    pub back: String,
    pub fields: Vec<(&'a str, String)>,
    pub extra: Markup,
    pub nav: Nav,
}

pub fn confirm_page(viewer: &Viewer, c: Confirm) -> HttpResponse {
    let body = html! {
        section.card.narrow role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-what" {
            h1 #confirm-title { (c.title) }
            p #confirm-what { (c.what) }
            form method="post" action=(c.action) {
                input type="hidden" name="csrf" value=(viewer.csrf());
                @for (name, value) in &c.fields { input type="hidden" name=(name) value=(value); }
                (c.extra)
                div.row {
                    button.danger-solid #confirm type="submit" { (c.button) }
                    a.button.secondary href=(c.back) { "Keep it" }
                }
            }
        }
    };
    page(StatusCode::OK, app_layout(&c.title, viewer, c.nav, body))
}

/// The general sentence after an action (`?done=` names it; only these sentences can appear
/// from a link). The named one comes from the redirect (see `viewer::redirect_done`).
pub fn done_message(done: Option<&str>) -> &'static str {
    match done {
        Some("cancelled") => "The provision is cancelled; its key no longer works.",
        Some("role_changed") => "The role is changed; their keys act with it from their next request.",
        Some("provisioner_on") => "Provisioner access is on.",
        Some("provisioner_off") => "Provisioner access is off.",
        Some("removed") => "The member is removed; every key they held here stopped working.",
        Some("key_revoked") => "The key is revoked; it no longer works.",
        Some("granted") => "The credits are granted.",
        Some("limit_set") => "The limit is set.",
        Some("test_sent") => "A test event is on its way; its delivery shows below.",
        Some("resent") => "The delivery is sent again; its attempt shows below.",
        Some("webhook_on") => "The endpoint is enabled.",
        Some("webhook_off") => "The endpoint is disabled; nothing is sent to it.",
        Some("webhook_deleted") => "The endpoint is deleted.",
        Some("webhook_saved") => "The endpoint is saved.",
        _ => "",
    }
}

/// A form that was refused: which form (`form`, e.g. `grant` or `limit-<user id>`), the field
/// the error is about, what was typed (shown again), and the error, written beside its field.
pub struct Refused {
    pub form: String,
    pub field: &'static str,
    pub message: String,
    pub values: Vec<(&'static str, String)>,
}

impl Refused {
    /// The error, when it belongs to this form's field.
    pub fn error(refused: Option<&Refused>, form: &str, field: &str) -> Option<String> {
        refused.filter(|r| r.form == form && r.field == field).map(|r| r.message.clone())
    }

    /// What was typed into this form's field, when it was refused.
    pub fn value(refused: Option<&Refused>, form: &str, field: &str) -> Option<String> {
        refused
            .filter(|r| r.form == form)
            .and_then(|r| r.values.iter().find(|(f, _)| *f == field).map(|(_, v)| v.clone()))
    }
}

/// An input's error, if any, as the markup beside it (`id`: the input's id).
pub fn field_error(id: &str, error: Option<&str>) -> Markup {
    html! { @if let Some(e) = error { p.field-error id={ (id) "-error" } role="alert" { (e) } } }
}

/// A time as people read it ("in 6 days"), with the exact time in words on hover.
pub fn time_cell(now: i64, at: i64) -> Markup {
    fmt::time(now, at)
}

pub fn layout(title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · provisiond" }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/team" { "provisiond" }
                    @if let Some(s) = session {
                        span.who {
                            a #signed-in-as href="/account" { (s.email) }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button.link type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}
