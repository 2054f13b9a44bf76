//! The local simulator behind `cargo pluto run`: the whole app on this machine, with no cloud.
//!
//! - [`lambda`]: functions as real Lambda processes behind a Lambda Runtime API.
//! - [`gateway`]: the Function URL gateway (HTTP requests in, payload 2.0 events out).
//! - [`model`]: a real local language model (a quantized llama GGUF run by candle) standing in for
//!   SageMaker endpoints.

pub mod gateway;
pub mod lambda;
pub mod model;
