//! Read model "history", for reporting: every invitation with its state and times
//! (`rm_invitations`), and every price an item has had (`rm_item_price_changes`; the view
//! `rm_item_prices` gives each its validity period). Staff screens read current state elsewhere; this is what analysts ask
//! "how did it go" and "what did it cost then" of.

use aggregates::client::{ClientEvent, ClientEventKind as C, RevocationReason};
use aggregates::events::AnyEvent;
use aggregates::item::{ItemEvent, ItemEventKind as I};
use aggregates::values::Money;
use chrono::{DateTime, Utc};
use eventlog::Envelope;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::engine::{Projection, ProjectionError};

pub struct History;

impl Projection for History {
    crate::projection_basics!(
        "history",
        tables: ["rm_invitations", "rm_item_price_changes"],
        events: [
            C::ClientInvited,
            C::InvitationRevoked,
            C::InvitationAccepted,
            C::ClientErased,
            I::ItemCreated,
            I::ItemPriceChanged,
        ],
        batch: apply_all,
    );
}

async fn apply(tx: &mut PgConnection, e: &Envelope) -> Result<(), ProjectionError> {
    apply_all(tx, std::slice::from_ref(&e)).await
}

/// A batch in at most four statements: the new invitations, the ended ones, the new
/// prices, then the addresses of erased clients. A price change is one row written once
/// (its end is the next one's start, read through the view), so rebuilding a log of price
/// changes is bound by reading the log, not by a round trip per event or by updates.
async fn apply_all(tx: &mut PgConnection, events: &[&Envelope]) -> Result<(), ProjectionError> {
    let mut rows = Rows::default();
    for e in events {
        rows.take(e)?;
    }
    rows.invited.insert(tx).await?;
    rows.ended.update(tx).await?;
    rows.prices.insert(tx).await?;
    if !rows.erased.is_empty() {
        let (tenants, clients): (Vec<Uuid>, Vec<Uuid>) = rows.erased.into_iter().unzip();
        sqlx::query(
            "UPDATE rm_invitations r SET email = '[erased]'
               FROM UNNEST($1::uuid[], $2::uuid[]) AS u(tenant_id, client_id)
              WHERE r.tenant_id = u.tenant_id AND r.client_id = u.client_id",
        )
        .bind(tenants)
        .bind(clients)
        .execute(tx)
        .await?;
    }
    Ok(())
}

#[derive(Default)]
struct Rows {
    invited: Invited,
    ended: Ended,
    prices: Prices,
    /// Clients whose personal data was erased (tenant, client).
    erased: Vec<(Uuid, Uuid)>,
}

impl Rows {
    fn take(&mut self, e: &Envelope) -> Result<(), ProjectionError> {
        let (tenant, stream, position) = (e.tenant.uuid(), e.stream_uuid()?, e.global_position);
        match &e.event {
            AnyEvent::Client(ClientEvent::ClientInvited {
                invitation_id,
                email,
                expires_at,
            }) => {
                let i = &mut self.invited;
                i.tenants.push(tenant);
                i.ids.push(*invitation_id);
                i.clients.push(stream);
                i.emails.push(email.as_str().to_string());
                i.sent.push(e.recorded_at);
                i.expires.push(*expires_at);
                i.positions.push(position);
            }
            AnyEvent::Client(ClientEvent::InvitationRevoked {
                invitation_id,
                reason,
            }) => {
                let state = match reason {
                    RevocationReason::Revoked => "revoked",
                    RevocationReason::Replaced => "replaced",
                };
                self.ended.push(e, *invitation_id, state, None);
            }
            AnyEvent::Client(ClientEvent::InvitationAccepted {
                invitation_id,
                portal_user_id,
            }) => {
                self.ended
                    .push(e, *invitation_id, "accepted", Some(*portal_user_id));
            }
            AnyEvent::Item(
                ItemEvent::ItemCreated { unit_price, .. }
                | ItemEvent::ItemPriceChanged { unit_price, .. },
            ) => self.prices.push(e, stream, unit_price),
            AnyEvent::Client(ClientEvent::ClientErased { .. }) => {
                self.erased.push((tenant, stream))
            }
            _ => {}
        }
        Ok(())
    }
}

/// New invitations, open.
#[derive(Default)]
struct Invited {
    tenants: Vec<Uuid>,
    ids: Vec<Uuid>,
    clients: Vec<Uuid>,
    emails: Vec<String>,
    sent: Vec<DateTime<Utc>>,
    expires: Vec<DateTime<Utc>>,
    positions: Vec<i64>,
}

impl Invited {
    async fn insert(self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO rm_invitations (tenant_id, invitation_id, client_id, email, state, sent_at, expires_at, last_position)
             SELECT t, i, c, e, 'open', s, x, p
               FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[],
                           $6::timestamptz[], $7::bigint[]) AS u(t, i, c, e, s, x, p)
             ON CONFLICT DO NOTHING",
        )
        .bind(self.tenants)
        .bind(self.ids)
        .bind(self.clients)
        .bind(self.emails)
        .bind(self.sent)
        .bind(self.expires)
        .bind(self.positions)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// Invitations that ended (accepted, revoked, replaced). An invitation ends once, after it
/// was sent: applied after the batch's new invitations, the outcome is the one-by-one one.
#[derive(Default)]
struct Ended {
    tenants: Vec<Uuid>,
    ids: Vec<Uuid>,
    states: Vec<&'static str>,
    at: Vec<DateTime<Utc>>,
    users: Vec<Option<Uuid>>,
    positions: Vec<i64>,
}

impl Ended {
    fn push(&mut self, e: &Envelope, invitation_id: Uuid, state: &'static str, user: Option<Uuid>) {
        self.tenants.push(e.tenant.uuid());
        self.ids.push(invitation_id);
        self.states.push(state);
        self.at.push(e.recorded_at);
        self.users.push(user);
        self.positions.push(e.global_position);
    }

    async fn update(self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE rm_invitations r
                SET state = u.state, ended_at = u.at, portal_user_id = u.user_id, last_position = u.position
               FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::uuid[], $6::bigint[])
                    AS u(tenant_id, invitation_id, state, at, user_id, position)
              WHERE r.tenant_id = u.tenant_id AND r.invitation_id = u.invitation_id",
        )
        .bind(self.tenants)
        .bind(self.ids)
        .bind(self.states)
        .bind(self.at)
        .bind(self.users)
        .bind(self.positions)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// New prices, each a row of its own.
#[derive(Default)]
struct Prices {
    tenants: Vec<Uuid>,
    items: Vec<Uuid>,
    amounts: Vec<i64>,
    currencies: Vec<String>,
    valid_from: Vec<DateTime<Utc>>,
    positions: Vec<i64>,
}

impl Prices {
    fn push(&mut self, e: &Envelope, item: Uuid, price: &Money) {
        self.tenants.push(e.tenant.uuid());
        self.items.push(item);
        self.amounts.push(price.amount_minor);
        self.currencies.push(price.currency.clone());
        self.valid_from.push(e.recorded_at);
        self.positions.push(e.global_position);
    }

    /// A plain INSERT: each event is applied once (its batch commits with the checkpoint),
    /// and its position is the row's key. (`ON CONFLICT` would make every row a speculative
    /// insertion, twice the cost of a rebuild's bulk of price rows.)
    async fn insert(self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.positions.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO rm_item_price_changes (tenant_id, item_id, amount_minor, currency, valid_from, position)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::timestamptz[], $6::bigint[])",
        )
        .bind(self.tenants)
        .bind(self.items)
        .bind(self.amounts)
        .bind(self.currencies)
        .bind(self.valid_from)
        .bind(self.positions)
        .execute(tx)
        .await?;
        Ok(())
    }
}
