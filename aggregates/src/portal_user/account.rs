//! A login's account state as its events leave it, and the rules read from it: its status,
//! whether it may log in, and whether it may act for a client.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Factors, OneTimeLink, PersonNames};
use crate::values::{Email, Username};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginStatus {
    PendingActivation,
    Active,
    Disabled,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub username: Username,
    pub email: Email,
    #[serde(default)]
    pub names: PersonNames,
    pub clients: BTreeSet<Uuid>,
    pub activated: bool,
    pub disabled: bool,
    pub removed: bool,
    pub activation: Option<OneTimeLink>,
    pub reset: Option<OneTimeLink>,
    /// Second factors (none for logins from before they existed).
    #[serde(default)]
    pub factors: Factors,
}

impl Account {
    /// A login as it is created: reaching one client, with no link outstanding.
    pub fn created(
        client_id: Uuid,
        username: Username,
        email: Email,
        names: PersonNames,
        activated: bool,
    ) -> Self {
        Account {
            username,
            email,
            names,
            clients: BTreeSet::from([client_id]),
            activated,
            disabled: false,
            removed: false,
            activation: None,
            reset: None,
            factors: Factors::default(),
        }
    }

    /// Whether this login may log in and be served now: activated, not disabled, not removed.
    pub fn can_log_in(&self) -> bool {
        self.status() == LoginStatus::Active
    }

    /// Whether this login may act for a client (see its items and contracts, sign): it can
    /// log in and has access to that client. The one statement of this rule.
    pub fn can_act_for(&self, client_id: Uuid) -> bool {
        self.can_log_in() && self.clients.contains(&client_id)
    }

    pub fn status(&self) -> LoginStatus {
        if self.removed {
            LoginStatus::Removed
        } else if self.disabled {
            LoginStatus::Disabled
        } else if self.activated {
            LoginStatus::Active
        } else {
            LoginStatus::PendingActivation
        }
    }
}
