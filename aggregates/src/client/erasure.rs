//! Erasure of a client's personal data (the right to be forgotten): refused while its records
//! are on legal hold, done once; afterwards the client takes no command. The domain decides
//! and records it; the data keys are destroyed where events leave the log (docs/privacy.md).

use cqrs_es::event_sink::EventSink;

use super::{Client, ClientEvent as E};
use crate::values::Reason;
use crate::DomainError;

impl Client {
    pub(super) async fn erase(
        &mut self,
        reason: Reason,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        if self.legal_hold.is_some() {
            return Err(DomainError::UnderLegalHold);
        }
        sink.write(E::ClientErased { reason }, self).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::client::fixtures::{reason, registered};
    use crate::client::ClientCommand as C;

    type Given = TestFramework<Client>;

    fn why() -> Reason {
        reason("erasure request received 2026-11-30")
    }
    fn erase() -> C {
        C::Erase { reason: why() }
    }

    #[tokio::test]
    async fn a_client_is_erased_once_archived_or_not() {
        Given::with(())
            .given(vec![registered()])
            .when_async(erase())
            .await
            .then_expect_events(vec![E::ClientErased { reason: why() }]);
        Given::with(())
            .given(vec![registered(), E::ClientArchived {}])
            .when_async(erase())
            .await
            .then_expect_events(vec![E::ClientErased { reason: why() }]);
        Given::with(())
            .given(vec![registered(), E::ClientErased { reason: why() }])
            .when_async(erase())
            .await
            .then_expect_error(DomainError::ClientErased);
    }

    #[tokio::test]
    async fn a_held_client_is_not_erased_until_released() {
        let hold = E::LegalHoldSet { reason: why() };
        Given::with(())
            .given(vec![registered(), hold.clone()])
            .when_async(erase())
            .await
            .then_expect_error(DomainError::UnderLegalHold);
        let released = E::LegalHoldReleased { reason: why() };
        Given::with(())
            .given(vec![registered(), hold, released])
            .when_async(erase())
            .await
            .then_expect_events(vec![E::ClientErased { reason: why() }]);
    }

    #[tokio::test]
    async fn an_erased_client_takes_no_command() {
        Given::with(())
            .given(vec![registered(), E::ClientErased { reason: why() }])
            .when_async(C::Unarchive)
            .await
            .then_expect_error(DomainError::ClientErased);
        Given::with(())
            .given(vec![registered(), E::ClientErased { reason: why() }])
            .when_async(C::SetLegalHold { reason: why() })
            .await
            .then_expect_error(DomainError::ClientErased);
    }

    #[tokio::test]
    async fn an_unknown_client_is_not_found() {
        Given::with(())
            .given_no_previous_events()
            .when_async(erase())
            .await
            .then_expect_error(DomainError::NotFound("client"));
    }
}
