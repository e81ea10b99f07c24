//! The README's promise, tested on the real binary: with no configuration `serve` starts its
//! own PostgreSQL under the data directory, becomes ready, logs one JSON line per request
//! (with request id, tenant, route, status and latency — and no secrets), stops cleanly,
//! and keeps its data for the next start.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_portal-accounts");

struct Running {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
}

fn command(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    // Exactly what a fresh shell would have: none of our variables.
    for var in [
        "DATABASE_URL",
        "PORTAL_LISTEN",
        "PORTAL_SECRET",
        "PORTAL_SMTP_URL",
        "PORTAL_PUBLIC_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PORTAL_DATA_DIR", data_dir);
    cmd
}

fn start(data_dir: &std::path::Path) -> Running {
    let mut child = command(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let addr = loop {
        let wait = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = lines.recv_timeout(wait) else {
            break None;
        };
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| json!({"unparsed": line}));
        assert!(v.get("unparsed").is_none(), "log line is not JSON: {v}");
        if let Some(addr) = v["addr"].as_str() {
            break Some(addr.to_string());
        }
    };
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve did not log its address");
    };
    Running {
        child,
        base: format!("http://{addr}"),
        lines,
    }
}

fn stop(mut running: Running) -> Vec<String> {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(running.child.id() as i32, libc::SIGTERM) };
    let status = running.child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    running.lines.try_iter().collect()
}

fn cli(data_dir: &std::path::Path, args: &[&str]) -> String {
    let out = command(data_dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_no_configuration_runs_on_its_own_postgres_and_keeps_data() {
    let data_dir = tempdir();
    let http = reqwest::Client::new();

    let running = start(&data_dir);
    let (_, ready) = call(&http, &running.base, "GET /readyz", None, None).await;
    assert_eq!(ready["status"], "ready");

    // The operator commands find the running private cluster.
    let tenant_id = cli(
        &data_dir,
        &[
            "tenant",
            "create",
            "--slug",
            "acme",
            "--name",
            "Acme Accounting",
        ],
    );
    assert!(uuid::Uuid::try_parse(&tenant_id).is_ok(), "{tenant_id}");
    let token = cli(
        &data_dir,
        &[
            "token", "create", "--tenant", "acme", "--role", "admin", "--label", "first",
        ],
    );
    assert!(token.starts_with("pat_"));
    // The first admin is a person, named after the label; a service token names nobody,
    // so its commands must name their person.
    let (_, staff) = call(
        &http,
        &running.base,
        "GET /api/v1/staff",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(staff["items"][0]["name"], "first", "{staff}");
    assert_eq!(staff["items"][0]["role"], "admin");
    let service = cli(
        &data_dir,
        &[
            "token",
            "create",
            "--tenant",
            "acme",
            "--role",
            "staff",
            "--label",
            "ui",
            "--service",
        ],
    );
    let body = json!({"display_name": "Nobody's", "kind": "organisation"});
    let register = "POST /api/v1/clients";
    let (status, _) = call(&http, &running.base, register, Some(&service), Some(body)).await;
    assert_eq!(status, 400);

    // An analyst's connection to the private cluster, from a fresh data directory.
    let url = cli(&data_dir, &["reporting", "grant", "--tenant", "acme"]);
    let analyst = sqlx::PgPool::connect(&url).await.unwrap();
    let clients: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_clients")
        .fetch_one(&analyst)
        .await
        .unwrap();
    assert_eq!(clients, 0);
    // The private cluster runs with its own settings (`embedded_pg::LATER_SETTINGS`).
    assert_eq!(backend_flush_after(&analyst).await, "256kB");
    analyst.close().await;

    let password = "a very secret password 123";
    let body =
        json!({"display_name": "Jo Smith", "kind": "organisation", "email": "jo@example.org"});
    let (_, created) = call(&http, &running.base, register, Some(&token), Some(body)).await;
    let client = created["id"].as_str().unwrap().to_string();
    let logins = format!("POST /api/v1/clients/{client}/portal-users");
    let body = json!({"email": "jo@example.org", "username": "josmith", "password": password});
    let (status, _) = call(&http, &running.base, &logins, Some(&token), Some(body)).await;
    assert_eq!(status, 201);

    // With no SMTP server configured, the invitation e-mail lands in the data dir's outbox;
    // its link points at this server, and the client can accept and log in with it.
    let body = json!({"display_name": "Kim", "kind": "individual", "email": "kim@example.org"});
    let (_, kim) = call(&http, &running.base, register, Some(&token), Some(body)).await;
    let invite = format!(
        "POST /api/v1/clients/{}/invitations",
        kim["id"].as_str().unwrap()
    );
    let (status, _) = call(&http, &running.base, &invite, Some(&token), None).await;
    assert_eq!(status, 201);
    let eml = wait_for_eml(&data_dir.join("outbox")).await;
    let unfolded = eml.replace("=\r\n", "").replace("=3D", "=");
    let prefix = format!("{}/portal/acme/accept-invitation?token=", running.base);
    let at = unfolded.find(&prefix).expect("a link to this server") + prefix.len();
    let link_token: String = unfolded[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    let accept = "POST /portal/v1/acme/invitations/accept";
    let body = json!({"token": link_token, "username": "kim", "password": password});
    let (status, _) = call(&http, &running.base, accept, None, Some(body)).await;
    assert_eq!(status, 201);
    let body = json!({"username": "kim", "password": password});
    let login = "POST /portal/v1/acme/login";
    let (_, session) = call(&http, &running.base, login, None, Some(body)).await;
    let session = session["session_token"].as_str().unwrap().to_string();

    let logs = stop(running);
    let request_lines: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request answered")
        .collect();
    let create_line = request_lines
        .iter()
        .find(|v| v["span"]["route"] == "/api/v1/clients/{id}/portal-users")
        .unwrap_or_else(|| panic!("a span per request: {logs:#?}"));
    assert_eq!(create_line["span"]["status"], 201);
    assert_eq!(create_line["span"]["tenant"], tenant_id);
    assert!(create_line["span"]["request_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(create_line["span"]["latency_ms"].is_number());
    let all = logs.join("\n");
    assert!(
        !all.contains(password)
            && !all.contains(&token)
            && !all.contains("argon2")
            && !all.contains(&link_token)
            && !all.contains(&session),
        "a secret reached the log"
    );

    // A cluster made before a setting was chosen (here: its line taken out again) gets it
    // at its next start.
    let cluster = portal_accounts::runtime::embedded_pg::EmbeddedPostgres::for_data_dir(&data_dir)
        .unwrap()
        .cluster_dir()
        .join("postgresql.auto.conf");
    let conf = std::fs::read_to_string(&cluster).unwrap();
    assert!(conf.contains("backend_flush_after"), "{conf}");
    let without: String = conf
        .lines()
        .filter(|l| !l.contains("backend_flush_after"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&cluster, without).unwrap();

    // Data survives a restart; the cluster was stopped with the server and starts again.
    let running = start(&data_dir);
    let analyst = sqlx::PgPool::connect(&url).await.unwrap();
    assert_eq!(backend_flush_after(&analyst).await, "256kB");
    analyst.close().await;
    let body = json!({"email": "jo@example.org", "username": "JOSMITH"});
    let (status, _) = call(&http, &running.base, &logins, Some(&token), Some(body)).await;
    assert_eq!(
        status, 409,
        "the username from before the restart is still taken"
    );
    stop(running);
}

/// One request to the running binary, written as "METHOD /path": its status and JSON body
/// (`null` when it has none).
async fn call(
    http: &reqwest::Client,
    base: &str,
    request: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let (method, path) = request.split_once(' ').unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut builder = http.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    if let Some(body) = body {
        builder = builder.json(&body);
    }
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn backend_flush_after(pool: &sqlx::PgPool) -> String {
    sqlx::query_scalar("SHOW backend_flush_after")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The first `.eml` file written to `outbox`, once there is one.
async fn wait_for_eml(outbox: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = std::fs::read_dir(outbox)
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".eml"));
        if let Some(file) = found {
            return std::fs::read_to_string(file.path()).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no e-mail in {outbox:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("serve-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
