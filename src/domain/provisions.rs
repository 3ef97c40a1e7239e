//! Where a provision stands: pending until it is claimed, cancelled or expired.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisionStatus {
    Pending,
    Claimed,
    Cancelled,
    Expired,
}

impl ProvisionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisionStatus::Pending => "pending",
            ProvisionStatus::Claimed => "claimed",
            ProvisionStatus::Cancelled => "cancelled",
            ProvisionStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<ProvisionStatus> {
        match s {
            "pending" => Some(ProvisionStatus::Pending),
            "claimed" => Some(ProvisionStatus::Claimed),
            "cancelled" => Some(ProvisionStatus::Cancelled),
            "expired" => Some(ProvisionStatus::Expired),
            _ => None,
        }
    }
}
