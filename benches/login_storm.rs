//! Benchmark: portal logins per second under 32 concurrent clients, against the Argon2id
//! verifications per second this machine manages (one thread per core) in the same run, and
//! the latency of a cheap staff read while the storm lasts; then the same storm by logins
//! with an authenticator app (password, then the second step with a TOTP code), beside the
//! password-only rate.
//!
//!     cargo bench --bench login_storm            # 10 s storm
//!     cargo bench --bench login_storm -- 20      # seconds
//!
//! Uses DATABASE_URL, or the private cluster under target/bench-data/login_storm. Results:
//! docs/performance.md.

#[path = "support/mod.rs"]
mod support;

use support::percentile;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aggregates::values::{ClientKind, DisplayName, Email, Username};
use portal_accounts::security::verify_password_blocking;
use portal_accounts::services::tenants::{create_tenant, issue_staff_token};
use portal_accounts::services::{clients, portal_users};
use portal_accounts::store::CommandMeta;
use serde_json::json;
use uuid::Uuid;

const CLIENTS: usize = 32;
/// Logins with an authenticator app each client takes turns with.
const TOTP_LOGINS_PER_CLIENT: usize = 8;
const PASSWORD: &str = "storm trooper passphrase";
/// Pause between two staff reads (the probe should not itself load the machine much).
const READ_EVERY_MS: u64 = 20;

/// The service's own Argon2id check (security.rs), run flat out on one thread per core.
fn argon2_verifications_per_second(phc: String, seconds: f64) -> f64 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let (done, phc) = (done.clone(), phc.clone());
            std::thread::spawn(move || {
                while started.elapsed().as_secs_f64() < seconds {
                    assert!(verify_password_blocking(PASSWORD.as_bytes(), &phc).unwrap());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10.0);
    let (_db, app) =
        support::synthetic::bench_app(env!("CARGO_MANIFEST_DIR"), "login_storm").await?;

    // A firm with one organisation client and 32 active logins.
    let slug = format!("login-{}", Uuid::now_v7().simple());
    let tenant_id = create_tenant(&app, &slug, "Login Bench").await?;
    let staff_token =
        issue_staff_token(&app, &slug, aggregates::tenant::StaffRole::Staff, None).await?;
    let meta = CommandMeta {
        tenant_id,
        actor: eventlog::Actor::operator(),
        via_token: None,
        request_id: "bench".into(),
        client_ip: None,
        user_agent: None,
        command: "",
    };
    let new = clients::NewClient {
        display_name: DisplayName::parse("Storm Ltd").unwrap(),
        kind: ClientKind::Organisation,
        email: None,
        external_ref: None,
    };
    let client = clients::register(&app, &meta, new).await?.value;
    let mut usernames = Vec::new();
    // An active login of the client, named `username`, with the storm's password.
    let active_login = |username: String| {
        let (app, meta) = (&app, &meta);
        async move {
            let new = portal_users::NewPortalUser {
                client_id: client,
                email: Email::parse(&format!("{username}@bench.test")).unwrap(),
                username: Some(Username::parse(&username).unwrap()),
                names: Default::default(),
                password: Some(PASSWORD.into()),
            };
            anyhow::Ok(portal_users::create(app, meta, new).await?.value.id)
        }
    };
    for n in 0..CLIENTS {
        let username = format!("storm{n}");
        active_login(username.clone()).await?;
        usernames.push(username);
    }

    // Logins with an authenticator app: eight per client, so that a login's next code is
    // always of a later step than its last (a code is accepted once). The clock moves on a
    // step every two seconds (`App::clock`, shared with the server in this process).
    let mut totp_users: Vec<Vec<(String, totp_rs::TOTP)>> = vec![Vec::new(); CLIENTS];
    for n in 0..CLIENTS * TOTP_LOGINS_PER_CLIENT {
        let username = format!("totp{n}");
        let user = active_login(username.clone()).await?;
        let scope = app
            .auth
            .portal_scope(&slug)
            .await?
            .expect("the firm just made");
        let account = app
            .store
            .reader(&meta)
            .load::<aggregates::portal_user::PortalUser>(user)
            .await?
            .state
            .account
            .expect("the login just made");
        let setup =
            portal_accounts::portal::factors::start_totp(&app, &scope, &account, user).await?;
        let key = totp_rs::Secret::Encoded(setup.secret).to_bytes().unwrap();
        let totp = totp_rs::TOTP::new_unchecked(
            totp_rs::Algorithm::SHA1,
            6,
            1,
            30,
            key,
            None,
            String::new(),
        );
        let code = totp.generate(app.clock.now().timestamp() as u64);
        let by_user = CommandMeta {
            actor: eventlog::Actor::new(
                eventlog::ActorKind::PortalUser,
                Some(user),
                Some(username.clone()),
            ),
            ..meta.clone()
        };
        let login = portal_accounts::portal::factors::OwnLogin {
            meta: by_user,
            scope: &scope,
            portal_user_id: user,
        };
        portal_accounts::portal::factors::confirm_totp(&app, &login, &code).await?;
        totp_users[n % CLIENTS].push((username, totp));
    }

    let base = support::serve(&app).await?;

    let phc = app.hasher.hash(PASSWORD.into()).await?;
    let hashes_per_second =
        tokio::task::spawn_blocking(move || argon2_verifications_per_second(phc, seconds.min(5.0)))
            .await?;

    let http = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let logins = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let cpu_before = support::cpu_seconds("password-hash");
    let started = Instant::now();
    let mut storm = Vec::new();
    for username in usernames {
        let (http, stop, logins, failures) =
            (http.clone(), stop.clone(), logins.clone(), failures.clone());
        let url = format!("{base}/portal/v1/{slug}/login");
        // Serialised once: the load generator shares the machine, so it should cost little.
        let body = json!({"username": username, "password": PASSWORD}).to_string();
        storm.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 200 => logins.fetch_add(1, Ordering::Relaxed),
                    _ => failures.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    // The cheap staff read, issued back to back while the storm lasts.
    let read_url = format!("{base}/api/v1/clients/{client}");
    let reader = {
        let (http, stop) = (http.clone(), stop.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = http.get(&read_url).bearer_auth(&staff_token).send().await;
                if let Ok(r) = r {
                    let ok = r.status().is_success() || r.status() == 404;
                    let _ = r.bytes().await;
                    if ok {
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                tokio::time::sleep(Duration::from_millis(READ_EVERY_MS)).await;
            }
            latencies
        })
    };
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = support::cpu_seconds("password-hash");
    for s in storm {
        s.await?;
    }
    let mut latencies = reader.await?;
    latencies.sort_by(f64::total_cmp);

    let logins_per_second = logins.load(Ordering::Relaxed) as f64 / elapsed;
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("argon2id verifications/s (all cores): {hashes_per_second:.1}");
    println!(
        "logins/s with {CLIENTS} concurrent clients over {elapsed:.1} s: {logins_per_second:.1} ({:.0}% of the hash rate); failed requests: {}",
        100.0 * logins_per_second / hashes_per_second,
        failures.load(Ordering::Relaxed)
    );
    let used = |after: f64, before: f64| (after - before) / elapsed;
    println!(
        "CPU during the storm, in cores: hashing threads {:.2}, rest of this process (server + load generator) {:.2}, PostgreSQL {:.2}",
        used(cpu_after.0, cpu_before.0),
        used(cpu_after.1, cpu_before.1),
        used(cpu_after.2, cpu_before.2)
    );
    println!(
        "staff read during the storm: {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );

    // The storm again, by logins with an authenticator app.
    let ticking = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (clock, ticking) = (app.clock.clone(), ticking.clone());
        tokio::spawn(async move {
            while !ticking.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(2)).await;
                clock.advance(chrono::Duration::seconds(30));
            }
        })
    };
    // Confirming spent each key's current step.
    app.clock.advance(chrono::Duration::seconds(30));
    let (stop, logins, failures) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let started = Instant::now();
    let mut storm = Vec::new();
    for users in totp_users {
        let (http, stop, logins, failures) =
            (http.clone(), stop.clone(), logins.clone(), failures.clone());
        let (login_url, mfa_url) = (
            format!("{base}/portal/v1/{slug}/login"),
            format!("{base}/portal/v1/{slug}/login/mfa"),
        );
        let clock = app.clock.clone();
        storm.push(tokio::spawn(async move {
            for (username, totp) in users.iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = json!({"username": username, "password": PASSWORD});
                let Ok(r) = http.post(&login_url).json(&body).send().await else {
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let challenge: serde_json::Value = r.json().await.unwrap_or_default();
                let Some(token) = challenge["mfa_token"].as_str() else {
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let code = totp.generate(clock.now().timestamp() as u64);
                let body = json!({"mfa_token": token, "code": code});
                match http.post(&mfa_url).json(&body).send().await {
                    Ok(r) if r.status() == 200 => logins.fetch_add(1, Ordering::Relaxed),
                    _ => failures.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let totp_elapsed = started.elapsed().as_secs_f64();
    for s in storm {
        s.await?;
    }
    ticking.store(true, Ordering::Relaxed);
    ticker.await?;
    let totp_per_second = logins.load(Ordering::Relaxed) as f64 / totp_elapsed;
    println!(
        "logins with an authenticator app (password, then a TOTP code) over {totp_elapsed:.1} s: {totp_per_second:.1}/s = {:.2} x the password-only rate (aim >= 0.9); failed: {}",
        totp_per_second / logins_per_second,
        failures.load(Ordering::Relaxed)
    );
    Ok(())
}
