//! How a failed commit is read: a concurrent append to one of our streams (retry), a
//! uniqueness rule that spans aggregates (refuse, by constraint name), or a database error.

use aggregates::DomainError;

use crate::errors::service::ServiceError;

pub(super) enum CommitError {
    /// Another writer appended to one of our streams first: reload and try again.
    Conflict,
    /// A uniqueness rule spanning aggregates refused the command.
    Refused(ServiceError),
    Sql(sqlx::Error),
    /// The commit was under way when the runtime stopped: it may or may not have happened.
    OutcomeUnknown,
}

impl CommitError {
    pub(super) fn from_insert(e: sqlx::Error) -> Self {
        let constraint = match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                db.constraint().map(str::to_owned)
            }
            _ => None,
        };
        match constraint.as_deref() {
            Some("events_pkey") => Self::Conflict,
            Some("events_username_unique" | "events_username_key_unique") => {
                Self::Refused(ServiceError::Domain(DomainError::UsernameTaken))
            }
            Some("events_sku_unique") => Self::Refused(ServiceError::Domain(DomainError::SkuTaken)),
            Some("tenants_slug_key") => Self::Refused(ServiceError::Conflict {
                code: "tenant_slug_taken",
                detail: "a tenant with this slug already exists".into(),
            }),
            _ => Self::Sql(e),
        }
    }
}
