//! What SCIM's Users (`scim`) and Groups (`scim_groups`) both stand on: the grant every SCIM write
//! starts with, the `uniqueness` refusal, and the roles the admin group sets. Kept apart so that
//! neither of the two reaches into the other.

use super::authority::{authorize, principal, principal_now, Act, Grant};
use super::members::{self, MemberChange};
use super::Actor;
use crate::clock::Millis;
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::store;

/// 409 `uniqueness`, naming what is taken.
pub(super) fn taken(what: String) -> Error {
    Error::Conflict("uniqueness", what)
}

/// Allowed to act as the organization's identity provider, inside a write: the grant, with the
/// organization locked (owner counts and names cannot move underneath) and the token's standing
/// read afresh (a token whose owner was demoted a moment ago acts no more).
pub(super) fn granted(tx: &Tx, actor: &Actor) -> Result<Grant> {
    let p = principal(tx, actor)?;
    authorize(&p, Act::Scim)?;
    store::orgs::lock_org(tx, &p.org)?;
    authorize(&principal_now(tx, actor)?, Act::Scim)
}

/// While an admin group is set: every member (owners aside) in it an admin, everyone else a
/// member, each change recorded as the API records a role change.
pub(super) fn sync_roles(tx: &Tx, g: &Grant, now: Millis) -> Result<()> {
    let Some(admins) = store::scim::admin_group(tx, &g.org)? else { return Ok(()) };
    for (user, role) in store::scim::role_drift(tx, &g.org, &admins.to_lowercase())? {
        if let Some(member) = store::memberships::get(tx, &g.org, &user, now)? {
            let change = MemberChange { role: Some(role), is_provisioner: None };
            members::change_in(tx, g.by(), &g.org, member, change, now)?;
        }
    }
    Ok(())
}
