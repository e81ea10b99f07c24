//! Staff authentication: bearer tokens looked up by id and compared by hash in constant
//! time, refused once expired or revoked; the person behind them — the token's own member,
//! or for a service token the member named in `X-Acting-Staff` — with the lower of the two
//! roles. The token's tenant scopes everything the request can see.
//!
//! Nothing is cached: every request reads the token and its member (in one statement with
//! the lookups of requests arriving at the same time), so a revocation or a disabled member
//! counts at once on every server.

use aggregates::ids::TenantId;
use aggregates::tenant::StaffRole;
use eventlog::{Actor, ActorKind};
use sqlx::{PgPool, Row};
use std::sync::Arc;
use uuid::Uuid;

use super::TenantScope;
use crate::errors::service::{ServiceError, ServiceResult};
use crate::infra::coalesce::Coalesced;
use crate::security::{staff_token_id, token_matches};

/// An authenticated staff request: the token, the person it acts for, the role it has.
#[derive(Debug, Clone)]
pub struct Staff {
    pub token_id: Uuid,
    /// The lower of the token's role and its person's.
    pub role: StaffRole,
    /// The person (or, for a token that names none, the token's label).
    pub actor: Actor,
    pub scope: TenantScope,
}

/// Whether the request must name its person when it comes with a service token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A command: a service token must say for whom (`X-Acting-Staff`).
    Command,
    /// A read: the header is optional.
    Read,
}

impl Staff {
    pub fn tenant_id(&self) -> Uuid {
        self.scope.id()
    }

    /// Refuses unless the effective role is one of `roles`.
    pub fn allow(&self, roles: &[StaffRole]) -> ServiceResult<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden {
                code: "forbidden_role",
                detail: format!("the role {} may not do this", self.role.as_str()),
            })
        }
    }
}

/// A staff member as authentication needs them.
struct Member {
    id: Uuid,
    name: String,
    role: StaffRole,
    disabled: bool,
}

fn role(raw: &str) -> ServiceResult<StaffRole> {
    StaffRole::parse(raw).map_err(|e| ServiceError::internal(anyhow::anyhow!(e)))
}

/// A token as authentication reads it, with its own member (if it has one). Not `Debug`:
/// it holds the token's hash, which must never reach a log line.
#[derive(Clone, sqlx::FromRow)]
pub struct TokenRow {
    id: Uuid,
    tenant_id: Uuid,
    role: String,
    token_hash: Vec<u8>,
    holder: String,
    label: Option<String>,
    /// Not marked as used for a minute or more.
    stale: bool,
    member_id: Option<Uuid>,
    member_name: Option<String>,
    member_role: Option<String>,
    disabled: Option<bool>,
}

/// Token lookups of concurrent requests, read together (`infra::coalesce`): each
/// request's lookup still starts after the request arrived, so a revocation or a disabled
/// member counts at once; only the round trip is shared.
pub fn token_lookups(pool: PgPool) -> Coalesced<Uuid, TokenRow> {
    Coalesced::new(
        pool,
        Arc::new(|pool: PgPool, ids: Vec<Uuid>| {
            Box::pin(async move {
                let rows: Vec<TokenRow> = sqlx::query_as(
                    "SELECT t.id, t.tenant_id, t.role, t.token_hash, t.holder, t.label,
                            (t.last_used_at IS NULL OR t.last_used_at < now() - interval '60 seconds') AS stale,
                            m.id AS member_id, m.name AS member_name, m.role AS member_role, m.disabled
                       FROM staff_tokens t LEFT JOIN staff_members m ON m.id = t.staff_member_id
                      WHERE t.id = ANY($1) AND t.revoked_at IS NULL
                        AND (t.expires_at IS NULL OR t.expires_at > now())",
                )
                .bind(&ids)
                .fetch_all(&pool)
                .await?;
                Ok(rows.into_iter().map(|row| (row.id, row)).collect())
            })
        }),
    )
}

/// The staff request behind `token`, acting for `acting_staff` (the `X-Acting-Staff` header).
pub async fn authenticate(
    auth: &super::Authenticator,
    token: &str,
    acting_staff: Option<&str>,
    purpose: Purpose,
) -> ServiceResult<Staff> {
    let token_id = staff_token_id(token).ok_or(ServiceError::Unauthorized)?;
    let row = auth
        .staff_tokens
        .get(token_id)
        .await?
        .ok_or(ServiceError::Unauthorized)?;
    if !token_matches(token, &row.token_hash) {
        return Err(ServiceError::Unauthorized);
    }
    let tenant = TenantId::from_uuid(row.tenant_id);
    let scope = TenantScope::new(auth.pool.clone(), &auth.keys, tenant);
    let token_role = role(&row.role)?;
    let (holder, label) = (row.holder, row.label);
    let own_member = match row.member_id {
        Some(id) => Some(Member {
            id,
            name: row.member_name.unwrap_or_default(),
            role: role(row.member_role.as_deref().unwrap_or_default())?,
            disabled: row.disabled.unwrap_or(true),
        }),
        None => None,
    };
    let named = acting_staff.map(|raw| acting_member(&scope, raw));
    let person = match (holder.as_str(), own_member, named) {
        ("member", Some(member), named) => {
            if member.disabled {
                return Err(ServiceError::Unauthorized);
            }
            if let Some(named) = named {
                // A personal token may only name its own person.
                if named.await?.id != member.id {
                    return Err(ServiceError::Forbidden {
                        code: "acting_staff_mismatch",
                        detail: "a personal token acts only for its own staff member".into(),
                    });
                }
            }
            Some(member)
        }
        (_, _, Some(named)) => Some(named.await?),
        ("service", _, None) if purpose == Purpose::Command => {
            return Err(ServiceError::BadRequest {
                code: "acting_staff_required",
                detail: "a service token's command must name its person in X-Acting-Staff".into(),
            })
        }
        _ => None,
    };
    if row.stale {
        note_use(&auth.pool, token_id);
    }
    let (role, actor) = match person {
        Some(m) => (
            token_role.lower(m.role),
            Actor::new(ActorKind::Staff, Some(m.id), Some(m.name)),
        ),
        // A token that names no person: its label is the only name there is.
        None => (token_role, Actor::new(ActorKind::Staff, None, label)),
    };
    Ok(Staff {
        token_id,
        role,
        actor,
        scope,
    })
}

/// The active member of this tenant that `X-Acting-Staff` names; anything else is 404.
async fn acting_member(scope: &TenantScope, raw: &str) -> ServiceResult<Member> {
    let not_found = ServiceError::NotFound("staff member");
    let Ok(id) = Uuid::try_parse(raw.trim()) else {
        return Err(not_found);
    };
    let row = sqlx::query(
        "SELECT name, role, disabled FROM staff_members WHERE id = $1 AND tenant_id = $2",
    )
    .bind(id)
    .bind(scope.id())
    .fetch_optional(scope.pool())
    .await?
    .ok_or(ServiceError::NotFound("staff member"))?;
    if row.try_get::<bool, _>("disabled")? {
        return Err(not_found);
    }
    Ok(Member {
        id,
        name: row.try_get("name")?,
        role: role(row.try_get("role")?)?,
        disabled: false,
    })
}

/// Records that a token was used, at most once a minute per token and off the request's
/// path (a write per request would cost more than the information is worth). Concurrent
/// requests with a token that just went stale would each send the same UPDATE and queue on
/// its row lock (measured: 2 ms each under load), so one note per token is in flight at a
/// time, and a note that lost the race writes nothing.
fn note_use(pool: &PgPool, token_id: Uuid) {
    type Noting = std::sync::Mutex<std::collections::HashSet<Uuid>>;
    static NOTING: std::sync::OnceLock<Noting> = std::sync::OnceLock::new();
    /// Takes the token off the in-flight list however the note ends.
    struct Noted(&'static Noting, Uuid);
    impl Drop for Noted {
        fn drop(&mut self) {
            if let Ok(mut noting) = self.0.lock() {
                noting.remove(&self.1);
            }
        }
    }
    let noting = NOTING.get_or_init(Default::default);
    if !noting.lock().expect("token notes").insert(token_id) {
        return;
    }
    let in_flight = Noted(noting, token_id);
    let pool = pool.clone();
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let noted = sqlx::query(
            "UPDATE staff_tokens SET last_used_at = now()
              WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')",
        )
        .bind(token_id)
        .execute(&pool)
        .await;
        if let Err(e) = noted {
            tracing::debug!(error = %e, "token use not recorded");
        }
    });
}
