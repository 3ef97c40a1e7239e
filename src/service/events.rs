//! The events feed (contract, Webhooks and events): what happened in an organization, oldest
//! first, for platforms that poll instead of (or besides) receiving webhooks.

use super::authority::{authorize, principal, Act};
use super::{Actor, Ctx};
use crate::domain::EventType;
use crate::error::{Error, Result};
use crate::store;
use crate::store::events::EventRow;

/// One page of the feed, and the id to pass as `after` for the next one when the page was
/// full (None: nothing more yet; poll again with the last event's id).
pub struct Feed {
    pub events: Vec<EventRow>,
    pub next: Option<String>,
}

/// The organization's events after the event `after` (from the start without it), of one
/// type if asked. Admins and owners; keys need the `webhooks` scope.
pub async fn feed(
    ctx: &Ctx,
    actor: Actor,
    after: Option<String>,
    kind: Option<String>,
    limit: u32,
) -> Result<Feed> {
    if let Some(k) = &kind {
        EventType::parse(k).map_err(|e| Error::InvalidField(format!("'type': {e}")))?;
    }
    ctx.db
        .read(move |c| {
            let who = authorize(&principal(c, &actor)?, Act::ReadEvents)?;
            if let Some(a) = &after {
                if !store::events::exists(c, &who.org, a)? {
                    return Err(Error::InvalidField(
                        "'after' is not the id of an event of this organization (events older than the retention period are gone); start again without it.".into(),
                    ));
                }
            }
            let mut events = store::events::feed(c, &who.org, after.as_deref(), kind.as_deref(), limit + 1)?;
            let more = events.len() > limit as usize;
            events.truncate(limit as usize);
            let next = if more { events.last().map(|e| e.id.clone()) } else { None };
            Ok(Feed { events, next })
        })
        .await
}
