//! The dashboard's team list: members and provisions as one list with status tabs, a search
//! and pages (the pages' counterpart of `/v1/members` and `/v1/team/provisions`).

use super::authority::{authorize, principal, Act};
use super::{Actor, Ctx};
use crate::domain::Member;
use crate::domain::Provision;
use crate::domain::ProvisionStatus;
use crate::error::{Error, Result};
use crate::store;

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

    fn status(self) -> Option<ProvisionStatus> {
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
    Provisions(Vec<Provision>),
}

/// One page of one tab, with how many rows the tab has in all and every tab's count (for the
/// tab labels), as the search narrows them.
pub struct TeamPage {
    pub tab: Tab,
    pub rows: Rows,
    pub total: i64,
    pub offset: u32,
    pub counts: Vec<(Tab, i64)>,
    /// Whether the viewer manages the team (admins and owners see provisions).
    pub admin: bool,
}

pub const PAGE: u32 = 100;

/// The team as `actor` may see it: everyone sees the active members; admins and owners also
/// the provisions. `search` matches address and name (and a provision's external id).
pub async fn page(ctx: &Ctx, actor: Actor, tab: Tab, search: Option<String>, page: u32) -> Result<TeamPage> {
    let search = search.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200 || s.chars().any(char::is_control)) {
        return Err(Error::InvalidField(
            "Search for at most 200 characters, without control characters.".into(),
        ));
    }
    let pattern = search.as_deref().map(store::memberships::like_pattern);
    let offset = page.saturating_sub(1).saturating_mul(PAGE);
    let now = ctx.now();
    ctx.db
        .read(move |c| {
            let p = principal(c, &actor)?;
            let who = authorize(&p, Act::ViewTeam)?;
            let admin = authorize(&p, Act::ReadProvisions).is_ok();
            let tab = if admin { tab } else { Tab::Active };
            let p = pattern.as_deref();
            let mut counts = Vec::new();
            let mut shown = None;
            for t in Tab::ALL {
                if !admin && t != Tab::Active {
                    continue;
                }
                let (take, skip) = if t == tab { (PAGE, offset) } else { (0, 0) };
                let (rows, total) = match t.status() {
                    None => {
                        let (rows, total) = store::memberships::search_active(c, &who.org, p, skip, take)?;
                        (Rows::Members(rows), total)
                    }
                    Some(status) => {
                        let (rows, total) =
                            store::provisions::search(c, &who.org, status, p, now, skip, take)?;
                        (Rows::Provisions(rows), total)
                    }
                };
                counts.push((t, total));
                if t == tab {
                    shown = Some((rows, total));
                }
            }
            let (rows, total) =
                shown.ok_or_else(|| Error::Internal("the shown tab was not counted".into()))?;
            Ok(TeamPage { tab, rows, total, offset, counts, admin })
        })
        .await
}
