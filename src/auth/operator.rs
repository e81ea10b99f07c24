//! The operator edge: whoever runs the CLI holds the database, and names a tenant by slug
//! (or asks for every tenant, as `audit verify` does).

use aggregates::ids::TenantId;
use eventlog::DataKeys;
use sqlx::PgPool;
use uuid::Uuid;

use super::TenantScope;
use crate::errors::service::ServiceResult;

/// The tenant a slug names, if there is one.
pub async fn tenant(
    pool: &PgPool,
    keys: &DataKeys,
    slug: &str,
) -> ServiceResult<Option<TenantScope>> {
    let tenant = super::scope::tenant_by_slug(pool, slug).await?;
    Ok(tenant.map(|t| TenantScope::new(pool.clone(), keys, t)))
}

/// Every tenant with its slug, by slug.
pub async fn every_tenant(
    pool: &PgPool,
    keys: &DataKeys,
) -> ServiceResult<Vec<(TenantScope, String)>> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, slug FROM tenants ORDER BY slug")
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, slug)| {
            (
                TenantScope::new(pool.clone(), keys, TenantId::from_uuid(id)),
                slug,
            )
        })
        .collect())
}
