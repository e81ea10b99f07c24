//! The typed staff client: one method per `/api/v1` route, answering the server's own
//! response types (a field renamed or dropped fails to deserialise here, not in an index
//! later), so tests read as the workflow they check. Request bodies stay `Value`s: tests
//! also send what the server's request types cannot express. `call` and `refused` stay for
//! the refusals and odd inputs tests probe. Each path is written as its OpenAPI template
//! (`route_coverage` checks every documented route has one here).

use aggregates::ids::{ClientId, ContractId, ItemId, PortalUserId};
use portal_accounts::audit::checkpoint::{Checkpoint, Verdict};
use portal_accounts::audit::replay::ReplayedState;
use portal_accounts::audit::verify::Verification;
use portal_accounts::http::routes::audit::{ClientHistory, EventsPage, LoginsPage};
use portal_accounts::http::routes::catalogue::CataloguePage;
use portal_accounts::http::routes::checkpoints::{CheckpointEmails, Checkpoints, PublicKey};
use portal_accounts::http::routes::client_items::ClientItems;
use portal_accounts::http::routes::clients::{ClientPage, Notifications};
use portal_accounts::http::routes::contracts::{ClientContracts, ContractIssued};
use portal_accounts::http::routes::invitations::{
    BulkInviteResult, InvitationCreated, Invitations,
};
use portal_accounts::http::routes::notifications::{NotificationPage, RetryAccepted};
use portal_accounts::http::routes::portal_users::PortalUserCreated;
use portal_accounts::http::routes::settings::Settings;
use portal_accounts::http::routes::staff::StaffMembers;
use portal_accounts::http::routes::tokens::{TokenIssued, Tokens};
use portal_accounts::http::routes::webhooks::{
    DeliveryPage, DeliveryQueued, SecretRotated, WebhookCreated, Webhooks,
};
use portal_accounts::http::routes::{Created, PositionOnly};
use portal_accounts::reads::catalogue::CatalogueItem;
use portal_accounts::reads::clients::{ClientDetail, InvitationDashboard};
use portal_accounts::reads::contract_detail::StaffContract;
use portal_accounts::reads::personal_data::PersonalData;
use portal_accounts::reads::portal_users::PortalUserDetail;
use portal_accounts::reads::staff::StaffMemberView;
use portal_accounts::reads::webhooks::{Feed, WebhookView};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{send, Server};

/// A staff member's view of the API, with one bearer token.
pub struct Staff<'a> {
    pub server: &'a Server,
    pub token: &'a str,
}

impl Server {
    /// The API as the holder of `token` calls it.
    pub fn staff<'a>(&'a self, token: &'a str) -> Staff<'a> {
        Staff {
            server: self,
            token,
        }
    }
}

/// `template` with each `{…}` replaced, in order, by the next of `ids`.
pub fn fill(template: &str, ids: &[&dyn std::fmt::Display]) -> String {
    let mut out = String::new();
    let mut rest = template;
    for id in ids {
        let open = rest.find('{').expect("a placeholder for each id");
        let close = open + rest[open..].find('}').unwrap();
        out.push_str(&rest[..open]);
        out.push_str(&id.to_string());
        rest = &rest[close + 1..];
    }
    assert!(
        !rest.contains('{'),
        "{template}: an id for each placeholder"
    );
    out + rest
}

/// `path` with `query` (already encoded, may be empty) after a `?`.
fn with_query(path: String, query: &str) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

impl Staff<'_> {
    /// Any call: status and body (problem+json checked for errors by `send`).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.server.call(method, path, self.token, body).await
    }

    /// A call that must succeed (2xx): its body.
    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    /// A call that must succeed, its answer read as the server's response type `T`.
    pub async fn typed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> T {
        let answer = self.ok(method.clone(), path, body).await;
        serde_json::from_value(answer.clone())
            .unwrap_or_else(|e| panic!("{method} {path}: {e} in {answer}"))
    }

    /// Any call's status alone (an error still checked for problem+json by `send`).
    pub async fn status_of(&self, method: Method, path: &str, body: Option<Value>) -> u16 {
        self.call(method, path, body).await.0
    }

    /// A call that must be refused: its status and problem `code`.
    pub async fn refused(&self, method: Method, path: &str, body: Option<Value>) -> (u16, String) {
        let (status, problem) = self.call(method.clone(), path, body).await;
        assert!(status >= 400, "{method} {path} was accepted: {problem}");
        (
            status,
            problem["code"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// Asserts the call is refused with `want` (status, problem `code`).
    pub async fn assert_refused(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        want: (u16, &str),
    ) {
        let (status, code) = self.refused(method.clone(), path, body).await;
        assert_eq!((status, code.as_str()), want, "{method} {path}");
    }

    /// A call refused as invalid (422): the fields its errors name, in order.
    pub async fn invalid_fields(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Vec<String> {
        let (status, problem) = self.call(method.clone(), path, body).await;
        assert_eq!(status, 422, "{method} {path}: {problem}");
        super::field_names(&problem)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    pub async fn get(&self, path: &str) -> Value {
        self.ok(Method::GET, path, None).await
    }

    async fn read<T: DeserializeOwned>(&self, path: String) -> T {
        self.typed(Method::GET, &path, None).await
    }

    async fn post<T: DeserializeOwned>(&self, path: String, body: Value) -> T {
        self.typed(Method::POST, &path, Some(body)).await
    }

    // Clients.

    /// RegisterClient with `body`.
    pub async fn register(&self, body: Value) -> Created {
        self.post(fill("/api/v1/clients", &[]), body).await
    }

    pub async fn register_client(&self, name: &str, kind: &str, email: Option<&str>) -> ClientId {
        let body = json!({"display_name": name, "kind": kind, "email": email});
        ClientId::from_uuid(self.register(body).await.id)
    }

    pub async fn change_client(&self, client: ClientId, body: Value) -> PositionOnly {
        let path = fill("/api/v1/clients/{id}", &[&client]);
        self.typed(Method::PATCH, &path, Some(body)).await
    }

    pub async fn list_clients(&self, query: &str) -> ClientPage {
        self.read(with_query(fill("/api/v1/clients", &[]), query))
            .await
    }

    pub async fn client(&self, client: ClientId) -> ClientDetail {
        self.read(fill("/api/v1/clients/{id}", &[&client])).await
    }

    pub async fn archive_client(&self, client: ClientId) -> PositionOnly {
        self.post(fill("/api/v1/clients/{id}/archive", &[&client]), json!({}))
            .await
    }

    pub async fn unarchive_client(&self, client: ClientId) -> PositionOnly {
        self.post(
            fill("/api/v1/clients/{id}/unarchive", &[&client]),
            json!({}),
        )
        .await
    }

    pub async fn client_notifications(&self, client: ClientId) -> Notifications {
        self.read(fill("/api/v1/clients/{id}/notifications", &[&client]))
            .await
    }

    /// SetLegalHold (`held`) or ReleaseLegalHold, with `reason`: status and body.
    pub async fn legal_hold(&self, client: ClientId, held: bool, reason: &str) -> (u16, Value) {
        let method = if held { Method::POST } else { Method::DELETE };
        let path = fill("/api/v1/clients/{id}/legal-hold", &[&client]);
        self.call(method, &path, Some(json!({"reason": reason})))
            .await
    }

    /// EraseClient: status and body (the erasure, or a problem).
    pub async fn erase(&self, client: ClientId, reason: &str) -> (u16, Value) {
        let path = fill("/api/v1/clients/{id}/erase", &[&client]);
        self.call(Method::POST, &path, Some(json!({"reason": reason})))
            .await
    }

    /// A subject access request: everything held about the client and its logins.
    pub async fn personal_data(&self, client: ClientId) -> PersonalData {
        self.read(fill("/api/v1/clients/{id}/personal-data", &[&client]))
            .await
    }

    // Invitations.

    /// InviteClient.
    pub async fn invite(&self, client: ClientId) -> InvitationCreated {
        self.post(
            fill("/api/v1/clients/{id}/invitations", &[&client]),
            json!({}),
        )
        .await
    }

    pub async fn revoke_invitation(&self, client: ClientId) -> PositionOnly {
        let path = fill("/api/v1/clients/{id}/invitations/current", &[&client]);
        self.typed(Method::DELETE, &path, None).await
    }

    pub async fn bulk_invite(&self, body: Value) -> BulkInviteResult {
        self.post(fill("/api/v1/invitations/bulk", &[]), body).await
    }

    pub async fn invitation_dashboard(&self, query: &str) -> InvitationDashboard {
        let path = fill("/api/v1/dashboard/invitations", &[]);
        self.read(with_query(path, query)).await
    }

    pub async fn client_invitations(&self, client: ClientId, query: &str) -> Invitations {
        let path = fill("/api/v1/clients/{id}/invitations", &[&client]);
        self.read(with_query(path, query)).await
    }

    pub async fn invitations(&self, query: &str) -> Invitations {
        self.read(with_query(fill("/api/v1/invitations", &[]), query))
            .await
    }

    // A client's items.

    pub async fn assign_item(&self, client: ClientId, item: ItemId) -> PositionOnly {
        let path = fill("/api/v1/clients/{id}/items", &[&client]);
        self.post(path, json!({"item_id": item})).await
    }

    pub async fn unassign_item(&self, client: ClientId, item: ItemId) -> PositionOnly {
        let path = fill("/api/v1/clients/{id}/items/{item_id}", &[&client, &item]);
        self.typed(Method::DELETE, &path, None).await
    }

    pub async fn client_items(&self, client: ClientId, query: &str) -> ClientItems {
        let path = fill("/api/v1/clients/{id}/items", &[&client]);
        self.read(with_query(path, query)).await
    }

    // Portal logins.

    /// CreatePortalUser with the given body (`email`, optional `username`, `password`).
    pub async fn create_portal_user(
        &self,
        client: ClientId,
        body: Value,
    ) -> (PortalUserId, PortalUserCreated) {
        let path = fill("/api/v1/clients/{id}/portal-users", &[&client]);
        let created: PortalUserCreated = self.post(path, body).await;
        (PortalUserId::from_uuid(created.id), created)
    }

    /// A command on a portal login (`disable`, `enable`, `unlock`, `password-reset`,
    /// `client-access`, `activation`: re-send the activation e-mail).
    pub async fn on_login(
        &self,
        user: PortalUserId,
        action: &str,
        body: Option<Value>,
    ) -> PositionOnly {
        let template = match action {
            "disable" => "/api/v1/portal-users/{id}/disable",
            "enable" => "/api/v1/portal-users/{id}/enable",
            "unlock" => "/api/v1/portal-users/{id}/unlock",
            "password-reset" => "/api/v1/portal-users/{id}/password-reset",
            "client-access" => "/api/v1/portal-users/{id}/client-access",
            "activation" => "/api/v1/portal-users/{id}/activation",
            "mfa-reset" => "/api/v1/portal-users/{id}/mfa/reset",
            other => panic!("no portal-login command {other}"),
        };
        let body = body.unwrap_or_else(|| json!({}));
        self.post(fill(template, &[&user]), body).await
    }

    pub async fn revoke_client_access(&self, user: PortalUserId, client: ClientId) -> PositionOnly {
        let template = "/api/v1/portal-users/{id}/client-access/{client_id}";
        let path = fill(template, &[&user, &client]);
        self.typed(Method::DELETE, &path, None).await
    }

    pub async fn remove_portal_user(&self, user: PortalUserId) -> PositionOnly {
        let path = fill("/api/v1/portal-users/{id}", &[&user]);
        self.typed(Method::DELETE, &path, None).await
    }

    pub async fn change_portal_user(&self, user: PortalUserId, body: Value) -> PositionOnly {
        let path = fill("/api/v1/portal-users/{id}", &[&user]);
        self.typed(Method::PATCH, &path, Some(body)).await
    }

    pub async fn portal_user(&self, user: PortalUserId) -> PortalUserDetail {
        self.read(fill("/api/v1/portal-users/{id}", &[&user])).await
    }

    // The catalogue.

    pub async fn create_item(&self, sku: &str, name: &str, pence: i64) -> ItemId {
        let body = json!({"sku": sku, "name": name,
                          "unit_price": {"amount_minor": pence, "currency": "GBP"}});
        let created: Created = self.post(fill("/api/v1/items", &[]), body).await;
        ItemId::from_uuid(created.id)
    }

    pub async fn list_items(&self, query: &str) -> CataloguePage {
        self.read(with_query(fill("/api/v1/items", &[]), query))
            .await
    }

    pub async fn item(&self, item: ItemId) -> CatalogueItem {
        self.read(fill("/api/v1/items/{id}", &[&item])).await
    }

    pub async fn change_item(&self, item: ItemId, body: Value) -> PositionOnly {
        let path = fill("/api/v1/items/{id}", &[&item]);
        self.typed(Method::PATCH, &path, Some(body)).await
    }

    pub async fn archive_item(&self, item: ItemId) -> PositionOnly {
        self.post(fill("/api/v1/items/{id}/archive", &[&item]), json!({}))
            .await
    }

    pub async fn unarchive_item(&self, item: ItemId) -> PositionOnly {
        self.post(fill("/api/v1/items/{id}/unarchive", &[&item]), json!({}))
            .await
    }

    pub async fn change_price(&self, item: ItemId, pence: i64) -> PositionOnly {
        let path = fill("/api/v1/items/{id}/price", &[&item]);
        let body = json!({"unit_price": {"amount_minor": pence, "currency": "GBP"}});
        self.typed(Method::PUT, &path, Some(body)).await
    }

    /// SetItemImage with a PNG's bytes.
    pub async fn set_image(&self, item: ItemId, png: Vec<u8>) -> PositionOnly {
        let path = fill("/api/v1/items/{id}/image", &[&item]);
        let request = self
            .server
            .request(Method::PUT, &path, self.token)
            .header("content-type", "image/png")
            .body(png);
        let (status, answer) = send(request).await;
        assert_eq!(status, 200, "PUT {path}: {answer}");
        serde_json::from_value(answer).unwrap()
    }

    /// The item's image, as served.
    pub async fn item_image(&self, item: ItemId) -> Vec<u8> {
        let path = fill("/api/v1/items/{id}/image", &[&item]);
        let response = self.server.request(Method::GET, &path, self.token);
        let response = response.send().await.unwrap().error_for_status().unwrap();
        assert_eq!(response.headers()["content-type"], "image/png");
        response.bytes().await.unwrap().to_vec()
    }

    // Contracts.

    /// IssueContract: its id and content hash.
    pub async fn issue_contract(&self, client: ClientId, title: &str) -> (ContractId, String) {
        let path = fill("/api/v1/clients/{id}/contracts", &[&client]);
        let body = json!({"title": title, "body": "Terms."});
        let issued: ContractIssued = self.post(path, body).await;
        (ContractId::from_uuid(issued.id), issued.content_sha256)
    }

    pub async fn void_contract(&self, contract: ContractId, reason: &str) -> PositionOnly {
        let path = fill("/api/v1/contracts/{id}/void", &[&contract]);
        self.post(path, json!({"reason": reason})).await
    }

    pub async fn contract(&self, contract: ContractId, query: &str) -> StaffContract {
        let path = fill("/api/v1/contracts/{id}", &[&contract]);
        self.read(with_query(path, query)).await
    }

    pub async fn client_contracts(&self, client: ClientId) -> ClientContracts {
        self.read(fill("/api/v1/clients/{id}/contracts", &[&client]))
            .await
    }

    // Settings and notifications.

    pub async fn settings(&self) -> Settings {
        self.read(fill("/api/v1/settings", &[])).await
    }

    pub async fn change_settings(&self, body: Value) -> Settings {
        let path = fill("/api/v1/settings", &[]);
        self.typed(Method::PATCH, &path, Some(body)).await
    }

    pub async fn set_portal(&self, active: bool) -> PositionOnly {
        let path = fill("/api/v1/settings/portal", &[]);
        let body = json!({"active": active});
        self.typed(Method::PUT, &path, Some(body)).await
    }

    pub async fn set_checkpoint_email(&self, body: Value) -> Settings {
        let path = fill("/api/v1/settings/audit", &[]);
        self.typed(Method::PUT, &path, Some(body)).await
    }

    pub async fn notifications(&self, query: &str) -> NotificationPage {
        self.read(with_query(fill("/api/v1/notifications", &[]), query))
            .await
    }

    pub async fn retry_notification(&self, notification: Uuid) -> RetryAccepted {
        let path = fill("/api/v1/notifications/{id}/retry", &[&notification]);
        self.post(path, json!({})).await
    }

    // Staff members and tokens.

    /// CreateStaffMember: the member's id.
    pub async fn add_member(&self, name: &str, email: &str, role: &str) -> Uuid {
        let body = json!({"name": name, "email": email, "role": role});
        let created: Created = self.post(fill("/api/v1/staff", &[]), body).await;
        created.id
    }

    pub async fn staff_members(&self) -> StaffMembers {
        self.read(fill("/api/v1/staff", &[])).await
    }

    pub async fn staff_member(&self, member: Uuid) -> StaffMemberView {
        self.read(fill("/api/v1/staff/{id}", &[&member])).await
    }

    pub async fn change_member(&self, member: Uuid, body: Value) -> PositionOnly {
        let path = fill("/api/v1/staff/{id}", &[&member]);
        self.typed(Method::PATCH, &path, Some(body)).await
    }

    pub async fn disable_member(&self, member: Uuid) -> PositionOnly {
        self.post(fill("/api/v1/staff/{id}/disable", &[&member]), json!({}))
            .await
    }

    pub async fn enable_member(&self, member: Uuid) -> PositionOnly {
        self.post(fill("/api/v1/staff/{id}/enable", &[&member]), json!({}))
            .await
    }

    /// IssueStaffToken with `body`: the token's id and its secret.
    pub async fn issue_token(&self, body: Value) -> (Uuid, String) {
        let issued: TokenIssued = self.post(fill("/api/v1/tokens", &[]), body).await;
        (issued.id, issued.token)
    }

    pub async fn tokens(&self) -> Tokens {
        self.read(fill("/api/v1/tokens", &[])).await
    }

    pub async fn revoke_token(&self, token: Uuid) -> PositionOnly {
        let path = fill("/api/v1/tokens/{id}", &[&token]);
        self.typed(Method::DELETE, &path, None).await
    }

    // Audit.

    pub async fn audit_events(&self, query: &str) -> EventsPage {
        self.read(with_query(fill("/api/v1/audit/events", &[]), query))
            .await
    }

    pub async fn client_history(&self, client: ClientId, query: &str) -> ClientHistory {
        let path = fill("/api/v1/audit/clients/{id}/history", &[&client]);
        self.read(with_query(path, query)).await
    }

    /// A stream's state as of `query` (`as_of=…` or `position=…`).
    pub async fn stream_as_of(&self, kind: &str, id: Uuid, query: &str) -> ReplayedState {
        let template = "/api/v1/audit/streams/{stream_type}/{stream_id}";
        self.read(with_query(fill(template, &[&kind, &id]), query))
            .await
    }

    /// The firm's export: its NDJSON lines.
    pub async fn export(&self, query: &str) -> Vec<Value> {
        let text = self.export_text(query).await;
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The firm's export as sent (NDJSON), for the offline check.
    pub async fn export_text(&self, query: &str) -> String {
        let path = with_query(fill("/api/v1/audit/export", &[]), query);
        let response = self.server.request(Method::GET, &path, self.token);
        let response = response.send().await.unwrap().error_for_status().unwrap();
        response.text().await.unwrap()
    }

    pub async fn verify_chain(&self) -> Verification {
        self.read(fill("/api/v1/audit/verify", &[])).await
    }

    pub async fn audit_logins(&self, query: &str) -> LoginsPage {
        self.read(with_query(fill("/api/v1/audit/logins", &[]), query))
            .await
    }

    pub async fn public_key(&self) -> PublicKey {
        self.read(fill("/api/v1/audit/public-key", &[])).await
    }

    pub async fn checkpoints(&self) -> Checkpoints {
        self.read(fill("/api/v1/audit/checkpoints", &[])).await
    }

    pub async fn latest_checkpoint(&self) -> Checkpoint {
        self.read(fill("/api/v1/audit/checkpoints/latest", &[]))
            .await
    }

    pub async fn checkpoint_emails(&self) -> CheckpointEmails {
        self.read(fill("/api/v1/audit/checkpoints/emails", &[]))
            .await
    }

    /// Checks a checkpoint (`body` is one, as published) against the log.
    pub async fn verify_checkpoint(&self, body: Value) -> Verdict {
        self.post(fill("/api/v1/audit/checkpoints/verify", &[]), body)
            .await
    }

    // Webhooks and the event feed.

    pub async fn create_webhook(&self, body: Value) -> WebhookCreated {
        self.post(fill("/api/v1/webhooks", &[]), body).await
    }

    pub async fn webhooks(&self) -> Webhooks {
        self.read(fill("/api/v1/webhooks", &[])).await
    }

    pub async fn webhook(&self, id: Uuid) -> WebhookView {
        self.read(fill("/api/v1/webhooks/{id}", &[&id])).await
    }

    pub async fn change_webhook(&self, id: Uuid, body: Value) -> PositionOnly {
        let path = fill("/api/v1/webhooks/{id}", &[&id]);
        self.typed(Method::PATCH, &path, Some(body)).await
    }

    pub async fn delete_webhook(&self, id: Uuid) -> PositionOnly {
        let path = fill("/api/v1/webhooks/{id}", &[&id]);
        self.typed(Method::DELETE, &path, None).await
    }

    pub async fn rotate_webhook_secret(&self, id: Uuid) -> SecretRotated {
        self.post(
            fill("/api/v1/webhooks/{id}/rotate-secret", &[&id]),
            json!({}),
        )
        .await
    }

    pub async fn send_webhook_test(&self, id: Uuid) -> DeliveryQueued {
        self.post(fill("/api/v1/webhooks/{id}/test", &[&id]), json!({}))
            .await
    }

    pub async fn webhook_deliveries(&self, id: Uuid, query: &str) -> DeliveryPage {
        let path = fill("/api/v1/webhooks/{id}/deliveries", &[&id]);
        self.read(with_query(path, query)).await
    }

    pub async fn retry_webhook_delivery(&self, id: Uuid, delivery: Uuid) -> DeliveryQueued {
        let template = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry";
        self.post(fill(template, &[&id, &delivery]), json!({}))
            .await
    }

    pub async fn event_feed(&self, query: &str) -> Feed {
        self.read(with_query(fill("/api/v1/events", &[]), query))
            .await
    }
}
