//! Hot reload of `cargo pluto run`, end to end: a small app written into a scratch directory is
//! served by a real `cargo-pluto` process while the test edits its source, and checks what the
//! developer would see: the new behaviour answers, a request in flight finishes on the old
//! version, KV data stays, grant changes are printed and shown by the console, a build error
//! keeps the old version serving, a burst of saves rebuilds once, and `--no-watch` reloads
//! nothing. Ctrl-C (SIGINT) stops it and removes `run.json`.
//!
//! The app, its writing and the run are `pluto_tests::scratch_app` (shared with the bench).

#![allow(clippy::unwrap_used)]

use pluto_tests::scratch_app::{AppSource, Echo, PlutoRun, call, save, write_app};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

// --- the test -----------------------------------------------------------------------------------

/// How long a rebuild may take on a busy machine.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_reloads_saved_changes_and_keeps_serving_through_failures() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hot-reload-test");
    let mut source = AppSource::default();
    write_app(&dir, "hot-reload-test-app", &source);
    let stack = format!("hr{}", std::process::id());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let mut run = PlutoRun::start(&dir, &stack, &[], Echo::Lines).await;
    let url = |name: &str| run.urls.get(name).cloned().unwrap_or_default();
    let (greet, slow, remember, recall) =
        (url("greet"), url("slow"), url("remember"), url("recall"));
    assert_eq!(
        run.urls.keys().collect::<Vec<_>>(),
        ["greet", "recall", "remember", "slow"],
        "a URL per function"
    );
    let run_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&run.run_json).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(
        (run_json["pid"].as_u64(), run_json["console_url"].as_str()),
        (run.pid().map(u64::from), Some(run.console_url.as_str())),
        "run.json names this run once it serves: {run_json}"
    );
    let app = run.app_info(&client).await;
    assert_eq!(
        (
            app["build"]["generation"].clone(),
            app["build"]["state"].clone()
        ),
        (json!(1), json!("serving")),
        "the console shows generation 1 serving: {app}"
    );
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("hello x")),
        "greet answers before any edit"
    );
    // (d), before the edit: a value stored by generation 1.
    assert_eq!(
        call(&client, &remember, json!({"key": "k", "value": "kept"})).await,
        Ok(Value::Null),
        "remember stores a note"
    );

    // (a) A saved edit of a handler goes live.
    source.greeting = "hi".to_owned();
    let edited = Instant::now();
    save(&dir, &source);
    run.wait_for_line("[pluto] changed: src/main.rs; rebuilding", RELOAD_TIMEOUT)
        .await;
    run.wait_for_line("reloaded: generation 2 serves", RELOAD_TIMEOUT)
        .await;
    let first_reload = edited.elapsed();
    run.wait_for_line("[pluto] grants unchanged", Duration::from_secs(5))
        .await;
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("hi x")),
        "(a) generation 2 answers with the edited handler"
    );

    // (d) KV data stored before the reload is still there.
    assert_eq!(
        call(&client, &recall, json!({"key": "k"})).await,
        Ok(json!("kept")),
        "(d) KV data persists across a reload"
    );

    // (b) A request in flight during the reload finishes on the old version. It must outlast
    // the rebuild, so it runs at least three times as long as the first reload took.
    let slow_ms = (first_reload.as_millis() as u64 * 3 + 1000).max(3000);
    let in_flight = {
        let (client, slow) = (client.clone(), slow.clone());
        tokio::spawn(async move { call(&client, &slow, json!({"ms": slow_ms})).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    source.version = "v2".to_owned();
    save(&dir, &source);
    run.wait_for_line("reloaded: generation 3 serves", RELOAD_TIMEOUT)
        .await;
    assert!(
        !in_flight.is_finished(),
        "(b) the {slow_ms} ms request should still be running when generation 3 went live"
    );
    assert_eq!(
        call(&client, &slow, json!({"ms": 0})).await,
        Ok(json!("v2")),
        "(b) a new request goes to generation 3"
    );
    assert_eq!(
        in_flight.await.unwrap(),
        Ok(json!("v1")),
        "(b) the request in flight during the reload finishes on generation 2"
    );

    // (c) A new grant is printed and shown by the console.
    source.greet_extra = "notes().delete(&name).await?;".to_owned();
    save(&dir, &source);
    run.wait_for_line("reloaded: generation 4 serves", RELOAD_TIMEOUT)
        .await;
    let grant_line = run
        .wait_for_line("[pluto] grant ", Duration::from_secs(5))
        .await;
    assert_eq!(
        grant_line, "[pluto] grant + greet: delete on notes",
        "(c) the new grant is printed"
    );
    let build = run
        .wait_for_build(&client, "generation 4", |build| build["generation"] == 4)
        .await;
    assert_eq!(
        (build["state"].clone(), build["grant_changes"].clone()),
        (json!("serving"), json!(["+ greet: delete on notes"])),
        "(c) the console's build shows the grant change: {build}"
    );
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("hi x")),
        "(c) greet may delete with its new grant"
    );

    // (e) A type error keeps generation 4 serving; fixing it serves generation 5.
    source.greet_extra = "let broken: u32 = \"s\";".to_owned();
    save(&dir, &source);
    run.wait_for_line(
        "[pluto] the build failed; still serving generation 4",
        RELOAD_TIMEOUT,
    )
    .await;
    let build = run
        .wait_for_build(&client, "the failed build", |build| {
            build["state"] == "failed"
        })
        .await;
    let message = build["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("mismatched types") && build["generation"] == 4,
        "(e) the console shows rustc's error and the generation still serving: {build}"
    );
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("hi x")),
        "(e) generation 4 still answers after the failed build"
    );
    source.greet_extra = String::new();
    source.greeting = "hey".to_owned();
    save(&dir, &source);
    run.wait_for_line("reloaded: generation 5 serves", RELOAD_TIMEOUT)
        .await;
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("hey x")),
        "(e) the fixed source serves as generation 5"
    );
    let grant_line = run
        .wait_for_line("[pluto] grant ", Duration::from_secs(5))
        .await;
    assert_eq!(
        grant_line, "[pluto] grant - greet: delete on notes",
        "(e) the removed grant is printed"
    );

    // (f) A burst of saves within 50 ms rebuilds once.
    let changes_before = run.count_lines("[pluto] changed: ");
    source.greeting = "yo".to_owned();
    let mut longest_gap = Duration::ZERO;
    let mut last_save = Instant::now();
    for save_number in 0..5 {
        source.trailer = format!("// save {save_number}");
        save(&dir, &source);
        longest_gap = longest_gap.max(last_save.elapsed());
        last_save = Instant::now();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    run.wait_for_line("reloaded: generation 6 serves", RELOAD_TIMEOUT)
        .await;
    // Longer than the watcher's debounce (150 ms): a second rebuild would have started by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        run.count_lines("[pluto] changed: ") - changes_before,
        1,
        "(f) five saves ~10 ms apart (longest gap {longest_gap:?}; the debounce is 150 ms) give \
         one `changed:` line; stderr:\n{}",
        run.stderr_text()
    );
    assert_eq!(
        run.count_lines("[pluto] reloaded: generation 7"),
        0,
        "(f) one rebuild"
    );
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("yo x")),
        "(f) the last save serves"
    );

    run.stop().await;

    // (g) `--no-watch`: an edit changes nothing.
    let unwatched =
        PlutoRun::start(&dir, &format!("{stack}nw"), &["--no-watch"], Echo::Lines).await;
    let greet = unwatched.urls.get("greet").cloned().unwrap_or_default();
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("yo x")),
        "(g) --no-watch serves the current source"
    );
    source.greeting = "unwatched".to_owned();
    save(&dir, &source);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        call(&client, &greet, json!({"name": "x"})).await,
        Ok(json!("yo x")),
        "(g) --no-watch does not reload"
    );
    assert_eq!(
        unwatched.count_lines("[pluto] changed: "),
        0,
        "(g) --no-watch prints no `changed:` line; stderr:\n{}",
        unwatched.stderr_text()
    );
    unwatched.stop().await;
}
