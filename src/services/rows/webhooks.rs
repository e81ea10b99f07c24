//! Webhook endpoints as staff read them back and the dispatcher sends by
//! (`secrets.webhooks`): the configuration as the endpoint's events leave it, and the
//! signing secret sealed (`sealing`), never in an event.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{SideStatement, SideWrite};

/// A new endpoint: its configuration and its sealed secret.
pub struct NewWebhook {
    pub config: Webhook,
    pub created_at: DateTime<Utc>,
    pub secret_sealed: Vec<u8>,
}

impl SideWrite for NewWebhook {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        let c = &self.config;
        sqlx::query(
            "INSERT INTO webhooks (id, tenant_id, url, event_types, description, enabled,
                                   disabled_reason, secret_sealed, created_at)
             VALUES ($1, $2, $3, $4, $5, $6 IS NULL, $6, $7, $8)",
        )
        .bind(c.id)
        .bind(tenant_id)
        .bind(&c.url)
        .bind(&c.event_types)
        .bind(&c.description)
        .bind(c.disabled_reason)
        .bind(&self.secret_sealed)
        .bind(self.created_at)
    }
}

/// An endpoint's configuration as a command leaves it.
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub disabled_reason: Option<&'static str>,
}

impl SideWrite for Webhook {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "UPDATE webhooks SET url = $3, event_types = $4, description = $5,
                    enabled = $6 IS NULL, disabled_reason = $6
              WHERE id = $1 AND tenant_id = $2",
        )
        .bind(self.id)
        .bind(tenant_id)
        .bind(&self.url)
        .bind(&self.event_types)
        .bind(&self.description)
        .bind(self.disabled_reason)
    }
}

/// A new secret; the one it replaces keeps signing until `previous_valid_until`.
pub struct RotateWebhookSecret {
    pub id: Uuid,
    pub secret_sealed: Vec<u8>,
    pub previous_valid_until: DateTime<Utc>,
}

impl SideWrite for RotateWebhookSecret {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query(
            "UPDATE webhooks SET previous_secret_sealed = secret_sealed, secret_sealed = $3,
                    previous_valid_until = $4
              WHERE id = $1 AND tenant_id = $2",
        )
        .bind(self.id)
        .bind(tenant_id)
        .bind(&self.secret_sealed)
        .bind(self.previous_valid_until)
    }
}

/// A deleted endpoint's row and its delivery log go with the command's commit.
pub struct DeleteWebhook {
    pub id: Uuid,
}

impl SideWrite for DeleteWebhook {
    fn statement(&self, tenant_id: Uuid) -> SideStatement<'_> {
        sqlx::query("DELETE FROM webhooks WHERE id = $1 AND tenant_id = $2")
            .bind(self.id)
            .bind(tenant_id)
    }
}
