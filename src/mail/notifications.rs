//! The `notifications` consumer of the log: every event that asks for an e-mail (an
//! invitation, an activation link, a reset link) becomes one row of `notifications`, under
//! its own checkpoint, so each is owed exactly once however often the process restarts.
//! Not a rebuildable read model: rebuilding it would send every e-mail again.

use std::collections::HashMap;

use futures::future::BoxFuture;
use projections::{Projection, StoredEvent};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct Notifications;

pub const NAME: &str = "notifications";

/// The staff-facing names of the kinds of e-mail.
pub mod kind {
    pub const INVITATION: &str = "invitation";
    pub const ACTIVATION: &str = "activation";
    pub const PASSWORD_RESET: &str = "password_reset";
}

impl Projection for Notifications {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["notifications"]
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            "ClientInvited",
            "ActivationLinkIssued",
            "PasswordResetLinkIssued",
        ]
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        self.apply_batch(tx, std::slice::from_ref(event))
    }

    /// The whole batch in three statements: the names of the clients and logins involved,
    /// then one INSERT for every e-mail.
    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let client_ids: Vec<String> = events
                .iter()
                .filter(|e| e.aggregate_type == "client")
                .map(|e| e.aggregate_id.clone())
                .collect();
            let user_ids: Vec<String> = events
                .iter()
                .filter(|e| e.aggregate_type == "portal_user")
                .map(|e| e.aggregate_id.clone())
                .collect();
            let client_names: HashMap<String, String> = sqlx::query_as(
                "SELECT DISTINCT ON (aggregate_id) aggregate_id, payload -> event_type ->> 'display_name'
                   FROM events
                  WHERE aggregate_type = 'client' AND aggregate_id = ANY($1)
                    AND event_type IN ('ClientRegistered', 'ClientRenamed')
                  ORDER BY aggregate_id, sequence DESC",
            )
            .bind(&client_ids)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
            let users: HashMap<String, Value> = sqlx::query_as(
                "SELECT aggregate_id, payload -> 'PortalUserCreated' FROM events
                  WHERE aggregate_type = 'portal_user' AND aggregate_id = ANY($1)
                    AND event_type = 'PortalUserCreated'",
            )
            .bind(&user_ids)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();

            let mut rows = Rows::default();
            for event in events {
                let expires_at = event
                    .text("expires_at")
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .ok_or_else(|| sqlx::Error::Protocol("link without expiry".into()))?;
                let stream_id = event.stream_uuid()?;
                match event.event_type.as_str() {
                    "ClientInvited" => rows.push(Row {
                        position: event.global_position,
                        tenant_id: event.tenant_id,
                        kind: kind::INVITATION,
                        client_id: Some(stream_id),
                        portal_user_id: None,
                        to: event.text("email").unwrap_or_default().to_string(),
                        name: client_names
                            .get(&event.aggregate_id)
                            .cloned()
                            .unwrap_or_default(),
                        username: None,
                        link_stream_id: stream_id,
                        link_id: event.uuid("invitation_id")?,
                        expires_at,
                    }),
                    "ActivationLinkIssued" | "PasswordResetLinkIssued" => {
                        let created = users.get(&event.aggregate_id).ok_or_else(|| {
                            sqlx::Error::Protocol(format!("no PortalUserCreated for {stream_id}"))
                        })?;
                        let field = |name: &str| created[name].as_str().map(str::to_string);
                        let (kind, link_field) = if event.event_type == "ActivationLinkIssued" {
                            (kind::ACTIVATION, "activation_id")
                        } else {
                            (kind::PASSWORD_RESET, "reset_id")
                        };
                        rows.push(Row {
                            position: event.global_position,
                            tenant_id: event.tenant_id,
                            kind,
                            client_id: field("client_id").and_then(|s| Uuid::try_parse(&s).ok()),
                            portal_user_id: Some(stream_id),
                            to: field("email").unwrap_or_default(),
                            name: field("username").unwrap_or_default(),
                            username: field("username"),
                            link_stream_id: stream_id,
                            link_id: event.uuid(link_field)?,
                            expires_at,
                        })
                    }
                    _ => {}
                }
            }
            rows.insert(tx).await
        })
    }
}

struct Row {
    position: i64,
    tenant_id: Uuid,
    kind: &'static str,
    client_id: Option<Uuid>,
    portal_user_id: Option<Uuid>,
    to: String,
    name: String,
    username: Option<String>,
    link_stream_id: Uuid,
    link_id: Uuid,
    expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct Rows(Vec<Row>);

impl Rows {
    fn push(&mut self, row: Row) {
        self.0.push(row);
    }

    async fn insert(self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        let rows = self.0;
        let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "INSERT INTO notifications (id, source_position, tenant_id, kind, client_id, portal_user_id,
                                        to_address, recipient_name, username, link_stream_id, link_id, link_expires_at)
             SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[],
                                  $7::text[], $8::text[], $9::text[], $10::uuid[], $11::uuid[], $12::timestamptz[])
             ON CONFLICT (source_position) DO NOTHING",
        )
        .bind(&ids)
        .bind(rows.iter().map(|r| r.position).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.tenant_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.kind).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.client_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.portal_user_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.to.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.username.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.link_stream_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.link_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.expires_at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        // Delivered on commit: wakes the sender.
        sqlx::query("SELECT pg_notify('notifications_pending', '')")
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}
