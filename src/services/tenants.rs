//! Tenants (firms), their staff tokens and their portal on/off setting.

use aggregates::tenant::{parse_slug, StaffRole, Tenant, TenantCommand};
use uuid::Uuid;

use super::run_on;
use crate::app::App;
use crate::security::{new_staff_token, sha256};
use crate::services::error::{ServiceError, ServiceResult};
use crate::store::{CommandMeta, Committed, SideWrite};

fn operator_meta(tenant_id: Uuid, command: &'static str) -> CommandMeta {
    CommandMeta {
        tenant_id,
        actor: "operator".into(),
        request_id: format!("cli-{}", Uuid::now_v7()),
        client_ip: None,
        user_agent: Some("portal-accounts cli".into()),
        command,
    }
}

pub async fn create_tenant(app: &App, slug: &str, name: &str) -> ServiceResult<Uuid> {
    let slug = parse_slug(slug).map_err(|m| ServiceError::invalid("slug", m))?;
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ServiceError::invalid("name", "must be 1 to 200 characters"));
    }
    let id = Uuid::now_v7();
    let meta = operator_meta(id, "CreateTenant");
    app.store
        .transact(&meta, id, |uow| {
            let (slug, name) = (slug.clone(), name.clone());
            Box::pin(async move {
                let mut tenant = uow.new_stream::<Tenant>(id);
                let command = TenantCommand::Create {
                    slug: slug.clone(),
                    name: name.clone(),
                };
                uow.execute(&mut tenant, command).await?;
                uow.side_write(SideWrite::Tenant { id, slug, name });
                Ok::<_, ServiceError>(())
            })
        })
        .await?;
    Ok(id)
}

pub async fn tenant_id_by_slug(app: &App, slug: &str) -> ServiceResult<Option<Uuid>> {
    let scope = crate::auth::operator::tenant(app.pool(), slug).await?;
    Ok(scope.map(|s| s.id()))
}

/// Issues a staff bearer token; the returned string is the only copy there will ever be.
pub async fn issue_staff_token(
    app: &App,
    tenant_slug: &str,
    role: StaffRole,
    label: Option<String>,
) -> ServiceResult<String> {
    let tenant_id = tenant_id_by_slug(app, tenant_slug)
        .await?
        .ok_or(ServiceError::NotFound("tenant"))?;
    let (token_id, token) = new_staff_token();
    let token_hash = sha256(token.as_bytes());
    let meta = operator_meta(tenant_id, "IssueStaffToken");
    app.store
        .transact(&meta, tenant_id, |uow| {
            let (label, token_hash) = (label.clone(), token_hash.clone());
            Box::pin(async move {
                let mut tenant = uow.load::<Tenant>(tenant_id).await?;
                let command = TenantCommand::IssueStaffToken {
                    token_id,
                    role,
                    label: label.clone(),
                };
                uow.execute(&mut tenant, command).await?;
                uow.side_write(SideWrite::StaffToken {
                    id: token_id,
                    role: role.as_str(),
                    label,
                    token_hash,
                });
                Ok::<_, ServiceError>(())
            })
        })
        .await?;
    Ok(token)
}

pub async fn set_portal_active(
    app: &App,
    meta: &CommandMeta,
    active: bool,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("SetPortalActive");
    run_on::<Tenant>(
        app,
        &meta,
        meta.tenant_id,
        TenantCommand::SetPortalActive { active },
    )
    .await
}
