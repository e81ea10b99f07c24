//! The client's rules, one function per command; `Client::handle` dispatches to them.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use uuid::Uuid;

use super::{Client, ClientEvent as E, ClientProfile, RevocationReason};
use crate::values::{ClientKind, DisplayName, Email};
use crate::DomainError;

type Done = Result<(), DomainError>;

impl Client {
    pub(super) async fn register(
        &mut self,
        profile: ClientProfile,
        sink: &EventSink<Self>,
    ) -> Done {
        if self.is_registered() {
            return Err(DomainError::AlreadyExists("client"));
        }
        let ClientProfile {
            display_name,
            kind,
            email,
            external_ref,
        } = profile;
        let event = E::ClientRegistered {
            display_name,
            kind,
            email,
            external_ref,
        };
        sink.write(event, self).await;
        Ok(())
    }

    pub(super) async fn archive(&mut self, has_active_login: bool, sink: &EventSink<Self>) -> Done {
        if has_active_login {
            return Err(DomainError::ClientHasActiveLogins);
        }
        // The invitation would otherwise still let someone in.
        if let Some(open) = self.open_invitation() {
            let revoked = E::InvitationRevoked {
                invitation_id: open.id,
                reason: RevocationReason::Revoked,
            };
            sink.write(revoked, self).await;
        }
        sink.write(E::ClientArchived {}, self).await;
        Ok(())
    }

    pub(super) async fn unarchive(&mut self, sink: &EventSink<Self>) -> Done {
        if self.archived {
            sink.write(E::ClientUnarchived {}, self).await;
        }
        Ok(())
    }

    pub(super) async fn rename(
        &mut self,
        profile: &ClientProfile,
        display_name: DisplayName,
        sink: &EventSink<Self>,
    ) -> Done {
        if display_name != profile.display_name {
            sink.write(E::ClientRenamed { display_name }, self).await;
        }
        Ok(())
    }

    pub(super) async fn change_email(
        &mut self,
        profile: &ClientProfile,
        email: Option<Email>,
        sink: &EventSink<Self>,
    ) -> Done {
        if email != profile.email {
            sink.write(E::ClientEmailChanged { email }, self).await;
        }
        Ok(())
    }

    pub(super) async fn invite(
        &mut self,
        profile: &ClientProfile,
        invitation: (Uuid, DateTime<Utc>),
        has_active_login: bool,
        sink: &EventSink<Self>,
    ) -> Done {
        let (invitation_id, expires_at) = invitation;
        let email = profile.email.clone().ok_or(DomainError::ClientHasNoEmail)?;
        if has_active_login {
            return Err(DomainError::ClientAlreadyActive);
        }
        if self.has_no_room_for_another_user(profile) {
            return Err(DomainError::IndividualClientHasUser);
        }
        if let Some(previous) = self.open_invitation() {
            let replaced = E::InvitationRevoked {
                invitation_id: previous.id,
                reason: RevocationReason::Replaced,
            };
            sink.write(replaced, self).await;
        }
        let invited = E::ClientInvited {
            invitation_id,
            email,
            expires_at,
        };
        sink.write(invited, self).await;
        Ok(())
    }

    pub(super) async fn revoke_invitation(&mut self, sink: &EventSink<Self>) -> Done {
        let open = self
            .open_invitation()
            .ok_or(DomainError::NoOpenInvitation)?;
        let revoked = E::InvitationRevoked {
            invitation_id: open.id,
            reason: RevocationReason::Revoked,
        };
        sink.write(revoked, self).await;
        Ok(())
    }

    pub(super) async fn accept_invitation(
        &mut self,
        profile: &ClientProfile,
        (invitation_id, portal_user_id): (Uuid, Uuid),
        now: DateTime<Utc>,
        sink: &EventSink<Self>,
    ) -> Done {
        // One answer for unknown, replaced, revoked, used and expired: a link holder learns
        // nothing about which.
        let usable = self
            .open_invitation()
            .is_some_and(|i| i.id == invitation_id && now < i.expires_at);
        if !usable {
            return Err(DomainError::InvitationInvalid);
        }
        if self.has_no_room_for_another_user(profile) {
            return Err(DomainError::IndividualClientHasUser);
        }
        let accepted = E::InvitationAccepted {
            invitation_id,
            portal_user_id,
        };
        sink.write(accepted, self).await;
        sink.write(E::PortalUserAttached { portal_user_id }, self)
            .await;
        Ok(())
    }

    pub(super) async fn attach_portal_user(
        &mut self,
        profile: &ClientProfile,
        portal_user_id: Uuid,
        sink: &EventSink<Self>,
    ) -> Done {
        if self.portal_users.contains(&portal_user_id) {
            return Err(DomainError::ClientAccessExists);
        }
        if self.has_no_room_for_another_user(profile) {
            return Err(DomainError::IndividualClientHasUser);
        }
        sink.write(E::PortalUserAttached { portal_user_id }, self)
            .await;
        Ok(())
    }

    pub(super) async fn detach_portal_user(
        &mut self,
        portal_user_id: Uuid,
        sink: &EventSink<Self>,
    ) -> Done {
        if !self.portal_users.contains(&portal_user_id) {
            return Err(DomainError::ClientAccessNotFound);
        }
        sink.write(E::PortalUserDetached { portal_user_id }, self)
            .await;
        Ok(())
    }

    pub(super) async fn assign_item(&mut self, item_id: Uuid, sink: &EventSink<Self>) -> Done {
        if self.items.contains(&item_id) {
            return Err(DomainError::ItemAlreadyAssigned);
        }
        sink.write(E::ItemAssigned { item_id }, self).await;
        Ok(())
    }

    pub(super) async fn unassign_item(&mut self, item_id: Uuid, sink: &EventSink<Self>) -> Done {
        if !self.items.contains(&item_id) {
            return Err(DomainError::ItemNotAssigned);
        }
        sink.write(E::ItemUnassigned { item_id }, self).await;
        Ok(())
    }

    /// Whether an individual client's single portal-user place is taken.
    pub(super) fn has_no_room_for_another_user(&self, profile: &ClientProfile) -> bool {
        profile.kind == ClientKind::Individual && !self.portal_users.is_empty()
    }
}
