//! Headless Chromium driven over WebDriver, for the dev console's browser tests.
//!
//! [`Browser::start`] runs `chromedriver` on a free loopback port and opens a session of headless
//! Chromium (its own throwaway profile) through `fantoccini`; the helpers wait for elements and
//! text the way a person would look for them, and write screenshots to
//! `<workspace>/target/console-screenshots/`. A missing browser fails the test with what to
//! install (`scripts/test` installs it): there is no silent skip.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often the `wait_*` helpers look again.
const POLL: Duration = Duration::from_millis(50);

/// How long chromedriver may take to answer `/status` after it started.
const DRIVER_START: Duration = Duration::from_secs(20);

/// What to run when the browser is missing.
const INSTALL_HINT: &str = "run `scripts/test` (it installs them) or `apt-get install chromium chromium-driver`, \
     or point PLUTO_CHROMIUM and PLUTO_CHROMEDRIVER at the binaries";

/// A headless Chromium session and the chromedriver serving it; both end on [`Browser::close`]
/// or when dropped.
#[derive(Debug)]
pub struct Browser {
    client: Option<Client>,
    driver: Option<Child>,
    profile_dir: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    ///
    /// # Panics
    /// When chromium or chromedriver is missing (saying what to install), or does not start.
    pub async fn start() -> Self {
        let chromedriver = find_tool(
            "PLUTO_CHROMEDRIVER",
            &["chromedriver", "/usr/bin/chromedriver"],
        );
        let chromium = find_tool("PLUTO_CHROMIUM", &["chromium", "/usr/bin/chromium"]);
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let profile_dir = std::env::temp_dir().join(format!(
            "pluto-browser-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile_dir);
        std::fs::create_dir_all(&profile_dir)
            .unwrap_or_else(|error| panic!("creating {}: {error}", profile_dir.display()));

        let port = free_port();
        let driver_log = profile_dir.join("chromedriver.log");
        let log_file = std::fs::File::create(&driver_log)
            .unwrap_or_else(|error| panic!("creating {}: {error}", driver_log.display()));
        let mut command = Command::new(&chromedriver);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        // Its own process group, so that ending it also ends the Chromium it started.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", chromedriver.display()));
        let mut browser = Self {
            client: None,
            driver: Some(driver),
            profile_dir,
        };

        let webdriver_url = format!("http://127.0.0.1:{port}");
        browser.wait_for_driver(&webdriver_url, &driver_log).await;

        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1400,900",
                    format!("--user-data-dir={}", browser.profile_dir.join("profile").display()),
                ],
            }),
        );
        let client = ClientBuilder::rustls()
            .unwrap_or_else(|error| panic!("the WebDriver client: {error}"))
            .capabilities(capabilities)
            .connect(&webdriver_url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "chromedriver did not open a Chromium session ({}): {error}; its log:\n{}",
                    chromium.display(),
                    std::fs::read_to_string(&driver_log).unwrap_or_default()
                )
            });
        browser.client = Some(client);
        browser
    }

    /// Waits until chromedriver answers `GET /status` with `ready: true`.
    async fn wait_for_driver(&mut self, webdriver_url: &str, driver_log: &Path) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Some(driver) = self.driver.as_mut()
                && let Ok(Some(status)) = driver.try_wait()
            {
                panic!(
                    "chromedriver exited ({status}) before answering; its log:\n{}",
                    std::fs::read_to_string(driver_log).unwrap_or_default()
                );
            }
            let ready = match http.get(format!("{webdriver_url}/status")).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|status| status["value"]["ready"] == json!(true)),
                Err(_) => false,
            };
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer {webdriver_url}/status within {DRIVER_START:?}; its log:\n{}",
                std::fs::read_to_string(driver_log).unwrap_or_default()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The WebDriver session, for what the helpers do not cover.
    ///
    /// # Panics
    /// After [`Browser::close`] (which consumes the browser, so never in practice).
    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .unwrap_or_else(|| panic!("the browser session is closed"))
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|error| panic!("opening {url}: {error}"));
    }

    /// The first element matching `css` once there is one, looking every 50 ms.
    ///
    /// # Panics
    /// When none appears within `timeout` (the message names `css` and the page's URL).
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(element) = self.client().find(Locator::Css(css)).await {
                return element;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no `{css}` within {timeout:?} on {}{}",
                    self.current_url().await,
                    self.failure_screenshot().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The text of the first element matching `css` whose text contains `needle`, once there is
    /// one, looking every 50 ms.
    ///
    /// # Panics
    /// When none does within `timeout` (the message gives what the matching elements said).
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let texts = self.texts(css).await;
            if let Some(text) = texts.iter().find(|text| text.contains(needle)) {
                return text.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "no `{css}` with text {needle:?} within {timeout:?} on {}; the matching elements said: {texts:?}{}",
                    self.current_url().await,
                    self.failure_screenshot().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The rendered text of every element matching `css` (none: empty).
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        if let Ok(elements) = self.client().find_all(Locator::Css(css)).await {
            for element in elements {
                // An element replaced between `find_all` and `text` is skipped.
                if let Ok(text) = element.text().await {
                    texts.push(text);
                }
            }
        }
        texts
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client()
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |elements| elements.len())
    }

    /// Clicks the first element matching `css` (waiting up to 10 s for it). Elements WebDriver
    /// cannot click by position (an SVG group under another shape) get a DOM `click` event.
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css, Duration::from_secs(10)).await;
        if element.click().await.is_err() {
            self.client()
                .execute(
                    "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true, view: window}));",
                    vec![serde_json::to_value(&element).unwrap_or(Value::Null)],
                )
                .await
                .unwrap_or_else(|error| panic!("clicking `{css}`: {error}"));
        }
    }

    /// Replaces the value of the first field matching `css` (waiting up to 10 s) by `text`,
    /// typed as keystrokes.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css, Duration::from_secs(10)).await;
        field
            .clear()
            .await
            .unwrap_or_else(|error| panic!("clearing `{css}`: {error}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|error| panic!("typing into `{css}`: {error}"));
    }

    /// Runs `script` in the page (`arguments` are `args`) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .unwrap_or_else(|error| panic!("running a script in the page: {error}\n{script}"))
    }

    /// Makes `window.confirm` answer yes and `window.alert` return at once, so dialogs (such as
    /// "delete this item?") do not block the page.
    pub async fn accept_alerts(&self) {
        self.execute(
            "window.confirm = () => true; window.alert = () => {};",
            vec![],
        )
        .await;
    }

    /// Writes a PNG of the window to `<workspace>/target/console-screenshots/<name>.png` and
    /// returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
        let png = self
            .client()
            .screenshot()
            .await
            .unwrap_or_else(|error| panic!("taking screenshot {name}: {error}"));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)
            .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
        path
    }

    /// Saves what the page shows when a wait fails, as `failed-<thread name>.png` (the test's
    /// name), and says where, for the panic message.
    async fn failure_screenshot(&self) -> String {
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("test").replace("::", "-");
        let Ok(png) = self.client().screenshot().await else {
            return String::new();
        };
        let path = screenshot_dir().join(format!("failed-{test}.png"));
        match std::fs::create_dir_all(screenshot_dir()).and_then(|()| std::fs::write(&path, png)) {
            Ok(()) => format!(" (screenshot: {})", path.display()),
            Err(_) => String::new(),
        }
    }

    /// The page's URL, for messages.
    async fn current_url(&self) -> String {
        self.client().current_url().await.map_or_else(
            |error| format!("<unknown page: {error}>"),
            |url| url.to_string(),
        )
    }

    /// Ends the session (Chromium quits), stops chromedriver and removes the profile.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            // A session that is already gone is as good as closed.
            let _ = client.close().await;
        }
        self.stop_driver();
    }

    /// Kills chromedriver's process group (with any Chromium left in it) and removes the profile.
    fn stop_driver(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            // The group was created for this chromedriver (`process_group(0)`): its id is the
            // driver's pid.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", driver.id())])
                .stderr(Stdio::null())
                .status();
            let _ = driver.kill();
            let _ = driver.wait();
        }
        let _ = std::fs::remove_dir_all(&self.profile_dir);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop_driver();
    }
}

/// Where [`Browser::screenshot`] writes: `<workspace>/target/console-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .unwrap_or(&manifest_dir)
        .join("target")
        .join("console-screenshots")
}

/// `env_var`'s path when set, else the first of `candidates` found (bare names on `PATH`).
fn find_tool(env_var: &str, candidates: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var).filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{env_var}={} is not a file: {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
    };
    candidates
        .iter()
        .find_map(|candidate| {
            if candidate.contains('/') {
                Some(PathBuf::from(candidate)).filter(|path| path.is_file())
            } else {
                on_path(candidate)
            }
        })
        .unwrap_or_else(|| {
            panic!(
                "the browser tests need Chromium and chromedriver; not found: {} (looked at ${env_var}, then {candidates:?}): {INSTALL_HINT}",
                candidates[0]
            )
        })
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free loopback port: {error}"))
}
