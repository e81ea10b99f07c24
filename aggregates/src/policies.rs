//! A firm's portal policies: how long invitations and sessions last, and when failed logins
//! lock a login. Each has bounds (a firm may not switch lockout off, nor keep a session for
//! a month); a change names only what it changes and is refused whole if any part is out
//! of bounds.

use serde::{Deserialize, Serialize};

/// One policy's bounds and default.
pub struct Bound {
    pub field: &'static str,
    pub min: i64,
    pub max: i64,
    pub default: i64,
}

impl Bound {
    const fn new(field: &'static str, min: i64, max: i64, default: i64) -> Self {
        Self {
            field,
            min,
            max,
            default,
        }
    }
}

pub const INVITATION_TTL_DAYS: Bound = Bound::new("invitation_ttl_days", 1, 90, 14);
pub const SESSION_HOURS: Bound = Bound::new("session_hours", 1, 168, 8);
pub const LOCKOUT_FAILURES: Bound = Bound::new("lockout_failures", 3, 20, 5);
pub const LOCKOUT_MINUTES: Bound = Bound::new("lockout_minutes", 1, 1440, 15);
/// How long after archiving a client its personal data is erased by the system (no
/// default: a firm chooses to).
pub const ERASE_ARCHIVED_AFTER_DAYS: Bound = Bound::new("erase_archived_after_days", 1, 3650, 0);

/// Whether the firm's logins must have a second factor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicy {
    /// Each person chooses.
    #[default]
    Optional,
    /// A login without a factor gets a session that can only set one up.
    Required,
}

impl MfaPolicy {
    pub const NAMES: &[&str] = &["optional", "required"];

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            _ => Err("must be optional or required".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

/// The policies in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalPolicies {
    pub invitation_ttl_days: i64,
    pub session_hours: i64,
    pub lockout_failures: i64,
    pub lockout_minutes: i64,
    /// Absent from policies set before second factors existed: optional.
    #[serde(default)]
    pub mfa: MfaPolicy,
    /// Archived clients are erased this many days after archiving, unless held (absent
    /// from policies set before retention existed: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erase_archived_after_days: Option<i64>,
}

impl Default for PortalPolicies {
    fn default() -> Self {
        Self {
            invitation_ttl_days: INVITATION_TTL_DAYS.default,
            session_hours: SESSION_HOURS.default,
            lockout_failures: LOCKOUT_FAILURES.default,
            lockout_minutes: LOCKOUT_MINUTES.default,
            mfa: MfaPolicy::Optional,
            erase_archived_after_days: None,
        }
    }
}

/// What a change asks for; absent parts stay as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyChange {
    pub invitation_ttl_days: Option<i64>,
    pub session_hours: Option<i64>,
    pub lockout_failures: Option<i64>,
    pub lockout_minutes: Option<i64>,
    pub mfa: Option<MfaPolicy>,
    /// `Some(None)` turns retention off.
    pub erase_archived_after_days: Option<Option<i64>>,
}

impl PolicyChange {
    /// Every part out of bounds, as (field, message) — empty when the change may be made.
    pub fn out_of_bounds(&self) -> Vec<(&'static str, String)> {
        [
            (&INVITATION_TTL_DAYS, self.invitation_ttl_days),
            (&SESSION_HOURS, self.session_hours),
            (&LOCKOUT_FAILURES, self.lockout_failures),
            (&LOCKOUT_MINUTES, self.lockout_minutes),
            (
                &ERASE_ARCHIVED_AFTER_DAYS,
                self.erase_archived_after_days.flatten(),
            ),
        ]
        .into_iter()
        .filter_map(|(bound, value)| {
            value
                .filter(|v| !(bound.min..=bound.max).contains(v))
                .map(|_| {
                    (
                        bound.field,
                        format!("must be a whole number from {} to {}", bound.min, bound.max),
                    )
                })
        })
        .collect()
    }

    /// The policies after this change.
    pub fn applied_to(&self, current: PortalPolicies) -> PortalPolicies {
        PortalPolicies {
            invitation_ttl_days: self
                .invitation_ttl_days
                .unwrap_or(current.invitation_ttl_days),
            session_hours: self.session_hours.unwrap_or(current.session_hours),
            lockout_failures: self.lockout_failures.unwrap_or(current.lockout_failures),
            lockout_minutes: self.lockout_minutes.unwrap_or(current.lockout_minutes),
            mfa: self.mfa.unwrap_or(current.mfa),
            erase_archived_after_days: self
                .erase_archived_after_days
                .unwrap_or(current.erase_archived_after_days),
        }
    }
}
