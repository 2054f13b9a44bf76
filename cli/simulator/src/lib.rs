//! The local simulator behind `cargo pluto run`: the whole app on this machine, with no cloud.
//!
//! - [`aws`]: the AWS APIs the runtime uses (DynamoDB, SageMaker Runtime, Lambda Invoke), served
//!   locally with IAM enforced per function.
//! - [`lambda`]: functions as real Lambda processes behind a Lambda Runtime API.
//! - [`gateway`]: the Function URL gateway (HTTP requests in, payload 2.0 events out).

pub mod aws;
pub mod gateway;
pub mod lambda;
