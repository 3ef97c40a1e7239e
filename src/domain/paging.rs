//! Lists in pages: what a request asks for, one page, and the opaque cursor where the next
//! page starts.

/// A position in a list (contract, Lists): the sort key of the last row a page showed. Opaque to
/// clients (the key's parts, hex-encoded); parsing a cursor checks its shape, so a cursor made
/// up or cut short is refused, not half understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(Vec<String>);

impl Cursor {
    pub fn new(parts: Vec<String>) -> Cursor {
        Cursor(parts)
    }

    pub fn encode(&self) -> String {
        let mut out = String::from("c1");
        for part in &self.0 {
            out.push('.');
            for b in part.bytes() {
                out.push_str(&format!("{b:02x}"));
            }
        }
        out
    }

    /// A cursor from a client, checked for shape only: which parts a list needs, it reads with
    /// `text` and `number` (a cursor of another list fails there).
    pub fn parse(text: &str) -> Option<Cursor> {
        let mut pieces = text.split('.');
        if pieces.next()? != "c1" || text.len() > 2048 {
            return None;
        }
        let decoded: Option<Vec<String>> = pieces
            .map(|hex| {
                if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                let bytes: Option<Vec<u8>> =
                    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect();
                String::from_utf8(bytes?).ok()
            })
            .collect();
        decoded.filter(|d| !d.is_empty()).map(Cursor)
    }

    /// Part `i` (of `of` parts, which the list's sort key has).
    pub fn text(&self, i: usize, of: usize) -> Option<&str> {
        (self.0.len() == of).then(|| self.0.get(i).map(String::as_str)).flatten()
    }

    /// Part `i` (of `of`), which must be a whole number (a time or a row number).
    pub fn number(&self, i: usize, of: usize) -> Option<i64> {
        let p = self.text(i, of)?;
        if p.is_empty() || !p.bytes().enumerate().all(|(j, b)| b.is_ascii_digit() || (j == 0 && b == b'-')) {
            return None;
        }
        p.parse().ok()
    }
}

/// One page of a list and where the next one starts (`None` on the last page).
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// From up to `limit + 1` rows: the extra row, if there, says another page follows, which
    /// starts after the last row shown.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Page<T> {
        let limit = limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(key) } else { None };
        Page { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next: self.next }
    }
}

/// What a list request asks for: how many rows, after which.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// Where a page of the team page's lists starts: the first page, or after (before) the row
/// whose sort key is (`time`, row number): keyset paging in both directions, so a deep page costs
/// what the first does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyset {
    First,
    After(i64, i64),
    Before(i64, i64),
}

impl Keyset {
    /// `time_n` as a link carries it.
    pub fn key(time: i64, n: i64) -> String {
        format!("{time}_{n}")
    }

    /// A key from a link; None when it is not one.
    pub fn parse_key(text: &str) -> Option<(i64, i64)> {
        let (a, b) = text.split_once('_')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }
}
