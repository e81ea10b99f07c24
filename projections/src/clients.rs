//! Read model "clients": each client with its invitation, each portal user with its
//! status, and which user reaches which client — behind the client list, client and
//! portal-user detail and the invitation dashboard (its counters: `dashboard`).

use aggregates::client::{ClientEvent, ClientEventKind as C};
use aggregates::events::AnyEvent;
use aggregates::portal_user::{PortalUserEvent, PortalUserEventKind as U};
use eventlog::Envelope;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

use crate::engine::{Projection, ProjectionError};

pub struct Clients;

impl Projection for Clients {
    crate::projection_basics!(
        "clients",
        tables: [
            "rm_clients",
            "rm_portal_users",
            "rm_portal_user_clients",
            "rm_client_buckets",
            "rm_client_counts",
        ],
        events: [
            C::ClientRegistered,
            C::ClientRenamed,
            C::ClientEmailChanged,
            C::ClientInvited,
            C::InvitationRevoked,
            C::InvitationAccepted,
            C::PortalUserAttached,
            C::PortalUserDetached,
            C::ClientArchived,
            C::ClientUnarchived,
            C::LegalHoldSet,
            C::LegalHoldReleased,
            C::ClientErased,
            U::PortalUserCreated,
            U::PortalUserRenamed,
            U::PortalUserEmailChanged,
            U::PortalUserActivated,
            U::LoginDisabled,
            U::LoginEnabled,
            U::PortalAccessRemoved,
            U::SecondFactorAdded,
            U::SecondFactorRemoved,
            U::PasskeyAdded,
            U::PasskeyRemoved,
            U::SecondFactorsReset,
            U::RecoveryCodesIssued,
            U::RecoveryCodeUsed,
        ],
        batch: apply_runs,
    );
}

/// Registrations and renames are what a busy firm writes most: each run of them is one
/// statement (for renames the last name per client in the run wins, as replaying them
/// one by one would leave it); anything else is applied event by event.
async fn apply_runs(tx: &mut PgConnection, events: &[&Envelope]) -> Result<(), ProjectionError> {
    for run in crate::engine::runs(events) {
        if run.is_many(C::ClientRegistered) {
            registrations(tx, run.events).await?;
        } else if run.is_many(C::ClientRenamed) {
            renames(tx, run.events).await?;
        } else {
            for event in run.events {
                apply_event(tx, event).await?;
            }
        }
    }
    crate::dashboard::recount(tx, events).await
}

/// A run of `ClientRegistered`: one INSERT.
async fn registrations(tx: &mut PgConnection, run: &[&Envelope]) -> Result<(), ProjectionError> {
    let n = run.len();
    let (mut tenants, mut ids, mut names, mut kinds) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut emails, mut refs, mut times, mut positions) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for e in run {
        if let AnyEvent::Client(ClientEvent::ClientRegistered {
            display_name,
            kind,
            email,
            external_ref,
        }) = &e.event
        {
            tenants.push(e.tenant.uuid());
            ids.push(e.stream_uuid()?);
            names.push(display_name.as_str());
            kinds.push(kind.as_str());
            emails.push(email.as_ref().map(|m| m.as_str()));
            refs.push(external_ref.as_ref().map(|r| r.as_str()));
            times.push(e.recorded_at);
            positions.push(e.global_position);
        }
    }
    sqlx::query(
        "INSERT INTO rm_clients (tenant_id, client_id, display_name, kind, email, external_ref, registered_at, last_position)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[])
         ON CONFLICT DO NOTHING",
    )
    .bind(tenants)
    .bind(ids)
    .bind(names)
    .bind(kinds)
    .bind(emails)
    .bind(refs)
    .bind(times)
    .bind(positions)
    .execute(tx)
    .await?;
    Ok(())
}

/// A run of `ClientRenamed`: one UPDATE, with each client's last name in the run.
async fn renames(tx: &mut PgConnection, run: &[&Envelope]) -> Result<(), ProjectionError> {
    let mut latest: HashMap<(Uuid, Uuid), (&str, i64)> = HashMap::new();
    for e in run {
        if let AnyEvent::Client(ClientEvent::ClientRenamed { display_name }) = &e.event {
            latest.insert(
                (e.tenant.uuid(), e.stream_uuid()?),
                (display_name.as_str(), e.global_position),
            );
        }
    }
    let (mut tenants, mut ids, mut names, mut positions) = (vec![], vec![], vec![], vec![]);
    for ((tenant, id), (name, position)) in latest {
        tenants.push(tenant);
        ids.push(id);
        names.push(name);
        positions.push(position);
    }
    sqlx::query(
        "UPDATE rm_clients c SET display_name = u.display_name, last_position = u.position
           FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bigint[])
                AS u(tenant_id, client_id, display_name, position)
          WHERE c.tenant_id = u.tenant_id AND c.client_id = u.client_id",
    )
    .bind(tenants)
    .bind(ids)
    .bind(names)
    .bind(positions)
    .execute(tx)
    .await?;
    Ok(())
}

async fn apply(tx: &mut PgConnection, e: &Envelope) -> Result<(), ProjectionError> {
    apply_event(tx, e).await?;
    crate::dashboard::recount(tx, &[e]).await
}

async fn apply_event(tx: &mut PgConnection, e: &Envelope) -> Result<(), ProjectionError> {
    match &e.event {
        AnyEvent::Client(event) => apply_client(tx, e, event).await,
        AnyEvent::PortalUser(event) => apply_user(tx, e, event).await,
        _ => Ok(()),
    }
}

async fn apply_client(
    tx: &mut PgConnection,
    e: &Envelope,
    event: &ClientEvent,
) -> Result<(), ProjectionError> {
    let (tenant, client_id, position) = (e.tenant.uuid(), e.stream_uuid()?, e.global_position);
    match event {
        ClientEvent::ClientRegistered {
            display_name,
            kind,
            email,
            external_ref,
        } => {
            sqlx::query(
                "INSERT INTO rm_clients (tenant_id, client_id, display_name, kind, email, external_ref, registered_at, last_position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(client_id)
            .bind(display_name.as_str())
            .bind(kind.as_str())
            .bind(email.as_ref().map(|m| m.as_str()))
            .bind(external_ref.as_ref().map(|r| r.as_str()))
            .bind(e.recorded_at)
            .bind(position)
            .execute(tx)
            .await?;
        }
        ClientEvent::ClientRenamed { display_name } => {
            let name = display_name.as_str();
            update(tx, e, Row::Client, "display_name = $4", name).await?;
        }
        ClientEvent::ClientEmailChanged { email } => {
            let email = email.as_ref().map(|m| m.as_str().to_owned());
            update(tx, e, Row::Client, "email = $4", email).await?;
        }
        ClientEvent::ClientInvited {
            invitation_id,
            expires_at,
            ..
        } => {
            sqlx::query(
                "UPDATE rm_clients SET invitation_id = $3, invitation_state = 'open', invited_at = $4,
                        invitation_expires_at = $5, last_position = $6
                  WHERE tenant_id = $1 AND client_id = $2",
            )
            .bind(tenant)
            .bind(client_id)
            .bind(invitation_id)
            .bind(e.recorded_at)
            .bind(expires_at)
            .bind(position)
            .execute(tx)
            .await?;
        }
        ClientEvent::InvitationRevoked { invitation_id, .. } => {
            invitation_state(tx, e, *invitation_id, "revoked").await?;
        }
        ClientEvent::InvitationAccepted { invitation_id, .. } => {
            invitation_state(tx, e, *invitation_id, "accepted").await?;
        }
        ClientEvent::PortalUserAttached { portal_user_id } => {
            let sql = "INSERT INTO rm_portal_user_clients (tenant_id, client_id, portal_user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
            login_link(tx, sql, tenant, client_id, *portal_user_id).await?;
        }
        ClientEvent::PortalUserDetached { portal_user_id } => {
            let sql = "DELETE FROM rm_portal_user_clients WHERE tenant_id = $1 AND client_id = $2 AND portal_user_id = $3";
            login_link(tx, sql, tenant, client_id, *portal_user_id).await?;
        }
        ClientEvent::ClientArchived {} => {
            update(tx, e, Row::Client, "archived = $4", true).await?;
        }
        ClientEvent::ClientUnarchived {} => {
            update(tx, e, Row::Client, "archived = $4", false).await?;
        }
        ClientEvent::LegalHoldSet { reason } => {
            let set = "legal_hold_reason = $4, legal_hold_since = $5";
            update(tx, e, Row::Client, set, reason.as_str().to_owned()).await?;
        }
        ClientEvent::LegalHoldReleased { .. } => {
            let set = "legal_hold_reason = $4, legal_hold_since = NULL";
            update(tx, e, Row::Client, set, None::<String>).await?;
        }
        ClientEvent::ClientErased { .. } => erased(tx, e, client_id).await?,
        ClientEvent::ItemAssigned { .. } | ClientEvent::ItemUnassigned { .. } => {}
    }
    Ok(())
}

/// An erased client and the logins attached to it keep their rows (ids, states, counts) and
/// lose every personal field: events written before sealing still hold plaintext, and a
/// rebuild must not bring it back.
async fn erased(
    tx: &mut PgConnection,
    e: &Envelope,
    client_id: Uuid,
) -> Result<(), ProjectionError> {
    let set = "display_name = '[erased]', email = NULL, external_ref = NULL, erased_at = $4";
    update(tx, e, Row::Client, set, e.recorded_at).await?;
    sqlx::query(
        "UPDATE rm_portal_users u
            SET username = '[erased]', email = '[erased]', first_name = NULL, last_name = NULL
           FROM rm_portal_user_clients c
          WHERE c.tenant_id = $1 AND c.client_id = $2
            AND u.tenant_id = c.tenant_id AND u.portal_user_id = c.portal_user_id",
    )
    .bind(e.tenant.uuid())
    .bind(client_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Links a login to a client or unlinks it (`sql` binds tenant, client, login).
async fn login_link(
    tx: &mut PgConnection,
    sql: &'static str,
    tenant: Uuid,
    client_id: Uuid,
    portal_user_id: Uuid,
) -> Result<(), ProjectionError> {
    sqlx::query(sql)
        .bind(tenant)
        .bind(client_id)
        .bind(portal_user_id)
        .execute(tx)
        .await?;
    Ok(())
}

async fn invitation_state(
    tx: &mut PgConnection,
    e: &Envelope,
    invitation_id: Uuid,
    state: &str,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE rm_clients SET invitation_state = $4, last_position = $5
          WHERE tenant_id = $1 AND client_id = $2 AND invitation_id = $3",
    )
    .bind(e.tenant.uuid())
    .bind(e.stream_uuid()?)
    .bind(invitation_id)
    .bind(state)
    .bind(e.global_position)
    .execute(tx)
    .await?;
    Ok(())
}

async fn apply_user(
    tx: &mut PgConnection,
    e: &Envelope,
    event: &PortalUserEvent,
) -> Result<(), ProjectionError> {
    match event {
        PortalUserEvent::PortalUserCreated {
            username,
            email,
            first_name,
            last_name,
            activated,
            ..
        } => {
            sqlx::query(
                "INSERT INTO rm_portal_users (tenant_id, portal_user_id, username, email, created_at, activated_at, last_position, first_name, last_name)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            )
            .bind(e.tenant.uuid())
            .bind(e.stream_uuid()?)
            .bind(username.as_str())
            .bind(email.as_str())
            .bind(e.recorded_at)
            .bind(activated.then_some(e.recorded_at))
            .bind(e.global_position)
            .bind(first_name.as_ref().map(|n| n.as_str()))
            .bind(last_name.as_ref().map(|n| n.as_str()))
            .execute(tx)
            .await?;
        }
        PortalUserEvent::PortalUserRenamed {
            first_name,
            last_name,
        } => {
            let names: Vec<Option<String>> = [first_name, last_name]
                .iter()
                .map(|n| n.as_ref().map(|n| n.as_str().to_owned()))
                .collect();
            let set = "first_name = ($4::text[])[1], last_name = ($4::text[])[2]";
            update(tx, e, Row::User, set, names).await?
        }
        PortalUserEvent::PortalUserEmailChanged { email } => {
            update(tx, e, Row::User, "email = $4", email.as_str().to_owned()).await?
        }
        PortalUserEvent::PortalUserActivated { .. } => {
            let set = "activated_at = COALESCE(activated_at, $4)";
            update(tx, e, Row::User, set, e.recorded_at).await?
        }
        PortalUserEvent::LoginDisabled { reason } => {
            let reason = reason.as_ref().map(|r| r.as_str().to_owned());
            let set = "disabled = true, disabled_reason = $4";
            update(tx, e, Row::User, set, reason).await?
        }
        PortalUserEvent::LoginEnabled {} => {
            let set = "disabled = false, disabled_reason = $4";
            update(tx, e, Row::User, set, None::<String>).await?
        }
        PortalUserEvent::PortalAccessRemoved { .. } => {
            update(tx, e, Row::User, "removed = $4", true).await?
        }
        // Recovery codes stand in for a factor: with the last factor gone they go too (the
        // right-hand sides read the row as it was).
        PortalUserEvent::SecondFactorAdded { .. } => {
            update(tx, e, Row::User, "totp_enabled = $4", true).await?
        }
        PortalUserEvent::SecondFactorRemoved { .. } => {
            let set = "totp_enabled = $4,
                       recovery_codes_left = CASE WHEN passkeys > 0 THEN recovery_codes_left ELSE 0 END";
            update(tx, e, Row::User, set, false).await?
        }
        PortalUserEvent::PasskeyAdded { .. } => {
            update(tx, e, Row::User, "passkeys = passkeys + $4", 1).await?
        }
        PortalUserEvent::PasskeyRemoved { .. } => {
            let set = "passkeys = passkeys - $4,
                       recovery_codes_left = CASE WHEN totp_enabled OR passkeys > $4
                                                  THEN recovery_codes_left ELSE 0 END";
            update(tx, e, Row::User, set, 1).await?
        }
        PortalUserEvent::SecondFactorsReset { .. } => {
            let set = "totp_enabled = $4, passkeys = 0, recovery_codes_left = 0";
            update(tx, e, Row::User, set, false).await?
        }
        PortalUserEvent::RecoveryCodesIssued { count: left }
        | PortalUserEvent::RecoveryCodeUsed { left } => {
            let set = "recovery_codes_left = $4";
            update(tx, e, Row::User, set, *left as i32).await?
        }
        PortalUserEvent::ActivationLinkIssued { .. }
        | PortalUserEvent::PasswordChanged { .. }
        | PortalUserEvent::PasswordResetLinkIssued { .. }
        | PortalUserEvent::ClientAccessGranted { .. }
        | PortalUserEvent::ClientAccessRevoked { .. }
        | PortalUserEvent::LoginUnlocked {}
        | PortalUserEvent::UsernameReminderIssued {} => {}
    }
    Ok(())
}

/// The row an event's stream owns: a client in `rm_clients` or a login in `rm_portal_users`.
#[derive(Clone, Copy)]
enum Row {
    Client,
    User,
}

/// Sets one column (`set` uses `$4` for `value`, `$5` for the event's time) on the row of
/// the event's stream.
async fn update<T>(
    tx: &mut PgConnection,
    e: &Envelope,
    row: Row,
    set: &str,
    value: T,
) -> Result<(), ProjectionError>
where
    T: Send + for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    let (table, key) = match row {
        Row::Client => ("rm_clients", "client_id"),
        Row::User => ("rm_portal_users", "portal_user_id"),
    };
    crate::row::set_column(tx, e, table, key, set, value).await
}
