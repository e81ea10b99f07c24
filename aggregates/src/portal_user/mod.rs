//! A portal user: one login (username, password kept outside the log) that reaches one or
//! more clients' portal areas, with its activation, password resets and disabling.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, IntoStaticStr, VariantArray};
use uuid::Uuid;

mod account;
mod commands;
pub mod factors;

use commands::Creation;

pub use account::{Account, LoginStatus};
pub use factors::{FactorMethod, Factors};

use crate::values::{Email, PersonName, Reason, Username};
use crate::{DomainError, EVENT_VERSION};

/// How long each kind of emailed link stays usable (the firm's policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLifetimes {
    pub reset: chrono::Duration,
    pub activation: chrono::Duration,
}

/// A one-time emailed link: only its id and expiry are recorded; the token in the URL is
/// derived from the id with a server secret and never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeLink {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

impl OneTimeLink {
    fn is_usable(link: Option<&Self>, id: Uuid, now: DateTime<Utc>) -> bool {
        link.is_some_and(|l| l.id == id && now < l.expires_at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "via")]
pub enum Origin {
    /// Staff created the login (CreatePortalUser).
    Staff,
    /// The client accepted an emailed invitation and chose username and password.
    Invitation { invitation_id: Uuid },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordMethod {
    SetByStaff,
    ResetLink,
    ActivationLink,
    /// The user changed it, signed in, giving the current one.
    ChangedByUser,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PortalUserCommand {
    /// CreatePortalUser, or the portal user made by accepting an invitation.
    /// `has_password`: a password was given (kept by the caller, outside the log), so the
    /// login is active at once; otherwise `activation` is the link to email.
    Create {
        client_id: Uuid,
        username: Username,
        email: Email,
        names: PersonNames,
        origin: Origin,
        has_password: bool,
        activation: OneTimeLink,
    },
    /// Staff change a login's name or e-mail address; what equals the current value
    /// writes nothing.
    ChangeDetails {
        /// `Some(None)` removes that part of the name; `None` leaves it.
        first_name: Option<Option<PersonName>>,
        last_name: Option<Option<PersonName>>,
        email: Option<Email>,
    },
    /// "Forgot username": e-mails the login its username (quietly skipped by the caller for
    /// logins that cannot log in; refused here for removed and disabled ones).
    RemindUsername,
    GrantClientAccess {
        client_id: Uuid,
    },
    RevokeClientAccess {
        client_id: Uuid,
    },
    /// ResetPassword in email-link mode (a pending user gets a fresh activation link instead).
    /// ResetPassword by e-mail (staff) or "forgot password" (the user): a reset link, or,
    /// to a login never activated, a fresh activation link; each kind lives as long as
    /// `lifetimes` says.
    SendResetLink {
        link_id: Uuid,
        now: DateTime<Utc>,
        lifetimes: LinkLifetimes,
    },
    /// Staff re-send the activation e-mail of a login waiting for activation: a fresh link
    /// that replaces the earlier ones (refused for any other login: `not_pending`).
    ResendActivation {
        link_id: Uuid,
        now: DateTime<Utc>,
        lifetime: chrono::Duration,
    },
    /// ResetPassword in set mode: staff typed the new password.
    SetPasswordByStaff,
    /// The user changed their password (the current one was checked by the caller: the
    /// hash lives outside the log).
    ChangePassword,
    Activate {
        activation_id: Uuid,
        now: DateTime<Utc>,
    },
    CompleteReset {
        reset_id: Uuid,
        now: DateTime<Utc>,
    },
    Disable {
        reason: Option<Reason>,
    },
    Enable,
    /// Lifts a lockout from failed logins. `locked` is read from the login counters by the
    /// caller (they live beside the log, not in it).
    Unlock {
        locked: bool,
    },
    Remove,
    /// A second factor the user confirmed (the caller checked the confirming code).
    AddSecondFactor {
        method: FactorMethod,
    },
    /// The user removed a factor (the caller checked a current code).
    RemoveSecondFactor {
        method: FactorMethod,
    },
    /// A passkey the user registered (the caller verified the authenticator's answer and
    /// keeps its public key under `passkey_id`).
    AddPasskey {
        passkey_id: Uuid,
    },
    RemovePasskey {
        passkey_id: Uuid,
    },
    /// Fresh recovery codes replace the old ones (made and kept hashed by the caller).
    IssueRecoveryCodes,
    /// A recovery code was used for a login (matched by the caller).
    UseRecoveryCode,
    /// Staff remove every factor and recovery code, saying why.
    ResetSecondFactors {
        reason: Reason,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumDiscriminants)]
#[strum_discriminants(name(PortalUserEventKind), derive(Hash, IntoStaticStr, VariantArray))]
pub enum PortalUserEvent {
    PortalUserCreated {
        client_id: Uuid,
        username: Username,
        email: Email,
        /// Absent from logins created before names were kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first_name: Option<PersonName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_name: Option<PersonName>,
        origin: Origin,
        activated: bool,
    },
    /// The login's name as it now stands (both parts).
    PortalUserRenamed {
        first_name: Option<PersonName>,
        last_name: Option<PersonName>,
    },
    PortalUserEmailChanged {
        email: Email,
    },
    /// The login's username was e-mailed to its address ("forgot username").
    UsernameReminderIssued {},
    ActivationLinkIssued {
        activation_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    PortalUserActivated {
        method: PasswordMethod,
    },
    PasswordChanged {
        method: PasswordMethod,
    },
    PasswordResetLinkIssued {
        reset_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    ClientAccessGranted {
        client_id: Uuid,
    },
    ClientAccessRevoked {
        client_id: Uuid,
    },
    LoginDisabled {
        reason: Option<Reason>,
    },
    LoginEnabled {},
    /// Staff lifted a lockout from failed logins.
    LoginUnlocked {},
    PortalAccessRemoved {
        client_ids: Vec<Uuid>,
    },
    /// A second factor was confirmed. Its secret is kept outside the log.
    SecondFactorAdded {
        method: FactorMethod,
    },
    SecondFactorRemoved {
        method: FactorMethod,
    },
    /// A passkey was registered; its public key is kept outside the log under this id.
    PasskeyAdded {
        passkey_id: Uuid,
    },
    PasskeyRemoved {
        passkey_id: Uuid,
    },
    /// Staff removed every factor and recovery code.
    SecondFactorsReset {
        reason: Reason,
    },
    /// `count` new recovery codes replace any earlier ones (only their hashes are kept,
    /// outside the log).
    RecoveryCodesIssued {
        count: u32,
    },
    /// A recovery code stood in for a factor at login; `left` remain.
    RecoveryCodeUsed {
        left: u32,
    },
}

impl DomainEvent for PortalUserEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

/// A login's name: both parts optional (a login made from an invitation has none until
/// staff add it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonNames {
    pub first_name: Option<PersonName>,
    pub last_name: Option<PersonName>,
}

impl PersonNames {
    /// "First Last", or whichever part there is; `None` without either.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(PersonName::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The names an individual client's own login starts with when the person gives none:
    /// the client's name, its last word as the last name ("Jo Anne Smith" → "Jo Anne",
    /// "Smith"). Only a suggestion the person may change; a one-word name is a first name.
    pub fn suggested_by(individual_client_name: &str) -> PersonNames {
        let name = individual_client_name.trim();
        let (first, last) = match name.rsplit_once(char::is_whitespace) {
            Some((first, last)) => (first.trim(), Some(last)),
            None => (name, None),
        };
        PersonNames {
            first_name: PersonName::parse(first).ok(),
            last_name: last.and_then(|l| PersonName::parse(l).ok()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.first_name.is_none() && self.last_name.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortalUser {
    pub account: Option<Account>,
}

impl PortalUser {
    /// The account, if it exists and has not been removed.
    fn live_account(&self) -> Result<&Account, DomainError> {
        let account = self
            .account
            .as_ref()
            .ok_or(DomainError::NotFound("portal user"))?;
        if account.removed {
            return Err(DomainError::PortalUserRemoved);
        }
        Ok(account)
    }

    pub fn status(&self) -> Option<LoginStatus> {
        self.account.as_ref().map(Account::status)
    }
}

crate::domain_aggregate!(
    PortalUser,
    "portal_user",
    PortalUserCommand,
    PortalUserEvent
);

impl PortalUser {
    async fn decide(
        &mut self,
        command: PortalUserCommand,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        use PortalUserCommand as C;
        if let C::Create {
            client_id,
            username,
            email,
            names,
            origin,
            has_password,
            activation,
        } = command
        {
            let new = Creation {
                client_id,
                username,
                email,
                names,
                origin,
                has_password,
                activation,
            };
            return self.create(new, sink).await;
        }
        // Links presented by a portal user answer alike whatever is wrong with them.
        match &command {
            C::Activate { .. } if self.account.as_ref().is_none_or(|a| a.removed) => {
                return Err(DomainError::ActivationInvalid)
            }
            C::CompleteReset { .. } if self.account.as_ref().is_none_or(|a| a.removed) => {
                return Err(DomainError::ResetLinkInvalid)
            }
            _ => {}
        }
        let account = self.live_account()?.clone();
        let a = &account;
        match command {
            C::Create { .. } => unreachable!("handled above"),
            C::ChangeDetails {
                first_name,
                last_name,
                email,
            } => {
                self.change_details(a, (first_name, last_name), email, sink)
                    .await
            }
            C::RemindUsername => self.remind_username(a, sink).await,
            C::GrantClientAccess { client_id } => {
                self.grant_client_access(a, client_id, sink).await
            }
            C::RevokeClientAccess { client_id } => {
                self.revoke_client_access(a, client_id, sink).await
            }
            C::SendResetLink {
                link_id,
                now,
                lifetimes,
            } => {
                self.send_reset_link(a, (link_id, now), lifetimes, sink)
                    .await
            }
            C::ResendActivation {
                link_id,
                now,
                lifetime,
            } => {
                self.resend_activation(a, (link_id, now + lifetime), sink)
                    .await
            }
            C::ChangePassword => self.change_password(a, sink).await,
            C::SetPasswordByStaff => self.set_password_by_staff(a, sink).await,
            C::Activate { activation_id, now } => {
                self.activate(a, (activation_id, now), sink).await
            }
            C::CompleteReset { reset_id, now } => {
                self.complete_reset(a, (reset_id, now), sink).await
            }
            C::Disable { reason } => self.disable(a, reason, sink).await,
            C::Enable => self.enable(a, sink).await,
            C::Unlock { locked } => self.unlock(locked, sink).await,
            C::Remove => self.remove(a, sink).await,
            C::AddSecondFactor { method } => self.add_second_factor(a, method, sink).await,
            C::RemoveSecondFactor { method } => self.remove_second_factor(a, method, sink).await,
            C::AddPasskey { passkey_id } => self.add_passkey(a, passkey_id, sink).await,
            C::RemovePasskey { passkey_id } => self.remove_passkey(a, passkey_id, sink).await,
            C::IssueRecoveryCodes => self.issue_recovery_codes(a, sink).await,
            C::UseRecoveryCode => self.use_recovery_code(a, sink).await,
            C::ResetSecondFactors { reason } => self.reset_second_factors(a, reason, sink).await,
        }
    }

    fn evolve(&mut self, event: PortalUserEvent) {
        use PortalUserEvent as E;
        if let E::PortalUserCreated {
            client_id,
            username,
            email,
            first_name,
            last_name,
            activated,
            ..
        } = event
        {
            let names = PersonNames {
                first_name,
                last_name,
            };
            let account = Account::created(client_id, username, email, names, activated);
            self.account = Some(account);
            return;
        }
        let Some(account) = self.account.as_mut() else {
            return;
        };
        match event {
            E::PortalUserCreated { .. } => {}
            E::PortalUserRenamed {
                first_name,
                last_name,
            } => {
                account.names = PersonNames {
                    first_name,
                    last_name,
                }
            }
            E::PortalUserEmailChanged { email } => account.email = email,
            E::UsernameReminderIssued {} => {}
            E::ActivationLinkIssued {
                activation_id,
                expires_at,
            } => {
                account.activation = Some(OneTimeLink {
                    id: activation_id,
                    expires_at,
                })
            }
            E::PortalUserActivated { .. } => {
                account.activated = true;
                account.activation = None;
            }
            E::PasswordChanged { .. } => account.reset = None,
            E::PasswordResetLinkIssued {
                reset_id,
                expires_at,
            } => {
                account.reset = Some(OneTimeLink {
                    id: reset_id,
                    expires_at,
                })
            }
            E::ClientAccessGranted { client_id } => {
                account.clients.insert(client_id);
            }
            E::ClientAccessRevoked { client_id } => {
                account.clients.remove(&client_id);
            }
            E::LoginDisabled { .. } => account.disabled = true,
            E::LoginEnabled {} => account.disabled = false,
            E::LoginUnlocked {} => {}
            E::PortalAccessRemoved { .. } => {
                account.removed = true;
                account.activation = None;
                account.reset = None;
            }
            E::SecondFactorAdded { .. }
            | E::SecondFactorRemoved { .. }
            | E::PasskeyAdded { .. }
            | E::PasskeyRemoved { .. }
            | E::SecondFactorsReset { .. }
            | E::RecoveryCodesIssued { .. }
            | E::RecoveryCodeUsed { .. } => account.factors.apply(&event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Check;
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use PortalUserCommand as C;
    use PortalUserEvent as E;

    type Given = TestFramework<PortalUser>;

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 12, 0, 0).unwrap()
    }
    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
    fn link(n: u128) -> OneTimeLink {
        OneTimeLink {
            id: id(n),
            expires_at: t(10),
        }
    }
    fn create(has_password: bool) -> C {
        C::Create {
            client_id: id(1),
            username: Username::parse("josmith").unwrap(),
            email: Email::parse("jo@example.org").unwrap(),
            names: jo_smith(),
            origin: Origin::Staff,
            has_password,
            activation: link(50),
        }
    }
    fn created(activated: bool) -> E {
        E::PortalUserCreated {
            client_id: id(1),
            username: Username::parse("josmith").unwrap(),
            email: Email::parse("jo@example.org").unwrap(),
            first_name: jo_smith().first_name,
            last_name: jo_smith().last_name,
            origin: Origin::Staff,
            activated,
        }
    }
    fn jo_smith() -> PersonNames {
        PersonNames {
            first_name: Some(PersonName::parse("Jo").unwrap()),
            last_name: Some(PersonName::parse("Smith").unwrap()),
        }
    }

    #[tokio::test]
    async fn changing_details_writes_only_what_differs() {
        let joanna = PersonName::parse("Joanna").unwrap();
        Given::writes(
            vec![created(true)],
            C::ChangeDetails {
                first_name: Some(Some(joanna.clone())),
                last_name: None,
                email: Some(Email::parse("jo@example.org").unwrap()),
            },
            vec![E::PortalUserRenamed {
                first_name: Some(joanna),
                last_name: jo_smith().last_name,
            }],
        )
        .await;
        Given::writes(
            vec![created(true)],
            C::ChangeDetails {
                first_name: Some(jo_smith().first_name),
                last_name: Some(None),
                email: Some(Email::parse("joanna@example.org").unwrap()),
            },
            vec![
                E::PortalUserRenamed {
                    first_name: jo_smith().first_name,
                    last_name: None,
                },
                E::PortalUserEmailChanged {
                    email: Email::parse("joanna@example.org").unwrap(),
                },
            ],
        )
        .await;
        Given::writes(
            vec![created(true)],
            C::ChangeDetails {
                first_name: None,
                last_name: None,
                email: Some(Email::parse("joanna@example.org").unwrap()),
            },
            vec![E::PortalUserEmailChanged {
                email: Email::parse("joanna@example.org").unwrap(),
            }],
        )
        .await;
    }

    #[tokio::test]
    async fn a_removed_login_keeps_its_details() {
        Given::refuses(
            vec![
                created(true),
                E::PortalAccessRemoved {
                    client_ids: vec![id(1)],
                },
            ],
            C::ChangeDetails {
                first_name: None,
                last_name: None,
                email: Some(Email::parse("new@example.org").unwrap()),
            },
            DomainError::PortalUserRemoved,
        )
        .await;
    }

    #[tokio::test]
    async fn a_username_reminder_goes_to_live_enabled_logins_only() {
        Given::writes(
            vec![created(true)],
            C::RemindUsername,
            vec![E::UsernameReminderIssued {}],
        )
        .await;
        Given::refuses(
            vec![created(true), E::LoginDisabled { reason: None }],
            C::RemindUsername,
            DomainError::AlreadyDisabled,
        )
        .await;
    }

    #[test]
    fn the_full_name_joins_the_parts_there_are() {
        assert_eq!(jo_smith().full_name().as_deref(), Some("Jo Smith"));
        let last_only = PersonNames {
            first_name: None,
            last_name: jo_smith().last_name,
        };
        assert_eq!(last_only.full_name().as_deref(), Some("Smith"));
        assert_eq!(PersonNames::default().full_name(), None);
    }
    /// SendResetLink on day 1 with link `n`: resets last 2 hours, activations 7 days.
    fn reset_link(n: u128) -> C {
        C::SendResetLink {
            link_id: id(n),
            now: t(1),
            lifetimes: LinkLifetimes {
                reset: chrono::Duration::hours(2),
                activation: chrono::Duration::days(7),
            },
        }
    }

    /// Activate with the link of `pending()` on `day`.
    fn activate(day: u32) -> C {
        C::Activate {
            activation_id: id(50),
            now: t(day),
        }
    }
    /// CompleteReset of link 60 on `day`.
    fn complete_reset(day: u32) -> C {
        C::CompleteReset {
            reset_id: id(60),
            now: t(day),
        }
    }

    fn pending() -> Vec<E> {
        vec![
            created(false),
            E::ActivationLinkIssued {
                activation_id: id(50),
                expires_at: t(10),
            },
        ]
    }

    #[tokio::test]
    async fn with_a_password_the_login_is_active_at_once() {
        Given::writes(vec![], create(true), vec![created(true)]).await;
    }

    #[tokio::test]
    async fn without_a_password_an_activation_link_is_issued() {
        Given::writes(vec![], create(false), pending()).await;
    }

    #[tokio::test]
    async fn activation_works_once_and_not_after_expiry() {
        Given::writes(
            pending(),
            activate(2),
            vec![E::PortalUserActivated {
                method: PasswordMethod::ActivationLink,
            }],
        )
        .await;
        Given::refuses(pending(), activate(10), DomainError::ActivationInvalid).await;
        Given::refuses(
            [
                pending(),
                vec![E::PortalUserActivated {
                    method: PasswordMethod::ActivationLink,
                }],
            ]
            .concat(),
            activate(2),
            DomainError::ActivationInvalid,
        )
        .await;
    }

    #[tokio::test]
    async fn a_newer_reset_link_or_a_staff_set_password_voids_the_old_link() {
        let issued = |n| E::PasswordResetLinkIssued {
            reset_id: id(n),
            expires_at: t(10),
        };
        Given::refuses(
            vec![created(true), issued(60), issued(61)],
            complete_reset(2),
            DomainError::ResetLinkInvalid,
        )
        .await;
        Given::refuses(
            vec![
                created(true),
                issued(60),
                E::PasswordChanged {
                    method: PasswordMethod::SetByStaff,
                },
            ],
            complete_reset(2),
            DomainError::ResetLinkInvalid,
        )
        .await;
        Given::writes(
            vec![created(true), issued(60)],
            complete_reset(2),
            vec![E::PasswordChanged {
                method: PasswordMethod::ResetLink,
            }],
        )
        .await;
    }

    #[tokio::test]
    async fn reset_by_email_link_for_a_pending_user_resends_activation() {
        Given::writes(
            pending(),
            reset_link(70),
            vec![E::ActivationLinkIssued {
                activation_id: id(70),
                expires_at: t(1) + chrono::Duration::days(7),
            }],
        )
        .await;
    }

    #[test]
    fn an_individual_clients_name_suggests_the_persons_names() {
        let names = PersonNames::suggested_by(" Jo Anne Smith ");
        assert_eq!(names.first_name.unwrap().as_str(), "Jo Anne");
        assert_eq!(names.last_name.unwrap().as_str(), "Smith");
        let one = PersonNames::suggested_by("Cher");
        assert_eq!(one.full_name().as_deref(), Some("Cher"));
        assert!(PersonNames::suggested_by("  ").is_empty());
    }

    fn resend(n: u128) -> C {
        C::ResendActivation {
            link_id: id(n),
            now: t(1),
            lifetime: chrono::Duration::days(7),
        }
    }

    #[tokio::test]
    async fn staff_resend_a_pending_logins_activation_link_replacing_the_last() {
        Given::writes(
            pending(),
            resend(72),
            vec![E::ActivationLinkIssued {
                activation_id: id(72),
                expires_at: t(1) + chrono::Duration::days(7),
            }],
        )
        .await;
        let mut replaced = pending();
        replaced.push(E::ActivationLinkIssued {
            activation_id: id(72),
            expires_at: t(8),
        });
        Given::refuses(replaced, activate(2), DomainError::ActivationInvalid).await;
    }

    #[tokio::test]
    async fn only_a_login_waiting_for_activation_gets_an_activation_link() {
        Given::refuses(vec![created(true)], resend(73), DomainError::NotPending).await;
    }

    #[tokio::test]
    async fn reset_by_email_link_for_an_active_user_lasts_as_long_as_a_reset_link() {
        Given::writes(
            vec![created(true)],
            reset_link(71),
            vec![E::PasswordResetLinkIssued {
                reset_id: id(71),
                expires_at: t(1) + chrono::Duration::hours(2),
            }],
        )
        .await;
    }

    #[tokio::test]
    async fn staff_setting_a_pending_users_password_activates_it() {
        Given::writes(
            pending(),
            C::SetPasswordByStaff,
            vec![
                E::PasswordChanged {
                    method: PasswordMethod::SetByStaff,
                },
                E::PortalUserActivated {
                    method: PasswordMethod::SetByStaff,
                },
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn a_user_changes_their_password_once_activated() {
        Given::refuses(
            vec![created(false)],
            C::ChangePassword,
            DomainError::NotActivated,
        )
        .await;
        Given::writes(
            vec![created(true)],
            C::ChangePassword,
            vec![E::PasswordChanged {
                method: PasswordMethod::ChangedByUser,
            }],
        )
        .await;
    }

    #[tokio::test]
    async fn only_a_locked_login_is_unlocked() {
        Given::refuses(
            vec![created(true)],
            C::Unlock { locked: false },
            DomainError::NotLocked,
        )
        .await;
        Given::writes(
            vec![created(true)],
            C::Unlock { locked: true },
            vec![E::LoginUnlocked {}],
        )
        .await;
    }

    #[tokio::test]
    async fn disable_and_enable_alternate() {
        Given::refuses(vec![created(true)], C::Enable, DomainError::NotDisabled).await;
        Given::refuses(
            vec![created(true), E::LoginDisabled { reason: None }],
            C::Disable { reason: None },
            DomainError::AlreadyDisabled,
        )
        .await;
        Given::writes(
            vec![created(true), E::LoginDisabled { reason: None }],
            C::Enable,
            vec![E::LoginEnabled {}],
        )
        .await;
    }

    #[tokio::test]
    async fn a_removed_user_refuses_everything() {
        let removed = vec![
            created(true),
            E::PortalAccessRemoved {
                client_ids: vec![id(1)],
            },
        ];
        for cmd in [
            C::Disable { reason: None },
            C::SetPasswordByStaff,
            C::Remove,
            C::GrantClientAccess { client_id: id(2) },
        ] {
            Given::refuses(removed.clone(), cmd, DomainError::PortalUserRemoved).await;
        }
    }

    #[tokio::test]
    async fn removal_records_the_clients_it_reached() {
        Given::writes(
            vec![created(true), E::ClientAccessGranted { client_id: id(2) }],
            C::Remove,
            vec![E::PortalAccessRemoved {
                client_ids: vec![id(1), id(2)],
            }],
        )
        .await;
    }

    #[tokio::test]
    async fn group_access_is_granted_once_and_the_last_client_is_kept() {
        Given::refuses(
            vec![created(true)],
            C::GrantClientAccess { client_id: id(1) },
            DomainError::ClientAccessExists,
        )
        .await;
        Given::refuses(
            vec![created(true)],
            C::RevokeClientAccess { client_id: id(1) },
            DomainError::LastClientAccess,
        )
        .await;
        Given::writes(
            vec![created(true), E::ClientAccessGranted { client_id: id(2) }],
            C::RevokeClientAccess { client_id: id(1) },
            vec![E::ClientAccessRevoked { client_id: id(1) }],
        )
        .await;
    }

    #[tokio::test]
    async fn unknown_users_are_not_found() {
        Given::refuses(
            vec![],
            C::Disable { reason: None },
            DomainError::NotFound("portal user"),
        )
        .await;
    }
}
