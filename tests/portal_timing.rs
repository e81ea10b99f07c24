//! An unknown username costs a login as much as a wrong password: both pay one Argon2id
//! check, so the time of a refusal says nothing about whether the name exists. Alone in
//! its own test binary: other tests hashing passwords at the same time would make the
//! timings noise.

mod common;

use common::portal_flow::*;

#[tokio::test]
async fn an_unknown_username_costs_as_much_as_a_wrong_password() {
    // Enough attempts may fail here without locking the name.
    let (sink, s, t) = mailing(|app| app.limits.lockout_failures = 100).await;
    let (_, _, username, _) = invited_and_accepted(&s, &sink, &t).await;
    let attempt = |name: String| {
        let (s, t) = (&s, &t);
        async move {
            let started = std::time::Instant::now();
            assert_eq!(login(s, t, &name, "not the password at all").await.0, 401);
            started.elapsed()
        }
    };
    // Interleaved, so both see the same machine; the fastest of each is compared.
    let (mut wrong_password, mut unknown_user) =
        (std::time::Duration::MAX, std::time::Duration::MAX);
    for _ in 0..5 {
        wrong_password = wrong_password.min(attempt(username.clone()).await);
        unknown_user = unknown_user.min(attempt("nobody-here".to_string()).await);
    }
    // Both pay for one Argon2id check (about 15 ms in release, more here); a refusal that
    // skipped it would take a millisecond or two.
    assert!(
        unknown_user.as_secs_f64() > 0.6 * wrong_password.as_secs_f64(),
        "unknown {unknown_user:?} vs wrong password {wrong_password:?}"
    );
}
