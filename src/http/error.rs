//! The API's errors: every non-2xx answer is `{"error": {"type", "code", "message"}}`
//! (`ErrorBody`, also its OpenAPI schema), and `From<Error> for ApiError` is the one mapping from
//! what went wrong in the service to the status and code the API answers. Errors actix makes
//! before our handlers run get the same body (`json_error_net`).

use crate::db::DbError;
use crate::error::Error;
use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// Every non-2xx response of the API.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_request_error`, `authentication_error`, `credits_error`, `permission_error`,
    /// `not_found_error`, `conflict_error`, `rate_limit_error` or `api_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A stable snake_case code, e.g. `invalid_api_key`.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
}

impl From<getrandom::Error> for ApiError {
    fn from(e: getrandom::Error) -> Self {
        Error::from(e).into()
    }
}

impl From<Error> for ApiError {
    /// The one mapping from what went wrong to what the API answers.
    fn from(e: Error) -> ApiError {
        use Error::*;
        let (status, code) = match &e {
            InvalidField(_) => (StatusCode::BAD_REQUEST, "invalid_field"),
            InvalidEmail(_) => (StatusCode::BAD_REQUEST, "invalid_email"),
            InvalidToken(_) => (StatusCode::BAD_REQUEST, "invalid_token"),
            TokenExpired(_) => (StatusCode::BAD_REQUEST, "token_expired"),
            InvalidCursor => (StatusCode::BAD_REQUEST, "invalid_cursor"),
            UrlRefused(_) => (StatusCode::BAD_REQUEST, "url_not_allowed"),
            ExpiredApiKey(_) => (StatusCode::UNAUTHORIZED, "expired_api_key"),
            UserLimitExceeded { .. } => (StatusCode::PAYMENT_REQUIRED, "user_limit_exceeded"),
            MissingScope(_) => (StatusCode::FORBIDDEN, "missing_scope"),
            EmailMismatch => (StatusCode::FORBIDDEN, "email_mismatch"),
            LastOwner => (StatusCode::CONFLICT, "last_owner"),
            KeyRevoked => (StatusCode::CONFLICT, "key_revoked"),
            IdempotencyConflict => (StatusCode::CONFLICT, "idempotency_conflict"),
            Conflict(code, _) => (StatusCode::CONFLICT, *code),
            MissingCredentials => (StatusCode::UNAUTHORIZED, "missing_credentials"),
            InvalidApiKey(_) => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            WrongPassword => (StatusCode::UNAUTHORIZED, "wrong_password"),
            CreditsExceeded { .. } => (StatusCode::PAYMENT_REQUIRED, "credits_exceeded"),
            InsufficientRole(_) => (StatusCode::FORBIDDEN, "insufficient_role"),
            NotAProvisioner => (StatusCode::FORBIDDEN, "not_a_provisioner"),
            UserIdMismatch(_) => (StatusCode::FORBIDDEN, "user_id_mismatch"),
            ApiOnlyUser(_) => (StatusCode::FORBIDDEN, "api_only_user"),
            EmailUnverified(_) => (StatusCode::FORBIDDEN, "email_unverified"),
            SignupClosed(_) => (StatusCode::FORBIDDEN, "signup_closed"),
            SignupNeedsClaim => (StatusCode::FORBIDDEN, "signup_needs_claim"),
            MailOff => (StatusCode::FORBIDDEN, "mail_off"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            UserExists(_) => (StatusCode::CONFLICT, "user_exists"),
            AgentExists(_) => (StatusCode::CONFLICT, "agent_exists"),
            AlreadyClaimed => (StatusCode::CONFLICT, "already_claimed"),
            NotPending { .. } => (StatusCode::CONFLICT, "not_pending"),
            DomainTaken(_) => (StatusCode::CONFLICT, "domain_taken"),
            NoDomain => (StatusCode::CONFLICT, "no_domain"),
            PoolFull => (StatusCode::CONFLICT, "pool_full"),
            AmbiguousOrganization { .. } => (StatusCode::CONFLICT, "ambiguous_organization"),
            AddressUnverified(_) | MemberUnverified => (StatusCode::CONFLICT, "email_unverified"),
            Throttled(secs) | RateLimited(secs) => {
                let mut limited = ApiError::too_many_requests(*secs);
                limited.message = e.to_string();
                return limited;
            }
            Busy => {
                // Not logged: under a flood that would be a line per refused request.
                let mut busy = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The server is busy right now; try again in a few seconds.",
                );
                busy.retry_after = Some(2);
                return busy;
            }
            Storage(s) if s.is_unavailable() => return ApiError::unavailable(&e),
            Storage(_) | Random(_) | Internal(_) | UsePgDump => return ApiError::internal(&e),
        };
        ApiError::new(status, code, e.to_string())
    }
}

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
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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
            "This route does not accept that HTTP method; see docs/api.md for the routes and their methods.",
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
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The server cannot complete this request right now; try again shortly.",
        );
        // A lost race (deadlock, serialization failure) or a database restarting is over soon.
        e.retry_after = Some(1);
        e
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
            404 => Self::not_found("No such route; see docs/api.md for the routes provisiond serves."),
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

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::internal(format!("blocking task: {e}"))
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        Error::Storage(e).into()
    }
}

/// Safety net for errors that actix produces before our handlers run (extractor failures,
/// unmatched methods and the like, which it answers in plain text or with no body): the body
/// becomes the contract's JSON error. Our own JSON errors and HTML pages pass untouched.
pub fn json_error_net<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let ours =
        res.response().headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.starts_with("application/json")
                || v.starts_with("application/scim+json")
                || v.starts_with("text/html")
        });
    if ours {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, _) = res.into_parts();
    let body = ApiError::from_status(status).error_response();
    let res: ServiceResponse<EitherBody<B, BoxBody>> = ServiceResponse::new(req, body).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProvisionStatus;

    fn sqlite(code: i32) -> Error {
        Error::Storage(DbError::Sqlite(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)))
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
            assert!(!e.message().contains("sqlite"), "no internal detail in the body");
        }
        let e = ApiError::from(sqlite(rusqlite::ffi::SQLITE_CORRUPT));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), "internal");
    }

    #[test]
    fn refusals_keep_their_sentence_and_get_their_code() {
        let e = ApiError::from(Error::NotPending { status: ProvisionStatus::Expired, expired_at: Some(0) });
        assert_eq!((e.status(), e.code()), (StatusCode::CONFLICT, "not_pending"));
        assert!(e.message().contains("expired at 1970-01-01T00:00:00.000Z"), "{}", e.message());
    }
}
