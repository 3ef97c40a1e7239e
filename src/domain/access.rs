//! What a caller may do: a member's role, the roles a provision hands out, and the scopes a key
//! reaches.

use super::shorten;
use serde::{Deserialize, Serialize};

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
