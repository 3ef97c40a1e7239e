//! The query every list takes (contract, Lists): `limit` (1–1000, default 100) and `cursor`.

use crate::domain::{Cursor, Page, PageRequest};
use crate::error::Error;
use crate::http::error::ApiError;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::Deserialize;
use std::future::{ready, Ready};

pub const DEFAULT: u32 = 100;
pub const MAX: u32 = 1000;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1 to 1000, default 100
    #[param(value_type = u32, required = false, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `nextCursor` of the previous page
    #[param(value_type = String, required = false)]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        page_request(self.limit.as_deref(), self.cursor.as_deref())
    }
}

pub fn page_request(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => DEFAULT,
        // Plain digits only: "+5" and " 5" are not how anyone writes a limit.
        Some(s) => Some(s)
            .filter(|s| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|n| (1..=MAX).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_field(format!("'limit' must be a whole number from 1 to {MAX}."))
            })?,
    };
    let after = match cursor {
        None => None,
        Some(c) => Some(Cursor::parse(c).ok_or(Error::InvalidCursor)?),
    };
    Ok(PageRequest { limit, after })
}

/// The page a list's query string asks for, checked: handlers take what it means rather than
/// the raw query (document the query with `params(PageQuery)`).
pub struct Paged(pub PageRequest);

impl FromRequest for Paged {
    type Error = actix_web::Error;
    type Future = Ready<Result<Paged, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match web::Query::<PageQuery>::from_query(req.query_string()) {
            Ok(q) => q.request().map(Paged).map_err(Into::into),
            Err(e) => Err(e.into()),
        })
    }
}

/// `nextCursor` as the lists show it.
pub fn next_cursor<T>(page: &Page<T>) -> Option<String> {
    page.next.as_ref().map(Cursor::encode)
}
