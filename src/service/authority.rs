//! Authority as one rule (CONTRACT part three, "Authority"): who the caller is (`Principal`: a
//! key or a signed-in person, with the role it acts as, the scopes it reaches and when it ends)
//! and `authorize`, the one function every use case asks before it reads the organization's
//! administration or changes anything. It answers allowed or refused, and for anything the
//! action makes (a key, a rotation, a provision's key) the ceiling it must stay under: at most
//! the caller's role and scopes, ending no later than the caller's own key. A caller acts only on
//! what is at most as strong as itself: an admin never rotates, revokes or changes an owner's
//! key or membership.
//!
//! Why one function: when each route checked authority itself, every new route (rotation,
//! idempotent replays, ...) was a new place to forget a case; here a new action is a new arm of
//! one `match`, and the records of a change (`author::By`) can only come from a `Grant`.

use super::auth::Caller;
use super::author::By;
use super::{Actor, Who};
use crate::clock::Millis;
use crate::db::Conn;
use crate::domain::{KeyId, OrgId, Role, Scope, Scopes, UserId};
use crate::error::{Error, Result};
use crate::store;

/// What a credential is worth: the role it acts as, the routes it reaches, and when it stops
/// working by itself (None: it does not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strength {
    pub role: Role,
    pub scopes: Scopes,
    pub ends_at: Option<Millis>,
}

impl Strength {
    /// No limit but the holder's own role: what an operator or the server hands out.
    pub const FULL: Strength = Strength { role: Role::Owner, scopes: Scopes::ALL, ends_at: None };

    /// Whether `self` is at most as strong as `other` in every respect.
    pub fn within(self, other: Strength) -> bool {
        self.role <= other.role && self.scopes.within(other.scopes) && ends_by(self.ends_at, other.ends_at)
    }

    /// `self`, lowered wherever `other` is weaker.
    pub fn capped_by(self, other: Strength) -> Strength {
        Strength {
            role: self.role.min(other.role),
            scopes: self.scopes.intersect(other.scopes),
            ends_at: match (self.ends_at, other.ends_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

/// Whether something ending at `a` ends no later than something ending at `b` (None: never).
fn ends_by(a: Option<Millis>, b: Option<Millis>) -> bool {
    match (a, b) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => a <= b,
    }
}

/// How the caller proved who they are. Idempotency records answer only the credential (and
/// organization) that made them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    Key(KeyId),
    /// A signed-in person, acting in one organization.
    Session(UserId),
}

/// The caller as the rules see them, in one organization.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: UserId,
    pub org: OrgId,
    /// The role it acts as (a key: the lesser of the member's role and the key's ceiling), the
    /// scopes it reaches (a person: all) and when it ends (a person's session makes keys that
    /// outlive it, as a person's own; a key: its expiry or the end of a rotation's grace period; a placeholder's keys end with its provision by other means).
    pub strength: Strength,
    pub is_provisioner: bool,
    /// An unclaimed account's key: it uses its own project and manages nothing.
    pub placeholder: bool,
    pub credential: Credential,
    by: By,
}

impl Principal {
    /// A key's holder, as the key (verified moments ago, from the exact cache) says.
    pub fn of_key(caller: &Caller) -> Principal {
        Principal {
            user: caller.user_id.clone(),
            org: caller.org_id.clone(),
            strength: Strength { role: caller.role, scopes: caller.scopes, ends_at: caller.ends_by_itself() },
            is_provisioner: caller.is_provisioner,
            placeholder: caller.placeholder,
            credential: Credential::Key(caller.key_id.clone()),
            by: By::key(caller),
        }
    }

    pub fn role(&self) -> Role {
        self.strength.role
    }

    /// Whether the caller administers other people's things (claimed, admin or owner): what
    /// listings show them without a filter.
    pub fn manages_others(&self) -> bool {
        self.admin().is_ok()
    }

    /// The key an idempotency record is filed under: this credential in this organization.
    pub fn idempotency_owner(&self) -> String {
        match &self.credential {
            Credential::Key(id) => format!("key:{id}"),
            Credential::Session(user) => format!("session:{user}:{}", self.org),
        }
    }

    fn scope(&self, scope: Scope) -> Result<()> {
        if self.strength.scopes.has(scope) {
            Ok(())
        } else {
            Err(Error::MissingScope(scope))
        }
    }

    /// What the caller may hand out or act on: its scopes, and for an owner holding every API
    /// scope (a full key, a signed-in owner) also `scim`. A SCIM token is the owner's to make:
    /// it does through `/scim/v2` what the owner's full credential may do through the API
    /// (add, suspend and remove members), never more (it makes no owner and no key).
    fn reach(&self) -> Scopes {
        if self.role() == Role::Owner && !self.placeholder && Scopes::ALL.within(self.strength.scopes) {
            self.strength.scopes.union(Scopes::SCIM)
        } else {
            self.strength.scopes
        }
    }

    /// Administration no scope names (granting credits, setting limits): every API scope (a
    /// SCIM token holds none of them).
    fn every_scope(&self) -> Result<()> {
        match Scope::ALL.into_iter().find(|s| !self.strength.scopes.has(*s)) {
            None => Ok(()),
            Some(missing) => Err(Error::MissingScope(missing)),
        }
    }

    fn claimed(&self) -> Result<()> {
        if self.placeholder {
            Err(Error::InsufficientRole(
                "This key belongs to an account nobody has claimed yet: it can use its own project (agents, credits), not manage the organization. Claim the account first.".into(),
            ))
        } else {
            Ok(())
        }
    }

    fn admin(&self) -> Result<()> {
        self.claimed()?;
        if self.role().is_admin() {
            Ok(())
        } else {
            Err(Error::InsufficientRole(format!(
                "This needs an admin or owner; {} acts as {}.",
                self.who(),
                self.role().as_str()
            )))
        }
    }

    /// Owner-only actions; `what` completes "Only an owner may …".
    fn owner(&self, what: &str) -> Result<()> {
        self.claimed()?;
        if self.role() == Role::Owner {
            Ok(())
        } else {
            Err(Error::InsufficientRole(format!(
                "Only an owner may {what}; {} acts as {}.",
                self.who(),
                self.role().as_str()
            )))
        }
    }

    fn provisioner(&self) -> Result<()> {
        if self.is_provisioner && !self.placeholder {
            Ok(())
        } else {
            Err(Error::NotAProvisioner)
        }
    }

    /// How messages name the caller.
    fn who(&self) -> &'static str {
        match self.credential {
            Credential::Key(_) => "this key",
            Credential::Session(_) => "your account here",
        }
    }
}

/// The caller's standing in the organization: from the key as verified, or from the person's
/// membership now.
pub fn principal(conn: &Conn, actor: &Actor) -> Result<Principal> {
    match &actor.who {
        Who::Key(c) => Ok(Principal { by: By::key(c).from(actor.origin()), ..Principal::of_key(c) }),
        Who::Person { user, org } => {
            let m = store::memberships::membership(conn, user, org)?
                .filter(|m| !m.suspended)
                .ok_or_else(|| Error::NotFound("You are not a member of that organization.".into()))?;
            Ok(Principal {
                user: user.clone(),
                org: org.clone(),
                strength: Strength { role: m.role, scopes: Scopes::ALL, ends_at: None },
                is_provisioner: m.is_provisioner,
                placeholder: false,
                credential: Credential::Session(user.clone()),
                by: By::person(user).from(actor.origin()),
            })
        }
    }
}

/// `principal`, read now: what a page asks the rule about before it offers a control.
pub async fn principal_of(ctx: &super::Ctx, actor: Actor) -> Result<Principal> {
    ctx.db.read(move |c| principal(c, &actor)).await
}

/// `principal`, with a key's role and provisioner access read from the database inside this
/// write: a key's cached standing may be a moment old while another request changes it, and
/// the owner rules (the last owner, who may change whom) must not act on that.
pub fn principal_now(conn: &Conn, actor: &Actor) -> Result<Principal> {
    let mut p = principal(conn, actor)?;
    if let Some(caller) = actor.caller() {
        let m = store::memberships::membership(conn, &p.user, &p.org)?.filter(|m| !m.suspended).ok_or(
            Error::InvalidApiKey("The API key is not valid; check it, or ask an admin for a new one."),
        )?;
        p.strength.role = m.role.min(caller.ceiling);
        p.is_provisioner = m.is_provisioner;
    }
    Ok(p)
}

/// A key someone would act on: whose it is, that person's role in the organization (None: no
/// longer a member), and what the key is worth as stored (its ceiling, scopes and expiry).
#[derive(Clone, Copy, Debug)]
pub struct KeyTarget<'a> {
    pub holder: &'a UserId,
    pub holder_role: Option<Role>,
    pub key: Strength,
}

impl KeyTarget<'_> {
    /// The role the key acts as: the lesser of its ceiling and its holder's role.
    fn acts_as(&self) -> Role {
        self.holder_role.unwrap_or(Role::Member).min(self.key.role)
    }
}

/// What is done to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAction {
    /// Seeing the organization's keys (listing, never the keys themselves).
    List,
    Revoke,
    /// A new key in its place: a credential as strong as the old one.
    Rotate,
}

/// Everything a caller may ask to do that the rule decides.
#[derive(Clone, Copy, Debug)]
pub enum Act<'a> {
    /// The agents of the key's own project.
    UseAgents,
    /// The pool's balance.
    ReadBalance,
    /// Consuming from the pool as oneself.
    Consume,
    /// Verifying keys of the organization for the platform's services (and consuming as them).
    Verify,
    /// The organization's usage and ledger.
    ReadUsage,
    /// Keys: one's own, or with `of` another person's (admins and owners).
    ListKeys {
        of: Option<&'a UserId>,
    },
    /// A new key for oneself, asking for at most `wanted`.
    IssueKey {
        wanted: Strength,
    },
    /// The calling key replaced by a new one (same strength).
    Regenerate,
    /// Revoking or rotating a key of the organization.
    OnKey {
        target: KeyTarget<'a>,
        action: KeyAction,
    },
    /// The team page: every member sees who is in the organization.
    ViewTeam,
    ListMembers,
    /// A member's role and provisioner access.
    ChangeMember {
        target: &'a UserId,
        target_role: Role,
        role: Option<Role>,
        provisioner: Option<bool>,
    },
    /// Removing a member (or leaving, when the target is oneself).
    RemoveMember {
        target: &'a UserId,
        target_role: Role,
    },
    SetProvisioner,
    /// A provision that will hand out `role`.
    Provision {
        role: Role,
    },
    ReadProvisions,
    /// Cancelling a provision, a new claim link.
    ManageProvisions,
    /// The orchestrator's `create-user`.
    CreateApiUser,
    GrantCredits,
    /// A credit limit on a member whose role is `target_role`.
    SetCreditLimit {
        target_role: Role,
    },
    ReadAudit,
    ReadEvents,
    ManageWebhooks,
    /// The identity provider provisions the organization's people and groups (`/scim/v2`):
    /// a key with the `scim` scope that acts as an owner. Its changes are recorded as `scim`.
    Scim,
    /// Reading or setting which SCIM group makes admins (`/v1/scim/settings`, the SCIM page).
    ScimSettings,
}

/// Allowed: who acts (for the records) and the most anything the action makes may be.
#[derive(Clone, Debug)]
pub struct Grant {
    pub user: UserId,
    pub org: OrgId,
    /// The most a credential the action makes may be worth.
    pub ceiling: Strength,
    /// Whose idempotency records this request reads and writes.
    pub idempotency_owner: String,
    by: By,
}

impl Grant {
    /// The author of the change's audit row and event.
    pub fn by(&self) -> &By {
        &self.by
    }
}

fn stronger_target() -> Error {
    Error::InsufficientRole(
        "That key is stronger than the credential you are using (a higher role, more scopes or a later end): act on it with one at least as strong.".into(),
    )
}

fn key_not_found() -> Error {
    Error::NotFound("No API key with that id in this organization.".into())
}

/// The rule. Every use case that administers or changes the organization calls it once, with
/// the action and its target, before it touches anything.
pub fn authorize(p: &Principal, act: Act<'_>) -> Result<Grant> {
    let (mut ceiling, mut by) = (p.strength, p.by.clone());
    match act {
        Act::UseAgents => p.scope(Scope::Agents)?,
        Act::ReadBalance => p.scope(Scope::CreditsRead)?,
        Act::Consume => p.scope(Scope::CreditsConsume)?,
        Act::Verify => {
            // Verification answers who holds any key of the organization: not an unclaimed
            // account's business.
            p.scope(Scope::KeysVerify)?;
            p.claimed()?;
        }
        Act::ReadUsage => {
            p.scope(Scope::CreditsRead)?;
            if p.placeholder || !(p.role().is_admin() || p.is_provisioner) {
                return Err(Error::InsufficientRole(
                    "Usage is visible to owners, admins and provisioners only.".into(),
                ));
            }
        }
        Act::ListKeys { of } => {
            p.scope(Scope::Keys)?;
            if of.is_some_and(|u| *u != p.user) && p.admin().is_err() {
                return Err(Error::InsufficientRole(
                    "Only admins and owners may list other members' keys.".into(),
                ));
            }
        }
        Act::IssueKey { wanted } => {
            p.scope(Scope::Keys)?;
            if wanted.role > p.role() {
                return Err(Error::InsufficientRole(format!(
                    "A key can act as at most your own role ({}).",
                    p.role().as_str()
                )));
            }
            if wanted.scopes.has(Scope::Scim) {
                p.owner("make a SCIM token")?;
            }
            let reach = p.reach();
            if !wanted.scopes.within(reach) {
                let extra = Scope::NAMED.into_iter().find(|s| wanted.scopes.has(*s) && !reach.has(*s));
                return Err(Error::MissingScope(extra.unwrap_or(Scope::Keys)));
            }
            // A key never outlives the one that made it (its grace period included).
            ceiling = wanted.capped_by(Strength { scopes: reach, ..p.strength });
        }
        Act::Regenerate => p.scope(Scope::Keys)?,
        Act::OnKey { target, action } => {
            p.scope(Scope::Keys)?;
            if *target.holder != p.user {
                // Someone else's key: admins and owners only; to anyone else it does not exist.
                p.admin().map_err(|_| key_not_found())?;
            }
            if action != KeyAction::List {
                // Never a key of someone stronger (an admin and an owner's key), nor one worth
                // more than the credential in hand (a `keys`-scoped key and its holder's full
                // key): rotating it would hand that strength over.
                let holder_stronger = target.holder_role.is_some_and(|r| r > p.role());
                let key_stronger = target.acts_as() > p.role() || !target.key.scopes.within(p.reach());
                if holder_stronger || key_stronger {
                    return Err(stronger_target());
                }
            }
            if action == KeyAction::Rotate {
                // The new key is the old one's worth, and ends no later than the caller's.
                ceiling = target.key.capped_by(Strength { scopes: p.reach(), ..p.strength });
            }
        }
        Act::ViewTeam => p.scope(Scope::Members)?,
        Act::ListMembers => {
            p.scope(Scope::Members)?;
            p.admin()?;
        }
        Act::ChangeMember { target, target_role, role, provisioner } => {
            p.scope(Scope::Members)?;
            p.admin()?;
            if p.role() != Role::Owner {
                if *target == p.user || target_role != Role::Member {
                    return Err(Error::InsufficientRole(format!(
                        "Admins may change members only; this person is {}. Ask an owner.",
                        target_role.as_str()
                    )));
                }
                if role.is_some_and(|r| r > p.role()) {
                    return Err(Error::InsufficientRole("Only an owner may make someone an owner.".into()));
                }
                if provisioner.is_some() {
                    return Err(Error::InsufficientRole(
                        "Only an owner may change provisioner access.".into(),
                    ));
                }
            }
            ceiling.role = role.unwrap_or(target_role).min(p.role());
        }
        Act::RemoveMember { target, target_role } => {
            p.scope(Scope::Members)?;
            // Anyone may leave; removing someone else takes an admin, and an owner for anyone
            // but a member.
            if *target != p.user {
                p.admin()?;
                if p.role() != Role::Owner && target_role != Role::Member {
                    return Err(Error::InsufficientRole(format!(
                        "Admins may remove members only; this person is {}. Ask an owner.",
                        target_role.as_str()
                    )));
                }
            }
        }
        Act::SetProvisioner => {
            p.scope(Scope::Members)?;
            p.owner("change provisioner access")?;
        }
        Act::Provision { role } => {
            p.scope(Scope::Provisions)?;
            p.admin()?;
            if role > p.role() {
                return Err(Error::InsufficientRole(format!(
                    "A provision can hand out at most your own role ({}).",
                    p.role().as_str()
                )));
            }
            ceiling.role = role;
        }
        Act::ReadProvisions | Act::ManageProvisions => {
            p.scope(Scope::Provisions)?;
            p.admin()?;
        }
        Act::CreateApiUser => {
            p.scope(Scope::Provisions)?;
            p.provisioner()?;
        }
        Act::GrantCredits => {
            p.every_scope()?;
            p.owner("grant credits")?;
        }
        Act::SetCreditLimit { target_role } => {
            p.every_scope()?;
            p.admin()?;
            if target_role > p.role() {
                return Err(Error::InsufficientRole(format!(
                    "Only an owner may set an owner's credit limit; {} acts as {}.",
                    p.who(),
                    p.role().as_str()
                )));
            }
        }
        Act::ReadAudit => {
            p.scope(Scope::Audit)?;
            p.admin()?;
        }
        Act::ReadEvents | Act::ManageWebhooks => {
            p.scope(Scope::Webhooks)?;
            p.admin()?;
        }
        Act::Scim => {
            p.scope(Scope::Scim)?;
            p.owner("provision through SCIM (make the token with an owner's key)")?;
            // Nothing SCIM does makes a credential: no key, no owner.
            ceiling = Strength { role: Role::Admin, scopes: Scopes::SCIM, ends_at: p.strength.ends_at };
            by = by.into_scim();
        }
        Act::ScimSettings => {
            p.scope(Scope::Members)?;
            p.owner("change how SCIM maps groups to roles")?;
        }
    }
    Ok(Grant {
        user: p.user.clone(),
        org: p.org.clone(),
        ceiling,
        idempotency_owner: p.idempotency_owner(),
        by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_principal(role: Role, scopes: Scopes, ends_at: Option<Millis>) -> Principal {
        let user = UserId::new();
        Principal {
            user: user.clone(),
            org: OrgId::new(),
            strength: Strength { role, scopes, ends_at },
            is_provisioner: false,
            placeholder: false,
            credential: Credential::Key(KeyId::new()),
            by: By::person(&user),
        }
    }

    #[test]
    fn a_rotation_never_yields_more_than_the_caller_and_never_touches_a_stronger_key() {
        let admin = key_principal(Role::Admin, Scopes::ALL, None);
        let owner = UserId::new();
        let full = Strength { role: Role::Owner, scopes: Scopes::ALL, ends_at: None };
        let target = KeyTarget { holder: &owner, holder_role: Some(Role::Owner), key: full };
        let refused = authorize(&admin, Act::OnKey { target, action: KeyAction::Rotate });
        assert!(matches!(refused, Err(Error::InsufficientRole(_))));
        // An owner's key whose ceiling is member is still an owner's key.
        let weak = Strength { role: Role::Member, ..full };
        let target = KeyTarget { holder: &owner, holder_role: Some(Role::Owner), key: weak };
        assert!(authorize(&admin, Act::OnKey { target, action: KeyAction::Revoke }).is_err());
        // A member's key (stored without a ceiling) is a member's: an admin may rotate it, and
        // the new one's ceiling is the admin's role at most.
        let member = UserId::new();
        let target = KeyTarget { holder: &member, holder_role: Some(Role::Member), key: full };
        let g = authorize(&admin, Act::OnKey { target, action: KeyAction::Rotate }).unwrap();
        assert_eq!(g.ceiling.role, Role::Admin);
        // A `keys`-scoped key cannot rotate its own holder's full key.
        let scoped = key_principal(Role::Member, Scopes::parse(["keys"]).unwrap(), None);
        let mine = Strength { role: Role::Member, scopes: Scopes::ALL, ends_at: None };
        let target = KeyTarget { holder: &scoped.user, holder_role: Some(Role::Member), key: mine };
        assert!(authorize(&scoped, Act::OnKey { target, action: KeyAction::Rotate }).is_err());
    }

    #[test]
    fn what_is_made_ends_no_later_than_the_caller() {
        let in_grace = key_principal(Role::Owner, Scopes::ALL, Some(1_000));
        let wanted = Strength { role: Role::Member, scopes: Scopes::ALL, ends_at: None };
        let g = authorize(&in_grace, Act::IssueKey { wanted }).unwrap();
        assert_eq!(g.ceiling.ends_at, Some(1_000));
        assert!(g.ceiling.within(in_grace.strength));
        let wanted = Strength { ends_at: Some(5_000), ..wanted };
        assert_eq!(authorize(&in_grace, Act::IssueKey { wanted }).unwrap().ceiling.ends_at, Some(1_000));
    }

    #[test]
    fn scim_needs_the_scim_scope_and_an_owner_and_only_an_owner_makes_a_scim_token() {
        let token_strength = Strength { role: Role::Owner, scopes: Scopes::SCIM, ends_at: None };
        let issue = |p: &Principal| authorize(p, Act::IssueKey { wanted: token_strength });
        // An owner's full key (and a signed-in owner) may make one; an admin's, or an owner's key
        // narrowed to some scopes, may not.
        let owner = key_principal(Role::Owner, Scopes::ALL, None);
        assert_eq!(issue(&owner).unwrap().ceiling.scopes, Scopes::SCIM);
        let admin = key_principal(Role::Admin, Scopes::ALL, None);
        assert!(matches!(issue(&admin), Err(Error::InsufficientRole(_))));
        let narrowed = key_principal(Role::Owner, Scopes::parse(["keys", "members"]).unwrap(), None);
        assert!(matches!(issue(&narrowed), Err(Error::MissingScope(Scope::Scim))));
        // SCIM itself: the scope and the owner role, both; recorded as `scim`; never an owner made.
        let token = key_principal(Role::Owner, Scopes::SCIM, None);
        let g = authorize(&token, Act::Scim).unwrap();
        assert!(g.by().kind == "scim" && g.ceiling.role < Role::Owner);
        assert!(matches!(authorize(&owner, Act::Scim), Err(Error::MissingScope(Scope::Scim))));
        let demoted = key_principal(Role::Admin, Scopes::SCIM, None);
        assert!(matches!(authorize(&demoted, Act::Scim), Err(Error::InsufficientRole(_))));
        // A SCIM token reaches nothing of the API, "every scope" administration included, which a
        // full owner key still passes (the nine API scopes, not scim).
        assert!(matches!(authorize(&token, Act::GrantCredits), Err(Error::MissingScope(_))));
        assert!(matches!(authorize(&token, Act::ListMembers), Err(Error::MissingScope(Scope::Members))));
        assert!(matches!(issue(&token), Err(Error::MissingScope(Scope::Keys))));
        assert!(authorize(&owner, Act::GrantCredits).is_ok());
        // Revoking a SCIM token: its owner's full key may; an admin may not touch it.
        let holder = UserId::new();
        let target = KeyTarget { holder: &holder, holder_role: Some(Role::Owner), key: token_strength };
        assert!(authorize(&owner, Act::OnKey { target, action: KeyAction::Revoke }).is_ok());
        assert!(authorize(&admin, Act::OnKey { target, action: KeyAction::Revoke }).is_err());
    }

    #[test]
    fn strength_orders_role_scopes_and_end() {
        let a = Strength { role: Role::Admin, scopes: Scopes::ALL, ends_at: Some(10) };
        assert!(a.within(Strength { ends_at: None, ..a }));
        assert!(!Strength { ends_at: None, ..a }.within(a));
        assert!(!Strength { role: Role::Owner, ..a }.within(a));
        let fewer = Scopes::parse(["agents"]).unwrap();
        assert!(Strength { scopes: fewer, ..a }.within(a));
        assert!(!a.within(Strength { scopes: fewer, ..a }));
        assert_eq!(a.capped_by(Strength { scopes: fewer, ..a }).scopes, fewer);
    }
}
