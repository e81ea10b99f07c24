//! Where a caller becomes a tenant scope. Three edges authenticate: a staff bearer token
//! (`staff`), a portal session or a firm's portal address (`portal`), and the operator who
//! holds the database itself (`operator`, for the CLI). `TenantScope` can only be made in
//! this module, so every read, audit and portal query — which all take one — is scoped to
//! the tenant an edge vouched for.

pub mod operator;
pub mod portal;
mod scope;
pub mod staff;

pub use scope::TenantScope;

use sqlx::PgPool;
use uuid::Uuid;

use crate::infra::coalesce::Coalesced;

/// What authentication keeps between requests: the pool scopes are made on, staff token
/// lookups (read together with those of concurrent requests) and the firms' slugs.
#[derive(Clone)]
pub struct Authenticator {
    pool: PgPool,
    keys: eventlog::DataKeys,
    staff_tokens: Coalesced<Uuid, staff::TokenRow>,
    tenant_slugs: portal::TenantSlugs,
}

impl Authenticator {
    /// `lookups` is the store's pool for coalesced key lookups (`EventStore::lookup_pool`).
    pub fn new(pool: PgPool, keys: eventlog::DataKeys, lookups: PgPool) -> Self {
        Self {
            pool,
            keys,
            staff_tokens: staff::token_lookups(lookups),
            tenant_slugs: portal::TenantSlugs::default(),
        }
    }

    /// The scope of the firm a portal address names, if there is one.
    pub async fn portal_scope(&self, slug: &str) -> Result<Option<TenantScope>, sqlx::Error> {
        self.tenant_slugs
            .resolve(&self.pool, &self.keys, slug)
            .await
    }
}
