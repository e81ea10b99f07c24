//! A tenant: one firm. Its portal on/off setting and the staff tokens issued for it (the
//! token hashes live outside the log; the log records that a token was issued, and to whom).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, IntoStaticStr, VariantArray};
use uuid::Uuid;

use crate::{DomainError, EVENT_VERSION};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Admin,
    Staff,
    Auditor,
    Reporting,
}

impl StaffRole {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "admin" => Ok(Self::Admin),
            "staff" => Ok(Self::Staff),
            "auditor" => Ok(Self::Auditor),
            "reporting" => Ok(Self::Reporting),
            _ => Err("must be one of admin, staff, auditor, reporting".into()),
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
    },
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
}

impl Aggregate for Tenant {
    const TYPE: &'static str = "tenant";
    type Command = TenantCommand;
    type Event = TenantEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(
        &mut self,
        command: TenantCommand,
        _services: &(),
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
            } => {
                let issued = TenantEvent::StaffTokenIssued {
                    token_id,
                    role,
                    label,
                };
                sink.write(issued, self).await;
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: TenantEvent) {
        match event {
            TenantEvent::TenantCreated { slug, .. } => self.slug = Some(slug),
            TenantEvent::PortalActivationChanged { active } => self.portal_inactive = !active,
            TenantEvent::StaffTokenIssued { .. } => {}
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
        Given::with(())
            .given(vec![created()])
            .when_async(TenantCommand::SetPortalActive { active: true })
            .await
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![created()])
            .when_async(TenantCommand::SetPortalActive { active: false })
            .await
            .then_expect_events(vec![TenantEvent::PortalActivationChanged { active: false }]);
    }

    #[tokio::test]
    async fn an_unknown_tenant_takes_no_settings() {
        Given::with(())
            .given_no_previous_events()
            .when_async(TenantCommand::SetPortalActive { active: false })
            .await
            .then_expect_error(DomainError::NotFound("tenant"));
    }

    #[test]
    fn slugs() {
        assert!(parse_slug("acme-accounting").is_ok());
        for bad in ["A", "acme_", "-acme", "ac--me", "x", "Acme"] {
            assert!(parse_slug(bad).is_err(), "{bad}");
        }
    }
}
