//! A legal hold on a client's records: set and released by staff, each with its reason.
//! While set, the client's personal data is not to be erased (docs/privacy.md).

use cqrs_es::event_sink::EventSink;

use super::{Client, ClientEvent as E};
use crate::values::Reason;
use crate::DomainError;

type Done = Result<(), DomainError>;

impl Client {
    pub(super) async fn set_legal_hold(&mut self, reason: Reason, sink: &EventSink<Self>) -> Done {
        if self.legal_hold.is_some() {
            return Err(DomainError::LegalHoldExists);
        }
        sink.write(E::LegalHoldSet { reason }, self).await;
        Ok(())
    }

    pub(super) async fn release_legal_hold(
        &mut self,
        reason: Reason,
        sink: &EventSink<Self>,
    ) -> Done {
        if self.legal_hold.is_none() {
            return Err(DomainError::NoLegalHold);
        }
        sink.write(E::LegalHoldReleased { reason }, self).await;
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
        reason("tax dispute with HMRC, keep until settled")
    }

    #[tokio::test]
    async fn a_hold_is_set_once_even_on_an_archived_client() {
        Given::with(())
            .given(vec![registered(), E::ClientArchived {}])
            .when_async(C::SetLegalHold { reason: why() })
            .await
            .then_expect_events(vec![E::LegalHoldSet { reason: why() }]);
        Given::with(())
            .given(vec![registered(), E::LegalHoldSet { reason: why() }])
            .when_async(C::SetLegalHold { reason: why() })
            .await
            .then_expect_error(DomainError::LegalHoldExists);
    }

    #[tokio::test]
    async fn only_a_set_hold_is_released() {
        Given::with(())
            .given(vec![registered()])
            .when_async(C::ReleaseLegalHold { reason: why() })
            .await
            .then_expect_error(DomainError::NoLegalHold);
        Given::with(())
            .given(vec![registered(), E::LegalHoldSet { reason: why() }])
            .when_async(C::ReleaseLegalHold { reason: why() })
            .await
            .then_expect_events(vec![E::LegalHoldReleased { reason: why() }]);
    }

    #[tokio::test]
    async fn an_unknown_client_cannot_be_held() {
        Given::with(())
            .given_no_previous_events()
            .when_async(C::SetLegalHold { reason: why() })
            .await
            .then_expect_error(DomainError::NotFound("client"));
    }
}
