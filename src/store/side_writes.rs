//! Rows that commit or fail together with a command's events (secrets, lookups, images, ends
//! of sessions). The store knows none of them: each feature implements `SideWrite` for its
//! own rows (`services::rows`), and the unit of work writes them in the command's
//! transaction.

use futures::future::BoxFuture;
use sqlx::PgConnection;
use uuid::Uuid;

/// A row (or an update of rows) written inside the transaction of a command's events, so
/// that both commit or neither does. Not `Debug`: some hold secrets (password hashes).
pub trait SideWrite: Send + Sync + 'static {
    /// Writes it, in the command's tenant.
    fn write<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        tenant_id: Uuid,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
}
