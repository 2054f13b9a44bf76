//! The local simulator behind `cargo pluto run`: the whole app on this machine, with no cloud.
//! [`Simulator::start`] runs an [`pluto_model::Architecture`] as the AWS engine deploys one.
//!
//! - [`aws`]: the AWS APIs the runtime uses (DynamoDB, SageMaker Runtime, Lambda Invoke, S3,
//!   Secrets Manager), served locally with IAM enforced per function.
//! - [`lambda`]: functions as real Lambda processes behind a Lambda Runtime API.
//! - [`gateway`]: the Function URL gateway (HTTP requests in, payload 2.0 events out).
//! - [`store`]: the KV data of a stack, held by one simulator at a time.
//! - [`objects`]: the objects of a stack's buckets, under `.pluto/<stack>/buckets/`.
//! - [`secrets`]: the local secret store (outside the project), which `cargo pluto secret set`
//!   writes and the local Secrets Manager reads.

pub mod aws;
mod dynamodb;
pub mod error;
pub mod gateway;
pub mod lambda;
pub mod objects;
pub mod secrets;
pub mod simulator;
pub mod store;

pub use error::SimulatorError;
pub use simulator::{Simulator, SimulatorHandle, SimulatorOptions};
