//! Rows that commit or fail together with a command's events (secrets, lookups, images, ends
//! of sessions). The store knows none of them: each feature implements `SideWrite` for its
//! own rows (`services::rows`), and the unit of work runs them in the command's transaction.

use sqlx::postgres::PgArguments;
use sqlx::Postgres;
use uuid::Uuid;

/// One statement with its parameters.
pub type SideStatement<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// A row (or an update of rows) written inside the transaction of a command's events, so
/// that both commit or neither does. Not `Debug`: some hold secrets (password hashes).
pub trait SideWrite: Send + Sync + 'static {
    /// The statement that writes it, in the command's tenant.
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_>;
}
