//! A typed staff client: the calls a staff UI makes, answering typed ids, so tests read as
//! the workflow they check (`staff.register_client(..)`, `staff.invite(client)`) instead of
//! paths and JSON. `refused` and `call` stay for the refusals and odd inputs tests probe.

use aggregates::ids::{ClientId, ContractId, ItemId, PortalUserId};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{id_of, Server};

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

    /// A call that must be refused: its status and problem `code`.
    pub async fn refused(&self, method: Method, path: &str, body: Option<Value>) -> (u16, String) {
        let (status, problem) = self.call(method.clone(), path, body).await;
        assert!(status >= 400, "{method} {path} was accepted: {problem}");
        (
            status,
            problem["code"].as_str().unwrap_or_default().to_string(),
        )
    }

    pub async fn get(&self, path: &str) -> Value {
        self.ok(Method::GET, path, None).await
    }

    pub async fn register_client(&self, name: &str, kind: &str, email: Option<&str>) -> ClientId {
        let body = json!({"display_name": name, "kind": kind, "email": email});
        let created = self.ok(Method::POST, "/api/v1/clients", Some(body)).await;
        id_of(&created, "id").parse().unwrap()
    }

    /// InviteClient: the answer (`invitation_id`, `expires_at`, `position`).
    pub async fn invite(&self, client: ClientId) -> Value {
        let path = format!("/api/v1/clients/{client}/invitations");
        self.ok(Method::POST, &path, Some(json!({}))).await
    }

    /// CreatePortalUser with the given body (`email`, optional `username`, `password`).
    pub async fn create_portal_user(&self, client: ClientId, body: Value) -> (PortalUserId, Value) {
        let path = format!("/api/v1/clients/{client}/portal-users");
        let created = self.ok(Method::POST, &path, Some(body)).await;
        (id_of(&created, "id").parse().unwrap(), created)
    }

    /// A command on a portal login (`disable`, `enable`, `password-reset`, …).
    pub async fn on_login(&self, user: PortalUserId, action: &str, body: Option<Value>) -> Value {
        let path = format!("/api/v1/portal-users/{user}/{action}");
        self.ok(Method::POST, &path, body).await
    }

    pub async fn create_item(&self, sku: &str, name: &str, pence: i64) -> ItemId {
        let body = json!({"sku": sku, "name": name,
                          "unit_price": {"amount_minor": pence, "currency": "GBP"}});
        let created = self.ok(Method::POST, "/api/v1/items", Some(body)).await;
        id_of(&created, "id").parse().unwrap()
    }

    pub async fn assign_item(&self, client: ClientId, item: ItemId) -> Value {
        let path = format!("/api/v1/clients/{client}/items");
        self.ok(Method::POST, &path, Some(json!({"item_id": item})))
            .await
    }

    /// CreateStaffMember: the member's id.
    pub async fn add_member(&self, name: &str, email: &str, role: &str) -> Uuid {
        let body = json!({"name": name, "email": email, "role": role});
        let created = self.ok(Method::POST, "/api/v1/staff", Some(body)).await;
        id_of(&created, "id").parse().unwrap()
    }

    /// IssueStaffToken with `body`: the token's id and its secret.
    pub async fn issue_token(&self, body: Value) -> (Uuid, String) {
        let issued = self.ok(Method::POST, "/api/v1/tokens", Some(body)).await;
        (
            id_of(&issued, "id").parse().unwrap(),
            id_of(&issued, "token"),
        )
    }

    /// IssueContract: its id and content hash.
    pub async fn issue_contract(&self, client: ClientId, title: &str) -> (ContractId, String) {
        let path = format!("/api/v1/clients/{client}/contracts");
        let body = json!({"title": title, "body": "Terms."});
        let issued = self.ok(Method::POST, &path, Some(body)).await;
        (
            id_of(&issued, "id").parse().unwrap(),
            id_of(&issued, "content_sha256"),
        )
    }
}
