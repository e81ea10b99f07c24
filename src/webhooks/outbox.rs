//! The `webhook_outbox` consumer of the log: every catalogued event becomes one delivery
//! row per endpoint subscribed to its type at that point of the log, under the consumer's
//! own checkpoint, so each message is owed exactly once however often the process
//! restarts. It keeps its own view of the subscriptions (`webhook_subscriptions`), changed
//! by the endpoints' events in log order: an endpoint receives what was committed after it
//! was created and while it was enabled. Not rebuildable: that would send everything again.

use std::collections::HashMap;

use aggregates::events::{AnyEvent, EventKind};
use aggregates::webhook::{WebhookEvent, WebhookEventKind as W};
use chrono::{DateTime, Utc};
use eventlog::Envelope;
use projections::{Projection, ProjectionError};
use sqlx::PgConnection;
use uuid::Uuid;

use super::catalogue;

pub struct Outbox;

pub const NAME: &str = "webhook_outbox";

/// The endpoint events that change what it subscribes to.
const SUBSCRIPTION_KINDS: &[W] = &[
    W::WebhookCreated,
    W::WebhookEventTypesChanged,
    W::WebhookDisabled,
    W::WebhookEnabled,
    W::WebhookDeleted,
];

impl Projection for Outbox {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        // Deliveries are owed once per (endpoint, message id): refilling the subscriptions
        // and reading the log again owes nothing twice.
        &["webhook_subscriptions"]
    }

    fn event_types(&self) -> Vec<&'static str> {
        let webhook = SUBSCRIPTION_KINDS
            .iter()
            .map(|k| EventKind::Webhook(*k).name());
        let catalogued = catalogue::CATALOGUED.iter().map(|(kind, _)| kind.name());
        webhook.chain(catalogued).collect()
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Envelope,
    ) -> futures::future::BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move { apply_all(tx, std::slice::from_ref(&event)).await })
    }

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [&'a Envelope],
    ) -> futures::future::BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(apply_all(tx, events))
    }
}

#[derive(Clone, sqlx::FromRow)]
struct Subscription {
    tenant_id: Uuid,
    webhook_id: Uuid,
    event_types: Vec<String>,
    active: bool,
}

impl Subscription {
    fn wants(&self, event_type: &str) -> bool {
        self.active && self.event_types.iter().any(|t| t == "*" || t == event_type)
    }
}

/// Owed deliveries, gathered for one INSERT.
#[derive(Default)]
struct Deliveries {
    ids: Vec<Uuid>,
    tenants: Vec<Uuid>,
    webhooks: Vec<Uuid>,
    message_ids: Vec<String>,
    types: Vec<&'static str>,
    positions: Vec<i64>,
    occurred: Vec<DateTime<Utc>>,
    data: Vec<serde_json::Value>,
}

/// The batch in three statements whatever its size: read the batch's tenants'
/// subscriptions, write the changed ones back, insert every owed delivery.
async fn apply_all(tx: &mut PgConnection, events: &[&Envelope]) -> Result<(), ProjectionError> {
    let mut tenants: Vec<Uuid> = events.iter().map(|e| e.tenant.uuid()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let stored: Vec<Subscription> = sqlx::query_as(
        "SELECT tenant_id, webhook_id, event_types, active FROM webhook_subscriptions
          WHERE tenant_id = ANY($1)",
    )
    .bind(&tenants)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_tenant: HashMap<Uuid, Vec<Subscription>> = HashMap::new();
    for s in stored {
        by_tenant.entry(s.tenant_id).or_default().push(s);
    }
    let mut changed: HashMap<Uuid, Option<Subscription>> = HashMap::new();
    let mut owed = Deliveries::default();
    for event in events {
        let tenant = event.tenant.uuid();
        let subs = by_tenant.entry(tenant).or_default();
        if let AnyEvent::Webhook(e) = &event.event {
            let id = event.stream_uuid()?;
            subscribe(subs, tenant, id, e);
            changed.insert(id, subs.iter().find(|s| s.webhook_id == id).cloned());
            continue;
        }
        let Some(message) = catalogue::message_of(event)? else {
            continue;
        };
        for sub in subs.iter().filter(|s| s.wants(message.event_type)) {
            owed.ids.push(Uuid::now_v7());
            owed.tenants.push(tenant);
            owed.webhooks.push(sub.webhook_id);
            owed.message_ids
                .push(catalogue::message_id(event.global_position));
            owed.types.push(message.event_type);
            owed.positions.push(event.global_position);
            owed.occurred.push(event.recorded_at);
            owed.data.push(message.data.clone());
        }
    }
    write_subscriptions(tx, changed).await?;
    insert(tx, owed).await
}

/// Applies one endpoint event to the tenant's subscriptions.
fn subscribe(subs: &mut Vec<Subscription>, tenant_id: Uuid, webhook_id: Uuid, e: &WebhookEvent) {
    use WebhookEvent as E;
    let existing = subs.iter().position(|s| s.webhook_id == webhook_id);
    match (e, existing) {
        (E::WebhookCreated { event_types, .. }, None) => subs.push(Subscription {
            tenant_id,
            webhook_id,
            event_types: event_types.as_slice().to_vec(),
            active: true,
        }),
        (E::WebhookEventTypesChanged { event_types }, Some(i)) => {
            subs[i].event_types = event_types.as_slice().to_vec()
        }
        (E::WebhookDisabled { .. }, Some(i)) => subs[i].active = false,
        (E::WebhookEnabled {}, Some(i)) => subs[i].active = true,
        (E::WebhookDeleted {}, Some(i)) => {
            subs.remove(i);
        }
        _ => {}
    }
}

async fn write_subscriptions(
    tx: &mut PgConnection,
    changed: HashMap<Uuid, Option<Subscription>>,
) -> Result<(), ProjectionError> {
    for (webhook_id, sub) in changed {
        match sub {
            Some(s) => {
                sqlx::query(
                    "INSERT INTO webhook_subscriptions (tenant_id, webhook_id, event_types, active)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant_id, webhook_id) DO UPDATE
                        SET event_types = EXCLUDED.event_types, active = EXCLUDED.active",
                )
                .bind(s.tenant_id)
                .bind(s.webhook_id)
                .bind(&s.event_types)
                .bind(s.active)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM webhook_subscriptions WHERE webhook_id = $1")
                    .bind(webhook_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    Ok(())
}

/// One INSERT for the batch; an endpoint deleted since (its row gone) is skipped, and a
/// message already owed (a batch applied twice) is not owed again.
async fn insert(tx: &mut PgConnection, owed: Deliveries) -> Result<(), ProjectionError> {
    if owed.ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, message_id, event_type,
                                         position, occurred_at, data, next_attempt_at)
         SELECT d.id, d.tenant_id, d.webhook_id, d.message_id, d.event_type, d.position,
                d.occurred_at, d.data, d.occurred_at
           FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bigint[],
                       $7::timestamptz[], $8::jsonb[])
                AS d (id, tenant_id, webhook_id, message_id, event_type, position, occurred_at, data)
           JOIN webhooks w ON w.id = d.webhook_id AND w.tenant_id = d.tenant_id
         ON CONFLICT (webhook_id, message_id) DO NOTHING",
    )
    .bind(&owed.ids)
    .bind(&owed.tenants)
    .bind(&owed.webhooks)
    .bind(&owed.message_ids)
    .bind(&owed.types)
    .bind(&owed.positions)
    .bind(&owed.occurred)
    .bind(&owed.data)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
