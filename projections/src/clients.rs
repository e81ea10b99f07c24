//! Read model "clients": each client with its invitation, each portal user with its
//! status, and which user reaches which client — behind the client list, client and
//! portal-user detail and the invitation dashboard.

use futures::future::BoxFuture;
use sqlx::PgConnection;

use crate::engine::{Projection, StoredEvent};

pub struct Clients;

impl Projection for Clients {
    fn name(&self) -> &'static str {
        "clients"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_clients", "rm_portal_users", "rm_portal_user_clients"]
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            "ClientRegistered",
            "ClientRenamed",
            "ClientEmailChanged",
            "ClientInvited",
            "InvitationRevoked",
            "InvitationAccepted",
            "PortalUserAttached",
            "PortalUserDetached",
            "PortalUserCreated",
            "PortalUserActivated",
            "LoginDisabled",
            "LoginEnabled",
            "PortalAccessRemoved",
        ]
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        e: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(apply(tx, e))
    }
}

async fn apply(tx: &mut PgConnection, e: &StoredEvent) -> Result<(), sqlx::Error> {
    let tenant = e.tenant_id;
    let position = e.global_position;
    match e.event_type.as_str() {
        "ClientRegistered" => {
            sqlx::query(
                "INSERT INTO rm_clients (tenant_id, client_id, display_name, kind, email, external_ref, registered_at, last_position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(e.stream_uuid()?)
            .bind(e.text("display_name").unwrap_or_default())
            .bind(e.text("kind").unwrap_or_default())
            .bind(e.text("email"))
            .bind(e.text("external_ref"))
            .bind(e.recorded_at)
            .bind(position)
            .execute(tx)
            .await?;
        }
        "ClientRenamed" => {
            update(
                tx,
                e,
                Row::Client,
                "display_name = $4",
                e.text("display_name").unwrap_or_default(),
            )
            .await?;
        }
        "ClientEmailChanged" => {
            update(
                tx,
                e,
                Row::Client,
                "email = $4",
                e.text("email").map(str::to_owned),
            )
            .await?
        }
        "ClientInvited" => {
            let expires_at = e
                .text("expires_at")
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .ok_or_else(|| sqlx::Error::Protocol("ClientInvited without expires_at".into()))?;
            sqlx::query(
                "UPDATE rm_clients SET invitation_id = $3, invitation_state = 'open', invited_at = $4,
                        invitation_expires_at = $5, last_position = $6
                  WHERE tenant_id = $1 AND client_id = $2",
            )
            .bind(tenant)
            .bind(e.stream_uuid()?)
            .bind(e.uuid("invitation_id")?)
            .bind(e.recorded_at)
            .bind(expires_at)
            .bind(position)
            .execute(tx)
            .await?;
        }
        "InvitationRevoked" | "InvitationAccepted" => {
            let state = if e.event_type == "InvitationRevoked" {
                "revoked"
            } else {
                "accepted"
            };
            sqlx::query(
                "UPDATE rm_clients SET invitation_state = $4, last_position = $5
                  WHERE tenant_id = $1 AND client_id = $2 AND invitation_id = $3",
            )
            .bind(tenant)
            .bind(e.stream_uuid()?)
            .bind(e.uuid("invitation_id")?)
            .bind(state)
            .bind(position)
            .execute(tx)
            .await?;
        }
        "PortalUserAttached" => {
            sqlx::query("INSERT INTO rm_portal_user_clients (tenant_id, client_id, portal_user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(tenant)
                .bind(e.stream_uuid()?)
                .bind(e.uuid("portal_user_id")?)
                .execute(tx)
                .await?;
        }
        "PortalUserDetached" => {
            sqlx::query("DELETE FROM rm_portal_user_clients WHERE tenant_id = $1 AND client_id = $2 AND portal_user_id = $3")
                .bind(tenant)
                .bind(e.stream_uuid()?)
                .bind(e.uuid("portal_user_id")?)
                .execute(tx)
                .await?;
        }
        "PortalUserCreated" => {
            let activated = e.data.get("activated").and_then(|v| v.as_bool()) == Some(true);
            sqlx::query(
                "INSERT INTO rm_portal_users (tenant_id, portal_user_id, username, email, created_at, activated_at, last_position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(e.stream_uuid()?)
            .bind(e.text("username").unwrap_or_default())
            .bind(e.text("email").unwrap_or_default())
            .bind(e.recorded_at)
            .bind(activated.then_some(e.recorded_at))
            .bind(position)
            .execute(tx)
            .await?;
        }
        "PortalUserActivated" => {
            update(
                tx,
                e,
                Row::User,
                "activated_at = COALESCE(activated_at, $4)",
                e.recorded_at,
            )
            .await?
        }
        "LoginDisabled" => update(tx, e, Row::User, "disabled = $4", true).await?,
        "LoginEnabled" => update(tx, e, Row::User, "disabled = $4", false).await?,
        "PortalAccessRemoved" => update(tx, e, Row::User, "removed = $4", true).await?,
        _ => {}
    }
    Ok(())
}

/// The row an event's stream owns: a client in `rm_clients` or a login in `rm_portal_users`.
#[derive(Clone, Copy)]
enum Row {
    Client,
    User,
}

/// Sets one column (`set` uses `$4` for `value`) on the row of the event's stream, and
/// records the event's position on it.
async fn update<T>(
    tx: &mut PgConnection,
    e: &StoredEvent,
    row: Row,
    set: &str,
    value: T,
) -> Result<(), sqlx::Error>
where
    T: Send + for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    let (table, key) = match row {
        Row::Client => ("rm_clients", "client_id"),
        Row::User => ("rm_portal_users", "portal_user_id"),
    };
    let sql =
        format!("UPDATE {table} SET {set}, last_position = $3 WHERE tenant_id = $1 AND {key} = $2");
    sqlx::query(&sql)
        .bind(e.tenant_id)
        .bind(e.stream_uuid()?)
        .bind(e.global_position)
        .bind(value)
        .execute(tx)
        .await?;
    Ok(())
}
