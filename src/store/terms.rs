//! The search index of the team page's provisions (see schema.sql, `provision_terms`): the words
//! of a provision's address, label and external id, each a row keyed by organization and word, so
//! a search is a range seek per word typed ("p4" finds p42@acme.test, "acme" finds everyone at
//! acme) on SQLite and PostgreSQL alike, instead of `LIKE '%…%'` over every row.
//!
//! A word is a run of letters and digits: the text is lowercased and cut at every ASCII
//! character that is neither (so `@ . - _ +` and spaces separate words; letters beyond ASCII
//! belong to words). migrations/10.sql cut the rows that existed before the same way.

use crate::db::{Conn, DbResult, Param, Tx};
use crate::domain::OrgId;

/// Words kept per provision, and letters per word: a bound on what one provision writes.
const MAX_TERMS: usize = 24;
const MAX_LEN: usize = 64;
/// Words of a search that narrow it (more are ignored: four words pin any row down).
pub const MAX_QUERY_TERMS: usize = 4;
/// Below this many provisions a search's first word reaches, the search leads the query (the
/// few found are looked up and sorted); above it the list is read in its own order, each
/// provision checked against the word (a word in most rows finds a page at once that way).
const LEAD: i64 = 2_000;

/// The words of some texts, lowercased, each once, in order.
pub fn words<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for text in texts {
        for word in text.to_lowercase().split(|c: char| c.is_ascii() && !c.is_ascii_alphanumeric()) {
            let word: String = word.chars().take(MAX_LEN).collect();
            if !word.is_empty() && !out.contains(&word) {
                out.push(word);
            }
        }
    }
    out
}

/// Indexes a new provision (row `n`) by the words of its address, label and external id.
pub fn insert(tx: &Tx, org: &OrgId, n: i64, texts: [Option<&str>; 3]) -> DbResult<()> {
    let mut terms = words(texts.into_iter().flatten());
    terms.truncate(MAX_TERMS);
    if terms.is_empty() {
        return Ok(());
    }
    let mut sql = String::from("INSERT INTO provision_terms (org_id, term, provision_n) VALUES ");
    let mut params: Vec<&dyn Param> = vec![org, &n];
    for (i, term) in terms.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(?1, ?{}, ?2)", i + 3));
        params.push(term);
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    tx.execute(&sql, &params)?;
    Ok(())
}

/// A search as the query needs it: its most telling word (the longest) sought through the
/// index, and each other word as a pattern the rows found must hold.
pub struct Search {
    /// The first word, and the first text after every text it begins.
    pub first: (String, String),
    /// `%word%` for each other word: checked on the rows the first found (few, unless the
    /// first word is in every row), not sought.
    pub rest: Vec<String>,
}

impl Search {
    /// The words of what was typed (at most `MAX_QUERY_TERMS`); None when it has no word at all.
    pub fn of(typed: &str) -> Option<Search> {
        let mut w = words([typed]);
        w.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
        w.truncate(MAX_QUERY_TERMS);
        let mut w = w.into_iter();
        let first = w.next()?;
        let end = format!("{first}\u{10FFFF}");
        // A word holds neither `%` nor `_` (they separate words), so it needs no escaping.
        Some(Search { first: (first, end), rest: w.map(|t| format!("%{t}%")).collect() })
    }

    /// How many index rows the first word reaches (counted up to `LEAD`): whether the search
    /// leads (`narrow`) or follows the list's own order.
    pub fn narrow(&self, conn: &Conn, org: &OrgId) -> DbResult<bool> {
        let n: i64 = conn.value(
            "SELECT COUNT(*) FROM (SELECT 1 FROM provision_terms WHERE org_id = ?1 AND term >= ?2 AND term < ?3 LIMIT ?4) x",
            &[org, &self.first.0, &self.first.1, &LEAD],
        )?;
        Ok(n < LEAD)
    }

    /// The table part of a statement over `provisions p`: when the first word is `narrow`, its
    /// rows found through the index first and each provision looked up by its row number
    /// (CROSS JOIN keeps SQLite to that order); otherwise the provisions as the list reads them,
    /// the word checked on each (`sql`). Placeholders as `sql`'s.
    pub fn from(&self, narrow: bool, org: usize, first: usize) -> String {
        let (a, b) = (first, first + 1);
        if narrow {
            format!(
                "(SELECT DISTINCT provision_n FROM provision_terms WHERE org_id = ?{org} AND term >= ?{a} AND term < ?{b}) t
                 CROSS JOIN provisions p"
            )
        } else {
            "provisions p".into()
        }
    }

    /// The conditions on `provisions p` (its address, label and external id): the first word
    /// (`AND n IN (…)`, or the join's when `narrow`), with the organization bound as `?{org}`,
    /// and a pattern per other word; placeholders numbered from `first`, bound with `params()`.
    pub fn sql(&self, narrow: bool, org: usize, first: usize) -> String {
        let (a, b) = (first, first + 1);
        let mut sql = if narrow {
            " AND p.n = t.provision_n".to_string()
        } else {
            format!(" AND n IN (SELECT provision_n FROM provision_terms WHERE org_id = ?{org} AND term >= ?{a} AND term < ?{b})")
        };
        for i in 0..self.rest.len() {
            let k = first + 2 + i;
            sql.push_str(&format!(
                " AND (lower(COALESCE(email, '')) LIKE ?{k} OR lower(COALESCE(name, '')) LIKE ?{k}
                       OR lower(COALESCE(external_id, '')) LIKE ?{k})"
            ));
        }
        sql
    }

    pub fn params(&self) -> Vec<&dyn Param> {
        let mut out: Vec<&dyn Param> = vec![&self.first.0, &self.first.1];
        out.extend(self.rest.iter().map(|p| p as &dyn Param));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_runs_of_letters_and_digits() {
        assert_eq!(
            words(["P42@Acme.test", "ext-0042", "Nora Éxample"]),
            ["p42", "acme", "test", "ext", "0042", "nora", "éxample"]
        );
        assert_eq!(words(["a.a.a"]), ["a"]);
        assert!(words(["@@ -- "]).is_empty());
        let s = Search::of("ext-0042").unwrap();
        assert_eq!(s.first.0, "0042", "the longest word first");
        assert_eq!(s.rest, ["%ext%"]);
        assert!(Search::of("@").is_none());
    }
}
