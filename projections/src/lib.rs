//! Read models and the projection engine that builds them from the event log.
//!
//! The write side only appends events; what staff UIs and reports read is built here, from
//! the log, in commit-safe order, with each projection's checkpoint committed together with
//! the rows it covers.

pub mod clients;
pub mod contracts;
pub mod dashboard;
pub mod engine;
pub mod history;
pub mod items;
mod row;

pub use engine::{Engine, Projection, ProjectionError};

/// Every read model the service maintains.
pub fn all() -> Vec<std::sync::Arc<dyn Projection>> {
    vec![
        std::sync::Arc::new(clients::Clients),
        std::sync::Arc::new(items::Items),
        std::sync::Arc::new(contracts::Contracts),
        std::sync::Arc::new(history::History),
    ]
}
