//! Webhook endpoints (create, change, enable or disable, rotate the secret, delete), each
//! a command on the endpoint's stream with its `secrets.webhooks` row written beside it.
//! The signing secret is made here, shown once, and stored only sealed.

use aggregates::values::Label;
use aggregates::webhook::{DisabledReason, EventTypes, Webhook, WebhookCommand, WebhookUrl};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Duration;
use eventlog::Actor;
use rand::RngCore;
use uuid::Uuid;

use super::rows;
use crate::app::App;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::infra::outbound::OutboundPolicy;
use crate::sealing::SealingKey;
use crate::store::{CommandMeta, Committed, Loaded, UnitOfWork};

/// What the sealing key for webhook secrets is derived for.
pub const SEALING_PURPOSE: &str = "webhook-secret";
/// The prefix Standard Webhooks gives a secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// The key webhook secrets are sealed under.
pub fn sealing_key(app: &App) -> SealingKey {
    SealingKey::of(&app.secret, SEALING_PURPOSE)
}

/// A new secret: `whsec_` and 32 random bytes in base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The URL if the policy lets the server send to it (form, then DNS); else 422
/// `webhook_url_not_allowed`, before anything is written.
async fn allowed(policy: OutboundPolicy, url: &WebhookUrl) -> ServiceResult<()> {
    policy
        .check(url.as_str())
        .await
        .map(|_| ())
        .map_err(|detail| ServiceError::Unprocessable {
            code: "webhook_url_not_allowed",
            detail,
        })
}

/// The endpoint's row as its events leave it (`None` once deleted).
fn row_of(hook: &Loaded<Webhook>) -> Option<rows::Webhook> {
    let endpoint = hook
        .state
        .endpoint
        .as_ref()
        .filter(|_| !hook.state.deleted)?;
    Some(rows::Webhook {
        id: hook.id,
        url: endpoint.url.as_str().to_string(),
        event_types: endpoint.event_types.as_slice().to_vec(),
        description: endpoint.description.as_ref().map(ToString::to_string),
        disabled_reason: hook.state.disabled.map(DisabledReason::as_str),
    })
}

/// Runs `commands` on the endpoint in order and refreshes (or deletes) its row.
async fn on_webhook(
    uow: &mut UnitOfWork,
    mut hook: Loaded<Webhook>,
    commands: Vec<WebhookCommand>,
) -> ServiceResult<()> {
    for command in commands {
        uow.execute(&mut hook, command).await?;
    }
    match row_of(&hook) {
        Some(row) => uow.side_write(row),
        None => uow.side_write(rows::DeleteWebhook { id: hook.id }),
    }
    Ok(())
}

/// A new endpoint: its id and its secret (shown once).
pub struct CreatedWebhook {
    pub id: Uuid,
    pub secret: String,
}

/// CreateWebhook.
pub async fn create(
    app: &App,
    policy: OutboundPolicy,
    meta: &CommandMeta,
    url: WebhookUrl,
    event_types: EventTypes,
    description: Option<Label>,
) -> ServiceResult<Committed<CreatedWebhook>> {
    allowed(policy, &url).await?;
    let meta = meta.with_command("CreateWebhook");
    let id = Uuid::now_v7();
    let secret = new_secret();
    let sealed = sealing_key(app).seal(secret.as_bytes(), id.as_bytes());
    let created_at = app.clock.now();
    app.store
        .transact(&meta, id, |uow| {
            let command = WebhookCommand::Create {
                url: url.clone(),
                event_types: event_types.clone(),
                description: description.clone(),
            };
            let (sealed, secret) = (sealed.clone(), secret.clone());
            Box::pin(async move {
                let mut hook = uow.new_stream::<Webhook>(id);
                uow.execute(&mut hook, command).await?;
                let config = row_of(&hook).expect("a created endpoint has a row");
                uow.side_write(rows::NewWebhook {
                    config,
                    created_at,
                    secret_sealed: sealed,
                });
                Ok(CreatedWebhook { id, secret })
            })
        })
        .await
}

/// What a PATCH may change.
#[derive(Default)]
pub struct Change {
    pub url: Option<WebhookUrl>,
    pub event_types: Option<EventTypes>,
    pub description: Option<Label>,
    pub enabled: Option<bool>,
}

/// ChangeWebhook (and EnableWebhook / DisableWebhook through `enabled`): setting what is
/// already so writes nothing.
pub async fn change(
    app: &App,
    policy: OutboundPolicy,
    meta: &CommandMeta,
    id: Uuid,
    change: Change,
) -> ServiceResult<Committed<()>> {
    if let Some(url) = &change.url {
        allowed(policy, url).await?;
    }
    let meta = meta.with_command("ChangeWebhook");
    app.store
        .transact(&meta, id, |uow| {
            let change = Change {
                url: change.url.clone(),
                event_types: change.event_types.clone(),
                description: change.description.clone(),
                enabled: change.enabled,
            };
            Box::pin(async move {
                let hook = uow.load::<Webhook>(id).await?;
                let mut commands = vec![WebhookCommand::Change {
                    url: change.url,
                    event_types: change.event_types,
                    description: change.description,
                }];
                match (change.enabled, hook.state.disabled) {
                    (Some(true), Some(_)) => commands.push(WebhookCommand::Enable),
                    (Some(false), None) => commands.push(WebhookCommand::Disable {
                        reason: DisabledReason::Staff,
                    }),
                    _ => {}
                }
                on_webhook(uow, hook, commands).await
            })
        })
        .await
}

/// RotateWebhookSecret: the new secret (shown once); the old one signs beside it for 24 h.
pub async fn rotate_secret(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
) -> ServiceResult<Committed<String>> {
    let meta = meta.with_command("RotateWebhookSecret");
    let secret = new_secret();
    let sealed = sealing_key(app).seal(secret.as_bytes(), id.as_bytes());
    let previous_valid_until = app.clock.now() + ROTATION_OVERLAP;
    app.store
        .transact(&meta, id, |uow| {
            let (secret, sealed) = (secret.clone(), sealed.clone());
            Box::pin(async move {
                let mut hook = uow.load::<Webhook>(id).await?;
                let command = WebhookCommand::RotateSecret {
                    previous_valid_until,
                };
                uow.execute(&mut hook, command).await?;
                uow.side_write(rows::RotateWebhookSecret {
                    id,
                    secret_sealed: sealed,
                    previous_valid_until,
                });
                Ok(secret)
            })
        })
        .await
}

/// DeleteWebhook: the endpoint, its row and its delivery log go.
pub async fn delete(app: &App, meta: &CommandMeta, id: Uuid) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("DeleteWebhook");
    app.store
        .transact(&meta, id, |uow| {
            Box::pin(async move {
                let hook = uow.load::<Webhook>(id).await?;
                on_webhook(uow, hook, vec![WebhookCommand::Delete]).await
            })
        })
        .await
}

/// The dispatcher disables an endpoint (410, or failing throughout the schedule), as the
/// system. An endpoint already disabled or deleted meanwhile is left as it is.
pub async fn disable_by_system(
    app: &App,
    tenant_id: Uuid,
    id: Uuid,
    reason: DisabledReason,
) -> ServiceResult<()> {
    let meta = CommandMeta {
        tenant_id,
        actor: Actor::system(),
        via_token: None,
        request_id: format!("webhook-dispatcher-{}", Uuid::now_v7().simple()),
        client_ip: None,
        user_agent: None,
        command: "DisableWebhook",
    };
    let disabled = app
        .store
        .transact(&meta, id, |uow| {
            Box::pin(async move {
                let hook = uow.load::<Webhook>(id).await?;
                let command = WebhookCommand::Disable { reason };
                on_webhook(uow, hook, vec![command]).await
            })
        })
        .await;
    match disabled {
        Ok(_) => Ok(()),
        Err(ServiceError::Domain(_) | ServiceError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
