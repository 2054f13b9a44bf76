//! The local dev console of `cargo pluto run`, served on loopback under `/_pluto/` on a port of
//! its own (so pages the app's functions serve, on the gateway's origin, cannot script it): the architecture picture ([`svg`], the same SVG `cargo pluto graph
//! --format svg` writes), a live list of requests with their logs and AWS calls, an invoke form
//! per function, the KV data and the local model's calls. All assets are compiled in; nothing is
//! fetched from the network.
//!
//! [`Console::instrument`] hooks a console into the simulator's options before it starts;
//! [`Console::attach`] hands it the running app.

mod app;
mod hub;
mod recorder;
mod server;
pub mod svg;

pub use hub::BuildStatus;

use hub::Hub;
use pluto_model::Architecture;
use pluto_simulator::aws::AttemptedAccess;
use pluto_simulator::gateway::RequestRecord;
use pluto_simulator::lambda::InvocationEvent;
use pluto_simulator::{Simulator, SimulatorHandle, SimulatorOptions};
use std::sync::{Arc, OnceLock};

/// The response header naming the request an invoke through the console made.
pub const REQUEST_ID_HEADER: &str = "x-pluto-request-id";

/// The dev console of one running app.
pub struct Console {
    hub: Arc<Hub>,
    stack: String,
    simulator: OnceLock<SimulatorHandle>,
    console_url: OnceLock<String>,
    model_label: OnceLock<String>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("stack", &self.stack)
            .finish_non_exhaustive()
    }
}

/// What a SageMaker endpoint stands for: its `HF_MODEL_ID`, or its image's last part.
pub fn stands_for(spec: &pluto_spec::SagemakerSpec) -> String {
    match spec.env.get("HF_MODEL_ID") {
        Some(pluto_spec::EnvValue::Literal(id)) => id.clone(),
        _ => spec
            .image
            .rsplit('/')
            .next()
            .unwrap_or(&spec.image)
            .to_owned(),
    }
}

impl Console {
    /// A console for `architecture` running as stack `stack`.
    pub fn new(architecture: &Architecture, stack: &str) -> Arc<Self> {
        Arc::new(Self {
            hub: Arc::new(Hub::new(architecture)),
            stack: stack.to_owned(),
            simulator: OnceLock::new(),
            console_url: OnceLock::new(),
            model_label: OnceLock::new(),
        })
    }

    /// Hooks the console into `options` before the simulator starts: it sees every request,
    /// invocation, log line and AWS call (the hooks already there still get them), records the
    /// model's calls, and is served under `/_pluto/` on a port of its own
    /// ([`SimulatorOptions::console_port`]).
    pub fn instrument(self: &Arc<Self>, options: &mut SimulatorOptions) {
        if let Some(model) = &options.model {
            let _ = self.model_label.set(model.label());
        }
        let hub = self.hub.clone();
        let previous = options.request_log.clone();
        options.request_log = Arc::new(move |record: &RequestRecord| {
            previous(record);
            hub.on_request(record);
        });
        let hub = self.hub.clone();
        let previous = options.invocation_log.clone();
        options.invocation_log = Arc::new(move |event: &InvocationEvent<'_>| {
            previous(event);
            hub.on_invocation(event);
        });
        let hub = self.hub.clone();
        let previous = options.function_logs.clone();
        options.function_logs = Arc::new(move |function: &str, instance: u64, line: &str| {
            previous(function, instance, line);
            hub.on_log(function, instance, line);
        });
        let hub = self.hub.clone();
        let previous = options.access_recorder.clone();
        options.access_recorder = Some(Arc::new(move |access: &AttemptedAccess| {
            if let Some(previous) = &previous {
                previous(access);
            }
            hub.on_access(access);
        }));
        if let Some(model) = options.model.clone() {
            options.model = Some(Arc::new(recorder::RecordingModel {
                inner: model,
                hub: self.hub.clone(),
            }));
        }
        options.console = Some(server::router(self.clone()));
    }

    /// Gives the console the running app (for invoking functions and the KV data).
    pub fn attach(&self, simulator: &Simulator) {
        let _ = self.simulator.set(simulator.handle());
        if let Some(url) = simulator.console_url() {
            let _ = self.console_url.set(url.to_owned());
        }
    }

    fn handle(&self) -> Option<&SimulatorHandle> {
        self.simulator.get()
    }

    /// Tells the pages about a build: started, failed, or live (then with the new
    /// `architecture`, whose grants explain denials from now on).
    pub fn set_build(&self, build: BuildStatus, architecture: Option<&Architecture>) {
        self.hub.set_build(build, architecture);
    }

    /// The request instance `instance` of `function` runs (or ran last): its log lines belong
    /// to it.
    pub fn request_of_instance(&self, function: &str, instance: u64) -> Option<String> {
        self.hub.request_of_instance(function, instance)
    }

    /// The build status the pages show.
    pub fn build(&self) -> BuildStatus {
        self.hub.build()
    }
}
