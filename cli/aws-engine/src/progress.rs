//! Progress of a deploy or destroy, reported per declared resource as it happens, so the CLI can
//! show live status (and tests can check the order of steps).

use std::time::Duration;

/// Something that happened to one declared resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step started, e.g. `creating IAM role app-dev-chat-fn`.
    Step(String),
    /// Still waiting for an object to be ready.
    Waiting {
        /// The object.
        object: String,
        /// Its status now, e.g. `Creating`.
        status: String,
        /// How long the wait has lasted.
        elapsed: Duration,
    },
    /// Every step of the resource is done.
    Done,
    /// The resource failed; the message says why.
    Failed(String),
}

/// Receives events; called from concurrent tasks.
pub trait Progress: Send + Sync {
    /// `resource` is the declared resource, e.g. `function chatbot`.
    fn report(&self, resource: &str, event: Event);
}

/// Ignores every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn report(&self, _resource: &str, _event: Event) {}
}
