//! The `notifications` consumer of the log: every event that asks for an e-mail (an
//! invitation, an activation link, a reset link) becomes one row of `notifications`, under
//! its own checkpoint, so each is owed exactly once however often the process restarts.
//! Not a rebuildable read model: rebuilding it would send every e-mail again.

use std::collections::{BTreeSet, HashMap};

use aggregates::client::{ClientEvent, ClientEventKind as C};
use aggregates::event_names;
use aggregates::events::{AnyEvent, EventKind};
use aggregates::ids::TenantId;
use aggregates::portal_user::{PortalUserEvent, PortalUserEventKind as U};
use eventlog::Envelope;
use futures::future::BoxFuture;
use projections::{Projection, ProjectionError};
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

    fn event_types(&self) -> Vec<&'static str> {
        event_names![
            C::ClientInvited,
            U::ActivationLinkIssued,
            U::PasswordResetLinkIssued
        ]
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Envelope,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        self.apply_batch(tx, std::slice::from_ref(event))
    }

    /// The whole batch in a statement per tenant for the names of the clients and logins
    /// involved, then one INSERT for every e-mail.
    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [Envelope],
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            let recipients = Recipients::of(tx, events).await?;
            let mut rows = Rows::default();
            for event in events {
                let stream_id = event.stream_uuid()?;
                let row = match &event.event {
                    AnyEvent::Client(ClientEvent::ClientInvited {
                        invitation_id,
                        email,
                        expires_at,
                    }) => Row {
                        position: event.global_position,
                        tenant_id: event.tenant.uuid(),
                        kind: kind::INVITATION,
                        client_id: Some(stream_id),
                        portal_user_id: None,
                        to: email.as_str().to_string(),
                        name: recipients
                            .client_names
                            .get(&stream_id)
                            .cloned()
                            .unwrap_or_default(),
                        username: None,
                        link_stream_id: stream_id,
                        link_id: *invitation_id,
                        expires_at: *expires_at,
                    },
                    AnyEvent::PortalUser(
                        link @ (PortalUserEvent::ActivationLinkIssued { .. }
                        | PortalUserEvent::PasswordResetLinkIssued { .. }),
                    ) => {
                        let (kind, link_id, expires_at) = match link {
                            PortalUserEvent::ActivationLinkIssued {
                                activation_id,
                                expires_at,
                            } => (kind::ACTIVATION, *activation_id, *expires_at),
                            PortalUserEvent::PasswordResetLinkIssued {
                                reset_id,
                                expires_at,
                            } => (kind::PASSWORD_RESET, *reset_id, *expires_at),
                            _ => unreachable!("matched above"),
                        };
                        let login = recipients.logins.get(&stream_id).ok_or_else(|| {
                            ProjectionError::Sql(sqlx::Error::Protocol(format!(
                                "no PortalUserCreated for {stream_id}"
                            )))
                        })?;
                        Row {
                            position: event.global_position,
                            tenant_id: event.tenant.uuid(),
                            kind,
                            client_id: Some(login.client_id),
                            portal_user_id: Some(stream_id),
                            to: login.email.clone(),
                            name: login.username.clone(),
                            username: Some(login.username.clone()),
                            link_stream_id: stream_id,
                            link_id,
                            expires_at,
                        }
                    }
                    _ => continue,
                };
                rows.push(row);
            }
            rows.insert(tx).await?;
            Ok(())
        })
    }
}

/// What a login's e-mail needs from its creation event.
struct Login {
    client_id: Uuid,
    email: String,
    username: String,
}

/// The names and addresses behind a batch's e-mails, read from the log per tenant.
#[derive(Default)]
struct Recipients {
    client_names: HashMap<Uuid, String>,
    logins: HashMap<Uuid, Login>,
}

impl Recipients {
    async fn of(tx: &mut PgConnection, events: &[Envelope]) -> Result<Self, ProjectionError> {
        let mut streams: HashMap<TenantId, BTreeSet<Uuid>> = HashMap::new();
        for event in events {
            streams
                .entry(event.tenant)
                .or_default()
                .insert(event.stream_uuid()?);
        }
        let kinds: [EventKind; 3] = [
            C::ClientRegistered.into(),
            C::ClientRenamed.into(),
            U::PortalUserCreated.into(),
        ];
        let mut found = Self::default();
        for (tenant, ids) in streams {
            let ids: Vec<Uuid> = ids.into_iter().collect();
            for e in eventlog::queries::events_of_kinds(&mut *tx, tenant, &ids, &kinds).await? {
                match e.event {
                    AnyEvent::Client(
                        ClientEvent::ClientRegistered { display_name, .. }
                        | ClientEvent::ClientRenamed { display_name },
                    ) => {
                        // In stream order: the last name wins.
                        found
                            .client_names
                            .insert(e.stream_id, display_name.to_string());
                    }
                    AnyEvent::PortalUser(PortalUserEvent::PortalUserCreated {
                        client_id,
                        username,
                        email,
                        ..
                    }) => {
                        let login = Login {
                            client_id,
                            email: email.as_str().to_string(),
                            username: username.as_str().to_string(),
                        };
                        found.logins.insert(e.stream_id, login);
                    }
                    _ => {}
                }
            }
        }
        Ok(found)
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
