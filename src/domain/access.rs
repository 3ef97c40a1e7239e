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

/// What a key may reach (contract, Keys). A key without a list of scopes reaches every API
/// scope (`Scope::ALL`); `scim` (the identity provider's token, `/scim/v2`) only when named.
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
    /// `/scim/v2`, with an owner's key made for it (CONTRACT part three, SCIM 2.0). Not among
    /// `ALL`: a key stored without scopes, and "every scope" wherever the rules ask for it,
    /// keep meaning the nine API scopes, so no existing key gains SCIM.
    Scim,
}

impl Scope {
    /// The API's scopes: what a key without a list reaches.
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

    /// Every scope a key may name: the API's (`ALL`, in its order, so the two cannot drift
    /// apart) and `scim` last.
    pub const NAMED: [Scope; 10] = {
        let mut named = [Scope::Scim; 10];
        let mut i = 0;
        while i < Scope::ALL.len() {
            named[i] = Scope::ALL[i];
            i += 1;
        }
        named
    };

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
            Scope::Scim => "scim",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::NAMED.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of scopes. `Scopes::ALL` is what a key issued without a list holds (every provisioned
/// key among them, so the SDK reaches every route it uses): the nine API scopes, never `scim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scopes(u16);

impl Scopes {
    pub const ALL: Scopes = Scopes((1 << Scope::ALL.len()) - 1);
    /// A SCIM token's one scope.
    pub const SCIM: Scopes = Scopes(1 << Scope::Scim as u16);

    /// A list as a client sent it: known names, at least one, no matter the order or repeats.
    /// `scim` goes alone: the token an identity provider holds reaches nothing else.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Scopes, String> {
        let mut set = 0;
        for name in names {
            let scope = Scope::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Scope::NAMED.iter().map(|s| s.as_str()).collect();
                format!("'{}' is not a scope; scopes are {}.", shorten(name), known.join(", "))
            })?;
            set |= scope.bit();
        }
        if set == 0 {
            return Err("'scopes' must name at least one scope (leave it out for every scope).".into());
        }
        let scopes = Scopes(set);
        if scopes.has(Scope::Scim) && scopes != Scopes::SCIM {
            return Err(
                "'scim' goes alone: a SCIM token is for /scim/v2; make another key for the rest.".into()
            );
        }
        Ok(scopes)
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
        Scope::NAMED.into_iter().filter(|s| self.has(*s)).map(Scope::as_str).collect()
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

    /// The scopes either reaches.
    pub fn union(self, other: Scopes) -> Scopes {
        Scopes(self.0 | other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_is_named_never_implied() {
        assert!(!Scopes::ALL.has(Scope::Scim), "every scope is the API's nine");
        assert!(!Scopes::from_stored(None).has(Scope::Scim), "a key stored without scopes");
        let scim = Scopes::parse(["scim"]).unwrap();
        assert_eq!(scim, Scopes::SCIM);
        assert_eq!(scim.names(), ["scim"]);
        assert_eq!(Scopes::from_stored(scim.to_stored().as_deref()), scim);
        assert!(Scopes::parse(["scim", "keys"]).is_err(), "scim goes alone");
        assert!(!scim.within(Scopes::ALL));
        assert_eq!(Scopes::ALL.to_stored(), None);
    }
}
