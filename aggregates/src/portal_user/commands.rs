//! The portal user's rules, one function per command; `PortalUser::handle` dispatches to
//! them with the live account they act on.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use uuid::Uuid;

use super::{
    Account, LinkLifetimes, LoginStatus, OneTimeLink, Origin, PasswordMethod, PersonNames,
    PortalUser, PortalUserEvent as E,
};
use crate::values::{Email, PersonName, Reason, Username};
use crate::DomainError;

type Done = Result<(), DomainError>;

/// What `Create` says about the new login.
pub(super) struct Creation {
    pub client_id: Uuid,
    pub username: Username,
    pub email: Email,
    pub names: PersonNames,
    pub origin: Origin,
    pub has_password: bool,
    pub activation: OneTimeLink,
}

impl PortalUser {
    pub(super) async fn create(&mut self, new: Creation, sink: &EventSink<Self>) -> Done {
        if self.account.is_some() {
            return Err(DomainError::AlreadyExists("portal user"));
        }
        let activated = new.has_password || matches!(new.origin, Origin::Invitation { .. });
        let created = E::PortalUserCreated {
            client_id: new.client_id,
            username: new.username,
            email: new.email,
            first_name: new.names.first_name,
            last_name: new.names.last_name,
            origin: new.origin,
            activated,
        };
        sink.write(created, self).await;
        if !activated {
            let link = E::ActivationLinkIssued {
                activation_id: new.activation.id,
                expires_at: new.activation.expires_at,
            };
            sink.write(link, self).await;
        }
        Ok(())
    }

    pub(super) async fn change_details(
        &mut self,
        account: &Account,
        (first_name, last_name): (Option<Option<PersonName>>, Option<Option<PersonName>>),
        email: Option<Email>,
        sink: &EventSink<Self>,
    ) -> Done {
        let names = PersonNames {
            first_name: first_name.unwrap_or(account.names.first_name.clone()),
            last_name: last_name.unwrap_or(account.names.last_name.clone()),
        };
        if names != account.names {
            let renamed = E::PortalUserRenamed {
                first_name: names.first_name,
                last_name: names.last_name,
            };
            sink.write(renamed, self).await;
        }
        if let Some(email) = email.filter(|e| *e != account.email) {
            sink.write(E::PortalUserEmailChanged { email }, self).await;
        }
        Ok(())
    }

    pub(super) async fn remind_username(
        &mut self,
        account: &Account,
        sink: &EventSink<Self>,
    ) -> Done {
        if account.disabled {
            return Err(DomainError::AlreadyDisabled);
        }
        sink.write(E::UsernameReminderIssued {}, self).await;
        Ok(())
    }

    pub(super) async fn grant_client_access(
        &mut self,
        account: &Account,
        client_id: Uuid,
        sink: &EventSink<Self>,
    ) -> Done {
        if account.clients.contains(&client_id) {
            return Err(DomainError::ClientAccessExists);
        }
        sink.write(E::ClientAccessGranted { client_id }, self).await;
        Ok(())
    }

    pub(super) async fn revoke_client_access(
        &mut self,
        account: &Account,
        client_id: Uuid,
        sink: &EventSink<Self>,
    ) -> Done {
        if !account.clients.contains(&client_id) {
            return Err(DomainError::ClientAccessNotFound);
        }
        if account.clients.len() == 1 {
            return Err(DomainError::LastClientAccess);
        }
        sink.write(E::ClientAccessRevoked { client_id }, self).await;
        Ok(())
    }

    /// A reset link for an activated login, an activation link for one not yet activated.
    pub(super) async fn send_reset_link(
        &mut self,
        account: &Account,
        (link_id, now): (Uuid, DateTime<Utc>),
        lifetimes: LinkLifetimes,
        sink: &EventSink<Self>,
    ) -> Done {
        let event = if account.activated {
            E::PasswordResetLinkIssued {
                reset_id: link_id,
                expires_at: now + lifetimes.reset,
            }
        } else {
            E::ActivationLinkIssued {
                activation_id: link_id,
                expires_at: now + lifetimes.activation,
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    /// A fresh activation link for a login that is waiting for activation, and for no other.
    pub(super) async fn resend_activation(
        &mut self,
        account: &Account,
        (activation_id, expires_at): (Uuid, DateTime<Utc>),
        sink: &EventSink<Self>,
    ) -> Done {
        if account.status() != LoginStatus::PendingActivation {
            return Err(DomainError::NotPending);
        }
        let event = E::ActivationLinkIssued {
            activation_id,
            expires_at,
        };
        sink.write(event, self).await;
        Ok(())
    }

    pub(super) async fn change_password(
        &mut self,
        account: &Account,
        sink: &EventSink<Self>,
    ) -> Done {
        if !account.activated {
            return Err(DomainError::NotActivated);
        }
        let method = PasswordMethod::ChangedByUser;
        sink.write(E::PasswordChanged { method }, self).await;
        Ok(())
    }

    pub(super) async fn set_password_by_staff(
        &mut self,
        account: &Account,
        sink: &EventSink<Self>,
    ) -> Done {
        let method = PasswordMethod::SetByStaff;
        sink.write(E::PasswordChanged { method }, self).await;
        if !account.activated {
            sink.write(E::PortalUserActivated { method }, self).await;
        }
        Ok(())
    }

    pub(super) async fn activate(
        &mut self,
        account: &Account,
        (activation_id, now): (Uuid, DateTime<Utc>),
        sink: &EventSink<Self>,
    ) -> Done {
        if account.activated
            || !OneTimeLink::is_usable(account.activation.as_ref(), activation_id, now)
        {
            return Err(DomainError::ActivationInvalid);
        }
        let method = PasswordMethod::ActivationLink;
        sink.write(E::PortalUserActivated { method }, self).await;
        Ok(())
    }

    pub(super) async fn complete_reset(
        &mut self,
        account: &Account,
        (reset_id, now): (Uuid, DateTime<Utc>),
        sink: &EventSink<Self>,
    ) -> Done {
        if !OneTimeLink::is_usable(account.reset.as_ref(), reset_id, now) {
            return Err(DomainError::ResetLinkInvalid);
        }
        let method = PasswordMethod::ResetLink;
        sink.write(E::PasswordChanged { method }, self).await;
        Ok(())
    }

    pub(super) async fn disable(
        &mut self,
        account: &Account,
        reason: Option<Reason>,
        sink: &EventSink<Self>,
    ) -> Done {
        if account.disabled {
            return Err(DomainError::AlreadyDisabled);
        }
        sink.write(E::LoginDisabled { reason }, self).await;
        Ok(())
    }

    pub(super) async fn enable(&mut self, account: &Account, sink: &EventSink<Self>) -> Done {
        if !account.disabled {
            return Err(DomainError::NotDisabled);
        }
        sink.write(E::LoginEnabled {}, self).await;
        Ok(())
    }

    pub(super) async fn unlock(&mut self, locked: bool, sink: &EventSink<Self>) -> Done {
        if !locked {
            return Err(DomainError::NotLocked);
        }
        sink.write(E::LoginUnlocked {}, self).await;
        Ok(())
    }

    pub(super) async fn remove(&mut self, account: &Account, sink: &EventSink<Self>) -> Done {
        let client_ids = account.clients.iter().copied().collect();
        sink.write(E::PortalAccessRemoved { client_ids }, self)
            .await;
        Ok(())
    }
}
