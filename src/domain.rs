//! Domain types that parse, not validate: once a value has one of these types it is known good,
//! and the error of a failed parse is the sentence the client sees.

use serde::{Deserialize, Serialize};

/// A public id (UUID v4, canonical lowercase text). One type per kind of object, so a user id
/// cannot be passed where an organization id is meant.
macro_rules! public_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn new() -> $name {
                $name(uuid::Uuid::new_v4().to_string())
            }

            /// An id as a client wrote it: a UUID in canonical lowercase form, or nothing (the
            /// caller answers "not found", as for an id that does not exist).
            pub fn parse(s: &str) -> Option<$name> {
                let u = uuid::Uuid::parse_str(s).ok()?;
                (u.hyphenated().to_string() == s).then(|| $name(s.to_string()))
            }

            /// An id read back from the database (trusted: only ids we made are stored).
            pub fn from_stored(s: String) -> $name {
                $name(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

public_id!(OrgId);
public_id!(UserId);
public_id!(ProjectId);
public_id!(ProvisionId);
public_id!(AgentId);
public_id!(KeyId);
public_id!(WebhookId);
public_id!(AuditId);

/// An internal row number (see schema.sql, Keys): never shown, only linked by. One type per
/// table, for the same reason as the public ids.
macro_rules! row_number {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);
    };
}

row_number!(UserN);
row_number!(ProjectN);
row_number!(
    /// An API key's row (its public id is a `KeyId`).
    KeyN
);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    pub fn is_admin(self) -> bool {
        self >= Role::Admin
    }
}

/// The roles a provision may hand out: never `owner`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisionRole {
    #[default]
    Member,
    Admin,
}

impl ProvisionRole {
    pub fn role(self) -> Role {
        match self {
            ProvisionRole::Member => Role::Member,
            ProvisionRole::Admin => Role::Admin,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisionStatus {
    Pending,
    Claimed,
    Cancelled,
    Expired,
}

impl ProvisionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisionStatus::Pending => "pending",
            ProvisionStatus::Claimed => "claimed",
            ProvisionStatus::Cancelled => "cancelled",
            ProvisionStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<ProvisionStatus> {
        match s {
            "pending" => Some(ProvisionStatus::Pending),
            "claimed" => Some(ProvisionStatus::Claimed),
            "cancelled" => Some(ProvisionStatus::Cancelled),
            "expired" => Some(ProvisionStatus::Expired),
            _ => None,
        }
    }
}

/// What a per-user credit limit counts over: the UTC calendar day or month, or all time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitPeriod {
    Day,
    Month,
    Total,
}

impl LimitPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitPeriod::Day => "day",
            LimitPeriod::Month => "month",
            LimitPeriod::Total => "total",
        }
    }

    pub fn parse(s: &str) -> Option<LimitPeriod> {
        match s {
            "day" => Some(LimitPeriod::Day),
            "month" => Some(LimitPeriod::Month),
            "total" => Some(LimitPeriod::Total),
            _ => None,
        }
    }

    /// The start of the window `at` falls in (ms): midnight UTC of its day, the first of its
    /// month, or 0 for all time. Two instants share a window exactly when this is equal, which
    /// is what lets one UPDATE both reset a rolled-over window and count into it.
    pub fn window_start(self, at: i64) -> i64 {
        use chrono::{Datelike, TimeZone};
        let Some(t) = chrono::DateTime::from_timestamp_millis(at) else { return 0 };
        let start = match self {
            LimitPeriod::Total => return 0,
            LimitPeriod::Day => chrono::Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0),
            LimitPeriod::Month => chrono::Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0),
        };
        start.single().map(|s| s.timestamp_millis()).unwrap_or(0)
    }
}

/// Characters a name must not contain: control characters, bidirectional-text controls (U+202E
/// makes "Acme\u{202E}moc.live" read as another name on a page) and invisible spaces. The
/// zero-width joiner stays: emoji sequences need it.
fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A name people read (an organization's, a person's): trimmed, 1 to `max` characters, nothing
/// in it that could make it read as something else (see `is_deceptive`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// `what` names the field in the error, e.g. "The organization name".
    pub fn parse(what: &str, s: &str, max: usize) -> Result<DisplayName, String> {
        let t = s.trim();
        match t.chars().count() {
            0 => Err(format!("{what} must not be empty.")),
            n if n > max => Err(format!("{what} must be at most {max} characters (got {n}).")),
            _ if t.chars().any(is_deceptive) => Err(format!(
                "{what} must not contain control characters, line breaks, or invisible or text-direction characters."
            )),
            _ => Ok(DisplayName(t.to_string())),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An agent's display name: 1 to 255 characters after trimming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentName(String);

impl AgentName {
    pub fn parse(s: &str) -> Result<AgentName, String> {
        let t = s.trim();
        match t.chars().count() {
            0 => Err("'name' must not be empty.".into()),
            n if n > 255 => Err(format!("'name' must be at most 255 characters (got {n}).")),
            _ if t.chars().any(is_deceptive) => {
                Err("'name' must not contain control characters, or invisible or text-direction characters."
                    .into())
            }
            _ => Ok(AgentName(t.to_string())),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An agent identifier: `^[a-z0-9][a-z0-9-]{0,49}$`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentIdentifier(String);

impl AgentIdentifier {
    pub fn parse(field: &str, s: &str) -> Result<AgentIdentifier, String> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if first_ok && rest_ok && s.len() <= 50 {
            Ok(AgentIdentifier(s.to_string()))
        } else {
            Err(format!(
                "'{field}' must be 1-50 characters of lowercase letters, digits and '-', starting with a letter or digit."
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A webhook endpoint's address: an absolute http(s) URL with a host and no user name or
/// password. Receivers often put a token of their own in it, so it has two faces: `as_sent`,
/// the whole URL, for the endpoint's row and the delivery; and every other way out — `Display`,
/// `Debug`, `Serialize`, the JSON `Value` it becomes — the redacted form (scheme, host, port and
/// path; no query, fragment or credentials), the only one a record (audit row, event, log line)
/// may hold (contract part three, "No secret in the audit log").
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(text: &str) -> Result<WebhookUrl, String> {
        let bad = |why: &str| format!("'url' {why}, e.g. https://hooks.example.com/provisiond.");
        let text = text.trim();
        if text.len() > Self::MAX_LEN {
            return Err(bad(&format!("must be at most {} characters", Self::MAX_LEN)));
        }
        let url = url::Url::parse(text).map_err(|_| bad("must be an absolute http or https URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must start with http:// or https://"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not hold a user name or password (deliveries are signed instead)"));
        }
        if url.host().is_none() {
            return Err(bad("must name a host"));
        }
        Ok(WebhookUrl(url))
    }

    /// The host, as the client wrote it (normalized): a name or an address.
    pub fn host(&self) -> Option<url::Host<&str>> {
        self.0.host()
    }

    pub fn port_or_known_default(&self) -> Option<u16> {
        self.0.port_or_known_default()
    }

    /// The whole URL, token and all: for the endpoint's own row and the request to it, never
    /// for a record.
    pub fn as_sent(&self) -> &str {
        self.0.as_str()
    }

    /// Where deliveries go, without what may be a secret: no query, fragment, user name or
    /// password.
    pub fn redacted(&self) -> String {
        let mut u = self.0.clone();
        u.set_query(None);
        u.set_fragment(None);
        // Only fail for URLs that cannot have credentials, which then have none.
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.into()
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "WebhookUrl({:?})", self.redacted())
    }
}

impl Serialize for WebhookUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl From<&WebhookUrl> for serde_json::Value {
    fn from(u: &WebhookUrl) -> serde_json::Value {
        serde_json::Value::String(u.redacted())
    }
}

/// A DNS domain name, lowercase: labels of letters, digits and '-', at least two of them, a
/// final label of letters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain(String);

impl Domain {
    pub fn parse(s: &str) -> Result<Domain, String> {
        let d = s.to_ascii_lowercase();
        let labels: Vec<&str> = d.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        let tld_ok = labels.last().is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_lowercase()));
        if d.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok {
            Ok(Domain(d))
        } else {
            Err(format!("'{s}' is not a domain name like example.com."))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, stored lowercase. Deliberately stricter than RFC 5322: no quoted local
/// parts, no comments, no IP literals, no whitespace — what real sign-ups use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    local: String,
    domain: Domain,
}

impl Email {
    pub fn parse(s: &str) -> Result<Email, String> {
        let invalid = |why: &str| Err(format!("'{}' is not a valid email address: {why}.", shorten(s)));
        if s.is_empty() {
            return Err("The email address is empty; give an address like alice@example.com.".into());
        }
        if s.len() > 254 {
            return invalid("it is longer than 254 characters");
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("it contains spaces or control characters");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return invalid("it has no '@'");
        };
        if domain.contains('@') {
            return invalid("it has more than one '@'");
        }
        let local = Self::parse_local(local)
            .map_err(|why| format!("'{}' is not a valid email address: {why}.", shorten(s)))?;
        let domain = Domain::parse(domain).map_err(|_| {
            format!("'{}' is not a valid email address: the part after '@' is not a domain name.", shorten(s))
        })?;
        Ok(Email { local, domain })
    }

    /// A local part (the text before '@'): 1-64 characters of RFC 5322 "atext" and dots, with no
    /// leading, trailing or doubled dot. Lowercased.
    pub fn parse_local(local: &str) -> Result<String, &'static str> {
        if local.is_empty() {
            return Err("the part before '@' is empty");
        }
        if local.len() > 64 {
            return Err("the part before '@' is longer than 64 characters");
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err("the part before '@' has a misplaced dot");
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c);
        if !local.chars().all(atext) {
            return Err("the part before '@' has a character addresses cannot contain");
        }
        Ok(local.to_ascii_lowercase())
    }

    pub fn local(&self) -> &str {
        &self.local
    }
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The same person's address moved onto another domain (the orchestrator mapping).
    pub fn with_domain(&self, domain: &Domain) -> Email {
        Email { local: self.local.clone(), domain: domain.clone() }
    }

    pub fn as_string(&self) -> String {
        format!("{}@{}", self.local, self.domain.as_str())
    }
}

/// Echoing a 10 KB "email" back in an error helps nobody.
fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// What a key may reach (contract, Keys). A key without a list of scopes reaches everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Provisions,
    Members,
    Agents,
    CreditsRead,
    CreditsConsume,
    Keys,
    KeysVerify,
    Audit,
    Webhooks,
}

impl Scope {
    pub const ALL: [Scope; 9] = [
        Scope::Provisions,
        Scope::Members,
        Scope::Agents,
        Scope::CreditsRead,
        Scope::CreditsConsume,
        Scope::Keys,
        Scope::KeysVerify,
        Scope::Audit,
        Scope::Webhooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Provisions => "provisions",
            Scope::Members => "members",
            Scope::Agents => "agents",
            Scope::CreditsRead => "credits:read",
            Scope::CreditsConsume => "credits:consume",
            Scope::Keys => "keys",
            Scope::KeysVerify => "keys:verify",
            Scope::Audit => "audit",
            Scope::Webhooks => "webhooks",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// What happened (contract, Webhooks and events): an event's type, and the audit log's action
/// for the same change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    ProvisionCreated,
    ProvisionClaimed,
    ProvisionCancelled,
    ProvisionExpired,
    UserCreated,
    MemberUpdated,
    MemberRemoved,
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeyRotated,
    CreditsGranted,
    CreditsLow,
    CreditsDepleted,
}

impl EventType {
    pub const ALL: [EventType; 13] = [
        EventType::ProvisionCreated,
        EventType::ProvisionClaimed,
        EventType::ProvisionCancelled,
        EventType::ProvisionExpired,
        EventType::UserCreated,
        EventType::MemberUpdated,
        EventType::MemberRemoved,
        EventType::ApiKeyCreated,
        EventType::ApiKeyRevoked,
        EventType::ApiKeyRotated,
        EventType::CreditsGranted,
        EventType::CreditsLow,
        EventType::CreditsDepleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ProvisionCreated => "provision.created",
            EventType::ProvisionClaimed => "provision.claimed",
            EventType::ProvisionCancelled => "provision.cancelled",
            EventType::ProvisionExpired => "provision.expired",
            EventType::UserCreated => "user.created",
            EventType::MemberUpdated => "member.updated",
            EventType::MemberRemoved => "member.removed",
            EventType::ApiKeyCreated => "api_key.created",
            EventType::ApiKeyRevoked => "api_key.revoked",
            EventType::ApiKeyRotated => "api_key.rotated",
            EventType::CreditsGranted => "credits.granted",
            EventType::CreditsLow => "credits.low",
            EventType::CreditsDepleted => "credits.depleted",
        }
    }

    pub fn parse(s: &str) -> Result<EventType, String> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            format!("'{}' is not an event type; event types are {}.", shorten(s), known.join(", "))
        })
    }
}

/// The events a webhook endpoint receives: every type, or the ones listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Only(Vec<EventType>),
}

impl EventFilter {
    /// A list as a client sent it: `["*"]`, or known types (at least one; repeats ignored).
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<EventFilter, String> {
        let mut only: Vec<EventType> = Vec::new();
        let mut all = false;
        for name in names {
            if name == "*" {
                all = true;
            } else {
                let t = EventType::parse(name)?;
                if !only.contains(&t) {
                    only.push(t);
                }
            }
        }
        match (all, only.is_empty()) {
            (true, true) => Ok(EventFilter::All),
            (true, false) => Err("'events' is either [\"*\"] or a list of event types, not both.".into()),
            (false, true) => {
                Err("'events' must name at least one event type, or be [\"*\"] for every type.".into())
            }
            (false, false) => Ok(EventFilter::Only(only)),
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        match self {
            EventFilter::All => vec!["*"],
            EventFilter::Only(types) => types.iter().map(|t| t.as_str()).collect(),
        }
    }

    /// As stored: `,type,type,` (or `,*,`), so one LIKE finds an event's subscribers.
    pub fn to_stored(&self) -> String {
        format!(",{},", self.names().join(","))
    }

    pub fn from_stored(text: &str) -> EventFilter {
        let names = text.split(',').filter(|n| !n.is_empty());
        EventFilter::parse(names).unwrap_or(EventFilter::Only(Vec::new()))
    }
}

/// A set of scopes. `Scopes::ALL` is what a key issued without a list holds (every provisioned
/// key among them, so the SDK reaches every route it uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scopes(u16);

impl Scopes {
    pub const ALL: Scopes = Scopes((1 << Scope::ALL.len()) - 1);

    /// A list as a client sent it: known names, at least one, no matter the order or repeats.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Scopes, String> {
        let mut set = 0;
        for name in names {
            let scope = Scope::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("'{}' is not a scope; scopes are {}.", shorten(name), known.join(", "))
            })?;
            set |= scope.bit();
        }
        if set == 0 {
            return Err("'scopes' must name at least one scope (leave it out for every scope).".into());
        }
        Ok(Scopes(set))
    }

    /// As stored: NULL for every scope, else the names separated by spaces.
    pub fn from_stored(text: Option<&str>) -> Scopes {
        match text {
            None => Scopes::ALL,
            Some(t) => Scopes(t.split(' ').filter_map(Scope::parse).fold(0, |set, s| set | s.bit())),
        }
    }

    pub fn to_stored(self) -> Option<String> {
        (self != Scopes::ALL).then(|| self.names().join(" "))
    }

    pub fn names(self) -> Vec<&'static str> {
        Scope::ALL.into_iter().filter(|s| self.has(*s)).map(Scope::as_str).collect()
    }

    pub fn has(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn within(self, other: Scopes) -> bool {
        self.0 & !other.0 == 0
    }

    /// The scopes both reach.
    pub fn intersect(self, other: Scopes) -> Scopes {
        Scopes(self.0 & other.0)
    }
}

/// An `Idempotency-Key` header's value: 1–255 printable ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<IdempotencyKey, String> {
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err("The Idempotency-Key header must be 1 to 255 printable ASCII characters.".into());
        }
        Ok(IdempotencyKey(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_filters() {
        assert_eq!(EventFilter::parse(["*"]), Ok(EventFilter::All));
        let some = EventFilter::parse(["credits.low", "api_key.created", "credits.low"]).unwrap();
        assert_eq!(some.names(), ["credits.low", "api_key.created"]);
        assert_eq!(some.to_stored(), ",credits.low,api_key.created,");
        assert_eq!(EventFilter::from_stored(&some.to_stored()), some);
        assert_eq!(EventFilter::from_stored(",*,"), EventFilter::All);
        for bad in [vec![], vec!["*", "credits.low"], vec!["credits"], vec![""]] {
            assert!(EventFilter::parse(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn identifiers() {
        for ok in ["default", "a", "0-x", &"a".repeat(50)] {
            assert!(AgentIdentifier::parse("identifier", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "a_b", "a b", &"a".repeat(51), "é"] {
            assert!(AgentIdentifier::parse("identifier", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_refuse_what_could_spoof_them() {
        assert_eq!(DisplayName::parse("Name", "  Acme Inc. ", 200).unwrap().as_str(), "Acme Inc.");
        assert!(DisplayName::parse("Name", "Zoë 👩\u{200D}💻", 200).is_ok());
        for bad in
            ["", "  ", "a\u{0}b", "a\nb", "a\tb", "Acme\u{202E}moc", "a\u{2066}b", "a\u{200B}b", "\u{FEFF}a"]
        {
            assert!(DisplayName::parse("Name", bad, 200).is_err(), "{bad:?}");
        }
        assert!(DisplayName::parse("Name", &"x".repeat(201), 200).is_err());
        assert!(AgentName::parse("Bot\u{202E}").is_err());
    }

    #[test]
    fn limit_windows_are_utc_calendar_days_and_months() {
        // 2026-11-29T20:15:03.123Z
        let t = 1_795_983_303_123;
        assert_eq!(LimitPeriod::Day.window_start(t), 1_795_910_400_000); // 2026-11-29T00:00Z
        assert_eq!(LimitPeriod::Month.window_start(t), 1_793_491_200_000); // 2026-11-01T00:00Z
        assert_eq!(LimitPeriod::Total.window_start(t), 0);
        assert_eq!(LimitPeriod::Day.window_start(1_795_910_400_000), 1_795_910_400_000);
        assert_eq!(LimitPeriod::Day.window_start(1_795_910_399_999), 1_795_824_000_000);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(AgentName::parse("  Bot ").unwrap().as_str(), "Bot");
        assert!(AgentName::parse("   ").is_err());
        assert!(AgentName::parse(&"é".repeat(255)).is_ok());
        assert!(AgentName::parse(&"é".repeat(256)).is_err());
    }

    #[test]
    fn emails() {
        let e = Email::parse("Alice.B+tag@Alice-Startup.com").unwrap();
        assert_eq!(e.as_string(), "alice.b+tag@alice-startup.com");
        let long_local = format!("{}@example.com", "a".repeat(65));
        let too_long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "al ice@example.com",
            " alice@example.com",
            "alice@@example.com",
            "a@b@example.com",
            "alice@example",
            "alice@-example.com",
            ".alice@example.com",
            "al..ice@example.com",
            "alice@exa_mple.com",
            "alice@example.c0m",
            "al\"ice@example.com",
            &long_local,
            &too_long,
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn domains() {
        assert_eq!(Domain::parse("Orchestrator.COM").unwrap().as_str(), "orchestrator.com");
        for bad in ["", "com", "a..com", "-a.com", "a.c", "a b.com"] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhook_urls_show_only_their_redacted_form() {
        let u = WebhookUrl::parse(" https://Hooks.Example.com:8443/in/x?token=SECRET&a=1#SECRET ").unwrap();
        assert_eq!(u.as_sent(), "https://hooks.example.com:8443/in/x?token=SECRET&a=1#SECRET");
        let shown = [
            u.to_string(),
            format!("{u:?}"),
            serde_json::to_string(&u).unwrap(),
            serde_json::Value::from(&u).to_string(),
            serde_json::json!({ "url": u }).to_string(),
        ];
        for s in &shown {
            assert!(s.contains("https://hooks.example.com:8443/in/x") && !s.contains("SECRET"), "{s}");
        }
        for bad in [
            "ftp://example.com/",
            "https://user:pass@example.com/",
            "https://user@example.com/",
            "not a url",
            "mailto:a@example.com",
            &format!("https://example.com/{}", "a".repeat(2048)),
        ] {
            let e = WebhookUrl::parse(bad).unwrap_err();
            assert!(e.starts_with("'url' ") && !e.contains("user:pass"), "{bad}: {e}");
        }
    }
}

/// An amount of credits, held as integer thousandths so sums never drift. Positive amounts up to
/// `Credits::MAX` parse; JSON shows at most 3 decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Credits(i64);

impl Credits {
    /// 10^12 credits: far beyond any real pool, and small enough that every amount and sum is
    /// exact as a JSON (double-precision) number.
    pub const MAX: Credits = Credits(1_000_000_000_000_000);

    pub fn from_thousandths(n: i64) -> Credits {
        Credits(n)
    }

    pub fn thousandths(self) -> i64 {
        self.0
    }

    /// A positive decimal like `12`, `0.5` or `2.125`: digits, an optional point, at most 3
    /// decimals, no sign or exponent.
    pub fn parse(text: &str) -> Result<Credits, String> {
        let bad = || {
            format!(
                "'{text}' is not an amount: use a number greater than 0 with at most 3 decimals, e.g. 2.5."
            )
        };
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || (text.contains('.') && frac.is_empty()) {
            return Err(bad());
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 3 {
            return Err(format!("'{text}' has more than 3 decimals; amounts are counted in thousandths."));
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 13 {
            return Err(format!("'{text}' is larger than the largest amount ({}).", Credits::MAX));
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let frac: i64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
        let n = whole * 1000 + frac;
        if n == 0 {
            return Err("The amount must be greater than 0.".into());
        }
        if n > Credits::MAX.0 {
            return Err(format!("'{text}' is larger than the largest amount ({}).", Credits::MAX));
        }
        Ok(Credits(n))
    }

    /// From a JSON number, by its shortest decimal text (so 0.1 is exactly 100 thousandths).
    pub fn from_json(n: &serde_json::Number) -> Result<Credits, String> {
        let text = if let Some(i) = n.as_i64() {
            if i <= 0 {
                return Err("The amount must be greater than 0.".into());
            }
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            match n.as_f64() {
                Some(f) if f.is_finite() && f > 0.0 => f.to_string(),
                _ => return Err("The amount must be greater than 0.".into()),
            }
        };
        Credits::parse(&text)
    }

    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).filter(|n| *n <= Credits::MAX.0).map(Credits)
    }
}

impl std::fmt::Display for Credits {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (whole, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

impl Credits {
    /// As the API writes it: a number with at most three decimals.
    pub fn json(self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl Serialize for Credits {
    /// A whole amount as an integer, otherwise the nearest double — exact to 3 decimals for
    /// every amount up to `MAX`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

#[cfg(test)]
mod credit_tests {
    use super::*;

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(Credits::parse("12").unwrap().thousandths(), 12_000);
        assert_eq!(Credits::parse("0.5").unwrap().thousandths(), 500);
        assert_eq!(Credits::parse("2.125").unwrap().thousandths(), 2_125);
        assert_eq!(Credits::parse("0.100").unwrap().thousandths(), 100);
        assert_eq!(Credits::parse("007.0010").unwrap().thousandths(), 7_001);
        assert_eq!(Credits::parse("1000000000000").unwrap(), Credits::MAX);
        for bad in [
            "",
            "-1",
            "0",
            "0.000",
            "1.2345",
            "1e3",
            ".5",
            "5.",
            "1,5",
            " 1",
            "abc",
            "1000000000000.001",
            "99999999999999",
        ] {
            assert!(Credits::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_numbers_by_their_decimal_text() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        assert_eq!(Credits::from_json(&n("0.1")).unwrap().thousandths(), 100);
        assert_eq!(Credits::from_json(&n("0.001")).unwrap().thousandths(), 1);
        assert_eq!(Credits::from_json(&n("3")).unwrap().thousandths(), 3000);
        assert!(Credits::from_json(&n("0.0001")).is_err());
        assert!(Credits::from_json(&n("-2")).is_err());
        assert!(Credits::from_json(&n("0")).is_err());
        assert!(Credits::from_json(&n("1e300")).is_err());
    }

    #[test]
    fn shows_at_most_three_decimals() {
        assert_eq!(Credits(1500).to_string(), "1.5");
        assert_eq!(Credits(1).to_string(), "0.001");
        assert_eq!(Credits(3000).to_string(), "3");
        assert_eq!(serde_json::to_string(&Credits(2_125)).unwrap(), "2.125");
        assert_eq!(serde_json::to_string(&Credits(3000)).unwrap(), "3");
        assert_eq!(serde_json::to_string(&Credits(999_999_999_999_999)).unwrap(), "999999999999.999");
    }
}
