//! Route handlers, one module per resource. Handlers only translate: HTTP in, validated
//! domain values to an application service, JSON out.

pub mod audit;
pub mod clients;
pub mod contracts;
pub mod items;
pub mod link_pages;
pub mod ops;
pub mod portal;
pub mod portal_users;
pub mod settings;

use serde::Serialize;
use utoipa::ToSchema;

/// The answer of a command that creates nothing addressable.
#[derive(Debug, Serialize, ToSchema)]
pub struct PositionOnly {
    /// Global position of the command's last event (read models that reached it show it).
    pub position: i64,
}

impl From<crate::store::Committed<()>> for PositionOnly {
    fn from(c: crate::store::Committed<()>) -> Self {
        Self {
            position: c.position,
        }
    }
}

/// `{"id", "position"}` for commands that create something.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub id: uuid::Uuid,
    pub position: i64,
}
