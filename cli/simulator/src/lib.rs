//! The local simulator behind `cargo pluto run`: the whole app on this machine, with no cloud.
//! [`Simulator::start`] runs an [`pluto_model::Architecture`] as the AWS engine deploys one.
//!
//! - [`aws`]: the AWS APIs the runtime uses (DynamoDB, SageMaker Runtime, Lambda Invoke), served
//!   locally with IAM enforced per function.
//! - [`lambda`]: functions as real Lambda processes behind a Lambda Runtime API.
//! - [`gateway`]: the Function URL gateway (HTTP requests in, payload 2.0 events out).
//! - [`store`]: the KV data of a stack, held by one simulator at a time.

pub mod aws;
mod dynamodb;
pub mod error;
pub mod gateway;
pub mod lambda;
pub mod simulator;
pub mod store;

pub use error::SimulatorError;
pub use simulator::{Simulator, SimulatorHandle, SimulatorOptions};
