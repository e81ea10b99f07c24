//! EraseClient: the client's and its logins' personal data made unreadable for good — the
//! domain records `ClientErased` (refused under a legal hold), and in the same transaction
//! their data keys are destroyed and the rows beside the log scrubbed (`rows::erasure`).
//! The read models follow from the event (projections), the audit chain stays as it was.

use aggregates::client::{Client, ClientCommand};
use aggregates::values::Reason;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::rows::erasure::Erased;
use crate::app::App;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::store::{CommandMeta, Committed};

/// What an erasure did.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Erasure {
    pub erased_at: DateTime<Utc>,
    pub position: i64,
    /// Events of the client, its logins and contracts written before personal fields were
    /// sealed: their plaintext stays in the log (docs/privacy.md, "Events from before").
    pub plaintext_events: i64,
}

pub async fn erase(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    reason: Reason,
) -> ServiceResult<Erasure> {
    let meta = meta.with_command("EraseClient");
    let Committed {
        value: erased,
        position,
    } = app
        .store
        .transact(&meta, id, |uow| {
            let reason = reason.clone();
            Box::pin(async move {
                let mut client = uow.load::<Client>(id).await?;
                let portal_user_ids = client.state.portal_users.iter().copied().collect();
                uow.execute(&mut client, ClientCommand::Erase { reason })
                    .await?;
                let erased = Erased {
                    client_id: id,
                    portal_user_ids,
                };
                for row in erased.rows() {
                    uow.side_write(row);
                }
                Ok::<_, ServiceError>(erased)
            })
        })
        .await?;
    app.store.forget_erased(meta.tenant_id, &erased.subjects());
    let plaintext_events = plaintext_events(app, meta.tenant_id, &erased).await?;
    tracing::info!(client_id = %id, logins = erased.portal_user_ids.len(), position, "client erased");
    Ok(Erasure {
        erased_at: app.clock.now(),
        position,
        plaintext_events,
    })
}

/// Events of the client's history (its stream, its logins', its contracts) that hold a
/// personal field in the clear.
async fn plaintext_events(app: &App, tenant: Uuid, erased: &Erased) -> ServiceResult<i64> {
    let tenant = aggregates::ids::TenantId::from_uuid(tenant);
    Ok(eventlog::queries::plaintext_personal_events(app.pool(), tenant, erased.client_id).await?)
}

/// Erases, as the system, every archived client whose firm's retention
/// (`erase_archived_after_days`) has run out by the service's clock, skipping those on hold;
/// how many were erased.
pub async fn sweep_retention(app: &App) -> ServiceResult<usize> {
    let now = app.clock.now();
    let mut erased = 0;
    for (tenant, days) in eventlog::queries::retention_days(app.pool()).await? {
        let cutoff = now - chrono::Duration::days(days);
        let due = eventlog::queries::archived_before(app.pool(), tenant, cutoff).await?;
        let meta = CommandMeta {
            tenant_id: tenant.uuid(),
            actor: eventlog::Actor::system(),
            via_token: None,
            request_id: format!("retention-{}", Uuid::now_v7()),
            client_ip: None,
            user_agent: None,
            command: "EraseClient",
        };
        let reason = Reason::parse(&format!("retention: archived more than {days} days"))
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!(e)))?;
        for client in due {
            match erase(app, &meta, client, reason.clone()).await {
                Ok(_) => erased += 1,
                // Held (or erased meanwhile): left for when the hold is released.
                Err(ServiceError::Domain(
                    aggregates::DomainError::UnderLegalHold | aggregates::DomainError::ClientErased,
                )) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(erased)
}
