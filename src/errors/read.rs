//! What a read (of the read models, the audit log or the login history) can answer besides
//! rows.

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the database is unreachable")]
    Unavailable,
    #[error("the read models have not reached position {position} yet; try again")]
    ProjectionLag { position: i64 },
    #[error("position {position} is beyond the last event ({head})")]
    BeyondLog { position: i64, head: i64 },
    /// A stored event of the streams involved does not decode: the log was altered or
    /// holds what this code cannot read (docs/decisions.md, "An unreadable event").
    #[error("an event of this firm's log cannot be read")]
    Integrity(#[source] eventlog::DecodeError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type ReadResult<T> = Result<T, ReadError>;

impl ReadError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }
}

eventlog::database_errors_into!(ReadError);
