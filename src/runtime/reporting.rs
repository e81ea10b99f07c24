//! Reporting connections for analysts: a PostgreSQL login role per firm that can only read
//! the documented reporting tables and views, and only that firm's rows (row-level security
//! through `reporting_tenant()`, views that run as the caller). It sees no events, no
//! secrets, no other firm, and cannot write. `portal-accounts reporting grant|revoke`.

use anyhow::{bail, Context, Result};
use rand::distributions::Alphanumeric;
use rand::Rng;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgPool};
use uuid::Uuid;

/// The reporting tables, readable whole (every row filtered to the role's firm).
pub const TABLES: &[&str] = &[
    "rm_clients",
    "rm_portal_users",
    "rm_portal_user_clients",
    "rm_items",
    "rm_client_items",
    "rm_contracts",
    "rm_invitations",
];

/// The reporting views (they run with the role's own rights).
pub const VIEWS: &[&str] = &[
    "rm_client_status",
    "rm_portal_user_status",
    "rm_logins",
    "rm_notifications",
    "rm_item_prices",
];

/// Columns of tables behind the views that the role may read (never a key, link or hash).
const COLUMNS: &[(&str, &str)] = &[
    (
        "portal_logins",
        "id, tenant_id, at, portal_user_id, outcome, session_id, client_ip, user_agent, request_id, \
         method",
    ),
    (
        "notifications",
        "id, tenant_id, kind, client_id, portal_user_id, to_address, recipient_name, status, \
         attempts, last_error, next_attempt_at, created_at, sent_at",
    ),
    (
        "rm_item_price_changes",
        "tenant_id, item_id, amount_minor, currency, valid_from, position",
    ),
    (
        "portal_login_throttle",
        "tenant_id, portal_user_id, locked_until",
    ),
];

/// A granted reporting login: its role, and a connection URL with its password (shown once).
pub struct Grant {
    pub role: String,
    pub url: String,
}

/// The role name of a firm's reporting login.
pub fn role_name(tenant_id: Uuid) -> String {
    format!("rpt_{}", tenant_id.simple())
}

async fn tenant_id(pool: &PgPool, slug: &str) -> Result<Uuid> {
    let id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(pool)
        .await?;
    id.with_context(|| format!("no tenant with slug {slug}"))
}

/// Creates (or, when it exists, gives a new password to) the firm's reporting role.
/// `connect` is how the service itself connects; the URL names the same server.
pub async fn grant(pool: &PgPool, connect: &PgConnectOptions, slug: &str) -> Result<Grant> {
    let tenant = tenant_id(pool, slug).await?;
    let role = role_name(tenant);
    let password: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    // DDL cannot take the password as a parameter: this connection logs no statements, so
    // the password never reaches a log line.
    let mut conn = connect
        .clone()
        .log_statements(log::LevelFilter::Off)
        .connect()
        .await?;
    let mut tx = conn.begin().await?;
    serialize_grants(&mut tx).await?;
    let exists = role_exists(&mut tx, &role).await?;
    let verb = if exists { "ALTER" } else { "CREATE" };
    sqlx::raw_sql(&format!(
        "{verb} ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE \
         NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 20"
    ))
    .execute(&mut *tx)
    .await?;
    let mut grants = format!(
        "ALTER ROLE {role} SET default_transaction_read_only = on;\n\
         GRANT USAGE ON SCHEMA public TO {role};\n\
         GRANT SELECT ON {} TO {role};\n",
        TABLES
            .iter()
            .chain(VIEWS)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (table, columns) in COLUMNS {
        grants.push_str(&format!("GRANT SELECT ({columns}) ON {table} TO {role};\n"));
    }
    sqlx::raw_sql(&grants).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO reporting_roles (role_name, tenant_id) VALUES ($1, $2)
         ON CONFLICT (role_name) DO UPDATE SET tenant_id = EXCLUDED.tenant_id",
    )
    .bind(&role)
    .bind(tenant)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let url = connection_url(connect, &role, &password)?;
    Ok(Grant { role, url })
}

async fn role_exists(conn: &mut sqlx::PgConnection, role: &str) -> Result<bool> {
    let exists = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
        .bind(role)
        .fetch_one(conn)
        .await?;
    Ok(exists)
}

/// Drops the firm's reporting role (its open sessions end at their next statement). Returns
/// whether there was one.
pub async fn revoke(pool: &PgPool, slug: &str) -> Result<bool> {
    let tenant = tenant_id(pool, slug).await?;
    let role = role_name(tenant);
    let mut tx = pool.begin().await?;
    serialize_grants(&mut tx).await?;
    let exists = role_exists(&mut tx, &role).await?;
    sqlx::query("DELETE FROM reporting_roles WHERE role_name = $1")
        .bind(&role)
        .execute(&mut *tx)
        .await?;
    if exists {
        sqlx::raw_sql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}';\n\
             DROP OWNED BY {role};\n\
             DROP ROLE {role};"
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(exists)
}

/// Grants and revokes change the same tables' access lists; PostgreSQL refuses two such
/// changes at once ("tuple concurrently updated"), so they queue on one lock.
async fn serialize_grants(tx: &mut sqlx::PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('portal-accounts reporting grants'))")
        .execute(tx)
        .await?;
    Ok(())
}

/// A libpq URL for `role` on the server `connect` points at (its Unix socket directory or
/// its host and port).
fn connection_url(connect: &PgConnectOptions, role: &str, password: &str) -> Result<String> {
    let database = connect.get_database().unwrap_or("postgres");
    let port = connect.get_port();
    if let Some(socket) = connect.get_socket() {
        let dir = socket.to_str().context("socket directory is not UTF-8")?;
        let dir = dir.replace('%', "%25").replace('/', "%2F");
        return Ok(format!(
            "postgresql://{role}:{password}@localhost/{database}?host={dir}&port={port}"
        ));
    }
    let host = connect.get_host();
    if host.is_empty() {
        bail!("the service's connection names no host");
    }
    Ok(format!(
        "postgresql://{role}:{password}@{host}:{port}/{database}"
    ))
}
