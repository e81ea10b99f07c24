//! Client commands: register, change details, InviteClient (single and bulk), revoke the
//! invitation. (Items on a client's portal: `client_items`.)

use std::borrow::Cow;
use std::collections::HashMap;

use aggregates::client::{Client, ClientCommand, ClientEventKind};
use aggregates::ids::TenantId;
use aggregates::portal_user::{LoginStatus, PortalUser};
use aggregates::values::{ClientKind, DisplayName, Email, ExternalRef};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{run_on, start};
use crate::app::App;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::store::{CommandMeta, Committed, Loaded, UnitOfWork};

pub struct NewClient {
    pub display_name: DisplayName,
    pub kind: ClientKind,
    pub email: Option<Email>,
    pub external_ref: Option<ExternalRef>,
}

pub async fn register(
    app: &App,
    meta: &CommandMeta,
    new: NewClient,
) -> ServiceResult<Committed<Uuid>> {
    let meta = meta.with_command("RegisterClient");
    let command = ClientCommand::Register {
        display_name: new.display_name,
        kind: new.kind,
        email: new.email,
        external_ref: new.external_ref,
    };
    start::<Client>(app, &meta, command).await
}

/// What a PATCH of a client changes: `None` leaves a field, `email: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ClientChange {
    pub display_name: Option<DisplayName>,
    pub email: Option<Option<Email>>,
}

pub async fn change_details(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    change: ClientChange,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("ChangeClientDetails");
    app.store
        .transact(&meta, id, |uow| {
            let change = change.clone();
            Box::pin(async move {
                let mut client = registered_client(uow, id).await?;
                if let Some(display_name) = change.display_name {
                    uow.execute(&mut client, ClientCommand::Rename { display_name })
                        .await?;
                }
                if let Some(email) = change.email {
                    uow.execute(&mut client, ClientCommand::ChangeEmail { email })
                        .await?;
                }
                Ok(())
            })
        })
        .await
}

#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    pub invitation_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// What an invitation needs from the firm's stream: the server's limits with the firm's own
/// policies, and whether its portal is switched on.
async fn invitation_terms(
    app: &App,
    meta: &CommandMeta,
) -> ServiceResult<(crate::app::Limits, bool)> {
    let tenant = super::tenants::settings(app, meta).await?;
    let limits = app.limits.for_firm(tenant.policies.as_ref());
    Ok((limits, !tenant.portal_inactive))
}

pub async fn invite(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
) -> ServiceResult<Committed<Invitation>> {
    let meta = meta.with_command("InviteClient");
    let (limits, portal_active) = invitation_terms(app, &meta).await?;
    let ttl = limits.invitation_ttl;
    let invitation = Invitation {
        invitation_id: Uuid::now_v7(),
        expires_at: app.clock.now() + ttl,
    };
    app.store
        .transact(&meta, id, |uow| {
            let invitation = invitation.clone();
            Box::pin(async move {
                let mut client = registered_client(uow, id).await?;
                let has_active_login = has_active_login(uow, &[&client]).await?[0];
                let command = ClientCommand::Invite {
                    invitation_id: invitation.invitation_id,
                    expires_at: invitation.expires_at,
                    has_active_login,
                    portal_active,
                };
                uow.execute(&mut client, command).await?;
                Ok(invitation)
            })
        })
        .await
}

/// Archives a client (refused while one of its logins can log in) or brings it back.
pub async fn set_archived(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    archived: bool,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command(if archived {
        "ArchiveClient"
    } else {
        "UnarchiveClient"
    });
    app.store
        .transact(&meta, id, |uow| {
            Box::pin(async move {
                let mut client = registered_client(uow, id).await?;
                let command = if archived {
                    let has_active_login = has_active_login(uow, &[&client]).await?[0];
                    ClientCommand::Archive { has_active_login }
                } else {
                    ClientCommand::Unarchive
                };
                uow.execute(&mut client, command).await?;
                Ok(())
            })
        })
        .await
}

/// Puts the client's records on legal hold (`held`) or releases them, saying why; an
/// archived client may be held.
pub async fn set_legal_hold(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    held: bool,
    reason: aggregates::values::Reason,
) -> ServiceResult<Committed<()>> {
    let (name, command) = if held {
        ("SetLegalHold", ClientCommand::SetLegalHold { reason })
    } else {
        (
            "ReleaseLegalHold",
            ClientCommand::ReleaseLegalHold { reason },
        )
    };
    run_on::<Client>(app, &meta.with_command(name), id, command).await
}

pub async fn revoke_invitation(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("RevokeInvitation");
    run_on::<Client>(app, &meta, id, ClientCommand::RevokeInvitation).await
}

/// Which clients a bulk invitation is for.
#[derive(Debug, Clone)]
pub enum BulkSelection {
    Ids(Vec<Uuid>),
    /// Every client that has never been invited (or whose invitation was revoked) and has
    /// no portal login: the dashboard's "not invited".
    NotInvited,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BulkInvited {
    pub client_id: Uuid,
    pub invitation_id: Uuid,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BulkSkipped {
    pub client_id: Uuid,
    /// `no_email`, `already_active`, `already_invited`, `not_found`, `archived`,
    /// `portal_inactive` (the firm's portal is switched off), or `has_portal_user` (an
    /// individual client whose one portal login exists but is not active yet).
    pub reason: Cow<'static, str>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BulkOutcome {
    pub invited: Vec<BulkInvited>,
    pub skipped: Vec<BulkSkipped>,
}

/// Clients per transaction: large enough to make a dashboard's "invite all" a handful of
/// round trips, small enough that one conflict does not redo thousands.
const BULK_CHUNK: usize = 250;

pub async fn bulk_invite(
    app: &App,
    meta: &CommandMeta,
    selection: BulkSelection,
) -> ServiceResult<Committed<BulkOutcome>> {
    let meta = meta.with_command("InviteClient");
    let filter_mode = matches!(selection, BulkSelection::NotInvited);
    let ids = match selection {
        BulkSelection::Ids(ids) => dedup(ids),
        BulkSelection::NotInvited => registered_client_ids(app, meta.tenant_id).await?,
    };
    let mut outcome = BulkOutcome::default();
    let mut position = 0;
    let (limits, portal_active) = invitation_terms(app, &meta).await?;
    let ttl = limits.invitation_ttl;
    for chunk in ids.chunks(BULK_CHUNK) {
        let expires_at = app.clock.now() + ttl;
        let done = app
            .store
            .transact(&meta, meta.tenant_id, |uow| {
                let chunk = chunk.to_vec();
                let invite = Chunk {
                    expires_at,
                    filter_mode,
                    portal_active,
                };
                Box::pin(async move { invite_chunk(uow, &chunk, invite).await })
            })
            .await?;
        position = position.max(done.position);
        outcome.invited.extend(done.value.invited);
        outcome.skipped.extend(done.value.skipped);
    }
    Ok(Committed {
        value: outcome,
        position,
    })
}

/// How a chunk of a bulk invitation is invited.
#[derive(Clone, Copy)]
struct Chunk {
    expires_at: DateTime<Utc>,
    /// "every client not invited" (true) or clients named by id.
    filter_mode: bool,
    portal_active: bool,
}

async fn invite_chunk(
    uow: &mut UnitOfWork,
    ids: &[Uuid],
    invite: Chunk,
) -> ServiceResult<BulkOutcome> {
    let Chunk {
        expires_at,
        filter_mode,
        portal_active,
    } = invite;
    let mut clients = uow.load_many::<Client>(ids).await?;
    let registered: Vec<&Loaded<Client>> =
        clients.iter().filter(|c| c.state.is_registered()).collect();
    let active: HashMap<Uuid, bool> = registered
        .iter()
        .map(|c| c.id)
        .zip(has_active_login(uow, &registered).await?)
        .collect();
    let mut outcome = BulkOutcome::default();
    for client in clients.iter_mut() {
        let skip = |reason: &'static str| BulkSkipped {
            client_id: client.id,
            reason: reason.into(),
        };
        let Some(profile) = client.state.profile.as_ref() else {
            outcome.skipped.push(skip("not_found"));
            continue;
        };
        if client.state.archived {
            // Archived clients are not in "not invited"; named by id, they are reported.
            if !filter_mode {
                outcome.skipped.push(skip("archived"));
            }
            continue;
        }
        let open_invitation = client
            .state
            .invitation
            .as_ref()
            .is_some_and(|i| i.state == aggregates::client::InvitationState::Open);
        if filter_mode && (open_invitation || !client.state.portal_users.is_empty()) {
            // Invited (or expired, or with a login) since the list was drawn up.
            if active[&client.id] {
                outcome.skipped.push(skip("already_active"));
            } else if open_invitation {
                outcome.skipped.push(skip("already_invited"));
            }
            continue;
        }
        if profile.email.is_none() {
            outcome.skipped.push(skip("no_email"));
            continue;
        }
        let invitation_id = Uuid::now_v7();
        let command = ClientCommand::Invite {
            invitation_id,
            expires_at,
            has_active_login: active[&client.id],
            portal_active,
        };
        match uow.execute(client, command).await {
            Ok(()) => outcome.invited.push(BulkInvited {
                client_id: client.id,
                invitation_id,
            }),
            Err(ServiceError::Domain(e)) => {
                let reason = match e {
                    aggregates::DomainError::ClientHasNoEmail => "no_email",
                    aggregates::DomainError::ClientAlreadyActive => "already_active",
                    aggregates::DomainError::IndividualClientHasUser => "has_portal_user",
                    aggregates::DomainError::PortalInactive => "portal_inactive",
                    _ => return Err(e.into()),
                };
                outcome.skipped.push(BulkSkipped {
                    client_id: client.id,
                    reason: reason.into(),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(outcome)
}

fn dedup(ids: Vec<Uuid>) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::new();
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}

/// All clients of the tenant that could be "not invited": registered, no portal user, no
/// open invitation. Read from the log (the write side does not wait for read models).
async fn registered_client_ids(app: &App, tenant_id: Uuid) -> ServiceResult<Vec<Uuid>> {
    let registered = ClientEventKind::ClientRegistered.into();
    let tenant = TenantId::from_uuid(tenant_id);
    Ok(eventlog::queries::streams_with(app.pool(), tenant, registered).await?)
}

/// For each client, whether any of its portal users can log in now. The users' state lives in
/// their own streams, read here in one query.
pub(crate) async fn has_active_login(
    uow: &mut UnitOfWork,
    clients: &[&Loaded<Client>],
) -> ServiceResult<Vec<bool>> {
    let user_ids: Vec<Uuid> = clients
        .iter()
        .flat_map(|c| c.state.portal_users.iter().copied())
        .collect();
    let users = uow.load_many::<PortalUser>(&user_ids).await?;
    let active: std::collections::HashSet<Uuid> = users
        .iter()
        .filter(|u| u.state.status() == Some(LoginStatus::Active))
        .map(|u| u.id)
        .collect();
    Ok(clients
        .iter()
        .map(|c| c.state.portal_users.iter().any(|u| active.contains(u)))
        .collect())
}

pub(crate) async fn registered_client(
    uow: &mut UnitOfWork,
    id: Uuid,
) -> ServiceResult<Loaded<Client>> {
    let client = uow.load::<Client>(id).await?;
    if !client.state.is_registered() {
        return Err(ServiceError::NotFound("client"));
    }
    Ok(client)
}
