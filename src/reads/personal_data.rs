//! A subject access request: everything the firm holds about one client and the people who
//! log in for it, in one document (docs/privacy.md names every part). Secrets (password
//! hashes, TOTP keys, recovery codes, tokens) are not personal data the person can use and
//! never leave the server; their existence shows in `portal_users[].login.mfa`.

use aggregates::ids::{ClientId, PortalUserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::clients::ClientDetail;
use super::contracts::ContractView;
use super::items::ClientItem;
use super::logins::LoginRecord;
use super::notifications::Notification;
use super::portal_users::PortalUserDetail;
use crate::audit::AuditEvent;
use crate::auth::TenantScope;
use crate::errors::read::ReadResult;
use crate::portal::passkeys::PasskeyListed;

/// Login attempts read per round trip while gathering a login's history.
const LOGIN_PAGE: i64 = 1000;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersonalData {
    /// When the document was put together.
    pub generated_at: DateTime<Utc>,
    /// The client as staff see it: names, e-mail address, external reference, status.
    pub client: ClientDetail,
    /// Each login with access to the client.
    pub portal_users: Vec<LoginData>,
    /// The items on the client's portal.
    pub items: Vec<ClientItem>,
    /// Contracts issued to the client, with who signed, when, and from where.
    pub contracts: Vec<ContractView>,
    /// The e-mails sent to the client and its logins (never their links).
    pub notifications: Vec<Notification>,
    /// Every event of the client, its logins, items and contracts: the audit trail, with
    /// the address and browser of each command that recorded them.
    pub events: Vec<AuditEvent>,
}

/// One login and what is kept about its use.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginData {
    /// Username, e-mail address, names, status, second factors (never their secrets).
    pub login: PortalUserDetail,
    /// Its passkeys by the names the person gave them.
    pub passkeys: Vec<PasskeyListed>,
    /// Every login attempt on it, oldest first, with address and browser.
    pub logins: Vec<LoginRecord>,
}

/// The document for `client`, or `None` when the firm has no such client.
pub async fn of_client(
    scope: &TenantScope,
    client: ClientId,
    now: DateTime<Utc>,
) -> ReadResult<Option<PersonalData>> {
    let Some(detail) = super::clients::client(scope, client).await? else {
        return Ok(None);
    };
    let mut portal_users = Vec::new();
    for brief in &detail.portal_users {
        let id = PortalUserId::from_uuid(brief.id);
        let Some(login) = super::portal_users::portal_user(scope, id, now).await? else {
            continue;
        };
        portal_users.push(LoginData {
            login,
            passkeys: crate::portal::passkeys::list(scope, brief.id).await?,
            logins: login_history(scope, id).await?,
        });
    }
    Ok(Some(PersonalData {
        generated_at: now,
        items: super::items::client_items(scope, client)
            .await?
            .unwrap_or_default(),
        contracts: super::contracts::all_of_client(scope, client).await?,
        notifications: super::notifications::of_client(scope, client)
            .await?
            .unwrap_or_default(),
        events: crate::audit::client_history(scope, client)
            .await?
            .unwrap_or_default(),
        client: detail,
        portal_users,
    }))
}

/// Every attempt on one login, page by page.
async fn login_history(scope: &TenantScope, id: PortalUserId) -> ReadResult<Vec<LoginRecord>> {
    let mut all: Vec<LoginRecord> = Vec::new();
    loop {
        let after = all.last().map_or(0, |l| l.id);
        let page = super::logins::page(scope, Some(id), after, LOGIN_PAGE).await?;
        let full = page.len() as i64 == LOGIN_PAGE;
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}
