//! Organizations and their members: creating them (operators, the first start, people where
//! sign-up is open), domains, membership and provisioner access, and what the dashboard shows.

use super::audit::{self, By};
use super::authority::{authorize, principal, Act, Strength};
use super::{keys, resolve_org, Actor, Ctx, Rules, SignupMode};
use crate::clock::Millis;
use crate::db::Tx;
use crate::domain::Provision;
use crate::domain::{
    Credits, DisplayName, Domain, Email, EventType, OrgId, ProjectId, ProvisionStatus, Role, UserId, UserN,
};
use crate::error::{Error, Result};
use crate::store;
use crate::store::memberships::{MemberListRow, MemberRow, OrgOfUser};

pub const DEFAULT_PROJECT_NAME: &str = "Default";

pub struct NewOrg {
    pub name: String,
    pub domain: Option<Domain>,
    pub owner_email: Email,
    pub provisioner: bool,
    /// An opening grant to the organization's credit pool.
    pub credits: Option<Credits>,
}

/// A user's fresh access to one organization: their project there and its key (shown once).
pub struct Access {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub project_id: ProjectId,
    pub api_key: String,
}

/// Creates an organization and its owner (reusing the account when the address is known and
/// verified), with the owner's project and key.
fn create_in(tx: &Tx, by: &By, rules: &Rules, new: &NewOrg, now: Millis) -> Result<Access> {
    let prefix = &rules.key_prefix;
    let name = DisplayName::parse("The organization name", &new.name, 200).map_err(Error::InvalidField)?;
    if let Some(d) = &new.domain {
        if store::orgs::domain_taken(tx, d)? {
            return Err(Error::DomainTaken(d.as_str().to_string()));
        }
    }
    let org_id = OrgId::new();
    store::orgs::insert_org(tx, &org_id, name.as_str(), new.domain.as_ref(), now)?;
    let data = audit::data([("name", name.as_str().into())]);
    audit::only(tx, by, &org_id, "organization.created", ("organization", org_id.to_string()), data, now)?;
    let owner = add_in(tx, by, prefix, &org_id, &new.owner_email, Role::Owner, new.provisioner, now)?;
    if let Some(credits) = new.credits {
        let low = rules.credits_low_percent;
        super::credits::grant_in(tx, by, low, &org_id, credits, Some("opening grant"), now)?;
    }
    Ok(owner)
}

/// An operator creates an organization (command line).
pub async fn create(ctx: &Ctx, new: NewOrg) -> Result<Access> {
    let (rules, now) = (ctx.rules.clone(), ctx.now());
    ctx.db.write(move |tx| create_in(tx, &By::operator(), &rules, &new, now)).await
}

/// On an empty database, the first organization and its owner; None when there is one already.
/// Blocking: it runs at start-up, before the server serves.
pub fn bootstrap(ctx: &Ctx, new: NewOrg) -> Result<Option<Access>> {
    let (rules, now) = (ctx.rules.clone(), ctx.now());
    ctx.db.write_blocking(move |tx| {
        // Replicas starting together on an empty database: one of them creates it.
        store::orgs::lock_for_bootstrap(tx)?;
        if store::orgs::count_orgs(tx)? > 0 {
            return Ok(None);
        }
        create_in(tx, &By::system(), &rules, &new, now).map(Some)
    })
}

/// A signed-in person starts an organization and owns it (it becomes the one their dashboard
/// shows). Only where anyone may sign up (`SIGNUP=open`), and only with a verified address;
/// elsewhere operators create organizations.
pub async fn start(ctx: &Ctx, user: &UserId, session: [u8; 32], name: String) -> Result<Access> {
    if ctx.rules.signup != SignupMode::Open {
        return Err(Error::SignupClosed(
            "Organizations on this server are created by its operator; ask them, or an admin for a claim link.",
        ));
    }
    let (rules, now, by) = (ctx.rules.clone(), ctx.now(), By::person(user));
    let user = user.clone();
    ctx.db
        .write(move |tx| {
            let u = store::users::user(tx, &user)?
                .ok_or_else(|| Error::NotFound("Your account no longer exists.".into()))?;
            let email = u.email.filter(|_| u.email_verified).ok_or_else(|| {
                Error::EmailUnverified(
                    "Verify your email address first: follow the link we mailed you (you can ask for a new one on your account page).".into(),
                )
            })?;
            let email = Email::parse(&email).map_err(Error::Internal)?;
            let new = NewOrg { name, domain: None, owner_email: email, provisioner: false, credits: None };
            let access = create_in(tx, &by, &rules, &new, now)?;
            store::sessions::set_active_org(tx, &session, &access.org_id)?;
            Ok(access)
        })
        .await
}

/// Adds the person at `email` to `org` (creating the account when the address is new) with their
/// own project and key. An existing account must have a verified address: whoever typed an
/// address into a sign-up form does not receive what is meant for its owner.
#[allow(clippy::too_many_arguments)]
fn add_in(
    tx: &Tx,
    by: &By,
    prefix: &str,
    org: &OrgId,
    email: &Email,
    role: Role,
    provisioner: bool,
    now: Millis,
) -> Result<Access> {
    let address = email.as_string();
    let (user_id, user_n, new_account) = match store::users::user_id_by_email(tx, &address)? {
        Some(id) => {
            let u = store::users::user(tx, &id)?.ok_or_else(|| Error::Internal("user vanished".into()))?;
            if !u.email_verified {
                return Err(Error::AddressUnverified(address));
            }
            (id, u.n, false)
        }
        None => {
            let id = UserId::new();
            // Verified: an operator (or an owner) names the address.
            let n = store::users::insert_user(tx, &id, &address, false, true, now)?;
            (id, n, true)
        }
    };
    store::memberships::insert_membership(tx, user_n, org, role, provisioner, now).map_err(|e| {
        if e.is_unique_violation() {
            Error::UserExists(format!("{address} is already a member of this organization."))
        } else {
            e.into()
        }
    })?;
    let data = audit::data([
        ("email", address.as_str().into()),
        ("role", role.as_str().into()),
        ("isProvisioner", provisioner.into()),
        ("newAccount", new_account.into()),
    ]);
    audit::event(tx, by, org, EventType::UserCreated, ("user", user_id.to_string()), data, now)?;
    // An operator's or the server's: no ceiling but the person's role.
    project_and_key(tx, prefix, org, user_id, user_n, Strength::FULL, now)
}

/// An operator adds a person to an organization (command line).
pub async fn add_member(
    ctx: &Ctx,
    org: String,
    email: Email,
    role: Role,
    provisioner: bool,
) -> Result<Access> {
    let (prefix, now) = (ctx.rules.key_prefix.clone(), ctx.now());
    ctx.db
        .write(move |tx| {
            let org = resolve_org(tx, &org)?;
            add_in(tx, &By::operator(), &prefix, &org, &email, role, provisioner, now)
        })
        .await
}

/// A member's own project in the organization, and a key for it acting as at most `ceiling`.
pub(super) fn project_and_key(
    tx: &Tx,
    prefix: &str,
    org: &OrgId,
    user_id: UserId,
    user_n: UserN,
    worth: Strength,
    now: Millis,
) -> Result<Access> {
    let project_id = ProjectId::new();
    let project_n = store::projects::insert_project(tx, &project_id, org, user_n, DEFAULT_PROJECT_NAME, now)?;
    let spec = keys::KeySpec {
        user: user_n,
        org,
        project: project_n,
        ceiling: worth.role,
        name: None,
        scopes: worth.scopes,
        expires_at: worth.ends_at,
    };
    let api_key = keys::issue_key(tx, prefix, &spec, now)?.2;
    Ok(Access { org_id: org.clone(), user_id, project_id, api_key })
}

/// An operator gives an organization its email domain (unique across organizations).
pub async fn set_domain(ctx: &Ctx, org: String, domain: Domain) -> Result<OrgId> {
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let org = resolve_org(tx, &org)?;
            if store::orgs::domain_taken(tx, &domain)? {
                return Err(Error::DomainTaken(domain.as_str().to_string()));
            }
            store::orgs::set_domain(tx, &org, &domain)?;
            let data = audit::data([("domain", domain.as_str().into())]);
            audit::only(
                tx,
                &By::operator(),
                &org,
                "organization.domain_set",
                ("organization", org.to_string()),
                data,
                now,
            )?;
            Ok(org)
        })
        .await
}

/// Turns a member's provisioner flag on or off; the member is given by user id or email (an
/// email only when verified: it must name the person it reaches).
fn set_provisioner_in(tx: &Tx, by: &By, org: &OrgId, who: &str, on: bool, now: Millis) -> Result<MemberRow> {
    let mut m = member_named(tx, org, who, on)?;
    store::memberships::set_provisioner(tx, org, m.user_n, on)?;
    let data = audit::data([
        ("userId", m.user_id.as_str().into()),
        ("isProvisioner", on.into()),
        ("wasProvisioner", m.is_provisioner.into()),
    ]);
    audit::event(tx, by, org, EventType::MemberUpdated, ("user", m.user_id.to_string()), data, now)?;
    m.is_provisioner = on;
    Ok(m)
}

/// A member of `org` named by user id or email, as operators and the set-provisioner route name
/// them. With `vouched`, an email must be verified: whatever is handed out by address must
/// reach the person it names.
pub(super) fn member_named(tx: &Tx, org: &OrgId, who: &str, vouched: bool) -> Result<MemberRow> {
    // Emails are stored lowercase, and so are the ids we make; neither holds a control character.
    let who = who.to_ascii_lowercase();
    if who.chars().any(char::is_control) {
        return Err(Error::NotFound("No member of this organization has that user id or email.".into()));
    }
    let m = store::memberships::find_member(tx, org, &who)?
        .ok_or_else(|| Error::NotFound("No member of this organization has that user id or email.".into()))?;
    if vouched && m.user_id.as_str() != who && !m.email_verified {
        return Err(Error::MemberUnverified);
    }
    Ok(m)
}

/// An owner turns a member's provisioner access on or off (the API).
pub async fn set_provisioner(ctx: &Ctx, actor: Actor, who: String, on: bool) -> Result<MemberRow> {
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let auth = authorize(&principal(tx, &actor)?, Act::SetProvisioner)?;
            set_provisioner_in(tx, auth.by(), &auth.org, &who, on, now)
        })
        .await
}

/// An operator turns a member's provisioner access on or off (command line).
pub async fn set_provisioner_by_operator(ctx: &Ctx, org: String, who: String, on: bool) -> Result<MemberRow> {
    let now = ctx.now();
    ctx.db
        .write(move |tx| {
            let org = resolve_org(tx, &org)?;
            set_provisioner_in(tx, &By::operator(), &org, &who, on, now)
        })
        .await
}

/// What a person's dashboard shows: their organizations, the active one, its members, and (for
/// admins and owners) its pending provisions.
pub struct Dashboard {
    pub orgs: Vec<OrgOfUser>,
    /// Index into `orgs` of the organization shown.
    pub active: Option<usize>,
    pub members: Vec<MemberListRow>,
    pub pending: Vec<Provision>,
}

impl Dashboard {
    pub fn active_org(&self) -> Option<&OrgOfUser> {
        self.active.map(|i| &self.orgs[i])
    }
}

pub async fn dashboard(ctx: &Ctx, user: &UserId, wanted: Option<OrgId>) -> Result<Dashboard> {
    let (user, now) = (user.clone(), ctx.now());
    ctx.db
        .read(move |conn| {
            let orgs = store::memberships::orgs_of_user(conn, &user)?;
            let active = wanted
                .and_then(|w| orgs.iter().position(|o| o.org_id == w))
                .or(if orgs.is_empty() { None } else { Some(0) });
            let (members, pending) = match active {
                Some(i) => {
                    let org = &orgs[i];
                    let pending = if org.role.is_admin() {
                        store::provisions::list(conn, &org.org_id, Some(ProvisionStatus::Pending), now, 100)?
                    } else {
                        Vec::new()
                    };
                    (store::memberships::members(conn, &org.org_id, now)?, pending)
                }
                None => (Vec::new(), Vec::new()),
            };
            Ok(Dashboard { orgs, active, members, pending })
        })
        .await
}

/// The organization a person's dashboard shows from now on (they must be a member).
pub async fn switch(ctx: &Ctx, user: &UserId, session: [u8; 32], org: Option<OrgId>) -> Result<()> {
    let user = user.clone();
    ctx.db
        .write(move |tx| {
            let member = match &org {
                Some(o) => store::memberships::membership(tx, &user, o)?.is_some_and(|m| !m.suspended),
                None => false,
            };
            match org.filter(|_| member) {
                Some(o) => Ok(store::sessions::set_active_org(tx, &session, &o)?),
                None => Err(Error::NotFound("You are not a member of that organization.".into())),
            }
        })
        .await
}

/// The organization's name, for pages.
pub async fn name(ctx: &Ctx, org: &OrgId) -> Result<Option<String>> {
    let org = org.clone();
    ctx.db.read(move |c| Ok(store::orgs::org_name(c, &org)?)).await
}
