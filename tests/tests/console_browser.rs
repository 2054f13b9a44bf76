//! The dev console in a real browser: headless Chromium over WebDriver (`pluto_tests`'s browser
//! harness, `tests/src/browser.rs`) against the console served by the simulator's gateway, as
//! `cargo pluto run` serves it, following the DOM contract of the console's page.
//!
//! Checked here: the architecture graph has a node per function and resource and a function's
//! node shows its grants with provenance; the chatbot of `langchain-llama` invoked from its form
//! streams the real model's answer into the page; a request sent with plain HTTP shows up in the
//! Requests view within a second, with its AWS calls; a KV item edited in the Data view is what
//! the app reads next; and an access the deducer did not grant shows as denied with the missing
//! grant. Each check saves a screenshot in `target/console-screenshots/`.
//!
//! Needs Chromium and chromedriver (`scripts/test` installs them) and, for the chatbot, the
//! local model (`scripts/fetch-model`); the tests fail saying so when they are missing.
//!
//! The tests run one at a time ([`ONE_AT_A_TIME`]): each starts a browser and a simulator, and
//! the requests check measures a latency.

#![allow(clippy::unwrap_used)]

#[allow(unreachable_pub, dead_code)]
#[path = "../src/browser.rs"]
mod browser;

use browser::Browser;
use pluto_model::llm::TextGeneration;
use pluto_model::naming::StackNames;
use pluto_model::{Architecture, Operation};
use pluto_simulator::lambda::Outcome;
use pluto_simulator::{Simulator, SimulatorOptions};
use pluto_spec::UrlAuth;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the page may take to show what a check waits for.
const UI: Duration = Duration::from_secs(10);

/// How long the chatbot may take to answer with the local model.
const MODEL_ANSWER: Duration = Duration::from_secs(120);

/// Held by each test for its whole run.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An app in the simulator with the console instrumenting it, and a browser.
struct Scene {
    browser: Browser,
    simulator: Simulator,
    architecture: Architecture,
    data_dir: PathBuf,
}

impl Scene {
    /// Runs `binary` as `architecture` (stack `test`, its own data dir) with the console, and
    /// opens a browser on the console's page.
    async fn start(
        name: &str,
        architecture: Architecture,
        binary: PathBuf,
        model: Option<Arc<dyn TextGeneration>>,
    ) -> Self {
        let data_dir =
            std::env::temp_dir().join(format!("pluto-console-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir).expect("scratch data dir");
        let console = pluto_console::Console::new(&architecture, "test");
        let mut options = SimulatorOptions::new("test", binary, data_dir.clone());
        options.model = model;
        console.instrument(&mut options);
        let (simulator, browser) =
            tokio::join!(Simulator::start(&architecture, options), Browser::start());
        let simulator = simulator.expect("the simulator starts");
        console.attach(&simulator);
        let console_url = simulator
            .console_url()
            .expect("the console is served")
            .to_owned();
        browser.goto(&console_url).await;
        browser.wait_for("nav #tab-requests", UI).await;
        // The page follows the live events once its event stream is open (`#live`).
        browser.wait_for("#live[data-state=\"live\"]", UI).await;
        Self {
            browser,
            simulator,
            architecture,
            data_dir,
        }
    }

    /// Shows the view of tab `name` (`architecture`, `requests`, …).
    async fn show(&self, name: &str) {
        self.browser.click(&format!("#tab-{name}")).await;
        let view = format!("#view-{name}");
        let deadline = Instant::now() + UI;
        while !self
            .browser
            .wait_for(&view, UI)
            .await
            .is_displayed()
            .await
            .unwrap_or(false)
        {
            assert!(Instant::now() < deadline, "`{view}` is not shown");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The Function URL of `function`.
    fn url(&self, function: &str) -> String {
        self.simulator
            .urls()
            .get(function)
            .unwrap_or_else(|| panic!("{function} has no URL"))
            .clone()
    }

    async fn stop(self) {
        self.browser.close().await;
        self.simulator.stop().await;
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The fixture app's architecture with Function URLs (public) on `public` only.
fn fixture_with_urls(public: &[&str]) -> Architecture {
    let mut architecture = pluto_tests::app::fixture_architecture();
    for function in &mut architecture.functions {
        function.spec.url = if public.contains(&function.spec.name.as_str()) {
            UrlAuth::Public
        } else {
            UrlAuth::None
        };
    }
    architecture
}

fn fixture_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fixture-app"))
}

/// A CSS attribute selector value, quoted.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// How the console spells a value of the model (`kv_set`, `kv_store`): as its JSON.
fn spelled<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value).unwrap() {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

#[tokio::test]
async fn architecture_graph_shows_every_function_and_resource_and_a_functions_grants() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let scene = Scene::start(
        "architecture",
        pluto_tests::app::fixture_architecture(),
        fixture_binary(),
        None,
    )
    .await;
    let browser = &scene.browser;
    scene.show("architecture").await;
    browser.wait_for("#graph svg g.node", UI).await;
    browser.wait_for_text("#build-status", "serving", UI).await;

    let architecture = &scene.architecture;
    let mut expected = Vec::new();
    for function in &architecture.functions {
        expected.push(("function".to_owned(), function.spec.name.clone()));
    }
    for resource in &architecture.resources {
        expected.push((
            spelled(&resource.spec.kind()),
            resource.spec.name().to_owned(),
        ));
    }
    for (kind, name) in &expected {
        let selector = format!(
            "#graph g.node[data-kind={}][data-name={}]",
            quoted(kind),
            quoted(name)
        );
        assert_eq!(browser.count(&selector).await, 1, "one `{selector}`");
    }
    assert_eq!(
        browser.count("#graph g.node").await,
        expected.len(),
        "a node per function and resource, and no other: {expected:?}"
    );

    let function = architecture.function("kv-set").expect("kv-set");
    let grant = &function.grants[0];
    browser
        .click(&format!(
            "#graph g.node[data-kind=\"function\"][data-name={}]",
            quoted(&function.spec.name)
        ))
        .await;
    // The grant's row: its IAM action, operation (`set`, or as the API spells it, `kv_set`),
    // resource and call chains.
    let iam_action = grant.operation.iam_action().unwrap();
    let row = browser
        .wait_for_text("#node-detail tr", iam_action, UI)
        .await;
    let operation = grant.operation.label();
    assert!(
        row.split_whitespace()
            .any(|word| word == operation || word == spelled(&grant.operation)),
        "the grant's operation ({operation}) in {row:?}"
    );
    assert!(
        row.contains(&grant.resource.name),
        "the grant's resource in {row:?}"
    );
    let places: Vec<String> = grant.provenance[0]
        .steps
        .iter()
        .map(|step| format!("{}:{}", step.location.file, step.location.line))
        .collect();
    assert!(
        places.iter().any(|place| row.contains(place)),
        "a provenance file:line of {places:?} in {row:?}"
    );
    let shot = browser.screenshot("architecture").await;
    eprintln!("screenshot: {}", shot.display());
    scene.stop().await;
}

/// Where the model is, or the test fails saying how to fetch it.
fn local_model() -> Arc<dyn TextGeneration> {
    let path = pluto_local_model::locate_model(None).unwrap_or_else(|error| {
        panic!(
            "the local model is missing: {error}. Run `scripts/fetch-model` (scripts/test does) first."
        )
    });
    Arc::new(pluto_local_model::LocalModel::load(&path).expect("the local model loads"))
}

/// The `langchain-llama` example's architecture, deduced as `cargo pluto` deduces it.
fn langchain_llama() -> Architecture {
    let manifest = pluto_tests::workspace_root().join("examples/langchain-llama/Cargo.toml");
    pluto_deducer::deduce(&pluto_deducer::source::PackageSelector {
        manifest_path: Some(manifest),
        package: None,
        bin: None,
    })
    .unwrap_or_else(|error| panic!("langchain-llama deduces: {error}"))
    .architecture
}

/// Finds the invoke output of `function`'s form (in the form, or next to it) in page scripts.
const FIND_OUTPUT: &str =
    "const form = document.querySelector(`form.invoke[data-function=\"${arguments[0]}\"]`);
    const output = form && (form.querySelector('.invoke-output')
        || (form.parentElement && form.parentElement.querySelector('.invoke-output')));";

#[tokio::test]
async fn invoking_the_chatbot_streams_the_models_answer_into_the_page() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let model = local_model();
    let architecture = langchain_llama();
    let binary = pluto_tests::app::build_workspace_binary("langchain-llama");
    let scene = Scene::start("invoke", architecture, binary, Some(model)).await;
    let browser = &scene.browser;
    scene.show("invoke").await;
    let form = "form.invoke[data-function=\"chatbot\"]";
    browser
        .fill(&format!("{form} [name=\"query\"]"), "What is the sea?")
        .await;
    // Every change of the output before it is done, as the page makes it.
    let watching = browser
        .execute(
            &format!(
                "{FIND_OUTPUT}
                if (!output) return false;
                window.plutoPartialLengths = [];
                new MutationObserver(() => {{
                    if (output.dataset.done !== 'true')
                        window.plutoPartialLengths.push(output.textContent.trim().length);
                }}).observe(output, {{childList: true, subtree: true, characterData: true, attributes: true}});
                return true;"
            ),
            vec![json!("chatbot")],
        )
        .await;
    assert_eq!(
        watching,
        json!(true),
        "chatbot's form has an `.invoke-output`"
    );
    browser
        .click(&format!("{form} button[type=\"submit\"]"))
        .await;

    let read_output = format!(
        "{FIND_OUTPUT}
        return {{done: output.dataset.done === 'true', ok: output.dataset.ok, text: output.textContent.trim(),
                 partial: window.plutoPartialLengths}};"
    );
    let deadline = Instant::now() + MODEL_ANSWER;
    let mut polled_partial = Vec::new();
    let state = loop {
        let state = browser.execute(&read_output, vec![json!("chatbot")]).await;
        if state["done"] == json!(true) {
            break state;
        }
        let length = state["text"].as_str().unwrap_or_default().len();
        polled_partial.push(length);
        assert!(
            Instant::now() < deadline,
            "the chatbot did not finish within {MODEL_ANSWER:?}: {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let shot = browser.screenshot("invoke").await;
    eprintln!("screenshot: {}", shot.display());
    assert_eq!(state["ok"], json!("true"), "{state}");
    let text = state["text"].as_str().unwrap_or_default();
    assert!(!text.is_empty(), "the model's answer is shown: {state}");
    let observed: Vec<usize> = state["partial"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .filter_map(|length| usize::try_from(length).ok())
        .chain(polled_partial)
        .collect();
    assert!(
        observed
            .iter()
            .any(|&length| length > 0 && length < text.len()),
        "part of the answer is shown before it is done (lengths seen while running: {observed:?}, final {})",
        text.len()
    );
    // The Model view lists the endpoint and the call just made, with its prompt and speed.
    scene.show("model").await;
    scene
        .browser
        .wait_for_text("#model-endpoints", "llama", UI)
        .await;
    scene
        .browser
        .wait_for("#model-calls tr.model-call", UI)
        .await;
    let shot = scene.browser.screenshot("model").await;
    eprintln!("screenshot: {}", shot.display());
    scene.stop().await;
}

/// POSTs `args` as JSON to `url`, like `curl -d`.
async fn post(url: &str, args: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .json(&args)
        .send()
        .await
        .unwrap_or_else(|error| panic!("POST {url}: {error}"))
}

#[tokio::test]
async fn a_request_made_with_curl_shows_up_within_a_second_with_its_aws_calls() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let scene = Scene::start(
        "requests",
        fixture_with_urls(&["kv-get"]),
        fixture_binary(),
        None,
    )
    .await;
    let browser = &scene.browser;
    scene.show("requests").await;
    browser.wait_for("table#requests", UI).await;
    let rows = "#requests tr.request[data-function=\"kv-get\"]";
    let url = scene.url("kv-get");

    // A first request starts the function's process and shows the page is live.
    let first = post(&url, json!(["greeting"])).await;
    assert_eq!(first.status().as_u16(), 200);
    browser.wait_for(rows, UI).await;
    assert_eq!(browser.count(rows).await, 1);

    let sent = Instant::now();
    let request = tokio::spawn(async move { post(&url, json!(["greeting"])).await });
    while browser.count(rows).await < 2 {
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "the second request never showed up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let shown_after = sent.elapsed();
    assert!(
        shown_after < Duration::from_secs(1),
        "the request showed up {shown_after:?} after it was sent"
    );
    assert_eq!(request.await.unwrap().status().as_u16(), 200);

    browser
        .wait_for(
            "#requests tr.request[data-function=\"kv-get\"][data-status=\"200\"][data-state=\"ok\"]",
            UI,
        )
        .await;
    browser.click(rows).await;
    let get_item = Operation::KvGet.iam_action().unwrap();
    let call = browser
        .wait_for_text(
            "#request-detail .aws-calls tr.aws-call[data-allowed=\"true\"]",
            get_item,
            UI,
        )
        .await;
    assert!(call.contains("notes"), "the store in {call:?}");
    let shot = browser.screenshot("requests").await;
    eprintln!(
        "screenshot: {} (request shown {shown_after:?} after sending)",
        shot.display()
    );
    scene.stop().await;
}

#[tokio::test]
async fn a_kv_item_edited_in_the_data_view_is_what_the_app_reads() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let scene = Scene::start("kv", fixture_with_urls(&[]), fixture_binary(), None).await;
    let browser = &scene.browser;
    assert_eq!(
        scene
            .simulator
            .invoke("kv-set", json!(["greeting", "written by the app"]))
            .await
            .unwrap(),
        Outcome::Response(Value::Null)
    );
    scene.show("data").await;
    browser.click("#kv-stores [data-store=\"notes\"]").await;
    let row = "#kv-items tr.kv-item[data-key=\"greeting\"]";
    browser.wait_for_text(row, "written by the app", UI).await;

    browser.click(&format!("{row} .kv-edit")).await;
    browser
        .fill("#kv-items .kv-value", "edited in the console")
        .await;
    browser.click("#kv-items .kv-save").await;
    browser
        .wait_for_text(row, "edited in the console", UI)
        .await;
    let shot = browser.screenshot("data").await;
    eprintln!("screenshot: {}", shot.display());

    assert_eq!(
        scene
            .simulator
            .invoke("kv-get", json!(["greeting"]))
            .await
            .unwrap(),
        Outcome::Response(json!("edited in the console"))
    );
    scene.stop().await;
}

#[tokio::test]
async fn an_access_the_deducer_did_not_grant_shows_as_denied_with_the_missing_grant() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let scene = Scene::start(
        "denied",
        fixture_with_urls(&["sneaky-write"]),
        fixture_binary(),
        None,
    )
    .await;
    let browser = &scene.browser;
    let table = StackNames::new(&scene.architecture.project, "test")
        .unwrap()
        .table("notes");
    let answer = post(&scene.url("sneaky-write"), json!([table])).await;
    assert!(
        !answer.status().is_success(),
        "the write is denied: {}",
        answer.status()
    );

    scene.show("requests").await;
    let row = "#requests tr.request[data-function=\"sneaky-write\"]";
    browser.wait_for(row, UI).await;
    browser.click(row).await;
    let denied = "#request-detail .aws-calls tr.aws-call[data-allowed=\"false\"]";
    let call = browser.wait_for(denied, UI).await.text().await.unwrap();
    let missing = browser
        .wait_for_text("#request-detail .missing-grant", "notes", UI)
        .await;
    // `set on notes`, or as the API spells operations, `kv_set on notes`.
    let operation = Operation::KvSet.label();
    assert!(
        missing.contains(&format!("{operation} on notes")),
        "the missing grant names the operation ({operation}) and store: {missing:?}"
    );
    assert!(
        call.contains(Operation::KvSet.iam_action().unwrap()),
        "the denied call's IAM action: {call:?}"
    );
    let explanation = browser.texts("#request-detail .explanation").await;
    assert!(
        explanation.iter().any(|text| !text.trim().is_empty()),
        "the denial is explained: {explanation:?}"
    );
    let shot = browser.screenshot("denied").await;
    eprintln!("screenshot: {}", shot.display());
    scene.stop().await;
}
