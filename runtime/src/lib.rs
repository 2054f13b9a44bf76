//! # Pluto
//!
//! The runtime of Pluto apps. Write an ordinary crate, declare the cloud resources it uses with
//! `#[resource]`, and `cargo pluto` works out the infrastructure and the least-privilege
//! permissions of each function:
//!
//! ```no_run
//! use pluto::{resource, KvStore};
//!
//! #[resource(kv_store)]
//! fn visits() -> KvStore;
//!
//! #[resource(function(url = "public"))]
//! async fn hello(name: String) -> pluto::Result<String> {
//!     let count: u64 = visits().get_json(&name).await?.unwrap_or(0) + 1;
//!     visits().set_json(&name, &count).await?;
//!     Ok(format!("Hello {name}, visit number {count}"))
//! }
//!
//! fn main() {
//!     pluto::start();
//! }
//! ```
//!
//! - Resource handles: [`SageMaker`], [`KvStore`], [`Bucket`], [`Secret`] and [`Function`], on
//!   the AWS SDK for Rust.
//! - [`start`] serves the declared functions inside AWS Lambda (or `cargo pluto run`); see
//!   [`handler`] for how requests map to arguments.
//! - [`chain`] holds LangChain-style prompt templates, LLMs and chains, buffered or streamed.
//! - A handler returning [`TextStream`] streams its answer to the client as it is produced.
//! - [`contract`] documents the environment variables deployment sets for the runtime.

mod bucket;
pub mod chain;
mod client;
mod error;
mod function;
pub mod handler;
mod kv_store;
mod sagemaker;
mod secret;
mod text_stream;
mod trace;

#[doc(hidden)]
pub mod __private;

pub use bucket::{Bucket, JSON_CONTENT_TYPE, ObjectInfo};
pub use error::ClientError;
pub use function::Function;
pub use handler::{HttpError, start};
pub use kv_store::KvStore;
pub use pluto_macros::{function, resource};
pub use pluto_spec::contract;
pub use sagemaker::{PayloadStream, RawRequest, RawResponse, SageMaker};
pub use secret::{SECRET_CACHE_TTL, Secret};
pub use text_stream::TextStream;

/// The error type handlers return: any error, boxed (`?` converts into it).
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of handlers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The README's example must compile.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
