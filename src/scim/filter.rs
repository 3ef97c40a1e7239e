//! SCIM filters (RFC 7644 §3.4.2.2) and the attribute paths they and PATCH name: parsed into a
//! tree checked against the schema (an unknown attribute is `invalidFilter` / `invalidPath`, never
//! a server error), then matched against resources as they are served. Operators and attribute
//! names are case-insensitive; values compare case-insensitively unless the attribute is
//! caseExact. `not`, `and` (binding tighter) and `or`, parentheses, and `attr[filter]`.

use super::schema::{self, find, Attr, Resource, Type, ENTERPRISE};
use serde_json::{Map, Value};

/// Longest filter read, and deepest nesting: anything more is refused, not recursed into.
const MAX_LEN: usize = 8 * 1024;
const MAX_DEPTH: usize = 32;

/// Where an attribute lives and which one it is: a resource's (core, or its extension's) or,
/// inside `attr[…]`, one of that attribute's sub-attributes.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// In the extension's object (`urn:…:enterprise:2.0:User`).
    pub ext: bool,
    pub attr: &'static Attr,
    pub sub: Option<&'static Attr>,
}

impl Target {
    /// Whether values compare exactly (the attribute's, or its sub-attribute's, caseExact).
    fn case_exact(&self) -> bool {
        self.sub.map_or(self.attr.case_exact, |s| s.case_exact)
    }
}

/// Where names are looked up: a resource, or the sub-attributes of one multi-valued attribute.
#[derive(Clone, Copy)]
pub enum Scope {
    Top(Resource),
    Within(&'static Attr),
}

/// `name`, `name.sub`, `urn:…:name` and `urn:…:name.sub`, against `scope`.
pub fn resolve(scope: Scope, path: &str) -> Result<Target, String> {
    let unknown = || format!("'{}' is not an attribute of this resource.", shorten(path));
    match scope {
        Scope::Within(parent) => {
            let a = find(parent.sub, path).ok_or_else(unknown)?;
            Ok(Target { ext: false, attr: a, sub: None })
        }
        Scope::Top(resource) => {
            let (ext, rest) = match resource.extension() {
                Some((uri, _)) if schema::strip_urn(path, uri).is_some() => {
                    (true, schema::strip_urn(path, uri))
                }
                _ => (false, schema::strip_urn(path, resource.core()).or(Some(path))),
            };
            let rest = rest.unwrap_or(path);
            let (name, sub) = match rest.split_once('.') {
                Some((n, s)) => (n, Some(s)),
                None => (rest, None),
            };
            let attr = if ext {
                resource.extension().and_then(|(_, attrs)| find(attrs, name))
            } else {
                schema::find_top(resource, name)
            }
            .ok_or_else(unknown)?;
            let sub = match sub {
                None => None,
                Some(s) => Some(find(attr.sub, s).ok_or_else(unknown)?),
            };
            Ok(Target { ext, attr, sub })
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(Target),
    Compare(Target, Op, Value),
    /// `attr[filter]`: some value of a multi-valued attribute matches.
    Has(Target, Box<Filter>),
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Str(String),
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '[' => out.push(Token::OpenBracket),
            ']' => out.push(Token::CloseBracket),
            '"' => {
                // A JSON string: find its end, then let serde_json read the escapes.
                let mut end = None;
                let mut escaped = false;
                for (j, d) in chars.by_ref() {
                    match d {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => {
                            end = Some(j);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or("A string in the filter has no closing quote.")?;
                let s: String = serde_json::from_str(&text[i..=end])
                    .map_err(|_| format!("{} is not a valid string.", shorten(&text[i..=end])))?;
                out.push(Token::Str(s));
            }
            _ => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_whitespace() || "()[]\"".contains(d) {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                out.push(Token::Word(text[i..end].to_string()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<String> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<&Token> {
        let t = self.tokens.get(self.at);
        self.at += 1;
        t
    }

    fn expect(&mut self, want: Token, what: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if *t == want => Ok(()),
            _ => Err(format!("Expected {what}.")),
        }
    }

    fn or(&mut self, scope: Scope) -> Result<Filter, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("The filter nests too deeply.".into());
        }
        let mut left = self.and(scope)?;
        while self.peek_word().as_deref() == Some("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and(scope)?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self, scope: Scope) -> Result<Filter, String> {
        let mut left = self.unary(scope)?;
        while self.peek_word().as_deref() == Some("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary(scope)?));
        }
        Ok(left)
    }

    fn unary(&mut self, scope: Scope) -> Result<Filter, String> {
        if self.peek_word().as_deref() == Some("not") {
            self.at += 1;
            self.expect(Token::Open, "'(' after 'not'")?;
            let inner = self.or(scope)?;
            self.expect(Token::Close, "')'")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or(scope)?;
                self.expect(Token::Close, "')'")?;
                Ok(inner)
            }
            Some(Token::Word(path)) => {
                let path = path.clone();
                self.comparison(scope, &path)
            }
            _ => Err("Expected an attribute, 'not' or '('.".into()),
        }
    }

    fn comparison(&mut self, scope: Scope, path: &str) -> Result<Filter, String> {
        let target = resolve(scope, path)?;
        if self.tokens.get(self.at) == Some(&Token::OpenBracket) {
            self.at += 1;
            if !target.attr.multi || target.sub.is_some() {
                return Err(format!("'{}' has no values to select with [ ].", shorten(path)));
            }
            let inner = self.or(Scope::Within(target.attr))?;
            self.expect(Token::CloseBracket, "']'")?;
            return Ok(Filter::Has(target, Box::new(inner)));
        }
        let op =
            self.peek_word().ok_or_else(|| format!("Expected an operator after '{}'.", shorten(path)))?;
        self.at += 1;
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(target)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => {
                return Err(format!(
                    "'{}' is not an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr).",
                    shorten(other)
                ))
            }
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s.clone()),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(w).map(Value::Number).map_err(|_| {
                    format!("{} is not a value (a \"string\", a number, true, false or null).", shorten(w))
                })?,
            },
            _ => return Err("Expected a value to compare with.".into()),
        };
        let leaf = target.sub.unwrap_or(target.attr);
        let complex_whole = leaf.ty == Type::Complex && !leaf.multi;
        if complex_whole {
            return Err(format!("'{}' is complex: compare one of its sub-attributes.", shorten(path)));
        }
        Ok(Filter::Compare(target, op, value))
    }
}

/// A filter for `resource`, or why it is not one (the SCIM error `invalidFilter`).
pub fn parse(resource: Resource, text: &str) -> Result<Filter, String> {
    parse_in(Scope::Top(resource), text)
}

/// A filter over `scope`'s attributes (a PATCH path's `[…]` is one over a multi-valued
/// attribute's sub-attributes).
pub fn parse_in(scope: Scope, text: &str) -> Result<Filter, String> {
    if text.len() > MAX_LEN {
        return Err(format!("The filter is longer than {MAX_LEN} bytes."));
    }
    let mut p = Parser { tokens: tokens(text)?, at: 0, depth: 0 };
    if p.tokens.is_empty() {
        return Err("The filter is empty.".into());
    }
    let f = p.or(scope)?;
    if p.at != p.tokens.len() {
        return Err(
            "The filter goes on after a complete expression; join expressions with 'and' or 'or'.".into()
        );
    }
    Ok(f)
}

/// The values `t` names in `obj` (a resource as served, or one value of a multi-valued
/// attribute): each value of a multi-valued attribute, its `value` sub-attribute when the
/// attribute is complex and none is named.
fn values<'a>(t: &Target, obj: &'a Map<String, Value>) -> Vec<&'a Value> {
    let holder = if t.ext { obj.get(ENTERPRISE).and_then(Value::as_object) } else { Some(obj) };
    let Some(v) = holder.and_then(|h| h.get(t.attr.name)) else { return Vec::new() };
    let pick = |x: &'a Value| -> Option<&'a Value> {
        match (t.sub, x) {
            (Some(s), Value::Object(o)) => o.get(s.name),
            (None, Value::Object(o)) => o.get("value"),
            (None, other) => Some(other),
            _ => None,
        }
    };
    match v {
        Value::Array(items) => items.iter().filter_map(pick).collect(),
        one => pick(one).into_iter().collect(),
    }
}

fn compare(got: &Value, op: Op, want: &Value, case_exact: bool) -> bool {
    match (got, want) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) =
                if case_exact { (a.clone(), b.clone()) } else { (a.to_lowercase(), b.to_lowercase()) };
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Co => a.contains(&b),
                Op::Sw => a.starts_with(&b),
                Op::Ew => a.ends_with(&b),
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Lt => a < b,
                Op::Le => a <= b,
            }
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            _ => false,
        },
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Lt => a < b,
                Op::Le => a <= b,
                _ => false,
            }
        }
        _ => op == Op::Ne,
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(present),
        Value::Object(o) => o.values().any(present),
        _ => true,
    }
}

impl Filter {
    /// Whether `obj` (a resource as served, or one value inside `attr[…]`) matches.
    pub fn matches(&self, obj: &Map<String, Value>) -> bool {
        match self {
            Filter::And(a, b) => a.matches(obj) && b.matches(obj),
            Filter::Or(a, b) => a.matches(obj) || b.matches(obj),
            Filter::Not(f) => !f.matches(obj),
            Filter::Present(t) => values(t, obj).into_iter().any(present),
            Filter::Compare(t, op, Value::Null) => {
                let has = values(t, obj).into_iter().any(present);
                if *op == Op::Ne {
                    has
                } else {
                    *op == Op::Eq && !has
                }
            }
            Filter::Compare(t, Op::Ne, want) => {
                !values(t, obj).into_iter().any(|v| compare(v, Op::Eq, want, t.case_exact()))
            }
            Filter::Compare(t, op, want) => {
                values(t, obj).into_iter().any(|v| compare(v, *op, want, t.case_exact()))
            }
            Filter::Has(t, inner) => {
                let holder = if t.ext { obj.get(ENTERPRISE).and_then(Value::as_object) } else { Some(obj) };
                holder
                    .and_then(|h| h.get(t.attr.name))
                    .and_then(Value::as_array)
                    .is_some_and(|items| items.iter().filter_map(Value::as_object).any(|o| inner.matches(o)))
            }
        }
    }

    /// `userName eq "…"`, the one filter an identity provider sends before every push: answered
    /// from the index instead of a scan.
    pub fn user_name_eq(&self) -> Option<&str> {
        match self {
            Filter::Compare(t, Op::Eq, Value::String(s))
                if !t.ext && t.attr.name == "userName" && t.sub.is_none() =>
            {
                Some(s)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Map<String, Value> {
        json!({
            "id": "u1",
            "userName": "Alice@Example.com",
            "externalId": "00u1",
            "displayName": "Alice Liddell",
            "active": true,
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true}, {"value": "a@home.org", "type": "home"}],
            ENTERPRISE: {"department": "R&D"},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn ok(text: &str) -> bool {
        parse(Resource::User, text).unwrap_or_else(|e| panic!("{text}: {e}")).matches(&user())
    }

    #[test]
    fn operators_case_logic_and_paths() {
        assert!(ok(r#"userName eq "alice@example.com""#), "userName is not caseExact");
        assert!(ok(r#"USERNAME Eq "ALICE@EXAMPLE.COM""#), "names and operators in any case");
        assert!(!ok(r#"externalId eq "00U1""#), "externalId is caseExact");
        assert!(ok(r#"displayName co "lid" and displayName sw "ali""#));
        assert!(ok(r#"userName ew ".com" and active eq true"#));
        assert!(ok(r#"displayName ne "Bob""#));
        assert!(ok(r#"emails.value eq "a@home.org""#), "any value of a multi-valued attribute");
        assert!(ok(r#"emails[type eq "work" and value co "example"]"#));
        assert!(!ok(r#"emails[type eq "home" and value co "example"]"#));
        assert!(ok(r#"not (active eq false) and (userName pr or title pr)"#));
        assert!(!ok(r#"title pr"#));
        assert!(ok(r#"active eq true or userName eq "x" and displayName eq "y""#), "and binds tighter");
        assert!(ok(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#));
        assert!(ok(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "alice""#));
        assert!(ok(r#"userName eq "with \"quotes\" \u0041" or id eq "u1""#));
        assert_eq!(parse(Resource::User, r#"userName eq "x""#).unwrap().user_name_eq(), Some("x"));
    }

    #[test]
    fn bad_filters_say_why_and_never_panic() {
        for bad in [
            "",
            "userName",
            r#"userName eq"#,
            r#"userName xx "a""#,
            r#"nosuch eq "a""#,
            r#"name eq "a""#,
            r#"emails.nosuch eq "a""#,
            r#"userName eq "a" userName eq "b""#,
            r#"(userName eq "a""#,
            r#"not userName eq "a""#,
            r#"userName eq "unterminated"#,
            r#"emails[type eq "work""#,
            r#"userName[value eq "a"]"#,
            r#"userName eq bareword"#,
            "]]]",
        ] {
            assert!(parse(Resource::User, bad).is_err(), "{bad:?} refused");
        }
        let deep = format!("{}userName pr{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(Resource::User, &deep).is_err(), "deep nesting refused, not recursed into");
        assert!(parse(Resource::User, &"x".repeat(MAX_LEN + 1)).is_err());
    }
}
