//! What the organization's identity provider sees over SCIM (issue 24): a member as a SCIM User
//! (the membership, and the provider's own record of the person once it linked or made them) and
//! its groups. Records the store fills and the service returns, as in `records`.

use super::{OrgId, Role, UserId, UserN};
use crate::clock::Millis;

/// A member of the organization, as SCIM shows them.
#[derive(Clone, Debug)]
pub struct ScimMember {
    pub user_id: UserId,
    pub user_n: UserN,
    pub org_id: OrgId,
    /// The account's address (None: an account the provider made without one).
    pub email: Option<String>,
    pub email_verified: bool,
    /// The name the person gave on the dashboard.
    pub name: Option<String>,
    pub role: Role,
    /// `active: false`: deactivated by the provider.
    pub suspended: bool,
    pub joined_at: Millis,
    /// The provider's record, once it linked or made the person; None: a member it never touched.
    pub identity: Option<ScimIdentity>,
}

/// What the provider said about a person (see schema.sql, `scim_users`).
#[derive(Clone, Debug)]
pub struct ScimIdentity {
    pub user_name: String,
    pub external_id: Option<String>,
    /// Every other attribute, a JSON object as text.
    pub attributes: String,
    /// When the provider made the account (it then owns the address); None: the account existed.
    pub account_made_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A group the provider pushed, and its members (as user ids, in the order they joined it).
#[derive(Clone, Debug)]
pub struct ScimGroup {
    pub n: i64,
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub members: Vec<UserId>,
}

/// A User as the provider sends it (POST, PUT, or the result of a PATCH), its attributes already
/// checked against the schema by the SCIM edge.
#[derive(Clone, Debug, Default)]
pub struct ScimUserInput {
    pub user_name: String,
    pub external_id: Option<String>,
    /// `Some(false)`: deactivate (suspend); `Some(true)` or unassigned: in good standing.
    pub active: Option<bool>,
    /// Every other attribute (name, emails, the enterprise extension, ...), keyed by the schema's
    /// own spelling of each name.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl ScimUserInput {
    /// The person's address (CONTRACT part three): the primary email, else the first one (Entra
    /// ID marks none primary), else the userName when it is one. Not parsed yet.
    pub fn address(&self) -> Option<&str> {
        fn value(e: &serde_json::Value) -> Option<&str> {
            e.get("value").and_then(|v| v.as_str()).filter(|v| !v.is_empty())
        }
        let emails = self.attributes.get("emails").and_then(|e| e.as_array());
        let primary = emails.and_then(|list| {
            list.iter().find(|e| e.get("primary").and_then(|p| p.as_bool()) == Some(true)).and_then(value)
        });
        primary
            .or_else(|| emails.and_then(|list| list.iter().find_map(value)))
            .or_else(|| self.user_name.contains('@').then_some(self.user_name.as_str()))
    }
}

/// A Group as the provider sends it: its name, its own id for it, and its members' user ids.
#[derive(Clone, Debug, Default)]
pub struct ScimGroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(user_name: &str, attributes: serde_json::Value) -> ScimUserInput {
        let attributes = attributes.as_object().cloned().unwrap_or_default();
        ScimUserInput { user_name: user_name.into(), attributes, ..Default::default() }
    }

    #[test]
    fn the_address_is_the_primary_email_else_the_first_else_the_user_name() {
        let both = json!({"emails": [{"value": "b@x.com"}, {"value": "a@x.com", "primary": true}]});
        assert_eq!(with("u", both).address(), Some("a@x.com"));
        let entra = json!({"emails": [{"type": "work", "value": "w@x.com"}]});
        assert_eq!(with("u", entra).address(), Some("w@x.com"));
        assert_eq!(with("alice@x.com", json!({})).address(), Some("alice@x.com"));
        assert_eq!(with("alice", json!({})).address(), None);
    }
}
