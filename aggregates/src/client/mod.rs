//! The client: someone a firm serves (a person or an organisation), its invitation to the
//! portal, which portal users reach it, and which items are on its portal.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, IntoStaticStr, VariantArray};
use uuid::Uuid;

mod commands;
mod erasure;
#[cfg(test)]
mod fixtures;
mod legal_hold;

use crate::values::{ClientKind, DisplayName, Email, ExternalRef, Reason};
use crate::{DomainError, EVENT_VERSION};

#[derive(Debug, Clone, PartialEq)]
pub enum ClientCommand {
    Register {
        display_name: DisplayName,
        kind: ClientKind,
        email: Option<Email>,
        external_ref: Option<ExternalRef>,
    },
    Rename {
        display_name: DisplayName,
    },
    ChangeEmail {
        email: Option<Email>,
    },
    /// InviteClient. `has_active_login` is read from the client's portal users by the caller:
    /// their state lives in their own streams; `portal_active` from the firm's stream (a
    /// link to a switched-off portal could not be used).
    Invite {
        invitation_id: Uuid,
        expires_at: DateTime<Utc>,
        has_active_login: bool,
        portal_active: bool,
    },
    RevokeInvitation,
    AcceptInvitation {
        invitation_id: Uuid,
        portal_user_id: Uuid,
        now: DateTime<Utc>,
    },
    AttachPortalUser {
        portal_user_id: Uuid,
    },
    DetachPortalUser {
        portal_user_id: Uuid,
    },
    AssignItem {
        item_id: Uuid,
    },
    UnassignItem {
        item_id: Uuid,
    },
    /// Takes a client out of lists and counts (a test client, a former client).
    /// `has_active_login` is read from its portal users by the caller, as for `Invite`.
    Archive {
        has_active_login: bool,
    },
    Unarchive,
    /// Keeps the client's records from being erased until released (a dispute, a
    /// regulator's request), saying why.
    SetLegalHold {
        reason: Reason,
    },
    ReleaseLegalHold {
        reason: Reason,
    },
    /// EraseClient: makes the client's personal data (and its logins') unreadable for good.
    Erase {
        reason: Reason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// Staff revoked it.
    Revoked,
    /// A newer invitation replaced it.
    Replaced,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumDiscriminants)]
#[strum_discriminants(name(ClientEventKind), derive(Hash, IntoStaticStr, VariantArray))]
pub enum ClientEvent {
    ClientRegistered {
        display_name: DisplayName,
        kind: ClientKind,
        email: Option<Email>,
        external_ref: Option<ExternalRef>,
    },
    ClientRenamed {
        display_name: DisplayName,
    },
    ClientEmailChanged {
        email: Option<Email>,
    },
    ClientInvited {
        invitation_id: Uuid,
        email: Email,
        expires_at: DateTime<Utc>,
    },
    InvitationRevoked {
        invitation_id: Uuid,
        reason: RevocationReason,
    },
    InvitationAccepted {
        invitation_id: Uuid,
        portal_user_id: Uuid,
    },
    PortalUserAttached {
        portal_user_id: Uuid,
    },
    PortalUserDetached {
        portal_user_id: Uuid,
    },
    ItemAssigned {
        item_id: Uuid,
    },
    ItemUnassigned {
        item_id: Uuid,
    },
    ClientArchived {},
    ClientUnarchived {},
    LegalHoldSet {
        reason: Reason,
    },
    LegalHoldReleased {
        reason: Reason,
    },
    /// The client's personal data was erased (its data keys destroyed): who and when are in
    /// the metadata; the reason says why, and holds no personal field.
    ClientErased {
        reason: Reason,
    },
}

impl DomainEvent for ClientEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Open,
    Revoked,
    Accepted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: Uuid,
    /// Where it was sent: the address the login made from it gets.
    pub email: Email,
    pub expires_at: DateTime<Utc>,
    pub state: InvitationState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientProfile {
    pub display_name: DisplayName,
    pub kind: ClientKind,
    pub email: Option<Email>,
    pub external_ref: Option<ExternalRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Client {
    pub profile: Option<ClientProfile>,
    /// The latest invitation; older ones are revoked by the time a newer one exists.
    pub invitation: Option<Invitation>,
    pub portal_users: BTreeSet<Uuid>,
    pub items: BTreeSet<Uuid>,
    pub archived: bool,
    /// Why the records are held, while they are (absent from states before holds).
    #[serde(default)]
    pub legal_hold: Option<Reason>,
    /// Whether its personal data was erased: it then takes no command.
    #[serde(default)]
    pub erased: bool,
}

impl Client {
    fn profile(&self) -> Result<&ClientProfile, DomainError> {
        self.profile.as_ref().ok_or(DomainError::NotFound("client"))
    }

    pub fn is_registered(&self) -> bool {
        self.profile.is_some()
    }

    pub fn open_invitation(&self) -> Option<&Invitation> {
        self.invitation
            .as_ref()
            .filter(|i| i.state == InvitationState::Open)
    }
}

crate::domain_aggregate!(Client, "client", ClientCommand, ClientEvent);

impl Client {
    async fn decide(
        &mut self,
        command: ClientCommand,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        use ClientCommand as C;
        if let C::Register {
            display_name,
            kind,
            email,
            external_ref,
        } = command
        {
            let profile = ClientProfile {
                display_name,
                kind,
                email,
                external_ref,
            };
            return self.register(profile, sink).await;
        }
        let profile = self.profile()?.clone();
        if self.erased {
            return Err(DomainError::ClientErased);
        }
        // An archived client takes no commands but being brought back, having access and
        // items taken away, and holds on its records (a former client's are the ones held).
        let cleanup = matches!(
            command,
            C::Unarchive
                | C::DetachPortalUser { .. }
                | C::UnassignItem { .. }
                | C::RevokeInvitation
                | C::SetLegalHold { .. }
                | C::ReleaseLegalHold { .. }
                | C::Erase { .. }
        );
        if self.archived && !cleanup {
            return Err(DomainError::ClientArchived);
        }
        match command {
            C::Register { .. } => unreachable!("handled above"),
            C::Archive { has_active_login } => self.archive(has_active_login, sink).await,
            C::Unarchive => self.unarchive(sink).await,
            C::Rename { display_name } => self.rename(&profile, display_name, sink).await,
            C::ChangeEmail { email } => self.change_email(&profile, email, sink).await,
            C::Invite {
                invitation_id,
                expires_at,
                has_active_login,
                portal_active,
            } => {
                if !portal_active {
                    return Err(DomainError::PortalInactive);
                }
                let invitation = (invitation_id, expires_at);
                self.invite(&profile, invitation, has_active_login, sink)
                    .await
            }
            C::RevokeInvitation => self.revoke_invitation(sink).await,
            C::AcceptInvitation {
                invitation_id,
                portal_user_id,
                now,
            } => {
                let ids = (invitation_id, portal_user_id);
                self.accept_invitation(&profile, ids, now, sink).await
            }
            C::AttachPortalUser { portal_user_id } => {
                self.attach_portal_user(&profile, portal_user_id, sink)
                    .await
            }
            C::DetachPortalUser { portal_user_id } => {
                self.detach_portal_user(portal_user_id, sink).await
            }
            C::AssignItem { item_id } => self.assign_item(item_id, sink).await,
            C::UnassignItem { item_id } => self.unassign_item(item_id, sink).await,
            C::SetLegalHold { reason } => self.set_legal_hold(reason, sink).await,
            C::ReleaseLegalHold { reason } => self.release_legal_hold(reason, sink).await,
            C::Erase { reason } => self.erase(reason, sink).await,
        }
    }

    fn evolve(&mut self, event: ClientEvent) {
        use ClientEvent as E;
        match event {
            E::ClientArchived {} => self.archived = true,
            E::ClientUnarchived {} => self.archived = false,
            E::LegalHoldSet { reason } => self.legal_hold = Some(reason),
            E::LegalHoldReleased { .. } => self.legal_hold = None,
            E::ClientErased { .. } => self.erased = true,
            E::ClientRegistered {
                display_name,
                kind,
                email,
                external_ref,
            } => {
                self.profile = Some(ClientProfile {
                    display_name,
                    kind,
                    email,
                    external_ref,
                })
            }
            E::ClientRenamed { display_name } => {
                if let Some(p) = self.profile.as_mut() {
                    p.display_name = display_name;
                }
            }
            E::ClientEmailChanged { email } => {
                if let Some(p) = self.profile.as_mut() {
                    p.email = email;
                }
            }
            E::ClientInvited {
                invitation_id,
                email,
                expires_at,
            } => {
                self.invitation = Some(Invitation {
                    id: invitation_id,
                    email,
                    expires_at,
                    state: InvitationState::Open,
                })
            }
            E::InvitationRevoked { invitation_id, .. } => {
                self.set_invitation_state(invitation_id, InvitationState::Revoked)
            }
            E::InvitationAccepted { invitation_id, .. } => {
                self.set_invitation_state(invitation_id, InvitationState::Accepted)
            }
            E::PortalUserAttached { portal_user_id } => {
                self.portal_users.insert(portal_user_id);
            }
            E::PortalUserDetached { portal_user_id } => {
                self.portal_users.remove(&portal_user_id);
            }
            E::ItemAssigned { item_id } => {
                self.items.insert(item_id);
            }
            E::ItemUnassigned { item_id } => {
                self.items.remove(&item_id);
            }
        }
    }
}

impl Client {
    fn set_invitation_state(&mut self, invitation_id: Uuid, state: InvitationState) {
        if let Some(i) = self.invitation.as_mut().filter(|i| i.id == invitation_id) {
            i.state = state;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Check;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    type Given = TestFramework<Client>;
    use ClientCommand as C;
    use ClientEvent as E;

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 12, 0, 0).unwrap()
    }
    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
    fn email() -> Email {
        Email::parse("jo@example.org").unwrap()
    }
    fn attach(n: u128) -> C {
        C::AttachPortalUser {
            portal_user_id: id(n),
        }
    }
    fn attached(n: u128) -> E {
        E::PortalUserAttached {
            portal_user_id: id(n),
        }
    }
    fn detached(n: u128) -> E {
        E::PortalUserDetached {
            portal_user_id: id(n),
        }
    }
    fn registered(kind: ClientKind, email: Option<Email>) -> E {
        E::ClientRegistered {
            display_name: DisplayName::parse("Jo Smith").unwrap(),
            kind,
            email,
            external_ref: None,
        }
    }
    fn invite(n: u128, has_active_login: bool) -> C {
        C::Invite {
            invitation_id: id(n),
            expires_at: t(15),
            has_active_login,
            portal_active: true,
        }
    }
    fn invited(n: u128) -> E {
        E::ClientInvited {
            invitation_id: id(n),
            email: email(),
            expires_at: t(15),
        }
    }

    #[tokio::test]
    async fn registering_twice_is_refused() {
        Given::refuses(
            vec![registered(ClientKind::Individual, None)],
            C::Register {
                display_name: DisplayName::parse("X").unwrap(),
                kind: ClientKind::Individual,
                email: None,
                external_ref: None,
            },
            DomainError::AlreadyExists("client"),
        )
        .await;
    }

    #[tokio::test]
    async fn commands_on_an_unregistered_client_are_not_found() {
        Given::refuses(vec![], invite(1, false), DomainError::NotFound("client")).await;
    }

    #[tokio::test]
    async fn a_client_with_an_email_is_invited() {
        Given::writes(
            vec![registered(ClientKind::Individual, Some(email()))],
            invite(1, false),
            vec![invited(1)],
        )
        .await;
    }

    #[tokio::test]
    async fn nobody_is_invited_to_a_switched_off_portal() {
        let closed = C::Invite {
            invitation_id: id(1),
            expires_at: t(15),
            has_active_login: false,
            portal_active: false,
        };
        Given::refuses(
            vec![registered(ClientKind::Individual, Some(email()))],
            closed,
            DomainError::PortalInactive,
        )
        .await;
    }

    #[tokio::test]
    async fn a_client_without_email_cannot_be_invited() {
        Given::refuses(
            vec![registered(ClientKind::Organisation, None)],
            invite(1, false),
            DomainError::ClientHasNoEmail,
        )
        .await;
    }

    #[tokio::test]
    async fn a_client_with_an_active_login_is_not_invited() {
        Given::refuses(
            vec![registered(ClientKind::Organisation, Some(email()))],
            invite(1, true),
            DomainError::ClientAlreadyActive,
        )
        .await;
    }

    #[tokio::test]
    async fn an_individual_with_a_portal_user_is_not_invited() {
        Given::refuses(
            vec![
                registered(ClientKind::Individual, Some(email())),
                attached(9),
            ],
            invite(1, false),
            DomainError::IndividualClientHasUser,
        )
        .await;
    }

    #[tokio::test]
    async fn inviting_again_replaces_the_open_invitation() {
        Given::writes(
            vec![
                registered(ClientKind::Individual, Some(email())),
                invited(1),
            ],
            invite(2, false),
            vec![
                E::InvitationRevoked {
                    invitation_id: id(1),
                    reason: RevocationReason::Replaced,
                },
                invited(2),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn revoking_needs_an_open_invitation() {
        Given::refuses(
            vec![registered(ClientKind::Individual, Some(email()))],
            C::RevokeInvitation,
            DomainError::NoOpenInvitation,
        )
        .await;
        Given::writes(
            vec![
                registered(ClientKind::Individual, Some(email())),
                invited(1),
            ],
            C::RevokeInvitation,
            vec![E::InvitationRevoked {
                invitation_id: id(1),
                reason: RevocationReason::Revoked,
            }],
        )
        .await;
    }

    #[tokio::test]
    async fn accepting_the_current_invitation_attaches_the_user() {
        Given::writes(
            vec![
                registered(ClientKind::Individual, Some(email())),
                invited(1),
            ],
            C::AcceptInvitation {
                invitation_id: id(1),
                portal_user_id: id(7),
                now: t(2),
            },
            vec![
                E::InvitationAccepted {
                    invitation_id: id(1),
                    portal_user_id: id(7),
                },
                attached(7),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn expired_replaced_revoked_and_used_invitations_are_all_invalid() {
        let base = || {
            vec![
                registered(ClientKind::Organisation, Some(email())),
                invited(1),
            ]
        };
        let accept = |n: u128, now| C::AcceptInvitation {
            invitation_id: id(n),
            portal_user_id: id(7),
            now,
        };
        let cases: Vec<(Vec<E>, C)> = vec![
            (base(), accept(1, t(15))),
            (
                [
                    base(),
                    vec![
                        E::InvitationRevoked {
                            invitation_id: id(1),
                            reason: RevocationReason::Replaced,
                        },
                        invited(2),
                    ],
                ]
                .concat(),
                accept(1, t(2)),
            ),
            (
                [
                    base(),
                    vec![E::InvitationRevoked {
                        invitation_id: id(1),
                        reason: RevocationReason::Revoked,
                    }],
                ]
                .concat(),
                accept(1, t(2)),
            ),
            (
                [
                    base(),
                    vec![E::InvitationAccepted {
                        invitation_id: id(1),
                        portal_user_id: id(6),
                    }],
                ]
                .concat(),
                accept(1, t(2)),
            ),
            (base(), accept(99, t(2))),
        ];
        for (given, when) in cases {
            Given::refuses(given, when, DomainError::InvitationInvalid).await;
        }
    }

    #[tokio::test]
    async fn an_individual_client_takes_one_portal_user() {
        Given::refuses(
            vec![
                registered(ClientKind::Individual, Some(email())),
                attached(1),
            ],
            attach(2),
            DomainError::IndividualClientHasUser,
        )
        .await;
    }

    #[tokio::test]
    async fn an_individual_whose_user_was_detached_takes_a_new_one() {
        Given::writes(
            vec![
                registered(ClientKind::Individual, Some(email())),
                attached(1),
                detached(1),
            ],
            attach(2),
            vec![attached(2)],
        )
        .await;
    }

    #[tokio::test]
    async fn an_organisation_takes_many_portal_users() {
        Given::writes(
            vec![registered(ClientKind::Organisation, None), attached(1)],
            attach(2),
            vec![attached(2)],
        )
        .await;
    }

    #[tokio::test]
    async fn items_are_assigned_once_and_unassigned_only_when_assigned() {
        let base = vec![registered(ClientKind::Organisation, None)];
        Given::writes(
            base.clone(),
            C::AssignItem { item_id: id(3) },
            vec![E::ItemAssigned { item_id: id(3) }],
        )
        .await;
        Given::refuses(
            [base.clone(), vec![E::ItemAssigned { item_id: id(3) }]].concat(),
            C::AssignItem { item_id: id(3) },
            DomainError::ItemAlreadyAssigned,
        )
        .await;
        Given::refuses(
            base,
            C::UnassignItem { item_id: id(3) },
            DomainError::ItemNotAssigned,
        )
        .await;
    }

    #[tokio::test]
    async fn unchanged_details_write_nothing() {
        Given::writes(
            vec![registered(ClientKind::Individual, Some(email()))],
            C::ChangeEmail {
                email: Some(email()),
            },
            vec![],
        )
        .await;
        Given::writes(
            vec![registered(ClientKind::Individual, Some(email()))],
            C::ChangeEmail { email: None },
            vec![E::ClientEmailChanged { email: None }],
        )
        .await;
    }

    #[tokio::test]
    async fn archiving_revokes_the_open_invitation_and_stops_commands_until_unarchived() {
        let org = || registered(ClientKind::Organisation, Some(email()));
        Given::writes(
            vec![org(), invited(1)],
            C::Archive {
                has_active_login: false,
            },
            vec![
                E::InvitationRevoked {
                    invitation_id: id(1),
                    reason: RevocationReason::Revoked,
                },
                E::ClientArchived {},
            ],
        )
        .await;
        Given::refuses(
            vec![org()],
            C::Archive {
                has_active_login: true,
            },
            DomainError::ClientHasActiveLogins,
        )
        .await;
        for refused in [
            invite(2, false),
            C::AssignItem { item_id: id(9) },
            attach(7),
            C::Rename {
                display_name: DisplayName::parse("Renamed").unwrap(),
            },
        ] {
            Given::refuses(
                vec![org(), E::ClientArchived {}],
                refused,
                DomainError::ClientArchived,
            )
            .await;
        }
        Given::writes(
            vec![
                org(),
                E::ItemAssigned { item_id: id(9) },
                E::ClientArchived {},
            ],
            C::UnassignItem { item_id: id(9) },
            vec![E::ItemUnassigned { item_id: id(9) }],
        )
        .await;
        Given::writes(
            vec![org(), E::ClientArchived {}],
            C::Unarchive,
            vec![E::ClientUnarchived {}],
        )
        .await;
        Given::writes(
            vec![org(), E::ClientArchived {}, E::ClientUnarchived {}],
            invite(3, false),
            vec![invited(3)],
        )
        .await;
    }
}
