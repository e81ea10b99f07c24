//! How a failed commit is read: a concurrent append to one of our streams (retry), a
//! uniqueness rule that spans aggregates (refuse, by constraint name), or a database error.

use aggregates::DomainError;

use super::StoreError;

pub(super) enum CommitError {
    /// Another writer appended to one of our streams first: reload and try again.
    Conflict,
    /// A uniqueness rule spanning aggregates refused the command.
    Refused(StoreError),
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
                Self::Refused(StoreError::Refused(DomainError::UsernameTaken))
            }
            Some("events_sku_unique") => Self::Refused(StoreError::Refused(DomainError::SkuTaken)),
            Some("tenants_slug_key") => Self::Refused(StoreError::Conflict {
                code: "tenant_slug_taken",
                detail: "a tenant with this slug already exists".into(),
            }),
            _ => Self::Sql(e),
        }
    }
}
