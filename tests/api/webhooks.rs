//! Webhooks and the event feed, end to end: a real receiver on loopback, signatures
//! checked by the specification's algorithm written out here (not the server's code), the
//! retry schedule and disabling on the injected clock, rotation, the pull feed, bad input,
//! and a dispatcher killed with SIGKILL mid-delivery.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::common::receiver::{Received, Receiver, Reply};
use crate::common::smtp::SmtpSink;
use crate::common::{self, eventually, Server, Tenant};

const WAIT: Duration = Duration::from_secs(60);

/// Standard Webhooks 1.0, verified as a receiver would: HMAC-SHA256 keyed with the
/// base64-decoded part of `whsec_…`, over `{webhook-id}.{webhook-timestamp}.{body}`,
/// compared with each space-separated `v1,` signature.
fn signed_by(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let content = format!(
        "{}.{}.{}",
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.body
    );
    mac.update(content.as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    r.header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

/// A server running everything (outbox and dispatcher included) on a database of its
/// own, a firm, a receiver and the SMTP sink.
async fn setup() -> (SmtpSink, Server, Tenant, Receiver) {
    let sink = SmtpSink::start().await;
    let s = Server::start_mailing(&sink.url()).await;
    let t = s.tenant().await;
    (sink, s, t, Receiver::start().await)
}

/// Creates an endpoint: its id and secret.
async fn webhook(s: &Server, t: &Tenant, url: &str, types: Value) -> (String, String) {
    let created = s
        .staff(&t.admin)
        .create_webhook(json!({"url": url, "event_types": types, "description": "CRM sync"}))
        .await;
    assert!(created.secret.starts_with("whsec_"));
    (created.id.to_string(), created.secret)
}

async fn get(s: &Server, token: &str, path: &str) -> Value {
    let (status, body) = s.call(Method::GET, path, token, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The endpoint's one delivery row, as the database has it: attempts and whether a
/// dispatcher still holds its claim.
async fn attempts_settled(s: &Server, webhook_id: &str) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT attempts FROM webhook_deliveries WHERE webhook_id = $1::uuid AND claimed_by IS NULL",
    )
    .bind(webhook_id)
    .fetch_optional(s.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_webhook_gets_each_subscribed_event_signed_once_in_log_order() {
    let (_sink, s, t, r) = setup().await;
    let (id, secret) = webhook(&s, &t, &r.url("/hooks"), json!(["client.registered"])).await;
    let mut positions = Vec::new();
    for i in 0..4 {
        positions.push(s.register_client(&t, &format!("Client {i}")).await.1);
    }
    // An event of a type the endpoint did not ask for goes nowhere: the next registration
    // is the next message.
    let (client, _) = s.register_client(&t, "Archived").await;
    let (status, _) = s
        .post(
            &format!("/api/v1/clients/{client}/archive"),
            &t.staff,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let last = s.register_client(&t, "Last").await.1;
    let received = r.wait_for(6).await;
    assert_eq!(received.len(), 6);
    let seen: Vec<i64> = received
        .iter()
        .map(|m| m.json()["data"]["position"].as_i64().unwrap())
        .collect();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "log order: {seen:?}");
    assert_eq!(seen[..4], positions[..]);
    assert_eq!(*seen.last().unwrap(), last);
    for m in &received {
        assert_eq!(m.path, "/hooks");
        assert_eq!(m.header("content-type"), "application/json");
        let body = m.json();
        assert_eq!(body["type"], "client.registered");
        assert_eq!(
            m.header("webhook-id"),
            format!("msg_{}", body["data"]["position"])
        );
        assert_eq!(body["data"]["tenant_id"], t.id.to_string());
        assert!(body["data"]["client_id"].is_string());
        assert!(!m.body.contains("Client "), "no personal field: {}", m.body);
        assert!(signed_by(&secret, m), "signature of {m:?}");
    }
    // Staff read the endpoint and its log, never the secret.
    let hook = get(&s, &t.admin, &format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(hook["enabled"], true);
    assert_eq!(hook["event_types"], json!(["client.registered"]));
    assert!(!hook.to_string().contains(&secret[6..]));
    let log = eventually("six delivered", WAIT, || async {
        let log = get(
            &s,
            &t.admin,
            &format!("/api/v1/webhooks/{id}/deliveries?status=delivered"),
        )
        .await;
        (log["items"].as_array().unwrap().len() == 6).then_some(log)
    })
    .await;
    assert!(log["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["attempts"] == 1));
    // The secret is nowhere in the log of events.
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%'")
            .bind(&secret[6..])
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_failed_message_is_retried_on_the_schedule_honouring_retry_after_under_one_id() {
    let (_sink, s, t, r) = setup().await;
    let (id, secret) = webhook(&s, &t, &r.url("/"), json!(["*"])).await;
    r.reply([
        Reply::Status(500),
        Reply::Drop,
        Reply::RetryAfter(503, 3600),
    ]);
    s.register_client(&t, "Retried").await;
    let clock = &s.app.app.clock;
    r.wait_for(1).await;
    eventually("attempt 1 recorded", WAIT, || async {
        (attempts_settled(&s, &id).await == Some(1)).then_some(())
    })
    .await;
    // The first retry comes within ten seconds.
    clock.advance(chrono::Duration::seconds(6));
    r.wait_for(2).await;
    eventually("attempt 2 recorded", WAIT, || async {
        (attempts_settled(&s, &id).await == Some(2)).then_some(())
    })
    .await;
    clock.advance(chrono::Duration::seconds(70));
    r.wait_for(3).await;
    eventually("attempt 3 recorded", WAIT, || async {
        (attempts_settled(&s, &id).await == Some(3)).then_some(())
    })
    .await;
    // The receiver asked for an hour: the schedule's five minutes give way to it.
    let log = get(&s, &t.admin, &format!("/api/v1/webhooks/{id}/deliveries")).await;
    let delivery = &log["items"][0];
    assert_eq!(delivery["status"], "pending");
    assert_eq!(delivery["last_status_code"], 503);
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(delivery["next_attempt_at"].clone()).unwrap();
    assert!(
        next - clock.now() > chrono::Duration::minutes(59),
        "{delivery}"
    );
    clock.advance(chrono::Duration::seconds(3601));
    let received = r.wait_for(4).await;
    let delivered = eventually("delivered", WAIT, || async {
        let log = get(&s, &t.admin, &format!("/api/v1/webhooks/{id}/deliveries")).await;
        (log["items"][0]["status"] == "delivered").then(|| log["items"][0].clone())
    })
    .await;
    assert_eq!(delivered["attempts"], 4);
    let ids: BTreeSet<&str> = received.iter().map(|m| m.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "one id through every retry");
    assert!(received.iter().all(|m| signed_by(&secret, m)));
}

#[tokio::test]
async fn a_receiver_that_never_answers_holds_up_no_other_endpoint() {
    let (_sink, s, t, stuck) = setup().await;
    let healthy = Receiver::start().await;
    stuck.always(Reply::Hang);
    webhook(&s, &t, &stuck.url("/"), json!(["*"])).await;
    webhook(&s, &t, &healthy.url("/"), json!(["*"])).await;
    let started = std::time::Instant::now();
    for i in 0..3 {
        s.register_client(&t, &format!("Meanwhile {i}")).await;
    }
    healthy.wait_for(3).await;
    // The stuck receiver has the first message and holds it for the 15 s deadline; the
    // healthy one got all three well before that.
    assert!(
        started.elapsed() < Duration::from_secs(14),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stuck.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_nothing_more_is_owed_to_it() {
    let (_sink, s, t, r) = setup().await;
    let (id, _) = webhook(&s, &t, &r.url("/"), json!(["*"])).await;
    r.always(Reply::Status(410));
    s.register_client(&t, "Gone").await;
    r.wait_for(1).await;
    let hook = eventually("disabled", WAIT, || async {
        let hook = get(&s, &t.admin, &format!("/api/v1/webhooks/{id}")).await;
        (hook["enabled"] == false).then_some(hook)
    })
    .await;
    assert_eq!(hook["disabled_reason"], "gone");
    let (_, later) = s.register_client(&t, "Later").await;
    eventually("the outbox passed the later event", WAIT, || async {
        projections::engine::includes(s.pool(), &["webhook_outbox"], later)
            .await
            .unwrap()
            .then_some(())
    })
    .await;
    let log = get(&s, &t.admin, &format!("/api/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    assert_eq!(log["items"][0]["status"], "failed");
    assert_eq!(r.received().len(), 1);
    // An auditor sees the system disabled it.
    let audit = get(&s, &t.auditor, "/api/v1/audit/events?limit=1000").await;
    assert!(
        audit.to_string().contains("Webhook disabled (gone)"),
        "{audit}"
    );
}

#[tokio::test]
async fn an_endpoint_failing_throughout_the_schedule_is_disabled_and_the_admins_emailed() {
    let (sink, s, t, r) = setup().await;
    let admin = format!("ada-{}@firm.test", uuid::Uuid::now_v7().simple());
    let (status, body) = s
        .post(
            "/api/v1/staff",
            &t.admin,
            json!({"name": "Ada Admin", "email": admin, "role": "admin"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (id, _) = webhook(&s, &t, &r.url("/"), json!(["client.registered"])).await;
    r.always(Reply::Status(500));
    s.register_client(&t, "Never delivered").await;
    let clock = &s.app.app.clock;
    for attempt in 1..=11 {
        eventually("the attempt recorded", WAIT, || async {
            (attempts_settled(&s, &id).await == Some(attempt)).then_some(())
        })
        .await;
        clock.advance(chrono::Duration::hours(23));
    }
    let hook = eventually("disabled", WAIT, || async {
        let hook = get(&s, &t.admin, &format!("/api/v1/webhooks/{id}")).await;
        (hook["enabled"] == false).then_some(hook)
    })
    .await;
    assert_eq!(hook["disabled_reason"], "failing");
    assert_eq!(r.received().len(), 11);
    let log = get(&s, &t.admin, &format!("/api/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(log["items"][0]["status"], "failed");
    assert_eq!(log["items"][0]["attempts"], 11);
    let mail = sink.wait_for(&admin, 1).await.remove(0);
    assert!(mail.text.contains("was disabled"), "{}", mail.text);
    assert!(mail.text.contains(&r.url("/")), "names the endpoint");
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_for_a_day() {
    let (_sink, s, t, r) = setup().await;
    let (id, old) = webhook(&s, &t, &r.url("/"), json!(["client.registered"])).await;
    s.register_client(&t, "Before").await;
    let first = r.wait_for(1).await.remove(0);
    assert!(signed_by(&old, &first));
    let (status, rotated) = s
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    s.register_client(&t, "During").await;
    let during = r.wait_for(2).await.remove(1);
    assert_eq!(during.header("webhook-signature").split(' ').count(), 2);
    assert!(signed_by(&old, &during) && signed_by(&new, &during));
    s.app.app.clock.advance(chrono::Duration::hours(25));
    s.register_client(&t, "After").await;
    let after = r.wait_for(3).await.remove(2);
    assert!(signed_by(&new, &after) && !signed_by(&old, &after));
}

#[tokio::test]
async fn a_test_message_and_a_redelivery_travel_under_their_ids() {
    let (_sink, s, t, r) = setup().await;
    let (id, secret) = webhook(&s, &t, &r.url("/"), json!(["*"])).await;
    let admin = s.staff(&t.admin);
    let hook = uuid::Uuid::parse_str(&id).unwrap();
    let queued = admin.send_webhook_test(hook).await;
    assert_eq!(queued.status, "pending");
    let test = r.wait_for(1).await.remove(0);
    assert_eq!(test.json()["type"], "webhook.test");
    assert!(test.header("webhook-id").starts_with("msg_test_"));
    assert!(signed_by(&secret, &test));
    let delivered = eventually("delivered", WAIT, || async {
        let log = admin.webhook_deliveries(hook, "").await;
        (log.items[0].status == "delivered").then(|| log.items[0].clone())
    })
    .await;
    assert_eq!(delivered.id, queued.id);
    assert_eq!(delivered.event_type, "webhook.test");
    admin.retry_webhook_delivery(hook, queued.id).await;
    let again = r.wait_for(2).await.remove(1);
    assert_eq!(again.header("webhook-id"), test.header("webhook-id"));
}

#[tokio::test]
async fn the_feed_gives_the_same_messages_in_log_order_and_long_polls() {
    let (_sink, s, t, r) = setup().await;
    webhook(&s, &t, &r.url("/"), json!(["*"])).await;
    let mut positions = Vec::new();
    for i in 0..3 {
        positions.push(s.register_client(&t, &format!("Feed {i}")).await.1);
    }
    let pushed = r.wait_for(3).await;
    let feed = get(
        &s,
        &t.auditor,
        "/api/v1/events?after=0&types=client.registered",
    )
    .await;
    let items = feed["items"].as_array().unwrap();
    let fed: Vec<i64> = items
        .iter()
        .map(|i| i["position"].as_i64().unwrap())
        .collect();
    assert_eq!(fed, positions);
    for (item, message) in items.iter().zip(&pushed) {
        assert_eq!(item["id"], message.header("webhook-id"));
        assert_eq!(item["data"], message.json()["data"], "the same message");
        assert_eq!(item["type"], message.json()["type"]);
    }
    let next = feed["next_after"].as_i64().unwrap();
    // Nothing newer: an empty page at once, or after the wait asked for.
    let empty = get(&s, &t.staff, &format!("/api/v1/events?after={next}")).await;
    assert_eq!(empty["items"], json!([]));
    assert_eq!(empty["next_after"], next);
    let started = std::time::Instant::now();
    let waited = get(
        &s,
        &t.staff,
        &format!("/api/v1/events?after={next}&wait_s=1"),
    )
    .await;
    assert_eq!(waited["items"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A long poll returns with what is committed while it waits.
    let polling = {
        let (http, base, token) = (s.http.clone(), s.base.clone(), t.staff.clone());
        tokio::spawn(async move {
            let url = format!("{base}/api/v1/events?after={next}&wait_s=30");
            common::send(http.get(url).bearer_auth(token)).await
        })
    };
    let (_, newest) = s.register_client(&t, "While waiting").await;
    let (status, polled) = polling.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(polled["items"][0]["position"], newest, "{polled}");
    // Filters and bad input.
    let (status, body) = s
        .call(
            Method::GET,
            "/api/v1/events?types=client.nope",
            &t.staff,
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (status, _) = s
        .call(Method::GET, "/api/v1/events?wait_s=31", &t.staff, None)
        .await;
    assert_eq!(status, 422);
    let (status, _) = s
        .call(Method::GET, "/api/v1/events", &t.reporting, None)
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn bad_webhook_input_and_other_firms_ids_write_nothing() {
    let pool = common::pool().await;
    let mut app = common::app(pool);
    app.outbound.allow_private = false;
    let s = Server::start_with(app).await;
    let (t, other) = (s.tenant().await, s.tenant().await);
    let before = common::event_count(s.pool(), t.id).await;
    for (url, types, code) in [
        (
            "http://hooks.example.com/x",
            json!(["*"]),
            "webhook_url_not_allowed",
        ),
        (
            "https://127.0.0.1/x",
            json!(["*"]),
            "webhook_url_not_allowed",
        ),
        (
            "https://169.254.169.254/latest",
            json!(["*"]),
            "webhook_url_not_allowed",
        ),
        (
            "https://localhost:8443/x",
            json!(["*"]),
            "webhook_url_not_allowed",
        ),
        ("https://[::1]/x", json!(["*"]), "webhook_url_not_allowed"),
        ("ftp://hooks.example.com", json!(["*"]), "validation_failed"),
        (
            "https://user:pw@hooks.example.com/",
            json!(["*"]),
            "validation_failed",
        ),
        (
            "https://hooks.example.com/",
            json!(["client.nope"]),
            "validation_failed",
        ),
        ("https://hooks.example.com/", json!([]), "validation_failed"),
        (
            "https://hooks.example.com/",
            json!(["*", "client.invited"]),
            "validation_failed",
        ),
    ] {
        let (status, body) = s
            .post(
                "/api/v1/webhooks",
                &t.admin,
                json!({"url": url, "event_types": types}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some(code)),
            "{url} {types}: {body}"
        );
        assert!(body["type"].as_str().unwrap().starts_with("https://"));
    }
    let (status, _) = s
        .post(
            "/api/v1/webhooks",
            &t.staff,
            json!({"url": "https://hooks.example.com/", "event_types": ["*"]}),
        )
        .await;
    assert_eq!(status, 403, "admins only");
    assert_eq!(
        common::event_count(s.pool(), t.id).await,
        before,
        "nothing written"
    );

    // Another firm's endpoint is not there for this one.
    let mut lenient = common::app(common::pool().await);
    lenient.outbound.allow_private = true;
    let (_, theirs) = {
        let s2 = Server::start_with(lenient).await;
        webhook(&s2, &other, "http://127.0.0.1:9/x", json!(["*"])).await
    };
    let delivery = uuid::Uuid::now_v7();
    for (method, path) in [
        (Method::GET, format!("/api/v1/webhooks/{theirs}")),
        (Method::PATCH, format!("/api/v1/webhooks/{theirs}")),
        (Method::DELETE, format!("/api/v1/webhooks/{theirs}")),
        (
            Method::POST,
            format!("/api/v1/webhooks/{theirs}/rotate-secret"),
        ),
        (Method::POST, format!("/api/v1/webhooks/{theirs}/test")),
        (Method::GET, format!("/api/v1/webhooks/{theirs}/deliveries")),
        (
            Method::POST,
            format!("/api/v1/webhooks/{theirs}/deliveries/{delivery}/retry"),
        ),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"enabled": false}));
        let (status, problem) = s.call(method.clone(), &path, &t.admin, body).await;
        assert_eq!(status, 404, "{method} {path}: {problem}");
    }
    let listed = get(&s, &t.admin, "/api/v1/webhooks").await;
    assert_eq!(listed["items"], json!([]));
    assert_eq!(common::event_count(s.pool(), t.id).await, before);
}

/// The connection URL of the test database `pool` is on, for a server process of its own.
fn database_url(pool: &sqlx::PgPool) -> String {
    let o = pool.connect_options();
    let mut url = format!(
        "postgres://{}@localhost:{}/{}",
        o.get_username(),
        o.get_port(),
        o.get_database().unwrap_or("postgres")
    );
    if let Some(socket) = o.get_socket() {
        url.push_str(&format!("?host={}", socket.display()));
    } else {
        url = url.replace("localhost", o.get_host());
    }
    url
}

/// Commands through a server in this process that dispatches nothing, on a database of its
/// own, with a firm, a receiver and an endpoint on `client.registered`: real binaries on the
/// same database do the delivering.
struct Undispatched {
    pool: sqlx::PgPool,
    s: Server,
    t: Tenant,
    r: Receiver,
    webhook_id: String,
    secret: String,
}

async fn undispatched() -> Undispatched {
    let pool = common::fresh_database().await;
    let s = Server::start_with(common::app(pool.clone())).await;
    let t = s.tenant().await;
    let r = Receiver::start().await;
    let (webhook_id, secret) = webhook(&s, &t, &r.url("/"), json!(["client.registered"])).await;
    Undispatched {
        pool,
        s,
        t,
        r,
        webhook_id,
        secret,
    }
}

/// Each message's event after the one before it.
fn assert_in_log_order(received: &[Received]) {
    let seen: Vec<i64> = received
        .iter()
        .map(|m| m.json()["data"]["position"].as_i64().unwrap())
        .collect();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "log order: {seen:?}");
}

/// The real binary serving (and dispatching) on `database_url`.
fn spawn_server(database_url: &str, data_dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_portal-accounts"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("PORTAL_DATA_DIR", data_dir)
        .env("PORTAL_SECRET", "s".repeat(32))
        .env("PORTAL_WEBHOOK_ALLOW_PRIVATE", "true")
        .env_remove("PORTAL_SMTP_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_killed_mid_delivery_loses_nothing_and_never_renames_a_message() {
    // Commands go through a server in this process that dispatches nothing; the real
    // binary on the same database does the delivering, and is killed with SIGKILL.
    let Undispatched {
        pool,
        s,
        t,
        r,
        secret,
        ..
    } = undispatched().await;
    let url = database_url(&pool);
    let data_dir = common::test_data_dir().join(format!("crash-{}", uuid::Uuid::now_v7().simple()));
    let mut first = spawn_server(&url, &data_dir);
    let total = 120;
    let writer = {
        let (http, base, token) = (s.http.clone(), s.base.clone(), t.staff.clone());
        tokio::spawn(async move {
            for i in 0..total {
                let body = json!({"display_name": format!("Load {i}"), "kind": "organisation"});
                let (status, _) = common::send(
                    http.post(format!("{base}/api/v1/clients"))
                        .bearer_auth(&token)
                        .json(&body),
                )
                .await;
                assert_eq!(status, 201);
            }
        })
    };
    r.wait_for(10).await;
    first.kill().unwrap();
    first.wait().unwrap();
    writer.await.unwrap();
    let mut second = spawn_server(&url, &data_dir);
    r.wait_for(total).await;
    let mut by_id: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let messages = eventually("every message", WAIT, || {
        let r = r.clone();
        async move {
            let all = r.received();
            let ids: BTreeSet<String> = all
                .iter()
                .map(|m| m.header("webhook-id").to_string())
                .collect();
            (ids.len() >= total).then_some(all)
        }
    })
    .await;
    let _ = second.kill();
    let _ = second.wait();
    for m in &messages {
        assert!(signed_by(&secret, m));
        by_id
            .entry(m.header("webhook-id").to_string())
            .or_default()
            .insert(m.json()["data"]["position"].to_string());
    }
    let positions: Vec<i64> = sqlx::query_scalar(
        "SELECT global_position FROM events WHERE tenant_id = $1 AND event_type = 'ClientRegistered' ORDER BY 1",
    )
    .bind(t.id)
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected: BTreeSet<String> = positions.iter().map(|p| format!("msg_{p}")).collect();
    let got: BTreeSet<String> = by_id.keys().cloned().collect();
    assert_eq!(got, expected, "every event arrived, under its one id");
    assert!(by_id.values().all(|p| p.len() == 1), "an id is one event");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_several_batches_goes_out_once_each_in_log_order() {
    // The backlog is written through a server that dispatches nothing; the real binary then
    // sends it in batches, each claimed while the one before was going out.
    let Undispatched {
        pool,
        s,
        t,
        r,
        webhook_id,
        secret,
    } = undispatched().await;
    let total = 130;
    for i in 0..total {
        s.register_client(&t, &format!("Backlog {i}")).await;
    }
    let data_dir =
        common::test_data_dir().join(format!("backlog-{}", uuid::Uuid::now_v7().simple()));
    let mut server = spawn_server(&database_url(&pool), &data_dir);
    r.wait_for(total).await;
    let settled = eventually("every delivery recorded", WAIT, || async {
        let rows: Vec<(String, i32, bool)> = sqlx::query_as(
            "SELECT status, attempts, claimed_by IS NULL FROM webhook_deliveries
              WHERE webhook_id = $1::uuid",
        )
        .bind(&webhook_id)
        .fetch_all(&pool)
        .await
        .unwrap();
        rows.iter()
            .all(|(status, _, _)| status == "delivered")
            .then_some(rows)
    })
    .await;
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(settled.len(), total);
    assert!(
        settled
            .iter()
            .all(|(_, attempts, free)| *attempts == 1 && *free),
        "one attempt each, no claim left: {settled:?}"
    );
    let received = r.received();
    assert_eq!(received.len(), total, "each message once");
    assert_in_log_order(&received);
    assert!(received.iter().all(|m| signed_by(&secret, m)));
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_send_each_message_once_in_log_order() {
    // Two real binaries dispatch from one database while commands arrive: an endpoint is
    // one dispatcher's at a time, so no message goes out twice and none out of order.
    let Undispatched {
        pool,
        s,
        t,
        r,
        webhook_id,
        ..
    } = undispatched().await;
    let url = database_url(&pool);
    let dirs: Vec<_> = (0..2)
        .map(|i| {
            common::test_data_dir().join(format!("pair-{i}-{}", uuid::Uuid::now_v7().simple()))
        })
        .collect();
    let mut servers: Vec<_> = dirs.iter().map(|d| spawn_server(&url, d)).collect();
    let total = 150;
    for i in 0..total {
        s.register_client(&t, &format!("Pair {i}")).await;
    }
    r.wait_for(total).await;
    eventually("every delivery recorded", WAIT, || async {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries
              WHERE webhook_id = $1::uuid AND status <> 'delivered'",
        )
        .bind(&webhook_id)
        .fetch_one(&pool)
        .await
        .unwrap();
        (pending == 0).then_some(())
    })
    .await;
    for server in &mut servers {
        let _ = server.kill();
        let _ = server.wait();
    }
    let received = r.received();
    assert_eq!(received.len(), total, "each message once");
    assert_in_log_order(&received);
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn a_dispatcher_whose_session_was_cut_takes_it_again_and_delivers() {
    let (_sink, s, t, r) = setup().await;
    webhook(&s, &t, &r.url("/hooks"), json!(["client.registered"])).await;
    s.register_client(&t, "Before").await;
    r.wait_for(1).await;
    // The workers' presence sessions (they hold advisory locks) go away, as when
    // PostgreSQL restarts or a proxy drops idle connections.
    // (A session holding two locks is listed twice: each is cut once.)
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM (
             SELECT DISTINCT pid FROM pg_locks
              WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         ) holders",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert!(cut.iter().any(|&c| c), "presence sessions cut: {cut:?}");
    s.register_client(&t, "After").await;
    let received = r.wait_for(2).await;
    assert_eq!(received.len(), 2);
    assert_in_log_order(&received);
}
