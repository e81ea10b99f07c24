//! Tenants (firms), bootstrapping their staff from the CLI, their portal on/off setting,
//! policies and the address their signed audit checkpoints are e-mailed to.

use aggregates::tenant::{parse_slug, StaffRole, Tenant, TenantCommand};
use aggregates::values::{Email, PersonName};
use eventlog::Actor;
use uuid::Uuid;

use super::rows;
use super::{run_on, staff};
use crate::app::App;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::store::{CommandMeta, Committed};

fn operator_meta(tenant_id: Uuid, command: &'static str) -> CommandMeta {
    CommandMeta {
        tenant_id,
        actor: Actor::operator(),
        via_token: None,
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
                uow.side_write(rows::Tenant { id, slug, name });
                Ok::<_, ServiceError>(())
            })
        })
        .await?;
    Ok(id)
}

pub async fn tenant_id_by_slug(app: &App, slug: &str) -> ServiceResult<Option<Uuid>> {
    let scope = crate::auth::operator::tenant(app.pool(), app.keys(), slug).await?;
    Ok(scope.map(|s| s.id()))
}

/// What the operator CLI's `token create` makes.
#[derive(Debug, Clone, Default)]
pub struct OperatorToken {
    pub label: Option<String>,
    /// The person to create (defaults: named after the label, an `.invalid` address).
    pub staff_name: Option<String>,
    pub staff_email: Option<String>,
    /// A service token (no person; commands name theirs in `X-Acting-Staff`).
    pub service: bool,
}

/// Operator tokens live a year unless revoked (staff-issued ones choose, 1–365 days).
const OPERATOR_TOKEN_DAYS: i64 = 365;

/// Bootstraps a firm's staff from the CLI: a new staff member with `role` and a personal
/// token for them (or a service token); the returned string is the only copy there will
/// ever be.
pub async fn issue_operator_token(
    app: &App,
    tenant_slug: &str,
    role: StaffRole,
    spec: OperatorToken,
) -> ServiceResult<String> {
    let tenant_id = tenant_id_by_slug(app, tenant_slug)
        .await?
        .ok_or(ServiceError::NotFound("tenant"))?;
    let meta = operator_meta(tenant_id, "IssueStaffToken");
    let staff_id = if spec.service {
        None
    } else {
        let name = spec
            .staff_name
            .clone()
            .or_else(|| spec.label.clone())
            .unwrap_or_else(|| "Operator".into());
        let name = PersonName::parse(&name).map_err(|m| ServiceError::invalid("staff_name", m))?;
        let email = spec
            .staff_email
            .clone()
            .unwrap_or_else(|| format!("no-email@{tenant_slug}.invalid"));
        let email = Email::parse(&email).map_err(|m| ServiceError::invalid("staff_email", m))?;
        Some(
            staff::create_member(app, &meta, name, email, role)
                .await?
                .value,
        )
    };
    let new = staff::NewToken {
        label: spec.label,
        staff_id,
        role: Some(role),
        expires_in_days: OPERATOR_TOKEN_DAYS,
    };
    Ok(staff::issue_token(app, &meta, new).await?.value.token)
}

/// A personal token for a new staff member named after `label` (what the tests' and the
/// CLI's defaults amount to).
pub async fn issue_staff_token(
    app: &App,
    tenant_slug: &str,
    role: StaffRole,
    label: Option<String>,
) -> ServiceResult<String> {
    let spec = OperatorToken {
        label,
        ..OperatorToken::default()
    };
    issue_operator_token(app, tenant_slug, role, spec).await
}

/// Changes the firm's portal policies (already checked against their bounds).
pub async fn set_policies(
    app: &App,
    meta: &CommandMeta,
    change: aggregates::policies::PolicyChange,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("SetPortalPolicies");
    run_on::<Tenant>(
        app,
        &meta,
        meta.tenant_id,
        TenantCommand::SetPolicies { change },
    )
    .await
}

/// SetCheckpointRecipient: from the commit on, each new signed checkpoint of the firm is
/// also e-mailed to `email` (none: to nobody). The signer reads the address from the
/// `tenants` row written in the same transaction.
pub async fn set_checkpoint_recipient(
    app: &App,
    meta: &CommandMeta,
    email: Option<Email>,
) -> ServiceResult<Committed<()>> {
    let meta = meta.with_command("SetCheckpointRecipient");
    let tenant_id = meta.tenant_id;
    app.store
        .transact(&meta, tenant_id, |uow| {
            let email = email.clone();
            Box::pin(async move {
                let mut tenant = uow.load::<Tenant>(tenant_id).await?;
                uow.execute(&mut tenant, TenantCommand::SetCheckpointRecipient { email })
                    .await?;
                let current = tenant.state.checkpoint_recipient.as_ref();
                uow.side_write(rows::CheckpointRecipient {
                    email: current.map(|e| e.to_string()),
                });
                Ok(())
            })
        })
        .await
}

/// The firm's settings as its tenant stream says.
pub async fn settings(app: &App, meta: &CommandMeta) -> ServiceResult<Tenant> {
    Ok(app
        .store
        .reader(meta)
        .load::<Tenant>(meta.tenant_id)
        .await?
        .state)
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
