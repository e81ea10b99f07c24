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
    use crate::testing::Check;
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
        Given::writes(
            vec![registered(), E::ClientArchived {}],
            C::SetLegalHold { reason: why() },
            vec![E::LegalHoldSet { reason: why() }],
        )
        .await;
        Given::refuses(
            vec![registered(), E::LegalHoldSet { reason: why() }],
            C::SetLegalHold { reason: why() },
            DomainError::LegalHoldExists,
        )
        .await;
    }

    #[tokio::test]
    async fn only_a_set_hold_is_released() {
        Given::refuses(
            vec![registered()],
            C::ReleaseLegalHold { reason: why() },
            DomainError::NoLegalHold,
        )
        .await;
        Given::writes(
            vec![registered(), E::LegalHoldSet { reason: why() }],
            C::ReleaseLegalHold { reason: why() },
            vec![E::LegalHoldReleased { reason: why() }],
        )
        .await;
    }

    #[tokio::test]
    async fn an_unknown_client_cannot_be_held() {
        Given::refuses(
            vec![],
            C::SetLegalHold { reason: why() },
            DomainError::NotFound("client"),
        )
        .await;
    }
}
