//! Staff authentication: bearer tokens looked up by id and compared by hash in constant
//! time, refused once expired or revoked; the person behind them — the token's own member,
//! or for a service token the member named in `X-Acting-Staff` — with the lower of the two
//! roles. The token's tenant scopes everything the request can see.
//!
//! Nothing is cached: every request reads the token and its member in one query, so a
//! revocation or a disabled member counts at once on every server.

use aggregates::ids::TenantId;
use aggregates::tenant::StaffRole;
use eventlog::{Actor, ActorKind};
use sqlx::Row;
use uuid::Uuid;

use super::TenantScope;
use crate::app::App;
use crate::security::{staff_token_id, token_matches};
use crate::services::error::{ServiceError, ServiceResult};

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

/// The staff request behind `token`, acting for `acting_staff` (the `X-Acting-Staff` header).
pub async fn authenticate(
    app: &App,
    token: &str,
    acting_staff: Option<&str>,
    purpose: Purpose,
) -> ServiceResult<Staff> {
    let token_id = staff_token_id(token).ok_or(ServiceError::Unauthorized)?;
    let row = sqlx::query(
        "SELECT t.tenant_id, t.role, t.token_hash, t.holder, t.label,
                (t.last_used_at IS NULL OR t.last_used_at < now() - interval '60 seconds') AS stale,
                m.id AS member_id, m.name AS member_name, m.role AS member_role, m.disabled
           FROM staff_tokens t LEFT JOIN staff_members m ON m.id = t.staff_member_id
          WHERE t.id = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())",
    )
    .bind(token_id)
    .fetch_optional(app.pool())
    .await?
    .ok_or(ServiceError::Unauthorized)?;
    let stored_hash: Vec<u8> = row.try_get("token_hash")?;
    if !token_matches(token, &stored_hash) {
        return Err(ServiceError::Unauthorized);
    }
    let tenant = TenantId::from_uuid(row.try_get("tenant_id")?);
    let scope = TenantScope::new(app.pool().clone(), tenant);
    let token_role = role(row.try_get("role")?)?;
    let holder: String = row.try_get("holder")?;
    let label: Option<String> = row.try_get("label")?;
    let own_member = match row.try_get::<Option<Uuid>, _>("member_id")? {
        Some(id) => Some(Member {
            id,
            name: row.try_get("member_name")?,
            role: role(row.try_get("member_role")?)?,
            disabled: row.try_get("disabled")?,
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
    if row.try_get::<bool, _>("stale")? {
        note_use(app, token_id);
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
fn note_use(app: &App, token_id: Uuid) {
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
    let pool = app.pool().clone();
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
