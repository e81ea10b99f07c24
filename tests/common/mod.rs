//! Test harness: a real PostgreSQL (DATABASE_URL, or a private cluster shared by every test
//! process under target/tmp) and the real HTTP server on a loopback port.
#![allow(dead_code)]

pub mod portal;
pub mod portal_flow;
pub mod receiver;
pub mod replica;
pub mod smtp;
pub mod staff;
#[path = "../../benches/support/synthetic.rs"]
pub mod synthetic;
pub mod totp;

use std::path::PathBuf;

use aggregates::tenant::StaffRole;
use portal_accounts::http::Edge;
use portal_accounts::infra::pool::pool_options;
use portal_accounts::runtime::config::DatabaseConfig;
use portal_accounts::runtime::db::Database;
use portal_accounts::security::ServerSecret;
use portal_accounts::services::tenants;
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio::sync::OnceCell;
use uuid::Uuid;

pub fn test_data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("portal-test-data")
}

/// A pool on the one migrated test database (tests isolate by tenant). Each test has its
/// own runtime, and connections belong to the runtime that opened them: a pool per caller.
pub async fn pool() -> PgPool {
    static OPTIONS: OnceCell<PgConnectOptions> = OnceCell::const_new();
    let options = OPTIONS
        .get_or_init(|| async {
            let config = DatabaseConfig {
                database_url: std::env::var("DATABASE_URL").ok(),
                data_dir: test_data_dir(),
            };
            // Left running for the other test processes; `.ci/run` stops it at the end.
            let db = Database::connect(&config).await.expect("test database");
            db.migrate().await.expect("migrations");
            db.pool.connect_options().as_ref().clone()
        })
        .await;
    pool_options()
        .max_connections(20)
        .connect_lazy_with(options.clone())
}

/// A database of its own, migrated, for tests that replay or rebuild the whole log.
pub async fn fresh_database() -> PgPool {
    let shared = pool().await;
    let name = format!("t_{}", Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&shared)
        .await
        .unwrap();
    let options = shared.connect_options().as_ref().clone().database(&name);
    let fresh = pool_options()
        .max_connections(20)
        .connect_with(options)
        .await
        .unwrap();
    portal_accounts::infra::pool::MIGRATOR
        .run(&fresh)
        .await
        .unwrap();
    fresh
}

fn test_secret() -> ServerSecret {
    ServerSecret::from_config(Some(&"s".repeat(32)), &test_data_dir()).unwrap()
}

/// One master key for every test process, as for the audit key (`app`).
fn test_master_keys() -> Vec<eventlog::MasterKey> {
    portal_accounts::security::data_master_keys(Some(&"5a".repeat(32)), None, &test_data_dir())
        .unwrap()
}

/// The data keys a test server on `pool` seals and opens personal fields with, for tests
/// that read the log without one (a rebuild, a projection run by hand).
pub fn data_keys(pool: &PgPool) -> eventlog::DataKeys {
    eventlog::DataKeys::new(
        pool.clone(),
        test_master_keys(),
        test_secret().derived_key("username-reservation"),
    )
}

pub fn app(pool: PgPool) -> Edge {
    let mut app = Edge::on(pool, test_secret(), test_master_keys());
    // One audit key for every test process, as every server of a deployment shares one:
    // test processes share a cluster, and any of them may sign any firm's checkpoint.
    app.audit_key = portal_accounts::audit::key::AuditKey::from_config(
        Some("dGVzdHMgc2hhcmUgb25lIGF1ZGl0IGtleSAtIDMyIGI="),
        &test_data_dir(),
    )
    .unwrap();
    // Test receivers listen on loopback over http://.
    app.outbound.allow_private = true;
    app
}

/// The connection limits test servers run with (the defaults; a test may start its own).
pub fn listener_limits() -> portal_accounts::http::listener::Limits {
    portal_accounts::http::listener::Limits::default()
}

/// A running server on 127.0.0.1 with its own listener, in this test's runtime.
pub struct Server {
    pub base: String,
    pub app: Edge,
    pub http: Client,
    /// Dropping the server stops its projection engine, if it runs one.
    _stop_projections: Option<tokio::sync::watch::Sender<bool>>,
    /// Projections, notifications consumer and mail sender, when started with mail.
    pub background: Option<portal_accounts::runtime::server::Background>,
}

impl Server {
    pub async fn start() -> Self {
        let app = app(pool().await);
        Self::start_with(app).await
    }

    pub async fn start_with(app: Edge) -> Self {
        Self::start_with_limits(app, listener_limits()).await
    }

    /// A server with connection limits of the test's choosing.
    pub async fn start_with_limits(
        app: Edge,
        limits: portal_accounts::http::listener::Limits,
    ) -> Self {
        Self::start_at(app, limits, "127.0.0.1").await
    }

    /// A server whose public URL names it `host` (passkeys need a domain name, so their
    /// tests use "localhost"); it listens on 127.0.0.1 either way.
    pub async fn start_at(
        mut app: Edge,
        limits: portal_accounts::http::listener::Limits,
        host: &str,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        app.public_url
            .get_or_insert_with(|| format!("http://{host}:{}", addr.port()));
        let router = portal_accounts::http::router(app.clone());
        tokio::spawn(portal_accounts::http::listener::serve(
            listener,
            router,
            limits,
            std::future::pending(),
            std::time::Duration::from_secs(1),
        ));
        Self {
            base: format!("http://{addr}"),
            app,
            http: Client::new(),
            _stop_projections: None,
            background: None,
        }
    }

    /// A server on a database of its own (so its mail sender sees only this test's e-mails)
    /// running everything a portal flow needs, with e-mail going to `smtp_url`.
    pub async fn start_mailing(smtp_url: &str) -> Self {
        Self::start_mailing_with(app(fresh_database().await), smtp_url).await
    }

    pub async fn start_mailing_with(app: Edge, smtp_url: &str) -> Self {
        Self::start_mailing_at(app, smtp_url, "127.0.0.1").await
    }

    /// `start_mailing_with`, the public URL naming the server `host` (`start_at`).
    pub async fn start_mailing_at(app: Edge, smtp_url: &str, host: &str) -> Self {
        let mut s = Self::start_at(app, listener_limits(), host).await;
        s.start_background(Some(smtp_url.to_string()));
        s
    }

    /// (Re)starts projections and mail; retries come quickly (200 ms, doubling).
    pub fn start_background(&mut self, smtp_url: Option<String>) {
        let mut mail =
            portal_accounts::mail::MailConfig::new(smtp_url, &test_data_dir(), &self.base);
        mail.outbox_dir = test_data_dir().join(format!("outbox-{}", Uuid::now_v7().simple()));
        mail.retry_base = std::time::Duration::from_millis(200);
        self.background =
            Some(portal_accounts::runtime::server::Background::start(&self.app, &mail).unwrap());
    }

    /// Stops projections and mail as a shutdown (or crash) would.
    pub async fn stop_background(&mut self) {
        if let Some(background) = self.background.take() {
            background.stop().await;
        }
    }

    /// A server that also runs the projection engine, started once the read models have
    /// caught up with everything already in the (shared) test database.
    pub async fn start_reading() -> Self {
        Self::start_reading_with(app(pool().await)).await
    }

    /// `start_reading` with an app of the test's making (e.g. reading from a replica).
    pub async fn start_reading_with(app: Edge) -> Self {
        let mut s = Self::start_with(app).await;
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let engine =
            projections::Engine::new(s.pool().clone(), s.app.keys().clone(), projections::all());
        tokio::spawn(engine.run(stopping));
        s._stop_projections = Some(stop);
        let newest: i64 =
            sqlx::query_scalar("SELECT COALESCE(max(global_position), 0) FROM events")
                .fetch_one(s.pool())
                .await
                .unwrap();
        if newest > 0 {
            wait_for_position(s.pool(), newest, std::time::Duration::from_secs(180)).await;
        }
        s
    }

    pub fn pool(&self) -> &PgPool {
        self.app.pool()
    }

    /// A server and a fresh firm on it.
    pub async fn with_firm() -> (Self, Tenant) {
        let s = Self::start().await;
        let t = s.tenant().await;
        (s, t)
    }

    /// A server running the projection engine, and a fresh firm on it.
    pub async fn reading_with_firm() -> (Self, Tenant) {
        let s = Self::start_reading().await;
        let t = s.tenant().await;
        (s, t)
    }

    /// A fresh tenant with one token per role.
    pub async fn tenant(&self) -> Tenant {
        let slug = format!("t-{}", Uuid::now_v7().simple());
        let id = tenants::create_tenant(&self.app, &slug, "Test Firm")
            .await
            .unwrap();
        let mut tokens = Vec::new();
        for role in [
            StaffRole::Admin,
            StaffRole::Staff,
            StaffRole::Auditor,
            StaffRole::Reporting,
        ] {
            tokens.push(
                tenants::issue_staff_token(&self.app, &slug, role, Some("test".into()))
                    .await
                    .unwrap(),
            );
        }
        let setup_events = event_count(self.pool(), id).await;
        Tenant {
            id,
            setup_events,
            slug,
            admin: tokens[0].clone(),
            staff: tokens[1].clone(),
            auditor: tokens[2].clone(),
            reporting: tokens[3].clone(),
        }
    }

    pub fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    /// Registers an organisation as `t`'s staff: its id and the command's position.
    pub async fn register_client(&self, t: &Tenant, name: &str) -> (String, i64) {
        let (status, body) = self
            .post(
                "/api/v1/clients",
                &t.staff,
                serde_json::json!({"display_name": name, "kind": "organisation"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (id_of(&body, "id"), body["position"].as_i64().unwrap())
    }

    /// Seals the firm's chain and signs a checkpoint at its head now, as the sealer does at
    /// most once a minute (also writing it to `deliver_to`, if given); the newest
    /// checkpoint, as auditors read it.
    pub async fn checkpoint_now(&self, t: &Tenant, deliver_to: Option<PathBuf>) -> Value {
        use portal_accounts::audit::checkpoint::{sign_due, Signer};
        portal_accounts::audit::seal::seal_tenant(
            self.pool(),
            t.id,
            std::time::Duration::from_secs(30),
        )
        .await
        .unwrap();
        let signer = Signer {
            key: self.app.audit_key.clone(),
            deliver_to,
        };
        sign_due(self.pool(), &signer, std::time::Duration::ZERO)
            .await
            .unwrap();
        let (status, latest) =
            send(self.request(Method::GET, "/api/v1/audit/checkpoints/latest", &t.auditor)).await;
        assert_eq!(status, 200, "{latest}");
        latest
    }

    /// An unauthenticated GET that must answer JSON (`/openapi.json`, `/readyz`).
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.http.get(format!("{}{path}", self.base)).send().await;
        let response = response.unwrap().error_for_status().unwrap();
        response.json().await.unwrap()
    }

    /// An unauthenticated GET's status (`/readyz` while the database is away).
    pub async fn get_status(&self, path: &str) -> u16 {
        let response = self.http.get(format!("{}{path}", self.base)).send().await;
        response.unwrap().status().as_u16()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        send(self.request(Method::POST, path, token).json(&body)).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.request(method, path, token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        send(req).await
    }
}

pub async fn send(req: RequestBuilder) -> (u16, Value) {
    let response: Response = req.send().await.unwrap();
    let status = response.status().as_u16();
    let is_problem = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("application/problem+json"));
    assert!(
        response.headers().contains_key("x-request-id"),
        "every response has x-request-id"
    );
    let text = response.text().await.unwrap();
    if status >= 400 {
        assert!(is_problem, "error {status} must be problem+json: {text}");
    }
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, value)
}

pub struct Tenant {
    pub id: Uuid,
    /// How many events setting the tenant up wrote (the firm, its staff, their tokens).
    pub setup_events: i64,
    pub slug: String,
    pub admin: String,
    pub staff: String,
    pub auditor: String,
    pub reporting: String,
}

/// A stored event as the tests inspect it.
#[derive(Debug)]
pub struct Row {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub payload: Value,
    pub metadata: Value,
    pub position: i64,
}

/// The tenant's events as stored, their personal fields opened (as every reader sees them).
pub async fn events_of_tenant(pool: &PgPool, tenant: Uuid) -> Vec<Row> {
    let mut rows = stored_events_of_tenant(pool, tenant).await;
    let keys = data_keys(pool);
    let mut values: Vec<&mut Value> = rows
        .iter_mut()
        .flat_map(|r| [&mut r.payload, &mut r.metadata])
        .collect();
    keys.open_all(&mut values).await.unwrap();
    rows
}

/// The tenant's events exactly as stored (personal fields sealed).
pub async fn stored_events_of_tenant(pool: &PgPool, tenant: Uuid) -> Vec<Row> {
    let rows: Vec<(String, String, i64, String, Value, Value, i64)> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, payload, metadata, global_position
           FROM events WHERE tenant_id = $1 ORDER BY global_position",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(
            |(aggregate_type, aggregate_id, sequence, event_type, payload, metadata, position)| {
                Row {
                    aggregate_type,
                    aggregate_id,
                    sequence,
                    event_type,
                    payload,
                    metadata,
                    position,
                }
            },
        )
        .collect()
}

pub async fn event_count(pool: &PgPool, tenant: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The fields a 422 problem's errors name, in order.
pub fn field_names(problem: &Value) -> Vec<&str> {
    let errors = problem["errors"].as_array().expect("field errors");
    errors
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

pub fn id_of(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"))
        .to_string()
}

/// The event types of one stream, in order.
pub fn types_of(events: &[Row], stream: impl std::fmt::Display) -> Vec<&str> {
    let stream = stream.to_string();
    events
        .iter()
        .filter(|e| e.aggregate_id == stream)
        .map(|e| e.event_type.as_str())
        .collect()
}

/// The firm's stored password hashes (to check none leaks anywhere).
pub async fn password_hashes(pool: &PgPool, tenant: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT password_hash FROM portal_credentials WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// A connection that bypasses the append-only triggers (and foreign keys), as someone with
/// database access can, for this one session only.
pub async fn superuser_session(s: &Server) -> sqlx::PgConnection {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect_with(&s.pool().connect_options())
        .await
        .unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// Tampers with the stored log the way someone with database access would.
pub async fn tamper(s: &Server, sql: &str, tenant: Uuid) {
    let mut conn = superuser_session(s).await;
    let done = sqlx::query(sql)
        .bind(tenant)
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(done.rows_affected() > 0, "tampering touched nothing: {sql}");
}

/// Asks `probe` every 20 ms until it answers `Some`, for at most `limit`, and fails naming
/// `what` otherwise: the one wait for work another task does (a read model catching up, an
/// e-mail sent, a probe noticing the database). No test sleeps for a fixed time instead.
pub async fn eventually<T, Fut>(
    what: &str,
    limit: std::time::Duration,
    mut probe: impl FnMut() -> Fut,
) -> T
where
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits until every read model includes the event at `position` (what `min_position` waits
/// for at the API), at most `limit`.
pub async fn wait_for_position(pool: &PgPool, position: i64, limit: std::time::Duration) {
    eventually("the read models to include the position", limit, || async {
        projections::engine::includes(pool, portal_accounts::reads::READ_MODELS, position)
            .await
            .unwrap()
            .then_some(())
    })
    .await
}
