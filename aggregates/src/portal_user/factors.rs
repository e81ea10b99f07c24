//! A login's second factors as its events leave them — an authenticator app (TOTP), its
//! passkeys and how many recovery codes are left — and the rules for adding, removing and
//! resetting them. The secrets and keys themselves (the TOTP key, the passkeys' public
//! keys, the codes' hashes) live outside the log.

use std::collections::BTreeSet;

use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Account, PortalUser, PortalUserEvent as E};
use crate::values::Reason;
use crate::DomainError;

type Done = Result<(), DomainError>;

/// How many recovery codes a login gets at a time.
pub const RECOVERY_CODES: u32 = 10;

/// How many passkeys one login may have (a phone, a laptop, a security key or two…).
pub const MAX_PASSKEYS: usize = 10;

/// A kind of second factor a login can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorMethod {
    /// An authenticator app's six-digit codes (RFC 6238).
    Totp,
    /// A WebAuthn credential (several per login, each with its own id).
    Passkey,
}

impl FactorMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Passkey => "passkey",
        }
    }
}

/// The second factors a login has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factors {
    pub totp: bool,
    /// The ids its passkeys are kept under (absent from states before passkeys).
    #[serde(default)]
    pub passkeys: BTreeSet<Uuid>,
    /// Unused recovery codes (issued with the first factor, or when regenerated).
    pub recovery_codes_left: u32,
}

impl Factors {
    /// Whether a right password alone no longer logs this login in.
    pub fn any(&self) -> bool {
        self.totp || !self.passkeys.is_empty()
    }

    /// Whether adding a factor now also issues recovery codes: the first factor brings
    /// them, so that losing the phone never locks a person out for good. The caller makes
    /// the codes when this says so; the command checks it again.
    pub fn next_factor_brings_codes(&self) -> bool {
        !self.any()
    }

    pub(super) fn apply(&mut self, event: &E) {
        match event {
            E::SecondFactorAdded { method } => self.set(*method, true),
            E::SecondFactorRemoved { method } => {
                self.set(*method, false);
                // Codes stand in for a factor; with none left they go too.
                if !self.any() {
                    self.recovery_codes_left = 0;
                }
            }
            E::PasskeyAdded { passkey_id } => {
                self.passkeys.insert(*passkey_id);
            }
            E::PasskeyRemoved { passkey_id } => {
                self.passkeys.remove(passkey_id);
                if !self.any() {
                    self.recovery_codes_left = 0;
                }
            }
            E::SecondFactorsReset { .. } => *self = Factors::default(),
            E::RecoveryCodesIssued { count } => self.recovery_codes_left = *count,
            E::RecoveryCodeUsed { left } => self.recovery_codes_left = *left,
            _ => {}
        }
    }

    fn set(&mut self, method: FactorMethod, on: bool) {
        match method {
            FactorMethod::Totp => self.totp = on,
            // Passkeys come and go by id (`PasskeyAdded`, `PasskeyRemoved`).
            FactorMethod::Passkey => {}
        }
    }
}

impl PortalUser {
    /// A confirmed factor; the first one comes with `RECOVERY_CODES` recovery codes.
    pub(super) async fn add_second_factor(
        &mut self,
        account: &Account,
        method: FactorMethod,
        sink: &EventSink<Self>,
    ) -> Done {
        if method != FactorMethod::Totp {
            // A passkey is added by its own command, under its id.
            return Err(DomainError::SecondFactorNotFound);
        }
        if account.factors.totp {
            return Err(DomainError::SecondFactorExists);
        }
        let brings_codes = account.factors.next_factor_brings_codes();
        sink.write(E::SecondFactorAdded { method }, self).await;
        self.issue_first_codes(brings_codes, sink).await;
        Ok(())
    }

    async fn issue_first_codes(&mut self, brings_codes: bool, sink: &EventSink<Self>) {
        if brings_codes {
            let count = RECOVERY_CODES;
            sink.write(E::RecoveryCodesIssued { count }, self).await;
        }
    }

    /// A registered passkey, up to `MAX_PASSKEYS`; as the first factor it brings recovery
    /// codes like an app does.
    pub(super) async fn add_passkey(
        &mut self,
        account: &Account,
        passkey_id: Uuid,
        sink: &EventSink<Self>,
    ) -> Done {
        let passkeys = &account.factors.passkeys;
        if passkeys.contains(&passkey_id) {
            return Err(DomainError::SecondFactorExists);
        }
        if passkeys.len() >= MAX_PASSKEYS {
            return Err(DomainError::TooManyPasskeys);
        }
        let brings_codes = account.factors.next_factor_brings_codes();
        sink.write(E::PasskeyAdded { passkey_id }, self).await;
        self.issue_first_codes(brings_codes, sink).await;
        Ok(())
    }

    pub(super) async fn remove_passkey(
        &mut self,
        account: &Account,
        passkey_id: Uuid,
        sink: &EventSink<Self>,
    ) -> Done {
        if !account.factors.passkeys.contains(&passkey_id) {
            return Err(DomainError::SecondFactorNotFound);
        }
        sink.write(E::PasskeyRemoved { passkey_id }, self).await;
        Ok(())
    }

    pub(super) async fn remove_second_factor(
        &mut self,
        account: &Account,
        method: FactorMethod,
        sink: &EventSink<Self>,
    ) -> Done {
        if method != FactorMethod::Totp || !account.factors.totp {
            return Err(DomainError::SecondFactorNotFound);
        }
        sink.write(E::SecondFactorRemoved { method }, self).await;
        Ok(())
    }

    /// New recovery codes in place of the old ones, for a login with a factor.
    pub(super) async fn issue_recovery_codes(
        &mut self,
        account: &Account,
        sink: &EventSink<Self>,
    ) -> Done {
        if !account.factors.any() {
            return Err(DomainError::NoSecondFactor);
        }
        let count = RECOVERY_CODES;
        sink.write(E::RecoveryCodesIssued { count }, self).await;
        Ok(())
    }

    /// A recovery code was used at login (the caller matched it against the kept hashes).
    pub(super) async fn use_recovery_code(
        &mut self,
        account: &Account,
        sink: &EventSink<Self>,
    ) -> Done {
        let left = account
            .factors
            .recovery_codes_left
            .checked_sub(1)
            .ok_or(DomainError::NoSecondFactor)?;
        sink.write(E::RecoveryCodeUsed { left }, self).await;
        Ok(())
    }

    /// Staff remove every factor and code (a lost phone), saying why.
    pub(super) async fn reset_second_factors(
        &mut self,
        account: &Account,
        reason: Reason,
        sink: &EventSink<Self>,
    ) -> Done {
        if account.factors == Factors::default() {
            return Err(DomainError::NoSecondFactor);
        }
        sink.write(E::SecondFactorsReset { reason }, self).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::Check;
    use cqrs_es::test::TestFramework;
    use uuid::Uuid;

    use super::*;
    use crate::portal_user::{Origin, PortalUserCommand as C};
    use crate::values::{Email, Username};

    type Given = TestFramework<PortalUser>;

    fn created() -> E {
        E::PortalUserCreated {
            client_id: Uuid::from_u128(1),
            username: Username::parse("josmith").unwrap(),
            email: Email::parse("jo@example.org").unwrap(),
            first_name: None,
            last_name: None,
            origin: Origin::Staff,
            activated: true,
        }
    }
    const TOTP: FactorMethod = FactorMethod::Totp;
    fn with_totp() -> Vec<E> {
        vec![
            created(),
            E::SecondFactorAdded { method: TOTP },
            E::RecoveryCodesIssued { count: 10 },
        ]
    }
    fn reason() -> Reason {
        Reason::parse("lost phone, identity checked by call").unwrap()
    }

    #[tokio::test]
    async fn the_first_factor_brings_ten_recovery_codes() {
        Given::writes(
            vec![created()],
            C::AddSecondFactor { method: TOTP },
            with_totp()[1..].to_vec(),
        )
        .await;
    }

    #[tokio::test]
    async fn a_factor_is_added_once() {
        Given::refuses(
            with_totp(),
            C::AddSecondFactor { method: TOTP },
            DomainError::SecondFactorExists,
        )
        .await;
    }

    #[tokio::test]
    async fn removing_needs_the_factor() {
        Given::refuses(
            vec![created()],
            C::RemoveSecondFactor { method: TOTP },
            DomainError::SecondFactorNotFound,
        )
        .await;
        Given::writes(
            with_totp(),
            C::RemoveSecondFactor { method: TOTP },
            vec![E::SecondFactorRemoved { method: TOTP }],
        )
        .await;
    }

    #[test]
    fn with_the_last_factor_the_codes_go_too() {
        let mut user = PortalUser::default();
        for e in with_totp() {
            cqrs_es::Aggregate::apply(&mut user, e);
        }
        cqrs_es::Aggregate::apply(&mut user, E::SecondFactorRemoved { method: TOTP });
        let factors = &user.account.unwrap().factors;
        assert_eq!(factors, &Factors::default());
    }

    #[tokio::test]
    async fn recovery_codes_are_regenerated_only_behind_a_factor() {
        Given::refuses(
            vec![created()],
            C::IssueRecoveryCodes,
            DomainError::NoSecondFactor,
        )
        .await;
        Given::writes(
            with_totp(),
            C::IssueRecoveryCodes,
            vec![E::RecoveryCodesIssued { count: 10 }],
        )
        .await;
    }

    #[tokio::test]
    async fn a_used_code_counts_down_and_none_left_refuses() {
        Given::writes(
            with_totp(),
            C::UseRecoveryCode,
            vec![E::RecoveryCodeUsed { left: 9 }],
        )
        .await;
        let mut spent = with_totp();
        spent.push(E::RecoveryCodeUsed { left: 0 });
        Given::refuses(spent, C::UseRecoveryCode, DomainError::NoSecondFactor).await;
    }

    const KEY: Uuid = Uuid::from_u128(7);
    fn with_passkey() -> Vec<E> {
        vec![
            created(),
            E::PasskeyAdded { passkey_id: KEY },
            E::RecoveryCodesIssued { count: 10 },
        ]
    }

    #[tokio::test]
    async fn a_first_passkey_brings_codes_and_a_later_one_does_not() {
        Given::writes(
            vec![created()],
            C::AddPasskey { passkey_id: KEY },
            with_passkey()[1..].to_vec(),
        )
        .await;
        let other = Uuid::from_u128(8);
        Given::writes(
            with_totp(),
            C::AddPasskey { passkey_id: other },
            vec![E::PasskeyAdded { passkey_id: other }],
        )
        .await;
    }

    #[tokio::test]
    async fn a_passkey_id_is_added_once_and_removed_once() {
        Given::refuses(
            with_passkey(),
            C::AddPasskey { passkey_id: KEY },
            DomainError::SecondFactorExists,
        )
        .await;
        let mut removed = with_passkey();
        removed.push(E::PasskeyRemoved { passkey_id: KEY });
        Given::refuses(
            removed,
            C::RemovePasskey { passkey_id: KEY },
            DomainError::SecondFactorNotFound,
        )
        .await;
    }

    #[tokio::test]
    async fn a_login_has_at_most_ten_passkeys() {
        let mut full = vec![created()];
        full.extend((0..MAX_PASSKEYS as u128).map(|n| E::PasskeyAdded {
            passkey_id: Uuid::from_u128(100 + n),
        }));
        Given::refuses(
            full,
            C::AddPasskey {
                passkey_id: Uuid::from_u128(1),
            },
            DomainError::TooManyPasskeys,
        )
        .await;
    }

    #[test]
    fn a_passkey_alone_asks_for_a_second_step_and_its_removal_takes_the_codes() {
        let mut user = PortalUser::default();
        for e in with_passkey() {
            cqrs_es::Aggregate::apply(&mut user, e);
        }
        assert!(user.account.as_ref().unwrap().factors.any());
        cqrs_es::Aggregate::apply(&mut user, E::PasskeyRemoved { passkey_id: KEY });
        assert_eq!(user.account.unwrap().factors, Factors::default());
    }

    #[tokio::test]
    async fn the_app_is_not_a_passkey() {
        Given::refuses(
            with_passkey(),
            C::RemoveSecondFactor { method: TOTP },
            DomainError::SecondFactorNotFound,
        )
        .await;
    }

    #[tokio::test]
    async fn staff_reset_a_login_with_factors_only() {
        Given::refuses(
            vec![created()],
            C::ResetSecondFactors { reason: reason() },
            DomainError::NoSecondFactor,
        )
        .await;
        Given::writes(
            with_totp(),
            C::ResetSecondFactors { reason: reason() },
            vec![E::SecondFactorsReset { reason: reason() }],
        )
        .await;
    }
}
