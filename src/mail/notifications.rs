//! The `notifications` consumer of the log: every event that asks for an e-mail (an
//! invitation, an activation link, a reset link, a request to sign, a signature's
//! confirmation, a username reminder) becomes a row of `notifications` per recipient, under
//! its own checkpoint, so each is owed exactly once however often the process restarts.
//! Not a rebuildable read model: rebuilding it would send every e-mail again.

use aggregates::client::{ClientEvent, ClientEventKind as C};
use aggregates::contract::{ContractEvent, ContractEventKind as K};
use aggregates::events::AnyEvent;
use aggregates::portal_user::{PortalUserEvent, PortalUserEventKind as U};
use aggregates::webhook::{DisabledReason, WebhookEvent, WebhookEventKind as W};
use eventlog::Envelope;
use projections::{Projection, ProjectionError};
use sqlx::PgConnection;
use uuid::Uuid;

use super::recipients::{Login, Recipients};

/// The e-mail log's projection; it reads recipients' names and addresses from their
/// streams, so it holds the keys to open them.
pub struct Notifications {
    pub keys: eventlog::DataKeys,
}

pub const NAME: &str = "notifications";

/// The staff-facing names of the kinds of e-mail.
pub mod kind {
    pub const INVITATION: &str = "invitation";
    pub const ACTIVATION: &str = "activation";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const CONTRACT_TO_SIGN: &str = "contract_to_sign";
    pub const CONTRACT_SIGNED: &str = "contract_signed";
    pub const USERNAME_REMINDER: &str = "username_reminder";
    /// To the firm's admins: a webhook endpoint failed throughout its retry schedule.
    pub const WEBHOOK_DISABLED: &str = "webhook_disabled";
    /// To a login: a second factor was added, removed or reset.
    pub const SECURITY_NOTICE: &str = "security_notice";
    /// Every kind, as the staff API lists them.
    pub const ALL: &[&str] = &[
        INVITATION,
        ACTIVATION,
        PASSWORD_RESET,
        CONTRACT_TO_SIGN,
        CONTRACT_SIGNED,
        USERNAME_REMINDER,
        WEBHOOK_DISABLED,
        SECURITY_NOTICE,
    ];
}

impl Projection for Notifications {
    projections::projection_basics!(
        NAME,
        tables: ["notifications"],
        events: [
            C::ClientInvited,
            U::ActivationLinkIssued,
            U::PasswordResetLinkIssued,
            U::UsernameReminderIssued,
            K::SignatureRequested,
            K::ContractSigned,
            W::WebhookDisabled,
            U::SecondFactorAdded,
            U::SecondFactorRemoved,
            U::PasskeyAdded,
            U::PasskeyRemoved,
            U::SecondFactorsReset,
        ],
        batch_with_self: apply_all,
    );
}

async fn apply(
    owed: &Notifications,
    tx: &mut PgConnection,
    event: &Envelope,
) -> Result<(), ProjectionError> {
    apply_all(owed, tx, std::slice::from_ref(&event)).await
}

/// The whole batch in a statement per tenant for the names of the clients and logins
/// involved, then one INSERT for every e-mail.
async fn apply_all(
    owed: &Notifications,
    tx: &mut PgConnection,
    events: &[&Envelope],
) -> Result<(), ProjectionError> {
    let recipients = Recipients::of(tx, &owed.keys, events).await?;
    let mut rows = Rows::default();
    for event in events {
        owed_by(event, &recipients, &mut rows)?;
    }
    for event in events {
        if let AnyEvent::Webhook(WebhookEvent::WebhookDisabled {
            reason: DisabledReason::Failing,
        }) = &event.event
        {
            to_admins(tx, event, &mut rows).await?;
        }
    }
    rows.insert(tx).await?;
    Ok(())
}

/// The e-mails one event owes, added to `rows`.
fn owed_by(
    event: &Envelope,
    recipients: &Recipients,
    rows: &mut Rows,
) -> Result<(), ProjectionError> {
    let stream_id = event.stream_uuid()?;
    let base = Row::base(event);
    match &event.event {
        AnyEvent::Client(ClientEvent::ClientInvited {
            invitation_id,
            email,
            expires_at,
        }) => rows.push(Row {
            kind: kind::INVITATION,
            client_id: Some(stream_id),
            to: email.as_str().to_string(),
            name: recipients
                .client_names
                .get(&stream_id)
                .cloned()
                .unwrap_or_default(),
            link_stream_id: Some(stream_id),
            link_id: Some(*invitation_id),
            expires_at: Some(*expires_at),
            ..base
        }),
        AnyEvent::PortalUser(event) => {
            let Some((kind, link)) = login_mail(event) else {
                return Ok(());
            };
            let login = recipients.login(stream_id)?;
            rows.push(Row {
                kind,
                link_stream_id: link.map(|_| stream_id),
                link_id: link.map(|(id, _)| id),
                expires_at: link.map(|(_, at)| at),
                details: security_change(event)
                    .map(|change| serde_json::json!({ "change": change }))
                    .unwrap_or_else(|| serde_json::json!({})),
                ..login.addressed(base, stream_id)
            });
        }
        AnyEvent::Contract(ContractEvent::SignatureRequested { portal_user_ids }) => {
            let contract = recipients.contract(stream_id)?;
            for &user_id in portal_user_ids {
                let login = recipients.login(user_id)?;
                rows.push(Row {
                    kind: kind::CONTRACT_TO_SIGN,
                    contract_id: Some(stream_id),
                    details: serde_json::json!({
                        "title": contract.title,
                        "content_sha256": contract.content_sha256,
                    }),
                    ..login.addressed(base.clone(), user_id)
                });
            }
        }
        AnyEvent::Contract(ContractEvent::ContractSigned {
            portal_user_id,
            signer_name,
            content_sha256,
            signed_at,
            ..
        }) => {
            let contract = recipients.contract(stream_id)?;
            let login = recipients.login(*portal_user_id)?;
            rows.push(Row {
                kind: kind::CONTRACT_SIGNED,
                contract_id: Some(stream_id),
                details: serde_json::json!({
                    "title": contract.title,
                    "content_sha256": content_sha256,
                    "signer_name": signer_name.as_str(),
                    "signed_at": signed_at,
                }),
                ..login.addressed(base, *portal_user_id)
            });
        }
        _ => {}
    }
    Ok(())
}

/// "Your webhook was disabled", to each of the firm's admins as they are now (rare: a
/// statement per such event is fine).
async fn to_admins(
    tx: &mut PgConnection,
    event: &Envelope,
    rows: &mut Rows,
) -> Result<(), ProjectionError> {
    let webhook_id = event.stream_uuid()?;
    let admins: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, name, email FROM staff_members
          WHERE tenant_id = $1 AND role = 'admin' AND NOT disabled ORDER BY id",
    )
    .bind(event.tenant.uuid())
    .fetch_all(&mut *tx)
    .await?;
    let url: Option<String> = sqlx::query_scalar("SELECT url FROM webhooks WHERE id = $1")
        .bind(webhook_id)
        .fetch_optional(&mut *tx)
        .await?;
    for (id, name, email) in admins {
        rows.push(Row {
            kind: kind::WEBHOOK_DISABLED,
            recipient: id,
            to: email,
            name,
            details: serde_json::json!({
                "webhook_id": webhook_id,
                "url": url.clone().unwrap_or_default(),
            }),
            ..Row::base(event)
        });
    }
    Ok(())
}

/// A one-time link an e-mail carries: its id and when it expires.
type Link = (Uuid, chrono::DateTime<chrono::Utc>);

/// The e-mail a login's event owes, if any: its kind and the link it carries.
fn login_mail(event: &PortalUserEvent) -> Option<(&'static str, Option<Link>)> {
    match event {
        PortalUserEvent::ActivationLinkIssued {
            activation_id,
            expires_at,
        } => Some((kind::ACTIVATION, Some((*activation_id, *expires_at)))),
        PortalUserEvent::PasswordResetLinkIssued {
            reset_id,
            expires_at,
        } => Some((kind::PASSWORD_RESET, Some((*reset_id, *expires_at)))),
        PortalUserEvent::UsernameReminderIssued {} => Some((kind::USERNAME_REMINDER, None)),
        _ => security_change(event).map(|_| (kind::SECURITY_NOTICE, None)),
    }
}

/// What changed in the login's second factors, as a security notice names it.
fn security_change(event: &PortalUserEvent) -> Option<&'static str> {
    use aggregates::portal_user::FactorMethod;
    match event {
        PortalUserEvent::SecondFactorAdded {
            method: FactorMethod::Totp,
        } => Some("totp_added"),
        PortalUserEvent::SecondFactorRemoved {
            method: FactorMethod::Totp,
        } => Some("totp_removed"),
        // Passkeys come and go under their own events.
        PortalUserEvent::SecondFactorAdded {
            method: FactorMethod::Passkey,
        }
        | PortalUserEvent::SecondFactorRemoved {
            method: FactorMethod::Passkey,
        } => None,
        PortalUserEvent::PasskeyAdded { .. } => Some("passkey_added"),
        PortalUserEvent::PasskeyRemoved { .. } => Some("passkey_removed"),
        PortalUserEvent::SecondFactorsReset { .. } => Some("reset"),
        _ => None,
    }
}

impl Row {
    /// A row owed by `event`, addressed to no one yet.
    fn base(event: &Envelope) -> Self {
        Row {
            position: event.global_position,
            tenant_id: event.tenant.uuid(),
            kind: "",
            client_id: None,
            portal_user_id: None,
            recipient: Uuid::nil(),
            to: String::new(),
            name: String::new(),
            username: None,
            link_stream_id: None,
            link_id: None,
            expires_at: None,
            contract_id: None,
            details: serde_json::json!({}),
        }
    }
}

impl Login {
    /// `row` addressed to this login (`id`): its address and its person's name (none
    /// without one on file: "Hello," reads better than "Hello bob.baker,").
    fn addressed(&self, row: Row, id: Uuid) -> Row {
        Row {
            client_id: Some(self.client_id),
            portal_user_id: Some(id),
            recipient: id,
            to: self.email.clone(),
            name: self.names.full_name().unwrap_or_default(),
            username: Some(self.username.clone()),
            ..row
        }
    }
}

/// One e-mail owed. `recipient` tells apart the e-mails one event asks for (a request to
/// sign goes to each of the client's logins); the nil UUID where there is one.
#[derive(Clone)]
struct Row {
    position: i64,
    tenant_id: Uuid,
    kind: &'static str,
    client_id: Option<Uuid>,
    portal_user_id: Option<Uuid>,
    recipient: Uuid,
    to: String,
    name: String,
    username: Option<String>,
    link_stream_id: Option<Uuid>,
    link_id: Option<Uuid>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    contract_id: Option<Uuid>,
    details: serde_json::Value,
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
                                        to_address, recipient_name, username, link_stream_id, link_id, link_expires_at,
                                        recipient, contract_id, details)
             SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[],
                                  $7::text[], $8::text[], $9::text[], $10::uuid[], $11::uuid[], $12::timestamptz[],
                                  $13::uuid[], $14::uuid[], $15::jsonb[])
             ON CONFLICT (source_position, recipient) DO NOTHING",
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
        .bind(rows.iter().map(|r| r.recipient).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.contract_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.details.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        // Delivered on commit: wakes the sender.
        sqlx::query("SELECT pg_notify('notifications_pending', '')")
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}
