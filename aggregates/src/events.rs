//! Every event of every aggregate as one type, and the names of their kinds. Readers of the
//! log (projections, the audit describer, the mail consumer) match on these instead of
//! reading JSON by string keys, so a renamed field or event fails to compile.

use cqrs_es::Aggregate;
use serde::de::DeserializeOwned;

use crate::client::{Client, ClientEvent, ClientEventKind};
use crate::contract::{Contract, ContractEvent, ContractEventKind};
use crate::item::{Item, ItemEvent, ItemEventKind};
use crate::portal_user::{PortalUser, PortalUserEvent, PortalUserEventKind};
use crate::staff_member::{StaffMember, StaffMemberEvent, StaffMemberEventKind};
use crate::tenant::{Tenant, TenantEvent, TenantEventKind};
use crate::webhook::{Webhook, WebhookEvent, WebhookEventKind};

/// Why a stored payload is not an event this code knows.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown stream type {0}")]
    UnknownStreamType(String),
    #[error("{aggregate_type} event does not deserialize: {source}")]
    Payload {
        aggregate_type: String,
        source: serde_json::Error,
    },
}

/// A stored payload in either form it is read in.
trait Payload {
    fn into_event<E: DeserializeOwned>(self) -> Result<E, serde_json::Error>;
}

impl Payload for serde_json::Value {
    fn into_event<E: DeserializeOwned>(self) -> Result<E, serde_json::Error> {
        serde_json::from_value(self)
    }
}

impl Payload for &str {
    fn into_event<E: DeserializeOwned>(self) -> Result<E, serde_json::Error> {
        serde_json::from_str(self)
    }
}

impl AnyEvent {
    /// Decodes a stored payload (`{"<EventType>": {...}}`, already upcast) of a stream of
    /// `aggregate_type`.
    pub fn decode(aggregate_type: &str, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_any(aggregate_type, payload)
    }

    /// `decode`, straight from the payload's JSON text (no intermediate value).
    pub fn decode_str(aggregate_type: &str, payload: &str) -> Result<Self, DecodeError> {
        decode_any(aggregate_type, payload)
    }

    /// The stored event type name (`ClientRegistered`, …).
    pub fn event_type(&self) -> &'static str {
        self.kind().name()
    }

    pub fn kind(&self) -> EventKind {
        kind_of(self)
    }
}

/// Declares `AnyEvent` and `EventKind`, one variant per aggregate (named as the
/// aggregate), with their decoding, names and conversions.
macro_rules! every_aggregate {
    ($($aggregate:ident($event:ty, $kind:ty)),* $(,)?) => {
        /// An event of any aggregate.
        #[derive(Debug, Clone, PartialEq)]
        pub enum AnyEvent {
            $($aggregate($event)),*
        }

        fn decode_any(aggregate_type: &str, payload: impl Payload) -> Result<AnyEvent, DecodeError> {
            fn of<A: Aggregate>(payload: impl Payload) -> Result<A::Event, DecodeError>
            where
                A::Event: DeserializeOwned,
            {
                payload.into_event().map_err(|source| DecodeError::Payload {
                    aggregate_type: A::TYPE.to_string(),
                    source,
                })
            }
            Ok(match aggregate_type {
                $($aggregate::TYPE => AnyEvent::$aggregate(of::<$aggregate>(payload)?),)*
                other => return Err(DecodeError::UnknownStreamType(other.to_string())),
            })
        }

        fn kind_of(event: &AnyEvent) -> EventKind {
            match event {
                $(AnyEvent::$aggregate(e) => EventKind::$aggregate(e.into())),*
            }
        }

        /// The kind of an event without its fields: what a reader declares it reads.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $($aggregate($kind)),*
        }

        impl EventKind {
            /// The name events of this kind are stored under (the `event_type` column).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$aggregate(k) => k.into()),*
                }
            }

            /// The stream type events of this kind belong to.
            pub fn stream_type(self) -> &'static str {
                match self {
                    $(Self::$aggregate(_) => $aggregate::TYPE),*
                }
            }
        }

        $(
            impl From<$kind> for EventKind {
                fn from(kind: $kind) -> Self {
                    Self::$aggregate(kind)
                }
            }
        )*
    };
}
every_aggregate!(
    Client(ClientEvent, ClientEventKind),
    PortalUser(PortalUserEvent, PortalUserEventKind),
    Item(ItemEvent, ItemEventKind),
    Contract(ContractEvent, ContractEventKind),
    Tenant(TenantEvent, TenantEventKind),
    StaffMember(StaffMemberEvent, StaffMemberEventKind),
    Webhook(WebhookEvent, WebhookEventKind),
);

/// Every stored event type name of every aggregate.
pub fn all_event_type_names() -> Vec<&'static str> {
    use strum::VariantArray;
    fn names<K: VariantArray + Copy + Into<EventKind>>() -> impl Iterator<Item = &'static str> {
        K::VARIANTS.iter().map(|k| (*k).into().name())
    }
    names::<ClientEventKind>()
        .chain(names::<PortalUserEventKind>())
        .chain(names::<ItemEventKind>())
        .chain(names::<ContractEventKind>())
        .chain(names::<TenantEventKind>())
        .chain(names::<StaffMemberEventKind>())
        .chain(names::<WebhookEventKind>())
        .collect()
}

/// The names of a list of event kinds, e.g.
/// `event_names![ClientEventKind::ClientRegistered, PortalUserEventKind::LoginDisabled]`.
#[macro_export]
macro_rules! event_names {
    ($($kind:expr),* $(,)?) => {
        vec![$($crate::events::EventKind::from($kind).name()),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_the_stored_event_types() {
        assert_eq!(
            EventKind::from(ClientEventKind::ClientRegistered).name(),
            "ClientRegistered"
        );
        assert_eq!(
            EventKind::from(PortalUserEventKind::LoginEnabled).name(),
            "LoginEnabled"
        );
        let names = event_names![
            ItemEventKind::ItemPriceChanged,
            TenantEventKind::TenantCreated
        ];
        assert_eq!(names, vec!["ItemPriceChanged", "TenantCreated"]);
    }

    #[test]
    fn decodes_by_stream_type_and_names_itself() {
        let payload = serde_json::json!({"ClientRenamed": {"display_name": "Jo"}});
        let event = AnyEvent::decode("client", payload).unwrap();
        assert_eq!(event.event_type(), "ClientRenamed");
        assert!(AnyEvent::decode("nope", serde_json::json!({})).is_err());
        let wrong_field = serde_json::json!({"ClientRenamed": {"name": "Jo"}});
        assert!(AnyEvent::decode("client", wrong_field).is_err());
    }
}
