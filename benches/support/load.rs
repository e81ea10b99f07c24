//! Load the benches put on the service: clients registered at 16 connections, each
//! worker on a kept-alive connection of its own.

use std::time::Instant;

use serde_json::json;

/// Connections the load runs on, as the raw handler's pgbench clients.
pub const CONNECTIONS: usize = 16;

/// 16 connections registering clients as fast as they go: commands per second, and the
/// position and completion time of each command.
pub async fn registrations(base: &str, token: &str, seconds: f64) -> (f64, Vec<(i64, Instant)>) {
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..CONNECTIONS {
        let (base, token) = (base.to_string(), token.to_string());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let (mut done, mut n) = (Vec::new(), i * 1_000_000);
            while started.elapsed().as_secs_f64() < seconds {
                let answer = http
                    .post(format!("{base}/api/v1/clients"))
                    .bearer_auth(&token)
                    .json(
                        &json!({"display_name": format!("Registered {n}"), "kind": "organisation"}),
                    )
                    .send()
                    .await;
                if let Ok(answer) = answer {
                    if let Ok(body) = answer.json::<serde_json::Value>().await {
                        if let Some(p) = body["position"].as_i64() {
                            done.push((p, Instant::now()));
                        }
                    }
                }
                n += 1;
            }
            done
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    (all.len() as f64 / started.elapsed().as_secs_f64(), all)
}
