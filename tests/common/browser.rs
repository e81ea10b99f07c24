//! A real browser for page tests: Debian's headless Chromium driven over WebDriver by
//! `chromedriver`, which the tests start themselves, and axe-core for accessibility audits.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// axe-core 4.14.1 (MPL-2.0, tests/assets/axe-LICENSE.txt), injected into pages under audit.
const AXE: &str = include_str!("../assets/axe.min.js");

/// A running chromedriver; browsers are sessions on it. Stopped when dropped.
pub struct Driver {
    url: String,
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium and its driver come from Debian's packages, installed by `.ci/run` (tests
/// install nothing); without them the page tests say what is missing.
fn ensure_installed() {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists(),
        "page tests need Debian's chromium and chromium-driver packages \
         (apt-get install chromium chromium-driver; .ci/run installs them)"
    );
}

impl Driver {
    pub async fn start() -> Self {
        ensure_installed();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        // Ready once it answers its status endpoint.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Ok(_)) = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect(("127.0.0.1", port)),
            )
            .await
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { url, child }
    }

    /// A new browser: its own profile, so its own cookies.
    pub async fn browser(&self) -> Client {
        self.open(json!({})).await
    }

    /// A browser with JavaScript switched off, as some clients' browsers are.
    pub async fn browser_without_javascript(&self) -> Client {
        self.open(json!({"profile.managed_default_content_settings.javascript": 2}))
            .await
    }

    async fn open(&self, prefs: Value) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--window-size=1024,900",
                            "--lang=en-GB"],
                   "prefs": prefs}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&self.url)
                .await
            {
                Ok(client) => return client,
                Err(e) => {
                    assert!(Instant::now() < deadline, "no browser session: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// WebDriver's WebAuthn extension: a virtual platform authenticator in the browser that
/// keeps discoverable credentials and verifies its user, so passkey ceremonies run headless.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/webauthn/authenticator"))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let authenticator = json!({
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserVerified": true, "isUserConsenting": true,
        });
        (http::Method::POST, Some(authenticator.to_string()))
    }
}

/// Gives the browser a passkey authenticator (`AddVirtualAuthenticator`).
pub async fn add_virtual_authenticator(browser: &Client) {
    browser
        .issue_cmd(AddVirtualAuthenticator)
        .await
        .expect("chromedriver adds a virtual authenticator");
}

/// Fills a field found by its id.
pub async fn fill(browser: &Client, id: &str, value: &str) {
    let field = browser
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks what `css` finds and waits until the browser has left the page it was on (the
/// old document's root goes stale), so the next look is at the new page.
pub async fn submit(browser: &Client, css: &str) {
    click(browser, Locator::Css(css)).await
}

/// As `submit`, for any element (a link by its text, say).
pub async fn click(browser: &Client, target: Locator<'_>) {
    let old = browser.find(Locator::Css("html")).await.unwrap();
    browser
        .find(target)
        .await
        .unwrap_or_else(|e| panic!("nothing to click: {e}"))
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while old.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "the click led nowhere");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // (Without JavaScript the browser cannot be asked; the stale root is enough then.)
    while browser
        .execute("return document.readyState;", vec![])
        .await
        .is_ok_and(|s| s != json!("complete"))
    {
        assert!(Instant::now() < deadline, "the page did not finish loading");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The page's visible text.
pub async fn text(browser: &Client) -> String {
    browser
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The page's path (and query).
pub async fn path(browser: &Client) -> String {
    let url = browser.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// Runs axe-core on the current page: the serious and critical violations, as
/// "rule: description (n nodes)".
pub async fn serious_violations(browser: &Client) -> Vec<String> {
    browser.execute(AXE, vec![]).await.unwrap();
    let result = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
                .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,
                    help: v.help, nodes: v.nodes.length}))))
                .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: 0}]));",
            vec![],
        )
        .await
        .unwrap();
    result
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v: &Value| format!("{}: {} ({} nodes)", v["id"], v["help"], v["nodes"]))
        .collect()
}

/// Saves a screenshot of the current page to `target/screenshots/{name}.png`, and to
/// `docs/screenshots/` (the ones the README shows) when `PORTAL_UPDATE_SCREENSHOTS=1`.
pub async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("target/screenshots")];
    if std::env::var("PORTAL_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        dirs.push(root.join("docs/screenshots"));
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    }
}
