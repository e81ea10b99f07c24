//! A tenant: one firm. Its portal on/off setting, its portal policies, the address its
//! signed audit checkpoints are e-mailed to, and the staff tokens issued for it (the token
//! hashes live outside the log; the log records that a token was issued, and to whom).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, IntoStaticStr, VariantArray};
use uuid::Uuid;

use crate::policies::{PolicyChange, PortalPolicies};
use crate::values::Email;
use crate::{DomainError, EVENT_VERSION};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::VariantNames)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum StaffRole {
    Admin,
    Staff,
    Auditor,
    Reporting,
}

impl StaffRole {
    /// Every role's spelling.
    pub const NAMES: &[&str] = <Self as strum::VariantNames>::VARIANTS;

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "admin" => Ok(Self::Admin),
            "staff" => Ok(Self::Staff),
            "auditor" => Ok(Self::Auditor),
            "reporting" => Ok(Self::Reporting),
            _ => Err("must be one of admin, staff, auditor, reporting".into()),
        }
    }
    /// What both roles allow: a token never does more than its person may, nor a person
    /// more than the token allows. Staff (writes, no audit) and auditor (audit, no writes)
    /// share only reading, which is the reporting role.
    pub fn lower(self, other: Self) -> Self {
        use StaffRole::*;
        match (self, other) {
            (Admin, r) | (r, Admin) => r,
            (r, s) if r == s => r,
            _ => Reporting,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Staff => "staff",
            Self::Auditor => "auditor",
            Self::Reporting => "reporting",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TenantCommand {
    Create {
        slug: String,
        name: String,
    },
    SetPortalActive {
        active: bool,
    },
    IssueStaffToken {
        token_id: Uuid,
        role: StaffRole,
        label: Option<String>,
        holder: TokenHolder,
        expires_at: Option<DateTime<Utc>>,
    },
    RevokeStaffToken {
        token_id: Uuid,
    },
    /// Changes the portal policies (bounds checked by `PolicyChange::out_of_bounds`).
    SetPolicies {
        change: PolicyChange,
    },
    /// Names the address each new signed audit checkpoint is e-mailed to (the firm's
    /// auditor), or `None` to stop.
    SetCheckpointRecipient {
        email: Option<Email>,
    },
}

/// Whom a token acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TokenHolder {
    /// A token from before staff members existed: it names no person (its label does).
    #[default]
    Unnamed,
    /// A personal token: it acts as this staff member.
    Member { staff_id: Uuid },
    /// A service token (a staff UI backend): each command names its person in
    /// `X-Acting-Staff`.
    Service,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumDiscriminants)]
#[strum_discriminants(name(TenantEventKind), derive(Hash, IntoStaticStr, VariantArray))]
pub enum TenantEvent {
    TenantCreated {
        slug: String,
        name: String,
    },
    PortalActivationChanged {
        active: bool,
    },
    StaffTokenIssued {
        token_id: Uuid,
        role: StaffRole,
        label: Option<String>,
        /// Absent in events from before staff members: an unnamed token.
        #[serde(default)]
        holder: TokenHolder,
        #[serde(default)]
        expires_at: Option<DateTime<Utc>>,
    },
    StaffTokenRevoked {
        token_id: Uuid,
    },
    /// The policies in force from now on (all four, whatever the change named).
    PortalPoliciesChanged {
        policies: PortalPolicies,
    },
    /// From now on each new signed checkpoint is e-mailed to `email` (none: to nobody).
    CheckpointRecipientChanged {
        email: Option<Email>,
    },
}

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }
    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub slug: Option<String>,
    /// Portals are on unless the firm switches theirs off.
    pub portal_inactive: bool,
    /// Every token issued, and whether it has been revoked.
    pub tokens: BTreeMap<Uuid, bool>,
    /// The firm's portal policies; `None` until it first sets them (the server's then).
    #[serde(default)]
    pub policies: Option<PortalPolicies>,
    /// Where new signed checkpoints are e-mailed, if anywhere.
    #[serde(default)]
    pub checkpoint_recipient: Option<Email>,
}

crate::domain_aggregate!(Tenant, "tenant", TenantCommand, TenantEvent);

impl Tenant {
    async fn decide(
        &mut self,
        command: TenantCommand,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let exists = self.slug.is_some();
        match command {
            TenantCommand::Create { .. } if exists => Err(DomainError::AlreadyExists("tenant")),
            _ if !exists && !matches!(command, TenantCommand::Create { .. }) => {
                Err(DomainError::NotFound("tenant"))
            }
            TenantCommand::Create { slug, name } => {
                sink.write(TenantEvent::TenantCreated { slug, name }, self)
                    .await;
                Ok(())
            }
            TenantCommand::SetPortalActive { active } => {
                if active == self.portal_inactive {
                    sink.write(TenantEvent::PortalActivationChanged { active }, self)
                        .await;
                }
                Ok(())
            }
            TenantCommand::IssueStaffToken {
                token_id,
                role,
                label,
                holder,
                expires_at,
            } => {
                if self.tokens.contains_key(&token_id) {
                    return Err(DomainError::AlreadyExists("token"));
                }
                let issued = TenantEvent::StaffTokenIssued {
                    token_id,
                    role,
                    label,
                    holder,
                    expires_at,
                };
                sink.write(issued, self).await;
                Ok(())
            }
            TenantCommand::SetPolicies { change } => {
                if !change.out_of_bounds().is_empty() {
                    return Err(DomainError::PolicyOutOfBounds);
                }
                let policies = change.applied_to(self.policies.unwrap_or_default());
                // Asking for what is already in force writes nothing.
                if Some(policies) != self.policies {
                    sink.write(TenantEvent::PortalPoliciesChanged { policies }, self)
                        .await;
                }
                Ok(())
            }
            TenantCommand::SetCheckpointRecipient { email } => {
                // Naming the address already in force writes nothing.
                if email != self.checkpoint_recipient {
                    sink.write(TenantEvent::CheckpointRecipientChanged { email }, self)
                        .await;
                }
                Ok(())
            }
            TenantCommand::RevokeStaffToken { token_id } => {
                match self.tokens.get(&token_id) {
                    None => return Err(DomainError::NotFound("token")),
                    // Revoking again changes nothing and writes nothing.
                    Some(revoked) if *revoked => {}
                    Some(_) => {
                        sink.write(TenantEvent::StaffTokenRevoked { token_id }, self)
                            .await
                    }
                }
                Ok(())
            }
        }
    }

    fn evolve(&mut self, event: TenantEvent) {
        match event {
            TenantEvent::TenantCreated { slug, .. } => self.slug = Some(slug),
            TenantEvent::PortalActivationChanged { active } => self.portal_inactive = !active,
            TenantEvent::StaffTokenIssued { token_id, .. } => {
                self.tokens.insert(token_id, false);
            }
            TenantEvent::StaffTokenRevoked { token_id } => {
                self.tokens.insert(token_id, true);
            }
            TenantEvent::PortalPoliciesChanged { policies } => self.policies = Some(policies),
            TenantEvent::CheckpointRecipientChanged { email } => self.checkpoint_recipient = email,
        }
    }
}

/// A tenant slug appears in portal URLs: lowercase letters, digits and single hyphens.
pub fn parse_slug(raw: &str) -> Result<String, String> {
    let ok = (2..=63).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !raw.starts_with('-')
        && !raw.ends_with('-')
        && !raw.contains("--");
    if ok {
        Ok(raw.to_string())
    } else {
        Err("must be 2-63 lowercase letters, digits and single hyphens".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Check;
    use cqrs_es::test::TestFramework;

    type Given = TestFramework<Tenant>;

    fn created() -> TenantEvent {
        TenantEvent::TenantCreated {
            slug: "acme".into(),
            name: "Acme".into(),
        }
    }

    #[tokio::test]
    async fn switching_the_portal_off_and_on() {
        Given::writes(
            vec![created()],
            TenantCommand::SetPortalActive { active: true },
            vec![],
        )
        .await;
        Given::writes(
            vec![created()],
            TenantCommand::SetPortalActive { active: false },
            vec![TenantEvent::PortalActivationChanged { active: false }],
        )
        .await;
    }

    fn issued(token: u128) -> TenantEvent {
        TenantEvent::StaffTokenIssued {
            token_id: Uuid::from_u128(token),
            role: StaffRole::Staff,
            label: None,
            holder: TokenHolder::Service,
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn a_token_is_revoked_once_and_unknown_tokens_are_not_found() {
        let revoke = TenantCommand::RevokeStaffToken {
            token_id: Uuid::from_u128(7),
        };
        Given::writes(
            vec![created(), issued(7)],
            revoke.clone(),
            vec![TenantEvent::StaffTokenRevoked {
                token_id: Uuid::from_u128(7),
            }],
        )
        .await;
        Given::writes(
            vec![
                created(),
                issued(7),
                TenantEvent::StaffTokenRevoked {
                    token_id: Uuid::from_u128(7),
                },
            ],
            revoke.clone(),
            vec![],
        )
        .await;
        Given::refuses(vec![created()], revoke, DomainError::NotFound("token")).await;
    }

    #[test]
    fn the_lower_of_two_roles_allows_what_both_allow() {
        use StaffRole::*;
        assert_eq!(Admin.lower(Staff), Staff);
        assert_eq!(Auditor.lower(Admin), Auditor);
        assert_eq!(Staff.lower(Staff), Staff);
        assert_eq!(Staff.lower(Auditor), Reporting);
        assert_eq!(Reporting.lower(Admin), Reporting);
    }

    #[test]
    fn token_events_from_before_staff_members_read_as_unnamed() {
        let old = serde_json::json!({"StaffTokenIssued": {"token_id": "0195a6a0-0000-7000-8000-000000000001", "role": "admin", "label": "me"}});
        let event: TenantEvent = serde_json::from_value(old).unwrap();
        assert!(matches!(
            event,
            TenantEvent::StaffTokenIssued {
                holder: TokenHolder::Unnamed,
                expires_at: None,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn an_unknown_tenant_takes_no_settings() {
        Given::refuses(
            vec![],
            TenantCommand::SetPortalActive { active: false },
            DomainError::NotFound("tenant"),
        )
        .await;
    }

    #[tokio::test]
    async fn the_checkpoint_recipient_is_recorded_only_when_it_changes() {
        let auditor = || Some(Email::parse("audit@firm.example").unwrap());
        let set = || TenantEvent::CheckpointRecipientChanged { email: auditor() };
        Given::writes(
            vec![created()],
            TenantCommand::SetCheckpointRecipient { email: auditor() },
            vec![set()],
        )
        .await;
        Given::writes(
            vec![created(), set()],
            TenantCommand::SetCheckpointRecipient { email: auditor() },
            vec![],
        )
        .await;
        Given::writes(
            vec![created(), set()],
            TenantCommand::SetCheckpointRecipient { email: None },
            vec![TenantEvent::CheckpointRecipientChanged { email: None }],
        )
        .await;
        Given::writes(
            vec![created()],
            TenantCommand::SetCheckpointRecipient { email: None },
            vec![],
        )
        .await;
    }

    #[test]
    fn slugs() {
        assert!(parse_slug("acme-accounting").is_ok());
        for bad in ["A", "acme_", "-acme", "ac--me", "x", "Acme"] {
            assert!(parse_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_policy_change_records_every_policy_in_force() {
        let created = TenantEvent::TenantCreated {
            slug: "acme".into(),
            name: "Acme".into(),
        };
        let change = PolicyChange {
            session_hours: Some(2),
            lockout_failures: Some(3),
            ..Default::default()
        };
        Given::with(())
            .given(vec![created.clone()])
            .when(TenantCommand::SetPolicies { change })
            .then_expect_events(vec![TenantEvent::PortalPoliciesChanged {
                policies: PortalPolicies {
                    session_hours: 2,
                    lockout_failures: 3,
                    ..PortalPolicies::default()
                },
            }]);
        // What is in force asked for again: nothing to record.
        let changed = TenantEvent::PortalPoliciesChanged {
            policies: PortalPolicies::default(),
        };
        Given::with(())
            .given(vec![created.clone(), changed])
            .when(TenantCommand::SetPolicies {
                change: PolicyChange {
                    invitation_ttl_days: Some(14),
                    ..Default::default()
                },
            })
            .then_expect_events(vec![]);
        // Out of bounds: refused whole.
        Given::with(())
            .given(vec![created])
            .when(TenantCommand::SetPolicies {
                change: PolicyChange {
                    session_hours: Some(4),
                    lockout_failures: Some(0),
                    ..Default::default()
                },
            })
            .then_expect_error(DomainError::PolicyOutOfBounds);
    }
}
