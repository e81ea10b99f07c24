//! Which stored fields hold personal data, and whose data they are. The log stores these
//! fields sealed under their data subject's key and opens them on the way out, so erasing a
//! client (destroying its keys) leaves its events in place, chained, and unreadable where
//! personal (docs/privacy.md). The domain itself only ever sees plaintext.

use uuid::Uuid;

use crate::client::Client;
use crate::contract::Contract;
use crate::item::Item;
use crate::portal_user::PortalUser;
use crate::staff_member::StaffMember;
use crate::tenant::Tenant;
use crate::webhook::Webhook;

/// What a personal field reads as once its subject's key is destroyed.
pub const ERASED: &str = "[erased]";

/// The personal fields of an event type's payload (`{"<EventType>": {field: …}}`).
pub fn fields(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "ClientRegistered" => &["display_name", "email", "external_ref"],
        "ClientRenamed" => &["display_name"],
        "ClientEmailChanged" | "ClientInvited" | "PortalUserEmailChanged" => &["email"],
        "PortalUserCreated" => &["username", "email", "first_name", "last_name"],
        "PortalUserRenamed" => &["first_name", "last_name"],
        "ContractSigned" => &["signer_name", "ip", "user_agent"],
        _ => &[],
    }
}

/// The personal fields of an event's metadata when a portal login (or someone without a
/// login, such as a client accepting an invitation) made the change: where they came from.
/// Staff members' addresses stay readable: they are the firm's, not the client's.
pub const METADATA_FIELDS: &[&str] = &["client_ip", "user_agent"];

/// The data subject whose key seals an aggregate's personal fields: a client for its own
/// stream and its contracts, a portal login for its own (erasing a client erases its
/// logins' keys with its own).
pub trait DataSubject {
    fn data_subject(&self, _stream_id: Uuid) -> Option<Uuid> {
        None
    }
}

impl DataSubject for Client {
    fn data_subject(&self, stream_id: Uuid) -> Option<Uuid> {
        Some(stream_id)
    }
}

impl DataSubject for PortalUser {
    fn data_subject(&self, stream_id: Uuid) -> Option<Uuid> {
        Some(stream_id)
    }
}

impl DataSubject for Contract {
    fn data_subject(&self, _stream_id: Uuid) -> Option<Uuid> {
        self.issued.as_ref().map(|c| c.client_id)
    }
}

impl DataSubject for Item {}
impl DataSubject for StaffMember {}
impl DataSubject for Tenant {}
impl DataSubject for Webhook {}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use cqrs_es::DomainEvent;

    use super::*;
    use crate::client::ClientEvent;
    use crate::contract::ContractEvent;
    use crate::portal_user::{Origin, PortalUserEvent};
    use crate::values::*;

    fn has_its_fields(event: impl DomainEvent) -> usize {
        let kind = event.event_type();
        let payload = serde_json::to_value(&event).unwrap();
        for field in fields(&kind) {
            assert!(
                payload[&kind].get(field).is_some_and(|v| v.is_string()),
                "{kind} has no text field {field}: {payload}"
            );
        }
        fields(&kind).len()
    }

    /// Every field named personal is a text field of its event: a renamed field would
    /// otherwise silently be stored in the clear.
    #[test]
    fn every_personal_field_names_a_text_field_of_its_event() {
        let email = || Email::parse("jo@example.org").unwrap();
        let name = || Some(PersonName::parse("Jo").unwrap());
        let display_name = || DisplayName::parse("Jo Smith").unwrap();
        let id = uuid::Uuid::from_u128(1);
        let counted = [
            has_its_fields(ClientEvent::ClientRegistered {
                display_name: display_name(),
                kind: ClientKind::Individual,
                email: Some(email()),
                external_ref: Some(ExternalRef::parse("C-1").unwrap()),
            }),
            has_its_fields(ClientEvent::ClientRenamed {
                display_name: display_name(),
            }),
            has_its_fields(ClientEvent::ClientEmailChanged {
                email: Some(email()),
            }),
            has_its_fields(ClientEvent::ClientInvited {
                invitation_id: id,
                email: email(),
                expires_at: Utc::now(),
            }),
            has_its_fields(PortalUserEvent::PortalUserCreated {
                client_id: id,
                username: Username::parse("jo.smith").unwrap(),
                email: email(),
                first_name: name(),
                last_name: name(),
                origin: Origin::Staff,
                activated: false,
            }),
            has_its_fields(PortalUserEvent::PortalUserRenamed {
                first_name: name(),
                last_name: name(),
            }),
            has_its_fields(PortalUserEvent::PortalUserEmailChanged { email: email() }),
            has_its_fields(ContractEvent::ContractSigned {
                portal_user_id: id,
                signer_name: SignerName::parse("Jo Smith").unwrap(),
                content_sha256: "00".into(),
                signed_at: Utc::now(),
                ip: Some("192.0.2.1".into()),
                user_agent: Some("Firefox".into()),
            }),
        ];
        assert_eq!(counted.iter().sum::<usize>(), 16);
    }
}
