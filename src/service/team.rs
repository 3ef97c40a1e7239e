//! The dashboard's team list: members and provisions as one list with status tabs, a search
//! and pages (the pages' counterpart of `/v1/members` and `/v1/team/provisions`).

use super::authority::{authorize, principal, Act};
use super::{Actor, Ctx};
use crate::domain::{
    Keyset, ListedProvision, Member, OrgId, Provision, ProvisionId, ProvisionStatus, UserId,
};
use crate::error::{Error, Result};
use crate::store;
use crate::store::memberships::OrgOfUser;
use crate::store::terms::Search;

/// The tabs: claimed accounts, and provisions by status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Active,
    Pending,
    Claimed,
    Cancelled,
    Expired,
}

impl Tab {
    pub const ALL: [Tab; 5] = [Tab::Active, Tab::Pending, Tab::Claimed, Tab::Cancelled, Tab::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Tab::Active => "active",
            Tab::Pending => "pending",
            Tab::Claimed => "claimed",
            Tab::Cancelled => "cancelled",
            Tab::Expired => "expired",
        }
    }

    /// A tab from a link; anything else is the first tab.
    pub fn parse(s: Option<&str>) -> Tab {
        Tab::ALL.into_iter().find(|t| Some(t.as_str()) == s).unwrap_or(Tab::Active)
    }

    pub fn status(self) -> Option<ProvisionStatus> {
        match self {
            Tab::Active => None,
            Tab::Pending => Some(ProvisionStatus::Pending),
            Tab::Claimed => Some(ProvisionStatus::Claimed),
            Tab::Cancelled => Some(ProvisionStatus::Cancelled),
            Tab::Expired => Some(ProvisionStatus::Expired),
        }
    }
}

pub enum Rows {
    Members(Vec<Member>),
    Provisions(Vec<ListedProvision>),
}

/// One page of one tab, with how many rows the tab has in all and every tab's count (for the
/// tab labels), as the search narrows them.
pub struct TeamPage {
    pub tab: Tab,
    pub rows: Rows,
    pub total: i64,
    /// How many rows come before this page (the "Showing 101–200" of a link's page number).
    pub offset: u32,
    pub counts: Vec<(Tab, i64)>,
    /// Whether the viewer manages the team (admins and owners see provisions).
    pub admin: bool,
    /// The sort keys of the page's first and last rows, for the links to the pages around it.
    pub first_key: Option<String>,
    pub last_key: Option<String>,
}

pub const PAGE: u32 = 100;

/// The team as `actor` may see it: everyone sees the active members; admins and owners also
/// the provisions. `search` matches address and name (a member's: any part of them; a
/// provision's, its external id too: the words typed, each the start of a word of them).
/// `page_no` only numbers the page; where it starts is `at`.
pub async fn page(
    ctx: &Ctx,
    actor: Actor,
    tab: Tab,
    search: Option<String>,
    at: Keyset,
    page_no: u32,
) -> Result<TeamPage> {
    let search = search.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200 || s.chars().any(char::is_control)) {
        return Err(Error::InvalidField(
            "Search for at most 200 characters, without control characters.".into(),
        ));
    }
    let pattern = search.as_deref().map(store::memberships::like_pattern);
    let terms = search.as_deref().map(Search::of);
    let offset = page_no.saturating_sub(1).saturating_mul(PAGE);
    let now = ctx.now();
    ctx.db
        .read(move |c| {
            let p = principal(c, &actor)?;
            let who = authorize(&p, Act::ViewTeam)?;
            let admin = authorize(&p, Act::ReadProvisions).is_ok();
            let tab = if admin { tab } else { Tab::Active };
            let members = store::memberships::active_count(c, &who.org, pattern.as_deref())?;
            let mut counts = vec![(Tab::Active, members)];
            if admin {
                // Typed text with no word in it finds no provision.
                let by_status = match &terms {
                    Some(None) => Vec::new(),
                    Some(Some(s)) => store::provisions::tab_counts(c, &who.org, Some(s), now)?,
                    None => store::provisions::tab_counts(c, &who.org, None, now)?,
                };
                for t in &Tab::ALL[1..] {
                    let n = by_status.iter().find(|(s, _)| Some(*s) == t.status()).map_or(0, |(_, n)| *n);
                    counts.push((*t, n));
                }
            }
            let total = counts.iter().find(|(t, _)| *t == tab).map_or(0, |(_, n)| *n);
            let (rows, first_key, last_key) = match tab.status() {
                None => {
                    let rows = store::memberships::active_page(c, &who.org, pattern.as_deref(), at, PAGE)?;
                    let key = |m: &Member| Keyset::key(m.joined_at, m.user_n.0);
                    let keys = (rows.first().map(key), rows.last().map(key));
                    (Rows::Members(rows), keys.0, keys.1)
                }
                Some(status) => {
                    let rows = match &terms {
                        Some(None) => Vec::new(),
                        Some(Some(s)) => {
                            store::provisions::tab_page(c, &who.org, status, Some(s), now, at, PAGE)?
                        }
                        None => store::provisions::tab_page(c, &who.org, status, None, now, at, PAGE)?,
                    };
                    let key = |p: &ListedProvision| Keyset::key(p.provision.created_at, p.n);
                    let keys = (rows.first().map(key), rows.last().map(key));
                    (Rows::Provisions(rows), keys.0, keys.1)
                }
            };
            Ok(TeamPage { tab, rows, total, offset, counts, admin, first_key, last_key })
        })
        .await
}

/// One member of the organization, for a page that names them (everyone who sees the team).
pub async fn member(ctx: &Ctx, actor: Actor, user: &str) -> Result<Member> {
    let user = UserId::parse(user).ok_or_else(no_member)?;
    let now = ctx.now();
    ctx.db
        .read(move |c| {
            let who = authorize(&principal(c, &actor)?, Act::ViewTeam)?;
            store::memberships::get(c, &who.org, &user, now)?.ok_or_else(no_member)
        })
        .await
}

/// The first `limit` claimed members in the order they joined (a page that offers something
/// for each, such as a credit limit).
pub async fn active_members(ctx: &Ctx, actor: Actor, limit: u32) -> Result<Vec<Member>> {
    ctx.db
        .read(move |c| {
            let who = authorize(&principal(c, &actor)?, Act::ViewTeam)?;
            Ok(store::memberships::active_page(c, &who.org, None, Keyset::First, limit)?)
        })
        .await
}

fn no_member() -> Error {
    Error::NotFound("No member of this organization has that user id.".into())
}

/// One provision of the organization, for a page that names it (admins and owners).
pub async fn provision(ctx: &Ctx, actor: Actor, id: &str) -> Result<Provision> {
    let not_found = || Error::NotFound("No provision with that id in this organization.".into());
    let id = ProvisionId::parse(id).ok_or_else(not_found)?;
    let now = ctx.now();
    ctx.db
        .read(move |c| {
            let who = authorize(&principal(c, &actor)?, Act::ReadProvisions)?;
            store::provisions::get(c, &who.org, &id, now)?.ok_or_else(not_found)
        })
        .await
}

/// The organizations a person is in, and which of them their dashboard shows (the one their
/// session names, else the first).
pub async fn orgs(
    ctx: &Ctx,
    user: &UserId,
    wanted: Option<OrgId>,
) -> Result<(Vec<OrgOfUser>, Option<usize>)> {
    let user = user.clone();
    ctx.db
        .read(move |c| {
            let orgs = store::memberships::orgs_of_user(c, &user)?;
            let active = wanted
                .and_then(|w| orgs.iter().position(|o| o.org_id == w))
                .or(if orgs.is_empty() { None } else { Some(0) });
            Ok((orgs, active))
        })
        .await
}
