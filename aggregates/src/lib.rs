//! The Portal Accounts domain: aggregates, their commands and events, and the rules that
//! decide which commands are accepted. Pure: no SQL, no HTTP, no clock, no randomness —
//! anything from outside (the time, fresh ids) arrives inside the command.

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
pub mod upcasting;
pub mod values;
pub mod webhook;

pub use error::DomainError;

/// Event payloads are stored as `{"<EventType>": {...}}`; this is the version every event
/// type is written with today. Upcasters key on it when a payload shape changes.
pub const EVENT_VERSION: &str = "1.0";
