//! Request bodies: at most 64 KiB of JSON, and it must be an object. Reading never fails the
//! extraction itself — the handler asks for the object after checking credentials, so a caller
//! without a key hears 401 whatever it sent.

use crate::domain::IdempotencyKey;
use crate::error::ApiError;
use crate::service::idempotency::Idem;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};

pub const MAX_BODY: usize = 64 * 1024;

pub struct JsonBody(Result<Fields, ApiError>);

impl JsonBody {
    pub fn fields(self) -> Result<Fields, ApiError> {
        self.0
    }
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<JsonBody, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let parsed = match bytes.await {
                Ok(b) => parse(&b, is_json),
                Err(e) if e.as_response_error().status_code().as_u16() == 413 => {
                    Err(ApiError::body_too_large())
                }
                Err(_) => Err(ApiError::bad_request(
                    "invalid_json",
                    "The request body could not be read; send it again.",
                )),
            };
            Ok(JsonBody(parsed))
        })
    }
}

fn parse(bytes: &[u8], is_json: bool) -> Result<Fields, ApiError> {
    // No body at all means "all defaults", as if `{}` had been sent.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Fields(Map::new()));
    }
    if !is_json {
        return Err(ApiError::unsupported_media_type());
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("The request body is not valid JSON ({e})."))
    })?;
    match value {
        Value::Object(map) => Ok(Fields(map)),
        _ => Err(ApiError::bad_request(
            "invalid_json",
            "The request body must be a JSON object, e.g. {\"role\": \"member\"}.",
        )),
    }
}

/// A JSON object's fields, read one by one with messages that name the field. Unknown fields
/// are ignored (clients may send more than we need); `null` counts as absent.
pub struct Fields(Map<String, Value>);

impl Fields {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::invalid_field(format!("'{name}' must be true or false."))),
        }
    }

    /// Any JSON value (callers check its shape).
    pub fn opt_value(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }

    /// A nested object, read with the same rules.
    pub fn opt_object(&self, name: &str) -> Result<Option<Fields>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Fields(m.clone()))),
            Some(_) => Err(ApiError::invalid_field(format!("'{name}' must be a JSON object."))),
        }
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid_field(format!("'{name}' must be a string."))),
        }
    }

    pub fn str(&self, name: &str) -> Result<&str, ApiError> {
        self.opt_str(name)?.ok_or_else(|| ApiError::invalid_field(format!("'{name}' is required.")))
    }

    /// What the body says, independent of spacing and field order: two bodies with the same
    /// fields and values have the same digest (for Idempotency-Key).
    pub fn digest(&self) -> [u8; 32] {
        // serde_json's map is ordered by key, so this text is canonical.
        let text = serde_json::to_vec(&self.0).unwrap_or_default();
        *blake3::hash(&text).as_bytes()
    }

    /// Whether the field was sent at all, `null` included (where `null` means something).
    pub fn is_present(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The raw JSON number, for fields whose exact decimal text matters.
    pub fn opt_number(&self, name: &str) -> Result<Option<&serde_json::Number>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n)),
            Some(_) => Err(ApiError::invalid_field(format!("'{name}' must be a number."))),
        }
    }
}

/// The `Idempotency-Key` header, as the OpenAPI document describes it (`params(IdempotencyHeader)`).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyHeader {
    /// Replays the first outcome instead of doing the work twice (see the README, Idempotency).
    #[serde(rename = "Idempotency-Key")]
    #[param(min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$")]
    idempotency_key: Option<String>,
}

/// The request's `Idempotency-Key`, if it sent one, with its body's digest.
pub fn idempotency(req: &actix_web::HttpRequest, fields: &Fields) -> Result<Option<Idem>, ApiError> {
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
    Ok(Some(Idem { key, body_hash: fields.digest() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_is_an_empty_object_whatever_the_type() {
        assert!(parse(b"", false).is_ok());
        assert!(parse(b"  \n", true).is_ok());
    }

    #[test]
    fn refusals_carry_their_codes() {
        assert_eq!(parse(b"{}", false).err().unwrap().code(), "unsupported_media_type");
        assert_eq!(parse(b"{", true).err().unwrap().code(), "invalid_json");
        assert_eq!(parse(b"[]", true).err().unwrap().code(), "invalid_json");
        let f = parse(br#"{"a": 1, "b": null}"#, true).unwrap();
        assert_eq!(f.opt_bool("a").err().unwrap().code(), "invalid_field");
        assert_eq!(f.opt_bool("b").unwrap(), None);
        assert_eq!(f.str("c").err().unwrap().code(), "invalid_field");
    }
}
