//! The `cargo-pluto` binary as cargo runs it: `cargo-pluto pluto <args>`.

use std::process::Command;

fn cargo_pluto(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-pluto"))
        .args(args)
        .output()
        .expect("cargo-pluto runs")
}

#[test]
fn help_describes_pluto() {
    let output = cargo_pluto(&["pluto", "--help"]);
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("Infrastructure from code for Rust"), "{help}");
    assert!(help.contains("Usage: cargo pluto"), "{help}");
}

#[test]
fn version_is_the_crate_version() {
    let output = cargo_pluto(&["pluto", "--version"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("cargo-pluto {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_subcommands_are_rejected() {
    let output = cargo_pluto(&["pluto", "teleport"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("'teleport'"));
}

/// `cargo-pluto pluto <command...> --manifest-path <manifest> --stack <stack>`.
fn on_stack(command: &[&str], manifest: &str, stack: &str) -> std::process::Output {
    let mut args = vec!["pluto"];
    args.extend_from_slice(command);
    args.extend(["--manifest-path", manifest, "--stack", stack]);
    cargo_pluto(&args)
}

/// Fails with cargo-pluto's stderr unless it succeeded.
fn assert_succeeded(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn example_manifest(name: &str) -> String {
    format!(
        "{}/../examples/{name}/Cargo.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn deduce_json_prints_and_writes_the_architecture() {
    let manifest = example_manifest("chatbot-history");
    let output = on_stack(&["deduce", "--json"], &manifest, "cli-test");
    assert_succeeded(&output);
    let printed: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(printed["project"], "chatbot-history");
    let chat = printed["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .find(|f| f["spec"]["name"] == "chat");
    let operations: Vec<&str> = chat.expect("chat")["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .filter_map(|grant| grant["operation"].as_str())
        .collect();
    assert_eq!(operations, ["sagemaker_invoke", "kv_get", "kv_set"]);
    let written = std::fs::read_to_string(format!(
        "{}/../examples/chatbot-history/.pluto/cli-test/arch.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("arch.json is written");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&written).expect("JSON file"),
        printed
    );
}

#[test]
fn deduce_tables_show_grants_with_their_call_chains() {
    let manifest = example_manifest("chatbot-history");
    let output = on_stack(&["deduce"], &manifest, "cli-test");
    assert_succeeded(&output);
    let tables = String::from_utf8_lossy(&output.stdout);
    insta::assert_snapshot!(tables);
}

#[test]
fn graph_renders_mermaid_and_dot() {
    let manifest = example_manifest("chatbot-history");
    let mermaid = on_stack(&["graph", "--format", "mermaid"], &manifest, "cli-test");
    assert_succeeded(&mermaid);
    insta::assert_snapshot!("mermaid", String::from_utf8_lossy(&mermaid.stdout));
    let dot = on_stack(&["graph", "--format", "dot"], &manifest, "cli-test");
    assert_succeeded(&dot);
    insta::assert_snapshot!("dot", String::from_utf8_lossy(&dot.stdout));
}

#[test]
fn graph_renders_svg_with_every_function() {
    let manifest = example_manifest("chatbot-history");
    let output = on_stack(&["graph", "--format", "svg"], &manifest, "cli-test");
    assert_succeeded(&output);
    let svg = String::from_utf8_lossy(&output.stdout);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.ends_with("</svg>\n"),
        "{svg}"
    );
    for function in ["chat", "forget"] {
        assert!(
            svg.contains(&format!(
                "<g class=\"node\" data-kind=\"function\" data-name=\"{function}\""
            )),
            "{svg}"
        );
    }
}

#[test]
fn graph_without_format_writes_mermaid_dot_and_svg() {
    let manifest = example_manifest("chatbot-history");
    let output = on_stack(&["graph"], &manifest, "cli-test-graph");
    assert_succeeded(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = format!(
        "{}/../examples/chatbot-history/.pluto/cli-test-graph",
        env!("CARGO_MANIFEST_DIR")
    );
    let written: Vec<&str> = stdout.lines().collect();
    assert_eq!(written.len(), 3, "{stdout}");
    let files = ["architecture.mmd", "architecture.dot", "architecture.svg"];
    for (line, file) in written.iter().zip(files) {
        assert!(
            line.starts_with("wrote ") && line.ends_with(&format!("cli-test-graph/{file}")),
            "{stdout}"
        );
        assert!(
            std::path::Path::new(&format!("{dir}/{file}")).is_file(),
            "{file} is written"
        );
    }
    let svg = std::fs::read_to_string(format!("{dir}/architecture.svg")).expect("the SVG");
    let printed = on_stack(&["graph", "--format", "svg"], &manifest, "cli-test-graph");
    assert_eq!(svg, String::from_utf8_lossy(&printed.stdout));
}

#[test]
fn deduce_reports_every_error_and_fails() {
    let manifest = format!(
        "{}/../deducer/tests/fixtures/broken/Cargo.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = on_stack(&["deduce"], &manifest, "cli-test");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: cannot find the file of module `missing`\n  --> src/main.rs:1:5"),
        "{stderr}"
    );
    assert!(stderr.contains("the app has 6 errors"), "{stderr}");
}

#[test]
fn a_bad_stack_name_is_refused_with_the_rule() {
    let manifest = example_manifest("chatbot-history");
    let output = on_stack(&["deduce"], &manifest, "Prod_EU");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Prod_EU"));
}

#[test]
fn new_scaffolds_an_app_that_deduces_to_one_public_function_and_one_store() {
    let dir = std::env::temp_dir().join(format!("pluto-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let app = dir.join("hello");
    let output = cargo_pluto(&["pluto", "new", app.to_str().expect("utf-8 path")]);
    assert_succeeded(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("cargo pluto run"));
    let readme = std::fs::read_to_string(app.join("README.md")).expect("README");
    assert!(
        readme.contains("cargo pluto run") && readme.contains("curl"),
        "{readme}"
    );

    let manifest = app.join("Cargo.toml");
    let output = cargo_pluto(&[
        "pluto",
        "deduce",
        "--json",
        "--manifest-path",
        manifest.to_str().expect("utf-8"),
    ]);
    assert_succeeded(&output);
    let architecture: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(architecture["functions"][0]["spec"]["name"], "hello");
    assert_eq!(architecture["functions"][0]["spec"]["url"], "public");
    assert_eq!(architecture["resources"][0]["spec"]["name"], "visits");
    let operations: Vec<&str> = architecture["functions"][0]["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .filter_map(|grant| grant["operation"].as_str())
        .collect();
    assert_eq!(operations, ["kv_get", "kv_set"]);

    let again = cargo_pluto(&["pluto", "new", app.to_str().expect("utf-8 path")]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "an existing directory is not overwritten"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deduce_ends_with_a_summary_and_strict_refuses_conservative_grants() {
    let exact_only = example_manifest("chatbot-history");
    let output = on_stack(&["deduce", "--strict"], &exact_only, "cli-test");
    assert_succeeded(&output);
    let tables = String::from_utf8_lossy(&output.stdout);
    assert!(
        tables.ends_with("\n2 functions, 4 grants: 4 exact, 0 conservative\n"),
        "{tables}"
    );

    let escaping = format!(
        "{}/../deducer/tests/fixtures/containers/Cargo.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let relaxed = on_stack(&["deduce"], &escaping, "cli-test");
    assert_succeeded(&relaxed);
    assert!(
        String::from_utf8_lossy(&relaxed.stdout)
            .contains("9 functions, 26 grants: 23 exact, 3 conservative"),
        "{relaxed:?}"
    );
    let strict = on_stack(&["deduce", "--strict"], &escaping, "cli-test");
    assert_eq!(strict.status.code(), Some(1), "{strict:?}");
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(
        stderr.contains("3 grants are conservative (--strict)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("closures: get on KV store `red`"),
        "{stderr}"
    );
    assert!(stderr.contains("`write` at src/main.rs:97:5"), "{stderr}");
}

#[test]
fn several_binaries_need_bin_and_only_the_chosen_ones_functions_are_deduced() {
    let manifest = format!(
        "{}/../deducer/tests/fixtures/two_binaries/Cargo.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let ambiguous = on_stack(&["deduce"], &manifest, "cli-test");
    assert!(!ambiguous.status.success());
    let stderr = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(
        stderr.contains("alpha") && stderr.contains("beta") && stderr.contains("--bin"),
        "{stderr}"
    );

    let alpha = on_stack(
        &["deduce", "--json", "--bin", "alpha"],
        &manifest,
        "cli-test",
    );
    assert_succeeded(&alpha);
    let architecture: serde_json::Value =
        serde_json::from_slice(&alpha.stdout).expect("the architecture as JSON");
    let functions: Vec<&str> = architecture["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .filter_map(|function| function["spec"]["name"].as_str())
        .collect();
    assert_eq!(functions, ["alpha-only", "shared"]);
}

#[test]
fn regression_new_refuses_a_package_named_like_a_dependency() {
    let dir = std::env::temp_dir().join(format!("pluto-new-taken-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let app = dir.join("pluto");
    let output = cargo_pluto(&["pluto", "new", app.to_str().expect("utf-8 path")]);
    assert!(!output.status.success(), "`pluto` depends on pluto");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a valid package name") && stderr.contains("`pluto`"),
        "{stderr}"
    );
    assert!(!app.exists(), "nothing is created");
}

#[test]
fn regression_an_app_without_resources_is_warned_about_and_not_run() {
    let dir = std::env::temp_dir().join(format!("pluto-empty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("scratch dir");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"empty-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .expect("manifest");
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").expect("main");
    let manifest = dir.join("Cargo.toml");
    let manifest = manifest.to_str().expect("utf-8");
    let deduced = on_stack(&["deduce"], manifest, "cli-test");
    assert_succeeded(&deduced);
    let stderr = String::from_utf8_lossy(&deduced.stderr);
    assert!(
        stderr.contains("declares no resource and no function"),
        "{stderr}"
    );
    let run = on_stack(&["run", "--port", "0"], manifest, "cli-test");
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("declares no function: there is nothing to run"),
        "{stderr}"
    );
}

fn streaming_fixture_manifest() -> String {
    format!(
        "{}/../deducer/tests/fixtures/streaming/Cargo.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn deduce_and_graph_show_which_functions_stream() {
    let manifest = streaming_fixture_manifest();
    let output = on_stack(&["deduce"], &manifest, "cli-test");
    assert_succeeded(&output);
    let tables = String::from_utf8_lossy(&output.stdout);
    let row = |name: &str| {
        tables
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name} in:\n{tables}"))
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("chat-stream"), ["chat-stream", "public", "stream"]);
    assert_eq!(row("echo-stream"), ["echo-stream", "none", "stream"]);
    assert_eq!(row("chat"), ["chat", "iam", "buffered"]);

    let mermaid = on_stack(&["graph", "--format", "mermaid"], &manifest, "cli-test");
    assert_succeeded(&mermaid);
    let mermaid = String::from_utf8_lossy(&mermaid.stdout);
    assert!(
        mermaid.contains("fn_chat_stream[\"function chat-stream<br/>public URL, streaming\"]"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("fn_chat[\"function chat<br/>iam URL\"]"),
        "{mermaid}"
    );
    let dot = on_stack(&["graph", "--format", "dot"], &manifest, "cli-test");
    assert_succeeded(&dot);
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(
        dot.contains(
            "fn_echo_stream [shape=box, label=\"function echo-stream\\nno URL, streaming\"];"
        ),
        "{dot}"
    );
}
