//! The tenant-scoped handle on the database that reads and queries take.

use aggregates::ids::TenantId;
use eventlog::DataKeys;
use sqlx::PgPool;
use uuid::Uuid;

/// One tenant's view of the database: queries made through it carry its tenant id. Only
/// the authentication edges in `auth` can make one.
#[derive(Clone)]
pub struct TenantScope {
    tenant: TenantId,
    pool: PgPool,
    /// Open the personal fields of the events read through this scope.
    keys: DataKeys,
}

impl std::fmt::Debug for TenantScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantScope")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl TenantScope {
    pub(super) fn new(pool: PgPool, keys: &DataKeys, tenant: TenantId) -> Self {
        Self {
            tenant,
            pool,
            keys: keys.clone(),
        }
    }

    pub fn keys(&self) -> &DataKeys {
        &self.keys
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The tenant id to bind as `tenant_id` in a query.
    pub fn id(&self) -> Uuid {
        self.tenant.uuid()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The same tenant's scope, reading from another copy of the database (a replica).
    pub fn reading_from(&self, pool: &PgPool) -> Self {
        Self {
            tenant: self.tenant,
            pool: pool.clone(),
            keys: self.keys.clone(),
        }
    }
}

/// The tenant a slug names (the one lookup of `tenants` by slug).
pub(super) async fn tenant_by_slug(
    pool: &PgPool,
    slug: &str,
) -> Result<Option<TenantId>, sqlx::Error> {
    let id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(pool)
        .await?;
    Ok(id.map(TenantId::from_uuid))
}
