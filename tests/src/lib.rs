//! Integration-test harness of Pluto.
//!
//! - [`moto`]: one moto server (the AWS API emulator) per test binary, on a free loopback port,
//!   stopped when the test process exits; or a dedicated one for a test.
//! - [`recorder`]: moto's request recorder, read as AWS API calls (what the server received).
//! - [`app`]: runs the `fixture-app` binary (or any Pluto app) as a Lambda function process,
//!   through the simulator's Lambda Runtime API.
//! - [`events`]: realistic Function URL (payload 2.0) events.
//! - [`proxy`]: a recording, fault-injecting proxy in front of moto.
//! - [`parliament`]: the IAM policy linter.
//! - [`fixtures`]: grants, functions, a code zip and an AWS engine for engine and policy tests.
//! - [`scratch_app`]: a small Pluto app written to a scratch directory and run with
//!   `cargo pluto run`, for the hot reload test and bench.
//! - [`bench`](mod@bench): the gateway benchmarks' request loop and percentiles.
//!
//! The console's browser harness (`browser.rs`, headless Chromium over WebDriver) is included by
//! `tests/console_browser.rs` itself: its WebDriver client is a dev-dependency.

pub mod app;
pub mod appgen;
pub mod bench;
pub mod events;
pub mod fixtures;
pub mod moto;
pub mod parliament;
pub mod proxy;
pub mod recorder;
pub mod scratch_app;

use std::path::PathBuf;

/// The workspace root (where `.cache/` lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}
