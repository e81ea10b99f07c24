//! The Portal Accounts domain: aggregates, their commands and events, and the rules that
//! decide which commands are accepted. Pure: no SQL, no HTTP, no clock, no randomness —
//! anything from outside (the time, fresh ids) arrives inside the command.

/// Implements `cqrs_es::Aggregate` for an aggregate of this crate by its own `decide` (what
/// a command writes, or why it is refused) and `evolve` (what an event changes). None of
/// them takes services: whatever comes from outside arrives inside the command.
#[macro_export]
macro_rules! domain_aggregate {
    ($aggregate:ty, $type_name:literal, $command:ty, $event:ty) => {
        impl cqrs_es::Aggregate for $aggregate {
            const TYPE: &'static str = $type_name;
            type Command = $command;
            type Event = $event;
            type Error = $crate::DomainError;
            type Services = ();

            async fn handle(
                &mut self,
                command: $command,
                _services: &(),
                sink: &cqrs_es::event_sink::EventSink<Self>,
            ) -> Result<(), $crate::DomainError> {
                self.decide(command, sink).await
            }

            fn apply(&mut self, event: $event) {
                self.evolve(event)
            }
        }
    };
}

pub mod client;
pub mod contract;
pub mod error;
pub mod events;
pub mod ids;
pub mod item;
pub mod personal;
pub mod policies;
pub mod portal_user;
pub mod staff_member;
pub mod tenant;
#[cfg(test)]
mod testing;
pub mod upcasting;
pub mod values;
pub mod webhook;

pub use error::DomainError;

/// Event payloads are stored as `{"<EventType>": {...}}`; this is the version every event
/// type is written with today. Upcasters key on it when a payload shape changes.
pub const EVENT_VERSION: &str = "1.0";
