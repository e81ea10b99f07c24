//! Where people got stuck in the seed workflows, walked again in the browser: dead links,
//! names on the accept page, a contract link that returns to its contract, a group login's
//! client areas, "forgot password" by e-mail address, a switched-off portal, and the page
//! details (descriptions, line breaks, one message, stacked forms, a phone-width table).
//! Photographed at 1280×900 and 390×844.

use super::*;
use std::time::Duration;

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

/// Screenshots of the current page at desktop and phone sizes (`{name}-desktop`,
/// `{name}-phone`), leaving the window at desktop size.
async fn photograph(browser: &Client, name: &str) {
    for ((w, h), size) in [(PHONE, "phone"), (DESKTOP, "desktop")] {
        browser.set_window_size(w, h).await.unwrap();
        screenshot(browser, &format!("{name}-{size}")).await;
    }
}

/// A browser at desktop size on a fresh driver.
async fn desktop_browser(driver: &Driver) -> Client {
    let browser = driver.browser().await;
    browser.set_window_size(DESKTOP.0, DESKTOP.1).await.unwrap();
    browser
}

/// Whether the form's submit button sits below the field `id` (not beside it).
async fn button_below(browser: &Client, id: &str) -> bool {
    let below = browser
        .execute(
            "const f = document.getElementById(arguments[0]).getBoundingClientRect();
             const b = document.querySelector('main form button').getBoundingClientRect();
             return b.top >= f.bottom;",
            vec![json!(id)],
        )
        .await
        .unwrap();
    below == json!(true)
}

/// Whether the page is wider than the window (something overflows sideways).
async fn overflows_sideways(browser: &Client) -> bool {
    let wider = browser
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    wider == json!(true)
}

#[tokio::test]
async fn dead_links_say_so_before_any_form_and_the_accept_page_asks_for_names() {
    let (sink, s, t) = mailing(|_| {}).await;
    let driver = Driver::start().await;
    let browser = desktop_browser(&driver).await;

    // A made-up token: no form, a way on.
    for page in ["accept-invitation", "activate", "reset-password"] {
        browser
            .goto(&format!("{}/portal/{}/{page}?token=x", s.base, t.slug))
            .await
            .unwrap();
        let shown = text(&browser).await;
        assert!(shown.contains("no longer valid"), "{page}: {shown}");
        assert!(
            browser.find(Locator::Id("password")).await.is_err(),
            "{page} shows no form"
        );
        browser
            .find(Locator::LinkText("Go to the login page"))
            .await
            .unwrap_or_else(|_| panic!("{page} offers the login page"));
        browser
            .find(Locator::LinkText("Forgot your password?"))
            .await
            .unwrap_or_else(|_| panic!("{page} offers forgot password"));
    }
    audit(&browser, "dead link").await;
    photograph(&browser, "dead-link").await;

    // A live invitation of an individual client: its name is offered, split.
    let to = email("names");
    let client = client_with_email(&s, &t, "individual", &to).await;
    invite(&s, &t, client).await;
    let invitation = sink.wait_for(&to, 1).await.remove(0);
    browser.goto(&invitation.link()).await.unwrap();
    let value = |id: &'static str| {
        let browser = browser.clone();
        async move {
            let field = browser.find(Locator::Id(id)).await.unwrap();
            field.prop("value").await.unwrap().unwrap_or_default()
        }
    };
    assert_eq!(value("first_name").await, "Hannah");
    assert_eq!(value("last_name").await, "Example");
    audit(&browser, "accept invitation with names").await;
    photograph(&browser, "accept-invitation").await;
    fill(&browser, "first_name", "Hannah Jo").await;
    fill(&browser, "username", "hannah.jo").await;
    fill(&browser, "password", PASSWORD).await;
    submit(&browser, "main form button[type=submit]").await;
    let done = text(&browser).await;
    assert_eq!(
        done.matches("Your login is ready").count(),
        1,
        "said once: {done}"
    );

    // The used link, opened again: no form.
    browser.goto(&invitation.link()).await.unwrap();
    let again = text(&browser).await;
    assert!(again.contains("no longer valid"), "{again}");
    assert!(browser.find(Locator::Id("password")).await.is_err());

    log_in(&browser, &s, &t, "hannah.jo", PASSWORD).await;
    let home = text(&browser).await;
    assert!(home.contains("Signed in as Hannah Jo Example"), "{home}");
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_contract_link_returns_to_its_contract_after_logging_in_and_only_on_this_site() {
    let (sink, s, t) = mailing(|_| {}).await;
    let driver = Driver::start().await;
    let browser = desktop_browser(&driver).await;
    let to = email("return");
    let username = active_login(&s, &t, &to).await;
    let staff = s.staff(&t.staff);
    // The staff list follows the log: wait for the projection to list the new client.
    let client = common::eventually(
        "the client in the staff list",
        Duration::from_secs(10),
        || async {
            staff
                .list_clients("q=Lee")
                .await
                .items
                .first()
                .map(|c| c.id)
        },
    )
    .await;
    let body = "1. Scope\nWe will keep your books.\n2. Fees\nAs agreed.\n\nSigned for the firm.";
    let issued = staff
        .ok(
            Method::POST,
            &format!("/api/v1/clients/{client}/contracts"),
            Some(json!({"title": "Engagement letter", "body": body})),
        )
        .await;
    let mail = sink.wait_for(&to, 1).await.remove(0);
    let contract = common::id_of(&issued, "id");
    let wanted = format!("/portal/{}/contracts/{contract}", t.slug);
    assert_eq!(mail.link(), format!("{}{wanted}", s.base));
    staff
        .get(&format!(
            "/api/v1/contracts/{contract}?min_position={}",
            issued["position"]
        ))
        .await;

    browser.goto(&mail.link()).await.unwrap();
    assert!(path(&browser)
        .await
        .starts_with(&format!("/portal/{}/login?next=", t.slug)));
    fill(&browser, "username", &username).await;
    fill(&browser, "password", PASSWORD).await;
    submit(&browser, "main form button[type=submit]").await;
    assert_eq!(path(&browser).await, wanted);
    // Single line breaks are kept: "1. Scope" is a line of its own.
    let lines = browser
        .find(Locator::Css("article.contract p"))
        .await
        .unwrap()
        .html(true)
        .await
        .unwrap();
    assert!(
        lines.contains("1. Scope<br>We will keep your books.<br>2. Fees"),
        "{lines}"
    );
    audit(&browser, "contract with line breaks").await;
    photograph(&browser, "contract").await;

    // Logged out, a `next` that leads off this firm's pages is ignored.
    let other = driver.browser().await;
    for next in [
        "https://evil.example/",
        "//evil.example/portal/x",
        "/portal/another-firm/contracts",
        &format!("/portal/{}/../../evil", t.slug),
    ] {
        let login = format!(
            "{}/portal/{}/login?next={}",
            s.base,
            t.slug,
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        other.goto(&login).await.unwrap();
        fill(&other, "username", &username).await;
        fill(&other, "password", PASSWORD).await;
        submit(&other, "main form button[type=submit]").await;
        assert_eq!(path(&other).await, format!("/portal/{}/", t.slug), "{next}");
        other
            .goto(&format!("{}/portal/{}/account", s.base, t.slug))
            .await
            .unwrap();
        submit(&other, "header form button[type=submit]").await;
    }
    other.close().await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_group_login_sees_which_client_area_each_contract_is_for() {
    // A mailing server: its projections run, so the contracts reach the read models.
    let (_sink, s, t) = mailing(|_| {}).await;
    let driver = Driver::start().await;
    let browser = desktop_browser(&driver).await;
    let staff = s.staff(&t.staff);
    let head = staff
        .register_client("Acme Ltd", "organisation", Some(&email("acme")))
        .await;
    let branch = staff
        .register_client("Acme North", "organisation", Some(&email("north")))
        .await;
    let (user, created) = staff
        .create_portal_user(
            head,
            json!({"email": email("group"), "password": PASSWORD, "first_name": "Gil"}),
        )
        .await;
    staff
        .on_login(user, "client-access", Some(json!({"client_id": branch})))
        .await;
    let item = staff.create_item("PAY-1", "Payroll", 12_000).await;
    staff
        .change_item(
            item,
            json!({"description": "Monthly payroll for up to 20 staff."}),
        )
        .await;
    staff.assign_item(branch, item).await;
    staff.issue_contract(head, "Head office terms").await;
    let (_, _) = staff.issue_contract(branch, "Branch terms").await;
    staff.issue_contract(branch, "Branch data processing").await;
    let path = format!("/api/v1/clients/{branch}/contracts");
    let all_there = || async {
        let (status, listed) = staff.call(Method::GET, &path, None).await;
        let count = listed["items"].as_array().map_or(0, Vec::len);
        (status == 200 && count == 2).then_some(())
    };
    common::eventually(
        "the contracts in the read model",
        Duration::from_secs(10),
        all_there,
    )
    .await;

    log_in(&browser, &s, &t, &created.username, PASSWORD).await;
    let home = text(&browser).await;
    assert!(
        home.contains("3 contracts waiting for your signature: 1 for Acme Ltd, 2 for Acme North"),
        "{home}"
    );
    assert!(
        home.contains("Monthly payroll for up to 20 staff."),
        "{home}"
    );
    audit(&browser, "group home").await;
    photograph(&browser, "home").await;

    click(&browser, Locator::LinkText("Contracts")).await;
    let rows = browser
        .find_all(Locator::Css("table.contracts tbody tr"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for row in rows {
        seen.push(row.text().await.unwrap());
    }
    assert!(
        seen.iter()
            .any(|r| r.contains("Head office terms") && r.contains("Acme Ltd")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|r| r.contains("Branch terms") && r.contains("Acme North")),
        "{seen:?}"
    );
    audit(&browser, "group contracts").await;
    browser.set_window_size(PHONE.0, PHONE.1).await.unwrap();
    assert!(
        !overflows_sideways(&browser).await,
        "the contracts table fits a phone"
    );
    photograph(&browser, "contracts").await;
    click(&browser, Locator::LinkText("Branch terms")).await;
    assert!(text(&browser).await.contains("For: Acme North"));

    // The Portal API names the area too.
    let token = s
        .portal(&t.slug)
        .login(&created.username, PASSWORD)
        .await
        .session_token;
    let listed = s.portal(&t.slug).signed_in(&token).contracts().await;
    let branch_terms = listed
        .items
        .iter()
        .find(|c| c.title == "Branch terms")
        .unwrap();
    assert_eq!(
        (
            branch_terms.client_id,
            branch_terms.client_display_name.as_str()
        ),
        (branch.uuid(), "Acme North")
    );
    let one = s
        .portal(&t.slug)
        .signed_in(&token)
        .contract(aggregates::ids::ContractId::from_uuid(branch_terms.id))
        .await;
    assert_eq!(one.client_display_name, "Acme North");
    browser.close().await.unwrap();
}

#[tokio::test]
async fn forgot_password_by_address_and_a_hint_when_an_address_is_shared() {
    let (sink, s, t) = mailing(|_| {}).await;
    let driver = Driver::start().await;
    let browser = desktop_browser(&driver).await;
    let shared = email("family");
    let staff = s.staff(&t.staff);
    for name in ["Ann Family", "Ben Family"] {
        let client = staff.register_client(name, "individual", None).await;
        let body = json!({"email": shared, "password": PASSWORD});
        let (_, created) = staff.create_portal_user(client, body).await;
        common::wait_for_position(s.pool(), created.position, Duration::from_secs(10)).await;
    }

    log_in(&browser, &s, &t, &shared, PASSWORD).await;
    let refused = text(&browser).await;
    assert!(
        refused.contains("log in with your username instead"),
        "{refused}"
    );

    click(&browser, Locator::LinkText("Forgot your password?")).await;
    // The button sits under the last field, not beside it.
    assert!(
        button_below(&browser, "username").await,
        "the submit button is below the field"
    );
    audit(&browser, "forgot password by address").await;
    photograph(&browser, "forgot-password").await;
    fill(&browser, "username", &shared).await;
    submit(&browser, "main form button[type=submit]").await;
    assert!(text(&browser).await.contains("is on its way"));
    let mails = sink.wait_for(&shared, 2).await;
    assert!(mails
        .iter()
        .all(|m| m.header("x-portal-notification").as_deref() == Some("password_reset")));
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_switched_off_portal_says_so_on_its_login_page() {
    let (s, t) = Server::with_firm().await;
    let driver = Driver::start().await;
    let browser = desktop_browser(&driver).await;
    let login = format!("{}/portal/{}/login", s.base, t.slug);
    browser.goto(&login).await.unwrap();
    assert!(
        button_below(&browser, "password").await,
        "the login button is below the password"
    );

    s.staff(&t.admin).set_portal(false).await;
    browser.goto(&login).await.unwrap();
    let page = text(&browser).await;
    assert!(page.contains("client portal is closed"), "{page}");
    assert!(browser.find(Locator::Id("password")).await.is_err());
    audit(&browser, "closed portal").await;
    photograph(&browser, "portal-closed").await;
    browser.close().await.unwrap();
}
