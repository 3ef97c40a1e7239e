//! JSON request bodies as typed values: `Body<T>` reads at most 64 KiB of JSON, which must be an
//! object (no body at all reads as `{}`), and deserializes it into the handler's request struct
//! — the same struct the OpenAPI document shows — with errors that name the field
//! (`'scopes[1]' must be a string`). Reading never fails the extraction itself: the handler asks
//! for the value after its other extractors (the credentials) ran, so a caller without a key
//! hears 401 whatever it sent.

use super::error::ApiError;
use crate::domain::IdempotencyKey;
use crate::service::idempotency::Idem;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Deserialize as _;
use serde_json::Value;

pub const MAX_BODY: usize = 64 * 1024;

/// A request body, parsed into `T` on demand.
pub struct Body<T> {
    /// The digest is made only when the request carries an Idempotency-Key: it costs a second
    /// serialization and a hash of the body, which most requests (a key verification) never use.
    parsed: Result<(T, Option<Digest>), ApiError>,
}

/// What a body says, independent of spacing and field order: two bodies with the same fields and
/// values have the same digest (Idempotency-Key compares them).
#[derive(Clone, Copy)]
pub struct Digest([u8; 32]);

impl<T> Body<T> {
    /// The body as `T`, or why it is not one.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.parsed.map(|(t, _)| t)
    }

    /// The body as `T`, and the request's `Idempotency-Key` (if any) with the body's digest.
    pub fn with_idempotency(self, req: &HttpRequest) -> Result<(T, Option<Idem>), ApiError> {
        let (t, digest) = self.parsed?;
        // No digest means no Idempotency-Key was sent (see `from_request`): there is nothing to
        // file, and `idempotency` answers None without looking at it.
        Ok((t, idempotency(req, digest.unwrap_or(Digest([0; 32])))?))
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Body<T>, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        let with_digest = req.headers().contains_key("idempotency-key");
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let parsed = match bytes.await {
                Ok(b) => parse(&b, is_json, with_digest),
                Err(e) if e.as_response_error().status_code().as_u16() == 413 => {
                    Err(ApiError::body_too_large())
                }
                Err(_) => Err(ApiError::bad_request(
                    "invalid_json",
                    "The request body could not be read; send it again.",
                )),
            };
            Ok(Body { parsed })
        })
    }
}

fn parse<T: DeserializeOwned>(
    bytes: &[u8],
    is_json: bool,
    with_digest: bool,
) -> Result<(T, Option<Digest>), ApiError> {
    // No body at all means "all defaults", as if `{}` had been sent.
    let value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else if !is_json {
        return Err(ApiError::unsupported_media_type());
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request("invalid_json", format!("The request body is not valid JSON ({e})."))
        })?
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "The request body must be a JSON object, e.g. {\"role\": \"member\"}.",
        ));
    }
    // serde_json's map is ordered by key, so this text is canonical.
    let digest = with_digest
        .then(|| Digest(*blake3::hash(&serde_json::to_vec(&value).unwrap_or_default()).as_bytes()));
    let t = serde_path_to_error::deserialize(value).map_err(|e| field_error(&e))?;
    Ok((t, digest))
}

/// A sentence naming the field a body failed at, from serde's own account of it.
fn field_error(e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = e.inner().to_string();
    if let Some(rest) = inner.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or("");
        let at = e.path().to_string();
        let name = if at == "." { name.to_string() } else { format!("{at}.{name}") };
        return ApiError::invalid_field(format!("'{name}' is required."));
    }
    // "invalid type: integer `5`, expected a string" → "must be a string (not integer `5`)".
    let detail = match inner.strip_prefix("invalid type: ").and_then(|r| r.split_once(", expected ")) {
        Some((got, expected)) => format!("must be {expected} (not {got})"),
        None if inner.starts_with("unknown variant `") => {
            // "unknown variant `Day`, expected one of `day`, `month`" → "must be one of …".
            let rest = &inner["unknown variant `".len()..];
            let (got, expected) = rest.split_once("`, expected ").unwrap_or((rest, "something else"));
            format!("must be {} (not \"{got}\")", expected.replace('`', "\""))
        }
        None => match inner.strip_prefix("unknown field `") {
            Some(rest) => {
                let name = rest.split('`').next().unwrap_or("");
                return ApiError::invalid_field(format!(
                    "'{name}' is not a field of this request{}",
                    rest.split_once(", expected ")
                        .map(|(_, known)| format!("; fields are {known}"))
                        .unwrap_or_default()
                ));
            }
            None => inner,
        },
    };
    let path = e.path().to_string();
    if path == "." {
        return ApiError::invalid_field(format!("The request body: {detail}."));
    }
    ApiError::invalid_field(format!("'{path}' {}.", detail.trim_end_matches('.')))
}

/// For a field where `null` means something (remove the limit, clear the description): absent
/// reads as `None`, `null` as `Some(None)`. Use with `#[serde(default, deserialize_with =
/// "present")]`.
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The `Idempotency-Key` header, as the OpenAPI document describes it (`params(IdempotencyHeader)`).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// Replays the first outcome instead of doing the work twice (docs/api.md, Idempotency).
    #[serde(rename = "Idempotency-Key")]
    #[param(min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$")]
    pub idempotency_key: Option<String>,
}

/// The request's `Idempotency-Key`, if it sent one, with its body's digest.
fn idempotency(req: &HttpRequest, digest: Digest) -> Result<Option<Idem>, ApiError> {
    let mut values = req.headers().get_all("idempotency-key");
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_field("Send the Idempotency-Key header once."));
    }
    let text = value.to_str().map_err(|_| {
        ApiError::invalid_field("The Idempotency-Key header must be 1 to 255 printable ASCII characters.")
    })?;
    let key = IdempotencyKey::parse(text).map_err(ApiError::invalid_field)?;
    Ok(Some(Idem { key, body_hash: digest.0 }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)] // read only through Debug: the test is about what parses.
    struct Req {
        name: Option<String>,
        scopes: Option<Vec<String>>,
        grace_seconds: Option<bool>,
    }

    fn got(body: &[u8]) -> ApiError {
        parse::<Req>(body, true, false).err().expect("refused")
    }

    #[test]
    fn empty_body_is_an_empty_object_whatever_the_type() {
        assert!(parse::<Req>(b"", false, true).is_ok());
        assert!(parse::<Req>(b"  \n", true, true).is_ok());
    }

    #[test]
    fn refusals_carry_their_codes_and_name_the_field() {
        assert_eq!(parse::<Req>(b"{}", false, true).err().unwrap().code(), "unsupported_media_type");
        assert_eq!(got(b"{").code(), "invalid_json");
        assert_eq!(got(b"[]").code(), "invalid_json");
        let e = got(br#"{"name": 5}"#);
        assert_eq!(e.code(), "invalid_field");
        assert!(e.message().starts_with("'name' must be a string"), "{}", e.message());
        let e = got(br#"{"scopes": ["a", 2]}"#);
        assert!(e.message().starts_with("'scopes[1]' must be a string"), "{}", e.message());
        let e = got(br#"{"nmae": "x"}"#);
        assert!(e.message().starts_with("'nmae' is not a field"), "{}", e.message());
        // null is absent.
        assert!(parse::<Req>(br#"{"name": null}"#, true, true).unwrap().0.name.is_none());
    }

    #[test]
    fn the_digest_ignores_spacing_and_order() {
        let a = parse::<Value>(br#"{"a":1,"b":[2]}"#, true, true).unwrap().1.unwrap();
        let b = parse::<Value>(b"{ \"b\" : [2], \"a\": 1 }", true, true).unwrap().1.unwrap();
        assert_eq!(a.0, b.0);
        // Made only for a request with an Idempotency-Key.
        assert!(parse::<Value>(br#"{"a":1}"#, true, false).unwrap().1.is_none());
    }
}
