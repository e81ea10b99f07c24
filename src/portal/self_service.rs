//! Commands a portal user starts by following an emailed link or using the login page:
//! accept an invitation, activate a staff-made login, ask for and complete a password reset.
//! Links arrive as tokens; a token that is forged, expired, replaced or used answers alike.

use aggregates::client::{Client, ClientCommand};
use aggregates::ids::TenantId;
use aggregates::portal_user::{
    OneTimeLink, Origin, PersonNames, PortalUser, PortalUserCommand, PortalUserEventKind,
};
use aggregates::values::{check_password, ClientKind, Username};
use aggregates::DomainError;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::app::App;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::portal::throttle::Count;
use crate::security::LinkRef;
use crate::services::portal_users::store_new_password;
use crate::services::rows;
use crate::store::{CommandMeta, Committed};

/// What each kind of emailed link is for: part of its MAC, so one kind cannot stand in for
/// another.
pub mod purpose {
    pub const INVITATION: &str = "invitation";
    pub const ACTIVATION: &str = "activation";
    pub const RESET: &str = "password_reset";
}

fn link(
    app: &App,
    meta: &CommandMeta,
    purpose: &str,
    token: &str,
    gone: DomainError,
) -> ServiceResult<LinkRef> {
    app.secret
        .verify_link_token(purpose, meta.tenant_id, token.trim())
        .ok_or(ServiceError::Domain(gone))
}

/// What a person gives to accept an invitation.
pub struct Acceptance {
    pub username: Username,
    /// Their names; left empty, an individual client's own name is used.
    pub names: PersonNames,
    pub password: String,
}

/// An invitation link that still works, as its page shows it before anything is typed.
pub struct LiveInvitation {
    /// The names the form offers: an individual client's name, split (see
    /// `PersonNames::suggested_by`); none for an organisation.
    pub suggested_names: PersonNames,
}

/// The invitation a link names, if it can still be accepted: a dry run on current state
/// (nothing a reader stages is committed). The domain decides again on commit.
async fn live_invitation(
    app: &App,
    meta: &CommandMeta,
    token: &str,
) -> ServiceResult<(LinkRef, LiveInvitation)> {
    let link = link(
        app,
        meta,
        purpose::INVITATION,
        token,
        DomainError::InvitationInvalid,
    )?;
    let mut probe = app.store.reader(meta);
    let mut client = probe.load::<Client>(link.stream_id).await?;
    let suggested_names = suggested_names(&client.state);
    let accept = ClientCommand::AcceptInvitation {
        invitation_id: link.link_id,
        portal_user_id: Uuid::now_v7(),
        now: app.clock.now(),
    };
    probe.execute(&mut client, accept).await?;
    Ok((link, LiveInvitation { suggested_names }))
}

fn suggested_names(client: &Client) -> PersonNames {
    match &client.profile {
        Some(p) if p.kind == ClientKind::Individual => {
            PersonNames::suggested_by(p.display_name.as_str())
        }
        _ => PersonNames::default(),
    }
}

/// Whether an invitation link still works (`invitation_invalid` otherwise), and what its
/// page offers: checked when the page opens, so a dead link shows no form.
pub async fn check_invitation(
    app: &App,
    meta: &CommandMeta,
    token: &str,
) -> ServiceResult<LiveInvitation> {
    let meta = meta.with_command("AcceptInvitation");
    Ok(live_invitation(app, &meta, token).await?.1)
}

/// Accepts an invitation: a new, active portal user with the chosen username, names and
/// password, attached to the invited client; the invitation is used up.
pub async fn accept_invitation(
    app: &App,
    meta: &CommandMeta,
    token: &str,
    acceptance: Acceptance,
) -> ServiceResult<Committed<Uuid>> {
    let meta = meta.with_command("AcceptInvitation");
    // Refuse a dead link before spending a password hash on it.
    let (link, live) = live_invitation(app, &meta, token).await?;
    let LinkRef {
        stream_id: client_id,
        link_id: invitation_id,
    } = link;
    let Acceptance {
        username,
        names,
        password,
    } = acceptance;
    let names = if names.is_empty() {
        live.suggested_names
    } else {
        names
    };
    let (portal_user_id, now) = (Uuid::now_v7(), app.clock.now());
    let password_hash = checked_hash(app, password, &username).await?;
    app.store
        .transact(&meta, client_id, |uow| {
            let (username, names) = (username.clone(), names.clone());
            let password_hash = password_hash.clone();
            Box::pin(async move {
                let mut client = uow.load::<Client>(client_id).await?;
                let email = client
                    .state
                    .open_invitation()
                    .filter(|i| i.id == invitation_id)
                    .map(|i| i.email.clone())
                    .ok_or(DomainError::InvitationInvalid)?;
                let accept = ClientCommand::AcceptInvitation {
                    invitation_id,
                    portal_user_id,
                    now,
                };
                uow.execute(&mut client, accept).await?;
                let mut user = uow.new_stream::<PortalUser>(portal_user_id);
                let create = PortalUserCommand::Create {
                    client_id,
                    username,
                    email,
                    names,
                    origin: Origin::Invitation { invitation_id },
                    has_password: true,
                    // Unused: a login made from an invitation is active at once.
                    activation: OneTimeLink {
                        id: Uuid::nil(),
                        expires_at: now,
                    },
                };
                uow.execute(&mut user, create).await?;
                uow.side_write(rows::Credential {
                    portal_user_id,
                    password_hash,
                });
                Ok(portal_user_id)
            })
        })
        .await
}

/// The emailed links a password is set through.
#[derive(Debug, Clone, Copy)]
pub enum PasswordLink {
    /// The first password of a login staff created without one.
    Activation,
    /// A forgotten password's reset; ends the login's sessions.
    Reset,
}

impl PasswordLink {
    /// The command name, the link's purpose and how a dead link of this kind is refused.
    fn terms(self) -> (&'static str, &'static str, DomainError) {
        match self {
            PasswordLink::Activation => (
                "ActivatePortalUser",
                purpose::ACTIVATION,
                DomainError::ActivationInvalid,
            ),
            PasswordLink::Reset => (
                "CompletePasswordReset",
                purpose::RESET,
                DomainError::ResetLinkInvalid,
            ),
        }
    }

    fn command(self, link: LinkRef, now: DateTime<Utc>) -> PortalUserCommand {
        match self {
            PasswordLink::Activation => PortalUserCommand::Activate {
                activation_id: link.link_id,
                now,
            },
            PasswordLink::Reset => PortalUserCommand::CompleteReset {
                reset_id: link.link_id,
                now,
            },
        }
    }
}

/// Whether an activation or reset link still works (410 otherwise): checked when its page
/// opens, so a dead link shows no form.
pub async fn check_password_link(
    app: &App,
    meta: &CommandMeta,
    kind: PasswordLink,
    token: &str,
) -> ServiceResult<()> {
    let (command, token_purpose, invalid) = kind.terms();
    let meta = meta.with_command(command);
    let link = link(app, &meta, token_purpose, token, invalid)?;
    let mut probe = app.store.reader(&meta);
    let mut user = probe.load::<PortalUser>(link.stream_id).await?;
    probe
        .execute(&mut user, kind.command(link, app.clock.now()))
        .await?;
    Ok(())
}

/// Sets a password through the emailed link `token` of the given kind.
pub async fn set_password_by_email(
    app: &App,
    meta: &CommandMeta,
    kind: PasswordLink,
    token: &str,
    password: String,
) -> ServiceResult<Committed<Uuid>> {
    let (command, token_purpose, invalid) = kind.terms();
    let meta = meta.with_command(command);
    let link = link(app, &meta, token_purpose, token, invalid)?;
    let command = move |now| kind.command(link, now);
    set_password_by_link(app, &meta, link.stream_id, password, command).await
}

/// The hash of `password` for the login `username`, once the password passes its rules.
async fn checked_hash(app: &App, password: String, username: &Username) -> ServiceResult<String> {
    check_password(&password, username.as_str())
        .map_err(|m| ServiceError::invalid("password", m))?;
    app.hasher
        .hash(password)
        .await
        .map_err(ServiceError::internal)
}

async fn set_password_by_link(
    app: &App,
    meta: &CommandMeta,
    user_id: Uuid,
    password: String,
    command: impl Fn(DateTime<Utc>) -> PortalUserCommand + Send + Sync,
) -> ServiceResult<Committed<Uuid>> {
    // The link must still work before a hash is spent on it: a dry run on current state
    // (nothing a reader stages is committed). The domain decides again on commit.
    let mut probe = app.store.reader(meta);
    let mut user = probe.load::<PortalUser>(user_id).await?;
    probe.execute(&mut user, command(app.clock.now())).await?;
    let username = user
        .state
        .account
        .as_ref()
        .map(|a| a.username.clone())
        .ok_or(ServiceError::NotFound("portal user"))?;
    let password_hash = checked_hash(app, password, &username).await?;
    app.store
        .transact(meta, user_id, |uow| {
            let (password_hash, command) = (password_hash.clone(), command(app.clock.now()));
            Box::pin(async move {
                let mut user = uow.load::<PortalUser>(user_id).await?;
                uow.execute(&mut user, command).await?;
                store_new_password(uow, user_id, password_hash);
                Ok(user_id)
            })
        })
        .await
}

/// A "forgot password" or "forgot username" request: what was typed (a username, an e-mail
/// address).
pub enum Forgotten {
    Password { username: String },
    Username { email: String },
}

/// A "forgot …" request as it arrives (API or page), answered alike whatever it names:
/// counted against the client's address now, in arrival order — one address asking about
/// many names is quietly refused, so the form cannot flood a firm's clients with e-mail —
/// and carried out after answering, so the answer's timing says nothing about the name.
/// Refused while the firm's portal is switched off.
pub async fn forgotten(app: &App, meta: CommandMeta, what: Forgotten) -> ServiceResult<()> {
    if !crate::portal::portal_active(app, &meta).await? {
        return Err(crate::portal::portal_inactive());
    }
    let (purpose, typed) = match &what {
        Forgotten::Password { username } => ("forgot", username),
        Forgotten::Username { email } => ("forgot_username", email),
    };
    if typed.len() > 256 || !admit_from_address(app, &meta, purpose).await? {
        return Ok(());
    }
    let app = app.clone();
    tokio::spawn(async move {
        let done = match &what {
            Forgotten::Password { username } => forgot_password(&app, &meta, username).await,
            Forgotten::Username { email } => remind_usernames(&app, &meta, email).await,
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, request_id = %meta.request_id, "forgot-password or forgot-username request failed");
        }
    });
    Ok(())
}

/// Counts a request against the client's address; the request that reaches the limit is
/// still served, the ones after it are not.
async fn admit_from_address(app: &App, meta: &CommandMeta, purpose: &str) -> ServiceResult<bool> {
    let Some(ip) = meta.client_ip.as_deref() else {
        return Ok(true);
    };
    let key = app.secret.address_key(purpose, meta.tenant_id, ip);
    let count = Count {
        tenant_id: meta.tenant_id,
        key: &key,
        portal_user_id: None,
        limit: app.limits.forgot_requests_per_address,
        now: app.clock.now(),
    };
    let mut conn = app.pool().acquire().await?;
    let counted = count.add(&mut conn, &app.limits).await?;
    // The request that reaches the limit is still served; the ones after it are not.
    let admitted = !counted.locked || counted.just_locked;
    if !admitted {
        tracing::info!(purpose, "request not served: too many from this address");
    }
    Ok(admitted)
}

/// "Forgot password" (admitted by `forgotten`): `typed` is a username or, failing that, an
/// e-mail address. Emails a reset link (or, to a login never activated, a fresh activation
/// link) to the login of that username, or to each login of that address (each e-mail
/// names its username). Says nothing to the caller about whether the name exists, and
/// quietly does nothing for unknown, disabled or removed logins or when too many links
/// went out recently.
pub async fn forgot_password(app: &App, meta: &CommandMeta, typed: &str) -> ServiceResult<()> {
    let meta = meta.with_command("RequestPasswordReset");
    let tenant = TenantId::from_uuid(meta.tenant_id);
    let found = eventlog::queries::login_by_username(app.pool(), app.keys(), tenant, typed).await?;
    let logins = match found {
        Some(user_id) => vec![user_id.uuid()],
        None if typed.contains('@') => live_logins_of_address(app, &meta, typed).await?,
        None => Vec::new(),
    };
    for user_id in logins {
        send_reset_link(app, &meta, user_id).await?;
    }
    Ok(())
}

/// The live, enabled logins of an e-mail address, as the read model proposes them (each
/// login's stream decides again).
async fn live_logins_of_address(
    app: &App,
    meta: &CommandMeta,
    email: &str,
) -> ServiceResult<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT portal_user_id FROM rm_portal_users
          WHERE tenant_id = $1 AND lower(email) = lower($2) AND NOT removed AND NOT disabled
          ORDER BY portal_user_id LIMIT 20",
    )
    .bind(meta.tenant_id)
    .bind(email.trim())
    .fetch_all(app.pool())
    .await?)
}

/// A reset (or activation) link for one login, unless it had its share recently or cannot
/// be served.
async fn send_reset_link(app: &App, meta: &CommandMeta, user_id: Uuid) -> ServiceResult<()> {
    let tenant = TenantId::from_uuid(meta.tenant_id);
    let links = [
        PortalUserEventKind::PasswordResetLinkIssued.into(),
        PortalUserEventKind::ActivationLinkIssued.into(),
    ];
    let window = app.limits.lockout_window.num_seconds() as f64;
    let recent_links =
        eventlog::queries::recent_count(app.pool(), tenant, user_id, &links, window).await?;
    if recent_links >= app.limits.forgot_links_per_window {
        tracing::info!(%user_id, "reset link not sent: too many recently");
        return Ok(());
    }
    let (limits, now) = (app.limits, app.clock.now());
    let outcome = app
        .store
        .transact(meta, user_id, |uow| {
            Box::pin(async move {
                let mut user = uow.load::<PortalUser>(user_id).await?;
                let Some(account) = user.state.account.as_ref() else {
                    return Ok(());
                };
                if account.disabled || account.removed {
                    return Ok(());
                }
                let command = limits.reset_link_command(now);
                uow.execute(&mut user, command).await
            })
        })
        .await;
    outcome.map(|_| ())
}

/// "Forgot username" (admitted by `forgotten`): e-mails each live, enabled
/// login of that address its username. Says nothing to the caller, and quietly skips
/// logins that had as many reminders as the link limit allows recently.
pub async fn remind_usernames(app: &App, meta: &CommandMeta, email: &str) -> ServiceResult<()> {
    let meta = meta.with_command("RemindUsername");
    let tenant = TenantId::from_uuid(meta.tenant_id);
    // The read model proposes; each login's stream decides (a changed address is checked).
    let candidates = live_logins_of_address(app, &meta, email).await?;
    let window = app.limits.lockout_window.num_seconds() as f64;
    let reminders = [PortalUserEventKind::UsernameReminderIssued.into()];
    for user_id in candidates {
        let recent =
            eventlog::queries::recent_count(app.pool(), tenant, user_id, &reminders, window)
                .await?;
        if recent >= app.limits.forgot_links_per_window {
            tracing::info!(%user_id, "username reminder not sent: too many recently");
            continue;
        }
        let email = email.trim().to_string();
        app.store
            .transact(&meta, user_id, |uow| {
                let email = email.clone();
                Box::pin(async move {
                    let mut user = uow.load::<PortalUser>(user_id).await?;
                    let reachable = user.state.account.as_ref().is_some_and(|a| {
                        !a.removed && !a.disabled && a.email.as_str().eq_ignore_ascii_case(&email)
                    });
                    if reachable {
                        uow.execute(&mut user, PortalUserCommand::RemindUsername)
                            .await?;
                    }
                    Ok::<_, ServiceError>(())
                })
            })
            .await?;
    }
    Ok(())
}

/// A signed-in user changes their password, giving the current one: the new one must meet
/// the rules; every other session of theirs ends (this one goes on), and a lockout lifts.
pub async fn change_password(
    app: &App,
    meta: &CommandMeta,
    scope: &crate::auth::TenantScope,
    session: &crate::portal::sessions::SessionUser,
    username: &Username,
    current: String,
    new: String,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("ChangePassword");
    let user_id = session.portal_user_id;
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT password_hash FROM portal_credentials WHERE tenant_id = $1 AND portal_user_id = $2",
    )
    .bind(scope.id())
    .bind(user_id)
    .fetch_optional(scope.pool())
    .await?;
    let current_ok = app
        .hasher
        .verify(current, stored)
        .await
        .map_err(ServiceError::internal)?;
    let mut refused = Vec::new();
    if !current_ok {
        refused.push(crate::errors::service::FieldError::new(
            "current_password",
            "is not your current password",
        ));
    }
    if let Err(m) = check_password(&new, username.as_str()) {
        refused.push(crate::errors::service::FieldError::new("new_password", m));
    }
    if !refused.is_empty() {
        return Err(ServiceError::Validation(refused));
    }
    let password_hash = app.hasher.hash(new).await.map_err(ServiceError::internal)?;
    let keep = session.session_id;
    app.store
        .transact(&meta, user_id, |uow| {
            let password_hash = password_hash.clone();
            Box::pin(async move {
                let mut user = uow.load::<PortalUser>(user_id).await?;
                uow.execute(&mut user, PortalUserCommand::ChangePassword)
                    .await?;
                uow.side_write(rows::Credential {
                    portal_user_id: user_id,
                    password_hash,
                });
                uow.side_write(rows::EndOtherSessions {
                    portal_user_id: user_id,
                    keep,
                });
                uow.side_write(rows::ClearLoginThrottle {
                    portal_user_id: user_id,
                });
                Ok(())
            })
        })
        .await
}
