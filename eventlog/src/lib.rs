//! The one path events take out of the log. Every reader — the write side loading a stream,
//! the projections, the audit describer, the mail consumer — gets the domain's typed events
//! from here: rows are decoded and upcast in `decode`, wrapped with their place in the log in
//! `envelope`, and every SQL statement that looks inside a payload's JSON lives in
//! `queries`, with event names taken from the domain's event kinds.

pub mod actor;
pub mod decode;
pub mod envelope;
pub mod feed;
mod key_cache;
pub mod personal;
pub mod queries;
pub mod statements;
pub mod wake;

pub use actor::{Actor, ActorKind};
pub use decode::{decode, replay_json, upcast, DecodeError};
pub use envelope::{event_of_row, Envelope, ENVELOPE_COLUMNS};
pub use personal::{BatchKeys, DataKeys, FreshKey, MasterKey, SealError};

/// A failure reading the log: the database, or a stored event this code cannot read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Whether a database error means "the database cannot be reached now", as opposed to a
/// faulty statement: every layer answers the former as unavailable, not as a failure.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")),
        _ => false,
    }
}

impl LogError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Sql(e) if is_unavailable(e))
    }
}

/// `From` conversions for a layer's error type that has `Unavailable`,
/// `Integrity(DecodeError)` and `Internal(anyhow::Error)` variants: an unreachable database
/// becomes `Unavailable`, a stored event that does not decode `Integrity`, any other
/// database error `Internal`.
#[macro_export]
macro_rules! database_errors_into {
    ($error:ty) => {
        impl From<sqlx::Error> for $error {
            fn from(e: sqlx::Error) -> Self {
                if $crate::is_unavailable(&e) {
                    Self::Unavailable
                } else {
                    Self::Internal(e.into())
                }
            }
        }

        impl From<$crate::LogError> for $error {
            fn from(e: $crate::LogError) -> Self {
                match e {
                    $crate::LogError::Sql(e) => e.into(),
                    $crate::LogError::Decode(d) => Self::Integrity(d),
                }
            }
        }

        impl From<$crate::DecodeError> for $error {
            fn from(e: $crate::DecodeError) -> Self {
                Self::Integrity(e)
            }
        }
    };
}
