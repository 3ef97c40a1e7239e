//! The search index of the team page's provisions (see schema.sql, `provision_terms`): the words
//! of a provision's address, label and external id, each a row keyed by organization and word, so
//! a search is a range seek per word typed ("p4" finds p42@acme.test, "acme" finds everyone at
//! acme) on SQLite and PostgreSQL alike, instead of `LIKE '%…%'` over every row.
//!
//! A word is a run of letters and digits: the text is lowercased and cut at every ASCII
//! character that is neither (so `@ . - _ +` and spaces separate words; letters beyond ASCII
//! belong to words). migrations/10.sql cut the rows that existed before the same way.

use crate::db::{DbResult, Param, Tx};
use crate::domain::OrgId;

/// Words kept per provision, and letters per word: a bound on what one provision writes.
const MAX_TERMS: usize = 24;
const MAX_LEN: usize = 64;
/// Words of a search that narrow it (more are ignored: four words pin any row down).
pub const MAX_QUERY_TERMS: usize = 4;

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

/// A search as the query needs it: each word, and the first text after every text it begins.
pub struct Search {
    pub ranges: Vec<(String, String)>,
}

impl Search {
    /// The words of what was typed (at most `MAX_QUERY_TERMS`); None when it has no word at all.
    pub fn of(typed: &str) -> Option<Search> {
        let mut w = words([typed]);
        if w.is_empty() {
            return None;
        }
        // The longest words narrow most; they go first.
        w.sort_by_key(|t| std::cmp::Reverse(t.len()));
        w.truncate(MAX_QUERY_TERMS);
        let ranges = w
            .into_iter()
            .map(|t| {
                let end = format!("{t}\u{10FFFF}");
                (t, end)
            })
            .collect();
        Some(Search { ranges })
    }

    /// `AND n IN (…)` for each word, its placeholders numbered from `first`; the parameters to
    /// bind after the org (which the statement binds as `?org`) are `params()`.
    pub fn sql(&self, org: usize, first: usize) -> String {
        let mut sql = String::new();
        for i in 0..self.ranges.len() {
            let (a, b) = (first + 2 * i, first + 2 * i + 1);
            sql.push_str(&format!(
                " AND n IN (SELECT provision_n FROM provision_terms WHERE org_id = ?{org} AND term >= ?{a} AND term < ?{b})"
            ));
        }
        sql
    }

    pub fn params(&self) -> Vec<&dyn Param> {
        let mut out: Vec<&dyn Param> = Vec::new();
        for (a, b) in &self.ranges {
            out.push(a);
            out.push(b);
        }
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
        assert_eq!(s.ranges[0].0, "0042", "the longest word first");
        assert!(Search::of("@").is_none());
    }
}
