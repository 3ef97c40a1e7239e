//! A test that every store statement changing what an API key means marks the key cache stale
//! (`Tx::keys_changed`) in the function that runs it: the cache is exact only if no such write
//! forgets (see `keycache`), and this finds the one that does before a stale key is served.
//!
//! It reads the store's source: which tables a cached key depends on comes from the cache's own
//! query (`keys::lookup`, every table after FROM or JOIN), and every UPDATE, DELETE or
//! INSERT … ON CONFLICT on one of them must sit in a function that calls `keys_changed()`.
//! A plain INSERT needs no mark: it makes a row no cached key was read from (the cache keeps only
//! keys it found, with the rows they joined; a new membership could join only the keys of a
//! member removed before, and removal revoked them all).

use std::collections::BTreeSet;
use std::path::Path;

/// Columns no cached key depends on, so an UPDATE that sets only these needs no mark.
const UNRELATED_COLUMNS: &[(&str, &str)] = &[
    // The cache keeps its own note of each key's last use (`service::auth`); the flush of those
    // notes every minute would otherwise empty the cache every minute.
    ("api_keys", "last_used_at"),
    // The credit pool: every debit writes it, and no key reads it.
    ("organizations", "credits_granted"),
    ("organizations", "credits_used"),
    ("organizations", "credits_alert"),
    // Which event types the organization's webhook endpoints want; no key carries it.
    ("organizations", "webhook_events"),
    // Sign-in and the dashboard's name; a key carries neither.
    ("users", "password_hash"),
    ("users", "name"),
];

/// A source file split into its code (strings and comments blanked, offsets kept) and its
/// string literals (where each starts, and its text).
struct Source {
    code: String,
    strings: Vec<(usize, String)>,
}

fn lex(text: &str) -> Source {
    let b = text.as_bytes();
    let mut code = b.to_vec();
    let mut strings = Vec::new();
    let blank = |code: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut code[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
                blank(&mut code, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
                blank(&mut code, i, end);
                i = end;
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#')) && (i == 0 || !is_word(b[i - 1])) => {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                let open = i + 1 + hashes;
                if b.get(open) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let end = text[open + 1..].find(&close).map_or(b.len(), |n| open + 1 + n);
                strings.push((i, text[open + 1..end].to_string()));
                let end = (end + close.len()).min(b.len());
                blank(&mut code, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                strings.push((i, text[i + 1..j.min(b.len())].to_string()));
                let end = (j + 1).min(b.len());
                blank(&mut code, i, end);
                i = end;
            }
            // A character literal ('x', '\n', '"'), not a lifetime ('a).
            b'\'' => {
                let end = if b.get(i + 1) == Some(&b'\\') {
                    text[i + 3..].find('\'').map(|n| i + 3 + n + 1)
                } else {
                    let width = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + width) == Some(&b'\'')).then_some(i + 2 + width)
                };
                match end {
                    Some(end) => {
                        blank(&mut code, i, end);
                        i = end;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    Source { code: String::from_utf8(code).expect("blanking keeps UTF-8"), strings }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The functions of a file: name and the span of their whole text, signature to closing brace.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(n) = code[from..].find("fn ") {
        let at = from + n;
        from = at + 3;
        if at > 0 && is_word(b[at - 1]) {
            continue;
        }
        let name: String = code[at + 3..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        // The body's brace, or the `;` of a declaration without one (outside `(…)` and `[…]`:
        // `[u8; 32]` is a type).
        let mut nesting = 0;
        let Some(open) = (at..b.len()).find(|&j| {
            match b[j] {
                b'(' | b'[' => nesting += 1,
                b')' | b']' => nesting -= 1,
                b'{' | b';' => return nesting == 0,
                _ => {}
            }
            false
        }) else {
            continue;
        };
        if b[open] == b';' {
            continue;
        }
        let mut depth = 0;
        let mut end = b.len();
        for (j, c) in b.iter().enumerate().skip(open) {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((name, at, end));
    }
    out
}

/// The words of `sql` (names, keywords, numbers), each with where it starts.
fn words(sql: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (j, c) in sql.char_indices().chain([(sql.len(), ' ')]) {
        match (c.is_ascii_alphanumeric() || c == '_', start) {
            (true, None) => start = Some(j),
            (false, Some(s)) => {
                out.push((s, &sql[s..j]));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The columns the UPDATE at the start of `update` sets: `SET a = …, b = …` up to the WHERE,
/// FROM or RETURNING outside parentheses.
fn assigned_columns(update: &str) -> Vec<String> {
    let Some(set) = words(update).into_iter().find(|w| w.1 == "SET") else { return Vec::new() };
    let list = &update[set.0 + 3..];
    let (mut depth, mut pieces, mut start, mut end) = (0, Vec::new(), 0, list.len());
    for (j, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                pieces.push(&list[start..j]);
                start = j + 1;
            }
            c if depth == 0
                && c.is_whitespace()
                && ["WHERE", "FROM", "RETURNING"].iter().any(|k| list[j..].trim_start().starts_with(k)) =>
            {
                end = j;
                break;
            }
            _ => {}
        }
    }
    pieces.push(&list[start..end]);
    pieces
        .iter()
        .map(|p| {
            let lhs = p.split('=').next().unwrap_or("").trim();
            lhs.rsplit('.').next().unwrap_or(lhs).to_string()
        })
        .collect()
}

/// The statements in `sql` that change a key's table: (table, the statement's first line) each.
fn key_writes(sql: &str, tables: &BTreeSet<String>) -> Vec<(String, String)> {
    let w = words(sql);
    let word = |i: usize| w.get(i).map(|w| w.1);
    let mut found = Vec::new();
    for (i, &(at, keyword)) in w.iter().enumerate() {
        let table = match keyword {
            // Not `FOR UPDATE` (a lock) or `DO UPDATE` (an upsert's second half, seen as INSERT).
            "UPDATE" if !matches!(i.checked_sub(1).and_then(word), Some("FOR" | "DO")) => word(i + 1),
            "DELETE" if word(i + 1) == Some("FROM") => word(i + 2),
            "INSERT" if word(i + 1) == Some("INTO") && sql.contains("ON CONFLICT") => word(i + 2),
            _ => None,
        };
        let Some(table) = table.filter(|t| tables.contains(*t)) else { continue };
        if keyword == "UPDATE" {
            let columns = assigned_columns(&sql[at..]);
            if !columns.is_empty() && columns.iter().all(|c| UNRELATED_COLUMNS.contains(&(table, c.as_str())))
            {
                continue;
            }
        }
        found.push((table.to_string(), sql[at..].lines().next().unwrap_or("").trim().to_string()));
    }
    found
}

/// The tables the key cache's query reads: every name after FROM or JOIN in `keys::lookup`.
fn key_tables(keys_rs: &str) -> BTreeSet<String> {
    let src = lex(keys_rs);
    let (_, start, end) = functions(&src.code).into_iter().find(|f| f.0 == "lookup").expect("keys::lookup");
    let sql: String =
        src.strings.iter().filter(|(at, _)| (start..end).contains(at)).map(|s| s.1.as_str()).collect();
    let w = words(&sql);
    w.windows(2).filter(|p| p[0].1 == "FROM" || p[0].1 == "JOIN").map(|p| p[1].1.to_string()).collect()
}

/// Every statement on a key's table in `text` (one store file) whose function does not call
/// `keys_changed()`, and how many such statements there were.
fn unmarked(file: &str, text: &str, tables: &BTreeSet<String>) -> (Vec<String>, usize) {
    // A test module at the bottom of a file is not the store.
    let text = text.split("\n#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let src = lex(text);
    let fns = functions(&src.code);
    let (mut missing, mut seen) = (Vec::new(), 0);
    for (at, sql) in &src.strings {
        for (table, line) in key_writes(sql, tables) {
            seen += 1;
            // The innermost function holding the statement.
            let holder = fns.iter().filter(|f| (f.1..f.2).contains(at)).min_by_key(|f| f.2 - f.1);
            match holder {
                Some((_, start, end)) if src.code[*start..*end].contains("keys_changed()") => {}
                Some((name, ..)) => missing.push(format!(
                    "store/{file}: `{name}` runs \"{line}\" on {table} but does not call tx.keys_changed()"
                )),
                None => missing.push(format!("store/{file}: \"{line}\" on {table} is outside any function")),
            }
        }
    }
    (missing, seen)
}

fn store_files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("src/store")
        .map(|e| e.expect("a store file").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("readable"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_statement_that_changes_a_key_marks_the_cache() {
    let files = store_files();
    let keys_rs = &files.iter().find(|f| f.0 == "keys.rs").expect("store/keys.rs").1;
    let tables = key_tables(keys_rs);
    let expected = ["api_keys", "memberships", "organizations", "projects", "users"];
    assert!(expected.iter().all(|t| tables.contains(*t)), "keys::lookup reads {tables:?}");
    let (mut missing, mut seen) = (Vec::new(), 0);
    for (name, text) in files.iter().filter(|f| f.0 != "key_meaning.rs") {
        let (m, n) = unmarked(name, text, &tables);
        missing.extend(m);
        seen += n;
    }
    assert!(missing.is_empty(), "statements that change what a key means, unmarked:\n{}", missing.join("\n"));
    // 20 today (revocations, role and membership changes, claims, the sweep, domains, address
    // verification): far fewer, and the check has stopped seeing them.
    assert!(seen >= 15, "only {seen} statements on a key's tables found");
}

#[test]
fn only_the_store_marks_keys_changed() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    let mut callers = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs")
                && !path.starts_with(src.join("store"))
                && !path.starts_with(src.join("db"))
                && lex(&std::fs::read_to_string(&path).expect("readable")).code.contains(".keys_changed()")
            {
                callers.push(path.display().to_string());
            }
        }
    }
    assert!(callers.is_empty(), "keys_changed() is the store's to call, next to its SQL: {callers:?}");
}

#[test]
fn the_check_sees_what_it_should() {
    let tables: BTreeSet<String> = ["api_keys", "users"].map(String::from).into();
    let forgot = r#"
pub fn bump(tx: &Tx, user: &UserId) -> DbResult<usize> {
    // "UPDATE users SET email = 'x'" in a comment is not a statement.
    tx.execute("UPDATE users SET email_verified = TRUE WHERE id = ?1", &[user])
}

pub fn touch(tx: &Tx, key: KeyN, at: Millis) -> DbResult<()> {
    tx.execute("UPDATE api_keys SET last_used_at = ?2 WHERE n = ?1", &[&key, &at])?;
    Ok(())
}

pub fn lock(tx: &Tx) -> DbResult<()> {
    tx.execute("SELECT 1 FROM users WHERE id = ?1 FOR UPDATE", &[])?;
    tx.execute("INSERT INTO users (id) VALUES (?1)", &[])?;
    Ok(())
}

pub fn gone(tx: &Tx, user: &UserId) -> DbResult<usize> {
    let quote = '"';
    tx.keys_changed();
    tx.execute("DELETE FROM users WHERE id = ?1", &[user])
}

pub fn upsert(tx: &Tx) -> DbResult<()> {
    tx.execute(r"INSERT INTO api_keys (n) VALUES (1) ON CONFLICT (n) DO UPDATE SET hash = excluded.hash", &[])?;
    Ok(())
}
"#;
    let (missing, seen) = unmarked("example.rs", forgot, &tables);
    assert_eq!(seen, 3, "{missing:?}");
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(missing[0].contains("`bump`") && missing[0].contains("users"), "{missing:?}");
    assert!(missing[1].contains("`upsert`") && missing[1].contains("api_keys"), "{missing:?}");
    assert_eq!(
        assigned_columns("UPDATE provisions p SET status = 'x', n = coalesce(a, b) FROM batch"),
        ["status", "n"]
    );
    assert_eq!(assigned_columns("UPDATE t SET a = (SELECT n FROM u WHERE id = 1)\n WHERE b = 2"), ["a"]);
}
