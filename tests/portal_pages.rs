//! The hosted portal pages in a real browser (headless Chromium over WebDriver) against the
//! real server, PostgreSQL and SMTP sink: a client follows the e-mailed link, logs in, sees
//! an item with its image, signs a contract; forgets a password; is locked out; logs out
//! everywhere; and a form without its anti-forgery token is refused. Every main page is
//! audited with axe-core (no serious or critical violations) and photographed for docs/.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "pages/onboarding.rs"]
mod onboarding;

use browser::{
    add_virtual_authenticator, click, fill, path, screenshot, serious_violations, submit, text,
    Driver,
};
use common::portal_flow::{client_with_email, email, invite, mailing, PASSWORD};
use common::totp::code_at;
use common::{Server, Tenant};
use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::json;

const LETTER: &str = "We will prepare your 2027 tax return from the records you give us, \
and file it with HMRC once you have approved it.\n\nOur fee is set out on your portal. We will \
tell you before any work that falls outside this letter.\n\nYou can end this engagement at \
any time by writing to us.";

/// Audits the page the browser is on.
async fn audit(browser: &Client, page: &str) {
    let violations = serious_violations(browser).await;
    assert!(violations.is_empty(), "{page}: {violations:#?}");
}

/// A login made by staff with a password: (username).
async fn active_login(s: &Server, t: &Tenant, address: &str) -> String {
    let staff = s.staff(&t.staff);
    let client = staff
        .register_client("Lee Example", "individual", Some(address))
        .await;
    let (_, created) = staff
        .create_portal_user(
            client,
            json!({"email": address, "password": PASSWORD, "first_name": "Lee", "last_name": "Example"}),
        )
        .await;
    created.username
}

async fn log_in(browser: &Client, s: &Server, t: &Tenant, username: &str, password: &str) {
    browser
        .goto(&format!("{}/portal/{}/login", s.base, t.slug))
        .await
        .unwrap();
    fill(browser, "username", username).await;
    fill(browser, "password", password).await;
    submit(browser, "main form button[type=submit]").await;
}

#[tokio::test]
async fn a_client_follows_the_email_link_logs_in_sees_items_and_signs() {
    let (sink, s, t) = mailing(|_| {}).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let staff = s.staff(&t.staff);

    // Staff put an item with a picture on the client's portal and invite the client.
    let to = email("pages");
    let client = client_with_email(&s, &t, "individual", &to).await;
    let item = staff
        .create_item("TAX-2027", "Tax return 2027", 45_000)
        .await;
    let uploaded = s
        .request(
            Method::PUT,
            &format!("/api/v1/items/{item}/image"),
            &t.staff,
        )
        .header("content-type", "image/png")
        .body(portal_accounts::http::png::tiny_png())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    staff.assign_item(client, item).await;
    invite(&s, &t, client).await;
    let invitation = sink.wait_for(&to, 1).await.remove(0);
    assert!(
        invitation
            .text
            .contains(&format!("log in at {}/portal/{}/login", s.base, t.slug)),
        "the invitation names the login address: {}",
        invitation.text
    );

    // The e-mailed link opens the accept page, with the firm's name.
    browser.goto(&invitation.link()).await.unwrap();
    assert!(text(&browser).await.contains("Test Firm"));
    audit(&browser, "accept invitation").await;
    fill(&browser, "username", "lee.pages").await;
    fill(&browser, "password", PASSWORD).await;
    submit(&browser, "main form button[type=submit]").await;
    let done = text(&browser).await;
    assert!(done.contains("Your login is ready"), "{done}");
    click(&browser, Locator::LinkText("Log in")).await;
    assert_eq!(path(&browser).await, format!("/portal/{}/login", t.slug));
    audit(&browser, "login").await;
    screenshot(&browser, "login").await;

    // Logged in: home shows the item with its image and current price.
    fill(&browser, "username", "lee.pages").await;
    fill(&browser, "password", PASSWORD).await;
    submit(&browser, "main form button[type=submit]").await;
    assert_eq!(path(&browser).await, format!("/portal/{}/", t.slug));
    let home = text(&browser).await;
    assert!(home.contains("Tax return 2027"), "{home}");
    assert!(home.contains("GBP 450.00"), "{home}");
    let loaded = browser
        .execute(
            "const img = document.querySelector('.item img');
             return img !== null && img.complete && img.naturalWidth > 0;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, json!(true), "the item's image loads");
    audit(&browser, "home").await;
    screenshot(&browser, "home").await;

    // A contract: listed, read, signed; then shown signed.
    let issued = staff
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{client}/contracts"),
            Some(json!({"title": "Letter of engagement", "body": LETTER})),
        )
        .await;
    let contract = common::id_of(&issued, "id");
    // The contracts page reads the read model: wait until it holds the new contract (the
    // API's `min_position`), as a client clicking seconds later would find it.
    staff
        .get(&format!(
            "/api/v1/contracts/{contract}?min_position={}",
            issued["position"]
        ))
        .await;
    click(&browser, Locator::LinkText("Contracts")).await;
    assert!(text(&browser).await.contains("Waiting for your signature"));
    audit(&browser, "contracts").await;
    click(&browser, Locator::LinkText("Letter of engagement")).await;
    assert_eq!(
        path(&browser).await,
        format!("/portal/{}/contracts/{contract}", t.slug)
    );
    assert!(text(&browser)
        .await
        .contains("We will prepare your 2027 tax return"));
    audit(&browser, "contract").await;
    screenshot(&browser, "contract").await;
    fill(&browser, "signer_name", "Lee Example").await;
    browser
        .find(Locator::Id("agree"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap(); // a checkbox: the page stays
    submit(&browser, "main form button[type=submit]").await;
    let signed = text(&browser).await;
    assert!(signed.contains("the contract is signed"), "{signed}");
    assert!(signed.contains("Signed by Lee Example"), "{signed}");
    assert!(
        browser.find(Locator::Id("agree")).await.is_err(),
        "no second signature form"
    );
    // Staff read it from the read model once it has the signature.
    let limit = std::time::Duration::from_secs(30);
    let path = format!("/api/v1/contracts/{contract}");
    let recorded = common::eventually("the signature in the read model", limit, || async {
        let seen = staff.get(&path).await;
        (seen["status"] == "signed").then_some(seen)
    })
    .await;
    assert_eq!(
        recorded["signature"]["signer_name"], "Lee Example",
        "{recorded}"
    );
    assert!(recorded["signature"]["user_agent"]
        .as_str()
        .unwrap_or_default()
        .contains("Chrome"));

    // The account page.
    click(&browser, Locator::LinkText("Account")).await;
    assert!(text(&browser).await.contains("lee.pages"));
    audit(&browser, "account").await;
    screenshot(&browser, "account").await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_forgotten_password_is_reset_from_the_emailed_link() {
    let (sink, s, t) = mailing(|_| {}).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let to = email("forgot");
    let username = active_login(&s, &t, &to).await;

    browser
        .goto(&format!("{}/portal/{}/login", s.base, t.slug))
        .await
        .unwrap();
    click(&browser, Locator::LinkText("Forgot your password?")).await;
    audit(&browser, "forgot password").await;
    fill(&browser, "username", &username).await;
    submit(&browser, "main form button[type=submit]").await;
    assert!(text(&browser).await.contains("is on its way"));
    let mail = sink.wait_for(&to, 1).await.remove(0);
    browser.goto(&mail.link()).await.unwrap();
    audit(&browser, "reset password").await;
    let new_password = "a brand new long password";
    fill(&browser, "password", new_password).await;
    submit(&browser, "main form button[type=submit]").await;
    assert!(text(&browser).await.contains("Your new password is saved"));

    log_in(&browser, &s, &t, &username, PASSWORD).await;
    assert!(
        text(&browser).await.contains("not right"),
        "the old password is gone"
    );
    log_in(&browser, &s, &t, &username, new_password).await;
    assert_eq!(path(&browser).await, format!("/portal/{}/", t.slug));
    browser.close().await.unwrap();
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_login_in_a_browser_without_javascript() {
    let (s, t) = Server::with_firm().await;
    let driver = Driver::start().await;
    let browser = driver.browser_without_javascript().await;
    let username = active_login(&s, &t, &email("locked")).await;
    for attempt in 1..=5 {
        log_in(&browser, &s, &t, &username, "not the password at all").await;
        let page = text(&browser).await;
        assert!(page.contains("not right"), "attempt {attempt}: {page}");
    }
    // Locked now, even with the right password; the page says so.
    log_in(&browser, &s, &t, &username, PASSWORD).await;
    let page = text(&browser).await;
    assert!(page.contains("this login is locked"), "{page}");
    assert_eq!(path(&browser).await, format!("/portal/{}/login", t.slug));
    browser.close().await.unwrap();
}

#[tokio::test]
async fn logging_out_everywhere_ends_another_browsers_session() {
    let (s, t) = Server::with_firm().await;
    let driver = Driver::start().await;
    let (laptop, phone) = (driver.browser().await, driver.browser().await);
    let username = active_login(&s, &t, &email("everywhere")).await;
    for browser in [&laptop, &phone] {
        log_in(browser, &s, &t, &username, PASSWORD).await;
        assert_eq!(path(browser).await, format!("/portal/{}/", t.slug));
    }
    laptop
        .goto(&format!("{}/portal/{}/account", s.base, t.slug))
        .await
        .unwrap();
    submit(&laptop, "form[action$='/account/logout-everywhere'] button").await;
    assert!(text(&laptop).await.contains("logged out on every device"));

    phone.refresh().await.unwrap();
    assert_eq!(
        path(&phone).await,
        format!("/portal/{}/login?notice=session_ended", t.slug)
    );
    assert!(text(&phone).await.contains("Your session has ended"));
    laptop.close().await.unwrap();
    phone.close().await.unwrap();
}

#[tokio::test]
async fn two_step_login_is_set_up_on_the_account_page_and_asked_for_at_login() {
    let (s, t) = Server::with_firm().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let username = active_login(&s, &t, &email("twostep")).await;
    log_in(&browser, &s, &t, &username, PASSWORD).await;
    let account = format!("{}/portal/{}/account", s.base, t.slug);
    browser.goto(&account).await.unwrap();
    submit(&browser, "form[action$='/account/totp'] button").await;
    let secret = browser
        .find(Locator::Css("code.secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let qr = browser
        .find(Locator::Css("div.qr svg[role=img]"))
        .await
        .unwrap();
    let (_, _, width, _) = qr.rectangle().await.unwrap();
    assert!(
        width >= 150.0,
        "the QR code is shown large enough to scan: {width}"
    );
    audit(&browser, "account, setting up the app").await;
    screenshot(&browser, "portal-two-step-setup").await;
    fill(&browser, "confirm_code", "000000").await;
    submit(&browser, "form[action$='/account/totp/confirm'] button").await;
    assert!(text(&browser)
        .await
        .contains("not the authenticator app's current code"));
    // The form is offered again: start over and confirm with the app's code.
    submit(&browser, "form[action$='/account/totp'] button").await;
    let secret = {
        let again = browser.find(Locator::Css("code.secret")).await.unwrap();
        let again = again.text().await.unwrap();
        assert_ne!(again, secret, "a new key replaces the unconfirmed one");
        again
    };
    fill(
        &browser,
        "confirm_code",
        &code_at(&secret, s.app.clock.now()),
    )
    .await;
    submit(&browser, "form[action$='/account/totp/confirm'] button").await;
    assert!(text(&browser).await.contains("Two-step login is on"));
    let codes = browser
        .find_all(Locator::Css("ul.codes code"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    audit(&browser, "account, recovery codes").await;
    screenshot(&browser, "portal-two-step-codes").await;

    submit(&browser, "header form[action$='/logout'] button").await;
    log_in(&browser, &s, &t, &username, PASSWORD).await;
    assert!(text(&browser).await.contains("six-digit code"));
    audit(&browser, "second step").await;
    fill(&browser, "code", "000000").await;
    submit(&browser, "main form button[type=submit]").await;
    assert!(text(&browser).await.contains("That code is not right"));
    s.app.clock.advance(chrono::Duration::seconds(30));
    fill(&browser, "code", &code_at(&secret, s.app.clock.now())).await;
    submit(&browser, "main form button[type=submit]").await;
    assert_eq!(path(&browser).await, format!("/portal/{}/", t.slug));
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_passkey_added_on_the_account_page_logs_in_alone_and_as_the_second_step() {
    // Passkeys need a domain name: clients reach this server as http://localhost.
    let app = common::app(common::pool().await);
    let s = Server::start_at(app, common::listener_limits(), "localhost").await;
    let t = s.tenant().await;
    let site = format!("{}/portal/{}", s.app.public_url.as_deref().unwrap(), t.slug);
    let login_page = s.http.get(format!("{site}/login")).send().await.unwrap();
    let csp = login_page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = login_page.text().await.unwrap();
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(
        html.contains("<script src=\"/portal/assets/passkeys.js\" defer></script>"),
        "one same-origin script, nothing inline: {html}"
    );

    let driver = Driver::start().await;
    let browser = driver.browser().await;
    add_virtual_authenticator(&browser).await;
    let username = active_login(&s, &t, &email("passkey")).await;
    browser.goto(&format!("{site}/login")).await.unwrap();
    fill(&browser, "username", &username).await;
    fill(&browser, "password", PASSWORD).await;
    submit(&browser, "form[action$='/login'] button[type=submit]").await;
    browser.goto(&format!("{site}/account")).await.unwrap();
    fill(&browser, "passkey_name", "This laptop").await;
    submit(&browser, "form[data-passkey=register] button").await;
    let page = text(&browser).await;
    assert!(page.contains("The passkey is added"), "{page}");
    assert!(page.contains("This laptop, added"), "{page}");
    let codes = browser
        .find_all(Locator::Css("ul.codes code"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10, "the first factor brings recovery codes");
    audit(&browser, "account, a passkey added").await;
    screenshot(&browser, "portal-passkey-added").await;

    // Passwordless: the login page's passkey button alone.
    submit(&browser, "header form[action$='/logout'] button").await;
    browser.goto(&format!("{site}/login")).await.unwrap();
    audit(&browser, "login with the passkey button").await;
    submit(&browser, "form[data-passkey=login] button").await;
    assert_eq!(path(&browser).await, format!("/portal/{}/", t.slug));

    // As the second step after the password.
    submit(&browser, "header form[action$='/logout'] button").await;
    browser.goto(&format!("{site}/login")).await.unwrap();
    fill(&browser, "username", &username).await;
    fill(&browser, "password", PASSWORD).await;
    submit(&browser, "form[action$='/login'] button[type=submit]").await;
    assert!(text(&browser).await.contains("Or use one of your passkeys"));
    audit(&browser, "second step with a passkey").await;
    submit(&browser, "form[data-passkey=login] button").await;
    assert_eq!(path(&browser).await, format!("/portal/{}/", t.slug));
    let methods: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT method FROM portal_logins WHERE tenant_id = $1 AND outcome = 'succeeded' ORDER BY id",
    )
    .bind(t.id)
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert_eq!(
        methods,
        [Some("password"), Some("passkey"), Some("passkey")].map(|m| m.map(String::from))
    );

    // Another firm's login page: the browser offers the passkey (same site), but it opens
    // nothing there.
    let other = s.tenant().await;
    let public = s.app.public_url.as_deref().unwrap();
    browser
        .goto(&format!("{public}/portal/{}/login", other.slug))
        .await
        .unwrap();
    submit(&browser, "form[data-passkey=login] button").await;
    let page = text(&browser).await;
    assert!(page.contains("The passkey could not be verified"), "{page}");

    // Removed on the account page, the passkey no longer logs in.
    browser.goto(&format!("{site}/account")).await.unwrap();
    submit(&browser, "ul.passkeys form button").await;
    assert!(text(&browser).await.contains("The passkey is removed"));
    browser.close().await.unwrap();
}

#[tokio::test]
async fn under_a_required_second_step_a_new_login_is_sent_to_set_one_up() {
    let (s, t) = Server::with_firm().await;
    s.staff(&t.admin)
        .ok(
            Method::PATCH,
            "/api/v1/settings",
            Some(json!({"mfa": "required"})),
        )
        .await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let username = active_login(&s, &t, &email("required")).await;
    log_in(&browser, &s, &t, &username, PASSWORD).await;
    assert_eq!(path(&browser).await, format!("/portal/{}/account", t.slug));
    assert!(text(&browser)
        .await
        .contains("asks every login for a second step"));
    audit(&browser, "account, a second step required").await;
    browser
        .goto(&format!("{}/portal/{}/contracts", s.base, t.slug))
        .await
        .unwrap();
    assert_eq!(path(&browser).await, format!("/portal/{}/account", t.slug));
    submit(&browser, "form[action$='/account/totp'] button").await;
    let secret = browser.find(Locator::Css("code.secret")).await.unwrap();
    let secret = secret.text().await.unwrap();
    fill(
        &browser,
        "confirm_code",
        &code_at(&secret, s.app.clock.now()),
    )
    .await;
    submit(&browser, "form[action$='/account/totp/confirm'] button").await;
    browser
        .goto(&format!("{}/portal/{}/contracts", s.base, t.slug))
        .await
        .unwrap();
    assert_eq!(
        path(&browser).await,
        format!("/portal/{}/contracts", t.slug)
    );
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_new_password_on_the_account_page_ends_the_other_sessions_only() {
    let (s, t) = Server::with_firm().await;
    let driver = Driver::start().await;
    let (laptop, phone) = (driver.browser().await, driver.browser().await);
    let username = active_login(&s, &t, &email("change")).await;
    for browser in [&laptop, &phone] {
        log_in(browser, &s, &t, &username, PASSWORD).await;
    }
    laptop
        .goto(&format!("{}/portal/{}/account", s.base, t.slug))
        .await
        .unwrap();
    // A wrong current password changes nothing and says why.
    fill(&laptop, "current_password", "not my password at all").await;
    fill(&laptop, "new_password", "another long passphrase").await;
    submit(&laptop, "form[action$='/account/password'] button").await;
    let page = text(&laptop).await;
    assert!(
        page.contains("Current password: is not your current password"),
        "{page}"
    );
    fill(&laptop, "current_password", PASSWORD).await;
    fill(&laptop, "new_password", "another long passphrase").await;
    submit(&laptop, "form[action$='/account/password'] button").await;
    assert!(text(&laptop).await.contains("Your password is changed"));

    phone.refresh().await.unwrap();
    assert!(text(&phone).await.contains("Your session has ended"));
    laptop
        .goto(&format!("{}/portal/{}/", s.base, t.slug))
        .await
        .unwrap();
    assert_eq!(path(&laptop).await, format!("/portal/{}/", t.slug));
    laptop.close().await.unwrap();
    phone.close().await.unwrap();
}

#[tokio::test]
async fn a_form_posted_without_its_token_is_refused() {
    let (s, t) = Server::with_firm().await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let username = active_login(&s, &t, &email("csrf")).await;

    // In the browser: the token taken out of the login form.
    browser
        .goto(&format!("{}/portal/{}/login", s.base, t.slug))
        .await
        .unwrap();
    browser
        .execute(
            "document.querySelector('input[name=csrf]').remove();",
            vec![],
        )
        .await
        .unwrap();
    fill(&browser, "username", &username).await;
    fill(&browser, "password", PASSWORD).await;
    submit(&browser, "main form button[type=submit]").await;
    let page = text(&browser).await;
    assert!(page.contains("This form has expired"), "{page}");
    browser
        .goto(&format!("{}/portal/{}/", s.base, t.slug))
        .await
        .unwrap();
    assert_eq!(path(&browser).await, format!("/portal/{}/login", t.slug));
    browser.close().await.unwrap();

    // Over plain HTTP: another site's form (no cookie, or a made-up token) gets 403.
    let login = format!("{}/portal/{}/login", s.base, t.slug);
    let forged = s
        .http
        .post(&login)
        .form(&[
            ("username", username.as_str()),
            ("password", PASSWORD),
            ("csrf", "made-up"),
        ])
        .header("cookie", "portal_csrf=whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged
        .headers()
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap().contains("portal_session")));
}

#[tokio::test]
async fn pages_carry_their_protections_and_unknown_firms_get_a_404_page() {
    let (s, t) = Server::with_firm().await;
    let page = s
        .http
        .get(format!("{}/portal/{}/login", s.base, t.slug))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("portal_csrf="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        cookie.contains(&format!("Path=/portal/{}", t.slug)),
        "{cookie}"
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script"), "no script on the pages");
    assert!(!html.contains("style="), "no inline style");
    assert!(html.contains("Test Firm"));

    for missing in [
        format!(
            "/portal/no-such-firm-{}/login",
            uuid::Uuid::now_v7().simple()
        ),
        format!("/portal/{}/no-such-page", t.slug),
    ] {
        let page = s
            .http
            .get(format!("{}{missing}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 404, "{missing}");
        assert!(page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(page.text().await.unwrap().contains("Page not found"));
    }
    // Reached over https (as PORTAL_PUBLIC_URL says), the cookies are Secure too.
    let mut app = common::app(common::pool().await);
    app.public_url = Some("https://portal.example".into());
    let behind_tls = Server::start_with(app).await;
    let page = behind_tls
        .http
        .get(format!("{}/portal/{}/login", behind_tls.base, t.slug))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    let css = s
        .http
        .get(format!("{}/portal/assets/portal.css", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

/// A form's fields, as posted.
type Form = Vec<(&'static str, String)>;

/// A page's form token and the cookie it belongs to, read as a browser would.
async fn form_token(s: &Server, path: &str) -> (String, String) {
    let page = s
        .http
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    let start = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let token = html[start..].split('"').next().unwrap().to_string();
    (cookie, token)
}

#[tokio::test]
async fn bad_input_on_the_pages_gets_a_page_never_a_500() {
    let (s, t) = Server::with_firm().await;
    let username = active_login(&s, &t, &email("bad-pages")).await;
    let base = format!("/portal/{}", t.slug);
    let (csrf_cookie, csrf) = form_token(&s, &format!("{base}/login")).await;
    // A session for the signed-in pages.
    // Redirects are looked at, not followed.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(format!("{}{base}/login", s.base))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", &username),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_redirection() || login.status().is_success());
    let session_cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("portal_session="))
        .expect("a session cookie");
    let cookies = format!("{csrf_cookie}; {session_cookie}");
    let long = "x".repeat(5_000);
    let nul = "a\u{0}b".to_string();
    let cases: Vec<(&str, String, Form, u16)> = vec![
        (
            "login, NUL in the username",
            format!("{base}/login"),
            vec![("username", nul.clone()), ("password", "p".into())],
            400,
        ),
        (
            "login, a 5,000-character password",
            format!("{base}/login"),
            vec![("username", username.clone()), ("password", long.clone())],
            400,
        ),
        ("login, nothing typed", format!("{base}/login"), vec![], 401),
        (
            "forgot password, NUL",
            format!("{base}/forgot-password"),
            vec![("username", nul.clone())],
            400,
        ),
        (
            "forgot username, any text",
            format!("{base}/forgot-username"),
            vec![("email", "not an address".into())],
            202,
        ),
        (
            "accept, garbage token",
            format!("{base}/accept-invitation"),
            vec![
                ("token", "garbage".into()),
                ("username", "fine.name".into()),
                ("password", PASSWORD.into()),
            ],
            410,
        ),
        (
            "accept, bad username",
            format!("{base}/accept-invitation"),
            vec![
                ("token", "garbage".into()),
                ("username", "-".into()),
                ("password", PASSWORD.into()),
            ],
            422,
        ),
        (
            "activate, no token",
            format!("{base}/activate"),
            vec![("password", PASSWORD.into())],
            410,
        ),
        (
            "reset, short password",
            format!("{base}/reset-password"),
            vec![("token", "x.y.z".into()), ("password", "short".into())],
            410,
        ),
        (
            "sign, not a contract id",
            format!("{base}/contracts/not-a-uuid/sign"),
            vec![("agree", "true".into())],
            404,
        ),
        (
            "sign, unknown contract",
            format!("{base}/contracts/{}/sign", uuid::Uuid::now_v7()),
            vec![("agree", "true".into()), ("content_sha256", "00".into())],
            404,
        ),
        (
            "change password, wrong current",
            format!("{base}/account/password"),
            vec![
                ("current_password", "nope".into()),
                ("new_password", "short".into()),
            ],
            422,
        ),
    ];
    for (what, path, fields, expected) in cases {
        let mut form: Vec<(&str, String)> = vec![("csrf", csrf.clone())];
        form.extend(fields);
        let response = http
            .post(format!("{}{path}", s.base))
            .header("cookie", &cookies)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{what}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(kind.starts_with("text/html"), "{what}: {kind}");
    }
    // Not a form at all; a JSON body; odd addresses.
    let json = http
        .post(format!("{}{base}/login", s.base))
        .header("cookie", &cookies)
        .json(&json!({"username": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 400);
    for path in [
        format!("{base}/contracts/{}", uuid::Uuid::now_v7()),
        format!("{base}/contracts/not-a-uuid"),
        format!("{base}/items/not-a-uuid/image"),
        format!("{base}/accept-invitation?token=%3Cscript%3E"),
        format!("{base}/login?notice=%3Cb%3Ehi"),
    ] {
        let response = http
            .get(format!("{}{path}", s.base))
            .header("cookie", &cookies)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        // 410: a dead e-mailed link says so on a page of its own.
        assert!(matches!(status, 200 | 404 | 410), "{path}: {status}");
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("<b>hi"),
            "{path}"
        );
    }
}
