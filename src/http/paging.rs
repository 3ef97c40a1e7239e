//! The query every list takes (contract, Lists): `limit` (1–1000, default 100) and `cursor`.

use crate::domain::{Cursor, Page, PageRequest};
use crate::error::Error;
use crate::http::error::ApiError;
use serde::Deserialize;

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

/// `nextCursor` as the lists show it.
pub fn next_cursor<T>(page: &Page<T>) -> Option<String> {
    page.next.as_ref().map(Cursor::encode)
}
