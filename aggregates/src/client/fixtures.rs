//! What the client's record-keeping tests (holds, erasure) start from.

use super::ClientEvent as E;
use crate::values::{ClientKind, DisplayName, Reason};

/// A former client, an organisation, as registered.
pub(super) fn registered() -> E {
    E::ClientRegistered {
        display_name: DisplayName::parse("Former Client Ltd").unwrap(),
        kind: ClientKind::Organisation,
        email: None,
        external_ref: None,
    }
}

/// A reason staff give, as the domain takes it.
pub(super) fn reason(text: &str) -> Reason {
    Reason::parse(text).unwrap()
}
