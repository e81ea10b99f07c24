//! Read model "history", for reporting: every invitation with its state and times
//! (`rm_invitations`), and every price an item has had with its validity period
//! (`rm_item_prices`). Staff screens read current state elsewhere; this is what analysts ask
//! "how did it go" and "what did it cost then" of.

use aggregates::client::{ClientEvent, ClientEventKind as C, RevocationReason};
use aggregates::events::AnyEvent;
use aggregates::item::{ItemEvent, ItemEventKind as I};
use aggregates::values::Money;
use eventlog::Envelope;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::engine::{Projection, ProjectionError};

pub struct History;

impl Projection for History {
    crate::projection_basics!(
        "history",
        tables: ["rm_invitations", "rm_item_prices"],
        events: [
            C::ClientInvited,
            C::InvitationRevoked,
            C::InvitationAccepted,
            I::ItemCreated,
            I::ItemPriceChanged,
        ],
    );
}

async fn apply(tx: &mut PgConnection, e: &Envelope) -> Result<(), ProjectionError> {
    let (tenant, stream, position) = (e.tenant.uuid(), e.stream_uuid()?, e.global_position);
    match &e.event {
        AnyEvent::Client(ClientEvent::ClientInvited {
            invitation_id,
            email,
            expires_at,
        }) => {
            sqlx::query(
                "INSERT INTO rm_invitations (tenant_id, invitation_id, client_id, email, state, sent_at, expires_at, last_position)
                 VALUES ($1, $2, $3, $4, 'open', $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(invitation_id)
            .bind(stream)
            .bind(email.as_str())
            .bind(e.recorded_at)
            .bind(expires_at)
            .bind(position)
            .execute(tx)
            .await?;
        }
        AnyEvent::Client(ClientEvent::InvitationRevoked {
            invitation_id,
            reason,
        }) => {
            let state = match reason {
                RevocationReason::Revoked => "revoked",
                RevocationReason::Replaced => "replaced",
            };
            end_invitation(tx, e, *invitation_id, state, None).await?;
        }
        AnyEvent::Client(ClientEvent::InvitationAccepted {
            invitation_id,
            portal_user_id,
        }) => {
            end_invitation(tx, e, *invitation_id, "accepted", Some(*portal_user_id)).await?;
        }
        AnyEvent::Item(
            ItemEvent::ItemCreated { unit_price, .. }
            | ItemEvent::ItemPriceChanged { unit_price, .. },
        ) => new_price(tx, e, stream, unit_price).await?,
        _ => {}
    }
    Ok(())
}

async fn end_invitation(
    tx: &mut PgConnection,
    e: &Envelope,
    invitation_id: Uuid,
    state: &str,
    portal_user_id: Option<Uuid>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE rm_invitations SET state = $3, ended_at = $4, portal_user_id = $5, last_position = $6
          WHERE tenant_id = $1 AND invitation_id = $2",
    )
    .bind(e.tenant.uuid())
    .bind(invitation_id)
    .bind(state)
    .bind(e.recorded_at)
    .bind(portal_user_id)
    .bind(e.global_position)
    .execute(tx)
    .await?;
    Ok(())
}

/// Closes the item's current price at this event's time and opens the new one, in one
/// statement.
async fn new_price(
    tx: &mut PgConnection,
    e: &Envelope,
    item_id: Uuid,
    price: &Money,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "WITH closed AS (
             UPDATE rm_item_prices SET valid_to = $5
              WHERE tenant_id = $1 AND item_id = $2 AND valid_to IS NULL AND position < $6)
         INSERT INTO rm_item_prices (tenant_id, item_id, amount_minor, currency, valid_from, position)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(e.tenant.uuid())
    .bind(item_id)
    .bind(price.amount_minor)
    .bind(&price.currency)
    .bind(e.recorded_at)
    .bind(e.global_position)
    .execute(tx)
    .await?;
    Ok(())
}
