//! Read model "contracts": each contract issued to a client and its signature status.

use futures::future::BoxFuture;
use sqlx::PgConnection;

use crate::engine::{Projection, StoredEvent};

pub struct Contracts;

impl Projection for Contracts {
    fn name(&self) -> &'static str {
        "contracts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_contracts"]
    }

    fn event_types(&self) -> &'static [&'static str] {
        &["ContractIssued", "ContractVoided", "ContractSigned"]
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
    match e.event_type.as_str() {
        "ContractIssued" => {
            sqlx::query(
                "INSERT INTO rm_contracts (tenant_id, contract_id, client_id, title, content_sha256, status, issued_at, last_position)
                 VALUES ($1, $2, $3, $4, $5, 'awaiting_signature', $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(e.tenant_id)
            .bind(e.stream_uuid()?)
            .bind(e.uuid("client_id")?)
            .bind(e.text("title").unwrap_or_default())
            .bind(e.text("content_sha256").unwrap_or_default())
            .bind(e.recorded_at)
            .bind(e.global_position)
            .execute(tx)
            .await?;
        }
        "ContractVoided" => {
            sqlx::query(
                "UPDATE rm_contracts SET status = 'voided', voided_at = $3, last_position = $4
                  WHERE tenant_id = $1 AND contract_id = $2",
            )
            .bind(e.tenant_id)
            .bind(e.stream_uuid()?)
            .bind(e.recorded_at)
            .bind(e.global_position)
            .execute(tx)
            .await?;
        }
        "ContractSigned" => {
            let signed_at = e
                .text("signed_at")
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or(e.recorded_at);
            sqlx::query(
                "UPDATE rm_contracts SET status = 'signed', signed_by = $3, signed_by_portal_user_id = $4,
                        signed_at = $5, last_position = $6
                  WHERE tenant_id = $1 AND contract_id = $2",
            )
            .bind(e.tenant_id)
            .bind(e.stream_uuid()?)
            .bind(e.text("signer_name"))
            .bind(e.uuid("portal_user_id")?)
            .bind(signed_at)
            .bind(e.global_position)
            .execute(tx)
            .await?;
        }
        _ => {}
    }
    Ok(())
}
