//! Portal user commands: CreatePortalUser, group-login access, ResetPassword, DisableLogin /
//! EnableLogin and removing portal access.

use aggregates::client::{Client, ClientCommand};
use aggregates::portal_user::{
    LoginStatus, OneTimeLink, Origin, PersonNames, PortalUser, PortalUserCommand,
};
use aggregates::values::{check_password, Email, PersonName, Reason, Username};
use aggregates::DomainError;
use rand::Rng;
use uuid::Uuid;

use super::clients::registered_client;
use super::rows;
use super::run_on;
use crate::app::App;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::store::{CommandMeta, Committed, Loaded, UnitOfWork};

pub struct NewPortalUser {
    pub client_id: Uuid,
    pub email: Email,
    pub username: Option<Username>,
    pub names: PersonNames,
    pub password: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CreatedPortalUser {
    pub id: Uuid,
    pub username: Username,
    pub status: LoginStatus,
}

/// Attempts at a free generated username before giving up (each draws a new suffix).
const USERNAME_DRAWS: usize = 8;

pub async fn create(
    app: &App,
    meta: &CommandMeta,
    new: NewPortalUser,
) -> ServiceResult<Committed<CreatedPortalUser>> {
    let meta = meta.with_command("CreatePortalUser");
    let chosen = new.username.is_some();
    for _ in 0..USERNAME_DRAWS {
        let username = match &new.username {
            Some(u) => u.clone(),
            None => {
                Username::generate(new.email.as_str(), rand::thread_rng().gen_range(0..100_000))
            }
        };
        let password_hash = match &new.password {
            Some(p) => {
                check_password(p, username.as_str())
                    .map_err(|m| ServiceError::invalid("password", m))?;
                Some(
                    app.hasher
                        .hash(p.clone())
                        .await
                        .map_err(ServiceError::internal)?,
                )
            }
            None => None,
        };
        match create_with(app, &meta, &new, username, password_hash).await {
            Err(ServiceError::Domain(DomainError::UsernameTaken)) if !chosen => continue,
            other => return other,
        }
    }
    Err(DomainError::UsernameTaken.into())
}

async fn create_with(
    app: &App,
    meta: &CommandMeta,
    new: &NewPortalUser,
    username: Username,
    password_hash: Option<String>,
) -> ServiceResult<Committed<CreatedPortalUser>> {
    let id = Uuid::now_v7();
    let client_id = new.client_id;
    let activation = OneTimeLink {
        id: Uuid::now_v7(),
        expires_at: app.clock.now() + app.limits.activation_ttl,
    };
    app.store
        .transact(meta, client_id, |uow| {
            let (username, email, names, password_hash) = (
                username.clone(),
                new.email.clone(),
                new.names.clone(),
                password_hash.clone(),
            );
            Box::pin(async move {
                let mut client = registered_client(uow, client_id).await?;
                let mut user = uow.new_stream::<PortalUser>(id);
                let command = PortalUserCommand::Create {
                    client_id,
                    username: username.clone(),
                    email,
                    names,
                    origin: Origin::Staff,
                    has_password: password_hash.is_some(),
                    activation,
                };
                uow.execute(&mut user, command).await?;
                uow.execute(
                    &mut client,
                    ClientCommand::AttachPortalUser { portal_user_id: id },
                )
                .await?;
                if let Some(password_hash) = password_hash {
                    uow.side_write(rows::Credential {
                        portal_user_id: id,
                        password_hash,
                    });
                }
                let status = user.state.status().expect("just created");
                Ok(CreatedPortalUser {
                    id,
                    username,
                    status,
                })
            })
        })
        .await
}

async fn existing_user(uow: &mut UnitOfWork, id: Uuid) -> ServiceResult<Loaded<PortalUser>> {
    let user = uow.load::<PortalUser>(id).await?;
    if user.state.account.is_none() {
        return Err(ServiceError::NotFound("portal user"));
    }
    Ok(user)
}

/// A group login reaching one more client's area.
pub async fn grant_client_access(
    app: &App,
    meta: &CommandMeta,
    user_id: Uuid,
    client_id: Uuid,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("GrantClientAccess");
    change_client_access(app, &meta, user_id, client_id, true).await
}

pub async fn revoke_client_access(
    app: &App,
    meta: &CommandMeta,
    user_id: Uuid,
    client_id: Uuid,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("RevokeClientAccess");
    change_client_access(app, &meta, user_id, client_id, false).await
}

/// Access is recorded on both sides — the login's clients and the client's logins — in one
/// commit, so the individual-client rule and the login's last-client rule both hold.
async fn change_client_access(
    app: &App,
    meta: &CommandMeta,
    user_id: Uuid,
    client_id: Uuid,
    grant: bool,
) -> ServiceResult<Committed<()>> {
    let (user_command, client_command) = if grant {
        (
            PortalUserCommand::GrantClientAccess { client_id },
            ClientCommand::AttachPortalUser {
                portal_user_id: user_id,
            },
        )
    } else {
        (
            PortalUserCommand::RevokeClientAccess { client_id },
            ClientCommand::DetachPortalUser {
                portal_user_id: user_id,
            },
        )
    };
    app.store
        .transact(meta, user_id, |uow| {
            let (user_command, client_command) = (user_command.clone(), client_command.clone());
            Box::pin(async move {
                let mut user = existing_user(uow, user_id).await?;
                let mut client = registered_client(uow, client_id).await?;
                uow.execute(&mut user, user_command).await?;
                uow.execute(&mut client, client_command).await
            })
        })
        .await
}

pub enum ResetMode {
    EmailLink,
    Set { new_password: String },
}

/// ResendActivation: a fresh activation e-mail for a login waiting for activation; earlier
/// activation links stop working. Lives as long as the server's activation links do.
pub async fn resend_activation(
    app: &App,
    meta: &CommandMeta,
    user_id: Uuid,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("ResendActivation");
    let command = PortalUserCommand::ResendActivation {
        link_id: Uuid::now_v7(),
        now: app.clock.now(),
        lifetime: app.limits.activation_ttl,
    };
    app.store
        .transact(&meta, user_id, |uow| {
            let command = command.clone();
            Box::pin(async move {
                let mut user = existing_user(uow, user_id).await?;
                uow.execute(&mut user, command).await
            })
        })
        .await
}

/// ResetPassword. Either way, any earlier reset link stops working.
pub async fn reset_password(
    app: &App,
    meta: &CommandMeta,
    user_id: Uuid,
    mode: ResetMode,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("ResetPassword");
    match mode {
        ResetMode::EmailLink => {
            let (limits, now) = (app.limits, app.clock.now());
            app.store
                .transact(&meta, user_id, |uow| {
                    Box::pin(async move {
                        let mut user = existing_user(uow, user_id).await?;
                        let command = limits.reset_link_command(now);
                        uow.execute(&mut user, command).await
                    })
                })
                .await
        }
        ResetMode::Set { new_password } => {
            let username = {
                let mut probe = app.store.reader(&meta);
                let user = existing_user(&mut probe, user_id).await?;
                user.state
                    .account
                    .map(|a| a.username)
                    .expect("existing user has an account")
            };
            check_password(&new_password, username.as_str())
                .map_err(|m| ServiceError::invalid("new_password", m))?;
            let password_hash = app
                .hasher
                .hash(new_password)
                .await
                .map_err(ServiceError::internal)?;
            app.store
                .transact(&meta, user_id, |uow| {
                    let password_hash = password_hash.clone();
                    Box::pin(async move {
                        let mut user = existing_user(uow, user_id).await?;
                        uow.execute(&mut user, PortalUserCommand::SetPasswordByStaff)
                            .await?;
                        store_new_password(uow, user_id, password_hash);
                        Ok(())
                    })
                })
                .await
        }
    }
}

/// What goes with every new password, in the same commit: the hash, the end of the
/// sessions opened with the old one, and the end of any lockout.
pub(crate) fn store_new_password(uow: &mut UnitOfWork, user_id: Uuid, password_hash: String) {
    uow.side_write(rows::Credential {
        portal_user_id: user_id,
        password_hash,
    });
    uow.side_write(rows::EndSessions {
        portal_user_id: user_id,
        reason: "password_changed",
    });
    uow.side_write(rows::ClearLoginThrottle {
        portal_user_id: user_id,
    });
}

pub async fn disable(
    app: &App,
    meta: &CommandMeta,
    user_id: Uuid,
    reason: Option<Reason>,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("DisableLogin");
    app.store
        .transact(&meta, user_id, |uow| {
            let reason = reason.clone();
            Box::pin(async move {
                let mut user = existing_user(uow, user_id).await?;
                uow.execute(&mut user, PortalUserCommand::Disable { reason })
                    .await?;
                uow.side_write(rows::EndSessions {
                    portal_user_id: user_id,
                    reason: "disabled",
                });
                Ok(())
            })
        })
        .await
}

/// Removes every second factor and recovery code of a login (a lost phone), saying why;
/// its sessions and any second step under way end with them (409 `no_second_factor` when
/// it has none).
pub async fn reset_second_factors(
    app: &App,
    meta: &CommandMeta,
    user_id: Uuid,
    reason: Reason,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("ResetSecondFactors");
    app.store
        .transact(&meta, user_id, |uow| {
            let reason = reason.clone();
            Box::pin(async move {
                let mut user = existing_user(uow, user_id).await?;
                uow.execute(&mut user, PortalUserCommand::ResetSecondFactors { reason })
                    .await?;
                uow.side_write(rows::DeleteTotp {
                    portal_user_id: user_id,
                });
                uow.side_write(rows::DeletePasskeys {
                    portal_user_id: user_id,
                });
                uow.side_write(rows::ReplaceRecoveryCodes {
                    portal_user_id: user_id,
                    hashes: Vec::new(),
                });
                uow.side_write(rows::EndChallenges {
                    portal_user_id: user_id,
                });
                uow.side_write(rows::EndSessions {
                    portal_user_id: user_id,
                    reason: "mfa_reset",
                });
                Ok(())
            })
        })
        .await
}

/// Lifts a lockout from failed logins (409 `not_locked` when there is none).
pub async fn unlock(app: &App, meta: &CommandMeta, user_id: Uuid) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("UnlockLogin");
    let locked: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM portal_login_throttle
                         WHERE tenant_id = $1 AND portal_user_id = $2 AND locked_until > $3)",
    )
    .bind(meta.tenant_id)
    .bind(user_id)
    .bind(app.clock.now())
    .fetch_one(app.pool())
    .await?;
    app.store
        .transact(&meta, user_id, |uow| {
            Box::pin(async move {
                let mut user = existing_user(uow, user_id).await?;
                uow.execute(&mut user, PortalUserCommand::Unlock { locked })
                    .await?;
                uow.side_write(rows::ClearLoginThrottle {
                    portal_user_id: user_id,
                });
                Ok(())
            })
        })
        .await
}

/// What a PATCH of a login changes: `None` leaves a field, `Some(None)` removes a name part.
#[derive(Debug, Clone, Default)]
pub struct DetailsChange {
    pub first_name: Option<Option<PersonName>>,
    pub last_name: Option<Option<PersonName>>,
    pub email: Option<Email>,
}

/// Staff change a login's name or e-mail address (PATCH): what is given and differs is
/// recorded; links already e-mailed keep working.
pub async fn change_details(
    app: &App,
    meta: &CommandMeta,
    user_id: Uuid,
    change: DetailsChange,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("ChangePortalUserDetails");
    app.store
        .transact(&meta, user_id, |uow| {
            let change = change.clone();
            Box::pin(async move {
                let mut user = existing_user(uow, user_id).await?;
                let command = PortalUserCommand::ChangeDetails {
                    first_name: change.first_name,
                    last_name: change.last_name,
                    email: change.email,
                };
                uow.execute(&mut user, command).await
            })
        })
        .await
}

pub async fn enable(app: &App, meta: &CommandMeta, user_id: Uuid) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("EnableLogin");
    run_on::<PortalUser>(app, &meta, user_id, PortalUserCommand::Enable).await
}

/// Removes portal access: the login stops working, every client it reached is freed (an
/// individual client may be invited again) and the username stays reserved.
pub async fn remove(app: &App, meta: &CommandMeta, user_id: Uuid) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("RemovePortalAccess");
    app.store
        .transact(&meta, user_id, |uow| {
            Box::pin(async move {
                let mut user = existing_user(uow, user_id).await?;
                let client_ids: Vec<Uuid> = user
                    .state
                    .account
                    .as_ref()
                    .map(|a| a.clients.iter().copied().collect())
                    .unwrap_or_default();
                uow.execute(&mut user, PortalUserCommand::Remove).await?;
                uow.side_write(rows::EndSessions {
                    portal_user_id: user_id,
                    reason: "removed",
                });
                for mut client in uow.load_many::<Client>(&client_ids).await? {
                    if client.state.portal_users.contains(&user_id) {
                        let detach = ClientCommand::DetachPortalUser {
                            portal_user_id: user_id,
                        };
                        uow.execute(&mut client, detach).await?;
                    }
                }
                Ok(())
            })
        })
        .await
}
