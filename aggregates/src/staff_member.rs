//! A staff member: a named person at the firm, with an e-mail and a role; created by an
//! admin, renamed, re-roled, disabled and enabled. Tokens act for a member, so every event
//! can name the person behind it.

use cqrs_es::event_sink::EventSink;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, IntoStaticStr, VariantArray};

use crate::tenant::StaffRole;
use crate::values::{Email, PersonName};
use crate::{DomainError, EVENT_VERSION};

#[derive(Debug, Clone, PartialEq)]
pub enum StaffMemberCommand {
    Create {
        name: PersonName,
        email: Email,
        role: StaffRole,
    },
    /// Changes what is given; what equals the current value writes nothing.
    Change {
        name: Option<PersonName>,
        email: Option<Email>,
        role: Option<StaffRole>,
    },
    Disable,
    Enable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumDiscriminants)]
#[strum_discriminants(name(StaffMemberEventKind), derive(Hash, IntoStaticStr, VariantArray))]
pub enum StaffMemberEvent {
    StaffMemberCreated {
        name: PersonName,
        email: Email,
        role: StaffRole,
    },
    StaffMemberRenamed {
        name: PersonName,
    },
    StaffMemberEmailChanged {
        email: Email,
    },
    StaffMemberRoleChanged {
        role: StaffRole,
    },
    StaffMemberDisabled {},
    StaffMemberEnabled {},
}

impl DomainEvent for StaffMemberEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }
    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: PersonName,
    pub email: Email,
    pub role: StaffRole,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StaffMember {
    pub profile: Option<Profile>,
    pub disabled: bool,
}

impl StaffMember {
    /// Whether the member exists and may act now.
    pub fn is_active(&self) -> bool {
        self.profile.is_some() && !self.disabled
    }
}

crate::domain_aggregate!(
    StaffMember,
    "staff_member",
    StaffMemberCommand,
    StaffMemberEvent
);

impl StaffMember {
    async fn decide(
        &mut self,
        command: StaffMemberCommand,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        use StaffMemberCommand as C;
        use StaffMemberEvent as E;
        let Some(profile) = self.profile.clone() else {
            let C::Create { name, email, role } = command else {
                return Err(DomainError::NotFound("staff member"));
            };
            sink.write(E::StaffMemberCreated { name, email, role }, self)
                .await;
            return Ok(());
        };
        match command {
            C::Create { .. } => return Err(DomainError::AlreadyExists("staff member")),
            C::Change { name, email, role } => {
                if let Some(name) = name.filter(|n| *n != profile.name) {
                    sink.write(E::StaffMemberRenamed { name }, self).await;
                }
                if let Some(email) = email.filter(|e| *e != profile.email) {
                    sink.write(E::StaffMemberEmailChanged { email }, self).await;
                }
                if let Some(role) = role.filter(|r| *r != profile.role) {
                    sink.write(E::StaffMemberRoleChanged { role }, self).await;
                }
            }
            C::Disable if self.disabled => return Err(DomainError::StaffMemberAlreadyDisabled),
            C::Disable => sink.write(E::StaffMemberDisabled {}, self).await,
            C::Enable if !self.disabled => return Err(DomainError::StaffMemberNotDisabled),
            C::Enable => sink.write(E::StaffMemberEnabled {}, self).await,
        }
        Ok(())
    }

    fn evolve(&mut self, event: StaffMemberEvent) {
        use StaffMemberEvent as E;
        match event {
            E::StaffMemberCreated { name, email, role } => {
                self.profile = Some(Profile { name, email, role })
            }
            E::StaffMemberRenamed { name } => {
                if let Some(p) = self.profile.as_mut() {
                    p.name = name;
                }
            }
            E::StaffMemberEmailChanged { email } => {
                if let Some(p) = self.profile.as_mut() {
                    p.email = email;
                }
            }
            E::StaffMemberRoleChanged { role } => {
                if let Some(p) = self.profile.as_mut() {
                    p.role = role;
                }
            }
            E::StaffMemberDisabled {} => self.disabled = true,
            E::StaffMemberEnabled {} => self.disabled = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Check;
    use cqrs_es::test::TestFramework;

    type Given = TestFramework<StaffMember>;
    use StaffMemberCommand as C;
    use StaffMemberEvent as E;

    fn name(n: &str) -> PersonName {
        PersonName::parse(n).unwrap()
    }
    fn email(e: &str) -> Email {
        Email::parse(e).unwrap()
    }
    fn created() -> E {
        E::StaffMemberCreated {
            name: name("Sam Clerk"),
            email: email("sam@firm.example"),
            role: StaffRole::Staff,
        }
    }

    #[tokio::test]
    async fn an_admin_creates_a_member_once() {
        let create = C::Create {
            name: name("Sam Clerk"),
            email: email("sam@firm.example"),
            role: StaffRole::Staff,
        };
        Given::creates_once(create, created(), "staff member").await;
    }

    #[tokio::test]
    async fn a_change_writes_only_what_differs() {
        Given::writes(
            vec![created()],
            C::Change {
                name: Some(name("Sam Clerk")),
                email: Some(email("samuel@firm.example")),
                role: Some(StaffRole::Admin),
            },
            vec![
                E::StaffMemberEmailChanged {
                    email: email("samuel@firm.example"),
                },
                E::StaffMemberRoleChanged {
                    role: StaffRole::Admin,
                },
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn renaming_an_unknown_member_is_refused() {
        Given::refuses(
            vec![],
            C::Change {
                name: Some(name("X")),
                email: None,
                role: None,
            },
            DomainError::NotFound("staff member"),
        )
        .await;
    }

    #[tokio::test]
    async fn disabling_and_enabling_go_back_and_forth_once_each() {
        Given::writes(vec![created()], C::Disable, vec![E::StaffMemberDisabled {}]).await;
        Given::refuses(
            vec![created(), E::StaffMemberDisabled {}],
            C::Disable,
            DomainError::StaffMemberAlreadyDisabled,
        )
        .await;
        Given::writes(
            vec![created(), E::StaffMemberDisabled {}],
            C::Enable,
            vec![E::StaffMemberEnabled {}],
        )
        .await;
        Given::refuses(
            vec![created()],
            C::Enable,
            DomainError::StaffMemberNotDisabled,
        )
        .await;
    }
}
