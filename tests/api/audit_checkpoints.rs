//! Signed checkpoints: served, verified against today's log, and the one thing a database
//! superuser who rewrites history and recomputes the chain cannot get past; and exports
//! checked offline against them.

use crate::common;

use common::*;
use portal_accounts::audit::chain::{link_hash, BODY_SQL, GENESIS};
use portal_accounts::audit::checkpoint::Checkpoint;
use portal_accounts::audit::offline::verify_export;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

async fn get(s: &Server, path: &str, token: &str) -> Value {
    let (status, body) = send(s.request(Method::GET, path, token)).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn check(s: &Server, t: &Tenant, cp: &Value) -> Value {
    let body = s
        .staff(&t.auditor)
        .ok(
            Method::POST,
            "/api/v1/audit/checkpoints/verify",
            Some(cp.clone()),
        )
        .await;
    body
}

async fn register(s: &Server, t: &Tenant, name: &str) {
    s.staff(&t.staff)
        .ok(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"display_name": name, "kind": "individual"})),
        )
        .await;
}

/// Where these tests have checkpoints delivered (as `PORTAL_CHECKPOINT_DIR`).
fn delivered_dir() -> std::path::PathBuf {
    test_data_dir().join("delivered-checkpoints")
}

/// What a database superuser can do: change an event, then recompute every link after it
/// and the chain head, so that the stored chain verifies again.
async fn rewrite_history(s: &Server, t: &Tenant) {
    let mut conn = superuser_session(s).await;
    sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{ClientRegistered,kind}', '\"organisation\"')
          WHERE global_position = (SELECT min(global_position) FROM events
                                    WHERE tenant_id = $1 AND event_type = 'ClientRegistered')",
    )
    .bind(t.id)
    .execute(&mut conn)
    .await
    .unwrap();
    let rows = sqlx::query(&format!(
        "SELECT s.chain_seq, s.global_position, {BODY_SQL} AS body
           FROM audit_seals s JOIN events e USING (global_position)
          WHERE s.tenant_id = $1 ORDER BY s.chain_seq"
    ))
    .bind(t.id)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut prev = GENESIS.to_vec();
    for row in rows {
        let seq: i64 = row.get("chain_seq");
        let hash = link_hash(&prev, seq, row.get::<&str, _>("body")).to_vec();
        sqlx::query(
            "UPDATE audit_seals SET prev_hash = $2, event_hash = $3 WHERE global_position = $1",
        )
        .bind(row.get::<i64, _>("global_position"))
        .bind(&prev)
        .bind(&hash)
        .execute(&mut conn)
        .await
        .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_chain_heads SET last_hash = $2 WHERE tenant_id = $1")
        .bind(t.id)
        .bind(&prev)
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_recomputed_rewrite_passes_verify_but_not_an_earlier_checkpoint() {
    let (s, t) = Server::with_firm().await;
    register(&s, &t, "Jo Original").await;
    register(&s, &t, "Ann Other").await;

    let key = get(&s, "/api/v1/audit/public-key", &t.auditor).await;
    assert_eq!(key["algorithm"], "ed25519");
    assert_eq!(key["key_id"], s.app.audit_key.key_id());
    let cp = s.checkpoint_now(&t, Some(delivered_dir())).await;
    assert_eq!(cp["tenant_id"], t.id.to_string());
    assert_eq!(cp["key_id"], key["key_id"]);
    assert_eq!(
        check(&s, &t, &cp).await,
        json!({"ok": true, "reason": null})
    );
    let listed = get(&s, "/api/v1/audit/checkpoints?limit=5", &t.auditor).await;
    assert_eq!(listed["items"][0], cp);
    // A copy outside the database, as signed.
    let file = delivered_dir()
        .join(t.id.to_string())
        .join(format!("{:020}.json", cp["chain_seq"].as_i64().unwrap()));
    let delivered: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(delivered, cp);

    // The log grows; the earlier checkpoint still holds, a new one is signed at the head.
    register(&s, &t, "Later Client").await;
    assert_eq!(check(&s, &t, &cp).await["ok"], true);
    let newer = s.checkpoint_now(&t, Some(delivered_dir())).await;
    assert!(newer["chain_seq"].as_i64() > cp["chain_seq"].as_i64());

    // A forged checkpoint (head changed) and one re-signed with another key.
    let mut forged = cp.clone();
    forged["head_hash"] = json!("00".repeat(32));
    let verdict = check(&s, &t, &forged).await;
    assert_eq!(verdict["ok"], false);
    assert!(
        verdict["reason"].as_str().unwrap().contains("signature"),
        "{verdict}"
    );
    let other = portal_accounts::audit::key::AuditKey::ephemeral();
    let mut resigned: Checkpoint = serde_json::from_value(cp.clone()).unwrap();
    resigned.key_id = other.key_id();
    resigned.signature = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(other.sign(resigned.text().as_bytes()).to_bytes())
    };
    let verdict = check(&s, &t, &serde_json::to_value(&resigned).unwrap()).await;
    assert_eq!(verdict["ok"], false);
    assert!(
        verdict["reason"]
            .as_str()
            .unwrap()
            .contains("not this server's"),
        "{verdict}"
    );

    // The superuser's rewrite: the stored chain verifies, the kept checkpoints do not (nor
    // the copy delivered outside the database).
    rewrite_history(&s, &t).await;
    assert_eq!(check(&s, &t, &delivered).await["ok"], false);
    let v = get(&s, "/api/v1/audit/verify", &t.auditor).await;
    assert_eq!(
        v["ok"], true,
        "a recomputed chain is consistent in itself: {v}"
    );
    for kept in [&cp, &newer] {
        let verdict = check(&s, &t, kept).await;
        assert_eq!(verdict["ok"], false, "{verdict}");
        assert!(
            verdict["reason"].as_str().unwrap().contains("rewritten"),
            "{verdict}"
        );
    }

    // Another firm's auditor cannot use this firm's checkpoint.
    let other_firm = s.tenant().await;
    let (status, verdict) = s
        .post(
            "/api/v1/audit/checkpoints/verify",
            &other_firm.auditor,
            cp.clone(),
        )
        .await;
    assert_eq!((status, verdict["ok"].as_bool()), (200, Some(false)));
}

async fn export(s: &Server, t: &Tenant) -> String {
    s.staff(&t.auditor).export_text("").await
}

#[tokio::test]
async fn an_export_is_checked_offline_and_against_a_checkpoint() {
    let (s, t) = Server::with_firm().await;
    register(&s, &t, "Jo Original").await;
    register(&s, &t, "Ann Other").await;
    let cp: Checkpoint =
        serde_json::from_value(s.checkpoint_now(&t, Some(delivered_dir())).await).unwrap();
    let public = s.app.audit_key.public_key();
    let text = export(&s, &t).await;

    let report = verify_export(text.as_bytes(), None).unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(report.lines as i64, event_count(s.pool(), t.id).await);
    let report = verify_export(text.as_bytes(), Some((&cp, &public))).unwrap();
    assert_eq!(report.broken, None, "{report:?}");

    // One hashed field changed in the file (a personal one is sealed: its ciphertext is
    // what the chain covers).
    let altered = text.replacen("individual", "organisation", 2);
    assert_ne!(altered, text);
    let report = verify_export(altered.as_bytes(), None).unwrap();
    assert!(report.broken.is_some(), "{report:?}");

    // A line dropped from the middle.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(2);
    let report = verify_export(lines.join("\n").as_bytes(), None).unwrap();
    assert!(report.broken.unwrap().1.contains("missing"));

    // A forged checkpoint, and a checkpoint of a rewritten history.
    let mut forged = cp.clone();
    forged.position += 1;
    let report = verify_export(text.as_bytes(), Some((&forged, &public))).unwrap();
    assert!(report.broken.unwrap().1.contains("signature"));
    rewrite_history(&s, &t).await;
    let rewritten = export(&s, &t).await;
    assert_eq!(
        verify_export(rewritten.as_bytes(), None).unwrap().broken,
        None
    );
    let report = verify_export(rewritten.as_bytes(), Some((&cp, &public))).unwrap();
    assert!(report.broken.unwrap().1.contains("rewritten"), "{text}");

    // The CLI says the same, with no database.
    let dir = std::env::temp_dir().join(format!("export-{}", t.id));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("export.ndjson"), &text).unwrap();
    std::fs::write(dir.join("cp.json"), serde_json::to_vec(&cp).unwrap()).unwrap();
    let cli = |file: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_portal-accounts"))
            .args(["audit", "verify-export"])
            .arg(dir.join(file))
            .arg("--checkpoint")
            .arg(dir.join("cp.json"))
            .arg("--public-key")
            .arg(s.app.audit_key.public_key_base64())
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let out = cli("export.ndjson");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("checkpoint=holds"));
    std::fs::write(dir.join("rewritten.ndjson"), &rewritten).unwrap();
    let out = cli("rewritten.ndjson");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("BROKEN"));
}
