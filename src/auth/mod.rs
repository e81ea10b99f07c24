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
