//! Sign-up, log-in and log-out. API-only users and placeholders never sign in.

use super::session::{self, check_origin, safe_next};
use super::{layout, page, redirect, WebError};
use crate::app::AppState;
use crate::domain::Email;
use crate::error::ApiError;
use crate::{ops, passwords, store};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct Credentials {
    email: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

pub async fn home(req: HttpRequest) -> Result<HttpResponse, WebError> {
    Ok(match session::current(&req).await? {
        Some(_) => redirect("/team"),
        None => redirect("/login"),
    })
}

/// The log-in form; `next` is where to go afterwards (a local path).
pub fn login_form(next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        form method="post" action="/login" {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            input type="hidden" name="next" value=(next);
            label for="login-email" { "Email" }
            input #login-email type="email" name="email" value=(email) required autocomplete="username";
            label for="login-password" { "Password" }
            input #login-password type="password" name="password" required autocomplete="current-password";
            button #login-submit type="submit" { "Log in" }
        }
    }
}

pub fn signup_form(next: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        form method="post" action="/signup" {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            input type="hidden" name="next" value=(next);
            label for="signup-email" { "Email" }
            input #signup-email type="email" name="email" value=(email) required autocomplete="username";
            label for="signup-password" { "Password (at least " (passwords::MIN_LEN) " characters)" }
            input #signup-password type="password" name="password" required minlength=(passwords::MIN_LEN) autocomplete="new-password";
            button #signup-submit type="submit" { "Sign up" }
        }
    }
}

fn login_view(status: StatusCode, next: &str, email: &str, error: Option<&str>) -> HttpResponse {
    page(
        status,
        layout(
            "Log in",
            None,
            html! {
                section.card.narrow {
                    h1 { "Log in" }
                    (login_form(next, email, error))
                    p.muted { "No account yet? " a href={ "/signup?next=" (session::urlencode(next)) } { "Sign up" } }
                }
            },
        ),
    )
}

fn signup_view(status: StatusCode, next: &str, email: &str, error: Option<&str>) -> HttpResponse {
    page(
        status,
        layout(
            "Sign up",
            None,
            html! {
                section.card.narrow {
                    h1 { "Create your account" }
                    (signup_form(next, email, error))
                    p.muted { "Have an account? " a href={ "/login?next=" (session::urlencode(next)) } { "Log in" } }
                }
            },
        ),
    )
}

pub async fn login_page(q: web::Query<Next>) -> HttpResponse {
    login_view(StatusCode::OK, &safe_next(q.next.as_deref()), "", None)
}

pub async fn signup_page(q: web::Query<Next>) -> HttpResponse {
    signup_view(StatusCode::OK, &safe_next(q.next.as_deref()), "", None)
}

enum Outcome {
    Ok(String),
    Wrong,
    ApiOnly,
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let email = form.email.unwrap_or_default().trim().to_string();
    let who = email.to_ascii_lowercase();
    let password = form.password.unwrap_or_default();
    let now = state.clock.now();
    if let Err(secs) = state.login_limit.take(&crate::app::client_ip(&req), now) {
        let msg = format!("Too many log-in attempts from your address. Try again in {secs} seconds.");
        let mut res = login_view(StatusCode::TOO_MANY_REQUESTS, &next, &email, Some(&msg));
        res.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from(secs));
        return Ok(res);
    }
    if let Some(wait) = state.throttle.wait(&who, now) {
        let secs = (wait + 999) / 1000;
        let msg = format!("Too many failed log-ins for this address. Try again in {secs} seconds.");
        return Ok(login_view(StatusCode::TOO_MANY_REQUESTS, &next, &email, Some(&msg)));
    }
    let lookup = who.clone();
    let found = state.db.read(move |conn| Ok(store::orgs::login_by_email(conn, &lookup)?)).await?;
    // Verification is slow on purpose: off the async workers.
    let outcome = web::block(move || match found {
        Some(l) if l.api_only => Outcome::ApiOnly,
        Some(l) => match l.password_hash {
            Some(h) if passwords::verify(&password, &h) => Outcome::Ok(l.user_id),
            Some(_) => Outcome::Wrong,
            None => {
                passwords::verify_nothing(&password);
                Outcome::Wrong
            }
        },
        None => {
            passwords::verify_nothing(&password);
            Outcome::Wrong
        }
    })
    .await
    .map_err(ApiError::from)?;
    let user_id = match outcome {
        Outcome::Ok(id) => id,
        Outcome::ApiOnly => {
            let msg = "This account is API-only: it works with its API key, but cannot sign in here.";
            return Ok(login_view(StatusCode::FORBIDDEN, &next, &email, Some(msg)));
        }
        Outcome::Wrong => {
            state.throttle.failed(&who, now);
            return Ok(login_view(
                StatusCode::UNAUTHORIZED,
                &next,
                &email,
                Some("The email or password is wrong."),
            ));
        }
    };
    state.throttle.succeeded(&who);
    let token = state
        .db
        .write(move |tx| {
            tx.keeps_keys();
            let first_org = store::orgs::orgs_of_user(tx, &user_id)?.into_iter().next().map(|o| o.org_id);
            session::create(tx, &user_id, first_org.as_deref(), now)
        })
        .await?;
    Ok(signed_in(&state, token, &next))
}

/// Sets the new session's cookie and goes on to `next`.
fn signed_in(state: &AppState, token: String, next: &str) -> HttpResponse {
    super::secure(HttpResponse::SeeOther())
        .cookie(session::cookie(state, token))
        .insert_header((actix_web::http::header::LOCATION, next.to_string()))
        .finish()
}

pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let raw = form.email.unwrap_or_default().trim().to_string();
    let password = form.password.unwrap_or_default();
    let email = match Email::parse(&raw) {
        Ok(e) => e,
        Err(msg) => return Ok(signup_view(StatusCode::BAD_REQUEST, &next, &raw, Some(&msg))),
    };
    if let Err(msg) = passwords::acceptable(&password) {
        return Ok(signup_view(StatusCode::BAD_REQUEST, &next, &raw, Some(&msg)));
    }
    let hash = web::block(move || passwords::hash(&password))
        .await
        .map_err(ApiError::from)?
        .map_err(ApiError::internal)?;
    let now = state.clock.now();
    let created = state
        .db
        .write(move |tx| {
            tx.keeps_keys();
            let user_id = ops::sign_up(tx, &email, &hash, now)?;
            session::create(tx, &user_id, None, now)
        })
        .await;
    match created {
        Ok(token) => Ok(signed_in(&state, token, &next)),
        Err(e) if e.code() == "user_exists" => {
            Ok(signup_view(StatusCode::CONFLICT, &next, &raw, Some(e.message())))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    check_origin(&req)?;
    if let Some(s) = session::current(&req).await? {
        s.check_csrf(form.csrf.as_deref())?;
        let hash = s.token_hash;
        state
            .db
            .write(move |tx| {
                tx.keeps_keys();
                Ok(store::sessions::delete(tx, &hash)?)
            })
            .await?;
    }
    Ok(super::secure(HttpResponse::SeeOther())
        .cookie(session::removal_cookie(&state))
        .insert_header((actix_web::http::header::LOCATION, "/login"))
        .finish())
}
