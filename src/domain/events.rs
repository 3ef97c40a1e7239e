//! Event types (what happened) and the filter a webhook endpoint subscribes with.

use super::shorten;

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
}
