//! The one place HTTP statuses are chosen. Every API error leaves the server as
//! `{"error": {"type", "code", "message"}}`; internal detail goes to the log, never the body.

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None, allow: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self::bad_request("invalid_field", message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn credits_exceeded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYMENT_REQUIRED, "credits_exceeded", message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This route does not accept that HTTP method; see the README for the routes and their methods.",
        )
    }

    /// 405 naming the methods the route does accept (the `Allow` header HTTP asks for).
    pub fn method_not_allowed_for(allow: &'static str) -> Self {
        let mut e = Self::method_not_allowed();
        e.message = format!("This route accepts only {allow}.");
        e.allow = Some(allow);
        e
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "The request body is larger than 64 KiB; send a smaller body.",
        )
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the request body as JSON with the header 'Content-Type: application/json'.",
        )
    }
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("Too many requests; retry after {retry_after_secs} seconds."),
        );
        e.retry_after = Some(retry_after_secs);
        e
    }

    /// A fault on our side. `detail` is logged, and only a generic sentence is sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        log::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on the server; try again, and tell the operator if it keeps happening.",
        )
    }

    /// The storage cannot take writes (or answer) right now: disk full, read-only, locked too long.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        log::warn!("unavailable: {detail}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The server cannot complete this request right now; try again shortly.",
        )
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    fn error_type(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            402 => "credits_error",
            403 => "permission_error",
            404 => "not_found_error",
            409 => "conflict_error",
            429 => "rate_limit_error",
            s if s >= 500 => "api_error",
            _ => "invalid_request_error",
        }
    }

    /// For error responses produced outside our handlers (actix's own), chosen by status alone.
    fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            404 => Self::not_found("No such route; see the README for the routes provisiond serves."),
            405 => Self::method_not_allowed(),
            413 => Self::body_too_large(),
            415 => Self::unsupported_media_type(),
            s if s >= 500 => Self::new(
                status,
                "internal",
                "Something went wrong on the server; try again, and tell the operator if it keeps happening.",
            ),
            _ => Self::new(
                status,
                "invalid_request",
                "The request could not be understood; check its headers and body.",
            ),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut res = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(allow) = self.allow {
            res.insert_header((header::ALLOW, allow));
        }
        res.json(json!({
            "error": {"type": self.error_type(), "code": self.code, "message": self.message}
        }))
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked | ReadOnly | DiskFull | SystemIoFailure | CannotOpen) => {
                Self::unavailable(format!("database: {e}"))
            }
            _ => Self::internal(format!("database: {e}")),
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        Self::unavailable(format!("connection pool: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::internal(format!("blocking task: {e}"))
    }
}

impl From<getrandom::Error> for ApiError {
    fn from(e: getrandom::Error) -> Self {
        Self::internal(format!("OS random source: {e}"))
    }
}

/// Safety net for errors that actix produces before our handlers run (extractor failures,
/// unmatched methods and the like, which it answers in plain text or with no body): the body
/// becomes the contract's JSON error. Our own JSON errors and HTML pages pass untouched.
pub fn json_error_net<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let ours = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if ours {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, _) = res.into_parts();
    let body = ApiError::from_status(status).error_response();
    let res: ServiceResponse<EitherBody<B, BoxBody>> = ServiceResponse::new(req, body).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

/// True when a SQLite error is a UNIQUE or PRIMARY KEY violation.
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn storage_refusing_writes_is_503_unavailable_and_says_nothing_internal() {
        for code in [
            rusqlite::ffi::SQLITE_READONLY,
            rusqlite::ffi::SQLITE_FULL,
            rusqlite::ffi::SQLITE_IOERR,
            rusqlite::ffi::SQLITE_BUSY,
            rusqlite::ffi::SQLITE_CANTOPEN,
        ] {
            let e = ApiError::from(sqlite(code));
            assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE, "code {code}");
            assert_eq!(e.code(), "unavailable");
            assert!(!e.message().contains("database"), "no internal detail in the body");
        }
        let e = ApiError::from(sqlite(rusqlite::ffi::SQLITE_CORRUPT));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), "internal");
    }
}
