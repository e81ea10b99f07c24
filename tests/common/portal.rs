//! The typed portal client: one method per `/portal/v1/{tenant_slug}` route, as a firm's
//! client calls them, answering the server's own response types. `call` stays for the
//! refusals tests probe. Paths are written as their OpenAPI templates (`route_coverage`).

use aggregates::ids::{ClientId, ContractId, ItemId};
use portal_accounts::http::portal_view::PortalContract;
use portal_accounts::http::routes::portal::{Me, PortalUserRef, SessionIssued};
use portal_accounts::http::routes::portal_content::{PortalContracts, PortalItems, Signed};
use portal_accounts::http::routes::portal_mfa::{
    MfaStatus, PasskeyAdded, PasskeyOptions, RecoveryCodes, TotpSetup,
};
use portal_accounts::http::routes::PositionOnly;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::staff::fill;
use super::{send, Server};

/// The portal of the firm `slug`, signed in with `session` or not.
pub struct Portal<'a> {
    pub server: &'a Server,
    pub slug: &'a str,
    pub session: Option<&'a str>,
}

impl Server {
    /// The firm `slug`'s portal, before signing in.
    pub fn portal<'a>(&'a self, slug: &'a str) -> Portal<'a> {
        Portal {
            server: self,
            slug,
            session: None,
        }
    }
}

impl<'a> Portal<'a> {
    /// The same portal signed in with `session`.
    pub fn signed_in(&self, session: &'a str) -> Portal<'a> {
        Portal {
            session: Some(session),
            ..*self
        }
    }

    /// Any call to `template` (filled with the firm's slug, then `ids`): status and body.
    pub async fn call(
        &self,
        method: Method,
        template: &str,
        ids: &[&dyn std::fmt::Display],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut all: Vec<&dyn std::fmt::Display> = vec![&self.slug];
        all.extend_from_slice(ids);
        let url = format!("{}{}", self.server.base, fill(template, &all));
        let mut request = self.server.http.request(method, url);
        if let Some(session) = self.session {
            request = request.bearer_auth(session);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// A call that must succeed, its answer read as the server's response type `T`.
    async fn typed<T: DeserializeOwned>(
        &self,
        method: Method,
        template: &str,
        ids: &[&dyn std::fmt::Display],
        body: Option<Value>,
    ) -> T {
        let (status, answer) = self.call(method.clone(), template, ids, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {template}: {status} {answer}"
        );
        serde_json::from_value(answer.clone())
            .unwrap_or_else(|e| panic!("{method} {template}: {e} in {answer}"))
    }

    /// A call that must be accepted with nothing to say (202).
    async fn accepted(&self, template: &str, body: Value) {
        let (status, answer) = self.call(Method::POST, template, &[], Some(body)).await;
        assert_eq!(status, 202, "POST {template}: {answer}");
    }

    pub async fn accept_invitation(
        &self,
        token: &str,
        username: &str,
        password: &str,
    ) -> PortalUserRef {
        let body = json!({"token": token, "username": username, "password": password});
        let template = "/portal/v1/{tenant_slug}/invitations/accept";
        self.typed(Method::POST, template, &[], Some(body)).await
    }

    pub async fn activate(&self, token: &str, password: &str) -> PortalUserRef {
        let body = json!({"token": token, "password": password});
        let template = "/portal/v1/{tenant_slug}/activate";
        self.typed(Method::POST, template, &[], Some(body)).await
    }

    /// Logging in: status and body, for the refusals tests probe.
    pub async fn try_login(&self, username: &str, password: &str) -> (u16, Value) {
        let body = json!({"username": username, "password": password});
        let template = "/portal/v1/{tenant_slug}/login";
        self.call(Method::POST, template, &[], Some(body)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> SessionIssued {
        let body = json!({"username": username, "password": password});
        let template = "/portal/v1/{tenant_slug}/login";
        self.typed(Method::POST, template, &[], Some(body)).await
    }

    pub async fn forgot_password(&self, username: &str) {
        let template = "/portal/v1/{tenant_slug}/password/forgot";
        self.accepted(template, json!({"username": username})).await
    }

    pub async fn forgot_username(&self, email: &str) {
        let template = "/portal/v1/{tenant_slug}/username/forgot";
        self.accepted(template, json!({"email": email})).await
    }

    pub async fn reset_password(&self, token: &str, new_password: &str) -> PortalUserRef {
        let body = json!({"token": token, "new_password": new_password});
        let template = "/portal/v1/{tenant_slug}/password/reset";
        self.typed(Method::POST, template, &[], Some(body)).await
    }

    pub async fn logout(&self) {
        let template = "/portal/v1/{tenant_slug}/logout";
        let (status, answer) = self.call(Method::POST, template, &[], None).await;
        assert_eq!(status, 204, "logout: {answer}");
    }

    pub async fn change_password(&self, current: &str, new: &str) -> PositionOnly {
        let body = json!({"current_password": current, "new_password": new});
        let template = "/portal/v1/{tenant_slug}/password/change";
        self.typed(Method::POST, template, &[], Some(body)).await
    }

    pub async fn me(&self) -> Me {
        let template = "/portal/v1/{tenant_slug}/me";
        self.typed(Method::GET, template, &[], None).await
    }

    pub async fn client_items(&self, client: ClientId) -> PortalItems {
        let template = "/portal/v1/{tenant_slug}/clients/{client_id}/items";
        self.typed(Method::GET, template, &[&client], None).await
    }

    /// An item's image, as served to the client.
    pub async fn item_image(&self, item: ItemId) -> Vec<u8> {
        let template = "/portal/v1/{tenant_slug}/items/{item_id}/image";
        let url = format!(
            "{}{}",
            self.server.base,
            fill(template, &[&self.slug, &item])
        );
        let mut request = self.server.http.get(url);
        if let Some(session) = self.session {
            request = request.bearer_auth(session);
        }
        let response = request.send().await.unwrap().error_for_status().unwrap();
        assert_eq!(response.headers()["content-type"], "image/png");
        response.bytes().await.unwrap().to_vec()
    }

    pub async fn contracts(&self) -> PortalContracts {
        let template = "/portal/v1/{tenant_slug}/contracts";
        self.typed(Method::GET, template, &[], None).await
    }

    pub async fn contract(&self, contract: ContractId) -> PortalContract {
        let template = "/portal/v1/{tenant_slug}/contracts/{id}";
        self.typed(Method::GET, template, &[&contract], None).await
    }

    /// SignContract with `body` (`signer_name`, `content_sha256`, `agree`).
    pub async fn sign(&self, contract: ContractId, body: Value) -> Signed {
        let template = "/portal/v1/{tenant_slug}/contracts/{id}/sign";
        self.typed(Method::POST, template, &[&contract], Some(body))
            .await
    }

    /// The second step of a login: status and body, for the refusals tests probe.
    pub async fn try_login_mfa(&self, mfa_token: &str, code: &str) -> (u16, Value) {
        let body = json!({"mfa_token": mfa_token, "code": code});
        let template = "/portal/v1/{tenant_slug}/login/mfa";
        self.call(Method::POST, template, &[], Some(body)).await
    }

    pub async fn login_mfa(&self, mfa_token: &str, code: &str) -> SessionIssued {
        let body = json!({"mfa_token": mfa_token, "code": code});
        let template = "/portal/v1/{tenant_slug}/login/mfa";
        self.typed(Method::POST, template, &[], Some(body)).await
    }

    pub async fn mfa(&self) -> MfaStatus {
        let template = "/portal/v1/{tenant_slug}/mfa";
        self.typed(Method::GET, template, &[], None).await
    }

    pub async fn start_totp(&self) -> TotpSetup {
        let template = "/portal/v1/{tenant_slug}/mfa/totp";
        self.typed(Method::POST, template, &[], None).await
    }

    pub async fn confirm_totp(&self, code: &str) -> RecoveryCodes {
        let template = "/portal/v1/{tenant_slug}/mfa/totp/confirm";
        self.typed(Method::POST, template, &[], Some(json!({"code": code})))
            .await
    }

    pub async fn remove_totp(&self, code: &str) -> PositionOnly {
        let template = "/portal/v1/{tenant_slug}/mfa/totp";
        self.typed(Method::DELETE, template, &[], Some(json!({"code": code})))
            .await
    }

    pub async fn new_recovery_codes(&self) -> RecoveryCodes {
        let template = "/portal/v1/{tenant_slug}/mfa/recovery-codes";
        self.typed(Method::POST, template, &[], None).await
    }

    pub async fn passkey_options(&self) -> PasskeyOptions {
        let template = "/portal/v1/{tenant_slug}/mfa/passkeys/options";
        self.typed(Method::POST, template, &[], None).await
    }

    /// Registers a passkey: status and body, for the refusals tests probe.
    pub async fn try_add_passkey(
        &self,
        token: &str,
        name: &str,
        credential: Value,
    ) -> (u16, Value) {
        let body = json!({"passkey_token": token, "name": name, "credential": credential});
        let template = "/portal/v1/{tenant_slug}/mfa/passkeys";
        self.call(Method::POST, template, &[], Some(body)).await
    }

    pub async fn add_passkey(&self, token: &str, name: &str, credential: Value) -> PasskeyAdded {
        let body = json!({"passkey_token": token, "name": name, "credential": credential});
        let template = "/portal/v1/{tenant_slug}/mfa/passkeys";
        self.typed(Method::POST, template, &[], Some(body)).await
    }

    pub async fn try_remove_passkey(&self, id: uuid::Uuid) -> (u16, Value) {
        let template = "/portal/v1/{tenant_slug}/mfa/passkeys/{passkey_id}";
        self.call(Method::DELETE, template, &[&id], None).await
    }

    /// Options for a passkey login: the second step of `mfa_token`, or passwordless.
    pub async fn try_login_passkey_options(&self, mfa_token: Option<&str>) -> (u16, Value) {
        let body = json!({"mfa_token": mfa_token});
        let template = "/portal/v1/{tenant_slug}/login/passkey/options";
        self.call(Method::POST, template, &[], Some(body)).await
    }

    pub async fn login_passkey_options(&self, mfa_token: Option<&str>) -> PasskeyOptions {
        let body = json!({"mfa_token": mfa_token});
        let template = "/portal/v1/{tenant_slug}/login/passkey/options";
        self.typed(Method::POST, template, &[], Some(body)).await
    }

    pub async fn try_login_passkey(&self, token: &str, credential: Value) -> (u16, Value) {
        let body = json!({"passkey_token": token, "credential": credential});
        let template = "/portal/v1/{tenant_slug}/login/passkey";
        self.call(Method::POST, template, &[], Some(body)).await
    }
}
