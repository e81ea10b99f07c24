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
    use crate::testing::Check;
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
        Given::writes(
            vec![registered()],
            erase(),
            vec![E::ClientErased { reason: why() }],
        )
        .await;
        Given::writes(
            vec![registered(), E::ClientArchived {}],
            erase(),
            vec![E::ClientErased { reason: why() }],
        )
        .await;
        Given::refuses(
            vec![registered(), E::ClientErased { reason: why() }],
            erase(),
            DomainError::ClientErased,
        )
        .await;
    }

    #[tokio::test]
    async fn a_held_client_is_not_erased_until_released() {
        let hold = E::LegalHoldSet { reason: why() };
        Given::refuses(
            vec![registered(), hold.clone()],
            erase(),
            DomainError::UnderLegalHold,
        )
        .await;
        let released = E::LegalHoldReleased { reason: why() };
        Given::writes(
            vec![registered(), hold, released],
            erase(),
            vec![E::ClientErased { reason: why() }],
        )
        .await;
    }

    #[tokio::test]
    async fn an_erased_client_takes_no_command() {
        Given::refuses(
            vec![registered(), E::ClientErased { reason: why() }],
            C::Unarchive,
            DomainError::ClientErased,
        )
        .await;
        Given::refuses(
            vec![registered(), E::ClientErased { reason: why() }],
            C::SetLegalHold { reason: why() },
            DomainError::ClientErased,
        )
        .await;
    }

    #[tokio::test]
    async fn an_unknown_client_is_not_found() {
        Given::refuses(vec![], erase(), DomainError::NotFound("client")).await;
    }
}
