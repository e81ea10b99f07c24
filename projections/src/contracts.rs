//! Read model "contracts": each contract issued to a client and its signature status.

use aggregates::client::{ClientEvent, ClientEventKind};
use aggregates::contract::{ContractEvent, ContractEventKind as K};
use aggregates::events::AnyEvent;
use eventlog::Envelope;
use sqlx::PgConnection;

use crate::engine::{Projection, ProjectionError};

pub struct Contracts;

impl Projection for Contracts {
    crate::projection_basics!(
        "contracts",
        tables: ["rm_contracts"],
        events: [
            K::ContractIssued,
            K::ContractVoided,
            K::ContractSigned,
            ClientEventKind::ClientErased,
        ],
    );
}

async fn apply(tx: &mut PgConnection, e: &Envelope) -> Result<(), ProjectionError> {
    if let AnyEvent::Client(ClientEvent::ClientErased { .. }) = &e.event {
        sqlx::query(
            "UPDATE rm_contracts SET signed_by = '[erased]'
              WHERE tenant_id = $1 AND client_id = $2 AND signed_by IS NOT NULL",
        )
        .bind(e.tenant.uuid())
        .bind(e.stream_uuid()?)
        .execute(tx)
        .await?;
        return Ok(());
    }
    let AnyEvent::Contract(event) = &e.event else {
        return Ok(());
    };
    let (tenant, contract_id, position) = (e.tenant.uuid(), e.stream_uuid()?, e.global_position);
    match event {
        ContractEvent::SignatureRequested { .. } => {}
        ContractEvent::ContractIssued {
            client_id,
            title,
            content_sha256,
            ..
        } => {
            sqlx::query(
                "INSERT INTO rm_contracts (tenant_id, contract_id, client_id, title, content_sha256, status, issued_at, last_position)
                 VALUES ($1, $2, $3, $4, $5, 'awaiting_signature', $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(contract_id)
            .bind(client_id)
            .bind(title.as_str())
            .bind(content_sha256)
            .bind(e.recorded_at)
            .bind(position)
            .execute(tx)
            .await?;
        }
        ContractEvent::ContractVoided { .. } => {
            sqlx::query(
                "UPDATE rm_contracts SET status = 'voided', voided_at = $3, last_position = $4
                  WHERE tenant_id = $1 AND contract_id = $2",
            )
            .bind(tenant)
            .bind(contract_id)
            .bind(e.recorded_at)
            .bind(position)
            .execute(tx)
            .await?;
        }
        ContractEvent::ContractSigned {
            portal_user_id,
            signer_name,
            signed_at,
            ..
        } => {
            sqlx::query(
                "UPDATE rm_contracts SET status = 'signed', signed_by = $3, signed_by_portal_user_id = $4,
                        signed_at = $5, last_position = $6
                  WHERE tenant_id = $1 AND contract_id = $2",
            )
            .bind(tenant)
            .bind(contract_id)
            .bind(signer_name.as_str())
            .bind(portal_user_id)
            .bind(signed_at)
            .bind(position)
            .execute(tx)
            .await?;
        }
    }
    Ok(())
}
