//! Web sign-ins: a random token in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` behind https),
//! stored as its blake3 hash with an expiry (see `service::accounts`). Forms of a signed-in
//! person carry a CSRF token derived from the session token; every form post must also come from
//! our own origin.

use super::WebError;
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::service::accounts::{self, SESSION_TTL_MS};
use crate::service::shown;
use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use std::ops::Deref;

pub const COOKIE: &str = "provisiond_session";

/// A signed-in person, and the CSRF token their forms carry.
#[derive(Clone)]
pub struct Session {
    pub person: accounts::Session,
    /// Put into every form as `csrf`; checked on every post.
    pub csrf: String,
    /// What this session's show-once results are sealed under (see service::shown).
    pub seal_key: [u8; 32],
}

impl Deref for Session {
    type Target = accounts::Session;
    fn deref(&self) -> &accounts::Session {
        &self.person
    }
}

fn csrf_for(token: &str) -> String {
    let k = blake3::derive_key("provisiond 2026-11 session csrf", token.as_bytes());
    k[..16].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn cookie(state: &AppState, token: String) -> Cookie<'static> {
    Cookie::build(COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.public_is_https())
        .max_age(time::Duration::milliseconds(SESSION_TTL_MS))
        .finish()
}

pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = cookie(state, String::new());
    c.make_removal();
    c
}

/// The session the request's cookie names, if it is live.
pub async fn current(req: &HttpRequest) -> Result<Option<Session>, ApiError> {
    let Some(token) = req.cookie(COOKIE).map(|c| c.value().to_string()) else { return Ok(None) };
    let state =
        req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| ApiError::internal("no AppState"))?;
    let person = accounts::session(&state.ctx, &token).await?;
    Ok(person.map(|person| Session { person, csrf: csrf_for(&token), seal_key: shown::session_key(&token) }))
}

impl Session {
    /// A form post of this person's: from our own origin, with their CSRF token.
    pub fn check_post(&self, req: &HttpRequest, presented: Option<&str>) -> Result<(), WebError> {
        check_origin(req)?;
        self.check_csrf(presented)
    }

    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), WebError> {
        if presented.is_some_and(|p| p == self.csrf) {
            Ok(())
        } else {
            Err(WebError::Status(
                actix_web::http::StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back, reload the page and try again.".into(),
            ))
        }
    }
}

tokio::task_local! {
    /// The session a request's page was resolved with, for the error page that request may end
    /// in (an error page is rendered where the request is no longer at hand).
    static SHOWN_TO: std::cell::RefCell<Option<Session>>;
}

/// Runs a request's handling with room for its session (set by the extractor below).
pub async fn with_page_session<F: std::future::Future>(f: F) -> F::Output {
    SHOWN_TO.scope(std::cell::RefCell::new(None), f).await
}

/// The signed-in person of the request being handled, if its page knew one.
pub fn signed_in() -> Option<Session> {
    SHOWN_TO.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// A page that needs a signed-in person: anyone else is sent to log in and brought back.
impl FromRequest for Session {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Session, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match current(&req).await? {
                Some(s) => {
                    let _ = SHOWN_TO.try_with(|c| *c.borrow_mut() = Some(s.clone()));
                    Ok(s)
                }
                None => {
                    let back = match req.query_string() {
                        "" => req.path().to_string(),
                        q => format!("{}?{q}", req.path()),
                    };
                    let back =
                        if req.method() == actix_web::http::Method::GET { back } else { "/team".into() };
                    Err(WebError::Redirect(format!("/login?next={}", urlencode(&safe_next(Some(&back))))))
                }
            }
        })
    }
}

/// Refuses a form post that a browser says came from another site.
pub fn check_origin(req: &HttpRequest) -> Result<(), WebError> {
    let host = req.connection_info().host().to_ascii_lowercase();
    let from = |v: &str| -> Option<String> {
        let rest = v.split_once("://")?.1;
        Some(rest.split('/').next().unwrap_or("").to_ascii_lowercase())
    };
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let referer = req.headers().get(header::REFERER).and_then(|v| v.to_str().ok());
    let claimed = match (origin, referer) {
        (Some(o), _) => Some(from(o)),
        (None, Some(r)) => Some(from(r)),
        // Neither header: not a browser form post from another site.
        (None, None) => None,
    };
    match claimed {
        Some(Some(h)) if h == host => Ok(()),
        None => Ok(()),
        _ => Err(WebError::Status(
            actix_web::http::StatusCode::FORBIDDEN,
            "This form was sent from another site, so it was refused.".into(),
        )),
    }
}

/// Only local paths, so a `next` parameter can never send anyone to another site: one leading
/// `/`, no `//`, no backslash, and nothing but printable ASCII (browsers drop tabs and line
/// breaks from URLs, so `/\t/evil.example` would read as `//evil.example`; and a header value
/// cannot hold them). Anything else goes to the dashboard.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 2048
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => "/team".to_string(),
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/claim?token=ab")), "/claim?token=ab");
        assert_eq!(safe_next(Some("//evil.com")), "/team");
        assert_eq!(safe_next(Some("https://evil.com")), "/team");
        assert_eq!(safe_next(Some("/\\evil.com")), "/team");
        assert_eq!(safe_next(None), "/team");
        for hostile in ["/\t/evil.example", "/\n", "/\r\nSet-Cookie: x=1", "/ x", "/\u{7f}", "/é", ""] {
            assert_eq!(safe_next(Some(hostile)), "/team", "{hostile:?}");
        }
    }

    #[test]
    fn csrf_is_stable_per_token_and_differs_between_tokens() {
        assert_eq!(csrf_for("a"), csrf_for("a"));
        assert_ne!(csrf_for("a"), csrf_for("b"));
        assert_eq!(csrf_for("a").len(), 32);
    }

    #[test]
    fn urlencode_keeps_paths_readable() {
        assert_eq!(urlencode("/claim?token=ab&x=1"), "/claim%3Ftoken%3Dab%26x%3D1");
    }
}
