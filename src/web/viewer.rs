//! Who is looking at a page of an organization: the signed-in person, their standing there as
//! the one authority rule sees it (`service::authority::Principal`), the language their numbers
//! are written in, and the message the last action left them. Pages offer a control only when
//! `may` says the rule would allow it: the same rule the API applies, never a copy of it here.

use super::fmt::Locale;
use super::session::Session;
use super::WebError;
use crate::domain::OrgId;
use crate::http::AppState;
use crate::service::authority::{self, Act, Principal};
use crate::service::Actor;
use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use maud::{html, Markup};
use serde::Deserialize;
use std::ops::Deref;

const FLASH: &str = "provisiond_flash";

pub struct Viewer {
    pub session: Session,
    pub principal: Principal,
    pub locale: Locale,
    /// The last action's message (`done` key, sentence), set by the redirect that led here.
    flash: Option<(String, String)>,
}

impl Viewer {
    /// The viewer of organization `org` (one the person is in).
    pub async fn of(req: &HttpRequest, session: Session, org: OrgId) -> Result<Viewer, WebError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| WebError::from(crate::http::error::ApiError::internal("no AppState")))?;
        let actor = Actor::person(session.user_id.clone(), org);
        let principal = authority::principal_of(&state.ctx, actor).await?;
        let flash = req.cookie(FLASH).and_then(|c| {
            let text: String =
                url::form_urlencoded::parse(c.value().as_bytes()).map(|(k, v)| format!("{k}{v}")).collect();
            text.split_once('\n').map(|(k, m)| (k.to_string(), m.to_string()))
        });
        Ok(Viewer { session, principal, locale: Locale::of(req), flash })
    }

    /// Whether the authority rule allows the viewer `act`.
    pub fn may(&self, act: Act<'_>) -> bool {
        authority::authorize(&self.principal, act).is_ok()
    }

    /// The rule's own refusal when it does not allow `act`: a confirmation page for an action
    /// the viewer may not take is refused as the action itself would be, not shown.
    pub fn require(&self, act: Act<'_>) -> Result<(), WebError> {
        authority::authorize(&self.principal, act).map(|_| ()).map_err(WebError::from)
    }

    pub fn actor(&self) -> Actor {
        Actor::person(self.principal.user.clone(), self.principal.org.clone())
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }

    /// The message after an action: the sentence naming its object when the redirect left one
    /// for this `done`, else the general one (a `done` alone in a link names nothing, so a link
    /// cannot put words on the page).
    pub fn flash(&self, done: Option<&str>) -> Markup {
        let named = match (&self.flash, done) {
            (Some((key, message)), Some(done)) if key == done => Some(message.as_str()),
            _ => None,
        };
        let message = named.unwrap_or_else(|| super::done_message(done));
        html! {
            div.flash-region role="status" aria-live="polite" {
                @if !message.is_empty() { p.flash #flash { (message) } }
            }
        }
    }
}

/// A redirect after an action, leaving the sentence that names what was done for the next page
/// (a cookie of a minute, ours only: the address bar carries only the `done` key).
pub fn redirect_done(state: &AppState, to: &str, done: &str, message: &str) -> HttpResponse {
    let value: String =
        url::form_urlencoded::byte_serialize(format!("{done}\n{message}").as_bytes()).collect();
    let cookie = Cookie::build(FLASH, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.public_is_https())
        .max_age(time::Duration::seconds(60))
        .finish();
    let sep = if to.contains('?') { '&' } else { '?' };
    super::secure(HttpResponse::SeeOther())
        .cookie(cookie)
        .insert_header((header::LOCATION, format!("{to}{sep}done={done}")))
        .finish()
}

/// A page of an organization needs a signed-in person with one active; anyone signed in
/// without one goes to the dashboard, which says what to do.
impl FromRequest for Viewer {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Viewer, WebError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let session = Session::from_request(&req, payload);
        Box::pin(async move {
            let session = session.await?;
            let org = session.active_org.clone().ok_or_else(|| WebError::Redirect("/team".into()))?;
            Viewer::of(&req, session, org).await
        })
    }
}

/// The form of a button that only acts (a confirmation's, Resend, Rotate secret): nothing but
/// its CSRF token.
#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

/// The viewer who pressed such a button, let through only once the post is checked (our own
/// origin, their CSRF token: `Session::check_post`), so no handler of one can forget the check.
/// It reads as the `Viewer` it holds.
pub struct ButtonPost(pub Viewer);

impl Deref for ButtonPost {
    type Target = Viewer;
    fn deref(&self) -> &Viewer {
        &self.0
    }
}

impl FromRequest for ButtonPost {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<ButtonPost, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let viewer = Viewer::from_request(&req, payload);
        let form = web::Form::<CsrfForm>::from_request(&req, payload);
        Box::pin(async move {
            let viewer = viewer.await?;
            let form = form.await?;
            viewer.session.check_post(&req, form.csrf.as_deref())?;
            Ok(ButtonPost(viewer))
        })
    }
}
