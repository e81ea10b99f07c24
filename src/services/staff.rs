//! Staff members (create, change, disable, enable) and the tokens that act for them or for
//! a service (issue, revoke). The member's current name, role and status are written to the
//! `staff_members` lookup row with each change, and token rows with theirs, so
//! authentication sees every change from its commit on.

use aggregates::staff_member::{StaffMember, StaffMemberCommand};
use aggregates::tenant::{StaffRole, Tenant, TenantCommand, TokenHolder};
use aggregates::values::{Email, PersonName};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::rows;
use crate::app::App;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::security::{new_staff_token, sha256};
use crate::store::{CommandMeta, Committed, Loaded, UnitOfWork};

/// A member's row for authentication, as the member's events leave it.
fn member_row(member: &Loaded<StaffMember>) -> Option<rows::StaffMember> {
    let profile = member.state.profile.as_ref()?;
    Some(rows::StaffMember {
        id: member.id,
        name: profile.name.to_string(),
        email: profile.email.to_string(),
        role: profile.role.as_str(),
        disabled: member.state.disabled,
    })
}

/// Runs one member command and refreshes the member's lookup row with it.
async fn on_member(
    uow: &mut UnitOfWork,
    mut member: Loaded<StaffMember>,
    command: StaffMemberCommand,
) -> ServiceResult<()> {
    uow.execute(&mut member, command).await?;
    if let Some(row) = member_row(&member) {
        uow.side_write(row);
    }
    Ok(())
}

/// CreateStaffMember.
pub async fn create_member(
    app: &App,
    meta: &CommandMeta,
    name: PersonName,
    email: Email,
    role: StaffRole,
) -> ServiceResult<Committed<Uuid>> {
    let meta = meta.with_command("CreateStaffMember");
    let id = Uuid::now_v7();
    app.store
        .transact(&meta, id, |uow| {
            let command = StaffMemberCommand::Create {
                name: name.clone(),
                email: email.clone(),
                role,
            };
            Box::pin(async move {
                let member = uow.new_stream::<StaffMember>(id);
                on_member(uow, member, command).await?;
                Ok(id)
            })
        })
        .await
}

/// Rename, change e-mail or role, disable or enable a member (ChangeStaffMember,
/// DisableStaffMember, EnableStaffMember).
pub async fn change_member(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    command: StaffMemberCommand,
) -> ServiceResult<Committed<()>> {
    let name = match command {
        StaffMemberCommand::Disable => "DisableStaffMember",
        StaffMemberCommand::Enable => "EnableStaffMember",
        _ => "ChangeStaffMember",
    };
    let meta = meta.with_command(name);
    // Nobody disables themselves: the last admin would lock the firm out of its own staff
    // settings. (A rule about who acts, so it lives here, not in the member's aggregate.)
    if matches!(command, StaffMemberCommand::Disable) && meta.actor.id == Some(id) {
        return Err(ServiceError::Conflict {
            code: "cannot_disable_self",
            detail: "a staff member cannot disable themselves; ask another admin".into(),
        });
    }
    app.store
        .transact(&meta, id, |uow| {
            let command = command.clone();
            Box::pin(async move {
                let member = uow.load::<StaffMember>(id).await?;
                on_member(uow, member, command).await
            })
        })
        .await
}

/// What a new token is for.
pub struct NewToken {
    pub label: Option<String>,
    /// `Some`: a personal token of this member; `None`: a service token.
    pub staff_id: Option<Uuid>,
    /// Defaults to the member's role (personal) or admin (service: its person's role decides).
    pub role: Option<StaffRole>,
    pub expires_in_days: i64,
}

/// A token just issued: the secret is in here and nowhere else, ever.
pub struct IssuedToken {
    pub id: Uuid,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// IssueStaffToken.
pub async fn issue_token(
    app: &App,
    meta: &CommandMeta,
    new: NewToken,
) -> ServiceResult<Committed<IssuedToken>> {
    let meta = meta.with_command("IssueStaffToken");
    let (token_id, token) = new_staff_token();
    let token_hash = sha256(token.as_bytes());
    let expires_at = app.clock.now() + Duration::days(new.expires_in_days);
    let tenant_id = meta.tenant_id;
    let committed = app
        .store
        .transact(&meta, tenant_id, |uow| {
            let (label, token_hash) = (new.label.clone(), token_hash.clone());
            let (staff_id, role) = (new.staff_id, new.role);
            Box::pin(async move {
                let (holder, role) = match staff_id {
                    Some(staff_id) => {
                        let member = uow.load::<StaffMember>(staff_id).await?;
                        let profile = member
                            .state
                            .profile
                            .as_ref()
                            .filter(|_| !member.state.disabled)
                            .ok_or(ServiceError::NotFound("staff member"))?;
                        let role = role.unwrap_or(profile.role);
                        (TokenHolder::Member { staff_id }, role)
                    }
                    None => (TokenHolder::Service, role.unwrap_or(StaffRole::Admin)),
                };
                let mut tenant = uow.load::<Tenant>(tenant_id).await?;
                let command = TenantCommand::IssueStaffToken {
                    token_id,
                    role,
                    label: label.clone(),
                    holder,
                    expires_at: Some(expires_at),
                };
                uow.execute(&mut tenant, command).await?;
                uow.side_write(rows::StaffToken {
                    id: token_id,
                    role: role.as_str(),
                    label,
                    token_hash,
                    holder: match holder {
                        TokenHolder::Member { .. } => "member",
                        TokenHolder::Service => "service",
                        TokenHolder::Unnamed => "unnamed",
                    },
                    staff_member_id: staff_id,
                    expires_at: Some(expires_at),
                });
                Ok::<_, ServiceError>(())
            })
        })
        .await?;
    Ok(Committed {
        value: IssuedToken {
            id: token_id,
            token,
            expires_at,
        },
        position: committed.position,
    })
}

/// RevokeStaffToken: the token answers 401 from the commit on.
pub async fn revoke_token(
    app: &App,
    meta: &CommandMeta,
    token_id: Uuid,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("RevokeStaffToken");
    let tenant_id = meta.tenant_id;
    app.store
        .transact(&meta, tenant_id, |uow| {
            Box::pin(async move {
                let mut tenant = uow.load::<Tenant>(tenant_id).await?;
                let command = TenantCommand::RevokeStaffToken { token_id };
                uow.execute(&mut tenant, command).await?;
                uow.side_write(rows::RevokeToken { id: token_id });
                Ok::<_, ServiceError>(())
            })
        })
        .await
}
